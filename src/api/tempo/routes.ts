import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { InvalidQueryError } from '../../errors.js';
import {
  param,
  parseGoDuration,
  parseDurationParam,
  parseLogfmtTags,
  parsePositiveInt,
  parseRange,
  parseTraceId,
  type Query,
} from './params.js';
import { parseScopeParam, parseTagIdentifier } from './tags.js';
import { PUBLIC, READ_META, READ_SPANS } from '../../auth/index.js';
import { scopeOf } from '../auth.js';
import { sendJob, type QueryPool } from '../isolation/index.js';
import type { MetricsArgs, SearchArgs, TagNamesArgs, TagValuesArgs, TempoJobs, TraceArgs } from './jobs.js';

export interface TempoRoutesOptions {
  /** Every read of spans runs here, off the event loop that takes ingest. */
  queries: QueryPool;
  /** Reported as `version` by /api/status/buildinfo: the Tempo API level we speak. */
  tempoApiVersion: string;
  sightlineVersion: string;
  engine: string;
  /** Search and tags look back this far when start/end are not given. */
  defaultWindowSeconds: number;
  maxSearchLimit: number;
  isReady: () => boolean;
}

const DEFAULT_LIMIT = 20;
const DEFAULT_SPSS = 3;
const MAX_TAG_LIMIT = 10_000;
const DEFAULT_TAG_LIMIT = 5_000;
/** Parameters of /api/search that are not tags in Tempo's legacy form. */
const SEARCH_PARAMS = new Set(['q', 'tags', 'start', 'end', 'minDuration', 'maxDuration', 'limit', 'spss']);

/**
 * The Tempo HTTP API: same paths, parameters and JSON shapes as Tempo, so
 * Grafana's Tempo data source works unchanged.
 */
