import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeListOfSpans, type ProtoSpanInput } from '../../testkit/zipkin-schema.js';
import { ResourceBatchBuilder, SpanBatchBuilder } from '../model/span-batch.js';
import { scanNativeBlocks } from '../model/native-scan.js';
import { ResourceRows } from './row-templates.js';
import { DecodeOutcome, MalformedRequestError } from './decode-result.js';
import { JsonSpanDecoder } from './decode-json.js';
import { parseZipkinJson } from './zipkin-json.js';
import { parseZipkinProtobuf } from './zipkin-protobuf.js';
import { sharedServerId, zipkinToOtlp, ZipkinSpanDecoder, type OtlpJsonRequest, type OtlpJsonSpan } from './zipkin-to-otlp.js';

/**
 * The Zipkin v2 translation, field by field against the OpenTelemetry
 * Collector's translator (pkg/translator/zipkin/zipkinv2) and the
 * specification's Zipkin mapping; and the two wire formats, which must
 * give the same spans.
 */

const T64 = '5af7183fb1d4cf5f';
const T128 = '463ac35c9f6413ad48485a3953bb6124';
const TS = 1_700_000_000_123_456n; // epoch microseconds

const translate = (spans: unknown[]) => {
  const outcome = new DecodeOutcome();
  const request = zipkinToOtlp(parseZipkinJson(Buffer.from(JSON.stringify(spans))), outcome);
  return { request, outcome };
};
const allSpans = (r: OtlpJsonRequest): OtlpJsonSpan[] => r.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans));
const attrs = (s: { attributes: { key: string; value: unknown }[] }) => Object.fromEntries(s.attributes.map((a) => [a.key, a.value]));
const one = (span: Record<string, unknown>) => {
  const { request, outcome } = translate([{ traceId: T128, id: '0000000000000001', timestamp: Number(TS), ...span }]);
  assert.equal(outcome.rejected, 0, outcome.firstError);
  return { span: allSpans(request)[0], request };
};

