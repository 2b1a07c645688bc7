import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { otlp, otlpType } from '../../testkit/otlp-schema.js';
import { ResourceBatchBuilder, SpanBatchBuilder } from '../model/span-batch.js';
import { ResourceRows } from './row-templates.js';
import { scanNativeBlocks } from '../model/native-scan.js';
import { ProtobufSpanDecoder } from './decode-protobuf.js';
import { JsonSpanDecoder, quoteBigIntegers } from './decode-json.js';
import { MalformedRequestError } from './decode-result.js';

/**
 * The two decoders are independent implementations of one mapping: the same
 * request in protobuf and in OTLP/JSON must give byte-identical Native blocks.
 */

const Request = otlp.ExportTraceServiceRequest;

const OPTS = { minStartNs: 0, retentionText: '7d' };
const T = '0102030405060708090a0b0c0d0e0f10';

const json = {
  resourceSpans: [
    {
      resource: {
        attributes: [
          { key: 'service.name', value: { stringValue: 'svc' } },
          { key: 'pid', value: { intValue: '-7' } },
          { key: 'r', value: { doubleValue: 2.5 } },
          { key: 'on', value: { boolValue: true } },
          { key: 'list', value: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: '9223372036854775807' }] } } },
        ],
        droppedAttributesCount: 1,
      },
      scopeSpans: [
        {
          scope: { name: 'lib', version: '1.0', attributes: [{ key: 'scope.attr', value: { bytesValue: 'AAEC' } }], droppedAttributesCount: 2 },
          spans: [
            {
              traceId: T,
              spanId: '1112131415161718',
              parentSpanId: '2122232425262728',
              traceState: 'a=b',
              flags: 257,
              name: 'naïve name',
              kind: 3,
              startTimeUnixNano: '1700000000000000001',
              endTimeUnixNano: '1700000000123456789',
              attributes: [
                { key: 'k', value: { stringValue: 'v' } },
                { key: 'kv', value: { kvlistValue: { values: [{ key: 'x', value: {} }] } } },
                { key: 'empty', value: {} },
              ],
              droppedAttributesCount: 3,
              events: [{ timeUnixNano: '1700000000000000100', name: 'ev', attributes: [{ key: 'e', value: { boolValue: false } }], droppedAttributesCount: 4 }],
              droppedEventsCount: 5,
              links: [{ traceId: T, spanId: '3132333435363738', traceState: 'x=y', attributes: [], droppedAttributesCount: 6, flags: 1 }],
              droppedLinksCount: 7,
              status: { code: 2, message: 'bad' },
            },
          ],
          schemaUrl: 'https://scope',
        },
      ],
      schemaUrl: 'https://resource',
    },
  ],
};

/** protobufjs wants bytes as bytes: convert the hex ids of the JSON form. */
function toProtoObject(j: typeof json): Record<string, unknown> {
  const ids = new Set(['traceId', 'spanId', 'parentSpanId']);
  return JSON.parse(JSON.stringify(j), (k, v) => (ids.has(k) && typeof v === 'string' ? Buffer.from(v, 'hex').toString('base64') : v));
}

/** The span block and the resource block a decode produces, concatenated. */
function nativeOf(decode: (b: SpanBatchBuilder, r: ResourceRows) => unknown): Buffer {
  const b = new SpanBatchBuilder();
  const r = new ResourceBatchBuilder();
  decode(b, new ResourceRows(r, () => false, 1n));
  b.fillTenant('t');
  r.fillTenant('t');
  return Buffer.concat([b.toBuffer(), r.toBuffer()]);
}

const rows = () => new ResourceRows(new ResourceBatchBuilder(), () => false, 1n);

