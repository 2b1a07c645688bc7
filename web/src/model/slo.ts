import { formatMs } from './format.js';
import type { MetricsData } from './metrics-chart.js';
import { resolveRange, type TimeRange } from './time-range.js';

/**
 * The SLO pages' view models: the API's SLO answers (docs/api.md, "SLOs")
 * in, rows, alert history and chart data out. Figures are kept as numbers
 * next to their text so the page can carry both (the text for people,
 * the number in a data attribute for tests that check it).
 */

export interface BurnRateJson {
  window: string;
  valid: number;
  good: number;
  burnRate: number;
  source: string;
}

export interface AlertPairJson {
  long: string;
  short: string;
  burnRate: number;
  severity: string;
  firing: boolean;
}

export interface SloSummaryJson {
  tenant: string;
  name: string;
  description?: string;
  valid: string;
  good: string;
  validQuery: string;
  goodQuery: string;
  badQuery: string;
  objective: number;
  window: string;
  atMs: number;
  events: { valid: number; good: number; bad: number };
  budgetRemaining: number;
  burnRates: BurnRateJson[];
  alerts: AlertPairJson[];
  state: 'firing' | 'ok';
  receivers: string[];
  evaluatedHere: boolean;
}

export interface SlosJson {
  slos: SloSummaryJson[];
}

export interface AlertNoticeJson {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
}

export interface SloEventJson {
  eventId: string;
  status: 'firing' | 'resolved';
  alertStartMs: number;
  timeMs: number;
  notice: AlertNoticeJson;
}

export interface SloDeliveryJson {
  eventId: string;
  receiver: string;
  state: 'pending' | 'delivered' | 'failed';
  attempts: number;
  nextMs: number;
  timeMs: number;
}

export interface SloAttemptJson {
  eventId: string;
  receiver: string;
  attempt: number;
  timeMs: number;
  statusCode: number;
  error: string;
}

export interface SloDetailJson extends SloSummaryJson {
  history: SloEventJson[];
  deliveries: SloDeliveryJson[];
  attempts: SloAttemptJson[];
}

export interface SloSeriesJson {
  tenant: string;
  name: string;
  objective: number;
  alerts: { long: string; short: string; longMs: number; shortMs: number; burnRate: number; severity: string }[];
  startMs: number;
  endMs: number;
  stepMs: number;
  times: number[];
  windows: { window: string; windowMs: number; valid: number[]; good: number[]; burnRate: number[] }[];
  source: string;
}

/** "62.5%": the share of the error budget left; below 0 when overspent. */
export function formatBudget(share: number): string {
  if (!Number.isFinite(share)) return '—';
  return `${(Math.round(share * 1000) / 10).toFixed(1)}%`;
}

/** "14.4×": how many times the sustainable rate the budget burns. */
export function formatBurn(rate: number): string {
  if (!Number.isFinite(rate)) return '—';
  return `${Math.round(rate * 100) / 100}×`;
}

export type BudgetLevel = 'healthy' | 'low' | 'spent';

/** Spent at 0 or below; low under a quarter left. */
export function budgetLevel(share: number): BudgetLevel {
  return share <= 0 ? 'spent' : share < 0.25 ? 'low' : 'healthy';
}

export interface SloRow {
  key: string;
  tenant: string;
  name: string;
  description: string;
  objective: string;
  window: string;
  budget: number;
  budgetText: string;
  level: BudgetLevel;
  /** Each window's burn rate now, shortest window first. */
  burns: { window: string; rate: number; text: string }[];
  state: 'firing' | 'ok';
  /** The pairs burning past their rate now ("1h/5m page"). */
  burning: string[];
  events: { valid: number; bad: number };
}

/** Windows as the config writes them, in order: 5m before 1h before 28d. */
export function windowMs(text: string): number {
  const units: Record<string, number> = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 };
  let total = 0;
  for (const m of text.matchAll(/(\d+)(ms|s|m|h|d|w)/g)) total += Number(m[1]) * units[m[2]];
  return total;
}