export function registerTempoRoutes(app: FastifyInstance, opts: TempoRoutesOptions): void {
  const { queries } = opts;

  app.get('/ready', { config: { policy: PUBLIC } }, async (_req, reply) => {
    if (!opts.isReady()) return reply.code(503).type('text/plain; charset=utf-8').send('Sightline is starting\n');
    return reply.type('text/plain; charset=utf-8').send('ready\n');
  });

  app.get('/api/echo', { config: { policy: PUBLIC } }, async (_req, reply) => reply.type('text/plain; charset=utf-8').send('echo\n'));

  app.get('/api/status/buildinfo', { config: { policy: PUBLIC } }, async () => ({
    version: opts.tempoApiVersion,
    revision: `sightline-${opts.sightlineVersion}`,
    branch: 'sightline',
    buildUser: '',
    buildDate: '',
    goVersion: `${process.version} (${opts.engine})`,
  }));

  const traceById = (version: 1 | 2) => async (req: FastifyRequest, reply: FastifyReply) => {
    const { traceId: raw } = req.params as { traceId: string };
    const id = parseTraceId(raw);
    const q = req.query as Query;
    const range = param(q, 'start') !== undefined || param(q, 'end') !== undefined ? parseRange(q, 0).range : undefined;
    const args: TraceArgs = { traceIdHex: id.toString('hex'), range, version, protobuf: req.headers.accept === 'application/protobuf' };
    return sendJob<TempoJobs, 'trace'>(queries, 'lookup', 'trace', args, scopeOf(req), req, reply);
  };
  app.get('/api/traces/:traceId', { config: { policy: READ_SPANS } }, traceById(1));
  app.get('/api/v2/traces/:traceId', { config: { policy: READ_SPANS } }, traceById(2));

  app.get('/api/search', { config: { policy: READ_SPANS } }, async (req, reply) => {
    const q = req.query as Query;
    const query = param(q, 'q');
    const tagsParam = param(q, 'tags');
    if (query !== undefined && tagsParam !== undefined)
      throw new InvalidQueryError("invalid request: can't specify tags and q in the same query");
    const limit = parsePositiveInt(q, 'limit', DEFAULT_LIMIT, opts.maxSearchLimit);
    const spss = parsePositiveInt(q, 'spss', DEFAULT_SPSS, 1000);
    const minDurationNs = parseDurationParam(q, 'minDuration');
    const maxDurationNs = parseDurationParam(q, 'maxDuration');
    if (minDurationNs !== undefined && maxDurationNs !== undefined && maxDurationNs < minDurationNs)
      throw new InvalidQueryError('invalid maxDuration: must be greater than minDuration');
    const { range } = parseRange(q, opts.defaultWindowSeconds);
    let args: SearchArgs;
    if (query !== undefined) {
      // TraceQL: parsed (400 with line and column), planned (501 for what is
      // not answered yet) and searched in a query worker.
      args = { kind: 'traceql', query, range, limit, spss };
    } else {
      let tags = tagsParam !== undefined ? parseLogfmtTags(tagsParam) : [];
      if (tagsParam === undefined && param(q, 'start') === undefined && param(q, 'end') === undefined) {
        // Tempo's legacy form: every other parameter is a tag.
        tags = Object.keys(q)
          .filter((k) => !SEARCH_PARAMS.has(k))
          .map((k) => ({ key: k, value: param(q, k) ?? '' }));
      }
      args = { kind: 'tags', tags, minNs: minDurationNs, maxNs: maxDurationNs, range, limit, spss };
    }
    return sendJob<TempoJobs, 'search'>(queries, 'query', 'search', args, scopeOf(req), req, reply);
  });

  // TraceQL metrics, in Tempo's QueryRangeResponse / QueryInstantResponse shapes.
  const metrics = (instant: boolean) => async (req: FastifyRequest, reply: FastifyReply) => {
    const q = req.query as Query;
    const { range, stepNs } = metricsRange(q, instant);
    const args: MetricsArgs = { query: requireParam(q, 'q'), range, stepNs, estimates: param(q, 'estimate') === 'true', instant };
    return sendJob<TempoJobs, 'metrics'>(queries, 'query', 'metrics', args, scopeOf(req), req, reply);
  };
  app.get('/api/metrics/query_range', { config: { policy: READ_SPANS } }, metrics(false));
  app.get('/api/metrics/query', { config: { policy: READ_SPANS } }, metrics(true));

  const tagNames = (version: 1 | 2) => async (req: FastifyRequest, reply: FastifyReply) => {
    const q = req.query as Query;
    const { scopes, intrinsic } = parseScopeParam(param(q, 'scope'));
    const limit = parsePositiveInt(q, 'limit', DEFAULT_TAG_LIMIT, MAX_TAG_LIMIT);
    const { range } = parseRange(q, opts.defaultWindowSeconds);
    const args: TagNamesArgs = { version, scopes: [...scopes], intrinsic, range, limit, where: param(q, 'q') };
    return sendJob<TempoJobs, 'tagNames'>(queries, 'lookup', 'tagNames', args, scopeOf(req), req, reply);
  };
  app.get('/api/search/tags', { config: { policy: READ_META } }, tagNames(1));
  app.get('/api/v2/search/tags', { config: { policy: READ_META } }, tagNames(2));

  app.get('/api/search/tag/:tagName/values', { config: { policy: READ_SPANS } }, async (req, reply) => {
    const q = req.query as Query;
    const tag = decodeTagName((req.params as { tagName: string }).tagName);
    const limit = parsePositiveInt(q, 'limit', DEFAULT_TAG_LIMIT, MAX_TAG_LIMIT);
    const { range } = parseRange(q, opts.defaultWindowSeconds);
    return sendJob<TempoJobs, 'tagValues'>(queries, 'lookup', 'tagValues', { kind: 'v1', tag, range, limit }, scopeOf(req), req, reply);
  });

  app.get('/api/v2/search/tag/:tagName/values', { config: { policy: READ_SPANS } }, async (req, reply) => {
    const q = req.query as Query;
    const ident = parseTagIdentifier(decodeTagName((req.params as { tagName: string }).tagName));
    const limit = parsePositiveInt(q, 'limit', DEFAULT_TAG_LIMIT, MAX_TAG_LIMIT);
    const { range } = parseRange(q, opts.defaultWindowSeconds);
    const where = param(q, 'q');
    let args: TagValuesArgs;
    if (ident.kind === 'attribute') args = { kind: 'attribute', ref: ident.ref, range, limit, where };
    else if ('fixed' in ident.values) {
      // Keyword intrinsics (status, kind): their values are fixed, no read needed.
      const tagValues = ident.values.fixed.filter((v) => v.value !== '').slice(0, limit);
      req.auditResults = tagValues.length;
      return { tagValues };
    } else args = { kind: 'intrinsic', field: ident.values.field, range, limit, where };
    return sendJob<TempoJobs, 'tagValues'>(queries, 'lookup', 'tagValues', args, scopeOf(req), req, reply);
  });
}

