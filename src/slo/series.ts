import { InvalidQueryError } from '../errors.js';
import { compileQuery, queryMetrics } from '../query/traceql/index.js';
import type { ReadPorts, TenantScope } from '../store/index.js';
import { burnRate, formatWindow } from './budget.js';

/**
 * Burn rates over time, for the SLO page's charts. Each point is what the
 * evaluator would have computed had it run at that moment: valid and good
 * events whose span starts in [t - window, t), counted by TraceQL metrics
 * (count_over_time) as compute.ts counts them. Rather than one pair of
 * queries per point and window, each window is read once in buckets of
 * gcd(step, window) and summed over a sliding window: every point and
 * every point minus a window falls on a bucket boundary, so the sums are
 * exact, not interpolated.
 */

/** Points in one answer at most. */
export const MAX_SERIES_POINTS = 1000;
/** Buckets one count query reads at most (the Tempo metrics API's limit). */
export const MAX_SERIES_BUCKETS = 11_000;

export interface SeriesArgs {
  validQuery: string;
  goodQuery: string;
  /** Percent, as the SLO's. */
  objective: number;
  startMs: number;
  /** The last point: a window ending here is the evaluator's at endMs. */
  endMs: number;
  stepMs: number;
  windowsMs: number[];
}

/** One count query: buckets of `bucketMs` from `startMs` to `endMs`, serving the windows listed. */
export interface SeriesQuery {
  bucketMs: number;
  startMs: number;
  endMs: number;
  windowsMs: number[];
}

export interface SeriesPlan {
  /** Each point's time (ms): the end of the windows counted at it. Ascending; the last is endMs. */
  times: number[];
  queries: SeriesQuery[];
}

export interface WindowSeries {
  window: string;
  windowMs: number;
  valid: number[];
  good: number[];
  burnRate: number[];
}

