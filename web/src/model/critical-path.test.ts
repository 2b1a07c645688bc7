import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildTrace, correctedTimeline, layoutSpans } from './trace.js';
import { drawnFractions, mapCriticalPath, parseCriticalPath, pathContributors, pathRoles, pathSpans, segmentFractions, type CriticalPathJson } from './critical-path.js';
import { at, golden, sid, tracePayload, TRACE_ID, T0, type SpanSpec } from './fixtures.js';
import { criticalPath } from '../../../src/diagnosis/critical-path.js';
import type { TraceByIdJson } from './otlp.js';

describe('critical path view model', () => {
  it('maps the golden answer of a live Sightline onto the golden trace', () => {
    const model = buildTrace(golden<TraceByIdJson>('trace-v2'));
    const cp = mapCriticalPath(model, parseCriticalPath(golden<unknown>('critical-path')));
    const root = model.byId.get('1000000000000001')!;
    const db = model.byId.get('1000000000000003')!;
    const render = model.byId.get('1000000000000002')!;
    assert.deepEqual(cp.unknownSpanIds, []);
    assert.equal(cp.selfTimeNs[root], 52_000_000);
    assert.equal(cp.onPathNs[db], 360_000_000);
    assert.equal(cp.totalOnPathNs, model.durationNs, 'the path tiles the root');
    assert.deepEqual(pathSpans(cp), [root, db, render]);
    assert.deepEqual(
      cp.segmentsBySpan.get(root)!.map((s) => [s.start / 1e6, s.end / 1e6]),
      [[0, 20], [380, 400], [600, 612]],
    );
    // The database span is on the path for all of its 360 ms: one segment covering its whole bar.
    assert.deepEqual(segmentFractions(cp, model, db), [[0, 1]]);
    assert.deepEqual(cp.skew, []);
  });

  it('passes a skew shift down to same-service descendants only, as the server applies it', () => {
    // frontend (0-100) calls api, whose clock is 200 ms ahead; api calls its own db and a cache service.
    const model = buildTrace(
      tracePayload([
        { id: 1, service: 'frontend', start: 0, end: 100 },
        { id: 2, parent: 1, service: 'api', start: 210, end: 290 },
        { id: 3, parent: 2, service: 'api', start: 220, end: 240 },
        { id: 4, parent: 2, service: 'cache', start: 250, end: 260 },
      ]),
    );
    const answer: CriticalPathJson = {
      traceId: TRACE_ID,
      segments: [
        { spanId: sid(1), service: 'frontend', name: 'op-1', start: at(0), end: at(10), selfTimeOnPathNs: 10_000_000 },
        { spanId: sid(2), service: 'api', name: 'op-2', start: at(10), end: at(90), selfTimeOnPathNs: 80_000_000 },
        { spanId: sid(1), service: 'frontend', name: 'op-1', start: at(90), end: at(100), selfTimeOnPathNs: 10_000_000 },
      ],
      spans: [
        { spanId: sid(1), selfTimeNs: 20_000_000, onPathNs: 20_000_000 },
        { spanId: sid(2), selfTimeNs: 50_000_000, onPathNs: 80_000_000 },
        { spanId: sid(3), selfTimeNs: 20_000_000, onPathNs: 0 },
        { spanId: sid(4), selfTimeNs: 10_000_000, onPathNs: 0 },
      ],
      skew: [{ spanId: sid(2), parentSpanId: sid(1), shiftNs: -200_000_000 }],
      orphans: [],
    };
    const cp = mapCriticalPath(model, answer);
    const i = (n: number) => model.byId.get(sid(n))!;
    assert.equal(cp.shiftNs[i(1)], 0);
    assert.equal(cp.shiftNs[i(2)], -200_000_000);
    assert.equal(cp.shiftNs[i(3)], -200_000_000, 'same service: same clock, same shift');
    assert.equal(cp.shiftNs[i(4)], 0, 'another service has its own clock');
    assert.deepEqual(cp.skew, [{ span: i(2), parent: i(1), shiftNs: -200_000_000 }]);
    // In the corrected timeline the api span sits at 10-90 ms, and its path segment covers all of it.
    const corrected = layoutSpans(model, correctedTimeline(model, cp.ownShiftNs));
    assert.equal(corrected.start[i(2)], 10_000_000);
    assert.deepEqual(segmentFractions(cp, model, i(2)), [[0, 1]]);
    assert.ok(Number.isNaN(mapCriticalPath(model, { ...answer, spans: [] }).selfTimeNs[i(1)]), 'unknown self time is NaN, not 0');
  });

  it('reports ids it cannot place and maps orphans', () => {
    const model = buildTrace(
      tracePayload([
        { id: 1, start: 0, end: 100 },
        { id: 2, missingParent: 'ffffffffffffffff', start: 10, end: 20 },
      ]),
    );
    const cp = mapCriticalPath(model, {
      traceId: TRACE_ID,
      segments: [
        { spanId: sid(1), service: 'frontend', name: 'op-1', start: at(0), end: at(100), selfTimeOnPathNs: 100_000_000 },
        { spanId: sid(9), service: 'frontend', name: 'gone', start: at(0), end: at(1), selfTimeOnPathNs: 1_000_000 },
      ],
      spans: [{ spanId: sid(1).toUpperCase(), selfTimeNs: 90_000_000, onPathNs: 100_000_000 }],
      skew: [],
      orphans: [sid(2)],
    });
    assert.deepEqual(cp.unknownSpanIds, [sid(9)]);
    assert.deepEqual(cp.orphans, [model.byId.get(sid(2))]);
    assert.equal(cp.selfTimeNs[0], 90_000_000, 'ids match whatever their case');
    assert.equal(cp.segments.length, 1);
  });

  it('refuses an answer of another shape with a clear message', () => {
    assert.throws(() => parseCriticalPath(null), /not an object/);
    assert.throws(() => parseCriticalPath({ spans: [] }), /no segments/);
    assert.throws(() => parseCriticalPath({ segments: [{ spanId: 'a', start: 1.5, end: 'x' }], spans: [] }), /segment/);
    const ok = parseCriticalPath({ traceId: 'x', segments: [], spans: [] });
    assert.deepEqual([ok.skew, ok.orphans], [[], []]);
  });

  it('clamps segment fractions into the bar, and covers zero-length spans', () => {
    const model = buildTrace(tracePayload([{ id: 1, start: 0, end: 100 }, { id: 2, parent: 1, start: 50, end: 50 }]));
    const cp = mapCriticalPath(model, {
      traceId: TRACE_ID,
      segments: [
        { spanId: sid(1), service: 'frontend', name: 'op-1', start: at(0), end: at(25), selfTimeOnPathNs: 25_000_000 },
        { spanId: sid(2), service: 'frontend', name: 'op-2', start: at(50), end: at(50), selfTimeOnPathNs: 0 },
        { spanId: sid(1), service: 'frontend', name: 'op-1', start: at(50), end: at(120), selfTimeOnPathNs: 50_000_000 },
      ],
      spans: [],
      skew: [],
      orphans: [],
    });
    assert.deepEqual(segmentFractions(cp, model, 0), [[0, 0.25], [0.5, 1]]);
    assert.deepEqual(segmentFractions(cp, model, 1), [[0, 1]]);
  });
});

