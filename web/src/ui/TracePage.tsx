import { useDeferredValue, useEffect, useMemo, useRef, useState } from 'react';
import {
  buildTrace,
  visibleRows,
  reveal,
  collapseToDepth,
  layoutSpans,
  recordedTimeline,
  correctedTimeline,
  traceTiming,
  parseCriticalPath,
  mapCriticalPath,
  pathRoles,
  pathContributors,
  rangeForTrace,
  findSpans,
  navigate,
  formatRoute,
  linkFrom,
  formatDuration,
  formatDurationExact,
  formatTimestamp,
  nsStringToMs,
  CRITICAL_SHARE,
  type TraceModel,
  type TraceState,
  type CriticalPathJson,
  type CriticalPathView,
  type PathRole,
  type Timeline,
  type TraceTiming,
  type NavKey,
  type TraceByIdJson,
} from '../model/index.js';
import { ApiError, getJson, isAbort } from './api.js';
import { recordUrl, Link } from './router.js';
import { CopyButton, EmptyState, ErrorState, Spinner, serviceColor } from './common.js';
import { Waterfall } from './Waterfall.js';
import { SpanDetail } from './SpanDetail.js';
import { TraceLogsLink, useTraceLogs } from './TraceLogs.js';
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
          No trace with id <code>{state.traceId}</code> is stored. It may be older than the retention, or not flushed yet. <Link href={linkFrom(state, { page: 'search' })}>Search</Link>
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
  const recorded = useMemo(() => recordedTimeline(model), [model]);
  // Corrected bars use the shifts the critical path was computed with, so its segments line up with them.
  const corrected = useMemo(() => correctedTimeline(model, cp?.ownShiftNs), [model, cp]);
  const timeline = times === 'corrected' ? corrected : recorded;
  const layout = useMemo(() => layoutSpans(model, timeline), [model, timeline]);
  const rows = useMemo(() => visibleRows(model, collapsed), [model, collapsed]);
  const deferredFind = useDeferredValue(find);
  const matches = useMemo(() => findSpans(model, deferredFind), [model, deferredFind]);
  const matchSet = useMemo(() => new Set(matches), [matches]);
  const roles = useMemo(() => (cp && showPath ? pathRoles(model, cp) : undefined), [model, cp, showPath]);
  const timing = useMemo(() => traceTiming(model), [model]);
  const linkRange = useMemo(() => rangeForTrace(model, initial.range, Date.now()), [model, initial.range]);
  const traceLogs = useTraceLogs(model.traceId);

  // The view's state goes into the URL (replacing, not pushing) so the link always shows what is on screen.
  useEffect(() => {
    const collapsedIds: string[] = [];
    for (const i of collapsed) collapsedIds.push(model.spans[i].spanId);
    recordUrl(
      formatRoute({
        page: 'trace',
        state: {
          traceId: initial.traceId,
          span: selected >= 0 ? model.spans[selected].spanId : undefined,
          find,
          collapsed: collapsedIds,
          zoom,
          times,
          criticalPath: showPath,
          ...(initial.range ? { range: initial.range } : {}),
        },
      }),
    );
  }, [model, initial.traceId, initial.range, selected, collapsed, find, zoom, times, showPath]);

  const select = (i: number, open = true) => {
    setSelected(i);
    if (open) setDetailOpen(true);
  };
  const selectAndReveal = (i: number) => {
    setCollapsed(reveal(model, collapsed, [i]));
    select(i);
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
    selectAndReveal(matches[k]);
  };
  const matchPosition = selected >= 0 ? matches.indexOf(selected) : -1;

  const root = model.spans[model.rootIndex];
  const biggestSkew = cp?.skew.reduce((a, b) => (Math.abs(b.shiftNs) > Math.abs(a.shiftNs) ? b : a), cp.skew[0]);
  const overruns = useMemo(() => {
    const out: number[] = [];
    for (let i = 0; i < model.spans.length; i++) if (corrected.overrunNs[i] > 0) out.push(i);
    return out.sort((a, b) => corrected.overrunNs[b] - corrected.overrunNs[a]);
  }, [model, corrected]);
  // Shifts and overruns under 1% of the trace are timing noise (start times cut to the ms, scheduling):
  // their rows keep their marks, but only bigger ones earn a banner.
  const notable = (ns: number) => Math.abs(ns) >= 0.01 * model.durationNs;
  const skewBanner = cp && cp.skew.length > 0 && biggestSkew && notable(biggestSkew.shiftNs);
  const overrunBanner = overruns.length > 0 && notable(corrected.overrunNs[overruns[0]]);
  const correctable = (cp && cp.skew.length > 0) || overruns.length > 0 || corrected.shiftNs.some((x) => x !== 0);

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
          <Durations timing={timing} model={model} />
          <span>
            <strong>{model.spans.length.toLocaleString()}</strong> spans
          </span>
          <span>
            <strong>{model.services.length}</strong> service{model.services.length === 1 ? '' : 's'}
          </span>
          <span className={model.errorCount > 0 ? 'error-count' : ''}>
            <strong>{model.errorCount}</strong> error{model.errorCount === 1 ? '' : 's'}
          </span>
          <TraceLogsLink traceId={model.traceId} logs={traceLogs} origin={{ range: linkRange }} />
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
      {cp && showPath && roles && <PathSummary model={model} cp={cp} roles={roles} selected={selected} onSelect={selectAndReveal} />}
      {skewBanner && biggestSkew && (
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
      {overrunBanner && (
        <div className="banner warn" role="status" data-testid="overrun-warning">
          ⇥ {overruns.length === 1 ? 'A span runs' : `${overruns.length} spans run`} longer than the call {overruns.length === 1 ? 'it answers' : 'they answer'} (largest: {model.spans[overruns[0]].service}{' '}
          <em>{model.spans[overruns[0]].name}</em>, {formatDuration(model.spans[overruns[0]].durationNs)} in a {formatDuration(model.spans[model.spans[overruns[0]].parent].durationNs)} call). No clock offset
          explains that: the server likely ended its span after replying.{' '}
          {times === 'corrected' ? 'Corrected bars start with the call and are cut at its end.' : 'Bars show times as recorded.'}{' '}
          {!skewBanner && (
            <button type="button" className="link" onClick={() => setTimes(times === 'corrected' ? 'raw' : 'corrected')}>
              {times === 'corrected' ? 'Show as recorded' : 'Show corrected'}
            </button>
          )}
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
        {correctable && (
          <span className="times-toggle" role="group" aria-label="Bar times" title="Corrected: spans on another host's clock are moved to fit inside the call they answer, and cut at its end when longer. As recorded: the timestamps as sent.">
            <button type="button" className={times === 'corrected' ? 'chip active' : 'chip'} aria-pressed={times === 'corrected'} onClick={() => setTimes('corrected')} data-testid="times-corrected">
              corrected
            </button>
            <button type="button" className={times === 'raw' ? 'chip active' : 'chip'} aria-pressed={times === 'raw'} onClick={() => setTimes('raw')} data-testid="times-raw">
              as recorded
            </button>
          </span>
        )}
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
      <MarksLegend model={model} timeline={corrected} roles={roles} logs={traceLogs.status === 'done' && traceLogs.total > 0} />
      <Minimap model={model} layout={layout} zoom={zoom} onZoom={setZoom} roles={roles} />
      <div className={`trace-body${detailOpen && selected >= 0 ? ' with-detail' : ''}`}>
        <Waterfall
          model={model}
          rows={rows}
          layout={layout}
          timeline={corrected}
          zoom={zoom}
          cp={showPath ? cp : undefined}
          roles={roles}
          selected={selected}
          collapsed={collapsed}
          matches={matchSet}
          onSelect={select}
          onToggle={toggle}
          logs={traceLogs.status === 'done' ? traceLogs.bySpan : undefined}
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
          <SpanDetail
            model={model}
            index={selected}
            cp={cp}
            role={roles?.[selected]}
            timeline={corrected}
            linkRange={linkRange}
            onClose={() => setDetailOpen(false)}
            onSelect={selectAndReveal}
            logs={traceLogs.status === 'done' ? traceLogs.bySpan.get(model.spans[selected].spanId) : undefined}
          />
        )}
      </div>
    </div>
  );
}

