import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  attributeCondition,
  attributeLabel,
  attributeRows,
  compareWindows,
  durationBandQuery,
  exampleQuery,
  formatShare,
  ksSentence,
  latencyCaption,
  latencyLayout,
  operationCondition,
  parseDurationBand,
  pathShares,
  traceqlDuration,
  type AggregatePathJson,
  type CompareJson,
  type LatencyJson,
  type NumericDiffJson,
} from './compare.js';
import { formatRoute, parseRoute } from './routes.js';
import { scatterLayout, type SearchRow } from './search-results.js';

describe('compare: from rows to TraceQL', () => {
  it('writes the condition of an attribute row for each scope and type', () => {
    assert.equal(attributeCondition({ scope: 'span', key: 'feature.flag', value: 'new-pricing', type: 'string' }), 'span.feature.flag = "new-pricing"');
    assert.equal(attributeCondition({ scope: 'resource', key: 'k8s.pod count', value: '3', type: 'int' }), 'resource."k8s.pod count" = 3');
    assert.equal(attributeCondition({ scope: 'intrinsic', key: 'status', value: 'error', type: 'string' }), 'status = error');
    assert.equal(attributeCondition({ scope: 'intrinsic', key: 'name', value: 'GET "x"', type: 'string' }), 'name = "GET \\"x\\""');
    assert.equal(attributeCondition({ scope: 'span', key: 'cache.hit', value: 'false', type: 'bool' }), 'span.cache.hit = false');
    assert.equal(attributeLabel({ scope: 'intrinsic', key: 'kind', value: 'client' }), 'kind = client');
  });

  it('finds example traces of a group with the row', () => {
    const cond = operationCondition('payments', 'charge card');
    assert.equal(cond, 'resource.service.name = "payments" && name = "charge card"');
    assert.equal(exampleQuery('{ traceDuration > 300ms }', cond), `{ traceDuration > 300ms } && { ${cond} }`);
    assert.equal(exampleQuery('  ', cond), `{ ${cond} }`);
    assert.equal(exampleQuery(undefined, cond), `{ ${cond} }`);
  });

  it('turns a band brushed on the latency chart into a selection', () => {
    assert.equal(traceqlDuration(312.46), '312.5ms');
    assert.equal(traceqlDuration(1500), '1.5s');
    assert.equal(traceqlDuration(0.25), '250us');
    assert.equal(durationBandQuery(300, 2500), '{ traceDuration >= 300ms && traceDuration <= 2.5s }');
  });

  it('inverts the scatter y scale, linear and log', () => {
    const rows = [10, 100, 1000].map((d, i) => ({ traceId: String(i), durationMs: d, startMs: i * 1000 }) as SearchRow);
    for (const log of [false, true]) {
      const l = scatterLayout(rows, { startMs: 0, endMs: 3000 }, 300, 100, log);
      for (const p of l.points) assert.ok(Math.abs(l.durationAt(p.y) - p.row.durationMs) < 1e-6 * p.row.durationMs + 1e-9, `log=${log} ${p.row.durationMs}`);
    }
  });

  it('keeps the comparison in the URL', () => {
    const r = parseRoute('/compare', '?q=%7B+traceDuration+%3E+300ms+%7D&baseline=%7B+%7D&range=6h');
    assert.deepEqual(r, { page: 'compare', state: { q: '{ traceDuration > 300ms }', baseline: '{ }', range: { preset: '6h' } } });
    assert.equal(formatRoute(r), '/compare?q=%7B+traceDuration+%3E+300ms+%7D&baseline=%7B+%7D&range=6h');
    assert.equal(formatRoute({ page: 'compare', state: { q: '', baseline: '', range: { preset: '1h' } } }), '/compare');
  });
});

