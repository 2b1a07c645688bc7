import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { ServerOptions as HttpsServerOptions } from 'node:https';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import cors from '@fastify/cors';
import type { Logger } from 'pino';
import { SightlineError, asSightlineError } from '../errors.js';
import { resolveCaller, WRITE_SPANS, type Authenticator } from '../auth/index.js';
import { exportResponseJson, exportResponseProtobuf, rpcStatusJson, rpcStatusProtobuf } from './otlp-replies.js';
import type { Encoding, TraceExportHandler } from './trace-export.js';

const gunzip = promisify(zlib.gunzip);

export interface OtlpHttpOptions {
  handler: TraceExportHandler;
  log: Logger;
  /** Largest accepted body, compressed and decompressed alike. */
  maxBodyBytes: number;
  /** Origins allowed to export from a browser; ['*'] for any. */
  corsOrigins: string[];
  /** Who may write, and into which tenant (X-Scope-OrgID among those the identity holds). */
  authenticator: Authenticator;
  defaultTenant: string;
  /** Serve HTTPS with these options (certificate, key, client CA); plain HTTP without. */
  https?: HttpsServerOptions;
}

const PROTOBUF_TYPES = ['application/x-protobuf', 'application/protobuf'];
const JSON_TYPE = 'application/json';

/**
 * OTLP/HTTP: POST /v1/traces with protobuf or JSON, optionally gzip.
 * Replies use the request's encoding, as the OTLP spec requires, and errors
 * carry a google.rpc.Status.
 */
