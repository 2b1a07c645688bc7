import type { FastifyInstance } from 'fastify';
import { READ_SPANS } from '../../auth/index.js';
import { scopeOf } from '../auth.js';
import type { IngestStats } from '../../ingest/index.js';
import type { RedactionStats } from '../../redact/index.js';
import type { AuditPort, LegacyCopyStatus, StoreStats } from '../../store/index.js';
import { param, parsePositiveInt, parseRange, type Query } from '../tempo/params.js';
import { sendJob, type QueryPool, type QueryStats } from '../isolation/index.js';
import type { NativeJobs } from './jobs.js';
import { parseTraceId } from '../tempo/params.js';
import { ADMIN_READ, ANY_TENANT, type TokenSummary } from '../../auth/index.js';
import { registerDiagnosisRoutes } from './diagnosis-routes.js';
import { registerErasureRoutes } from './erasure-routes.js';
import { registerSearchRoutes } from './search-routes.js';
import { registerLogRoutes } from './logs-routes.js';
import type { Erasures } from '../../erasure/index.js';

export interface NativeRoutesOptions {
  store: AuditPort;
  /** Reads of spans run here (isolation/pool.ts). */
  queries: QueryPool;
  storeStats: () => Promise<StoreStats>;
  /** Progress of copying a version-2 store into this one, if it was one. */
  migrationStatus: () => LegacyCopyStatus;
  ingestStats: () => IngestStats;
  /** Counters of the redaction rules in force (docs/redaction.md); absent: none configured. */
  redactionStats?: () => RedactionStats;
  sightlineVersion: string;
  engine: string;
  /** Window of diagnosis requests without start and end. */
  defaultWindowSeconds: number;
  /** The API tokens in use, without hashes. */
  tokens: () => TokenSummary[];
  /** Erasure of traces (docs/erasure.md). */
  erasures: Erasures;
  /** A tenant's retention in ms: windows of diagnosis that start before it are refused. Unchecked without. */
  retentionMs?: (tenant: string) => number;
}

/** Sightline's own endpoints, under /api/sightline (see docs/api.md). */
export function registerNativeRoutes(app: FastifyInstance, opts: NativeRoutesOptions): void {
  app.get('/api/sightline/status', { config: { policy: { role: 'admin', tenants: 'none' } } }, async () => ({
    version: opts.sightlineVersion,
    engine: opts.engine,
    ingest: opts.ingestStats(),
    queries: opts.queries.stats(),
    redaction: opts.redactionStats?.() ?? { enabled: false, ruleSets: [], off: [] },
    store: await opts.storeStats(),
    migration: opts.migrationStatus(),
  }));

  app.get('/api/sightline/traces/:traceId/critical-path', { config: { policy: READ_SPANS } }, async (req, reply) => {
    const id = parseTraceId((req.params as { traceId: string }).traceId);
    return sendJob<NativeJobs, 'traceCriticalPath'>(opts.queries, 'lookup', 'traceCriticalPath', { traceIdHex: id.toString('hex') }, scopeOf(req), req, reply);
  });

  // The audit trail of the admin's tenants (reading it is itself recorded).
  app.get('/api/sightline/audit', { config: { policy: ADMIN_READ } }, async (req) => {
    const q = req.query as Query;
    const { range } = parseRange(q, 24 * 3600);
    const records = await opts.store.readAudit(scopeOf(req), {
      startMs: Number(range.startNs / 1_000_000n),
      endMs: Number(range.endNs / 1_000_000n),
      limit: parsePositiveInt(q, 'limit', 100, 10_000),
      identity: param(q, 'identity'),
      action: param(q, 'action'),
    });
    req.auditResults = records.length;
    return { records };
  });

  // The tokens that can reach the admin's tenants: names, roles and tenants,
  // never hashes. Tokens are made and revoked with `sightline token` on the
  // config file (the one source of truth every process behind an address
  // reads), not here.
  app.get('/api/sightline/tokens', { config: { policy: ADMIN_READ } }, async (req) => {
    const mine = new Set(scopeOf(req).tenants);
    const tokens = opts
      .tokens()
      .filter((t) => t.tenants.some((tenant) => tenant === ANY_TENANT || mine.has(tenant)))
      .sort((a, b) => a.name.localeCompare(b.name));
    req.auditResults = tokens.length;
    return { tokens };
  });

  registerDiagnosisRoutes(app, opts.queries, opts.defaultWindowSeconds, opts.retentionMs);
  registerSearchRoutes(app, opts.queries, opts.defaultWindowSeconds);
  registerLogRoutes(app, opts.queries, opts.defaultWindowSeconds);
  registerErasureRoutes(app, opts.erasures, opts.queries);
}
