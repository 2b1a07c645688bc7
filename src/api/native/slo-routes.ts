import type { FastifyInstance, FastifyRequest } from 'fastify';
import { READ_SPANS } from '../../auth/index.js';
import { InvalidQueryError, NotFoundError } from '../../errors.js';
import { budgetRemaining, burnRate, defaultSeriesStep, formatWindow, keyOf, seriesPlan, windowsOf, type SeriesArgs, type SloDefinition, type SloDiagnosis, type SloQueries, type SloSeries, type SloService, type WindowCounts } from '../../slo/index.js';
import { TenantScope, type SloStatePort } from '../../store/index.js';
import { scopeOf } from '../auth.js';
import { param, parseGoDuration, parseRange, type Query } from '../tempo/params.js';
import type { QueryPool } from '../isolation/index.js';
import type { SloJobs } from './slo-jobs.js';

/** The evaluator's reads, through the query pool's `query` lane (a full pool answers 429, and the round is tried again). */
export function sloQueriesOver(queries: QueryPool): SloQueries {
  const run = async <K extends keyof SloJobs & string>(job: K, tenant: string, args: Parameters<SloJobs[K]>[1]): Promise<unknown> => {
    const answer = await queries.run<SloJobs, K>('query', job, args, TenantScope.of([tenant]), () => undefined);
    return JSON.parse(typeof answer.body === 'string' ? answer.body : Buffer.from(answer.body).toString('utf8'));
  };
  return {
    counts: async (tenant, a) => (await run('sloCounts', tenant, a)) as WindowCounts[],
    diagnose: async (tenant, a) => (await run('sloDiagnosis', tenant, a)) as SloDiagnosis,
  };
}

/**
 * SLOs, their budgets, burn rates, alerts and every notification attempt
 * (docs/slo.md). Budgets and burn rates are computed from spans now, in
 * the query pool; the rest is the alert state in the store. Reading span
 * counts and the diagnoses in alert annotations is a read of span data:
 * viewers of the SLO's tenant, audited.
 */
