import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import { rmSync } from 'node:fs';
import fc from 'fast-check';
import { startSightline, type Sightline } from '../testkit/sightline.js';
import { otlp, decodeToObject } from '../testkit/otlp-schema.js';
import { otlpCaseArb, prepare, type Expectation, type OtlpCase, type OtlpContext, type Prepared } from '../testkit/fuzz-otlp.js';
import { expectedMetric, expectedTraces, seedDataset, traceqlCaseArb, type Dataset, type TraceQLCase } from '../testkit/fuzz-traceql.js';

/**
 * Fuzzing a real Sightline process, seeded and reproducible.
 *
 * - OTLP: generated export requests (protobuf and JSON, valid and
 *   corrupted at the byte, wire-format, JSON and transport level) over
 *   OTLP/HTTP and OTLP/gRPC.
 * - TraceQL: generated queries (a typed grammar, an oracle-checked subset,
 *   mutations and junk) against /api/search and /api/metrics/query_range,
 *   over a small dataset whose answers are known.
 *
 * Properties: no server error (5xx) other than the documented 503 (and 501
 * Unsupported for queries); each answer is the one the input calls for
 * where that is known; the process stays up and ready; and every span
 * acknowledged is stored exactly once, as sent.
 *
 * SIGHTLINE_FUZZ_SEED fixes the seed (printed at the start),
 * SIGHTLINE_FUZZ_RUNS the number of requests and of queries (10,000 each by
 * default), and SIGHTLINE_FUZZ_REPLAY=<phase>:<lane>:<path> replays one
 * failure that a previous run printed. SIGHTLINE_FUZZ_ONLY=otlp|traceql runs
 * one phase; SIGHTLINE_FUZZ_KEEP_GOING=1 does not stop (nor shrink) at a
 * failure but lists every distinct one at the end, to triage several bugs.
 *
 * Requests go out in lanes (8 for OTLP, 4 for queries, Sightline's default
 * query admission), each its own fast-check run with a seed derived from the
 * printed one, so a failure shrinks to one request. A server that dies is
 * restarted on its data (the death is a failure), so shrinking can go on.
 */

const envInt = (name: string, fallback: number): number => {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  if (!/^-?\d+$/.test(v)) throw new Error(`${name} must be an integer, got ${JSON.stringify(v)}`);
  return Number(v);
};

const SEED = envInt('SIGHTLINE_FUZZ_SEED', (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) | 0);
const RUNS = envInt('SIGHTLINE_FUZZ_RUNS', 10_000);
/** Run one phase only: otlp or traceql. */
const ONLY = process.env.SIGHTLINE_FUZZ_ONLY ?? '';
/** Survey mode: go on past failures (no shrinking) and list each distinct one at the end. */
const KEEP_GOING = process.env.SIGHTLINE_FUZZ_KEEP_GOING === '1';
/** OTLP requests in flight at once. */
const LANES = 8;
/** Queries in flight at once: Sightline admits 4 heavy queries at a time by default, and answers 429 past that. */
const QUERY_LANES = 4;
const MAX_BODY = 1024 * 1024;
const REPLAY = process.env.SIGHTLINE_FUZZ_REPLAY ? parseReplay(process.env.SIGHTLINE_FUZZ_REPLAY) : null;
const RERUN = `SIGHTLINE_FUZZ_SEED=${SEED}${process.env.SIGHTLINE_FUZZ_RUNS ? ` SIGHTLINE_FUZZ_RUNS=${RUNS}` : ''} node scripts/test.mjs dist/test/fuzz.test.js`;
/** No single request may take longer (the server must answer, even if only to refuse). */
const REQUEST_TIMEOUT_MS = 30_000;
/** Generation stops here at the latest, so a slow machine fails with a count instead of hanging CI. */
const PHASE_TIME_LIMIT_MS = 240_000;

function parseReplay(v: string): { phase: 'otlp' | 'traceql'; lane: number; path: string } {
  const m = /^(otlp|traceql):(\d+):([\d:]+)$/.exec(v);
  if (!m) throw new Error(`SIGHTLINE_FUZZ_REPLAY must be <otlp|traceql>:<lane>:<path>, got ${JSON.stringify(v)}`);
  return { phase: m[1] as 'otlp' | 'traceql', lane: Number(m[2]), path: m[3] };
}

const laneSeed = (phase: 'otlp' | 'traceql', lane: number) => (SEED + (phase === 'otlp' ? 0 : 1000) + lane * 0x9e3779b1) | 0;

console.log(`fuzz seed: ${SEED} (rerun: ${RERUN})`);

// ---- the server, restarted on the same data if it dies (so shrinking can go on) ----

class ServerUnderTest {
  s!: Sightline;
  readonly crashes: string[] = [];
  private restarting: Promise<void> | null = null;
  private dataDir = '';

  async start(): Promise<void> {
    this.s = await startSightline({ args: ['--max-body', '1MiB'], ...(this.dataDir ? { dataDir: this.dataDir } : {}) });
    this.dataDir = this.s.dataDir;
  }

  exited(): boolean {
    return this.s.process.exitCode !== null || this.s.process.signalCode !== null;
  }

  /** Errors the server logged from log line `from` on (the cause behind an 'internal error'). */
  errorsSince(from: number): string {
    const lines = this.s.logs.slice(from).filter((l) => typeof l.level === 'number' && l.level >= 50);
    return lines.map((l) => `\n  server log: ${l.msg} ${String((l as { detail?: unknown }).detail ?? (l.err as { message?: string } | undefined)?.message ?? '').split('\n')[0]}`).join('');
  }

  describeExit(): string {
    return `exit code ${this.s.process.exitCode}, signal ${this.s.process.signalCode}; stderr tail: ${this.s.stderr().slice(-1500)}; last logs: ${JSON.stringify(this.s.logs.slice(-5))}`;
  }

