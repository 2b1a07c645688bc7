import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { InvalidQueryError, SightlineError, asSightlineError } from '../../errors.js';
import { READ_SPANS } from '../../auth/index.js';
import { KIND_NAMES, type KindName, type TimeRange } from '../../store/index.js';
import { scopeOf } from '../auth.js';
import { sendJob, type QueryPool } from '../isolation/index.js';
import type { ApiVersion, CatalogArgs, DependenciesArgs, JaegerJobs, OperationsArgs, SearchArgs, TraceArgs, TraceListArgs } from './jobs.js';
import {
  param,
  paramOr,
  parseDuration,
  parseEpoch,
  parseJaegerTraceId,
  parseLimit,
  parseLookback,
  parseMillis,
  parseStringMap,
  parseTags,
  parseV3Time,
  values,
  type Query,
} from './params.js';

export interface JaegerRoutesOptions {
  /** Every read of spans runs here, off the event loop that takes ingest. */
  queries: QueryPool;
  /** The most traces one search returns. */
  maxSearchLimit: number;
}

/**
 * Where the Jaeger API is served: at the root, as Jaeger serves it, and
 * under /jaeger, because at the root `GET /api/traces/{id}` is Tempo's
 * (Grafana's Tempo data source reads it). A Jaeger client pointed at
 * http://host:3200/jaeger finds every Jaeger endpoint, that one included.
 */
export const JAEGER_BASES = ['', '/jaeger'] as const;

const US = 1000n;
const MS = 1_000_000n;
const MINUTE = 60_000_000_000n;
const DAY = 86_400_000_000_000n;
/** jaeger-query's defaults: search looks back 2 days, dependencies 1 day, search returns 100 traces. */
const SEARCH_LOOKBACK = 2n * DAY;
const DEPENDENCIES_LOOKBACK = DAY;
const V1_DEFAULT_LIMIT = 100;
const V3_DEFAULT_SEARCH_DEPTH = 100;
/**
 * Services and operations are those seen in the last 7 days (Jaeger lists
 * every one its storage holds; Sightline's default retention is 7 days),
 * unless the request gives a range (a Sightline extension).
 */
const CATALOG_LOOKBACK = 7n * DAY;

const SERVICE_REQUIRED = "parameter 'service' is required";

/**
 * Jaeger's query API: what Jaeger UI and Grafana's Jaeger data source call
 * (jaeger-query's HTTP JSON API) and api_v3's HTTP gateway. Same paths,
 * parameters, JSON shapes and error shapes; tenancy and authorization as
 * for the Tempo API.
 */
