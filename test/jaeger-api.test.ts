import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { context, trace, SpanKind, SpanStatusCode, type AttributeValue, type HrTime, type Tracer } from '@opentelemetry/api';
import { BasicTracerProvider, BatchSpanProcessor, InMemorySpanExporter, SamplingDecision, SimpleSpanProcessor, type ReadableSpan, type Sampler } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { TraceState } from '@opentelemetry/core';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { REPO_ROOT, eventually, startSightline, tempDir, type Sightline } from '../testkit/sightline.js';
import { nowNs, postOtlp } from '../testkit/fixtures.js';
import { otlp, decodeToObject } from '../testkit/otlp-schema.js';
import { canonicalSpans } from '../testkit/canonical.js';
import { createToken } from '../src/auth/tokens.js';

/**
 * Jaeger's query API against a real Sightline: the response shapes pinned
 * by golden files and checked against Jaeger's documented model
 * (jaeger-query's model/json and structuredResponse, api_v3's gateway);
 * spans sent by the OpenTelemetry JS SDK converted field by field as the
 * OpenTelemetry Collector's Jaeger translator converts them; search
 * filters against the data sent; and tenancy with authentication on.
 * SIGHTLINE_UPDATE_GOLDEN=1 rewrites the golden files; review the diff
 * against Jaeger's model before committing.
 */

const GOLDEN_DIR = path.join(REPO_ROOT, 'test', 'golden');
const UPDATE = process.env.SIGHTLINE_UPDATE_GOLDEN === '1';

type Obj = Record<string, any>;

function golden(name: string, actual: unknown): void {
  const file = path.join(GOLDEN_DIR, `${name}.json`);
  const text = JSON.stringify(actual, null, 2) + '\n';
  if (UPDATE || !existsSync(file)) {
    if (!UPDATE) assert.fail(`missing golden file ${file}; run with SIGHTLINE_UPDATE_GOLDEN=1 and review it`);
    writeFileSync(file, text);
    return;
  }
  assert.equal(text, readFileSync(file, 'utf8'), `${name} differs from its golden file`);
}

// ---- Jaeger's documented model, as key sets -------------------------------------------

/** jaeger-query's structuredResponse. */
const RESPONSE_KEYS = ['data', 'total', 'limit', 'offset', 'errors'];
/** model/json: Trace, Span (flags is omitempty), Reference, Process, Log, KeyValue, DependencyLink, Operation. */
const TRACE_KEYS = ['traceID', 'spans', 'processes', 'warnings'];
const SPAN_KEYS = ['traceID', 'spanID', 'operationName', 'references', 'startTime', 'duration', 'tags', 'logs', 'processID', 'warnings'];
const REFERENCE_KEYS = ['refType', 'traceID', 'spanID'];
const PROCESS_KEYS = ['serviceName', 'tags'];
const LOG_KEYS = ['timestamp', 'fields'];
const KEY_VALUE_KEYS = ['key', 'type', 'value'];
const VALUE_TYPES = new Set(['string', 'bool', 'int64', 'float64', 'binary']);
const DEPENDENCY_KEYS = ['parent', 'child', 'callCount'];
const OPERATION_KEYS = ['name', 'spanKind'];

const keys = (o: Obj) => Object.keys(o).sort();
const same = (o: Obj, want: string[], what: string) => assert.deepEqual(keys(o), [...want].sort(), `${what}: ${JSON.stringify(o).slice(0, 300)}`);

function assertKeyValue(kv: Obj, what: string): void {
  same(kv, KEY_VALUE_KEYS, what);
  assert.ok(VALUE_TYPES.has(kv.type), `${what}: type ${kv.type}`);
  const js = { string: 'string', bool: 'boolean', float64: 'number', binary: 'string' }[kv.type as string];
  if (kv.type === 'int64') assert.ok(Number.isSafeInteger(kv.value) || /^-?\d+$/.test(kv.value), `${what}: int64 ${kv.value}`);
  else assert.equal(typeof kv.value, js, `${what}: ${kv.type} value ${kv.value}`);
}

/** Every object of a jaeger-query trace answer has exactly the fields of Jaeger's model. */
function assertTraceShape(t: Obj): void {
  same(t, TRACE_KEYS, 'trace');
  assert.match(t.traceID, /^([0-9a-f]{16}|[0-9a-f]{32})$/);
  for (const [id, p] of Object.entries(t.processes as Obj)) {
    assert.match(id, /^p\d+$/);
    same(p, PROCESS_KEYS, 'process');
    for (const kv of p.tags) assertKeyValue(kv, `process ${id} tag`);
  }
  for (const s of t.spans) {
    same(s, 'flags' in s ? [...SPAN_KEYS, 'flags'] : SPAN_KEYS, 'span');
    assert.equal(s.traceID, t.traceID);
    assert.match(s.spanID, /^[0-9a-f]{16}$/);
    assert.ok(Number.isSafeInteger(s.startTime) && Number.isSafeInteger(s.duration));
    assert.ok(s.processID in t.processes);
    assert.ok(s.warnings === null || (Array.isArray(s.warnings) && s.warnings.length > 0));
    for (const r of s.references) {
      same(r, REFERENCE_KEYS, 'reference');
      assert.ok(r.refType === 'CHILD_OF' || r.refType === 'FOLLOWS_FROM');
    }
    for (const kv of s.tags) assertKeyValue(kv, `span ${s.spanID} tag`);
    for (const l of s.logs) {
      same(l, LOG_KEYS, 'log');
      for (const kv of l.fields) assertKeyValue(kv, 'log field');
    }
  }
}

function assertResponseShape(body: Obj, data: (d: any) => void): void {
  same(body, RESPONSE_KEYS, 'response');
  assert.equal(body.limit, 0);
  assert.equal(body.offset, 0);
  data(body.data);
}

