import type { AnyValueJson, KeyValueJson } from '../../model/any-value.js';
import { ProtoWriter } from '../../model/proto-writer.js';
import type { SpanRecord } from '../../model/span-record.js';
import { isRootSpan } from '../../model/span-record.js';
import { groupByResource, type ResourceGroup } from '../../model/trace-groups.js';
import { resourceSpansJson, type OtlpJsonStyle } from '../../model/resource-spans-json.js';

/**
 * A trace as Tempo returns it. JSON follows Tempo's jsonpb output: ids in
 * base64, enums by name, 64-bit integers as strings, zero values left out.
 * Protobuf is tempopb.Trace { repeated ResourceSpans resource_spans = 1 },
 * byte-compatible with OTLP's TracesData.
 */

const SPAN_KINDS = ['SPAN_KIND_UNSPECIFIED', 'SPAN_KIND_INTERNAL', 'SPAN_KIND_SERVER', 'SPAN_KIND_CLIENT', 'SPAN_KIND_PRODUCER', 'SPAN_KIND_CONSUMER'];
const STATUS_CODES = ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'];

const TEMPO_JSON: OtlpJsonStyle = {
  id: (bytes) => bytes.toString('base64'),
  kind: (kind) => SPAN_KINDS[kind] ?? kind,
  statusCode: (code) => STATUS_CODES[code] ?? code,
  // '0' is a zero int64 as jsonpb writes it (times, inspectedBytes); a string field that reads "0" goes too.
  empty: (v) => v === undefined || v === '' || v === 0 || v === false || v === '0' || (Array.isArray(v) && v.length === 0),
};

/** GET /api/traces/{id}: `{"batches": [ResourceSpans...]}`. */
export function traceV1Json(spans: SpanRecord[]): string {
  return JSON.stringify({ batches: resourceSpansJson(groupByResource(spans), TEMPO_JSON) });
}

/** GET /api/v2/traces/{id}: TraceByIDResponse as JSON. */
export function traceV2Json(spans: SpanRecord[], inspectedBytes: number): string {
  const metrics: Record<string, string> = {};
  if (!TEMPO_JSON.empty(String(inspectedBytes))) metrics.inspectedBytes = String(inspectedBytes);
  return JSON.stringify({ trace: { resourceSpans: resourceSpansJson(groupByResource(spans), TEMPO_JSON) }, metrics });
}

// ---- protobuf ------------------------------------------------------------------

function writeAnyValue(w: ProtoWriter, v: AnyValueJson): void {
  if ('stringValue' in v) w.string(1, v.stringValue, true);
  else if ('boolValue' in v) w.bool(2, v.boolValue, true);
  else if ('intValue' in v) w.int64(3, BigInt(v.intValue), true);
  else if ('doubleValue' in v) w.double(4, typeof v.doubleValue === 'number' ? v.doubleValue : Number(v.doubleValue));
  else if ('arrayValue' in v) {
    w.begin(5);
    for (const e of v.arrayValue.values ?? []) {
      w.begin(1);
      writeAnyValue(w, e);
      w.end();
    }
    w.end();
  } else if ('kvlistValue' in v) {
    w.begin(6);
    writeKeyValues(w, 1, v.kvlistValue.values ?? []);
    w.end();
  } else if ('bytesValue' in v) w.bytes(7, Buffer.from(v.bytesValue, 'base64'), true);
}

function writeKeyValues(w: ProtoWriter, field: number, list: KeyValueJson[]): void {
  for (const kv of list) {
    w.begin(field).string(1, kv.key).begin(2);
    writeAnyValue(w, kv.value);
    w.end().end();
  }
}

function writeSpan(w: ProtoWriter, s: SpanRecord): void {
  w.bytes(1, s.traceId).bytes(2, s.spanId).string(3, s.traceState);
  if (!isRootSpan(s)) w.bytes(4, s.parentSpanId);
  w.string(5, s.name).uint(6, s.kind).fixed64(7, s.startNs).fixed64(8, s.startNs + s.durationNs);
  writeKeyValues(w, 9, s.attributes);
  w.uint(10, s.droppedAttributes);
  for (const e of s.events) {
    w.begin(11).fixed64(1, e.timeNs).string(2, e.name);
    writeKeyValues(w, 3, e.attributes);
    w.uint(4, e.dropped).end();
  }
  w.uint(12, s.droppedEvents);
  for (const l of s.links) {
    w.begin(13).bytes(1, l.traceId).bytes(2, l.spanId).string(3, l.traceState);
    writeKeyValues(w, 4, l.attributes);
    w.uint(5, l.dropped).fixed32(6, l.flags).end();
  }
  w.uint(14, s.droppedLinks);
  w.begin(15).string(2, s.statusMessage).uint(3, s.statusCode).end();
  w.fixed32(16, s.flags);
}

function writeResourceSpans(w: ProtoWriter, field: number, groups: ResourceGroup[]): void {
  for (const g of groups) {
    w.begin(field);
    w.begin(1);
    writeKeyValues(w, 1, g.resource.attributes);
    w.uint(2, g.resource.dropped).end();
    for (const sg of g.scopes) {
      w.begin(2).begin(1).string(1, sg.scope.name).string(2, sg.scope.version);
      writeKeyValues(w, 3, sg.scope.attributes);
      w.uint(4, sg.scope.dropped).end();
      for (const s of sg.spans) {
        w.begin(2);
        writeSpan(w, s);
        w.end();
      }
      w.string(3, sg.scope.schemaUrl).end();
    }
    w.string(3, g.resource.schemaUrl).end();
  }
}

/** tempopb.Trace (v1 protobuf). */
export function traceV1Protobuf(spans: SpanRecord[]): Buffer {
  const w = new ProtoWriter();
  writeResourceSpans(w, 1, groupByResource(spans));
  return w.finish();
}

/** tempopb.TraceByIDResponse { trace = 1; metrics = 2 { inspectedBytes = 1 } }. */
export function traceV2Protobuf(spans: SpanRecord[], inspectedBytes: number): Buffer {
  const w = new ProtoWriter();
  w.begin(1);
  writeResourceSpans(w, 1, groupByResource(spans));
  w.end();
  w.begin(2).uint(1, inspectedBytes).end();
  return w.finish();
}
