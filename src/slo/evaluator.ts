import { createHash, randomUUID } from 'node:crypto';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { TenantScope, type SloEventRow, type SloLeaseClaim, type SloStatePort } from '../store/index.js';
import { budgetRemaining, burnRate, evaluateWindows, formatWindow, windowsOf, type WindowVerdict } from './budget.js';
import type { SloConfig, SloDefinition } from './config.js';
import type { CountsArgs, DiagnoseArgs, SloDiagnosis, WindowCounts } from './compute.js';
import { backoffMs, bodyFor, post, ZERO_TIME, type AlertNotice } from './notify.js';

/**
 * What evaluation reads, run where requests' reads run (the query worker
 * pool, under its deadline and limits); the API server provides it.
 */
export interface SloQueries {
  counts(tenant: string, a: CountsArgs): Promise<WindowCounts[]>;
  diagnose(tenant: string, a: DiagnoseArgs): Promise<SloDiagnosis>;
}

export interface SloServiceOptions {
  state: SloStatePort;
  log: Logger;
  config: SloConfig;
  /** How often each SLO is evaluated (--slo-interval). */
  intervalMs: number;
  /** Links in notifications when the config has no externalUrl. */
  externalUrl?: string;
}

export const ALERT_NAME = 'SLOErrorBudgetBurn';

/** What a reload changed, as tenant/name keys. */
export interface SloConfigChange {
  added: string[];
  removed: string[];
  changed: string[];
}

/** How long after a claim its claimant waits before reading who won (see holdLease). */
const LEASE_SETTLE_MS = 500;

/**
 * Evaluates SLOs on an interval, keeps their alert state in the store, and
 * sends notifications.
 *
 * Exactly-once notification across crashes: an alert's firing or resolved
 * event is recorded with a pending delivery per receiver (the intent)
 * before anything is sent, and each delivery is marked delivered after a
 * 2xx. Whoever evaluates an SLO sends its pending deliveries, at start
 * too, so a SIGKILL between intent and delivery loses nothing; state read
 * from the store decides whether an alert is already firing, so a restart
 * repeats nothing. Only a crash after a receiver answered and before the
 * answer was recorded sends again, with the same Idempotency-Key.
 *
 * With several processes on one store, one evaluates each SLO: the holder
 * of its lease (holdLease).
 */
export class SloService {
  readonly owner = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private cfg: SloConfig;
  private queries: SloQueries | null = null;
  private timer: NodeJS.Timeout | null = null;
  private deliveryTimer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  /** SLOs (tenant/name) this process holds the lease of, and until when. */
  private readonly held = new Map<string, number>();
  /** SLOs that may have deliveries waiting. */
  private readonly pending = new Set<string>();
  private readonly lastVerdicts = new Map<string, { atMs: number; windows: WindowVerdict[] }>();

  constructor(private readonly opts: SloServiceOptions) {
    this.cfg = opts.config;
  }

  config(): SloConfig {
    return this.cfg;
  }

  /**
   * A new definition file (SIGHUP). An added SLO is evaluated from the next
   * round. A changed one (same tenant and name) keeps its alert state and
   * is evaluated by its new definition. A removed one is no longer
   * evaluated and gets no further notification, not even one still
   * pending: this process lets its lease lapse, and its events and
   * deliveries stay in the store, so the SLO, added back, carries on from
   * the same state (a firing alert then resolves as usual).
   */
  replaceConfig(cfg: SloConfig): SloConfigChange {
    const before = new Map(this.cfg.slos.map((s) => [keyOf(s), s]));
    const after = new Map(cfg.slos.map((s) => [keyOf(s), s]));
    const change: SloConfigChange = { added: [], removed: [], changed: [] };
    for (const [key, slo] of after) {
      const was = before.get(key);
      if (!was) change.added.push(key);
      else if (JSON.stringify(was) !== JSON.stringify(slo)) change.changed.push(key);
    }
    for (const key of before.keys()) {
      if (after.has(key)) continue;
      change.removed.push(key);
      this.held.delete(key);
      this.pending.delete(key);
      this.lastVerdicts.delete(key);
    }
    this.cfg = cfg;
    return change;
  }