/** jaeger-query's error answer: `{data: null, total: 0, limit: 0, offset: 0, errors: [{code, msg}]}`. */
async function assertV1Error(r: Response, status: number, msg: RegExp): Promise<Obj> {
  assert.equal(r.status, status);
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
  const body = (await r.json()) as Obj;
  assert.deepEqual({ ...body, errors: undefined }, { data: null, total: 0, limit: 0, offset: 0, errors: undefined });
  assert.equal(body.errors.length, 1);
  same(body.errors[0], ['code', 'msg'], 'error');
  assert.equal(body.errors[0].code, status);
  assert.match(body.errors[0].msg, msg);
  return body;
}

/** api_v3's error answer: `{error: {httpCode, message}}`. */
async function assertV3Error(r: Response, status: number, message: RegExp): Promise<Obj> {
  assert.equal(r.status, status);
  const body = (await r.json()) as Obj;
  same(body, ['error'], 'v3 error');
  same(body.error, ['httpCode', 'message'], 'v3 error');
  assert.equal(body.error.httpCode, status);
  assert.match(body.error.message, message);
  return body;
}

// ---- one Sightline without authentication: golden shapes, the SDK, search ------------

let s: Sightline;
before(async () => {
  // The golden trace has fixed 2023 times: keep them.
  s = await startSightline({ args: ['--retention', '100000d', '--flush-interval', '100ms'] });
});
after(async () => {
  await s?.stop();
  s?.cleanup();
});

const get = async (p: string, headers: Record<string, string> = {}) => fetch(`${s.api}${p}`, { headers });
const getJson = async (p: string): Promise<Obj> => {
  const r = await get(p);
  assert.equal(r.status, 200, `${p}: ${r.status} ${await r.clone().text()}`);
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
  return (await r.json()) as Obj;
};

// ---- golden ---------------------------------------------------------------------------

const G1 = '5b8efff798038103d269b633813fc60c';
const G2 = '00000000000000008448eb211c80319c';
const T0 = 1_700_000_000_000_000_000n; // 2023-11-14T22:13:20Z
const at = (ms: number) => (T0 + BigInt(Math.round(ms * 1e6))).toString();
const str = (v: string) => ({ stringValue: v });
const kv = (key: string, value: Obj) => ({ key, value });
const T0_US = Number(T0 / 1000n);
const WINDOW = `start=${T0_US - 60_000_000}&end=${T0_US + 60_000_000}`;
const V3_WINDOW = 'startTime=2023-11-14T22:12:20Z&endTime=2023-11-14T22:14:20Z';

const GOLDEN_FIXTURE = {
  resourceSpans: [
    {
      resource: {
        attributes: [
          kv('service.name', str('golden-frontend')),
          kv('host.name', str('web-1')),
          kv('process.pid', { intValue: '4242' }),
          kv('deployment.ratio', { doubleValue: 0.5 }),
          kv('feature.flags', { arrayValue: { values: [str('a'), str('b')] } }),
          kv('k8s.labels', { kvlistValue: { values: [kv('tier', str('web')), kv('team', str('shop'))] } }),
        ],
      },
      scopeSpans: [
        {
          scope: { name: 'golden-lib', version: '1.0.0' },
          spans: [
            {
              traceId: G1,
              spanId: '1000000000000001',
              traceState: 'vendor=1',
              flags: 1,
              name: 'GET /cart',
              kind: 2,
              startTimeUnixNano: at(0),
              endTimeUnixNano: at(612.345),
              attributes: [
                kv('http.method', str('GET')),
                kv('http.status_code', { intValue: '200' }),
                kv('cache.hit', { boolValue: false }),
                kv('big.count', { intValue: '9007199254740993' }),
                kv('session.blob', { bytesValue: 'AAAwOQ==' }),
                kv('sampling.ratio', { doubleValue: 0.25 }),
              ],
              events: [{ timeUnixNano: at(10), name: 'auth checked', attributes: [kv('user.role', str('admin'))] }],
              status: {},
            },
            { traceId: G1, spanId: '1000000000000002', parentSpanId: '1000000000000001', name: 'render cart', kind: 1, startTimeUnixNano: at(400), endTimeUnixNano: at(600), droppedAttributesCount: 2, status: { code: 1 } },
            { traceId: G1, spanId: '1000000000000003', parentSpanId: '1000000000000001', name: 'GET cart-service', kind: 3, startTimeUnixNano: at(10), endTimeUnixNano: at(390), status: {} },
          ],
        },
      ],
    },
    {
      resource: { attributes: [kv('service.name', str('golden-cart'))] },
      scopeSpans: [
        {
          scope: { name: 'golden-db' },
          spans: [
            { traceId: G1, spanId: '2000000000000001', parentSpanId: '1000000000000003', name: 'GET /items', kind: 2, startTimeUnixNano: at(15), endTimeUnixNano: at(385), attributes: [kv('http.route', str('/items'))], status: {} },
            {
              traceId: G1,
              spanId: '2000000000000002',
              parentSpanId: '2000000000000001',
              name: 'SELECT cart_items',
              kind: 3,
              startTimeUnixNano: at(20),
              endTimeUnixNano: at(380),
              attributes: [kv('db.system', str('postgresql'))],
              events: [{ timeUnixNano: at(200), name: 'retry', attributes: [kv('attempt', { intValue: '2' })] }],
              links: [{ traceId: 'ffffffffffffffffffffffffffffffff', spanId: '3000000000000001', attributes: [kv('link.kind', str('follows'))] }],
              status: { code: 2, message: 'deadlock detected' },
            },
          ],
        },
      ],
    },
    {
      resource: { attributes: [kv('service.name', str('golden-worker'))] },
      scopeSpans: [
        {
          scope: { name: 'golden-queue', version: '3' },
          spans: [
            {
              traceId: G2,
              spanId: '4000000000000001',
              name: 'process order',
              kind: 5,
              startTimeUnixNano: at(2000),
              endTimeUnixNano: at(2050),
              links: [{ traceId: G1, spanId: '1000000000000001', attributes: [kv('opentracing.ref_type', str('child_of'))] }],
              status: {},
            },
          ],
        },
      ],
    },
  ],
};

