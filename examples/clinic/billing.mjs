// billing: a patient's open invoices and balance, from the ledger database.
import path from 'node:path';
import { SqlitePool } from './db.mjs';
import { config, createApp, finishApp, serve, onFaultChange, TENANTS, patientIds } from './common.mjs';

const pool = new SqlitePool({
  file: path.join(config.dataDir, `billing-${config.region}.db`),
  size: 16,
  roundTripMs: config.dbRoundTripMs,
  dbName: 'ledger',
});
pool.setup((db) => {
  db.exec(`
    CREATE TABLE IF NOT EXISTS invoices (id INTEGER PRIMARY KEY, tenant_id TEXT, patient_id INTEGER, amount_cents INTEGER, status TEXT);
    CREATE INDEX IF NOT EXISTS invoices_by_patient ON invoices (patient_id);
    DELETE FROM invoices;
  `);
  const insert = db.prepare('INSERT INTO invoices (tenant_id, patient_id, amount_cents, status) VALUES (?, ?, ?, ?)');
  db.transaction(() => {
    for (const tenant of TENANTS) {
      for (const id of patientIds(tenant)) {
        for (let i = 0; i < 4; i++) insert.run(tenant, id, 2500 + ((id * 7 + i * 13) % 40) * 100, i % 2 ? 'paid' : 'open');
      }
    }
  })();
});

// Fault (c): this region's ledger is a slow replica; every read pays for it.
const SLOW_LEDGER_EXTRA_MS = 200;
const ledgerExtraLatencyMs = () => (config.fault === 'c' && config.region === config.faultRegion ? SLOW_LEDGER_EXTRA_MS : 0);

// Fault (d): a maintenance job locks the ledger for a moment, periodically.
// Reads during the lock fail with SQLITE_BUSY after the busy timeout and the
// request answers 503, which the gateway retries (see gateway.mjs).
const LOCK_START_AFTER_MS = Number(process.env.CLINIC_LOCK_START_AFTER_MS ?? 2000);
const LOCK_DURATION_MS = Number(process.env.CLINIC_LOCK_DURATION_MS ?? 2500);
const LOCK_PERIOD_MS = Number(process.env.CLINIC_LOCK_PERIOD_MS ?? 15000);
const BUSY_TIMEOUT_MS = 100;
let firstRequestAt = 0;
// Switched on at run time, the locks start counting from the next request.
onFaultChange(() => (firstRequestAt = 0));
function ledgerLocked(now) {
  if (config.fault !== 'd') return false;
  firstRequestAt ||= now;
  const sinceStart = now - firstRequestAt - LOCK_START_AFTER_MS;
  return sinceStart >= 0 && sinceStart % LOCK_PERIOD_MS < LOCK_DURATION_MS;
}
function busyError() {
  const error = new Error('database is locked');
  error.code = 'SQLITE_BUSY';
  return error;
}

const app = createApp();
app.get('/patients/:patientId/balance', async (req, res) => {
  const patientId = Number(req.params.patientId);
  const locked = ledgerLocked(Date.now());
  try {
    const invoices = await pool.withConnection((db) =>
      pool.query(db, 'SELECT id, amount_cents, status FROM invoices WHERE patient_id = ?', [patientId], {
        extraLatencyMs: locked ? BUSY_TIMEOUT_MS : ledgerExtraLatencyMs(),
        failWith: locked ? busyError() : undefined,
      }),
    );
    const balanceCents = invoices.filter((i) => i.status === 'open').reduce((sum, i) => sum + i.amount_cents, 0);
    res.json({ patientId, balanceCents, invoices });
  } catch (error) {
    if (error.code !== 'SQLITE_BUSY') throw error;
    res.set('retry-after', '1').status(503).json({ error: 'ledger busy' });
  }
});
finishApp(app);
serve(app, { onClose: () => pool.close() });
