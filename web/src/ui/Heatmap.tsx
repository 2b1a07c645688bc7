import { useRef, useState } from 'react';
import { heatmapLayout, formatDuration, formatClock, formatTimestamp, rowLowerNs, rowUpperNs, type HeatmapBand, type HeatmapCellView, type HeatmapJson } from '../model/index.js';
import { ChartAxes } from './common.js';
import { useWidth } from './Scatter.js';

const HEIGHT = 190;
const PAD = { left: 64, right: 12, top: 10, bottom: 34 };

/**
 * Every matching trace of the range, counted by start time (x) and
 * duration (y, log-spaced rows); darker cells hold more traces. Drag a
 * region to compare its traces with the rest; click a cell to list its traces.
 */
export function Heatmap({ map, onBand, onCell }: { map: HeatmapJson; onBand(band: HeatmapBand): void; onCell(band: HeatmapBand): void }) {
  const box = useRef<HTMLDivElement>(null);
  const width = useWidth(box);
  const plotW = Math.max(50, width - PAD.left - PAD.right);
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const layout = heatmapLayout(map, plotW, plotH);
  const [hover, setHover] = useState<HeatmapCellView>();
  const [brush, setBrush] = useState<{ x0: number; y0: number; x1: number; y1: number }>();
  const step = layout.xTicks.length > 1 ? layout.xTicks[1].ms - layout.xTicks[0].ms : map.endMs - map.startMs;

  const at = (e: React.PointerEvent) => {
    const r = (e.currentTarget as SVGElement).getBoundingClientRect();
    return { x: Math.max(0, Math.min(plotW, e.clientX - r.left - PAD.left)), y: Math.max(0, Math.min(plotH, e.clientY - r.top - PAD.top)) };
  };
  const bandText = (b: HeatmapBand) =>
    `${b.traces.toLocaleString('en-US')} trace${b.traces === 1 ? '' : 's'}, ${durationBand(b.minNs, b.maxNs)}, ${formatClock(b.startMs, step)}–${formatClock(b.endMs, step)}`;
  const live = brush && layout.band(brush.x0, brush.y0, brush.x1, brush.y1);

  return (
    <div className="heatmap" ref={box} data-testid="heatmap" data-total={layout.total}>
      <svg
        width={width}
        height={HEIGHT}
        role="img"
        aria-label="Traces by start time and duration"
        onPointerDown={(e) => {
          const p = at(e);
          setBrush({ x0: p.x, y0: p.y, x1: p.x, y1: p.y });
          (e.currentTarget as SVGElement).setPointerCapture(e.pointerId);
        }}
        onPointerMove={(e) => {
          const p = at(e);
          if (brush) setBrush({ ...brush, x1: p.x, y1: p.y });
          else setHover(layout.cellAt(p.x, p.y));
        }}
        onPointerLeave={() => setHover(undefined)}
        onPointerUp={() => {
          if (!brush) return;
          setBrush(undefined);
          const dragged = Math.abs(brush.x1 - brush.x0) > 4 || Math.abs(brush.y1 - brush.y0) > 4;
          if (dragged) onBand(layout.band(brush.x0, brush.y0, brush.x1, brush.y1));
          else if (layout.cellAt(brush.x0, brush.y0)) onCell(layout.band(brush.x0, brush.y0, brush.x0, brush.y0));
        }}
      >
        <g transform={`translate(${PAD.left},${PAD.top})`}>
          <ChartAxes
            width={plotW}
            height={plotH}
            yTicks={layout.yTicks.map((t) => ({ y: t.y, label: formatDuration(t.ns) }))}
            xTicks={layout.xTicks.map((t) => ({ x: t.x, label: formatClock(t.ms, step) }))}
          />
          <line className="axis" x1={0} x2={plotW} y1={plotH} y2={plotH} />
          {layout.cells.map((c) => (
            <rect
              key={`${c.column}/${c.row}`}
              className={hover === c ? 'cell hover' : 'cell'}
              x={c.x}
              y={c.y}
              width={c.width}
              height={c.height}
              style={{ fillOpacity: 0.15 + 0.85 * c.level }}
              data-column={c.column}
              data-row={c.row}
              data-traces={c.traces}
            />
          ))}
          {live && <rect className="brush" x={Math.min(brush.x0, brush.x1)} y={Math.min(brush.y0, brush.y1)} width={Math.abs(brush.x1 - brush.x0)} height={Math.abs(brush.y1 - brush.y0)} />}
          <text className="axis-title" x={plotW / 2} y={plotH + 30} textAnchor="middle">
            trace start
          </text>
          <text className="axis-title" transform={`translate(${-PAD.left + 12},${plotH / 2}) rotate(-90)`} textAnchor="middle">
            trace duration
          </text>
        </g>
      </svg>
      <div className="heatmap-hint muted small" data-testid="heatmap-hint">
        {live
          ? `Release to compare: ${bandText(live)}`
          : hover
            ? `${hover.traces.toLocaleString('en-US')} trace${hover.traces === 1 ? '' : 's'}, ${durationBand(rowLowerNs(map.durationBoundsNs, hover.row) || undefined, finite(rowUpperNs(map.durationBoundsNs, hover.row)))}, starting ${formatTimestamp(map.startMs + hover.column * map.stepMs, false)}`
            : `${layout.total.toLocaleString('en-US')}${map.totalExact ? '' : '+'} traces over the whole range. Drag a region to compare its traces with the rest; click a cell to list them.`}
      </div>
    </div>
  );
}

function finite(x: number): number | undefined {
  return Number.isFinite(x) ? x : undefined;
}

function durationBand(minNs: number | undefined, maxNs: number | undefined): string {
  if (minNs === undefined && maxNs === undefined) return 'any duration';
  if (minNs === undefined) return `under ${formatDuration(maxNs!)}`;
  if (maxNs === undefined) return `${formatDuration(minNs)} or more`;
  return `${formatDuration(minNs)}–${formatDuration(maxNs)}`;
}