describe('OTLP decoders', () => {
  it('protobuf and JSON give identical Native blocks', () => {
    const proto = Buffer.from(Request.encode(Request.fromObject(toProtoObject(json))).finish());
    const a = nativeOf((b, r) => new ProtobufSpanDecoder().decode(proto, b, r, OPTS));
    const c = nativeOf((b, r) => new JsonSpanDecoder().decode(Buffer.from(JSON.stringify(json)), b, r, OPTS));
    // One span block, one resource block.
    assert.deepEqual(scanNativeBlocks(a), { blocks: 2, rows: 2, validBytes: a.length, stoppedBecause: '' });
    assert.equal(a.toString('hex'), c.toString('hex'));
  });

  it('reads protobuf fields in any order and skips unknown ones', () => {
    const obj = toProtoObject(json) as any;
    const rs = otlpType('ResourceSpans');
    const normal = Buffer.from(Request.encode(Request.fromObject(obj)).finish());
    // schema_url first, then an unknown field (99, varint), then scope_spans, then the resource.
    const parts = Buffer.from(rs.encode(rs.fromObject(obj.resourceSpans[0])).finish());
    const fields = splitFields(parts);
    const reordered = Buffer.concat([fields[2], Buffer.from([0x98, 0x06, 0x01]), fields[1], fields[0]]);
    const outer = Buffer.concat([Buffer.from([0x0a]), varint(reordered.length), reordered]);
    const a = nativeOf((b, r) => new ProtobufSpanDecoder().decode(normal, b, r, OPTS));
    const c = nativeOf((b, r) => new ProtobufSpanDecoder().decode(outer, b, r, OPTS));
    assert.equal(a.toString('hex'), c.toString('hex'));
  });

  it('rejects spans, not requests, for bad ids and times, and rolls their columns back', () => {
    const bad = structuredClone(json);
    const good = bad.resourceSpans[0].scopeSpans[0].spans[0];
    bad.resourceSpans[0].scopeSpans[0].spans = [
      { ...good, traceId: '00'.repeat(16) },
      good,
      { ...good, endTimeUnixNano: '1' },
    ];
    const b = new SpanBatchBuilder();
    const outcome = new JsonSpanDecoder().decode(Buffer.from(JSON.stringify(bad)), b, rows(), OPTS);
    assert.equal(outcome.accepted, 1);
    assert.equal(outcome.rejected, 2);
    assert.equal(outcome.firstError, 'span traceId is all zero');
    const once = new SpanBatchBuilder();
    new JsonSpanDecoder().decode(Buffer.from(JSON.stringify(json)), once, rows(), OPTS);
    b.fillTenant('t');
    once.fillTenant('t');
    assert.equal(b.toBuffer().toString('hex'), once.toBuffer().toString('hex'));
  });

  it('rejects spans older than the retention', () => {
    const b = new SpanBatchBuilder();
    const outcome = new JsonSpanDecoder().decode(Buffer.from(JSON.stringify(json)), b, rows(), { minStartNs: 1.8e18, retentionText: '7d' });
    assert.equal(outcome.rejected, 1);
    assert.match(outcome.firstError, /older than the retention period \(7d\)/);
  });

  it('keeps 64-bit integers exact in JSON, given as numbers', () => {
    assert.equal(quoteBigIntegers('{"a": 1234567890123456789, "b": "x: 1234567890123456789", "c": [-9223372036854775808, 1.5e300]}'),
      '{"a": "1234567890123456789", "b": "x: 1234567890123456789", "c": ["-9223372036854775808", 1.5e300]}');
    const asNumbers = JSON.stringify(json).replace('"startTimeUnixNano":"1700000000000000001"', '"startTimeUnixNano":1700000000000000001')
      .replace('{"intValue":"9223372036854775807"}', '{"intValue":9223372036854775807}');
    const a = nativeOf((b, r) => new JsonSpanDecoder().decode(Buffer.from(asNumbers), b, r, OPTS));
    const c = nativeOf((b, r) => new JsonSpanDecoder().decode(Buffer.from(JSON.stringify(json)), b, r, OPTS));
    assert.equal(a.toString('hex'), c.toString('hex'));
  });

  it('accepts proto field names and enum names in JSON', () => {
    const snake = JSON.stringify(json).replace('"startTimeUnixNano"', '"start_time_unix_nano"').replace('"kind":3', '"kind":"SPAN_KIND_CLIENT"')
      .replace('"code":2', '"code":"STATUS_CODE_ERROR"');
    const a = nativeOf((b, r) => new JsonSpanDecoder().decode(Buffer.from(snake), b, r, OPTS));
    const c = nativeOf((b, r) => new JsonSpanDecoder().decode(Buffer.from(JSON.stringify(json)), b, r, OPTS));
    assert.equal(a.toString('hex'), c.toString('hex'));
  });

  it('refuses malformed requests as a whole', () => {
    const malformed = (body: Buffer, decoder: ProtobufSpanDecoder | JsonSpanDecoder, pattern: RegExp) =>
      assert.throws(() => decoder.decode(body, new SpanBatchBuilder(), rows(), OPTS), (e: Error) => e instanceof MalformedRequestError && pattern.test(e.message));
    malformed(Buffer.from([0x0a, 0x05, 0x01]), new ProtobufSpanDecoder(), /truncated/);
    malformed(Buffer.from([0x0b]), new ProtobufSpanDecoder(), /wire type 3/);
    malformed(Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), new ProtobufSpanDecoder(), /varint longer than 10 bytes/);
    malformed(Buffer.from('{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":5}]}]}]}'), new JsonSpanDecoder(), /name must be a string/);
    malformed(Buffer.from('{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"soon"}]}]}]}'), new JsonSpanDecoder(), /startTimeUnixNano/);
    malformed(Buffer.from('[1]'), new JsonSpanDecoder(), /request must be an object/);
    // Names Object.prototype has are not enum names (found by test/fuzz.test.ts).
    for (const name of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
      malformed(Buffer.from(JSON.stringify(json).replace('"kind":3', `"kind":"${name}"`)), new JsonSpanDecoder(), /span kind must be an enum number or name/);
      malformed(Buffer.from(JSON.stringify(json).replace('"code":2', `"code":"${name}"`)), new JsonSpanDecoder(), /status code must be an enum number or name/);
    }
  });
});

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

