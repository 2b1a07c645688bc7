import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http2 from 'node:http2';
import { setTimeout as sleep } from 'node:timers/promises';
import { SpanKind } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPTraceExporter as HttpProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { startSightline, eventually, type Sightline } from '../testkit/sightline.js';
import { ConfigError, parseServeConfig } from '../src/config/index.js';
import { DEFAULT_LISTENER_LIMITS, type ListenerCounters } from '../src/receivers/index.js';

/**
 * Clients that hold connections instead of using them: slowloris headers, a
 * body trickled or stalled, bodies that declare 16 MiB and send a byte,
 * more idle sockets than a peer may hold. On each listener (OTLP/HTTP, the
 * query API, OTLP/gRPC) the server closes them within the configured
 * timeouts, or refuses them past the caps, counts what it did in
 * /api/sightline/status, and meanwhile a real OpenTelemetry SDK exporter
 * from another address still gets 200/OK, its spans queryable.
 *
 * The hostile sockets come from other loopback addresses (127.0.0.2 and
 * up, one per case) so that the per-peer cap applies to them and not to
 * the good client on 127.0.0.1.
 */

const HEADERS_MS = 2000;
const REQUEST_MS = 5000;
const IDLE_MS = 1500;
const KEEP_ALIVE_MS = 2000;
const PER_PEER = 40;
/** Node checks header and request deadlines every tenth of the shorter one (see ListenerGuard). */
const CHECK_MS = Math.min(HEADERS_MS, REQUEST_MS) / 10;
/** Scheduling slack on a loaded 2-core machine. */
const SLACK_MS = 1200;
const MAX_BODY = 16 * 1024 * 1024;

/** A raw client socket: when it was opened, when the server closed it, and what it was told. */
interface Hostile {
  socket: net.Socket;
  openedAt: number;
  closedAt: number | null;
  received: Buffer;
  closed: Promise<number>;
  /** Writes `bytes` one at a time, every `everyMs`, until the socket closes. */
  trickle(bytes: Buffer | string, everyMs: number): void;
}

const opened: Hostile[] = [];

async function connect(port: number, from: string): Promise<Hostile> {
  const socket = net.connect({ host: '127.0.0.1', port, localAddress: from });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => {});
  const h: Hostile = {
    socket,
    openedAt: Date.now(),
    closedAt: null,
    received: Buffer.alloc(0),
    closed: new Promise((resolve) =>
      socket.once('close', () => {
        h.closedAt = Date.now();
        resolve(h.closedAt - h.openedAt);
      }),
    ),
    trickle(bytes, everyMs) {
      const data = Buffer.from(bytes);
      let i = 0;
      const t = setInterval(() => {
        if (socket.destroyed || !socket.writable || i >= data.length) return clearInterval(t);
        socket.write(data.subarray(i, ++i));
      }, everyMs);
      socket.once('close', () => clearInterval(t));
    },
  };
  socket.on('data', (d) => (h.received = Buffer.concat([h.received, d])));
  opened.push(h);
  return h;
}

const connectMany = (n: number, port: number, from: string) => Promise.all(Array.from({ length: n }, () => connect(port, from)));

const status = async (s: Sightline) => ((await (await fetch(`${s.api}/api/sightline/status`)).json()) as { ingest: { overloadRefusals: number; listeners: Record<'otlpHttp' | 'otlpGrpc' | 'api', ListenerCounters> } }).ingest;

/** A small trace made by the SDK, exported by `exporter`; resolves to its trace id once the export succeeded. */
async function goodExport(exporter: SpanExporter, service: string): Promise<{ traceId: string; result: ExportResult; ms: number }> {
  const captured = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': service }), spanProcessors: [new SimpleSpanProcessor(captured)] });
  const tracer = provider.getTracer('hostile-test');
  const root = tracer.startSpan('GET /good', { kind: SpanKind.SERVER });
  root.setAttribute('case', service);
  root.end();
  const spans: ReadableSpan[] = captured.getFinishedSpans();
  const started = Date.now();
  const result = await new Promise<ExportResult>((resolve) => exporter.export(spans, resolve));
  const ms = Date.now() - started;
  await provider.shutdown();
  return { traceId: spans[0].spanContext().traceId, result, ms };
}

/** The trace is queryable through the Tempo API. */
async function queryable(s: Sightline, traceId: string): Promise<void> {
  await eventually(async () => ((await fetch(`${s.api}/api/v2/traces/${traceId}`)).status === 200 ? true : undefined), 15_000, `trace ${traceId} to be queryable`);
}

