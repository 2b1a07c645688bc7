import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { defaultSeriesStep, seriesPlan, slidingSums, MAX_SERIES_BUCKETS } from './series.js';
import { InvalidQueryError } from '../errors.js';

function random(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
}

/** Buckets as the store counts them: intDiv(start - range start, step) over [start, end). */
function bucketsOf(starts: number[], q: { bucketMs: number; startMs: number; endMs: number }): number[] {
  const out = new Array<number>(Math.ceil((q.endMs - q.startMs) / q.bucketMs)).fill(0);
  for (const t of starts) if (t >= q.startMs && t < q.endMs) out[Math.floor((t - q.startMs) / q.bucketMs)]++;
  return out;
}

describe('SLO burn-rate series', () => {
  it('each point counts exactly the spans starting in [t - window, t), as the evaluator would at t', () => {
    const rand = random(7);
    const endMs = 1_764_000_123_457; // not on any boundary, as Date.now() is not
    const startMs = endMs - 3_600_000;
    // Spans over the range and the longest window before it, some on exact boundaries.
    const starts = Array.from({ length: 5000 }, () => Math.floor(startMs - 3_600_000 + rand() * 7_300_000));
    for (const t of [endMs - 300_000, endMs - 1, endMs, startMs]) starts.push(t);
    for (const stepMs of [30_000, 45_000, 7_000]) {
      const windowsMs = [300_000, 3_600_000, 10_000, 1_800_000];
      const plan = seriesPlan({ startMs, endMs, stepMs, windowsMs });
      assert.equal(plan.times[plan.times.length - 1], endMs, 'the last point is the end asked');
      assert.ok(plan.times[0] >= startMs && plan.times[0] - stepMs < startMs);
      for (const q of plan.queries) {
        const buckets = bucketsOf(starts, q);
        for (const w of q.windowsMs) {
          const got = slidingSums(buckets, q, plan.times, w);
          const want = plan.times.map((t) => starts.filter((s) => s >= t - w && s < t).length);
          assert.deepEqual(got, want, `step ${stepMs}, window ${w}, buckets of ${q.bucketMs}`);
        }
      }
      assert.deepEqual(plan.queries.flatMap((q) => q.windowsMs).sort((a, b) => a - b), [10_000, 300_000, 1_800_000, 3_600_000]);
    }
  });

  it('windows sharing a bucket size share one query, over the longest', () => {
    const plan = seriesPlan({ startMs: 0, endMs: 3_600_000, stepMs: 60_000, windowsMs: [3_600_000, 300_000, 90_000] });
    assert.deepEqual(
      plan.queries.map((q) => [q.bucketMs, q.startMs, q.windowsMs]),
      [
        [30_000, -90_000, [90_000]],
        [60_000, -3_600_000, [300_000, 3_600_000]],
      ],
    );
    assert.equal(plan.times.length, 61);
  });

  it('refuses too many points or buckets; the default step fits', () => {
    const day = 86_400_000;
    assert.throws(() => seriesPlan({ startMs: 0, endMs: 3_600_000, stepMs: 1000, windowsMs: [60_000] }), (e) => e instanceof InvalidQueryError && /more than 1000 points/.test(e.message));
    assert.throws(() => seriesPlan({ startMs: 0, endMs: 300_000, stepMs: 5000, windowsMs: [3 * day] }), (e) => e instanceof InvalidQueryError && /the 3d window at a 5s step reads 51900 buckets/.test(e.message));
    assert.throws(() => seriesPlan({ startMs: 0, endMs: 1000, stepMs: 500, windowsMs: [60_000] }), InvalidQueryError);
    const workbook = [3600_000, 300_000, 6 * 3600_000, 1800_000, day, 7200_000, 3 * day, 6 * 3600_000];
    for (const rangeMs of [300_000, 3_600_000, day, 7 * day, 30 * day]) {
      const stepMs = defaultSeriesStep(1_764_000_000_000 - rangeMs, 1_764_000_000_000, workbook);
      const plan = seriesPlan({ startMs: 1_764_000_000_000 - rangeMs, endMs: 1_764_000_000_000, stepMs, windowsMs: workbook });
      assert.ok(plan.queries.every((q) => (q.endMs - q.startMs) / q.bucketMs <= MAX_SERIES_BUCKETS));
      assert.ok(plan.times.length <= 121, `${rangeMs}: ${plan.times.length} points at ${stepMs}`);
    }
    assert.equal(defaultSeriesStep(0, 3_600_000, [60_000, 10_000]), 30_000);
  });
});