  /** Whether `slo` is still the definition in use: a round that began before a reload records nothing for a removed or changed SLO. */
  private current(slo: SloDefinition): boolean {
    return this.cfg.slos.includes(slo);
  }

  useQueries(q: SloQueries): void {
    this.queries = q;
  }

  setExternalUrl(url: string): void {
    this.opts.externalUrl = url;
  }

  get intervalMs(): number {
    return this.opts.intervalMs;
  }

  /** Lease duration: three intervals, at least 5 s, so one slow tick does not hand an SLO over. */
  get leaseMs(): number {
    return Math.max(3 * this.opts.intervalMs, 5_000);
  }

  /** SLOs this process evaluates now. */
  holding(): string[] {
    const now = Date.now();
    return [...this.held].filter(([, until]) => until > now).map(([k]) => k);
  }

  lastEvaluation(slo: SloDefinition): { atMs: number; windows: WindowVerdict[] } | undefined {
    return this.lastVerdicts.get(keyOf(slo));
  }

  start(): void {
    if (this.timer || this.stopped) return;
    const loop = () => {
      this.running = this.tick()
        .catch((e) => this.opts.log.error({ err: e }, 'SLO evaluation failed'))
        .finally(() => {
          this.running = null;
          if (!this.stopped) this.timer = setTimeout(loop, this.opts.intervalMs);
        });
    };
    this.timer = setTimeout(loop, 0);
    const deliveries = () => {
      void this.deliverAll()
        .catch((e) => this.opts.log.error({ err: e }, 'SLO notification delivery failed'))
        .finally(() => {
          if (!this.stopped) this.deliveryTimer = setTimeout(deliveries, Math.min(1000, this.cfg.delivery.initialBackoffMs));
        });
    };
    this.deliveryTimer = setTimeout(deliveries, 0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.deliveryTimer) clearTimeout(this.deliveryTimer);
    await this.running;
  }

  /** One round: every SLO whose lease this process holds is evaluated. */
  async tick(): Promise<void> {
    for (const slo of this.cfg.slos) {
      if (this.stopped) return;
      // Reloaded meanwhile: a removed SLO must not take its lease again.
      if (!this.current(slo)) continue;
      try {
        if (!(await this.holdLease(slo))) continue;
        await this.evaluate(slo);
      } catch (e) {
        // The tenant and name only: the queries' values are the operator's, but errors may quote span values.
        this.opts.log.warn({ tenant: slo.tenant, slo: slo.name, err: e }, 'SLO not evaluated this round');
      }
    }
  }

  /**
   * The lease of an SLO's evaluation, as rows (term, owner, expiry): the
   * holder of the highest term renews it each round; when it has expired,
   * anyone may claim the next term. ClickHouse has no compare-and-set, so
   * a claimant waits LEASE_SETTLE_MS and reads the term's claims back: the
   * smallest owner id wins, and every claimant reads the same claims,
   * because a claim counts only if it was written within LEASE_SETTLE_MS
   * of reading the expired lease (a claimant slower than that stands
   * down). Needs clocks within a second or so of each other.
   */
  async holdLease(slo: SloDefinition): Promise<boolean> {
    const key = keyOf(slo);
    const scope = TenantScope.of([slo.tenant]);
    const state = this.opts.state;
    const readAt = performance.now();
    const claims = await state.leaseClaims(scope, slo.name);
    const now = Date.now();
    const top = claims.length > 0 ? Math.max(...claims.map((c) => c.term)) : 0;
    const holder = winnerOf(claims, top);
    if (holder && holder.owner === this.owner && holder.expiresMs > now) {
      const expiresMs = now + this.leaseMs;
      await state.claimLease(scope, slo.name, { term: top, owner: this.owner, expiresMs, writtenMs: now });
      this.held.set(key, expiresMs);
      return true;
    }
    this.held.delete(key);
    if (holder && holder.expiresMs > now) return false;
    const term = top + 1;
    const claim: SloLeaseClaim = { term, owner: this.owner, expiresMs: now + this.leaseMs, writtenMs: now };
    await state.claimLease(scope, slo.name, claim);
    if (performance.now() - readAt >= LEASE_SETTLE_MS) return false;
    await sleep(LEASE_SETTLE_MS);
    const won = winnerOf(await state.leaseClaims(scope, slo.name), term);
    if (won?.owner !== this.owner) return false;
    this.held.set(key, claim.expiresMs);
    // A new holder sends what the last one left undelivered.
    this.pending.add(key);
    this.opts.log.info({ tenant: slo.tenant, slo: slo.name, term }, 'this process now evaluates the SLO');
    return true;
  }