describe('Zipkin v2 to OTLP', () => {
  it('maps kinds: the four Zipkin kinds, absent as INTERNAL, a span.kind tag when the kind is absent', () => {
    const kind = (k: Record<string, unknown>) => one(k).span.kind;
    assert.equal(kind({ kind: 'SERVER' }), 2);
    assert.equal(kind({ kind: 'CLIENT' }), 3);
    assert.equal(kind({ kind: 'PRODUCER' }), 4);
    assert.equal(kind({ kind: 'CONSUMER' }), 5);
    assert.equal(kind({}), 1);
    const tagged = one({ tags: { 'span.kind': 'client', other: 'x' } }).span;
    assert.equal(tagged.kind, 3);
    assert.deepEqual(attrs(tagged), { other: { stringValue: 'x' } });
    assert.throws(() => translate([{ traceId: T128, id: '1', timestamp: 1, kind: 'SIDEWAYS' }]), (e: Error) => e instanceof MalformedRequestError && /kind must be one of CLIENT, SERVER, PRODUCER, CONSUMER/.test(e.message));
  });

  it('pads 64-bit trace ids and short ids, and drops a zero or self parent', () => {
    const { span } = one({ traceId: T64.toUpperCase(), id: 'abc', parentId: '00000000000000ff' });
    assert.equal(span.traceId, `0000000000000000${T64}`);
    assert.equal(span.spanId, '0000000000000abc');
    assert.equal(span.parentSpanId, '00000000000000ff');
    assert.equal(one({ parentId: '0000000000000000' }).span.parentSpanId, '');
    assert.equal(one({ parentId: '0000000000000001' }).span.parentSpanId, '');
  });

  it('turns microseconds into nanoseconds, for spans and annotations', () => {
    const { span } = one({ duration: 1500, annotations: [{ timestamp: Number(TS + 10n), value: 'ws' }] });
    assert.equal(span.startTimeUnixNano, String(TS * 1000n));
    assert.equal(span.endTimeUnixNano, String(TS * 1000n + 1_500_000n));
    assert.deepEqual(span.events, [{ timeUnixNano: String((TS + 10n) * 1000n), name: 'ws', attributes: [], droppedAttributesCount: 0 }]);
    // Sampled: Zipkin reports only sampled spans.
    assert.equal(span.flags, 1);
  });

  it('puts the local service on the resource and the endpoints in net and peer attributes', () => {
    const { span, request } = one({
      kind: 'CLIENT',
      localEndpoint: { serviceName: 'frontend', ipv4: '10.0.0.1', port: 8080 },
      remoteEndpoint: { serviceName: 'backend', ipv4: '10.0.0.2', ipv6: '2001:db8::c001', port: 9000 },
      tags: { 'http.method': 'GET' },
    });
    assert.deepEqual(request.resourceSpans[0].resource.attributes, [{ key: 'service.name', value: { stringValue: 'frontend' } }]);
    assert.deepEqual(attrs(span), {
      'http.method': { stringValue: 'GET' },
      'net.host.ip': { stringValue: '10.0.0.1' },
      'net.host.port': { intValue: '8080' },
      'peer.service': { stringValue: 'backend' },
      // IPv6 wins over IPv4, as in the collector.
      'net.peer.ip': { stringValue: '2001:db8::c001' },
      'net.peer.port': { intValue: '9000' },
    });
    // The specification: a peer.service tag wins over the remote endpoint.
    assert.deepEqual(attrs(one({ remoteEndpoint: { serviceName: 'db' }, tags: { 'peer.service': 'postgres' } }).span)['peer.service'], { stringValue: 'postgres' });
    // No local service: a resource without service.name.
    assert.deepEqual(one({}).request.resourceSpans[0].resource.attributes, []);
  });

  it('moves resource tags to the resource, one resource per distinct set, and scope tags to the scope', () => {
    const base = { traceId: T128, timestamp: Number(TS), localEndpoint: { serviceName: 'svc' } };
    const { request } = translate([
      { ...base, id: '1', tags: { 'host.name': 'a', 'service.version': '1.2', 'otel.scope.name': 'lib', 'otel.scope.version': '3', k: 'v' } },
      { ...base, id: '2', tags: { 'host.name': 'b', 'otel.library.name': 'old-lib' } },
      { ...base, id: '3', tags: { 'host.name': 'a', 'service.version': '1.2', 'otel.scope.name': 'lib', 'otel.scope.version': '3' } },
    ]);
    assert.equal(request.resourceSpans.length, 2);
    const [a, b] = request.resourceSpans;
    assert.deepEqual(a.resource.attributes.map((kv) => [kv.key, (kv.value as { stringValue: string }).stringValue]), [['host.name', 'a'], ['service.name', 'svc'], ['service.version', '1.2']]);
    assert.deepEqual(a.scopeSpans[0].scope, { name: 'lib', version: '3' });
    assert.deepEqual(a.scopeSpans[0].spans.map((s) => s.spanId), ['0000000000000001', '0000000000000003']);
    assert.deepEqual(attrs(a.scopeSpans[0].spans[0]), { k: { stringValue: 'v' } });
    assert.deepEqual(b.scopeSpans[0].scope, { name: 'old-lib', version: '' });
    assert.deepEqual(attrs(b.scopeSpans[0].spans[0]), {});
    // otlp.service.name.source names the key the local service name goes under.
    const renamed = one({ localEndpoint: { serviceName: 'x' }, tags: { 'otlp.service.name.source': 'faas.name' } }).request;
    assert.deepEqual(renamed.resourceSpans[0].resource.attributes, [{ key: 'faas.name', value: { stringValue: 'x' } }]);
  });

  it('maps the error tag and otel.status_* tags to the status', () => {
    const status = (tags: Record<string, string>) => {
      const { span } = one({ tags });
      return { status: span.status, attrs: attrs(span) };
    };
    assert.deepEqual(status({ error: 'true' }), { status: { code: 2, message: '' }, attrs: {} });
    assert.deepEqual(status({ error: '' }), { status: { code: 2, message: '' }, attrs: {} });
    // A message in the error tag is the status message, and stays searchable as an attribute.
    assert.deepEqual(status({ error: 'connection reset' }), { status: { code: 2, message: 'connection reset' }, attrs: { error: { stringValue: 'connection reset' } } });
    assert.deepEqual(status({ error: 'false' }), { status: { code: 0, message: '' }, attrs: { error: { stringValue: 'false' } } });
    assert.deepEqual(status({ 'otel.status_code': 'OK' }), { status: { code: 1, message: '' }, attrs: {} });
    assert.deepEqual(status({ 'otel.status_code': 'STATUS_CODE_ERROR', 'otel.status_description': 'boom' }), { status: { code: 2, message: 'boom' }, attrs: {} });
    assert.deepEqual(status({ 'otel.status_code': 'ERROR', 'otel.status_description': 'boom', error: 'boom' }), { status: { code: 2, message: 'boom' }, attrs: { error: { stringValue: 'boom' } } });
    // An unknown status name is left as it was sent.
    assert.deepEqual(status({ 'otel.status_code': 'MAYBE' }), { status: { code: 0, message: '' }, attrs: { 'otel.status_code': { stringValue: 'MAYBE' } } });
  });

  it('reads back the collector encodings of events, links and trace state', () => {
    const link = `${T128}|00000000000000aa|k=v|{"link.n":1,"why":"retry"}|2`;
    const { span } = one({
      annotations: [
        { timestamp: Number(TS), value: 'cache miss|{"cache.key":"user:1","attempt":2,"ratio":0.5,"hit":false}|1' },
        { timestamp: Number(TS), value: 'a|b' },
        { timestamp: Number(TS), value: 'name|not json|0' },
      ],
      tags: { 'w3c.tracestate': 'vendor=1', 'otlp.link.0': link, 'otlp.link.1': 'garbage' },
    });
    assert.equal(span.traceState, 'vendor=1');
    assert.deepEqual(span.events.map((e) => [e.name, attrs(e), e.droppedAttributesCount]), [
      ['cache miss', { 'cache.key': { stringValue: 'user:1' }, attempt: { intValue: '2' }, ratio: { doubleValue: 0.5 }, hit: { boolValue: false } }, 1],
      ['a|b', {}, 0],
      ['name|not json|0', {}, 0],
    ]);
    assert.deepEqual(span.links, [{ traceId: T128, spanId: '00000000000000aa', traceState: 'k=v', attributes: [{ key: 'link.n', value: { intValue: '1' } }, { key: 'why', value: { stringValue: 'retry' } }], droppedAttributesCount: 2 }]);
    // A link tag that does not parse is kept, as an attribute.
    assert.deepEqual(attrs(span), { 'otlp.link.1': { stringValue: 'garbage' } });
  });

  it('gives a shared server span its own id under the client half, and moves its children in the request', () => {
    const shared = '00000000000000c1';
    const { request, outcome } = translate([
      { traceId: T128, id: shared, parentId: '00000000000000a0', kind: 'CLIENT', timestamp: Number(TS), localEndpoint: { serviceName: 'frontend' } },
      { traceId: T128, id: shared, parentId: '00000000000000a0', kind: 'SERVER', shared: true, timestamp: Number(TS + 5n), localEndpoint: { serviceName: 'backend' } },
      { traceId: T128, id: '00000000000000d1', parentId: shared, timestamp: Number(TS + 6n), localEndpoint: { serviceName: 'backend' } },
      // Same parent id, another service: a child of the client half.
      { traceId: T128, id: '00000000000000e1', parentId: shared, timestamp: Number(TS + 6n), localEndpoint: { serviceName: 'frontend' } },
    ]);
    assert.equal(outcome.rejected, 0);
    const byId = new Map(allSpans(request).map((s) => [`${s.spanId}/${s.kind}`, s]));
    const serverId = sharedServerId(T128, shared);
    assert.match(serverId, /^[0-9a-f]{16}$/);
    assert.notEqual(serverId, shared);
    assert.equal(byId.get(`${shared}/3`)!.parentSpanId, '00000000000000a0');
    assert.equal(byId.get(`${serverId}/2`)!.parentSpanId, shared);
    assert.equal(byId.get('00000000000000d1/1')!.parentSpanId, serverId);
    assert.equal(byId.get('00000000000000e1/1')!.parentSpanId, shared);
    // The same span sent again gets the same id.
    assert.equal(sharedServerId(T128, shared), serverId);
  });

  it('keeps debug as an attribute', () => {
    assert.deepEqual(attrs(one({ debug: true }).span), { 'zipkin.debug': { boolValue: true } });
    assert.deepEqual(attrs(one({ debug: false }).span), {});
  });

  it('rejects spans, not requests, for missing or bad ids and a missing timestamp, and counts them', () => {
    const { request, outcome } = translate([
      { traceId: T128, id: '1' },
      { traceId: '0'.repeat(32), id: '1', timestamp: 1 },
      { traceId: 'xyz', id: '1', timestamp: 1 },
      { traceId: `${T128}00`, id: '1', timestamp: 1 },
      { traceId: T128, id: '', timestamp: 1 },
      { traceId: T128, id: '12345678901234567', timestamp: 1 },
      { traceId: T128, id: '1', parentId: 'nothex', timestamp: 1 },
      { traceId: T128, id: '2', timestamp: 1 },
    ]);
    assert.equal(outcome.rejected, 7);
    assert.equal(outcome.firstError, 'span timestamp is missing: a span without a start time cannot be placed in time');
    assert.deepEqual(allSpans(request).map((s) => s.spanId), ['0000000000000002']);
  });

  it('refuses bodies that are not Zipkin v2 JSON, naming what is wrong', () => {
    const refuses = (body: string, pattern: RegExp) =>
      assert.throws(() => parseZipkinJson(Buffer.from(body)), (e: Error) => e instanceof MalformedRequestError && pattern.test(e.message));
    refuses('{"traceId":"1"}', /a Zipkin v2 request is a JSON array of spans/);
    refuses('[{"traceId":"1"', /invalid JSON/);
    refuses('[1]', /span 0 must be an object/);
    refuses('[{"traceId":1}]', /span 0 traceId must be a string/);
    refuses('[{"timestamp":"1700000000000000"}]', /span 0 timestamp must be a whole number of microseconds/);
    refuses('[{"timestamp":1.5}]', /span 0 timestamp must be a whole number/);
    refuses('[{"duration":-1}]', /span 0 duration must be a whole number/);
    refuses('[{"tags":{"a":{}}}]', /span 0 tag "a" must be a string/);
    refuses('[{"localEndpoint":{"port":70000}}]', /span 0 localEndpoint port must be a number from 0 to 65535/);
    refuses('[{"annotations":[{"value":"x"}]}]', /span 0 annotation 0 has no timestamp/);
    refuses('[{"shared":"yes"}]', /span 0 shared must be true or false/);
    assert.throws(() => parseZipkinJson(Buffer.from([0x5b, 0xff, 0x5d])), /not valid UTF-8/);
  });
});

