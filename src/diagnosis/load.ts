import type { DiagnosisPort, LoadSpanRow, TenantScope, TimeRange } from '../store/index.js';
import type { Query } from '../query/traceql/index.js';
import { UnsupportedError } from '../errors.js';
import { loneFilter } from './selection.js';

/**
 * Latency against load for one operation (the spans a filter matches):
 * each span's concurrency is the number of matching spans in flight when it
 * started (itself included), from the spans' own intervals. Its
 * "uninstrumented wait" is the time no child span was running: waiting on
 * a pool, a lock or a queue that nothing traced, or CPU. A pool that runs
 * out under load shows as wait growing with concurrency while the
 * children's own time stays flat.
 */

export interface LoadOptions {
  range: TimeRange;
  query: Query;
  /** Most recent spans taken; older ones are left out (reported). */
  limit: number;
  buckets: number;
}

export interface Stat {
  meanNs: number;
  p50Ns: number;
  p95Ns: number;
}

export interface LoadBucket {
  /** Inclusive bounds of concurrency. */
  concurrencyMin: number;
  concurrencyMax: number;
  spans: number;
  latency: Stat;
  wait: Stat;
  /** Mean wait over mean latency. */
  waitShare: number;
  /** When latency is bimodal: the bucket's share of spans in the slow mode. */
  slowShare?: number;
}

/** The least or most loaded third of the measured spans, by concurrency at their start. */
export interface LoadBand {
  concurrencyMin: number;
  concurrencyMax: number;
  spans: number;
  latencyMeanNs: number;
  waitMeanNs: number;
}

export interface LoadTrend {
  /** Least-squares slopes against concurrency, ns per request in flight, and the correlation of wait with it. */
  latencyNsPerRequest: number;
  waitNsPerRequest: number;
  waitCorrelation: number;
  /** Null when load hardly varied: fewer than MIN_BAND_SPANS spans in a band, or one concurrency throughout. */
  low: LoadBand | null;
  high: LoadBand | null;
  /**
   * Mean latency is higher in the high band than in the low one, by at
   * least 20% and 1 ms, and beyond chance (Welch's t >= 3).
   */
  latencyGrows: boolean;
  /** The same test on the wait (20% of the low band's mean latency, and 1 ms). */
  waitGrows: boolean;
}

/**
 * Two separate modes of latency (a fast path and a slow one: a pool that
 * is free or exhausted, a cache hit or miss). A per-bucket p50 flips
 * between the modes, so the answer gives each bucket's `slowShare`.
 */
export interface Bimodal {
  /** Spans at or above this take the slow mode. */
  thresholdNs: number;
  fast: { spans: number; p50Ns: number };
  slow: { spans: number; p50Ns: number };
  slowShare: number;
  /** Ashman's D of log latency between the modes; above 2 the modes are cleanly apart. */
  separation: number;
}

/**
 * Every span read, counted by start time (columns of `stepMs` from
 * `startMs`) and duration (rows, as in the search heatmap: row r holds
 * durations d with bounds[r-1] <= d < bounds[r]).
 */
export interface LoadHeatmap {
  startMs: number;
  stepMs: number;
  columns: number;
  durationBoundsNs: number[];
  /** Non-empty cells, by column then row. */
  cells: { column: number; row: number; spans: number }[];
  /** Per column, the mean concurrency at the start of its measured spans (null where none). */
  inFlight: (number | null)[];
}

export interface LoadJson {
  spans: number;
  /** More spans matched than `limit`; the most recent were taken. */
  sampled: boolean;
  /**
   * Spans bucketed. When sampled, spans starting within the longest span
   * duration of the sample's start are left out: spans before the sample
   * may have been in flight then.
   */
  measured: number;
  buckets: LoadBucket[];
  trend: LoadTrend;
  bimodal: Bimodal | null;
  heatmap: LoadHeatmap;
}

/** How far before the range the store's times are counted from (loadCorrelation). */
const ORIGIN_SLACK_NS = 600_000_000_000n;

/** Fewest spans in each of the low and high bands for a trend to be judged. */
export const MIN_BAND_SPANS = 10;

/**
 * Rows of the heatmap: log-spaced, six steps a decade (1, 1.5, 2, 3, 5, 7)
 * from 10 µs to 70 min, the same rows as the search heatmap's.
 */
export const LOAD_DURATION_BOUNDS_NS: readonly number[] = (() => {
  const out: number[] = [];
  for (let e = 4; e <= 12; e++) for (const tenths of [10, 15, 20, 30, 50, 70]) out.push((tenths * 10 ** e) / 10);
  return out;
})();

/** Column widths of the heatmap, ms: the smallest giving at most HEATMAP_COLUMNS columns is taken. */
const HEATMAP_STEPS_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 21_600_000, 43_200_000, 86_400_000];
const HEATMAP_COLUMNS = 60;

