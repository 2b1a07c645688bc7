import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildTrace, collapseToDepth, layoutSpans, reveal, visibleRows, ancestors } from './trace.js';
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
    const l = layoutSpans(m, shift);
    assert.equal(l.spanNs, 110_000_000, 'from the shifted child at -10 ms to the root end at 100 ms');
    assert.equal(l.left[4], 0);
    assert.equal(l.left[0], 10 / 110);
    assert.equal(l.start[4], -10_000_000);
    assert.equal(l.originNs, -10_000_000);
  });
});
