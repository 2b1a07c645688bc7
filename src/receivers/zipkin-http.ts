import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { SightlineError } from '../errors.js';
import { AllSpansRejectedError, type TraceExportHandler, type ZipkinEncoding } from './trace-export.js';
import { createExportListener, errorReply, isJsonBody, toSightlineError, type HttpListenerOptions } from './export-listener.js';

export interface ZipkinHttpOptions extends HttpListenerOptions {
  /** The OTLP trace handler: Zipkin spans take its path, translated on the way in. */
  handler: TraceExportHandler;
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
  const counters = opts.counters ?? newZipkinCounters();
  const { app, exportBody } = await createExportListener({
    ...opts,
    component: 'zipkin',
    reserve: () => opts.handler.reserve(),
    contentTypesHint: 'Zipkin v2 spans are application/json or application/x-protobuf',
  });

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
    const { body, tenant, reserved } = await exportBody(req);
    const result = await opts.handler.export(body, encodingOf(req), tenant, reserved);
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
  return isJsonBody(req) ? 'zipkin-json' : 'zipkin-protobuf';
}

function sendError(reply: FastifyReply, err: SightlineError, log: Logger): FastifyReply {
  return errorReply(reply, err, log, 'Zipkin').type('text/plain; charset=utf-8').send(`${err.message}\n`);
}