export async function loadCorrelation(store: Pick<DiagnosisPort, 'loadSpans'>, scope: TenantScope, opts: LoadOptions): Promise<LoadJson> {
  const where = loneFilter(opts.query);
  if (!where) throw new UnsupportedError('load takes a query that is one spanset filter, such as { resource.service.name = "api" && name = "GET /slots" }');
  // Times come as ns after an origin; the heatmap puts them back on the clock. Ten minutes
  // before the range keeps children that start before it (clock skew) at positive offsets.
  const originNs = opts.range.startNs > ORIGIN_SLACK_NS ? opts.range.startNs - ORIGIN_SLACK_NS : 0n;
  const rows = await store.loadSpans(scope, { range: opts.range, where, limit: opts.limit + 1, originNs });
  const sampled = rows.length > opts.limit;
  // The most recent `limit`: a contiguous stretch of time, where concurrency is known.
  rows.sort((a, b) => b.start - a.start);
  return analyseLoad(rows.slice(0, opts.limit), sampled, opts.buckets, Number(originNs / 1000n) / 1000);
}

/** Concurrency, wait and their buckets, for spans already read; their times are ns after `originMs` (Unix ms). */
export function analyseLoad(rows: LoadSpanRow[], sampled: boolean, bucketCount: number, originMs = 0): LoadJson {
  const n = rows.length;
  const flat: LoadTrend = { latencyNsPerRequest: 0, waitNsPerRequest: 0, waitCorrelation: 0, low: null, high: null, latencyGrows: false, waitGrows: false };
  const start = new Float64Array(n);
  const end = new Float64Array(n);
  // Durations as read: end - start loses the low bits of nanoseconds since 1970 in a double.
  const duration = new Float64Array(n);
  const wait = new Float64Array(n);
  let longest = 0;
  for (let i = 0; i < n; i++) {
    const r = rows[i];
    start[i] = r.start;
    end[i] = r.start + r.duration;
    duration[i] = r.duration;
    longest = Math.max(longest, r.duration);
    wait[i] = uncovered(start[i], end[i], r.children);
  }
  const starts = Float64Array.from(start).sort();
  const ends = Float64Array.from(end).sort();
  const from = sampled ? starts[0] + longest : -Infinity;
  const concurrency: number[] = [];
  const picked: number[] = [];
  for (let i = 0; i < n; i++) {
    if (start[i] < from) continue;
    // Started at or before this start, and not ended by it.
    concurrency.push(Math.max(1, upperBound(starts, start[i]) - upperBound(ends, start[i])));
    picked.push(i);
  }
  const heatmap = loadHeatmap(start, duration, picked, concurrency, originMs);
  if (picked.length === 0) return { spans: n, sampled, measured: 0, buckets: [], trend: flat, bimodal: null, heatmap };
  const latency = picked.map((i) => duration[i]);
  const waits = picked.map((i) => wait[i]);
  const bimodal = findBimodal(latency);
  // A loop, not Math.max(...): a million arguments overflow the stack.
  const maxC = concurrency.reduce((m, c) => (c > m ? c : m), 1);
  const width = Math.max(1, Math.ceil(maxC / bucketCount));
  const groups = new Map<number, number[]>();
  concurrency.forEach((c, k) => {
    const b = Math.floor((c - 1) / width);
    const g = groups.get(b);
    if (g) g.push(k);
    else groups.set(b, [k]);
  });
  const buckets = [...groups.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([b, members]): LoadBucket => {
      const l = stat(members.map((k) => latency[k]));
      const w = stat(members.map((k) => waits[k]));
      const bucket: LoadBucket = { concurrencyMin: b * width + 1, concurrencyMax: (b + 1) * width, spans: members.length, latency: l, wait: w, waitShare: l.meanNs > 0 ? w.meanNs / l.meanNs : 0 };
      if (bimodal) bucket.slowShare = members.filter((k) => latency[k] >= bimodal.thresholdNs).length / members.length;
      return bucket;
    });
  return {
    spans: n,
    sampled,
    measured: picked.length,
    buckets,
    trend: { latencyNsPerRequest: slope(concurrency, latency), waitNsPerRequest: slope(concurrency, waits), waitCorrelation: correlation(concurrency, waits), ...bands(concurrency, latency, waits) },
    bimodal,
    heatmap,
  };
}

/**
 * Growth judged between the least and most loaded thirds of the spans,
 * not by a slope or a correlation over single spans. Those fail exactly
 * when latency is bimodal: a span is either fast or slow, so even latency
 * driven wholly by load correlates with it at r ~ 0.6 at best, and a slope
 * per request in flight shrinks as the range of concurrency widens (10 ms
 * to 200 ms over 1 to 200 in flight is under 1 ms per request). The mean
 * of each band moves with its share of slow spans, and the test is
 * relative to the latency at low load.
 */
