import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { context, trace } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { BatchLogRecordProcessor, InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor, type LogRecordExporter, type ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPLogExporter as HttpJsonLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as HttpProtoLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPLogExporter as GrpcLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPTraceExporter as HttpJsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as HttpProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as GrpcTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import { eventually, startSightline, type Sightline } from '../testkit/sightline.js';
import { AsyncLocalStorageContextManager } from '../testkit/context-manager.js';
import { makeTokens } from '../testkit/tokens.js';
import { scanForBytes, type ScanResult } from '../testkit/disk-scan.js';
import { decodeToObject, encode, otlp } from '../testkit/otlp-schema.js';
import { LOGS_SERVICE } from '../src/receivers/index.js';

/**
 * OTLP logs end to end, with the real OpenTelemetry JS logs SDK and its
 * three OTLP log exporters (HTTP JSON, HTTP protobuf, gRPC) against a real
 * Sightline with tokens for two tenants and redaction rules:
 *  - what the SDK sent comes back through /api/sightline/logs field by
 *    field, records logged inside an active span carrying that span's
 *    trace and span ids, and a trace's records through
 *    /api/sightline/traces/{id}/logs, by span;
 *  - filters and the histogram answer what was sent, and nothing else;
 *  - a tenant reads only its own records;
 *  - a planted patient value in a log body and in an attribute is never
 *    stored (the WAL, the store's parts decompressed, the logs) nor
 *    answered, while a canary beside it is found;
 *  - invalid records are refused alone, as OTLP partial success, on all
 *    three transports.
 */

const hex = (n: number) => randomBytes(n).toString('hex');
const digits = (n: number) => Array.from({ length: n }, () => randomInt(10)).join('');
const PHI = {
  mrn: `MRN-${digits(8)}`,
  ssn: `${randomInt(100, 900)}-${digits(2)}-${digits(4)}`,
  email: `pt.${hex(4)}@mail.example.com`,
  patient: `P-${hex(5)}`,
};
const CANARY = `canary-${hex(8)}`;
const SECRET_B = `only-tenant-b-${hex(6)}`;

const EXPORTERS = ['http-json', 'http-proto', 'grpc'] as const;
type Kind = (typeof EXPORTERS)[number];

const { tokens, entries } = makeTokens([
  ['ingest-a', 'ingester', 'clinic-a'],
  ['view-a', 'viewer', 'clinic-a'],
  ['ingest-b', 'ingester', 'clinic-b'],
  ['view-b', 'viewer', 'clinic-b'],
  ['admin-a', 'admin', 'clinic-a'],
]);
const bearer = (name: string) => `Bearer ${tokens.get(name)}`;

function logExporter(kind: Kind, s: Sightline, token: string): LogRecordExporter {
  const headers = { authorization: bearer(token) };
  switch (kind) {
    case 'http-json':
      return new HttpJsonLogExporter({ url: `${s.otlpHttp}/v1/logs`, headers });
    case 'http-proto':
      return new HttpProtoLogExporter({ url: `${s.otlpHttp}/v1/logs`, headers, compression: CompressionAlgorithm.GZIP });
    case 'grpc': {
      const metadata = new grpc.Metadata();
      metadata.set('authorization', headers.authorization);
      return new GrpcLogExporter({ url: s.otlpGrpc, metadata, compression: CompressionAlgorithm.GZIP });
    }
  }
}

function traceExporter(kind: Kind, s: Sightline, token: string): SpanExporter {
  const headers = { authorization: bearer(token) };
  switch (kind) {
    case 'http-json':
      return new HttpJsonTraceExporter({ url: `${s.otlpHttp}/v1/traces`, headers });
    case 'http-proto':
      return new HttpProtoTraceExporter({ url: `${s.otlpHttp}/v1/traces`, headers });
    case 'grpc': {
      const metadata = new grpc.Metadata();
      metadata.set('authorization', headers.authorization);
      return new GrpcTraceExporter({ url: s.otlpGrpc, metadata });
    }
  }
}

interface Sent {
  records: ReadableLogRecord[];
  traceId: string;
  rootSpanId: string;
  childSpanId: string;
}

/**
 * A service's spans and logs: records inside the root span, inside its
 * child, and outside any span; a planted patient value in a body and in
 * attributes, and a canary beside them.
 */
async function sendLogs(kind: Kind, s: Sightline): Promise<Sent> {
  const resource = resourceFromAttributes({ 'service.name': `billing-${kind}`, region: 'eu', canary: CANARY });
  const captured = new InMemoryLogRecordExporter();
  const logs = new LoggerProvider({ resource, processors: [new SimpleLogRecordProcessor({ exporter: captured }), new BatchLogRecordProcessor({ exporter: logExporter(kind, s, 'ingest-a') })] });
  const tracing = new BasicTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(traceExporter(kind, s, 'ingest-a'))] });
  const logger = logs.getLogger('billing-log', '3.1.0');
  const tracer = tracing.getTracer('billing');

  const root = tracer.startSpan(`checkout ${kind}`);
  const rootCtx = trace.setSpan(context.active(), root);
  const child = tracer.startSpan('charge card', {}, rootCtx);
  context.with(rootCtx, () => {
    logger.emit({ severityNumber: SeverityNumber.INFO, severityText: 'INFO', body: `checkout started for ${kind}`, attributes: { 'order.id': 42, kind } });
    logger.emit({
      severityNumber: SeverityNumber.ERROR,
      severityText: 'ERROR',
      body: `chart of patient ${PHI.mrn} is locked`,
      attributes: { 'patient.ssn': PHI.ssn, 'patient.id': PHI.patient, canary: CANARY },
    });
    context.with(trace.setSpan(context.active(), child), () => {
      for (let n = 1; n <= 2; n++) logger.emit({ severityNumber: SeverityNumber.WARN, severityText: 'WARN', body: `payment retry ${n}`, attributes: { attempt: n, 'retry.ratio': n / 4 } });
    });
  });
  // Outside any span, with a structured body holding the patient's email.
  logger.emit({ severityNumber: SeverityNumber.DEBUG, body: { event: 'intake', contact: PHI.email, lines: [1, 2] } as never, eventName: 'intake.recorded' });
  child.end();
  root.end();
  await logs.forceFlush();
  await tracing.forceFlush();
  const records = captured.getFinishedLogRecords();
  await logs.shutdown();
  await tracing.shutdown();
  assert.equal(records.length, 5);
  return { records, traceId: root.spanContext().traceId, rootSpanId: root.spanContext().spanId, childSpanId: child.spanContext().spanId };
}