describe('Jaeger API: response shapes (golden files, Jaeger model)', () => {
  before(async () => {
    const r = await postOtlp(s.otlpHttp, JSON.stringify(GOLDEN_FIXTURE));
    assert.equal(r.status, 200, r.body.toString());
    await eventually(async () => {
      const r1 = await get(`/jaeger/api/traces/${G1}`);
      const r2 = await get(`/jaeger/api/traces/${G2.replace(/^0+/, '')}`);
      if (r1.status !== 200 || r2.status !== 200) return undefined;
      return ((await r1.json()) as Obj).data[0].spans.length === 5 ? true : undefined;
    }, 20_000, 'the golden traces to be stored');
  });

  it('GET /api/services and /api/v3/services', async () => {
    const v1 = await getJson(`/api/services?${WINDOW}`);
    assertResponseShape(v1, (d) => assert.deepEqual(d, ['golden-cart', 'golden-frontend', 'golden-worker']));
    assert.equal(v1.total, 3);
    assert.equal(v1.errors, null);
    golden('jaeger-services', v1);
    assert.deepEqual(await getJson(`/jaeger/api/services?${WINDOW}`), v1);
    const v3 = await getJson(`/api/v3/services?${V3_WINDOW}`);
    assert.deepEqual(v3, { services: ['golden-cart', 'golden-frontend', 'golden-worker'] });
    golden('jaeger-v3-services', v3);
  });

  it('GET /api/services/{service}/operations (names) and /api/operations (name and span kind)', async () => {
    const legacy = await getJson(`/api/services/golden-frontend/operations?${WINDOW}`);
    assertResponseShape(legacy, (d) => assert.deepEqual(d, ['GET /cart', 'GET cart-service', 'render cart']));
    golden('jaeger-operations-legacy', legacy);
    const ops = await getJson(`/api/operations?service=golden-frontend&${WINDOW}`);
    assertResponseShape(ops, (d) => {
      for (const o of d) same(o, OPERATION_KEYS, 'operation');
      assert.deepEqual(d, [
        { name: 'GET /cart', spanKind: 'server' },
        { name: 'GET cart-service', spanKind: 'client' },
        { name: 'render cart', spanKind: 'internal' },
      ]);
    });
    assert.equal(ops.total, 3);
    golden('jaeger-operations', ops);
    assert.deepEqual((await getJson(`/api/operations?service=golden-frontend&spanKind=client&${WINDOW}`)).data, [{ name: 'GET cart-service', spanKind: 'client' }]);
    const v3 = await getJson(`/api/v3/operations?service=golden-cart&${V3_WINDOW}`);
    assert.deepEqual(v3, { operations: [{ name: 'GET /items', spanKind: 'server' }, { name: 'SELECT cart_items', spanKind: 'client' }] });
    golden('jaeger-v3-operations', v3);
    assert.deepEqual(await getJson(`/api/v3/operations?service=golden-cart&span_kind=server&${V3_WINDOW}`), { operations: [{ name: 'GET /items', spanKind: 'server' }] });
  });

  it('GET /jaeger/api/traces/{id}: a 128-bit and a 64-bit trace id', async () => {
    const t1 = await getJson(`/jaeger/api/traces/${G1}`);
    assertResponseShape(t1, (d) => {
      assert.equal(d.length, 1);
      assertTraceShape(d[0]);
    });
    assert.equal(t1.total, 0);
    assert.equal(t1.errors, null);
    golden('jaeger-trace', t1);
    const t2 = await getJson(`/jaeger/api/traces/8448eb211c80319c`);
    assertTraceShape(t2.data[0]);
    assert.equal(t2.data[0].traceID, '8448eb211c80319c');
    // The link to the other trace's span, marked child_of, is a CHILD_OF reference.
    assert.deepEqual(t2.data[0].spans[0].references, [{ refType: 'CHILD_OF', traceID: G1, spanID: '1000000000000001' }]);
    golden('jaeger-trace-64bit', t2);
    // The same id, padded, is the same trace.
    assert.deepEqual(await getJson(`/jaeger/api/traces/${G2}`), t2);
  });

  it('leaves GET /api/traces/{id} at the root to Tempo', async () => {
    const tempo = await getJson(`/api/traces/${G1}`);
    assert.ok(Array.isArray(tempo.batches), 'Tempo v1 shape');
  });

  it('GET /api/traces (search) and GET /api/traces?traceID=', async () => {
    const found = await getJson(`/api/traces?service=golden-cart&${WINDOW}&limit=20&lookback=custom`);
    assertResponseShape(found, (d) => {
      assert.deepEqual(
        d.map((t: Obj) => t.traceID),
        [G1],
      );
      for (const t of d) assertTraceShape(t);
    });
    golden('jaeger-search', found);
    assert.deepEqual((await getJson(`/jaeger/api/traces?service=golden-cart&${WINDOW}`)).data, found.data);
    const list = await getJson(`/api/traces?traceID=${G1}&traceID=0123456789abcdef`);
    assert.deepEqual(
      list.data.map((t: Obj) => t.traceID),
      [G1],
    );
    assert.deepEqual(list.errors, [{ msg: 'trace not found', traceID: '0123456789abcdef' }]);
    golden('jaeger-search-trace-ids', { ...list, data: `<${list.data.length} traces, as jaeger-trace>` });
  });

  it('GET /api/dependencies', async () => {
    const endTs = Number(T0 / 1_000_000n) + 60_000;
    const deps = await getJson(`/api/dependencies?endTs=${endTs}&lookback=120000`);
    assertResponseShape(deps, (d) => {
      for (const l of d) same(l, DEPENDENCY_KEYS, 'dependency link');
      assert.deepEqual(d, [{ parent: 'golden-frontend', child: 'golden-cart', callCount: 1 }]);
    });
    golden('jaeger-dependencies', deps);
    assert.deepEqual((await getJson(`/api/dependencies?endTs=${endTs}&lookback=120000&service=golden-worker`)).data, []);
    // Before the trace: no calls.
    assert.deepEqual((await getJson(`/api/dependencies?endTs=${endTs - 120_000}&lookback=60000`)).data, []);
  });

  it('GET /api/v3/traces/{id} and /api/v3/traces: OTLP JSON under result', async () => {
    const byId = await getJson(`/api/v3/traces/${G1}`);
    same(byId, ['result'], 'v3 answer');
    same(byId.result, ['resourceSpans'], 'v3 result');
    // Exactly what was sent, span for span.
    const sent = canonicalSpans(GOLDEN_FIXTURE.resourceSpans.slice(0, 2), 'hex');
    assert.deepEqual(canonicalSpans(byId.result.resourceSpans, 'hex'), sent);
    golden('jaeger-v3-trace', byId);
    const found = await getJson(`/api/v3/traces?query.service_name=golden-worker&query.start_time_min=2023-11-14T22:12:20Z&query.start_time_max=2023-11-14T22:14:20Z`);
    assert.deepEqual(canonicalSpans(found.result.resourceSpans, 'hex'), canonicalSpans(GOLDEN_FIXTURE.resourceSpans.slice(2), 'hex'));
    golden('jaeger-v3-search', found);
    // The canonical parameter names answer the same.
    assert.deepEqual(await getJson(`/api/v3/traces?query.serviceName=golden-worker&query.startTimeMin=2023-11-14T22:12:20Z&query.startTimeMax=2023-11-14T22:14:20Z`), found);
  });

  it('answers errors in Jaeger shapes with the right status', async () => {
    golden('jaeger-error-400', await assertV1Error(await get(`/api/traces?${WINDOW}`), 400, /^parameter 'service' is required$/));
    golden('jaeger-error-404', await assertV1Error(await get(`/jaeger/api/traces/0123456789abcdef`), 404, /^trace not found$/));
    await assertV1Error(await get(`/jaeger/api/traces/xyz`), 400, /invalid syntax/);
    await assertV1Error(await get(`/api/traces?service=a&minDuration=1s&maxDuration=1ms`), 400, /^'maxDuration' should be greater than 'minDuration'$/);
    await assertV1Error(await get(`/api/traces?service=a&minDuration=soon`), 400, /^unable to parse param 'minDuration': time: invalid duration "soon"$/);
    await assertV1Error(await get(`/api/traces?service=a&start=yesterday`), 400, /^unable to parse param 'start'/);
    await assertV1Error(await get(`/api/traces?service=a&tags=${encodeURIComponent('{"n":1}')}`), 400, /^malformed 'tags' parameter/);
    await assertV1Error(await get(`/api/traces?service=a&tag=novalue`), 400, /^malformed 'tag' parameter/);
    await assertV1Error(await get(`/api/operations`), 400, /^parameter 'service' is required$/);
    await assertV1Error(await get(`/api/dependencies?endTs=now`), 400, /^unable to parse param 'endTs'/);
    golden('jaeger-v3-error-400', await assertV3Error(await get(`/api/v3/traces?query.service_name=a`), 400, /^query.startTimeMin and query.startTimeMax are required$/));
    golden('jaeger-v3-error-404', await assertV3Error(await get(`/api/v3/traces/0123456789abcdef`), 404, /^No traces found$/));
    await assertV3Error(await get(`/api/v3/traces/xyz`), 400, /^malformed parameter trace_id: /);
    await assertV3Error(await get(`/api/v3/traces?query.start_time_min=2023-11-14T22:12:20Z&query.start_time_max=yesterday`), 400, /^malformed parameter query.start_time_max: /);
    await assertV3Error(await get(`/api/v3/traces?query.service_name=nobody&query.start_time_min=2023-11-14T22:12:20Z&query.start_time_max=2023-11-14T22:14:20Z`), 404, /^No traces found$/);
  });
});

