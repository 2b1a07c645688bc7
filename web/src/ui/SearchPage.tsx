import { useEffect, useMemo, useState } from 'react';
import {
  searchRows,
  withCounts,
  sortRows,
  payloadCounts,
  readQuickFilters,
  applyQuickFilter,
  isDuration,
  parseQueryError,
  resolveRange,
  formatRoute,
  traceRoute,
  formatMs,
  formatTimestamp,
  formatAgo,
  RANGE_PRESETS,
  LIMITS,
  type SearchState,
  type SearchRow,
  type SearchResponseJson,
  type SortKey,
  type QueryError,
  type QuickFilterKey,
  type TagValuesJson,
  type TraceByIdJson,
} from '../model/index.js';
import { ApiError, getJson, isAbort, query } from './api.js';
import { go, Link } from './router.js';
import { TraceQLEditor } from './TraceQLEditor.js';
import { Scatter } from './Scatter.js';
import { EmptyState, ErrorState, Spinner } from './common.js';

type Result = { status: 'loading' } | { status: 'error'; error: ApiError; queryError?: QueryError } | { status: 'done'; rows: SearchRow[]; tookMs: number };

/** How many rows without serviceStats (an older server) get their counts from a fetch of the trace. */
const COUNTED_ROWS = 20;

export function SearchPage({ state }: { state: SearchState }) {
  const [draft, setDraft] = useState(state.q);
  useEffect(() => setDraft(state.q), [state.q]);
  // A preset range is resolved when the search runs, and again on "Run" with the same URL.
  const [runCount, setRunCount] = useState(0);
  const rangeKey = JSON.stringify(state.range);
  const range = useMemo(() => resolveRange(state.range, Date.now()), [rangeKey, runCount]);
  const [result, setResult] = useState<Result>({ status: 'loading' });
  const [counts, setCounts] = useState(new Map<string, ReturnType<typeof payloadCounts>>());
  const [sort, setSort] = useState<{ key: SortKey; desc: boolean } | undefined>();

  const navigate = (next: Partial<SearchState>) => {
    const url = formatRoute({ page: 'search', state: { ...state, ...next } });
    if (url === window.location.pathname + window.location.search) setRunCount((n) => n + 1);
    else go(url);
  };
  const run = (q: string) => navigate({ q: q.trim() });

  useEffect(() => {
    const abort = new AbortController();
    setResult({ status: 'loading' });
    const t0 = performance.now();
    const url = `/api/search${query({ q: state.q || undefined, start: range.start, end: range.end, limit: state.limit, spss: 3 })}`;
    getJson<SearchResponseJson>(url, abort.signal)
      .then((r) => setResult({ status: 'done', rows: searchRows(r), tookMs: performance.now() - t0 }))
      .catch((e) => {
        if (isAbort(e)) return;
        const error = e instanceof ApiError ? e : new ApiError(0, String(e), url);
        const queryError = error.status === 400 || error.status === 501 ? parseQueryError(error.status, error.body, state.q) : undefined;
        setResult({ status: 'error', error, queryError });
      });
    return () => abort.abort();
  }, [state.q, state.limit, range]);

  // Span and error counts come with the answer (serviceStats); rows without them fetch their trace, a few at a time.
  useEffect(() => {
    if (result.status !== 'done') return;
    const abort = new AbortController();
    const todo = result.rows.filter((r) => r.spanCount === undefined).slice(0, COUNTED_ROWS).map((r) => r.traceId);
    const found = new Map<string, ReturnType<typeof payloadCounts>>();
    let next = 0;
    const worker = async () => {
      while (next < todo.length && !abort.signal.aborted) {
        const id = todo[next++];
        try {
          const t = await getJson<TraceByIdJson>(`/api/v2/traces/${id}`, abort.signal);
          found.set(id, payloadCounts(t));
          if (!abort.signal.aborted) setCounts(new Map(found));
        } catch {
          /* a trace that cannot be fetched keeps "—" */
        }
      }
    };
    void Promise.all([worker(), worker(), worker()]);
    return () => abort.abort();
  }, [result]);

  const rows = useMemo(() => {
    if (result.status !== 'done') return [];
    const withAll = result.rows.map((r) => {
      const c = counts.get(r.traceId);
      return c ? withCounts(r, c) : r;
    });
    return sort ? sortRows(withAll, sort.key, sort.desc) : withAll;
  }, [result, counts, sort]);

  const queryError = result.status === 'error' ? result.queryError : undefined;
  const openTrace = (row: SearchRow) => go(formatRoute(traceRoute(row.traceId)));

  return (
    <div className="search-page">
      <section className="query-bar">
        <TraceQLEditor value={draft} onChange={setDraft} onRun={run} error={queryError} range={range} />
        <button type="button" className="primary run" onClick={() => run(draft)} data-testid="run-query">
          Run query
        </button>
      </section>
      <QuickFilterBar draft={draft} onApply={(q) => (setDraft(q), run(q))} range={range} />
      <section className="range-bar" aria-label="Time range">
        <span className="label">Range</span>
        {RANGE_PRESETS.map((p) => (
          <button key={p} type="button" className={'preset' in state.range && state.range.preset === p ? 'chip active' : 'chip'} onClick={() => navigate({ range: { preset: p } })}>
            last {p}
          </button>
        ))}
        {!('preset' in state.range) && (
          <span className="chip active" title="Selected on the chart">
            {formatTimestamp(state.range.start * 1000, false)} – {formatTimestamp(state.range.end * 1000, false)}
          </span>
        )}
        <span className="spacer" />
        <label className="label">
          Limit{' '}
          <select value={state.limit} onChange={(e) => navigate({ limit: Number(e.target.value) })}>
            {[...new Set([...LIMITS, state.limit])].map((l) => (
              <option key={l} value={l}>
                {l}
              </option>
            ))}
          </select>
        </label>
        <label className="label">
          <input type="checkbox" checked={state.scale === 'log'} onChange={(e) => navigate({ scale: e.target.checked ? 'log' : 'linear' })} /> log scale
        </label>
      </section>

      {result.status === 'loading' && <Spinner label="Searching…" />}
      {result.status === 'error' && !queryError && <ErrorState title="Search failed" detail={result.error.message} />}
      {result.status === 'error' && queryError && <ErrorState title={queryError.kind === 'unsupported' ? 'Not supported yet' : 'The query has an error'} detail={queryError.message} />}
      {result.status === 'done' && rows.length === 0 && (
        <EmptyState title="No traces found">
          Nothing matched in {'preset' in state.range ? `the last ${state.range.preset}` : 'this range'}. Try a wider range or fewer conditions.
        </EmptyState>
      )}
      {result.status === 'done' && rows.length > 0 && (
        <>
          <Scatter
            rows={rows}
            range={{ startMs: range.start * 1000, endMs: range.end * 1000 }}
            log={state.scale === 'log'}
            onOpen={openTrace}
            onSelectRange={(startMs, endMs) => navigate({ range: { start: Math.floor(startMs / 1000), end: Math.ceil(endMs / 1000) } })}
          />
          <div className="result-meta">
            {rows.length} trace{rows.length === 1 ? '' : 's'} in {Math.round(result.tookMs)} ms
            {rows.length >= state.limit && ' (limit reached)'}
          </div>
          <ResultsTable rows={rows} sort={sort} onSort={setSort} onOpen={openTrace} />
        </>
      )}
    </div>
  );
}

