import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_TENANT, SCHEMA_VERSION, SchemaVersionError, SqlStore, TenantScope, type RetentionPolicy } from '../src/store/index.js';
import { initSchema, readSchemaVersion } from '../src/store/setup.js';
import { writeMeta } from '../src/store/meta.js';
import { NS_PER_DAY, TABLES, type Layout } from '../src/store/schema.js';
import type { Engine } from '../src/store/engine.js';
import { sql, ident, type Sql } from '../src/store/sql/sql.js';
import type { SpanRecord } from '../src/model/span-record.js';
import { compileQuery, compileRoot, filterRequest, matchingTraceIds, queryMetrics, queryMetricsRoot, searchTraceQL, traceHeatmapTraceQL, TraceQLUnsupportedError, type MetricsRequest } from '../src/query/traceql/index.js';
import { printName, printString } from '../src/query/traceql/printer.js';
import { tagSearchRequest, type SearchTag } from '../src/query/tag-search.js';
import { FixtureWriter } from './store-fixtures.js';
import { SightlineError } from '../src/errors.js';
import { LogBatchBuilder } from '../src/model/log-batch.js';
import { JsonLogDecoder } from '../src/receivers/decode-logs-json.js';

/**
 * One conformance suite for every store: the same tests, unchanged, against
 * embedded chDB, a ClickHouse server and a sharded ClickHouse cluster. They
 * differ only by the capabilities an engine declares, never by its name.
 *
 * Covers: round trips of edge values, a 10,000-span trace, replay
 * de-duplication, tag search by every tag kind, duration bounds and time
 * ranges, tag and value listing, TraceQL search and metrics (from the spans,
 * the rollup and the evaluator), concurrent ingest and query, tenant
 * isolation of every read port, retention per tenant, erasure of whole
 * traces, and the schema version check.
 */

export interface ConformanceTarget {
  name: string;
  /** Opens a fresh, empty store. */
  open(): Promise<{ engine: Engine; layout: Layout; close(): Promise<void> }>;
}

export function runConformanceSuite(target: ConformanceTarget): void {
describe(`store conformance: ${target.name}`, () => {
const scratch = mkdtempSync(path.join(os.tmpdir(), 'sightline-conformance-'));
let engine: Engine;
let layout: Layout;
let closeTarget: () => Promise<void>;
let store: SqlStore;
let fixtures: FixtureWriter;

const NOW_NS = BigInt(Date.now()) * 1_000_000n;
const HOUR_NS = 3_600_000_000_000n;
const DAY_NS = 24n * HOUR_NS;
/** Every test but the tenant ones writes and reads the default tenant. */
const SINGLE = TenantScope.of([DEFAULT_TENANT]);

/** Stores OTLP/JSON resourceSpans as ingest does (see store-fixtures.ts). */
const write = (resourceSpans: unknown[], opts: { tenant?: string; replay?: boolean } = {}) => fixtures.write(resourceSpans, opts);

interface SpanSpec {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name?: string;
  startNs?: bigint;
  durationNs?: bigint;
  status?: number;
  attributes?: unknown[];
  [k: string]: unknown;
}

function rs(service: string, spans: SpanSpec[], resourceAttrs: unknown[] = []): unknown {
  return {
    resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }, ...resourceAttrs] },
    scopeSpans: [
      {
        scope: { name: 'lib', version: '1' },
        spans: spans.map(({ startNs, durationNs, status, ...s }) => {
          const start = startNs ?? NOW_NS - 60_000_000_000n;
          return {
            name: 'op',
            kind: 2,
            ...s,
            startTimeUnixNano: start.toString(),
            endTimeUnixNano: (start + (durationNs ?? 1_000_000n)).toString(),
            status: { code: status ?? 0 },
          };
        }),
      },
    ],
  };
}

const hex = (n: number) => randomBytes(n).toString('hex');
const lastHour = () => ({ startNs: NOW_NS - HOUR_NS, endNs: NOW_NS + HOUR_NS });

/** Rows of a table in one tenant (the default one unless given). */
async function count(table: string, where: Sql = sql`1`, tenant = DEFAULT_TENANT): Promise<number> {
  const out = await engine.query(sql`SELECT count() FROM ${ident(table)} WHERE tenant = ${tenant} AND ${where}`, 'TabSeparated');
  return Number(out.toString().trim());
}

/** Tempo's tag search, as the API runs it. */
const tagSearch = (scope: TenantScope, tags: SearchTag[], duration: { minNs?: bigint; maxNs?: bigint } = {}, opts: { limit?: number; spss?: number } = {}) =>
  store.searchSpans(scope, { ...tagSearchRequest(tags, duration), range: lastHour(), limit: opts.limit ?? 20, spss: opts.spss ?? 3 });

before(async () => {
  ({ engine, layout, close: closeTarget } = await target.open());
  await initSchema(engine, 'test store', layout);
  store = new SqlStore(engine, layout, { defaultTenant: DEFAULT_TENANT, scratchDir: scratch });
  fixtures = new FixtureWriter(store, NOW_NS);
});

after(async () => {
  await closeTarget();
  fixtures?.close();
  rmSync(scratch, { recursive: true, force: true });
});

describe('round trip of edge values', () => {
  it('keeps unicode, empty strings, int64 extremes, NaN and infinities, huge and nested values', async () => {
    const traceId = hex(16);
    const huge = 'x'.repeat(1024 * 1024);
    const attributes = [
      { key: 'empty', value: { stringValue: '' } },
      { key: 'unicode', value: { stringValue: 'zażółć gęślą jaźń 🙂 \u0000 nul and \n newline' } },
      { key: '', value: { stringValue: 'empty key' } },
      { key: 'int.max', value: { intValue: '9223372036854775807' } },
      { key: 'int.min', value: { intValue: '-9223372036854775808' } },
      { key: 'nan', value: { doubleValue: 'NaN' } },
      { key: 'inf', value: { doubleValue: 'Infinity' } },
      { key: 'ninf', value: { doubleValue: '-Infinity' } },
      { key: 'neg.zero', value: { doubleValue: '-0' } },
      { key: 'huge', value: { stringValue: huge } },
      { key: 'bytes', value: { bytesValue: Buffer.from([0, 1, 255]).toString('base64') } },
      { key: 'kv', value: { kvlistValue: { values: [{ key: 'a', value: { arrayValue: { values: [{ intValue: '1' }, { boolValue: false }, {}] } } }] } } },
      { key: 'empty.value', value: {} },
      { key: 'false', value: { boolValue: false } },
    ];
    await write([
      rs('edge-svc', [
        {
          traceId,
          spanId: hex(8),
          name: '',
          attributes,
          traceState: 'k=v',
          flags: 0xffffffff,
          events: [{ timeUnixNano: '1', name: 'e', attributes: [{ key: 'k', value: { stringValue: "'; DROP TABLE spans; --" } }], droppedAttributesCount: 3 }],
          links: [{ traceId: '', spanId: '', attributes: [{ key: 'why', value: { stringValue: 'invalid context' } }], flags: 1 }],
          droppedLinksCount: 2,
        },
      ]),
    ]);
    const spans = await store.getTrace(SINGLE, Buffer.from(traceId, 'hex'));
    assert.equal(spans.length, 1);
    const s = spans[0];
    const byKey = new Map(s.attributes.map((kv) => [kv.key, kv.value]));
    for (const a of attributes) {
      const want = a.key === 'neg.zero' ? { doubleValue: -0 } : a.value;
      assert.deepEqual(byKey.get(a.key), want, `attribute ${JSON.stringify(a.key)}`);
    }
    assert.equal(Object.is((byKey.get('neg.zero') as { doubleValue: number }).doubleValue, -0), true);
    assert.equal(s.name, '');
    assert.equal(s.traceState, 'k=v');
    assert.equal(s.flags, 0xffffffff);
    assert.equal(s.events[0].dropped, 3);
    assert.equal(s.events[0].attributes[0].value.hasOwnProperty('stringValue'), true);
    assert.deepEqual(s.links[0].traceId, Buffer.alloc(16));
    assert.equal(s.links[0].flags, 1);
    assert.equal(s.droppedLinks, 2);
  });

  it('stores and returns a trace of 10,000 spans', async () => {
    const traceId = hex(16);
    const spans: SpanSpec[] = [];
    const root = hex(8);
    spans.push({ traceId, spanId: root, name: 'root' });
    for (let i = 1; i < 10_000; i++) spans.push({ traceId, spanId: hex(8), parentSpanId: root, name: `child-${i % 50}`, startNs: NOW_NS - BigInt(i) * 1000n });
    await write([rs('big-a', spans.slice(0, 5000)), rs('big-b', spans.slice(5000))]);
    const got = await store.getTrace(SINGLE, Buffer.from(traceId, 'hex'));
    assert.equal(got.length, 10_000);
    assert.equal(new Set(got.map((g: SpanRecord) => g.spanId.toString('hex'))).size, 10_000);
  });
});

describe('replay', () => {
  it('does not store rows twice when a segment is replayed after being stored', async () => {
    const traceId = hex(16);
    const segment = await write([rs('replay-svc', [{ traceId, spanId: hex(8) }, { traceId, spanId: hex(8) }])]);
    await fixtures.store(segment, { replay: true });
    assert.equal(await count(TABLES.spans, sql`trace_id = ${Buffer.from(traceId, 'hex')}`), 2);
  });

  it('stores only the missing rows of a partly stored segment, and indexes them', async () => {
    const traceA = hex(16);
    const traceB = hex(16);
    const first = { traceId: traceA, spanId: hex(8) };
    await write([rs('replay-svc', [first])]);
    await write([rs('replay-svc', [first, { traceId: traceA, spanId: hex(8) }, { traceId: traceB, spanId: hex(8) }])], { replay: true });
    assert.equal(await count(TABLES.spans, sql`trace_id = ${Buffer.from(traceA, 'hex')}`), 2);
    assert.equal((await store.getTrace(SINGLE, Buffer.from(traceB, 'hex'))).length, 1);
  });
});