export function registerJaegerRoutes(app: FastifyInstance, opts: JaegerRoutesOptions): void {
  const { queries } = opts;
  const declare = (version: ApiVersion) => ({ config: { policy: READ_SPANS }, errorHandler: errorReply(version) });
  const nowNs = () => BigInt(Date.now()) * MS;

  for (const base of JAEGER_BASES) {
    // ---- jaeger-query's HTTP JSON API -------------------------------------------------

    app.get(`${base}/api/services`, declare('v1'), async (req, reply) => {
      const args: CatalogArgs = { version: 'v1', range: catalogRange(parseEpoch(query(req), 'start', US), parseEpoch(query(req), 'end', US), nowNs()) };
      return sendJob<JaegerJobs, 'jaegerServices'>(queries, 'lookup', 'jaegerServices', args, scopeOf(req), req, reply);
    });

    app.get(`${base}/api/services/:service/operations`, declare('v1'), async (req, reply) => {
      const q = query(req);
      const { service } = req.params as { service: string };
      // All kinds, names only: the legacy form Jaeger UI still calls.
      const args: OperationsArgs = { version: 'v1', service, namesOnly: true, range: catalogRange(parseEpoch(q, 'start', US), parseEpoch(q, 'end', US), nowNs()) };
      return sendJob<JaegerJobs, 'jaegerOperations'>(queries, 'lookup', 'jaegerOperations', args, scopeOf(req), req, reply);
    });

    app.get(`${base}/api/operations`, declare('v1'), async (req, reply) => {
      const q = query(req);
      const service = param(q, 'service');
      if (service === undefined) throw new InvalidQueryError(SERVICE_REQUIRED);
      const args: OperationsArgs = { version: 'v1', service, kind: spanKind(param(q, 'spanKind')), namesOnly: false, range: catalogRange(parseEpoch(q, 'start', US), parseEpoch(q, 'end', US), nowNs()) };
      return sendJob<JaegerJobs, 'jaegerOperations'>(queries, 'lookup', 'jaegerOperations', args, scopeOf(req), req, reply);
    });

    app.get(`${base}/api/traces`, declare('v1'), async (req, reply) => {
      const q = query(req);
      const endNs = parseEpoch(q, 'end', US);
      const startNs = parseEpoch(q, 'start', US);
      const ids = values(q, 'traceID').filter((v) => v !== '');
      if (ids.length > 0) {
        // Jaeger UI's compare view: these traces, not a search.
        const traceIdsHex = ids.map((id) => {
          try {
            return parseJaegerTraceId(id).toString('hex');
          } catch (e) {
            throw new InvalidQueryError(`cannot parse traceID param: ${(e as Error).message}`);
          }
        });
        const args: TraceListArgs = { traceIdsHex, range: startNs !== undefined || endNs !== undefined ? searchRange(startNs, endNs, undefined, nowNs()) : undefined };
        return sendJob<JaegerJobs, 'jaegerTraceList'>(queries, 'query', 'jaegerTraceList', args, scopeOf(req), req, reply);
      }
      const tags = parseTags(values(q, 'tag').filter((v) => v !== ''), values(q, 'tags').filter((v) => v !== ''));
      const limit = parseLimit(param(q, 'limit'), 'limit', V1_DEFAULT_LIMIT, opts.maxSearchLimit, (detail) => new InvalidQueryError(`unable to parse param 'limit': ${detail}`));
      const minNs = parseDuration(q, 'minDuration');
      const maxNs = parseDuration(q, 'maxDuration');
      const service = param(q, 'service');
      if (service === undefined) throw new InvalidQueryError(SERVICE_REQUIRED);
      // As Jaeger: a zero bound is no bound.
      if (minNs && maxNs && maxNs < minNs) throw new InvalidQueryError("'maxDuration' should be greater than 'minDuration'");
      const args: SearchArgs = {
        version: 'v1',
        search: { service, operation: param(q, 'operation'), tags, minNs: minNs || undefined, maxNs: maxNs || undefined },
        range: searchRange(startNs, endNs, parseLookback(q), nowNs()),
        limit,
      };
      return sendJob<JaegerJobs, 'jaegerSearch'>(queries, 'query', 'jaegerSearch', args, scopeOf(req), req, reply);
    });

    // Tempo answers GET /api/traces/{id} at the root; Jaeger's is under /jaeger.
    if (base !== '')
      app.get(`${base}/api/traces/:traceId`, declare('v1'), async (req, reply) => {
        const q = query(req);
        const { traceId } = req.params as { traceId: string };
        const startNs = parseEpoch(q, 'start', US);
        const endNs = parseEpoch(q, 'end', US);
        const args: TraceArgs = {
          version: 'v1',
          traceIdHex: parseJaegerTraceId(traceId).toString('hex'),
          range: startNs !== undefined || endNs !== undefined ? searchRange(startNs, endNs, undefined, nowNs()) : undefined,
        };
        return sendJob<JaegerJobs, 'jaegerTrace'>(queries, 'lookup', 'jaegerTrace', args, scopeOf(req), req, reply);
      });

    app.get(`${base}/api/dependencies`, declare('v1'), async (req, reply) => {
      const q = query(req);
      const endNs = parseMillis(q, 'endTs') ?? nowNs();
      const lookback = parseMillis(q, 'lookback') ?? DEPENDENCIES_LOOKBACK;
      const startNs = endNs > lookback ? endNs - lookback : 0n;
      if (startNs >= endNs) throw new InvalidQueryError("unable to parse param 'lookback': must be positive");
      const args: DependenciesArgs = { range: { startNs, endNs }, service: param(q, 'service') };
      return sendJob<JaegerJobs, 'jaegerDependencies'>(queries, 'query', 'jaegerDependencies', args, scopeOf(req), req, reply);
    });

    // ---- api_v3's HTTP gateway ------------------------------------------------------

    app.get(`${base}/api/v3/services`, declare('v3'), async (req, reply) => {
      const q = query(req);
      const args: CatalogArgs = { version: 'v3', range: catalogRange(parseV3Time(q, 'startTime', 'start_time'), parseV3Time(q, 'endTime', 'end_time'), nowNs()) };
      return sendJob<JaegerJobs, 'jaegerServices'>(queries, 'lookup', 'jaegerServices', args, scopeOf(req), req, reply);
    });

    app.get(`${base}/api/v3/operations`, declare('v3'), async (req, reply) => {
      const q = query(req);
      const service = param(q, 'service');
      if (service === undefined) throw new InvalidQueryError(SERVICE_REQUIRED);
      const args: OperationsArgs = {
        version: 'v3',
        service,
        kind: spanKind(paramOr(q, 'spanKind', 'span_kind').value),
        namesOnly: false,
        range: catalogRange(parseV3Time(q, 'startTime', 'start_time'), parseV3Time(q, 'endTime', 'end_time'), nowNs()),
      };
      return sendJob<JaegerJobs, 'jaegerOperations'>(queries, 'lookup', 'jaegerOperations', args, scopeOf(req), req, reply);
    });

    app.get(`${base}/api/v3/traces/:traceId`, declare('v3'), async (req, reply) => {
      const q = query(req);
      const { traceId } = req.params as { traceId: string };
      let id: Buffer;
      try {
        id = parseJaegerTraceId(traceId);
      } catch (e) {
        throw new InvalidQueryError(`malformed parameter trace_id: ${(e as Error).message}`);
      }
      const startNs = parseV3Time(q, 'startTime', 'start_time');
      const endNs = parseV3Time(q, 'endTime', 'end_time');
      const range = startNs !== undefined || endNs !== undefined ? { startNs: startNs ?? 0n, endNs: endNs !== undefined ? endNs + 1n : nowNs() + MINUTE } : undefined;
      if (range && range.startNs >= range.endNs) throw new InvalidQueryError('startTime must be before endTime');
      const args: TraceArgs = { version: 'v3', traceIdHex: id.toString('hex'), range };
      return sendJob<JaegerJobs, 'jaegerTrace'>(queries, 'lookup', 'jaegerTrace', args, scopeOf(req), req, reply);
    });

    app.get(`${base}/api/v3/traces`, declare('v3'), async (req, reply) => {
      const q = query(req);
      const min = parseV3Time(q, 'query.startTimeMin', 'query.start_time_min');
      const max = parseV3Time(q, 'query.startTimeMax', 'query.start_time_max');
      if (min === undefined || max === undefined) throw new InvalidQueryError('query.startTimeMin and query.startTimeMax are required');
      if (min >= max) throw new InvalidQueryError('query.startTimeMin must be before query.startTimeMax');
      const attributes = param(q, 'query.attributes');
      const tags = attributes === undefined ? [] : Object.entries(parseStringMap(attributes, (detail) => new InvalidQueryError(`malformed parameter query.attributes: ${detail}`)));
      let depth = paramOr(q, 'query.searchDepth', 'query.search_depth');
      if (depth.value === undefined) depth = { value: param(q, 'query.num_traces'), name: 'query.num_traces' };
      const limit = parseLimit(depth.value, depth.name, V3_DEFAULT_SEARCH_DEPTH, opts.maxSearchLimit, (detail) => new InvalidQueryError(`malformed parameter ${depth.name}: ${detail}`));
      const duration = (canonical: string, deprecated: string) => {
        const p = paramOr(q, canonical, deprecated);
        if (p.value === undefined) return undefined;
        try {
          return parseDuration({ [p.name]: p.value }, p.name) || undefined;
        } catch {
          throw new InvalidQueryError(`malformed parameter ${p.name}: time: invalid duration ${JSON.stringify(p.value)}`);
        }
      };
      const args: SearchArgs = {
        version: 'v3',
        search: {
          service: paramOr(q, 'query.serviceName', 'query.service_name').value,
          operation: paramOr(q, 'query.operationName', 'query.operation_name').value,
          tags,
          minNs: duration('query.durationMin', 'query.duration_min'),
          maxNs: duration('query.durationMax', 'query.duration_max'),
        },
        // Both bounds inclusive.
        range: { startNs: min, endNs: max + 1n },
        limit,
      };
      return sendJob<JaegerJobs, 'jaegerSearch'>(queries, 'query', 'jaegerSearch', args, scopeOf(req), req, reply);
    });
  }
}

