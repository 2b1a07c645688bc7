import { useDeferredValue, useEffect, useMemo, useRef, useState } from 'react';
import {
  buildTrace,
  visibleRows,
  reveal,
  collapseToDepth,
  layoutSpans,
  parseCriticalPath,
  mapCriticalPath,
  findSpans,
  navigate,
  formatRoute,
  formatDuration,
  formatTimestamp,
  nsStringToMs,
  type TraceModel,
  type TraceState,
  type CriticalPathJson,
  type NavKey,
  type TraceByIdJson,
} from '../model/index.js';
import { ApiError, getJson, isAbort } from './api.js';
import { recordUrl, Link } from './router.js';
import { CopyButton, EmptyState, ErrorState, Spinner, serviceColor } from './common.js';
import { Waterfall } from './Waterfall.js';
import { SpanDetail } from './SpanDetail.js';
import { Minimap } from './Minimap.js';

type Loaded = { status: 'loading' } | { status: 'error'; error: ApiError } | { status: 'done'; model: TraceModel };
type PathLoad = { status: 'loading' } | { status: 'error'; message: string } | { status: 'done'; json: CriticalPathJson };

/** What the browser test reads to report render times (see test/ui-e2e.test.ts). */
interface TraceMetrics {
  traceId: string;
  spans: number;
  fetchMs: number;
  buildMs: number;
  /** From the start of the fetch to the first frame with rows on screen. */
  firstRenderMs?: number;
  /** From the page's navigation start (performance.now's origin) to that frame. */
  sinceNavigationMs?: number;
}
declare global {
  interface Window {
    __sightlineTraceMetrics?: TraceMetrics;
  }
}

export function TracePage({ state }: { state: TraceState }) {
  const [loaded, setLoaded] = useState<Loaded>({ status: 'loading' });
  const [path, setPath] = useState<PathLoad>({ status: 'loading' });
  const fetchStarted = useRef(0);

  useEffect(() => {
    const abort = new AbortController();
    const t0 = performance.now();
    fetchStarted.current = t0;
    const fetchPath = () =>
      getJson<unknown>(`/api/sightline/traces/${encodeURIComponent(state.traceId)}/critical-path`, abort.signal)
        .then((json) => setPath({ status: 'done', json: parseCriticalPath(json) }))
        .catch((e) => !isAbort(e) && setPath({ status: 'error', message: (e as Error).message }));
    getJson<TraceByIdJson>(`/api/v2/traces/${encodeURIComponent(state.traceId)}`, abort.signal)
      .then((json) => {
        // The critical path is asked for only now: both answers read the whole trace on the
        // server, and the waterfall's first screen should not wait behind the path's.
        void fetchPath();
        const t1 = performance.now();
        const model = buildTrace(json, state.traceId);
        window.__sightlineTraceMetrics = { traceId: state.traceId, spans: model.spans.length, fetchMs: t1 - t0, buildMs: performance.now() - t1 };
        setLoaded({ status: 'done', model });
      })
      .catch((e) => !isAbort(e) && setLoaded({ status: 'error', error: e instanceof ApiError ? e : new ApiError(0, String(e), '') }));
    return () => abort.abort();
  }, [state.traceId]);

  if (loaded.status === 'loading') return <Spinner label="Loading trace…" />;
  if (loaded.status === 'error') {
    if (loaded.error.status === 404)
      return (
        <EmptyState title="Trace not found">
          No trace with id <code>{state.traceId}</code> is stored. It may be older than the retention, or not flushed yet. <Link href="/search">Search</Link>
        </EmptyState>
      );
    return <ErrorState title="Could not load the trace" detail={loaded.error.message} />;
  }
  if (loaded.model.spans.length === 0) return <EmptyState title="This trace has no spans" />;
  return <TraceView model={loaded.model} initial={state} path={path} fetchStarted={fetchStarted.current} />;
}

