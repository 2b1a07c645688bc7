import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildTrace, collapseToDepth, layoutSpans, reveal, visibleRows, ancestors, correctedTimeline, recordedTimeline, traceTiming, barEvents } from './trace.js';
import { base64ToHex, anyValueText, attributes, spanKind, statusCode } from './otlp.js';
import { golden, sid, tracePayload, T0, TRACE_ID } from './fixtures.js';
import type { TraceByIdJson } from './otlp.js';

describe('otlp values', () => {
  it('decodes base64 ids to hex exactly as Buffer does', () => {
    for (const hex of ['00', '0af7651916cd43dd8448eb211c80319c', 'ffffffffffffffff', '1000000000000001', 'a1b2c3']) {
      assert.equal(base64ToHex(Buffer.from(hex, 'hex').toString('base64')), hex);
    }
    assert.equal(base64ToHex(undefined), '');
    assert.equal(base64ToHex('not base64!'), '');
  });

  it('shows every AnyValue type as text, containers as JSON', () => {
    assert.deepEqual(anyValueText({ stringValue: 'a b' }), { type: 'string', text: 'a b' });
    assert.deepEqual(anyValueText({ intValue: '9007199254740993' }), { type: 'int', text: '9007199254740993' });
    assert.deepEqual(anyValueText({ doubleValue: 'NaN' }), { type: 'double', text: 'NaN' });
    assert.deepEqual(anyValueText({ boolValue: false }), { type: 'bool', text: 'false' });
    assert.deepEqual(anyValueText({ arrayValue: { values: [{ stringValue: 'a' }, { intValue: '2' }, { boolValue: true }] } }), { type: 'array', text: '["a",2,true]' });
    assert.deepEqual(anyValueText({ kvlistValue: { values: [{ key: 'k', value: { doubleValue: 1.5 } }] } }), { type: 'kvlist', text: '{"k":1.5}' });
    assert.deepEqual(anyValueText({ bytesValue: 'AQI=' }), { type: 'bytes', text: 'AQI=' });
    assert.deepEqual(anyValueText({}), { type: 'empty', text: '' });
    assert.deepEqual(attributes([{ key: 'b', value: { stringValue: '2' } }, { key: 'a', value: { intValue: '1' } }]).map((a) => a.key), ['a', 'b']);
  });

  it('reads enums by name and by number', () => {
    assert.equal(spanKind('SPAN_KIND_SERVER'), 'server');
    assert.equal(spanKind(3), 'client');
    assert.equal(spanKind(undefined), 'unspecified');
    assert.equal(statusCode('STATUS_CODE_ERROR'), 'error');
    assert.equal(statusCode(1), 'ok');
    assert.equal(statusCode(undefined), 'unset');
  });
});

