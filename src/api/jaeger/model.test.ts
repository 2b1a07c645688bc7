import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { SpanRecord } from '../../model/span-record.js';
import { NO_SERVICE_NAME, jaegerSpanId, jaegerTraceId, rawJson, toJaegerProcess, toJaegerTag, toJaegerTrace } from './model.js';
import { resourceSpansJson } from './otlp-json.js';

const TRACE = Buffer.from('0af7651916cd43dd8448eb211c80319c', 'hex');
const SHORT_TRACE = Buffer.from('00000000000000008448eb211c80319c', 'hex');
const ROOT = Buffer.from('b7ad6b7169203331', 'hex');
const CHILD = Buffer.from('00f067aa0ba902b7', 'hex');
const ZERO = Buffer.alloc(8);
const T0 = 1_700_000_000_123_456_789n;

function record(over: Partial<SpanRecord> = {}): SpanRecord {
  return {
    traceId: TRACE,
    spanId: ROOT,
    parentSpanId: ZERO,
    traceState: '',
    flags: 0,
    name: 'GET /cart',
    kind: 2,
    startNs: T0,
    durationNs: 1_500_999n,
    statusCode: 0,
    statusMessage: '',
    serviceName: 'frontend',
    resourceId: Buffer.alloc(8),
    attributes: [],
    droppedAttributes: 0,
    droppedEvents: 0,
    droppedLinks: 0,
    resource: { attributes: [{ key: 'service.name', value: { stringValue: 'frontend' } }], dropped: 0, schemaUrl: '' },
    scope: { name: '', version: '', attributes: [], dropped: 0, schemaUrl: '' },
    events: [],
    links: [],
    ...over,
  };
}

describe('Jaeger ids', () => {
  it('prints trace ids as Jaeger does: 16 hex digits when the high half is zero, else 32', () => {
    assert.equal(jaegerTraceId(TRACE), '0af7651916cd43dd8448eb211c80319c');
    assert.equal(jaegerTraceId(SHORT_TRACE), '8448eb211c80319c');
    assert.equal(jaegerSpanId(CHILD), '00f067aa0ba902b7');
  });
});

describe('OTLP attributes as Jaeger tags (the collector translator types)', () => {
  it('keeps scalar types and prints big ints as strings, bytes as binary', () => {
    assert.deepEqual(toJaegerTag({ key: 's', value: { stringValue: 'x' } }), { key: 's', type: 'string', value: 'x' });
    assert.deepEqual(toJaegerTag({ key: 'b', value: { boolValue: false } }), { key: 'b', type: 'bool', value: false });
    assert.deepEqual(toJaegerTag({ key: 'i', value: { intValue: '-42' } }), { key: 'i', type: 'int64', value: -42 });
    assert.deepEqual(toJaegerTag({ key: 'max', value: { intValue: '9007199254740991' } }), { key: 'max', type: 'int64', value: 9007199254740991 });
    assert.deepEqual(toJaegerTag({ key: 'big', value: { intValue: '9007199254740993' } }), { key: 'big', type: 'int64', value: '9007199254740993' });
    assert.deepEqual(toJaegerTag({ key: 'f', value: { doubleValue: 0.25 } }), { key: 'f', type: 'float64', value: 0.25 });
    assert.deepEqual(toJaegerTag({ key: 'raw', value: { bytesValue: 'AAAwOQ==' } }), { key: 'raw', type: 'binary', value: 'AAAwOQ==' });
    assert.deepEqual(toJaegerTag({ key: 'empty', value: {} }), { key: 'empty', type: 'string', value: '' });
  });

  it('prints arrays and maps as JSON text, as pcommon AsString: maps by key, bytes in base64, HTML escaped', () => {
    assert.equal(rawJson({ arrayValue: { values: [{ stringValue: 'a' }, { intValue: '1' }, { doubleValue: 1.5 }, { boolValue: true }, {}] } }), '["a",1,1.5,true,null]');
    assert.equal(
      rawJson({ kvlistValue: { values: [{ key: 'z', value: { stringValue: '<b>&' } }, { key: 'a', value: { bytesValue: 'AQI=' } }] } }),
      '{"a":"AQI=","z":"\\u003cb\\u003e\\u0026"}',
    );
    assert.deepEqual(toJaegerTag({ key: 'l', value: { arrayValue: { values: [{ intValue: '9007199254740993' }] } } }), { key: 'l', type: 'string', value: '[9007199254740993]' });
  });
});