export interface SloSeries {
  startMs: number;
  endMs: number;
  stepMs: number;
  times: number[];
  windows: WindowSeries[];
  /** What answered: the per-minute rollup where it is exact, else the raw spans. */
  source: string;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/**
 * The points and the count queries for a range, a step and windows, all
 * whole milliseconds. Points sit at endMs, endMs - step, ... down to
 * startMs. Windows sharing a bucket size share one query, over the longest
 * of them. Refuses (InvalidQuery) what would read too many points or buckets.
 */
export function seriesPlan(a: Pick<SeriesArgs, 'startMs' | 'endMs' | 'stepMs' | 'windowsMs'>): SeriesPlan {
  const { startMs, endMs, stepMs } = a;
  if (!Number.isSafeInteger(stepMs) || stepMs < 1000) throw new InvalidQueryError('invalid step: must be whole milliseconds, at least 1s');
  if (!Number.isSafeInteger(startMs) || !Number.isSafeInteger(endMs) || endMs <= startMs) throw new InvalidQueryError('start must be before end');
  const n = Math.floor((endMs - startMs) / stepMs) + 1;
  if (n > MAX_SERIES_POINTS) throw new InvalidQueryError(`invalid step: more than ${MAX_SERIES_POINTS} points; use a larger step`);
  const times = Array.from({ length: n }, (_, k) => endMs - (n - 1 - k) * stepMs);
  const byBucket = new Map<number, number[]>();
  for (const w of [...new Set(a.windowsMs)].sort((x, y) => x - y)) {
    if (!Number.isSafeInteger(w) || w <= 0) throw new InvalidQueryError(`invalid window: ${w} ms`);
    const g = gcd(stepMs, w);
    byBucket.set(g, [...(byBucket.get(g) ?? []), w]);
  }
  const queries: SeriesQuery[] = [];
  for (const [bucketMs, windowsMs] of byBucket) {
    const longest = windowsMs[windowsMs.length - 1];
    const start = times[0] - longest;
    const buckets = (endMs - start) / bucketMs;
    if (buckets > MAX_SERIES_BUCKETS)
      throw new InvalidQueryError(
        `invalid step: the ${formatWindow(longest)} window at a ${formatWindow(stepMs)} step reads ${buckets} buckets of ${formatWindow(bucketMs)} (at most ${MAX_SERIES_BUCKETS}); use a larger step, or one that divides the window`,
      );
    queries.push({ bucketMs, startMs: start, endMs, windowsMs });
  }
  return { times, queries };
}

/**
 * Events in [t - windowMs, t) for each point t, from per-bucket counts
 * (`buckets[i]` counts [q.startMs + i * q.bucketMs, + q.bucketMs)). Points
 * and windows are on bucket boundaries by construction (seriesPlan).
 */
export function slidingSums(buckets: readonly number[], q: Pick<SeriesQuery, 'bucketMs' | 'startMs'>, times: readonly number[], windowMs: number): number[] {
  const prefix = new Float64Array(buckets.length + 1);
  for (let i = 0; i < buckets.length; i++) prefix[i + 1] = prefix[i] + buckets[i];
  const at = (ms: number): number => {
    const i = (ms - q.startMs) / q.bucketMs;
    if (!Number.isInteger(i)) throw new Error(`${ms} is not on a bucket boundary`);
    return prefix[Math.max(0, Math.min(buckets.length, i))];
  };
  return times.map((t) => at(t) - at(t - windowMs));
}

/**
 * Valid and good events, and the burn rate, over each window at every
 * point of the range. Runs in a query worker, like countEvents.
 */
export async function countSeries(store: ReadPorts, scope: TenantScope, a: SeriesArgs): Promise<SloSeries> {
  const plan = seriesPlan(a);
  const valid = compileQuery(`${a.validQuery} | count_over_time()`);
  const good = compileQuery(`${a.goodQuery} | count_over_time()`);
  const sources = new Set<string>();
  const byWindow = new Map<number, WindowSeries>();
  for (const q of plan.queries) {
    const req = { range: { startNs: BigInt(q.startMs) * 1_000_000n, endNs: BigInt(q.endMs) * 1_000_000n }, stepNs: BigInt(q.bucketMs) * 1_000_000n };
    const [v, g] = await Promise.all([queryMetrics(valid, store, scope, req), queryMetrics(good, store, scope, req)]);
    sources.add(v.source).add(g.source);
    const size = Math.ceil((q.endMs - q.startMs) / q.bucketMs);
    const buckets = (r: typeof v): number[] => {
      const out = new Array<number>(size).fill(0);
      for (const s of r.series)
        for (const [ms, x] of s.samples) {
          const i = Math.round((ms - q.startMs) / q.bucketMs);
          if (i >= 0 && i < size) out[i] += x;
        }
      return out;
    };
    const [vb, gb] = [buckets(v), buckets(g)];
    for (const w of q.windowsMs) {
      const validCounts = slidingSums(vb, q, plan.times, w);
      const goodCounts = slidingSums(gb, q, plan.times, w);
      byWindow.set(w, {
        window: formatWindow(w),
        windowMs: w,
        valid: validCounts,
        good: goodCounts,
        burnRate: validCounts.map((n, i) => burnRate({ valid: n, good: goodCounts[i] }, a.objective)),
      });
    }
  }
  return {
    startMs: plan.times[0],
    endMs: a.endMs,
    stepMs: a.stepMs,
    times: plan.times,
    windows: [...byWindow.values()].sort((x, y) => x.windowMs - y.windowMs),
    source: [...sources].sort().join('+') || 'spans',
  };
}

const NICE_STEPS_MS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400].map((s) => s * 1000);

/**
 * The step when none is asked: the smallest clock-friendly step giving at
 * most about `points` points that seriesPlan accepts for these windows.
 */
export function defaultSeriesStep(startMs: number, endMs: number, windowsMs: readonly number[], points = 120): number {
  const least = (endMs - startMs) / points;
  const fits = (stepMs: number) => {
    try {
      seriesPlan({ startMs, endMs, stepMs, windowsMs: [...windowsMs] });
      return true;
    } catch {
      return false;
    }
  };
  for (const s of NICE_STEPS_MS) if (s >= least && fits(s)) return s;
  // Past a day: whole days, which divide day-multiple windows.
  let days = Math.max(1, Math.ceil(least / 86_400_000));
  while (days < 3650 && !fits(days * 86_400_000)) days++;
  return days * 86_400_000;
}