describe('Zipkin v2 protobuf', () => {
  const spans: ProtoSpanInput[] = [
    {
      traceId: T128,
      id: '00000000000000c1',
      parentId: '00000000000000a0',
      kind: 'SERVER',
      name: 'get /appointments',
      timestamp: TS,
      duration: 2500n,
      localEndpoint: { serviceName: 'backend', ipv4: [10, 0, 0, 2], port: 9000 },
      remoteEndpoint: { serviceName: 'frontend', ipv6: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xc0, 0x01] },
      annotations: [{ timestamp: TS + 100n, value: 'wr' }],
      tags: { 'http.path': '/appointments', error: 'timeout' },
      shared: true,
      debug: true,
    },
    { traceId: T64, id: '00000000000000d1', parentId: '00000000000000c1', name: 'select', timestamp: TS + 200n, duration: 100n, localEndpoint: { serviceName: 'backend' } },
  ];
  const asJson = [
    {
      traceId: T128, id: '00000000000000c1', parentId: '00000000000000a0', kind: 'SERVER', name: 'get /appointments', timestamp: Number(TS), duration: 2500,
      localEndpoint: { serviceName: 'backend', ipv4: '10.0.0.2', port: 9000 }, remoteEndpoint: { serviceName: 'frontend', ipv6: '2001:db8::c001' },
      annotations: [{ timestamp: Number(TS + 100n), value: 'wr' }], tags: { 'http.path': '/appointments', error: 'timeout' }, shared: true, debug: true,
    },
    { traceId: T64, id: '00000000000000d1', parentId: '00000000000000c1', name: 'select', timestamp: Number(TS + 200n), duration: 100, localEndpoint: { serviceName: 'backend' } },
  ];

  it('reads what protobufjs writes from zipkin.proto into the same spans as the JSON form', () => {
    const proto = parseZipkinProtobuf(encodeListOfSpans(spans));
    const json = parseZipkinJson(Buffer.from(JSON.stringify(asJson)));
    assert.deepEqual(proto, json);
    assert.equal(proto[0].remoteEndpoint!.ipv6, '2001:db8::c001');
    assert.equal(proto[0].timestampUs, TS);
  });

  it('gives the same Native blocks as the JSON form, through the whole decoder', () => {
    const native = (decoder: ZipkinSpanDecoder, body: Buffer) => {
      const b = new SpanBatchBuilder();
      const r = new ResourceBatchBuilder();
      const outcome = decoder.decode(body, b, new ResourceRows(r, () => false, 1n), { minStartNs: 0, retentionText: '7d' });
      assert.deepEqual([outcome.accepted, outcome.rejected], [2, 0]);
      b.fillTenant('t');
      r.fillTenant('t');
      return Buffer.concat([b.toBuffer(), r.toBuffer()]);
    };
    const a = native(new ZipkinSpanDecoder(parseZipkinProtobuf), encodeListOfSpans(spans));
    const c = native(new ZipkinSpanDecoder(parseZipkinJson), Buffer.from(JSON.stringify(asJson)));
    assert.deepEqual(scanNativeBlocks(a), { blocks: 2, rows: 3, validBytes: a.length, stoppedBecause: '' });
    assert.equal(a.toString('hex'), c.toString('hex'));
    // And the same as the OTLP/JSON request the translation makes, decoded by the OTLP decoder.
    const outcome = new DecodeOutcome();
    const request = zipkinToOtlp(parseZipkinJson(Buffer.from(JSON.stringify(asJson))), outcome);
    const b = new SpanBatchBuilder();
    const r = new ResourceBatchBuilder();
    new JsonSpanDecoder().decode(Buffer.from(JSON.stringify(request)), b, new ResourceRows(r, () => false, 1n), { minStartNs: 0, retentionText: '7d' });
    b.fillTenant('t');
    r.fillTenant('t');
    assert.equal(Buffer.concat([b.toBuffer(), r.toBuffer()]).toString('hex'), a.toString('hex'));
  });

  it('rejects a span with an id of the wrong size, and refuses bytes that are not a ListOfSpans', () => {
    const outcome = new DecodeOutcome();
    const parsed = parseZipkinProtobuf(encodeListOfSpans([{ ...spans[1], traceId: 'abcdef' }, { ...spans[1], id: '0102' }, spans[1]]));
    const request = zipkinToOtlp(parsed, outcome);
    assert.equal(outcome.rejected, 2);
    assert.equal(outcome.firstError, 'span trace_id must be 8 or 16 bytes, got 3');
    assert.equal(allSpans(request).length, 1);
    const body = encodeListOfSpans(spans);
    assert.throws(() => parseZipkinProtobuf(body.subarray(0, body.length - 3)), (e: Error) => e instanceof MalformedRequestError && /truncated/.test(e.message));
    // A field with wire type 7 (none such exists).
    assert.throws(() => parseZipkinProtobuf(Buffer.from([0x0f, 0x00])), /unsupported wire type 7/);
    // An empty body is refused as Zipkin's collector refuses it.
    assert.throws(() => new ZipkinSpanDecoder(parseZipkinProtobuf).decode(Buffer.alloc(0), new SpanBatchBuilder(), new ResourceRows(new ResourceBatchBuilder(), () => false, 1n), { minStartNs: 0, retentionText: '7d' }), /request body is empty/);
  });
});

