import type { Condition, DiagnosisPort, SearchPort, TenantScope, TimeRange } from '../store/index.js';
import { filterRequest, searchTraceQL, unlessUnsupported, type Query } from '../query/traceql/index.js';

/** What selecting traces reads: samples of trace ids, and TraceQL search for structural queries. */
export type SelectionStore = Pick<DiagnosisPort, 'sampleTraces'> & SearchPort;

/**
 * Groups of traces to compare: a selection (the traces a TraceQL query
 * matches) and a baseline (another query's traces, or by default every
 * other trace in the range). Each group is a uniform sample of at most
 * `maxTraces` traces, and says whether it was cut.
 */
export interface TraceGroup {
  traceIds: Buffer[];
  /** More traces qualified than were taken. */
  sampled: boolean;
}

/**
 * Structural queries and pipelines are evaluated in process over candidate
 * traces, whose ids travel in SQL text: fewer of them fit.
 */
export const MAX_EVALUATED_TRACES = 1000;

/**
 * The span condition of a query that is one spanset filter SQL can answer
 * alone, else null (the query is then evaluated in process, as searches do:
 * parent. attributes, comparisons between fields).
 */
export function loneFilter(q: Query): Condition | null {
  const [first, ...rest] = q.pipeline;
  if (rest.length > 0 || first.kind !== 'filter') return null;
  return unlessUnsupported(() => filterRequest(q).where);
}

/** Traces matching `q`: the smallest ids (a uniform sample) for a lone filter, else the most recent. */
export async function selectTraces(store: SelectionStore, scope: TenantScope, q: Query, range: TimeRange, maxTraces: number): Promise<TraceGroup> {
  const where = loneFilter(q);
  if (where) return store.sampleTraces(scope, { range, match: where, limit: maxTraces });
  const limit = Math.min(maxTraces, MAX_EVALUATED_TRACES);
  const found = await searchTraceQL(q, store, scope, { range, limit: limit + 1, spss: 1 });
  const ids = found.traces.map((t) => t.traceId).sort(Buffer.compare);
  return { traceIds: ids.slice(0, limit), sampled: ids.length > limit };
}

/**
 * The baseline: traces matching `baseline`, or else every trace in the
 * range that `selection` does not match (for a structural selection query,
 * every trace but the selected ones).
 */
export async function baselineTraces(
  store: SelectionStore,
  scope: TenantScope,
  selection: Query,
  selected: TraceGroup,
  baseline: Query | undefined,
  range: TimeRange,
  maxTraces: number,
): Promise<TraceGroup> {
  if (baseline) {
    const group = await selectTraces(store, scope, baseline, range, maxTraces);
    // A trace in both groups would count for both: it stays in the selection.
    const chosen = new Set(selected.traceIds.map((id) => id.toString('hex')));
    return { traceIds: group.traceIds.filter((id) => !chosen.has(id.toString('hex'))), sampled: group.sampled };
  }
  const where = loneFilter(selection);
  if (where) return store.sampleTraces(scope, { range, exclude: where, limit: maxTraces });
  const chosen = new Set(selected.traceIds.map((id) => id.toString('hex')));
  const all = await store.sampleTraces(scope, { range, limit: maxTraces + chosen.size });
  const rest = all.traceIds.filter((id) => !chosen.has(id.toString('hex')));
  return { traceIds: rest.slice(0, maxTraces), sampled: all.sampled || rest.length > maxTraces };
}
