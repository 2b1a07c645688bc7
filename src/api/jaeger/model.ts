import type { AnyValueJson, KeyValueJson } from '../../model/any-value.js';
import type { SpanRecord } from '../../model/span-record.js';

/**
 * Jaeger's JSON model (jaeger-query's model/json: what Jaeger UI and
 * Grafana's Jaeger data source read), and the conversion of stored OTLP
 * spans into it.
 *
 * The mapping is the OpenTelemetry Collector's Jaeger translator
 * (pkg/translator/jaeger, traces_to_jaegerproto.go): the span kind becomes
 * the `span.kind` tag, the status `otel.status_code`, `error=true` and
 * `otel.status_description`, the scope `otel.scope.name` and
 * `otel.scope.version`, the trace state `w3c.tracestate`; events become
 * logs with the event's name as an `event` field; the parent becomes a
 * CHILD_OF reference and links FOLLOWS_FROM ones (CHILD_OF for a link
 * whose `opentracing.ref_type` is `child_of`); resource attributes become
 * the process's tags, with service.name as its service name. Then what
 * jaeger-query does before answering: tags, process tags and log fields
 * sorted by key (a log's `event` first), ids in Jaeger's hex, times in µs,
 * processes numbered p1, p2... in order of first use.
 */

export type JaegerValueType = 'string' | 'bool' | 'int64' | 'float64' | 'binary';

export interface JaegerKeyValue {
  key: string;
  type: JaegerValueType;
  /** int64 values past 2^53 are strings, as jaeger-query prints them for JavaScript; binary is base64. */
  value: string | boolean | number;
}

export interface JaegerReference {
  refType: 'CHILD_OF' | 'FOLLOWS_FROM';
  traceID: string;
  spanID: string;
}

export interface JaegerLog {
  /** µs since the Unix epoch. */
  timestamp: number;
  fields: JaegerKeyValue[];
}

export interface JaegerSpan {
  traceID: string;
  spanID: string;
  /** Jaeger's flags: 1 when sampled; absent when 0 (omitempty). */
  flags?: number;
  operationName: string;
  references: JaegerReference[];
  /** µs since the Unix epoch. */
  startTime: number;
  /** µs. */
  duration: number;
  tags: JaegerKeyValue[];
  logs: JaegerLog[];
  processID: string;
  warnings: string[] | null;
}

export interface JaegerProcess {
  serviceName: string;
  tags: JaegerKeyValue[];
}

export interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, JaegerProcess>;
  warnings: string[] | null;
}

/** The process of a resource without attributes, as the translator names it. */
export const NO_SERVICE_NAME = 'OTLPResourceNoServiceName';

const SPAN_KIND_TAGS = ['', 'internal', 'server', 'client', 'producer', 'consumer'];
const JS_MAX_SAFE = (1n << 53n) - 1n;
const ZERO8 = Buffer.alloc(8);

/** Jaeger's TraceID.String(): 16 hex digits when the high half is zero, else 32. */
export function jaegerTraceId(id: Buffer): string {
  return id.length === 16 && id.subarray(0, 8).equals(ZERO8) ? id.subarray(8).toString('hex') : id.toString('hex');
}

/** Jaeger's SpanID.String(): 16 hex digits. */
export function jaegerSpanId(id: Buffer): string {
  return id.toString('hex').padStart(16, '0');
}

const micros = (ns: bigint): number => Number(ns / 1000n);

/** A whole trace (the spans of one trace id) in Jaeger's model. */
export function toJaegerTrace(spans: readonly SpanRecord[]): JaegerTrace {
  const processes = new Map<string, { id: string; process: JaegerProcess }>();
  const jSpans = spans.map((s) => {
    const process = toJaegerProcess(s.resource.attributes);
    const key = JSON.stringify(process);
    let entry = processes.get(key);
    if (!entry) {
      entry = { id: `p${processes.size + 1}`, process };
      processes.set(key, entry);
    }
    return toJaegerSpan(s, entry.id);
  });
  return {
    traceID: spans.length > 0 ? jaegerTraceId(spans[0].traceId) : '',
    spans: jSpans,
    processes: Object.fromEntries([...processes.values()].map((p) => [p.id, p.process])),
    warnings: null,
  };
}

