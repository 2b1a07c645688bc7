import { deliveryKeys, pipelineStats, type DeliveryArgs, type PipelineArgs } from '../../delivery/index.js';
import { json, type JobAnswer, type JobContext } from '../isolation/job.js';

/** Delivery's reads of spans (delivery-routes.ts), run in query workers like every other read. */
export const deliveryJobs = {
  async deliveryKeys({ store, scope }: JobContext, a: DeliveryArgs): Promise<JobAnswer> {
    const out = await deliveryKeys(store, scope, a);
    return json(out, out.deployments.length);
  },

  async deliveryPipelines({ store, scope }: JobContext, a: PipelineArgs): Promise<JobAnswer> {
    const out = await pipelineStats(store, scope, a);
    return json(out, out.runsRead);
  },
};

export type DeliveryJobs = typeof deliveryJobs;
