import { useEffect, useMemo, useRef, useState } from 'react';
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
  formatMs,
  formatTimestamp,
  formatAgo,
  shownLabel,
  bandCompare,
  linkFrom,
  isMetricsQuery,
  metricsData,
  metricsStep,
  metricsUnit,
  refreshMs,
  refreshes,
  RANGE_PRESETS,
  LIMITS,
  type HeatmapBand,
  type HeatmapJson,
  type MetricsData,
  type OrderedSearchJson,
  type QueryRangeJson,
  type SearchState,
  type SearchRow,
  type SortKey,
  type QueryError,
  type QuickFilterKey,
  type TagValuesJson,
  type TraceByIdJson,
} from '../model/index.js';
import { ApiError, getJson, isAbort, query } from './api.js';
import { go, Link } from './router.js';
import { TraceQLEditor } from './TraceQLEditor.js';
import { Heatmap } from './Heatmap.js';
import { MetricsChart } from './MetricsChart.js';
import { TimePicker } from './TimePicker.js';
import { ErrorState, Spinner } from './common.js';
import { EmptySearch } from './FirstRun.js';

type Failed = { status: 'error'; error: ApiError; queryError?: QueryError };
type Result = { status: 'loading' } | Failed | { status: 'done'; rows: SearchRow[]; total?: number; totalExact: boolean; tookMs: number; refreshing?: boolean };
type MapResult = { status: 'loading' } | { status: 'error'; error: ApiError } | { status: 'done'; map: HeatmapJson };
type MetricsResult = { status: 'loading' } | Failed | { status: 'done'; data: MetricsData; tookMs: number };

/** How many rows without serviceStats (an older server) get their counts from a fetch of the trace. */
const COUNTED_ROWS = 20;
/** Columns of the heatmap, over whatever range. */
const HEATMAP_COLUMNS = 60;

/** Sorts the server does over the whole range; the other columns sort the rows shown. */
const SERVER_ORDER: Partial<Record<SortKey, SearchState['order']>> = { duration: 'slowest', start: 'recent' };

function failure(e: unknown, url: string, q: string): Failed {
  const error = e instanceof ApiError ? e : new ApiError(0, String(e), url);
  const queryError = error.status === 400 || error.status === 501 ? parseQueryError(error.status, error.body, q) : undefined;
  return { status: 'error', error, queryError };
}

/**
 * Search: the traces a TraceQL query matches in a time range, over the
 * whole range (the heatmap counts every one; "slowest" orders every one),
 * and the rows of the most recent or slowest. A metrics query (`| rate()`)
 * draws its series instead.
 */
