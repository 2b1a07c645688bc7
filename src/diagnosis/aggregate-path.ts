import type { DiagnosisPort, PathSpanRow, TenantScope, TimeRange } from '../store/index.js';
import type { Query } from '../query/traceql/index.js';
import { criticalPath, type PathSpan } from './critical-path.js';
import { selectGroups, type SelectionStore, type TraceGroup } from './selection.js';

/**
 * The critical path added up over groups of traces: for each (service,
 * operation), how much of the path's time it holds in the selection and in
 * the baseline, ranked by how much of the selection's extra latency it
 * explains (its mean time on the path per trace, selection minus baseline).
 * Each trace's path is computed as for one trace (skew, async children and
 * orphans handled the same way).
 */

export interface AggregatePathOptions {
  range: TimeRange;
  selection: Query;
  baseline?: Query;
  /** The baseline's own window; default `range` (selectGroups). */
  baselineRange?: TimeRange;
  /** Traces per group; more are sampled (a uniform sample, reported). */
  maxTraces: number;
  limit: number;
}

export interface GroupSummary {
  traces: number;
  sampled: boolean;
  /** Trace durations (the root's span, after skew correction), ns. */
  meanDurationNs: number;
  p50DurationNs: number;
  p95DurationNs: number;
}

export interface OperationOnPath {
  /** Its time on the path over all the group's path time. */
  share: number;
  /** Its time on the path per trace of the group (0 where absent). */
  meanOnPathNs: number;
  /** Of its time on the path, over the traces where it is on the path. */
  p50OnPathNs: number;
  p95OnPathNs: number;
  /** Traces where it is on the path. */
  traces: number;
  /** Its spans on the path per trace of the group: repeats (retries, N+1 queries) show here. */
  spansPerTrace: number;
}

export interface AggregatePathJson {
  selection: GroupSummary;
  baseline: GroupSummary;
  /** Mean trace duration, selection minus baseline. */
  extraLatencyNs: number;
  operations: {
    service: string;
    operation: string;
    selection: OperationOnPath;
    baseline: OperationOnPath;
    /** meanOnPathNs, selection minus baseline. */
    explainsNs: number;
    /** explainsNs over extraLatencyNs; null when the selection is not slower. */
    explainedShare: number | null;
  }[];
}

/** Trace ids per spans query: ids travel in the SQL text. */
const IDS_PER_QUERY = 5000;

interface GroupAccumulator {
  durations: number[];
  ops: Map<string, { service: string; operation: string; perTrace: number[]; spans: number; total: number }>;
}

export async function aggregateCriticalPath(store: SelectionStore & Pick<DiagnosisPort, 'pathSpans'>, scope: TenantScope, opts: AggregatePathOptions): Promise<AggregatePathJson> {
  const { selected, base, baselineRange } = await selectGroups(store, scope, opts);
  const [sel, bl] = await Promise.all([accumulate(store, scope, selected, opts.range), accumulate(store, scope, base, baselineRange)]);
  const selSummary = summary(sel, selected.sampled);
  const blSummary = summary(bl, base.sampled);
  const extra = selSummary.meanDurationNs - blSummary.meanDurationNs;
  const keys = new Set([...sel.ops.keys(), ...bl.ops.keys()]);
  const operations = [...keys].map((k) => {
    const s = onPath(sel, k);
    const b = onPath(bl, k);
    const op = sel.ops.get(k) ?? bl.ops.get(k)!;
    const explainsNs = s.meanOnPathNs - b.meanOnPathNs;
    return { service: op.service, operation: op.operation, selection: s, baseline: b, explainsNs, explainedShare: extra > 0 ? explainsNs / extra : null };
  });
  operations.sort((a, b) => b.explainsNs - a.explainsNs || b.selection.meanOnPathNs - a.selection.meanOnPathNs || (a.service + a.operation < b.service + b.operation ? -1 : 1));
  return { selection: selSummary, baseline: blSummary, extraLatencyNs: extra, operations: operations.slice(0, opts.limit) };
}