  private stillHeld(slo: SloDefinition): boolean {
    return (this.held.get(keyOf(slo)) ?? 0) > Date.now() + 1000;
  }

  /** Burn rates over every window, the alert's state, and a new event where it changes. */
  async evaluate(slo: SloDefinition): Promise<void> {
    const queries = this.queries;
    if (!queries) return;
    const scope = TenantScope.of([slo.tenant]);
    const now = Date.now();
    const counts = await queries.counts(slo.tenant, { validQuery: slo.validQuery, goodQuery: slo.goodQuery, windowsMs: windowsOf(slo), endMs: now });
    const byWindow = new Map(counts.map((c) => [c.windowMs, c]));
    const burnOver = (ms: number) => burnRate(byWindow.get(ms) ?? { valid: 0, good: 0 }, slo.objective);
    const verdicts = evaluateWindows(slo.alerts, burnOver);
    this.lastVerdicts.set(keyOf(slo), { atMs: now, windows: verdicts });
    const firing = verdicts.filter((v) => v.firing).sort((a, b) => a.longMs - b.longMs);
    const [last] = await this.opts.state.events(scope, { slo: slo.name, limit: 1 });
    const isFiring = last?.status === 'firing';
    if (firing.length > 0 && !isFiring) {
      const pair = firing[0];
      let diagnosis: SloDiagnosis | null = null;
      let diagnosisError: string | undefined;
      try {
        diagnosis = await queries.diagnose(slo.tenant, { badQuery: slo.badQuery, goodQuery: slo.goodQuery, startMs: now - pair.longMs, endMs: now, maxTraces: 1000 });
      } catch (e) {
        diagnosisError = (e as { code?: string }).code ?? 'failed';
      }
      const budget = budgetRemaining(byWindow.get(slo.windowMs) ?? { valid: 0, good: 0 }, slo.objective);
      const notice = this.notice(slo, 'firing', now, undefined, pair, budget, diagnosis, diagnosisError, { startMs: now - pair.longMs, endMs: now });
      if (!this.stillHeld(slo) || !this.current(slo)) return;
      await this.record(slo, notice, now, now);
      this.opts.log.info({ tenant: slo.tenant, slo: slo.name, severity: pair.severity, longWindow: formatWindow(pair.longMs), burnRate: round(pair.longBurn) }, 'SLO alert firing');
    } else if (firing.length === 0 && isFiring) {
      const was = JSON.parse(last.body) as AlertNotice;
      const notice: AlertNotice = { ...was, status: 'resolved', endsAt: new Date(now).toISOString() };
      if (!this.stillHeld(slo) || !this.current(slo)) return;
      await this.record(slo, notice, last.alertStartMs, now);
      this.opts.log.info({ tenant: slo.tenant, slo: slo.name }, 'SLO alert resolved');
    }
  }

  private async record(slo: SloDefinition, notice: AlertNotice, alertStartMs: number, now: number): Promise<void> {
    const event: Omit<SloEventRow, 'tenant'> = { slo: slo.name, eventId: `${notice.fingerprint}-${alertStartMs}-${notice.status}`, status: notice.status, alertStartMs, timeMs: now, body: JSON.stringify(notice) };
    await this.opts.state.recordEvent(TenantScope.of([slo.tenant]), event, slo.receivers);
    this.pending.add(keyOf(slo));
    void this.deliverAll().catch((e) => this.opts.log.error({ err: e }, 'SLO notification delivery failed'));
  }