describe('buildTrace', () => {
  it('reads the golden trace from /api/v2/traces: ids, services, tree, times, attributes, events, links', () => {
    const m = buildTrace(golden<TraceByIdJson>('trace-v2'));
    assert.equal(m.traceId, '0000000000000000a1b2c3d4e5f60718');
    assert.equal(m.spans.length, 3);
    assert.deepEqual(
      m.spans.map((s) => [s.spanId, s.depth, s.service, s.name]),
      [
        ['1000000000000001', 0, 'golden-frontend', 'GET /cart'],
        ['1000000000000003', 1, 'golden-cart', 'SELECT cart_items'],
        ['1000000000000002', 1, 'golden-frontend', 'render cart'],
      ],
    );
    assert.equal(m.startNs, 1_700_000_000_000_000_000n);
    assert.equal(m.durationNs, 612_000_000);
    const root = m.spans[0];
    assert.equal(root.kind, 'server');
    assert.equal(root.traceState, 'vendor=1');
    assert.equal(root.attributes.find((a) => a.key === 'http.status_code')?.text, '200');
    assert.equal(root.resource.find((a) => a.key === 'k8s.namespace.name')?.text, 'shop');
    assert.deepEqual(root.scope, { name: 'golden-lib', version: '1.0.0', attributes: [] });
    assert.equal(m.rootIndex, 0);
    assert.equal(m.errorCount, m.spans.filter((s) => s.status === 'error').length);
    assert.ok(m.errorCount >= 1, 'the golden trace has an error span');
  });

  it('orders children by start time, depth first, with subtree extents', () => {
    const m = buildTrace(
      tracePayload([
        { id: 1, start: 0, end: 100 },
        { id: 2, parent: 1, start: 50, end: 90 },
        { id: 3, parent: 1, start: 10, end: 40 },
        { id: 4, parent: 3, start: 15, end: 20 },
        { id: 5, parent: 2, start: 60, end: 70 },
      ]),
    );
    assert.deepEqual(m.spans.map((s) => s.spanId), [sid(1), sid(3), sid(4), sid(2), sid(5)]);
    assert.deepEqual(m.spans.map((s) => s.depth), [0, 1, 2, 1, 2]);
    assert.deepEqual(m.spans.map((s) => s.subtreeEnd), [5, 3, 3, 5, 5]);
    assert.deepEqual(m.spans.map((s) => s.parent), [-1, 0, 1, 0, 3]);
    assert.deepEqual(m.spans.map((s) => s.childCount), [2, 1, 0, 1, 0]);
    assert.deepEqual(m.spans.map((s) => s.start / 1e6), [0, 10, 15, 50, 60]);
    assert.equal(m.maxDepth, 2);
    assert.equal(m.traceId, TRACE_ID);
  });

  it('keeps spans whose parent never arrived, as extra roots marked orphan', () => {
    const m = buildTrace(
      tracePayload([
        { id: 1, start: 0, end: 100 },
        { id: 2, missingParent: 'deadbeefdeadbeef', start: 20, end: 30 },
        { id: 3, parent: 2, start: 21, end: 22 },
      ]),
    );
    assert.deepEqual(m.roots.map((r) => m.spans[r].spanId), [sid(1), sid(2)]);
    const orphan = m.spans[m.byId.get(sid(2))!];
    assert.equal(orphan.orphan, true);
    assert.equal(orphan.parent, -1);
    assert.equal(orphan.parentSpanId, 'deadbeefdeadbeef');
    assert.equal(m.spans[m.byId.get(sid(3))!].depth, 1);
    assert.equal(m.rootIndex, 0, 'the true root, not the orphan');
  });

  it('breaks parent cycles instead of losing or looping over spans', () => {
    const m = buildTrace(
      tracePayload([
        { id: 1, start: 0, end: 100 },
        { id: 2, parent: 3, start: 10, end: 20 },
        { id: 3, parent: 2, start: 12, end: 18 },
      ]),
    );
    assert.equal(m.spans.length, 3);
    assert.deepEqual(new Set(m.spans.map((s) => s.spanId)), new Set([sid(1), sid(2), sid(3)]));
    const cut = m.spans.filter((s) => s.parent === -1 && s.spanId !== sid(1));
    assert.equal(cut.length, 1);
    assert.equal(cut[0].orphan, true);
    for (const s of m.spans) assert.ok(s.subtreeEnd > s.index);
  });

  it('keeps the first of two spans with the same id as the parent of its children', () => {
    const m = buildTrace(
      tracePayload([
        { id: 1, start: 0, end: 100, name: 'first' },
        { id: 1, start: 5, end: 6, name: 'second' },
        { id: 2, parent: 1, start: 10, end: 20 },
      ]),
    );
    assert.equal(m.spans.length, 3);
    assert.equal(m.spans[m.byId.get(sid(1))!].name, 'first');
    assert.equal(m.spans[m.spans[m.byId.get(sid(2))!].parent].name, 'first');
  });

  it('builds a trace nested 20,000 deep without recursion', () => {
    const specs = Array.from({ length: 20_000 }, (_, i) => ({ id: i + 1, parent: i === 0 ? undefined : i, start: i * 0.001, end: 100 }));
    const m = buildTrace(tracePayload(specs));
    assert.equal(m.maxDepth, 19_999);
    assert.equal(m.spans[0].subtreeEnd, 20_000);
    assert.equal(visibleRows(m, new Set([0])).length, 1);
  });

  it('clamps an end before the start to a zero duration, and survives an empty trace', () => {
    const m = buildTrace(tracePayload([{ id: 1, start: 10, end: 5 }]));
    assert.equal(m.spans[0].durationNs, 0);
    const empty = buildTrace({ trace: { resourceSpans: [] } }, 'abc');
    assert.equal(empty.spans.length, 0);
    assert.equal(empty.rootIndex, -1);
    assert.equal(empty.traceId, 'abc');
  });

  it('gives services stable colour indices in order of appearance', () => {
    const m = buildTrace(
      tracePayload([
        { id: 1, start: 0, end: 100, service: 'gateway' },
        { id: 2, parent: 1, start: 10, end: 20, service: 'cart' },
        { id: 3, parent: 1, start: 30, end: 40, service: 'gateway' },
      ]),
    );
    assert.deepEqual(m.services, ['gateway', 'cart']);
    assert.deepEqual(m.spans.map((s) => s.serviceIndex), [0, 1, 0]);
  });

  it('sorts events by time, as offsets from the span start', () => {
    const p = tracePayload([{ id: 1, start: 0, end: 100 }]);
    const span = p.trace!.resourceSpans![0].scopeSpans![0].spans![0];
    span.events = [
      { timeUnixNano: (T0 + 50_000_000n).toString(), name: 'late' },
      { timeUnixNano: (T0 + 5_000_000n).toString(), name: 'early', attributes: [{ key: 'k', value: { stringValue: 'v' } }] },
    ];
    const m = buildTrace(p);
    assert.deepEqual(m.spans[0].events.map((e) => [e.name, e.offsetNs]), [['early', 5_000_000], ['late', 50_000_000]]);
  });
});