describe('Zipkin v2 input that is anything at all', () => {
  const decode = (parse: (b: Buffer) => ReturnType<typeof parseZipkinJson>, body: Buffer) => {
    try {
      const outcome = new ZipkinSpanDecoder(parse).decode(body, new SpanBatchBuilder(), new ResourceRows(new ResourceBatchBuilder(), () => false, 1n), { minStartNs: 0, retentionText: '7d' });
      assert.ok(outcome.accepted >= 0 && outcome.rejected >= 0);
    } catch (e) {
      // Refused as malformed, with a reason: never another error.
      assert.ok(e instanceof MalformedRequestError, String(e));
    }
  };
  const json = fc.letrec((tie) => ({
    value: fc.oneof({ depthSize: 'small' }, fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(tie('value'), { maxLength: 3 }), fc.dictionary(fc.string(), tie('value'), { maxKeys: 3 })),
  })).value;
  const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{1,${n}}$`));
  const span = fc.record(
    {
      traceId: fc.oneof(hex(32), fc.string()),
      id: fc.oneof(hex(16), fc.string()),
      parentId: fc.oneof(hex(16), fc.string()),
      kind: fc.constantFrom('CLIENT', 'SERVER', 'PRODUCER', 'CONSUMER', 'client', ''),
      name: fc.string(),
      timestamp: fc.oneof(fc.integer({ min: 0 }), fc.double()),
      duration: fc.integer({ min: -1 }),
      shared: fc.boolean(),
      debug: fc.boolean(),
      localEndpoint: fc.record({ serviceName: fc.string(), ipv4: fc.string(), port: fc.integer({ min: -1, max: 70000 }) }, { requiredKeys: [] }),
      remoteEndpoint: fc.record({ serviceName: fc.string(), ipv6: fc.string() }, { requiredKeys: [] }),
      annotations: fc.array(fc.record({ timestamp: fc.integer({ min: 0 }), value: fc.string() }), { maxLength: 3 }),
      tags: fc.dictionary(fc.constantFrom('error', 'otel.status_code', 'span.kind', 'otlp.link.0', 'host.name', '__proto__', 'toString', 'w3c.tracestate', 'k'), fc.oneof(fc.string(), json), { maxKeys: 5 }),
    },
    { requiredKeys: [] },
  );

  it('is decoded or refused as malformed, as JSON', () => {
    fc.assert(fc.property(fc.array(fc.oneof(span, json), { maxLength: 4 }), (spans) => decode(parseZipkinJson, Buffer.from(JSON.stringify(spans)))), { numRuns: 300 });
  });

  it('is decoded or refused as malformed, as protobuf', () => {
    const valid = encodeListOfSpans([{ traceId: T128, id: '00000000000000c1', parentId: '00000000000000a0', kind: 'SERVER', name: 'x', timestamp: TS, duration: 5n, tags: { a: 'b' }, annotations: [{ timestamp: TS, value: 'v' }], localEndpoint: { serviceName: 's', ipv4: [1, 2, 3, 4], port: 80 } }]);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(valid.length), fc.nat(255), (noise, at, byte) => {
        decode(parseZipkinProtobuf, Buffer.from(noise));
        // One byte of a valid body changed.
        const mutated = Buffer.from(valid);
        mutated[at % mutated.length] = byte;
        decode(parseZipkinProtobuf, mutated);
      }),
      { numRuns: 500 },
    );
  });
});
