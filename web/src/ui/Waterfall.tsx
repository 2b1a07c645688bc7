import { memo, useEffect, useLayoutEffect, useMemo, useRef, useState, type KeyboardEvent, type PointerEvent } from 'react';
import {
  windowRows,
  rowPosition,
  scrollToRow,
  segmentFractions,
  drawnFractions,
  barEvents,
  barLogs,
  type LogRow,
  durationTicks,
  formatDuration,
  nameColumnWidth,
  nameColumnKey,
  NAME_COLUMN_MIN,
  type TraceModel,
  type Layout,
  type Timeline,
  type CriticalPathView,
  type PathRole,
  type NavKey,
} from '../model/index.js';
import { ticksBetween } from '../model/format.js';
import { serviceColor } from './common.js';

export const ROW_HEIGHT = 26;
const INDENT = 14;
const MAX_INDENT_DEPTH = 24;
const NAV_KEYS = new Set(['ArrowUp', 'ArrowDown', 'ArrowLeft', 'ArrowRight', 'Home', 'End', 'PageUp', 'PageDown', 'Enter', 'Escape']);
/** Where the name column's width is kept between visits (per browser). */
const NAME_COLUMN_KEY = 'sightline.trace.nameColumn';

interface Props {
  model: TraceModel;
  /** Visible rows (span indices), from visibleRows. */
  rows: Int32Array;
  layout: Layout;
  /** The corrected timeline: the marks (skew, overrun) whichever way bars are drawn. */
  timeline: Timeline;
  /** The part of the trace shown, as fractions of it; undefined for all. */
  zoom: [number, number] | undefined;
  /** The critical path to highlight, when shown. */
  cp: CriticalPathView | undefined;
  /** Each span's role on the path, when it is shown. */
  roles: PathRole[] | undefined;
  selected: number;
  collapsed: ReadonlySet<number>;
  matches: ReadonlySet<number>;
  onSelect(index: number): void;
  onToggle(index: number): void;
  onNavigate(key: NavKey | 'Enter' | 'Escape', pageRows: number): void;
  onFirstRender(): void;
  /** The trace's log records by span id, drawn as marks on their spans' bars. */
  logs?: ReadonlyMap<string, LogRow[]>;
}

function readSavedWidth(): number | undefined {
  try {
    const v = Number(window.localStorage.getItem(NAME_COLUMN_KEY));
    return v > 0 ? v : undefined;
  } catch {
    return undefined;
  }
}

function saveWidth(px: number | undefined): void {
  try {
    if (px === undefined) window.localStorage.removeItem(NAME_COLUMN_KEY);
    else window.localStorage.setItem(NAME_COLUMN_KEY, String(Math.round(px)));
  } catch {
    // Storage can be off (private windows); the width then lasts for the page.
  }
}

/**
 * The waterfall: a name column and a timeline, one row per visible span.
 * Only the rows in the viewport (plus a little overscan) are in the DOM, and
 * a row's geometry comes from the precomputed layout (fractions of the
 * trace), so scrolling costs O(rows on screen), whatever the trace's size.
 */
