import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { ROOT_CONTEXT, TraceFlags, trace } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { createApiServer } from '../src/api/index.js';
import { AuditLog, buildAuthenticator, type AuditRecord } from '../src/auth/index.js';
import { Erasures, NOT_COVERED, type ErasureStatus } from '../src/erasure/index.js';
import { Ingestor } from '../src/ingest/index.js';
import { LogExportHandler, TraceExportHandler, createOtlpHttpServer } from '../src/receivers/index.js';
import { openClickHouseStore, openEmbeddedStore, TenantScope, type SqlStore } from '../src/store/index.js';
import { compileQuery, queryMetrics } from '../src/query/traceql/index.js';
import { FixtureWriter } from '../testkit/store-fixtures.js';
import { scanForBytes } from '../testkit/disk-scan.js';
import { makeTokens } from '../testkit/tokens.js';
import { eraseCommand } from '../src/cli/erase.js';

/**
 * Erasure end to end, through the API, on embedded chDB, a ClickHouse
 * server and a 2-shard cluster. A patient's value is planted in spans of
 * several traces of tenant a (span attributes, a span name, so the rollup
 * holds it too), some stored and some still in the WAL; tenant b has a
 * trace with the same id and the same patient id. Then: a dry run counts
 * exactly; the erasure removes the traces whole from every read and
 * leaves the rest; once it reports complete, no byte of the data
 * directories (Sightline's, and the engine's, with every ClickHouse
 * compressed block decompressed) holds the planted value, which the same
 * scan found before; the audit trail has the request and its outcome;
 * viewers and other tenants' admins are refused and change nothing.
 *
 * Log records go with their traces: records tied to the erased traces
 * (sent with the OpenTelemetry logs SDK and its OTLP/HTTP exporter, one
 * still in the logs WAL, one of a trace that has no spans at all) hold
 * another planted value, which the scan finds in the logs table's parts
 * before and nowhere after; records of kept traces, of tenant b, and one
 * with no trace id that carries the patient's id stay, and every answer
 * says that such untied records are out of the erasure's reach.
 */

interface Target {
  name: string;
  /** A fresh store; `engineDirs` are where its engine keeps its files, scanned with Sightline's data directory. */
  open(dataDir: string): Promise<{ store: SqlStore; engineDirs: string[]; close(): Promise<void> }>;
}

const SCRIPTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../scripts');
const hex = (n: number) => randomBytes(n).toString('hex');
const MINUTE = 60_000_000_000n;