// ---- the OpenTelemetry JS SDK, converted field by field ---------------------------------

const hrNs = (t: HrTime) => BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]);
const hrUs = (t: HrTime) => Number(hrNs(t) / 1000n);
const jaegerId = (hex: string) => (hex.startsWith('0000000000000000') ? hex.slice(16) : hex);
const sortTags = (tags: Obj[]) => [...tags].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));

/** A JavaScript attribute as the translator types it, after the SDK exported it (integers as ints, other numbers as doubles). */
function expectedTag(key: string, v: AttributeValue): Obj {
  if (typeof v === 'string') return { key, type: 'string', value: v };
  if (typeof v === 'boolean') return { key, type: 'bool', value: v };
  if (typeof v === 'number') return { key, type: Number.isInteger(v) ? 'int64' : 'float64', value: v };
  return { key, type: 'string', value: JSON.stringify(v) };
}

const KIND_TAG: Record<number, string> = { [SpanKind.INTERNAL]: 'internal', [SpanKind.SERVER]: 'server', [SpanKind.CLIENT]: 'client', [SpanKind.PRODUCER]: 'producer', [SpanKind.CONSUMER]: 'consumer' };

/** What the Collector's translator and jaeger-query make of a span the SDK finished. */
function expectedSpan(sp: ReadableSpan): Obj {
  const ctx = sp.spanContext();
  const tags: Obj[] = Object.entries(sp.attributes).map(([k, v]) => expectedTag(k, v as AttributeValue));
  tags.push({ key: 'otel.scope.name', type: 'string', value: sp.instrumentationScope.name });
  if (sp.instrumentationScope.version) tags.push({ key: 'otel.scope.version', type: 'string', value: sp.instrumentationScope.version });
  tags.push({ key: 'span.kind', type: 'string', value: KIND_TAG[sp.kind] });
  if (sp.status.code === SpanStatusCode.OK) tags.push({ key: 'otel.status_code', type: 'string', value: 'OK' });
  if (sp.status.code === SpanStatusCode.ERROR) tags.push({ key: 'otel.status_code', type: 'string', value: 'ERROR' }, { key: 'error', type: 'bool', value: true });
  if (sp.status.message) tags.push({ key: 'otel.status_description', type: 'string', value: sp.status.message });
  const traceState = ctx.traceState?.serialize();
  if (traceState) tags.push({ key: 'w3c.tracestate', type: 'string', value: traceState });
  const parent = sp.parentSpanContext?.spanId;
  const references: Obj[] = parent ? [{ refType: 'CHILD_OF', traceID: jaegerId(ctx.traceId), spanID: parent }] : [];
  for (const l of sp.links) {
    // A link to the parent only makes the parent reference FOLLOWS_FROM.
    if (parent && l.context.traceId === ctx.traceId && l.context.spanId === parent) references[0].refType = 'FOLLOWS_FROM';
    else references.push({ refType: 'FOLLOWS_FROM', traceID: jaegerId(l.context.traceId), spanID: l.context.spanId });
  }
  const dropped = sp.droppedAttributesCount;
  return {
    traceID: jaegerId(ctx.traceId),
    spanID: ctx.spanId,
    flags: 1,
    operationName: sp.name,
    references,
    startTime: hrUs(sp.startTime),
    duration: Number((hrNs(sp.endTime) - hrNs(sp.startTime)) / 1000n),
    tags: sortTags(tags),
    logs: sp.events.map((e) => ({
      timestamp: hrUs(e.time),
      fields: [{ key: 'event', type: 'string', value: e.name }, ...sortTags(Object.entries(e.attributes ?? {}).map(([k, v]) => expectedTag(k, v as AttributeValue)))],
    })),
    warnings: dropped > 0 ? [`the sender dropped ${dropped} attribute${dropped === 1 ? '' : 's'} of this span (OTLP dropped_attributes_count)`] : null,
  };
}