describe('tag search', () => {
  const traceSlow = hex(16);
  const traceFast = hex(16);
  const traceOther = hex(16);
  before(async () => {
    await write(
      [
        rs('tags-frontend', [
          { traceId: traceSlow, spanId: hex(8), name: 'GET /slow', durationNs: 2_000_000_000n, attributes: [{ key: 'http.method', value: { stringValue: 'GET' } }, { key: 'http.status_code', value: { intValue: '500' } }], status: 2 },
          {
            traceId: traceFast,
            spanId: hex(8),
            name: 'GET /fast',
            durationNs: 5_000_000n,
            attributes: [{ key: 'http.method', value: { stringValue: 'POST' } }, { key: 'user.id', value: { stringValue: "o'brien\\n--" } }],
            links: [{ traceId: traceSlow, spanId: hex(8), attributes: [{ key: 'link.kind', value: { stringValue: 'follows "quoted"' } }] }],
          },
        ], [{ key: 'k8s.namespace.name', value: { stringValue: 'prod-eu' } }]),
        rs('tags-backend', [
          {
            traceId: traceOther,
            spanId: hex(8),
            name: 'query',
            attributes: [{ key: 'retry', value: { boolValue: true } }, { key: 'ratio', value: { doubleValue: 0.5 } }],
            events: [{ timeUnixNano: String(NOW_NS - 60_000_000_000n), name: 'pool wait', attributes: [{ key: 'pool.size', value: { intValue: '10' } }] }],
          },
        ]),
      ],
    );
  });

  const search = async (tags: SearchTag[], duration: { minNs?: bigint; maxNs?: bigint } = {}) =>
    (await tagSearch(SINGLE, tags, duration)).traces.map((t) => t.traceId.toString('hex')).sort();

  it('matches service.name and name as substrings, other keys exactly', async () => {
    assert.deepEqual(await search([{ key: 'service.name', value: 'tags-front' }]), [traceSlow, traceFast].sort());
    assert.deepEqual(await search([{ key: 'name', value: '/slow' }]), [traceSlow]);
    assert.deepEqual(await search([{ key: 'k8s.namespace.name', value: 'prod' }]), [traceSlow, traceFast].sort());
    assert.deepEqual(await search([{ key: 'http.method', value: 'GE' }]), [traceSlow]);
    assert.deepEqual(await search([{ key: 'user.id', value: "o'brien" }]), []);
  });

  it('matches typed attributes and status', async () => {
    assert.deepEqual(await search([{ key: 'http.status_code', value: '500' }]), [traceSlow]);
    assert.deepEqual(await search([{ key: 'retry', value: 'true' }]), [traceOther]);
    assert.deepEqual(await search([{ key: 'ratio', value: '0.5' }]), [traceOther]);
    assert.deepEqual(await search([{ key: 'status.code', value: 'error' }]), [traceSlow]);
    assert.deepEqual(await search([{ key: 'error', value: 'true' }]), [traceSlow]);
  });

  it('filters by trace duration', async () => {
    assert.deepEqual(await search([{ key: 'service.name', value: 'tags-frontend' }], { minNs: 1_000_000_000n }), [traceSlow]);
    assert.deepEqual(await search([{ key: 'service.name', value: 'tags-frontend' }], { maxNs: 10_000_000n }), [traceFast]);
  });

  it('treats quotes, backslashes, newlines, NUL, unicode and -- as data (injection)', async () => {
    const nasty = ["o'brien\\n--", "'; DROP TABLE spans; --", '\\', '\u0000', 'ż🙂', "`) OR 1=1 --", '\n'];
    for (const v of nasty) {
      const expected = v === "o'brien\\n--" ? [traceFast] : [];
      assert.deepEqual(await search([{ key: 'user.id', value: v }]), expected, `value ${JSON.stringify(v)}`);
      assert.deepEqual(await search([{ key: v, value: 'x' }]), [], `key ${JSON.stringify(v)}`);
      await store.tagValues(SINGLE, { scope: 'any', name: v }, lastHour(), 10);
    }
    const values = await store.tagValues(SINGLE, { scope: 'span', name: 'user.id' }, lastHour(), 10);
    assert.deepEqual(values, [{ type: 'string', value: "o'brien\\n--" }]);
    assert.ok((await count(TABLES.spans)) > 0);
  });

  it('answers TraceQL filters with known answers', async () => {
    const traceql = async (text: string) => {
      const request = filterRequest(compileQuery(text));
      const r = await store.searchSpans(SINGLE, { ...request, range: lastHour(), limit: 50, spss: 3 });
      return r.traces.map((t) => t.traceId.toString('hex')).sort();
    };
    const all = [traceSlow, traceFast, traceOther].sort();
    const cases: [string, string[]][] = [
      ['{ resource.service.name = "tags-frontend" }', [traceSlow, traceFast]],
      ['{ resource.service.name =~ "tags-.*" }', all],
      ['{ .http.method = "GET" }', [traceSlow]],
      ['{ span.http.status_code = 500 }', [traceSlow]],
      ['{ span.http.status_code >= 400 && span.http.status_code < 600 }', [traceSlow]],
      ['{ span.http.status_code = 500.0 }', [traceSlow]],
      ['{ status = error }', [traceSlow]],
      ['{ status != error && resource.service.name =~ "tags-.*" }', [traceFast, traceOther]],
      ['{ duration > 1s }', [traceSlow]],
      ['{ duration <= 5ms && resource.service.name =~ "tags-.*" }', [traceFast, traceOther]],
      ['{ name =~ "GET /.*" }', [traceSlow, traceFast]],
      ['{ name =~ "GET" }', []],
      ['{ name !~ "GET /.*" && resource.service.name = "tags-backend" }', [traceOther]],
      ['{ .retry = true }', [traceOther]],
      ['{ .retry }', [traceOther]],
      ['{ .ratio > 0.25 && .ratio < 1 }', [traceOther]],
      ['{ .ratio = nil && resource.service.name = "tags-backend" }', []],
      ['{ .nowhere = nil && resource.service.name =~ "tags-.*" }', all],
      ['{ .http.method != nil }', [traceSlow, traceFast]],
      ['{ resource.k8s.namespace.name = "prod-eu" }', [traceSlow, traceFast]],
      ['{ .k8s.namespace.name = "prod-eu" }', [traceSlow, traceFast]],
      ['{ event:name = "pool wait" }', [traceOther]],
      ['{ traceDuration > 1s && resource.service.name =~ "tags-.*" }', [traceSlow]],
      ['{ rootServiceName = "tags-backend" }', [traceOther]],
      ['{ kind = client && resource.service.name =~ "tags-.*" }', []],
      ['{ !(status = error) && .http.method = "POST" }', [traceFast]],
      ['{ (.http.method = "GET" || .retry = true) && resource.service.name =~ "tags-.*" }', [traceSlow, traceOther]],
      [`{ .user.id = ${printString("o'brien\\n--")} }`, [traceFast]],
      ['{ event.pool.size = 10 }', [traceOther]],
      ['{ event.pool.size = 10.0 }', [traceOther]],
      ['{ event.pool.size != 10 && resource.service.name =~ "tags-.*" }', []],
      ['{ event.pool.size = nil && resource.service.name =~ "tags-.*" }', [traceSlow, traceFast]],
      ['{ event.pool.size != nil }', [traceOther]],
      [`{ link.link.kind = ${printString('follows "quoted"')} }`, [traceFast]],
      ['{ link.link.kind = "follows" }', []],
      ['{ instrumentation:name = "lib" && instrumentation.anything = nil && resource.service.name =~ "tags-.*" }', all],
      ['{ span.http.status_code * 2 = 1000 }', [traceSlow]],
      ['{ duration / 2 > 500ms && resource.service.name =~ "tags-.*" }', [traceSlow]],
      ['{ -span.http.status_code < -400 }', [traceSlow]],
      ['{ .ratio * 4 = 2 }', [traceOther]],
      ['{ span.http.status_code % 7 = 3 && span.http.status_code ^ 2 = 250000 }', [traceSlow]],
    ];
    for (const [q, expected] of cases) assert.deepEqual(await traceql(q), [...expected].sort(), q);
    // Injection through TraceQL: names and values are data.
    for (const nasty of ["'; DROP TABLE spans; --", '\\', '\u0000', 'ż🙂', '\n', '`)']) {
      assert.deepEqual(await traceql(`{ .${printName(nasty)} = ${printString(nasty)} }`), [], nasty);
      assert.deepEqual(await traceql(`{ name = ${printString(nasty)} }`), [], nasty);
    }
    assert.ok((await count(TABLES.spans)) > 0);
  });

  it('refuses what the planner does not compile yet, with 501', async () => {
    assert.throws(() => filterRequest(compileQuery('{ .a = 1 } >> { .b = 2 }')), (e: Error) => e instanceof TraceQLUnsupportedError);
  });

  it('lists tag names per scope and typed values', async () => {
    const names = await store.tagNames(SINGLE, ['span', 'resource', 'event'], lastHour(), 1000);
    assert.ok(names.get('span')!.includes('http.status_code'));
    assert.ok(names.get('resource')!.includes('k8s.namespace.name'));
    // Event attributes are JSON; listing their keys needs JSON functions.
    if (engine.capabilities.jsonFunctions) assert.ok(names.get('event')!.includes('pool.size'));
    else assert.deepEqual(names.get('event'), []);
    assert.ok((await store.intrinsicValues(SINGLE, 'eventName', lastHour(), 100)).includes('pool wait'));
    const codes = await store.tagValues(SINGLE, { scope: 'span', name: 'http.status_code' }, lastHour(), 10);
    assert.deepEqual(codes, [{ type: 'int', value: '500' }]);
    const retry = await store.tagValues(SINGLE, { scope: 'any', name: 'retry' }, lastHour(), 10);
    assert.deepEqual(retry, [{ type: 'bool', value: 'true' }]);
    const services = await store.tagValues(SINGLE, { scope: 'resource', name: 'service.name' }, lastHour(), 100);
    assert.ok(services.some((v) => v.value === 'tags-backend'));
    assert.ok((await store.intrinsicValues(SINGLE, 'name', lastHour(), 100)).includes('GET /slow'));
    assert.ok((await store.intrinsicValues(SINGLE, 'rootService', lastHour(), 100)).includes('tags-backend'));
  });
});

describe('search order, totals and the duration heatmap', () => {
  // 29 traces, one every 90 s from 50 min ago, with distinct durations
  // (10 ms to 290 ms, shuffled): the longest is the 19th, not among the
  // five most recent. Each has a root and a `db` child of half its length.
  const MS = 1_000_000n;
  const t0 = NOW_NS - 50n * 60_000_000_000n;
  const traces = Array.from({ length: 29 }, (_, i) => ({
    id: hex(16),
    startNs: t0 + BigInt(i) * 90_000_000_000n,
    durationNs: BigInt(((i * 37) % 29) + 1) * 10n * MS,
  }));
  const svc = 'resource.service.name = "order-svc"';
  const lone = `{ ${svc} && name = "db" }`;
  const structural = `{ ${svc} && name = "root" } > { name = "db" }`;
  const byDuration = [...traces].sort((a, b) => Number(b.durationNs - a.durationNs));
  const byStart = [...traces].sort((a, b) => Number(b.startNs - a.startNs));
  before(async () => {
    await write([
      rs(
        'order-svc',
        traces.flatMap((t) => {
          const root = hex(8);
          return [
            { traceId: t.id, spanId: root, name: 'root', startNs: t.startNs, durationNs: t.durationNs },
            { traceId: t.id, spanId: hex(8), parentSpanId: root, name: 'db', startNs: t.startNs + MS, durationNs: t.durationNs / 2n },
          ];
        }),
      ),
    ]);
    // The same service in another tenant, longer than any: never seen from this one.
    await write([rs('order-svc', [{ traceId: hex(16), spanId: hex(8), name: 'root', startNs: t0, durationNs: 5000n * MS }, { traceId: hex(16), spanId: hex(8), name: 'db', startNs: t0, durationNs: 9000n * MS }])], { tenant: 'order-other' });
  });

  const ids = (r: { traces: { traceId: Buffer }[] }) => r.traces.map((t) => t.traceId.toString('hex'));

  it('orders by trace duration over every match of the range, not a page of the most recent', async () => {
    assert.equal(byDuration[0].id, traces[18].id);
    assert.ok(!byStart.slice(0, 5).some((t) => t.id === byDuration[0].id), 'the slowest is not among the most recent');
    const request = filterRequest(compileQuery(lone));
    const slowest = await store.searchSpans(SINGLE, { ...request, range: lastHour(), limit: 5, spss: 3, order: 'slowest', countTotal: true });
    assert.deepEqual(ids(slowest), byDuration.slice(0, 5).map((t) => t.id));
    assert.deepEqual(slowest.traces.map((t) => t.durationNs), byDuration.slice(0, 5).map((t) => t.durationNs));
    assert.deepEqual(slowest.total, { count: 29, exact: true });
    const recent = await store.searchSpans(SINGLE, { ...request, range: lastHour(), limit: 5, spss: 3, countTotal: true });
    assert.deepEqual(ids(recent), byStart.slice(0, 5).map((t) => t.id));
    assert.deepEqual(recent.total, { count: 29, exact: true });
    assert.equal((await store.searchSpans(SINGLE, { ...request, range: lastHour(), limit: 5, spss: 3 })).total, undefined, 'counted only when asked');
    // A range that holds the first ten traces only.
    const early = { startNs: t0 - MS, endNs: t0 + 10n * 90_000_000_000n - MS };
    const first10 = [...traces.slice(0, 10)].sort((a, b) => Number(b.durationNs - a.durationNs));
    const inRange = await store.searchSpans(SINGLE, { ...request, range: early, limit: 3, spss: 1, order: 'slowest', countTotal: true });
    assert.deepEqual(ids(inRange), first10.slice(0, 3).map((t) => t.id));
    assert.deepEqual(inRange.total, { count: 10, exact: true });
  });

  it('orders and counts the same for a query evaluated in process', async () => {
    const slowest = await searchTraceQL(compileQuery(structural), store, SINGLE, { range: lastHour(), limit: 5, spss: 3, order: 'slowest', countTotal: true });
    assert.deepEqual(ids(slowest), byDuration.slice(0, 5).map((t) => t.id));
    assert.deepEqual(slowest.total, { count: 29, exact: true });
    const recent = await searchTraceQL(compileQuery(structural), store, SINGLE, { range: lastHour(), limit: 5, spss: 3, countTotal: true });
    assert.deepEqual(ids(recent), byStart.slice(0, 5).map((t) => t.id));
    assert.deepEqual(recent.total, { count: 29, exact: true });
    const cut = await searchTraceQL(compileQuery(structural), store, SINGLE, { range: lastHour(), limit: 5, spss: 3, order: 'slowest', countTotal: true, maxCandidates: 10 });
    assert.equal(cut.total?.exact, false, 'candidates left unexamined: a lower bound');
    assert.ok(cut.total!.count <= 10);
  });

  it('counts every matching trace by start time and duration, in SQL and in process alike', async () => {
    const range = lastHour();
    const stepNs = 10n * 60_000_000_000n;
    const bounds = [50n * MS, 100n * MS, 200n * MS];
    // By hand: the column is whole steps from the range start, the row how many bounds the duration reaches.
    const expected = new Map<string, number>();
    for (const t of traces) {
      const key = `${Number((t.startNs - range.startNs) / stepNs)}/${bounds.filter((b) => t.durationNs >= b).length}`;
      expected.set(key, (expected.get(key) ?? 0) + 1);
    }
    const cells = (m: { cells: { column: number; row: number; traces: number }[] }) => new Map(m.cells.map((c) => [`${c.column}/${c.row}`, c.traces]));
    const sqlMap = await store.traceHeatmap(SINGLE, { where: filterRequest(compileQuery(lone)).where, range, stepNs, durationBoundsNs: bounds });
    assert.deepEqual(cells(sqlMap), expected);
    assert.deepEqual(sqlMap.total, { count: 29, exact: true });
    assert.equal([...expected.entries()].filter(([k]) => k.endsWith('/3')).reduce((n, [, v]) => n + v, 0), 10, '200 ms to 290 ms');
    const evaluated = await traceHeatmapTraceQL(compileQuery(structural), store, SINGLE, { range, stepNs, durationBoundsNs: bounds });
    assert.deepEqual(cells(evaluated), expected);
    assert.deepEqual(evaluated.total, { count: 29, exact: true });
    // A trace that starts before the range, with a matching span in it, counts in the first column.
    const late = { startNs: traces[5].startNs + MS / 2n, endNs: traces[6].startNs };
    const one = await store.traceHeatmap(SINGLE, { where: filterRequest(compileQuery(lone)).where, range: late, stepNs: 1_000_000_000n, durationBoundsNs: bounds });
    assert.deepEqual(one.cells, [{ column: 0, row: bounds.filter((b) => traces[5].durationNs >= b).length, traces: 1 }]);
    // No bounds: one row.
    const flat = await store.traceHeatmap(SINGLE, { where: filterRequest(compileQuery(lone)).where, range, stepNs: 2n * 3_600_000_000_000n, durationBoundsNs: [] });
    assert.deepEqual(flat.cells, [{ column: 0, row: 0, traces: 29 }]);
  });

  it('reads only the scope tenant, and treats values as data', async () => {
    const other = TenantScope.of(['order-other']);
    const request = filterRequest(compileQuery(`{ ${svc} }`));
    const mine = await store.searchSpans(SINGLE, { ...request, range: lastHour(), limit: 1, spss: 1, order: 'slowest', countTotal: true });
    assert.deepEqual(ids(mine), [byDuration[0].id]);
    assert.deepEqual(mine.total, { count: 29, exact: true });
    const theirs = await store.searchSpans(other, { ...request, range: lastHour(), limit: 5, spss: 1, order: 'slowest', countTotal: true });
    assert.deepEqual(theirs.traces.map((t) => t.durationNs), [9000n * MS, 5000n * MS]);
    assert.deepEqual(theirs.total, { count: 2, exact: true });
    const map = await store.traceHeatmap(other, { where: request.where, range: lastHour(), stepNs: HOUR_NS, durationBoundsNs: [1n] });
    assert.deepEqual(map.total, { count: 2, exact: true });
    for (const nasty of ["'; DROP TABLE spans; --", '\\', '\u0000', '`)']) {
      const where = filterRequest(compileQuery(`{ name = ${printString(nasty)} }`)).where;
      assert.deepEqual((await store.traceHeatmap(SINGLE, { where, range: lastHour(), stepNs: HOUR_NS, durationBoundsNs: [1n] })).total, { count: 0, exact: true });
      assert.deepEqual((await store.searchSpans(SINGLE, { where, shown: [], range: lastHour(), limit: 5, spss: 1, order: 'slowest', countTotal: true })).total, { count: 0, exact: true });
    }
  });
});