/**
 * The good client's turn: an SDK export (OTLP/HTTP protobuf or gRPC) that
 * succeeds at the first try (no 429 was answered meanwhile; the SDK would
 * have retried one, after a second or more), then its trace is queried.
 */
async function assertGoodClient(s: Sightline, kind: 'http' | 'grpc', service: string): Promise<void> {
  const before = (await status(s)).overloadRefusals;
  const exporter = kind === 'http' ? new HttpProtoExporter({ url: `${s.otlpHttp}/v1/traces` }) : new GrpcExporter({ url: s.otlpGrpc });
  try {
    const { traceId, result, ms } = await goodExport(exporter, service);
    assert.equal(result.code, ExportResultCode.SUCCESS, `the good ${kind} export failed: ${result.error?.message}`);
    // The SDK's first retry waits about a second; a refusal would also show in the counters below.
    assert.ok(ms < 2500, `the good ${kind} export took ${ms} ms: it was retried`);
    assert.equal((await status(s)).overloadRefusals, before, 'no export was refused as overloaded');
    await queryable(s, traceId);
  } finally {
    await exporter.shutdown();
  }
}

/** Every socket was closed by the server, each within `withinMs` of opening; none before `notBeforeMs`. */
async function assertClosedByServer(hs: Hostile[], notBeforeMs: number, withinMs: number, what: string): Promise<number[]> {
  const ms = await Promise.race([Promise.all(hs.map((h) => h.closed)), sleep(withinMs + 5000).then(() => null)]);
  assert.ok(ms, `${what}: ${hs.filter((h) => h.closedAt === null).length} of ${hs.length} sockets still open ${withinMs + 5000} ms after opening`);
  for (const m of ms) {
    assert.ok(m <= withinMs, `${what}: a socket was closed after ${m} ms, later than ${withinMs} ms`);
    assert.ok(m >= notBeforeMs, `${what}: a socket was closed after ${m} ms, before ${notBeforeMs} ms`);
  }
  return ms;
}

const POST_HEAD = (path: string, length: number, type = 'application/x-protobuf') => `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${type}\r\nContent-Length: ${length}\r\n\r\n`;

