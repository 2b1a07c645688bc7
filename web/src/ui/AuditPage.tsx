import { useEffect, useMemo, useState } from 'react';
import {
  auditApiUrl,
  auditRows,
  auditTenants,
  distinctValues,
  formatRoute,
  formatTimestamp,
  AUDIT_LIMITS,
  AUDIT_RANGE_PRESETS,
  type AuditState,
  type AuditRow,
  type MeJson,
  type TimeRange,
} from '../model/index.js';
import { ApiError, getJson, isAbort } from './api.js';
import { go, Link } from './router.js';
import { EmptyState, ErrorState, RangePresets, Spinner } from './common.js';

type Load = { status: 'loading' } | { status: 'error'; error: ApiError } | { status: 'done'; rows: AuditRow[] };

const auditHref = (state: AuditState) => formatRoute({ page: 'audit', state });

/**
 * The audit trail (admins): every read of span data and every admin action
 * in the tenants the user administers, newest first. Filters are the API's
 * own, exact and applied over the whole range (see model/audit.ts).
 */
export function AuditPage({ state, me }: { state: AuditState; me?: MeJson }) {
  const tenants = auditTenants(me);
  // A preset range is resolved when the URL changes or on Refresh, not on every render.
  const [refreshed, setRefreshed] = useState(0);
  const key = auditHref(state);
  const url = useMemo(() => auditApiUrl(state, Date.now()), [key, refreshed]);
  const [load, setLoad] = useState<Load>({ status: 'loading' });
  useEffect(() => {
    const abort = new AbortController();
    setLoad({ status: 'loading' });
    getJson<unknown>(url, abort.signal, { tenant: tenants })
      .then((json) => setLoad({ status: 'done', rows: auditRows(json) }))
      .catch((e) => !isAbort(e) && setLoad({ status: 'error', error: e instanceof ApiError ? e : new ApiError(0, String(e), url) }));
    return () => abort.abort();
  }, [url, tenants]);

  // Suggestions for the exact-match filters: every identity and route seen on this visit.
  const [seen, setSeen] = useState<{ who: string[]; route: string[] }>({ who: [], route: [] });
  useEffect(() => {
    if (load.status !== 'done') return;
    setSeen((s) => ({ who: distinctValues(load.rows, (r) => r.identity, s.who), route: distinctValues(load.rows, (r) => r.route, s.route) }));
  }, [load]);

  const set = (patch: Partial<AuditState>) => go(auditHref({ ...state, ...patch }));
  const rows = load.status === 'done' ? load.rows : [];
  const nextLimit = AUDIT_LIMITS.find((l) => l > state.limit);

  // Not an admin: the API said so (403); nothing here is of use, so only say why.
  if (load.status === 'error' && load.error.status === 403)
    return (
      <div className="audit-page">
        <div className="page-head">
          <h1>Audit trail</h1>
        </div>
        <div data-testid="audit-forbidden">
          <ErrorState title="Only admins can read the audit trail" detail={`Sightline answered: ${load.error.body.trim() || 'forbidden'}`} />
        </div>
      </div>
    );

  return (
    <div className="audit-page">
      <div className="page-head">
        <h1>Audit trail</h1>
        <RangePresets presets={AUDIT_RANGE_PRESETS} range={state.range} onChange={(range) => set({ range })} />
        <span className="spacer" />
        <button type="button" onClick={() => setRefreshed((n) => n + 1)} data-testid="audit-refresh">
          Refresh
        </button>
      </div>
      <AuditFilters state={state} seen={seen} onApply={set} />
      <div className="result-meta" data-testid="audit-scope">
        {tenants && `Tenants: ${tenants.split('|').join(', ')} · `}
        Every read of span data and every admin action, newest first. Reading this page is recorded too.
      </div>
      {load.status === 'loading' && <Spinner label="Reading the audit trail…" />}
      {load.status === 'error' && load.error.status !== 403 && <ErrorState title="Could not read the audit trail" detail={load.error.message} />}
      {load.status === 'done' && rows.length === 0 && (
        <EmptyState title="No audit records">
          Nothing {state.who || state.route ? 'matches these filters' : 'was recorded'} in this range.
          {(state.who || state.route) && (
            <>
              {' '}
              <Link href={auditHref({ ...state, who: '', route: '' })}>Clear the filters</Link>
            </>
          )}
        </EmptyState>
      )}
      {load.status === 'done' && rows.length > 0 && (
        <>
          {rows.length >= state.limit && (
            <div className="banner warn" data-testid="audit-truncated">
              The newest {state.limit} records of this range are shown; older ones are not.{' '}
              {nextLimit !== undefined ? (
                <Link href={auditHref({ ...state, limit: nextLimit })}>Show up to {nextLimit.toLocaleString('en')}</Link>
              ) : (
                'Narrow the range or the filters to see them.'
              )}
            </div>
          )}
          <AuditTable rows={rows} state={state} />
        </>
      )}
    </div>
  );
}