/** Every kind, an error and an OK status, events, links, many attribute types. */
function makeTrace(tracer: Tracer): void {
  const root = tracer.startSpan('POST /checkout', {
    kind: SpanKind.SERVER,
    attributes: { 'http.route': '/checkout', 'http.status_code': 201, 'cart.ratio': 0.75, 'feature.on': true, 'list.strings': ['a', 'b', ''], 'list.ints': [1, -2, 3], 'list.floats': [1.5, -0.25], 'list.bools': [true, false] },
  });
  root.addEvent('cache miss', { 'cache.key': 'user:1', attempt: 2 });
  root.addEvent('no attributes');
  const ctx = trace.setSpan(context.active(), root);
  const db = tracer.startSpan('SELECT orders', { kind: SpanKind.CLIENT, links: [{ context: root.spanContext(), attributes: { 'link.reason': 'retry' } }], attributes: { 'db.system': 'sqlite' } }, ctx);
  for (let i = 0; i < 40; i++) db.setAttribute(`extra.${i}`, i);
  db.setStatus({ code: SpanStatusCode.ERROR, message: 'connection reset' });
  db.end();
  const publish = tracer.startSpan('publish order', { kind: SpanKind.PRODUCER }, ctx);
  publish.setStatus({ code: SpanStatusCode.OK });
  const consume = tracer.startSpan('consume order', { kind: SpanKind.CONSUMER, links: [{ context: publish.spanContext(), attributes: { 'messaging.batch': 1 } }] }, ctx);
  const compute = tracer.startSpan('compute total', { kind: SpanKind.INTERNAL }, trace.setSpan(ctx, consume));
  compute.end();
  consume.end();
  publish.end();
  root.end();
}

const sampler: Sampler = {
  shouldSample: () => ({ decision: SamplingDecision.RECORD_AND_SAMPLED, traceState: new TraceState('vendor=abc') }),
  toString: () => 'with-trace-state',
};

describe('Jaeger API: spans sent by the OpenTelemetry JS SDK', () => {
  let sent: ReadableSpan[];
  let traceId: string;
  const service = 'jaeger-sdk-checkout';

  before(async () => {
    const captured = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': service, 'service.version': '1.4.2', 'host.name': 'node-7', 'process.pid': 4242, 'deployment.ratio': 0.5, 'feature.flags': ['a', 'b'] }),
      spanLimits: { attributeCountLimit: 32 },
      sampler,
      spanProcessors: [new SimpleSpanProcessor(captured), new BatchSpanProcessor(new OTLPTraceExporter({ url: `${s.otlpHttp}/v1/traces` }))],
    });
    makeTrace(provider.getTracer('checkout-lib', '2.0.1'));
    await provider.forceFlush();
    sent = captured.getFinishedSpans();
    await provider.shutdown();
    assert.equal(sent.length, 5);
    traceId = sent[0].spanContext().traceId;
    await eventually(async () => {
      const r = await get(`/jaeger/api/traces/${traceId}`);
      return r.status === 200 && ((await r.json()) as Obj).data[0].spans.length === 5 ? true : undefined;
    }, 20_000, 'the SDK trace to be stored');
  });

  it('converts every span field by field: kinds, status, events as logs, links as references, scope and trace state as tags', async () => {
    const refs = (name: string) => expectedSpan(sent.find((sp) => sp.name === name)!).references.map((r: Obj) => r.refType);
    assert.deepEqual(refs('consume order'), ['CHILD_OF', 'FOLLOWS_FROM'], 'the fixture should exercise a link beside the parent');
    assert.deepEqual(refs('SELECT orders'), ['FOLLOWS_FROM'], 'the fixture should exercise a link to the parent');
    const body = await getJson(`/jaeger/api/traces/${traceId}`);
    const t = body.data[0];
    assertTraceShape(t);
    assert.equal(t.traceID, jaegerId(traceId));
    assert.equal(t.spans.length, sent.length);
    const dropped = sent.find((sp) => sp.name === 'SELECT orders')!;
    assert.ok(dropped.droppedAttributesCount > 0, 'the fixture should exercise a dropped attribute count');
    for (const sp of sent) {
      const got = t.spans.find((x: Obj) => x.spanID === sp.spanContext().spanId);
      assert.ok(got, `span ${sp.name} is in the trace`);
      const { processID, ...rest } = got;
      assert.deepEqual(rest, expectedSpan(sp), sp.name);
      // Resource attributes are the process's tags, service.name its name.
      const resource = Object.entries(sp.resource.attributes);
      assert.deepEqual(t.processes[processID], {
        serviceName: service,
        tags: sortTags(resource.filter(([k]) => k !== 'service.name').map(([k, v]) => expectedTag(k, v as AttributeValue))),
      });
    }
    assert.deepEqual(Object.keys(t.processes), ['p1'], 'one resource, one process');
  });

  it('returns what the SDK sent, unchanged, through api_v3 (OTLP JSON)', async () => {
    const body = await getJson(`/api/v3/traces/${traceId}`);
    const want = canonicalSpans(decodeToObject(otlp.ExportTraceServiceRequest, ProtobufTraceSerializer.serializeRequest(sent)!).resourceSpans, 'bytes');
    assert.deepEqual(canonicalSpans(body.result.resourceSpans, 'hex'), want);
  });

  it('lists the service and its operations with their kinds', async () => {
    assert.ok(((await getJson('/api/services')).data as string[]).includes(service));
    assert.deepEqual((await getJson(`/api/operations?service=${service}`)).data, [
      { name: 'POST /checkout', spanKind: 'server' },
      { name: 'SELECT orders', spanKind: 'client' },
      { name: 'compute total', spanKind: 'internal' },
      { name: 'consume order', spanKind: 'consumer' },
      { name: 'publish order', spanKind: 'producer' },
    ]);
  });
});