describe('a process from a resource', () => {
  it('takes service.name as its name and the other attributes, sorted, as tags', () => {
    assert.deepEqual(
      toJaegerProcess([
        { key: 'service.name', value: { stringValue: 'cart' } },
        { key: 'host.name', value: { stringValue: 'node-7' } },
        { key: 'process.pid', value: { intValue: '4242' } },
      ]),
      { serviceName: 'cart', tags: [{ key: 'host.name', type: 'string', value: 'node-7' }, { key: 'process.pid', type: 'int64', value: 4242 }] },
    );
  });

  it('names a resource without attributes as the translator does, and one without service.name ""', () => {
    assert.deepEqual(toJaegerProcess([]), { serviceName: NO_SERVICE_NAME, tags: [] });
    assert.deepEqual(toJaegerProcess([{ key: 'host.name', value: { stringValue: 'h' } }]).serviceName, '');
  });
});

describe('a trace in Jaeger JSON', () => {
  const root = record({
    flags: 0x301,
    traceState: 'vendor=1',
    scope: { name: 'checkout-lib', version: '2.0.1', attributes: [], dropped: 0, schemaUrl: '' },
    attributes: [
      { key: 'http.status_code', value: { intValue: '200' } },
      { key: 'cache.hit', value: { boolValue: true } },
    ],
    events: [
      { timeNs: T0 + 10_000_999n, name: 'cache miss', attributes: [{ key: 'z.key', value: { stringValue: 'user:1' } }, { key: 'attempt', value: { intValue: '2' } }], dropped: 0 },
      { timeNs: T0 + 20_000_000n, name: 'ignored name', attributes: [{ key: 'event', value: { stringValue: 'from attribute' } }, { key: 'a', value: { stringValue: 'x' } }], dropped: 0 },
    ],
  });
  const child = record({
    spanId: CHILD,
    parentSpanId: ROOT,
    name: 'SELECT orders',
    kind: 3,
    startNs: T0 + 1000n,
    durationNs: 999n,
    statusCode: 2,
    statusMessage: 'connection reset',
    droppedAttributes: 8,
    droppedLinks: 1,
    resource: { attributes: [{ key: 'service.name', value: { stringValue: 'db' } }, { key: 'db.system', value: { stringValue: 'sqlite' } }], dropped: 0, schemaUrl: '' },
    links: [
      { traceId: SHORT_TRACE, spanId: CHILD, traceState: '', attributes: [], dropped: 0, flags: 0 },
      { traceId: TRACE, spanId: Buffer.from('1111111111111111', 'hex'), traceState: '', attributes: [{ key: 'opentracing.ref_type', value: { stringValue: 'child_of' } }], dropped: 0, flags: 0 },
    ],
  });
  const producer = record({ spanId: Buffer.from('2222222222222222', 'hex'), parentSpanId: ROOT, name: 'publish', kind: 4, statusCode: 1, startNs: T0 + 2000n, durationNs: 10n });
  const trace = toJaegerTrace([root, child, producer]);

  it('numbers processes in order of first use, one per distinct resource', () => {
    assert.equal(trace.traceID, '0af7651916cd43dd8448eb211c80319c');
    assert.deepEqual(
      trace.spans.map((s) => s.processID),
      ['p1', 'p2', 'p1'],
    );
    assert.deepEqual(trace.processes, {
      p1: { serviceName: 'frontend', tags: [] },
      p2: { serviceName: 'db', tags: [{ key: 'db.system', type: 'string', value: 'sqlite' }] },
    });
    assert.equal(trace.warnings, null);
  });

  it('gives the root span its tags (scope, attributes, kind, trace state) sorted by key, its sampled flag and its logs', () => {
    assert.deepEqual(trace.spans[0], {
      traceID: '0af7651916cd43dd8448eb211c80319c',
      spanID: 'b7ad6b7169203331',
      flags: 1,
      operationName: 'GET /cart',
      references: [],
      startTime: 1_700_000_000_123_456,
      duration: 1500,
      tags: [
        { key: 'cache.hit', type: 'bool', value: true },
        { key: 'http.status_code', type: 'int64', value: 200 },
        { key: 'otel.scope.name', type: 'string', value: 'checkout-lib' },
        { key: 'otel.scope.version', type: 'string', value: '2.0.1' },
        { key: 'span.kind', type: 'string', value: 'server' },
        { key: 'w3c.tracestate', type: 'string', value: 'vendor=1' },
      ],
      logs: [
        {
          timestamp: 1_700_000_000_133_457,
          fields: [
            { key: 'event', type: 'string', value: 'cache miss' },
            { key: 'attempt', type: 'int64', value: 2 },
            { key: 'z.key', type: 'string', value: 'user:1' },
          ],
        },
        {
          // An `event` attribute wins over the event's name.
          timestamp: 1_700_000_000_143_456,
          fields: [
            { key: 'event', type: 'string', value: 'from attribute' },
            { key: 'a', type: 'string', value: 'x' },
          ],
        },
      ],
      processID: 'p1',
      warnings: null,
    });
    assert.deepEqual(Object.keys(trace.spans[0]), ['traceID', 'spanID', 'flags', 'operationName', 'references', 'startTime', 'duration', 'tags', 'logs', 'processID', 'warnings']);
  });

  it('gives the client span its parent as CHILD_OF first, links as FOLLOWS_FROM (CHILD_OF by opentracing.ref_type), status tags and drop warnings', () => {
    const s = trace.spans[1];
    assert.equal('flags' in s, false);
    assert.deepEqual(s.references, [
      { refType: 'CHILD_OF', traceID: '0af7651916cd43dd8448eb211c80319c', spanID: 'b7ad6b7169203331' },
      { refType: 'FOLLOWS_FROM', traceID: '8448eb211c80319c', spanID: '00f067aa0ba902b7' },
      { refType: 'CHILD_OF', traceID: '0af7651916cd43dd8448eb211c80319c', spanID: '1111111111111111' },
    ]);
    assert.deepEqual(s.tags, [
      { key: 'error', type: 'bool', value: true },
      { key: 'otel.status_code', type: 'string', value: 'ERROR' },
      { key: 'otel.status_description', type: 'string', value: 'connection reset' },
      { key: 'span.kind', type: 'string', value: 'client' },
    ]);
    assert.equal(s.startTime, 1_700_000_000_123_457);
    assert.equal(s.duration, 0);
    assert.deepEqual(s.warnings, [
      'the sender dropped 8 attributes of this span (OTLP dropped_attributes_count)',
      'the sender dropped 1 link of this span (OTLP dropped_links_count)',
    ]);
    assert.deepEqual(trace.spans[2].tags, [
      { key: 'otel.status_code', type: 'string', value: 'OK' },
      { key: 'span.kind', type: 'string', value: 'producer' },
    ]);
  });

  it('makes a link to the parent set the parent reference type instead of adding one', () => {
    const s = toJaegerTrace([record({ parentSpanId: CHILD, links: [{ traceId: TRACE, spanId: CHILD, traceState: '', attributes: [], dropped: 0, flags: 0 }] })]).spans[0];
    assert.deepEqual(s.references, [{ refType: 'FOLLOWS_FROM', traceID: '0af7651916cd43dd8448eb211c80319c', spanID: '00f067aa0ba902b7' }]);
  });

  it('gives an unspecified kind no span.kind tag', () => {
    assert.deepEqual(toJaegerTrace([record({ kind: 0 })]).spans[0].tags, []);
  });
});

