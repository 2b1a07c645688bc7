import type { FastifyInstance } from 'fastify';
import { READ_SPANS } from '../../auth/index.js';
import { InvalidQueryError } from '../../errors.js';
import { DEFAULT_TEAM_KEY, pairAlerts, servicesNamed, type AlertJson } from '../../delivery/index.js';
import { compileQuery, filterRequest } from '../../query/traceql/index.js';
import type { SloService } from '../../slo/index.js';
import { TenantScope, type SloStatePort } from '../../store/index.js';
import { scopeOf } from '../auth.js';
import { sendJob, type QueryPool } from '../isolation/index.js';
import { param, parseDurationParam, parsePositiveInt, parseRange, type Query } from '../tempo/params.js';
import type { DeliveryJobs } from './delivery-jobs.js';

/** Delivery looks back a week unless asked otherwise. */
const DEFAULT_WINDOW_SECONDS = 7 * 86_400;
const MAX_KEY_LENGTH = 256;
const NS_PER_MINUTE = 60_000_000_000n;
const HOUR_NS = 60n * NS_PER_MINUTE;
/** SLO alert events read at most (newest first): years of alerts for a team. */
const MAX_ALERT_EVENTS = 10_000;

/**
 * The Delivery view's API (docs/delivery.md): the four DORA keys per
 * service and team with the deployments they count, and where pipeline
 * time goes. Span reads run in the query pool; the SLO alerts that make a
 * change failed come from the alert state, here. Viewers of the tenant,
 * audited, as every read of spans.
 */
export function registerDeliveryRoutes(app: FastifyInstance, queries: QueryPool, slos: SloService | undefined, state: SloStatePort): void {
  app.get('/api/sightline/delivery', { config: { policy: READ_SPANS } }, async (req, reply) => {
    const q = req.query as Query;
    const { range } = parseRange(q, DEFAULT_WINDOW_SECONDS);
    const teamKey = param(q, 'teamKey') ?? DEFAULT_TEAM_KEY;
    if (teamKey === '' || teamKey.length > MAX_KEY_LENGTH) throw new InvalidQueryError(`invalid teamKey: between 1 and ${MAX_KEY_LENGTH} characters`);
    const environment = param(q, 'environment') ?? null;
    if (environment !== null && environment.length > MAX_KEY_LENGTH) throw new InvalidQueryError(`invalid environment: longer than ${MAX_KEY_LENGTH} characters`);
    const lookbackNs = parseDurationParam(q, 'lookback') ?? 24n * HOUR_NS;
    if (lookbackNs > 30n * 24n * HOUR_NS) throw new InvalidQueryError('invalid lookback: at most 720h');
    const mergeWindowNs = parseDurationParam(q, 'mergeWindow') ?? 15n * NS_PER_MINUTE;
    if (mergeWindowNs > 24n * HOUR_NS) throw new InvalidQueryError('invalid mergeWindow: at most 24h');
    const scope = scopeOf(req);
    const alerts = await alertsOf(scope.tenants, slos, state);
    const args = {
      range,
      teamKey,
      environment,
      lookbackNs,
      mergeWindowMs: Number(mergeWindowNs / 1_000_000n),
      maxDeployments: parsePositiveInt(q, 'maxDeployments', 2000, 5000),
      alerts,
    };
    return sendJob<DeliveryJobs, 'deliveryKeys'>(queries, 'query', 'deliveryKeys', args, scope, req, reply);
  });

  app.get('/api/sightline/delivery/pipelines', { config: { policy: READ_SPANS } }, async (req, reply) => {
    const q = req.query as Query;
    const { range } = parseRange(q, DEFAULT_WINDOW_SECONDS);
    const pipeline = param(q, 'pipeline');
    if (pipeline !== undefined && pipeline.length > MAX_KEY_LENGTH) throw new InvalidQueryError(`invalid pipeline: longer than ${MAX_KEY_LENGTH} characters`);
    // By default 24 trend buckets, each a whole number of minutes.
    const span = range.endNs - range.startNs;
    const stepNs = parseDurationParam(q, 'step') ?? ((span / 24n + NS_PER_MINUTE - 1n) / NS_PER_MINUTE) * NS_PER_MINUTE;
    if (stepNs <= 0n) throw new InvalidQueryError('invalid step: must be positive');
    if (span / stepNs > 1000n) throw new InvalidQueryError('invalid step: more than 1000 buckets; use a larger step');
    const args = {
      range,
      ...(pipeline !== undefined ? { pipeline } : {}),
      maxRuns: parsePositiveInt(q, 'maxRuns', 1000, 5000),
      limit: parsePositiveInt(q, 'limit', 10, 100),
      stepMs: Number(stepNs / 1_000_000n),
    };
    return sendJob<DeliveryJobs, 'deliveryPipelines'>(queries, 'query', 'deliveryPipelines', args, scopeOf(req), req, reply);
  });
}

/** The SLO alerts of these tenants, each with the services its SLO's valid query names. */
async function alertsOf(tenants: readonly string[], slos: SloService | undefined, state: SloStatePort): Promise<AlertJson[]> {
  const defined = (slos?.config().slos ?? []).filter((s) => tenants.includes(s.tenant));
  if (defined.length === 0) return [];
  const services = new Map<string, string[]>();
  for (const slo of defined) {
    let named: string[] = [];
    try {
      named = servicesNamed(filterRequest(compileQuery(slo.valid)).where);
    } catch {
      // Validated at load; a valid query SQL alone cannot answer names no service.
    }
    services.set(`${slo.tenant}\u0000${slo.name}`, named);
  }
  const events = await state.events(TenantScope.of([...tenants]), { limit: MAX_ALERT_EVENTS });
  return pairAlerts(events, (tenant, slo) => services.get(`${tenant}\u0000${slo}`) ?? []);
}
