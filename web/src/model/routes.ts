/**
 * Every view's state lives in its URL, so any screen can be shared as a
 * link. These functions turn a path and query string into a typed route and
 * back; defaults are left out so links stay short.
 *
 *   /search?q=<TraceQL>&range=1h&limit=20&order=slowest&refresh=30s
 *   /search?q=...&start=<unix s>&end=<unix s>
 *   /trace/<traceId>?span=<spanId>&find=<text>&collapsed=<spanId>,...&zoom=0.1-0.4&times=raw&cp=off&range=6h
 *   /compare?q=<TraceQL>&baseline=<TraceQL>&range=1h
 *   /compare?q=...&start=<unix s>&end=<unix s>&baselineStart=<unix s>&baselineEnd=<unix s>&event=<words>
 *   /services?range=6h
 *   /services/<service>?operation=<name>&range=6h
 *   /audit?range=7d&who=<identity>&route=<METHOD /path>&limit=500
 *   /logs?q=<log filter>&level=warn&text=<words>&service=<name>&range=1h&limit=100
 *   /slos?range=1h
 *   /slos/<tenant>/<name>?range=6h
 *   /delivery?range=30d&by=team&env=production&pipeline=<name>
 */

import { parseLogsState, writeLogsState, type LogsState } from './logs.js';
import { parseDeliveryState, writeDeliveryState, type DeliveryState } from './delivery-state.js';
import { readRange as parseRange, readRefresh, writeRange, DEFAULT_PRESET, AUDIT_RANGE_PRESETS, type AutoRefresh, type RangePreset, type TimeRange } from './time-range.js';

// The time range model is time-range.ts; these names stay importable from here.
export { resolveRange, RANGE_PRESETS, AUDIT_RANGE_PRESETS, type RangePreset, type TimeRange } from './time-range.js';

export const LIMITS = [20, 50, 100, 500] as const;

export interface SearchState {
  q: string;
  range: TimeRange;
  limit: number;
  /** Which traces are listed when more match than the limit: the most recent, or the slowest of the whole range. */
  order: 'recent' | 'slowest';
  /** Auto-refresh of a relative range. */
  refresh: AutoRefresh;
}

export interface TraceState {
  traceId: string;
  span?: string;
  find: string;
  collapsed: string[];
  /** Zoom: the part of the trace shown, as fractions [from, to] of its duration. */
  zoom?: [number, number];
  /** Bars as recorded, or corrected for clock skew (the default, matching the critical path). */
  times: 'corrected' | 'raw';
  criticalPath: boolean;
  /**
   * The range of the view the trace was opened from. A trace needs none
   * (it is read by id); it is kept so that links out of it (to its
   * services, back to search) show the range the user was looking at.
   */
  range?: TimeRange;
}

/** /services: the service map over a time range, optionally each service split by a resource attribute (`groupBy=nomad.node.name`). */
export interface ServicesState {
  range: TimeRange;
  groupBy?: string;
}

/** /services/<name>: one service's RED over time and its operations; `operation` narrows the charts. */
export interface ServiceState {
  service: string;
  operation?: string;
  range: TimeRange;
}

/**
 * /audit (admins): who read what. `who` and `route` are exact matches on a
 * record's identity (`token:grafana`) and action (`GET /api/search`), as
 * the API filters them; empty is any.
 */
export interface AuditState {
  range: TimeRange;
  who: string;
  route: string;
  limit: number;
}

/** /compare: a selection of traces against a baseline (every other trace when empty). */
export interface CompareState {
  q: string;
  baseline: string;
  range: TimeRange;
  /**
   * The baseline's own window (Unix seconds): the hour before a deploy,
   * against the selection's hour after it. With it, an empty baseline is
   * the selection's query in this window.
   */
  baselineRange?: { start: number; end: number };
  /** What happened between the windows, in words ("deploy checkout 2.0.0"), for the page to say. */
  event?: string;
}

/** /slos: every SLO of the tenant, its budget and burn rates now; the range goes with its links. */
export interface SlosState {
  range: TimeRange;
}

/** /slos/<tenant>/<name>: one SLO's budget, burn rates over the range, alert history and notifications. */
export interface SloState {
  tenant: string;
  name: string;
  range: TimeRange;
}

export type Route =
  | { page: 'search'; state: SearchState }
  | { page: 'compare'; state: CompareState }
  | { page: 'trace'; state: TraceState }
  | { page: 'services'; state: ServicesState }
  | { page: 'service'; state: ServiceState }
  | { page: 'audit'; state: AuditState }
  | { page: 'logs'; state: LogsState }
  | { page: 'slos'; state: SlosState }
  | { page: 'slo'; state: SloState }
  | { page: 'delivery'; state: DeliveryState }
  | { page: 'not-found'; path: string };