describe('a trace in api_v3 OTLP JSON', () => {
  it('uses hex ids, numeric enums, string times, and always a resource, scope and status', () => {
    const spans = [
      record({ kind: 2, attributes: [{ key: 'n', value: { intValue: '7' } }] }),
      record({ spanId: CHILD, parentSpanId: ROOT, kind: 0, statusCode: 2, statusMessage: 'boom', startNs: T0 + 5n, events: [{ timeNs: T0 + 6n, name: 'e', attributes: [], dropped: 0 }] }),
    ];
    assert.deepEqual(resourceSpansJson(spans), [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'frontend' } }] },
        scopeSpans: [
          {
            scope: {},
            spans: [
              {
                traceId: '0af7651916cd43dd8448eb211c80319c',
                spanId: 'b7ad6b7169203331',
                name: 'GET /cart',
                kind: 2,
                startTimeUnixNano: '1700000000123456789',
                endTimeUnixNano: '1700000000124957788',
                attributes: [{ key: 'n', value: { intValue: '7' } }],
                status: {},
              },
              {
                traceId: '0af7651916cd43dd8448eb211c80319c',
                spanId: '00f067aa0ba902b7',
                parentSpanId: 'b7ad6b7169203331',
                name: 'GET /cart',
                startTimeUnixNano: '1700000000123456794',
                endTimeUnixNano: '1700000000124957793',
                events: [{ timeUnixNano: '1700000000123456795', name: 'e' }],
                status: { message: 'boom', code: 2 },
              },
            ],
          },
        ],
      },
    ]);
  });
});