const query = (req: FastifyRequest): Query => req.query as Query;

/** A span kind as Jaeger names it (`server`, `client`...); empty: every kind. */
function spanKind(text: string | undefined): KindName | undefined {
  if (text === undefined) return undefined;
  if (text === 'unspecified' || !(KIND_NAMES as readonly string[]).includes(text)) throw new InvalidQueryError(`unsupported span kind: '${text}'; one of internal, server, client, producer, consumer`);
  return text as KindName;
}

/** The services and operations catalog's range: given or the last 7 days, widened to whole minutes (the rollup's). */
function catalogRange(startNs: bigint | undefined, endNs: bigint | undefined, nowNs: bigint): TimeRange {
  const end = endNs ?? nowNs;
  const start = startNs ?? (end > CATALOG_LOOKBACK ? end - CATALOG_LOOKBACK : 0n);
  if (start > end) throw new InvalidQueryError("'start' must be before 'end'");
  return { startNs: start - (start % MINUTE), endNs: end - (end % MINUTE) + MINUTE };
}

/** Jaeger's search range: start and end in µs, both inclusive; without start, `lookback` (else 2 days) before end. */
function searchRange(startNs: bigint | undefined, endNs: bigint | undefined, lookbackNs: bigint | undefined, nowNs: bigint): TimeRange {
  const end = endNs ?? nowNs;
  const back = lookbackNs ?? SEARCH_LOOKBACK;
  const start = startNs ?? (end > back ? end - back : 0n);
  if (start > end) throw new InvalidQueryError("'start' must be before 'end'");
  return { startNs: start, endNs: end + US };
}

