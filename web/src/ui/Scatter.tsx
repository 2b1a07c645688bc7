import { useEffect, useRef, useState } from 'react';
import { scatterLayout, formatMs, formatClock, formatTimestamp, type SearchRow } from '../model/index.js';
import { ChartAxes } from './common.js';

const HEIGHT = 170;
const PAD = { left: 56, right: 12, top: 10, bottom: 22 };

/**
 * Duration over time, one dot per trace. Click a dot to open its trace;
 * drag across the plot to search that time range.
 */
export function Scatter({
  rows,
  range,
  log,
  onOpen,
  onSelectRange,
}: {
  rows: SearchRow[];
  range: { startMs: number; endMs: number };
  log: boolean;
  onOpen(row: SearchRow): void;
  onSelectRange(startMs: number, endMs: number): void;
}) {
  const box = useRef<HTMLDivElement>(null);
  const width = useWidth(box);
  const plotW = Math.max(50, width - PAD.left - PAD.right);
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const layout = scatterLayout(rows, range, plotW, plotH, log);
  const [hover, setHover] = useState<SearchRow>();
  const [brush, setBrush] = useState<{ from: number; to: number }>();
  const step = layout.xTicks.length > 1 ? layout.xTicks[1].ms - layout.xTicks[0].ms : range.endMs - range.startMs;

  const xOf = (e: React.PointerEvent) => {
    const r = (e.currentTarget as SVGElement).getBoundingClientRect();
    return Math.max(0, Math.min(plotW, e.clientX - r.left - PAD.left));
  };

  return (
    <div className="scatter" ref={box} data-testid="scatter">
      <svg
        width={width}
        height={HEIGHT}
        role="img"
        aria-label="Trace duration over time"
        onPointerDown={(e) => {
          if ((e.target as Element).tagName === 'circle') return;
          const x = xOf(e);
          setBrush({ from: x, to: x });
          (e.currentTarget as SVGElement).setPointerCapture(e.pointerId);
        }}
        onPointerMove={(e) => brush && setBrush({ ...brush, to: xOf(e) })}
        onPointerUp={() => {
          if (brush && Math.abs(brush.to - brush.from) > 4) {
            const a = layout.timeAt(Math.min(brush.from, brush.to));
            const b = layout.timeAt(Math.max(brush.from, brush.to));
            onSelectRange(a, b);
          }
          setBrush(undefined);
        }}
      >
        <g transform={`translate(${PAD.left},${PAD.top})`}>
          <ChartAxes
            width={plotW}
            height={plotH}
            yTicks={layout.yTicks.map((t) => ({ y: t.y, label: formatMs(t.ms) }))}
            xTicks={layout.xTicks.map((t) => ({ x: t.x, label: formatClock(t.ms, step) }))}
          />
          <line className="axis" x1={0} x2={plotW} y1={plotH} y2={plotH} />
          {brush && <rect className="brush" x={Math.min(brush.from, brush.to)} y={0} width={Math.abs(brush.to - brush.from)} height={plotH} />}
          {layout.points.map((p) => (
            <circle
              key={p.row.traceId}
              cx={p.x}
              cy={p.y}
              r={hover === p.row ? 6 : 4.5}
              className={p.row.errorCount ? 'dot dot-error' : 'dot'}
              data-trace-id={p.row.traceId}
              onPointerEnter={() => setHover(p.row)}
              onPointerLeave={() => setHover(undefined)}
              onClick={() => onOpen(p.row)}
            >
              <title>
                {p.row.rootService}: {p.row.rootName} — {formatMs(p.row.durationMs)} at {formatTimestamp(p.row.startMs)}
              </title>
            </circle>
          ))}
        </g>
      </svg>
      <div className="scatter-hint muted small">{hover ? `${hover.rootService}: ${hover.rootName} — ${formatMs(hover.durationMs)}` : 'Click a dot to open its trace; drag to zoom into a time range.'}</div>
    </div>
  );
}

export function useWidth(ref: React.RefObject<HTMLElement | null>): number {
  const [width, setWidth] = useState(800);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    setWidth(el.clientWidth);
    const ro = new ResizeObserver(() => setWidth(el.clientWidth));
    ro.observe(el);
    return () => ro.disconnect();
  }, [ref]);
  return width;
}