describe('compare: numbers a person can trust', () => {
  it('says 0% and 100% only for none and all', () => {
    assert.deepEqual([0, 0.004, 0.005, 0.5, 0.994, 0.995, 1, 1.01, -0.1].map(formatShare), ['0%', '<1%', '1%', '50%', '99%', '>99%', '100%', '100%', '0%']);
  });

  it('gives each slower operation its share of the time added, within 0-100%, and says what the faster ones save', () => {
    const op = (explainsNs: number) => ({ service: 's', operation: `op${explainsNs}`, explainsNs, explainedShare: null }) as unknown as AggregatePathJson['operations'][number];
    // Net extra 100 ms: the first operation adds 101 ms, which the API calls 101% of the extra latency.
    const shares = pathShares({ operations: [op(101e6), op(2e5), op(-1.2e6)] });
    assert.deepEqual(
      shares.map((s) => [s.delta, s.share]),
      [
        ['+101 ms', '>99%'],
        ['+200 µs', '<1%'],
        ['−1.2 ms', null],
      ],
    );
    assert.ok(shares.every((s) => s.fraction >= 0 && s.fraction <= 1));
    const even = pathShares({ operations: [op(30e6), op(70e6)] });
    assert.deepEqual(even.map((s) => s.share), ['30%', '70%']);
  });
});

describe('compare: attribute rows', () => {
  const data: CompareJson = {
    attributes: [
      {
        scope: 'resource',
        key: 'cloud.region',
        value: 'eu-west',
        type: 'string',
        selectionShare: 460 / 464,
        baselineShare: 0,
        selectionTraces: 460,
        baselineTraces: 0,
        score: 0.93,
        equivalent: [
          { scope: 'span', key: 'server.port', value: '37303', type: 'int' },
          { scope: 'span', key: 'server.port', value: '41001', type: 'int' },
          { scope: 'span', key: 'server.port', value: '41002', type: 'int' },
          { scope: 'span', key: 'server.port', value: '41003', type: 'int' },
        ],
      },
      {
        scope: 'span',
        key: 'network.peer.port',
        value: '51680',
        type: 'int',
        selectionShare: 169 / 464,
        baselineShare: 0,
        selectionTraces: 169,
        baselineTraces: 0,
        score: 0.31,
        grouped: {
          reason: 'identifier-key',
          kind: 'port',
          selectionDistinct: 34,
          baselineDistinct: 23,
          selectionKeyTraces: 464,
          baselineKeyTraces: 486,
          demoted: true,
          values: [
            { value: '51680', type: 'int', selectionTraces: 169, baselineTraces: 0, score: 0.31 },
            { value: '57272', type: 'int', selectionTraces: 158, baselineTraces: 0, score: 0.29 },
          ],
          folded: 30,
        },
      },
      { scope: 'span', key: 'tenant.id', value: 'summit', type: 'string', selectionShare: 0.25, baselineShare: 0.25, selectionTraces: 116, baselineTraces: 121, score: 0 },
    ],
    numeric: [],
    inspected: { unit: 'trace', selectionTraces: 464, baselineTraces: 486, selectionSpans: 8352, baselineSpans: 8748, sampled: false, maxTraces: 1000 },
  };

  it('lists what sets the groups apart, a grouped key as one row that says so, and the rest on demand', () => {
    const { rows, weak } = attributeRows(data);
    assert.deepEqual(rows.map((r) => r.label), ['resource.cloud.region = eu-west', 'span.network.peer.port']);
    assert.deepEqual(weak.map((r) => r.label), ['span.tenant.id = summit']);
    const [region, ports] = rows;
    assert.deepEqual(region.sameAs.map((v) => v.label), ['span.server.port = 37303', 'span.server.port = 41001', 'span.server.port = 41002', 'span.server.port = 41003']);
    assert.equal(region.sameAs[0].condition, 'span.server.port = 37303', 'an int, unquoted');
    assert.deepEqual([region.selection, region.baseline, region.selectionCount], ['99%', '0%', '460 of 464']);
    assert.equal(ports.grouped, true);
    assert.equal(ports.group!.summary, '34 distinct values in the selection, 23 in the baseline, high-cardinality — grouped');
    assert.match(ports.group!.why, /^port numbers name connections, not causes; the best is on 36% of the selection/);
    assert.deepEqual(ports.group!.values.map((v) => [v.label, v.selection, v.baseline]), [['51680', '36%', '0%'], ['57272', '34%', '0%']]);
    assert.equal(ports.group!.more, 28);
  });
});

