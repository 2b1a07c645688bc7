import type { DiagnosisPort, TenantScope, TimeRange } from '../store/index.js';
import type { Query } from '../query/traceql/index.js';
import { baselineTraces, selectTraces, type SelectionStore, type TraceGroup } from './selection.js';

/**
 * The latency chart of the compare page: trace durations over the whole
 * range, for the two groups that `compare` compares (or, before there is a
 * selection, for every trace). Each group is the same uniform sample that
 * `compare` reads, the traces with the smallest ids, so the chart shows
 * exactly the traces compared, and says how many of how many they are.
 */

export interface LatencyOptions {
  range: TimeRange;
  /** Absent: one group, every trace in the range. */
  selection?: Query;
  baseline?: Query;
  maxTraces: number;
}

export interface LatencyGroupJson {
  /** Traces in the group; a lower bound when `totalExact` is false. */
  total: number;
  totalExact: boolean;
  /** Fewer traces are drawn than the group has. */
  sampled: boolean;
  /** Start (ms since the epoch) and duration (ms) per drawn trace: the trace index's first start to last end, as TraceQL's traceDuration. */
  traces: { traceId: string; startMs: number; durationMs: number }[];
}

export interface LatencyJson {
  startMs: number;
  endMs: number;
  maxTraces: number;
  /** Null without a selection query. */
  selection: LatencyGroupJson | null;
  /** The baseline; without a selection, every trace in the range. */
  baseline: LatencyGroupJson;
}

export async function latencySample(store: SelectionStore & Pick<DiagnosisPort, 'traceTimings'>, scope: TenantScope, opts: LatencyOptions): Promise<LatencyJson> {
  let selected: TraceGroup | null = null;
  let base: TraceGroup;
  if (opts.selection) {
    selected = await selectTraces(store, scope, opts.selection, opts.range, opts.maxTraces, true);
    base = await baselineTraces(store, scope, opts.selection, selected, opts.baseline, opts.range, opts.maxTraces, true);
  } else {
    const all = await store.sampleTraces(scope, { range: opts.range, limit: opts.maxTraces, countTotal: true });
    base = { traceIds: all.traceIds, sampled: all.sampled, total: { count: all.total ?? all.traceIds.length, exact: true } };
  }
  const group = async (g: TraceGroup): Promise<LatencyGroupJson> => {
    const timings = await store.traceTimings(scope, { traceIds: g.traceIds, range: opts.range });
    return {
      total: g.total?.count ?? g.traceIds.length,
      totalExact: g.total?.exact ?? !g.sampled,
      sampled: g.sampled,
      traces: timings
        .map((t) => ({ traceId: t.traceId.toString('hex'), startMs: Number(t.startNs / 1_000_000n) + Number(t.startNs % 1_000_000n) / 1e6, durationMs: t.durationNs / 1e6 }))
        .sort((a, b) => a.startMs - b.startMs),
    };
  };
  const [selection, baseline] = await Promise.all([selected ? group(selected) : Promise.resolve(null), group(base)]);
  return { startMs: Number(opts.range.startNs / 1_000_000n), endMs: Number(opts.range.endNs / 1_000_000n), maxTraces: opts.maxTraces, selection, baseline };
}