export function toJaegerProcess(resource: readonly KeyValueJson[]): JaegerProcess {
  if (resource.length === 0) return { serviceName: NO_SERVICE_NAME, tags: [] };
  const service = resource.find((kv) => kv.key === 'service.name');
  return {
    serviceName: service && 'stringValue' in service.value ? service.value.stringValue : '',
    tags: sortKeyValues(resource.filter((kv) => kv.key !== 'service.name').map(toJaegerTag)),
  };
}

export function toJaegerSpan(s: SpanRecord, processID: string): JaegerSpan {
  const traceID = jaegerTraceId(s.traceId);
  return {
    traceID,
    spanID: jaegerSpanId(s.spanId),
    // The translator keeps OTLP's sampled bit as Jaeger's sampled flag; 0 is left out (omitempty).
    ...((s.flags & 1) !== 0 ? { flags: 1 } : {}),
    operationName: s.name,
    references: references(s, traceID),
    startTime: micros(s.startNs),
    duration: micros(s.durationNs),
    tags: sortKeyValues(spanTags(s)),
    logs: s.events.map((e) => ({ timestamp: micros(e.timeNs), fields: logFields(e.name, e.attributes) })),
    processID,
    warnings: droppedWarnings(s),
  };
}

function references(s: SpanRecord, traceID: string): JaegerReference[] {
  const refs: JaegerReference[] = [];
  const hasParent = !s.parentSpanId.equals(ZERO8);
  const parentID = jaegerSpanId(s.parentSpanId);
  // The parent first: backends look for it as the first CHILD_OF.
  if (hasParent) refs.push({ refType: 'CHILD_OF', traceID, spanID: parentID });
  for (const link of s.links) {
    const refType = linkRefType(link.attributes);
    const linkTrace = jaegerTraceId(link.traceId);
    const linkSpan = jaegerSpanId(link.spanId);
    if (hasParent && linkTrace === traceID && linkSpan === parentID) {
      // A link to the parent only says which kind of reference that is.
      refs[0] = { ...refs[0], refType };
      continue;
    }
    refs.push({ refType, traceID: linkTrace, spanID: linkSpan });
  }
  return refs;
}

function linkRefType(attributes: readonly KeyValueJson[]): JaegerReference['refType'] {
  const ref = attributes.find((kv) => kv.key === 'opentracing.ref_type');
  return ref && 'stringValue' in ref.value && ref.value.stringValue === 'child_of' ? 'CHILD_OF' : 'FOLLOWS_FROM';
}

function spanTags(s: SpanRecord): JaegerKeyValue[] {
  const tags: JaegerKeyValue[] = [];
  const str = (key: string, value: string) => tags.push({ key, type: 'string', value });
  if (s.scope.name !== '') str('otel.scope.name', s.scope.name);
  if (s.scope.version !== '') str('otel.scope.version', s.scope.version);
  for (const kv of s.attributes) tags.push(toJaegerTag(kv));
  const kind = SPAN_KIND_TAGS[s.kind];
  if (kind) str('span.kind', kind);
  if (s.statusCode === 1) str('otel.status_code', 'OK');
  if (s.statusCode === 2) {
    str('otel.status_code', 'ERROR');
    // One `error` tag: a sender's own (a Zipkin `error` tag kept as an attribute) stands.
    if (!s.attributes.some((kv) => kv.key === 'error')) tags.push({ key: 'error', type: 'bool', value: true });
  }
  if (s.statusMessage !== '') str('otel.status_description', s.statusMessage);
  if (s.traceState !== '') str('w3c.tracestate', s.traceState);
  return tags;
}

