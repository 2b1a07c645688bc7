import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyseLoad } from './load.js';

const span = (start: number, duration: number, children: [number, number][] = []) => ({ start, duration, children });

describe('load analysis', () => {
  it('counts the wait as the time no child runs: overlapping children once, children clamped to the span', () => {
    const r = analyseLoad([span(0, 100, [[10, 30], [20, 40], [90, 150], [-5, 5]])], false, 10);
    // Covered: 0-5, 10-40, 90-100 = 45; wait 55.
    assert.deepEqual(r.buckets.map((b) => [b.concurrencyMin, b.spans, b.wait.meanNs, b.latency.meanNs]), [[1, 1, 55, 100]]);
  });

  it('counts spans in flight at each start, itself included, and not those that ended at that moment', () => {
    const r = analyseLoad([span(0, 10), span(10, 10), span(10, 5), span(12, 1)], false, 10);
    // At 0: 1. At 10: the first ended, two start: 2 each. At 12: 3.
    assert.deepEqual(r.buckets.map((b) => [b.concurrencyMin, b.spans]), [[1, 1], [2, 2], [3, 1]]);
  });

  it('leaves out the start of a sample, where earlier spans could have been in flight', () => {
    const r = analyseLoad([span(0, 50), span(10, 5), span(60, 5), span(70, 5)], true, 10);
    assert.deepEqual([r.spans, r.measured], [4, 2]);
  });

  it('answers empty for no spans', () => {
    assert.deepEqual(analyseLoad([], false, 10).buckets, []);
  });
});

/** A seeded generator, so the spans below are the same on every run. */
function random(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
}

/**
 * Closed-loop load in steps: at each level, that many lanes run spans back
 * to back for `windowNs`, so a span starts with about `level` in flight.
 * A span is slow with probability `slowShare(level)`; a slow one waits with
 * no child running (a pool with no free connection) before the same 8 ms
 * query a fast one runs.
 */
function steppedLoad(levels: number[], slowShare: (level: number) => number, opts: { fastNs: number; slowNs: number; windowNs: number; seed?: number }) {
  const rand = random(opts.seed ?? 7);
  const rows: { start: number; duration: number; children: [number, number][] }[] = [];
  let t0 = 1_700_000_000e9;
  for (const level of levels) {
    for (let lane = 0; lane < level; lane++) {
      let t = t0 + lane * 1000;
      for (;;) {
        const d = rand() < slowShare(level) ? opts.slowNs : opts.fastNs;
        if (t + d > t0 + opts.windowNs) break;
        rows.push({ start: t, duration: d, children: [[t + d - 8e6, t + d]] });
        t += d;
      }
    }
    t0 += opts.windowNs + 1e9;
  }
  return rows;
}

