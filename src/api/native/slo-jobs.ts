import { countEvents, countSeries, diagnoseBadEvents, type CountsArgs, type DiagnoseArgs, type SeriesArgs } from '../../slo/index.js';
import { json, type JobAnswer, type JobContext } from '../isolation/job.js';

/** SLO reads, run in query workers like every other read of spans (slo-routes.ts, and the evaluator through the server). */
export const sloJobs = {
  async sloCounts({ store, scope }: JobContext, a: CountsArgs): Promise<JobAnswer> {
    const out = await countEvents(store, scope, a);
    return json(out, out.length);
  },

  async sloDiagnosis({ store, scope }: JobContext, a: DiagnoseArgs): Promise<JobAnswer> {
    const out = await diagnoseBadEvents(store, scope, a);
    return json(out, out.badTraces + out.goodTraces);
  },

  /** Burn rates over time for the SLO page (series.ts): the evaluator's counts at every point. */
  async sloSeries({ store, scope }: JobContext, a: SeriesArgs): Promise<JobAnswer> {
    const out = await countSeries(store, scope, a);
    return json(out, out.times.length);
  },
};

export type SloJobs = typeof sloJobs;
