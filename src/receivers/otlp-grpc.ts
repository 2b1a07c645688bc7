import http2 from 'node:http2';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { asSightlineError } from '../errors.js';
import { resolveCaller, WRITE_SPANS, type Authenticator } from '../auth/index.js';
import { exportResponseProtobuf, rpcStatusProtobuf } from './otlp-replies.js';
import type { TraceExportHandler } from './trace-export.js';
import type { LogExportHandler } from './log-export.js';
import { DEFAULT_LISTENER_LIMITS, ListenerGuard, refuseHttp2 } from './listener-limits.js';

export interface OtlpGrpcOptions {
  handler: TraceExportHandler;
  /** LogsService/Export; without it, that method is unimplemented. */
  logs?: LogExportHandler;
  log: Logger;
  maxBodyBytes: number;
  /** Who may write, and into which tenant (x-scope-orgid metadata among those the identity holds). */
  authenticator: Authenticator;
  defaultTenant: string;
  /** TLS credentials (src/tls: they follow certificate reloads); insecure without. */
  credentials?: grpc.ServerCredentials;
  /** Connection caps and timeouts, and their counters; default limits without. */
  guard?: ListenerGuard;
  /** Calls open at once on one connection (HTTP/2 streams); 100 without. */
  maxStreamsPerConnection?: number;
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

/** opentelemetry.proto.collector.logs.v1.LogsService/Export, bytes in and out as TRACE_SERVICE. */
export const LOGS_SERVICE: grpc.ServiceDefinition = {
  Export: { ...TRACE_SERVICE.Export, path: '/opentelemetry.proto.collector.logs.v1.LogsService/Export' },
};

/** grpc-js peers look like `ipv4:127.0.0.1:4317` or `ipv6:[::1]:4317`. */
function peerOf(peer: string): { address?: string; port?: number } {
  const m = /^(?:ipv[46]:)?\[?([^\]]*?)\]?:(\d+)$/.exec(peer);
  return m ? { address: m[1], port: Number(m[2]) } : {};
}

/**
 * The HTTP/2 stream under a grpc-js server call: a private field of
 * grpc-js's own call (1.14), found by shape, so that a later grpc-js
 * without it leaves the stream to its client rather than fail
 * (test/hostile-clients.test.ts notices).
 */
function http2StreamOf(call: unknown): http2.Http2Stream | undefined {
  let c = call as { stream?: unknown; nextCall?: unknown } | undefined;
  for (let depth = 0; c && depth < 8; depth++) {
    const stream = c.stream as http2.Http2Stream | undefined;
    if (stream && typeof stream.close === 'function') return stream;
    c = c.nextCall as typeof c;
  }
  return undefined;
}

/** Call metadata as plain headers (text values only). */
function metadataOf(m: grpc.Metadata): Record<string, string | string[] | undefined> {
  const out: Record<string, string | string[] | undefined> = {};
  for (const [k, v] of Object.entries(m.getMap())) if (typeof v === 'string') out[k] = v;
  return out;
}

/**
 * The gRPC listener. Connections are accepted by a socket server of our own
 * and handed to grpc-js (its connection injector) only once they are within
 * the listener's caps: grpc-js has no such caps, and a socket refused here
 * costs no HTTP/2 session.
 */
export class OtlpGrpcServer {
  private readonly server: grpc.Server;
  private readonly guard: ListenerGuard;
  private listener: net.Server | null = null;

  constructor(private readonly opts: OtlpGrpcOptions) {
    this.guard = opts.guard ?? new ListenerGuard(DEFAULT_LISTENER_LIMITS);
    const { idleTimeoutMs, keepAliveTimeoutMs } = this.guard.limits;
    this.server = new grpc.Server({
      // Applies to the decompressed message, so it also bounds gzip bombs.
      'grpc.max_receive_message_length': opts.maxBodyBytes,
      'grpc.max_send_message_length': 4 * 1024 * 1024,
      'grpc.max_concurrent_streams': opts.maxStreamsPerConnection ?? 100,
      // A connection without a call for this long is closed, as an idle
      // HTTP keep-alive connection is; so is one that never sends anything,
      // or trickles its preface or headers (its session exists from the
      // moment it connects, and has no call).
      'grpc.max_connection_idle_ms': keepAliveTimeoutMs,
      // A peer that does not answer a ping is gone: its open calls do not
      // hold the connection until the request timeout.
      'grpc.keepalive_time_ms': idleTimeoutMs,
      'grpc.keepalive_timeout_ms': idleTimeoutMs,
      interceptors: [this.requestDeadline()],
    });
    this.server.addService(TRACE_SERVICE, { Export: this.exportTo(opts.handler) });
    if (opts.logs) this.server.addService(LOGS_SERVICE, { Export: this.exportTo(opts.logs) });
  }