/**
 * The trace's duration (the one search lists: first start to last end)
 * and, where it differs, the root span's, with what makes the difference.
 */
function Durations({ timing, model }: { timing: TraceTiming; model: TraceModel }) {
  const traceText = formatDuration(timing.durationNs);
  const rootText = formatDuration(timing.rootNs);
  const differs = timing.root >= 0 && rootText !== traceText;
  const why: string[] = [];
  if (timing.beforeRootNs > 0) why.push(`starts ${formatDuration(timing.beforeRootNs)} before the root span`);
  if (timing.afterRootNs > 0) why.push(`ends ${formatDuration(timing.afterRootNs)} after it`);
  const outside = timing.outside.length;
  return (
    <>
      <span
        data-testid="trace-duration"
        data-ns={timing.durationNs}
        title={`${formatDurationExact(timing.durationNs)} from the first span's start to the last span's end. Search lists the same duration, in whole milliseconds.`}
      >
        Duration <strong>{traceText}</strong>
      </span>
      {differs && (
        <span
          data-testid="root-duration"
          data-ns={timing.rootNs}
          className="root-duration"
          title={`The root span${timing.root >= 0 ? ` (${model.spans[timing.root].name})` : ''} lasts ${formatDurationExact(timing.rootNs)}. The trace ${why.join(' and ')}: ${outside} span${outside === 1 ? '' : 's'} lie${outside === 1 ? 's' : ''} outside the root's time (async work, or a server that ended its span after replying).`}
        >
          root span <strong>{rootText}</strong> <span className="muted">ⓘ</span>
        </span>
      )}
    </>
  );
}

function formatShare(share: number): string {
  if (share >= 0.995) return '100%';
  if (share < 0.01) return '<1%';
  return `${Math.round(share * 100)}%`;
}