const CONFIG = (dir: string) => `
tokens: ${JSON.stringify(entries)}
redaction:
  hashKeyFile: ${path.join(dir, 'redaction.key')}
  default:
    preset: healthcare
    mrnPatterns: ["MRN-[0-9]{6,10}"]
    hash: [patient.id]
`;

const ns = (t: [number, number]) => (BigInt(t[0]) * 1_000_000_000n + BigInt(t[1])).toString();

describe('OTLP logs end to end', () => {
  let dir: string;
  let dataDir: string;
  let config: string;
  let s: Sightline;
  const runs: Sightline[] = [];
  const sent = new Map<Kind, Sent>();
  let walScan: ScanResult;

  const get = async (url: string, token = 'view-a', headers: Record<string, string> = {}) => {
    const r = await fetch(`${s.api}${url}`, { headers: { authorization: bearer(token), ...headers } });
    return { status: r.status, body: (r.headers.get('content-type') ?? '').includes('json') ? ((await r.json()) as any) : await r.text() };
  };
  const search = async (q: string, token = 'view-a', extra = '') => {
    const r = await get(`/api/sightline/logs?q=${encodeURIComponent(q)}&limit=1000${extra}`, token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body as { logs: any[]; histogram: any; truncated: boolean };
  };

  before(async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager());
    dir = mkdtempSync(path.join(os.tmpdir(), 'sightline-logs-e2e-'));
    dataDir = path.join(dir, 'data');
    config = path.join(dir, 'sightline.yaml');
    writeFileSync(path.join(dir, 'redaction.key'), randomBytes(48).toString('base64'));
    chmodSync(path.join(dir, 'redaction.key'), 0o600);
    writeFileSync(config, CONFIG(dir));
    // A long flush interval keeps the acknowledged records in the WAL while it is scanned.
    s = await startSightline({ dataDir, args: ['--config', config, '--flush-interval', '60s'] });
    runs.push(s);
    for (const kind of EXPORTERS) sent.set(kind, await sendLogs(kind, s));
    walScan = await scanForBytes([path.join(dataDir, 'wal')], [...Object.values(PHI), CANARY]);
    // Stopping moves the WAL into the store; the second run serves the API.
    assert.equal(await s.stop(), 0);
    s = await startSightline({ dataDir, args: ['--config', config, '--flush-interval', '100ms'] });
    runs.push(s);
  });

  after(async () => {
    for (const r of runs) await r.stop();
    context.disable();
    rmSync(dir, { recursive: true, force: true });
  });

  it('kept the planted values out of the WAL, where the canary beside them is', () => {
    assert.deepEqual(walScan.hits.filter((h) => h.needle !== CANARY), []);
    assert.ok(walScan.hits.some((h) => h.needle === CANARY && h.in === 'raw' && h.file.includes(`${path.sep}logs${path.sep}`)), 'the canary is in the logs WAL');
  });

  for (const kind of EXPORTERS) {
    describe(`exporter ${kind}`, () => {
      const service = `billing-${kind}`;
      let got: any[];
      before(async () => {
        got = await eventually(async () => {
          const { logs } = await search(`{ resource.service.name = "${service}" }`);
          return logs.length === 5 ? logs : undefined;
        }, 20_000, `the records of ${service}`);
      });

      it('returns every record, newest first, field by field', () => {
        const { records } = sent.get(kind)!;
        const byBody = new Map(got.map((g) => [g.bodyText, g]));
        const times = got.map((g) => BigInt(g.timeUnixNano));
        assert.deepEqual(times, [...times].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0)), 'newest first');
        for (const r of records) {
          const isIntake = typeof r.body === 'object';
          const text = isIntake ? undefined : String(r.body).replace(PHI.mrn, '[REDACTED:mrn]');
          const g = isIntake ? got.find((x) => x.eventName === 'intake.recorded') : byBody.get(text!);
          assert.ok(g, `record ${text ?? 'intake'} found`);
          assert.equal(g.timeUnixNano, ns(r.hrTime));
          assert.equal(g.observedTimeUnixNano, ns(r.hrTimeObserved));
          assert.equal(g.severityNumber, r.severityNumber);
          assert.equal(g.severityText, r.severityText ?? '');
          assert.equal(g.traceId, r.spanContext?.traceId ?? '');
          assert.equal(g.spanId, r.spanContext?.spanId ?? '');
          assert.equal(g.flags, r.spanContext?.traceFlags ?? 0);
          assert.equal(g.serviceName, service);
          assert.deepEqual(g.scope, { name: 'billing-log', version: '3.1.0', attributes: [] });
          const resource = Object.fromEntries(g.resource.attributes.map((a: any) => [a.key, a.value]));
          assert.deepEqual(resource['service.name'], { stringValue: service });
          assert.deepEqual(resource.region, { stringValue: 'eu' });
          assert.deepEqual(resource.canary, { stringValue: CANARY });
          if (!isIntake) assert.deepEqual(g.body, { stringValue: text });
        }
        const info = byBody.get(`checkout started for ${kind}`);
        assert.deepEqual(info.attributes, [
          { key: 'kind', value: { stringValue: kind } },
          { key: 'order.id', value: { intValue: '42' } },
        ]);
        assert.equal(info.severity, 'info');
        const retry = byBody.get('payment retry 2');
        assert.deepEqual(retry.attributes, [
          { key: 'attempt', value: { intValue: '2' } },
          { key: 'retry.ratio', value: { doubleValue: 0.5 } },
        ]);
        assert.equal(retry.severity, 'warn');
      });

      it('attaches records logged inside an active span to that span', () => {
        const { traceId, rootSpanId, childSpanId } = sent.get(kind)!;
        const at = (body: string) => got.find((g) => g.bodyText === body);
        for (const b of [`checkout started for ${kind}`, 'chart of patient [REDACTED:mrn] is locked']) assert.deepEqual([at(b).traceId, at(b).spanId], [traceId, rootSpanId]);
        for (const b of ['payment retry 1', 'payment retry 2']) assert.deepEqual([at(b).traceId, at(b).spanId], [traceId, childSpanId]);
        const outside = got.find((g) => g.eventName === 'intake.recorded');
        assert.deepEqual([outside.traceId, outside.spanId], ['', '']);
      });

      it('redacts the planted values in the body and attributes, and says where they were', () => {
        const text = JSON.stringify(got);
        for (const v of Object.values(PHI)) assert.ok(!text.includes(v), `${v} came back from the API`);
        const chart = got.find((g) => g.severityNumber === SeverityNumber.ERROR);
        const attrs = Object.fromEntries(chart.attributes.map((a: any) => [a.key, a.value.stringValue]));
        assert.equal(chart.bodyText, 'chart of patient [REDACTED:mrn] is locked');
        assert.equal(attrs['patient.ssn'], '[REDACTED:ssn]');
        assert.match(attrs['patient.id'], /^hmac:[0-9a-f]{32}$/);
        assert.equal(attrs.canary, CANARY);
        const intake = got.find((g) => g.eventName === 'intake.recorded');
        assert.deepEqual(intake.body, {
          kvlistValue: {
            values: [
              { key: 'event', value: { stringValue: 'intake' } },
              { key: 'contact', value: { stringValue: '[REDACTED:email]' } },
              { key: 'lines', value: { arrayValue: { values: [{ intValue: '1' }, { intValue: '2' }] } } },
            ],
          },
        });
      });

      it("answers a trace's records, oldest first, by span", async () => {
        const { traceId, rootSpanId, childSpanId } = sent.get(kind)!;
        const r = await get(`/api/sightline/traces/${traceId}/logs`);
        assert.equal(r.status, 200);
        // Records of one millisecond tie on time; ties come in id order, so compare the set, and the order of times.
        assert.deepEqual(
          r.body.logs.map((l: any) => l.bodyText).sort(),
          ['chart of patient [REDACTED:mrn] is locked', `checkout started for ${kind}`, 'payment retry 1', 'payment retry 2'],
        );
        const times = r.body.logs.map((l: any) => BigInt(l.timeUnixNano));
        assert.deepEqual(times, [...times].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), 'oldest first');
        assert.deepEqual(r.body.bySpan, { [rootSpanId]: 2, [childSpanId]: 2 });
        assert.equal((await get(`/api/sightline/traces/${traceId}/logs`, 'view-b')).body.logs.length, 0, 'not to another tenant');
      });
    });
  }

  describe('filters, checked against what was sent', () => {
    const within = (q: string) => `{ resource.service.name =~ "billing-.*" && (${q}) }`;
    const bodies = async (q: string) => (await search(within(q))).logs.map((l: any) => l.bodyText).sort();
    const each = (b: string) => EXPORTERS.map(() => b);

    it('by severity, as a level or a number', async () => {
      assert.deepEqual(await bodies('severity >= warn'), [...each('chart of patient [REDACTED:mrn] is locked'), ...each('payment retry 1'), ...each('payment retry 2')].sort());
      assert.deepEqual(await bodies('severity = warn'), [...each('payment retry 1'), ...each('payment retry 2')].sort());
      assert.deepEqual(await bodies('severityNumber >= 17'), each('chart of patient [REDACTED:mrn] is locked'));
      assert.equal((await bodies('severity < info')).length, 3, 'the debug records');
    });

    it('by body, RE2 and contains', async () => {
      assert.deepEqual(await bodies('body =~ "retry [2-9]"'), each('payment retry 2'));
      assert.deepEqual(await bodies('body contains "checkout started for http"'), ['checkout started for http-json', 'checkout started for http-proto']);
      assert.deepEqual(await bodies('body =~ "intake"'), (await search(within('eventName = "intake.recorded"'))).logs.map((l: any) => l.bodyText).sort());
    });

    it('by attributes of the record and the resource', async () => {
      assert.deepEqual(await bodies('log.order.id = 42 && .kind = "grpc"'), ['checkout started for grpc']);
      assert.deepEqual(await bodies('log.retry.ratio > 0.3'), each('payment retry 2'));
      assert.equal((await bodies('.region = "eu"')).length, 15);
      assert.equal((await bodies('resource.region = "us"')).length, 0);
    });

    it('by trace and span id', async () => {
      const { traceId, childSpanId } = sent.get('http-proto')!;
      assert.deepEqual(await bodies(`trace:id = "${traceId}"`), ['chart of patient [REDACTED:mrn] is locked', 'checkout started for http-proto', 'payment retry 1', 'payment retry 2']);
      assert.deepEqual(await bodies(`span:id = "${childSpanId}"`), ['payment retry 1', 'payment retry 2']);
      assert.equal((await bodies('trace:id = nil')).length, 3);
    });

    it('counts every match over time, by severity', async () => {
      const { histogram, logs, truncated } = await search(within('severity >= info'));
      assert.equal(histogram.total, 12);
      assert.equal(logs.length, 12);
      assert.equal(truncated, false);
      const by: Record<string, number> = {};
      for (const c of histogram.cells) by[c.severity] = (by[c.severity] ?? 0) + c.count;
      assert.deepEqual(by, { info: 3, warn: 6, error: 3 });
      assert.ok(histogram.cells.every((c: any) => c.column >= 0 && c.column < histogram.columns));
      assert.equal(histogram.stepMs * histogram.columns >= histogram.endMs - histogram.startMs, true);
      const limited = await search(within('severity >= info'), 'view-a', '&limit=2');
      assert.equal(limited.logs.length, 2);
      assert.equal(limited.truncated, true);
    });

    it('refuses a query that does not parse, saying where', async () => {
      const r = await get(`/api/sightline/logs?q=${encodeURIComponent('{ body =~ "(" }')}`);
      assert.equal(r.status, 400);
      assert.match(r.body, /invalid log query: invalid regular expression .* at col 11/);
    });
  });

  describe('tenants', () => {
    before(async () => {
      const r = await fetch(`${s.otlpHttp}/v1/logs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: bearer('ingest-b') },
        body: JSON.stringify({ resourceLogs: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'billing-b' } }] }, scopeLogs: [{ logRecords: [{ body: { stringValue: SECRET_B }, severityNumber: 13 }] }] }] }),
      });
      assert.equal(r.status, 200);
      await eventually(async () => ((await search('{ }', 'view-b')).logs.length === 1 ? true : undefined), 20_000, "tenant b's record");
    });

    it('reads only its own records', async () => {
      const b = await search('{ }', 'view-b');
      assert.deepEqual(b.logs.map((l: any) => l.bodyText), [SECRET_B]);
      const a = await search('{ severity >= debug }');
      assert.equal(a.logs.length, 15);
      assert.ok(!JSON.stringify(a).includes(SECRET_B));
      assert.equal((await search(`{ body contains "${SECRET_B}" }`)).logs.length, 0);
      assert.equal((await get('/api/sightline/logs', 'view-a', { 'x-scope-orgid': 'clinic-b' })).status, 403);
    });

    it('refuses callers without an identity or the role', async () => {
      assert.equal((await fetch(`${s.api}/api/sightline/logs`)).status, 401);
      assert.equal((await get('/api/sightline/logs', 'ingest-a')).status, 403);
      const anonymous = await fetch(`${s.otlpHttp}/v1/logs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      assert.equal(anonymous.status, 401);
      const viewerWrites = await fetch(`${s.otlpHttp}/v1/logs`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: bearer('view-a') }, body: '{}' });
      assert.equal(viewerWrites.status, 403);
    });
  });

  describe('partial success', () => {
    const now = () => String(BigInt(Date.now()) * 1_000_000n);
    const request = (tag: string) => ({
      resourceLogs: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: `partial-${tag}` } }] },
          scopeLogs: [
            {
              logRecords: [
                { timeUnixNano: now(), body: { stringValue: `good ${tag}` }, traceId: Buffer.from(hex(16), 'hex') },
                { timeUnixNano: now(), body: { stringValue: `bad ${tag}` }, traceId: Buffer.from('0102', 'hex') },
              ],
            },
          ],
        },
      ],
    });
    const stored = async (tag: string) =>
      eventually(async () => {
        const { logs } = await search(`{ resource.service.name = "partial-${tag}" }`);
        return logs.length > 0 ? logs.map((l: any) => l.bodyText) : undefined;
      }, 20_000, `partial-${tag} stored`);

    it('over OTLP/HTTP protobuf: counts the record with a bad trace id, stores the other', async () => {
      const r = await fetch(`${s.otlpHttp}/v1/logs`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-protobuf', authorization: bearer('ingest-a') },
        body: encode(otlp.ExportLogsServiceRequest, request('proto')),
      });
      assert.equal(r.status, 200);
      const reply = decodeToObject(otlp.ExportLogsServiceResponse, new Uint8Array(await r.arrayBuffer()));
      assert.equal(reply.partialSuccess.rejectedLogRecords, '1');
      assert.match(reply.partialSuccess.errorMessage, /trace_id must be empty or 16 bytes, got 2/);
      assert.deepEqual(await stored('proto'), ['good proto']);
    });

    it('over OTLP/HTTP JSON', async () => {
      const body = JSON.stringify(request('json'), (_k, v) => (v && v.type === 'Buffer' ? Buffer.from(v.data).toString('hex') : v));
      const r = await fetch(`${s.otlpHttp}/v1/logs`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: bearer('ingest-a') }, body });
      assert.equal(r.status, 200);
      const reply = (await r.json()) as any;
      assert.equal(reply.partialSuccess.rejectedLogRecords, '1');
      assert.match(reply.partialSuccess.errorMessage, /traceId must be 32 hex characters/);
      assert.deepEqual(await stored('json'), ['good json']);
    });

    it('over OTLP/gRPC, and a request of only invalid records is refused whole', async () => {
      const Client = grpc.makeGenericClientConstructor(LOGS_SERVICE, 'LogsService');
      const client = new Client(s.otlpGrpc.replace(/^http:\/\//, ''), grpc.credentials.createInsecure()) as unknown as {
        Export(b: Buffer, m: grpc.Metadata, cb: (e: grpc.ServiceError | null, r?: Buffer) => void): void;
        close(): void;
      };
      const metadata = new grpc.Metadata();
      metadata.set('authorization', bearer('ingest-a'));
      const call = (body: Buffer) => new Promise<{ error?: grpc.ServiceError; response?: Buffer }>((resolve) => client.Export(body, metadata, (error, response) => resolve(error ? { error } : { response })));
      try {
        const partial = await call(encode(otlp.ExportLogsServiceRequest, request('grpc')));
        assert.equal(partial.error, undefined);
        assert.equal(decodeToObject(otlp.ExportLogsServiceResponse, partial.response!).partialSuccess.rejectedLogRecords, '1');
        assert.deepEqual(await stored('grpc'), ['good grpc']);
        const onlyBad = request('grpc-bad');
        onlyBad.resourceLogs[0].scopeLogs[0].logRecords.shift();
        const refused = await call(encode(otlp.ExportLogsServiceRequest, onlyBad));
        assert.equal(refused.error?.code, grpc.status.INVALID_ARGUMENT);
        assert.match(refused.error?.details ?? '', /all 1 log records were rejected/);
      } finally {
        client.close();
      }
    });

    it('counts acknowledged and stored records in /api/sightline/status', async () => {
      // This run took tenant b's record and the three good partial ones.
      const ingest = await eventually(async () => {
        const r = await get('/api/sightline/status', 'admin-a');
        assert.equal(r.status, 200);
        return r.body.ingest.storedLogs === r.body.ingest.acceptedLogs ? r.body.ingest : undefined;
      }, 20_000, 'every acknowledged record stored');
      assert.equal(ingest.acceptedLogs, 4);
      assert.equal(ingest.quarantinedLogs, 0);
    });
  });

  it('keeps planted values out of every file, the logs, stdout and stderr, once both runs stopped', async () => {
    for (const r of runs) await r.stop();
    const scan = await scanForBytes([dataDir], [...Object.values(PHI), CANARY]);
    assert.deepEqual(scan.hits.filter((h) => h.needle !== CANARY), [], 'planted values on disk');
    assert.ok(scan.hits.some((h) => h.needle === CANARY && h.in === 'decompressed'), `the canary is found inside compressed parts (${scan.files} files)`);
    for (const r of runs) {
      const out = JSON.stringify(r.logs) + r.stderr();
      for (const v of Object.values(PHI)) assert.ok(!out.includes(v), `${v} in the logs of Sightline ${r.pid}`);
    }
  });
});