describe('compare: the numeric table in words', () => {
  const n = (over: Partial<NumericDiffJson>): NumericDiffJson => ({
    scope: 'span',
    key: 'db.rows',
    selection: { spans: 100, min: 1, p50: 300, p90: 400, p99: 500, max: 500 },
    baseline: { spans: 100, min: 1, p50: 40, p90: 90, p99: 100, max: 120 },
    ks: 0.6,
    direction: 'higher',
    gap: { at: 120, selectionAbove: 0.8, baselineAbove: 0.2 },
    score: 0.4,
    ...over,
  });
  it('explains the KS statistic as where the groups part and how many lie beyond', () => {
    assert.equal(ksSentence(n({})), "The selection's values are mostly higher: 80% of selected spans vs 20% of baseline spans are above 120.");
    assert.equal(
      ksSentence(n({ direction: 'lower', gap: { at: 40, selectionAbove: 0.1, baselineAbove: 0.7 } })),
      "The selection's values are mostly lower: 90% of selected spans vs 30% of baseline spans are at or below 40.",
    );
    assert.match(ksSentence(n({ score: 0 })), /chance could do that\.$/);
    assert.equal(
      ksSentence(n({ scope: 'intrinsic', key: 'duration', gap: { at: 120e6, selectionAbove: 0.95, baselineAbove: 0.05 } })),
      "The selection's values are mostly higher: 95% of selected spans vs 5% of baseline spans are above 120 ms.",
    );
    assert.match(ksSentence(n({ key: 'server.port', identifier: 'port' })), /^Not ranked: port numbers name connections/);
    assert.equal(ksSentence(n({ ks: 0, gap: null })), 'The two groups have the same spread of values.');
  });
});

describe('compare: the latency chart', () => {
  const traces = (n: number, from: number, ms: number) => Array.from({ length: n }, (_, i) => ({ traceId: `${from + i}`, startMs: 1_000_000 + (from + i) * 1000, durationMs: ms * (1 + (i % 3)) }));
  const data: LatencyJson = {
    startMs: 1_000_000,
    endMs: 1_000_000 + 3_600_000,
    maxTraces: 1000,
    selection: { total: 40, totalExact: true, sampled: false, traces: traces(40, 0, 300) },
    baseline: { total: 9512, totalExact: true, sampled: true, traces: traces(1000, 100, 20) },
  };

  it('says how it sampled each group', () => {
    assert.equal(latencyCaption(data), 'Selection: 40 traces. Baseline: 1,000 of 9,512 traces, sampled uniformly. These are the traces compared below.');
    assert.equal(latencyCaption({ ...data, selection: null, baseline: { ...data.baseline, total: 9512, traces: traces(2000, 0, 5) } }), '2,000 of 9,512 traces, sampled uniformly in the range.');
    assert.equal(latencyCaption({ ...data, selection: { ...data.selection!, total: 1001, totalExact: false, sampled: true } }).split('.')[0], 'Selection: 40 of more than 1,000 traces, sampled uniformly');
  });

  it('covers the whole range, both groups, on a log scale it can invert', () => {
    const l = latencyLayout(data, 600, 150);
    assert.equal(l.points.filter((p) => p.group === 'selection').length, 40);
    assert.equal(l.points.filter((p) => p.group === 'baseline').length, 1000);
    assert.ok(l.points.every((p) => p.x >= 0 && p.x <= 600 && p.y >= 0 && p.y <= 150));
    // The last baseline trace starts 1099 s into the hour: x follows the range, not the data.
    assert.ok(Math.abs(Math.max(...l.points.map((p) => p.x)) - (1099 / 3600) * 600) < 1e-6);
    for (const ms of [20, 300, 900]) assert.ok(Math.abs(l.durationAt(l.yOf(ms)) - ms) < 1e-6 * ms);
    assert.ok(l.yTicks.length >= 2 && l.xTicks.length >= 2);
  });

  it('draws the band a selection was brushed from again', () => {
    assert.deepEqual(parseDurationBand(durationBandQuery(300, 2500)), [300, 2500]);
    assert.deepEqual(parseDurationBand(durationBandQuery(0.25, 12.5)), [0.25, 12.5]);
    assert.equal(parseDurationBand('{ traceDuration > 300ms }'), null);
  });
});