describe('hostile clients', () => {
  let s: Sightline;
  before(async () => {
    s = await startSightline({
      args: [
        '--headers-timeout', `${HEADERS_MS}ms`,
        '--request-timeout', `${REQUEST_MS}ms`,
        '--idle-timeout', `${IDLE_MS}ms`,
        '--keep-alive-timeout', `${KEEP_ALIVE_MS}ms`,
        '--max-connections-per-peer', String(PER_PEER),
        '--max-connections', '400',
      ],
    });
  });
  after(async () => {
    for (const h of opened) h.socket.destroy();
    await s.stop();
    s.cleanup();
  });

  describe('OTLP/HTTP', () => {
    it('34 sockets that declare 16 MiB and trickle it hold only what they sent: a good exporter still gets 200', async () => {
      const before = (await status(s)).listeners.otlpHttp;
      // 34 x 16 MiB declared is past the 512 MiB budget; charged as declared, every export was refused.
      const hs = await connectMany(34, s.ports.otlpHttp, '127.0.0.2');
      for (const h of hs) {
        h.socket.write(POST_HEAD('/v1/traces', MAX_BODY));
        h.trickle('x'.repeat(64), 500);
      }
      await sleep(300);
      await assertGoodClient(s, 'http', 'good-while-declared');
      assert.ok(hs.every((h) => h.closedAt === null), 'the hostile sockets were still open while the good client exported');
      // Trickled just fast enough never to stall: the request timeout ends them, with 408.
      await assertClosedByServer(hs, REQUEST_MS - 500, REQUEST_MS + CHECK_MS + SLACK_MS, 'trickled 16 MiB bodies');
      for (const h of hs) assert.match(h.received.toString('latin1'), /^HTTP\/1\.1 408 /);
      const after = (await status(s)).listeners.otlpHttp;
      assert.ok(after.requestsTimedOut - before.requestsTimedOut >= 34, `requestsTimedOut ${before.requestsTimedOut} -> ${after.requestsTimedOut}`);
      assert.ok(after.droppedBodyBytes - before.droppedBodyBytes >= 34 * 5, 'the bytes they sent are counted as dropped');
    });

    it('refuses a body that declares more than --max-body at once, with 413, and closes', async () => {
      const [h] = await connectMany(1, s.ports.otlpHttp, '127.0.0.2');
      h.socket.write(POST_HEAD('/v1/traces', MAX_BODY + 1) + 'x');
      const [ms] = await assertClosedByServer([h], 0, SLACK_MS, 'declared too large');
      assert.match(h.received.toString('latin1'), /^HTTP\/1\.1 413 /);
      assert.match(h.received.toString('latin1'), /\r\nconnection: close\r\n/i);
      assert.ok(ms < IDLE_MS, 'refused from its declared length, not after a timeout');
    });

    it('aborts a body that stalls, after --idle-timeout', async () => {
      const before = (await status(s)).listeners.otlpHttp;
      const hs = await connectMany(5, s.ports.otlpHttp, '127.0.0.2');
      for (const h of hs) h.socket.write(POST_HEAD('/v1/traces', 100_000) + 'x'.repeat(100));
      await assertGoodClient(s, 'http', 'good-while-stalled');
      await assertClosedByServer(hs, IDLE_MS - 300, IDLE_MS + SLACK_MS, 'stalled bodies');
      const after = (await status(s)).listeners.otlpHttp;
      assert.ok(after.stalledClosed - before.stalledClosed >= 5, `stalledClosed ${before.stalledClosed} -> ${after.stalledClosed}`);
      assert.ok(after.droppedBodyBytes - before.droppedBodyBytes >= 5 * 100);
    });

    it('answers slowloris headers (a byte a second) with 408 after --headers-timeout', async () => {
      const before = (await status(s)).listeners.otlpHttp;
      const hs = await connectMany(10, s.ports.otlpHttp, '127.0.0.3');
      for (const h of hs) h.trickle(POST_HEAD('/v1/traces', 10), 1000);
      await assertGoodClient(s, 'http', 'good-while-slowloris');
      await assertClosedByServer(hs, HEADERS_MS - 300, HEADERS_MS + CHECK_MS + SLACK_MS, 'slowloris headers');
      for (const h of hs) assert.match(h.received.toString('latin1'), /^HTTP\/1\.1 408 /);
      const after = (await status(s)).listeners.otlpHttp;
      assert.ok(after.headersTimedOut - before.headersTimedOut >= 10, `headersTimedOut ${before.headersTimedOut} -> ${after.headersTimedOut}`);
    });

    it('refuses sockets past the per-peer cap with 503, and closes idle ones', async () => {
      const before = (await status(s)).listeners.otlpHttp;
      const hs = await connectMany(PER_PEER + 10, s.ports.otlpHttp, '127.0.0.4');
      await assertGoodClient(s, 'http', 'good-while-idle-sockets');
      // Nothing sent: closed by whichever comes first of the idle and header timeouts.
      await assertClosedByServer(hs, 0, Math.min(IDLE_MS, HEADERS_MS) + CHECK_MS + SLACK_MS, 'idle sockets');
      const refused = hs.filter((h) => h.received.toString('latin1').startsWith('HTTP/1.1 503 '));
      assert.equal(refused.length, 10, 'the sockets past the cap are refused');
      for (const h of refused) {
        assert.ok(h.closedAt! - h.openedAt < 500, 'refused at once');
        assert.match(h.received.toString('latin1'), /\r\nretry-after: 1\r\n/i);
      }
      for (const h of hs.filter((x) => !refused.includes(x))) assert.ok(h.closedAt! - h.openedAt >= Math.min(IDLE_MS, HEADERS_MS) - 300, 'admitted ones last the idle timeout');
      const after = (await status(s)).listeners.otlpHttp;
      assert.equal(after.refusedPeerFull - before.refusedPeerFull, 10);
      assert.ok(after.idleClosed + after.headersTimedOut - before.idleClosed - before.headersTimedOut >= PER_PEER);
    });
  });

  describe('query API', () => {
    let traceId: string;
    before(async () => {
      const exporter = new HttpProtoExporter({ url: `${s.otlpHttp}/v1/traces` });
      ({ traceId } = await goodExport(exporter, 'api-fixture'));
      await exporter.shutdown();
      await queryable(s, traceId);
    });

    /** A real query, answered while the hostile sockets are open. */
    const assertGoodQuery = async () => {
      const r = await fetch(`${s.api}/api/v2/traces/${traceId}`);
      assert.equal(r.status, 200);
      await r.arrayBuffer();
    };

    it('closes bodies that declare 16 MiB and trickle', async () => {
      const hs = await connectMany(34, s.ports.http, '127.0.0.5');
      for (const h of hs) {
        h.socket.write(POST_HEAD('/api/search', MAX_BODY, 'application/json'));
        h.trickle('x'.repeat(64), 500);
      }
      await sleep(300);
      await assertGoodQuery();
      // Past --api-max-body: answered at once from the declared length; the
      // rest is not waited for past the request timeout.
      await assertClosedByServer(hs, 0, REQUEST_MS + CHECK_MS + SLACK_MS, 'API declared bodies');
      for (const h of hs) assert.match(h.received.toString('latin1'), /^HTTP\/1\.1 413 /);
    });

    it('answers slowloris headers with 408 after --headers-timeout', async () => {
      const before = (await status(s)).listeners.api;
      const hs = await connectMany(10, s.ports.http, '127.0.0.6');
      for (const h of hs) h.trickle(`GET /api/v2/traces/${traceId} HTTP/1.1\r\nHost: x\r\n\r\n`, 1000);
      await assertGoodQuery();
      await assertClosedByServer(hs, HEADERS_MS - 300, HEADERS_MS + CHECK_MS + SLACK_MS, 'API slowloris');
      for (const h of hs) assert.match(h.received.toString('latin1'), /^HTTP\/1\.1 408 /);
      const after = (await status(s)).listeners.api;
      assert.ok(after.headersTimedOut - before.headersTimedOut >= 10);
    });

    it('refuses sockets past the per-peer cap with 503, and closes idle ones', async () => {
      const before = (await status(s)).listeners.api;
      const hs = await connectMany(PER_PEER + 10, s.ports.http, '127.0.0.7');
      await assertGoodQuery();
      await assertClosedByServer(hs, 0, Math.min(IDLE_MS, HEADERS_MS) + CHECK_MS + SLACK_MS, 'API idle sockets');
      const refused = hs.filter((h) => h.received.toString('latin1').startsWith('HTTP/1.1 503 '));
      assert.equal(refused.length, 10);
      for (const h of refused) assert.ok(h.closedAt! - h.openedAt < 500, 'refused at once');
      const after = (await status(s)).listeners.api;
      assert.equal(after.refusedPeerFull - before.refusedPeerFull, 10);
      assert.ok(after.idleClosed + after.headersTimedOut - before.idleClosed - before.headersTimedOut >= PER_PEER);
    });

    it('closes a keep-alive connection after --keep-alive-timeout', async () => {
      const [h] = await connectMany(1, s.ports.http, '127.0.0.7');
      h.socket.write('GET /ready HTTP/1.1\r\nHost: x\r\n\r\n');
      // Node adds a second to the advertised keep-alive timeout.
      await assertClosedByServer([h], KEEP_ALIVE_MS - 300, KEEP_ALIVE_MS + 1000 + SLACK_MS, 'keep-alive');
      assert.match(h.received.toString('latin1'), /^HTTP\/1\.1 200 /);
    });
  });

  describe('OTLP/gRPC', () => {
    it('refuses sockets past the per-peer cap with GOAWAY, and closes idle and slowloris ones', async () => {
      const before = (await status(s)).listeners.otlpGrpc;
      const hs = await connectMany(PER_PEER + 10, s.ports.otlpGrpc, '127.0.0.8');
      // Some of the admitted ones send the HTTP/2 preface a byte a second.
      for (const h of hs.slice(0, 10)) h.trickle('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 1000);
      await assertGoodClient(s, 'grpc', 'good-grpc-while-idle');
      await assertClosedByServer(hs, 0, KEEP_ALIVE_MS + SLACK_MS, 'gRPC idle sockets');
      const refused = hs.filter((h) => h.closedAt! - h.openedAt < 500);
      assert.equal(refused.length, 10, 'the sockets past the cap are closed at once');
      for (const h of refused) {
        // The server's SETTINGS, then GOAWAY (type 7) with ENHANCE_YOUR_CALM (0xb).
        assert.equal(h.received[12], 0x7);
        assert.equal(h.received.readUInt32BE(22), 0xb);
      }
      for (const h of hs.filter((x) => !refused.includes(x))) assert.ok(h.closedAt! - h.openedAt >= KEEP_ALIVE_MS - 300, 'idle ones last the keep-alive timeout');
      const after = (await status(s)).listeners.otlpGrpc;
      assert.equal(after.refusedPeerFull - before.refusedPeerFull, 10);
    });

    it('ends calls whose message declares 16 MiB and trickles, after --request-timeout; a good exporter still gets OK', async () => {
      const before = (await status(s)).listeners.otlpGrpc;
      const sessions = [0, 1].map(() =>
        http2.connect(s.otlpGrpc, { createConnection: () => net.connect({ host: '127.0.0.1', port: s.ports.otlpGrpc, localAddress: '127.0.0.9' }) }),
      );
      for (const session of sessions) session.on('error', () => {});
      const calls = Array.from({ length: 34 }, (_, i) => {
        const stream = sessions[i % 2].request({
          ':method': 'POST',
          ':path': '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
          'content-type': 'application/grpc',
          te: 'trailers',
        });
        const started = Date.now();
        const prefix = Buffer.alloc(5);
        prefix.writeUInt32BE(MAX_BODY, 1);
        stream.write(prefix);
        const timer = setInterval(() => stream.writable && stream.write(Buffer.from('x')), 500);
        return new Promise<{ status: string | undefined; ms: number }>((resolve) => {
          let grpcStatus: string | undefined;
          stream.on('response', (h) => (grpcStatus ??= h['grpc-status'] as string | undefined));
          stream.on('trailers', (h) => (grpcStatus ??= h['grpc-status'] as string | undefined));
          stream.on('error', () => {});
          stream.resume();
          stream.on('close', () => {
            clearInterval(timer);
            resolve({ status: grpcStatus, ms: Date.now() - started });
          });
        });
      });
      await sleep(300);
      await assertGoodClient(s, 'grpc', 'good-grpc-while-declared');
      const ended = await Promise.race([Promise.all(calls), sleep(REQUEST_MS + 10_000).then(() => null)]);
      assert.ok(ended, 'every hostile call was ended');
      for (const c of ended) {
        assert.equal(c.status, '4', 'DEADLINE_EXCEEDED');
        assert.ok(c.ms >= REQUEST_MS - 300 && c.ms <= REQUEST_MS + SLACK_MS, `ended after ${c.ms} ms`);
      }
      const after = (await status(s)).listeners.otlpGrpc;
      assert.ok(after.requestsTimedOut - before.requestsTimedOut >= 34);
      // With no call left, the connections go after the keep-alive timeout.
      await eventually(async () => (sessions.every((x) => x.closed || x.destroyed) ? true : undefined), KEEP_ALIVE_MS + 5000, 'the hostile gRPC connections to be closed');
    });
  });

  it('counts what it refused and closed, and still serves', async () => {
    const st = await status(s);
    for (const name of ['otlpHttp', 'otlpGrpc', 'api'] as const) {
      const c = st.listeners[name];
      assert.ok(c.refusedPeerFull >= 10, `${name} refusals counted`);
      assert.ok(c.accepted > 0);
    }
    // Only the status request's own connection (and a keep-alive or two) is left open.
    await eventually(async () => ((await status(s)).listeners.otlpHttp.open === 0 ? true : undefined), KEEP_ALIVE_MS + 3000, 'OTLP/HTTP connections to close');
    assert.equal((await fetch(`${s.api}/ready`)).status, 200);
  });
});

describe('listener limits config', () => {
  it('defaults to the limits servers made without flags use', () => {
    const { maxStreamsPerConnection, apiMaxBodyBytes, ...limits } = parseServeConfig([], {}).listeners;
    assert.deepEqual(limits, DEFAULT_LISTENER_LIMITS);
    assert.equal(maxStreamsPerConnection, 100);
    assert.equal(apiMaxBodyBytes, 1024 * 1024);
  });

  it('refuses values that cannot work, naming the flag', () => {
    const rejects = (argv: string[], pattern: RegExp) => assert.throws(() => parseServeConfig(argv, {}), (e: Error) => e instanceof ConfigError && pattern.test(e.message));
    rejects(['--headers-timeout', '10m', '--request-timeout', '1m'], /--headers-timeout \(10m\) is longer than --request-timeout/);
    rejects(['--idle-timeout', '5ms'], /--idle-timeout: "5ms" is not a timeout/);
    rejects(['--max-connections=-1'], /--max-connections: "-1" is not a number/);
    rejects(['--max-streams-per-connection', '0'], /at least one call/);
    assert.equal(parseServeConfig(['--keep-alive-timeout', '750ms'], {}).listeners.keepAliveTimeoutMs, 750);
  });
});