export const DEFAULT_SEARCH: SearchState = { q: '', range: { preset: DEFAULT_PRESET }, limit: 20, order: 'recent', refresh: 'off' };
/** The API's own defaults: the last 24 hours, the newest 100 records (it answers at most 10,000). */
export const AUDIT_LIMITS = [100, 500, 2000, 10_000] as const;
const DEFAULT_AUDIT_PRESET: RangePreset = '24h';
export const DEFAULT_AUDIT: AuditState = { range: { preset: DEFAULT_AUDIT_PRESET }, who: '', route: '', limit: 100 };

/** Trace ids are hex; Tempo drops leading zeros, and people paste upper case. */
export function normalizeTraceId(raw: string): string | undefined {
  const id = raw.trim().toLowerCase();
  if (!/^[0-9a-f]{1,32}$/.test(id)) return undefined;
  return id.padStart(32, '0');
}

export function parseRoute(pathname: string, search: string): Route {
  const params = new URLSearchParams(search);
  const path = pathname.replace(/\/+$/, '') || '/';
  if (path === '/' || path === '/search') return { page: 'search', state: parseSearch(params) };
  const m = /^\/trace\/([^/]+)$/.exec(path);
  if (m) return { page: 'trace', state: parseTrace(decodeSegment(m[1]), params) };
  if (path === '/compare') return { page: 'compare', state: parseCompare(params) };
  if (path === '/services') {
    const state: ServicesState = { range: parseRange(params) };
    const groupBy = (params.get('groupBy') ?? '').trim();
    if (groupBy) state.groupBy = groupBy;
    return { page: 'services', state };
  }
  const svc = /^\/services\/([^/]+)$/.exec(path);
  if (svc) {
    const state: ServiceState = { service: decodeSegment(svc[1]), range: parseRange(params) };
    const operation = params.get('operation');
    if (operation) state.operation = operation;
    return { page: 'service', state };
  }
  if (path === '/audit') return { page: 'audit', state: parseAudit(params) };
  if (path === '/logs') return { page: 'logs', state: parseLogsState(params, parseRange(params)) };
  if (path === '/delivery') return { page: 'delivery', state: parseDeliveryState(params) };
  if (path === '/slos') return { page: 'slos', state: { range: parseRange(params) } };
  const slo = /^\/slos\/([^/]+)\/([^/]+)$/.exec(path);
  if (slo) return { page: 'slo', state: { tenant: decodeSegment(slo[1]), name: decodeSegment(slo[2]), range: parseRange(params) } };
  return { page: 'not-found', path: pathname };
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function parseSearch(p: URLSearchParams): SearchState {
  const state: SearchState = { ...DEFAULT_SEARCH, q: p.get('q') ?? '', range: parseRange(p) };
  const limit = Number(p.get('limit'));
  if (Number.isInteger(limit) && limit > 0 && limit <= 1000) state.limit = limit;
  if (p.get('order') === 'slowest') state.order = 'slowest';
  state.refresh = readRefresh(p);
  return state;
}

/** Longer is no label but a paste: the page says what happened between the windows in a few words. */
const MAX_EVENT_CHARS = 200;

function parseCompare(p: URLSearchParams): CompareState {
  const state: CompareState = { q: p.get('q') ?? '', baseline: p.get('baseline') ?? '', range: parseRange(p) };
  const start = Number(p.get('baselineStart'));
  const end = Number(p.get('baselineEnd'));
  if (p.has('baselineStart') && p.has('baselineEnd') && Number.isInteger(start) && Number.isInteger(end) && start >= 0 && end > start) state.baselineRange = { start, end };
  const event = (p.get('event') ?? '').trim();
  if (event && state.baselineRange) state.event = event.slice(0, MAX_EVENT_CHARS);
  return state;
}

function parseAudit(p: URLSearchParams): AuditState {
  const state: AuditState = { ...DEFAULT_AUDIT, range: parseRange(p, AUDIT_RANGE_PRESETS, DEFAULT_AUDIT_PRESET), who: (p.get('who') ?? '').trim(), route: (p.get('route') ?? '').trim() };
  const limit = Number(p.get('limit'));
  if (Number.isInteger(limit) && limit > 0 && limit <= 10_000) state.limit = limit;
  return state;
}

function parseTrace(id: string, p: URLSearchParams): TraceState {
  const state: TraceState = { traceId: id, find: p.get('find') ?? '', collapsed: [], times: p.get('times') === 'raw' ? 'raw' : 'corrected', criticalPath: p.get('cp') !== 'off' };
  const span = p.get('span');
  if (span && /^[0-9a-fA-F]{1,16}$/.test(span)) state.span = span.toLowerCase().padStart(16, '0');
  const collapsed = p.get('collapsed');
  if (collapsed) state.collapsed = collapsed.split(',').filter((s) => /^[0-9a-fA-F]{16}$/.test(s)).map((s) => s.toLowerCase());
  if (p.has('range') || (p.has('start') && p.has('end'))) state.range = parseRange(p);
  const zoom = /^(\d*\.?\d+)-(\d*\.?\d+)$/.exec(p.get('zoom') ?? '');
  if (zoom) {
    const a = Number(zoom[1]);
    const b = Number(zoom[2]);
    if (a >= 0 && b <= 1 && b - a > 1e-6) state.zoom = [a, b];
  }
  return state;
}

/** The URL (path and query) of a route. */
export function formatRoute(route: Route): string {
  if (route.page === 'not-found') return route.path;
  const p = new URLSearchParams();
  if (route.page === 'search') {
    const s = route.state;
    if (s.q) p.set('q', s.q);
    writeRange(p, s.range);
    if (s.limit !== DEFAULT_SEARCH.limit) p.set('limit', String(s.limit));
    if (s.order !== DEFAULT_SEARCH.order) p.set('order', s.order);
    if (s.refresh !== DEFAULT_SEARCH.refresh) p.set('refresh', s.refresh);
    const qs = p.toString();
    return `/search${qs ? `?${qs}` : ''}`;
  }
  if (route.page === 'compare') {
    if (route.state.q) p.set('q', route.state.q);
    if (route.state.baseline) p.set('baseline', route.state.baseline);
    writeRange(p, route.state.range);
    if (route.state.baselineRange) {
      p.set('baselineStart', String(route.state.baselineRange.start));
      p.set('baselineEnd', String(route.state.baselineRange.end));
      if (route.state.event) p.set('event', route.state.event);
    }
    const qs = p.toString();
    return `/compare${qs ? `?${qs}` : ''}`;
  }
  if (route.page === 'services') {
    if (route.state.groupBy) p.set('groupBy', route.state.groupBy);
    writeRange(p, route.state.range);
    const qs = p.toString();
    return `/services${qs ? `?${qs}` : ''}`;
  }
  if (route.page === 'service') {
    if (route.state.operation) p.set('operation', route.state.operation);
    writeRange(p, route.state.range);
    const qs = p.toString();
    return `/services/${encodeURIComponent(route.state.service)}${qs ? `?${qs}` : ''}`;
  }
  if (route.page === 'logs') {
    writeLogsState(p, route.state);
    writeRange(p, route.state.range);
    const qs = p.toString();
    return `/logs${qs ? `?${qs}` : ''}`;
  }
  if (route.page === 'delivery') {
    writeDeliveryState(p, route.state);
    const qs = p.toString();
    return `/delivery${qs ? `?${qs}` : ''}`;
  }
  if (route.page === 'slos' || route.page === 'slo') {
    writeRange(p, route.state.range);
    const qs = p.toString();
    const path = route.page === 'slos' ? '/slos' : `/slos/${encodeURIComponent(route.state.tenant)}/${encodeURIComponent(route.state.name)}`;
    return `${path}${qs ? `?${qs}` : ''}`;
  }
  if (route.page === 'audit') {
    const s = route.state;
    writeRange(p, s.range, DEFAULT_AUDIT_PRESET);
    if (s.who) p.set('who', s.who);
    if (s.route) p.set('route', s.route);
    if (s.limit !== DEFAULT_AUDIT.limit) p.set('limit', String(s.limit));
    const qs = p.toString();
    return `/audit${qs ? `?${qs}` : ''}`;
  }
  const s = route.state;
  if (s.span) p.set('span', s.span);
  if (s.find) p.set('find', s.find);
  if (s.collapsed.length > 0) p.set('collapsed', s.collapsed.join(','));
  if (s.zoom) p.set('zoom', `${round(s.zoom[0])}-${round(s.zoom[1])}`);
  if (s.times === 'raw') p.set('times', 'raw');
  if (!s.criticalPath) p.set('cp', 'off');
  if (s.range) writeRange(p, s.range);
  const qs = p.toString().replace(/%2C/g, ',');
  return `/trace/${encodeURIComponent(s.traceId)}${qs ? `?${qs}` : ''}`;
}

function round(x: number): string {
  return String(Number(x.toFixed(6)));
}

export function traceRoute(traceId: string, extra: Partial<TraceState> = {}): Route {
  return { page: 'trace', state: { traceId, find: '', collapsed: [], times: 'corrected', criticalPath: true, ...extra } };
}
