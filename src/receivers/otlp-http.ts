import { promisify } from 'node:util';
import zlib from 'node:zlib';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import cors from '@fastify/cors';
import type { Logger } from 'pino';
import { SightlineError, asSightlineError } from '../errors.js';
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
  /** The tenant a request's spans are stored under. */
  tenantOf: (headers: Record<string, string | string[] | undefined>) => string;
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
  });
  await app.register(cors, {
    origin: opts.corsOrigins.includes('*') ? true : opts.corsOrigins,
    methods: ['POST', 'OPTIONS'],
    maxAge: 86_400,
  });

  app.removeAllContentTypeParsers();
  app.addContentTypeParser([...PROTOBUF_TYPES, JSON_TYPE], { parseAs: 'buffer', bodyLimit: opts.maxBodyBytes }, (_req, body, done) =>
    done(null, body),
  );
  app.addContentTypeParser('*', (req, _payload, done) => {
    done(new SightlineError('UNSUPPORTED_MEDIA_TYPE', `unsupported content type ${JSON.stringify(req.headers['content-type'] ?? '')}; use application/x-protobuf or application/json`));
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
  app.addHook('onResponse', async (req) => releases.get(req)?.());
  app.addHook('onRequestAbort', async (req) => releases.get(req)?.());

  app.setErrorHandler((err, req, reply) => sendError(reply, encodingOf(req), toSightlineError(err), opts.log));
  app.setNotFoundHandler((req, reply) =>
    sendError(reply, encodingOf(req), new SightlineError('NOT_FOUND', `no route ${req.method} ${req.url}; OTLP traces go to POST /v1/traces`), opts.log),
  );

  app.post('/v1/traces', async (req, reply) => {
    const encoding = encodingOf(req);
    if (req.body === undefined || req.body === null)
      throw new SightlineError('UNSUPPORTED_MEDIA_TYPE', 'missing Content-Type; use application/x-protobuf or application/json');
    const body = await decompress(req.body as Buffer, req.headers['content-encoding'], opts.maxBodyBytes);
    const result = await opts.handler.export(body, encoding, opts.tenantOf(req.headers), releases.has(req));
    if (encoding === 'protobuf') return reply.type('application/x-protobuf').send(exportResponseProtobuf(result));
    return reply.type(JSON_TYPE).send(exportResponseJson(result));
  });

  return app;
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
  const retryAfter = (err as { retryAfterSeconds?: number }).retryAfterSeconds;
  if (retryAfter !== undefined) reply.header('Retry-After', String(retryAfter));
  reply.code(err.httpStatus);
  if (encoding === 'protobuf')
    return reply.type('application/x-protobuf').send(rpcStatusProtobuf(err.grpcStatus, err.message));
  return reply.type(JSON_TYPE).send(rpcStatusJson(err.grpcStatus, err.message));
}