describe('visible rows, collapse and layout', () => {
  const m = buildTrace(
    tracePayload([
      { id: 1, start: 0, end: 100 },
      { id: 2, parent: 1, start: 10, end: 40 },
      { id: 3, parent: 2, start: 15, end: 20 },
      { id: 4, parent: 2, start: 25, end: 30 },
      { id: 5, parent: 1, start: 50, end: 150 },
    ]),
  );

  it('skips a collapsed subtree in one step', () => {
    assert.deepEqual([...visibleRows(m, new Set())], [0, 1, 2, 3, 4]);
    assert.deepEqual([...visibleRows(m, new Set([1]))], [0, 1, 4]);
    assert.deepEqual([...visibleRows(m, new Set([0]))], [0]);
    assert.deepEqual([...visibleRows(m, new Set([0, 1]))], [0]);
  });

  it('reveals a hidden span by expanding its ancestors only', () => {
    assert.deepEqual(ancestors(m, 3), [1, 0]);
    assert.deepEqual([...reveal(m, new Set([0, 1, 4]), [3])], [4]);
    assert.deepEqual([...collapseToDepth(m, 1)], [1]);
  });

  it('lays bars out as fractions of the whole trace, including children that outlive the root', () => {
    const l = layoutSpans(m);
    assert.equal(l.spanNs, 150_000_000);
    assert.equal(l.left[0], 0);
    assert.equal(l.width[0], 100 / 150);
    assert.equal(l.left[4], 50 / 150);
    assert.equal(l.width[4], 100 / 150);
  });

  it('shifts bars for clock-skew correction', () => {
    const shift = new Float64Array(m.spans.length);
    shift[4] = -60_000_000;
    const l = layoutSpans(m, correctedTimeline(m, shift));
    assert.equal(l.spanNs, 110_000_000, 'from the shifted child at -10 ms to the root end at 100 ms');
    assert.equal(l.left[4], 0);
    assert.equal(l.left[0], 10 / 110);
    assert.equal(l.start[4], -10_000_000);
    assert.equal(l.originNs, -10_000_000);
    assert.deepEqual(layoutSpans(m), layoutSpans(m, recordedTimeline(m)));
  });
});