describe('TraceQL finished in process: parent., field comparisons, JSON-stored attributes, pipelines', () => {
  const r1 = hex(16);
  const r2 = hex(16);
  const ids = { p1: hex(8), c1: hex(8), c2: hex(8), q1: hex(8), d1: hex(8) };
  const svc = 'resource.service.name = "resid-svc"';
  before(async () => {
    const at = (ms: number) => NOW_NS - 20_000_000_000n + BigInt(ms) * 1_000_000n;
    const str = (key: string, v: string) => ({ key, value: { stringValue: v } });
    const int = (key: string, v: number) => ({ key, value: { intValue: String(v) } });
    await write(
      [
        rs(
          'resid-svc',
          [
            { traceId: r1, spanId: ids.p1, name: 'GET /orders', startNs: at(0), durationNs: 300_000_000n, attributes: [str('http.route', '/orders')] },
            {
              traceId: r1, spanId: ids.c1, parentSpanId: ids.p1, name: 'SELECT', startNs: at(10), durationNs: 200_000_000n,
              attributes: [str('expected.name', 'SELECT'), int('timeout', 1_000_000_000)],
              events: [{ timeUnixNano: String(at(20)), name: 'exception', attributes: [str('exception.type', 'TimeoutError'), int('attempt', 2)] }],
              links: [{ traceId: r2, spanId: ids.q1, attributes: [int('n', 2)] }],
            },
            {
              traceId: r1, spanId: ids.c2, parentSpanId: ids.p1, name: 'cache', startNs: at(220), durationNs: 20_000_000n,
              attributes: [str('expected.name', 'other'), str('level', 'error')],
              events: [{ timeUnixNano: String(at(230)), name: 'exception', attributes: [str('exception.type', 'ValueError')] }],
              links: [{ traceId: r2, spanId: ids.d1, attributes: [int('n', 1)] }],
            },
          ],
          [str('cloud.region', 'eu-west')],
        ),
        rs(
          'resid-svc',
          [
            { traceId: r2, spanId: ids.q1, name: 'GET /users', startNs: at(5), durationNs: 100_000_000n, attributes: [str('http.route', '/users')] },
            { traceId: r2, spanId: ids.d1, parentSpanId: ids.q1, name: 'SELECT', startNs: at(15), durationNs: 50_000_000n, attributes: [str('expected.name', 'SELECT')] },
          ],
          [str('cloud.region', 'us-east')],
        ),
      ],
    );
  });

  const run = (text: string) => searchTraceQL(compileQuery(text), store, SINGLE, { range: lastHour(), limit: 20, spss: 10 });
  const spanIds = async (text: string) =>
    (await run(text)).traces.flatMap((t) => (t.spanSets ?? [t.spanSet]).flatMap((s) => s.spans.map((sp) => sp.spanId.toString('hex')))).sort();

  it('reads parent. attributes from the parent span', async () => {
    assert.deepEqual(await spanIds(`{ ${svc} && parent.span.http.route = "/orders" }`), [ids.c1, ids.c2].sort());
    assert.deepEqual(await spanIds(`{ ${svc} && parent.span.http.route =~ "/u.*" }`), [ids.d1]);
    // Roots have no parent: its attributes are nil.
    assert.deepEqual(await spanIds(`{ ${svc} && parent.span.http.route = nil }`), [ids.p1, ids.q1].sort());
  });

  it('compares two fields that are not numbers', async () => {
    assert.deepEqual(await spanIds(`{ ${svc} && name = span.expected.name }`), [ids.c1, ids.d1].sort());
    assert.deepEqual(await spanIds(`{ ${svc} && name != .expected.name }`), [ids.c2]);
    assert.deepEqual(await spanIds(`{ ${svc} && resource.cloud.region > .http.route }`), [ids.p1, ids.q1].sort());
  });

  it('orders and matches event. and link. attributes', async () => {
    assert.deepEqual(await spanIds(`{ ${svc} && event.exception.type =~ "Time.*" }`), [ids.c1]);
    assert.deepEqual(await spanIds(`{ ${svc} && event.exception.type !~ "Time.*" }`), [ids.c2]);
    assert.deepEqual(await spanIds(`{ ${svc} && link.n > 1 }`), [ids.c1]);
    assert.deepEqual(await spanIds(`{ ${svc} && link.n <= 1 && name = "cache" }`), [ids.c2]);
    assert.deepEqual(await spanIds(`{ ${svc} && (link.n >= 2 || parent.span.http.route = "/users") }`), [ids.c1, ids.d1].sort());
  });

  it('computes arithmetic over event attributes, and compares event and trace intrinsics with fields', async () => {
    assert.deepEqual(await spanIds(`{ ${svc} && event.attempt * 2 = 4 }`), [ids.c1]);
    assert.deepEqual(await spanIds(`{ ${svc} && -event.attempt < -1 }`), [ids.c1]);
    // Both events come 10 ms after their span's start: c1 lasts 200 ms, c2 20 ms.
    assert.deepEqual(await spanIds(`{ ${svc} && event:timeSinceStart > duration / 10 }`), [ids.c2]);
    assert.deepEqual(await spanIds(`{ ${svc} && event:name != name }`), [ids.c1, ids.c2].sort());
    assert.deepEqual(await spanIds(`{ ${svc} && name != trace:rootName && trace:rootService = resource.service.name }`), [ids.c1, ids.c2, ids.d1].sort());
    // r1 lasts 300 ms (c1: 200 ms), r2 100 ms (d1: 50 ms).
    assert.deepEqual(await spanIds(`{ ${svc} && trace:duration < duration * 2 && name = "SELECT" }`), [ids.c1]);
  });

  it('compares attributes with durations, status and kind values', async () => {
    assert.deepEqual(await spanIds(`{ ${svc} && .timeout = 1s }`), [ids.c1]);
    assert.deepEqual(await spanIds(`{ ${svc} && .level = error }`), [ids.c2]);
  });

  it('runs a spanset operator inside a pipeline over the input spanset only', async () => {
    assert.deepEqual(await spanIds(`{ ${svc} && name != "cache" } | { name =~ "GET.*" } > { .expected.name != nil }`), [ids.c1, ids.d1].sort());
    // cache matches the right side but is not in the input spanset.
    assert.deepEqual(await spanIds(`{ ${svc} && name != "cache" } | { name =~ "GET.*" } > { .expected.name = "other" }`), []);
    assert.deepEqual(await spanIds(`{ ${svc} } | { name =~ "GET.*" } > { .expected.name = "other" }`), [ids.c2]);
  });

  it('selects and groups by any resource attribute, and by parent. attributes', async () => {
    const shown = async (text: string, key: string) =>
      (await run(text)).traces.flatMap((t) => t.spanSet.spans.map((s) => (s.attributes.find((a) => a.key === key)?.value as { stringValue?: string } | undefined)?.stringValue)).sort();
    assert.deepEqual(await shown(`{ ${svc} && name = "SELECT" } | select(resource.cloud.region)`, 'cloud.region'), ['eu-west', 'us-east']);
    assert.deepEqual(await shown(`{ ${svc} && name = "SELECT" } | select(parent.span.http.route)`, 'http.route'), ['/orders', '/users']);
    const groups = (await run(`{ ${svc} } | by(parent.span.http.route)`)).traces.flatMap((t) => t.spanSets!.map((set) => [set.attributes![0].value, set.matched]));
    assert.deepEqual(groups.map((g) => JSON.stringify(g)).sort(), ['[{"stringValue":""},1]', '[{"stringValue":""},1]', '[{"stringValue":"/orders"},2]', '[{"stringValue":"/users"},1]']);
  });

  it('computes metrics over spanset operators, pipelines and parent. attributes', async () => {
    const range = { startNs: NOW_NS - 60_000_000_000n, endNs: NOW_NS };
    const metrics = async (text: string) => {
      const { series } = await queryMetrics(compileQuery(text), store, SINGLE, { range, stepNs: 60_000_000_000n });
      return Object.fromEntries(series.map((s) => [JSON.stringify(s.labels.map((l) => [l.key, Object.values(l.value)[0]])), s.samples.map((x) => x[1])]));
    };
    assert.deepEqual(await metrics(`{ ${svc} } | count_over_time() by(resource.cloud.region)`), {
      '[["resource.cloud.region","eu-west"]]': [3], '[["resource.cloud.region","us-east"]]': [2],
    });
    assert.deepEqual(await metrics(`{ ${svc} && name =~ "GET.*" } > { } | count_over_time() by(resource.cloud.region)`), {
      '[["resource.cloud.region","eu-west"]]': [2], '[["resource.cloud.region","us-east"]]': [1],
    });
    assert.deepEqual(await metrics(`{ ${svc} && parent.span.http.route = "/orders" } | max_over_time(duration)`), { '[["__name__","max_over_time"]]': [0.2] });
    assert.deepEqual(await metrics(`{ ${svc} } >> { } | quantile_over_time(duration, 0, 1)`), { '[["p",0]]': [0.02], '[["p",1]]': [0.2] });
    assert.deepEqual(await metrics(`{ ${svc} && name = "SELECT" } | count_over_time() by(parent.span.http.route)`), {
      '[["parent.span.http.route","/orders"]]': [1], '[["parent.span.http.route","/users"]]': [1],
    });
    // by() groups within a trace: eu-west's trace has 3 spans, us-east's 2.
    assert.deepEqual(await metrics(`{ ${svc} } | by(resource.cloud.region) | count() > 2 | count_over_time()`), { '[["__name__","count_over_time"]]': [3] });
    const buckets = await metrics(`{ ${svc} } > { } | histogram_over_time(duration)`);
    assert.equal(Object.values(buckets).reduce((n, v) => n + v[0], 0), 3);
  });
});