function runErasureSuite(target: Target): void {
  describe(`erasure through the API: ${target.name}`, () => {
    const MARK = `PATIENT-ERASE-ME-${hex(6)}`;
    const PATIENT = `P-${hex(4)}`;
    const KEEP = `KEEP-ME-${hex(6)}`;
    const OTHER_TENANT = `TENANT-B-KEEPS-${hex(6)}`;
    /** Only in log records of erased traces: the proof for the logs table. */
    const LOG_MARK = `PATIENT-LOG-ERASE-ME-${hex(6)}`;
    /** In a log record with no trace id that names the patient: out of reach, kept. */
    const UNTIED = `UNTIED-LOG-KEPT-${hex(6)}`;
    const NOW = BigInt(Date.now()) * 1_000_000n;
    const START_S = Number(NOW / 1_000_000_000n) - 3600;
    const END_S = Number(NOW / 1_000_000_000n) + 120;
    const QUERY = `{ span.patient.id = "${PATIENT}" }`;
    /** Stored before the test, in the WAL when it starts, erased by id, and kept. */
    const T = { stored: hex(16), wal: hex(16), byId: hex(16), kept: hex(16), retried: hex(16), logsOnly: hex(16) };

    let dir: string;
    let store: SqlStore;
    let engineDirs: string[];
    let closeStore: () => Promise<void>;
    let app: FastifyInstance;
    let otlp: FastifyInstance;
    let ingestor: Ingestor;
    let audit: AuditLog;
    let erasures: Erasures;
    const tokens = new Map<string, string>();

    const call = (method: 'GET' | 'POST', url: string, as?: string, opts: { tenant?: string; body?: unknown } = {}) =>
      app.inject({
        method,
        url,
        ...(opts.body !== undefined ? { payload: JSON.stringify(opts.body) } : {}),
        headers: {
          ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(as ? { authorization: `Bearer ${tokens.get(as)}` } : {}),
          ...(opts.tenant ? { 'x-scope-orgid': opts.tenant } : {}),
        },
      });

    const span = (traceId: string, name: string, attrs: Record<string, string>, opts: { parent?: string; spanId?: string; offsetMs?: number } = {}) => {
      const start = NOW - 120_000_000_000n + BigInt(opts.offsetMs ?? 0) * 1_000_000n;
      return {
        traceId,
        spanId: opts.spanId ?? hex(8),
        ...(opts.parent ? { parentSpanId: opts.parent } : {}),
        name,
        kind: 2,
        startTimeUnixNano: start.toString(),
        endTimeUnixNano: (start + 3_000_000n).toString(),
        attributes: Object.entries(attrs).map(([key, value]) => ({ key, value: { stringValue: value } })),
      };
    };
    const resource = (service: string, spans: unknown[]) => ({ resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] }, scopeSpans: [{ scope: { name: 'clinic' }, spans }] });

    /** A patient's trace: the value in attributes of the root and in a child's name (so in the rollup too). */
    const patientTrace = (traceId: string) => {
      const root = hex(8);
      return [
        span(traceId, 'GET /patients/{id}', { 'patient.note': MARK }, { spanId: root }),
        span(traceId, `lookup ${MARK}`, { 'patient.id': PATIENT }, { parent: root, offsetMs: 1 }),
        span(traceId, 'SELECT patients', { 'db.note': `${MARK} in a statement` }, { parent: root, offsetMs: 2 }),
      ];
    };

    before(async () => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'sightline-erasure-'));
      ({ store, engineDirs, close: closeStore } = await target.open(dir));
      const made = makeTokens([
        ['admin-a', 'admin', 'a'],
        ['admin-b', 'admin', 'b'],
        ['viewer-a', 'viewer', 'a'],
        ['viewer-b', 'viewer', 'b'],
        ['ingester-a', 'ingester', 'a'],
        ['ingester-b', 'ingester', 'b'],
      ] as const);
      for (const [name, token] of made.tokens) tokens.set(name, token);
      const entries = made.entries;
      const authenticator = buildAuthenticator({ tokens: entries, defaultTenant: 'single-tenant', listen: '0.0.0.0', insecureNoAuth: false });
      const log = pino({ level: 'silent' });
      audit = await AuditLog.open(path.join(dir, 'audit'), store, { moveEveryMs: 100 });
      // Spans stay in the WAL until something asks for them (an hour's flush interval): erasure must drain it.
      ingestor = await Ingestor.open({ walDir: path.join(dir, 'wal'), store, log, backlogBudgetBytes: 64 * 1024 * 1024, flushIntervalMs: 3_600_000, segmentBytes: 64 * 1024 * 1024 });
      ingestor.start();
      erasures = new Erasures({ store, drain: () => ingestor.drain(), audit, log, partLifetimeSeconds: 1 });
      app = await createApiServer({
        log,
        store,
        authenticator,
        defaultTenant: 'single-tenant',
        audit,
        erasures,
        storeStats: () => store.stats(),
        migrationStatus: () => store.migrationStatus(),
        ingestStats: () => ingestor.getStats(),
        tempoApiVersion: '2.9.0',
        sightlineVersion: 'test',
        engine: 'test',
        defaultWindowSeconds: 3600,
        maxSearchLimit: 100,
        isReady: () => true,
      });
      otlp = await createOtlpHttpServer({
        handler: new TraceExportHandler(ingestor, 86400e3, '1d'),
        logs: new LogExportHandler(ingestor, 86400e3, '1d'),
        log,
        maxBodyBytes: 1024 * 1024,
        corsOrigins: [],
        authenticator,
        defaultTenant: 'single-tenant',
      });
      // On loopback, for the SDK's log exporter.
      await otlp.listen({ host: '127.0.0.1', port: 0 });

      const fixtures = new FixtureWriter(store);
      await fixtures.write(
        [
          resource('clinic-api', [
            ...patientTrace(T.stored),
            span(T.byId, 'GET /patients/{id}', { 'patient.note': MARK }),
            span(T.retried, 'GET /patients/{id}', { 'patient.note': MARK }),
            // Another patient's trace, with the same span names and minute: kept, its rollup counts recomputed.
            span(T.kept, 'GET /patients/{id}', { 'patient.note': KEEP }),
            span(T.kept, 'SELECT patients', { 'patient.id': 'P-other' }, { offsetMs: 2 }),
          ]),
        ],
        { tenant: 'a' },
      );
      // Tenant b: the same trace id and the same patient id, another trace.
      await fixtures.write([resource('clinic-api', [span(T.stored, 'GET /patients/{id}', { 'patient.id': PATIENT, 'patient.note': OTHER_TENANT })])], { tenant: 'b' });
      fixtures.close();
      // Log records through the SDK: the patient's traces' (erased), others' (kept).
      await sendLogs('ingester-a', [
        { traceId: T.stored, body: `chart of ${LOG_MARK} opened`, attrs: { 'patient.id': PATIENT } },
        { traceId: T.stored, body: 'chart closed', attrs: { 'patient.note': LOG_MARK } },
        { traceId: T.byId, body: `lookup ${LOG_MARK}` },
        { traceId: T.retried, body: `retry ${LOG_MARK}` },
        // A trace of which only log records were sent: erased by id all the same.
        { traceId: T.logsOnly, body: `logs only ${LOG_MARK}` },
        { traceId: T.kept, body: `kept ${KEEP}` },
        // Not tied to any trace, naming the patient: no selection reaches it.
        { body: `intake ${UNTIED}`, attrs: { 'patient.id': PATIENT } },
      ]);
      await sendLogs('ingester-b', [{ traceId: T.stored, body: `tenant b ${OTHER_TENANT}`, attrs: { 'patient.id': PATIENT } }]);
      assert.equal(ingestor.getStats().acceptedLogs, 8, 'the exporter delivered every record');
      // Into the store; what follows stays in the WALs.
      await ingestor.drain();
      assert.equal(ingestor.getStats().storedLogs, 8);
      // Acknowledged, so in the WAL (fsynced), not yet in the store.
      const sent = await otlp.inject({
        method: 'POST',
        url: '/v1/traces',
        payload: JSON.stringify({ resourceSpans: [resource('clinic-api', patientTrace(T.wal).slice(0, 2))] }),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens.get('ingester-a')}` },
      });
      assert.equal(sent.statusCode, 200, sent.body);
      await sendLogs('ingester-a', [{ traceId: T.wal, body: `in the WAL ${LOG_MARK}` }]);
      assert.deepEqual([ingestor.getStats().acceptedLogs, ingestor.getStats().storedLogs], [9, 8], 'the last record waits in the logs WAL');
    });

    /**
     * Log records through the OpenTelemetry logs SDK and its OTLP/HTTP JSON
     * exporter, each tied to a trace by a span context (or to none), at the
     * spans' time.
     */
    async function sendLogs(as: string, records: { traceId?: string; body: string; attrs?: Record<string, string> }[]): Promise<void> {
      const url = `http://127.0.0.1:${(otlp.server.address() as AddressInfo).port}/v1/logs`;
      const exporter = new OTLPLogExporter({ url, headers: { authorization: `Bearer ${tokens.get(as)}` } });
      const provider = new LoggerProvider({ resource: resourceFromAttributes({ 'service.name': 'clinic-api' }), processors: [new BatchLogRecordProcessor({ exporter })] });
      const logger = provider.getLogger('clinic-log', '1.0.0');
      const at = new Date(Number(NOW / 1_000_000n) - 120_000);
      for (const r of records) {
        const context = r.traceId ? trace.setSpanContext(ROOT_CONTEXT, { traceId: r.traceId, spanId: hex(8), traceFlags: TraceFlags.SAMPLED }) : ROOT_CONTEXT;
        logger.emit({ context, timestamp: at, severityNumber: SeverityNumber.INFO, severityText: 'INFO', body: r.body, attributes: r.attrs ?? {} });
      }
      await provider.forceFlush();
      await provider.shutdown();
    }

    /** A trace's log records, as a viewer reads them: their bodies. */
    const traceLogs = async (traceId: string, as = 'viewer-a') => {
      const r = await call('GET', `/api/sightline/traces/${traceId}/logs?start=${START_S}&end=${END_S}`, as);
      assert.equal(r.statusCode, 200, r.body);
      return (r.json() as { logs: { bodyText: string }[] }).logs.map((l) => l.bodyText).sort();
    };
    /** Every log record of the range, as a viewer reads them: their bodies. */
    const allLogs = async (as = 'viewer-a') => {
      const r = await call('GET', `/api/sightline/logs?start=${START_S}&end=${END_S}&limit=1000`, as);
      assert.equal(r.statusCode, 200, r.body);
      return (r.json() as { logs: { bodyText: string }[] }).logs.map((l) => l.bodyText).sort();
    };

    after(async () => {
      await app?.close();
      await otlp?.close();
      await erasures?.close();
      await ingestor?.stop();
      await audit?.close();
      await closeStore?.();
      rmSync(dir, { recursive: true, force: true });
    });

    const scan = (needles: string[]) => scanForBytes([dir, ...engineDirs], needles);

    /** Polls an erasure until it is no longer pending or running. */
    async function finished(id: string, timeoutMs = 300_000): Promise<ErasureStatus> {
      const deadline = Date.now() + timeoutMs;
      const states = new Set<string>();
      for (;;) {
        const r = await call('GET', `/api/sightline/erasures/${id}`, 'admin-a');
        assert.equal(r.statusCode, 200, r.body);
        const op = r.json() as ErasureStatus;
        states.add(op.phase ? `${op.state}:${op.phase}` : op.state);
        if (op.state === 'complete' || op.state === 'failed') return op;
        assert.ok(Date.now() < deadline, `erasure ${id} still ${op.state} (${op.phase}, ${op.partsLeft} parts) after ${timeoutMs} ms; seen ${[...states]}`);
        await sleep(200);
      }
    }

    it('sees the planted value on disk before erasure: in the engine parts (decompressed) and in the WAL', async () => {
      const engine = await scanForBytes(engineDirs, [MARK]);
      assert.ok(engine.compressedFiles > 0, 'the scan decompressed ClickHouse blocks');
      assert.ok(engine.hits.length > 0, `the scan sees the value in the engine's files (${engine.files} files, ${engine.decompressedBytes} bytes decompressed)`);
      const wal = await scanForBytes([path.join(dir, 'wal')], [MARK]);
      assert.ok(wal.hits.length > 0, 'the spans not yet stored are in the WAL');
      // The logs table's parts hold the log records' value, and the logs WAL the record not yet stored.
      const logs = await scanForBytes(engineDirs, [LOG_MARK, UNTIED]);
      assert.ok(logs.hits.some((h) => h.needle === LOG_MARK), `the scan sees the log records' value in the engine's files (${logs.files} files)`);
      assert.ok(logs.hits.some((h) => h.needle === UNTIED), 'and the untied record');
      const logWal = await scanForBytes([path.join(dir, 'wal', 'logs')], [LOG_MARK]);
      assert.ok(logWal.hits.length > 0, 'the log record not yet stored is in the logs WAL');
      assert.deepEqual(await traceLogs(T.stored), ['chart closed', `chart of ${LOG_MARK} opened`]);
    });

    it('refuses viewers, ingesters and admins of another tenant, who change nothing', async () => {
      const body = { traceIds: [T.kept] };
      assert.equal((await call('POST', '/api/sightline/erasures', undefined, { body })).statusCode, 401);
      assert.equal((await call('POST', '/api/sightline/erasures', 'viewer-a', { body })).statusCode, 403);
      assert.equal((await call('POST', '/api/sightline/erasures', 'ingester-a', { body })).statusCode, 403);
      assert.equal((await call('POST', '/api/sightline/erasures', 'admin-b', { body, tenant: 'a' })).statusCode, 403);
      assert.equal((await call('POST', '/api/sightline/erasures', 'admin-b', { body: { q: QUERY, start: START_S, end: END_S }, tenant: 'a' })).statusCode, 403);
      const kept = await call('GET', `/api/v2/traces/${T.kept}`, 'viewer-a');
      assert.equal(kept.statusCode, 200);
      assert.ok(kept.body.includes(KEEP));
      const list = await call('GET', '/api/sightline/erasures', 'admin-b');
      assert.deepEqual(list.json(), { erasures: [] });
    });

    it('refuses malformed requests with 400', async () => {
      for (const body of [undefined, {}, { traceIds: [] }, { traceIds: ['xyz'] }, { q: QUERY }, { q: QUERY, start: END_S, end: START_S }, { traceIds: [T.kept], q: QUERY }, { traceIds: [T.kept], start: START_S, end: END_S }, { traceIds: [T.kept], dryrun: true }]) {
        const r = await call('POST', '/api/sightline/erasures', 'admin-a', body === undefined ? {} : { body });
        assert.equal(r.statusCode, 400, `${JSON.stringify(body)}: ${r.body}`);
      }
    });

    let dryRunId = '';
    it('answers a dry run with exact counts, including spans that were still in the WAL, and erases nothing', async () => {
      const r = await call('POST', '/api/sightline/erasures', 'admin-a', { body: { q: QUERY, start: START_S, end: END_S, dryRun: true } });
      assert.equal(r.statusCode, 200, r.body);
      const op = r.json() as ErasureStatus;
      dryRunId = op.id;
      assert.equal(op.state, 'complete');
      assert.equal(op.dryRun, true);
      assert.equal(op.tenant, 'a');
      // T.stored (3 spans, 2 log records) and T.wal (2 spans and 1 log record, drained from the WALs by the request).
      assert.deepEqual([op.traces, op.spans, op.logRecords], [2, 5, 3]);
      assert.deepEqual(op.notCovered, NOT_COVERED, 'the answer says what the erasure does not reach');
      assert.match(op.notCovered[0], /^log records not tied to an erased trace \(without a trace id/);
      assert.ok(!JSON.stringify(op).includes(PATIENT), 'the answer does not repeat the selection');
      // A structural query, evaluated in process over candidate traces: the same two.
      const structural = (await call('POST', '/api/sightline/erasures', 'admin-a', { body: { q: `{ } > { span.patient.id = "${PATIENT}" }`, start: START_S, end: END_S, dryRun: true } })).json() as ErasureStatus;
      assert.deepEqual([structural.traces, structural.spans, structural.logRecords], [2, 5, 3]);
      // The all-zero id, which records without a trace carry, selects no log record.
      const byId = (await call('POST', '/api/sightline/erasures', 'admin-a', { body: { traceIds: [T.byId, hex(16), T.logsOnly, '0'], dryRun: true } })).json() as ErasureStatus;
      assert.deepEqual([byId.traces, byId.spans, byId.logRecords], [1, 1, 2]);
      assert.equal((await traceLogs(T.wal)).length, 1, 'the log record in the WAL was stored by the request');
      for (const id of [T.stored, T.wal, T.byId]) assert.equal((await call('GET', `/api/v2/traces/${id}`, 'viewer-a')).statusCode, 200, id);
    });

    let erasureId = '';
    it('erases by TraceQL: the matching traces whole, in the tenant only, and recomputes their rollup minutes', async () => {
      const r = await call('POST', '/api/sightline/erasures', 'admin-a', { body: { q: QUERY, start: START_S, end: END_S } });
      assert.equal(r.statusCode, 202, r.body);
      const accepted = r.json() as ErasureStatus;
      assert.ok(['pending', 'running'].includes(accepted.state), accepted.state);
      assert.deepEqual([accepted.traces, accepted.spans, accepted.logRecords], [2, 5, 3]);
      erasureId = accepted.id;
      const op = await finished(erasureId);
      assert.equal(op.state, 'complete', op.error);
      assert.deepEqual([op.traces, op.spans, op.spansLeft, op.logRecords, op.logRecordsLeft], [2, 5, 0, 3, 0]);
      assert.deepEqual(op.notCovered, NOT_COVERED);

      // Their log records are gone from every read; the rest stay, in both tenants.
      for (const id of [T.stored, T.wal]) assert.deepEqual(await traceLogs(id), [], id);
      assert.deepEqual(await allLogs(), [`intake ${UNTIED}`, `kept ${KEEP}`, `logs only ${LOG_MARK}`, `lookup ${LOG_MARK}`, `retry ${LOG_MARK}`]);
      assert.deepEqual(await traceLogs(T.stored, 'viewer-b'), [`tenant b ${OTHER_TENANT}`]);
      assert.ok((op.rollupMinutes ?? 0) >= 1);

      for (const id of [T.stored, T.wal]) assert.equal((await call('GET', `/api/v2/traces/${id}`, 'viewer-a')).statusCode, 404, id);
      const search = await call('GET', `/api/search?q=${encodeURIComponent(QUERY)}&start=${START_S}&end=${END_S}`, 'viewer-a');
      assert.deepEqual((search.json() as { traces: unknown[] }).traces, []);
      const kept = await call('GET', `/api/v2/traces/${T.kept}`, 'viewer-a');
      assert.ok(kept.statusCode === 200 && kept.body.includes(KEEP));
      assert.equal((await call('GET', `/api/v2/traces/${T.byId}`, 'viewer-a')).statusCode, 200, 'not selected, not erased');
      // Tenant b's trace with the same id and patient stays whole.
      const other = await call('GET', `/api/v2/traces/${T.stored}`, 'viewer-b');
      assert.ok(other.statusCode === 200 && other.body.includes(OTHER_TENANT), other.body);
      const searchB = await call('GET', `/api/search?q=${encodeURIComponent(QUERY)}&start=${START_S}&end=${END_S}`, 'viewer-b');
      assert.equal((searchB.json() as { traces: unknown[] }).traces.length, 1);

      // The rollup answers as the spans do: the erased spans are no longer counted.
      const range = { startNs: (NOW / MINUTE - 10n) * MINUTE, endNs: (NOW / MINUTE + 2n) * MINUTE };
      const byName = async (rawOnly: boolean) => {
        const { series, source } = await queryMetrics(compileQuery('{ resource.service.name = "clinic-api" } | count_over_time() by(name)'), store, TenantScope.of(['a']), { range, stepNs: MINUTE, rawOnly });
        return { source, series: Object.fromEntries(series.map((s) => [JSON.stringify(s.labels), s.samples.reduce((n, [, v]) => n + v, 0)])) };
      };
      const [raw, rolled] = [await byName(true), await byName(false)];
      assert.deepEqual([raw.source, rolled.source], ['spans', 'rollup']);
      assert.deepEqual(rolled.series, raw.series);
      assert.equal(Object.values(rolled.series).reduce((a, b) => a + b, 0), 4, 'T.byId, T.retried and T.kept are left');
    });

    let byIdErasure = '';
    it('erases by trace id', async () => {
      const r = await call('POST', '/api/sightline/erasures', 'admin-a', { body: { traceIds: [T.byId, T.logsOnly] } });
      assert.equal(r.statusCode, 202, r.body);
      byIdErasure = (r.json() as ErasureStatus).id;
      const op = await finished(byIdErasure);
      assert.equal(op.state, 'complete', op.error);
      assert.deepEqual([op.selection, op.traces, op.spans, op.spansLeft, op.logRecords, op.logRecordsLeft], ['traceIds', 1, 1, 0, 2, 0]);
      assert.equal((await call('GET', `/api/v2/traces/${T.byId}`, 'viewer-a')).statusCode, 404);
      assert.deepEqual(await allLogs(), [`intake ${UNTIED}`, `kept ${KEEP}`, `retry ${LOG_MARK}`]);
      assert.equal((await call('GET', `/api/sightline/erasures/${byIdErasure}`, 'admin-b')).statusCode, 404, "another tenant's admin does not see it");
      const list = (await call('GET', '/api/sightline/erasures', 'admin-a')).json() as { erasures: ErasureStatus[] };
      assert.deepEqual(
        list.erasures.map((e) => e.id),
        [byIdErasure, erasureId, list.erasures[2].id, list.erasures[3].id, dryRunId],
      );
    });

    it('removes, when asked again, the parts an erasure that did not wait for the disk left behind', async () => {
      // As if an erasure had been stopped while it waited: rows gone, replaced parts still on disk.
      const first = await store.eraseTraces(TenantScope.of(['a']), [Buffer.from(T.retried, 'hex')], { awaitRemoval: false });
      assert.deepEqual([first.traces, first.spans, first.logRecords, first.logRecordsLeft], [1, 1, 1, 0]);
      const r = await call('POST', '/api/sightline/erasures', 'admin-a', { body: { traceIds: [T.retried] } });
      assert.equal(r.statusCode, 202, r.body);
      const op = await finished((r.json() as ErasureStatus).id);
      assert.equal(op.state, 'complete', op.error);
      assert.deepEqual([op.traces, op.spans, op.logRecords], [0, 0, 0]);
      assert.deepEqual(await allLogs(), [`intake ${UNTIED}`, `kept ${KEEP}`]);
    });

    it('leaves no byte of the erased value anywhere in the data directories once complete, and keeps the rest', async () => {
      const after = await scan([MARK, LOG_MARK, KEEP, OTHER_TENANT, UNTIED]);
      const left = after.hits.filter((h) => h.needle === MARK || h.needle === LOG_MARK);
      assert.deepEqual(left, [], `the erased values are still on disk (${after.files} files scanned)`);
      // Out of reach, as the answers said: the record with no trace id.
      assert.ok(after.hits.some((h) => h.needle === UNTIED), 'the untied log record is kept, and visible to the scan');
      // The same scan still sees what was kept, in both tenants.
      assert.ok(after.hits.some((h) => h.needle === KEEP), 'the kept trace is visible to the scan');
      assert.ok(after.hits.some((h) => h.needle === OTHER_TENANT), "tenant b's trace is visible to the scan");
    });

    it('records each erasure in the audit trail: who, which tenant, the selection, and the counts', async () => {
      let records: AuditRecord[] = [];
      const deadline = Date.now() + 30_000;
      for (;;) {
        records = await store.allAudit();
        if (records.filter((r) => r.action === 'erasure.complete').length >= 2 || Date.now() > deadline) break;
        await sleep(100);
      }
      const request = records.find((r) => r.action === 'POST /api/sightline/erasures' && r.detail.erasure === erasureId);
      assert.ok(request, JSON.stringify(records.filter((r) => r.action.includes('erasure'))));
      assert.equal(request.identity, 'token:admin-a');
      assert.deepEqual(request.tenants, ['a']);
      assert.equal(request.status, 202);
      assert.equal(request.results, 2);
      assert.deepEqual(
        { ...request.detail },
        { selection: 'traceql', q: QUERY, start: START_S, end: END_S, dryRun: false, erasure: erasureId, traces: 2, spans: 5, logRecords: 3 },
      );
      const outcome = records.find((r) => r.action === 'erasure.complete' && r.detail.erasure === erasureId);
      assert.ok(outcome);
      assert.equal(outcome.identity, 'token:admin-a');
      assert.deepEqual(outcome.tenants, ['a']);
      assert.equal(outcome.detail.spansLeft, 0);
      assert.equal(outcome.detail.spans, 5);
      assert.deepEqual([outcome.detail.logRecords, outcome.detail.logRecordsLeft], [3, 0]);
      const dry = records.find((r) => r.detail.erasure === dryRunId);
      assert.equal(dry?.detail.dryRun, true);
      const byId = records.find((r) => r.action === 'POST /api/sightline/erasures' && r.detail.erasure === byIdErasure);
      assert.deepEqual(byId?.detail.traceIds, [T.byId, T.logsOnly]);
      assert.equal(byId?.detail.logRecords, 2);
      // A refused attempt is no erasure.
      assert.ok(!records.some((r) => r.identity === 'token:admin-b' && r.action === 'POST /api/sightline/erasures' && r.status < 400));
    });

    it('takes the same requests from `sightline erase`', async () => {
      await app.listen({ host: '127.0.0.1', port: 0 });
      const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      const run = async (args: string[], token: string) => {
        let stdout = '';
        let stderr = '';
        const code = await eraseCommand([...args, '--url', url], { SIGHTLINE_TOKEN: token }, (t) => void (stdout += t), (t) => void (stderr += t));
        return { code, stdout, stderr };
      };
      const dry = await run(['--tenant', 'a', '--trace-id', T.kept, '--dry-run'], tokens.get('admin-a')!);
      assert.equal(dry.code, 0, dry.stderr);
      const op = JSON.parse(dry.stdout) as ErasureStatus;
      assert.deepEqual([op.state, op.dryRun, op.traces, op.spans, op.logRecords], ['complete', true, 1, 2, 1]);
      const refused = await run(['--tenant', 'a', '--q', QUERY, '--start', String(START_S), '--end', new Date(END_S * 1000).toISOString()], tokens.get('viewer-a')!);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /refused \(403\)/);
      assert.equal((await run(['--tenant', 'a', '--q', QUERY], tokens.get('admin-a')!)).code, 2, '--q needs a range');
    });
  });
}

