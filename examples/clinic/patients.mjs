// patients: patient records (demographics, allergies, medications) from its
// own SQLite database, through a connection pool.
import path from 'node:path';
import { SqlitePool } from './db.mjs';
import { config, createApp, finishApp, serve, onFaultChange, TENANTS, patientIds } from './common.mjs';

// Fault (a): a pool of 2 connections. Each record takes three statements on
// one connection, so with a few requests in flight the rest queue for a
// connection, and that wait has no span of its own. The pool opens 16 and
// lends out at most the limit, so the fault can be switched at run time.
const POOL_SIZE = 16;
const poolLimit = (fault) => (fault === 'a' ? 2 : POOL_SIZE);

const pool = new SqlitePool({
  file: path.join(config.dataDir, `patients-${config.region}.db`),
  size: POOL_SIZE,
  // Patient records live in the hospital's EHR database, further away than
  // the services' own databases: three times their round trip.
  roundTripMs: config.dbRoundTripMs * 3,
  dbName: 'patients',
});
pool.setup((db) => {
  db.exec(`
    CREATE TABLE IF NOT EXISTS patients (id INTEGER PRIMARY KEY, tenant_id TEXT, name TEXT, birth_date TEXT);
    CREATE TABLE IF NOT EXISTS allergies (patient_id INTEGER, substance TEXT);
    CREATE TABLE IF NOT EXISTS medications (patient_id INTEGER, name TEXT, dose TEXT);
    CREATE INDEX IF NOT EXISTS allergies_by_patient ON allergies (patient_id);
    CREATE INDEX IF NOT EXISTS medications_by_patient ON medications (patient_id);
    DELETE FROM patients; DELETE FROM allergies; DELETE FROM medications;
  `);
  const insertPatient = db.prepare('INSERT INTO patients VALUES (?, ?, ?, ?)');
  const insertAllergy = db.prepare('INSERT INTO allergies VALUES (?, ?)');
  const insertMedication = db.prepare('INSERT INTO medications VALUES (?, ?, ?)');
  db.transaction(() => {
    for (const tenant of TENANTS) {
      for (const id of patientIds(tenant)) {
        insertPatient.run(id, tenant, `Patient ${id}`, `19${50 + (id % 50)}-0${1 + (id % 9)}-1${id % 10}`);
        insertAllergy.run(id, ['penicillin', 'latex', 'peanuts'][id % 3]);
        insertMedication.run(id, ['metformin', 'lisinopril', 'atorvastatin'][id % 3], '10mg');
      }
    }
  })();
});

pool.setLimit(poolLimit(config.fault));
onFaultChange((fault) => pool.setLimit(poolLimit(fault)));

const app = createApp();
app.get('/patients/:id', async (req, res) => {
  const id = Number(req.params.id);
  const record = await pool.withConnection(async (db) => {
    const [patient] = await pool.query(db, 'SELECT id, tenant_id, name, birth_date FROM patients WHERE id = ?', [id]);
    const allergies = await pool.query(db, 'SELECT substance FROM allergies WHERE patient_id = ?', [id]);
    const medications = await pool.query(db, 'SELECT name, dose FROM medications WHERE patient_id = ?', [id]);
    return patient && { ...patient, allergies, medications };
  });
  if (!record) return res.status(404).json({ error: `no patient ${id}` });
  res.json(record);
});
finishApp(app);
serve(app, { onClose: () => pool.close() });
