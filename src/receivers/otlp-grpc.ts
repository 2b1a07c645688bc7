import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { asSightlineError } from '../errors.js';
import { resolveCaller, WRITE_SPANS, type Authenticator } from '../auth/index.js';
import { exportResponseProtobuf, rpcStatusProtobuf } from './otlp-replies.js';
import type { TraceExportHandler } from './trace-export.js';

export interface OtlpGrpcOptions {
  handler: TraceExportHandler;
  log: Logger;
  maxBodyBytes: number;
  /** Who may write, and into which tenant (x-scope-orgid metadata among those the identity holds). */
  authenticator: Authenticator;
  defaultTenant: string;
  /** TLS credentials (src/tls: they follow certificate reloads); insecure without. */
  credentials?: grpc.ServerCredentials;
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

/** grpc-js peers look like `ipv4:127.0.0.1:4317` or `ipv6:[::1]:4317`. */
function peerOf(peer: string): { address?: string; port?: number } {
  const m = /^(?:ipv[46]:)?\[?([^\]]*?)\]?:(\d+)$/.exec(peer);
  return m ? { address: m[1], port: Number(m[2]) } : {};
}

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
      this.server.bindAsync(address, this.opts.credentials ?? grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
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
    const headers = metadataOf(call.metadata);
    const text = (name: string) => (typeof headers[name] === 'string' ? (headers[name] as string) : undefined);
    const peer = peerOf(call.getPeer());
    resolveCaller(this.opts.authenticator, { authorization: text('authorization'), headers, remoteAddress: peer.address, remotePort: peer.port }, WRITE_SPANS, text('x-scope-orgid'), this.opts.defaultTenant)
      .then(({ tenants: [tenant] }) => this.opts.handler.export(call.request, 'protobuf', tenant))
      .then(
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
