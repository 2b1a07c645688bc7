import { ProtoWriter } from '../model/proto-writer.js';
import type { ExportResult } from './trace-export.js';

/**
 * OTLP reply bodies. A fully accepted request gets an empty
 * ExportTraceServiceResponse; partial success carries the rejected count
 * and the first reason. Errors carry a google.rpc.Status.
 */

/** ExportTraceServiceResponse { partial_success = 1 { rejected_spans = 1; error_message = 2 } } */
export function exportResponseProtobuf(r: ExportResult): Buffer {
  const w = new ProtoWriter();
  if (r.rejected > 0) w.begin(1).int64(1, BigInt(r.rejected)).string(2, r.errorMessage).end();
  return w.finish();
}

export function exportResponseJson(r: ExportResult): string {
  if (r.rejected === 0) return '{}';
  return JSON.stringify({ partialSuccess: { rejectedSpans: String(r.rejected), errorMessage: r.errorMessage } });
}

/**
 * ExportLogsServiceResponse { partial_success = 1 { rejected_log_records = 1;
 * error_message = 2 } }: the same fields as the trace reply, so the same
 * protobuf bytes (exportResponseProtobuf); only the JSON names differ.
 */
export function exportLogsResponseJson(r: ExportResult): string {
  if (r.rejected === 0) return '{}';
  return JSON.stringify({ partialSuccess: { rejectedLogRecords: String(r.rejected), errorMessage: r.errorMessage } });
}

/** gRPC status codes used in replies (also google.rpc.Code). */
export const GrpcCode = {
  INVALID_ARGUMENT: 3,
  RESOURCE_EXHAUSTED: 8,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

/**
 * google.rpc.Status { code = 1; message = 2; details = 3 (Any) }. With a
 * retry delay, adds a google.rpc.RetryInfo detail: OTLP clients retry
 * RESOURCE_EXHAUSTED only when the server says recovery is possible.
 */
export function rpcStatusProtobuf(code: number, message: string, retryAfterSeconds?: number): Buffer {
  const w = new ProtoWriter();
  w.uint(1, code).string(2, message);
  if (retryAfterSeconds !== undefined) {
    w.begin(3)
      .string(1, 'type.googleapis.com/google.rpc.RetryInfo')
      .begin(2) // Any.value: RetryInfo bytes
      .begin(1) // RetryInfo.retry_delay: Duration
      .int64(1, BigInt(Math.ceil(retryAfterSeconds)))
      .end()
      .end()
      .end();
  }
  return w.finish();
}

export function rpcStatusJson(code: number, message: string): string {
  return JSON.stringify({ code, message });
}
