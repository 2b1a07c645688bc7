import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once, type EventEmitter } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import zipkin from 'zipkin';
import { HttpLogger } from 'zipkin-transport-http';
import { startSightline, eventually, type Sightline } from '../testkit/sightline.js';
import { canonicalAttributes, canonicalSpans, type CanonicalSpan } from '../testkit/canonical.js';
import { encodeListOfSpans } from '../testkit/zipkin-schema.js';
import { makeTokens } from '../testkit/tokens.js';

/**
 * Zipkin v2 ingest against a real Sightline: spans sent by the real
 * `zipkin` Tracer through `zipkin-transport-http` (JSON v2), and protobuf
 * bodies built from zipkin.proto, come back through the Tempo API field by
 * field as the OpenTelemetry Zipkin translation maps them (docs/api.md).
 */

const { Tracer, BatchRecorder, ExplicitContext, Annotation, InetAddress, TraceId, option, jsonEncoder } = zipkin;

type Obj = Record<string, any>;

const nowUs = () => BigInt(Date.now()) * 1000n;
const str = (key: string, value: string) => ({ key, value: { stringValue: value } });
const int = (key: string, value: number) => ({ key, value: { intValue: String(value) } });
const bool = (key: string, value: boolean) => ({ key, value: { boolValue: value } });

/** A span as the Tempo API returns it, in canonical form, with Zipkin's defaults for what is not given. */
function expectedSpan(p: {
  resource: Obj[];
  scope?: { name: string; version: string };
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startUs: bigint;
  durationUs: bigint;
  attributes?: Obj[];
  events?: { timeUs: bigint; name: string }[];
  status?: { code: number; message: string };
}): CanonicalSpan {
  return {
    resource: { attributes: canonicalAttributes(p.resource), droppedAttributesCount: 0, schemaUrl: '' },
    scope: { name: p.scope?.name ?? '', version: p.scope?.version ?? '', attributes: [], droppedAttributesCount: 0, schemaUrl: '' },
    traceId: p.traceId,
    spanId: p.spanId,
    parentSpanId: p.parentSpanId ?? '',
    traceState: '',
    flags: 1,
    name: p.name,
    kind: p.kind,
    startTimeUnixNano: String(p.startUs * 1000n),
    endTimeUnixNano: String((p.startUs + p.durationUs) * 1000n),
    attributes: canonicalAttributes(p.attributes ?? []),
    droppedAttributesCount: 0,
    events: (p.events ?? []).map((e) => ({ timeUnixNano: String(e.timeUs * 1000n), name: e.name, attributes: [], droppedAttributesCount: 0 })),
    droppedEventsCount: 0,
    links: [],
    droppedLinksCount: 0,
    status: p.status ?? { code: 0, message: '' },
  };
}

/** The trace's spans through /api/v2/traces, once `count` of them are stored. */
async function traceSpans(s: Sightline, traceId: string, count: number, headers: Record<string, string> = {}): Promise<CanonicalSpan[]> {
  return eventually(async () => {
    const r = await fetch(`${s.api}/api/v2/traces/${traceId}`, { headers });
    if (r.status !== 200) return undefined;
    const spans = canonicalSpans(((await r.json()) as Obj).trace.resourceSpans, 'base64');
    return spans.length === count ? spans : undefined;
  }, 15_000, `trace ${traceId} with ${count} spans`);
}

function zipkinUrl(s: Sightline): string {
  assert.ok(s.ports.zipkin, 'the ready line names the Zipkin port');
  return `http://127.0.0.1:${s.ports.zipkin}/api/v2/spans`;
}

/**
 * One Zipkin reporter as a service has it: a Tracer, a BatchRecorder and an
 * HttpLogger sending JSON v2. What it sends is kept, as JSON, to compare with.
 */