/** The SLO list: firing first, then by least budget left, then by name. */
export function sloRows(json: SlosJson): SloRow[] {
  return json.slos
    .map((s) => ({
      key: `${s.tenant}/${s.name}`,
      tenant: s.tenant,
      name: s.name,
      description: s.description ?? '',
      objective: `${s.objective}%`,
      window: s.window,
      budget: s.budgetRemaining,
      budgetText: formatBudget(s.budgetRemaining),
      level: budgetLevel(s.budgetRemaining),
      burns: [...s.burnRates].sort((a, b) => windowMs(a.window) - windowMs(b.window)).map((b) => ({ window: b.window, rate: b.burnRate, text: formatBurn(b.burnRate) })),
      state: s.state,
      burning: s.alerts.filter((a) => a.firing).map((a) => `${a.long}/${a.short} ${a.severity}`),
      events: { valid: s.events.valid, bad: s.events.bad },
    }))
    .sort((a, b) => (a.state === b.state ? 0 : a.state === 'firing' ? -1 : 1) || a.budget - b.budget || a.key.localeCompare(b.key));
}

/**
 * A diagnosis annotation's findings: `a = "x" in 100% ...; b = "y; z" in
 * 40% ...` split at the separators outside quoted values (a value may
 * itself hold "; ").
 */
export function splitFindings(text: string): string[] {
  const out: string[] = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted && c === '\\') i++;
    else if (c === '"') quoted = !quoted;
    else if (!quoted && c === ';' && text[i + 1] === ' ') {
      out.push(text.slice(start, i).trim());
      start = i + 2;
      i++;
    }
  }
  const last = text.slice(start).trim();
  if (last) out.push(last);
  return out;
}

/** A link's queries and absolute range, read from a notification's URL (whatever host it names). */
export interface QueryLink {
  q: string;
  baseline: string;
  range: { start: number; end: number };
}

export function queryLinkOf(url: string | undefined): QueryLink | undefined {
  if (!url) return undefined;
  let u: URL;
  try {
    u = new URL(url, 'http://sightline.invalid');
  } catch {
    return undefined;
  }
  const start = Number(u.searchParams.get('start'));
  const end = Number(u.searchParams.get('end'));
  const q = u.searchParams.get('q');
  if (!q || !Number.isFinite(start) || !Number.isFinite(end) || end <= start) return undefined;
  return { q, baseline: u.searchParams.get('baseline') ?? '', range: { start, end } };
}

export interface AlertDiagnosisView {
  /** Attribute values bad events share, best first: `span.db.shard = "7" in 100% of bad traces vs 0% of good`. */
  attributes: string[];
  /** The operation with the most extra time on the critical path. */
  operation?: string;
  traces?: string;
  /** Why there is none, when the diagnosis failed. */
  unavailable?: string;
  /** Compare, bad events against good, over the firing pair's long window; and the bad events' search. */
  compare?: QueryLink;
  examples?: QueryLink;
}

export interface ReceiverNotifications {
  receiver: string;
  /** One per event sent (firing, then resolved), with every attempt, oldest first. */
  deliveries: { status: 'firing' | 'resolved'; state: SloDeliveryJson['state'] | 'not recorded'; attempts: SloAttemptJson[] }[];
}

export interface AlertView {
  /** alertStartMs: the alert's identity among the SLO's events. */
  key: string;
  startMs: number;
  endMs?: number;
  /** Fired to resolved, or to now while firing. */
  durationMs: number;
  durationText: string;
  status: 'firing' | 'resolved';
  severity: string;
  windows: string;
  summary: string;
  budgetAtFire?: number;
  burnLong?: number;
  burnShort?: number;
  diagnosis: AlertDiagnosisView;
  notifications: ReceiverNotifications[];
}

/**
 * The alert history: one entry per alert (its firing event and, once it
 * has resolved, its resolved one), newest first, with its diagnosis and
 * every notification attempt per receiver.
 */