export async function createOtlpHttpServer(opts: OtlpHttpOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: opts.log.child({ component: 'otlp-http' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.maxBodyBytes,
    // Collector and SDK exporters keep connections open between batches.
    keepAliveTimeout: 65_000,
    ...(opts.https ? { https: opts.https } : {}),
  }) as unknown as FastifyInstance;
  await app.register(cors, {
    origin: opts.corsOrigins.includes('*') ? true : opts.corsOrigins,
    methods: ['POST', 'OPTIONS'],
    maxAge: 86_400,
  });

  app.removeAllContentTypeParsers();
  // Bodies are read into pooled buffers, lent to the request until it is answered (see BodyPool).
  const bodies = new BodyPool(opts.maxBodyBytes);
  const lent = new WeakMap<FastifyRequest, PooledBody>();
  app.addContentTypeParser([...PROTOBUF_TYPES, JSON_TYPE], (req, payload, done) => {
    const body = bodies.acquire();
    lent.set(req, body);
    readBody(payload, Number(req.headers['content-length']), opts.maxBodyBytes, body).then(
      (bytes) => done(null, bytes),
      (e: Error) => done(e, undefined),
    );
  });
  app.addContentTypeParser('*', (req, _payload, done) => {
    done(new SightlineError('UNSUPPORTED_MEDIA_TYPE', `unsupported content type ${JSON.stringify(req.headers['content-type'] ?? '')}; use application/x-protobuf or application/json`));
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

  // Refuse before reading the body when ingest is past its budget, and
  // count the body against the budget until the reply is sent.
  const releases = new WeakMap<FastifyRequest, () => void>();
  app.addHook('onRequest', async (req) => {
    if (req.method !== 'POST') return;
    const length = Number(req.headers['content-length']);
    // Without a length, assume the largest body we would accept.
    releases.set(req, opts.handler.reserve(Number.isFinite(length) && length >= 0 ? Math.min(length, opts.maxBodyBytes) : opts.maxBodyBytes));
  });
  const done = (req: FastifyRequest) => {
    releases.get(req)?.();
    const body = lent.get(req);
    if (body) {
      lent.delete(req);
      bodies.release(body);
    }
  };
  app.addHook('onResponse', async (req) => done(req));
  app.addHook('onRequestAbort', async (req) => done(req));

  app.setErrorHandler((err, req, reply) => sendError(reply, encodingOf(req), toSightlineError(err), opts.log));
  app.setNotFoundHandler((req, reply) =>
    sendError(reply, encodingOf(req), new SightlineError('NOT_FOUND', `no route ${req.method} ${req.url}; OTLP traces go to POST /v1/traces`), opts.log),
  );

  app.post('/v1/traces', async (req, reply) => {
    const encoding = encodingOf(req);
    if (req.body === undefined || req.body === null)
      throw new SightlineError('UNSUPPORTED_MEDIA_TYPE', 'missing Content-Type; use application/x-protobuf or application/json');
    const body = await decompress(req.body as Buffer, req.headers['content-encoding'], opts.maxBodyBytes);
    const tenant = tenants.get(req);
    if (!tenant) throw new SightlineError('UNAUTHENTICATED', 'no tenant was chosen for this request');
    const result = await opts.handler.export(body, encoding, tenant, releases.has(req));
    if (encoding === 'protobuf') return reply.type('application/x-protobuf').send(exportResponseProtobuf(result));
    return reply.type(JSON_TYPE).send(exportResponseJson(result));
  });

  return app;
}

/** A growable buffer a request body is read into. */
interface PooledBody {
  buf: Buffer;
}

/**
 * Request bodies, read into buffers that are reused request after request.
 * A body arrives in socket-sized chunks; concatenating them into a fresh
 * buffer per request made V8 run a full garbage collection about every
 * 200 ms at 70k spans/s (external memory pressure). The decoders copy what
 * they keep out of the body, so its buffer is free again once the request
 * is answered.
 */
class BodyPool {
  private readonly idle: PooledBody[] = [];
  constructor(private readonly maxBodyBytes: number) {}

  acquire(): PooledBody {
    return this.idle.pop() ?? { buf: Buffer.allocUnsafe(256 * 1024) };
  }

  release(body: PooledBody): void {
    // Keep a few, and not those a huge request grew.
    if (this.idle.length < 16 && body.buf.length <= Math.min(this.maxBodyBytes, 4 * 1024 * 1024)) this.idle.push(body);
  }
}

/**
 * Reads a request body into `into` (growing it as needed) and returns the
 * bytes read, as a view: fastify's own reader, with the same limits and
 * errors, but no new buffer per request.
 */
function readBody(payload: NodeJS.ReadableStream, contentLength: number, limit: number, into: PooledBody): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (contentLength > limit) return reject(new SightlineError('BODY_TOO_LARGE', 'request body is larger than the limit (--max-body)'));
    let len = 0;
    const cleanup = () => {
      payload.removeListener('data', onData);
      payload.removeListener('end', onEnd);
      payload.removeListener('error', onError);
    };
    const onData = (chunk: Buffer | string) => {
      const c = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (len + c.length > limit) {
        cleanup();
        // Drain the rest without keeping it, so the reply can be sent.
        payload.resume();
        return reject(new SightlineError('BODY_TOO_LARGE', 'request body is larger than the limit (--max-body)'));
      }
      if (len + c.length > into.buf.length) {
        const grown = Buffer.allocUnsafe(Math.min(limit, Math.max(into.buf.length * 2, len + c.length)));
        into.buf.copy(grown, 0, 0, len);
        into.buf = grown;
      }
      c.copy(into.buf, len);
      len += c.length;
    };
    const onEnd = () => {
      cleanup();
      if (!Number.isNaN(contentLength) && len !== contentLength)
        return reject(new SightlineError('MALFORMED_REQUEST', `request body length ${len} does not match its Content-Length ${contentLength}`));
      resolve(into.buf.subarray(0, len));
    };
    const onError = (e: Error) => {
      cleanup();
      reject(new SightlineError('MALFORMED_REQUEST', `request body could not be read: ${e.message}`));
    };
    payload.on('data', onData);
    payload.on('end', onEnd);
    payload.on('error', onError);
    payload.resume();
  });
}

function encodingOf(req: FastifyRequest): Encoding {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  return type === JSON_TYPE ? 'json' : 'protobuf';
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

function toSightlineError(err: unknown): SightlineError {
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

function sendError(reply: FastifyReply, encoding: Encoding, err: SightlineError, log: Logger): FastifyReply {
  if (err.code === 'INTERNAL') log.error({ err: err.cause ?? err }, 'OTLP/HTTP request failed');
  if (err.code === 'UNAUTHENTICATED') reply.header('WWW-Authenticate', 'Bearer realm="sightline"');
  const retryAfter = (err as { retryAfterSeconds?: number }).retryAfterSeconds;
  if (retryAfter !== undefined) reply.header('Retry-After', String(retryAfter));
  reply.code(err.httpStatus);
  if (encoding === 'protobuf')
    return reply.type('application/x-protobuf').send(rpcStatusProtobuf(err.grpcStatus, err.message));
  return reply.type(JSON_TYPE).send(rpcStatusJson(err.grpcStatus, err.message));
}
