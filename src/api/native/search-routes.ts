import type { FastifyInstance } from 'fastify';
import { READ_SPANS } from '../../auth/index.js';
import { scopeOf } from '../auth.js';
import { InvalidQueryError } from '../../errors.js';
import type { SearchOrder } from '../../store/index.js';
import { param, parsePositiveInt, parseRange, type Query } from '../tempo/params.js';
import { sendJob, type QueryPool } from '../isolation/index.js';
import type { NativeJobs } from './jobs.js';

/** As Tempo's search: the most traces one answer lists. */
const MAX_LIMIT = 1000;
const ORDERS: readonly SearchOrder[] = ['recent', 'slowest'];

/**
 * The web UI's search (docs/api.md): Tempo's search answer in an order
 * chosen over every matching trace of the range, with how many match; and
 * those traces counted by start time and duration. `/api/search` stays
 * Tempo's, for Grafana. Without `q`, every trace; without start and end,
 * the last hour.
 */
export function registerSearchRoutes(app: FastifyInstance, queries: QueryPool, defaultWindowSeconds: number): void {
  app.get('/api/sightline/search', { config: { policy: READ_SPANS } }, async (req, reply) => {
    const q = req.query as Query;
    const order = param(q, 'order') ?? 'recent';
    if (!(ORDERS as readonly string[]).includes(order)) throw new InvalidQueryError(`invalid order: ${JSON.stringify(order)} is not one of ${ORDERS.join(', ')}`);
    const args = {
      query: param(q, 'q') ?? '{ }',
      range: parseRange(q, defaultWindowSeconds).range,
      limit: parsePositiveInt(q, 'limit', 20, MAX_LIMIT),
      spss: parsePositiveInt(q, 'spss', 3, 1000),
      order: order as SearchOrder,
    };
    return sendJob<NativeJobs, 'orderedSearch'>(queries, 'query', 'orderedSearch', args, scopeOf(req), req, reply);
  });

  app.get('/api/sightline/search/heatmap', { config: { policy: READ_SPANS } }, async (req, reply) => {
    const q = req.query as Query;
    const { range } = parseRange(q, defaultWindowSeconds);
    const columns = parsePositiveInt(q, 'columns', 60, 500);
    // Whole milliseconds, so the UI places columns exactly.
    const stepNs = (((range.endNs - range.startNs + BigInt(columns) - 1n) / BigInt(columns) + 999_999n) / 1_000_000n) * 1_000_000n;
    const args = { query: param(q, 'q') ?? '{ }', range, stepNs };
    return sendJob<NativeJobs, 'searchHeatmap'>(queries, 'query', 'searchHeatmap', args, scopeOf(req), req, reply);
  });
}
