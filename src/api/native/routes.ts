import type { FastifyInstance } from 'fastify';
import type { IngestStats } from '../../ingest/index.js';
import type { Store, TraceReader } from '../../store/index.js';
import { NotFoundError } from '../../errors.js';
import { traceCriticalPath } from '../../diagnosis/index.js';
import { parseTraceId } from '../tempo/params.js';
import { registerDiagnosisRoutes } from './diagnosis-routes.js';

export interface NativeRoutesOptions {
  store: Pick<Store, 'stats'>;
  reader: TraceReader;
  ingestStats: () => IngestStats;
  sightlineVersion: string;
  engine: string;
  /** Window of diagnosis requests without start and end. */
  defaultWindowSeconds: number;
}

/** Sightline's own endpoints, under /api/sightline (see docs/api.md). */
export function registerNativeRoutes(app: FastifyInstance, opts: NativeRoutesOptions): void {
  app.get('/api/sightline/status', async () => ({
    version: opts.sightlineVersion,
    engine: opts.engine,
    ingest: opts.ingestStats(),
    store: await opts.store.stats(),
  }));

  app.get('/api/sightline/traces/:traceId/critical-path', async (req) => {
    const id = parseTraceId((req.params as { traceId: string }).traceId);
    const spans = await opts.reader.getTrace(id);
    if (spans.length === 0) throw new NotFoundError(`trace ${id.toString('hex')} not found`);
    return traceCriticalPath(id, spans);
  });

  registerDiagnosisRoutes(app, opts.reader, opts.defaultWindowSeconds);
}