describe('TraceQL structure and pipelines', () => {
  const t1 = hex(16);
  const t2 = hex(16);
  const ids = { a: hex(8), b: hex(8), c: hex(8), d: hex(8), a2: hex(8), b2: hex(8) };
  before(async () => {
    const at = (ms: number) => NOW_NS - 30_000_000_000n + BigInt(ms) * 1_000_000n;
    await write(
      [
        rs('tree-svc', [
          { traceId: t1, spanId: ids.a, name: 'root', startNs: at(0), durationNs: 400_000_000n },
          { traceId: t1, spanId: ids.b, parentSpanId: ids.a, name: 'db', startNs: at(10), durationNs: 100_000_000n, attributes: [{ key: 'rows', value: { intValue: '10' } }] },
          { traceId: t1, spanId: ids.c, parentSpanId: ids.b, name: 'leaf', startNs: at(20), durationNs: 50_000_000n },
          { traceId: t1, spanId: ids.d, parentSpanId: ids.a, name: 'cache', startNs: at(200), durationNs: 10_000_000n },
          { traceId: t2, spanId: ids.a2, name: 'root', startNs: at(5), durationNs: 300_000_000n },
          { traceId: t2, spanId: ids.b2, parentSpanId: ids.a2, name: 'db', startNs: at(15), durationNs: 200_000_000n, attributes: [{ key: 'rows', value: { intValue: '30' } }] },
        ]),
      ],
    );
  });

  const run = async (text: string) => {
    const r = await searchTraceQL(compileQuery(text), store, SINGLE, { range: lastHour(), limit: 20, spss: 10 });
    return r;
  };
  const traceIds = async (text: string) => (await run(text)).traces.map((t) => t.traceId.toString('hex')).sort();
  const spanIds = async (text: string) =>
    (await run(text)).traces.flatMap((t) => (t.spanSets ?? [t.spanSet]).flatMap((s) => s.spans.map((sp) => sp.spanId.toString('hex')))).sort();
  const svc = 'resource.service.name = "tree-svc"';

  it('counts spans and error spans per service of found traces (serviceStats)', async () => {
    const stats = await store.serviceStats(SINGLE, [Buffer.from(t1, 'hex'), Buffer.from(t2, 'hex'), Buffer.alloc(16, 7)], lastHour());
    assert.deepEqual(Object.fromEntries([...stats].map(([id, m]) => [id, Object.fromEntries(m)])), {
      [t1]: { 'tree-svc': { spans: 4, errors: 0 } },
      [t2]: { 'tree-svc': { spans: 2, errors: 0 } },
    });
  });

  it('evaluates structural operators, their negations and union forms', async () => {
    assert.deepEqual(await traceIds(`{ ${svc} && name = "root" } > { name = "db" }`), [t1, t2].sort());
    assert.deepEqual(await spanIds(`{ ${svc} && name = "root" } > { name = "db" }`), [ids.b, ids.b2].sort());
    assert.deepEqual(await traceIds(`{ ${svc} && name = "root" } >> { name = "leaf" }`), [t1]);
    assert.deepEqual(await spanIds(`{ ${svc} && name = "leaf" } << { name = "root" }`), [ids.a]);
    assert.deepEqual(await spanIds(`{ ${svc} && name = "db" } < { name = "root" }`), [ids.a, ids.a2].sort());
    assert.deepEqual(await spanIds(`{ ${svc} && name = "db" } ~ { name = "cache" }`), [ids.d]);
    assert.deepEqual(await spanIds(`{ ${svc} && name = "root" } !> { name = "leaf" }`), [ids.c]);
    assert.deepEqual(await spanIds(`{ ${svc} && name = "root" } !>> { ${svc} }`), [ids.a, ids.a2].sort());
    assert.deepEqual(await spanIds(`{ ${svc} && name = "root" } &> { name = "db" }`), [ids.a, ids.b, ids.a2, ids.b2].sort());
    assert.deepEqual(await traceIds(`{ ${svc} && name = "cache" } && { name = "leaf" }`), [t1]);
    assert.deepEqual(await traceIds(`{ ${svc} && name = "cache" } || { ${svc} && name = "db" }`), [t1, t2].sort());
    assert.deepEqual(await traceIds(`({ ${svc} && name = "root" } > { name = "db" }) > { name = "leaf" }`), [t1]);
  });

  it('computes metrics with known answers', async () => {
    const range = { startNs: NOW_NS - 60_000_000_000n, endNs: NOW_NS };
    const metrics = async (text: string) => {
      const { series } = await queryMetrics(compileQuery(text), store, SINGLE, { range, stepNs: 60_000_000_000n });
      return Object.fromEntries(series.map((s) => [JSON.stringify(s.labels.map((l) => [l.key, Object.values(l.value)[0]])), s.samples.map((x) => x[1])]));
    };
    assert.deepEqual(await metrics(`{ ${svc} } | count_over_time()`), { '[["__name__","count_over_time"]]': [6] });
    assert.deepEqual(await metrics(`{ ${svc} } | rate()`), { '[["__name__","rate"]]': [0.1] });
    assert.deepEqual(await metrics(`{ ${svc} } | count_over_time() by(name)`), {
      '[["name","root"]]': [2], '[["name","db"]]': [2], '[["name","leaf"]]': [1], '[["name","cache"]]': [1],
    });
    assert.deepEqual(await metrics(`{ ${svc} } | max_over_time(duration) by(name)`), {
      '[["name","root"]]': [0.4], '[["name","db"]]': [0.2], '[["name","leaf"]]': [0.05], '[["name","cache"]]': [0.01],
    });
    assert.deepEqual(await metrics(`{ ${svc} } | quantile_over_time(duration, 0, 1)`), { '[["p",0]]': [0.01], '[["p",1]]': [0.4] });
    assert.deepEqual(await metrics(`{ ${svc} } | sum_over_time(span.rows) by(resource.service.name)`), { '[["resource.service.name","tree-svc"]]': [40] });
    assert.deepEqual(Object.keys(await metrics(`{ ${svc} } | count_over_time() by(name) | topk(2)`)).sort(), ['[["name","db"]]', '[["name","root"]]']);
    // Durations 10, 50, 100, 200, 300, 400 ms in power-of-two nanosecond buckets, labelled in seconds.
    const buckets = await metrics(`{ ${svc} } | histogram_over_time(duration)`);
    const b = (ns: number) => `[["__bucket",${2 ** Math.ceil(Math.log2(ns)) / 1e9}]]`;
    const expected: Record<string, number[]> = {};
    for (const ns of [1e7, 5e7, 1e8, 2e8, 3e8, 4e8]) expected[b(ns)] = [(expected[b(ns)]?.[0] ?? 0) + 1];
    assert.deepEqual(buckets, expected);
    assert.deepEqual(expected[b(4e8)], [2], '300 and 400 ms share the 2^29 ns bucket');
    assert.deepEqual(Object.keys(await metrics(`{ ${svc} } | count_over_time() by(name) | bottomk(2)`)).sort(), ['[["name","cache"]]', '[["name","leaf"]]']);
  });

  it('compares a selection with its baseline, attribute by attribute', async () => {
    const range = { startNs: NOW_NS - 60_000_000_000n, endNs: NOW_NS };
    const compare = async (text: string) => {
      const { series } = await queryMetrics(compileQuery(text), store, SINGLE, { range, stepNs: 60_000_000_000n });
      return Object.fromEntries(series.map((s) => [s.labels.map((l) => `${l.key}=${JSON.stringify(Object.values(l.value)[0] ?? null)}`).join(','), s.samples.reduce((n, x) => n + x[1], 0)]));
    };
    const all = await compare(`{ ${svc} } | compare({ name = "db" })`);
    const expected: Record<string, number> = {
      '__meta_type="selection",name="db"': 2,
      '__meta_type="baseline",name="root"': 2,
      '__meta_type="baseline",name="leaf"': 1,
      '__meta_type="baseline",name="cache"': 1,
      '__meta_type="selection",span.rows="10"': 1,
      '__meta_type="selection",span.rows="30"': 1,
      '__meta_type="selection",resource.service.name="tree-svc"': 2,
      '__meta_type="baseline",resource.service.name="tree-svc"': 4,
      '__meta_type="selection",status="unset"': 2,
      '__meta_type="selection_total",span.rows=null': 2,
      '__meta_type="selection_total",name=null': 2,
      '__meta_type="baseline_total",name=null': 4,
    };
    for (const [k, n] of Object.entries(expected)) assert.equal(all[k], n, k);
    assert.equal(all['__meta_type="baseline_total",span.rows=null'], undefined, 'no baseline span has rows');
    assert.ok(!Object.keys(all).some((k) => k.startsWith('__meta_error')));
    // topN = 1: one value per attribute and group, and the cut attributes flagged.
    const top1 = await compare(`{ ${svc} } | compare({ name = "db" }, 1)`);
    assert.equal(top1['__meta_type="baseline",name="root"'], 2);
    assert.equal(top1['__meta_type="baseline",name="leaf"'], undefined);
    assert.equal(top1['__meta_error="__too_many_values__",name=null'], 0);
    assert.equal(top1['__meta_error="__too_many_values__",span.rows=null'], 0);
    assert.equal(top1['__meta_type="baseline_total",name=null'], 4, 'totals count every value');
    // A selection window: spans outside it are baseline.
    const windowed = await compare(`{ ${svc} } | compare({ name = "db" }, 10, 1, 2)`);
    assert.equal(windowed['__meta_type="baseline",name="db"'], 2);
    assert.equal(windowed['__meta_type="selection_total",name=null'], undefined);
  });

  it('answers metrics from the span_metrics rollup exactly as from the spans', async () => {
    const minute = 60_000_000_000n;
    const range = { startNs: ((NOW_NS - 120_000_000_000n) / minute) * minute, endNs: (NOW_NS / minute + 2n) * minute };
    const metrics = async (text: string, rawOnly: boolean, estimates = false) => {
      const { series, source } = await queryMetrics(compileQuery(text), store, SINGLE, { range, stepNs: 2n * minute, rawOnly, estimates });
      return { source, series: Object.fromEntries(series.map((s) => [JSON.stringify(s.labels), s.samples])) };
    };
    const exact = [
      `{ ${svc} } | count_over_time() by(name)`,
      `{ ${svc} } | rate() by(status, kind)`,
      `{ ${svc} && name != "root" } | max_over_time(duration) by(name)`,
      `{ ${svc} && (name = "db" || status = error) } | min_over_time(duration)`,
      `{ ${svc} && !(name =~ "c.*") } | sum_over_time(duration) by(resource.service.name)`,
      `{ ${svc} } | avg_over_time(duration)`,
    ];
    for (const q of exact) {
      const raw = await metrics(q, true);
      const rolled = await metrics(q, false);
      assert.deepEqual([raw.source, rolled.source], ['spans', 'rollup'], q);
      assert.ok(Object.keys(raw.series).length > 0, q);
      assert.deepEqual(rolled.series, raw.series, q);
    }
    // Quantiles are exact, from the spans, unless estimates are accepted: then
    // t-digests where the engine merges quantile states at any level.
    const quantiles = `{ ${svc} } | quantile_over_time(duration, 0, 0.5, 1)`;
    assert.equal((await metrics(quantiles, false)).source, 'spans');
    const q = await metrics(quantiles, false, true);
    assert.equal(q.source, engine.capabilities.quantileStatesAnyLevel ? 'rollup' : 'spans');
    const at = (p: number) => q.series[JSON.stringify([{ key: 'p', value: { doubleValue: p } }])][0][1];
    assert.equal(at(0), 0.01);
    assert.equal(at(1), 0.4);
    assert.ok(at(0.5) >= 0.05 && at(0.5) <= 0.3, String(at(0.5)));
    // Not answerable from the rollup: attributes, histograms, unaligned ranges.
    for (const text of [`{ ${svc} && span.rows > 1 } | count_over_time()`, `{ ${svc} } | count_over_time() by(span.rows)`, `{ ${svc} } | histogram_over_time(duration)`, `{ resource.service.name != "x" } | rate()`]) {
      assert.equal((await metrics(text, false)).source, 'spans', text);
    }
  });

  it('runs pipelines: aggregates, filters, by() and coalesce()', async () => {
    assert.deepEqual(await traceIds(`{ ${svc} } | count() > 3`), [t1]);
    assert.deepEqual(await traceIds(`{ ${svc} } | count() = 2`), [t2]);
    assert.deepEqual(await traceIds(`{ ${svc} && name = "db" } | avg(duration) > 150ms`), [t2]);
    assert.deepEqual(await traceIds(`{ ${svc} && name = "db" } | max(span.rows) >= 20`), [t2]);
    assert.deepEqual(await traceIds(`{ ${svc} } | sum(span.rows) = 10`), [t1]);
    assert.deepEqual(await spanIds(`{ ${svc} } | { name = "leaf" }`), [ids.c]);
    const byName = await run(`{ ${svc} && trace:id = "${t1}" } | by(name)`);
    assert.equal(byName.traces.length, 1);
    const sets = byName.traces[0].spanSets!;
    assert.deepEqual(sets.map((x) => x.attributes?.[0]?.value).sort((a, b) => JSON.stringify(a) < JSON.stringify(b) ? -1 : 1), [
      { stringValue: 'cache' }, { stringValue: 'db' }, { stringValue: 'leaf' }, { stringValue: 'root' },
    ]);
    const merged = await run(`{ ${svc} && trace:id = "${t1}" } | by(name) | coalesce()`);
    assert.equal(merged.traces[0].spanSets!.length, 1);
    assert.equal(merged.traces[0].spanSets![0].matched, 4);
    const selected = await run(`{ ${svc} && name = "db" } | select(span.rows)`);
    assert.ok(selected.traces.every((t) => t.spanSet.spans.every((sp) => sp.attributes.some((a) => a.key === 'rows'))));
    const root = selected.traces.find((t) => t.traceId.toString('hex') === t1)!;
    assert.equal(root.rootTraceName, 'root');
    assert.equal(root.rootServiceName, 'tree-svc');
  });
});