function bands(concurrency: number[], latency: number[], waits: number[]): Pick<LoadTrend, 'low' | 'high' | 'latencyGrows' | 'waitGrows'> {
  const none = { low: null, high: null, latencyGrows: false, waitGrows: false };
  const sorted = [...concurrency].sort((a, b) => a - b);
  const cLow = sorted[Math.floor((sorted.length - 1) / 3)];
  const cHigh = Math.max(sorted[Math.floor(((sorted.length - 1) * 2) / 3)], cLow + 1);
  const lowK: number[] = [];
  const highK: number[] = [];
  concurrency.forEach((c, k) => (c <= cLow ? lowK.push(k) : c >= cHigh && highK.push(k)));
  if (lowK.length < MIN_BAND_SPANS || highK.length < MIN_BAND_SPANS) return none;
  const band = (ks: number[]): LoadBand => ({
    concurrencyMin: ks.reduce((m, k) => Math.min(m, concurrency[k]), Infinity),
    concurrencyMax: ks.reduce((m, k) => Math.max(m, concurrency[k]), 0),
    spans: ks.length,
    latencyMeanNs: mean(ks.map((k) => latency[k])),
    waitMeanNs: mean(ks.map((k) => waits[k])),
  });
  const low = band(lowK);
  const high = band(highK);
  const floor = Math.max(1e6, 0.2 * low.latencyMeanNs);
  const grows = (v: number[]) => {
    const a = lowK.map((k) => v[k]);
    const b = highK.map((k) => v[k]);
    return mean(b) - mean(a) >= floor && welchT(a, b) >= 3;
  };
  return { low, high, latencyGrows: grows(latency), waitGrows: grows(waits) };
}

/**
 * Two modes of latency, or null: Otsu's cut on log latency (the split that
 * best separates two groups), kept when each side holds at least 5% of
 * the spans, their medians are at least 2x apart, and Ashman's D is at
 * least 2 (modes apart by more than their spread).
 */
function findBimodal(latency: number[]): Bimodal | null {
  if (latency.length < 2 * MIN_BAND_SPANS) return null;
  const logs = latency.map((d) => Math.log(Math.max(d, 1))).sort((a, b) => a - b);
  const lo = logs[0];
  const hi = logs[logs.length - 1];
  if (hi - lo < Math.log(2)) return null;
  const bins = 64;
  const w = (hi - lo) / bins;
  const counts = new Array<number>(bins).fill(0);
  for (const x of logs) counts[Math.min(bins - 1, Math.floor((x - lo) / w))]++;
  const total = logs.length;
  const sumAll = counts.reduce((s, c, i) => s + c * i, 0);
  let best = -1;
  let bestBetween = -1;
  let below = 0;
  let sumBelow = 0;
  for (let i = 0; i < bins - 1; i++) {
    below += counts[i];
    sumBelow += counts[i] * i;
    const above = total - below;
    if (below === 0 || above === 0) continue;
    const between = below * above * (sumBelow / below - (sumAll - sumBelow) / above) ** 2;
    if (between > bestBetween) {
      bestBetween = between;
      best = i;
    }
  }
  if (best < 0) return null;
  const otsu = lo + (best + 1) * w;
  const fastLogs = logs.filter((x) => x < otsu);
  const slowLogs = logs.filter((x) => x >= otsu);
  if (fastLogs.length === 0 || slowLogs.length === 0) return null;
  // Every cut in the empty stretch between the modes splits them alike: take its middle (in log), not its first bin.
  const cut = (fastLogs[fastLogs.length - 1] + slowLogs[0]) / 2;
  const minSide = Math.max(MIN_BAND_SPANS / 2, 0.05 * total);
  if (fastLogs.length < minSide || slowLogs.length < minSide) return null;
  const separation = Math.abs(mean(slowLogs) - mean(fastLogs)) / Math.sqrt((variance(fastLogs) + variance(slowLogs)) / 2 || Number.MIN_VALUE);
  const fastP50 = Math.exp(fastLogs[Math.floor(fastLogs.length / 2)]);
  const slowP50 = Math.exp(slowLogs[Math.floor(slowLogs.length / 2)]);
  if (separation < 2 || slowP50 < 2 * fastP50) return null;
  const thresholdNs = Math.round(Math.exp(cut));
  const slowSpans = latency.filter((d) => d >= thresholdNs).length;
  return {
    thresholdNs,
    fast: { spans: total - slowSpans, p50Ns: Math.round(fastP50) },
    slow: { spans: slowSpans, p50Ns: Math.round(slowP50) },
    slowShare: slowSpans / total,
    separation: Math.round(separation * 100) / 100,
  };
}