async function accumulate(store: Pick<DiagnosisPort, 'pathSpans'>, scope: TenantScope, group: TraceGroup, range: TimeRange): Promise<GroupAccumulator> {
  const acc: GroupAccumulator = { durations: [], ops: new Map() };
  for (let i = 0; i < group.traceIds.length; i += IDS_PER_QUERY) {
    const { traces } = await store.pathSpans(scope, { traceIds: group.traceIds.slice(i, i + IDS_PER_QUERY), range });
    for (const spans of traces.values()) addTrace(acc, spans);
  }
  return acc;
}

function addTrace(acc: GroupAccumulator, rows: PathSpanRow[]): void {
  const spans: PathSpan[] = rows.map((r) => ({ spanId: r.spanId, parentId: r.parentId, service: r.service, name: r.name, start: r.start, end: r.start + r.duration }));
  const cp = criticalPath(spans);
  if (cp.root < 0) return;
  const t = acc.durations.length;
  acc.durations.push(cp.end[cp.root] - cp.start[cp.root]);
  for (let i = 0; i < spans.length; i++) {
    const ns = cp.onPathNs[i];
    if (ns <= 0) continue;
    const k = `${spans[i].service}\u0000${spans[i].name}`;
    let op = acc.ops.get(k);
    if (!op) acc.ops.set(k, (op = { service: spans[i].service, operation: spans[i].name, perTrace: [], spans: 0, total: 0 }));
    // perTrace holds [trace index, ns] pairs flattened: one entry per trace it is on.
    if (op.perTrace.length >= 2 && op.perTrace[op.perTrace.length - 2] === t) op.perTrace[op.perTrace.length - 1] += ns;
    else op.perTrace.push(t, ns);
    op.spans++;
    op.total += ns;
  }
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function summary(acc: GroupAccumulator, sampled: boolean): GroupSummary {
  const d = [...acc.durations].sort((a, b) => a - b);
  return {
    traces: d.length,
    sampled,
    meanDurationNs: d.length > 0 ? d.reduce((s, x) => s + x, 0) / d.length : 0,
    p50DurationNs: quantile(d, 0.5),
    p95DurationNs: quantile(d, 0.95),
  };
}

function onPath(acc: GroupAccumulator, key: string): OperationOnPath {
  const n = acc.durations.length;
  const op = acc.ops.get(key);
  if (!op || n === 0) return { share: 0, meanOnPathNs: 0, p50OnPathNs: 0, p95OnPathNs: 0, traces: 0, spansPerTrace: 0 };
  const per: number[] = [];
  for (let i = 1; i < op.perTrace.length; i += 2) per.push(op.perTrace[i]);
  per.sort((a, b) => a - b);
  const pathTotal = acc.durations.reduce((s, x) => s + x, 0);
  return {
    share: pathTotal > 0 ? op.total / pathTotal : 0,
    meanOnPathNs: op.total / n,
    p50OnPathNs: quantile(per, 0.5),
    p95OnPathNs: quantile(per, 0.95),
    traces: per.length,
    spansPerTrace: op.spans / n,
  };
}

/**
 * The critical path added up over given traces (no selection, no
 * baseline): Delivery's "where pipeline time goes" over a pipeline's runs.
 * Operations by their mean time on the path, most first.
 */
export async function criticalPathOfTraces(
  store: Pick<DiagnosisPort, 'pathSpans'>,
  scope: TenantScope,
  opts: { traceIds: Buffer[]; range: TimeRange; limit: number },
): Promise<{ traces: GroupSummary; operations: ({ service: string; operation: string } & OperationOnPath)[] }> {
  const acc = await accumulate(store, scope, { traceIds: opts.traceIds, sampled: false }, opts.range);
  const operations = [...acc.ops.entries()].map(([k, op]) => ({ service: op.service, operation: op.operation, ...onPath(acc, k) }));
  operations.sort((a, b) => b.meanOnPathNs - a.meanOnPathNs || (a.service + a.operation < b.service + b.operation ? -1 : 1));
  return { traces: summary(acc, false), operations: operations.slice(0, opts.limit) };
}
