import protobuf from 'protobufjs';

/**
 * OTLP and Tempo messages for protobufjs, the independent encoder/decoder
 * tests use to check ours. Field numbers are those of opentelemetry-proto
 * and Tempo's tempopb.
 */
const PROTO = `
syntax = "proto3";
package otlp;

message AnyValue {
  oneof value {
    string string_value = 1;
    bool bool_value = 2;
    int64 int_value = 3;
    double double_value = 4;
    ArrayValue array_value = 5;
    KeyValueList kvlist_value = 6;
    bytes bytes_value = 7;
  }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message InstrumentationScope { string name = 1; string version = 2; repeated KeyValue attributes = 3; uint32 dropped_attributes_count = 4; }
message Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }

message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; string schema_url = 3; }
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; string schema_url = 3; }
message Span {
  bytes trace_id = 1;
  bytes span_id = 2;
  string trace_state = 3;
  bytes parent_span_id = 4;
  fixed32 flags = 16;
  string name = 5;
  int32 kind = 6;
  fixed64 start_time_unix_nano = 7;
  fixed64 end_time_unix_nano = 8;
  repeated KeyValue attributes = 9;
  uint32 dropped_attributes_count = 10;
  message Event { fixed64 time_unix_nano = 1; string name = 2; repeated KeyValue attributes = 3; uint32 dropped_attributes_count = 4; }
  repeated Event events = 11;
  uint32 dropped_events_count = 12;
  message Link { bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; repeated KeyValue attributes = 4; uint32 dropped_attributes_count = 5; fixed32 flags = 6; }
  repeated Link links = 13;
  uint32 dropped_links_count = 14;
  Status status = 15;
}
message Status { string message = 2; int32 code = 3; }

message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ExportTracePartialSuccess { int64 rejected_spans = 1; string error_message = 2; }
message ExportTraceServiceResponse { ExportTracePartialSuccess partial_success = 1; }

message ResourceLogs { Resource resource = 1; repeated ScopeLogs scope_logs = 2; string schema_url = 3; }
message ScopeLogs { InstrumentationScope scope = 1; repeated LogRecord log_records = 2; string schema_url = 3; }
message LogRecord {
  fixed64 time_unix_nano = 1;
  fixed64 observed_time_unix_nano = 11;
  int32 severity_number = 2;
  string severity_text = 3;
  AnyValue body = 5;
  repeated KeyValue attributes = 6;
  uint32 dropped_attributes_count = 7;
  fixed32 flags = 8;
  bytes trace_id = 9;
  bytes span_id = 10;
  string event_name = 12;
}
message ExportLogsServiceRequest { repeated ResourceLogs resource_logs = 1; }
message ExportLogsPartialSuccess { int64 rejected_log_records = 1; string error_message = 2; }
message ExportLogsServiceResponse { ExportLogsPartialSuccess partial_success = 1; }

message Any { string type_url = 1; bytes value = 2; }
message RpcStatus { int32 code = 1; string message = 2; repeated Any details = 3; }
message Duration { int64 seconds = 1; int32 nanos = 2; }
message RetryInfo { Duration retry_delay = 1; }

// tempopb
message Trace { repeated ResourceSpans resource_spans = 1; }
message TraceByIDMetrics { uint64 inspected_bytes = 1; }
message TraceByIDResponse { Trace trace = 1; TraceByIDMetrics metrics = 2; int32 status = 3; string message = 4; }
`;

const root = protobuf.parse(PROTO, { keepCase: false }).root;

/** Any message of the schema, by its name without the package (e.g. 'ResourceSpans'). */
export const otlpType = (name: string): protobuf.Type => root.lookupType(`otlp.${name}`);

export const otlp = {
  ExportTraceServiceRequest: root.lookupType('otlp.ExportTraceServiceRequest'),
  ExportTraceServiceResponse: root.lookupType('otlp.ExportTraceServiceResponse'),
  RpcStatus: root.lookupType('otlp.RpcStatus'),
  RetryInfo: root.lookupType('otlp.RetryInfo'),
  Trace: root.lookupType('otlp.Trace'),
  TraceByIDResponse: root.lookupType('otlp.TraceByIDResponse'),
  AnyValue: root.lookupType('otlp.AnyValue'),
  ExportLogsServiceRequest: root.lookupType('otlp.ExportLogsServiceRequest'),
  ExportLogsServiceResponse: root.lookupType('otlp.ExportLogsServiceResponse'),
};

/** Decodes to plain objects: 64-bit values as decimal strings, bytes as Buffers. */
export function decodeToObject(type: protobuf.Type, bytes: Uint8Array): Record<string, any> {
  return type.toObject(type.decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)), { longs: String, bytes: Buffer, defaults: false, oneofs: false, arrays: true });
}

/** Encodes a plain object (camelCase fields; 64-bit values as strings or numbers). */
export function encode(type: protobuf.Type, obj: Record<string, unknown>): Buffer {
  return Buffer.from(type.encode(type.fromObject(obj)).finish());
}