describe('concurrent ingest and query', () => {
  it('answers searches while segments are written, and ends with every span stored', async () => {
    const traces = Array.from({ length: 12 }, () => hex(16));
    // One writer at a time, as the ingest pipeline does; readers alongside.
    const writes = traces.reduce(
      (chain, t) => chain.then(async () => void (await write([rs('concurrent-svc', [{ traceId: t, spanId: hex(8) }, { traceId: t, spanId: hex(8) }])]))),
      Promise.resolve(),
    );
    const reads = Array.from({ length: 12 }, () => tagSearch(SINGLE, [{ key: 'service.name', value: 'concurrent-svc' }], {}, { limit: 50, spss: 1 }));
    const results = await Promise.all([writes, ...reads]);
    for (const r of results.slice(1) as Awaited<(typeof reads)[number]>[]) assert.ok(r.traces.every((t) => t.spanSet.matched <= 2));
    for (const t of traces) assert.equal((await store.getTrace(SINGLE, Buffer.from(t, 'hex'))).length, 2);
    const all = await tagSearch(SINGLE, [{ key: 'service.name', value: 'concurrent-svc' }], {}, { limit: 50, spss: 1 });
    assert.equal(all.traces.length, 12);
  });
});

describe('tenant isolation', () => {
  // Two tenants with colliding data: one trace id, the same span ids, start
  // times, service names and attribute keys, with values, durations and
  // statuses that differ. tenant-b has one span more, an error, and a
  // trace of its own (a one-span batch job).
  const A = TenantScope.of(['tenant-a']);
  const B = TenantScope.of(['tenant-b']);
  const BOTH = TenantScope.of(['tenant-a', 'tenant-b']);
  const traceId = hex(16);
  const trace = Buffer.from(traceId, 'hex');
  const batchTraceId = hex(16);
  const ids = { root: hex(8), call: hex(8), server: hex(8), query: hex(8) };
  const MINUTE = 60_000_000_000n;
  const MS = 1_000_000n;
  const t0 = (NOW_NS / MINUTE - 5n) * MINUTE + 1_000n * MS;
  const at = (ms: number) => t0 + BigInt(ms) * MS;
  /** Whole minutes around the fixture, one metrics step: the rollup can answer. */
  const aligned = { startNs: (NOW_NS / MINUTE - 30n) * MINUTE, endNs: (NOW_NS / MINUTE + 1n) * MINUTE };
  const str = (key: string, v: string) => ({ key, value: { stringValue: v } });
  const int = (key: string, v: number) => ({ key, value: { intValue: String(v) } });

  before(async () => {
    const tenant = (t: 'a' | 'b') => {
      const b = t === 'b';
      const customer = str('customer', b ? 'bob' : 'alice');
      return [
        rs(
          'iso-frontend',
          [
            { traceId, spanId: ids.root, name: 'GET /checkout', kind: 2, startNs: at(0), durationNs: (b ? 300n : 100n) * MS, attributes: [customer, int('http.status_code', b ? 500 : 200), ...(b ? [] : [str('feature.flag', 'new-checkout')])] },
            { traceId, spanId: ids.call, parentSpanId: ids.root, name: 'POST /orders', kind: 3, startNs: at(10), durationNs: (b ? 260n : 60n) * MS, attributes: [customer] },
          ],
          [str('deployment.environment', b ? 'prod-b' : 'prod-a')],
        ),
        // The backend's resource is the same in both tenants (so is its resource id).
        rs('iso-backend', [
          {
            traceId, spanId: ids.server, parentSpanId: ids.call, name: 'POST /orders', kind: 2, startNs: at(12), durationNs: (b ? 250n : 40n) * MS, status: b ? 2 : 0,
            attributes: [customer],
            events: [{ timeUnixNano: String(at(15)), name: b ? 'exception' : 'cache miss', attributes: [int('attempt', b ? 3 : 1)] }],
          },
          ...(b ? [{ traceId, spanId: ids.query, parentSpanId: ids.server, name: 'SELECT orders', kind: 3, startNs: at(20), durationNs: 200n * MS, attributes: [customer, str('db.statement', 'SELECT 1')] }] : []),
        ]),
      ];
    };
    await write(tenant('a'), { tenant: 'tenant-a' });
    await write([...tenant('b'), rs('iso-batch', [{ traceId: batchTraceId, spanId: hex(8), name: 'nightly', kind: 1, startNs: at(-60_000), durationNs: 50n * MS }])], { tenant: 'tenant-b' });
  });

  const customerOf = (s: SpanRecord) => (s.attributes.find((a) => a.key === 'customer')?.value as { stringValue: string } | undefined)?.stringValue;

  it('reads a trace by id only in its tenant', async () => {
    const a = await store.getTrace(A, trace);
    const b = await store.getTrace(B, trace);
    assert.deepEqual(a.map((s) => s.name).sort(), ['GET /checkout', 'POST /orders', 'POST /orders']);
    assert.deepEqual(b.map((s) => s.name).sort(), ['GET /checkout', 'POST /orders', 'POST /orders', 'SELECT orders']);
    assert.deepEqual([...new Set(a.map(customerOf))], ['alice']);
    assert.deepEqual([...new Set(b.map(customerOf))], ['bob']);
    const root = (spans: SpanRecord[]) => spans.find((s) => s.spanId.toString('hex') === ids.root)!;
    assert.equal(root(a).durationNs, 100n * MS);
    assert.equal(root(b).durationNs, 300n * MS);
    const env = (s: SpanRecord) => (s.resource.attributes.find((kv) => kv.key === 'deployment.environment')?.value as { stringValue: string }).stringValue;
    assert.equal(env(root(a)), 'prod-a');
    assert.equal(env(root(b)), 'prod-b');
    // The time range only narrows where to look.
    assert.equal((await store.getTrace(B, trace, lastHour())).length, 4);
    assert.deepEqual(await store.getTrace(SINGLE, trace), []);
    // Both tenants: the spans of both combined, one copy per span id and
    // start, as Tempo's combiner keeps one copy of a span (here the ids
    // collide on purpose: three spans are in both tenants, one only in b).
    const both = await store.getTrace(BOTH, trace);
    assert.equal(both.length, 4);
    assert.deepEqual(both.map((s) => s.spanId.toString('hex')).sort(), b.map((s) => s.spanId.toString('hex')).sort());
  });

  it('searches by TraceQL only in the tenant', async () => {
    const found = async (scope: TenantScope, text: string) =>
      (await searchTraceQL(compileQuery(text), store, scope, { range: lastHour(), limit: 20, spss: 10 })).traces.map((t) => ({
        id: t.traceId.toString('hex'),
        matched: t.spanSet.matched,
        durationMs: Number(t.durationNs / MS),
        root: `${t.rootServiceName} ${t.rootTraceName}`,
      }));
    const hit = (matched: number, durationMs: number) => [{ id: traceId, matched, durationMs, root: 'iso-frontend GET /checkout' }];
    assert.deepEqual(await found(A, '{ resource.service.name = "iso-backend" }'), hit(1, 100));
    assert.deepEqual(await found(B, '{ resource.service.name = "iso-backend" }'), hit(2, 300));
    assert.deepEqual(await found(BOTH, '{ resource.service.name = "iso-backend" }'), hit(3, 300));
    assert.deepEqual(await found(A, '{ span.customer = "bob" }'), []);
    assert.deepEqual(await found(B, '{ span.customer = "bob" }'), hit(4, 300));
    assert.deepEqual(await found(A, '{ span.customer = "alice" }'), hit(3, 100));
    assert.deepEqual(await found(B, '{ span.customer = "alice" }'), []);
    assert.deepEqual(await found(A, '{ .http.status_code = 500 }'), []);
    assert.deepEqual(await found(B, '{ .http.status_code = 500 }'), hit(1, 300));
    assert.deepEqual(await found(A, '{ resource.deployment.environment = "prod-b" }'), []);
    assert.deepEqual(await found(B, '{ resource.deployment.environment = "prod-b" }'), hit(2, 300));
    assert.deepEqual(await found(A, '{ traceDuration > 200ms }'), []);
    assert.deepEqual(await found(B, '{ traceDuration > 200ms }'), hit(4, 300));
    assert.deepEqual(await found(A, '{ event:name = "exception" }'), []);
    assert.deepEqual(await found(B, '{ event:name = "exception" }'), hit(1, 300));
    assert.deepEqual(await found(A, '{ status = error }'), []);
    assert.deepEqual(await found(B, '{ status = error }'), hit(1, 300));
    assert.deepEqual(await found(SINGLE, '{ resource.service.name =~ "iso-.*" }'), []);
  });

  it('searches by tags only in the tenant', async () => {
    const found = async (scope: TenantScope, tags: SearchTag[], duration: { minNs?: bigint; maxNs?: bigint } = {}) =>
      (await tagSearch(scope, tags, duration)).traces.map((t) => [t.traceId.toString('hex'), t.spanSet.matched]);
    assert.deepEqual(await found(A, [{ key: 'customer', value: 'alice' }]), [[traceId, 3]]);
    assert.deepEqual(await found(B, [{ key: 'customer', value: 'alice' }]), []);
    assert.deepEqual(await found(B, [{ key: 'customer', value: 'bob' }]), [[traceId, 4]]);
    assert.deepEqual(await found(A, [{ key: 'http.status_code', value: '500' }]), []);
    assert.deepEqual(await found(B, [{ key: 'http.status_code', value: '500' }]), [[traceId, 1]]);
    assert.deepEqual(await found(A, [{ key: 'service.name', value: 'iso-' }], { minNs: 200n * MS }), []);
    assert.deepEqual(await found(B, [{ key: 'service.name', value: 'iso-' }], { minNs: 200n * MS }), [[traceId, 4]]);
    assert.deepEqual(await found(A, [{ key: 'error', value: 'true' }]), []);
    assert.deepEqual(await found(B, [{ key: 'error', value: 'true' }]), [[traceId, 1]]);
    assert.deepEqual(await found(A, [{ key: 'k8s.namespace.name', value: 'prod' }]), []);
    assert.deepEqual(await found(BOTH, [{ key: 'service.name', value: 'iso-backend' }]), [[traceId, 3]]);
    assert.deepEqual(await found(SINGLE, [{ key: 'service.name', value: 'iso-' }]), []);
  });

  it('evaluates structural queries and pipelines over the tenant spans only', async () => {
    const spanIds = async (scope: TenantScope, text: string) =>
      (await searchTraceQL(compileQuery(text), store, scope, { range: lastHour(), limit: 20, spss: 10 })).traces
        .flatMap((t) => (t.spanSets ?? [t.spanSet]).flatMap((s) => s.spans.map((sp) => sp.spanId.toString('hex'))))
        .sort();
    assert.deepEqual(await spanIds(A, '{ name = "GET /checkout" } >> { status = error }'), []);
    assert.deepEqual(await spanIds(B, '{ name = "GET /checkout" } >> { status = error }'), [ids.server]);
    assert.deepEqual(await spanIds(A, '{ resource.service.name = "iso-backend" } > { }'), []);
    assert.deepEqual(await spanIds(B, '{ resource.service.name = "iso-backend" } > { }'), [ids.query]);
    assert.deepEqual(await spanIds(A, '{ span.customer = "alice" } && { resource.service.name = "iso-backend" }'), [ids.root, ids.call, ids.server].sort());
    assert.deepEqual(await spanIds(B, '{ span.customer = "alice" } && { resource.service.name = "iso-backend" }'), []);
    assert.deepEqual(await spanIds(A, '{ resource.service.name =~ "iso-.*" } | count() = 3'), [ids.root, ids.call, ids.server].sort());
    assert.deepEqual(await spanIds(B, '{ resource.service.name =~ "iso-.*" } | count() = 3'), []);
    assert.deepEqual(await spanIds(B, '{ resource.service.name =~ "iso-.*" } | count() = 4'), [ids.root, ids.call, ids.server, ids.query].sort());
    // parent. attributes are read from the parent in the same tenant.
    assert.deepEqual(await spanIds(A, '{ parent.span.customer = "alice" }'), [ids.call, ids.server].sort());
    assert.deepEqual(await spanIds(B, '{ parent.span.customer = "alice" }'), []);
    assert.deepEqual(await spanIds(SINGLE, '{ resource.service.name =~ "iso-.*" } > { }'), []);
    // Candidate traces are the tenant's: tenant-b's batch trace is no candidate in tenant-a.
    const inspected = async (scope: TenantScope) =>
      (await searchTraceQL(compileQuery('{ } > { }'), store, scope, { range: lastHour(), limit: 20, spss: 10 })).inspectedTraces;
    assert.equal(await inspected(A), 1);
    assert.equal(await inspected(B), 2);
  });

  it('counts spans per service of found traces in the tenant (serviceStats)', async () => {
    const stats = async (scope: TenantScope) =>
      Object.fromEntries([...(await store.serviceStats(scope, [trace], lastHour()))].map(([id, m]) => [id, Object.fromEntries([...m].sort())]));
    assert.deepEqual(await stats(A), { [traceId]: { 'iso-backend': { spans: 1, errors: 0 }, 'iso-frontend': { spans: 2, errors: 0 } } });
    assert.deepEqual(await stats(B), { [traceId]: { 'iso-backend': { spans: 2, errors: 1 }, 'iso-frontend': { spans: 2, errors: 0 } } });
    assert.deepEqual(await stats(BOTH), { [traceId]: { 'iso-backend': { spans: 3, errors: 1 }, 'iso-frontend': { spans: 4, errors: 0 } } });
    assert.deepEqual(await stats(SINGLE), {});
  });

  it('lists tag names, tag values and intrinsic values of the tenant only', async () => {
    const scopes = ['span', 'resource', 'event'] as const;
    const names = async (scope: TenantScope) => Object.fromEntries([...(await store.tagNames(scope, scopes, lastHour(), 100))]);
    const events = (keys: string[]) => (engine.capabilities.jsonFunctions ? keys : []);
    assert.deepEqual(await names(A), { span: ['customer', 'feature.flag', 'http.status_code'], resource: ['deployment.environment', 'service.name'], event: events(['attempt']) });
    assert.deepEqual(await names(B), { span: ['customer', 'db.statement', 'http.status_code'], resource: ['deployment.environment', 'service.name'], event: events(['attempt']) });
    assert.deepEqual((await names(BOTH)).span, ['customer', 'db.statement', 'feature.flag', 'http.status_code']);
    // Narrowed by a condition: still the tenant's spans only.
    const inB = { op: 'compare', field: { kind: 'attribute', scope: 'span', name: 'customer' }, cmp: '=', value: { type: 'string', value: 'bob' } } as const;
    const narrowed = async (scope: TenantScope) => Object.fromEntries([...(await store.tagNames(scope, ['span', 'resource'], lastHour(), 100, inB))]);
    assert.deepEqual(await narrowed(A), { span: [], resource: [] });
    assert.deepEqual(await narrowed(B), { span: ['customer', 'db.statement', 'http.status_code'], resource: ['deployment.environment', 'service.name'] });

    const values = async (scope: TenantScope, attribute: Parameters<SqlStore['tagValues']>[1]) =>
      (await store.tagValues(scope, attribute, lastHour(), 100)).sort((x, y) => (x.value < y.value ? -1 : x.value > y.value ? 1 : 0));
    assert.deepEqual(await values(A, { scope: 'span', name: 'customer' }), [{ type: 'string', value: 'alice' }]);
    assert.deepEqual(await values(B, { scope: 'span', name: 'customer' }), [{ type: 'string', value: 'bob' }]);
    assert.deepEqual(await values(BOTH, { scope: 'any', name: 'customer' }), [{ type: 'string', value: 'alice' }, { type: 'string', value: 'bob' }]);
    assert.deepEqual(await values(A, { scope: 'span', name: 'http.status_code' }), [{ type: 'int', value: '200' }]);
    assert.deepEqual(await values(B, { scope: 'span', name: 'http.status_code' }), [{ type: 'int', value: '500' }]);
    assert.deepEqual(await values(A, { scope: 'resource', name: 'deployment.environment' }), [{ type: 'string', value: 'prod-a' }]);
    assert.deepEqual(await values(B, { scope: 'any', name: 'deployment.environment' }), [{ type: 'string', value: 'prod-b' }]);
    assert.deepEqual(await values(SINGLE, { scope: 'span', name: 'customer' }), []);
    assert.deepEqual(await store.tagValues(A, { scope: 'span', name: 'customer' }, lastHour(), 100, inB), []);
    assert.deepEqual(await store.tagValues(B, { scope: 'span', name: 'customer' }, lastHour(), 100, inB), [{ type: 'string', value: 'bob' }]);
    if (engine.capabilities.jsonFunctions) {
      assert.deepEqual(await values(A, { scope: 'event', name: 'attempt' }), [{ type: 'int', value: '1' }]);
      assert.deepEqual(await values(B, { scope: 'event', name: 'attempt' }), [{ type: 'int', value: '3' }]);
    }

    const intrinsic = (scope: TenantScope, field: Parameters<SqlStore['intrinsicValues']>[1]) => store.intrinsicValues(scope, field, lastHour(), 100);
    assert.deepEqual(await intrinsic(A, 'name'), ['GET /checkout', 'POST /orders']);
    assert.deepEqual(await intrinsic(B, 'name'), ['GET /checkout', 'POST /orders', 'SELECT orders', 'nightly']);
    assert.deepEqual(await intrinsic(A, 'eventName'), ['cache miss']);
    assert.deepEqual(await intrinsic(B, 'eventName'), ['exception']);
    assert.deepEqual(await intrinsic(BOTH, 'eventName'), ['cache miss', 'exception']);
    assert.deepEqual(await intrinsic(A, 'rootService'), ['iso-frontend']);
    assert.deepEqual(await intrinsic(B, 'rootService'), ['iso-batch', 'iso-frontend']);
    assert.deepEqual(await intrinsic(A, 'scopeName'), ['lib']);
    assert.deepEqual(await store.intrinsicValues(A, 'name', lastHour(), 100, inB), []);
    assert.deepEqual(await store.intrinsicValues(B, 'name', lastHour(), 100, inB), ['GET /checkout', 'POST /orders', 'SELECT orders']);
    assert.deepEqual(await store.intrinsicValues(A, 'rootName', lastHour(), 100, inB), []);
    assert.deepEqual(await store.intrinsicValues(B, 'rootName', lastHour(), 100, inB), ['GET /checkout']);
    const frontend = { op: 'compare', field: { kind: 'attribute', scope: 'resource', name: 'service.name' }, cmp: '=', value: { type: 'string', value: 'iso-frontend' } } as const;
    assert.deepEqual(await store.intrinsicValues(SINGLE, 'name', lastHour(), 100, frontend), []);
    assert.deepEqual(await store.intrinsicValues(BOTH, 'name', lastHour(), 100, frontend), ['GET /checkout', 'POST /orders']);
  });

  it('computes metrics over the tenant spans: from the rollup, the raw spans and the evaluator', async () => {
    const metrics = async (scope: TenantScope, text: string, req: Partial<MetricsRequest> = {}) => {
      const { series, source } = await queryMetrics(compileQuery(text), store, scope, { range: aligned, stepNs: aligned.endNs - aligned.startNs, ...req });
      return { source, values: Object.fromEntries(series.map((s) => [s.labels.map((l) => Object.values(l.value)[0]).join(','), s.samples.map((x) => x[1])])) };
    };
    const byService = '{ } | count_over_time() by(resource.service.name)';
    for (const rawOnly of [false, true]) {
      const source = rawOnly ? 'spans' : 'rollup';
      assert.deepEqual(await metrics(A, byService, { rawOnly }), { source, values: { 'iso-backend': [1], 'iso-frontend': [2] } });
      assert.deepEqual(await metrics(B, byService, { rawOnly }), { source, values: { 'iso-backend': [2], 'iso-batch': [1], 'iso-frontend': [2] } });
      assert.deepEqual(await metrics(BOTH, byService, { rawOnly }), { source, values: { 'iso-backend': [3], 'iso-batch': [1], 'iso-frontend': [4] } });
      assert.deepEqual(await metrics(SINGLE, '{ resource.service.name = "iso-backend" } | count_over_time()', { rawOnly }), { source, values: {} });
      const slowest = '{ } | max_over_time(duration) by(name)';
      assert.deepEqual(await metrics(A, slowest, { rawOnly }), { source, values: { 'GET /checkout': [0.1], 'POST /orders': [0.06] } });
      assert.deepEqual(await metrics(B, slowest, { rawOnly }), { source, values: { 'GET /checkout': [0.3], 'POST /orders': [0.26], 'SELECT orders': [0.2], nightly: [0.05] } });
      const errors = '{ status = error } | count_over_time()';
      assert.deepEqual(await metrics(A, errors, { rawOnly }), { source, values: {} });
      assert.deepEqual(await metrics(B, errors, { rawOnly }), { source, values: { count_over_time: [1] } });
    }
    // Attributes: the raw spans only.
    const byCustomer = '{ span.customer != nil } | count_over_time() by(span.customer)';
    assert.deepEqual(await metrics(A, byCustomer), { source: 'spans', values: { alice: [3] } });
    assert.deepEqual(await metrics(B, byCustomer), { source: 'spans', values: { bob: [4] } });
    assert.deepEqual(await metrics(BOTH, byCustomer), { source: 'spans', values: { alice: [3], bob: [4] } });
    assert.deepEqual(await metrics(B, '{ } | sum_over_time(span.http.status_code)'), { source: 'spans', values: { sum_over_time: [500] } });
    // Spanset operators: the evaluator, over the tenant's traces.
    const children = '{ resource.service.name =~ "iso-.*" } > { } | count_over_time()';
    assert.deepEqual(await metrics(A, children), { source: 'evaluator', values: { count_over_time: [2] } });
    assert.deepEqual(await metrics(B, children), { source: 'evaluator', values: { count_over_time: [3] } });
    assert.deepEqual(await metrics(A, '{ resource.service.name = "iso-backend" } > { } | count_over_time()'), { source: 'evaluator', values: {} });
  });

  it('compares a selection with its baseline over the tenant spans (compare())', async () => {
    const compare = async (scope: TenantScope, text: string) => {
      const { series } = await queryMetrics(compileQuery(text), store, scope, { range: aligned, stepNs: aligned.endNs - aligned.startNs });
      return Object.fromEntries(series.map((s) => [s.labels.map((l) => `${l.key}=${JSON.stringify(Object.values(l.value)[0] ?? null)}`).join(','), s.samples.reduce((n, x) => n + x[1], 0)]));
    };
    const q = '{ resource.service.name =~ "iso-.*" } | compare({ status = error })';
    const a = await compare(A, q);
    const b = await compare(B, q);
    const both = await compare(BOTH, q);
    assert.equal(a['__meta_type="baseline",span.customer="alice"'], 3);
    assert.equal(a['__meta_type="baseline",span.customer="bob"'], undefined);
    assert.equal(a['__meta_type="selection_total",span.customer=null'], undefined, 'no error spans in tenant-a');
    assert.equal(b['__meta_type="selection",span.customer="bob"'], 1);
    assert.equal(b['__meta_type="baseline",span.customer="bob"'], 3);
    assert.equal(b['__meta_type="baseline",span.customer="alice"'], undefined);
    assert.equal(b['__meta_type="baseline",resource.deployment.environment="prod-b"'], 2);
    assert.equal(b['__meta_type="baseline",resource.deployment.environment="prod-a"'], undefined);
    assert.equal(both['__meta_type="baseline",span.customer="alice"'], 3);
    assert.equal(both['__meta_type="baseline",span.customer="bob"'], 3);
    assert.equal(both['__meta_type="baseline_total",name=null'], 7, 'with the batch span');
  });
});