export function SearchPage({ state }: { state: SearchState }) {
  const [draft, setDraft] = useState(state.q);
  useEffect(() => setDraft(state.q), [state.q]);
  // A preset range is resolved when the search runs, and again on refresh (or "Run" with the same URL).
  const [runCount, setRunCount] = useState(0);
  const rangeKey = JSON.stringify(state.range);
  const range = useMemo(() => resolveRange(state.range, Date.now()), [rangeKey, runCount]);
  const metricsMode = isMetricsQuery(state.q);
  const [result, setResult] = useState<Result>({ status: 'loading' });
  const [heatmap, setHeatmap] = useState<MapResult>({ status: 'loading' });
  const [metrics, setMetrics] = useState<MetricsResult>({ status: 'loading' });
  const [counts, setCounts] = useState(new Map<string, ReturnType<typeof payloadCounts>>());
  const [sort, setSort] = useState<{ key: SortKey; desc: boolean } | undefined>();

  const navigate = (next: Partial<SearchState>) => {
    const url = formatRoute({ page: 'search', state: { ...state, ...next } });
    if (url === window.location.pathname + window.location.search) setRunCount((n) => n + 1);
    else go(url);
  };
  const run = (q: string) => navigate({ q: q.trim() });
  const refresh = () => setRunCount((n) => n + 1);

  // Auto-refresh: a relative range moves to now on each tick.
  useEffect(() => {
    const every = refreshes(state.range, state.refresh) ? refreshMs(state.refresh) : undefined;
    if (!every) return;
    const timer = setInterval(refresh, every);
    return () => clearInterval(timer);
  }, [state.refresh, rangeKey]);

  // The rows, in the chosen order over the whole range, and how many match.
  const searchKey = `${state.q}|${state.limit}|${state.order}`;
  const lastSearchKey = useRef('');
  useEffect(() => {
    if (metricsMode) return;
    const abort = new AbortController();
    // A refresh of the same search keeps its rows on screen until the new ones arrive.
    setResult((r) => (r.status === 'done' && searchKey === lastSearchKey.current ? { ...r, refreshing: true } : { status: 'loading' }));
    lastSearchKey.current = searchKey;
    const t0 = performance.now();
    const url = `/api/sightline/search${query({ q: state.q || undefined, start: range.start, end: range.end, limit: state.limit, spss: 3, order: state.order })}`;
    getJson<OrderedSearchJson>(url, abort.signal)
      .then((r) => setResult({ status: 'done', rows: searchRows(r), total: r.total, totalExact: r.totalExact !== false, tookMs: performance.now() - t0 }))
      .catch((e) => !isAbort(e) && setResult(failure(e, url, state.q)));
    return () => abort.abort();
  }, [state.q, state.limit, state.order, range, metricsMode]);

  // Every matching trace, by start time and duration.
  const lastMapQuery = useRef<string | undefined>(undefined);
  useEffect(() => {
    if (metricsMode) return;
    const abort = new AbortController();
    if (lastMapQuery.current !== state.q) setHeatmap({ status: 'loading' });
    lastMapQuery.current = state.q;
    const url = `/api/sightline/search/heatmap${query({ q: state.q || undefined, start: range.start, end: range.end, columns: HEATMAP_COLUMNS })}`;
    getJson<HeatmapJson>(url, abort.signal)
      .then((map) => setHeatmap({ status: 'done', map }))
      .catch((e) => !isAbort(e) && setHeatmap({ status: 'error', error: e instanceof ApiError ? e : new ApiError(0, String(e), url) }));
    return () => abort.abort();
  }, [state.q, range, metricsMode]);

  // A metrics query: its series over the range.
  useEffect(() => {
    if (!metricsMode) return;
    const abort = new AbortController();
    setMetrics({ status: 'loading' });
    const step = metricsStep(range.end - range.start);
    const t0 = performance.now();
    const url = `/api/metrics/query_range${query({ q: state.q, start: range.start, end: range.end, step: `${step}s` })}`;
    getJson<QueryRangeJson>(url, abort.signal)
      .then((r) => setMetrics({ status: 'done', data: metricsData(r, state.q, range.start * 1000, range.end * 1000, step * 1000), tookMs: performance.now() - t0 }))
      .catch((e) => !isAbort(e) && setMetrics(failure(e, url, state.q)));
    return () => abort.abort();
  }, [state.q, range, metricsMode]);

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

  const queryError = metricsMode ? (metrics.status === 'error' ? metrics.queryError : undefined) : result.status === 'error' ? result.queryError : undefined;
  const traceLink = (row: SearchRow) => linkFrom({ range: state.range }, { page: 'trace', traceId: row.traceId });
  const onSort = (s: { key: SortKey; desc: boolean }) => {
    const order = SERVER_ORDER[s.key];
    if (order) {
      setSort(undefined);
      navigate({ order });
    } else setSort(s);
  };
  const compareBand = (band: HeatmapBand) => {
    const c = bandCompare(state.q, band);
    go(linkFrom({ range: c.range }, { page: 'compare', q: c.q, baseline: c.baseline }));
  };
  const listBand = (band: HeatmapBand) => {
    const c = bandCompare(state.q, band);
    navigate({ q: c.q === '{ }' ? '' : c.q, range: c.range, order: 'slowest' });
  };

  return (
    <div className="search-page">
      <section className="query-bar">
        <TraceQLEditor value={draft} onChange={setDraft} onRun={run} error={queryError} range={range} />
        <button type="button" className="primary run" onClick={() => run(draft)} data-testid="run-query">
          Run query
        </button>
      </section>
      {!metricsMode && <QuickFilterBar draft={draft} onApply={(q) => (setDraft(q), run(q))} range={range} />}
      <section className="search-controls">
        <TimePicker
          presets={RANGE_PRESETS}
          range={state.range}
          onChange={(r) => navigate({ range: r })}
          onRefresh={refresh}
          refresh={state.refresh}
          onRefreshChange={(r) => navigate({ refresh: r })}
        />
        <span className="spacer" />
        {!metricsMode && (
          <label className="label">
            Limit{' '}
            <select value={state.limit} onChange={(e) => navigate({ limit: Number(e.target.value) })} data-testid="limit">
              {[...new Set([...LIMITS, state.limit])].map((l) => (
                <option key={l} value={l}>
                  {l}
                </option>
              ))}
            </select>
          </label>
        )}
      </section>

      {metricsMode ? (
        <MetricsPanel result={metrics} query={state.q} />
      ) : (
        <>
          {result.status === 'loading' && <Spinner label="Searching…" />}
          {result.status === 'error' && !queryError && <ErrorState title="Search failed" detail={result.error.message} />}
          {result.status === 'error' && queryError && <ErrorState title={queryError.kind === 'unsupported' ? 'Not supported yet' : 'The query has an error'} detail={queryError.message} />}
          {result.status === 'done' && rows.length === 0 && (
            // On a store with no span at all, how to send some (FirstRun.tsx); the search runs again when they arrive.
            <EmptySearch rangeLabel={'preset' in state.range ? `the last ${state.range.preset}` : 'this range'} onFirstSpans={() => setRunCount((n) => n + 1)} />
          )}
          {result.status === 'done' && rows.length > 0 && (
            <>
              {heatmap.status === 'done' && <Heatmap map={heatmap.map} onBand={compareBand} onCell={listBand} />}
              {heatmap.status === 'error' && <ErrorState title="The heatmap could not be computed" detail={heatmap.error.message} />}
              <div className="result-meta">
                <span className="order" role="group" aria-label="Which traces are listed">
                  <button type="button" className={state.order === 'recent' ? 'chip active' : 'chip'} onClick={() => onSort({ key: 'start', desc: true })} data-testid="order-recent">
                    Most recent
                  </button>
                  <button type="button" className={state.order === 'slowest' ? 'chip active' : 'chip'} onClick={() => onSort({ key: 'duration', desc: true })} data-testid="order-slowest">
                    Slowest
                  </button>
                </span>
                <span data-testid="shown" data-shown={rows.length} data-total={result.total}>
                  {shownLabel(rows.length, result.total, result.totalExact)}
                </span>
                <span>
                  {state.order === 'slowest' ? 'slowest first, of the whole range' : 'most recent first'} · {Math.round(result.tookMs)} ms
                  {result.refreshing && ' · refreshing…'}
                </span>
              </div>
              <ResultsTable rows={rows} order={state.order} sort={sort} onSort={onSort} link={traceLink} onOpen={(r) => go(traceLink(r))} />
            </>
          )}
        </>
      )}
    </div>
  );
}

