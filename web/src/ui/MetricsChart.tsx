import { useMemo, useRef, useState } from 'react';
import { formatMetric, formatTimestamp, metricsLayout, unitLabel, type MetricsData, type MetricsUnit } from '../model/index.js';
import { ChartAxes, serviceColor } from './common.js';
import { useWidth } from './Scatter.js';

const HEIGHT = 260;
const PAD = { left: 72, right: 16, top: 12, bottom: 36 };
/** Lines drawn at most; past it the largest peaks are drawn and the legend says so. */
const MAX_DRAWN = 50;

/** TraceQL metrics as time series: one line per series, a legend, and the values under the pointer. */
export function MetricsChart({ data, unit }: { data: MetricsData; unit: MetricsUnit }) {
  const box = useRef<HTMLDivElement>(null);
  const width = useWidth(box);
  const plotW = Math.max(50, width - PAD.left - PAD.right);
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const drawn = useMemo(() => {
    if (data.series.length <= MAX_DRAWN) return data;
    const peak = (values: (number | null)[]) => Math.max(-Infinity, ...values.map((v) => v ?? -Infinity));
    return { ...data, series: [...data.series].sort((a, b) => peak(b.values) - peak(a.values)).slice(0, MAX_DRAWN) };
  }, [data]);
  const layout = metricsLayout(drawn, plotW, plotH);
  const [hover, setHover] = useState<{ index: number; x: number }>();

  const values = hover
    ? drawn.series
        .map((s, i) => ({ name: s.name, color: serviceColor(i), value: s.values[hover.index] }))
        .filter((v) => v.value !== null)
        .sort((a, b) => (b.value ?? 0) - (a.value ?? 0))
    : [];

  return (
    <div className="metrics-chart" ref={box} data-testid="metrics-chart" data-series-count={data.series.length}>
      <svg
        width={width}
        height={HEIGHT}
        role="img"
        aria-label="TraceQL metrics over time"
        onPointerMove={(e) => {
          const r = (e.currentTarget as SVGElement).getBoundingClientRect();
          const x = e.clientX - r.left - PAD.left;
          setHover(x < 0 || x > plotW ? undefined : layout.nearest(x));
        }}
        onPointerLeave={() => setHover(undefined)}
      >
        <g transform={`translate(${PAD.left},${PAD.top})`}>
          <ChartAxes width={plotW} height={plotH} yTicks={layout.yTicks.map((t) => ({ y: t.y, label: formatMetric(t.value, unit) }))} xTicks={layout.xTicks} />
          <line className="axis" x1={0} x2={plotW} y1={plotH} y2={plotH} />
          {layout.paths.map((d, i) => (
            <path key={drawn.series[i].name} className="metric-line" d={d} stroke={serviceColor(i)} data-series={drawn.series[i].name} />
          ))}
          {hover && (
            <>
              <line className="hover-line" x1={hover.x} x2={hover.x} y1={0} y2={plotH} />
              {drawn.series.map((s, i) => {
                const v = s.values[hover.index];
                return v === null ? null : <circle key={s.name} className="metric-dot" cx={hover.x} cy={layout.yOf(v)} r={3} fill={serviceColor(i)} />;
              })}
            </>
          )}
          <text className="axis-title" x={plotW / 2} y={plotH + 32} textAnchor="middle">
            time (step {formatStep(data.stepMs)})
          </text>
          <text className="axis-title" transform={`translate(${-PAD.left + 12},${plotH / 2}) rotate(-90)`} textAnchor="middle">
            {unitLabel(unit)}
          </text>
        </g>
      </svg>
      <div className="metrics-hover small" data-testid="metrics-hover" data-time={hover ? data.times[hover.index] : undefined}>
        {hover ? (
          <>
            <strong>{formatTimestamp(data.times[hover.index], false)}</strong>
            {values.slice(0, 12).map((v) => (
              <span key={v.name} className="legend-item" data-series={v.name} data-value={v.value ?? undefined}>
                <span className="legend-line" style={{ background: v.color }} /> {v.name}: {formatMetric(v.value!, unit)}
              </span>
            ))}
            {values.length > 12 && <span className="muted">and {values.length - 12} more</span>}
          </>
        ) : (
          <span className="muted">Point at the chart for the values at a time.</span>
        )}
      </div>
      <div className="metrics-legend small" data-testid="metrics-legend">
        {drawn.series.map((s, i) => (
          <span key={s.name} className="legend-item" data-series={s.name}>
            <span className="legend-line" style={{ background: serviceColor(i) }} /> {s.name}
          </span>
        ))}
        {data.series.length > drawn.series.length && (
          <span className="muted">
            {drawn.series.length} of {data.series.length} series drawn (the highest peaks); add <code>| topk(10)</code> to choose.
          </span>
        )}
        {data.series.length === 0 && <span className="muted">No series: nothing matched in this range.</span>}
      </div>
    </div>
  );
}

function formatStep(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${s / 60}m`;
  return `${s / 3600}h`;
}
