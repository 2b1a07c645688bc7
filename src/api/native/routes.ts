import type { FastifyInstance } from 'fastify';
import { READ_SPANS } from '../../auth/index.js';
import { scopeOf } from '../auth.js';
import type { IngestStats } from '../../ingest/index.js';
import type { LegacyCopyStatus, ReadPorts, StoreStats } from '../../store/index.js';
import { NotFoundError } from '../../errors.js';
import { traceCriticalPath } from '../../diagnosis/index.js';
import { parseTraceId } from '../tempo/params.js';
import { registerDiagnosisRoutes } from './diagnosis-routes.js';

export interface NativeRoutesOptions {
  store: ReadPorts;
  storeStats: () => Promise<StoreStats>;
  /** Progress of copying a version-2 store into this one, if it was one. */
  migrationStatus: () => LegacyCopyStatus;
  ingestStats: () => IngestStats;
  sightlineVersion: string;
  engine: string;
  /** Window of diagnosis requests without start and end. */
  defaultWindowSeconds: number;
}

/** Sightline's own endpoints, under /api/sightline (see docs/api.md). */
export function registerNativeRoutes(app: FastifyInstance, opts: NativeRoutesOptions): void {
  app.get('/api/sightline/status', { config: { policy: { role: 'admin', tenants: 'none' } } }, async () => ({
    version: opts.sightlineVersion,
    engine: opts.engine,
    ingest: opts.ingestStats(),
    store: await opts.storeStats(),
    migration: opts.migrationStatus(),
  }));

  app.get('/api/sightline/traces/:traceId/critical-path', { config: { policy: READ_SPANS } }, async (req) => {
    const id = parseTraceId((req.params as { traceId: string }).traceId);
    const spans = await opts.store.getTrace(scopeOf(req), id);
    if (spans.length === 0) throw new NotFoundError(`trace ${id.toString('hex')} not found`);
    return traceCriticalPath(id, spans);
  });

  registerDiagnosisRoutes(app, opts.store, opts.defaultWindowSeconds);
}
