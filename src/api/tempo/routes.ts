import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { InvalidQueryError, NotFoundError } from '../../errors.js';
import { compileQuery, filterRequest, queryMetrics, searchTraceQL } from '../../query/traceql/index.js';
import { tagSearchRequest } from '../../query/tag-search.js';
import type { KeyValueJson } from '../../model/any-value.js';
import type { Condition, ReadPorts, SearchResult, TagValue, TenantScope, TimeRange } from '../../store/index.js';
import {
  param,
  parseGoDuration,
  parseDurationParam,
  parseLogfmtTags,
  parsePositiveInt,
  parseRange,
  parseTraceId,
  traceIdToTempoHex,
  type Query,
} from './params.js';
import { INTRINSIC_TAGS, parseScopeParam, parseTagIdentifier } from './tags.js';
import { PUBLIC, READ_META, READ_SPANS } from '../../auth/index.js';
import { scopeOf } from '../auth.js';
import { traceV1Json, traceV1Protobuf, traceV2Json, traceV2Protobuf } from './trace-output.js';

export interface TempoRoutesOptions {
  store: ReadPorts;
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
  const { store } = opts;

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
    const spans = await store.getTrace(scopeOf(req), id, range);
    req.auditResults = spans.length;
    if (spans.length === 0) throw new NotFoundError(`trace ${id.toString('hex')} not found`);
    const protobuf = req.headers.accept === 'application/protobuf';
    if (protobuf) {
      reply.type('application/protobuf');
      return reply.send(version === 1 ? traceV1Protobuf(spans) : traceV2Protobuf(spans, 0));
    }
    reply.type('application/json');
    return reply.send(version === 1 ? traceV1Json(spans) : traceV2Json(spans, 0));
  };
  app.get('/api/traces/:traceId', { config: { policy: READ_SPANS } }, traceById(1));
  app.get('/api/v2/traces/:traceId', { config: { policy: READ_SPANS } }, traceById(2));

  /** Tempo's serviceStats for each found trace: one more query over the found traces only. */
  const withServiceStats = async (scope: TenantScope, result: SearchResult, range: TimeRange): Promise<SearchResult> => {
    const stats = await store.serviceStats(scope, result.traces.map((t) => t.traceId), range);
    return { ...result, traces: result.traces.map((t) => ({ ...t, serviceStats: stats.get(t.traceId.toString('hex')) })) };
  };

  app.get('/api/search', { config: { policy: READ_SPANS } }, async (req) => {
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
    const scope = scopeOf(req);
    if (query !== undefined) {
      // TraceQL: parse (400 with line and column), plan (501 for what is not
      // answered yet), then search. Tempo ignores min/maxDuration with q.
      const found = await searchTraceQL(compileQuery(query), store, scope, { range, limit, spss });
      req.auditResults = found.traces.length;
      return searchResponse(await withServiceStats(scope, found, range));
    }
    let tags = tagsParam !== undefined ? parseLogfmtTags(tagsParam) : [];
    if (query === undefined && tagsParam === undefined && param(q, 'start') === undefined && param(q, 'end') === undefined) {
      // Tempo's legacy form: every other parameter is a tag.
      tags = Object.keys(q)
        .filter((k) => !SEARCH_PARAMS.has(k))
        .map((k) => ({ key: k, value: param(q, k) ?? '' }));
    }
    const result = await store.searchSpans(scope, { ...tagSearchRequest(tags, { minNs: minDurationNs, maxNs: maxDurationNs }), range, limit, spss });
    req.auditResults = result.traces.length;
    return searchResponse(await withServiceStats(scope, result, range));
  });

  // TraceQL metrics, in Tempo's QueryRangeResponse / QueryInstantResponse shapes.
  app.get('/api/metrics/query_range', { config: { policy: READ_SPANS } }, async (req) => {
    const q = req.query as Query;
    const { range, stepNs } = metricsRange(q, false);
    const { series } = await queryMetrics(compileQuery(requireParam(q, 'q')), store, scopeOf(req), { range, stepNs, estimates: param(q, 'estimate') === 'true' });
    req.auditResults = series.length;
    return {
      series: series.map((s) => ({
        labels: s.labels,
        samples: s.samples.map(([t, v]) => ({ timestampMs: String(t), value: v })),
        promLabels: promLabels(s.labels),
      })),
      metrics: {},
    };
  });

  app.get('/api/metrics/query', { config: { policy: READ_SPANS } }, async (req) => {
    const q = req.query as Query;
    const { range, stepNs } = metricsRange(q, true);
    const { series } = await queryMetrics(compileQuery(requireParam(q, 'q')), store, scopeOf(req), { range, stepNs, estimates: param(q, 'estimate') === 'true' });
    req.auditResults = series.length;
    return {
      series: series.map((s) => ({ labels: s.labels, value: s.samples[0]?.[1] ?? 0, promLabels: promLabels(s.labels) })),
      metrics: {},
    };
  });

  app.get('/api/search/tags', { config: { policy: READ_META } }, async (req) => {
    const q = req.query as Query;
    const { scopes, intrinsic } = parseScopeParam(param(q, 'scope'));
    const limit = parsePositiveInt(q, 'limit', DEFAULT_TAG_LIMIT, MAX_TAG_LIMIT);
    const { range } = parseRange(q, opts.defaultWindowSeconds);
    const byScope = await store.tagNames(scopeOf(req), scopes, range, limit);
    const names = new Set<string>();
    for (const list of byScope.values()) for (const n of list) names.add(n);
    if (intrinsic && scopes.length === 0) for (const n of INTRINSIC_TAGS) names.add(n);
    return { tagNames: [...names].sort().slice(0, limit) };
  });

  app.get('/api/v2/search/tags', { config: { policy: READ_META } }, async (req) => {
    const q = req.query as Query;
    const { scopes, intrinsic } = parseScopeParam(param(q, 'scope'));
    const limit = parsePositiveInt(q, 'limit', DEFAULT_TAG_LIMIT, MAX_TAG_LIMIT);
    const { range } = parseRange(q, opts.defaultWindowSeconds);
    const byScope = await store.tagNames(scopeOf(req), scopes, range, limit, narrowing(param(q, 'q')));
    const out: { name: string; tags: string[] }[] = [];
    for (const [name, tags] of byScope) if (tags.length > 0) out.push({ name, tags });
    if (intrinsic) out.push({ name: 'intrinsic', tags: [...INTRINSIC_TAGS] });
    return { scopes: out };
  });

  app.get('/api/search/tag/:tagName/values', { config: { policy: READ_SPANS } }, async (req) => {
    const q = req.query as Query;
    const tag = decodeTagName((req.params as { tagName: string }).tagName);
    const limit = parsePositiveInt(q, 'limit', DEFAULT_TAG_LIMIT, MAX_TAG_LIMIT);
    const { range } = parseRange(q, opts.defaultWindowSeconds);
    // Tempo's virtual values, listed first.
    const virtual = tag === 'status.code' ? ['unset', 'ok', 'error'] : tag === 'error' ? ['true'] : [];
    const values = virtual.length > 0 ? [] : await store.tagValues(scopeOf(req), { scope: 'any', name: tag }, range, limit);
    const strings = [...new Set([...virtual, ...values.map((v) => v.value)])].slice(0, limit);
    req.auditResults = strings.length;
    return { tagValues: strings };
  });

  app.get('/api/v2/search/tag/:tagName/values', { config: { policy: READ_SPANS } }, async (req) => {
    const q = req.query as Query;
    const ident = parseTagIdentifier(decodeTagName((req.params as { tagName: string }).tagName));
    const limit = parsePositiveInt(q, 'limit', DEFAULT_TAG_LIMIT, MAX_TAG_LIMIT);
    const { range } = parseRange(q, opts.defaultWindowSeconds);
    const where = narrowing(param(q, 'q'));
    const scope = scopeOf(req);
    let values: TagValue[];
    if (ident.kind === 'attribute') values = await store.tagValues(scope, ident.ref, range, limit, where);
    else if ('fixed' in ident.values) values = ident.values.fixed;
    else values = (await store.intrinsicValues(scope, ident.values.field, range, limit, where)).map((value) => ({ type: 'string', value }));
    const tagValues = values.filter((v) => v.value !== '').slice(0, limit);
    req.auditResults = tagValues.length;
    return { tagValues };
  });
}

