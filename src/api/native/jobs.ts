import { NotFoundError } from '../../errors.js';
import type { TimeRange } from '../../store/index.js';
import { aggregateCriticalPath, compareGroups, loadCorrelation, redSeries, serviceMap, serviceOperations, traceCriticalPath } from '../../diagnosis/index.js';
import { compileQuery, matchingTraceIds } from '../../query/traceql/index.js';
import { json, type JobAnswer, type JobContext } from '../isolation/job.js';

/**
 * Diagnosis jobs, run in query workers (isolation/pool.ts). TraceQL
 * selections arrive as text and are compiled here, so even parsing a
 * hostile query happens off the main thread.
 */

export interface SelectionArgs {
  range: TimeRange;
  selection: string;
  baseline?: string;
  maxTraces: number;
  limit: number;
}

export type NativeJobs = typeof nativeJobs;

export const nativeJobs = {
  async serviceMap({ store, scope }: JobContext, a: { range: TimeRange; maxSpans: number }): Promise<JobAnswer> {
    const out = await serviceMap(store, scope, a.range, a.maxSpans);
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
      maxTraces: a.maxTraces,
      limit: a.limit,
    });
    return json(out, out.attributes.length + out.numeric.length);
  },

  async criticalPath({ store, scope }: JobContext, a: SelectionArgs): Promise<JobAnswer> {
    const out = await aggregateCriticalPath(store, scope, {
      range: a.range,
      selection: compileQuery(a.selection),
      baseline: a.baseline !== undefined ? compileQuery(a.baseline) : undefined,
      maxTraces: a.maxTraces,
      limit: a.limit,
    });
    return json(out, out.operations.length);
  },

  async load({ store, scope }: JobContext, a: { range: TimeRange; query: string; limit: number; buckets: number }): Promise<JobAnswer> {
    const out = await loadCorrelation(store, scope, { range: a.range, query: compileQuery(a.query), limit: a.limit, buckets: a.buckets });
    return json(out, out.spans);
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
