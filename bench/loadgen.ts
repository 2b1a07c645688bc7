import http from 'node:http';
import https from 'node:https';
import * as grpc from '@grpc/grpc-js';
import { LOGS_SERVICE, TRACE_SERVICE } from '../src/receivers/index.js';
import { buildLogTemplates, buildTemplates, instantiate } from './otlp-gen.js';

/**
 * The load generator, a process of its own: realistic OTLP protobuf over
 * HTTP or gRPC on loopback, from a fixed number of concurrent senders.
 * Prints one JSON line of results.
 *
 * Usage: node loadgen.js '{"protocol":"http","target":"127.0.0.1:4318","concurrency":8,"durationS":30}'
 */

export interface LoadgenConfig {
  protocol: 'http' | 'grpc';
  /** host:port */
  target: string;
  concurrency: number;
  durationS: number;
  /** Stop after this many acknowledged spans (0: no limit). */
  maxSpans?: number;
  /** What is sent: spans (the default) or log records; `ackedSpans` then counts records. */
  signal?: 'traces' | 'logs';
  spansPerRequest?: number;
  /** Sent as `Authorization: Bearer` (HTTP) or the same gRPC metadata, as OTel exporters do. */
  token?: string;
  /** PEM CA of the server's certificate: connect over TLS (HTTPS, gRPC over TLS). */
  tlsCa?: string;
  /**
   * Requests per second, paced (0: as fast as the senders go). Paced
   * latency runs from each request's scheduled time, so a stalled server
   * shows in it even while the senders wait (no coordinated omission).
   */
  rate?: number;
}

export interface LoadgenResult {
  requests: number;
  ackedSpans: number;
  refused: number;
  errors: number;
  seconds: number;
  latencyMs: { p50: number; p99: number; max: number };
  /** Some acknowledged trace ids (hex), for query benchmarks. */
  sampleTraceIds: string[];
  bytesSent: number;
}

type Send = (body: Buffer) => Promise<'ok' | 'refused' | 'error'>;

function httpSender(target: string, concurrency: number, token?: string, tlsCa?: string, urlPath = '/v1/traces'): Send {
  const [host, port] = target.split(':');
  const client = tlsCa ? https : http;
  const agent = tlsCa ? new https.Agent({ keepAlive: true, maxSockets: concurrency, ca: tlsCa }) : new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const auth = token ? { authorization: `Bearer ${token}` } : {};
  return (body) =>
    new Promise((resolve) => {
      const req = client.request(
        { host, port: Number(port), path: urlPath, method: 'POST', agent, headers: { 'content-type': 'application/x-protobuf', 'content-length': body.length, ...auth } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode === 200 ? 'ok' : res.statusCode === 429 || res.statusCode === 503 ? 'refused' : 'error'));
        },
      );
      req.on('error', () => resolve('error'));
      req.end(body);
    });
}

function grpcSender(target: string, token?: string, tlsCa?: string, service = TRACE_SERVICE): Send {
  const Client = grpc.makeGenericClientConstructor(service, 'ExportService');
  const credentials = tlsCa ? grpc.credentials.createSsl(Buffer.from(tlsCa)) : grpc.credentials.createInsecure();
  const client = new Client(target, credentials, { 'grpc.max_send_message_length': 64 * 1024 * 1024 }) as unknown as {
    Export: (b: Buffer, md: grpc.Metadata, cb: (e: grpc.ServiceError | null) => void) => void;
  };
  const metadata = new grpc.Metadata();
  if (token) metadata.set('authorization', `Bearer ${token}`);
  return (body) =>
    new Promise((resolve) =>
      client.Export(body, metadata, (e) => resolve(!e ? 'ok' : e.code === grpc.status.RESOURCE_EXHAUSTED || e.code === grpc.status.UNAVAILABLE ? 'refused' : 'error')),
    );
}

export async function runLoad(cfg: LoadgenConfig): Promise<LoadgenResult> {
  const logs = cfg.signal === 'logs';
  const templates = logs ? buildLogTemplates(40, cfg.spansPerRequest ?? 500, 7) : buildTemplates(40, cfg.spansPerRequest ?? 500, 7);
  const send =
    cfg.protocol === 'http'
      ? httpSender(cfg.target, cfg.concurrency, cfg.token, cfg.tlsCa, logs ? '/v1/logs' : '/v1/traces')
      : grpcSender(cfg.target, cfg.token, cfg.tlsCa, logs ? LOGS_SERVICE : TRACE_SERVICE);
  const latencies: number[] = [];
  const sample: string[] = [];
  const result = { requests: 0, ackedSpans: 0, refused: 0, errors: 0, bytesSent: 0 };
  const start = Date.now();
  const deadline = start + cfg.durationS * 1000;
  let n = 0;
  const t00 = process.hrtime.bigint();
  const worker = async () => {
    while (Date.now() < deadline && !(cfg.maxSpans && result.ackedSpans >= cfg.maxSpans)) {
      const i = n++;
      const t = templates[i % templates.length];
      let t0 = process.hrtime.bigint();
      if (cfg.rate) {
        const due = t00 + BigInt(Math.round((i / cfg.rate) * 1e9));
        if (due > t0) await new Promise((r) => setTimeout(r, Number(due - t0) / 1e6));
        t0 = due;
        if (Date.now() >= deadline) break;
      }
      const body = instantiate(t, BigInt(Date.now()) * 1_000_000n);
      const outcome = await send(body);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      result.requests++;
      result.bytesSent += body.length;
      if (outcome === 'ok') {
        latencies.push(ms);
        result.ackedSpans += t.spans;
        // The first id in each request is a trace id (see otlp-gen).
        if (sample.length < 2000 && i % 7 === 0) sample.push(body.subarray(t.ids[0].at, t.ids[0].at + 16).toString('hex'));
      } else if (outcome === 'refused') {
        result.refused++;
        await new Promise((r) => setTimeout(r, 100));
      } else {
        result.errors++;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  await Promise.all(Array.from({ length: cfg.concurrency }, worker));
  latencies.sort((a, b) => a - b);
  const q = (p: number) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] : 0);
  return {
    ...result,
    seconds: (Date.now() - start) / 1000,
    latencyMs: { p50: q(0.5), p99: q(0.99), max: latencies[latencies.length - 1] ?? 0 },
    sampleTraceIds: sample,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const cfg = JSON.parse(process.argv[2]) as LoadgenConfig;
  runLoad(cfg).then(
    (r) => {
      process.stdout.write(JSON.stringify(r) + '\n');
      process.exit(0);
    },
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
