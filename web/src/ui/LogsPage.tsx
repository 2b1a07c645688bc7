import { Fragment, useEffect, useMemo, useState } from 'react';
import {
  formatRoute,
  formatTimestamp,
  linkFrom,
  logRows,
  logsQuery,
  resolveRange,
  severityTotals,
  volumeColumns,
  LOG_LIMITS,
  RANGE_PRESETS,
  SEVERITIES,
  type LinkOrigin,
  type LogRow,
  type LogsJson,
  type LogsState,
  type Severity,
} from '../model/index.js';
import { ApiError, getJson, isAbort, query } from './api.js';
import { go, Link } from './router.js';
import { TimePicker } from './TimePicker.js';
import { EmptyState, ErrorState, Spinner } from './common.js';

type Load = { status: 'loading' } | { status: 'error'; error: ApiError } | { status: 'done'; json: LogsJson; rows: LogRow[] };

/** Columns of the volume chart, over whatever range. */
const VOLUME_COLUMNS = 60;

const logsHref = (state: LogsState) => formatRoute({ page: 'logs', state });

/**
 * Logs: the newest records of a range matching the filters, each linked to
 * its trace, above a chart of how many matched over time by severity
 * (every match of the range, not only those listed).
 */
export function LogsPage({ state }: { state: LogsState }) {
  const [runCount, setRunCount] = useState(0);
  const rangeKey = JSON.stringify(state.range);
  const range = useMemo(() => resolveRange(state.range, Date.now()), [rangeKey, runCount]);
  const q = logsQuery(state);
  const [load, setLoad] = useState<Load>({ status: 'loading' });
  useEffect(() => {
    const abort = new AbortController();
    setLoad({ status: 'loading' });
    const url = `/api/sightline/logs${query({ q, start: range.start, end: range.end, limit: state.limit, columns: VOLUME_COLUMNS })}`;
    getJson<LogsJson>(url, abort.signal)
      .then((json) => setLoad({ status: 'done', json, rows: logRows(json) }))
      .catch((e) => !isAbort(e) && setLoad({ status: 'error', error: e instanceof ApiError ? e : new ApiError(0, String(e), url) }));
    return () => abort.abort();
  }, [q, range, state.limit]);

  const set = (patch: Partial<LogsState>) => {
    const url = logsHref({ ...state, ...patch });
    if (url === window.location.pathname + window.location.search) setRunCount((n) => n + 1);
    else go(url);
  };
  const origin: LinkOrigin = { range: state.range };
  const nextLimit = LOG_LIMITS.find((l) => l > state.limit);

  return (
    <div className="logs-page" data-testid="logs-page">
      <div className="page-head">
        <h1>Logs</h1>
        <span className="spacer" />
        <TimePicker presets={RANGE_PRESETS} range={state.range} onChange={(r) => set({ range: r })} onRefresh={() => setRunCount((n) => n + 1)} />
      </div>
      <LogFilters state={state} onApply={set} />
      {load.status === 'loading' && <Spinner label="Loading logs…" />}
      {load.status === 'error' && (
        <div data-testid="logs-error">
          <ErrorState title={load.error.status === 400 ? 'The filter is not valid' : 'Could not load logs'} detail={load.error.body.trim() || load.error.message} />
        </div>
      )}
      {load.status === 'done' && (
        <>
          <VolumeChart histogram={load.json.histogram} onPick={(start, end) => set({ range: { start, end } })} />
          <div className="result-meta" data-testid="logs-meta">
            {load.json.histogram.total === 0
              ? 'No records match in this range.'
              : `${load.rows.length.toLocaleString()} newest of ${load.json.histogram.total.toLocaleString()} matching record${load.json.histogram.total === 1 ? '' : 's'}`}
          </div>
          {load.rows.length === 0 ? (
            <EmptyState title="No logs">Widen the range or loosen the filters. Records are sent to OTLP <code>/v1/logs</code>.</EmptyState>
          ) : (
            <LogTable rows={load.rows} origin={origin} />
          )}
          {load.json.truncated && nextLimit && (
            <button type="button" className="link" onClick={() => set({ limit: nextLimit })} data-testid="logs-more">
              Show {nextLimit}
            </button>
          )}
        </>
      )}
    </div>
  );
}

/** The filters: the least severity, body text, service, and a filter of the log query language for the rest. */
function LogFilters({ state, onApply }: { state: LogsState; onApply(patch: Partial<LogsState>): void }) {
  const [text, setText] = useState(state.text);
  const [service, setService] = useState(state.service);
  const [q, setQ] = useState(state.q);
  useEffect(() => {
    setText(state.text);
    setService(state.service);
    setQ(state.q);
  }, [state.text, state.service, state.q]);
  return (
    <form
      className="logs-filters"
      onSubmit={(e) => {
        e.preventDefault();
        onApply({ text: text.trim(), service: service.trim(), q: q.trim() });
      }}
    >
      <label className="label">
        Severity
        <select value={state.level} onChange={(e) => onApply({ level: e.target.value as Severity | '' })} data-testid="logs-level">
          <option value="">any</option>
          {SEVERITIES.map((s) => (
            <option key={s} value={s}>
              {s} and above
            </option>
          ))}
        </select>
      </label>
      <label className="label">
        Body contains
        <input value={text} onChange={(e) => setText(e.target.value)} placeholder="timeout" data-testid="logs-text" spellCheck={false} />
      </label>
      <label className="label">
        Service
        <input value={service} onChange={(e) => setService(e.target.value)} placeholder="any" data-testid="logs-service" spellCheck={false} />
      </label>
      <label className="label logs-q">
        Filter
        <input value={q} onChange={(e) => setQ(e.target.value)} placeholder='{ log.http.status_code >= 500 && body =~ "refused|reset" }' data-testid="logs-q" spellCheck={false} />
      </label>
      <button type="submit" data-testid="logs-run">
        Run
      </button>
    </form>
  );
}

