import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bandCompare, heatmapLayout, payloadCounts, scatterLayout, searchRows, shownLabel, sortRows, traceCounts, traceIdHex, withCounts, type HeatmapJson, type SearchResponseJson } from './search-results.js';
import { buildTrace } from './trace.js';
import { golden } from './fixtures.js';
import type { TraceByIdJson } from './otlp.js';

describe('search result rows', () => {
  it('reads the golden TraceQL answer of a live Sightline', () => {
    const rows = searchRows(golden<SearchResponseJson>('search-traceql'));
    assert.ok(rows.length >= 1);
    const r = rows[0];
    assert.equal(r.traceId, '0000000000000000a1b2c3d4e5f60718', 'leading zeros put back');
    assert.equal(r.rootService, 'golden-frontend');
    assert.equal(r.rootName, 'GET /cart');
    assert.equal(r.startMs, 1_700_000_000_000);
    assert.equal(r.durationMs, 612);
    assert.equal(r.matched, 1);
    // The live answer carries Tempo's serviceStats: 2 frontend spans, 1 cart span in error.
    assert.deepEqual([r.spanCount, r.errorCount, r.services], [3, 1, ['golden-cart', 'golden-frontend']]);
  });

  it('adds up Tempo serviceStats when the server sends them', () => {
    const [r] = searchRows({
      traces: [
        {
          traceID: 'abc',
          rootServiceName: 'gateway',
          startTimeUnixNano: '1700000000123456789',
          serviceStats: { gateway: { spanCount: 3 }, cart: { spanCount: 5, errorCount: 2 } },
          spanSets: [{ matched: 2 }, { matched: 1 }],
        },
      ],
    });
    assert.deepEqual([r.spanCount, r.errorCount, r.services, r.matched], [8, 2, ['cart', 'gateway'], 3]);
    assert.equal(r.durationMs, 0, 'Tempo leaves out a zero durationMs');
    assert.equal(r.startMs, 1_700_000_000_123.456789);
  });

  it('marks a trace whose root has not arrived', () => {
    const [r] = searchRows({ traces: [{ traceID: '1', rootServiceName: '<root span not yet received>' }] });
    assert.equal(r.rootMissing, true);
    assert.equal(r.rootService, '');
    assert.equal(traceIdHex('ABC'), '00000000000000000000000000000abc');
  });

  it('fills counts from a fetched trace', () => {
    const [r] = searchRows(golden<SearchResponseJson>('search-traceql'));
    const counted = withCounts(r, traceCounts(buildTrace(golden<TraceByIdJson>('trace-v2'))));
    assert.equal(counted.spanCount, 3);
    assert.equal(counted.errorCount, 1);
    assert.deepEqual(counted.services, ['golden-cart', 'golden-frontend']);
  });

  it('sorts by a column with unknown counts last and ties in server order', () => {
    const base = { rootService: 's', rootName: 'n', rootMissing: false, startMs: 0, matched: 1, services: [] };
    const rows = [
      { ...base, traceId: 'a', durationMs: 5, spanCount: 2 },
      { ...base, traceId: 'b', durationMs: 9 },
      { ...base, traceId: 'c', durationMs: 5, spanCount: 7 },
    ];
    assert.deepEqual(sortRows(rows, 'duration', true).map((r) => r.traceId), ['b', 'a', 'c']);
    assert.deepEqual(sortRows(rows, 'spans', true).map((r) => r.traceId), ['c', 'a', 'b']);
    assert.deepEqual(sortRows(rows, 'spans', false).map((r) => r.traceId), ['a', 'c', 'b']);
  });
});

describe('scatter layout', () => {
  const base = { rootService: 's', rootName: 'n', rootMissing: false, matched: 1, services: [] };
  const rows = [
    { ...base, traceId: 'a', startMs: 1000, durationMs: 10 },
    { ...base, traceId: 'b', startMs: 1500, durationMs: 1000 },
    { ...base, traceId: 'c', startMs: 2000, durationMs: 0 },
  ];
  it('puts time on x over the searched range and duration on y from 0', () => {
    const l = scatterLayout(rows, { startMs: 1000, endMs: 2000 }, 200, 100, false);
    assert.deepEqual(l.points.map((p) => Math.round(p.x)), [0, 100, 200]);
    assert.equal(l.points[2].y, 100, 'zero duration on the baseline');
    assert.ok(l.points[1].y < l.points[0].y, 'longer is higher');
    assert.ok(Math.abs(l.points[1].y - (100 - 100 / 1.1)) < 1e-9);
    assert.equal(l.timeAt(50), 1250);
    for (const t of l.yTicks) assert.ok(t.y >= 0 && t.y <= 100);
  });
  it('spreads orders of magnitude on a log scale', () => {
    const l = scatterLayout(rows, { startMs: 1000, endMs: 2000 }, 200, 100, true);
    const ya = l.points[0].y;
    const yb = l.points[1].y;
    assert.ok(ya > yb && ya - yb > 40, `log scale separates 10 ms and 1 s: ${ya} vs ${yb}`);
    assert.deepEqual(l.yTicks.map((t) => t.ms), [0.1, 1, 10, 100, 1000], 'a trace under 1 ms (durationMs left out) sits on the 0.1 ms floor');
  });

  it('counts spans, errors and services from the payload as the built trace does', () => {
    const payload = golden<TraceByIdJson>('trace-v2');
    const fromModel = traceCounts(buildTrace(payload));
    const fromPayload = payloadCounts(payload);
    assert.equal(fromPayload.spanCount, fromModel.spanCount);
    assert.equal(fromPayload.errorCount, fromModel.errorCount);
    assert.deepEqual([...fromPayload.services].sort(), [...fromModel.services].sort());
    assert.deepEqual(payloadCounts({}), { spanCount: 0, errorCount: 0, services: [] });
  });
});

