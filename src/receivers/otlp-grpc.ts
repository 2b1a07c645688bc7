import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { asSightlineError } from '../errors.js';
import { exportResponseProtobuf, rpcStatusProtobuf } from './otlp-replies.js';
import type { TraceExportHandler } from './trace-export.js';

export interface OtlpGrpcOptions {
  handler: TraceExportHandler;
  log: Logger;
  maxBodyBytes: number;
  /** The tenant a call's spans are stored under, from its metadata. */
  tenantOf: (metadata: Record<string, string | string[] | undefined>) => string;
}

const identity = (b: Buffer) => b;

/**
 * opentelemetry.proto.collector.trace.v1.TraceService/Export, with the
 * messages left as bytes: the request goes straight to our decoder. Also
 * usable for clients (`grpc.makeGenericClientConstructor`).
 */
export const TRACE_SERVICE: grpc.ServiceDefinition = {
  Export: {
    path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

/** Call metadata as plain headers (text values only). */
function metadataOf(m: grpc.Metadata): Record<string, string | string[] | undefined> {
  const out: Record<string, string | string[] | undefined> = {};
  for (const [k, v] of Object.entries(m.getMap())) if (typeof v === 'string') out[k] = v;
  return out;
}

export class OtlpGrpcServer {
  private readonly server: grpc.Server;

  constructor(private readonly opts: OtlpGrpcOptions) {
    this.server = new grpc.Server({
      // Applies to the decompressed message, so it also bounds gzip bombs.
      'grpc.max_receive_message_length': opts.maxBodyBytes,
      'grpc.max_send_message_length': 4 * 1024 * 1024,
    });
    this.server.addService(TRACE_SERVICE, { Export: this.export.bind(this) });
  }

  async listen(host: string, port: number): Promise<number> {
    const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    return new Promise((resolve, reject) => {
      this.server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
    });
  }

  /** Stops accepting calls and waits for those in flight. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 10_000);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private export(call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>): void {
    this.opts.handler.export(call.request, 'protobuf', this.opts.tenantOf(metadataOf(call.metadata))).then(
      (result) => callback(null, exportResponseProtobuf(result)),
      (e: unknown) => {
        const err = asSightlineError(e);
        if (err.code === 'INTERNAL') this.opts.log.error({ err: err.cause ?? err }, 'OTLP/gRPC export failed');
        const metadata = new grpc.Metadata();
        const retryAfter = (err as { retryAfterSeconds?: number }).retryAfterSeconds;
        if (retryAfter !== undefined) {
          // RetryInfo tells OTLP clients that RESOURCE_EXHAUSTED is worth retrying.
          metadata.set('grpc-status-details-bin', rpcStatusProtobuf(err.grpcStatus, err.message, retryAfter));
        }
        callback({ code: err.grpcStatus, details: err.message, metadata }, null);
      },
    );
  }
}
