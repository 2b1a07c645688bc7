import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { payloadCounts, scatterLayout, searchRows, sortRows, traceCounts, traceIdHex, withCounts, type SearchResponseJson } from './search-results.js';
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