function TraceView({ model, initial, path, fetchStarted }: { model: TraceModel; initial: TraceState; path: PathLoad; fetchStarted: number }) {
  const [selected, setSelected] = useState(() => (initial.span ? (model.byId.get(initial.span) ?? -1) : -1));
  const [detailOpen, setDetailOpen] = useState(selected >= 0);
  const [collapsed, setCollapsed] = useState<ReadonlySet<number>>(() => {
    const set = new Set<number>();
    for (const id of initial.collapsed) {
      const i = model.byId.get(id);
      if (i !== undefined) set.add(i);
    }
    return selected >= 0 ? reveal(model, set, [selected]) : set;
  });
  const [find, setFind] = useState(initial.find);
  const [times, setTimes] = useState(initial.times);
  const [showPath, setShowPath] = useState(initial.criticalPath);
  const [zoom, setZoom] = useState(initial.zoom);

  const cp = useMemo(() => (path.status === 'done' ? mapCriticalPath(model, path.json) : undefined), [model, path]);
  const layout = useMemo(() => layoutSpans(model, times === 'corrected' && cp && cp.skew.length > 0 ? cp.shiftNs : undefined), [model, cp, times]);
  const rows = useMemo(() => visibleRows(model, collapsed), [model, collapsed]);
  const deferredFind = useDeferredValue(find);
  const matches = useMemo(() => findSpans(model, deferredFind), [model, deferredFind]);
  const matchSet = useMemo(() => new Set(matches), [matches]);

  // The view's state goes into the URL (replacing, not pushing) so the link always shows what is on screen.
  useEffect(() => {
    const collapsedIds: string[] = [];
    for (const i of collapsed) collapsedIds.push(model.spans[i].spanId);
    recordUrl(
      formatRoute({
        page: 'trace',
        state: { traceId: initial.traceId, span: selected >= 0 ? model.spans[selected].spanId : undefined, find, collapsed: collapsedIds, zoom, times, criticalPath: showPath },
      }),
    );
  }, [model, initial.traceId, selected, collapsed, find, zoom, times, showPath]);

  const select = (i: number, open = true) => {
    setSelected(i);
    if (open) setDetailOpen(true);
  };
  const toggle = (i: number) => {
    const next = new Set(collapsed);
    if (next.has(i)) next.delete(i);
    else next.add(i);
    setCollapsed(next);
  };
  const onNavigate = (key: NavKey | 'Enter' | 'Escape', pageRows: number) => {
    if (key === 'Enter') {
      if (selected >= 0) setDetailOpen((o) => !o);
      return;
    }
    if (key === 'Escape') {
      setDetailOpen(false);
      return;
    }
    const next = navigate(model, rows, { selected, collapsed }, key, pageRows);
    if (next.collapsed !== collapsed) setCollapsed(next.collapsed);
    setSelected(next.selected);
  };
  const jumpToMatch = (direction: 1 | -1) => {
    if (matches.length === 0) return;
    let k = matches.findIndex((m) => (direction > 0 ? m > selected : m >= selected));
    if (direction > 0) k = k < 0 ? 0 : k;
    else k = k <= 0 ? matches.length - 1 : k - 1;
    const target = matches[k];
    setCollapsed(reveal(model, collapsed, [target]));
    select(target);
  };
  const matchPosition = selected >= 0 ? matches.indexOf(selected) : -1;

  const root = model.spans[model.rootIndex];
  const biggestSkew = cp?.skew.reduce((a, b) => (Math.abs(b.shiftNs) > Math.abs(a.shiftNs) ? b : a), cp.skew[0]);

  return (
    <div className="trace-page" data-testid="trace-page">
      <section className="trace-header">
        <h1>
          <span className="service-chip" style={{ background: serviceColor(root.serviceIndex) }} />
          {root.service}: <span className="op">{root.name}</span>
        </h1>
        <div className="trace-meta">
          <span>
            Trace <code>{model.traceId}</code> <CopyButton text={model.traceId} label="trace id" />
          </span>
          <span>{formatTimestamp(nsStringToMs(model.startNs.toString()))}</span>
          <span>
            Duration <strong>{formatDuration(model.durationNs)}</strong>
          </span>
          <span>
            <strong>{model.spans.length.toLocaleString()}</strong> spans
          </span>
          <span>
            <strong>{model.services.length}</strong> service{model.services.length === 1 ? '' : 's'}
          </span>
          <span className={model.errorCount > 0 ? 'error-count' : ''}>
            <strong>{model.errorCount}</strong> error{model.errorCount === 1 ? '' : 's'}
          </span>
          {cp && (
            <span className="cp-legend" title="Time on the critical path: the chain of work the trace waited for">
              <span className="cp-swatch" /> critical path {formatDuration(cp.totalOnPathNs)}
            </span>
          )}
          {path.status === 'error' && <span className="muted">critical path unavailable ({path.message})</span>}
        </div>
        <div className="services-legend">
          {model.services.map((s, i) => (
            <span key={s} className="legend-item">
              <span className="service-chip" style={{ background: serviceColor(i) }} />
              {s}
            </span>
          ))}
        </div>
      </section>
      {cp && cp.skew.length > 0 && biggestSkew && (
        <div className="banner warn" role="status" data-testid="skew-warning">
          ⚠ Clock skew: {cp.skew.length} span{cp.skew.length === 1 ? '' : 's'} started outside their parent and {cp.skew.length === 1 ? 'was' : 'were'} shifted to fit (largest{' '}
          {formatDuration(Math.abs(biggestSkew.shiftNs))}, {model.spans[biggestSkew.span].service}
          {biggestSkew.parent >= 0 ? ` under ${model.spans[biggestSkew.parent].service}` : ''}).{' '}
          {times === 'corrected' ? 'Bars show corrected times.' : 'Bars show times as recorded.'}{' '}
          <button type="button" className="link" onClick={() => setTimes(times === 'corrected' ? 'raw' : 'corrected')}>
            {times === 'corrected' ? 'Show as recorded' : 'Show corrected'}
          </button>
        </div>
      )}
      <section className="trace-toolbar">
        <div className="find">
          <input
            type="search"
            placeholder="Find in trace (text, key=value)"
            aria-label="Find in trace"
            data-testid="find"
            value={find}
            onChange={(e) => setFind(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter') jumpToMatch(e.shiftKey ? -1 : 1);
            }}
          />
          {find && (
            <span className="muted small" data-testid="find-count">
              {matchPosition >= 0 ? `${matchPosition + 1} of ` : ''}
              {matches.length} match{matches.length === 1 ? '' : 'es'}
            </span>
          )}
          <button type="button" onClick={() => jumpToMatch(-1)} disabled={matches.length === 0} aria-label="Previous match">
            ↑
          </button>
          <button type="button" onClick={() => jumpToMatch(1)} disabled={matches.length === 0} aria-label="Next match">
            ↓
          </button>
        </div>
        <span className="spacer" />
        <label className="label">
          <input type="checkbox" checked={showPath} onChange={(e) => setShowPath(e.target.checked)} disabled={!cp} /> critical path
        </label>
        {zoom && (
          <button type="button" onClick={() => setZoom(undefined)} data-testid="reset-zoom">
            Reset zoom
          </button>
        )}
        <button type="button" onClick={() => setCollapsed(new Set())}>
          Expand all
        </button>
        <button type="button" onClick={() => setCollapsed(collapseToDepth(model, 1))}>
          Collapse to depth 1
        </button>
      </section>
      <Minimap model={model} layout={layout} zoom={zoom} onZoom={setZoom} />
      <div className={`trace-body${detailOpen && selected >= 0 ? ' with-detail' : ''}`}>
        <Waterfall
          model={model}
          rows={rows}
          layout={layout}
          zoom={zoom}
          cp={showPath ? cp : undefined}
          skewed={cp}
          selected={selected}
          collapsed={collapsed}
          matches={matchSet}
          onSelect={select}
          onToggle={toggle}
          onNavigate={onNavigate}
          onFirstRender={() => {
            const m = window.__sightlineTraceMetrics;
            if (m && m.firstRenderMs === undefined) {
              m.firstRenderMs = performance.now() - fetchStarted;
              m.sinceNavigationMs = performance.now();
            }
          }}
        />
        {detailOpen && selected >= 0 && (
          <SpanDetail model={model} index={selected} cp={cp} onClose={() => setDetailOpen(false)} onSelect={(i) => (setCollapsed(reveal(model, collapsed, [i])), select(i))} />
        )}
      </div>
    </div>
  );
}