/**
 * The `q` of the tag endpoints, as Grafana's editor sends it while typing:
 * completions come only from spans matching it. As in Tempo, a query that
 * does not parse, or is more than one plain filter, does not narrow.
 */
function narrowing(text: string | undefined): Condition | undefined {
  if (text === undefined || text.replace(/\s/g, '') === '{}') return undefined;
  try {
    const q = compileQuery(text);
    const [first, ...rest] = q.pipeline;
    if (rest.length > 0 || first.kind !== 'filter') return undefined;
    return filterRequest(q).where;
  } catch {
    return undefined;
  }
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

/** Labels in Prometheus text form, as Tempo's promLabels. */
function promLabels(labels: KeyValueJson[]): string {
  const text = (v: KeyValueJson['value']) => ('stringValue' in v ? v.stringValue : 'doubleValue' in v ? String(v.doubleValue) : JSON.stringify(v));
  return `{${labels.map((l) => `${l.key}=${JSON.stringify(text(l.value))}`).join(', ')}}`;
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

function searchResponse(result: SearchResult): unknown {
  const spanSetJson = (set: NonNullable<SearchResult['traces'][number]['spanSets']>[number]) => {
    const spans = set.spans.map((s) => {
      const span: Record<string, unknown> = {
        spanID: s.spanId.toString('hex'),
        name: s.name,
        startTimeUnixNano: s.startNs.toString(),
        durationNanos: s.durationNs.toString(),
      };
      if (s.attributes.length > 0) span.attributes = s.attributes;
      return span;
    });
    const out: Record<string, unknown> = { spans, matched: set.matched };
    if (set.attributes && set.attributes.length > 0) out.attributes = set.attributes;
    return out;
  };
  const traces = result.traces.map((t) => {
    const sets = (t.spanSets ?? [t.spanSet]).map(spanSetJson);
    const out: Record<string, unknown> = {
      traceID: traceIdToTempoHex(t.traceId),
      rootServiceName: t.rootServiceName || '<root span not yet received>',
      startTimeUnixNano: t.startNs.toString(),
    };
    if (t.rootTraceName) out.rootTraceName = t.rootTraceName;
    const durationMs = Number(t.durationNs / 1_000_000n);
    if (durationMs > 0) out.durationMs = durationMs;
    out.spanSet = sets[0];
    out.spanSets = sets;
    if (t.serviceStats && t.serviceStats.size > 0) {
      // jsonpb: zero counts are omitted.
      const stats: Record<string, { spanCount?: number; errorCount?: number }> = {};
      for (const [service, c] of [...t.serviceStats.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
        stats[service] = {};
        if (c.spans > 0) stats[service].spanCount = c.spans;
        if (c.errors > 0) stats[service].errorCount = c.errors;
      }
      out.serviceStats = stats;
    }
    return out;
  });
  return {
    traces,
    metrics: {
      inspectedTraces: result.inspectedTraces ?? result.traces.length,
      inspectedBytes: String(result.inspectedBytes),
      inspectedSpans: String(result.inspectedSpans),
    },
  };
}