function AuditFilters({ state, seen, onApply }: { state: AuditState; seen: { who: string[]; route: string[] }; onApply(p: Partial<AuditState>): void }) {
  const [who, setWho] = useState(state.who);
  const [route, setRoute] = useState(state.route);
  // Follow the URL (back, forward, a clicked cell).
  useEffect(() => setWho(state.who), [state.who]);
  useEffect(() => setRoute(state.route), [state.route]);
  return (
    <form
      className="audit-filters"
      onSubmit={(e) => {
        e.preventDefault();
        onApply({ who: who.trim(), route: route.trim() });
      }}
    >
      <label className="label">
        Who
        <input value={who} onChange={(e) => setWho(e.target.value)} list="audit-who" placeholder="anyone (e.g. token:grafana)" spellCheck={false} data-testid="audit-who" title="An identity, exactly as recorded" />
      </label>
      <datalist id="audit-who">
        {seen.who.map((v) => (
          <option key={v} value={v} />
        ))}
      </datalist>
      <label className="label">
        Route
        <input value={route} onChange={(e) => setRoute(e.target.value)} list="audit-route" placeholder="any (e.g. GET /api/search)" spellCheck={false} data-testid="audit-route" title="A route, exactly as recorded" />
      </label>
      <datalist id="audit-route">
        {seen.route.map((v) => (
          <option key={v} value={v} />
        ))}
      </datalist>
      <label className="label">
        Limit
        <select value={state.limit} onChange={(e) => onApply({ limit: Number(e.target.value) })} data-testid="audit-limit">
          {[...new Set([...AUDIT_LIMITS, state.limit])]
            .sort((a, b) => a - b)
            .map((l) => (
              <option key={l} value={l}>
                {l.toLocaleString('en')}
              </option>
            ))}
        </select>
      </label>
      <button type="submit" className="primary" data-testid="audit-apply">
        Filter
      </button>
      {(state.who || state.route) && (
        <Link href={auditHref({ ...state, who: '', route: '' })} data-testid="audit-clear">
          Clear
        </Link>
      )}
    </form>
  );
}

function AuditTable({ rows, state }: { rows: AuditRow[]; state: AuditState }) {
  return (
    <table className="results audit-table" data-testid="audit-table">
      <thead>
        <tr>
          <th>Time</th>
          <th>Who</th>
          <th>Tenants</th>
          <th>Route</th>
          <th>Asked</th>
          <th className="num">Status</th>
          <th className="num">Results</th>
          <th>Peer</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={r.key} data-time={r.time} data-identity={r.identity} data-route={r.route} data-results={r.results ?? ''} data-status={r.status}>
            <td className="audit-time">{formatTimestamp(r.time)}</td>
            <td>
              <Link href={auditHref({ ...state, who: r.identity })} title={`Only ${r.identity}`}>
                {r.identity}
              </Link>
            </td>
            <td>{r.tenants.join(', ')}</td>
            <td>
              <Link href={auditHref({ ...state, route: r.route })} title={`Only ${r.route}`}>
                <code>{r.route}</code>
              </Link>
            </td>
            <td className="audit-detail" title={r.detailFull}>
              <code>{r.detail}</code>
            </td>
            <td className={r.status >= 400 ? 'num error-count' : 'num'}>{r.status}</td>
            <td className="num">{r.results ?? '—'}</td>
            <td className="muted">{r.peer}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