export function Waterfall(props: Props) {
  const { model, rows, layout, timeline, zoom, cp, roles, selected, collapsed, matches } = props;
  const [zoomFrom, zoomTo] = zoom ?? [0, 1];
  const zoomSpan = zoomTo - zoomFrom;
  const box = useRef<HTMLDivElement>(null);
  const scroller = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewport, setViewport] = useState(600);
  const [total, setTotal] = useState(1000);
  const [asked, setAsked] = useState<number | undefined>(readSavedWidth);
  const nameCol = nameColumnWidth(asked, total);

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    // The grid overlay sits outside the scroller; it needs the scrollbar's width to line up with the rows.
    const measure = () => {
      setViewport(el.clientHeight);
      setTotal(el.clientWidth);
      el.parentElement?.style.setProperty('--gutter', `${el.offsetWidth - el.clientWidth}px`);
    };
    measure();
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  // Keep the selection on screen when it moves by keyboard or find.
  useEffect(() => {
    const el = scroller.current;
    if (!el || selected < 0) return;
    const pos = rowPosition(rows, selected);
    if (pos < 0) return;
    const top = scrollToRow(pos, el.scrollTop, el.clientHeight - ROW_HEIGHT, ROW_HEIGHT);
    if (top !== undefined) el.scrollTop = top;
  }, [selected, rows]);

  const firstRendered = useRef(false);
  useEffect(() => {
    if (firstRendered.current) return;
    firstRendered.current = true;
    requestAnimationFrame(() => props.onFirstRender());
  });

  const { first, last } = windowRows(scrollTop, viewport, ROW_HEIGHT, rows.length);
  // Ticks in ns from the trace's start, placed as fractions of the zoomed window.
  const ticks = useMemo(() => {
    const fromNs = zoomFrom * layout.spanNs;
    const windowNs = zoomSpan * layout.spanNs;
    return (zoom ? ticksBetween(fromNs, fromNs + windowNs, 6) : durationTicks(layout.spanNs, 6)).map((ns) => ({ ns, at: (ns - fromNs) / windowNs }));
  }, [layout, zoom, zoomFrom, zoomSpan]);

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    if (!NAV_KEYS.has(e.key)) return;
    e.preventDefault();
    props.onNavigate(e.key as NavKey | 'Enter' | 'Escape', Math.max(1, Math.floor(viewport / ROW_HEIGHT) - 1));
  };

  // Dragging the column edge: widths follow the pointer, and are saved when it is let go.
  const drag = useRef<{ x: number; width: number } | undefined>(undefined);
  const onResizeDown = (e: PointerEvent<HTMLDivElement>) => {
    drag.current = { x: e.clientX, width: nameCol };
    e.currentTarget.setPointerCapture(e.pointerId);
    e.preventDefault();
  };
  const onResizeMove = (e: PointerEvent<HTMLDivElement>) => {
    if (drag.current) setAsked(nameColumnWidth(drag.current.width + e.clientX - drag.current.x, total));
  };
  const onResizeUp = () => {
    if (!drag.current) return;
    drag.current = undefined;
    saveWidth(nameCol);
  };
  const onResizeKey = (e: KeyboardEvent<HTMLDivElement>) => {
    const next = nameColumnKey(e.key, e.shiftKey, nameCol, total);
    if (next === undefined) return;
    e.preventDefault();
    setAsked(next);
    saveWidth(next);
  };

  const rendered = [];
  for (let pos = first; pos < last; pos++) {
    const i = rows[pos];
    rendered.push(
      <Row
        key={i}
        model={model}
        index={i}
        top={pos * ROW_HEIGHT}
        left={(layout.left[i] - zoomFrom) / zoomSpan}
        width={layout.width[i] / zoomSpan}
        drawnNs={layout.drawnNs[i]}
        cp={cp}
        role={roles?.[i]}
        ownShiftNs={timeline.ownShiftNs[i]}
        overrunNs={timeline.overrunNs[i]}
        selected={i === selected}
        collapsed={collapsed.has(i)}
        match={matches.has(i)}
        logs={props.logs?.get(model.spans[i].spanId)}
        onSelect={props.onSelect}
        onToggle={props.onToggle}
      />,
    );
  }

  return (
    <div className="waterfall" data-testid="waterfall" ref={box} style={{ ['--name-col' as string]: `${nameCol}px` }}>
      <div className="wf-head">
        <div className="wf-name">Service &amp; operation</div>
        <div className="wf-timeline">
          {ticks.map((t) => (
            <span key={t.ns} className="wf-tick" style={{ left: `${t.at * 100}%` }}>
              {formatDuration(t.ns)}
            </span>
          ))}
        </div>
      </div>
      <div
        className="wf-resize"
        role="separator"
        aria-orientation="vertical"
        aria-label="Width of the name column"
        aria-valuenow={nameCol}
        aria-valuemin={NAME_COLUMN_MIN}
        aria-valuemax={nameColumnWidth(Infinity, total)}
        tabIndex={0}
        title="Drag (or focus and press ←/→) to resize the name column; double-click for the default"
        data-testid="name-resizer"
        onPointerDown={onResizeDown}
        onPointerMove={onResizeMove}
        onPointerUp={onResizeUp}
        onPointerCancel={onResizeUp}
        onKeyDown={onResizeKey}
        onDoubleClick={() => {
          setAsked(undefined);
          saveWidth(undefined);
        }}
      />
      <div className="wf-grid" aria-hidden>
        {ticks.map((t) => (
          <span key={t.ns} className="wf-gridline" style={{ left: `${t.at * 100}%` }} />
        ))}
      </div>
      <div
        className="wf-scroll"
        ref={scroller}
        tabIndex={0}
        role="tree"
        aria-label="Spans"
        aria-activedescendant={selected >= 0 ? `span-${selected}` : undefined}
        onKeyDown={onKeyDown}
        onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
      >
        <div className="wf-canvas" style={{ height: rows.length * ROW_HEIGHT }}>
          {rendered}
        </div>
      </div>
    </div>
  );
}

