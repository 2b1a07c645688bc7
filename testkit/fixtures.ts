import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { TRACE_SERVICE } from '../src/receivers/index.js';
import { otlp, encode } from './otlp-schema.js';

/** Hand-built OTLP requests, for inputs the SDK never produces. */

export interface SpanFixture {
  traceId?: Buffer;
  spanId?: Buffer;
  parentSpanId?: Buffer;
  name?: string;
  startNs?: bigint;
  endNs?: bigint;
  attributes?: { key: string; value: Record<string, unknown> }[];
  [field: string]: unknown;
}

export const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

export function span(f: SpanFixture = {}): Record<string, unknown> {
  const start = f.startNs ?? nowNs() - 5_000_000n;
  const end = f.endNs ?? start + 1_000_000n;
  const { traceId, spanId, parentSpanId, name, startNs, endNs, attributes, ...rest } = f;
  return {
    traceId: traceId ?? randomBytes(16),
    spanId: spanId ?? randomBytes(8),
    ...(parentSpanId ? { parentSpanId } : {}),
    name: name ?? 'op',
    kind: 2,
    startTimeUnixNano: start.toString(),
    endTimeUnixNano: end.toString(),
    attributes: attributes ?? [],
    ...rest,
  };
}

export function request(spans: Record<string, unknown>[], service = 'fixture-svc', resourceAttrs: { key: string; value: Record<string, unknown> }[] = []): Record<string, unknown> {
  return {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }, ...resourceAttrs] },
        scopeSpans: [{ scope: { name: 'fixture', version: '1' }, spans }],
      },
    ],
  };
}

export function requestBytes(spans: Record<string, unknown>[], service?: string): Buffer {
  return encode(otlp.ExportTraceServiceRequest, request(spans, service));
}

/** OTLP/JSON of a request object built by {@link request}: ids as hex. */
export function requestJson(req: Record<string, unknown>): string {
  return JSON.stringify(req, (_k, v) => {
    if (v && typeof v === 'object' && v.type === 'Buffer' && Array.isArray(v.data)) return Buffer.from(v.data).toString('hex');
    return v;
  });
}

export async function postOtlp(base: string, body: Buffer | string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: Buffer }> {
  const r = await fetch(`${base}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': typeof body === 'string' ? 'application/json' : 'application/x-protobuf', ...headers },
    body,
  });
  return { status: r.status, headers: r.headers, body: Buffer.from(await r.arrayBuffer()) };
}

/** A raw gRPC client for TraceService/Export: bytes in, bytes out. */
export function grpcExportClient(address: string): {
  exportRaw(body: Buffer, opts?: { gzip?: boolean }): Promise<{ response?: Buffer; error?: grpc.ServiceError }>;
  close(): void;
} {
  const Client = grpc.makeGenericClientConstructor(TRACE_SERVICE, 'TraceService');
  const clients = new Map<boolean, grpc.Client>();
  const get = (gzip: boolean) => {
    let c = clients.get(gzip);
    if (!c) {
      c = new Client(address.replace(/^http:\/\//, ''), grpc.credentials.createInsecure(), {
        'grpc.default_compression_algorithm': gzip ? 2 : 0,
        'grpc.max_send_message_length': 256 * 1024 * 1024,
      });
      clients.set(gzip, c);
    }
    return c as unknown as { Export: (b: Buffer, cb: (e: grpc.ServiceError | null, r?: Buffer) => void) => void };
  };
  return {
    exportRaw: (body, opts) =>
      new Promise((resolve) => get(opts?.gzip ?? false).Export(body, (error, response) => resolve(error ? { error } : { response }))),
    close: () => {
      for (const c of clients.values()) c.close();
    },
  };
}
