import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_TENANT, SqlStore, TenantScope } from '../src/store/index.js';
import { initSchema } from '../src/store/setup.js';
import { TABLES } from '../src/store/schema.js';
import { sql, ident } from '../src/store/sql/sql.js';
import { LogBatchBuilder } from '../src/model/log-batch.js';
import type { LogRecord } from '../src/model/log-record.js';
import { JsonLogDecoder } from '../src/receivers/decode-logs-json.js';
import { parseLogQuery } from '../src/query/logs/index.js';
import type { WriteOutcome } from '../src/ingest/store-port.js';
import { FixtureWriter } from './store-fixtures.js';
import type { ConformanceTarget } from './store-conformance.js';

/**
 * The logs part of the store conformance suite: the same tests against
 * embedded chDB, a ClickHouse 18.16 server and a 2-shard cluster. Log
 * segments are written as ingest writes them (the receiver's JSON decoder
 * into a Native block, tenant and ids stamped, the store's writeLogs), and
 * read through the logs port; every answer is checked against the records
 * sent. Covers: round trips, newest-first order and limits, replay
 * de-duplication (whole and partial), every kind of filter, the
 * histogram, a trace's records, tenant isolation and retention per tenant.
 */
export function runLogsConformance(target: ConformanceTarget): void {
  describe(`store conformance, logs: ${target.name}`, () => {
    const scratch = mkdtempSync(path.join(os.tmpdir(), 'sightline-logs-conformance-'));
    let closeTarget: () => Promise<void>;
    let store: SqlStore;
    let engineCount: (table: string, tenant: string) => Promise<number>;
    let spans: FixtureWriter;
    let fileNo = 0;

    const NOW_NS = BigInt(Date.now()) * 1_000_000n;
    const MIN_NS = 60_000_000_000n;
    const HOUR_NS = 60n * MIN_NS;
    const DAY_NS = 24n * HOUR_NS;
    const SINGLE = TenantScope.of([DEFAULT_TENANT]);
    const lastHour = () => ({ startNs: NOW_NS - HOUR_NS, endNs: NOW_NS + MIN_NS });
    const hex = (n: number) => randomBytes(n).toString('hex');

    interface LogSpec {
      body?: unknown;
      timeNs?: bigint;
      severityNumber?: number;
      severityText?: string;
      traceId?: string;
      spanId?: string;
      attributes?: unknown[];
      [k: string]: unknown;
    }

    /** OTLP/JSON resourceLogs of one service. */
    const rl = (service: string, records: LogSpec[], resourceAttrs: unknown[] = []) => ({
      resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }, ...resourceAttrs] },
      scopeLogs: [
        {
          scope: { name: 'logger', version: '1.2' },
          logRecords: records.map(({ timeNs, body, ...r }) => ({
            ...r,
            ...(typeof body === 'string' ? { body: { stringValue: body } } : body !== undefined ? { body } : {}),
            timeUnixNano: String(timeNs ?? NOW_NS - 10n * MIN_NS),
            observedTimeUnixNano: String((timeNs ?? NOW_NS - 10n * MIN_NS) + 1000n),
          })),
        },
      ],
    });

    /** Decodes resourceLogs into a segment file, every row under `tenant`, as the receiver does. */
    function segment(resourceLogs: unknown[], tenant = DEFAULT_TENANT): string {
      const b = new LogBatchBuilder();
      const outcome = new JsonLogDecoder().decode(Buffer.from(JSON.stringify({ resourceLogs })), b, { minStartNs: 0, retentionText: '-', receivedNs: NOW_NS });
      assert.equal(outcome.rejected, 0, outcome.firstError);
      b.fillTenantAndIds(tenant);
      const file = path.join(scratch, `logs-${fileNo++}.native`);
      writeFileSync(file, b.toBuffer());
      return file;
    }

    const ok = (o: WriteOutcome) => {
      if (!o.ok) assert.fail(`writeLogs failed: ${o.error.message}`);
    };

    async function write(resourceLogs: unknown[], opts: { tenant?: string; replay?: boolean } = {}): Promise<string> {
      const file = segment(resourceLogs, opts.tenant);
      ok(await store.writeLogs(file, { replay: opts.replay ?? false }));
      return file;
    }

    const bodies = (records: LogRecord[]) => records.map((r) => (r.body && 'stringValue' in r.body ? r.body.stringValue : JSON.stringify(r.body)));
    const search = async (q: string, scope = SINGLE, limit = 1000) => bodies(await store.searchLogs(scope, { where: parseLogQuery(q), range: lastHour(), limit }));

    before(async () => {
      const opened = await target.open();
      closeTarget = opened.close;
      await initSchema(opened.engine, 'test store', opened.layout);
      store = new SqlStore(opened.engine, opened.layout, { defaultTenant: DEFAULT_TENANT, scratchDir: scratch });
      spans = new FixtureWriter(store, NOW_NS);
      engineCount = async (table, tenant) =>
        Number((await opened.engine.query(sql`SELECT count() FROM ${ident(table)} WHERE tenant = ${tenant}`, 'TabSeparated')).toString().trim());
    });

    after(async () => {
      await closeTarget?.();
      spans?.close();
      rmSync(scratch, { recursive: true, force: true });
    });

    it('round-trips every field, with unicode, int64 extremes and structured bodies', async () => {
      const traceId = hex(16);
      const spanId = hex(8);
      const tag = hex(4);
      const kv = { kvlistValue: { values: [{ key: 'order', value: { intValue: '42' } }, { key: 'tags', value: { arrayValue: { values: [{ stringValue: 'a' }, { boolValue: true }] } } }] } };
      await write([
        rl(`rt-${tag}`, [
          {
            body: `rt ${tag} zażółć 🙂 \u0000 nul '; DROP TABLE logs; --`,
            severityNumber: 17,
            severityText: 'ERROR',
            traceId,
            spanId,
            flags: 1,
            eventName: 'payment.failed',
            droppedAttributesCount: 2,
            attributes: [
              { key: 'int.max', value: { intValue: '9223372036854775807' } },
              { key: 'int.min', value: { intValue: '-9223372036854775808' } },
              { key: 'nan', value: { doubleValue: 'NaN' } },
              { key: 'ok', value: { boolValue: true } },
              { key: 'bytes', value: { bytesValue: Buffer.from([0, 1, 255]).toString('base64') } },
            ],
          },
          { body: kv, severityNumber: 9 },
        ], [{ key: 'host.name', value: { stringValue: `h-${tag}` } }]),
      ]);
      const got = await store.searchLogs(SINGLE, { where: parseLogQuery(`{ resource.service.name = "rt-${tag}" }`), range: lastHour(), limit: 10 });
      assert.equal(got.length, 2);
      const [a, b] = got.sort((x, y) => x.severityNumber - y.severityNumber).reverse();
      assert.deepEqual(a.body, { stringValue: `rt ${tag} zażółć 🙂 \u0000 nul '; DROP TABLE logs; --` });
      assert.equal(a.severityNumber, 17);
      assert.equal(a.severityText, 'ERROR');
      assert.equal(a.traceId.toString('hex'), traceId);
      assert.equal(a.spanId.toString('hex'), spanId);
      assert.equal(a.flags, 1);
      assert.equal(a.eventName, 'payment.failed');
      assert.equal(a.droppedAttributes, 2);
      assert.equal(a.serviceName, `rt-${tag}`);
      assert.equal(a.tenant, DEFAULT_TENANT);
      assert.deepEqual(a.attributes, [
        { key: 'int.max', value: { intValue: '9223372036854775807' } },
        { key: 'int.min', value: { intValue: '-9223372036854775808' } },
        { key: 'nan', value: { doubleValue: 'NaN' } },
        { key: 'ok', value: { boolValue: true } },
        { key: 'bytes', value: { bytesValue: 'AAH/' } },
      ]);
      assert.deepEqual(a.resource, [
        { key: 'service.name', value: { stringValue: `rt-${tag}` } },
        { key: 'host.name', value: { stringValue: `h-${tag}` } },
      ]);
      assert.deepEqual(a.scope, { name: 'logger', version: '1.2', attributes: [] });
      assert.equal(a.timeNs + 1000n, a.observedNs);
      assert.deepEqual(b.body, kv);
      assert.equal(b.traceId.toString('hex'), '0'.repeat(32));
    });

    it('lists the newest first, up to the limit, within the range', async () => {
      const tag = hex(4);
      const times = [5n, 1n, 30n, 12n, 90n].map((m) => NOW_NS - m * MIN_NS);
      await write([rl(`order-${tag}`, times.map((t, i) => ({ body: `order ${i}`, timeNs: t })))]);
      const q = `{ resource.service.name = "order-${tag}" }`;
      // The one 90 minutes old is outside the last hour.
      assert.deepEqual(await search(q), ['order 1', 'order 0', 'order 3', 'order 2']);
      assert.deepEqual(await search(q, SINGLE, 2), ['order 1', 'order 0']);
      const narrow = await store.searchLogs(SINGLE, { where: parseLogQuery(q), range: { startNs: NOW_NS - 20n * MIN_NS, endNs: NOW_NS - 2n * MIN_NS }, limit: 10 });
      assert.deepEqual(bodies(narrow), ['order 0', 'order 3']);
    });

    it('replays a segment without storing a record twice, whole or in part', async () => {
      const tag = hex(4);
      const first = segment([rl(`replay-${tag}`, [{ body: 'r1' }, { body: 'r2' }, { body: 'same' }, { body: 'same' }])]);
      ok(await store.writeLogs(first, { replay: false }));
      // The process died after the insert, before deleting the segment.
      ok(await store.writeLogs(first, { replay: true }));
      const q = `{ resource.service.name = "replay-${tag}" }`;
      assert.deepEqual((await search(q)).sort(), ['r1', 'r2', 'same', 'same'], 'identical records are two records, each stored once');
      // A segment holding that block and a block the store never took.
      const second = segment([rl(`replay-${tag}`, [{ body: 'r3' }])]);
      const both = path.join(scratch, `logs-both-${tag}.native`);
      writeFileSync(both, Buffer.concat([readFileSync(first), readFileSync(second)]));
      ok(await store.writeLogs(both, { replay: true }));
      assert.deepEqual((await search(q)).sort(), ['r1', 'r2', 'r3', 'same', 'same']);
    });

    describe('filters', () => {
      const tag = hex(4);
      const traceId = hex(16);
      const spanA = hex(8);
      const spanB = hex(8);
      const svc = `filters-${tag}`;
      before(async () => {
        await write([
          rl(svc, [
            { body: 'trace detail', severityNumber: 1, attributes: [{ key: 'n', value: { intValue: 1 } }] },
            { body: 'debugging cache', severityNumber: 6, attributes: [{ key: 'n', value: { intValue: 5 } }] },
            { body: 'user logged in', severityNumber: 9, severityText: 'INFO', traceId, spanId: spanA, attributes: [{ key: 'user', value: { stringValue: 'ann' } }, { key: 'ratio', value: { doubleValue: 0.25 } }] },
            { body: 'disk almost full', severityNumber: 14, traceId, spanId: spanB, attributes: [{ key: 'n', value: { intValue: 500 } }, { key: 'ok', value: { boolValue: false } }] },
            { body: 'connection refused by db', severityNumber: 17, attributes: [{ key: 'db', value: { stringValue: 'orders-db' } }] },
            { body: 'out of memory', severityNumber: 21 },
            { body: 'text only warning', severityText: 'Warning' },
            { body: 'no level at all' },
          ], [{ key: 'region', value: { stringValue: 'eu' } }, { key: 'db', value: { stringValue: 'resource-db' } }]),
          rl(`${svc}-other`, [{ body: 'other service warn', severityNumber: 13 }], [{ key: 'region', value: { stringValue: 'us' } }]),
        ]);
      });
      const within = (extra: string) => `{ resource.service.name =~ "${svc}.*"${extra ? ` && (${extra})` : ''} }`;
      const cases: [string, string[]][] = [
        ['severity >= warn', ['connection refused by db', 'disk almost full', 'other service warn', 'out of memory', 'text only warning']],
        ['severity = warn', ['disk almost full', 'other service warn', 'text only warning']],
        ['severity < info', ['debugging cache', 'trace detail']],
        ['severity <= info', ['debugging cache', 'trace detail', 'user logged in']],
        ['severity > error', ['out of memory']],
        ['severity != warn', ['connection refused by db', 'debugging cache', 'no level at all', 'out of memory', 'trace detail', 'user logged in']],
        ['severityNumber >= 13', ['connection refused by db', 'disk almost full', 'other service warn', 'out of memory']],
        ['severityNumber = 0', ['no level at all', 'text only warning']],
        ['severityText = "INFO"', ['user logged in']],
        ['severityText =~ "[Ww]arn.*"', ['text only warning']],
        ['body =~ "refused|memory"', ['connection refused by db', 'out of memory']],
        ['body =~ "^disk"', ['disk almost full']],
        ['body !~ "o"', ['debugging cache', 'trace detail']],
        ['body contains "in"', ['debugging cache', 'text only warning', 'user logged in']],
        ['body = "out of memory"', ['out of memory']],
        ['resource.region = "us"', ['other service warn']],
        [`resource.service.name = "${svc}-other"`, ['other service warn']],
        ['log.n >= 5', ['debugging cache', 'disk almost full']],
        ['log.n < 5', ['trace detail']],
        ['.ratio < 0.5', ['user logged in']],
        ['.ok = false', ['disk almost full']],
        ['log.user = "ann"', ['user logged in']],
        ['log.user =~ "a.*"', ['user logged in']],
        ['log.user =~ "n"', []],
        ['log.db = "resource-db"', []],
        ['.db = "resource-db"', ['connection refused by db', 'debugging cache', 'disk almost full', 'no level at all', 'out of memory', 'text only warning', 'trace detail', 'user logged in']],
        ['.db = "orders-db"', ['connection refused by db']],
        ['log.user != nil', ['user logged in']],
        ['log.n = nil && resource.region = "eu"', ['connection refused by db', 'no level at all', 'out of memory', 'text only warning', 'user logged in']],
        [`trace:id = "${traceId}"`, ['disk almost full', 'user logged in']],
        [`span:id = "${spanB}"`, ['disk almost full']],
        [`trace:id != "${traceId}"`, []],
        ['trace:id != nil', ['disk almost full', 'user logged in']],
        ['!(severity >= info) && body contains "a"', ['debugging cache', 'no level at all', 'trace detail']],
        ['severity >= error || .user = "ann"', ['connection refused by db', 'out of memory', 'user logged in']],
      ];
      for (const [q, want] of cases)
        it(q, async () => {
          assert.deepEqual((await search(within(q))).sort(), want);
        });

      it('counts every match by time step and severity class, exactly', async () => {
        const range = lastHour();
        const stepNs = 5n * MIN_NS;
        const h = await store.logHistogram(SINGLE, { where: parseLogQuery(within('')), range, stepNs });
        assert.equal(h.total, 9);
        const column = Number((NOW_NS - 10n * MIN_NS - range.startNs) / stepNs);
        const byClass = Object.fromEntries(h.cells.map((c) => [c.severity, c.count]));
        assert.deepEqual(byClass, { trace: 1, debug: 1, info: 1, warn: 3, error: 1, fatal: 1, unspecified: 1 });
        assert.ok(h.cells.every((c) => c.column === column), `every record in column ${column}`);
        const warn = await store.logHistogram(SINGLE, { where: parseLogQuery(within('severity >= warn')), range, stepNs });
        assert.equal(warn.total, 5);
      });
    });

    it("finds a trace's records around its spans, and only its own", async () => {
      const traceId = hex(16);
      const root = hex(8);
      const spanStart = NOW_NS - 3n * HOUR_NS;
      // Its spans, three hours ago, so the trace index says where to look.
      await spans.write([
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'traced' } }] },
          scopeSpans: [{ spans: [{ traceId, spanId: root, name: 'op', kind: 2, startTimeUnixNano: String(spanStart), endTimeUnixNano: String(spanStart + 2_000_000_000n) }] }],
        },
      ]);
      await write([
        rl('traced', [
          { body: 'in the span', timeNs: spanStart + 1_000_000_000n, traceId, spanId: root },
          { body: 'stamped before it', timeNs: spanStart - MIN_NS, traceId, spanId: root },
          { body: 'another trace', timeNs: spanStart + 1_000_000_000n, traceId: hex(16), spanId: root },
          { body: 'a day away', timeNs: spanStart - DAY_NS, traceId },
        ]),
      ]);
      // The request's range is the last hour: the trace index, not the range, decides.
      const got = await store.traceLogs(SINGLE, Buffer.from(traceId, 'hex'), { range: lastHour(), limit: 100 });
      assert.deepEqual(bodies(got), ['stamped before it', 'in the span']);
      assert.ok(got.every((r) => r.spanId.toString('hex') === root));
      // Records of a trace whose spans were never stored: found in the range given.
      const lone = hex(16);
      await write([rl('traced', [{ body: 'lone', timeNs: NOW_NS - 5n * MIN_NS, traceId: lone }])]);
      assert.deepEqual(bodies(await store.traceLogs(SINGLE, Buffer.from(lone, 'hex'), { range: lastHour(), limit: 100 })), ['lone']);
      assert.deepEqual(bodies(await store.traceLogs(SINGLE, Buffer.from(lone, 'hex'), { range: { startNs: NOW_NS - 2n * HOUR_NS, endNs: NOW_NS - HOUR_NS }, limit: 100 })), []);
    });

    it('keeps tenants apart in every read', async () => {
      const tag = hex(4);
      const traceId = hex(16);
      const q = `{ resource.service.name = "tenants-${tag}" }`;
      await write([rl(`tenants-${tag}`, [{ body: 'of a', traceId }])], { tenant: 'tenant-a' });
      await write([rl(`tenants-${tag}`, [{ body: 'of b', traceId }])], { tenant: 'tenant-b' });
      const a = TenantScope.of(['tenant-a']);
      const b = TenantScope.of(['tenant-b']);
      assert.deepEqual(await search(q, a), ['of a']);
      assert.deepEqual(await search(q, b), ['of b']);
      assert.deepEqual(await search(q), []);
      assert.deepEqual((await search(q, TenantScope.of(['tenant-a', 'tenant-b']))).sort(), ['of a', 'of b']);
      assert.equal((await store.logHistogram(a, { where: parseLogQuery(q), range: lastHour(), stepNs: HOUR_NS })).total, 1);
      assert.deepEqual(bodies(await store.traceLogs(b, Buffer.from(traceId, 'hex'), { range: lastHour(), limit: 10 })), ['of b']);
      assert.equal((await store.searchLogs(a, { where: parseLogQuery(q), range: lastHour(), limit: 10 }))[0].tenant, 'tenant-a');
    });

    it('drops whole days of logs past each tenant retention, and nothing newer', async () => {
      const old = NOW_NS - 3n * DAY_NS;
      const tenants = ['keep-short', 'keep-long'];
      for (const tenant of tenants) await write([rl('retention', [{ body: 'old', timeNs: old }, { body: 'new' }])], { tenant });
      for (const tenant of tenants) assert.equal(await engineCount(TABLES.logs, tenant), 2);
      const result = await store.dropExpired({ cutoffNs: (t) => (t === 'keep-short' ? NOW_NS - DAY_NS : NOW_NS - 30n * DAY_NS) });
      assert.ok(result.dropped.some((d) => d.table === TABLES.logs && d.tenant === 'keep-short'));
      assert.ok(!result.dropped.some((d) => d.tenant === 'keep-long'));
      assert.equal(await engineCount(TABLES.logs, 'keep-short'), 1);
      assert.equal(await engineCount(TABLES.logs, 'keep-long'), 2);
    });
  });
}
