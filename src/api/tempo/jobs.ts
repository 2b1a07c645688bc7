import { NotFoundError } from '../../errors.js';
import { compileQuery, compileRoot, filterRequest, queryMetricsRoot, searchTraceQL } from '../../query/traceql/index.js';
import { tagSearchRequest } from '../../query/tag-search.js';
import type { KeyValueJson } from '../../model/any-value.js';
import type { Condition, IntrinsicField, ReadPorts, SearchResult, TagScope, TagValue, TenantScope, TimeRange } from '../../store/index.js';
import { json, type JobAnswer, type JobContext } from '../isolation/job.js';
import { traceIdToTempoHex } from './params.js';
import { INTRINSIC_TAGS } from './tags.js';
import { traceV1Json, traceV1Protobuf, traceV2Json, traceV2Protobuf } from './trace-output.js';

/**
 * The Tempo API's query jobs, run in query workers (isolation/pool.ts):
 * the routes check parameters, these read and shape the answer.
 */

export type SearchArgs =
  | { kind: 'traceql'; query: string; range: TimeRange; limit: number; spss: number }
  | { kind: 'tags'; tags: { key: string; value: string }[]; minNs?: bigint; maxNs?: bigint; range: TimeRange; limit: number; spss: number };

export interface MetricsArgs {
  query: string;
  range: TimeRange;
  stepNs: bigint;
  estimates: boolean;
  instant: boolean;
}

export interface TraceArgs {
  traceIdHex: string;
  range?: TimeRange;
  version: 1 | 2;
  protobuf: boolean;
}

export type TagValuesArgs =
  | { kind: 'v1'; tag: string; range: TimeRange; limit: number }
  | { kind: 'attribute'; ref: { scope: TagScope | 'any'; name: string }; range: TimeRange; limit: number; where?: string }
  | { kind: 'intrinsic'; field: IntrinsicField; range: TimeRange; limit: number; where?: string };

export interface TagNamesArgs {
  version: 1 | 2;
  scopes: TagScope[];
  /** Intrinsic tags are listed too. */
  intrinsic: boolean;
  range: TimeRange;
  limit: number;
  where?: string;
}

export type TempoJobs = typeof tempoJobs;

export const tempoJobs = {
  async search({ store, scope }: JobContext, a: SearchArgs): Promise<JobAnswer> {
    const found =
      a.kind === 'traceql'
        ? // Tempo ignores min/maxDuration with q.
          await searchTraceQL(compileQuery(a.query), store, scope, { range: a.range, limit: a.limit, spss: a.spss })
        : await store.searchSpans(scope, { ...tagSearchRequest(a.tags, { minNs: a.minNs, maxNs: a.maxNs }), range: a.range, limit: a.limit, spss: a.spss });
    return json(searchResponse(await withServiceStats(store, scope, found, a.range)), found.traces.length);
  },

  async metrics({ store, scope }: JobContext, a: MetricsArgs): Promise<JobAnswer> {
    const { series } = await queryMetricsRoot(compileRoot(a.query), store, scope, { range: a.range, stepNs: a.stepNs, estimates: a.estimates });
    if (a.instant) return json({ series: series.map((s) => ({ labels: s.labels, value: s.samples[0]?.[1] ?? 0, promLabels: promLabels(s.labels) })), metrics: {} }, series.length);
    return json(
      {
        series: series.map((s) => ({
          labels: s.labels,
          samples: s.samples.map(([t, v]) => ({ timestampMs: String(t), value: v })),
          promLabels: promLabels(s.labels),
        })),
        metrics: {},
      },
      series.length,
    );
  },

  async trace({ store, scope }: JobContext, a: TraceArgs): Promise<JobAnswer> {
    const spans = await store.getTrace(scope, Buffer.from(a.traceIdHex, 'hex'), a.range);
    if (spans.length === 0) throw new NotFoundError(`trace ${a.traceIdHex} not found`);
    if (a.protobuf) return { body: a.version === 1 ? traceV1Protobuf(spans) : traceV2Protobuf(spans, 0), contentType: 'application/protobuf', results: spans.length };
    return { body: a.version === 1 ? traceV1Json(spans) : traceV2Json(spans, 0), contentType: 'application/json', results: spans.length };
  },

  async tagNames({ store, scope }: JobContext, a: TagNamesArgs): Promise<JobAnswer> {
    const byScope = await store.tagNames(scope, a.scopes, a.range, a.limit, a.version === 2 ? narrowing(a.where) : undefined);
    if (a.version === 1) {
      const names = new Set<string>();
      for (const list of byScope.values()) for (const n of list) names.add(n);
      if (a.intrinsic && a.scopes.length === 0) for (const n of INTRINSIC_TAGS) names.add(n);
      return json({ tagNames: [...names].sort().slice(0, a.limit) }, 0);
    }
    const out: { name: string; tags: string[] }[] = [];
    for (const [name, tags] of byScope) if (tags.length > 0) out.push({ name, tags });
    if (a.intrinsic) out.push({ name: 'intrinsic', tags: [...INTRINSIC_TAGS] });
    return json({ scopes: out }, 0);
  },

  async tagValues({ store, scope }: JobContext, a: TagValuesArgs): Promise<JobAnswer> {
    if (a.kind === 'v1') {
      // Tempo's virtual values, listed first.
      const virtual = a.tag === 'status.code' ? ['unset', 'ok', 'error'] : a.tag === 'error' ? ['true'] : [];
      const values = virtual.length > 0 ? [] : await store.tagValues(scope, { scope: 'any', name: a.tag }, a.range, a.limit);
      const strings = [...new Set([...virtual, ...values.map((v) => v.value)])].slice(0, a.limit);
      return json({ tagValues: strings }, strings.length);
    }
    const values: TagValue[] =
      a.kind === 'attribute'
        ? await store.tagValues(scope, a.ref, a.range, a.limit, narrowing(a.where))
        : (await store.intrinsicValues(scope, a.field, a.range, a.limit, narrowing(a.where))).map((value) => ({ type: 'string', value }));
    const tagValues = values.filter((v) => v.value !== '').slice(0, a.limit);
    return json({ tagValues }, tagValues.length);
  },
};

/** Tempo's serviceStats for each found trace: one more query over the found traces only. */
export async function withServiceStats(store: ReadPorts, scope: TenantScope, result: SearchResult, range: TimeRange): Promise<SearchResult> {
  const stats = await store.serviceStats(scope, result.traces.map((t) => t.traceId), range);
  return { ...result, traces: result.traces.map((t) => ({ ...t, serviceStats: stats.get(t.traceId.toString('hex')) })) };
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

/** Labels in Prometheus text form, as Tempo's promLabels. */
function promLabels(labels: KeyValueJson[]): string {
  const text = (v: KeyValueJson['value']) => ('stringValue' in v ? v.stringValue : 'doubleValue' in v ? String(v.doubleValue) : JSON.stringify(v));
  return `{${labels.map((l) => `${l.key}=${JSON.stringify(text(l.value))}`).join(', ')}}`;
}

/** Tempo's SearchResponse JSON. */
export function searchResponse(result: SearchResult): Record<string, unknown> {
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
