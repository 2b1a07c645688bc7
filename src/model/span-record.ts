import type { KeyValueJson } from './any-value.js';

/**
 * One stored span, decoded for output. Ids are raw bytes; times are Unix
 * nanoseconds. Attributes are in canonical OTLP/JSON form, grouped by type
 * (the store keeps them in typed columns, so their original order is not kept).
 */
export interface SpanRecord {
  traceId: Buffer;
  spanId: Buffer;
  /** Eight zero bytes for a root span. */
  parentSpanId: Buffer;
  traceState: string;
  flags: number;
  name: string;
  kind: number;
  startNs: bigint;
  durationNs: bigint;
  statusCode: number;
  statusMessage: string;
  serviceName: string;
  /** Identifies the resource; spans of one resource share it. */
  resourceId: Buffer;
  attributes: KeyValueJson[];
  droppedAttributes: number;
  droppedEvents: number;
  droppedLinks: number;
  resource: { attributes: KeyValueJson[]; dropped: number; schemaUrl: string };
  scope: { name: string; version: string; attributes: KeyValueJson[]; dropped: number; schemaUrl: string };
  events: { timeNs: bigint; name: string; attributes: KeyValueJson[]; dropped: number }[];
  links: { traceId: Buffer; spanId: Buffer; traceState: string; attributes: KeyValueJson[]; dropped: number; flags: number }[];
}

export function isRootSpan(s: SpanRecord): boolean {
  for (let i = 0; i < 8; i++) if (s.parentSpanId[i] !== 0) return false;
  return true;
}