/** Where the critical path's time went, by operation: the first thing to read on a slow trace. */
function PathSummary({ model, cp, roles, selected, onSelect }: { model: TraceModel; cp: CriticalPathView; roles: PathRole[]; selected: number; onSelect(i: number): void }) {
  const { top, rest } = useMemo(() => pathContributors(model, cp, roles), [model, cp, roles]);
  if (top.length === 0) return null;
  return (
    <section className="path-summary" data-testid="path-summary" aria-label="Critical path summary">
      <div className="path-summary-head">
        <span className="cp-swatch" /> <strong>Critical path {formatDuration(cp.totalOnPathNs)}</strong>
        <span className="muted">
          {' '}
          the chain of work the root span waited for; where its time went:
        </span>
      </div>
      <ol className="path-contributors">
        {top.map((g) => (
          <li key={`${g.service}\u0000${g.name}`}>
            <button
              type="button"
              className={`path-contributor${g.spans.includes(selected) ? ' selected' : ''}`}
              data-testid="path-contributor"
              data-service={g.service}
              data-operation={g.name}
              data-onpath-ns={g.onPathNs}
              title={`${g.service}: ${g.name}. ${g.spans.length === 1 ? 'Its own time' : `The own time of its ${g.spans.length} spans`} on the critical path (not its children's). Click to select ${g.spans.length === 1 ? 'it' : 'the one holding most'}.`}
              onClick={() => onSelect(g.spans[0])}
            >
              <span className="pc-share-bar" aria-hidden>
                <span style={{ width: `${Math.min(100, g.share * 100)}%` }} />
              </span>
              <span className="pc-share">{formatShare(g.share)}</span>
              <span className="pc-time">{formatDuration(g.onPathNs)}</span>
              <span className="service-chip" style={{ background: serviceColor(model.spans[g.spans[0]].serviceIndex) }} />
              <span className="pc-service">{g.service}</span>
              <span className="pc-op">{g.name}</span>
              {g.spans.length > 1 && <span className="pc-count">×{g.spans.length}</span>}
            </button>
          </li>
        ))}
      </ol>
      {rest.operations > 0 && (
        <div className="muted small">
          and {rest.operations} other operation{rest.operations === 1 ? '' : 's'}: {formatDuration(rest.onPathNs)}, {formatShare(rest.share)}
        </div>
      )}
    </section>
  );
}

/** What the marks and shades on rows mean: only those this trace has. */
function MarksLegend({ model, timeline, roles, logs }: { model: TraceModel; timeline: Timeline; roles: PathRole[] | undefined; logs: boolean }) {
  const has = useMemo(() => {
    const h = { error: false, skew: false, overrun: false, orphan: false, exception: false, event: false };
    for (const s of model.spans) {
      if (s.status === 'error') h.error = true;
      if (s.orphan) h.orphan = true;
      if (timeline.ownShiftNs[s.index] !== 0) h.skew = true;
      if (timeline.overrunNs[s.index] > 0) h.overrun = true;
      for (const e of s.events) {
        if (e.name === 'exception' || e.attributes.some((a) => a.key === 'exception.type' || a.key === 'exception.message')) h.exception = true;
        else h.event = true;
      }
    }
    return h;
  }, [model, timeline]);
  const anyOff = roles?.some((r) => r === 'off');
  return (
    <div className="marks-legend" data-testid="marks-legend">
      {roles && (
        <>
          <span title={`On the critical path, and its operation holds at least ${CRITICAL_SHARE * 100}% of the path in its own time: making it faster would make the trace faster.`}>
            <span className="lg-critical" /> critical
          </span>
          <span title="On the path, holding little of its time itself (its children do the work).">
            <span className="lg-through" /> on the path
          </span>
          {anyOff && (
            <span title="Not on the critical path: it ran alongside work the trace waited for.">
              <span className="lg-off" /> off the path (dimmed)
            </span>
          )}
        </>
      )}
      {has.error && (
        <span title="The span's status is error">
          <span className="error-mark">!</span> error
        </span>
      )}
      {has.skew && (
        <span title="Clock skew: the span started or ended outside the call it answers, on another host's clock, and was shifted to fit (its same-service children moved with it)">
          <span className="skew-mark">⚠</span> shifted for clock skew
        </span>
      )}
      {has.overrun && (
        <span title="The span runs longer than the call it answers, which no clock offset explains; corrected bars are cut at the call's end">
          <span className="overrun-mark">⇥</span> longer than its caller
        </span>
      )}
      {has.orphan && (
        <span title="The span's parent is not in the trace (not received, or lost)">
          <span className="orphan-mark">⤒</span> parent missing
        </span>
      )}
      {has.exception && (
        <span title="An exception event, at the time it was recorded; hover it for the message">
          <span className="lg-exception" /> exception
        </span>
      )}
      {has.event && (
        <span title="An event, at the time it was recorded; hover it for its name and attributes">
          <span className="lg-event" /> event
        </span>
      )}
      {logs && (
        <span title="A log record written inside the span, under its bar at its time (yellow a warning, red an error); hover it for the message, or select the span for its records">
          <span className="wf-log sev-warn" /> log record
        </span>
      )}
    </div>
  );
}