export function alertHistory(detail: Pick<SloDetailJson, 'history' | 'deliveries' | 'attempts'>, nowMs: number): AlertView[] {
  const byStart = new Map<number, { firing?: SloEventJson; resolved?: SloEventJson }>();
  for (const e of detail.history) {
    const entry = byStart.get(e.alertStartMs) ?? {};
    entry[e.status] = e;
    byStart.set(e.alertStartMs, entry);
  }
  const out: AlertView[] = [];
  for (const [startMs, { firing, resolved }] of byStart) {
    const notice = (firing ?? resolved)!.notice;
    const a = notice.annotations;
    const endMs = resolved?.timeMs;
    const durationMs = (endMs ?? nowMs) - startMs;
    const num = (x: string | undefined) => (x === undefined || x === '' || !Number.isFinite(Number(x)) ? undefined : Number(x));
    const unavailable = /^diagnosis unavailable \((.*)\)$/.exec(a.diagnosis_attributes ?? '');
    const events = [firing, resolved].filter((e): e is SloEventJson => e !== undefined);
    const receivers = new Set<string>();
    for (const d of detail.deliveries) if (events.some((e) => e.eventId === d.eventId)) receivers.add(d.receiver);
    for (const t of detail.attempts) if (events.some((e) => e.eventId === t.eventId)) receivers.add(t.receiver);
    out.push({
      key: String(startMs),
      startMs,
      ...(endMs !== undefined ? { endMs } : {}),
      durationMs,
      durationText: formatMs(Math.max(0, durationMs)),
      status: resolved ? 'resolved' : 'firing',
      severity: notice.labels.severity ?? '',
      windows: notice.labels.long_window && notice.labels.short_window ? `${notice.labels.long_window}/${notice.labels.short_window}` : '',
      summary: a.summary ?? '',
      budgetAtFire: num(a.budget_remaining),
      burnLong: num(a.burn_rate_long),
      burnShort: num(a.burn_rate_short),
      diagnosis: {
        attributes: unavailable || !a.diagnosis_attributes ? [] : splitFindings(a.diagnosis_attributes),
        ...(a.diagnosis_operation ? { operation: a.diagnosis_operation } : {}),
        ...(a.diagnosis_traces ? { traces: a.diagnosis_traces } : {}),
        ...(unavailable ? { unavailable: unavailable[1] } : {}),
        ...(queryLinkOf(a.compare_url) ? { compare: queryLinkOf(a.compare_url) } : {}),
        ...(queryLinkOf(a.examples_url) ? { examples: queryLinkOf(a.examples_url) } : {}),
      },
      notifications: [...receivers].sort().map((receiver) => ({
        receiver,
        deliveries: events.map((e) => ({
          status: e.status,
          state: detail.deliveries.find((d) => d.eventId === e.eventId && d.receiver === receiver)?.state ?? 'not recorded',
          attempts: detail.attempts.filter((t) => t.eventId === e.eventId && t.receiver === receiver).sort((x, y) => x.attempt - y.attempt || x.timeMs - y.timeMs),
        })),
      })),
    });
  }
  return out.sort((x, y) => y.startMs - x.startMs);
}

/** An attempt as a person reads it: "200", or "no answer: ECONNREFUSED". */
export function attemptText(a: Pick<SloAttemptJson, 'statusCode' | 'error'>): string {
  if (a.statusCode === 0) return `no answer: ${a.error || 'failed'}`;
  return a.error && !/^HTTP \d+$/.test(a.error) ? `${a.statusCode} ${a.error}` : String(a.statusCode);
}

export interface BurnChartView {
  key: string;
  title: string;
  severity: string;
  threshold: number;
  /** Long window, short window, and the threshold as a flat line (so the y axis always reaches it). */
  data: MetricsData;
  /** Both windows at or past the threshold at the last point. */
  firingAtEnd: boolean;
  last: { long: number; short: number };
}

/** One chart per alert pair: its long and short windows' burn rates over the range, and its threshold. */
export function burnCharts(series: SloSeriesJson): BurnChartView[] {
  const byWindow = new Map(series.windows.map((w) => [w.windowMs, w]));
  const n = series.times.length;
  return series.alerts.map((a, i) => {
    const long = byWindow.get(a.longMs)?.burnRate ?? new Array<number>(n).fill(0);
    const short = byWindow.get(a.shortMs)?.burnRate ?? new Array<number>(n).fill(0);
    const lastLong = long[n - 1] ?? 0;
    const lastShort = short[n - 1] ?? 0;
    return {
      key: `${i}:${a.long}/${a.short}`,
      title: `${a.long} and ${a.short} windows, ${a.severity} at ${formatBurn(a.burnRate)}`,
      severity: a.severity,
      threshold: a.burnRate,
      data: {
        times: series.times,
        stepMs: series.stepMs,
        series: [
          { name: `${a.long} window`, values: long },
          { name: `${a.short} window`, values: short },
          { name: `threshold ${formatBurn(a.burnRate)}`, values: new Array<number>(n).fill(a.burnRate) },
        ],
      },
      firingAtEnd: lastLong >= a.burnRate && lastShort >= a.burnRate,
      last: { long: lastLong, short: lastShort },
    };
  });
}

export function sloApiPath(tenant: string, name: string): string {
  return `/api/sightline/slos/${encodeURIComponent(tenant)}/${encodeURIComponent(name)}`;
}

/** The series URL for a range resolved at `nowMs` (the server picks the step). */
export function sloSeriesUrl(tenant: string, name: string, range: TimeRange, nowMs: number): string {
  const r = resolveRange(range, nowMs);
  return `${sloApiPath(tenant, name)}/series?start=${r.start}&end=${r.end}`;
}
