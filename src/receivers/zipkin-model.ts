/**
 * A Zipkin v2 span as both wire formats (JSON and proto3) carry it, before
 * it is translated to OTLP (zipkin-to-otlp.ts). The parsers check types and
 * shapes; what a value means (ids, times) is judged by the translation, so
 * both formats reject the same spans for the same reasons.
 */
export interface ZipkinSpan {
  /** Lower-case hex as sent; JSON may send fewer digits (left-padded), protobuf sends 8 or 16 bytes. '' when absent. */
  traceId: string;
  /** Lower-case hex; '' when absent. */
  id: string;
  /** Lower-case hex; '' for a root span. */
  parentId: string;
  kind: ZipkinKind;
  /** '' when absent. */
  name: string;
  /** Epoch microseconds; null when absent (an incomplete span). */
  timestampUs: bigint | null;
  /** Microseconds; 0 when absent. */
  durationUs: bigint;
  localEndpoint: ZipkinEndpoint | null;
  remoteEndpoint: ZipkinEndpoint | null;
  annotations: ZipkinAnnotation[];
  /** In the order sent; a repeated key keeps its last value. */
  tags: Map<string, string>;
  debug: boolean;
  shared: boolean;
  /** Why this span alone cannot be used (an id of the wrong size in protobuf); '' when it can. */
  problem: string;
}

/** Absent kind is '': a local span, or one whose kind is not known. */
export type ZipkinKind = 'CLIENT' | 'SERVER' | 'PRODUCER' | 'CONSUMER' | '';

export const ZIPKIN_KINDS: readonly ZipkinKind[] = ['CLIENT', 'SERVER', 'PRODUCER', 'CONSUMER'];

export interface ZipkinEndpoint {
  /** '' when absent. */
  serviceName: string;
  /** Dotted quad; '' when absent. */
  ipv4: string;
  /** Text form; '' when absent. */
  ipv6: string;
  /** 0 when absent. */
  port: number;
}

export interface ZipkinAnnotation {
  /** Epoch microseconds. */
  timestampUs: bigint;
  value: string;
}

export function emptyZipkinSpan(): ZipkinSpan {
  return {
    traceId: '',
    id: '',
    parentId: '',
    kind: '',
    name: '',
    timestampUs: null,
    durationUs: 0n,
    localEndpoint: null,
    remoteEndpoint: null,
    annotations: [],
    tags: new Map(),
    debug: false,
    shared: false,
    problem: '',
  };
}