describe('retention', () => {
  it('drops whole days past the cutoff and keeps the rest', async () => {
    const oldTrace = hex(16);
    const newTrace = hex(16);
    await write([rs('retention-svc', [{ traceId: oldTrace, spanId: hex(8), startNs: NOW_NS - 10n * DAY_NS }, { traceId: newTrace, spanId: hex(8) }])]);
    const policy: RetentionPolicy = { cutoffNs: () => NOW_NS - 7n * DAY_NS };
    const result = await store.dropExpired(policy);
    assert.ok(result.dropped.some((d) => d.table === TABLES.spans && d.tenant === DEFAULT_TENANT));
    assert.ok(result.dropped.some((d) => d.table === TABLES.traceIndex && d.tenant === DEFAULT_TENANT));
    assert.deepEqual(await store.getTrace(SINGLE, Buffer.from(oldTrace, 'hex')), []);
    assert.equal((await store.getTrace(SINGLE, Buffer.from(newTrace, 'hex'))).length, 1);
    assert.deepEqual((await store.dropExpired(policy)).dropped, []);
  });

  it('keeps each tenant for its own retention: only the shorter one loses its old day', async () => {
    const SHORT = TenantScope.of(['retention-short']);
    const LONG = TenantScope.of(['retention-long']);
    // The same trace ids in both tenants.
    const oldTrace = hex(16);
    const newTrace = hex(16);
    const oldStart = NOW_NS - 10n * DAY_NS;
    for (const tenant of ['retention-short', 'retention-long']) {
      await write([rs('retention-svc', [{ traceId: oldTrace, spanId: hex(8), startNs: oldStart }, { traceId: newTrace, spanId: hex(8) }])], { tenant });
    }
    const cutoffs = new Map([
      ['retention-short', NOW_NS - 7n * DAY_NS],
      ['retention-long', NOW_NS - 30n * DAY_NS],
    ]);
    // Every other tenant keeps everything.
    const policy: RetentionPolicy = { cutoffNs: (tenant) => cutoffs.get(tenant) ?? 0n };
    const { dropped } = await store.dropExpired(policy);
    const oldDay = Number(oldStart / NS_PER_DAY);
    assert.deepEqual([...new Set(dropped.map((d) => `${d.tenant} ${d.day}`))], [`retention-short ${oldDay}`]);
    assert.ok(dropped.some((d) => d.table === TABLES.spans));
    assert.ok(dropped.some((d) => d.table === TABLES.traceIndex));
    assert.deepEqual(await store.getTrace(SHORT, Buffer.from(oldTrace, 'hex')), []);
    assert.equal((await store.getTrace(SHORT, Buffer.from(newTrace, 'hex'))).length, 1);
    assert.equal((await store.getTrace(LONG, Buffer.from(oldTrace, 'hex'))).length, 1);
    assert.equal((await store.getTrace(LONG, Buffer.from(newTrace, 'hex'))).length, 1);
    assert.equal(await count(TABLES.spans, sql`1`, 'retention-short'), 1);
    assert.equal(await count(TABLES.spans, sql`1`, 'retention-long'), 2);
    assert.deepEqual((await store.dropExpired(policy)).dropped, []);
  });
});