describe('compare: two windows', () => {
  // Local times, so the labels read the same in any time zone.
  const local = (h: number, m = 0, s = 0, day = 3) => new Date(2026, 11, day, h, m, s).getTime() / 1000;

  it('says which window is after the other, what happened between them, and each window', () => {
    const w = compareWindows({ start: local(14), end: local(15) }, { start: local(13), end: local(14) }, 'deploy of checkout 2.0.0');
    assert.deepEqual(w, {
      selectionRole: 'after',
      baselineRole: 'before',
      selection: '2026-12-03 14:00–15:00',
      baseline: '13:00–14:00',
      sentence: 'After deploy of checkout 2.0.0: 2026-12-03 14:00–15:00 vs before: 13:00–14:00',
    });
    // The baseline after the selection, on another day, with seconds.
    const later = compareWindows({ start: local(23, 30), end: local(23, 59, 30) }, { start: local(0, 15, 0, 4), end: local(1, 0, 0, 4) });
    assert.equal(later.sentence, 'Before: 2026-12-03 23:30:00–23:59:30 vs after: 2026-12-04 00:15–01:00');
    // Across midnight: both dates.
    assert.equal(compareWindows({ start: local(23), end: local(1, 0, 0, 4) }, { start: local(21), end: local(23) }).selection, '2026-12-03 23:00 – 2026-12-04 01:00');
    // Overlapping windows are neither before nor after; an event says nothing then.
    assert.equal(compareWindows({ start: local(13), end: local(15) }, { start: local(14), end: local(16) }, 'deploy').sentence, 'Selection: 2026-12-03 13:00–15:00 vs baseline: 14:00–16:00');
  });

  it('draws both windows across the chart, each shaded, with the traces where they started', () => {
    const hour = 3_600_000;
    const t = local(14) * 1000;
    const group = (startMs: number, n: number) => ({ total: n, totalExact: true, sampled: false, traces: Array.from({ length: n }, (_, i) => ({ traceId: `${startMs}-${i}`, startMs: startMs + i * 60_000, durationMs: 10 + i })) });
    const two: LatencyJson = { startMs: t, endMs: t + hour, maxTraces: 1000, selection: group(t, 30), baseline: group(t - hour, 20), baselineWindow: { startMs: t - hour, endMs: t } };
    const l = latencyLayout(two, 800, 100);
    assert.deepEqual(l.windows, [
      { group: 'baseline', x0: 0, x1: 400 },
      { group: 'selection', x0: 400, x1: 800 },
    ]);
    // The first baseline trace at the left edge, the first selected one at the middle: not clamped to the selection's window.
    assert.equal(Math.min(...l.points.filter((p) => p.group === 'baseline').map((p) => p.x)), 0);
    assert.equal(Math.min(...l.points.filter((p) => p.group === 'selection').map((p) => p.x)), 400);
    assert.equal(latencyCaption(two), 'Selection: 30 traces in its window. Baseline: 20 traces in its own window. These are the traces compared below.');
    assert.deepEqual(latencyLayout({ ...two, baselineWindow: undefined }, 800, 100).windows, []);
  });
});
