import { NotFoundError } from '../../errors.js';
import { heatmapColumns, type SearchOrder, type TimeRange } from '../../store/index.js';
import { aggregateCriticalPath, compareGroups, latencySample, loadCorrelation, redSeries, serviceMap, serviceOperations, traceCriticalPath } from '../../diagnosis/index.js';
import { compileQuery, matchingTraceIds, searchTraceQL, traceHeatmapTraceQL } from '../../query/traceql/index.js';
import { json, type JobAnswer, type JobContext } from '../isolation/job.js';
import { searchResponse, withServiceStats } from '../tempo/jobs.js';

/**
 * Diagnosis jobs, run in query workers (isolation/pool.ts). TraceQL
 * selections arrive as text and are compiled here, so even parsing a
 * hostile query happens off the main thread.
 */

export interface SelectionArgs {
  range: TimeRange;
  selection: string;
  baseline?: string;
  /** The baseline's own window (diagnosis-routes.ts baselineStart/baselineEnd). */
  baselineRange?: TimeRange;
  maxTraces: number;
  limit: number;
}

export type NativeJobs = typeof nativeJobs;

/**
 * Rows of the search heatmap: trace durations between these bounds, on a
 * log scale with six steps a decade (1, 1.5, 2, 3, 5, 7), from 10 µs to
 * 70 min; row 0 is below 10 µs, the last row above 70 min.
 */
export const HEATMAP_DURATION_BOUNDS_NS: readonly bigint[] = (() => {
  const out: bigint[] = [];
  for (let e = 4n; e <= 12n; e++) for (const tenths of [10n, 15n, 20n, 30n, 50n, 70n]) out.push((tenths * 10n ** e) / 10n);
  return out;
})();

export const nativeJobs = {
  async serviceMap({ store, scope }: JobContext, a: { range: TimeRange; maxSpans: number; groupBy?: string }): Promise<JobAnswer> {
    const out = await serviceMap(store, scope, a.range, a.maxSpans, a.groupBy);
    return json(out, out.edges.length + out.nodes.length);
  },

  async red({ store, scope }: JobContext, a: { service: string; operation?: string; range: TimeRange; stepNs: bigint }): Promise<JobAnswer> {
    const out = await redSeries(store, scope, a);
    return json(out, out.points.length);
  },

  async operations({ store, scope }: JobContext, a: { service: string; range: TimeRange; limit: number }): Promise<JobAnswer> {
    const out = await serviceOperations(store, scope, a.service, a.range, a.limit);
    return json(out, out.operations.length);
  },

  async compare({ store, scope }: JobContext, a: SelectionArgs): Promise<JobAnswer> {
    const out = await compareGroups(store, scope, {
      range: a.range,
      selection: compileQuery(a.selection),
      baseline: a.baseline !== undefined ? compileQuery(a.baseline) : undefined,
      baselineRange: a.baselineRange,
      maxTraces: a.maxTraces,
      limit: a.limit,
    });
    return json(out, out.attributes.length + out.numeric.length);
  },

  /** The compare page's latency chart: the compared groups' traces, start and duration. */
  async compareLatency({ store, scope }: JobContext, a: { range: TimeRange; selection?: string; baseline?: string; baselineRange?: TimeRange; maxTraces: number }): Promise<JobAnswer> {
    const out = await latencySample(store, scope, {
      range: a.range,
      selection: a.selection !== undefined ? compileQuery(a.selection) : undefined,
      baseline: a.baseline !== undefined ? compileQuery(a.baseline) : undefined,
      baselineRange: a.baselineRange,
      maxTraces: a.maxTraces,
    });
    return json(out, (out.selection?.traces.length ?? 0) + out.baseline.traces.length);
  },

  async criticalPath({ store, scope }: JobContext, a: SelectionArgs): Promise<JobAnswer> {
    const out = await aggregateCriticalPath(store, scope, {
      range: a.range,
      selection: compileQuery(a.selection),
      baseline: a.baseline !== undefined ? compileQuery(a.baseline) : undefined,
      baselineRange: a.baselineRange,
      maxTraces: a.maxTraces,
      limit: a.limit,
    });
    return json(out, out.operations.length);
  },

  async load({ store, scope }: JobContext, a: { range: TimeRange; query: string; limit: number; buckets: number }): Promise<JobAnswer> {
    const out = await loadCorrelation(store, scope, { range: a.range, query: compileQuery(a.query), limit: a.limit, buckets: a.buckets });
    return json(out, out.spans);
  },

  /** Tempo's search answer, in an order chosen over every match, with how many traces match. */
  async orderedSearch({ store, scope }: JobContext, a: { query: string; range: TimeRange; limit: number; spss: number; order: SearchOrder }): Promise<JobAnswer> {
    const found = await searchTraceQL(compileQuery(a.query), store, scope, { range: a.range, limit: a.limit, spss: a.spss, order: a.order, countTotal: true });
    const body = searchResponse(await withServiceStats(store, scope, found, a.range));
    const total = found.total ?? { count: found.traces.length, exact: false };
    return json({ ...body, order: a.order, total: total.count, totalExact: total.exact }, found.traces.length);
  },

  /** Matching traces counted by start time and duration (search-routes.ts). */
  async searchHeatmap({ store, scope }: JobContext, a: { query: string; range: TimeRange; stepNs: bigint }): Promise<JobAnswer> {
    const map = await traceHeatmapTraceQL(compileQuery(a.query), store, scope, { range: a.range, stepNs: a.stepNs, durationBoundsNs: HEATMAP_DURATION_BOUNDS_NS });
    return json(
      {
        startMs: Number(a.range.startNs / 1_000_000n),
        endMs: Number(a.range.endNs / 1_000_000n),
        stepMs: Number(a.stepNs / 1_000_000n),
        columns: heatmapColumns(a.range, a.stepNs),
        durationBoundsNs: HEATMAP_DURATION_BOUNDS_NS.map(Number),
        cells: map.cells.sort((x, y) => x.column - y.column || x.row - y.row),
        total: map.total.count,
        totalExact: map.total.exact,
      },
      map.total.count,
    );
  },

  /** The traces an erasure's TraceQL selection names (erasure-routes.ts). */
  async erasureSelection({ store, scope }: JobContext, a: { query: string; range: TimeRange; max: number }): Promise<JobAnswer> {
    const found = await matchingTraceIds(compileQuery(a.query), store, scope, a.range, a.max);
    return json({ traceIds: found.traceIds.map((id) => id.toString('hex')), overLimit: found.overLimit }, found.traceIds.length);
  },

  async traceCriticalPath({ store, scope }: JobContext, a: { traceIdHex: string }): Promise<JobAnswer> {
    const id = Buffer.from(a.traceIdHex, 'hex');
    const spans = await store.getTrace(scope, id);
    if (spans.length === 0) throw new NotFoundError(`trace ${a.traceIdHex} not found`);
    return json(traceCriticalPath(id, spans), spans.length);
  },
};