  private externalUrl(): string {
    return this.cfg.externalUrl ?? this.opts.externalUrl ?? 'http://127.0.0.1:3200';
  }

  notice(
    slo: SloDefinition,
    status: 'firing',
    startMs: number,
    endMs: number | undefined,
    pair: WindowVerdict,
    budget: number,
    diagnosis: SloDiagnosis | null,
    diagnosisError: string | undefined,
    range: { startMs: number; endMs: number },
  ): AlertNotice {
    const base = this.externalUrl();
    const labels = { alertname: ALERT_NAME, tenant: slo.tenant, slo: slo.name, severity: pair.severity, long_window: formatWindow(pair.longMs), short_window: formatWindow(pair.shortMs) };
    const seconds = { start: String(Math.floor(range.startMs / 1000)), end: String(Math.ceil(range.endMs / 1000)) };
    const annotations: Record<string, string> = {
      summary: `SLO ${slo.name} (tenant ${slo.tenant}) is spending its error budget ${round(pair.longBurn)}x as fast as ${slo.objective}% over ${formatWindow(slo.windowMs)} allows (${formatWindow(pair.longMs)} window; ${round(pair.shortBurn)}x over ${formatWindow(pair.shortMs)}; threshold ${pair.burnRate}x)`,
      description: `${slo.description ? `${slo.description}. ` : ''}Error budget remaining over ${formatWindow(slo.windowMs)}: ${Math.round(budget * 1000) / 10}%.`,
      budget_remaining: String(Math.round(budget * 10000) / 10000),
      burn_rate_long: String(round(pair.longBurn)),
      burn_rate_short: String(round(pair.shortBurn)),
      compare_url: `${base}/compare?${new URLSearchParams({ q: slo.badQuery, baseline: slo.goodQuery, ...seconds })}`,
      examples_url: `${base}/search?${new URLSearchParams({ q: slo.badQuery, ...seconds })}`,
    };
    if (diagnosis) {
      if (diagnosis.attributes.length > 0)
        annotations.diagnosis_attributes = diagnosis.attributes
          .map((a) => `${a.scope === 'intrinsic' ? '' : `${a.scope}.`}${a.key} = ${JSON.stringify(a.value)} in ${pct(a.badShare)} of bad traces vs ${pct(a.goodShare)} of good`)
          .join('; ');
      if (diagnosis.operation) {
        const op = diagnosis.operation;
        annotations.diagnosis_operation = `${op.service} ${JSON.stringify(op.operation)}: +${ms(op.extraNs)} per trace on the critical path${op.explainedShare !== null ? ` (${pct(op.explainedShare)} of the extra latency)` : ''}`;
      }
      annotations.diagnosis_traces = `${diagnosis.badTraces} bad and ${diagnosis.goodTraces} good traces compared${diagnosis.sampled ? ' (sampled)' : ''}`;
    } else if (diagnosisError) annotations.diagnosis_attributes = `diagnosis unavailable (${diagnosisError})`;
    return {
      status,
      labels,
      annotations,
      startsAt: new Date(startMs).toISOString(),
      endsAt: endMs === undefined ? ZERO_TIME : new Date(endMs).toISOString(),
      // The SLO's page in the web UI: budget, burn-rate charts, this alert among its history.
      generatorURL: sloPageUrl(base, slo),
      fingerprint: fingerprintOf(slo),
    };
  }

  /** Sends what is due, oldest event first per receiver, for every SLO this process holds. */
  async deliverAll(): Promise<void> {
    for (const slo of this.cfg.slos) {
      const key = keyOf(slo);
      if (!this.pending.has(key) || !this.stillHeld(slo)) continue;
      if (!(await this.deliver(slo))) this.pending.delete(key);
    }
  }

  private delivering = new Set<string>();

