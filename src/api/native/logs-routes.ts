import type { FastifyInstance } from 'fastify';
import { READ_SPANS } from '../../auth/index.js';
import { scopeOf } from '../auth.js';
import { param, parsePositiveInt, parseRange, parseTraceId, type Query } from '../tempo/params.js';
import { sendJob, type QueryPool } from '../isolation/index.js';
import type { LogJobs } from './logs-jobs.js';

/** The most records one answer lists. */
const MAX_LIMIT = 1000;
/** A trace's records looked for without start and end, when the trace index does not know the trace. */
const TRACE_WINDOW_SECONDS = 24 * 3600;

/**
 * OTLP log records (docs/api.md, "Logs"): a search, newest first, with its
 * histogram; and a trace's records. Both read span-level data, so they are
 * declared, tenant-scoped and audited as span reads are.
 */
export function registerLogRoutes(app: FastifyInstance, queries: QueryPool, defaultWindowSeconds: number): void {
  app.get('/api/sightline/logs', { config: { policy: READ_SPANS } }, async (req, reply) => {
    const q = req.query as Query;
    const { range } = parseRange(q, defaultWindowSeconds);
    const columns = parsePositiveInt(q, 'columns', 60, 500);
    // As the search heatmap: whole milliseconds, so the UI places columns exactly.
    const stepNs = (((range.endNs - range.startNs + BigInt(columns) - 1n) / BigInt(columns) + 999_999n) / 1_000_000n) * 1_000_000n;
    const args = { query: param(q, 'q') ?? '{ }', range, limit: parsePositiveInt(q, 'limit', 100, MAX_LIMIT), stepNs };
    return sendJob<LogJobs, 'searchLogs'>(queries, 'query', 'searchLogs', args, scopeOf(req), req, reply);
  });

  app.get('/api/sightline/traces/:traceId/logs', { config: { policy: READ_SPANS } }, async (req, reply) => {
    const id = parseTraceId((req.params as { traceId: string }).traceId);
    const q = req.query as Query;
    const args = { traceIdHex: id.toString('hex'), range: parseRange(q, TRACE_WINDOW_SECONDS).range, limit: parsePositiveInt(q, 'limit', 1000, 5000) };
    return sendJob<LogJobs, 'traceLogs'>(queries, 'lookup', 'traceLogs', args, scopeOf(req), req, reply);
  });
}
