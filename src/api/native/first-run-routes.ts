import type { FastifyInstance } from 'fastify';
import { READ_META } from '../../auth/index.js';
import { scopeOf } from '../auth.js';
import { sendJob, type QueryPool } from '../isolation/index.js';
import { endpointUrls, type BoundListeners } from '../endpoints.js';
import type { FirstRunJobs, GettingStarted } from './first-run-jobs.js';

export interface FirstRunRoutesOptions {
  queries: QueryPool;
  /** Where the listeners are bound, once they are; absent for an API server without listeners of its own. */
  listeners?: () => BoundListeners | undefined;
  /** OTLP callers need a token (an identity source is configured). */
  tokenRequired: () => boolean;
}

/**
 * GET /api/sightline/getting-started: whether the caller's tenants hold any
 * span yet, and where this host takes OTLP, for the UI to teach on an empty
 * store. It reads no span value (as the tag names, it is not audited), and
 * the addresses are the bound ones, so port 0 shows as the port in use.
 */
export function registerFirstRunRoutes(app: FastifyInstance, opts: FirstRunRoutesOptions): void {
  app.get('/api/sightline/getting-started', { config: { policy: READ_META } }, async (req, reply) => {
    const bound = opts.listeners?.();
    const args: GettingStarted = {
      // Behind a wildcard address, the host the browser used is the one that reaches this machine.
      endpoints: bound ? endpointUrls(bound, req.headers.host ? req.hostname : undefined) : null,
      tokenRequired: opts.tokenRequired(),
      clientCertificate: bound?.clientCertificate ?? false,
    };
    return sendJob<FirstRunJobs, 'gettingStarted'>(opts.queries, 'lookup', 'gettingStarted', args, scopeOf(req), req, reply);
  });
}
