import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encode, otlp } from '../../testkit/otlp-schema.js';
import { LogBatchBuilder } from '../model/log-batch.js';
import { readLogRecords } from '../model/log-record.js';
import { scanNativeBlocks } from '../model/native-scan.js';
import { ProtobufLogDecoder } from './decode-logs-protobuf.js';
import { JsonLogDecoder } from './decode-logs-json.js';
import { MalformedRequestError } from './decode-result.js';

/**
 * The two log decoders are independent implementations of one mapping: the
 * same ExportLogsServiceRequest in protobuf and in OTLP/JSON must give
 * byte-identical Native blocks (but for the random ids drawn afterwards).
 */

const RECEIVED = 1_700_000_100_000_000_000n;
const OPTS = { minStartNs: 0, retentionText: '7d', receivedNs: RECEIVED };
const T = '0102030405060708090a0b0c0d0e0f10';
const S = '1112131415161718';

const json = {
  resourceLogs: [
    {
      resource: {
        attributes: [
          { key: 'service.name', value: { stringValue: 'svc' } },
          { key: 'pid', value: { intValue: '-7' } },
        ],
      },
      scopeLogs: [
        {
          scope: { name: 'logger', version: '2', attributes: [{ key: 'k', value: { boolValue: true } }] },
          logRecords: [
            {
              timeUnixNano: '1700000000000000001',
              observedTimeUnixNano: '1700000000000000002',
              severityNumber: 13,
              severityText: 'WARN',
              body: { stringValue: 'disk żółć 80% full' },
              attributes: [
                { key: 'path', value: { stringValue: '/var' } },
                { key: 'pct', value: { doubleValue: 80.5 } },
                { key: 'n', value: { intValue: '9223372036854775807' } },
                { key: 'ok', value: { boolValue: false } },
                { key: 'list', value: { arrayValue: { values: [{ stringValue: 'a' }] } } },
              ],
              droppedAttributesCount: 3,
              flags: 1,
              traceId: T,
              spanId: S,
              eventName: 'disk.full',
            },
            // No time: the observed time stands in; no ids; a structured body.
            { observedTimeUnixNano: '1700000000000000005', body: { kvlistValue: { values: [{ key: 'a', value: { intValue: '1' } }] } } },
            // Neither time: Sightline observed it on receipt. No body.
            { severityNumber: 9 },
          ],
        },
      ],
    },
  ],
};

/** The protobuf form of `json`: ids as bytes. */
function protobufOf(doc: typeof json): Buffer {
  const withBytes = JSON.parse(JSON.stringify(doc), (k, v) => ((k === 'traceId' || k === 'spanId') && typeof v === 'string' ? Buffer.from(v, 'hex') : v));
  return encode(otlp.ExportLogsServiceRequest, withBytes);
}

function decodeBoth(doc: unknown): { proto: LogBatchBuilder; json: LogBatchBuilder } {
  const proto = new LogBatchBuilder();
  const fromJson = new LogBatchBuilder();
  const a = new ProtobufLogDecoder().decode(protobufOf(doc as typeof json), proto, OPTS);
  const b = new JsonLogDecoder().decode(Buffer.from(JSON.stringify(doc)), fromJson, OPTS);
  assert.deepEqual({ ...a }, { ...b });
  return { proto, json: fromJson };
}

/** The block with its ids zeroed, so two decodes compare byte for byte. */
function block(b: LogBatchBuilder): Buffer {
  b.fillTenantAndIds('t');
  b.logId.data.buf.fill(0, 0, b.logId.data.len);
  return b.toBuffer();
}