  async listen(host: string, port: number): Promise<number> {
    const injector = this.server.createConnectionInjector(this.opts.credentials ?? grpc.ServerCredentials.createInsecure());
    const tls = this.opts.credentials?._isSecure() ?? false;
    const listener = net.createServer({ noDelay: true }, (socket) => {
      const refusal = this.guard.admit(socket);
      if (refusal === null) injector.injectConnection(socket);
      else if (tls) socket.destroy();
      else refuseHttp2(socket, refusal);
    });
    this.listener = listener;
    return new Promise((resolve, reject) => {
      listener.once('error', reject);
      listener.listen({ host, port }, () => {
        listener.off('error', reject);
        const addr = listener.address();
        resolve(typeof addr === 'object' && addr !== null ? addr.port : port);
      });
    });
  }

  /** Where the listener is bound (address and real port), once it listens. */
  address(): net.AddressInfo | null {
    const a = this.listener?.address();
    return typeof a === 'object' && a !== null ? a : null;
  }

  /** Stops accepting connections and waits for the calls in flight. */
  close(): Promise<void> {
    this.listener?.close();
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

  /**
   * A call whose request has not arrived whole (message and end of stream)
   * within the request timeout is ended with DEADLINE_EXCEEDED, which OTLP
   * clients retry: grpc-js holds a message's bytes until it is complete, so
   * a trickled or stalled one would otherwise hold them for as long as its
   * client likes. (The handler runs only after the whole request is in.)
   *
   * The status alone leaves the stream open for as long as the client goes
   * on sending, with the partial message still held: the stream is then
   * reset with NO_ERROR, HTTP/2's way of telling a client that has its
   * answer to stop sending its request (RFC 9113, 8.1).
   */
  private requestDeadline(): grpc.ServerInterceptor {
    const { requestTimeoutMs } = this.guard.limits;
    return (_method, next) => {
      let timer: NodeJS.Timeout | undefined;
      const stop = () => {
        clearTimeout(timer);
        timer = undefined;
      };
      const call: grpc.ServerInterceptingCall = new grpc.ServerInterceptingCall(next, {
        start: (startNext) => {
          timer = setTimeout(() => {
            timer = undefined;
            this.guard.counters.requestsTimedOut++;
            call.sendStatus({ code: grpc.status.DEADLINE_EXCEEDED, details: `the request did not arrive whole within the request timeout of ${requestTimeoutMs} ms` });
            http2StreamOf(next)?.close(http2.constants.NGHTTP2_NO_ERROR);
          }, requestTimeoutMs);
          startNext({
            onReceiveHalfClose: (halfCloseNext) => {
              stop();
              halfCloseNext();
            },
            onCancel: stop,
          });
        },
        sendStatus: (status, statusNext) => {
          stop();
          statusNext(status);
        },
      });
      return call;
    };
  }

  /** The Export method of a service whose requests `handler` takes (traces or logs: their replies share field numbers). */
  private exportTo(handler: Pick<TraceExportHandler | LogExportHandler, 'reserve' | 'export'>) {
    return (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => this.export(handler, call, callback);
  }

  private export(handler: Pick<TraceExportHandler | LogExportHandler, 'reserve' | 'export'>, call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>): void {
    const headers = metadataOf(call.metadata);
    const text = (name: string) => (typeof headers[name] === 'string' ? (headers[name] as string) : undefined);
    const peer = peerOf(call.getPeer());
    resolveCaller(this.opts.authenticator, { authorization: text('authorization'), headers, remoteAddress: peer.address, remotePort: peer.port }, WRITE_SPANS, text('x-scope-orgid'), this.opts.defaultTenant)
      .then(async ({ tenants: [tenant] }) => {
        // grpc-js has the whole message by now: charge it to the budget,
        // held while it is decoded and appended.
        const budget = handler.reserve();
        try {
          budget.take(call.request.length);
          return await handler.export(call.request, 'protobuf', tenant, true);
        } finally {
          budget.release();
        }
      })
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
