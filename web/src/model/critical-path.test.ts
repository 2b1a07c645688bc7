import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildTrace, layoutSpans } from './trace.js';
import { mapCriticalPath, parseCriticalPath, pathSpans, segmentFractions, type CriticalPathJson } from './critical-path.js';
import { at, golden, sid, tracePayload, TRACE_ID } from './fixtures.js';
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
    const corrected = layoutSpans(model, cp.shiftNs);
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
