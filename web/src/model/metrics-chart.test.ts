import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatMetric, isMetricsQuery, metricsData, metricsFunction, metricsLayout, metricsStep, metricsUnit, type QueryRangeJson } from './metrics-chart.js';

describe('metrics queries in the search box', () => {
  it('tells a metrics query from a search, by its piped function', () => {
    assert.equal(metricsFunction('{ } | rate()'), 'rate');
    assert.equal(metricsFunction('{ resource.service.name = "a" } | quantile_over_time(duration, .5, .99) by(name)'), 'quantile_over_time');
    assert.equal(metricsFunction('{ } | count_over_time() by(resource.service.name) | topk(3)'), 'count_over_time');
    assert.equal(isMetricsQuery('{ name = "rate" }'), false, 'a string is not a function');
    assert.equal(isMetricsQuery('{ } | count() > 2'), false, 'count() is a search aggregate');
    assert.equal(isMetricsQuery('{ .rate = 1 }'), false);
    assert.equal(isMetricsQuery(''), false);
  });

  it('knows the unit of the values: rates, counts, durations in seconds', () => {
    assert.equal(metricsUnit('{ } | rate() by(name)'), 'per-second');
    assert.equal(metricsUnit('{ } | count_over_time()'), 'count');
    assert.equal(metricsUnit('{ } | quantile_over_time(duration, .9)'), 'seconds');
    assert.equal(metricsUnit('{ } | max_over_time(span:duration)'), 'seconds');
    assert.equal(metricsUnit('{ } | avg_over_time(span.bytes)'), 'number');
    assert.equal(formatMetric(0.25, 'seconds'), '250 ms');
    assert.equal(formatMetric(2.5, 'per-second'), '2.5/s');
    assert.equal(formatMetric(12000, 'count'), '12,000');
    assert.equal(formatMetric(NaN, 'count'), '—');
  });

  it('picks a step of at most about 120 points on clock-friendly steps', () => {
    assert.equal(metricsStep(300), 5);
    assert.equal(metricsStep(900), 10);
    assert.equal(metricsStep(3600), 30);
    assert.equal(metricsStep(86_400), 900);
    assert.equal(metricsStep(604_800), 7200);
  });

  const json: QueryRangeJson = {
    series: [
      { labels: [{ key: 'resource.service.name', value: { stringValue: 'cart' } }], samples: [{ timestampMs: '60000', value: 2 }, { timestampMs: '180000', value: 4 }] },
      { labels: [{ key: 'resource.service.name', value: { stringValue: 'web' } }, { key: 'p', value: { doubleValue: 0.9 } }], samples: [{ timestampMs: '120000', value: 1 }] },
      { labels: [{ key: '__name__', value: { stringValue: 'rate' } }], samples: [] },
    ],
  };

  it('puts series on the grid of the server buckets: empty buckets are 0 for counts, gaps otherwise', () => {
    const counted = metricsData(json, '{ } | rate() by(resource.service.name)', 90_000, 240_000, 60_000);
    assert.deepEqual(counted.times, [60_000, 120_000, 180_000], 'the start is aligned down to the step, as the server aligns it');
    assert.deepEqual(counted.series.map((s) => s.name), ['{resource.service.name="cart"}', '{resource.service.name="web", p="0.9"}', 'rate']);
    assert.deepEqual(counted.series.map((s) => s.values), [[2, 0, 4], [0, 1, 0], [0, 0, 0]]);
    const quantiles = metricsData(json, '{ } | quantile_over_time(duration, .9) by(resource.service.name)', 60_000, 240_000, 60_000);
    assert.deepEqual(quantiles.series[0].values, [2, null, 4]);
  });

  it('draws lines with gaps, a y axis from 0 to a nice top, and finds the nearest bucket', () => {
    const data = metricsData(json, '{ } | quantile_over_time(duration, .9)', 60_000, 240_000, 60_000);
    const l = metricsLayout(data, 200, 100);
    assert.equal(l.paths[0], 'M0.0,50.0M200.0,0.0', 'a gap moves the pen');
    assert.equal(l.paths[1], 'M100.0,75.0');
    assert.equal(l.paths[2], '');
    assert.deepEqual(l.yTicks.map((t) => t.value), [0, 1, 2, 3, 4]);
    assert.deepEqual(l.nearest(140), { index: 1, x: 100 });
    assert.deepEqual(l.nearest(-50), { index: 0, x: 0 });
    assert.equal(l.yOf(0), 100);
  });
});