runErasureSuite({
  name: 'embedded chDB',
  async open(dataDir) {
    const { store } = await openEmbeddedStore({ dataDir, defaultTenant: 'single-tenant' });
    // Inside Sightline's data directory, which is scanned whole as well.
    return { store, engineDirs: [path.join(dataDir, 'store')], close: () => store.close() };
  },
});

interface TestServers {
  shards: { url: string; dir: string }[];
  cluster: string;
  stop(): Promise<void>;
}
let servers: TestServers | undefined;
const serversReady = (async () => {
  const { startClickHouseServers } = (await import(path.join(SCRIPTS, 'clickhouse-test-servers.mjs'))) as {
    startClickHouseServers(n: number, opts: object): Promise<TestServers>;
  };
  // 18.16 cannot shorten old_parts_lifetime per table: the servers are given 1 s for every table.
  servers = await startClickHouseServers(2, { mergeTree: { old_parts_lifetime: 1 } });
  return servers;
})();
// Started at import so that a failure to start fails the tests that need them, not the chDB ones.
serversReady.catch(() => undefined);
after(async () => {
  await servers?.stop();
});

for (const cluster of [false, true]) {
  runErasureSuite({
    name: cluster ? 'ClickHouse 2-shard cluster' : 'ClickHouse server',
    async open(dataDir) {
      const { shards, cluster: name } = await serversReady;
      const used = cluster ? shards : shards.slice(0, 1);
      const { store } = await openClickHouseStore({
        url: `clickhouse://default@${used.map((s) => s.url.replace(/^http:\/\//, '')).join(',')}/sightline_erasure_${cluster ? 'cluster' : 'single'}`,
        cluster: cluster ? name : undefined,
        defaultTenant: 'single-tenant',
        scratchDir: path.join(dataDir, 'scratch'),
      });
      // The server's whole directory: data, temporary files and its logs.
      return { store, engineDirs: used.map((s) => s.dir), close: () => store.close() };
    },
  });
}