// ---- search filters, against the data sent ----------------------------------------------

describe('Jaeger API: search filters', () => {
  const base = nowNs() - 600_000_000_000n; // ten minutes ago
  const ms = (n: number) => BigInt(Math.round(n * 1e6));
  const ids = { t1: 'a1000000000000000000000000000001', t2: 'a1000000000000000000000000000002', t3: 'a1000000000000000000000000000003', t4: 'a1000000000000000000000000000004' };
  const range = `start=${Number(base / 1000n) - 60_000_000}&end=${Number(base / 1000n) + 600_000_000}`;
  const spanAt = (traceId: string, spanId: string, offsetMs: number, durationMs: number, f: Obj) => ({
    traceId,
    spanId,
    startTimeUnixNano: (base + ms(offsetMs)).toString(),
    endTimeUnixNano: (base + ms(offsetMs + durationMs)).toString(),
    status: {},
    ...f,
  });
  const resource = (service: string, env: string, spans: Obj[]) => ({
    resource: { attributes: [kv('service.name', str(service)), kv('deployment.environment', str(env))] },
    scopeSpans: [{ scope: { name: 'search-lib' }, spans }],
  });
  const DATA = {
    resourceSpans: [
      resource('js-shop', 'prod', [
        spanAt(ids.t1, 'b100000000000001', 0, 120, { name: 'GET /orders', kind: 2, attributes: [kv('http.status_code', { intValue: '200' })] }),
        spanAt(ids.t1, 'b100000000000002', 10, 30, { name: 'SELECT orders', kind: 3, parentSpanId: 'b100000000000001', attributes: [kv('db.system', str('postgres'))] }),
        spanAt(ids.t2, 'b200000000000001', 1000, 20, {
          name: 'GET /orders',
          kind: 2,
          attributes: [kv('http.status_code', { intValue: '500' })],
          events: [{ timeUnixNano: (base + ms(1005)).toString(), name: 'retry', attributes: [kv('attempt', { intValue: '3' })] }],
          status: { code: 2, message: 'boom' },
        }),
      ]),
      resource('js-shop', 'staging', [spanAt(ids.t3, 'b300000000000001', 2000, 1, { name: 'GET /health', kind: 1 })]),
      resource('js-pay', 'prod', [
        spanAt(ids.t1, 'b100000000000003', 50, 50, { name: 'POST /pay', kind: 2, parentSpanId: 'b100000000000001', status: { code: 2 } }),
        spanAt(ids.t4, 'b400000000000001', 3000, 300, { name: 'POST /pay', kind: 2, status: { code: 1 } }),
      ]),
    ],
  };

  before(async () => {
    const r = await postOtlp(s.otlpHttp, JSON.stringify(DATA));
    assert.equal(r.status, 200, r.body.toString());
    await eventually(async () => {
      const found = await get(`/api/traces?service=js-pay&${range}`);
      return found.status === 200 && ((await found.json()) as Obj).data.length === 2 ? true : undefined;
    }, 20_000, 'the search data to be stored');
  });

  const found = async (params: string): Promise<string[]> => {
    const body = await getJson(`/api/traces?${range}&${params}`);
    for (const t of body.data) assertTraceShape(t);
    return (body.data as Obj[]).map((t) => t.traceID);
  };
  const set = (...names: (keyof typeof ids)[]) => names.map((n) => ids[n]).sort();
  const sorted = async (params: string) => (await found(params)).sort();
  const tags = (o: Record<string, string>) => `tags=${encodeURIComponent(JSON.stringify(o))}`;

  it('filters by service and operation', async () => {
    assert.deepEqual(await sorted('service=js-shop'), set('t1', 't2', 't3'));
    assert.deepEqual(await sorted('service=js-pay'), set('t1', 't4'));
    assert.deepEqual(await sorted(`service=js-shop&operation=${encodeURIComponent('GET /orders')}`), set('t1', 't2'));
    assert.deepEqual(await sorted(`service=js-pay&operation=${encodeURIComponent('GET /orders')}`), []);
    assert.deepEqual(await sorted('service=nobody'), []);
  });

  it('filters by tags on the same span as the service: attributes, process tags, log fields, and the translator tags', async () => {
    assert.deepEqual(await sorted(`service=js-shop&${tags({ 'http.status_code': '500' })}`), set('t2'));
    assert.deepEqual(await sorted(`service=js-shop&tag=db.system:postgres`), set('t1'));
    // t1's error span is js-pay's: a js-shop search for errors does not find t1.
    assert.deepEqual(await sorted(`service=js-shop&${tags({ error: 'true' })}`), set('t2'));
    assert.deepEqual(await sorted(`service=js-pay&${tags({ error: 'true' })}`), set('t1'));
    assert.deepEqual(await sorted(`service=js-pay&${tags({ 'otel.status_code': 'OK' })}`), set('t4'));
    assert.deepEqual(await sorted(`service=js-shop&${tags({ 'span.kind': 'client' })}`), set('t1'));
    assert.deepEqual(await sorted(`service=js-shop&${tags({ 'deployment.environment': 'staging' })}`), set('t3'));
    assert.deepEqual(await sorted(`service=js-shop&${tags({ attempt: '3' })}`), set('t2'));
    assert.deepEqual(await sorted(`service=js-shop&${tags({ event: 'retry' })}`), set('t2'));
    assert.deepEqual(await sorted(`service=js-shop&${tags({ 'otel.status_description': 'boom' })}`), set('t2'));
    assert.deepEqual(await sorted(`service=js-shop&${tags({ 'otel.scope.name': 'search-lib' })}`), set('t1', 't2', 't3'));
    // Every tag must hold, on one span.
    assert.deepEqual(await sorted(`service=js-shop&${tags({ 'http.status_code': '200', 'deployment.environment': 'prod' })}`), set('t1'));
    assert.deepEqual(await sorted(`service=js-shop&${tags({ 'http.status_code': '200' })}&tag=db.system:postgres`), []);
    assert.deepEqual(await sorted(`service=js-shop&operation=${encodeURIComponent('GET /orders')}&${tags({ 'http.status_code': '200' })}`), set('t1'));
  });

  it("filters by the matching span's duration, bounds inclusive", async () => {
    assert.deepEqual(await sorted('service=js-shop&minDuration=100ms'), set('t1'));
    assert.deepEqual(await sorted('service=js-shop&maxDuration=25ms'), set('t2', 't3'));
    assert.deepEqual(await sorted('service=js-shop&minDuration=20ms&maxDuration=30ms'), set('t1', 't2'));
    assert.deepEqual(await sorted('service=js-pay&minDuration=300ms'), set('t4'));
    assert.deepEqual(await sorted('service=js-pay&minDuration=0.3s&maxDuration=300000us'), set('t4'));
  });

  it('returns at most limit traces, the most recent first', async () => {
    assert.deepEqual(await found('service=js-shop&limit=2'), [ids.t3, ids.t2]);
    assert.deepEqual(await found('service=js-shop&limit=1'), [ids.t3]);
  });

  it('filters by start and end (µs)', async () => {
    const us = (n: bigint) => Number(n / 1000n);
    assert.deepEqual((await getJson(`/api/traces?service=js-shop&start=${us(base + ms(500))}&end=${us(base + ms(2000))}`)).data.map((t: Obj) => t.traceID).sort(), set('t2', 't3'));
    assert.deepEqual((await getJson(`/api/traces?service=js-shop&start=${us(base + ms(500))}&end=${us(base + ms(1999))}`)).data.map((t: Obj) => t.traceID), [ids.t2]);
  });

  it('answers the same through api_v3, attributes included', async () => {
    const v3 = async (params: string) => {
      const min = new Date(Number(base / 1_000_000n) - 60_000).toISOString();
      const max = new Date(Number(base / 1_000_000n) + 600_000).toISOString();
      const r = await get(`/api/v3/traces?query.start_time_min=${min}&query.start_time_max=${max}&${params}`);
      if (r.status === 404) return [];
      assert.equal(r.status, 200, await r.clone().text());
      const body = (await r.json()) as Obj;
      return [...new Set(canonicalSpans(body.result.resourceSpans, 'hex').map((sp) => sp.traceId))].sort();
    };
    assert.deepEqual(await v3('query.service_name=js-shop'), set('t1', 't2', 't3'));
    assert.deepEqual(await v3(`query.service_name=js-shop&query.attributes=${encodeURIComponent('{"http.status_code":"500"}')}`), set('t2'));
    assert.deepEqual(await v3(`query.service_name=js-shop&query.operation_name=${encodeURIComponent('GET /orders')}&query.duration_min=100ms`), set('t1'));
    assert.deepEqual(await v3('query.service_name=js-pay&query.duration_max=100ms'), set('t1'));
    assert.deepEqual(await v3('query.service_name=js-shop&query.search_depth=1'), set('t3'));
    assert.deepEqual(await v3('query.service_name=js-shop&query.attributes=%7B%22error%22%3A%22true%22%7D&query.duration_min=1s'), []);
  });

  it('builds dependencies from cross-service calls', async () => {
    const deps = await getJson(`/api/dependencies?endTs=${Number(base / 1_000_000n) + 600_000}&lookback=700000`);
    assert.deepEqual(deps.data, [{ parent: 'js-shop', child: 'js-pay', callCount: 1 }]);
  });
});

