/**
 * The time range every view reads, and how it sits in the URL: a relative
 * preset (`range=15m`, resolved against the clock each time the view runs)
 * or an absolute range in Unix seconds (`start=...&end=...`, both needed).
 * A link between views keeps the range by writing it with {@link writeRange}.
 */

export const RANGE_PRESETS = ['5m', '15m', '1h', '6h', '24h', '7d'] as const;
/** The audit trail is read over longer spans than spans are searched. */
export const AUDIT_RANGE_PRESETS = ['1h', '24h', '7d', '30d'] as const;
export type RangePreset = (typeof RANGE_PRESETS)[number] | (typeof AUDIT_RANGE_PRESETS)[number];
export type TimeRange = { preset: RangePreset } | { start: number; end: number };

export const DEFAULT_PRESET: RangePreset = '1h';

const PRESET_SECONDS: Record<RangePreset, number> = { '5m': 300, '15m': 900, '1h': 3600, '6h': 21_600, '24h': 86_400, '7d': 604_800, '30d': 2_592_000 };
const PRESET_WORDS: Record<RangePreset, string> = {
  '5m': '5 minutes',
  '15m': '15 minutes',
  '1h': 'hour',
  '6h': '6 hours',
  '24h': '24 hours',
  '7d': '7 days',
  '30d': '30 days',
};

/** Unix seconds a range covers at `nowMs`. */
export function resolveRange(range: TimeRange, nowMs: number): { start: number; end: number } {
  if ('preset' in range) {
    const end = Math.ceil(nowMs / 1000);
    return { start: end - PRESET_SECONDS[range.preset], end };
  }
  return { start: range.start, end: range.end };
}

/** start/end (Unix seconds) when both are valid, else one of the page's presets, else its default. */
export function readRange(p: URLSearchParams, presets: readonly RangePreset[] = RANGE_PRESETS, fallback: RangePreset = DEFAULT_PRESET): TimeRange {
  const preset = p.get('range');
  const start = Number(p.get('start'));
  const end = Number(p.get('end'));
  if (p.has('start') && p.has('end') && Number.isFinite(start) && Number.isFinite(end) && end > start) return { start: Math.floor(start), end: Math.ceil(end) };
  if (preset && (presets as readonly string[]).includes(preset)) return { preset: preset as RangePreset };
  return { preset: fallback };
}

/** Writes a range into query parameters; the page's default preset is left out. */
export function writeRange(p: URLSearchParams, range: TimeRange, fallback: RangePreset = DEFAULT_PRESET): void {
  if ('preset' in range) {
    if (range.preset !== fallback) p.set('range', range.preset);
  } else {
    p.set('start', String(range.start));
    p.set('end', String(range.end));
  }
}

/** "Last 15 minutes", or the absolute range in the viewer's time zone. */
export function rangeLabel(range: TimeRange): string {
  if ('preset' in range) return `Last ${PRESET_WORDS[range.preset]}`;
  return `${formatLocalInput(range.start).replace('T', ' ')} – ${formatLocalInput(range.end).replace('T', ' ')}`;
}

/**
 * An absolute window as people read it, in the viewer's time zone:
 * "2026-12-03 14:00–15:00", with seconds only where a bound has them, and
 * both dates when it crosses midnight. The date is left out when the
 * window lies within the day of `sameDayAs` (Unix seconds): the second of
 * two windows on one day reads "13:00–14:00".
 */
export function windowLabel(range: { start: number; end: number }, sameDayAs?: number): string {
  const [from, to] = [formatLocalInput(range.start), formatLocalInput(range.end)];
  const seconds = !from.endsWith(':00') || !to.endsWith(':00');
  const clock = (t: string) => (seconds ? t.slice(11) : t.slice(11, 16));
  const day = (t: string) => t.slice(0, 10);
  const shared = sameDayAs !== undefined && day(formatLocalInput(sameDayAs)) === day(from);
  if (day(from) === day(to)) return `${shared ? '' : `${day(from)} `}${clock(from)}–${clock(to)}`;
  return `${day(from)} ${clock(from)} – ${day(to)} ${clock(to)}`;
}

/** The short chip label of a preset: "last 15m". */
export function presetLabel(preset: RangePreset): string {
  return `last ${preset}`;
}

const p2 = (n: number) => String(n).padStart(2, '0');

/** Unix seconds as a datetime-local input value, "2026-11-26T14:05:09", in the viewer's time zone. */
export function formatLocalInput(unixS: number): string {
  const d = new Date(unixS * 1000);
  return `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())}T${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}`;
}

/** Fixed fields only, each a bounded run of digits: no backtracking whatever the input. */
const LOCAL_TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?$/;

/**
 * A local date and time as people type it or a datetime-local input gives
 * it ("2026-11-26 14:05", "2026-11-26T14:05:09") to Unix seconds;
 * undefined when it is no such time (Feb 30, 25:00).
 */
export function parseLocalInput(text: string): number | undefined {
  const m = LOCAL_TIME.exec(text.trim());
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? '0'].map(Number);
  const date = new Date(y, mo - 1, d, h, mi, s);
  if (date.getFullYear() !== y || date.getMonth() !== mo - 1 || date.getDate() !== d || date.getHours() !== h || date.getMinutes() !== mi) return undefined;
  return Math.floor(date.getTime() / 1000);
}

/** An absolute range from the picker's two fields, or what is wrong with them. */
export function absoluteRange(fromText: string, toText: string): { range: { start: number; end: number } } | { error: string } {
  const start = parseLocalInput(fromText);
  if (start === undefined) return { error: 'From is not a date and time (YYYY-MM-DD HH:MM)' };
  const end = parseLocalInput(toText);
  if (end === undefined) return { error: 'To is not a date and time (YYYY-MM-DD HH:MM)' };
  if (end <= start) return { error: 'To must be after From' };
  return { range: { start, end } };
}

export const AUTO_REFRESH = ['off', '10s', '30s', '1m'] as const;
export type AutoRefresh = (typeof AUTO_REFRESH)[number];

/** Milliseconds between refreshes; undefined for off. */
export function refreshMs(every: AutoRefresh): number | undefined {
  switch (every) {
    case 'off':
      return undefined;
    case '10s':
      return 10_000;
    case '30s':
      return 30_000;
    case '1m':
      return 60_000;
  }
}

export function readRefresh(p: URLSearchParams): AutoRefresh {
  const v = p.get('refresh');
  return (AUTO_REFRESH as readonly string[]).includes(v ?? '') ? (v as AutoRefresh) : 'off';
}

/**
 * Only a relative range moves with the clock: refreshing an absolute one
 * would ask the same question again, so auto-refresh applies to presets.
 */
export function refreshes(range: TimeRange, every: AutoRefresh): boolean {
  return 'preset' in range && every !== 'off';
}
