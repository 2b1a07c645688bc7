import { NotFoundError } from '../../errors.js';
import { jaegerSearchCondition, type JaegerSearch } from '../../query/jaeger-search.js';
import { ALWAYS, type Condition, type KindName, type ReadPorts, type TenantScope, type TimeRange } from '../../store/index.js';
import type { SpanRecord } from '../../model/span-record.js';
import { json, type JobAnswer, type JobContext } from '../isolation/job.js';
import { jaegerTraceId, toJaegerTrace, type JaegerTrace } from './model.js';
import { resourceSpansJson } from './otlp-json.js';

/**
 * Jaeger's query API as query jobs, run in query workers (isolation/pool.ts):
 * the routes check parameters, these read and shape the answer, in the
 * shape of the API version asked: `v1` is jaeger-query's HTTP JSON
 * (`{data, total, limit, offset, errors}`), `v3` its api_v3 gateway.
 */

export type ApiVersion = 'v1' | 'v3';

export interface CatalogArgs {
  version: ApiVersion;
  /** Whole minutes, so the per-minute rollup answers. */
  range: TimeRange;
}

export interface OperationsArgs extends CatalogArgs {
  service: string;
  /** Only operations of this kind; absent: every kind. */
  kind?: KindName;
  /** jaeger-query's /api/services/{service}/operations: names only. */
  namesOnly: boolean;
}

export interface TraceArgs {
  version: ApiVersion;
  traceIdHex: string;
  range?: TimeRange;
}

export interface SearchArgs {
  version: ApiVersion;
  search: JaegerSearch;
  range: TimeRange;
  limit: number;
}

/** jaeger-query's search by `traceID` parameters: these traces, with an error for each one not found. */
export interface TraceListArgs {
  traceIdsHex: string[];
  range?: TimeRange;
}

export interface DependenciesArgs {
  range: TimeRange;
  /** Only links with this service at either end. */
  service?: string;
}

/** jaeger-query's structuredResponse. */
interface V1Response {
  data: unknown;
  total: number;
  limit: number;
  offset: number;
  errors: { code?: number; msg: string; traceID?: string }[] | null;
}

const v1 = (data: unknown, total: number, errors: V1Response['errors'] = null): V1Response => ({ data, total, limit: 0, offset: 0, errors });

/** Span kinds as Jaeger names them in operations (the `span.kind` tag; unspecified is ''). */
const KIND_TAGS: Record<string, string> = { unspecified: '', internal: 'internal', server: 'server', client: 'client', producer: 'producer', consumer: 'consumer' };

const SERVICE = { kind: 'attribute', scope: 'resource', name: 'service.name' } as const;
const isService = (service: string): Condition => ({ op: 'compare', field: SERVICE, cmp: '=', value: { type: 'string', value: service } });

/** Whole-trace reads of one search running at once. */
const TRACE_READS_IN_FLIGHT = 4;

export type JaegerJobs = typeof jaegerJobs;

