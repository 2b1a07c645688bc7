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
  /** Least-squares slopes against concurrency, ns per request in flight, and the correlation of wait with it. */
  trend: { latencyNsPerRequest: number; waitNsPerRequest: number; waitCorrelation: number };
}

export async function loadCorrelation(store: Pick<DiagnosisPort, 'loadSpans'>, scope: TenantScope, opts: LoadOptions): Promise<LoadJson> {
  const where = loneFilter(opts.query);
  if (!where) throw new UnsupportedError('load takes a query that is one spanset filter, such as { resource.service.name = "api" && name = "GET /slots" }');
  const rows = await store.loadSpans(scope, { range: opts.range, where, limit: opts.limit + 1 });
  const sampled = rows.length > opts.limit;
  // The most recent `limit`: a contiguous stretch of time, where concurrency is known.
  rows.sort((a, b) => b.start - a.start);
  return analyseLoad(rows.slice(0, opts.limit), sampled, opts.buckets);
}

/** Concurrency, wait and their buckets, for spans already read. */
export function analyseLoad(rows: LoadSpanRow[], sampled: boolean, bucketCount: number): LoadJson {
  const n = rows.length;
  const empty: LoadJson = { spans: n, sampled, measured: 0, buckets: [], trend: { latencyNsPerRequest: 0, waitNsPerRequest: 0, waitCorrelation: 0 } };
  if (n === 0) return empty;
  const start = new Float64Array(n);
  const end = new Float64Array(n);
  const wait = new Float64Array(n);
  let longest = 0;
  for (let i = 0; i < n; i++) {
    const r = rows[i];
    start[i] = r.start;
    end[i] = r.start + r.duration;
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
  if (picked.length === 0) return empty;
  const maxC = Math.max(...concurrency);
  const width = Math.max(1, Math.ceil(maxC / bucketCount));
  const groups = new Map<number, number[]>();
  concurrency.forEach((c, k) => {
    const b = Math.floor((c - 1) / width);
    const g = groups.get(b);
    if (g) g.push(picked[k]);
    else groups.set(b, [picked[k]]);
  });
  const buckets = [...groups.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([b, members]) => {
      const latency = stat(members.map((i) => end[i] - start[i]));
      const w = stat(members.map((i) => wait[i]));
      return { concurrencyMin: b * width + 1, concurrencyMax: (b + 1) * width, spans: members.length, latency, wait: w, waitShare: latency.meanNs > 0 ? w.meanNs / latency.meanNs : 0 };
    });
  const x = concurrency;
  return {
    spans: n,
    sampled,
    measured: picked.length,
    buckets,
    trend: {
      latencyNsPerRequest: slope(x, picked.map((i) => end[i] - start[i])),
      waitNsPerRequest: slope(x, picked.map((i) => wait[i])),
      waitCorrelation: correlation(x, picked.map((i) => wait[i])),
    },
  };
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
