import { useEffect, useRef, useState } from 'react';
import {
  absoluteRange,
  formatLocalInput,
  presetLabel,
  rangeLabel,
  resolveRange,
  AUTO_REFRESH,
  type AutoRefresh,
  type RangePreset,
  type TimeRange,
} from '../model/index.js';

/**
 * The time controls of a view: relative ranges one click away, an absolute
 * from/to, a refresh, and (where the view passes `refresh`) auto-refresh.
 * All of it is URL state: the view navigates on each change.
 */
export function TimePicker({
  presets,
  range,
  onChange,
  onRefresh,
  refresh,
  onRefreshChange,
}: {
  presets: readonly RangePreset[];
  range: TimeRange;
  onChange(r: TimeRange): void;
  onRefresh?(): void;
  refresh?: AutoRefresh;
  onRefreshChange?(r: AutoRefresh): void;
}) {
  const [open, setOpen] = useState(false);
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const away = (e: MouseEvent) => box.current && !box.current.contains(e.target as Node) && setOpen(false);
    const esc = (e: KeyboardEvent) => e.key === 'Escape' && setOpen(false);
    document.addEventListener('mousedown', away);
    document.addEventListener('keydown', esc);
    return () => {
      document.removeEventListener('mousedown', away);
      document.removeEventListener('keydown', esc);
    };
  }, [open]);

  return (
    <div className="time-picker" ref={box} data-testid="time-picker">
      <span className="range-bar" role="group" aria-label="Time range">
        {presets.map((p) => (
          <button
            key={p}
            type="button"
            className={'preset' in range && range.preset === p ? 'chip active' : 'chip'}
            onClick={() => onChange({ preset: p })}
            data-testid={`range-${p}`}
          >
            {presetLabel(p)}
          </button>
        ))}
        <button type="button" className={'preset' in range ? 'chip' : 'chip active'} onClick={() => setOpen(!open)} aria-expanded={open} data-testid="range-custom" title={rangeLabel(range)}>
          {'preset' in range ? 'custom…' : rangeLabel(range)}
        </button>
      </span>
      {onRefresh && (
        <button type="button" className="refresh" onClick={onRefresh} title="Run again (a relative range moves to now)" aria-label="Refresh" data-testid="refresh">
          ↻
        </button>
      )}
      {refresh !== undefined && onRefreshChange && (
        <label className="label auto-refresh" title={'preset' in range ? 'Run again on a timer' : 'Auto-refresh moves relative ranges only'}>
          Auto{' '}
          <select value={refresh} onChange={(e) => onRefreshChange(e.target.value as AutoRefresh)} data-testid="auto-refresh">
            {AUTO_REFRESH.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
      )}
      {open && <AbsoluteForm range={range} onApply={(r) => (setOpen(false), onChange(r))} />}
    </div>
  );
}

function AbsoluteForm({ range, onApply }: { range: TimeRange; onApply(r: TimeRange): void }) {
  const now = resolveRange(range, Date.now());
  const [from, setFrom] = useState(formatLocalInput(now.start));
  const [to, setTo] = useState(formatLocalInput(now.end));
  const [error, setError] = useState<string>();
  const apply = () => {
    const r = absoluteRange(from, to);
    if ('error' in r) setError(r.error);
    else onApply(r.range);
  };
  return (
    <form
      className="absolute-range"
      aria-label="Absolute time range"
      onSubmit={(e) => {
        e.preventDefault();
        apply();
      }}
    >
      <label>
        From
        <input type="datetime-local" step={1} value={from} onChange={(e) => setFrom(e.target.value)} data-testid="range-from" />
      </label>
      <label>
        To
        <input type="datetime-local" step={1} value={to} onChange={(e) => setTo(e.target.value)} data-testid="range-to" />
      </label>
      <button type="submit" className="primary" data-testid="range-apply">
        Apply
      </button>
      <span className="muted small">in your time zone</span>
      {error && (
        <span className="error-text small" role="alert">
          {error}
        </span>
      )}
    </form>
  );
}
