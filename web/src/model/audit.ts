/**
 * The audit trail page's model: who may read it, what to ask
 * GET /api/sightline/audit, and its records as table rows.
 *
 * The API filters by identity and by action, both exact, over the whole
 * time range, and answers the newest `limit` records. The page filters with
 * exactly those (no substring match in the browser): a filter applied here
 * would see only the newest `limit` records and could hide older matches
 * without saying so.
 */
import { resolveRange, type AuditState } from './routes.js';
import type { MeJson } from './session.js';

/** One record of GET /api/sightline/audit (docs/api.md). */
export interface AuditRecordJson {
  chain: string;
  seq: number;
  /** Unix ms. */
  time: number;
  prev: string;
  hash: string;
  /** `token:grafana`, `oidc:alice@clinic`... */
  identity: string;
  tenants: string[];
  remote: string;
  /** `GET /api/traces/:traceId`: the method and the route's pattern. */
  action: string;
  /** Route and query parameters of the request, never credentials. */
  detail: Record<string, string | number | boolean | string[]>;
  status: number;
  /** Traces, spans, series or rows returned; -1 when the route does not count them. */
  results: number;
}

export interface AuditJson {
  records: AuditRecordJson[];
}

export interface AuditRow {
  /** Unique per record: chain and sequence. */
  key: string;
  time: number;
  identity: string;
  tenants: string[];
  /** The caller's address; IPv4-mapped IPv6 shown as IPv4. */
  peer: string;
  /** The action as recorded (`GET /api/search`), which the route filter matches. */
  route: string;
  /** `key=value` pairs of what was asked, long values cut. */
  detail: string;
  /** Every parameter in full, for a tooltip. */
  detailFull: string;
  status: number;
  /** null when the route does not count what it returned. */
  results: number | null;
}

/** Whether the user holds the admin role anywhere (the audit route's role). */
export function canReadAudit(me: MeJson | undefined): boolean {
  return !!me && (me.everyTenant.includes('admin') || me.tenants.admin.length > 0);
}

/**
 * The tenants to name in X-Scope-OrgID when reading the audit trail: every
 * named tenant the user administers, joined by `|` (the route takes
 * several), so the trail does not depend on the tenant picked for reading
 * traces. None (the usual header, or the server's choice) for an admin of
 * every tenant only, or when who is asking is not known.
 */
export function auditTenants(me: MeJson | undefined): string | undefined {
  if (!me) return undefined;
  const named = [...new Set(me.tenants.admin)].sort();
  return named.length > 0 ? named.join('|') : undefined;
}

/** The API call for a view state at `nowMs`: start and end in Unix seconds, filters only when set. */
export function auditApiUrl(state: AuditState, nowMs: number): string {
  const { start, end } = resolveRange(state.range, nowMs);
  const p = new URLSearchParams({ start: String(start), end: String(end), limit: String(state.limit) });
  if (state.who) p.set('identity', state.who);
  if (state.route) p.set('action', state.route);
  return `/api/sightline/audit?${p.toString()}`;
}

const MAX_VALUE = 48;

function show(v: unknown): string {
  if (Array.isArray(v)) return v.map(String).join(',');
  return String(v);
}

/** `q={ status = error }  limit=20`: parameters in the order recorded, long values cut with `…`. */
export function compactDetail(detail: AuditRecordJson['detail']): string {
  return Object.entries(detail)
    .map(([k, v]) => {
      const text = show(v).replace(/\s+/g, ' ');
      return `${k}=${text.length > MAX_VALUE ? `${text.slice(0, MAX_VALUE - 1)}…` : text}`;
    })
    .join('  ');
}

/** `::ffff:10.0.4.7` -> `10.0.4.7`; other addresses as they are. */
export function peerAddress(remote: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remote);
  return m ? m[1] : remote;
}

function isRecord(r: unknown): r is AuditRecordJson {
  if (!r || typeof r !== 'object') return false;
  const o = r as Record<string, unknown>;
  return (
    typeof o.chain === 'string' &&
    typeof o.seq === 'number' &&
    typeof o.time === 'number' &&
    typeof o.identity === 'string' &&
    Array.isArray(o.tenants) &&
    typeof o.action === 'string' &&
    typeof o.status === 'number' &&
    typeof o.results === 'number'
  );
}

/**
 * The API's answer as rows, newest first. The API already orders them so;
 * sorting again (by time, then by place in the writing process's chain)
 * keeps the table right whatever answered.
 */
export function auditRows(json: unknown): AuditRow[] {
  const records = json && typeof json === 'object' && Array.isArray((json as AuditJson).records) ? (json as AuditJson).records.filter(isRecord) : [];
  return records
    .map((r, i) => ({ r, i }))
    .sort((a, b) => b.r.time - a.r.time || (a.r.chain === b.r.chain ? b.r.seq - a.r.seq : a.i - b.i))
    .map(({ r }) => {
      const detail = r.detail && typeof r.detail === 'object' ? r.detail : {};
      return {
        key: `${r.chain}:${r.seq}`,
        time: r.time,
        identity: r.identity,
        tenants: r.tenants.map(String),
        peer: peerAddress(typeof r.remote === 'string' ? r.remote : ''),
        route: r.action,
        detail: compactDetail(detail),
        detailFull: Object.entries(detail)
          .map(([k, v]) => `${k}=${show(v)}`)
          .join('\n'),
        status: r.status,
        results: r.results >= 0 ? r.results : null,
      };
    });
}

/** Distinct values seen, sorted: suggestions for the exact-match filters. */
export function distinctValues(rows: readonly AuditRow[], pick: (r: AuditRow) => string, seen: readonly string[] = []): string[] {
  return [...new Set([...seen, ...rows.map(pick)])].filter((v) => v !== '').sort();
}
