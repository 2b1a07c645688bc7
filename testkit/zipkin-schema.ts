import protobuf from 'protobufjs';

/**
 * zipkin-api's zipkin.proto (package zipkin.proto3) for protobufjs: the
 * independent encoder tests build Zipkin protobuf bodies with, to check
 * Sightline's hand-written reader. Field numbers and types as published.
 */
const PROTO = `
syntax = "proto3";
package zipkin.proto3;

message Span {
  bytes trace_id = 1;
  bytes parent_id = 2;
  bytes id = 3;
  enum Kind {
    SPAN_KIND_UNSPECIFIED = 0;
    CLIENT = 1;
    SERVER = 2;
    PRODUCER = 3;
    CONSUMER = 4;
  }
  Kind kind = 4;
  string name = 5;
  fixed64 timestamp = 6;
  uint64 duration = 7;
  Endpoint local_endpoint = 8;
  Endpoint remote_endpoint = 9;
  repeated Annotation annotations = 10;
  map<string, string> tags = 11;
  bool debug = 12;
  bool shared = 13;
}

message Endpoint {
  string service_name = 1;
  bytes ipv4 = 2;
  bytes ipv6 = 3;
  int32 port = 4;
}

message Annotation {
  fixed64 timestamp = 1;
  string value = 2;
}

message ListOfSpans {
  repeated Span spans = 1;
}
`;

const root = protobuf.parse(PROTO, { keepCase: false }).root;

export const ListOfSpans = root.lookupType('zipkin.proto3.ListOfSpans');

/** A span for {@link encodeListOfSpans}: ids as hex, times as epoch microseconds, addresses as bytes. */
export interface ProtoSpanInput {
  traceId: string;
  id: string;
  parentId?: string;
  kind?: 'CLIENT' | 'SERVER' | 'PRODUCER' | 'CONSUMER';
  name?: string;
  timestamp?: bigint;
  duration?: bigint;
  localEndpoint?: { serviceName?: string; ipv4?: number[]; ipv6?: number[]; port?: number };
  remoteEndpoint?: { serviceName?: string; ipv4?: number[]; ipv6?: number[]; port?: number };
  annotations?: { timestamp: bigint; value: string }[];
  tags?: Record<string, string>;
  debug?: boolean;
  shared?: boolean;
}

/** A ListOfSpans body, encoded by protobufjs. */
export function encodeListOfSpans(spans: ProtoSpanInput[]): Buffer {
  const endpoint = (e: ProtoSpanInput['localEndpoint']) =>
    e && { serviceName: e.serviceName, ipv4: e.ipv4 && Buffer.from(e.ipv4), ipv6: e.ipv6 && Buffer.from(e.ipv6), port: e.port };
  const message = ListOfSpans.fromObject({
    spans: spans.map((s) => ({
      traceId: Buffer.from(s.traceId, 'hex'),
      id: Buffer.from(s.id, 'hex'),
      parentId: s.parentId === undefined ? undefined : Buffer.from(s.parentId, 'hex'),
      kind: s.kind,
      name: s.name,
      timestamp: s.timestamp === undefined ? undefined : String(s.timestamp),
      duration: s.duration === undefined ? undefined : String(s.duration),
      localEndpoint: endpoint(s.localEndpoint),
      remoteEndpoint: endpoint(s.remoteEndpoint),
      annotations: s.annotations?.map((a) => ({ timestamp: String(a.timestamp), value: a.value })),
      tags: s.tags,
      debug: s.debug,
      shared: s.shared,
    })),
  });
  return Buffer.from(ListOfSpans.encode(message).finish());
}
