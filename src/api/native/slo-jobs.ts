import { countEvents, diagnoseBadEvents, type CountsArgs, type DiagnoseArgs } from '../../slo/index.js';
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
};

export type SloJobs = typeof sloJobs;