describe('search over the whole range: totals, heatmap, brush to compare', () => {
  it('always says how many of how many are shown', () => {
    assert.equal(shownLabel(20, 915), '20 of 915 shown');
    assert.equal(shownLabel(20, 20_000, false), '20 of at least 20,000 shown');
    assert.equal(shownLabel(3, 3), '3 of 3 shown');
    assert.equal(shownLabel(5, undefined), '5 shown');
  });

  // Bounds 1, 10, 100 ms: rows [0,1) [1,10) [10,100) [100,inf) ms. Ten one-minute columns.
  const ms = 1e6;
  const map: HeatmapJson = {
    startMs: 0,
    endMs: 600_000,
    stepMs: 60_000,
    columns: 10,
    durationBoundsNs: [1 * ms, 10 * ms, 100 * ms],
    cells: [
      { column: 0, row: 1, traces: 1 },
      { column: 2, row: 2, traces: 100 },
      { column: 9, row: 3, traces: 4 },
    ],
    total: 105,
    totalExact: true,
  };

  it('lays cells out over the whole range and sums them to the total', () => {
    const l = heatmapLayout(map, 100, 80);
    assert.equal(l.total, 105);
    assert.equal(l.firstRow, 0);
    assert.equal(l.lastRow, 3, 'only the rows there are');
    const byKey = new Map(l.cells.map((c) => [`${c.column}/${c.row}`, c]));
    const big = byKey.get('2/2')!;
    assert.deepEqual([big.x, big.y, big.width, big.height], [20, 20, 10, 20], 'row 2 of rows 0..3 is the second from the top');
    assert.equal(big.level, 1);
    assert.ok(byKey.get('0/1')!.level > 0.1, 'one trace is still visible beside a hundred');
    assert.equal(l.cellAt(25, 30), big);
    assert.equal(l.cellAt(55, 30), undefined);
    assert.deepEqual(l.yTicks.map((t) => [t.y, t.ns]), [[60, 1 * ms], [40, 10 * ms], [20, 100 * ms]]);
  });

  it('brushes whole cells: the time band and duration band under the drag, and their traces', () => {
    const l = heatmapLayout(map, 100, 80);
    assert.deepEqual(l.band(22, 35, 25, 25), { startMs: 120_000, endMs: 180_000, minNs: 10 * ms, maxNs: 100 * ms, traces: 100 });
    assert.deepEqual(l.band(95, 5, 0, 75), { startMs: 0, endMs: 600_000, traces: 105 }, 'the whole chart is unbounded both ways');
    assert.deepEqual(l.band(91, 1, 99, 15), { startMs: 540_000, endMs: 600_000, minNs: 100 * ms, traces: 4 }, 'the top row has no upper bound');
    // Rows 6..13 drawn of 21: the bottom and top rows drawn are open, since no trace lies past them.
    const many = heatmapLayout({ ...map, durationBoundsNs: Array.from({ length: 20 }, (_, i) => 2 ** i * ms), cells: [{ column: 0, row: 10, traces: 3 }] }, 100, 80);
    assert.deepEqual(many.band(0, 79, 5, 0), { startMs: 0, endMs: 60_000, traces: 3 });
    assert.deepEqual(many.band(0, 41, 5, 39), { startMs: 0, endMs: 60_000, minNs: 2 ** 8 * ms, maxNs: 2 ** 10 * ms, traces: 3 });
  });

  it('keeps a few rows around a single duration, and draws an empty range', () => {
    const one = heatmapLayout({ ...map, durationBoundsNs: Array.from({ length: 20 }, (_, i) => 2 ** i * ms), cells: [{ column: 0, row: 10, traces: 3 }] }, 100, 80);
    assert.equal(one.lastRow - one.firstRow + 1, 8);
    assert.ok(one.firstRow <= 9 && one.lastRow >= 11);
    const empty = heatmapLayout({ ...map, cells: [], total: 0 }, 100, 80);
    assert.deepEqual([empty.cells.length, empty.total], [0, 0]);
  });

  it('starts a compare of the band against the rest of the search', () => {
    const band = { startMs: 1_700_000_000_500, endMs: 1_700_000_060_000, minNs: 100 * ms, maxNs: 150 * ms };
    assert.deepEqual(bandCompare('{ resource.service.name = "web" }', band), {
      q: '{ resource.service.name = "web" && traceDuration >= 100ms && traceDuration <= 150ms }',
      baseline: '{ resource.service.name = "web" }',
      range: { start: 1_700_000_000, end: 1_700_000_060 },
    });
    assert.deepEqual(bandCompare('', { ...band, maxNs: undefined }), { q: '{ traceDuration >= 100ms }', baseline: '', range: { start: 1_700_000_000, end: 1_700_000_060 } });
    assert.equal(bandCompare('{ traceDuration >= 1s }', band).q, '{ traceDuration >= 100ms && traceDuration <= 150ms }', 'the band replaces a duration bound');
    assert.equal(bandCompare('{ .a = 1 } >> { .b = 2 }', { ...band, minNs: 15_000 }).q, '{ .a = 1 } >> { .b = 2 } | { traceDuration >= 15us && traceDuration <= 150ms }');
    assert.equal(bandCompare('{ }', { startMs: 0, endMs: 1000 }).q, '{ }');
  });
});