describe('erasure', () => {
  it('erases whole traces of one tenant from every table, recomputes their rollup minutes, and keeps the rest', async () => {
    const A = TenantScope.of(['erase-a']);
    const B = TenantScope.of(['erase-b']);
    const minute = 60_000_000_000n;
    const start = ((NOW_NS - 5n * minute) / minute) * minute + 1_000_000_000n;
    const gone = [hex(16), hex(16)];
    const kept = hex(16);
    // A root and a child per trace, in one minute: the kept trace shares the
    // root's name (its rollup row is recomputed), the erased ones have names
    // of their own (their rollup rows must go).
    const trace = (traceId: string, childName: string): SpanSpec[] => {
      const root = hex(8);
      return [
        { traceId, spanId: root, name: 'erase-root', startNs: start, durationNs: 5_000_000n },
        { traceId, spanId: hex(8), parentSpanId: root, name: childName, startNs: start + 1_000_000n, durationNs: 2_000_000n, attributes: [{ key: 'patient.id', value: { stringValue: 'P-erase' } }] },
      ];
    };
    await write([rs('erase-svc', [...trace(gone[0], `erase-gone-${gone[0]}`), ...trace(gone[1], `erase-gone-${gone[1]}`), ...trace(kept, 'erase-kept')])], { tenant: 'erase-a' });
    // The same trace id in another tenant is another trace.
    await write([rs('erase-svc', trace(gone[0], 'erase-other-tenant'))], { tenant: 'erase-b' });
    const ids = gone.map((id) => Buffer.from(id, 'hex'));
    const range = { startNs: (start / minute - 10n) * minute, endNs: (start / minute + 10n) * minute };
    const byName = async (scope: TenantScope, rawOnly: boolean) => {
      const { series, source } = await queryMetrics(compileQuery('{ resource.service.name = "erase-svc" } | count_over_time() by(name)'), store, scope, { range, stepNs: minute, rawOnly });
      const counts: Record<string, number> = {};
      for (const s of series) counts[String((s.labels.find((l) => l.key === 'name')?.value as { stringValue?: string } | undefined)?.stringValue)] = s.samples.reduce((n, [, v]) => n + v, 0);
      return { source, counts };
    };
    assert.deepEqual((await byName(A, false)).counts[`erase-gone-${gone[0]}`], 1, 'the rollup counts an erased span before');

    // Selections resolve to every matching trace, from SQL alone or through the evaluator, never cut short.
    const matching = async (text: string, max = 100) => {
      const found = await matchingTraceIds(compileQuery(text), store, A, range, max);
      return { overLimit: found.overLimit, ids: found.traceIds.map((id) => id.toString('hex')).sort() };
    };
    assert.deepEqual(await matching('{ span.patient.id = "P-erase" }'), { overLimit: false, ids: [...gone, kept].sort() });
    assert.deepEqual(await matching(`{ name = "erase-root" } > { name =~ "erase-gone-.*" }`), { overLimit: false, ids: [...gone].sort() });
    assert.deepEqual(await matching('{ span.patient.id = "P-erase" }', 2), { overLimit: true, ids: [] });
    assert.deepEqual(await matching(`{ name = "erase-root" } > { span.patient.id = "P-erase" }`, 2), { overLimit: true, ids: [] });

    // Log records, stored as ingest stores them: two of an erased trace, one
    // of the other, one of the kept trace, one with no trace id, and one of
    // the other tenant's trace with the same id.
    const logs = async (tenant: string, records: { traceId?: string; body: string }[]) => {
      const b = new LogBatchBuilder();
      const logRecords = records.map((r) => ({ ...(r.traceId ? { traceId: r.traceId, spanId: hex(8) } : {}), timeUnixNano: String(start), body: { stringValue: r.body } }));
      const outcome = new JsonLogDecoder().decode(Buffer.from(JSON.stringify({ resourceLogs: [{ resource: { attributes: [] }, scopeLogs: [{ logRecords }] }] })), b, { minStartNs: 0, retentionText: '-', receivedNs: NOW_NS });
      assert.equal(outcome.rejected, 0, outcome.firstError);
      b.fillTenantAndIds(tenant);
      const file = path.join(scratch, `erase-logs-${hex(4)}.native`);
      writeFileSync(file, b.toBuffer());
      const written = await store.writeLogs(file, { replay: false });
      assert.ok(written.ok, written.ok ? '' : written.error.message);
    };
    await logs('erase-a', [
      { traceId: gone[0], body: 'erase-log-gone' },
      { traceId: gone[0], body: 'erase-log-gone' },
      { traceId: gone[1], body: 'erase-log-gone' },
      { traceId: kept, body: 'erase-log-kept' },
      { body: 'erase-log-untied' },
    ]);
    await logs('erase-b', [{ traceId: gone[0], body: 'erase-log-other-tenant' }]);
    const logBodies = async (tenant: string) =>
      (await engine.query(sql`SELECT body FROM ${ident(TABLES.logs)} WHERE tenant = ${tenant} ORDER BY body`, 'TabSeparated')).toString().trim().split('\n');

    assert.deepEqual(await store.countTraces(A, [...ids, Buffer.from(hex(16), 'hex')]), { traces: 2, spans: 4, logRecords: 3 });
    // The all-zero id, which records without a trace carry, counts none of them.
    assert.deepEqual(await store.countTraces(A, [Buffer.alloc(16)]), { traces: 0, spans: 0, logRecords: 0 });
    const phases = new Set<string>();
    // Waiting for the replaced parts to leave the disk takes the engine's
    // old_parts_lifetime where it cannot be shortened (480 s by default).
    const awaitRemoval = engine.capabilities.modifyTableSettings;
    const result = await store.eraseTraces(A, ids, { onProgress: (p) => phases.add(p.phase), awaitRemoval, partLifetimeSeconds: 1 });
    assert.deepEqual(result, { traces: 2, spans: 4, logRecords: 3, spansLeft: 0, logRecordsLeft: 0, rollupMinutes: 1 });
    assert.deepEqual([...phases], awaitRemoval ? ['deleting', 'rollup', 'removing'] : ['deleting', 'rollup']);

    for (const id of ids) assert.deepEqual(await store.getTrace(A, id), []);
    assert.equal((await store.getTrace(A, Buffer.from(kept, 'hex'))).length, 2);
    assert.equal((await store.getTrace(B, ids[0])).length, 2, "the other tenant's trace with the same id stays");
    assert.equal(await count(TABLES.traceIndex, sql`trace_id IN (${ids})`, 'erase-a'), 0);
    assert.equal(await count(TABLES.traceIndex, sql`trace_id IN (${ids})`, 'erase-b'), 1);
    // Their log records went too, on every shard; the rest stay.
    assert.deepEqual(await logBodies('erase-a'), ['erase-log-kept', 'erase-log-untied']);
    assert.deepEqual(await logBodies('erase-b'), ['erase-log-other-tenant']);
    const found = await searchTraceQL(compileQuery('{ span.patient.id = "P-erase" }'), store, A, { range, limit: 20, spss: 3 });
    assert.deepEqual(found.traces.map((t) => t.traceId.toString('hex')), [kept]);
    assert.equal((await searchTraceQL(compileQuery('{ span.patient.id = "P-erase" }'), store, B, { range, limit: 20, spss: 3 })).traces.length, 1);

    // The rollup's minute was recomputed: it answers as the spans do, and no longer knows the erased names.
    const raw = await byName(A, true);
    const rolled = await byName(A, false);
    assert.deepEqual([raw.source, rolled.source], ['spans', 'rollup']);
    assert.deepEqual(rolled.counts, raw.counts);
    assert.deepEqual(rolled.counts, { 'erase-root': 1, 'erase-kept': 1 });
    assert.deepEqual((await byName(B, false)).counts, { 'erase-root': 1, 'erase-other-tenant': 1 });

    // Again: nothing left to erase.
    assert.deepEqual(await store.eraseTraces(A, ids, { awaitRemoval, partLifetimeSeconds: 1 }), { traces: 0, spans: 0, logRecords: 0, spansLeft: 0, logRecordsLeft: 0, rollupMinutes: 0 });
  });
});