interface RowProps {
  model: TraceModel;
  index: number;
  top: number;
  left: number;
  width: number;
  /** The bar's length as drawn, ns (shorter than the span where it was cut at its caller's end). */
  drawnNs: number;
  cp: CriticalPathView | undefined;
  role: PathRole | undefined;
  ownShiftNs: number;
  overrunNs: number;
  selected: boolean;
  collapsed: boolean;
  match: boolean;
  /** The span's log records, if any. */
  logs: LogRow[] | undefined;
  onSelect(i: number): void;
  onToggle(i: number): void;
}

function pct(x: number): string {
  return `${Math.max(0, Math.min(100, x * 100))}%`;
}

/** One span row; memoized so a scroll re-renders only rows that enter the window. */
const Row = memo(function Row({ model, index, top, left, width, drawnNs, cp, role, ownShiftNs, overrunNs, selected, collapsed, match, logs, onSelect, onToggle }: RowProps) {
  const s = model.spans[index];
  const critical = role === 'critical';
  const off = role === 'off';
  const color = serviceColor(s.serviceIndex);
  const indent = Math.min(s.depth, MAX_INDENT_DEPTH) * INDENT;
  // The duration label goes after the bar, else before it, else (a bar across most of the trace) inside it.
  const labelPlace = left + width < 0.75 ? 'after' : left > 0.3 ? 'before' : 'inside';
  const segments = cp && !off && cp.onPathNs[index] > 0 ? drawnFractions(segmentFractions(cp, model, index), s.durationNs, drawnNs) : [];
  const onPathNs = cp ? cp.onPathNs[index] : 0;
  const share = cp && cp.totalOnPathNs > 0 ? onPathNs / cp.totalOnPathNs : 0;
  const events = useMemo(() => barEvents(s), [s]);
  const logMarks = useMemo(() => barLogs(s.startNs, logs), [s, logs]);
  const classes = ['wf-row'];
  if (selected) classes.push('selected');
  if (critical) classes.push('on-path');
  if (off) classes.push('off-path');
  if (s.status === 'error') classes.push('error');
  if (match) classes.push('match');
  const parent = s.parent >= 0 ? model.spans[s.parent] : undefined;
  return (
    <div
      className={classes.join(' ')}
      id={`span-${index}`}
      role="treeitem"
      aria-selected={selected}
      aria-expanded={s.childCount > 0 ? !collapsed : undefined}
      aria-level={s.depth + 1}
      data-span-id={s.spanId}
      data-critical={critical ? 'true' : undefined}
      data-path-role={role}
      data-dimmed={off ? 'true' : undefined}
      data-error={s.status === 'error' ? 'true' : undefined}
      data-match={match ? 'true' : undefined}
      style={{ transform: `translateY(${top}px)` }}
      onClick={() => onSelect(index)}
    >
      <div className="wf-name" style={{ paddingLeft: 6 + indent }} title={`${s.service}: ${s.name}`}>
        {s.childCount > 0 ? (
          <button
            type="button"
            className="wf-toggle"
            aria-label={collapsed ? 'Expand' : 'Collapse'}
            tabIndex={-1}
            onClick={(e) => {
              e.stopPropagation();
              onToggle(index);
            }}
          >
            {collapsed ? '▸' : '▾'}
          </button>
        ) : (
          <span className="wf-toggle-space" />
        )}
        {s.depth > MAX_INDENT_DEPTH && <span className="depth-badge" title={`depth ${s.depth}`}>{s.depth}</span>}
        <span className="service-chip" style={{ background: color }} />
        {/* The service is named where it changes; below that, its colour says it, and the name column keeps room for operations. */}
        {(!parent || parent.service !== s.service) && <span className="wf-service">{s.service}</span>}
        <span className="wf-op">{s.name}</span>
        {collapsed && <span className="wf-hidden-count">+{s.subtreeEnd - index - 1}</span>}
        {s.status === 'error' && (
          <span className="error-mark" title={`Error${s.statusMessage ? `: ${s.statusMessage}` : ''}`}>
            !
          </span>
        )}
        {ownShiftNs !== 0 && (
          <span className="skew-mark" data-mark="skew" title={`Clock skew: on another host's clock, this span did not fit inside ${parent ? `its caller (${parent.service})` : 'its parent'}; corrected times shift it by ${formatDuration(ownShiftNs)} (its same-service children move with it)`}>
            ⚠
          </span>
        )}
        {overrunNs > 0 && parent && (
          <span
            className="overrun-mark"
            data-mark="overrun"
            title={`Longer than its caller: ${formatDuration(s.durationNs)} inside a ${formatDuration(parent.durationNs)} ${parent.service} span (${formatDuration(overrunNs)} more). No clock offset explains that; the server likely ended its span after replying. Corrected bars are cut at the caller's end.`}
          >
            ⇥
          </span>
        )}
        {s.orphan && (
          <span className="orphan-mark" title={`Parent ${s.parentSpanId} is not in the trace`}>
            ⤒
          </span>
        )}
      </div>
      <div className="wf-timeline">
        <div className={`wf-bar${drawnNs < s.durationNs ? ' cut' : ''}`} style={{ left: pct(left), width: `max(2px, ${width * 100}%)`, background: color }}>
          {segments.map(([a, b], k) => (
            <span key={k} className="wf-path" style={{ left: pct(a), width: `max(2px, ${(b - a) * 100}%)` }} />
          ))}
          {events.map((e) => (
            <span
              key={e.event}
              className={`wf-event${e.exception ? ' exception' : ''}`}
              data-event={e.exception ? 'exception' : 'event'}
              data-offset-ns={e.offsetNs}
              style={{ left: pct(drawnNs > 0 ? e.offsetNs / drawnNs : 0) }}
              title={`${e.name || 'event'} at +${formatDuration(e.offsetNs)} into the span${e.message ? `\n${e.message}` : ''}`}
            />
          ))}
          {logMarks.map((l) => (
            <span
              key={l.id}
              className={`wf-log sev-${l.severity}`}
              data-log={l.severity}
              data-offset-ns={l.offsetNs}
              style={{ left: pct(drawnNs > 0 ? l.offsetNs / drawnNs : 0) }}
              title={`log at +${formatDuration(l.offsetNs)} into the span: ${l.title}`}
            />
          ))}
        </div>
        <span
          className={`wf-label wf-label-${labelPlace}`}
          style={
            labelPlace === 'after'
              ? { left: `calc(${(left + width) * 100}% + 4px)` }
              : labelPlace === 'before'
                ? { right: `calc(${(1 - left) * 100}% + 4px)` }
                : { left: `calc(${Math.max(left, 0) * 100}% + 6px)` }
          }
        >
          {formatDuration(s.durationNs)}
          {critical && (
            <span className="wf-share">
              {' '}
              · {formatDuration(onPathNs)} on path ({share >= 0.995 ? '100' : Math.max(1, Math.round(share * 100))}%)
            </span>
          )}
        </span>
      </div>
    </div>
  );
});