/**
 * The server's own answer for these spans (src/diagnosis/critical-path.ts,
 * shaped as trace-path.ts sends it), so the roles below are tested on what
 * the real algorithm says, not on a hand-written path. The specs must have
 * a span starting at 0 (the trace's start).
 */
function serverAnswer(specs: SpanSpec[]): CriticalPathJson {
  const path = specs.map((s) => ({
    spanId: sid(s.id),
    parentId: s.parent !== undefined ? sid(s.parent) : (s.missingParent ?? ''),
    service: s.service ?? 'frontend',
    name: s.name ?? `op-${s.id}`,
    start: Math.round(s.start * 1e6),
    end: Math.round(s.end * 1e6),
  }));
  const cp = criticalPath(path);
  const abs = (offset: number) => (T0 + BigInt(Math.round(offset))).toString();
  return {
    traceId: TRACE_ID,
    segments: cp.segments.map((g) => ({ spanId: path[g.span].spanId, service: path[g.span].service, name: path[g.span].name, start: abs(g.start), end: abs(g.end), selfTimeOnPathNs: g.end - g.start })),
    spans: path.map((p, i) => ({ spanId: p.spanId, selfTimeNs: cp.selfTimeNs[i], onPathNs: cp.onPathNs[i] })),
    skew: cp.skew.map((k) => ({ spanId: path[k.span].spanId, parentSpanId: path[k.parent].spanId, shiftNs: k.shiftNs })),
    orphans: cp.orphans.map((i) => path[i].spanId),
  };
}

function rolesOf(specs: SpanSpec[]) {
  const model = buildTrace(tracePayload(specs));
  const cp = mapCriticalPath(model, serverAnswer(specs));
  const roles = pathRoles(model, cp);
  const byName = Object.fromEntries(model.spans.map((s, i) => [s.name, roles[i]]));
  return { model, cp, roles, byName };
}

