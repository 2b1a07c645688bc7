// appointments: a patient's appointments with their practitioners, plus the
// patient record from the patients service.
import path from 'node:path';
import { SqlitePool } from './db.mjs';
import {
  config, createApp, finishApp, serve, getJson, currentTenant,
  TENANTS, patientIds, APPOINTMENTS_PER_PATIENT, PRACTITIONERS_PER_TENANT,
} from './common.mjs';

const pool = new SqlitePool({
  file: path.join(config.dataDir, `appointments-${config.region}.db`),
  size: 16,
  roundTripMs: config.dbRoundTripMs,
  dbName: 'appointments',
});
pool.setup((db) => {
  db.exec(`
    CREATE TABLE IF NOT EXISTS practitioners (id INTEGER PRIMARY KEY, tenant_id TEXT, name TEXT, specialty TEXT);
    CREATE TABLE IF NOT EXISTS appointments (id INTEGER PRIMARY KEY, tenant_id TEXT, patient_id INTEGER, practitioner_id INTEGER, starts_at TEXT, status TEXT);
    CREATE INDEX IF NOT EXISTS appointments_by_patient ON appointments (patient_id);
    DELETE FROM practitioners; DELETE FROM appointments;
  `);
  const insertPractitioner = db.prepare('INSERT INTO practitioners VALUES (?, ?, ?, ?)');
  const insertAppointment = db.prepare('INSERT INTO appointments (tenant_id, patient_id, practitioner_id, starts_at, status) VALUES (?, ?, ?, ?, ?)');
  db.transaction(() => {
    TENANTS.forEach((tenant, t) => {
      for (let p = 0; p < PRACTITIONERS_PER_TENANT; p++) {
        insertPractitioner.run(t * 100 + p, tenant, `Dr. ${tenant} ${p}`, ['cardiology', 'dermatology', 'general practice'][p % 3]);
      }
      for (const patient of patientIds(tenant)) {
        for (let a = 0; a < APPOINTMENTS_PER_PATIENT; a++) {
          insertAppointment.run(tenant, patient, t * 100 + ((patient + a) % PRACTITIONERS_PER_TENANT), `2026-0${1 + (a % 9)}-1${a % 10}T09:00`, 'booked');
        }
      }
    });
  })();
});

// Fault (b): one tenant runs the "custom practitioner profiles" code path,
// which loads each appointment's practitioner lazily: one query per row (N+1)
// where everyone else loads the tenant's practitioners in one query.
//
// Both paths run the same list query and the same by-id lookup (for the
// patient's lead practitioner), so no statement text or span name appears
// only in the slow tenant's traces: what sets them apart is how often a
// statement runs, and the tenant.
const lazyPractitionersFor = () => (config.fault === 'b' ? config.faultTenant : null);
const PRACTITIONER_BY_ID = 'SELECT name, specialty FROM practitioners WHERE id = ?';

async function appointmentsWithPractitioners(patientId, tenant) {
  return pool.withConnection(async (db) => {
    const rows = await pool.query(db, 'SELECT id, starts_at, status, practitioner_id FROM appointments WHERE patient_id = ? ORDER BY starts_at', [patientId]);
    const [lead] = await pool.query(db, PRACTITIONER_BY_ID, [leadPractitionerOf(patientId, tenant)]);
    if (tenant === lazyPractitionersFor()) {
      for (const row of rows) {
        const [practitioner] = await pool.query(db, PRACTITIONER_BY_ID, [row.practitioner_id]);
        Object.assign(row, { practitioner: practitioner.name, specialty: practitioner.specialty });
      }
    } else {
      const all = await pool.query(db, 'SELECT id, name, specialty FROM practitioners WHERE tenant_id = ?', [tenant]);
      const byId = new Map(all.map((p) => [p.id, p]));
      for (const row of rows) {
        const practitioner = byId.get(row.practitioner_id);
        Object.assign(row, { practitioner: practitioner?.name, specialty: practitioner?.specialty });
      }
    }
    return { lead: lead?.name, rows };
  });
}

function leadPractitionerOf(patientId, tenant) {
  return TENANTS.indexOf(tenant) * 100 + (patientId % PRACTITIONERS_PER_TENANT);
}

const app = createApp();
app.get('/patients/:patientId/appointments', async (req, res) => {
  const patientId = Number(req.params.patientId);
  const { lead, rows } = await appointmentsWithPractitioners(patientId, currentTenant());
  const patient = await getJson(config.downstream.patients, '/patients/:id', { id: patientId });
  res.json({ patient, leadPractitioner: lead, appointments: rows });
});
finishApp(app);
serve(app, { onClose: () => pool.close() });