function ResultsTable({
  rows,
  sort,
  onSort,
  onOpen,
}: {
  rows: SearchRow[];
  sort: { key: SortKey; desc: boolean } | undefined;
  onSort(s: { key: SortKey; desc: boolean }): void;
  onOpen(r: SearchRow): void;
}) {
  const maxDuration = Math.max(...rows.map((r) => r.durationMs), 1);
  const now = Date.now();
  const header = (key: SortKey, label: string, numeric = false) => (
    <th
      className={numeric ? 'num' : ''}
      aria-sort={sort?.key === key ? (sort.desc ? 'descending' : 'ascending') : 'none'}
      onClick={() => onSort({ key, desc: sort?.key === key ? !sort.desc : numeric || key === 'start' })}
    >
      {label}
      {sort?.key === key ? (sort.desc ? ' ↓' : ' ↑') : ''}
    </th>
  );
  return (
    <table className="results" data-testid="results">
      <thead>
        <tr>
          {header('service', 'Root service')}
          {header('name', 'Root name')}
          {header('start', 'Start')}
          {header('duration', 'Duration', true)}
          {header('spans', 'Spans', true)}
          {header('errors', 'Errors', true)}
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={r.traceId} data-trace-id={r.traceId} onClick={() => onOpen(r)} className={r.errorCount ? 'has-errors' : ''}>
            <td>{r.rootMissing ? <em className="muted">root not received</em> : r.rootService}</td>
            <td>
              <Link href={formatRoute(traceRoute(r.traceId))} onClick={(e) => e.stopPropagation()}>
                {r.rootName || <em className="muted">unnamed</em>}
              </Link>
            </td>
            <td title={formatTimestamp(r.startMs)}>
              {formatTimestamp(r.startMs, false)} <span className="muted">{formatAgo(r.startMs, now)}</span>
            </td>
            <td className="num">
              <span className="duration-bar" style={{ width: `${(r.durationMs / maxDuration) * 60}px` }} />
              {formatMs(r.durationMs)}
            </td>
            <td className="num">{r.spanCount ?? <span className="muted">—</span>}</td>
            <td className="num">{r.errorCount === undefined ? <span className="muted">—</span> : r.errorCount > 0 ? <span className="error-count">{r.errorCount}</span> : 0}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Quick filters read and write conditions of the query text (see model/quick-filters.ts). */
function QuickFilterBar({ draft, onApply, range }: { draft: string; onApply(q: string): void; range: { start: number; end: number } }) {
  const state = readQuickFilters(draft);
  const values = state.editable ? state.values : {};
  const disabled = !state.editable;
  const services = useTagValues('resource.service.name', undefined, range);
  const operations = useTagValues('name', values.service ? `{ resource.service.name = ${JSON.stringify(values.service)} }` : undefined, range);
  const set = (key: QuickFilterKey, value: string | undefined) => {
    const next = applyQuickFilter(draft, key, value);
    if (next !== undefined) onApply(next);
  };
  return (
    <section className="quick-filters" aria-label="Quick filters" title={state.editable ? undefined : `Quick filters are off: ${state.reason}`}>
      <label>
        Service
        <select disabled={disabled} value={values.service ?? ''} onChange={(e) => set('service', e.target.value || undefined)} data-testid="qf-service">
          <option value="">any</option>
          {withCurrent(services, values.service).map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      </label>
      <label>
        Operation
        <select disabled={disabled} value={values.operation ?? ''} onChange={(e) => set('operation', e.target.value || undefined)}>
          <option value="">any</option>
          {withCurrent(operations, values.operation).map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      </label>
      <label>
        Status
        <select disabled={disabled} value={values.status ?? ''} onChange={(e) => set('status', e.target.value || undefined)}>
          <option value="">any</option>
          <option value="error">error</option>
          <option value="ok">ok</option>
          <option value="unset">unset</option>
        </select>
      </label>
      <DurationInput label="Min duration" disabled={disabled} value={values.minDuration} onCommit={(v) => set('minDuration', v)} />
      <DurationInput label="Max duration" disabled={disabled} value={values.maxDuration} onCommit={(v) => set('maxDuration', v)} />
      {!state.editable && <span className="muted small">({state.reason})</span>}
    </section>
  );
}

function withCurrent(list: string[], current: string | undefined): string[] {
  return current && !list.includes(current) ? [current, ...list] : list;
}

function DurationInput({ label, value, disabled, onCommit }: { label: string; value: string | undefined; disabled: boolean; onCommit(v: string | undefined): void }) {
  const [text, setText] = useState(value ?? '');
  useEffect(() => setText(value ?? ''), [value]);
  const valid = text.trim() === '' || isDuration(text);
  const commit = () => {
    if (valid && text.trim() !== (value ?? '')) onCommit(text.trim() || undefined);
  };
  return (
    <label>
      {label}
      <input
        className={`duration-input${valid ? '' : ' invalid'}`}
        disabled={disabled}
        placeholder="e.g. 100ms"
        value={text}
        onChange={(e) => setText(e.target.value)}
        onBlur={commit}
        onKeyDown={(e) => e.key === 'Enter' && commit()}
        title={valid ? undefined : 'A duration such as 250ms, 1.5s or 2m'}
      />
    </label>
  );
}

function useTagValues(name: string, q: string | undefined, range: { start: number; end: number }): string[] {
  const [values, setValues] = useState<string[]>([]);
  const key = `${name}|${q}|${Math.floor(range.start / 60)}`;
  useEffect(() => {
    const abort = new AbortController();
    getJson<TagValuesJson>(`/api/v2/search/tag/${encodeURIComponent(name)}/values${query({ q, start: range.start, end: range.end })}`, abort.signal)
      .then((r) => setValues((r.tagValues ?? []).map((v) => v.value).sort()))
      .catch(() => undefined);
    return () => abort.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  return values;
}
