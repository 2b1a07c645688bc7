import protobuf from 'protobufjs';
import { ProtobufSpanDecoder } from '../src/receivers/decode-protobuf.js';
import { ResourceBatchBuilder, SpanBatchBuilder } from '../src/model/span-batch.js';
import { ResourceRows } from '../src/receivers/row-templates.js';
import { buildTemplates, instantiate } from './otlp-gen.js';

/**
 * Decode-only rates on one core: our column decoder (to a finished Native
 * block) against protobufjs decoding the same bytes into objects.
 */

const FULL = protobuf.parse(`
syntax = "proto3";
message AnyValue { oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4; ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7; } }
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message Scope { string name = 1; string version = 2; repeated KeyValue attributes = 3; uint32 dropped_attributes_count = 4; }
message Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; string schema_url = 3; }
message ScopeSpans { Scope scope = 1; repeated Span spans = 2; string schema_url = 3; }
message Event { fixed64 time_unix_nano = 1; string name = 2; repeated KeyValue attributes = 3; uint32 dropped_attributes_count = 4; }
message Link { bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; repeated KeyValue attributes = 4; uint32 dropped_attributes_count = 5; fixed32 flags = 6; }
message Status { string message = 2; int32 code = 3; }
message Span { bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4; fixed32 flags = 16; string name = 5; int32 kind = 6;
  fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8; repeated KeyValue attributes = 9; uint32 dropped_attributes_count = 10;
  repeated Event events = 11; uint32 dropped_events_count = 12; repeated Link links = 13; uint32 dropped_links_count = 14; Status status = 15; }
message Request { repeated ResourceSpans resource_spans = 1; }
`).root.lookupType('Request');

export interface DecodeBench {
  oursSpansPerSec: number;
  protobufjsSpansPerSec: number;
  bytesPerSpanOnWire: number;
  nativeBytesPerSpan: number;
}

function rate(seconds: number, bodies: Buffer[], spansPer: number[], fn: (b: Buffer) => void): number {
  // Warm up, then run for `seconds`.
  for (let i = 0; i < bodies.length; i++) fn(bodies[i]);
  let spans = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  let i = 0;
  while (process.hrtime.bigint() < deadline) {
    fn(bodies[i % bodies.length]);
    spans += spansPer[i % bodies.length];
    i++;
  }
  return spans / (Number(process.hrtime.bigint() - start) / 1e9);
}

export function runDecodeBench(seconds = 3): DecodeBench {
  const templates = buildTemplates(40, 500);
  const now = BigInt(Date.now()) * 1_000_000n;
  const bodies = templates.map((t) => instantiate(t, now));
  const spansPer = templates.map((t) => t.spans);
  const decoder = new ProtobufSpanDecoder();
  const builder = new SpanBatchBuilder();
  const resources = new ResourceBatchBuilder();
  // Resources are written once and then known, as in the server.
  const known = new Set<string>();
  const opts = { minStartNs: 0, retentionText: '7d' };
  let nativeBytes = 0;
  let nativeSpans = 0;
  const ours = rate(seconds, bodies, spansPer, (b) => {
    builder.reset();
    resources.reset();
    const rows = new ResourceRows(resources, (id) => known.has(id), 1n);
    decoder.decode(b, builder, rows, opts);
    for (const id of rows.emitted) known.add(id);
    const out = builder.toBuffer();
    nativeBytes += out.length + (resources.rows > 0 ? resources.toBuffer().length : 0);
    nativeSpans += builder.rows;
  });
  const theirs = rate(seconds, bodies, spansPer, (b) => {
    FULL.decode(b);
  });
  const wire = bodies.reduce((n, b) => n + b.length, 0) / spansPer.reduce((n, s) => n + s, 0);
  return { oursSpansPerSec: ours, protobufjsSpansPerSec: theirs, bytesPerSpanOnWire: wire, nativeBytesPerSpan: nativeBytes / nativeSpans };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = runDecodeBench(Number(process.argv[2] ?? 3));
  console.log(JSON.stringify(r, null, 2));
}