function reporter(endpoint: string, service: string, headers: Record<string, string> = {}) {
  const logger = new HttpLogger({ endpoint, jsonEncoder: jsonEncoder.JSON_V2, httpInterval: 100, headers });
  const errors: string[] = [];
  (logger as unknown as EventEmitter).on('error', (e: Error) => errors.push(e.message));
  const sent: Obj[] = [];
  const recorder = new BatchRecorder({
    logger: {
      logSpan(span: zipkin.model.Span) {
        sent.push(JSON.parse(jsonEncoder.JSON_V2.encode(span)));
        logger.logSpan(span);
      },
    },
  });
  const tracer = new Tracer({ ctxImpl: new ExplicitContext(), recorder, localServiceName: service, traceId128Bit: true });
  /** Resolves once the logger's next POST was answered 202. */
  const delivered = () => once(logger as unknown as EventEmitter, 'success').then(([response]) => assert.equal((response as Response).status, 202));
  return { tracer, sent, errors, delivered };
}

async function post(url: string, body: Buffer | string, headers: Record<string, string>): Promise<{ status: number; text: string; headers: Headers }> {
  const r = await fetch(url, { method: 'POST', body, headers });
  return { status: r.status, text: await r.text(), headers: r.headers };
}

describe('Zipkin v2 ingest', () => {
  let s: Sightline;
  before(async () => {
    s = await startSightline({ args: ['--zipkin-port', '0', '--flush-interval', '200ms', '--max-body', '64KiB'] });
  });
  after(async () => {
    await s?.stop();
    s?.cleanup();
  });

  describe('from the zipkin Tracer through zipkin-transport-http', () => {
    let traceId: string;
    let front: ReturnType<typeof reporter>;
    let back: ReturnType<typeof reporter>;
    let t0: bigint;

    before(async () => {
      const url = zipkinUrl(s);
      front = reporter(url, 'zk-frontend');
      back = reporter(url, 'zk-inventory');
      t0 = nowUs();
      const at = (us: number) => Number(t0 + BigInt(us));
      const ft = front.tracer;
      const bt = back.tracer;
      const frontDone = front.delivered();
      const backDone = back.delivered();

      // frontend: a debug root server span, and a client call to inventory.
      const rootId = ft.createRootId(new option.Some(true), true);
      traceId = rootId.traceId;
      ft.letId(rootId, () => {
        ft.recordServiceName('zk-frontend');
        ft.recordRpc('get /checkout');
        ft.recordAnnotation(new Annotation.ServerRecv(), at(0));
        ft.recordAnnotation(new Annotation.LocalAddr({ host: new InetAddress('10.0.0.1'), port: 8080 }));
        ft.recordBinary('http.path', '/checkout');
      });
      const clientId = ft.letId(rootId, () => ft.createChildId());
      ft.letId(clientId, () => {
        ft.recordServiceName('zk-frontend');
        ft.recordRpc('get /stock');
        ft.recordAnnotation(new Annotation.ClientSend(), at(100));
        ft.recordAnnotation(new Annotation.ServerAddr({ serviceName: 'zk-inventory', host: new InetAddress('10.0.0.2'), port: 9090 }));
        ft.recordAnnotation(new Annotation.Message('retrying'), at(150));
      });

      // inventory: joins the client's span id (B3 propagation), so its server span is shared.
      const propagated = new TraceId({ traceId: clientId.traceId, parentId: clientId.parentSpanId, spanId: clientId.spanId, sampled: clientId.sampled, debug: clientId.isDebug() });
      // Tracer.join (what zipkin's HTTP server instrumentation calls) is missing from zipkin's type definitions.
      const serverId = (bt as unknown as { join(id: zipkin.TraceId): zipkin.TraceId }).join(propagated);
      bt.letId(serverId, () => {
        bt.recordServiceName('zk-inventory');
        bt.recordRpc('get /stock');
        bt.recordAnnotation(new Annotation.ServerRecv(), at(200));
        bt.recordAnnotation(new Annotation.ClientAddr({ host: new InetAddress('10.0.0.1'), port: 51000 }));
        bt.recordBinary('error', 'out of stock');
      });
      const dbId = bt.letId(serverId, () => bt.createChildId());
      bt.letId(dbId, () => {
        bt.recordServiceName('zk-inventory');
        bt.recordAnnotation(new Annotation.LocalOperationStart('select stock'), at(300));
        bt.recordBinary('db.system', 'postgresql');
        bt.recordAnnotation(new Annotation.LocalOperationStop(), at(420));
      });
      bt.letId(serverId, () => bt.recordAnnotation(new Annotation.ServerSend(), at(500)));
      ft.letId(clientId, () => ft.recordAnnotation(new Annotation.ClientRecv(), at(600)));
      ft.letId(rootId, () => ft.recordAnnotation(new Annotation.ServerSend(), at(700)));
      await Promise.all([frontDone, backDone]);
      assert.deepEqual([...front.errors, ...back.errors], []);
    });

    it('sent what the test expects: 128-bit ids, a shared server span, debug', () => {
      assert.equal(traceId.length, 32);
      assert.equal(front.sent.length, 2);
      assert.equal(back.sent.length, 2);
      const server = back.sent.find((sp) => sp.kind === 'SERVER')!;
      assert.equal(server.shared, true);
      assert.equal(server.id, front.sent.find((sp) => sp.kind === 'CLIENT')!.id);
      assert.equal(front.sent.find((sp) => sp.kind === 'SERVER')!.debug, true);
    });

    it('returns every span through /api/v2/traces, mapped field by field', async () => {
      const spans = await traceSpans(s, traceId, 4);
      const root = front.sent.find((sp) => sp.kind === 'SERVER')!;
      const client = front.sent.find((sp) => sp.kind === 'CLIENT')!;
      const shared = back.sent.find((sp) => sp.kind === 'SERVER')!;
      const local = back.sent.find((sp) => sp.kind === undefined)!;
      // The shared server half gets an id of its own, under the client half; its child follows it.
      const server = spans.find((sp) => sp.kind === 2 && sp.resource.attributes.some((a) => a.value.stringValue === 'zk-inventory'))!;
      assert.ok(server, 'the shared server span is stored');
      assert.match(server.spanId, /^[0-9a-f]{16}$/);
      assert.notEqual(server.spanId, client.id);
      const frontend = [str('service.name', 'zk-frontend')];
      const inventory = [str('service.name', 'zk-inventory')];
      const want = [
        expectedSpan({
          resource: frontend, traceId, spanId: root.id, name: 'get /checkout', kind: 2, startUs: BigInt(root.timestamp), durationUs: BigInt(root.duration),
          attributes: [str('http.path', '/checkout'), str('net.host.ip', '10.0.0.1'), int('net.host.port', 8080), bool('zipkin.debug', true)],
        }),
        expectedSpan({
          resource: frontend, traceId, spanId: client.id, parentSpanId: root.id, name: 'get /stock', kind: 3, startUs: BigInt(client.timestamp), durationUs: BigInt(client.duration),
          attributes: [str('peer.service', 'zk-inventory'), str('net.peer.ip', '10.0.0.2'), int('net.peer.port', 9090), bool('zipkin.debug', true)],
          events: [{ timeUs: t0 + 150n, name: 'retrying' }],
        }),
        expectedSpan({
          resource: inventory, traceId, spanId: server.spanId, parentSpanId: client.id, name: 'get /stock', kind: 2, startUs: BigInt(shared.timestamp), durationUs: BigInt(shared.duration),
          attributes: [str('error', 'out of stock'), str('net.peer.ip', '10.0.0.1'), int('net.peer.port', 51000), bool('zipkin.debug', true)],
          status: { code: 2, message: 'out of stock' },
        }),
        expectedSpan({
          resource: inventory, traceId, spanId: local.id, parentSpanId: server.spanId, name: 'select stock', kind: 1, startUs: BigInt(local.timestamp), durationUs: BigInt(local.duration),
          attributes: [str('db.system', 'postgresql'), bool('zipkin.debug', true)],
        }),
      ].sort((a, b) => (a.spanId < b.spanId ? -1 : 1));
      // Times as sent, in microseconds, became nanoseconds.
      assert.equal(BigInt(shared.timestamp), t0 + 200n);
      assert.equal(BigInt(shared.duration), 300n);
      assert.deepEqual(spans, want);
    });

    it('finds the trace by tag search and TraceQL, rooted at the frontend', async () => {
      const start = Math.floor(Date.now() / 1000) - 600;
      const end = Math.floor(Date.now() / 1000) + 60;
      const r = await fetch(`${s.api}/api/search?tags=${encodeURIComponent('service.name=zk-inventory db.system=postgresql')}&start=${start}&end=${end}`);
      assert.equal(r.status, 200);
      const found = ((await r.json()) as Obj).traces as Obj[];
      assert.equal(found.length, 1);
      assert.equal(found[0].traceID, traceId.replace(/^0+/, ''));
      assert.equal(found[0].rootServiceName, 'zk-frontend');
      assert.equal(found[0].rootTraceName, 'get /checkout');
      const q = async (traceql: string) => {
        const res = await fetch(`${s.api}/api/search?q=${encodeURIComponent(traceql)}&start=${start}&end=${end}`);
        assert.equal(res.status, 200, traceql);
        return (((await res.json()) as Obj).traces as Obj[]).map((t) => t.traceID);
      };
      assert.deepEqual(await q('{ resource.service.name = "zk-inventory" && status = error && kind = server }'), [traceId.replace(/^0+/, '')]);
      assert.deepEqual(await q('{ span.peer.service = "zk-inventory" && kind = client && span.net.peer.port = 9090 }'), [traceId.replace(/^0+/, '')]);
      assert.deepEqual(await q('{ resource.service.name = "zk-inventory" && kind = client }'), []);
    });

    it('serves the same trace through the Jaeger API (/jaeger/api/traces/{id}: at the root, that path is Tempo\'s)', async () => {
      const r = await fetch(`${s.api}/jaeger/api/traces/${traceId}`);
      assert.equal(r.status, 200);
      const trace = ((await r.json()) as Obj).data[0] as Obj;
      assert.equal(trace.traceID, traceId);
      const bySpan = (name: string, kind: string) => trace.spans.find((sp: Obj) => sp.operationName === name && sp.tags.some((tag: Obj) => tag.key === 'span.kind' && tag.value === kind));
      const client = front.sent.find((sp) => sp.kind === 'CLIENT')!;
      const shared = back.sent.find((sp) => sp.kind === 'SERVER')!;
      const jClient = bySpan('get /stock', 'client');
      const jServer = bySpan('get /stock', 'server');
      assert.equal(trace.spans.length, 4);
      assert.equal(jClient.spanID, client.id);
      assert.deepEqual(jServer.references, [{ refType: 'CHILD_OF', traceID: traceId, spanID: client.id }]);
      assert.equal(jServer.startTime, shared.timestamp);
      assert.equal(jServer.duration, shared.duration);
      assert.equal(trace.processes[jServer.processID].serviceName, 'zk-inventory');
      assert.equal(trace.processes[jClient.processID].serviceName, 'zk-frontend');
      assert.deepEqual(jClient.logs, [{ timestamp: client.annotations[0].timestamp, fields: [{ key: 'event', type: 'string', value: 'retrying' }] }]);
      assert.ok(jClient.tags.some((tag: Obj) => tag.key === 'peer.service' && tag.value === 'zk-inventory'));
    });
  });

  describe('protobuf bodies built from zipkin.proto', () => {
    // A 64-bit trace id: stored padded to 128 bits.
    const trace64 = randomBytes(8).toString('hex');
    const traceId = `0000000000000000${trace64}`;
    const [gateway, producer, consumer] = [randomBytes(8), randomBytes(8), randomBytes(8)].map((b) => b.toString('hex'));
    const t0 = nowUs();

    it('answers 202 with no body, as Zipkin does', async () => {
      const body = encodeListOfSpans([
        {
          traceId: trace64, id: gateway, kind: 'SERVER', name: 'post /orders', timestamp: t0, duration: 9000n,
          localEndpoint: { serviceName: 'pb-gateway', ipv4: [192, 168, 1, 10], port: 443 },
          remoteEndpoint: { ipv6: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01], port: 55000 },
          annotations: [{ timestamp: t0 + 10n, value: 'auth ok' }, { timestamp: t0 + 20n, value: 'validated|{"items":3,"rush":true}|0' }],
          tags: { 'http.method': 'POST', 'host.name': 'gw-1', 'otel.status_code': 'OK', 'otel.scope.name': 'brave', 'otel.scope.version': '6.0' },
          debug: true,
        },
        {
          traceId: trace64, id: producer, parentId: gateway, kind: 'PRODUCER', name: 'send orders', timestamp: t0 + 100n, duration: 400n,
          localEndpoint: { serviceName: 'pb-gateway' }, remoteEndpoint: { serviceName: 'kafka' },
          tags: { 'messaging.system': 'kafka', 'span.kind': 'ignored: the kind is set' },
        },
        {
          traceId: trace64, id: consumer, parentId: producer, kind: 'CONSUMER', name: 'receive orders', timestamp: t0 + 700n, duration: 50n,
          localEndpoint: { serviceName: 'pb-worker' }, tags: { error: 'true' },
        },
      ]);
      const r = await post(zipkinUrl(s), body, { 'content-type': 'application/x-protobuf' });
      assert.deepEqual([r.status, r.text], [202, '']);
    });

    it('stores the spans as the translation maps them', async () => {
      const spans = await traceSpans(s, traceId, 3);
      const want = [
        expectedSpan({
          resource: [str('service.name', 'pb-gateway'), str('host.name', 'gw-1')], scope: { name: 'brave', version: '6.0' },
          traceId, spanId: gateway, name: 'post /orders', kind: 2, startUs: t0, durationUs: 9000n,
          attributes: [str('http.method', 'POST'), str('net.host.ip', '192.168.1.10'), int('net.host.port', 443), str('net.peer.ip', '2001:db8::1'), int('net.peer.port', 55000), bool('zipkin.debug', true)],
          events: [{ timeUs: t0 + 10n, name: 'auth ok' }, { timeUs: t0 + 20n, name: 'validated' }],
          status: { code: 1, message: '' },
        }),
        expectedSpan({
          resource: [str('service.name', 'pb-gateway')], traceId, spanId: producer, parentSpanId: gateway, name: 'send orders', kind: 4, startUs: t0 + 100n, durationUs: 400n,
          attributes: [str('messaging.system', 'kafka'), str('span.kind', 'ignored: the kind is set'), str('peer.service', 'kafka')],
        }),
        expectedSpan({
          resource: [str('service.name', 'pb-worker')], traceId, spanId: consumer, parentSpanId: producer, name: 'receive orders', kind: 5, startUs: t0 + 700n, durationUs: 50n,
          status: { code: 2, message: '' },
        }),
      ].sort((a, b) => (a.spanId < b.spanId ? -1 : 1));
      // The collector's event encoding is read back with its attributes.
      want.find((sp) => sp.spanId === gateway)!.events[1].attributes = canonicalAttributes([int('items', 3), bool('rush', true)]);
      assert.deepEqual(spans, want);
    });

    it('takes gzip bodies, JSON and protobuf', async () => {
      const trace = randomBytes(16).toString('hex');
      const span = (id: string) => ({ traceId: trace, id, name: 'gz', timestamp: Number(nowUs()), duration: 5, localEndpoint: { serviceName: 'gz-svc' } });
      const json = await post(zipkinUrl(s), gzipSync(JSON.stringify([span('00000000000000a1')])), { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      const proto = await post(zipkinUrl(s), gzipSync(encodeListOfSpans([{ traceId: trace, id: '00000000000000a2', timestamp: nowUs(), localEndpoint: { serviceName: 'gz-svc' } }])), {
        'content-type': 'application/x-protobuf',
        'content-encoding': 'gzip',
      });
      assert.deepEqual([json.status, proto.status], [202, 202]);
      assert.deepEqual((await traceSpans(s, trace, 2)).map((sp) => sp.spanId), ['00000000000000a1', '00000000000000a2']);
    });
  });

  describe('bad input', () => {
    const status = async () => ((await (await fetch(`${s.api}/api/sightline/status`)).json()) as Obj).ingest;

    it('answers 400 with the reason, stores nothing of it, and counts it', async () => {
      const before = (await status()).zipkin;
      const url = zipkinUrl(s);
      const json = { 'content-type': 'application/json' };
      const bad = await post(url, '[{"traceId": "abc", "id": ', json);
      assert.equal(bad.status, 400);
      assert.match(bad.text, /^invalid JSON: /);
      assert.equal(bad.headers.get('content-type'), 'text/plain; charset=utf-8');
      const notList = await post(url, '{"spans": []}', json);
      assert.deepEqual([notList.status, notList.text], [400, 'a Zipkin v2 request is a JSON array of spans\n']);
      const typed = await post(url, '[{"traceId": "abc", "id": "1", "timestamp": "yesterday"}]', json);
      assert.deepEqual([typed.status, typed.text], [400, 'span 0 timestamp must be a whole number of microseconds\n']);
      const body = encodeListOfSpans([{ traceId: randomBytes(16).toString('hex'), id: randomBytes(8).toString('hex'), timestamp: nowUs() }]);
      const truncated = await post(url, body.subarray(0, body.length - 4), { 'content-type': 'application/x-protobuf' });
      assert.deepEqual([truncated.status, truncated.text], [400, 'protobuf: message is truncated or a length runs past its end\n']);
      const empty = await post(url, '', json);
      assert.deepEqual([empty.status, empty.text], [400, 'request body is empty; send a list of Zipkin v2 spans\n']);

      // Valid JSON whose every span is unusable: 400 and nothing stored.
      const lost = randomBytes(16).toString('hex');
      const none = await post(url, JSON.stringify([{ traceId: lost, id: '00000000000000b1', name: 'no time' }]), json);
      assert.deepEqual([none.status, none.text], [400, 'all 1 spans were rejected: span timestamp is missing: a span without a start time cannot be placed in time\n']);

      // Some good, some bad: 202, the good ones stored, the bad ones named and counted.
      const mixed = randomBytes(16).toString('hex');
      const partial = await post(url, JSON.stringify([
        { traceId: mixed, id: '00000000000000c1', name: 'kept', timestamp: Number(nowUs()), duration: 10, localEndpoint: { serviceName: 'mixed' } },
        { traceId: mixed, id: '0000000000000000', name: 'zero id', timestamp: Number(nowUs()) },
      ]), json);
      assert.deepEqual([partial.status, partial.text], [202, 'accepted 1 spans; rejected 1: span id is all zero\n']);
      assert.deepEqual((await traceSpans(s, mixed, 1)).map((sp) => sp.name), ['kept']);
      // The mixed request is stored, so the earlier one would be too if it had been accepted.
      assert.equal((await fetch(`${s.api}/api/v2/traces/${lost}`)).status, 404);

      const after = (await status()).zipkin;
      assert.deepEqual(
        { malformed: after.malformedRequests - before.malformedRequests, rejected: after.rejectedSpans - before.rejectedSpans, accepted: after.acceptedSpans - before.acceptedSpans, requests: after.acceptedRequests - before.acceptedRequests },
        // invalid JSON, not a list, a mistyped field, truncated protobuf, empty body; the all-rejected request counts its span, not as malformed.
        { malformed: 5, rejected: 2, accepted: 1, requests: 1 },
      );
    });

    it('refuses other content types, Zipkin v1, other paths and bodies over --max-body', async () => {
      const base = zipkinUrl(s).replace('/api/v2/spans', '');
      const text = await post(`${base}/api/v2/spans`, '[]', { 'content-type': 'text/plain' });
      assert.equal(text.status, 415);
      assert.match(text.text, /Zipkin v2 spans are application\/json or application\/x-protobuf/);
      const v1 = await post(`${base}/api/v1/spans`, '[]', { 'content-type': 'application/json' });
      assert.deepEqual([v1.status, v1.text], [404, 'Zipkin v1 spans are not taken; send Zipkin v2 to POST /api/v2/spans\n']);
      assert.equal((await fetch(`${base}/v1/traces`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })).status, 404);
      // The OTLP listener's body limit: declared, or only found out while reading (chunked), and after gzip.
      const big = Buffer.from(JSON.stringify([{ traceId: 'a1', id: 'b1', timestamp: 1, name: 'x'.repeat(80 * 1024) }]));
      const declared = await post(`${base}/api/v2/spans`, big, { 'content-type': 'application/json' });
      assert.deepEqual([declared.status, declared.text], [413, 'request body is larger than the limit (--max-body)\n']);
      const chunked = await fetch(`${base}/api/v2/spans`, { method: 'POST', body: new Blob([big]).stream(), headers: { 'content-type': 'application/json' }, duplex: 'half' } as RequestInit);
      assert.equal(chunked.status, 413);
      const bomb = await post(`${base}/api/v2/spans`, gzipSync(big), { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      assert.equal(bomb.status, 413);
      assert.match(bomb.text, /^decompressed body is larger than the limit/);
    });

    it('shows the listener among the listeners', async () => {
      const ingest = await status();
      assert.equal(typeof ingest.listeners.zipkin.accepted, 'number');
      assert.ok(ingest.listeners.zipkin.accepted > 0);
    });
  });
});

describe('Zipkin listener configuration and access', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sightline-zipkin-'));
  const made = makeTokens([
    ['writer', 'ingester', 'lab'],
    ['lab-reader', 'viewer', 'lab'],
    ['other-reader', 'viewer', 'other'],
  ]);
  let plain: Sightline;
  let secured: Sightline;
  before(async () => {
    const config = path.join(dir, 'sightline.yaml');
    const yaml = ['tokens:', ...made.entries.flatMap((t) => [`  - name: ${t.name}`, `    id: "${t.id}"`, `    hash: "${t.hash}"`, `    roles: [${t.roles.join(', ')}]`, `    tenants: [${t.tenants.join(', ')}]`])].join('\n');
    writeFileSync(config, `${yaml}\n`);
    [plain, secured] = await Promise.all([startSightline(), startSightline({ args: ['--config', config, '--zipkin-port', '0', '--flush-interval', '200ms'] })]);
  });
  after(async () => {
    await Promise.all([plain?.stop(), secured?.stop()]);
    plain?.cleanup();
    secured?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });
  const bearer = (name: string) => ({ authorization: `Bearer ${made.tokens.get(name)}` });

  it('is off unless --zipkin-port is set', async () => {
    assert.equal(plain.ports.zipkin, undefined);
    assert.deepEqual(Object.keys(plain.ports).sort(), ['http', 'otlpGrpc', 'otlpHttp']);
    const ingest = ((await (await fetch(`${plain.api}/api/sightline/status`)).json()) as Obj).ingest;
    assert.equal(ingest.zipkin, undefined);
    assert.equal(ingest.listeners.zipkin, undefined);
  });

  it('asks for an ingester token, as OTLP does, and stores under its tenant', async () => {
    const url = zipkinUrl(secured);
    const trace = randomBytes(16).toString('hex');
    const body = JSON.stringify([{ traceId: trace, id: '00000000000000d1', name: 'tenant span', timestamp: Number(nowUs()), duration: 7, localEndpoint: { serviceName: 'lab-svc' } }]);
    const anonymous = await post(url, body, { 'content-type': 'application/json' });
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Bearer/);
    const reader = await post(url, body, { 'content-type': 'application/json', ...bearer('lab-reader') });
    assert.equal(reader.status, 403);
    const wrongTenant = await post(url, body, { 'content-type': 'application/json', 'x-scope-orgid': 'other', ...bearer('writer') });
    assert.equal(wrongTenant.status, 403);

    // The real reporter, with the token in its headers.
    const r = reporter(url, 'lab-svc', bearer('writer'));
    const done = r.delivered();
    const id = r.tracer.createRootId(new option.Some(true));
    r.tracer.letId(id, () => {
      r.tracer.recordServiceName('lab-svc');
      r.tracer.recordAnnotation(new Annotation.LocalOperationStart('nightly job'));
      r.tracer.recordAnnotation(new Annotation.LocalOperationStop());
    });
    await done;
    assert.deepEqual(r.errors, []);
    const spans = await traceSpans(secured, id.traceId, 1, { ...bearer('lab-reader'), 'x-scope-orgid': 'lab' });
    assert.equal(spans[0].name, 'nightly job');
    assert.equal((await fetch(`${secured.api}/api/v2/traces/${id.traceId}`, { headers: { ...bearer('other-reader'), 'x-scope-orgid': 'other' } })).status, 404);
  });
});
