import { memo, useEffect, useLayoutEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import {
  windowRows,
  rowPosition,
  scrollToRow,
  segmentFractions,
  durationTicks,
  formatDuration,
  type TraceModel,
  type Layout,
  type CriticalPathView,
  type NavKey,
} from '../model/index.js';
import { ticksBetween } from '../model/format.js';
import { serviceColor } from './common.js';

export const ROW_HEIGHT = 26;
const INDENT = 14;
const MAX_INDENT_DEPTH = 24;
const NAV_KEYS = new Set(['ArrowUp', 'ArrowDown', 'ArrowLeft', 'ArrowRight', 'Home', 'End', 'PageUp', 'PageDown', 'Enter', 'Escape']);

interface Props {
  model: TraceModel;
  /** Visible rows (span indices), from visibleRows. */
  rows: Int32Array;
  layout: Layout;
  /** The part of the trace shown, as fractions of it; undefined for all. */
  zoom: [number, number] | undefined;
  /** The critical path to highlight, when shown. */
  cp: CriticalPathView | undefined;
  /** The critical-path answer for skew marks, shown even when the path is hidden. */
  skewed: CriticalPathView | undefined;
  selected: number;
  collapsed: ReadonlySet<number>;
  matches: ReadonlySet<number>;
  onSelect(index: number): void;
  onToggle(index: number): void;
  onNavigate(key: NavKey | 'Enter' | 'Escape', pageRows: number): void;
  onFirstRender(): void;
}

/**
 * The waterfall: a name column and a timeline, one row per visible span.
 * Only the rows in the viewport (plus a little overscan) are in the DOM, and
 * a row's geometry comes from the precomputed layout (fractions of the
 * trace), so scrolling costs O(rows on screen), whatever the trace's size.
 */
export function Waterfall(props: Props) {
  const { model, rows, layout, zoom, cp, skewed, selected, collapsed, matches } = props;
  const [zoomFrom, zoomTo] = zoom ?? [0, 1];
  const zoomSpan = zoomTo - zoomFrom;
  const scroller = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewport, setViewport] = useState(600);

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    // The grid overlay sits outside the scroller; it needs the scrollbar's width to line up with the rows.
    const measure = () => {
      setViewport(el.clientHeight);
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
  const skewShift = skewed && skewed.skew.length > 0 ? skewed : undefined;

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    if (!NAV_KEYS.has(e.key)) return;
    e.preventDefault();
    props.onNavigate(e.key as NavKey | 'Enter' | 'Escape', Math.max(1, Math.floor(viewport / ROW_HEIGHT) - 1));
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
        cp={cp}
        skewNs={skewShift ? skewShift.shiftNs[i] : 0}
        selected={i === selected}
        collapsed={collapsed.has(i)}
        match={matches.has(i)}
        onSelect={props.onSelect}
        onToggle={props.onToggle}
      />,
    );
  }

  return (
    <div className="waterfall" data-testid="waterfall">
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
  cp: CriticalPathView | undefined;
  skewNs: number;
  selected: boolean;
  collapsed: boolean;
  match: boolean;
  onSelect(i: number): void;
  onToggle(i: number): void;
}

/** One span row; memoized so a scroll re-renders only rows that enter the window. */
const Row = memo(function Row({ model, index, top, left, width, cp, skewNs, selected, collapsed, match, onSelect, onToggle }: RowProps) {
  const s = model.spans[index];
  const onPath = cp !== undefined && cp.onPathNs[index] > 0;
  const color = serviceColor(s.serviceIndex);
  const indent = Math.min(s.depth, MAX_INDENT_DEPTH) * INDENT;
  // The duration label goes after the bar, else before it, else (a bar across most of the trace) inside it.
  const labelPlace = left + width < 0.75 ? 'after' : left > 0.3 ? 'before' : 'inside';
  const segments = onPath ? segmentFractions(cp, model, index) : [];
  const self = cp ? cp.selfTimeNs[index] : NaN;
  const classes = ['wf-row'];
  if (selected) classes.push('selected');
  if (onPath) classes.push('on-path');
  if (s.status === 'error') classes.push('error');
  if (match) classes.push('match');
  return (
    <div
      className={classes.join(' ')}
      id={`span-${index}`}
      role="treeitem"
      aria-selected={selected}
      aria-expanded={s.childCount > 0 ? !collapsed : undefined}
      aria-level={s.depth + 1}
      data-span-id={s.spanId}
      data-critical={onPath ? 'true' : undefined}
      data-error={s.status === 'error' ? 'true' : undefined}
      data-match={match ? 'true' : undefined}
      style={{ transform: `translateY(${top}px)` }}
      onClick={() => onSelect(index)}
    >
      <div className="wf-name" style={{ paddingLeft: 6 + indent }}>
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
        <span className="wf-service">{s.service}</span>
        <span className="wf-op" title={s.name}>
          {s.name}
        </span>
        {collapsed && <span className="wf-hidden-count">+{s.subtreeEnd - index - 1}</span>}
        {s.status === 'error' && (
          <span className="error-mark" title={s.statusMessage || 'error'}>
            !
          </span>
        )}
        {skewNs !== 0 && (
          <span className="skew-mark" title={`Clock skew: shifted by ${formatDuration(skewNs)} to fit its parent`}>
            ⚠
          </span>
        )}
        {s.orphan && (
          <span className="orphan-mark" title={`Parent ${s.parentSpanId} is not in the trace`}>
            ⤒
          </span>
        )}
      </div>
      <div className="wf-timeline">
        <div className="wf-bar" style={{ left: `${left * 100}%`, width: `max(2px, ${width * 100}%)`, background: color }}>
          {segments.map(([a, b], k) => (
            <span key={k} className="wf-path" style={{ left: `${a * 100}%`, width: `max(2px, ${(b - a) * 100}%)` }} />
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
          {onPath && Number.isFinite(self) && <span className="muted"> · self {formatDuration(self)}</span>}
        </span>
      </div>
    </div>
  );
});
