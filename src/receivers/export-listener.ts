import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { ServerOptions as HttpsServerOptions } from 'node:https';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import cors from '@fastify/cors';
import type { Logger } from 'pino';
import { SightlineError, asSightlineError } from '../errors.js';
import { resolveCaller, WRITE_SPANS, type Authenticator } from '../auth/index.js';
import type { BudgetReservation } from '../ingest/index.js';
import { DEFAULT_LISTENER_LIMITS, ListenerGuard } from './listener-limits.js';

/**
 * The HTTP listener that the OTLP/HTTP and Zipkin receivers share: the
 * connection caps and timeouts, CORS, the body limit, bodies read into
 * pooled buffers and charged to the ingest budget as they arrive, the
 * content types taken, gzip, and the identity and tenant resolved before
 * the body is read. Each receiver adds its routes, and answers errors in
 * its own format with {@link errorReply}.
 */

const gunzip = promisify(zlib.gunzip);

export const PROTOBUF_TYPES = ['application/x-protobuf', 'application/protobuf'];
export const JSON_TYPE = 'application/json';

/** What the OTLP/HTTP and Zipkin listeners are both given. */
export interface HttpListenerOptions {
  log: Logger;
  /** Largest accepted body, compressed and decompressed alike. */
  maxBodyBytes: number;
  /** Origins allowed to send from a browser (an exporter or zipkin-js in a page); ['*'] for any. */
  corsOrigins: string[];
  /** Who may write, and into which tenant (X-Scope-OrgID among those the identity holds). */
  authenticator: Authenticator;
  defaultTenant: string;
  /** Serve HTTPS with these options (certificate, key, client CA); plain HTTP without. */
  https?: HttpsServerOptions;
  /** Connection caps and timeouts, and their counters; default limits without. */
  guard?: ListenerGuard;
}

export interface ExportListenerOptions extends HttpListenerOptions {
  /** Names the listener's log lines. */
  component: string;
  /** Holds a request's bytes in the ingest budget until it is answered; throws when ingest is past it. */
  reserve: () => BudgetReservation;
  /** How a refusal of the content type tells the client what to send instead. */
  contentTypesHint: string;
}

/** A request body to export, decompressed and charged to the ingest budget. */
export interface ExportBody {
  body: Buffer;
  /** The tenant the request's identity writes into. */
  tenant: string;
  /** The body's bytes are held in the budget already. */
  reserved: boolean;
}

export interface ExportListener {
  app: FastifyInstance;
  /** The body of a POST to an export route, with its tenant. */
  exportBody(req: FastifyRequest): Promise<ExportBody>;
}

/**
 * A Fastify server that takes export POSTs (protobuf or JSON, optionally
 * gzip): its routes, error and not-found handlers are the caller's.
 */
