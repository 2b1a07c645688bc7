import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { SightlineError } from '../errors.js';
import { exportLogsResponseJson, exportResponseJson, exportResponseProtobuf, rpcStatusJson, rpcStatusProtobuf } from './otlp-replies.js';
import type { Encoding, ExportResult, TraceExportHandler } from './trace-export.js';
import type { LogExportHandler } from './log-export.js';
import { JSON_TYPE, createExportListener, errorReply, isJsonBody, toSightlineError, type HttpListenerOptions } from './export-listener.js';

export interface OtlpHttpOptions extends HttpListenerOptions {
  handler: TraceExportHandler;
  /** Log exports (POST /v1/logs); without it, that path answers 404. */
  logs?: LogExportHandler;
}

/**
 * OTLP/HTTP: POST /v1/traces (and /v1/logs) with protobuf or JSON, optionally gzip.
 * Replies use the request's encoding, as the OTLP spec requires, and errors
 * carry a google.rpc.Status.
 */
export async function createOtlpHttpServer(opts: OtlpHttpOptions): Promise<FastifyInstance> {
  const { app, exportBody } = await createExportListener({
    ...opts,
    component: 'otlp-http',
    // Log exports are charged to the same ingest budget.
    reserve: () => opts.handler.reserve(),
    contentTypesHint: 'use application/x-protobuf or application/json',
  });

  app.setErrorHandler((err, req, reply) => sendError(reply, encodingOf(req), toSightlineError(err), opts.log));
  app.setNotFoundHandler((req, reply) =>
    sendError(reply, encodingOf(req), new SightlineError('NOT_FOUND', `no route ${req.method} ${req.url}; OTLP traces go to POST /v1/traces${opts.logs ? ', logs to POST /v1/logs' : ''}`), opts.log),
  );

  /** An export route: the body decompressed, charged, and handed to `handle` under the request's tenant. */
  const exportRoute = (url: string, handle: (body: Buffer, encoding: Encoding, tenant: string, reserved: boolean) => Promise<ExportResult>, json: (r: ExportResult) => string) =>
    app.post(url, async (req, reply) => {
      const encoding = encodingOf(req);
      const { body, tenant, reserved } = await exportBody(req);
      const result = await handle(body, encoding, tenant, reserved);
      if (encoding === 'protobuf') return reply.type('application/x-protobuf').send(exportResponseProtobuf(result));
      return reply.type(JSON_TYPE).send(json(result));
    });
  exportRoute('/v1/traces', (...a) => opts.handler.export(...a), exportResponseJson);
  const logs = opts.logs;
  if (logs) exportRoute('/v1/logs', (...a) => logs.export(...a), exportLogsResponseJson);

  return app;
}

function encodingOf(req: FastifyRequest): Encoding {
  return isJsonBody(req) ? 'json' : 'protobuf';
}

function sendError(reply: FastifyReply, encoding: Encoding, err: SightlineError, log: Logger): FastifyReply {
  errorReply(reply, err, log, 'OTLP/HTTP');
  if (encoding === 'protobuf')
    return reply.type('application/x-protobuf').send(rpcStatusProtobuf(err.grpcStatus, err.message));
  return reply.type(JSON_TYPE).send(rpcStatusJson(err.grpcStatus, err.message));
}
