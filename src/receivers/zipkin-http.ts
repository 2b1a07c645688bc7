import type { ServerOptions as HttpsServerOptions } from 'node:https';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import cors from '@fastify/cors';
import type { Logger } from 'pino';
import { SightlineError } from '../errors.js';
import { resolveCaller, WRITE_SPANS, type Authenticator } from '../auth/index.js';
import type { BudgetReservation } from '../ingest/index.js';
import { AllSpansRejectedError, type TraceExportHandler, type ZipkinEncoding } from './trace-export.js';
import { DEFAULT_LISTENER_LIMITS, ListenerGuard } from './listener-limits.js';
import { BodyPool, decompress, readBody, toSightlineError, type BodyRead } from './otlp-http.js';

export interface ZipkinHttpOptions {
  /** The OTLP trace handler: Zipkin spans take its path, translated on the way in. */
  handler: TraceExportHandler;
  log: Logger;
  /** Largest accepted body, compressed and decompressed alike. */
  maxBodyBytes: number;
  /** Origins allowed to send from a browser (zipkin-js in a page); ['*'] for any. */
  corsOrigins: string[];
  /** Who may write, and into which tenant (X-Scope-OrgID among those the identity holds), as for OTLP. */
  authenticator: Authenticator;
  defaultTenant: string;
  /** Serve HTTPS with these options; plain HTTP without. */
  https?: HttpsServerOptions;
  /** Connection caps and timeouts, and their counters; default limits without. */
  guard?: ListenerGuard;
  /** Counted into; a fresh set without. */
  counters?: ZipkinCounters;
}

/**
 * What the Zipkin listener took and refused since start. Zipkin answers
 * 202 with no body, so a client never learns which of its spans were
 * rejected: they are counted here (/api/sightline/status).
 */
export interface ZipkinCounters {
  /** Requests answered 202. */
  acceptedRequests: number;
  acceptedSpans: number;
  /** Spans dropped for their content (bad ids, no timestamp, past retention), in accepted requests and in requests whose every span was rejected. */
  rejectedSpans: number;
  /** Requests answered 400 because the body could not be read as Zipkin v2 at all (its spans are not counted: they could not be). */
  malformedRequests: number;
}

export function newZipkinCounters(): ZipkinCounters {
  return { acceptedRequests: 0, acceptedSpans: 0, rejectedSpans: 0, malformedRequests: 0 };
}

/** The path Zipkin reporters post to. */
export const ZIPKIN_SPANS_PATH = '/api/v2/spans';

const PROTOBUF_TYPES = ['application/x-protobuf', 'application/protobuf'];
const JSON_TYPE = 'application/json';

/**
 * Zipkin v2 ingest: POST /api/v2/spans with a JSON list of spans or a
 * protobuf ListOfSpans, optionally gzip, answered 202 as Zipkin's own
 * collector does. The spans take the OTLP ingest path (TraceExportHandler):
 * the same budget, WAL, group commit, backpressure and redaction. The
 * listener has the OTLP/HTTP listener's protections: connection caps,
 * timeouts, the body limit, bodies charged to the ingest budget as they
 * arrive, and identities and tenants resolved before the body is read.
 * Errors are plain text, as Zipkin sends them.
 */