function requireParam(q: Query, name: string): string {
  const v = param(q, name);
  if (v === undefined) throw new InvalidQueryError(`missing parameter ${name}`);
  return v;
}

/**
 * start/end for metrics: Unix seconds (up to 10 digits), nanoseconds, or
 * RFC 3339, as Tempo takes them; step as a Go duration or seconds.
 * Default: the last hour, in about 100 steps.
 */
function metricsRange(q: Query, instant: boolean): { range: { startNs: bigint; endNs: bigint }; stepNs: bigint } {
  const ts = (name: string): bigint | undefined => {
    const v = param(q, name);
    if (v === undefined) return undefined;
    if (/^\d{1,10}$/.test(v)) return BigInt(v) * 1_000_000_000n;
    if (/^\d{11,20}$/.test(v)) return BigInt(v);
    const ms = Date.parse(v);
    if (Number.isNaN(ms)) throw new InvalidQueryError(`invalid ${name}: ${JSON.stringify(v)} is not Unix seconds, nanoseconds or RFC 3339`);
    return BigInt(ms) * 1_000_000n;
  };
  const endNs = ts('end') ?? BigInt(Date.now()) * 1_000_000n;
  const startNs = ts('start') ?? endNs - 3_600_000_000_000n;
  if (endNs <= startNs) throw new InvalidQueryError(`invalid start and end: end must be after start`);
  if (instant) return { range: { startNs, endNs }, stepNs: endNs - startNs };
  const stepText = param(q, 'step');
  let stepNs: bigint;
  if (stepText === undefined) {
    stepNs = (endNs - startNs) / 100n;
    stepNs = ((stepNs + 999_999_999n) / 1_000_000_000n) * 1_000_000_000n;
  } else if (/^\d+(\.\d+)?$/.test(stepText)) stepNs = BigInt(Math.round(Number(stepText) * 1e9));
  else {
    const d = parseGoDuration(stepText);
    if (d === undefined) throw new InvalidQueryError(`invalid step: time: invalid duration ${JSON.stringify(stepText)}`);
    stepNs = d;
  }
  if (stepNs <= 0n) throw new InvalidQueryError('invalid step: must be positive');
  if ((endNs - startNs) / stepNs > 11_000n) throw new InvalidQueryError('invalid step: more than 11000 points; use a larger step');
  // As Tempo: start down and end up to whole steps, so buckets sit on the
  // same boundaries whatever the exact moment asked (and, for steps of whole
  // minutes, on the span_metrics rollup's minutes).
  const alignedStart = startNs - (startNs % stepNs);
  const alignedEnd = endNs % stepNs === 0n ? endNs : endNs + stepNs - (endNs % stepNs);
  return { range: { startNs: alignedStart, endNs: alignedEnd }, stepNs };
}

/**
 * Tag names arrive percent-encoded, and Grafana 10/11 encodes them twice;
 * the router has decoded once, so decode again where that is well-formed.
 */
function decodeTagName(raw: string): string {
  if (raw === '') throw new InvalidQueryError('please provide a non-empty tagName');
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new InvalidQueryError('error in unescaping tagName');
  }
}