describe('load trend', () => {
  it('finds load-driven bimodal latency in the wait: each span is fast or slow, the slow share rising with load', () => {
    const r = analyseLoad(steppedLoad([1, 2, 4, 8], (c) => (c - 1) / 8, { fastNs: 10e6, slowNs: 200e6, windowNs: 10e9 }), false, 20);
    assert.equal(r.trend.latencyGrows, true);
    assert.equal(r.trend.waitGrows, true);
    assert.ok(r.trend.high!.latencyMeanNs > 5 * r.trend.low!.latencyMeanNs, JSON.stringify(r.trend));
    assert.ok(r.bimodal, 'two modes');
    assert.deepEqual([r.bimodal.fast.p50Ns, r.bimodal.slow.p50Ns], [10e6, 200e6]);
    assert.ok(r.bimodal.thresholdNs > 10e6 && r.bimodal.thresholdNs <= 200e6);
    // Each bucket's p50 is one mode or the other; its slow share says how many are slow.
    const full = r.buckets.filter((b) => b.spans >= 100);
    assert.deepEqual(full.map((b) => b.concurrencyMin), [1, 2, 4, 8]);
    const shares = full.map((b) => b.slowShare!);
    assert.ok(shares[0] < 0.01, `almost none slow at 1 in flight: ${shares[0]}`);
    assert.ok(shares.every((s, i) => i === 0 || s > shares[i - 1]), `slow share rises: ${shares}`);
  });

  it('judges growth relative to the latency at low load, not per request in flight: 10 to 120 ms over 1 to 200 in flight grows', () => {
    const r = analyseLoad(steppedLoad([1, 25, 50, 100, 200], (c) => Math.min(0.6, (c - 1) / 330), { fastNs: 10e6, slowNs: 200e6, windowNs: 10e9 }), false, 20);
    // What the verdict used to stand on: under 1 ms per request in flight, and r well under 0.7.
    assert.ok(r.trend.latencyNsPerRequest < 1e6 && r.trend.waitCorrelation < 0.7, JSON.stringify(r.trend));
    assert.equal(r.trend.latencyGrows, true);
    assert.equal(r.trend.waitGrows, true);
    assert.ok(r.bimodal);
  });

  it('finds no growth in bimodal latency that load does not drive, and no second mode in steady latency', () => {
    const flat = analyseLoad(steppedLoad([1, 2, 4, 8], () => 0.5, { fastNs: 10e6, slowNs: 200e6, windowNs: 10e9 }), false, 20);
    assert.ok(flat.bimodal);
    assert.equal(flat.trend.latencyGrows, false, JSON.stringify(flat.trend));
    const rand = random(3);
    const steady = analyseLoad(
      steppedLoad([1, 2, 4, 8], () => 0, { fastNs: 10e6, slowNs: 10e6, windowNs: 5e9 }).map((s) => ({ ...s, duration: s.duration * (0.8 + 0.4 * rand()) })),
      false,
      20,
    );
    assert.equal(steady.bimodal, null);
    assert.equal(steady.trend.latencyGrows, false);
  });

  it('tells a slow dependency from saturation: latency grows, the wait does not', () => {
    // Each request's child (a query) takes longer the more run at once; the span's own wait is 1 ms.
    const rows: { start: number; duration: number; children: [number, number][] }[] = [];
    let t0 = 0;
    for (const level of [1, 2, 4, 8]) {
      for (let lane = 0; lane < level; lane++) {
        const childNs = 5e6 * level + lane * 1e4;
        for (let t = t0 + lane * 1000; t + childNs + 1e6 <= t0 + 5e9; t += childNs + 1e6) rows.push({ start: t, duration: childNs + 1e6, children: [[t + 1e6, t + 1e6 + childNs]] });
      }
      t0 += 6e9;
    }
    const r = analyseLoad(rows, false, 20);
    assert.equal(r.trend.latencyGrows, true);
    assert.equal(r.trend.waitGrows, false);
  });

  it('says nothing of a trend when load does not vary', () => {
    const r = analyseLoad(steppedLoad([1], () => 0.3, { fastNs: 10e6, slowNs: 200e6, windowNs: 5e9 }), false, 20);
    assert.deepEqual([r.trend.low, r.trend.high, r.trend.latencyGrows], [null, null, false]);
  });
});

describe('load heatmap', () => {
  it('counts every span read by start time and duration, on whole steps, with the load per column', () => {
    const s = 1_700_000_000_000; // ms, a whole minute
    const rows = [
      span((s + 500) * 1e6, 12e6),
      span((s + 900) * 1e6, 12e6),
      span((s + 905) * 1e6, 240e6),
      span((s + 61_000) * 1e6, 240e6),
    ];
    const r = analyseLoad(rows, false, 10);
    const h = r.heatmap;
    // 60.5 s of starts: 2 s columns are the narrowest that need at most 60.
    assert.deepEqual([h.startMs, h.stepMs, h.columns], [s, 2000, 31]);
    const row = (ns: number) => h.durationBoundsNs.filter((b) => ns >= b).length;
    assert.deepEqual(h.cells, [
      { column: 0, row: row(12e6), spans: 2 },
      { column: 0, row: row(240e6), spans: 1 },
      { column: 30, row: row(240e6), spans: 1 },
    ]);
    assert.deepEqual([h.durationBoundsNs[row(12e6) - 1], h.durationBoundsNs[row(12e6)]], [10e6, 15e6]);
    // In flight at each start: 1, 1 (the first has ended), 2; then 1.
    assert.deepEqual([h.inFlight[0], h.inFlight[1], h.inFlight[30]], [1.33, null, 1]);
    // As the store answers: ns after an origin (the range's start), put back on the clock.
    const originMs = s - 90_000;
    const relative = rows.map((x) => ({ ...x, start: x.start - originMs * 1e6 }));
    assert.deepEqual(analyseLoad(relative, false, 10, originMs).heatmap, h);
  });
});
