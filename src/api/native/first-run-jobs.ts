import type { TimeRange } from '../../store/index.js';
import { json, type JobAnswer, type JobContext } from '../isolation/job.js';
import type { EndpointUrls } from '../endpoints.js';

/** What the UI shows on an empty store: how to send spans here (see first-run-routes.ts). */
export interface GettingStarted {
  /** Where this process's listeners are bound; null when it has none (an API server alone). */
  endpoints: EndpointUrls | null;
  /** OTLP exporters must send a token with the ingester role (an identity source is configured). */
  tokenRequired: boolean;
  /** The OTLP listeners ask for a client certificate (--tls-client-ca). */
  clientCertificate: boolean;
}

/** Every span time a store can hold: from 1970 to 2262. */
const ALL_TIME: TimeRange = { startNs: 0n, endNs: 2n ** 63n };

export type FirstRunJobs = typeof firstRunJobs;

export const firstRunJobs = {
  /**
   * Whether the caller's tenants hold any span at all, at any time: one
   * service name, read with LIMIT 1, so the engine stops at the first row
   * however large the store. (Not whether a search matched: an empty store
   * is a different answer from an empty result.)
   */
  async gettingStarted({ store, scope }: JobContext, a: GettingStarted): Promise<JobAnswer> {
    const any = await store.tagValues(scope, { scope: 'resource', name: 'service.name' }, ALL_TIME, 1);
    return json({ ...a, hasSpans: any.length > 0 }, 0);
  },
};