/** Spans by start time and duration; the load over time from the measured ones. */
function loadHeatmap(start: Float64Array, duration: Float64Array, picked: number[], concurrency: number[], originMs: number): LoadHeatmap {
  const bounds = [...LOAD_DURATION_BOUNDS_NS];
  if (start.length === 0) return { startMs: 0, stepMs: HEATMAP_STEPS_MS[0], columns: 0, durationBoundsNs: bounds, cells: [], inFlight: [] };
  let first = Infinity;
  let last = -Infinity;
  for (const s of start) {
    first = Math.min(first, originMs + s / 1e6);
    last = Math.max(last, originMs + s / 1e6);
  }
  let stepMs = HEATMAP_STEPS_MS[HEATMAP_STEPS_MS.length - 1];
  for (const step of HEATMAP_STEPS_MS) {
    if (Math.floor(last / step) - Math.floor(first / step) + 1 <= HEATMAP_COLUMNS) {
      stepMs = step;
      break;
    }
  }
  // Columns sit on whole steps, so the same spans land in the same cells whatever the range asked.
  const startMs = Math.floor(first / stepMs) * stepMs;
  const columns = Math.floor((last - startMs) / stepMs) + 1;
  const columnOf = (ns: number) => Math.min(columns - 1, Math.max(0, Math.floor((originMs + ns / 1e6 - startMs) / stepMs)));
  const counts = new Map<number, number>();
  const rowsPer = bounds.length + 1;
  for (let i = 0; i < start.length; i++) {
    const d = duration[i];
    let row = 0;
    while (row < bounds.length && d >= bounds[row]) row++;
    const key = columnOf(start[i]) * rowsPer + row;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const cells = [...counts.entries()].sort((a, b) => a[0] - b[0]).map(([key, spans]) => ({ column: Math.floor(key / rowsPer), row: key % rowsPer, spans }));
  const sum = new Float64Array(columns);
  const num = new Float64Array(columns);
  picked.forEach((i, k) => {
    const c = columnOf(start[i]);
    sum[c] += concurrency[k];
    num[c]++;
  });
  const inFlight = Array.from(sum, (s, c) => (num[c] > 0 ? Math.round((s / num[c]) * 100) / 100 : null));
  return { startMs, stepMs, columns, durationBoundsNs: bounds, cells, inFlight };
}

/** The time in [lo, hi) that none of the intervals covers. */
function uncovered(lo: number, hi: number, intervals: [number, number][]): number {
  const iv = intervals.map(([a, b]): [number, number] => [Math.max(a, lo), Math.min(b, hi)]).filter(([a, b]) => b > a);
  iv.sort((p, q) => p[0] - q[0]);
  let covered = 0;
  let curA = lo;
  let curB = lo;
  for (const [a, b] of iv) {
    if (a > curB) {
      covered += curB - curA;
      curA = a;
      curB = b;
    } else if (b > curB) curB = b;
  }
  covered += curB - curA;
  return hi - lo - covered;
}

/** Entries of a sorted array that are <= x. */
function upperBound(sorted: Float64Array, x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function stat(values: number[]): Stat {
  const v = values.sort((a, b) => a - b);
  const at = (q: number) => v[Math.min(v.length - 1, Math.floor(q * v.length))];
  return { meanNs: v.reduce((s, x) => s + x, 0) / v.length, p50Ns: at(0.5), p95Ns: at(0.95) };
}

function mean(v: number[]): number {
  return v.reduce((s, x) => s + x, 0) / v.length;
}

/** Sample variance (n - 1). */
function variance(v: number[]): number {
  if (v.length < 2) return 0;
  const m = mean(v);
  return v.reduce((s, x) => s + (x - m) ** 2, 0) / (v.length - 1);
}

/** Welch's t of mean(b) - mean(a); Infinity when both are constant and differ. */
function welchT(a: number[], b: number[]): number {
  const diff = mean(b) - mean(a);
  const se = Math.sqrt(variance(a) / a.length + variance(b) / b.length);
  return se > 0 ? diff / se : diff > 0 ? Infinity : 0;
}

function slope(x: number[], y: number[]): number {
  const n = x.length;
  const mx = x.reduce((s, v) => s + v, 0) / n;
  const my = y.reduce((s, v) => s + v, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
  }
  return sxx > 0 ? sxy / sxx : 0;
}

function correlation(x: number[], y: number[]): number {
  const n = x.length;
  const mx = x.reduce((s, v) => s + v, 0) / n;
  const my = y.reduce((s, v) => s + v, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
    syy += (y[i] - my) ** 2;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : 0;
}