export const jaegerJobs = {
  async jaegerServices({ store, scope }: JobContext, a: CatalogArgs): Promise<JobAnswer> {
    // From the rollup: services seen in the range, one row per service.
    const { rows } = await store.metricsSeries(scope, { range: a.range, stepNs: a.range.endNs - a.range.startNs, where: ALWAYS, by: [{ kind: 'field', field: SERVICE }], aggregates: [{ fn: 'count' }] });
    const services = [...new Set(rows.map((r) => r.by[0]).filter((s) => s !== ''))].sort();
    return json(a.version === 'v1' ? v1(services, services.length) : services.length > 0 ? { services } : {}, services.length);
  },

  async jaegerOperations({ store, scope }: JobContext, a: OperationsArgs): Promise<JobAnswer> {
    const where: Condition = a.kind === undefined ? isService(a.service) : { op: 'and', terms: [isService(a.service), { op: 'compare', field: { kind: 'intrinsic', name: 'kind' }, cmp: '=', value: { type: 'kind', value: a.kind } }] };
    const { rows } = await store.metricsSeries(scope, {
      range: a.range,
      stepNs: a.range.endNs - a.range.startNs,
      where,
      by: [
        { kind: 'field', field: { kind: 'intrinsic', name: 'name' } },
        { kind: 'field', field: { kind: 'intrinsic', name: 'kind' } },
      ],
      aggregates: [{ fn: 'count' }],
    });
    const seen = new Set<string>();
    const operations: { name: string; spanKind: string }[] = [];
    for (const { by } of rows) {
      const op = { name: by[0], spanKind: KIND_TAGS[by[1]] ?? '' };
      const key = JSON.stringify(op);
      if (!seen.has(key)) {
        seen.add(key);
        operations.push(op);
      }
    }
    operations.sort((x, y) => (x.name !== y.name ? (x.name < y.name ? -1 : 1) : x.spanKind < y.spanKind ? -1 : x.spanKind > y.spanKind ? 1 : 0));
    if (a.namesOnly) {
      const names = [...new Set(operations.map((o) => o.name))];
      return json(v1(names, names.length), names.length);
    }
    if (a.version === 'v1') return json(v1(operations, operations.length), operations.length);
    // api_v3 answers with proto3 JSON: an empty span kind is left out.
    const out = operations.map((o) => (o.spanKind === '' ? { name: o.name } : o));
    return json(out.length > 0 ? { operations: out } : {}, out.length);
  },

  async jaegerTrace({ store, scope }: JobContext, a: TraceArgs): Promise<JobAnswer> {
    const spans = await store.getTrace(scope, Buffer.from(a.traceIdHex, 'hex'), a.range);
    if (spans.length === 0) throw new NotFoundError(a.version === 'v1' ? 'trace not found' : 'No traces found');
    if (a.version === 'v1') return json(v1([toJaegerTrace(spans)], 0), spans.length);
    return json({ result: { resourceSpans: resourceSpansJson(spans) } }, spans.length);
  },

  async jaegerTraceList({ store, scope }: JobContext, a: TraceListArgs): Promise<JobAnswer> {
    const data: JaegerTrace[] = [];
    const errors: NonNullable<V1Response['errors']> = [];
    for (const hex of a.traceIdsHex) {
      const spans = await store.getTrace(scope, Buffer.from(hex, 'hex'), a.range);
      if (spans.length > 0) data.push(toJaegerTrace(spans));
      else errors.push({ msg: 'trace not found', traceID: jaegerTraceId(Buffer.from(hex, 'hex')) });
    }
    return json(v1(data, 0, errors.length > 0 ? errors : null), data.length);
  },

  async jaegerSearch({ store, scope }: JobContext, a: SearchArgs): Promise<JobAnswer> {
    const traces = await searchTraces(store, scope, a);
    if (a.version === 'v1') return json(v1(traces.map(toJaegerTrace), 0), traces.length);
    if (traces.length === 0) throw new NotFoundError('No traces found');
    return json({ result: { resourceSpans: traces.flatMap(resourceSpansJson) } }, traces.length);
  },

  async jaegerDependencies({ store, scope }: JobContext, a: DependenciesArgs): Promise<JobAnswer> {
    // Exact: every trace of the range is read (no sample), as call counts must be.
    const graph = await store.serviceGraph(scope, a.range, 0);
    const calls = new Map<string, { parent: string; child: string; callCount: number }>();
    for (const e of graph.edges) {
      if (a.service !== undefined && e.source !== a.service && e.target !== a.service) continue;
      const key = JSON.stringify([e.source, e.target]);
      const link = calls.get(key) ?? { parent: e.source, child: e.target, callCount: 0 };
      link.callCount += e.count;
      calls.set(key, link);
    }
    const links = [...calls.values()].sort((x, y) => (x.parent !== y.parent ? (x.parent < y.parent ? -1 : 1) : x.child < y.child ? -1 : x.child > y.child ? 1 : 0));
    return json(v1(links, 0), links.length);
  },
};

/**
 * Traces with a span matching the search, most recent first, each read
 * whole (a trace may reach outside the range).
 */
async function searchTraces(store: ReadPorts, scope: TenantScope, a: SearchArgs): Promise<SpanRecord[][]> {
  const found = await store.searchSpans(scope, { where: jaegerSearchCondition(a.search), shown: [], range: a.range, limit: a.limit, spss: 1 });
  const traces: SpanRecord[][] = [];
  // A few reads in flight: the engine overlaps part of them (measured on
  // chDB, 20k traces: limit=20 in 311 ms instead of 403 ms one at a time).
  for (let i = 0; i < found.traces.length; i += TRACE_READS_IN_FLIGHT) {
    const batch = await Promise.all(found.traces.slice(i, i + TRACE_READS_IN_FLIGHT).map((t) => store.getTrace(scope, t.traceId)));
    // Erased or expired between the two reads: nothing to show.
    for (const spans of batch) if (spans.length > 0) traces.push(spans);
  }
  return traces;
}
