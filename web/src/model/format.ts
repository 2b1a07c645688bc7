/**
 * Numbers as people read them in a trace view: durations with three
 * significant digits in the largest unit that keeps them above 1, and axis
 * ticks on 1-2-5 steps so labels stay short.
 */

const UNITS: [number, string][] = [
  [3_600_000_000_000, 'h'],
  [60_000_000_000, 'min'],
  [1_000_000_000, 's'],
  [1_000_000, 'ms'],
  [1_000, 'µs'],
];

/**
 * 1234567 -> "1.23 ms"; 0 -> "0 ns"; negative values keep their sign.
 * Digits past the third are cut, not rounded, as Tempo's whole-millisecond
 * `durationMs` is: a trace of 407.6 ms reads "407 ms" in its header, on its
 * root row and in search, never "408 ms" in one place and "407 ms" in another.
 */
export function formatDuration(ns: number): string {
  if (!Number.isFinite(ns)) return '—';
  const sign = ns < 0 ? '-' : '';
  const a = Math.abs(ns);
  if (a < 1_000) return `${sign}${Math.floor(a)} ns`;
  for (const [size, unit] of UNITS) {
    if (a >= size) {
      const v = a / size;
      // Minutes and hours read better as "2 min 5 s" than "2.08 min".
      if (unit === 'min' || unit === 'h') {
        const whole = Math.floor(v);
        const rest = a - whole * size;
        const next = unit === 'h' ? 60_000_000_000 : 1_000_000_000;
        const restWhole = Math.floor(rest / next);
        return restWhole > 0 ? `${sign}${whole} ${unit} ${restWhole} ${unit === 'h' ? 'min' : 's'}` : `${sign}${whole} ${unit}`;
      }
      return `${sign}${trim(v)} ${unit}`;
    }
  }
  return `${sign}${Math.floor(a)} ns`;
}

/** Three significant digits, cut, no trailing zeros: 1.50 -> "1.5", 12.37 -> "12.3", 123.9 -> "123". */
function trim(v: number): string {
  const digits = v >= 100 ? 0 : v >= 10 ? 1 : 2;
  const scale = 10 ** digits;
  // The epsilon keeps 0.29 (stored as 0.28999...) from reading "0.28".
  return String(Math.floor(v * scale + 1e-9) / scale);
}

/** A duration to the microsecond, for tooltips next to a shortened one: "407.603 ms". */
export function formatDurationExact(ns: number): string {
  if (!Number.isFinite(ns)) return '—';
  return `${(ns / 1e6).toLocaleString('en-US', { minimumFractionDigits: 3, maximumFractionDigits: 3 })} ms`;
}

/** Milliseconds (Tempo's durationMs) as a duration label. */
export function formatMs(ms: number): string {
  return formatDuration(ms * 1_000_000);
}

/**
 * Nice tick positions for a time axis from 0 to `spanNs`, about `target`
 * of them, on 1-2-5 steps: [0, 20 ms, 40 ms, ...].
 */
export function durationTicks(spanNs: number, target = 5): number[] {
  if (!(spanNs > 0)) return [0];
  const step = niceStep(spanNs / Math.max(1, target));
  const out: number[] = [];
  for (let t = 0; t <= spanNs * (1 + 1e-9); t += step) out.push(t);
  return out;
}

/** Ticks between two values (not starting at 0): the multiples of a nice step inside [lo, hi]. */
export function ticksBetween(lo: number, hi: number, target = 5): number[] {
  if (!(hi > lo)) return [lo];
  const step = niceStep((hi - lo) / Math.max(1, target));
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(t);
  return out;
}

/** The smallest of 1, 2, 5 times a power of ten that is at least `raw`. */
export function niceStep(raw: number): number {
  if (!(raw > 0)) return 1;
  const pow = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * pow >= raw * (1 - 1e-12)) return m * pow;
  return 10 * pow;
}

/** A wall-clock time as "2026-11-26 23:31:14.123" in the viewer's time zone. */
export function formatTimestamp(ms: number, withMs = true): string {
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const date = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
  const time = `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  return withMs ? `${date} ${time}.${p(d.getMilliseconds(), 3)}` : `${date} ${time}`;
}

/** Unix nanoseconds (decimal string) to milliseconds, keeping what a double can. */
export function nsStringToMs(ns: string | undefined): number {
  if (!ns || !/^\d{1,20}$/.test(ns)) return 0;
  return Number(BigInt(ns) / 1_000_000n) + Number(BigInt(ns) % 1_000_000n) / 1e6;
}

/** How long ago, coarsely: "just now", "5 min ago", "3 h ago", "2 d ago". */
export function formatAgo(ms: number, nowMs: number): string {
  const s = Math.round((nowMs - ms) / 1000);
  if (s < 0) return 'in the future';
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.max(1, Math.round(s / 60))} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} d ago`;
}

const TIME_STEPS_MS = [
  1, 2, 5, 10, 20, 50, 100, 200, 500,
  1_000, 2_000, 5_000, 10_000, 15_000, 30_000,
  60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000,
  3_600_000, 7_200_000, 10_800_000, 21_600_000, 43_200_000, 86_400_000,
];

/**
 * Wall-clock ticks between two Unix ms on steps a clock reader expects
 * (15 s, 5 min, 1 h, ...), aligned to the local time zone's minutes and hours.
 */
export function timeTicks(startMs: number, endMs: number, target = 6): number[] {
  if (!(endMs > startMs)) return [startMs];
  const raw = (endMs - startMs) / Math.max(1, target);
  const step = TIME_STEPS_MS.find((s) => s >= raw) ?? Math.ceil(raw / 86_400_000) * 86_400_000;
  const offset = -new Date(startMs).getTimezoneOffset() * 60_000;
  const out: number[] = [];
  for (let t = Math.ceil((startMs + offset) / step) * step - offset; t <= endMs; t += step) out.push(t);
  return out;
}

/** A tick label: as short as the step allows ("14:05", "14:05:30", "Nov 26"). */
export function formatClock(ms: number, stepMs: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  if (stepMs >= 86_400_000) return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
  if (stepMs >= 60_000) return `${p(d.getHours())}:${p(d.getMinutes())}`;
  if (stepMs >= 1_000) return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  return `${p(d.getMinutes())}:${p(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}