export async function createZipkinHttpServer(opts: ZipkinHttpOptions): Promise<FastifyInstance> {
  const guard = opts.guard ?? new ListenerGuard(DEFAULT_LISTENER_LIMITS);
  const counters = opts.counters ?? newZipkinCounters();
  const app = Fastify({
    loggerInstance: opts.log.child({ component: 'zipkin' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    ...guard.fastifyOptions(opts.maxBodyBytes, opts.https),
  }) as unknown as FastifyInstance;
  guard.guardHttp(app.server, { tls: opts.https !== undefined });
  await app.register(cors, {
    origin: opts.corsOrigins.includes('*') ? true : opts.corsOrigins,
    methods: ['POST', 'OPTIONS'],
    maxAge: 86_400,
  });

  app.removeAllContentTypeParsers();
  const bodies = new BodyPool(opts.maxBodyBytes);
  const reads = new WeakMap<FastifyRequest, BodyRead>();
  const budgets = new WeakMap<FastifyRequest, BudgetReservation>();
  app.addContentTypeParser([...PROTOBUF_TYPES, JSON_TYPE], (req, payload, done) => {
    let budget = budgets.get(req);
    if (!budget) {
      // A body on a method no route takes (it is answered 404): charged all the same.
      try {
        budget = opts.handler.reserve();
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
    done(new SightlineError('UNSUPPORTED_MEDIA_TYPE', `unsupported content type ${JSON.stringify(req.headers['content-type'] ?? '')}; Zipkin v2 spans are application/json or application/x-protobuf`));
  });

  // Who writes, and into which tenant: decided before anything is read, as on the OTLP listeners.
  const tenants = new WeakMap<FastifyRequest, string>();
  app.addHook('onRequest', async (req) => {
    if (req.method !== 'POST') return;
    const header = (name: string) => {
      const v = req.headers[name];
      return Array.isArray(v) ? v[v.length - 1] : v;
    };
    // No cookie: a browser's login session never writes spans.
    const { tenants: [tenant] } = await resolveCaller(
      opts.authenticator,
      { authorization: header('authorization'), headers: req.headers, remoteAddress: req.socket.remoteAddress, remotePort: req.socket.remotePort },
      WRITE_SPANS,
      header('x-scope-orgid'),
      opts.defaultTenant,
    );
    tenants.set(req, tenant);
  });
  // Refused before the body is read when it declares more than the limit
  // or ingest is past its budget; otherwise charged as it arrives (see otlp-http.ts).
  app.addHook('onRequest', async (req) => {
    if (req.method !== 'POST') return;
    if (Number(req.headers['content-length']) > opts.maxBodyBytes) throw new SightlineError('BODY_TOO_LARGE', 'request body is larger than the limit (--max-body)');
    budgets.set(req, opts.handler.reserve());
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

  app.setErrorHandler((err, _req, reply) => {
    const e = toSightlineError(err);
    if (e instanceof AllSpansRejectedError) counters.rejectedSpans += e.rejected;
    else if (e.code === 'MALFORMED_REQUEST') counters.malformedRequests++;
    return sendError(reply, e, opts.log);
  });
  app.setNotFoundHandler((req, reply) => {
    const v1 = req.url.split('?')[0] === '/api/v1/spans';
    const message = v1 ? 'Zipkin v1 spans are not taken; send Zipkin v2 to POST /api/v2/spans' : `no route ${req.method} ${req.url}; Zipkin v2 spans go to POST ${ZIPKIN_SPANS_PATH}`;
    return sendError(reply, new SightlineError('NOT_FOUND', message), opts.log);
  });

  app.post(ZIPKIN_SPANS_PATH, async (req, reply) => {
    if (req.body === undefined || req.body === null)
      throw new SightlineError('UNSUPPORTED_MEDIA_TYPE', 'missing Content-Type; Zipkin v2 spans are application/json or application/x-protobuf');
    const raw = req.body as Buffer;
    const body = await decompress(raw, req.headers['content-encoding'], opts.maxBodyBytes);
    const tenant = tenants.get(req);
    if (!tenant) throw new SightlineError('UNAUTHENTICATED', 'no tenant was chosen for this request');
    const budget = budgets.get(req);
    // The decompressed copy is held while it is decoded, on top of the body.
    if (body !== raw) budget?.take(body.length);
    const result = await opts.handler.export(body, encodingOf(req), tenant, budget !== undefined);
    counters.acceptedRequests++;
    counters.acceptedSpans += result.accepted;
    counters.rejectedSpans += result.rejected;
    reply.code(202);
    // Zipkin reporters read only the status; a person with curl reads why spans were left out.
    if (result.rejected === 0) return reply.send();
    return reply.type('text/plain; charset=utf-8').send(`accepted ${result.accepted} spans; rejected ${result.rejected}: ${result.errorMessage}\n`);
  });

  return app;
}

function encodingOf(req: FastifyRequest): ZipkinEncoding {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  return type === JSON_TYPE ? 'zipkin-json' : 'zipkin-protobuf';
}

function sendError(reply: FastifyReply, err: SightlineError, log: Logger): FastifyReply {
  if (err.code === 'INTERNAL') log.error({ err: err.cause ?? err }, 'Zipkin request failed');
  if (err.code === 'UNAUTHENTICATED') reply.header('WWW-Authenticate', 'Bearer realm="sightline"');
  const retryAfter = (err as { retryAfterSeconds?: number }).retryAfterSeconds;
  if (retryAfter !== undefined) reply.header('Retry-After', String(retryAfter));
  // Refused before its body was all in: the rest is read and dropped until
  // the client sees this, then the connection ends.
  if (!reply.request.raw.complete) reply.header('Connection', 'close');
  return reply.code(err.httpStatus).type('text/plain; charset=utf-8').send(`${err.message}\n`);
}
