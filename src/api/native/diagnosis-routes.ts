import type { FastifyInstance } from 'fastify';
import { READ_SPANS } from '../../auth/index.js';
import { scopeOf } from '../auth.js';
import { InvalidQueryError } from '../../errors.js';
import type { TimeRange } from '../../store/index.js';
import { param, parseGoDuration, parsePositiveInt, parseRange, type Query } from '../tempo/params.js';
import { sendJob, type QueryPool } from '../isolation/index.js';
import type { NativeJobs } from './jobs.js';

/** Longer than any attribute name in the semantic conventions; a name travels as one escaped literal. */
const MAX_GROUP_BY_LENGTH = 256;

/**
 * Diagnosis endpoints (see docs/api.md and docs/diagnosis.md). Times are
 * Unix seconds as in the rest of the API; without them, the last hour.
 */
export function registerDiagnosisRoutes(app: FastifyInstance, queries: QueryPool, defaultWindowSeconds: number): void {
  app.get('/api/sightline/service-map', { config: { policy: READ_SPANS } }, async (req, reply) => {
    const q = req.query as Query;
    const { range } = parseRange(q, defaultWindowSeconds);
    // A sample of whole traces past half a million spans (1 s at 10M spans on 2 cores); exact=true reads them all.
    const exact = param(q, 'exact') === 'true';
    const maxSpans = exact ? 0 : parsePositiveInt(q, 'maxSpans', 500_000, Number.MAX_SAFE_INTEGER);
    // A resource attribute to split each service by (nomad.node.name, nomad.alloc.id, cloud.availability_zone).
    const groupBy = param(q, 'groupBy');
    if (groupBy !== undefined && groupBy.length > MAX_GROUP_BY_LENGTH) throw new InvalidQueryError(`invalid groupBy: longer than ${MAX_GROUP_BY_LENGTH} characters`);
    return sendJob<NativeJobs, 'serviceMap'>(queries, 'query', 'serviceMap', { range, maxSpans, ...(groupBy !== undefined ? { groupBy } : {}) }, scopeOf(req), req, reply);
  });

  app.get('/api/sightline/red', { config: { policy: READ_SPANS } }, async (req, reply) => {
    const q = req.query as Query;
    const service = requireParam(q, 'service');
    const { range, stepNs } = steppedRange(q, defaultWindowSeconds);
    return sendJob<NativeJobs, 'red'>(queries, 'query', 'red', { service, operation: param(q, 'operation'), range, stepNs }, scopeOf(req), req, reply);
  });

  app.get('/api/sightline/services/:service/operations', { config: { policy: READ_SPANS } }, async (req, reply) => {
    const q = req.query as Query;
    const { range } = parseRange(q, defaultWindowSeconds);
    const args = { service: (req.params as { service: string }).service, range, limit: parsePositiveInt(q, 'limit', 100, 10_000) };
    return sendJob<NativeJobs, 'operations'>(queries, 'query', 'operations', args, scopeOf(req), req, reply);
  });

  app.get('/api/sightline/compare', { config: { policy: READ_SPANS } }, async (req, reply) => {
    const q = req.query as Query;
    const args = {
      range: parseRange(q, defaultWindowSeconds).range,
      selection: requireParam(q, 'q'),
      baseline: param(q, 'baseline'),
      // Trace ids travel in the SQL text (at most 256 KiB on the engine).
      maxTraces: parsePositiveInt(q, 'maxTraces', 1000, 2500),
      limit: parsePositiveInt(q, 'limit', 50, 1000),
    };
    return sendJob<NativeJobs, 'compare'>(queries, 'query', 'compare', args, scopeOf(req), req, reply);
  });

  app.get('/api/sightline/compare/latency', { config: { policy: READ_SPANS } }, async (req, reply) => {
    const q = req.query as Query;
    const args = {
      range: parseRange(q, defaultWindowSeconds).range,
      selection: param(q, 'q'),
      baseline: param(q, 'baseline'),
      // As compare: the chart draws the traces compare reads.
      maxTraces: parsePositiveInt(q, 'maxTraces', 1000, 2500),
    };
    return sendJob<NativeJobs, 'compareLatency'>(queries, 'query', 'compareLatency', args, scopeOf(req), req, reply);
  });

  app.get('/api/sightline/critical-path', { config: { policy: READ_SPANS } }, async (req, reply) => {
    const q = req.query as Query;
    const args = {
      range: parseRange(q, defaultWindowSeconds).range,
      selection: requireParam(q, 'q'),
      baseline: param(q, 'baseline'),
      maxTraces: parsePositiveInt(q, 'maxTraces', 10_000, 50_000),
      limit: parsePositiveInt(q, 'limit', 50, 10_000),
    };
    return sendJob<NativeJobs, 'criticalPath'>(queries, 'query', 'criticalPath', args, scopeOf(req), req, reply);
  });

  app.get('/api/sightline/load', { config: { policy: READ_SPANS } }, async (req, reply) => {
    const q = req.query as Query;
    const args = { range: parseRange(q, defaultWindowSeconds).range, query: requireParam(q, 'q'), limit: parsePositiveInt(q, 'limit', 100_000, 1_000_000), buckets: parsePositiveInt(q, 'buckets', 20, 200) };
    return sendJob<NativeJobs, 'load'>(queries, 'query', 'load', args, scopeOf(req), req, reply);
  });
}

function requireParam(q: Query, name: string): string {
  const v = param(q, name);
  if (v === undefined) throw new InvalidQueryError(`missing parameter ${name}`);
  return v;
}

/**
 * start/end (Unix seconds) widened to whole steps, as Tempo's metrics do:
 * buckets then sit on the same boundaries whatever the moment asked.
 * step: a Go duration or seconds; by default about 60 points.
 */
function steppedRange(q: Query, defaultWindowSeconds: number): { range: TimeRange; stepNs: bigint } {
  const { range } = parseRange(q, defaultWindowSeconds);
  const text = param(q, 'step');
  let stepNs: bigint;
  if (text === undefined) stepNs = (((range.endNs - range.startNs) / 60n + 999_999_999n) / 1_000_000_000n) * 1_000_000_000n;
  else if (/^\d+(\.\d+)?$/.test(text)) stepNs = BigInt(Math.round(Number(text) * 1e9));
  else {
    const d = parseGoDuration(text);
    if (d === undefined) throw new InvalidQueryError(`invalid step: time: invalid duration ${JSON.stringify(text)}`);
    stepNs = d;
  }
  if (stepNs <= 0n) throw new InvalidQueryError('invalid step: must be positive');
  if ((range.endNs - range.startNs) / stepNs > 11_000n) throw new InvalidQueryError('invalid step: more than 11000 points; use a larger step');
  const startNs = range.startNs - (range.startNs % stepNs);
  const endNs = range.endNs % stepNs === 0n ? range.endNs : range.endNs + stepNs - (range.endNs % stepNs);
  return { range: { startNs, endNs }, stepNs };
}