export async function createExportListener(opts: ExportListenerOptions): Promise<ExportListener> {
  const guard = opts.guard ?? new ListenerGuard(DEFAULT_LISTENER_LIMITS);
  const app = Fastify({
    loggerInstance: opts.log.child({ component: opts.component }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    // Body limit, and the timeouts: collector and SDK exporters keep
    // connections open between batches (keep-alive), a hostile client's
    // stalled or trickled request is cut off.
    ...guard.fastifyOptions(opts.maxBodyBytes, opts.https),
  }) as unknown as FastifyInstance;
  guard.guardHttp(app.server, { tls: opts.https !== undefined });
  await app.register(cors, {
    origin: opts.corsOrigins.includes('*') ? true : opts.corsOrigins,
    methods: ['POST', 'OPTIONS'],
    maxAge: 86_400,
  });

  app.removeAllContentTypeParsers();
  // Bodies are read into pooled buffers, lent to the request until it is answered (see BodyPool).
  const bodies = new BodyPool(opts.maxBodyBytes);
  const reads = new WeakMap<FastifyRequest, BodyRead>();
  const budgets = new WeakMap<FastifyRequest, BudgetReservation>();
  app.addContentTypeParser([...PROTOBUF_TYPES, JSON_TYPE], (req, payload, done) => {
    let budget = budgets.get(req);
    if (!budget) {
      // A body on a method no route takes (it is answered 404): charged all the same.
      try {
        budget = opts.reserve();
      } catch (e) {
        return done(e as Error, undefined);
      }
      budgets.set(req, budget);
    }
    const read: BodyRead = { body: null, received: 0 };
    reads.set(req, read);
    readBody(payload, Number(req.headers['content-length']), opts.maxBodyBytes, bodies, read, budget, (n) => guard.dropped(n)).then(
      (bytes) => done(null, bytes),
      (e: Error) => done(e, undefined),
    );
  });
  app.addContentTypeParser('*', (req, _payload, done) => {
    done(new SightlineError('UNSUPPORTED_MEDIA_TYPE', `unsupported content type ${JSON.stringify(req.headers['content-type'] ?? '')}; ${opts.contentTypesHint}`));
  });

  // Who writes, and into which tenant: decided before anything is read.
  const tenants = new WeakMap<FastifyRequest, string>();
  app.addHook('onRequest', async (req) => {
    if (req.method !== 'POST') return;
    const header = (name: string) => {
      const v = req.headers[name];
      return Array.isArray(v) ? v[v.length - 1] : v;
    };
    // No cookie: a browser's login session never writes spans, so a page on
    // another site cannot make a signed-in browser post them.
    const { tenants: [tenant] } = await resolveCaller(
      opts.authenticator,
      { authorization: header('authorization'), headers: req.headers, remoteAddress: req.socket.remoteAddress, remotePort: req.socket.remotePort },
      WRITE_SPANS,
      header('x-scope-orgid'),
      opts.defaultTenant,
    );
    tenants.set(req, tenant);
  });

  // Refuse before reading the body when it declares more than the limit,
  // or when ingest is past its budget already. Otherwise the body is
  // charged to the budget as its bytes arrive, not as declared: a client
  // that declares 16 MiB and trickles it holds only what it has sent. The
  // charge is held until the reply is sent.
  app.addHook('onRequest', async (req) => {
    if (req.method !== 'POST') return;
    if (Number(req.headers['content-length']) > opts.maxBodyBytes) throw new SightlineError('BODY_TOO_LARGE', 'request body is larger than the limit (--max-body)');
    budgets.set(req, opts.reserve());
  });
  const finished = (req: FastifyRequest) => {
    budgets.get(req)?.release();
    budgets.delete(req);
    const read = reads.get(req);
    if (read) {
      reads.delete(req);
      if (read.body) bodies.release(read.body);
    }
  };
  app.addHook('onResponse', async (req) => finished(req));
  app.addHook('onRequestAbort', async (req) => finished(req));

  const exportBody = async (req: FastifyRequest): Promise<ExportBody> => {
    if (req.body === undefined || req.body === null)
      throw new SightlineError('UNSUPPORTED_MEDIA_TYPE', `missing Content-Type; ${opts.contentTypesHint}`);
    const raw = req.body as Buffer;
    const body = await decompress(raw, req.headers['content-encoding'], opts.maxBodyBytes);
    const tenant = tenants.get(req);
    if (!tenant) throw new SightlineError('UNAUTHENTICATED', 'no tenant was chosen for this request');
    const budget = budgets.get(req);
    // The decompressed copy is held while it is decoded, on top of the body.
    if (body !== raw) budget?.take(body.length);
    return { body, tenant, reserved: budget !== undefined };
  };
  return { app, exportBody };
}

/** Whether the request's body is JSON (else protobuf: no other type gets past the listener). */
export function isJsonBody(req: FastifyRequest): boolean {
  return (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase() === JSON_TYPE;
}

/**
 * Sets the status and headers of a refusal, before the listener writes its
 * body in its own format; logs an internal error as `<what> request failed`.
 */
export function errorReply(reply: FastifyReply, err: SightlineError, log: Logger, what: string): FastifyReply {
  if (err.code === 'INTERNAL') log.error({ err: err.cause ?? err }, `${what} request failed`);
  if (err.code === 'UNAUTHENTICATED') reply.header('WWW-Authenticate', 'Bearer realm="sightline"');
  const retryAfter = (err as { retryAfterSeconds?: number }).retryAfterSeconds;
  if (retryAfter !== undefined) reply.header('Retry-After', String(retryAfter));
  // Refused before its body was all in (too large, over the budget): the
  // rest is read and dropped until the client sees this, then the
  // connection ends rather than wait out a body nobody will use.
  if (!reply.request.raw.complete) reply.header('Connection', 'close');
  return reply.code(err.httpStatus);
}

/** A growable buffer a request body is read into. */
interface PooledBody {
  buf: Buffer;
}

/** One request's body as it is read. */
interface BodyRead {
  /** Taken on the first byte, not before: a connection that sends no body holds no buffer. */
  body: PooledBody | null;
  received: number;
}

/**
 * Request bodies, read into buffers that are reused request after request.
 * A body arrives in socket-sized chunks; concatenating them into a fresh
 * buffer per request made V8 run a full garbage collection about every
 * 200 ms at 70k spans/s (external memory pressure). The decoders copy what
 * they keep out of the body, so its buffer is free again once the request
 * is answered.
 *
 * Two sizes: a body starts in a small buffer unless its first chunk is
 * big, and moves to a large one only once it has sent more. So a slow
 * client, or many of them, holding a connection with a byte of body holds
 * 16 KiB each, not 256 KiB.
 */
class BodyPool {
  private readonly large: PooledBody[] = [];
  private readonly small: PooledBody[] = [];
  constructor(private readonly maxBodyBytes: number) {}

  /** A buffer for a body whose first chunk is `first` bytes. */
  acquire(first: number): PooledBody {
    if (first > SMALL_BODY) return this.large.pop() ?? { buf: Buffer.allocUnsafe(Math.max(LARGE_BODY, first)) };
    return this.small.pop() ?? { buf: Buffer.allocUnsafe(SMALL_BODY) };
  }

  /** Moves a body that outgrew its buffer, with its first `used` bytes, to one that holds `need`. */
  grow(body: PooledBody, used: number, need: number, limit: number): void {
    let next: Buffer | undefined;
    if (body.buf.length === SMALL_BODY) {
      const pooled = this.large.pop();
      if (pooled && pooled.buf.length >= need) next = pooled.buf;
      else if (pooled) this.large.push(pooled);
    }
    next ??= Buffer.allocUnsafe(Math.min(limit, Math.max(body.buf.length * 2, need, LARGE_BODY)));
    body.buf.copy(next, 0, 0, used);
    this.release({ buf: body.buf });
    body.buf = next;
  }

  release(body: PooledBody): void {
    // Keep a few of each size, and not those a huge request grew.
    if (body.buf.length === SMALL_BODY) {
      if (this.small.length < 64) this.small.push(body);
    } else if (this.large.length < 16 && body.buf.length >= LARGE_BODY && body.buf.length <= Math.min(this.maxBodyBytes, 4 * 1024 * 1024)) this.large.push(body);
  }
}

const SMALL_BODY = 16 * 1024;
const LARGE_BODY = 256 * 1024;

/**
 * Reads a request body and returns its bytes, as a view of a pooled buffer
 * (taken on the first byte, grown as needed): fastify's own reader, with
 * the same limits and errors, but no new buffer per request. Each chunk is
 * charged to the ingest budget as it arrives; a body refused part way (too
 * large, or past the budget) is read on and thrown away, so that the reply
 * reaches the client, and the connection is closed after it (see errorReply).
 * Bytes received and not kept are counted with `dropped`.
 */
function readBody(payload: NodeJS.ReadableStream, contentLength: number, limit: number, bodies: BodyPool, read: BodyRead, budget: BudgetReservation, dropped: (bytes: number) => void): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (contentLength > limit) return reject(new SightlineError('BODY_TOO_LARGE', 'request body is larger than the limit (--max-body)'));
    let settled = false;
    const cleanup = () => {
      settled = true;
      payload.removeListener('data', onData);
      payload.removeListener('end', onEnd);
      payload.removeListener('error', onError);
      payload.removeListener('close', onClose);
    };
    const refuse = (err: SightlineError) => {
      cleanup();
      dropped(read.received);
      // Read the rest without keeping it, so the reply can be sent.
      payload.on('data', (c: Buffer | string) => dropped(c.length));
      payload.on('error', () => {});
      payload.resume();
      reject(err);
    };
    const onData = (chunk: Buffer | string) => {
      const c = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      const len = read.received;
      if (len + c.length > limit) return refuse(new SightlineError('BODY_TOO_LARGE', 'request body is larger than the limit (--max-body)'));
      try {
        budget.take(c.length);
      } catch (e) {
        return refuse(e as SightlineError);
      }
      if (!read.body) read.body = bodies.acquire(c.length);
      else if (len + c.length > read.body.buf.length) bodies.grow(read.body, len, len + c.length, limit);
      c.copy(read.body.buf, len);
      read.received = len + c.length;
    };
    const onEnd = () => {
      cleanup();
      const len = read.received;
      if (!Number.isNaN(contentLength) && len !== contentLength) {
        dropped(len);
        return reject(new SightlineError('MALFORMED_REQUEST', `request body length ${len} does not match its Content-Length ${contentLength}`));
      }
      resolve(read.body ? read.body.buf.subarray(0, len) : Buffer.alloc(0));
    };
    const onError = (e: Error) => {
      cleanup();
      dropped(read.received);
      reject(new SightlineError('MALFORMED_REQUEST', `request body could not be read: ${e.message}`));
    };
    // A connection closed mid-body (by the client, or by the idle and
    // request timeouts) may end the stream without an error.
    const onClose = () => {
      if (!settled) onError(new Error('the connection closed before the body was complete'));
    };
    payload.on('data', onData);
    payload.on('end', onEnd);
    payload.on('error', onError);
    payload.on('close', onClose);
    payload.resume();
  });
}

