import { useState, type ReactNode } from 'react';
import { formatTimestamp, type RangePreset, type TimeRange } from '../model/index.js';

/** Service colours: hues spread by the golden angle so neighbours differ. */
export function serviceColor(index: number): string {
  return `hsl(${(index * 137.508 + 200) % 360} 62% 52%)`;
}

export function Spinner({ label = 'Loading…' }: { label?: string }) {
  return (
    <div className="state state-loading" role="status">
      <span className="spinner" aria-hidden /> {label}
    </div>
  );
}

export function ErrorState({ title, detail, action }: { title: string; detail?: string; action?: ReactNode }) {
  return (
    <div className="state state-error" role="alert">
      <strong>{title}</strong>
      {detail && <pre className="state-detail">{detail}</pre>}
      {action}
    </div>
  );
}

export function EmptyState({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="state state-empty">
      <strong>{title}</strong>
      {children && <div className="state-detail">{children}</div>}
    </div>
  );
}

async function copyText(text: string): Promise<void> {
  // The async clipboard needs a secure context; Sightline is often reached over plain http on a LAN.
  if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
  const area = document.createElement('textarea');
  area.value = text;
  area.style.position = 'fixed';
  area.style.opacity = '0';
  document.body.appendChild(area);
  area.select();
  document.execCommand('copy');
  area.remove();
}

export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      className="copy"
      title={`Copy ${label.toLowerCase() === 'copy' ? 'value' : label}`}
      aria-label={`Copy ${label}`}
      onClick={(e) => {
        e.stopPropagation();
        void copyText(text).then(() => {
          setDone(true);
          setTimeout(() => setDone(false), 1200);
        });
      }}
    >
      {done ? (
        '✓'
      ) : (
        <svg width="12" height="12" viewBox="0 0 16 16" aria-hidden>
          <rect x="5" y="5" width="9" height="9" rx="1.5" fill="none" stroke="currentColor" strokeWidth="1.5" />
          <path d="M3 11V3.5A1.5 1.5 0 0 1 4.5 2H11" fill="none" stroke="currentColor" strokeWidth="1.5" />
        </svg>
      )}
    </button>
  );
}

/**
 * Grid lines with y labels, and x labels under a plot of `width`×`height`,
 * for every chart (scatter, latency brush, RED, load): one look everywhere.
 */
export function ChartAxes({ width, height, yTicks, xTicks }: { width: number; height: number; yTicks: { y: number; label: string }[]; xTicks: { x: number; label: string }[] }) {
  return (
    <>
      {yTicks.map((t, i) => (
        <g key={`y${i}`}>
          <line className="grid" x1={0} x2={width} y1={t.y} y2={t.y} />
          <text className="axis-label" x={-6} y={t.y + 4} textAnchor="end">
            {t.label}
          </text>
        </g>
      ))}
      {xTicks.map((t, i) => (
        <text key={`x${i}`} className="axis-label" x={t.x} y={height + 15} textAnchor="middle">
          {t.label}
        </text>
      ))}
    </>
  );
}

/** The legend under a chart with several lines, coloured as series-0, series-1... */
export function ChartLegend({ names }: { names: string[] }) {
  return (
    <div className="chart-legend small muted">
      {names.map((name, i) => (
        <span key={name}>
          <span className={`legend-swatch series-${i}`} /> {name}
        </span>
      ))}
    </div>
  );
}

/** The time-range chips of a page: its presets, and the absolute range when one is set. */
export function RangePresets({ presets, range, onChange }: { presets: readonly RangePreset[]; range: TimeRange; onChange(r: TimeRange): void }) {
  return (
    <span className="range-bar" aria-label="Time range">
      {presets.map((p) => (
        <button key={p} type="button" className={'preset' in range && range.preset === p ? 'chip active' : 'chip'} onClick={() => onChange({ preset: p })}>
          last {p}
        </button>
      ))}
      {!('preset' in range) && (
        <span className="chip active">
          {formatTimestamp(range.start * 1000, false)} – {formatTimestamp(range.end * 1000, false)}
        </span>
      )}
    </span>
  );
}