describe('clock-skew correction and overruns', () => {
  // A gateway calls billing: the client span (gateway) and the server span (billing) are on two clocks.
  const skewed = (server: { start: number; end: number }, extra: Parameters<typeof tracePayload>[0] = []) =>
    buildTrace(
      tracePayload([
        { id: 1, service: 'gateway', kind: 'SPAN_KIND_SERVER', start: 0, end: 400 },
        { id: 2, parent: 1, service: 'gateway', kind: 'SPAN_KIND_CLIENT', name: 'GET /balance', start: 160, end: 393 },
        { id: 3, parent: 2, service: 'billing', kind: 'SPAN_KIND_SERVER', name: 'GET /balance', ...server },
        ...extra,
      ]),
    );
  const at = (m: ReturnType<typeof buildTrace>, id: number) => m.byId.get(sid(id))!;

  it('starts a server span longer than its client with the client, cuts it at the client\u2019s end, and says by how much it is longer', () => {
    // 241 ms under a 233 ms client, recorded running 8 ms past the root's end.
    const m = skewed({ start: 167, end: 408 }, [{ id: 4, parent: 3, service: 'billing', name: 'SELECT invoices', start: 170, end: 405 }]);
    assert.equal(m.durationNs, 408_000_000, 'the trace, as recorded, ends with the server span');
    const t = correctedTimeline(m);
    const [client, server, db] = [at(m, 2), at(m, 3), at(m, 4)];
    assert.equal(t.start[server], t.start[client]);
    assert.equal(t.start[server] + t.drawnNs[server], t.start[client] + t.drawnNs[client], 'cut at the client\u2019s end');
    assert.equal(t.overrunNs[server], 8_000_000);
    assert.equal(t.shiftNs[server], -7_000_000);
    assert.equal(t.ownShiftNs[server], 0, 'starting it with its call is not a skew correction: no ⚠, the overrun says it');
    assert.equal(t.shiftNs[db], -7_000_000, 'its database call is on its clock and moves with it');
    assert.ok(t.start[db] + t.drawnNs[db] <= t.start[client] + t.drawnNs[client], 'and is cut where it is');
    const l = layoutSpans(m, t);
    assert.equal(l.spanNs, 400_000_000, 'nothing is drawn past the root');
    // As recorded, bars stay where they were, and the overrun is still reported.
    const r = recordedTimeline(m);
    assert.equal(r.start[server], 167_000_000);
    assert.equal(r.drawnNs[server], 241_000_000);
    assert.equal(r.overrunNs[server], 8_000_000);
  });

  it('centres a server span that fits its client but was recorded outside it', () => {
    const m = skewed({ start: 560, end: 780 });
    const t = correctedTimeline(m);
    const [client, server] = [at(m, 2), at(m, 3)];
    assert.equal(t.start[server], t.start[client] + (233_000_000 - 220_000_000) / 2);
    assert.equal(t.drawnNs[server], 220_000_000);
    assert.equal(t.overrunNs[server], 0);
  });

  it('keeps the server\u2019s shifts, which the critical path was computed with, where they already fit', () => {
    const m = skewed({ start: 560, end: 780 });
    const own = new Float64Array(m.spans.length);
    own[at(m, 3)] = 160_000_000 + 6_500_000 - 560_000_000;
    const t = correctedTimeline(m, own);
    assert.equal(t.ownShiftNs[at(m, 3)], own[at(m, 3)], 'no extra shift on top of the server\u2019s');
  });

  it('leaves async work alone: a same-service span outliving its parent, a consumer after its producer', () => {
    const m = buildTrace(
      tracePayload([
        { id: 1, service: 'shop', kind: 'SPAN_KIND_SERVER', start: 0, end: 100 },
        { id: 2, parent: 1, service: 'shop', name: 'flush cache', start: 90, end: 300 },
        { id: 3, parent: 1, service: 'shop', kind: 'SPAN_KIND_PRODUCER', start: 50, end: 52 },
        { id: 4, parent: 3, service: 'mailer', kind: 'SPAN_KIND_CONSUMER', start: 500, end: 900 },
      ]),
    );
    const t = correctedTimeline(m);
    for (const id of [2, 4]) {
      const i = at(m, id);
      assert.equal(t.shiftNs[i], 0);
      assert.equal(t.drawnNs[i], m.spans[i].durationNs);
      assert.equal(t.overrunNs[i], 0);
    }
  });

  it('does not flag an overrun below 1% of the call: start times cut to the millisecond make those', () => {
    const m = skewed({ start: 160, end: 393.5 });
    assert.equal(correctedTimeline(m).overrunNs[at(m, 3)], 0);
  });
});

describe('trace timing', () => {
  it('tells the trace\u2019s duration from the root span\u2019s, and which spans make the difference', () => {
    const m = buildTrace(
      tracePayload([
        { id: 1, start: 0, end: 400 },
        { id: 2, parent: 1, start: 10, end: 408 },
        { id: 3, parent: 1, start: 20, end: 30 },
      ]),
    );
    const t = traceTiming(m);
    assert.equal(t.durationNs, 408_000_000);
    assert.equal(t.rootNs, 400_000_000);
    assert.equal(t.afterRootNs, 8_000_000);
    assert.equal(t.beforeRootNs, 0);
    assert.deepEqual(t.outside, [m.byId.get(sid(2))]);
  });
});

describe('events on bars', () => {
  it('marks exceptions with their type and message, and thins out a crowd of other events', () => {
    const p = tracePayload([{ id: 1, start: 0, end: 100 }]);
    const span = p.trace!.resourceSpans![0].scopeSpans![0].spans![0];
    span.events = [
      { timeUnixNano: (T0 + 80_000_000n).toString(), name: 'exception', attributes: [{ key: 'exception.type', value: { stringValue: 'CardDeclined' } }, { key: 'exception.message', value: { stringValue: 'card declined' } }] },
      ...Array.from({ length: 100 }, (_, k) => ({ timeUnixNano: (T0 + BigInt(k) * 500_000n).toString(), name: `log ${k}`, attributes: [{ key: 'n', value: { intValue: String(k) } }] })),
    ];
    const m = buildTrace(p);
    const marks = barEvents(m.spans[0], 10);
    assert.equal(marks.length, 10);
    const ex = marks.filter((e) => e.exception);
    assert.deepEqual(ex.map((e) => [e.name, e.offsetNs, e.message]), [['exception', 80_000_000, 'CardDeclined: card declined']]);
    assert.deepEqual(marks.map((e) => e.offsetNs), [...marks.map((e) => e.offsetNs)].sort((a, b) => a - b), 'in time order');
    assert.equal(barEvents(m.spans[0], Infinity).length, 101);
    assert.equal(barEvents(m.spans[0], Infinity).find((e) => e.name === 'log 3')?.message, 'n=3');
  });
});