  /** Restarts a dead server (once, whoever asks first) and records why. */
  async ensureUp(): Promise<void> {
    if (this.restarting) return this.restarting;
    if (!this.exited()) return;
    this.crashes.push(this.describeExit());
    this.restarting = this.start().finally(() => {
      this.restarting = null;
      http2Session?.destroy();
      http2Session = null;
    });
    return this.restarting;
  }

  private checks = 0;
  /** Every so often, that /ready still answers `ready`; always, that the process is alive. */
  async assertUp(): Promise<void> {
    if (this.exited()) throw new Error(`the server exited: ${this.describeExit()}`);
    if (++this.checks % 200 !== 0) return;
    const r = await httpRequest('GET', `${this.s.api}/ready`, {});
    if ('error' in r || r.status !== 200 || r.body.toString() !== 'ready\n')
      throw new Error(`/ready: ${'error' in r ? r.error : `HTTP ${r.status} ${r.body.toString('utf8', 0, 200)}`}`);
  }

  async stop(): Promise<void> {
    if (!this.s) return;
    await this.s.stop();
    // After a restart the data directory was passed in, and testkit leaves those alone.
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

const server = new ServerUnderTest();

// ---- clients: keep-alive HTTP, one HTTP/2 session for gRPC -------------------------

const agent = new http.Agent({ keepAlive: true, maxSockets: LANES });

interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}
type Failure = { error: string };

function httpRequest(method: 'GET' | 'POST', url: string, headers: Record<string, string>, body?: Buffer): Promise<HttpAnswer | Failure> {
  return new Promise((resolve) => {
    const req = http.request(url, { method, agent, headers: body ? { ...headers, 'content-length': String(body.length) } : headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', (e) => resolve({ error: `response: ${e.message}` }));
    });
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`no answer in ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', (e) => resolve({ error: `${(e as NodeJS.ErrnoException).code ?? ''} ${e.message}` }));
    req.end(body);
  });
}

let http2Session: http2.ClientHttp2Session | null = null;
function grpcSession(): http2.ClientHttp2Session {
  if (!http2Session || http2Session.closed || http2Session.destroyed) {
    const session = http2.connect(server.s.otlpGrpc);
    session.on('error', () => {
      if (http2Session === session) http2Session = null;
    });
    session.on('goaway', () => {
      if (http2Session === session) http2Session = null;
    });
    http2Session = session;
  }
  return http2Session;
}

interface GrpcAnswer {
  httpStatus: number;
  grpcStatus: number | null;
  message: string;
  body: Buffer;
}

function grpcExport(p: Prepared): Promise<GrpcAnswer | Failure> {
  const header = Buffer.alloc(5);
  header[0] = p.grpc.compressed ? 1 : 0;
  header.writeUInt32BE(Math.max(0, Math.min(0xffffffff, p.body.length + p.grpc.lengthDelta)), 1);
  return new Promise((resolve) => {
    let stream: http2.ClientHttp2Stream;
    try {
      stream = grpcSession().request({
        ':method': 'POST',
        ':path': '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
        'content-type': 'application/grpc',
        te: 'trailers',
        ...(p.grpc.encoding ? { 'grpc-encoding': p.grpc.encoding } : {}),
      });
    } catch (e) {
      return resolve({ error: `http2 request: ${(e as Error).message}` });
    }
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => (headers = h));
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.setTimeout(REQUEST_TIMEOUT_MS, () => stream.close(http2.constants.NGHTTP2_CANCEL));
    stream.on('error', (e) => resolve({ error: `stream: ${e.message}` }));
    stream.on('close', () => {
      const status = trailers['grpc-status'] ?? headers['grpc-status'];
      const message = String(trailers['grpc-message'] ?? headers['grpc-message'] ?? '');
      if (stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR && status === undefined) return resolve({ error: `stream reset ${stream.rstCode} with no status` });
      const body = Buffer.concat(chunks);
      resolve({
        httpStatus: Number(headers[':status'] ?? 0),
        grpcStatus: status === undefined ? null : Number(status),
        message: decodeURIComponent(message),
        // The one response message, without its 5-byte frame header.
        body: body.length >= 5 ? body.subarray(5) : body,
      });
    });
    stream.end(Buffer.concat([header, p.body]));
  });
}

// ---- judging an OTLP answer ----------------------------------------------------------

/** Documented refusals under load or while stopping: never an acknowledgement, never a failure. */
const HTTP_REFUSALS = [429, 503];
const GRPC_REFUSALS = [8, 14];
/** gRPC codes that mean the server failed: UNKNOWN, INTERNAL (ours: 'internal error'), DATA_LOSS. */
const GRPC_SERVER_ERRORS = [2, 13, 15];

export type OtlpVerdict = { ok: true; acknowledged: boolean; refused: boolean } | { ok: false; why: string };

function replyEncoding(contentType: string | null): 'json' | 'protobuf' | null {
  const t = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (t === 'application/json') return 'json';
  if (t === 'application/x-protobuf' || t === 'application/protobuf') return 'protobuf';
  return null;
}

/** What the reply body says was rejected (OTLP partial success), or an error. */
function rejectedIn(body: Buffer, encoding: 'json' | 'protobuf' | null): number | string {
  try {
    if (encoding === 'json') {
      const j = JSON.parse(body.toString('utf8')) as { partialSuccess?: { rejectedSpans?: string | number } };
      return Number(j.partialSuccess?.rejectedSpans ?? 0);
    }
    const r = decodeToObject(otlp.ExportTraceServiceResponse, body);
    return Number(r.partialSuccess?.rejectedSpans ?? 0);
  } catch (e) {
    return `reply body does not decode: ${(e as Error).message}`;
  }
}

/** Judges one answer against what the input calls for. Pure, so its own test can make it fail. */
export function judgeOtlp(sent: Pick<Prepared, 'expect' | 'contentType' | 'grpc'>, transport: 'http' | 'grpc', a: HttpAnswer | GrpcAnswer | Failure): OtlpVerdict {
  const { expect, contentType } = sent;
  if ('error' in a) return { ok: false, why: `no answer: ${a.error}` };
  if (transport === 'http') {
    const h = a as HttpAnswer;
    if (h.status >= 500 && !HTTP_REFUSALS.includes(h.status)) return { ok: false, why: `HTTP ${h.status}: ${h.body.toString('utf8', 0, 300)}` };
    if (HTTP_REFUSALS.includes(h.status)) return { ok: true, acknowledged: false, refused: true };
    const enc = replyEncoding(contentType);
    if (h.status >= 400 && enc) {
      // Errors carry a google.rpc.Status in the request's encoding.
      try {
        const st = enc === 'json' ? (JSON.parse(h.body.toString('utf8')) as { message?: string }) : decodeToObject(otlp.RpcStatus, h.body);
        if (!st.message) return { ok: false, why: `HTTP ${h.status} without a Status message` };
      } catch (e) {
        return { ok: false, why: `HTTP ${h.status} reply is not a ${enc} Status: ${(e as Error).message}` };
      }
    }
    switch (expect.kind) {
      case 'accepted': {
        if (expect.total > 0 && expect.rejected === expect.total) {
          return h.status === 400 ? { ok: true, acknowledged: false, refused: false } : { ok: false, why: `every span is invalid: expected 400, got ${h.status}` };
        }
        if (h.status !== 200) return { ok: false, why: `valid request: expected 200, got ${h.status}: ${h.body.toString('utf8', 0, 300)}` };
        const rejected = rejectedIn(h.body, enc);
        if (typeof rejected === 'string') return { ok: false, why: rejected };
        if (rejected !== expect.rejected) return { ok: false, why: `expected ${expect.rejected} of ${expect.total} spans rejected, the reply says ${rejected}` };
        return { ok: true, acknowledged: expect.rejected < expect.total, refused: false };
      }
      case 'status':
        return expect.http.includes(h.status) ? { ok: true, acknowledged: false, refused: false } : { ok: false, why: `${expect.why}: expected HTTP ${expect.http.join(' or ')}, got ${h.status}: ${h.body.toString('utf8', 0, 300)}` };
      case 'no-server-error':
        return { ok: true, acknowledged: false, refused: false };
    }
  }
  const g = a as GrpcAnswer;
  if (g.httpStatus >= 500) return { ok: false, why: `gRPC over HTTP ${g.httpStatus}` };
  if (g.grpcStatus === null) return { ok: false, why: `gRPC answer without grpc-status (HTTP ${g.httpStatus})` };
  const expectedCodes = expect.kind === 'status' ? expect.grpc : [];
  // gRPC's status code table: a compressed message that does not decompress is INTERNAL (grpc-js says so itself).
  if (g.grpcStatus === 13 && sent.grpc.compressed && g.message === 'Failed to decompress message' && expect.kind !== 'accepted') return { ok: true, acknowledged: false, refused: false };
  if (GRPC_SERVER_ERRORS.includes(g.grpcStatus) && !expectedCodes.includes(g.grpcStatus)) return { ok: false, why: `gRPC status ${g.grpcStatus}: ${g.message}` };
  if (GRPC_REFUSALS.includes(g.grpcStatus) && !expectedCodes.includes(g.grpcStatus)) return { ok: true, acknowledged: false, refused: true };
  switch (expect.kind) {
    case 'accepted': {
      if (expect.total > 0 && expect.rejected === expect.total) {
        return g.grpcStatus === 3 ? { ok: true, acknowledged: false, refused: false } : { ok: false, why: `every span is invalid: expected INVALID_ARGUMENT, got ${g.grpcStatus} ${g.message}` };
      }
      if (g.grpcStatus !== 0) return { ok: false, why: `valid request: expected OK, got ${g.grpcStatus} ${g.message}` };
      const rejected = rejectedIn(g.body, 'protobuf');
      if (typeof rejected === 'string') return { ok: false, why: rejected };
      if (rejected !== expect.rejected) return { ok: false, why: `expected ${expect.rejected} of ${expect.total} spans rejected, the reply says ${rejected}` };
      return { ok: true, acknowledged: expect.rejected < expect.total, refused: false };
    }
    case 'status':
      return expect.grpc.includes(g.grpcStatus) ? { ok: true, acknowledged: false, refused: false } : { ok: false, why: `${expect.why}: expected gRPC ${expect.grpc.join(' or ')}, got ${g.grpcStatus} ${g.message}` };
    case 'no-server-error':
      return { ok: true, acknowledged: false, refused: false };
  }
}

// ---- judging a TraceQL answer -----------------------------------------------------------

/** Literals past what a query can mean (int64, float64, duration range): refusing them with 400 is right. */
const OUT_OF_RANGE = ['9223372036854775808', '18446744073709551616', '99999999999999999999999999999', '1e400', '99999999999999h'];

export type QueryVerdict = { ok: true; status: number; results: number } | { ok: false; why: string };

const normHex = (h: string) => h.toLowerCase().replace(/^0+/, '');

/** Judges one query answer. Pure, so its own test can make it fail. */
export function judgeQuery(c: TraceQLCase, data: Dataset, a: HttpAnswer | Failure): QueryVerdict {
  if ('error' in a) return { ok: false, why: `no answer: ${a.error}` };
  const text = a.body.toString('utf8', 0, 400);
  if (a.status >= 500 && a.status !== 501 && a.status !== 503) return { ok: false, why: `HTTP ${a.status}: ${text}` };
  if (a.status === 429 || a.status === 503) return { ok: true, status: a.status, results: 0 };
  if (a.status !== 200) {
    if (!a.body.length) return { ok: false, why: `HTTP ${a.status} with an empty body` };
    if (c.badParam) return a.status === 400 ? { ok: true, status: 400, results: 0 } : { ok: false, why: `invalid parameter ${JSON.stringify(c.params)}: expected 400, got ${a.status}: ${text}` };
    switch (c.kind) {
      case 'oracle':
      case 'oracle-metrics':
        return { ok: false, why: `expected 200, got ${a.status}: ${text}` };
      case 'valid':
        if (a.status === 501) return { ok: true, status: 501, results: 0 };
        if (a.status === 400 && OUT_OF_RANGE.some((l) => c.q.includes(l))) return { ok: true, status: 400, results: 0 };
        return { ok: false, why: `valid TraceQL: expected 200 or 501, got ${a.status}: ${text}` };
      case 'deep':
        return [400, 414, 431, 501].includes(a.status) ? { ok: true, status: a.status, results: 0 } : { ok: false, why: `expected 200, 400 or 501, got ${a.status}: ${text}` };
      case 'mutated':
      case 'junk':
        return [400, 501].includes(a.status) ? { ok: true, status: a.status, results: 0 } : { ok: false, why: `expected 200, 400 or 501, got ${a.status}: ${text}` };
    }
  }
  if (c.badParam) return { ok: false, why: `invalid parameter ${JSON.stringify(c.params)} answered 200` };
  let body: { traces?: { traceID: string }[]; series?: { labels: { key: string; value: Record<string, unknown> }[]; samples: { value: number }[] }[] };
  try {
    body = JSON.parse(a.body.toString('utf8'));
  } catch {
    return { ok: false, why: `200 with a body that is not JSON: ${text}` };
  }
  if (c.endpoint === 'search') {
    if (!Array.isArray(body.traces)) return { ok: false, why: `search answer without traces[]: ${text}` };
    if (c.kind === 'oracle') {
      const want = [...expectedTraces(c.spanset!, data)].map(normHex).sort();
      const got = body.traces.map((t) => normHex(t.traceID)).sort();
      if (want.join() !== got.join()) {
        const missing = want.filter((t) => !got.includes(t));
        const extra = got.filter((t) => !want.includes(t));
        return { ok: false, why: `wrong traces: ${want.length} expected, ${got.length} found; missing ${missing.slice(0, 5).join(',') || 'none'}; unexpected ${extra.slice(0, 5).join(',') || 'none'}` };
      }
    }
    return { ok: true, status: 200, results: body.traces.length };
  }
  if (!Array.isArray(body.series)) return { ok: false, why: `metrics answer without series[]: ${text}` };
  const nonZero = body.series.filter((s) => s.samples.some((x) => Number(x.value) !== 0)).length;
  if (c.kind === 'oracle-metrics') {
    const want = expectedMetric(c.fn!, c.by, c.spanset!.s === 'filter' ? c.spanset!.cond : null, data);
    const samples = body.series.flatMap((s) => s.samples.map((x) => Number(x.value)));
    if (want instanceof Map) {
      const got = new Map<string, number>();
      for (const s of body.series) {
        const l = c.by ? s.labels.find((x) => x.key === c.by) : undefined;
        const label = c.by ? String(l?.value.stringValue ?? '?') : '';
        got.set(label, (got.get(label) ?? 0) + s.samples.reduce((sum, x) => sum + Number(x.value), 0));
      }
      for (const [k, v] of got) if (v === 0) got.delete(k);
      const fmt = (m: Map<string, number>) => JSON.stringify([...m].sort());
      if (fmt(want) !== fmt(got)) return { ok: false, why: `${c.fn}: expected ${fmt(want)}, got ${fmt(got)}` };
    } else if (want === null) {
      if (samples.length) return { ok: false, why: `${c.fn}: no span has a value, yet the answer has samples ${JSON.stringify(samples.slice(0, 5))}` };
    } else {
      // Empty buckets have no sample; a bucket's value is its extreme, so the extreme of all samples is the range's.
      const got = samples.length ? (c.fn!.startsWith('min') ? Math.min(...samples) : Math.max(...samples)) : null;
      if (got === null || Math.abs(got - want) > 1e-9 * Math.max(1, Math.abs(want))) return { ok: false, why: `${c.fn}: expected ${want}, got ${got}` };
    }
  }
  return { ok: true, status: 200, results: nonZero };
}

// ---- lanes: one fast-check run each, reporting seed, path and the shrunk case ----------

interface LaneReport {
  phase: 'otlp' | 'traceql';
  lane: number;
  seed: number;
  numRuns: number;
  failed: boolean;
  interrupted: boolean;
  text: string;
}

async function runLane<T>(
  phase: 'otlp' | 'traceql',
  lane: number,
  arb: fc.Arbitrary<T>,
  numRuns: number,
  check: (value: T, afterFailure: boolean) => Promise<void>,
  show: (value: T) => string,
  path?: string,
): Promise<LaneReport> {
  const seed = laneSeed(phase, lane);
  let failedOnce = false;
  const survey = new Map<string, string>();
  const property = fc.asyncProperty(arb, async (v) => {
    try {
      await check(v, failedOnce);
    } catch (e) {
      if (KEEP_GOING) {
        // One example per distinct message (digits blurred), without shrinking.
        const msg = (e as Error).message;
        const key = msg.split('\n')[0].replace(/\d+/g, 'N').slice(0, 160);
        if (!survey.has(key)) survey.set(key, `${msg}\n  case: ${show(v)}`);
        return;
      }
      failedOnce = true;
      throw e;
    }
  });
  const details = await fc.check(property, { seed, numRuns, ...(path ? { path } : {}), plugins: [fc.interruptAfterTimeLimit(PHASE_TIME_LIMIT_MS)] });
  if (survey.size) {
    const text = `fuzz ${phase} lane ${lane} (seed ${SEED}, lane seed ${seed}): ${survey.size} distinct failures\n${[...survey.values()].map((t) => `- ${t}`).join('\n')}`;
    console.log(text);
    return { phase, lane, seed, numRuns: details.numRuns, failed: true, interrupted: details.interrupted, text };
  }
  if (!details.failed) return { phase, lane, seed, numRuns: details.numRuns, failed: false, interrupted: details.interrupted, text: '' };
  const cex = details.counterexample as [T] | null;
  const text = [
    `fuzz ${phase} lane ${lane} failed after ${details.numRuns} runs and ${details.numShrinks} shrinks`,
    `  seed ${SEED} (lane seed ${seed}), fast-check path ${details.counterexamplePath}`,
    `  replay: SIGHTLINE_FUZZ_REPLAY=${phase}:${lane}:${details.counterexamplePath} ${RERUN}`,
    `  counterexample: ${cex ? show(cex[0]) : '(none)'}`,
    `  error: ${details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance)}`,
  ].join('\n');
  console.log(text);
  return { phase, lane, seed, numRuns: details.numRuns, failed: true, interrupted: details.interrupted, text };
}

async function runPhase<T>(
  phase: 'otlp' | 'traceql',
  lanes: number,
  arb: fc.Arbitrary<T>,
  check: (value: T, afterFailure: boolean) => Promise<void>,
  show: (value: T) => string,
): Promise<LaneReport[]> {
  const numRuns = Math.ceil(RUNS / lanes);
  if (ONLY && ONLY !== phase) return [];
  if (REPLAY) {
    if (REPLAY.phase !== phase) return [];
    return [await runLane(phase, REPLAY.lane, arb, numRuns, check, show, REPLAY.path)];
  }
  return Promise.all(Array.from({ length: lanes }, (_, lane) => runLane(phase, lane, arb, numRuns, check, show)));
}

/** Fails with every failed lane's report (seed, path, shrunk counterexample, error). */
function assertNoFailures(reports: LaneReport[]): void {
  const failed = reports.filter((r) => r.failed);
  if (failed.length) assert.fail(`${failed.length} fuzz lane(s) failed (fuzz seed ${SEED}):\n\n${failed.map((r) => r.text).join('\n\n')}`);
}

// ---- the run ---------------------------------------------------------------------------

function showOtlp(c: OtlpCase, ctx: OtlpContext): string {
  // How it was sent first, then the request (which may be long).
  const { request, ...how } = c;
  const json = JSON.stringify({ ...how, request }, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array || (v && v.type === 'Buffer') ? Buffer.from(v.data ?? v).toString('hex') : v));
  let wire = '';
  try {
    const p = prepare(c, ctx);
    wire = `\n  sent: content-type ${JSON.stringify(p.contentType)}, content-encoding ${JSON.stringify(p.contentEncoding)}, grpc ${JSON.stringify(p.grpc)}, ${p.body.length} bytes: ${p.body.subarray(0, 600).toString('hex')}${p.body.length > 600 ? '...' : ''}\n  expected: ${JSON.stringify(p.expect)}`;
  } catch (e) {
    wire = `\n  (prepare threw ${(e as Error).message})`;
  }
  return json.length > 4000 ? `${json.slice(0, 4000)}...${wire}` : json + wire;
}

describe('fuzz', { concurrency: false }, () => {
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  // Trace ids most generated spans share, so the final check reads a few dozen traces by id.
  const traceIds = fc.sample(fc.noBias(fc.uint8Array({ minLength: 16, maxLength: 16 })), { seed: SEED, numRuns: 32 }).map((b) => {
    const id = Buffer.from(b);
    id[0] |= 1;
    return id;
  });
  const ctx: OtlpContext = { nowNs, traceIds, maxBodyBytes: MAX_BODY };
  const data = seedDataset(nowNs - 50n * 60_000_000_000n);
  const windowStart = Number(data.startNs / 1_000_000_000n) - 60;
  const windowEnd = Number(data.endNs / 1_000_000_000n) + 60;

  /** Spans acknowledged, by trace and span id, with what was sent. */
  const acked = new Map<string, { name: string; startNs: bigint; endNs: bigint; kind: number }>();
  /** Span ids sent again with other content while a failure shrank: not checked. */
  const tainted = new Set<string>();
  const stats = { requests: 0, grpc: 0, http: 0, json: 0, corrupted: 0, refused: 0, acknowledgedRequests: 0, queries: 0, retried429: 0, outcomes: {} as Record<string, Record<string, number>>, latency: {} as Record<string, [number, number, number]>, byStatus: new Map<number, number>(), validAnswered: 0, validWithResults: 0, oracleAnswered: 0, oracleNonEmpty: 0 };
  /** A few answers of each non-200 status for valid queries, for the log. */
  const samples = new Map<number, string[]>();
  const timings: Record<string, number> = {};

  before(async () => {
    await server.start();
    for (const body of data.requests) {
      const r = await httpRequest('POST', `${server.s.otlpHttp}/v1/traces`, { 'content-type': 'application/x-protobuf' }, body);
      assert.ok(!('error' in r) && r.status === 200, `seed data not accepted: ${JSON.stringify(r)}`);
    }
    // Queries run against data: wait until the store has every seed span.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const r = await httpRequest('GET', `${server.s.api}/api/search?q=${encodeURIComponent('{ }')}&start=${windowStart}&end=${windowEnd}&limit=1000`, {});
      if (!('error' in r) && r.status === 200 && (JSON.parse(r.body.toString()) as { traces: unknown[] }).traces.length === 60) break;
      if (Date.now() > deadline) assert.fail(`seed data not searchable in time: ${JSON.stringify('error' in r ? r : r.body.toString().slice(0, 300))}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  after(async () => {
    agent.destroy();
    http2Session?.destroy();
    await server.stop();
    const { outcomes, latency, byStatus, ...counts } = stats;
    console.log(`fuzz seed: ${SEED}; timings (ms): ${JSON.stringify(timings)}; counts: ${JSON.stringify(counts)}; query statuses: ${JSON.stringify(Object.fromEntries(byStatus))}`);
    console.log(`fuzz: query latency by kind [count, total ms, max ms]: ${JSON.stringify(latency)}`);
    console.log(`fuzz: OTLP answers by case: ${Object.entries(outcomes).sort().map(([k, v]) => `${k} ${JSON.stringify(v)}`).join('; ')}`);
  });

  it('TraceQL: no server errors, valid queries answered, oracle queries answered exactly', async () => {
    const t0 = Date.now();
    const check = async (c: TraceQLCase): Promise<void> => {
      await server.ensureUp();
      // encodeURIComponent leaves ( ) ! unescaped, so deeply nested queries still fit in a request line.
      const params = Object.entries({ q: Buffer.from(c.q, 'utf8').toString('utf8'), start: String(windowStart), end: String(windowEnd), ...c.params })
        .map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
        .join('&');
      const path = c.endpoint === 'search' ? '/api/search' : '/api/metrics/query_range';
      const started = Date.now();
      const logFrom = server.s.logs.length;
      let a = await httpRequest('GET', `${server.s.api}${path}?${params}`, {});
      // A documented refusal while another query holds the slot: retry as a client would, briefly.
      for (let retry = 0; retry < 3 && !('error' in a) && a.status === 429; retry++) {
        stats.retried429++;
        await new Promise((r) => setTimeout(r, 200 * (retry + 1)));
        a = await httpRequest('GET', `${server.s.api}${path}?${params}`, {});
      }
      stats.queries++;
      const lat = (stats.latency[`${c.kind}/${c.endpoint}`] ??= [0, 0, 0]);
      const took = Date.now() - started;
      lat[0]++;
      lat[1] += took;
      lat[2] = Math.max(lat[2], took);
      if (!('error' in a)) stats.byStatus.set(a.status, (stats.byStatus.get(a.status) ?? 0) + 1);
      const v = judgeQuery(c, data, a);
      if (!v.ok) throw new Error(`${v.why}\n  GET ${path}?${params}${server.errorsSince(logFrom)}${server.exited() ? `\n  the server exited: ${server.describeExit()}` : ''}`);
      await server.assertUp();
      if (c.kind === 'valid' && !c.badParam && v.status !== 200 && (samples.get(v.status)?.length ?? 0) < 5 && !('error' in a)) {
        samples.set(v.status, [...(samples.get(v.status) ?? []), `${c.q} -> ${a.body.toString('utf8', 0, 200).trim()}`]);
      }
      if ((c.kind === 'valid' || c.kind === 'oracle' || c.kind === 'oracle-metrics') && !c.badParam && v.status === 200) {
        stats.validAnswered++;
        if (v.results > 0) stats.validWithResults++;
        if (c.kind === 'oracle') stats.oracleAnswered++;
        if (c.kind === 'oracle' && v.results > 0) stats.oracleNonEmpty++;
      }
    };
    const reports = await runPhase('traceql', QUERY_LANES, traceqlCaseArb, check, (c) => JSON.stringify(c, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)));
    timings.traceql = Date.now() - t0;
    console.log(`fuzz: valid queries not answered 200, samples: ${JSON.stringify(Object.fromEntries(samples), null, 1)}`);
    assertNoFailures(reports);
    if (!REPLAY && ONLY !== 'otlp') {
      assert.ok(stats.queries >= RUNS, `only ${stats.queries} of ${RUNS} queries ran in ${PHASE_TIME_LIMIT_MS} ms`);
      // Proof that queries ran against data: a good share of answered valid ones found something.
      assert.ok(stats.validWithResults >= stats.validAnswered * 0.1, `only ${stats.validWithResults} of ${stats.validAnswered} answered valid queries had results`);
      assert.ok(stats.oracleAnswered >= RUNS * 0.01, `only ${stats.oracleAnswered} oracle searches were answered`);
      assert.ok(stats.oracleNonEmpty >= stats.oracleAnswered * 0.25, `only ${stats.oracleNonEmpty} of ${stats.oracleAnswered} oracle searches found traces`);
    }
  });

  it('OTLP over HTTP and gRPC: no server errors, each answer as the input calls for', async () => {
    const t0 = Date.now();
    const send = (c: OtlpCase, p: Prepared) =>
      c.transport === 'http'
        ? httpRequest('POST', `${server.s.otlpHttp}/v1/traces`, { ...(p.contentType !== null ? { 'content-type': p.contentType } : {}), ...(p.contentEncoding ? { 'content-encoding': p.contentEncoding } : {}) }, p.body)
        : grpcExport(p);
    const check = async (c: OtlpCase, afterFailure: boolean): Promise<void> => {
      await server.ensureUp();
      const p = prepare(c, ctx);
      for (let attempt = 0; attempt < (c.resend ? 2 : 1); attempt++) {
        const logFrom = server.s.logs.length;
        const a = await send(c, p);
        stats.requests++;
        if (c.transport === 'grpc') stats.grpc++;
        else stats.http++;
        if (c.encoding === 'json') stats.json++;
        if (c.corruption) stats.corrupted++;
        const v = judgeOtlp(p, c.transport, a);
        const outcome = 'error' in a ? 'no answer' : 'status' in a ? String(a.status) : `grpc ${a.grpcStatus}`;
        const kind = `${c.transport}/${c.encoding}/${c.corruption?.k ?? 'clean'}`;
        const row = (stats.outcomes[kind] ??= {});
        row[outcome] = (row[outcome] ?? 0) + 1;
        if (!v.ok) throw new Error(`${v.why}${server.errorsSince(logFrom)}${server.exited() ? `\n  the server exited: ${server.describeExit()}` : ''}`);
        await server.assertUp();
        if (v.refused) stats.refused++;
        if (!v.acknowledged) continue;
        stats.acknowledgedRequests++;
        for (const s of p.acknowledged) {
          const key = `${s.traceId}/${s.spanId}`;
          // While a failure shrinks, the same ids go out again with other content.
          if (afterFailure) tainted.add(key);
          else acked.set(key, { name: s.name, startNs: s.startNs, endNs: s.endNs, kind: s.kind });
        }
      }
    };
    const reports = await runPhase('otlp', LANES, otlpCaseArb(ctx), check, (c) => showOtlp(c, ctx));
    timings.otlp = Date.now() - t0;
    assertNoFailures(reports);
    if (!REPLAY && ONLY !== 'traceql') {
      assert.ok(stats.requests >= RUNS, `only ${stats.requests} of ${RUNS} OTLP requests ran in ${PHASE_TIME_LIMIT_MS} ms`);
      assert.ok(stats.grpc >= RUNS * 0.1, `only ${stats.grpc} requests over gRPC`);
      assert.ok(stats.json >= RUNS * 0.2, `only ${stats.json} OTLP/JSON requests`);
    }
  });

  it('the server stayed up, and every acknowledged span is stored exactly once, as sent', async () => {
    const t0 = Date.now();
    assert.equal(server.exited(), false, server.exited() ? server.describeExit() : '');
    assert.deepEqual(server.crashes, [], 'the server died during the run');
    const ready = await httpRequest('GET', `${server.s.api}/ready`, {});
    assert.ok(!('error' in ready) && ready.status === 200, `not ready: ${JSON.stringify(ready)}`);
    for (const k of tainted) acked.delete(k);
    if (!REPLAY && ONLY !== 'traceql') assert.ok(acked.size >= RUNS / 2, `only ${acked.size} spans were acknowledged`);
    const byTrace = new Map<string, string[]>();
    for (const key of acked.keys()) {
      const [t, s] = key.split('/');
      if (!byTrace.has(t)) byTrace.set(t, []);
      byTrace.get(t)!.push(s);
    }
    const problems = new Map<string, string>();
    let pending = [...byTrace.keys()];
    const deadline = Date.now() + 30_000;
    while (pending.length) {
      const next: string[] = [];
      await Promise.all(
        Array.from({ length: LANES }, async () => {
          for (let t = pending.pop(); t !== undefined; t = pending.pop()) {
            const a = await httpRequest('GET', `${server.s.api}/api/v2/traces/${t}`, { accept: 'application/protobuf' });
            if ('error' in a || (a.status !== 200 && a.status !== 404)) {
              problems.set(t, `trace by id: ${'error' in a ? a.error : `HTTP ${a.status} ${a.body.toString('utf8', 0, 200)}`}`);
              continue;
            }
            const seen = new Map<string, { count: number; name: string; start: string; end: string; kind: number }>();
            if (a.status === 200) {
              const msg = decodeToObject(otlp.TraceByIDResponse, a.body);
              for (const rs of msg.trace?.resourceSpans ?? [])
                for (const ss of rs.scopeSpans ?? [])
                  for (const sp of ss.spans ?? []) {
                    const id = Buffer.from(sp.spanId).toString('hex');
                    const prev = seen.get(id);
                    seen.set(id, { count: (prev?.count ?? 0) + 1, name: sp.name ?? '', start: String(sp.startTimeUnixNano ?? '0'), end: String(sp.endTimeUnixNano ?? '0'), kind: sp.kind ?? 0 });
                  }
            }
            let missing = 0;
            for (const sid of byTrace.get(t)!) {
              const want = acked.get(`${t}/${sid}`)!;
              const got = seen.get(sid);
              if (!got) {
                missing++;
                continue;
              }
              if (got.count !== 1) problems.set(`${t}/${sid}`, `stored ${got.count} times`);
              else if (got.name !== want.name || got.start !== String(want.startNs) || got.end !== String(want.endNs) || got.kind !== want.kind)
                problems.set(`${t}/${sid}`, `stored as ${JSON.stringify(got)}, sent ${JSON.stringify({ name: want.name.slice(0, 100), start: String(want.startNs), end: String(want.endNs), kind: want.kind })}`);
            }
            if (missing) {
              // Acknowledged means durable, not yet searchable: the store takes it within a flush.
              if (Date.now() < deadline) next.push(t);
              else problems.set(t, `${missing} of ${byTrace.get(t)!.length} acknowledged spans missing`);
            } else problems.delete(t);
          }
        }),
      );
      pending = next;
      if (pending.length) await new Promise((r) => setTimeout(r, 500));
    }
    // What was acknowledged reached the store, all of it: nothing refused into quarantine, no failed insert.
    let ingest: Record<string, number> = {};
    for (const deadline2 = Date.now() + 30_000; ; ) {
      const st = await httpRequest('GET', `${server.s.api}/api/sightline/status`, {});
      assert.ok(!('error' in st) && st.status === 200, `status: ${JSON.stringify('error' in st ? st : st.body.toString().slice(0, 300))}`);
      ingest = (JSON.parse(st.body.toString()) as { ingest: Record<string, number> }).ingest;
      if ((ingest.backlogBytes === 0 && ingest.storedSpans === ingest.acceptedSpans) || Date.now() > deadline2) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    timings.verify = Date.now() - t0;
    assert.deepEqual(
      { storeErrors: ingest.storeErrors, quarantinedSpans: ingest.quarantinedSpans, stored: ingest.storedSpans },
      { storeErrors: 0, quarantinedSpans: 0, stored: ingest.acceptedSpans },
      `ingest counters: ${JSON.stringify(ingest)}`,
    );
    console.log(`fuzz: checked ${acked.size} acknowledged spans in ${byTrace.size} traces (${tainted.size} left out after a failure)`);
    assert.deepEqual([...problems].slice(0, 20), []);
  });
});

describe('fuzz judges (each can fail)', () => {
  const accepted: Expectation = { kind: 'accepted', total: 3, rejected: 1 };
  const plain: Prepared['grpc'] = { compressed: false, encoding: null, lengthDelta: 0 };
  const sent = (expect: Expectation, contentType: string | null = 'application/x-protobuf', grpc = plain) => ({ expect, contentType, grpc });
  const partial = (n: number) => Buffer.from(otlp.ExportTraceServiceResponse.encode(otlp.ExportTraceServiceResponse.fromObject({ partialSuccess: { rejectedSpans: n, errorMessage: 'x' } })).finish());

  it('OTLP: a 500, a wrong rejected count, an INTERNAL status and no answer fail; documented refusals pass', () => {
    const ok = (v: OtlpVerdict) => v.ok;
    assert.equal(ok(judgeOtlp(sent(accepted), 'http', { status: 200, headers: {}, body: partial(1) })), true);
    assert.equal(ok(judgeOtlp(sent(accepted), 'http', { status: 200, headers: {}, body: partial(0) })), false);
    assert.equal(ok(judgeOtlp(sent(accepted), 'http', { status: 500, headers: {}, body: Buffer.from('x') })), false);
    assert.equal(ok(judgeOtlp(sent(accepted), 'http', { status: 503, headers: {}, body: Buffer.from('x') })), true);
    assert.equal(ok(judgeOtlp(sent({ kind: 'no-server-error' }, 'application/json'), 'http', { status: 502, headers: {}, body: Buffer.from('x') })), false);
    assert.equal(ok(judgeOtlp(sent({ kind: 'no-server-error' }, 'application/json'), 'http', { error: 'ECONNRESET' })), false);
    assert.equal(ok(judgeOtlp(sent({ kind: 'status', http: [415], grpc: [], why: 'x' }, 'text/plain'), 'http', { status: 400, headers: {}, body: Buffer.from('x') })), false);
    assert.equal(ok(judgeOtlp(sent({ kind: 'no-server-error' }, null), 'grpc', { httpStatus: 200, grpcStatus: 13, message: 'internal error', body: Buffer.alloc(0) })), false);
    const gzipped = { compressed: true, encoding: 'gzip', lengthDelta: -1 };
    assert.equal(ok(judgeOtlp(sent({ kind: 'no-server-error' }, null, gzipped), 'grpc', { httpStatus: 200, grpcStatus: 13, message: 'Failed to decompress message', body: Buffer.alloc(0) })), true);
    assert.equal(ok(judgeOtlp(sent({ kind: 'no-server-error' }, null), 'grpc', { httpStatus: 200, grpcStatus: 13, message: 'Failed to decompress message', body: Buffer.alloc(0) })), false);
    assert.equal(ok(judgeOtlp(sent({ kind: 'no-server-error' }, null), 'grpc', { httpStatus: 200, grpcStatus: 14, message: 'stopping', body: Buffer.alloc(0) })), true);
    assert.equal(ok(judgeOtlp(sent({ kind: 'accepted', total: 2, rejected: 2 }, null), 'grpc', { httpStatus: 200, grpcStatus: 0, message: '', body: Buffer.alloc(0) })), false);
  });

  it('TraceQL: a 500, a 400 for a valid query and a wrong oracle answer fail', () => {
    const data = seedDataset(1_700_000_000_000_000_000n);
    const valid: TraceQLCase = { kind: 'valid', endpoint: 'search', q: '{ }', params: {} };
    const json = (v: unknown) => ({ status: 200, headers: {}, body: Buffer.from(JSON.stringify(v)) });
    assert.equal(judgeQuery(valid, data, { status: 500, headers: {}, body: Buffer.from('internal error\n') }).ok, false);
    assert.equal(judgeQuery(valid, data, { status: 400, headers: {}, body: Buffer.from('bad\n') }).ok, false);
    assert.equal(judgeQuery(valid, data, { status: 501, headers: {}, body: Buffer.from('unsupported\n') }).ok, true);
    assert.equal(judgeQuery({ ...valid, kind: 'junk' }, data, { status: 400, headers: {}, body: Buffer.from('bad\n') }).ok, true);
    const errors: TraceQLCase = { kind: 'oracle', endpoint: 'search', q: '{ status = error }', spanset: { s: 'filter', cond: { c: 'cmp', field: 'status', op: '=', value: { type: 'status', v: 2 } } }, params: {} };
    const want = [...expectedTraces(errors.spanset!, data)];
    assert.ok(want.length > 0 && want.length < 60);
    assert.equal(judgeQuery(errors, data, json({ traces: want.map((traceID) => ({ traceID })) })).ok, true);
    assert.equal(judgeQuery(errors, data, json({ traces: want.slice(1).map((traceID) => ({ traceID })) })).ok, false);
  });
});