/** Splits a message into its top-level length-delimited fields, in order. */
function splitFields(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const start = pos;
    pos++; // one-byte tag (fields 1..15)
    let len = 0;
    let shift = 0;
    for (;;) {
      const b = buf[pos++];
      len |= (b & 0x7f) << shift;
      shift += 7;
      if (b < 0x80) break;
    }
    pos += len;
    out.push(buf.subarray(start, pos));
  }
  return out;
}

describe('resource rows', () => {
  it('are written once per distinct resource, and not for known ones', () => {
    const two = structuredClone(json);
    two.resourceSpans.push(structuredClone(json.resourceSpans[0]));
    const b = new SpanBatchBuilder();
    const r = new ResourceBatchBuilder();
    const rr = new ResourceRows(r, () => false, 1n);
    new JsonSpanDecoder().decode(Buffer.from(JSON.stringify(two)), b, rr, OPTS);
    assert.equal(b.rows, 2);
    assert.equal(r.rows, 1);
    assert.equal(rr.emitted.size, 1);
    const known = new ResourceBatchBuilder();
    new JsonSpanDecoder().decode(Buffer.from(JSON.stringify(two)), new SpanBatchBuilder(), new ResourceRows(known, (id) => rr.emitted.has(id), 1n), OPTS);
    assert.equal(known.rows, 0);
    const other = structuredClone(json);
    other.resourceSpans[0].resource.attributes[0].value.stringValue = 'other-svc';
    const r2 = new ResourceBatchBuilder();
    const rr2 = new ResourceRows(r2, (id) => rr.emitted.has(id), 1n);
    new JsonSpanDecoder().decode(Buffer.from(JSON.stringify(other)), new SpanBatchBuilder(), rr2, OPTS);
    assert.equal(r2.rows, 1);
    assert.notDeepEqual([...rr2.emitted], [...rr.emitted]);
  });
});