/** Records over time, stacked by severity; a click on a column narrows the range to it. */
function VolumeChart({ histogram, onPick }: { histogram: LogsJson['histogram']; onPick(start: number, end: number): void }) {
  const { columns, max } = useMemo(() => volumeColumns(histogram), [histogram]);
  const totals = useMemo(() => severityTotals(histogram), [histogram]);
  const width = 600;
  const height = 80;
  const w = width / Math.max(1, columns.length);
  return (
    <div className="logs-volume" data-testid="logs-volume">
      <svg viewBox={`0 0 ${width} ${height}`} preserveAspectRatio="none" role="img" aria-label="Log volume over time">
        {columns.map((c) => {
          let y = height;
          return (
            <g
              key={c.column}
              className="logs-volume-column"
              data-total={c.total}
              onClick={() => c.total > 0 && onPick(Math.floor(c.startMs / 1000), Math.ceil((c.startMs + histogram.stepMs) / 1000))}
            >
              <title>{`${formatTimestamp(c.startMs, false)}: ${c.total.toLocaleString()} record${c.total === 1 ? '' : 's'}${c.segments.map((s) => `\n${s.severity}: ${s.count}`).join('')}`}</title>
              <rect x={c.column * w} y={0} width={w} height={height} className="logs-volume-hit" />
              {c.segments.map((s) => {
                const h = max > 0 ? (s.count / max) * (height - 2) : 0;
                y -= h;
                return <rect key={s.severity} x={c.column * w + 0.5} y={y} width={Math.max(0.5, w - 1)} height={h} className={`sev-fill sev-${s.severity}`} />;
              })}
            </g>
          );
        })}
      </svg>
      <div className="logs-volume-legend">
        {totals.map((t) => (
          <span key={t.severity} className="legend-item" data-testid={`logs-total-${t.severity}`}>
            <span className={`sev-swatch sev-bg-${t.severity}`} />
            {t.severity} {t.count.toLocaleString()}
          </span>
        ))}
        <span className="muted">
          {formatTimestamp(histogram.startMs, false)} – {formatTimestamp(histogram.endMs, false)}
        </span>
      </div>
    </div>
  );
}

/** Records, newest first; a click opens a record's attributes, resource and ids, and its trace. */
export function LogTable({ rows, origin, showService = true }: { rows: LogRow[]; origin: LinkOrigin; showService?: boolean }) {
  const [open, setOpen] = useState<string | undefined>();
  return (
    <table className="logs-table" data-testid="logs-table">
      <tbody>
        {rows.map((r) => (
          <Fragment key={r.id}>
            <tr className={`log-row sev-row-${r.severity}${open === r.id ? ' open' : ''}`} onClick={() => setOpen(open === r.id ? undefined : r.id)} data-testid="log-row" data-log-id={r.id}>
              <td className="log-time">{formatTimestamp(r.timeMs)}</td>
              <td>
                <span className={`sev-badge sev-bg-${r.severity}`} data-testid="log-level">
                  {r.level || '—'}
                </span>
              </td>
              {showService && <td className="log-service">{r.service}</td>}
              <td className="log-body" data-testid="log-body">
                {r.body}
              </td>
              <td className="log-trace">
                {r.traceId && (
                  <Link href={linkFrom(origin, { page: 'trace', traceId: r.traceId, ...(r.spanId ? { span: r.spanId } : {}) })} onClick={(e) => e.stopPropagation()} data-testid="log-trace-link" title="Open this record's trace at its span">
                    trace →
                  </Link>
                )}
              </td>
            </tr>
            {open === r.id && (
              <tr className="log-detail" data-testid="log-detail">
                <td colSpan={showService ? 5 : 4}>
                  <LogDetail row={r} />
                </td>
              </tr>
            )}
          </Fragment>
        ))}
      </tbody>
    </table>
  );
}

function LogDetail({ row }: { row: LogRow }) {
  const ids: [string, string][] = [];
  if (row.traceId) ids.push(['trace id', row.traceId]);
  if (row.spanId) ids.push(['span id', row.spanId]);
  if (row.eventName) ids.push(['event', row.eventName]);
  if (row.scope) ids.push(['scope', row.scope]);
  ids.push(['time (ns)', row.timeNs.toString()]);
  return (
    <div className="log-detail-body">
      <pre className="log-detail-text">{row.body}</pre>
      {[
        ['Attributes', row.attributes],
        ['Resource', row.resource],
        ['Record', ids],
      ].map(([title, list]) =>
        (list as [string, string][]).length === 0 ? null : (
          <dl key={title as string} className="log-kv">
            <dt className="log-kv-title">{title as string}</dt>
            {(list as [string, string][]).map(([k, v]) => (
              <Fragment key={k}>
                <dt>{k}</dt>
                <dd>{v}</dd>
              </Fragment>
            ))}
          </dl>
        ),
      )}
    </div>
  );
}