function MetricsPanel({ result, query: q }: { result: MetricsResult; query: string }) {
  if (result.status === 'loading') return <Spinner label="Computing series…" />;
  if (result.status === 'error') {
    const { error, queryError } = result;
    if (error.status === 422)
      return (
        <ErrorState
          title="Too many series to answer"
          detail={`${error.body.trim()}\n\nAt most 1000 series are answered. Narrow the filter or by(), or keep the largest with | topk(10).`}
        />
      );
    if (queryError) return <ErrorState title={queryError.kind === 'unsupported' ? 'Not supported yet' : 'The query has an error'} detail={queryError.message} />;
    return <ErrorState title="Metrics failed" detail={error.message} />;
  }
  return (
    <>
      <div className="result-meta">
        <span data-testid="series-count">
          {result.data.series.length} series · step {result.data.stepMs / 1000}s · {Math.round(result.tookMs)} ms
        </span>
      </div>
      <MetricsChart data={result.data} unit={metricsUnit(q)} />
    </>
  );
}

function ResultsTable({
  rows,
  order,
  sort,
  onSort,
  link,
  onOpen,
}: {
  rows: SearchRow[];
  order: SearchState['order'];
  sort: { key: SortKey; desc: boolean } | undefined;
  onSort(s: { key: SortKey; desc: boolean }): void;
  link(r: SearchRow): string;
  onOpen(r: SearchRow): void;
}) {
  const maxDuration = Math.max(...rows.map((r) => r.durationMs), 1);
  const now = Date.now();
  // Without a column sort, the server's order is the sort: by start or by duration, descending.
  const current = sort ?? { key: order === 'slowest' ? 'duration' : 'start', desc: true };
  const header = (key: SortKey, label: string, numeric = false) => (
    <th
      className={numeric ? 'num' : ''}
      aria-sort={current.key === key ? (current.desc ? 'descending' : 'ascending') : 'none'}
      onClick={() => onSort({ key, desc: current.key === key ? !current.desc : numeric || key === 'start' })}
      title={SERVER_ORDER[key] ? 'Sorts every matching trace of the range' : 'Sorts the traces shown'}
      data-testid={`sort-${key}`}
    >
      {label}
      {current.key === key ? (current.desc ? ' ↓' : ' ↑') : ''}
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
          <tr key={r.traceId} data-trace-id={r.traceId} data-duration-ms={r.durationMs} onClick={() => onOpen(r)} className={r.errorCount ? 'has-errors' : ''}>
            <td>{r.rootMissing ? <em className="muted">root not received</em> : r.rootService}</td>
            <td>
              <Link href={link(r)} onClick={(e) => e.stopPropagation()}>
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