// ---- tenancy, with authentication on ------------------------------------------------------

describe('Jaeger API: tenants and authentication', () => {
  const dir = tempDir('sightline-jaeger-tenants-');
  let a: Sightline;
  const tok: Record<string, string> = {};
  const SHARED = 'c0ffee00c0ffee00c0ffee00c0ffee00';
  const ONLY_A = 'abad1dea00000000abad1dea00000001';

  const make = (name: string, roles: string[], tenants: string[]) => {
    const t = createToken(name, roles as never, tenants);
    tok[name] = t.token;
    return `  - { name: ${name}, id: ${t.entry.id}, hash: "${t.entry.hash}", roles: [${roles.join(', ')}], tenants: [${tenants.join(', ')}] }\n`;
  };
  const as = (name: string, tenant?: string) => ({ authorization: `Bearer ${tok[name]}`, ...(tenant ? { 'x-scope-orgid': tenant } : {}) });
  const call = (p: string, headers: Record<string, string> = {}) => fetch(`${a.api}${p}`, { headers });

  before(async () => {
    const config = path.join(dir, 'sightline.yaml');
    writeFileSync(config, 'tokens:\n' + make('viewer-a', ['viewer'], ['tenant-a']) + make('viewer-b', ['viewer'], ['tenant-b']) + make('collector', ['ingester'], ['tenant-a', 'tenant-b']), { mode: 0o600 });
    a = await startSightline({ dataDir: path.join(dir, 'data'), args: ['--config', config, '--flush-interval', '100ms'] });
    const now = nowNs() - 5_000_000_000n;
    const body = (service: string, traceId: string, secret: string) =>
      JSON.stringify({
        resourceSpans: [
          {
            resource: { attributes: [kv('service.name', str(service))] },
            scopeSpans: [{ spans: [{ traceId, spanId: 'd1d2d3d4d5d6d7d8', name: `op-${secret}`, kind: 2, startTimeUnixNano: now.toString(), endTimeUnixNano: (now + 1_000_000n).toString(), attributes: [kv('note', str(secret))] }] }],
          },
        ],
      });
    for (const [tenant, payload] of [
      ['tenant-a', body('svc-of-a', SHARED, 'secret-of-a')],
      ['tenant-a', body('svc-of-a', ONLY_A, 'secret-of-a')],
      ['tenant-b', body('svc-of-b', SHARED, 'of-b')],
    ] as const) {
      const r = await postOtlp(a.otlpHttp, payload, as('collector', tenant));
      assert.equal(r.status, 200, r.body.toString());
    }
    for (const viewer of ['viewer-a', 'viewer-b'])
      await eventually(async () => {
        const r = await call(`/jaeger/api/traces/${SHARED}`, as(viewer));
        return r.status === 200 ? true : undefined;
      }, 20_000, `${viewer}'s trace to be stored`);
  });

  after(async () => {
    await a?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses the anonymous with 401 in Jaeger error shapes', async () => {
    const v1 = await call('/api/services');
    assert.match(v1.headers.get('www-authenticate') ?? '', /^Bearer/);
    await assertV1Error(v1, 401, /./);
    await assertV1Error(await call(`/jaeger/api/traces/${SHARED}`), 401, /./);
    await assertV3Error(await call(`/api/v3/traces/${SHARED}`), 401, /./);
  });

  it("refuses a viewer who names another tenant (403), and the ingester's token (403)", async () => {
    await assertV1Error(await call(`/jaeger/api/traces/${SHARED}`, as('viewer-b', 'tenant-a')), 403, /./);
    await assertV1Error(await call('/api/services', as('collector', 'tenant-a')), 403, /./);
    await assertV3Error(await call('/api/v3/services', as('viewer-b', 'tenant-a')), 403, /./);
  });

  it("shows each viewer only its own tenant's traces, services, operations and dependencies", async () => {
    const text = async (p: string, who: string) => {
      const r = await call(p, as(who));
      return { status: r.status, body: await r.text() };
    };
    // The same trace id in two tenants is two traces.
    const sharedB = await text(`/jaeger/api/traces/${SHARED}`, 'viewer-b');
    assert.equal(sharedB.status, 200);
    assert.ok(sharedB.body.includes('svc-of-b') && !sharedB.body.includes('secret-of-a'), sharedB.body);
    const sharedA = JSON.parse((await text(`/jaeger/api/traces/${SHARED}`, 'viewer-a')).body) as Obj;
    assert.equal(sharedA.data[0].processes.p1.serviceName, 'svc-of-a');
    // Tenant a's own trace does not exist for tenant b.
    assert.equal((await text(`/jaeger/api/traces/${ONLY_A}`, 'viewer-b')).status, 404);
    assert.equal((await text(`/api/v3/traces/${ONLY_A}`, 'viewer-b')).status, 404);
    assert.equal((await text(`/jaeger/api/traces/${ONLY_A}`, 'viewer-a')).status, 200);
    assert.deepEqual(JSON.parse((await text('/api/services', 'viewer-b')).body).data, ['svc-of-b']);
    assert.deepEqual(JSON.parse((await text('/api/services', 'viewer-a')).body).data, ['svc-of-a']);
    assert.deepEqual(JSON.parse((await text('/api/v3/services', 'viewer-b')).body), { services: ['svc-of-b'] });
    assert.deepEqual(JSON.parse((await text('/api/operations?service=svc-of-a', 'viewer-b')).body).data, []);
    assert.deepEqual(JSON.parse((await text('/api/traces?service=svc-of-a', 'viewer-b')).body).data, []);
    assert.deepEqual(JSON.parse((await text(`/api/traces?service=svc-of-a&${encodeURIComponent('tags')}=${encodeURIComponent('{"note":"secret-of-a"}')}`, 'viewer-a')).body).data.length, 2);
    const listB = JSON.parse((await text(`/api/traces?traceID=${ONLY_A}&traceID=${SHARED}`, 'viewer-b')).body) as Obj;
    assert.deepEqual(
      listB.data.map((t: Obj) => t.spans[0].operationName),
      ['op-of-b'],
    );
    assert.deepEqual(listB.errors, [{ msg: 'trace not found', traceID: ONLY_A }]);
    for (const p of ['/api/services', '/api/operations?service=svc-of-a', '/api/traces?service=svc-of-a', `/api/v3/traces/${ONLY_A}`, '/api/dependencies', '/api/v3/services'])
      assert.ok(!(await text(p, 'viewer-b')).body.includes('of-a'), `${p} showed tenant a's data to tenant b`);
  });
});