/** An event's fields: its name as `event` (unless an attribute is named so), then its attributes; `event` first, the rest by key. */
function logFields(name: string, attributes: readonly KeyValueJson[]): JaegerKeyValue[] {
  const fields = attributes.map(toJaegerTag);
  const named = name !== '' && !attributes.some((kv) => kv.key === 'event');
  if (named) fields.unshift({ key: 'event', type: 'string', value: name });
  const first = fields.findIndex((f) => f.key === 'event' && f.type === 'string');
  if (first < 0) return sortKeyValues(fields);
  const [event] = fields.splice(first, 1);
  return [event, ...sortKeyValues(fields)];
}

/**
 * What the sender dropped, which Jaeger's model has no field for: said as
 * warnings, which Jaeger UI shows on the span, so no loss goes unseen.
 */
function droppedWarnings(s: SpanRecord): string[] | null {
  const out: string[] = [];
  const say = (n: number, what: string) => {
    if (n > 0) out.push(`the sender dropped ${n} ${what}${n === 1 ? '' : 's'} of this span (OTLP dropped_${what}s_count)`);
  };
  say(s.droppedAttributes, 'attribute');
  say(s.droppedEvents, 'event');
  say(s.droppedLinks, 'link');
  return out.length > 0 ? out : null;
}

/** An OTLP attribute as a Jaeger tag, typed as the translator types it. */
export function toJaegerTag(kv: KeyValueJson): JaegerKeyValue {
  const v = kv.value;
  if ('stringValue' in v) return { key: kv.key, type: 'string', value: v.stringValue };
  if ('boolValue' in v) return { key: kv.key, type: 'bool', value: v.boolValue };
  if ('intValue' in v) {
    const n = BigInt(v.intValue);
    // jaeger-query prints ints JavaScript cannot hold exactly as strings.
    return { key: kv.key, type: 'int64', value: n > JS_MAX_SAFE || n < -JS_MAX_SAFE ? n.toString() : Number(n) };
  }
  if ('doubleValue' in v) return { key: kv.key, type: 'float64', value: v.doubleValue };
  if ('bytesValue' in v) return { key: kv.key, type: 'binary', value: v.bytesValue };
  if ('arrayValue' in v || 'kvlistValue' in v) return { key: kv.key, type: 'string', value: rawJson(v) };
  // The empty value: the translator leaves the tag at its zero value, an empty string.
  return { key: kv.key, type: 'string', value: '' };
}

/**
 * pcommon.Value.AsString() of an array or map: the value as Go's
 * encoding/json prints its raw form (maps by sorted key, bytes in base64,
 * HTML characters escaped, the empty value as null).
 */
export function rawJson(v: AnyValueJson): string {
  if ('stringValue' in v) return goString(v.stringValue);
  if ('boolValue' in v) return String(v.boolValue);
  if ('intValue' in v) return BigInt(v.intValue).toString();
  if ('doubleValue' in v) return typeof v.doubleValue === 'number' ? JSON.stringify(v.doubleValue) : goString(v.doubleValue);
  if ('bytesValue' in v) return goString(v.bytesValue);
  if ('arrayValue' in v) return `[${(v.arrayValue.values ?? []).map(rawJson).join(',')}]`;
  if ('kvlistValue' in v) {
    const entries = [...(v.kvlistValue.values ?? [])].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return `{${entries.map((e) => `${goString(e.key)}:${rawJson(e.value)}`).join(',')}}`;
  }
  return 'null';
}

/** A JSON string as Go's encoding/json writes it (HTML-safe). */
function goString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const TYPE_ORDER: Record<JaegerValueType, number> = { string: 0, bool: 1, int64: 2, float64: 3, binary: 4 };

/** Jaeger's KeyValues.Sort: by key, then type, then value; stable. */
export function sortKeyValues(list: JaegerKeyValue[]): JaegerKeyValue[] {
  return list.sort((a, b) => {
    if (a.key !== b.key) return a.key < b.key ? -1 : 1;
    if (a.type !== b.type) return TYPE_ORDER[a.type] - TYPE_ORDER[b.type];
    return compareValues(a.value, b.value);
  });
}

function compareValues(a: JaegerKeyValue['value'], b: JaegerKeyValue['value']): number {
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  const x = Number(a);
  const y = Number(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