export function registerSloRoutes(app: FastifyInstance, queries: QueryPool, slos: SloService | undefined, state: SloStatePort): void {
  const reads = sloQueriesOver(queries);

  const summary = async (slo: SloDefinition) => {
    const now = Date.now();
    const counts = await reads.counts(slo.tenant, { validQuery: slo.validQuery, goodQuery: slo.goodQuery, windowsMs: windowsOf(slo), endMs: now });
    const byWindow = new Map(counts.map((c) => [c.windowMs, c]));
    const total = byWindow.get(slo.windowMs) ?? { valid: 0, good: 0, windowMs: slo.windowMs, source: 'spans' };
    const scope = TenantScope.of([slo.tenant]);
    const [last] = await state.events(scope, { slo: slo.name, limit: 1 });
    return {
      tenant: slo.tenant,
      name: slo.name,
      description: slo.description,
      valid: slo.valid,
      good: slo.good,
      // The queries as the evaluator runs them, for links to their traces and to Compare.
      validQuery: slo.validQuery,
      goodQuery: slo.goodQuery,
      badQuery: slo.badQuery,
      objective: slo.objective,
      window: formatWindow(slo.windowMs),
      atMs: now,
      events: { valid: total.valid, good: total.good, bad: Math.max(0, total.valid - total.good) },
      budgetRemaining: budgetRemaining(total, slo.objective),
      burnRates: counts.map((c) => ({ window: formatWindow(c.windowMs), valid: c.valid, good: c.good, burnRate: burnRate(c, slo.objective), source: c.source })),
      alerts: slo.alerts.map((a) => ({ long: formatWindow(a.longMs), short: formatWindow(a.shortMs), burnRate: a.burnRate, severity: a.severity, firing: burnRate(byWindow.get(a.longMs) ?? total, slo.objective) >= a.burnRate && burnRate(byWindow.get(a.shortMs) ?? total, slo.objective) >= a.burnRate })),
      state: last?.status === 'firing' ? 'firing' : 'ok',
      receivers: slo.receivers,
      evaluatedHere: slos?.holding().includes(keyOf(slo)) ?? false,
    };
  };

  const inScope = (tenants: readonly string[]) => (slos?.config().slos ?? []).filter((s) => tenants.includes(s.tenant));

  app.get('/api/sightline/slos', { config: { policy: READ_SPANS } }, async (req) => {
    const list = inScope(scopeOf(req).tenants);
    const out = [];
    for (const slo of list) out.push(await summary(slo));
    req.auditResults = out.length;
    return { slos: out };
  });

  /** The path's tenant must be one the request reads (X-Scope-OrgID, as every route): another's is not found. */
  const named = (req: FastifyRequest): SloDefinition => {
    const { tenant, name } = req.params as { tenant: string; name: string };
    const slo = inScope(scopeOf(req).tenants).find((s) => s.tenant === tenant && s.name === name);
    if (!slo) throw new NotFoundError(`no SLO ${name} in tenant ${tenant}`);
    return slo;
  };

  app.get('/api/sightline/slos/:tenant/:name', { config: { policy: READ_SPANS } }, async (req) => {
    const slo = named(req);
    const { tenant, name } = slo;
    const scope = TenantScope.of([tenant]);
    const [base, events, deliveries, attempts] = await Promise.all([
      summary(slo),
      state.events(scope, { slo: name, limit: 200 }),
      state.deliveries(scope, { slo: name }),
      state.attempts(scope, { slo: name, limit: 500 }),
    ]);
    req.auditResults = events.length;
    return {
      ...base,
      history: events.map((e) => ({ eventId: e.eventId, status: e.status, alertStartMs: e.alertStartMs, timeMs: e.timeMs, notice: JSON.parse(e.body) as unknown })),
      deliveries: deliveries.map(({ tenant: _t, slo: _s, ...d }) => d),
      attempts: attempts.map(({ tenant: _t, slo: _s, ...a }) => a),
    };
  });

  /**
   * Burn rates over time for each alert window (series.ts): at each point,
   * the evaluator's counts had it run then. `start`/`end` Unix seconds (the
   * last hour by default); `step` seconds or a duration (chosen to fit when
   * absent). The last point is `end`.
   */
  app.get('/api/sightline/slos/:tenant/:name/series', { config: { policy: READ_SPANS } }, async (req, reply) => {
    const slo = named(req);
    const q = req.query as Query;
    const { range } = parseRange(q, 3600);
    const startMs = Number(range.startNs / 1_000_000n);
    const endMs = Number(range.endNs / 1_000_000n);
    const windowsMs = [...new Set(slo.alerts.flatMap((a) => [a.longMs, a.shortMs]))];
    const stepText = param(q, 'step');
    let stepMs: number;
    if (stepText === undefined) stepMs = defaultSeriesStep(startMs, endMs, windowsMs);
    else {
      const ns = /^\d{1,9}(\.\d{1,9})?$/.test(stepText) ? BigInt(Math.round(Number(stepText) * 1e9)) : parseGoDuration(stepText);
      if (ns === undefined) throw new InvalidQueryError(`invalid step: time: invalid duration ${JSON.stringify(stepText)}`);
      if (ns % 1_000_000n !== 0n) throw new InvalidQueryError('invalid step: must be whole milliseconds');
      stepMs = Number(ns / 1_000_000n);
    }
    const args: SeriesArgs = { validQuery: slo.validQuery, goodQuery: slo.goodQuery, objective: slo.objective, startMs, endMs, stepMs, windowsMs };
    // Refused here, before a worker is taken.
    seriesPlan(args);
    const answer = await queries.run<SloJobs, 'sloSeries'>('query', 'sloSeries', args, TenantScope.of([slo.tenant]), (abort) => {
      reply.raw.once('close', () => {
        if (!reply.raw.writableFinished) abort();
      });
    });
    req.auditResults = answer.results;
    const series = JSON.parse(typeof answer.body === 'string' ? answer.body : Buffer.from(answer.body).toString('utf8')) as SloSeries;
    return {
      tenant: slo.tenant,
      name: slo.name,
      objective: slo.objective,
      alerts: slo.alerts.map((a) => ({ long: formatWindow(a.longMs), short: formatWindow(a.shortMs), longMs: a.longMs, shortMs: a.shortMs, burnRate: a.burnRate, severity: a.severity })),
      ...series,
    };
  });
}