describe('log decoders', () => {
  it('give identical Native blocks for protobuf and JSON', () => {
    const { proto, json: j } = decodeBoth(json);
    assert.equal(proto.rows, 3);
    const a = block(proto);
    assert.deepEqual(a, block(j));
    assert.equal(scanNativeBlocks(a).rows, 3);
  });

  it('store each field as sent, the observed time standing in for a missing time', () => {
    const { proto } = decodeBoth(json);
    proto.fillTenantAndIds('acme');
    // Native blocks of these wire types read back as RowBinary rows, column by column: re-encode through the reader.
    const rows = readLogRecords(nativeToRowBinary(proto));
    assert.equal(rows.length, 3);
    const [w, kv, bare] = rows;
    assert.equal(w.tenant, 'acme');
    assert.equal(w.timeNs, 1_700_000_000_000_000_001n);
    assert.equal(w.observedNs, 1_700_000_000_000_000_002n);
    assert.equal(w.severityNumber, 13);
    assert.equal(w.severityText, 'WARN');
    assert.deepEqual(w.body, { stringValue: 'disk żółć 80% full' });
    assert.equal(w.traceId.toString('hex'), T);
    assert.equal(w.spanId.toString('hex'), S);
    assert.equal(w.flags, 1);
    assert.equal(w.eventName, 'disk.full');
    assert.equal(w.serviceName, 'svc');
    assert.equal(w.droppedAttributes, 3);
    assert.deepEqual(w.attributes, [
      { key: 'path', value: { stringValue: '/var' } },
      { key: 'n', value: { intValue: '9223372036854775807' } },
      { key: 'pct', value: { doubleValue: 80.5 } },
      { key: 'ok', value: { boolValue: false } },
      { key: 'list', value: { arrayValue: { values: [{ stringValue: 'a' }] } } },
    ]);
    assert.deepEqual(w.resource, [
      { key: 'service.name', value: { stringValue: 'svc' } },
      { key: 'pid', value: { intValue: '-7' } },
    ]);
    assert.deepEqual(w.scope, { name: 'logger', version: '2', attributes: [{ key: 'k', value: { boolValue: true } }] });
    assert.equal(kv.timeNs, 1_700_000_000_000_000_005n);
    assert.deepEqual(kv.body, { kvlistValue: { values: [{ key: 'a', value: { intValue: '1' } }] } });
    assert.equal(kv.traceId.toString('hex'), '0'.repeat(32));
    assert.equal(bare.timeNs, RECEIVED);
    assert.equal(bare.observedNs, RECEIVED);
    assert.equal(bare.body, undefined);
    assert.notDeepEqual(w.logId, kv.logId, 'each record has its own random id');
  });

  it('reject only the records with bad ids, severities or times, counting them', () => {
    const bad = structuredClone(json);
    const records = bad.resourceLogs[0].scopeLogs[0].logRecords as Record<string, unknown>[];
    records.push({ traceId: '0102', body: { stringValue: 'short trace id' } });
    records.push({ spanId: '01020304050607', body: { stringValue: 'short span id' } });
    records.push({ severityNumber: 300 });
    records.push({ timeUnixNano: '1000' });
    const proto = new LogBatchBuilder();
    const p = new ProtobufLogDecoder().decode(protobufOf(bad), proto, { ...OPTS, minStartNs: 1e18 });
    const j = new JsonLogDecoder().decode(Buffer.from(JSON.stringify(bad)), new LogBatchBuilder(), { ...OPTS, minStartNs: 1e18 });
    assert.equal(p.accepted, 3);
    assert.equal(p.rejected, 4);
    assert.equal(j.accepted, 3);
    assert.equal(j.rejected, 4);
    assert.match(p.firstError, /trace_id must be empty or 16 bytes, got 2/);
    assert.match(j.firstError, /traceId must be 32 hex characters/);
    assert.equal(proto.rows, 3);
  });

  it('refuse malformed requests whole', () => {
    assert.throws(() => new ProtobufLogDecoder().decode(Buffer.from([0x0a, 0x05, 0x01]), new LogBatchBuilder(), OPTS), MalformedRequestError);
    assert.throws(() => new JsonLogDecoder().decode(Buffer.from('{"resourceLogs":{}}'), new LogBatchBuilder(), OPTS), MalformedRequestError);
    assert.throws(() => new JsonLogDecoder().decode(Buffer.from('{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber":"LOUD"}]}]}]}'), new LogBatchBuilder(), OPTS), MalformedRequestError);
  });

  it('take severity names in JSON', () => {
    const b = new LogBatchBuilder();
    new JsonLogDecoder().decode(Buffer.from('{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber":"SEVERITY_NUMBER_ERROR2"}]}]}]}'), b, OPTS);
    b.fillTenantAndIds('t');
    assert.equal(readLogRecords(nativeToRowBinary(b))[0].severityNumber, 18);
  });
});

/**
 * RowBinary rows from a Native block of fixed-width and string columns,
 * to read a block back without an engine: Native stores each column
 * whole, RowBinary interleaves them row by row.
 */
function nativeToRowBinary(b: LogBatchBuilder): Buffer {
  const specs = b.specs();
  const block = b.toBuffer();
  let pos = 0;
  const varint = () => {
    let v = 0;
    let mul = 1;
    for (;;) {
      const x = block[pos++];
      v += (x & 0x7f) * mul;
      if (x < 0x80) return v;
      mul *= 0x80;
    }
  };
  const str = () => {
    const n = varint();
    const s = block.toString('utf8', pos, pos + n);
    pos += n;
    return s;
  };
  varint(); // columns
  const rows = varint();
  const values: Buffer[][] = [];
  const width = (t: string) => ({ 'FixedString(16)': 16, 'FixedString(8)': 8, UInt8: 1, UInt32: 4, UInt64: 8, Int64: 8, Float64: 8 })[t];
  const one = (t: string): Buffer => {
    const w = width(t);
    if (w !== undefined) {
      const v = block.subarray(pos, pos + w);
      pos += w;
      return v;
    }
    const start = pos;
    const n = varint();
    pos += n;
    return block.subarray(start, pos);
  };
  for (const spec of specs) {
    str();
    const type = str();
    assert.equal(type, spec.type);
    const col: Buffer[] = [];
    if (type.startsWith('Array(')) {
      const inner = type.slice(6, -1);
      const offsets: number[] = [];
      for (let r = 0; r < rows; r++) {
        offsets.push(Number(block.readBigUInt64LE(pos)));
        pos += 8;
      }
      let prev = 0;
      for (let r = 0; r < rows; r++) {
        const items: Buffer[] = [];
        for (let k = prev; k < offsets[r]; k++) items.push(one(inner));
        const count = Buffer.alloc(10);
        let n = offsets[r] - prev;
        let len = 0;
        do {
          count[len++] = (n & 0x7f) | (n >= 0x80 ? 0x80 : 0);
          n = Math.floor(n / 128);
        } while (n > 0);
        col.push(Buffer.concat([count.subarray(0, len), ...items]));
        prev = offsets[r];
      }
    } else for (let r = 0; r < rows; r++) col.push(one(type));
    values.push(col);
  }
  const out: Buffer[] = [];
  for (let r = 0; r < rows; r++) for (const col of values) out.push(col[r]);
  return Buffer.concat(out);
}
