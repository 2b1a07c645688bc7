import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { attributeDiffs, cdfAt, ksFromQuantiles, ksScore, shareScore } from './compare.js';

describe('compare scores', () => {
  it('scores a share difference less what chance explains, towards zero', () => {
    assert.equal(shareScore(10, 10, 10, 10), 0);
    assert.ok(shareScore(10, 10, 0, 30) > 0.6 && shareScore(10, 10, 0, 30) < 1);
    // The same difference on more traces is more certain.
    assert.ok(shareScore(100, 100, 0, 300) > shareScore(10, 10, 0, 30));
    // A value seen in two traces of a hundred is noise.
    assert.equal(shareScore(2, 100, 0, 100), 0);
    assert.ok(shareScore(0, 10, 30, 30) < 0, 'under-represented values score below zero');
    assert.equal(shareScore(0, 0, 3, 10), 0);
  });

  it('estimates the KS statistic from quantiles', () => {
    const levels = [0, 0.25, 0.5, 0.75, 1];
    assert.equal(cdfAt(levels, [0, 1, 2, 3, 4], 2), 0.5);
    assert.equal(cdfAt(levels, [0, 1, 2, 3, 4], 2.5), 0.625);
    assert.equal(cdfAt(levels, [0, 1, 2, 3, 4], -1), 0);
    assert.equal(cdfAt(levels, [5, 5, 5, 5, 5], 5), 1);
    assert.equal(ksFromQuantiles(levels, [0, 1, 2, 3, 4], [0, 1, 2, 3, 4]), 0);
    assert.equal(ksFromQuantiles(levels, [0, 1, 2, 3, 4], [10, 11, 12, 13, 14]), 1);
    const shifted = ksFromQuantiles(levels, [0, 1, 2, 3, 4], [2, 3, 4, 5, 6]);
    assert.ok(shifted === 0.5, String(shifted));
    assert.equal(ksScore(1, 10, 10), 1 - 1.36 * Math.sqrt(0.2));
    assert.equal(ksScore(0.2, 10, 10), 0);
  });

  it('folds values found in exactly the same number of traces into the most general one', () => {
    const v = (scope: 'span' | 'resource', key: string, value: string, traces: number) => ({ scope, key, value, type: 'string' as const, traces });
    const sel = {
      traces: 20,
      spans: 200,
      numeric: [],
      values: [v('span', 'server.port', '4001', 20), v('resource', 'cloud.region', 'eu-west', 20), v('span', 'tenant.id', 'a', 10), v('span', 'tenant.id', 'b', 10)],
    };
    const base = {
      traces: 60,
      spans: 600,
      numeric: [],
      values: [v('span', 'server.port', '4002', 30), v('span', 'server.port', '4003', 30), v('resource', 'cloud.region', 'us-east', 60), v('span', 'tenant.id', 'a', 30), v('span', 'tenant.id', 'b', 30)],
    };
    const diffs = attributeDiffs(sel, base);
    assert.equal(`${diffs[0].key}=${diffs[0].value}`, 'cloud.region=eu-west', 'two regions against three ports');
    assert.deepEqual(diffs[0].equivalent, [{ scope: 'span', key: 'server.port', value: '4001' }]);
    assert.ok(!diffs.some((d) => d.key === 'server.port' && d.value === '4001'));
    // Values that explain nothing are never folded.
    assert.equal(diffs.filter((d) => d.key === 'tenant.id').length, 2);
  });
});