async function decompress(body: Buffer, encoding: string | undefined, limit: number): Promise<Buffer> {
  const e = (encoding ?? 'identity').trim().toLowerCase();
  if (e === 'identity' || e === '') return body;
  if (e !== 'gzip')
    throw new SightlineError('UNSUPPORTED_MEDIA_TYPE', `unsupported Content-Encoding ${JSON.stringify(encoding)}; use gzip or none`);
  try {
    // maxOutputLength stops a gzip bomb after `limit` bytes of output.
    return await gunzip(body, { maxOutputLength: limit });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
      throw new SightlineError('BODY_TOO_LARGE', `decompressed body is larger than the limit of ${limit} bytes`);
    throw new SightlineError('MALFORMED_REQUEST', `body is not valid gzip: ${(err as Error).message}`);
  }
}

export function toSightlineError(err: unknown): SightlineError {
  if (err instanceof SightlineError) return err;
  const e = err as { code?: string; statusCode?: number; message?: string };
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new SightlineError('BODY_TOO_LARGE', `request body is larger than the limit (--max-body)`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new SightlineError('UNSUPPORTED_MEDIA_TYPE', 'unsupported content type; use application/x-protobuf or application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new SightlineError('MALFORMED_REQUEST', e.message ?? 'bad request');
  }
  if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500)
    return new SightlineError('MALFORMED_REQUEST', e.message ?? 'bad request');
  return asSightlineError(err);
}
