import type { AnyValueJson, KeyValueJson } from '../../model/any-value.js';
import { ProtoWriter } from '../../model/proto-writer.js';
import type { SpanRecord } from '../../model/span-record.js';
import { isRootSpan } from '../../model/span-record.js';
import { groupByResource, type ResourceGroup } from '../../model/trace-groups.js';

/**
 * A trace as Tempo returns it. JSON follows Tempo's jsonpb output: ids in
 * base64, enums by name, 64-bit integers as strings, zero values left out.
 * Protobuf is tempopb.Trace { repeated ResourceSpans resource_spans = 1 },
 * byte-compatible with OTLP's TracesData.
 */

const SPAN_KINDS = ['SPAN_KIND_UNSPECIFIED', 'SPAN_KIND_INTERNAL', 'SPAN_KIND_SERVER', 'SPAN_KIND_CLIENT', 'SPAN_KIND_PRODUCER', 'SPAN_KIND_CONSUMER'];
const STATUS_CODES = ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'];

type Json = Record<string, unknown>;

function put(o: Json, key: string, v: unknown): void {
  if (v === undefined || v === '' || v === 0 || v === false || v === '0') return;
  if (Array.isArray(v) && v.length === 0) return;
  o[key] = v;
}

function enumName(names: string[], v: number): string | number {
  return names[v] ?? v;
}

function attributes(list: KeyValueJson[]): Json[] {
  return list as unknown as Json[];
}

function spanJson(s: SpanRecord): Json {
  const o: Json = {};
  o.traceId = s.traceId.toString('base64');
  o.spanId = s.spanId.toString('base64');
  put(o, 'traceState', s.traceState);
  if (!isRootSpan(s)) o.parentSpanId = s.parentSpanId.toString('base64');
  put(o, 'flags', s.flags);
  put(o, 'name', s.name);
  if (s.kind !== 0) o.kind = enumName(SPAN_KINDS, s.kind);
  put(o, 'startTimeUnixNano', s.startNs.toString());
  put(o, 'endTimeUnixNano', (s.startNs + s.durationNs).toString());
  put(o, 'attributes', attributes(s.attributes));
  put(o, 'droppedAttributesCount', s.droppedAttributes);
  put(
    o,
    'events',
    s.events.map((e) => {
      const ev: Json = {};
      put(ev, 'timeUnixNano', e.timeNs.toString());
      put(ev, 'name', e.name);
      put(ev, 'attributes', attributes(e.attributes));
      put(ev, 'droppedAttributesCount', e.dropped);
      return ev;
    }),
  );
  put(o, 'droppedEventsCount', s.droppedEvents);
  put(
    o,
    'links',
    s.links.map((l) => {
      const link: Json = { traceId: l.traceId.toString('base64'), spanId: l.spanId.toString('base64') };
      put(link, 'traceState', l.traceState);
      put(link, 'attributes', attributes(l.attributes));
      put(link, 'droppedAttributesCount', l.dropped);
      put(link, 'flags', l.flags);
      return link;
    }),
  );
  put(o, 'droppedLinksCount', s.droppedLinks);
  const status: Json = {};
  put(status, 'message', s.statusMessage);
  if (s.statusCode !== 0) status.code = enumName(STATUS_CODES, s.statusCode);
  o.status = status;
  return o;
}

function resourceSpansJson(groups: ResourceGroup[]): Json[] {
  return groups.map((g) => {
    const resource: Json = {};
    put(resource, 'attributes', attributes(g.resource.attributes));
    put(resource, 'droppedAttributesCount', g.resource.dropped);
    const rs: Json = { resource };
    rs.scopeSpans = g.scopes.map((sg) => {
      const scope: Json = {};
      put(scope, 'name', sg.scope.name);
      put(scope, 'version', sg.scope.version);
      put(scope, 'attributes', attributes(sg.scope.attributes));
      put(scope, 'droppedAttributesCount', sg.scope.dropped);
      const ss: Json = { scope, spans: sg.spans.map(spanJson) };
      put(ss, 'schemaUrl', sg.scope.schemaUrl);
      return ss;
    });
    put(rs, 'schemaUrl', g.resource.schemaUrl);
    return rs;
  });
}

/** GET /api/traces/{id}: `{"batches": [ResourceSpans...]}`. */
export function traceV1Json(spans: SpanRecord[]): string {
  return JSON.stringify({ batches: resourceSpansJson(groupByResource(spans)) });
}

/** GET /api/v2/traces/{id}: TraceByIDResponse as JSON. */
export function traceV2Json(spans: SpanRecord[], inspectedBytes: number): string {
  const metrics: Json = {};
  put(metrics, 'inspectedBytes', String(inspectedBytes));
  return JSON.stringify({ trace: { resourceSpans: resourceSpansJson(groupByResource(spans)) }, metrics });
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
