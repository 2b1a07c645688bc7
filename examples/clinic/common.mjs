// What every clinic service shares: its configuration, the seed data, an
// instrumented HTTP client, and the start/stop protocol with the lab runner.
import http from 'node:http';
import { context, propagation } from '@opentelemetry/api';
import express from 'express';
import { URL_TEMPLATE_KEY } from './url-template.mjs';

export { TENANTS, REGIONS, PATIENTS_PER_TENANT, APPOINTMENTS_PER_PATIENT, PRACTITIONERS_PER_TENANT, patientIds } from './seed.mjs';

export const config = {
  service: process.env.CLINIC_SERVICE ?? 'unknown',
  region: process.env.CLINIC_REGION ?? 'us-east',
  port: Number(process.env.CLINIC_PORT ?? 0),
  dataDir: process.env.CLINIC_DATA_DIR ?? '.',
  fault: process.env.CLINIC_FAULT ?? 'none',
  faultTenant: process.env.CLINIC_FAULT_TENANT ?? 'riverside',
  faultRegion: process.env.CLINIC_FAULT_REGION ?? 'eu-west',
  dbRoundTripMs: Number(process.env.CLINIC_DB_ROUND_TRIP_MS ?? 5),
  downstream: {
    appointments: process.env.CLINIC_APPOINTMENTS_URL,
    patients: process.env.CLINIC_PATIENTS_URL,
    billing: process.env.CLINIC_BILLING_URL,
  },
};

const faultListeners = [];

/** Calls `listener(fault)` when the lab runner switches this service's fault at run time. */
export function onFaultChange(listener) {
  faultListeners.push(listener);
}

/** The tenant of the request being served, from W3C baggage. */
export function currentTenant() {
  return propagation.getActiveBaggage()?.getEntry('tenant.id')?.value ?? '';
}

export class HttpStatusError extends Error {
  constructor(status, body) {
    super(`HTTP ${status}: ${body.slice(0, 200)}`);
    this.status = status;
  }
}

// Keep-alive, as service meshes and real clients do; without it every call
// pays a TCP handshake that has nothing to do with the faults.
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

/**
 * GET `baseUrl` + `template` with `:params` filled in, as JSON. The template
 * names the client span (see telemetry.mjs), as url.template does in the
 * HTTP semantic conventions.
 */
export function getJson(baseUrl, template, params = {}) {
  const path = template.replace(/:(\w+)/g, (_, k) => encodeURIComponent(String(params[k])));
  const url = new URL(path, baseUrl);
  return context.with(context.active().setValue(URL_TEMPLATE_KEY, template), () =>
    new Promise((resolve, reject) => {
      const req = http.get(url, { agent, headers: { accept: 'application/json' } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new HttpStatusError(res.statusCode, body));
          else resolve(JSON.parse(body));
        });
        res.on('error', reject);
      });
      req.on('error', reject);
    }),
  );
}

/** An express app whose errors come back as JSON with their status. */
export function createApp() {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => res.json({ ok: true }));
  return app;
}

export function finishApp(app) {
  app.use((error, _req, res, _next) => {
    res.status(error.status ?? 500).json({ error: error.message });
  });
}

/**
 * Listens, then tells the lab runner (over IPC, when forked) or the console
 * which port it got; stops on SIGTERM or on the runner's 'stop' message after
 * flushing its spans.
 */
export function serve(app, { onClose } = {}) {
  const server = app.listen(config.port, '127.0.0.1', () => {
    const { port } = server.address();
    const ready = { ready: true, service: config.service, region: config.region, port };
    if (process.send) process.send(ready);
    else console.log(JSON.stringify(ready));
  });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    server.closeAllConnections?.();
    server.close();
    try {
      await globalThis.__clinicShutdownTelemetry?.();
    } finally {
      onClose?.();
      process.exit(0);
    }
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('message', (m) => m === 'stop' && stop());
  // The lab runner switches faults without a restart (lab.mjs setFault):
  // the services read config.fault per request, or on this change.
  process.on('message', (m) => {
    if (m?.type !== 'fault') return;
    config.fault = m.fault;
    for (const listener of faultListeners) listener(m.fault);
    process.send?.({ type: 'fault-set', fault: m.fault });
  });
  process.on('disconnect', stop);
  return server;
}
