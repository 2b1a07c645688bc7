import type { FastifyInstance } from 'fastify';
import type { IngestStats } from '../../ingest/index.js';
import type { Store } from '../../store/index.js';

export interface NativeRoutesOptions {
  store: Pick<Store, 'stats'>;
  ingestStats: () => IngestStats;
  sightlineVersion: string;
  engine: string;
}

/** Sightline's own endpoints, under /api/sightline (see docs/api.md). */
export function registerNativeRoutes(app: FastifyInstance, opts: NativeRoutesOptions): void {
  app.get('/api/sightline/status', async () => ({
    version: opts.sightlineVersion,
    engine: opts.engine,
    ingest: opts.ingestStats(),
    store: await opts.store.stats(),
  }));
}