/**
 * Errors in Jaeger's shapes, with the status from the error catalogue:
 * jaeger-query's `{data: null, total: 0, limit: 0, offset: 0, errors:
 * [{code, msg}]}`, api_v3's `{error: {httpCode, message}}`. Refusals by the
 * authorization hook (401, 403) come through here too.
 */
function errorReply(version: ApiVersion) {
  return function (this: FastifyInstance, err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
    const status = (err as { statusCode?: number }).statusCode;
    let e: SightlineError;
    if (err instanceof SightlineError) e = err;
    else if (status === 413) e = new SightlineError('BODY_TOO_LARGE', err.message);
    else if (status !== undefined && status < 500) e = new SightlineError('INVALID_QUERY', err.message);
    else e = asSightlineError(err);
    // The route pattern, not the URL: its query string holds the values searched for.
    if (e.code === 'INTERNAL') this.log.error({ err: e.cause ?? err, method: req.method, route: req.routeOptions.url ?? '(no route)' }, 'query failed');
    const retryAfter = (e as { retryAfterSeconds?: number }).retryAfterSeconds;
    if (retryAfter !== undefined) reply.header('Retry-After', String(retryAfter));
    const code = e.httpStatus;
    const body = version === 'v1' ? { data: null, total: 0, limit: 0, offset: 0, errors: [{ code, msg: e.message }] } : { error: { httpCode: code, message: e.message } };
    void reply.code(code).type('application/json; charset=utf-8').send(JSON.stringify(body));
  };
}
