import type { DiagnosisPort, TenantScope, TimeRange } from '../store/index.js';
import type { Query } from '../query/traceql/index.js';
import { selectGroups, type SelectionStore, type TraceGroup } from './selection.js';

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
  /** The baseline's own window (selectGroups); only with a selection. */
  baselineRange?: TimeRange;
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
  /**
   * The baseline's own window, when it has one: its traces lie there, and
   * startMs/endMs stay the selection's window.
   */
  baselineWindow?: { startMs: number; endMs: number };
}

export async function latencySample(store: SelectionStore & Pick<DiagnosisPort, 'traceTimings'>, scope: TenantScope, opts: LatencyOptions): Promise<LatencyJson> {
  let selected: TraceGroup | null = null;
  let base: TraceGroup;
  let baselineRange = opts.range;
  if (opts.selection) {
    ({ selected, base, baselineRange } = await selectGroups(store, scope, { ...opts, selection: opts.selection }, true));
  } else {
    const all = await store.sampleTraces(scope, { range: opts.range, limit: opts.maxTraces, countTotal: true });
    base = { traceIds: all.traceIds, sampled: all.sampled, total: { count: all.total ?? all.traceIds.length, exact: true } };
  }
  const group = async (g: TraceGroup, range: TimeRange): Promise<LatencyGroupJson> => {
    const timings = await store.traceTimings(scope, { traceIds: g.traceIds, range });
    return {
      total: g.total?.count ?? g.traceIds.length,
      totalExact: g.total?.exact ?? !g.sampled,
      sampled: g.sampled,
      traces: timings
        .map((t) => ({ traceId: t.traceId.toString('hex'), startMs: Number(t.startNs / 1_000_000n) + Number(t.startNs % 1_000_000n) / 1e6, durationMs: t.durationNs / 1e6 }))
        .sort((a, b) => a.startMs - b.startMs),
    };
  };
  const [selection, baseline] = await Promise.all([selected ? group(selected, opts.range) : Promise.resolve(null), group(base, baselineRange)]);
  const ms = (ns: bigint) => Number(ns / 1_000_000n);
  const out: LatencyJson = { startMs: ms(opts.range.startNs), endMs: ms(opts.range.endNs), maxTraces: opts.maxTraces, selection, baseline };
  if (selected && opts.baselineRange) out.baselineWindow = { startMs: ms(baselineRange.startNs), endMs: ms(baselineRange.endNs) };
  return out;
}
