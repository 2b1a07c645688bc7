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
