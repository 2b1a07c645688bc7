// gateway: the clinic's front door. A visit summary is the patient's
// appointments (from appointments, which asks patients) and their balance
// (from billing), fetched one after the other.
import { setTimeout as sleep } from 'node:timers/promises';
import { config, createApp, finishApp, serve, getJson, HttpStatusError } from './common.mjs';

// The retry policy that turns a brief error burst into a retry storm: every
// 503 is retried at once, up to five attempts, with a fixed short pause, no
// jitter and no retry budget. It is always on; it only bites when billing
// fails (fault d), since nothing else answers 503.
const MAX_ATTEMPTS = 5;
const RETRY_PAUSE_MS = 5;
async function withRetries(call) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof HttpStatusError) || error.status !== 503 || attempt >= MAX_ATTEMPTS) throw error;
      await sleep(RETRY_PAUSE_MS);
    }
  }
}

const app = createApp();
app.get('/visit-summary/:patientId', async (req, res) => {
  const patientId = Number(req.params.patientId);
  const { patient, appointments } = await getJson(config.downstream.appointments, '/patients/:patientId/appointments', { patientId });
  const balance = await withRetries(() => getJson(config.downstream.billing, '/patients/:patientId/balance', { patientId }));
  res.json({ patient, upcoming: appointments.length, balanceCents: balance.balanceCents });
});
finishApp(app);
serve(app);
