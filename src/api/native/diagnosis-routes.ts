import type { FastifyInstance, FastifyRequest } from 'fastify';
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
export function registerDiagnosisRoutes(app: FastifyInstance, queries: QueryPool, defaultWindowSeconds: number, retentionMs?: (tenant: string) => number): void {
  /** The baseline's own window, checked against the longest retention of the tenants read. */
  const baselineRangeOf = (q: Query, req: FastifyRequest): TimeRange | undefined =>
    parseBaselineWindow(q, Date.now(), retentionMs ? Math.max(...scopeOf(req).tenants.map(retentionMs)) : undefined);

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
      baselineRange: baselineRangeOf(q, req),
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
      baselineRange: baselineRangeOf(q, req),
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
      baselineRange: baselineRangeOf(q, req),
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

const NS_PER_S = 1_000_000_000n;

/**
 * `baselineStart` and `baselineEnd` (Unix seconds): the baseline's own
 * window, as "the hour before a deploy" against the selection's hour after
 * it. Both or neither. A window that starts in the future, or before the
 * retention period (`retentionMs`, when known) is refused: it would be
 * compared against a part of what it names, or nothing.
 */
export function parseBaselineWindow(q: Query, nowMs: number, retentionMs?: number): TimeRange | undefined {
  const start = param(q, 'baselineStart');
  const end = param(q, 'baselineEnd');
  if (start === undefined && end === undefined) return undefined;
  if (start === undefined || end === undefined)
    throw new InvalidQueryError(`baselineStart and baselineEnd go together: give both (Unix seconds), or neither to take the baseline from the selection's window`);
  const startS = unixSeconds('baselineStart', start);
  const endS = unixSeconds('baselineEnd', end);
  if (endS <= startS) throw new InvalidQueryError(`baselineStart must be before baselineEnd. received baselineStart=${startS} baselineEnd=${endS}`);
  if (startS * 1000 > nowMs) throw new InvalidQueryError(`the baseline window starts in the future: baselineStart=${startS} is after now (${Math.floor(nowMs / 1000)})`);
  if (retentionMs !== undefined && startS * 1000 < nowMs - retentionMs)
    throw new InvalidQueryError(
      `the baseline window starts before the retention period (${retentionText(retentionMs)}): baselineStart=${startS} is before ${Math.ceil((nowMs - retentionMs) / 1000)}, and older spans are deleted`,
    );
  return { startNs: BigInt(startS) * NS_PER_S, endNs: BigInt(endS) * NS_PER_S };
}

function unixSeconds(name: string, text: string): number {
  // Digits only, bounded: past year 2286 is a unit mistake (ms or ns).
  if (!/^\d{1,10}$/.test(text)) throw new InvalidQueryError(`invalid ${name}: ${JSON.stringify(text.slice(0, 40))} is not Unix seconds`);
  return Number(text);
}

/** 7d, 36h: how --retention reads. */
function retentionText(ms: number): string {
  const hours = ms / 3_600_000;
  return hours % 24 === 0 ? `${hours / 24}d` : Number.isInteger(hours) ? `${hours}h` : `${Math.round(ms / 60_000)}m`;
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