describe('the critical path on rows', () => {
  it('marks every step of a serial trace as on the path, and only the ones holding 1% or more of it as critical', () => {
    // The clinic lab's shape: the gateway calls appointments, then billing, one after the other; wrappers do
    // nothing but wait. Start times are cut to the ms as the OpenTelemetry JS SDK records them, so a
    // statement seems to end a little after the next one starts.
    const { byName } = rolesOf([
      { id: 1, name: 'gateway GET /visit', service: 'gateway', start: 0, end: 277.3 },
      { id: 2, parent: 1, name: 'gateway handler', service: 'gateway', start: 0, end: 277.16 },
      { id: 3, parent: 2, name: 'GET appointments', service: 'gateway', start: 0, end: 66.06 },
      { id: 4, parent: 3, name: 'appointments server', service: 'appointments', start: 1, end: 66.03 },
      { id: 5, parent: 4, name: 'SELECT appointments', service: 'appointments', start: 1, end: 6.27 },
      { id: 6, parent: 4, name: 'SELECT practitioners', service: 'appointments', start: 6, end: 11.26 },
      { id: 7, parent: 4, name: 'GET patients', service: 'appointments', start: 12, end: 65.17 },
      { id: 8, parent: 2, name: 'GET balance', service: 'gateway', start: 67, end: 277.07 },
      { id: 9, parent: 8, name: 'billing server', service: 'billing', start: 67, end: 273.98 },
      { id: 10, parent: 9, name: 'SELECT invoices', service: 'billing', start: 68, end: 273.66 },
    ]);
    assert.deepEqual(byName, {
      'gateway GET /visit': 'through',
      'gateway handler': 'through',
      'GET appointments': 'through',
      'appointments server': 'through', // 1.6 ms of 277 between its statements: under 1%
      'SELECT appointments': 'critical', // ends 0.27 ms after the next starts: a cut start time, not parallel work
      'SELECT practitioners': 'critical',
      'GET patients': 'critical',
      'GET balance': 'critical', // 3.09 ms: the call's own overhead
      'billing server': 'through',
      'SELECT invoices': 'critical',
    });
  });

  it('dims parallel children the path did not wait for, even ones started a moment before the one it did', () => {
    // A fan-out started in a loop: price, stock and reviews at 10, 10.4 and 10.8 ms; reviews is the slowest.
    const { byName, cp, model } = rolesOf([
      { id: 1, name: 'GET /product', start: 0, end: 100 },
      { id: 2, parent: 1, name: 'price', service: 'pricing', start: 10, end: 40 },
      { id: 3, parent: 1, name: 'stock', service: 'stock', start: 10.4, end: 60 },
      { id: 4, parent: 3, name: 'stock query', service: 'stock', start: 11, end: 59 },
      { id: 5, parent: 1, name: 'reviews', service: 'reviews', start: 10.8, end: 90 },
      { id: 6, parent: 5, name: 'reviews query', service: 'reviews', start: 12, end: 88 },
      { id: 7, parent: 1, name: 'render', start: 91, end: 99 },
    ]);
    // The server's walk credits price and stock with the 0.4 ms before the next one started ...
    assert.ok(cp.onPathNs[model.byId.get(sid(2))!] > 0 && cp.onPathNs[model.byId.get(sid(3))!] > 0);
    // ... but neither ended before the path moved on, so neither is on it.
    assert.deepEqual(byName, {
      'GET /product': 'critical',
      price: 'off',
      stock: 'off',
      'stock query': 'off',
      reviews: 'critical',
      'reviews query': 'critical',
      render: 'critical',
    });
  });

  it('marks a step repeated many times, each small, by what the operation holds in all', () => {
    // A batch job: 300 upserts of 1 ms one after another, each 0.33% of the path, 99% together.
    const specs: SpanSpec[] = [{ id: 1, name: 'nightly import', start: 0, end: 303 }];
    for (let k = 0; k < 300; k++) specs.push({ id: 2 + k, parent: 1, name: 'upsert product', service: 'catalog', start: 1 + k, end: 2 + k });
    const { roles, model } = rolesOf(specs);
    assert.equal(roles[0], 'through', 'the job itself holds 3 ms of 303');
    assert.ok(model.spans.slice(1).every((_, k) => roles[k + 1] === 'critical'));
  });

  it('sums the path by operation, most first, with shares of the whole path', () => {
    const specs: SpanSpec[] = [{ id: 1, name: 'GET /visit', service: 'appointments', start: 0, end: 200 }];
    // N+1: twenty 5 ms queries one after another, then one 80 ms query, and one in parallel that is off the path.
    for (let k = 0; k < 20; k++) specs.push({ id: 10 + k, parent: 1, name: 'SELECT practitioners', service: 'appointments', start: 10 + k * 5, end: 15 + k * 5 });
    specs.push({ id: 40, parent: 1, name: 'SELECT appointments', service: 'appointments', start: 110, end: 190 });
    specs.push({ id: 41, parent: 1, name: 'warm cache', service: 'appointments', start: 111, end: 150 });
    const { model, cp, roles } = rolesOf(specs);
    const { top, rest } = pathContributors(model, cp, roles, 2);
    assert.deepEqual(
      top.map((g) => [g.service, g.name, g.onPathNs / 1e6, g.share, g.spans.length]),
      [
        ['appointments', 'SELECT practitioners', 100, 0.5, 20],
        ['appointments', 'SELECT appointments', 80, 0.4, 1],
      ],
    );
    assert.deepEqual([rest.onPathNs / 1e6, rest.share, rest.operations], [20, 0.1, 1], 'the root\u2019s own 20 ms; warm cache is off the path');
    assert.equal(top[1].spans[0], model.byId.get(sid(40)));
  });

  it('places path segments on a bar cut at its caller\u2019s end', () => {
    assert.deepEqual(drawnFractions([[0, 0.5], [0.6, 1]], 100, 80), [[0, 0.625], [0.75, 1]]);
    assert.deepEqual(drawnFractions([[0.9, 1]], 100, 80), [], 'a segment wholly past the cut');
    assert.deepEqual(drawnFractions([[0, 1]], 100, 100), [[0, 1]]);
  });
});
