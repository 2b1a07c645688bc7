import type { Condition, DiagnosisPort, SearchPort, TenantScope, TimeRange, TraceSample } from '../store/index.js';
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
  /**
   * Every trace of the group, when asked for (`countTotal`). Not exact when
   * the group was cut before it could be counted (a structural query, or
   * overlap with the selection beyond the samples): `count` is then a lower bound.
   */
  total?: { count: number; exact: boolean };
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
export async function selectTraces(store: SelectionStore, scope: TenantScope, q: Query, range: TimeRange, maxTraces: number, countTotal = false): Promise<TraceGroup> {
  const where = loneFilter(q);
  if (where) return counted(await store.sampleTraces(scope, { range, match: where, limit: maxTraces, countTotal }), countTotal);
  const limit = Math.min(maxTraces, MAX_EVALUATED_TRACES);
  const found = await searchTraceQL(q, store, scope, { range, limit: limit + 1, spss: 1 });
  const ids = found.traces.map((t) => t.traceId).sort(Buffer.compare);
  const sampled = ids.length > limit;
  return { traceIds: ids.slice(0, limit), sampled, ...(countTotal ? { total: { count: ids.length, exact: !sampled } } : {}) };
}

function counted(sample: TraceSample, countTotal: boolean): TraceGroup {
  const group: TraceGroup = { traceIds: sample.traceIds, sampled: sample.sampled };
  if (countTotal) group.total = { count: sample.total ?? sample.traceIds.length, exact: sample.total !== undefined || !sample.sampled };
  return group;
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
  countTotal = false,
): Promise<TraceGroup> {
  if (baseline) {
    const group = await selectTraces(store, scope, baseline, range, maxTraces, countTotal);
    // A trace in both groups would count for both: it stays in the selection.
    const chosen = new Set(selected.traceIds.map((id) => id.toString('hex')));
    const traceIds = group.traceIds.filter((id) => !chosen.has(id.toString('hex')));
    const out: TraceGroup = { traceIds, sampled: group.sampled };
    // Overlap is only known within the two samples.
    if (group.total) out.total = { count: group.total.count - (group.traceIds.length - traceIds.length), exact: group.total.exact && !group.sampled && !selected.sampled };
    return out;
  }
  const where = loneFilter(selection);
  if (where) return counted(await store.sampleTraces(scope, { range, exclude: where, limit: maxTraces, countTotal }), countTotal);
  const chosen = new Set(selected.traceIds.map((id) => id.toString('hex')));
  const all = await store.sampleTraces(scope, { range, limit: maxTraces + chosen.size, countTotal });
  const rest = all.traceIds.filter((id) => !chosen.has(id.toString('hex')));
  const out: TraceGroup = { traceIds: rest.slice(0, maxTraces), sampled: all.sampled || rest.length > maxTraces };
  if (countTotal) out.total = { count: Math.max(0, (all.total ?? all.traceIds.length) - chosen.size), exact: !selected.sampled };
  return out;
}

/** What picks the two groups: the selection, and a baseline in the same window or its own. */
export interface GroupsOptions {
  range: TimeRange;
  selection: Query;
  /** Default: every other trace in the range; with `baselineRange`, the selection's query there. */
  baseline?: Query;
  /**
   * The baseline's own window (before a deploy, against the selection's
   * after it). Without it, both groups come from `range`.
   */
  baselineRange?: TimeRange;
  maxTraces: number;
}

/** The two groups and the window each was read in, so their spans are read in the same windows. */
export interface ComparedGroups {
  selected: TraceGroup;
  base: TraceGroup;
  baselineRange: TimeRange;
}

/**
 * The selection and its baseline. With a baseline window of its own and
 * no baseline query, the baseline is the selection's query in that
 * window: "service X after the deploy" against "service X before it". A
 * trace found in both groups (windows that overlap, a trace that spans
 * the boundary) stays in the selection, as it does within one window.
 */
export async function selectGroups(store: SelectionStore, scope: TenantScope, opts: GroupsOptions, countTotal = false): Promise<ComparedGroups> {
  const selected = await selectTraces(store, scope, opts.selection, opts.range, opts.maxTraces, countTotal);
  const baselineRange = opts.baselineRange ?? opts.range;
  const baseline = opts.baseline ?? (opts.baselineRange ? opts.selection : undefined);
  const base = await baselineTraces(store, scope, opts.selection, selected, baseline, baselineRange, opts.maxTraces, countTotal);
  return { selected, base, baselineRange };
}