  /** Returns whether deliveries remain pending. */
  private async deliver(slo: SloDefinition): Promise<boolean> {
    const key = keyOf(slo);
    if (this.delivering.has(key)) return true;
    this.delivering.add(key);
    try {
      const scope = TenantScope.of([slo.tenant]);
      const state = this.opts.state;
      const waiting = await state.deliveries(scope, { slo: slo.name, state: 'pending' });
      if (waiting.length === 0) return false;
      const events = new Map((await state.events(scope, { slo: slo.name, limit: 1000 })).map((e) => [e.eventId, e]));
      const done = new Set<string>();
      for (const d of waiting) {
        // In order per receiver: a resolved notice never overtakes its firing one.
        if (done.has(d.receiver)) continue;
        done.add(d.receiver);
        const now = Date.now();
        if (d.nextMs > now) continue;
        const event = events.get(d.eventId);
        const receiver = this.cfg.receivers.get(d.receiver);
        if (!event) continue;
        if (!receiver) {
          await state.updateDelivery(scope, { ...d, state: 'failed', timeMs: d.timeMs, nextMs: now });
          this.opts.log.warn({ tenant: slo.tenant, slo: slo.name, receiver: d.receiver }, 'receiver no longer configured; notification given up');
          continue;
        }
        const notice = JSON.parse(event.body) as AlertNotice;
        const policy = this.cfg.delivery;
        const result = await post(receiver.url, bodyFor(receiver, notice, this.externalUrl()), `${d.eventId}/${d.receiver}`, policy.timeoutMs);
        const attempt = d.attempts + 1;
        const at = Date.now();
        await state.recordAttempt(scope, { slo: slo.name, eventId: d.eventId, receiver: d.receiver, attempt, timeMs: at, statusCode: result.statusCode, error: result.ok ? '' : result.error });
        if (result.ok) await state.updateDelivery(scope, { ...d, state: 'delivered', attempts: attempt, nextMs: at });
        else {
          const giveUp = at - d.timeMs >= policy.giveUpAfterMs;
          await state.updateDelivery(scope, { ...d, state: giveUp ? 'failed' : 'pending', attempts: attempt, nextMs: at + backoffMs(attempt, policy.initialBackoffMs, policy.maxBackoffMs) });
          this.opts.log.warn({ tenant: slo.tenant, slo: slo.name, receiver: d.receiver, attempt, status: result.statusCode, error: result.error, gaveUp: giveUp }, 'SLO notification not delivered');
        }
      }
      return true;
    } finally {
      this.delivering.delete(key);
    }
  }
}

/** The SLO's page in the web UI (web/src/model/routes.ts, /slos/<tenant>/<name>). */
export function sloPageUrl(base: string, slo: Pick<SloDefinition, 'tenant' | 'name'>): string {
  return `${base}/slos/${encodeURIComponent(slo.tenant)}/${encodeURIComponent(slo.name)}`;
}

export function keyOf(slo: Pick<SloDefinition, 'tenant' | 'name'>): string {
  return `${slo.tenant}/${slo.name}`;
}

/** One alert identity per SLO, as Alertmanager fingerprints a label set: 16 hex digits. */
export function fingerprintOf(slo: Pick<SloDefinition, 'tenant' | 'name'>): string {
  return createHash('sha256').update(JSON.stringify([ALERT_NAME, slo.tenant, slo.name])).digest('hex').slice(0, 16);
}

/** A term's holder: the smallest owner id among its claims, with the latest expiry it renewed to. */
export function winnerOf(claims: readonly SloLeaseClaim[], term: number): { owner: string; expiresMs: number } | null {
  const ofTerm = claims.filter((c) => c.term === term);
  if (ofTerm.length === 0) return null;
  const owner = ofTerm.map((c) => c.owner).sort()[0];
  return { owner, expiresMs: Math.max(...ofTerm.filter((c) => c.owner === owner).map((c) => c.expiresMs)) };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

function pct(x: number): string {
  return `${Math.round(x * 100)}%`;
}

function ms(ns: number): string {
  return ns >= 1e9 ? `${Math.round(ns / 1e7) / 100} s` : `${Math.round(ns / 1e6)} ms`;
}