describe("TraceQL: Tempo's whole grammar, with known answers", () => {
  const g1 = hex(16);
  const g2 = hex(16);
  const g3 = hex(16);
  const s = { A: hex(8), B: hex(8), C: hex(8), D: hex(8), E: hex(8), F: hex(8), G: hex(8) };
  const svc = 'resource.service.name = "grammar-svc"';
  const int = (key: string, v: number) => ({ key, value: { intValue: String(v) } });
  const bool = (key: string, v: boolean) => ({ key, value: { boolValue: v } });
  const range = { startNs: NOW_NS - 60_000_000_000n, endNs: NOW_NS };
  before(async () => {
    const at = (ms: number) => NOW_NS - 30_000_000_000n + BigInt(ms) * 1_000_000n;
    const MS = 1_000_000n;
    // g1: A(root, 400 ms) > B(db, 100 ms) > C(leaf, 50 ms), and A > D(cache, 10 ms, error)
    // g2: E(root, 300 ms) > F(db, 200 ms);  g3: G(solo, 20 ms), alone.
    await write([
      rs('grammar-svc', [
        { traceId: g1, spanId: s.A, name: 'root', startNs: at(0), durationNs: 400n * MS, attributes: [int('n', 2), bool('flag', true)] },
        { traceId: g1, spanId: s.B, parentSpanId: s.A, name: 'db', kind: 3, startNs: at(10), durationNs: 100n * MS, attributes: [int('n', 10), bool('flag', false)] },
        { traceId: g1, spanId: s.C, parentSpanId: s.B, name: 'leaf', kind: 1, startNs: at(20), durationNs: 50n * MS },
        { traceId: g1, spanId: s.D, parentSpanId: s.A, name: 'cache', kind: 3, startNs: at(200), durationNs: 10n * MS, status: 2, attributes: [int('n', 1)] },
        { traceId: g2, spanId: s.E, name: 'root', startNs: at(5), durationNs: 300n * MS, attributes: [int('n', 3)] },
        { traceId: g2, spanId: s.F, parentSpanId: s.E, name: 'db', kind: 3, startNs: at(15), durationNs: 200n * MS, attributes: [int('n', 30)] },
        { traceId: g3, spanId: s.G, name: 'solo', startNs: at(40), durationNs: 20n * MS, attributes: [bool('flag', true)] },
      ]),
    ]);
  });

  const search = (text: string) => searchTraceQL(compileQuery(text), store, SINGLE, { range: lastHour(), limit: 20, spss: 20 });
  const traceIds = async (text: string) => (await search(text)).traces.map((t) => t.traceId.toString('hex')).sort();
  const spanIds = async (text: string) =>
    [...new Set((await search(text)).traces.flatMap((t) => (t.spanSets ?? [t.spanSet]).flatMap((x) => x.spans.map((sp) => sp.spanId.toString('hex')))))].sort();
  const ids = (...xs: string[]) => [...xs].sort();
  /** Series as { labels: values }, labels as `key=value` joined by commas. */
  const metrics = async (text: string) => {
    const { series } = await queryMetricsRoot(compileRoot(text), store, SINGLE, { range, stepNs: 60_000_000_000n });
    return Object.fromEntries(series.map((x) => [x.labels.map((l) => `${l.key}=${Object.values(l.value)[0]}`).join(','), x.samples.map((v) => v[1])]));
  };

  it('decides static conditions and mixes ints, floats and durations by value', async () => {
    const all = ids(g1, g2, g3);
    assert.deepEqual(await traceIds(`{ ${svc} && true }`), all);
    assert.deepEqual(await traceIds(`{ ${svc} && !true }`), []);
    assert.deepEqual(await traceIds(`{ ${svc} && 1 = 2 }`), []);
    assert.deepEqual(await traceIds(`{ ${svc} && "test" =~ "t.*" }`), all);
    assert.deepEqual(await traceIds(`{ ${svc} && .flag && false }`), []);
    assert.deepEqual(await traceIds(`{ ${svc} && 1 < 1h }`), all);
    assert.deepEqual(await traceIds(`{ ${svc} && 1 * 1h = 3600000000000 }`), all, '1 * 1h is 3.6e12 ns');
    assert.deepEqual(await spanIds(`{ ${svc} && duration > 1s / 4 }`), ids(s.A, s.E), '250 ms');
    assert.deepEqual(await spanIds(`{ ${svc} && duration = 100000000 }`), ids(s.B), 'an int compares with a duration in nanoseconds');
    assert.deepEqual(await spanIds(`{ ${svc} } >> { true }`), ids(s.B, s.C, s.D, s.F));
    assert.deepEqual(await spanIds(`{ ${svc} && !.flag }`), ids(s.B), '!.a holds where .a is false');
    assert.deepEqual(await spanIds(`{ ${svc} && -.n = -10 }`), ids(s.B));
    assert.deepEqual(await spanIds(`{ ${svc} && trace:id = "not-an-id" }`), []);
  });

  it('compares with nil', async () => {
    assert.deepEqual(await traceIds(`{ ${svc} && name != nil }`), ids(g1, g2, g3));
    assert.deepEqual(await traceIds(`{ ${svc} && nil = nil }`), ids(g1, g2, g3));
    assert.deepEqual(await traceIds(`{ ${svc} && nil != nil }`), []);
    assert.deepEqual(await spanIds(`{ ${svc} && .flag != nil }`), ids(s.A, s.B, s.G));
    assert.deepEqual(await spanIds(`{ ${svc} && .flag = nil }`), ids(s.C, s.D, s.E, s.F));
    assert.deepEqual(await spanIds(`{ ${svc} && nil != .flag }`), ids(s.A, s.B, s.G));
  });

  it('starts pipelines with a scalar filter, by() or select(), over every span of a trace', async () => {
    assert.deepEqual(await traceIds(`count() > 3 | { ${svc} }`), [g1]);
    assert.deepEqual(await spanIds(`max(duration) > 350ms | { ${svc} && name = "root" }`), [s.A]);
    assert.deepEqual(await traceIds(`by(resource.service.name) | { ${svc} && name = "solo" }`), [g3]);
    const selected = await search(`select(span.n) | { ${svc} && name = "db" }`);
    const text = (v: unknown) => (v as { stringValue?: string } | undefined)?.stringValue;
    const shown = selected.traces.flatMap((t) => t.spanSet.spans.map((sp) => text(sp.attributes.find((a) => a.key === 'n')?.value))).sort();
    assert.deepEqual(shown, ['10', '30']);
    // Groups by the flag within each trace: g1's absent-flag group (C, D) and g2's (E, F) have two spans.
    assert.deepEqual(await traceIds(`{ ${svc} } | by(.flag) | count() = 2`), ids(g1, g2));
  });

  it('takes pipelines in parentheses as spanset operands', async () => {
    assert.deepEqual(await spanIds(`({ ${svc} } | count() > 3) >> ({ ${svc} } | by(name) | count() = 1)`), ids(s.B, s.C, s.D));
    assert.deepEqual(await spanIds(`({ ${svc} } | count() = 2) && ({ ${svc} && name = "db" })`), ids(s.E, s.F));
    assert.deepEqual(await traceIds(`({ ${svc} && name = "root" } | avg(duration) > 350ms) || ({ ${svc} && name = "solo" })`), ids(g1, g3));
    assert.deepEqual(await spanIds(`({ ${svc} && name = "db" } | count() = 1) ~ ({ ${svc} } | { name = "cache" })`), [s.D]);
    assert.deepEqual(await spanIds(`({ ${svc} } | count() > 1 | { name = "root" }) > ({ ${svc} } | count() > 1)`), ids(s.B, s.D, s.F));
  });

  it('computes arithmetic of aggregates and groups by expressions', async () => {
    assert.deepEqual(await traceIds(`{ ${svc} } | max(duration) - min(duration) > 350ms`), [g1]);
    assert.deepEqual(await traceIds(`{ ${svc} } | count() * 2 = 4`), [g2]);
    assert.deepEqual(await traceIds(`{ ${svc} } | max(1 + span.n) = 31`), [g2]);
    assert.deepEqual(await traceIds(`{ ${svc} } | avg(.n) > 2 * min(.n)`), ids(g1, g2), 'g1: 13/3 > 2; g2: 16.5 > 6');
    const grouped = await search(`{ ${svc} && name = "db" } | by(span.n * 2)`);
    const labels = grouped.traces.flatMap((t) => t.spanSets!.map((x) => (x.attributes ?? []).map((a) => `${a.key}=${(a.value as { stringValue?: string }).stringValue}`).join())).sort();
    assert.deepEqual(labels, ['by(span.n * 2)=20', 'by(span.n * 2)=60']);
  });

  it("numbers spans in Tempo's nested set model and counts children", async () => {
    // g1 walked from A: A 1..8, B 2..5, C 3..4, D 6..7; g2: E 1..4, F 2..3; g3: G 1..2.
    assert.deepEqual(await spanIds(`{ ${svc} && nestedSetLeft = 2 }`), ids(s.B, s.F));
    assert.deepEqual(await spanIds(`{ ${svc} && nestedSetParent = -1 }`), ids(s.A, s.E, s.G));
    assert.deepEqual(await spanIds(`{ ${svc} && nestedSetRight - nestedSetLeft = 1 }`), ids(s.C, s.D, s.F, s.G));
    assert.deepEqual(await spanIds(`{ ${svc} && nestedSetLeft = 6 && nestedSetRight = 7 && nestedSetParent = 1 }`), [s.D]);
    const selected = await search(`{ ${svc} && name = "root" } >> { ${svc} } | select(nestedSetLeft, nestedSetRight, nestedSetParent)`);
    const b = selected.traces.flatMap((t) => t.spanSet.spans).find((sp) => sp.spanId.toString('hex') === s.B)!;
    assert.deepEqual(
      b.attributes.filter((a) => a.key.startsWith('nestedSet')).map((a) => `${a.key}=${(a.value as { stringValue?: string }).stringValue}`),
      ['nestedSetLeft=2', 'nestedSetRight=5', 'nestedSetParent=1'],
    );
    assert.deepEqual(await spanIds(`{ ${svc} && span:childCount = 2 }`), [s.A]);
    assert.deepEqual(await traceIds(`{ ${svc} } | max(span:childCount) = 2`), [g1]);
    assert.deepEqual(await traceIds(`{ ${svc} } | avg(span:childCount) > 0.5`), [g1], 'g1 0.75, g2 0.5, g3 0');
  });

  it('filters metrics on their values, after topk and bottomk too', async () => {
    assert.deepEqual(await metrics(`{ ${svc} } | count_over_time()`), { '__name__=count_over_time': [7] });
    assert.deepEqual(await metrics(`{ ${svc} } | count_over_time() > 5`), { '__name__=count_over_time': [7] });
    assert.deepEqual(await metrics(`{ ${svc} } | count_over_time() > 7`), {});
    assert.deepEqual(await metrics(`{ ${svc} } | count_over_time() by(name) >= 2`), { 'name=db': [2], 'name=root': [2] });
    assert.deepEqual(await metrics(`{ ${svc} } | count_over_time() by(name) | topk(3) < 2`), { 'name=cache': [1] }, 'topk(3): db, root and the first of the 1s by labels');
    assert.deepEqual(await metrics(`{ ${svc} } | count_over_time() by(name) != 2 | bottomk(1)`), { 'name=cache': [1] });
    assert.deepEqual(await metrics(`{ ${svc} } | quantile_over_time(duration, 0.5) with(sample=0.1)`), { 'p=0.5': [0.1] }, 'exact whatever the sampling hint');
  });

  it('computes arithmetic over metrics queries as Tempo pairs series', async () => {
    assert.deepEqual(await metrics(`({ ${svc} } | count_over_time()) * 2`), { '': [14] });
    assert.deepEqual(await metrics(`-1 * ({ ${svc} } | count_over_time())`), { '': [-7] });
    assert.deepEqual(await metrics(`({ ${svc} && status = error } | count_over_time()) / ({ ${svc} } | count_over_time())`), { '__name__=(count_over_time / count_over_time)': [1 / 7] });
    assert.deepEqual(await metrics(`({ ${svc} } | count_over_time() by(name)) / ({ ${svc} } | count_over_time())`), {
      '__name__=(count_over_time / count_over_time),name=cache': [1 / 7],
      '__name__=(count_over_time / count_over_time),name=db': [2 / 7],
      '__name__=(count_over_time / count_over_time),name=leaf': [1 / 7],
      '__name__=(count_over_time / count_over_time),name=root': [2 / 7],
      '__name__=(count_over_time / count_over_time),name=solo': [1 / 7],
    });
    // Without a label-less side, the right side's series decide which pairs exist.
    assert.deepEqual(await metrics(`({ ${svc} } | count_over_time() by(name)) - ({ ${svc} && name = "db" } | count_over_time() by(name))`), { '__name__=(count_over_time - count_over_time),name=db': [0] });
    assert.deepEqual(await metrics(`({ ${svc} } | count_over_time()) / 0`), {}, 'x / 0 is no sample');
    assert.deepEqual(await metrics(`(({ ${svc} } | count_over_time()) + 1) * 10 > 75 | topk(1)`), { '': [80] });
    const rate = await metrics(`({ ${svc} } | rate()) * 60`);
    assert.ok(Math.abs(rate[''][0] - 7) < 1e-9, String(rate['']));
  });

  it('answers metrics the store cannot aggregate through the evaluator', async () => {
    assert.deepEqual(await metrics(`{ ${svc} } | avg_over_time(span:childCount)`), { '__name__=avg_over_time': [4 / 7] });
    assert.deepEqual(await metrics(`count() > 3 | { ${svc} } | count_over_time()`), { '__name__=count_over_time': [4] });
    assert.deepEqual(await metrics(`({ ${svc} } | count() = 2) >> ({ ${svc} }) | count_over_time() by(name)`), { 'name=db': [1] });
  });

  it('refuses compare() with topk, bottomk, a filter or arithmetic, and metrics inside spanset operands, with 400', () => {
    for (const text of [
      `{ ${svc} } | compare({ status = error }) | topk(10)`,
      `{ ${svc} } | compare({ status = error }) > 10`,
      `({ ${svc} } | compare({ status = error })) + ({ } | rate())`,
      `({ ${svc} } | rate()) >> ({ } | rate())`,
      `{ ${svc} } | rate() | topk(0)`,
    ])
      assert.throws(() => compileRoot(text), (e: Error) => e instanceof SightlineError && e.httpStatus === 400, text);
  });
});

describe('schema', () => {
  it('is idempotent, and refuses a newer schema version with a clear message', async () => {
    const spans = await count(TABLES.spans);
    assert.ok(spans > 0);
    assert.deepEqual(await initSchema(engine, 'test store', layout), { created: false });
    assert.deepEqual(await initSchema(engine, 'test store', layout), { created: false });
    assert.equal(await readSchemaVersion(engine), SCHEMA_VERSION);
    assert.equal(await count(TABLES.spans), spans, 'initSchema leaves the data alone');
    await writeMeta(engine, 'schema_version', String(SCHEMA_VERSION + 1));
    await assert.rejects(
      initSchema(engine, 'test store', layout),
      (e: Error) => e instanceof SchemaVersionError && e.message.includes(`schema version ${SCHEMA_VERSION + 1}, written by a newer Sightline`),
    );
    assert.equal(await readSchemaVersion(engine), SCHEMA_VERSION + 1, 'a refused store is not touched');
    // meta versions are clock based: let the clock move before writing the key again.
    await new Promise((r) => setTimeout(r, 5));
    await writeMeta(engine, 'schema_version', String(SCHEMA_VERSION));
    assert.deepEqual(await initSchema(engine, 'test store', layout), { created: false });
    assert.equal(await readSchemaVersion(engine), SCHEMA_VERSION);
  });
});
});
}
