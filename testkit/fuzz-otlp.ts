import zlib from 'node:zlib';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { otlp } from './otlp-schema.js';

/**
 * Generated OTLP export requests for fuzzing a live receiver: a structured
 * model (resources, scopes, spans with every field), serialized by
 * protobufjs or as OTLP/JSON, then, for a share of them, corrupted at the
 * byte, wire-format, JSON or transport level.
 *
 * Every case carries what the receiver must answer when that is knowable:
 * a clean request is accepted, with exactly its defective spans rejected;
 * a string field that is not UTF-8 is a 400; a body over the limit is a
 * 413; and so on. Where a corruption may or may not leave a valid request
 * (a truncation at a field boundary, a bit flip in a string), only "no
 * server error" is asserted.
 */

// ---- the model ---------------------------------------------------------------

export type AnyValueModel =
  | { t: 'string'; v: string }
  | { t: 'bool'; v: boolean }
  | { t: 'int'; v: bigint }
  | { t: 'double'; v: number }
  | { t: 'bytes'; v: Uint8Array }
  | { t: 'array'; v: AnyValueModel[] }
  | { t: 'kvlist'; v: KeyValueModel[] }
  | { t: 'empty' };

export interface KeyValueModel {
  key: string;
  value: AnyValueModel;
}

/**
 * Ways a span can be invalid that both decoders must reject by rejecting
 * that span alone (OTLP partial success), never the request.
 */
export const SPAN_DEFECTS = [
  'zero-trace-id',
  'zero-span-id',
  'short-trace-id',
  'long-span-id',
  'bad-parent-id',
  'end-before-start',
  'too-old',
  'bad-link-id',
  'kind-out-of-range',
  'status-out-of-range',
] as const;
export type SpanDefect = (typeof SPAN_DEFECTS)[number];

export interface EventModel {
  offsetNs: bigint;
  name: string;
  attributes: KeyValueModel[];
  dropped: number;
}

export interface LinkModel {
  traceId: Buffer;
  spanId: Buffer;
  traceState: string;
  attributes: KeyValueModel[];
  dropped: number;
  flags: number;
}

export interface SpanModel {
  traceId: Buffer;
  spanId: Buffer;
  parentSpanId: Buffer | null;
  traceState: string;
  name: string;
  kind: number;
  /** Start, relative to the run's reference time (negative: in the past). */
  startOffsetNs: bigint;
  durationNs: bigint;
  attributes: KeyValueModel[];
  events: EventModel[];
  links: LinkModel[];
  status: { code: number; message: string } | null;
  flags: number;
  dropped: { attributes: number; events: number; links: number };
  defect: SpanDefect | null;
}

export interface ScopeSpansModel {
  scope: { name: string; version: string; attributes: KeyValueModel[]; dropped: number } | null;
  schemaUrl: string;
  spans: SpanModel[];
}

export interface ResourceSpansModel {
  attributes: KeyValueModel[];
  dropped: number;
  schemaUrl: string;
  scopes: ScopeSpansModel[];
}

export interface RequestModel {
  resources: ResourceSpansModel[];
}

/** How a clean OTLP/JSON body spells things; every variant is valid OTLP/JSON. */
export interface JsonStyle {
  /** Proto field names (trace_id) instead of lowerCamelCase, where the spec allows both. */
  snake: boolean;
  /** Enums by name (SPAN_KIND_SERVER) instead of number. */
  enumNames: boolean;
  /** 64-bit times as bare JSON numbers (19 digits, beyond 2^53) instead of strings. */
  bareTimes: boolean;
  /** Upper-case hex ids. */
  upperHex: boolean;
  /** Pretty-printed. */
  indent: boolean;
}

export interface OtlpContext {
  /** The run's reference time: span times are offsets from it. */
  nowNs: bigint;
  /** Trace ids most spans use, so a few by-id reads find every acknowledged span. */
  traceIds: Buffer[];
  /** The receiver's --max-body. */
  maxBodyBytes: number;
}

// ---- arbitraries ---------------------------------------------------------------

const MIN = 60_000_000_000n;
const DAY = 86_400_000_000_000n;

/** Random bytes that never shrink (a shrunk id would become all zero, another case) and are never all zero. */
const idArb = (n: number): fc.Arbitrary<Buffer> =>
  fc.noShrink(fc.noBias(fc.uint8Array({ minLength: n, maxLength: n }))).map((a) => {
    const b = Buffer.from(a);
    if (b.every((x) => x === 0)) b[0] = 1;
    return b;
  });

/** Lone surrogates have no UTF-8 form; encoders would write U+FFFD or bad bytes. */
const wellFormed = (s: string): string => Buffer.from(s, 'utf8').toString('utf8');

const WORDS = ['GET /cart', 'SELECT', 'render', 'http.status_code', 'service.name', 'x', '', ' ', 'naïve', 'żółć 🙂', '\u0000', '"quoted"', '\\', '\n'];

export const textArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 30, arbitrary: fc.constantFrom(...WORDS) },
  { weight: 30, arbitrary: fc.string({ maxLength: 24 }) },
  { weight: 15, arbitrary: fc.string({ unit: 'grapheme', maxLength: 16 }) },
  { weight: 10, arbitrary: fc.string({ unit: 'binary', maxLength: 16 }).map(wellFormed) },
  { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 20_000 }).map((n) => 'v'.repeat(n)) },
);

const keyArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('service.name', 'http.status_code', 'http.method', 'db.statement', 'retry', 'ratio', 'a', '') },
  { weight: 3, arbitrary: fc.string({ maxLength: 16 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 8 }) },
);

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

const anyValueArbs = fc.letrec<{ value: AnyValueModel; kv: KeyValueModel }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', maxDepth: 3 },
    { weight: 6, arbitrary: textArb.map((v): AnyValueModel => ({ t: 'string', v })) },
    { weight: 2, arbitrary: fc.boolean().map((v): AnyValueModel => ({ t: 'bool', v })) },
    { weight: 3, arbitrary: fc.bigInt({ min: INT64_MIN, max: INT64_MAX }).map((v): AnyValueModel => ({ t: 'int', v })) },
    { weight: 2, arbitrary: fc.double().map((v): AnyValueModel => ({ t: 'double', v })) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 12 }).map((v): AnyValueModel => ({ t: 'bytes', v })) },
    { weight: 1, arbitrary: fc.array(tie('value'), { maxLength: 3 }).map((v): AnyValueModel => ({ t: 'array', v })) },
    { weight: 1, arbitrary: fc.array(tie('kv'), { maxLength: 3 }).map((v): AnyValueModel => ({ t: 'kvlist', v })) },
    { weight: 1, arbitrary: fc.constant<AnyValueModel>({ t: 'empty' }) },
  ),
  kv: fc.record({ key: keyArb, value: tie('value') }),
}));

export const anyValueArb = anyValueArbs.value;
const attrsArb = (max: number) => fc.array(anyValueArbs.kv, { maxLength: max });

/** A value nested `depth` levels deep in arrays and kvlists. */
export function nested(depth: number, kvlist: boolean): AnyValueModel {
  let v: AnyValueModel = { t: 'string', v: 'bottom' };
  for (let i = 0; i < depth; i++) v = kvlist && i % 2 ? { t: 'kvlist', v: [{ key: `k${i}`, value: v }] } : { t: 'array', v: [v] };
  return v;
}

const u32Arb = fc.oneof(fc.constant(0), fc.nat(10), fc.constant(0xffffffff));

function spanArb(ctx: OtlpContext): fc.Arbitrary<SpanModel> {
  const traceId = fc.oneof(
    // Mostly the shared ids: reading traces back by id is what bounds the final check's time.
    { weight: 300, arbitrary: fc.nat(ctx.traceIds.length - 1).map((i) => ctx.traceIds[i]) },
    { weight: 1, arbitrary: idArb(16) },
  );
  return fc.record({
    traceId,
    spanId: idArb(8),
    parentSpanId: fc.option(idArb(8), { freq: 2 }),
    traceState: fc.oneof({ weight: 4, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom('a=b', 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7') }, { weight: 1, arbitrary: textArb }),
    name: textArb,
    kind: fc.integer({ min: 0, max: 5 }),
    startOffsetNs: fc.bigInt({ min: -20n * MIN, max: 0n }),
    durationNs: fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: 10_000_000_000n })),
    attributes: attrsArb(5),
    events: fc.array(
      fc.record({ offsetNs: fc.bigInt({ min: 0n, max: 1_000_000_000n }), name: textArb, attributes: attrsArb(2), dropped: u32Arb }),
      { maxLength: 2 },
    ),
    links: fc.array(
      fc.record({
        traceId: fc.oneof(idArb(16), fc.constant(Buffer.alloc(0))),
        spanId: fc.oneof(idArb(8), fc.constant(Buffer.alloc(0))),
        traceState: fc.constantFrom('', 'a=b'),
        attributes: attrsArb(2),
        dropped: u32Arb,
        flags: fc.constantFrom(0, 1, 0x101),
      }),
      { maxLength: 2 },
    ),
    status: fc.option(fc.record({ code: fc.integer({ min: 0, max: 2 }), message: textArb }), { freq: 2 }),
    flags: fc.oneof(fc.constant(0), fc.constant(0x101), fc.nat({ max: 0xffffffff })),
    dropped: fc.record({ attributes: u32Arb, events: u32Arb, links: u32Arb }),
    defect: fc.oneof({ weight: 12, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom(...SPAN_DEFECTS) }),
  });
}

export function requestArb(ctx: OtlpContext, maxSpans = 2): fc.Arbitrary<RequestModel> {
  const scope = fc.record({
    scope: fc.option(fc.record({ name: textArb, version: fc.constantFrom('', '1.0.0', '0.223.1'), attributes: attrsArb(2), dropped: u32Arb }), { freq: 5 }),
    schemaUrl: fc.constantFrom('', 'https://opentelemetry.io/schemas/1.26.0'),
    spans: fc.array(spanArb(ctx), { maxLength: maxSpans, size: 'max' }),
  });
  const resource = fc.record({
    attributes: fc.tuple(fc.constantFrom('fuzz-a', 'fuzz-b', 'fuzz-żółć'), attrsArb(3)).map(([svc, rest]) => [
      { key: 'service.name', value: { t: 'string', v: svc } as AnyValueModel },
      ...rest,
    ]),
    dropped: u32Arb,
    schemaUrl: fc.constantFrom('', 'https://opentelemetry.io/schemas/1.26.0'),
    scopes: fc.array(scope, { minLength: 1, maxLength: 2 }),
  });
  return fc.record({ resources: fc.array(resource, { minLength: 1, maxLength: 2 }) });
}

export const jsonStyleArb: fc.Arbitrary<JsonStyle> = fc.record({
  snake: fc.boolean(),
  enumNames: fc.boolean(),
  bareTimes: fc.boolean(),
  upperHex: fc.boolean(),
  indent: fc.boolean(),
});

// ---- applying defects ------------------------------------------------------------

/** The span as it goes on the wire: its defect applied. */
interface WireSpan {
  traceId: Buffer;
  spanId: Buffer;
  parentSpanId: Buffer | null;
  kind: number;
  statusCode: number | null;
  startNs: bigint;
  endNs: bigint;
  links: LinkModel[];
}

function wireSpan(s: SpanModel, nowNs: bigint): WireSpan {
  const startNs = nowNs + s.startOffsetNs;
  const w: WireSpan = {
    traceId: s.traceId,
    spanId: s.spanId,
    parentSpanId: s.parentSpanId,
    kind: s.kind,
    statusCode: s.status ? s.status.code : null,
    startNs,
    endNs: startNs + s.durationNs,
    links: s.links,
  };
  switch (s.defect) {
    case 'zero-trace-id':
      w.traceId = Buffer.alloc(16);
      break;
    case 'zero-span-id':
      w.spanId = Buffer.alloc(8);
      break;
    case 'short-trace-id':
      w.traceId = s.traceId.subarray(0, 15);
      break;
    case 'long-span-id':
      w.spanId = Buffer.concat([s.spanId, Buffer.from([7])]);
      break;
    case 'bad-parent-id':
      w.parentSpanId = s.spanId.subarray(0, 4);
      break;
    case 'end-before-start':
      w.endNs = startNs - 1n - s.durationNs;
      break;
    case 'too-old':
      w.startNs = nowNs - 8n * DAY;
      w.endNs = w.startNs + s.durationNs;
      break;
    case 'bad-link-id':
      w.links = [...s.links, { traceId: s.traceId.subarray(0, 5), spanId: Buffer.alloc(0), traceState: '', attributes: [], dropped: 0, flags: 0 }];
      break;
    case 'kind-out-of-range':
      w.kind = 256 + s.kind;
      break;
    case 'status-out-of-range':
      w.statusCode = 300;
      break;
  }
  return w;
}

export function spanCount(r: RequestModel): { total: number; defective: number } {
  let total = 0;
  let defective = 0;
  for (const rs of r.resources) for (const ss of rs.scopes) for (const s of ss.spans) {
    total++;
    if (s.defect) defective++;
  }
  return { total, defective };
}

/** The spans a receiver must store from the clean request: those without a defect. */
export function acceptedSpans(r: RequestModel, nowNs: bigint): { traceId: string; spanId: string; name: string; startNs: bigint; endNs: bigint; kind: number }[] {
  const out = [];
  for (const rs of r.resources) for (const ss of rs.scopes) for (const s of ss.spans) {
    if (s.defect) continue;
    const start = nowNs + s.startOffsetNs;
    out.push({ traceId: s.traceId.toString('hex'), spanId: s.spanId.toString('hex'), name: s.name, startNs: start, endNs: start + s.durationNs, kind: s.kind });
  }
  return out;
}

// ---- protobuf -----------------------------------------------------------------

function pbValue(v: AnyValueModel): Record<string, unknown> {
  switch (v.t) {
    case 'string':
      return { stringValue: v.v };
    case 'bool':
      return { boolValue: v.v };
    case 'int':
      return { intValue: v.v.toString() };
    case 'double':
      return { doubleValue: v.v };
    case 'bytes':
      return { bytesValue: Buffer.from(v.v) };
    case 'array':
      return { arrayValue: { values: v.v.map(pbValue) } };
    case 'kvlist':
      return { kvlistValue: { values: v.v.map(pbKv) } };
    case 'empty':
      return {};
  }
}
const pbKv = (kv: KeyValueModel) => ({ key: kv.key, value: pbValue(kv.value) });

function pbSpan(s: SpanModel, nowNs: bigint): Record<string, unknown> {
  const w = wireSpan(s, nowNs);
  return {
    traceId: w.traceId,
    spanId: w.spanId,
    ...(w.parentSpanId ? { parentSpanId: w.parentSpanId } : {}),
    traceState: s.traceState,
    name: s.name,
    kind: w.kind,
    startTimeUnixNano: w.startNs.toString(),
    endTimeUnixNano: w.endNs.toString(),
    attributes: s.attributes.map(pbKv),
    droppedAttributesCount: s.dropped.attributes,
    events: s.events.map((e) => ({ timeUnixNano: (w.startNs + e.offsetNs).toString(), name: e.name, attributes: e.attributes.map(pbKv), droppedAttributesCount: e.dropped })),
    droppedEventsCount: s.dropped.events,
    links: w.links.map((l) => ({ traceId: l.traceId, spanId: l.spanId, traceState: l.traceState, attributes: l.attributes.map(pbKv), droppedAttributesCount: l.dropped, flags: l.flags })),
    droppedLinksCount: s.dropped.links,
    ...(s.status || w.statusCode !== null ? { status: { code: w.statusCode ?? 0, message: s.status?.message ?? '' } } : {}),
    flags: s.flags,
  };
}

export function requestObject(r: RequestModel, nowNs: bigint): Record<string, unknown> {
  return {
    resourceSpans: r.resources.map((rs) => ({
      resource: { attributes: rs.attributes.map(pbKv), droppedAttributesCount: rs.dropped },
      schemaUrl: rs.schemaUrl,
      scopeSpans: rs.scopes.map((ss) => ({
        ...(ss.scope ? { scope: { name: ss.scope.name, version: ss.scope.version, attributes: ss.scope.attributes.map(pbKv), droppedAttributesCount: ss.scope.dropped } } : {}),
        schemaUrl: ss.schemaUrl,
        spans: ss.spans.map((s) => pbSpan(s, nowNs)),
      })),
    })),
  };
}

const Request = otlp.ExportTraceServiceRequest;
// AnyValues nested past the receiver's limit (32) are a case here; each level
// is two or three protobuf messages, past protobufjs's default limit of 100.
protobuf.util.recursionLimit = 1_000;
(protobuf.Reader as unknown as { recursionLimit: number }).recursionLimit = 1_000;

/** protobufjs writes the request (an encoder independent of Sightline's). */
export function toProtobuf(r: RequestModel, nowNs: bigint): Buffer {
  return Buffer.from(Request.encode(Request.fromObject(requestObject(r, nowNs))).finish());
}

// ---- OTLP/JSON ------------------------------------------------------------------

const KIND_NAMES = ['SPAN_KIND_UNSPECIFIED', 'SPAN_KIND_INTERNAL', 'SPAN_KIND_SERVER', 'SPAN_KIND_CLIENT', 'SPAN_KIND_PRODUCER', 'SPAN_KIND_CONSUMER'];
const STATUS_NAMES = ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'];
/** Marks a bare 64-bit number in the object, replaced after JSON.stringify. */
const BARE = '\u0001bare:';

function jsonValue(v: AnyValueModel): unknown {
  switch (v.t) {
    case 'string':
      return { stringValue: v.v };
    case 'bool':
      return { boolValue: v.v };
    case 'int':
      return { intValue: v.v.toString() };
    case 'double':
      return { doubleValue: Number.isFinite(v.v) ? v.v : Number.isNaN(v.v) ? 'NaN' : v.v > 0 ? 'Infinity' : '-Infinity' };
    case 'bytes':
      return { bytesValue: Buffer.from(v.v).toString('base64') };
    case 'array':
      return { arrayValue: { values: v.v.map(jsonValue) } };
    case 'kvlist':
      return { kvlistValue: { values: v.v.map(jsonKv) } };
    case 'empty':
      return {};
  }
}
const jsonKv = (kv: KeyValueModel) => ({ key: kv.key, value: jsonValue(kv.value) });

/** OTLP/JSON as the spec has it: hex ids, 64-bit integers as strings (or bare numbers), enums as numbers (or names). */
export function toJson(r: RequestModel, nowNs: bigint, style: JsonStyle): string {
  const k = (camel: string, snake: string) => (style.snake ? snake : camel);
  const hex = (b: Buffer) => (style.upperHex ? b.toString('hex').toUpperCase() : b.toString('hex'));
  const time = (t: bigint) => (style.bareTimes ? `${BARE}${t}` : t.toString());
  const enumOf = (n: number, names: string[]) => (style.enumNames && n < names.length ? names[n] : n);
  const doc = {
    [k('resourceSpans', 'resource_spans')]: r.resources.map((rs) => ({
      resource: { attributes: rs.attributes.map(jsonKv), [k('droppedAttributesCount', 'dropped_attributes_count')]: rs.dropped },
      [k('schemaUrl', 'schema_url')]: rs.schemaUrl,
      [k('scopeSpans', 'scope_spans')]: rs.scopes.map((ss) => ({
        ...(ss.scope ? { scope: { name: ss.scope.name, version: ss.scope.version, attributes: ss.scope.attributes.map(jsonKv), [k('droppedAttributesCount', 'dropped_attributes_count')]: ss.scope.dropped } } : {}),
        [k('schemaUrl', 'schema_url')]: ss.schemaUrl,
        spans: ss.spans.map((s) => {
          const w = wireSpan(s, nowNs);
          return {
            [k('traceId', 'trace_id')]: hex(w.traceId),
            [k('spanId', 'span_id')]: hex(w.spanId),
            ...(w.parentSpanId ? { [k('parentSpanId', 'parent_span_id')]: hex(w.parentSpanId) } : {}),
            [k('traceState', 'trace_state')]: s.traceState,
            name: s.name,
            kind: enumOf(w.kind, KIND_NAMES),
            [k('startTimeUnixNano', 'start_time_unix_nano')]: time(w.startNs),
            [k('endTimeUnixNano', 'end_time_unix_nano')]: time(w.endNs),
            attributes: s.attributes.map(jsonKv),
            [k('droppedAttributesCount', 'dropped_attributes_count')]: s.dropped.attributes,
            events: s.events.map((e) => ({
              [k('timeUnixNano', 'time_unix_nano')]: time(w.startNs + e.offsetNs),
              name: e.name,
              attributes: e.attributes.map(jsonKv),
              [k('droppedAttributesCount', 'dropped_attributes_count')]: e.dropped,
            })),
            [k('droppedEventsCount', 'dropped_events_count')]: s.dropped.events,
            links: w.links.map((l) => ({
              [k('traceId', 'trace_id')]: hex(l.traceId),
              [k('spanId', 'span_id')]: hex(l.spanId),
              [k('traceState', 'trace_state')]: l.traceState,
              attributes: l.attributes.map(jsonKv),
              [k('droppedAttributesCount', 'dropped_attributes_count')]: l.dropped,
              flags: l.flags,
            })),
            [k('droppedLinksCount', 'dropped_links_count')]: s.dropped.links,
            ...(s.status || w.statusCode !== null ? { status: { code: enumOf(w.statusCode ?? 0, STATUS_NAMES), message: s.status?.message ?? '' } } : {}),
            flags: s.flags,
          };
        }),
      })),
    })),
  };
  const text = JSON.stringify(doc, null, style.indent ? 2 : undefined);
  return text.replace(/"\\u0001bare:(\d+)"/g, '$1');
}

// ---- protobuf wire tree: corruption that keeps everything else well formed ---------

const WT_VARINT = 0;
const WT_I64 = 1;
const WT_LEN = 2;
const WT_I32 = 5;

/** One field of a parsed message; LEN fields of message type have children. */
export interface PbNode {
  field: number;
  wt: number;
  /** The protobuf type of the field ('string', 'bytes', 'fixed64', a message name ...). */
  type: string;
  /** Payload bytes, without tag or length (for LEN), for leaves. */
  raw: Buffer;
  children: PbNode[] | null;
  /** Inside a span with a defect (which decoders may never look at). */
  inDefectiveSpan: boolean;
  /** Replacement bytes for the tag. */
  tagBytes?: Buffer;
  /** Replacement bytes for the length prefix (LEN only). */
  lengthBytes?: Buffer;
}

/** field << 3 | wire type, without 32-bit overflow (field numbers go up to 2^29 - 1). */
const tagOf = (field: number, wt: number): bigint => BigInt(field) * 8n + BigInt(wt);

export function varint(v: bigint | number): Buffer {
  let n = BigInt.asUintN(64, BigInt(v));
  const out: number[] = [];
  while (n >= 0x80n) {
    out.push(Number(n & 0x7fn) | 0x80);
    n >>= 7n;
  }
  out.push(Number(n));
  return Buffer.from(out);
}

/** The same value as a 10-byte varint: legal protobuf, which decoders must take. */
export function paddedVarint(v: bigint | number): Buffer {
  const n = BigInt.asUintN(64, BigInt(v));
  const out = Buffer.alloc(10);
  for (let i = 0; i < 10; i++) out[i] = Number((n >> BigInt(7 * i)) & 0x7fn) | (i < 9 ? 0x80 : 0);
  return out;
}

function readVarint(buf: Buffer, pos: number): { value: bigint; next: number } {
  let v = 0n;
  for (let i = 0; i < 10; i++) {
    const b = buf[pos + i];
    v |= BigInt(b & 0x7f) << BigInt(7 * i);
    if (b < 0x80) return { value: v, next: pos + i + 1 };
  }
  throw new Error('bad varint');
}

/** Parses bytes protobufjs wrote for `type` into a tree (input is well formed). */
export function parsePb(buf: Buffer, type: protobuf.Type, defectiveSpans: Set<string>, inDefective = false): PbNode[] {
  const nodes: PbNode[] = [];
  let pos = 0;
  const isSpan = type.name === 'Span';
  let defective = inDefective;
  if (isSpan && !inDefective) {
    // Decide first whether this span is one with a defect (by its span id).
    const probe = type.decode(buf) as unknown as { spanId: Uint8Array; traceId: Uint8Array };
    defective = defectiveSpans.has(`${Buffer.from(probe.traceId).toString('hex')}/${Buffer.from(probe.spanId).toString('hex')}`);
  }
  while (pos < buf.length) {
    const tag = readVarint(buf, pos);
    pos = tag.next;
    const field = Number(tag.value >> 3n);
    const wt = Number(tag.value & 7n);
    const f = type.fieldsById[field];
    const ftype = f ? f.type : 'unknown';
    let raw: Buffer;
    let children: PbNode[] | null = null;
    if (wt === WT_VARINT) {
      const v = readVarint(buf, pos);
      raw = buf.subarray(pos, v.next);
      pos = v.next;
    } else if (wt === WT_I64) {
      raw = buf.subarray(pos, pos + 8);
      pos += 8;
    } else if (wt === WT_I32) {
      raw = buf.subarray(pos, pos + 4);
      pos += 4;
    } else if (wt === WT_LEN) {
      const len = readVarint(buf, pos);
      pos = len.next;
      raw = buf.subarray(pos, pos + Number(len.value));
      pos += Number(len.value);
      f?.resolve();
      if (f && f.resolvedType instanceof protobuf.Type) children = parsePb(raw, f.resolvedType, defectiveSpans, defective);
    } else throw new Error(`wire type ${wt} in protobufjs output`);
    nodes.push({ field, wt, type: ftype, raw, children, inDefectiveSpan: defective });
  }
  return nodes;
}

export function serializePb(nodes: PbNode[]): Buffer {
  const parts: Buffer[] = [];
  for (const n of nodes) {
    // A rewritten tag keeps what followed it (a LEN field's length and payload).
    parts.push(n.tagBytes ?? varint(tagOf(n.field, n.wt)));
    if (n.wt === WT_LEN) {
      const payload = n.children ? serializePb(n.children) : n.raw;
      parts.push(n.lengthBytes ?? varint(payload.length), payload);
    } else parts.push(n.raw);
  }
  return Buffer.concat(parts);
}

/** Every node, depth first, with the list holding it. */
export function flattenPb(nodes: PbNode[], out: { node: PbNode; list: PbNode[] }[] = []): { node: PbNode; list: PbNode[] }[] {
  for (const n of nodes) {
    out.push({ node: n, list: nodes });
    if (n.children) flattenPb(n.children, out);
  }
  return out;
}

// ---- corruptions -------------------------------------------------------------------

/**
 * What to do to a serialized request. Positions (`at`) are taken modulo
 * what they index, so any number applies to any body.
 */
export type Corruption =
  | { k: 'truncate'; at: number }
  | { k: 'bitflip'; flips: { at: number; bit: number }[] }
  | { k: 'insert'; at: number; bytes: Uint8Array }
  | { k: 'delete'; at: number; len: number }
  | { k: 'garbage'; bytes: Uint8Array }
  | { k: 'empty' }
  | { k: 'too-large' }
  // protobuf wire format
  | { k: 'pb-wire-type'; at: number; wt: number }
  | { k: 'pb-huge-length'; at: number; len: bigint }
  | { k: 'pb-overlong-varint'; at: number }
  | { k: 'pb-padded-varint'; at: number; where: 'tag' | 'length' | 'value' }
  | { k: 'pb-unknown-field'; at: number; field: number; wt: number; payload: Uint8Array }
  | { k: 'pb-duplicate'; at: number }
  | { k: 'pb-drop'; at: number }
  | { k: 'pb-bad-utf8'; at: number; bytes: Uint8Array }
  | { k: 'pb-set-varint'; at: number; value: bigint }
  // OTLP/JSON
  | { k: 'json-wrong-type'; at: number; value: unknown }
  | { k: 'json-bad-enum'; at: number; value: string }
  | { k: 'json-bad-number'; at: number; value: string }
  | { k: 'json-bad-utf8'; at: number; bytes: Uint8Array }
  | { k: 'json-deep'; depth: number }
  | { k: 'json-duplicate-key'; at: number }
  | { k: 'json-bom' }
  | { k: 'json-trailing'; text: string }
  // transport (HTTP)
  | { k: 'content-type'; value: string | null }
  | { k: 'content-encoding'; value: string }
  | { k: 'gzip-garbage'; bytes: Uint8Array }
  | { k: 'gzip-corrupt'; at: number; truncate: boolean }
  | { k: 'gzip-twice' }
  | { k: 'gzip-bomb' }
  // transport (gRPC)
  | { k: 'grpc-bad-gzip'; bytes: Uint8Array }
  | { k: 'grpc-unknown-encoding'; value: string }
  | { k: 'grpc-frame-length'; delta: number };

const posArb = fc.nat();
const bytesArb = fc.uint8Array({ minLength: 1, maxLength: 16 });
const INVALID_UTF8 = [
  [0xff],
  [0xc3, 0x28],
  [0xe2, 0x28, 0xa1],
  [0xf0, 0x28, 0x8c, 0x28],
  [0xed, 0xa0, 0x80], // a UTF-16 surrogate, CESU style
  [0xc0, 0xaf], // overlong '/'
  [0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
];
const invalidUtf8Arb = fc.constantFrom(...INVALID_UTF8).chain((bad) =>
  fc.tuple(fc.string({ maxLength: 3 }), fc.string({ maxLength: 3 })).map(([a, b]) => new Uint8Array([...Buffer.from(a), ...bad, ...Buffer.from(b)])),
);

const byteCorruptions: fc.Arbitrary<Corruption>[] = [
  fc.record({ k: fc.constant('truncate' as const), at: posArb }),
  fc.record({ k: fc.constant('bitflip' as const), flips: fc.array(fc.record({ at: posArb, bit: fc.nat(7) }), { minLength: 1, maxLength: 4 }) }),
  fc.record({ k: fc.constant('insert' as const), at: posArb, bytes: bytesArb }),
  fc.record({ k: fc.constant('delete' as const), at: posArb, len: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ k: fc.constant('garbage' as const), bytes: fc.uint8Array({ maxLength: 64 }) }),
  fc.constant<Corruption>({ k: 'empty' }),
];

export const protobufCorruptionArb: fc.Arbitrary<Corruption> = fc.oneof(
  ...byteCorruptions,
  fc.record({ k: fc.constant('pb-wire-type' as const), at: posArb, wt: fc.nat(7) }),
  fc.record({ k: fc.constant('pb-huge-length' as const), at: posArb, len: fc.constantFrom(2n ** 31n - 1n, 2n ** 32n, 2n ** 53n, 2n ** 64n - 1n, 1n << 40n) }),
  fc.record({ k: fc.constant('pb-overlong-varint' as const), at: posArb }),
  fc.record({ k: fc.constant('pb-padded-varint' as const), at: posArb, where: fc.constantFrom('tag' as const, 'length' as const, 'value' as const) }),
  fc.record({
    k: fc.constant('pb-unknown-field' as const),
    at: posArb,
    field: fc.oneof(fc.integer({ min: 17, max: 100 }), fc.constant(536_870_911), fc.constant(0)),
    wt: fc.nat(7),
    payload: fc.uint8Array({ maxLength: 8 }),
  }),
  fc.record({ k: fc.constant('pb-duplicate' as const), at: posArb }),
  fc.record({ k: fc.constant('pb-drop' as const), at: posArb }),
  fc.record({ k: fc.constant('pb-bad-utf8' as const), at: posArb, bytes: invalidUtf8Arb }),
  fc.record({ k: fc.constant('pb-set-varint' as const), at: posArb, value: fc.constantFrom(256n, 2n ** 31n, 2n ** 32n, 2n ** 63n, 2n ** 64n - 1n) }),
);

const PROTOTYPE_NAMES = ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf'];
export const jsonCorruptionArb: fc.Arbitrary<Corruption> = fc.oneof(
  ...byteCorruptions,
  fc.record({
    k: fc.constant('json-wrong-type' as const),
    at: posArb,
    value: fc.oneof(fc.constant(null), fc.constant(true), fc.constant(1.5), fc.constant(-1), fc.constant('x'), fc.constant([]), fc.constant({}), fc.constant([[]])),
  }),
  fc.record({ k: fc.constant('json-bad-enum' as const), at: posArb, value: fc.oneof(fc.constantFrom(...PROTOTYPE_NAMES, 'SPAN_KIND_NOPE', 'server', ''), fc.string({ maxLength: 6 })) }),
  fc.record({
    k: fc.constant('json-bad-number' as const),
    at: posArb,
    value: fc.constantFrom('1e400', '-1', '1.5', '18446744073709551616', '-9223372036854775809', '99999999999999999999999', '"NaN"', '"1e3"', '" 1"', '"0x10"', '4294967296'),
  }),
  fc.record({ k: fc.constant('json-bad-utf8' as const), at: posArb, bytes: invalidUtf8Arb }),
  fc.record({ k: fc.constant('json-deep' as const), depth: fc.constantFrom(100, 1_000, 10_000, 100_000) }),
  fc.record({ k: fc.constant('json-duplicate-key' as const), at: posArb }),
  fc.constant<Corruption>({ k: 'json-bom' }),
  fc.record({ k: fc.constant('json-trailing' as const), text: fc.constantFrom('x', ',', '}', ' {}', '\u0000') }),
);

export const httpTransportCorruptionArb: fc.Arbitrary<Corruption> = fc.oneof(
  fc.record({
    k: fc.constant('content-type' as const),
    value: fc.constantFrom(null, '', 'text/plain', 'application/xml', 'application/grpc', 'multipart/form-data; boundary=x', 'application/jsonx', 'application/x-protobuf-x', '*/*', 'swap'),
  }),
  fc.record({ k: fc.constant('content-encoding' as const), value: fc.constantFrom('br', 'deflate', 'compress', 'x-gzip', 'zstd', 'gzip, gzip', 'bogus') }),
  fc.record({ k: fc.constant('gzip-garbage' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }).filter((b) => b[0] !== 0x1f) }),
  fc.record({ k: fc.constant('gzip-corrupt' as const), at: posArb, truncate: fc.boolean() }),
  fc.constant<Corruption>({ k: 'gzip-twice' }),
  fc.constant<Corruption>({ k: 'gzip-bomb' }),
  fc.constant<Corruption>({ k: 'too-large' }),
);

export const grpcTransportCorruptionArb: fc.Arbitrary<Corruption> = fc.oneof(
  fc.record({ k: fc.constant('grpc-bad-gzip' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 32 }) }),
  fc.record({ k: fc.constant('grpc-unknown-encoding' as const), value: fc.constantFrom('br', 'snappy', 'bogus') }),
  fc.record({ k: fc.constant('grpc-frame-length' as const), delta: fc.constantFrom(-5, -1, 1, 5, 1 << 20) }),
  fc.constant<Corruption>({ k: 'gzip-bomb' }),
  fc.constant<Corruption>({ k: 'too-large' }),
);

// ---- a case: request, encoding, transport, corruption; bytes and expectations -------

export type Transport = 'http' | 'grpc';
export type Encoding = 'protobuf' | 'json';

export interface OtlpCase {
  transport: Transport;
  encoding: Encoding;
  request: RequestModel;
  jsonStyle: JsonStyle;
  /** Compress a clean body (gzip), as exporters may. */
  gzip: boolean;
  /** Media type spelling for a clean request. */
  contentTypeSpelling: number;
  /** Send the same bytes again once answered: an exporter's retry. */
  resend: boolean;
  corruption: Corruption | null;
  /** AnyValue nesting added to the first span's attributes (0: none). */
  deep: number;
}

export function otlpCaseArb(ctx: OtlpContext): fc.Arbitrary<OtlpCase> {
  const corruption = (arb: fc.Arbitrary<Corruption>) => fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 2, arbitrary: arb });
  const route = fc.oneof(
    { weight: 5, arbitrary: fc.record({ transport: fc.constant('http' as const), encoding: fc.constant('protobuf' as const), corruption: corruption(fc.oneof({ weight: 4, arbitrary: protobufCorruptionArb }, { weight: 1, arbitrary: httpTransportCorruptionArb })) }) },
    { weight: 4, arbitrary: fc.record({ transport: fc.constant('http' as const), encoding: fc.constant('json' as const), corruption: corruption(fc.oneof({ weight: 4, arbitrary: jsonCorruptionArb }, { weight: 1, arbitrary: httpTransportCorruptionArb })) }) },
    { weight: 2, arbitrary: fc.record({ transport: fc.constant('grpc' as const), encoding: fc.constant('protobuf' as const), corruption: corruption(fc.oneof({ weight: 5, arbitrary: protobufCorruptionArb }, { weight: 1, arbitrary: grpcTransportCorruptionArb })) }) },
  );
  // The request is generated outside oneof: nested in it, arrays come out smaller.
  return fc
    .record({
      request: requestArb(ctx),
      jsonStyle: jsonStyleArb,
      gzip: fc.boolean(),
      contentTypeSpelling: fc.nat(5),
      resend: fc.oneof({ weight: 19, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      deep: fc.oneof({ weight: 30, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 48 }) }),
      route,
    })
    .map(({ route: r, ...rest }) => ({ ...rest, ...r }));
}

/** What the receiver must answer. */
export type Expectation =
  /** 200 (gRPC OK) with exactly `rejected` spans rejected; 400 / INVALID_ARGUMENT when every span was. */
  | { kind: 'accepted'; total: number; rejected: number }
  /** One of these statuses (HTTP), or gRPC codes. */
  | { kind: 'status'; http: number[]; grpc: number[]; why: string }
  /** Anything but a server error. */
  | { kind: 'no-server-error' };

/** The bytes and headers to send, and what must come back. */
export interface Prepared {
  body: Buffer;
  /** HTTP headers (content-type null: none sent). */
  contentType: string | null;
  contentEncoding: string | null;
  /** gRPC: the 5-byte frame's compressed flag, grpc-encoding, and a length prefix delta. */
  grpc: { compressed: boolean; encoding: string | null; lengthDelta: number };
  expect: Expectation;
  /** Spans the receiver holds once it answers as expected (empty unless clean). */
  acknowledged: ReturnType<typeof acceptedSpans>;
}

const PROTOBUF_SPELLINGS = ['application/x-protobuf', 'application/x-protobuf', 'application/protobuf', 'application/x-protobuf; proto=opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest', 'Application/X-Protobuf', 'application/x-protobuf '];
const JSON_SPELLINGS = ['application/json', 'application/json', 'application/json; charset=utf-8', 'application/json;charset=UTF-8', 'Application/JSON', 'application/json '];

const at = (n: number, len: number) => (len === 0 ? 0 : n % len);

function withDeep(r: RequestModel, depth: number): RequestModel {
  if (depth === 0) return r;
  const deep: KeyValueModel = { key: 'deep', value: nested(depth, depth % 2 === 1) };
  let placed = false;
  const resources = r.resources.map((rs) => ({
    ...rs,
    scopes: rs.scopes.map((ss) => ({
      ...ss,
      spans: ss.spans.map((s) => {
        // Not in a span with a defect: a decoder may reject that span unread.
        if (placed || s.defect) return s;
        placed = true;
        return { ...s, attributes: [...s.attributes, deep] };
      }),
    })),
  }));
  // No span to hold it: the resource does.
  if (!placed) resources[0] = { ...resources[0], attributes: [...resources[0].attributes, deep] };
  return { resources };
}

/** Spans (trace/span hex) with a defect: corruption inside them may go unread. */
function defectiveIds(r: RequestModel, nowNs: bigint): Set<string> {
  const out = new Set<string>();
  for (const rs of r.resources) for (const ss of rs.scopes) for (const s of ss.spans) {
    if (!s.defect) continue;
    const w = wireSpan(s, nowNs);
    out.add(`${w.traceId.toString('hex')}/${w.spanId.toString('hex')}`);
  }
  return out;
}

const bombs = new Map<number, Buffer>();
/** A small gzip body that inflates to 4 times the limit (made once: it takes a while). */
function gzipBomb(limit: number): Buffer {
  let b = bombs.get(limit);
  if (!b) bombs.set(limit, (b = zlib.gzipSync(Buffer.alloc(limit * 4), { level: 9 })));
  return b;
}

/** Turns a case into bytes and the answer it must get. */
export function prepare(c: OtlpCase, ctx: OtlpContext): Prepared {
  const request = withDeep(c.request, c.deep);
  const { total, defective } = spanCount(request);
  const clean: Expectation = { kind: 'accepted', total, rejected: defective };
  // AnyValue nesting is limited to 32 levels (MAX_ANY_VALUE_DEPTH), in both encodings alike.
  const deepExpect: Expectation | null = c.deep > 32 ? { kind: 'status', http: [400], grpc: [3], why: 'AnyValue nested deeper than 32' } : null;
  let body: Buffer = c.encoding === 'protobuf' ? toProtobuf(request, ctx.nowNs) : Buffer.from(toJson(request, ctx.nowNs, c.jsonStyle));
  let contentType: string | null = (c.encoding === 'protobuf' ? PROTOBUF_SPELLINGS : JSON_SPELLINGS)[c.contentTypeSpelling % 6];
  let contentEncoding: string | null = null;
  const grpc = { compressed: false, encoding: null as string | null, lengthDelta: 0 };
  let expect: Expectation = deepExpect ?? clean;
  const gzipClean = c.gzip && c.transport === 'http';
  const grpcGzip = c.gzip && c.transport === 'grpc';
  const corruption = c.corruption;
  const anyError: Expectation = { kind: 'no-server-error' };
  const tooLarge: Expectation = { kind: 'status', http: [413], grpc: [8], why: 'body over --max-body' };

  if (corruption) {
    const k = corruption.k;
    switch (corruption.k) {
      case 'truncate':
        body = body.subarray(0, at(corruption.at, body.length));
        expect = anyError;
        break;
      case 'bitflip':
        body = Buffer.from(body);
        for (const f of corruption.flips) if (body.length) body[at(f.at, body.length)] ^= 1 << f.bit;
        expect = anyError;
        break;
      case 'insert': {
        const p = at(corruption.at, body.length + 1);
        body = Buffer.concat([body.subarray(0, p), Buffer.from(corruption.bytes), body.subarray(p)]);
        expect = anyError;
        break;
      }
      case 'delete': {
        const p = at(corruption.at, body.length + 1);
        body = Buffer.concat([body.subarray(0, p), body.subarray(p + corruption.len)]);
        expect = anyError;
        break;
      }
      case 'garbage':
        body = Buffer.from(corruption.bytes);
        expect = anyError;
        break;
      case 'empty':
        body = Buffer.alloc(0);
        // An empty protobuf message is a valid, empty request; empty text is not JSON.
        expect = c.encoding === 'protobuf' ? { kind: 'accepted', total: 0, rejected: 0 } : { kind: 'status', http: [400], grpc: [3], why: 'empty JSON body' };
        break;
      case 'too-large':
        body = Buffer.concat([body, Buffer.alloc(ctx.maxBodyBytes + 1 - Math.min(body.length, ctx.maxBodyBytes), 0x20)]);
        expect = tooLarge;
        break;
      case 'json-bom':
        body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), body]);
        expect = anyError;
        break;
      case 'json-trailing':
        body = Buffer.concat([body, Buffer.from(corruption.text)]);
        expect = { kind: 'status', http: [400], grpc: [3], why: 'text after the JSON document' };
        break;
      case 'json-deep': {
        const open = Buffer.alloc(corruption.depth, '[');
        const close = Buffer.alloc(corruption.depth, ']');
        // In a key no decoder reads: JSON.parse must survive it all the same.
        body = Buffer.concat([Buffer.from('{"fuzzDeep":'), open, close, Buffer.from(','), body.subarray(1)]);
        expect = deepExpect ?? clean;
        break;
      }
      case 'json-bad-utf8': {
        // Inside a string literal: the text is not UTF-8, whatever else.
        const text = body.toString('latin1');
        const quotes = [...text.matchAll(/"/g)].map((m) => m.index!);
        const q = quotes.length ? quotes[at(corruption.at, quotes.length)] + 1 : 0;
        body = Buffer.concat([body.subarray(0, q), Buffer.from(corruption.bytes), body.subarray(q)]);
        expect = { kind: 'status', http: [400], grpc: [3], why: 'body is not UTF-8' };
        break;
      }
      case 'json-wrong-type':
      case 'json-bad-enum':
      case 'json-bad-number':
      case 'json-duplicate-key': {
        const r = mutateJson(body.toString('utf8'), corruption);
        body = Buffer.from(r.text);
        expect = r.expect === 'clean' ? (deepExpect ?? clean) : (r.expect ?? anyError);
        break;
      }
      case 'pb-wire-type':
      case 'pb-huge-length':
      case 'pb-overlong-varint':
      case 'pb-padded-varint':
      case 'pb-unknown-field':
      case 'pb-duplicate':
      case 'pb-drop':
      case 'pb-bad-utf8':
      case 'pb-set-varint': {
        const r = mutateProtobuf(body, corruption, defectiveIds(request, ctx.nowNs));
        body = r.body;
        expect = r.expect === 'clean' ? (deepExpect ?? clean) : r.expect;
        break;
      }
      case 'content-type':
        if (corruption.value === 'swap') {
          contentType = c.encoding === 'protobuf' ? 'application/json' : 'application/x-protobuf';
          expect = anyError;
        } else {
          contentType = corruption.value;
          expect = { kind: 'status', http: [415], grpc: [], why: `content type ${JSON.stringify(corruption.value)}` };
        }
        break;
      case 'content-encoding':
        contentEncoding = corruption.value;
        expect = { kind: 'status', http: [415], grpc: [], why: `content encoding ${corruption.value}` };
        break;
      case 'gzip-garbage':
        body = Buffer.from(corruption.bytes);
        contentEncoding = 'gzip';
        expect = { kind: 'status', http: [400], grpc: [], why: 'gzip encoding of bytes that are not gzip' };
        break;
      case 'gzip-corrupt': {
        const z = Buffer.from(zlib.gzipSync(body));
        if (corruption.truncate) body = z.subarray(0, 10 + at(corruption.at, z.length - 10));
        else {
          // A byte of the deflate stream or its CRC (not the header's mtime or OS byte).
          body = z;
          body[10 + at(corruption.at, z.length - 10)] ^= 0x5a;
        }
        contentEncoding = 'gzip';
        expect = anyError;
        break;
      }
      case 'gzip-twice':
        body = zlib.gzipSync(zlib.gzipSync(body));
        contentEncoding = 'gzip';
        expect = { kind: 'status', http: [400], grpc: [], why: 'gzip inside gzip' };
        break;
      case 'gzip-bomb':
        body = gzipBomb(ctx.maxBodyBytes);
        if (c.transport === 'http') contentEncoding = 'gzip';
        else {
          grpc.compressed = true;
          grpc.encoding = 'gzip';
        }
        expect = tooLarge;
        break;
      case 'grpc-bad-gzip':
        body = Buffer.from(corruption.bytes);
        grpc.compressed = true;
        grpc.encoding = 'gzip';
        // gRPC's status code table: "could not decompress, but compression algorithm supported" is INTERNAL.
        expect = { kind: 'status', http: [], grpc: [13], why: 'frame is not gzip' };
        break;
      case 'grpc-unknown-encoding':
        grpc.compressed = true;
        grpc.encoding = corruption.value;
        expect = { kind: 'status', http: [], grpc: [12], why: 'unsupported grpc-encoding' };
        break;
      case 'grpc-frame-length':
        grpc.lengthDelta = corruption.delta;
        expect = anyError;
        break;
      default: {
        const never: never = corruption;
        throw new Error(`unknown corruption ${k} ${String(never)}`);
      }
    }
  }
  if (gzipClean && contentEncoding === null) {
    body = zlib.gzipSync(body);
    contentEncoding = 'gzip';
  }
  if (grpcGzip && !grpc.compressed) {
    body = zlib.gzipSync(body);
    grpc.compressed = true;
    grpc.encoding = 'gzip';
  }
  // A body over the limit is refused whatever is in it.
  if (body.length > ctx.maxBodyBytes && expect.kind !== 'status') expect = tooLarge;
  const acknowledged = expect.kind === 'accepted' && expect.rejected < expect.total ? acceptedSpans(request, ctx.nowNs) : [];
  return { body, contentType, contentEncoding, grpc, expect, acknowledged };
}

function mutateProtobuf(body: Buffer, c: Corruption, defective: Set<string>): { body: Buffer; expect: Expectation | 'clean' } {
  const tree = parsePb(body, Request, defective);
  const all = flattenPb(tree);
  const any: Expectation = { kind: 'no-server-error' };
  const bad = (why: string): Expectation => ({ kind: 'status', http: [400], grpc: [3], why });
  if (all.length === 0) return { body, expect: 'clean' };
  const pick = (n: number, filter: (x: PbNode) => boolean) => {
    const list = all.filter((x) => filter(x.node));
    return list.length ? list[n % list.length] : null;
  };
  switch (c.k) {
    case 'pb-wire-type': {
      const t = all[c.at % all.length];
      const wt = c.wt === t.node.wt ? (c.wt + 1) % 8 : c.wt;
      t.node.tagBytes = varint(tagOf(t.node.field, wt));
      // 6 and 7 are not wire types: no decoder can go on.
      return { body: serializePb(tree), expect: wt >= 6 ? bad('wire type 6 or 7') : any };
    }
    case 'pb-huge-length': {
      const t = pick(c.at, (n) => n.wt === WT_LEN);
      if (!t) return { body, expect: 'clean' };
      t.node.lengthBytes = varint(c.len);
      return { body: serializePb(tree), expect: bad('a length past the end of its message') };
    }
    case 'pb-overlong-varint': {
      const t = pick(c.at, (n) => n.wt === WT_VARINT);
      if (!t) return { body, expect: 'clean' };
      t.node.raw = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
      return { body: serializePb(tree), expect: bad('a varint of 11 bytes') };
    }
    case 'pb-padded-varint': {
      const t = c.where === 'length' ? pick(c.at, (n) => n.wt === WT_LEN) : c.where === 'value' ? pick(c.at, (n) => n.wt === WT_VARINT) : all[c.at % all.length];
      if (!t) return { body, expect: 'clean' };
      const n = t.node;
      if (c.where === 'tag') n.tagBytes = paddedVarint(tagOf(n.field, n.wt));
      else if (c.where === 'value') n.raw = paddedVarint(readVarint(n.raw, 0).value);
      else n.lengthBytes = paddedVarint(n.children ? serializePb(n.children).length : n.raw.length);
      return { body: serializePb(tree), expect: 'clean' };
    }
    case 'pb-unknown-field': {
      const t = all[c.at % all.length];
      const list = t.node.children ?? t.list;
      let raw: Buffer;
      let expect: Expectation | 'clean' = 'clean';
      const payload = Buffer.from(c.payload);
      switch (c.wt) {
        case WT_VARINT:
          raw = varint(payload.length ? payload.readUIntLE(0, Math.min(6, payload.length)) : 0);
          break;
        case WT_I64:
          raw = Buffer.concat([payload, Buffer.alloc(8)]).subarray(0, 8);
          break;
        case WT_LEN:
          raw = payload;
          break;
        case WT_I32:
          raw = Buffer.concat([payload, Buffer.alloc(4)]).subarray(0, 4);
          break;
        default:
          // Groups (3, 4) are legal but obsolete; 6 and 7 are not wire types.
          raw = Buffer.alloc(0);
          expect = c.wt >= 6 ? bad('wire type 6 or 7') : any;
      }
      if (c.field === 0) expect = any;
      // Unknown fields only where the schema has messages; field 17+ is unknown to every OTLP message here.
      list.push({ field: c.field, wt: c.wt, type: 'unknown', raw, children: null, inDefectiveSpan: false });
      return { body: serializePb(tree), expect };
    }
    case 'pb-duplicate': {
      const t = all[c.at % all.length];
      t.list.splice(t.list.indexOf(t.node) + 1, 0, t.node);
      return { body: serializePb(tree), expect: any };
    }
    case 'pb-drop': {
      const t = all[c.at % all.length];
      t.list.splice(t.list.indexOf(t.node), 1);
      return { body: serializePb(tree), expect: any };
    }
    case 'pb-bad-utf8': {
      const t = pick(c.at, (n) => n.type === 'string');
      if (!t) return { body, expect: 'clean' };
      t.node.raw = Buffer.from(c.bytes);
      return { body: serializePb(tree), expect: t.node.inDefectiveSpan ? any : bad('a string field that is not UTF-8') };
    }
    case 'pb-set-varint': {
      const t = pick(c.at, (n) => n.wt === WT_VARINT);
      if (!t) return { body, expect: 'clean' };
      t.node.raw = varint(c.value);
      return { body: serializePb(tree), expect: any };
    }
  }
  return { body, expect: 'clean' };
}

// ---- JSON mutations -------------------------------------------------------------------

type JsonPath = (string | number)[];

function jsonPaths(v: unknown, path: JsonPath = [], out: { path: JsonPath; value: unknown }[] = []): { path: JsonPath; value: unknown }[] {
  out.push({ path, value: v });
  if (Array.isArray(v)) v.forEach((x, i) => jsonPaths(x, [...path, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) jsonPaths(x, [...path, k], out);
  return out;
}

function setPath(root: unknown, path: JsonPath, value: unknown): void {
  let o = root as Record<string | number, unknown>;
  for (const p of path.slice(0, -1)) o = o[p] as Record<string | number, unknown>;
  o[path[path.length - 1]] = value;
}

const ENUM_KEYS = new Set(['kind', 'code']);
const U32_KEYS = new Set(['droppedAttributesCount', 'dropped_attributes_count', 'droppedEventsCount', 'dropped_events_count', 'droppedLinksCount', 'dropped_links_count', 'flags']);
const TIME_KEYS = new Set(['startTimeUnixNano', 'start_time_unix_nano', 'endTimeUnixNano', 'end_time_unix_nano', 'timeUnixNano', 'time_unix_nano']);

/** Bare integers of 16+ digits, outside strings, put in quotes (JSON.parse would round them). */
function quoteLongIntegers(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if ((c >= '0' && c <= '9') || c === '-') {
      let j = i + 1;
      while (j < text.length && /[0-9.eE+-]/.test(text[j])) j++;
      const tok = text.slice(i, j);
      out += /^-?\d{16,}$/.test(tok) ? `"${tok}"` : tok;
      i = j;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

function mutateJson(text: string, c: Corruption): { text: string; expect: Expectation | 'clean' | null } {
  const bad = (why: string): Expectation => ({ kind: 'status', http: [400], grpc: [3], why });
  // Bare 19-digit times would lose precision through JSON.parse: keep them as strings here.
  const doc = JSON.parse(quoteLongIntegers(text)) as unknown;
  const paths = jsonPaths(doc).filter((p) => p.path.length > 0);
  if (paths.length === 0) return { text, expect: null };
  switch (c.k) {
    case 'json-wrong-type': {
      const p = paths[c.at % paths.length];
      setPath(doc, p.path, c.value);
      return { text: JSON.stringify(doc), expect: null };
    }
    case 'json-bad-enum': {
      const enums = paths.filter((p) => ENUM_KEYS.has(String(p.path[p.path.length - 1])) && (p.path.includes('spans')));
      if (!enums.length) return { text, expect: null };
      const p = enums[c.at % enums.length];
      const valid = ['SPAN_KIND_UNSPECIFIED', 'SPAN_KIND_INTERNAL', 'SPAN_KIND_SERVER', 'SPAN_KIND_CLIENT', 'SPAN_KIND_PRODUCER', 'SPAN_KIND_CONSUMER', 'STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'];
      setPath(doc, p.path, c.value);
      // An enum name that is not one of the enum's names is a malformed request (whatever the span).
      return { text: JSON.stringify(doc), expect: valid.includes(c.value) ? null : bad(`enum ${JSON.stringify(c.value)}`) };
    }
    case 'json-bad-number': {
      const nums = paths.filter((p) => {
        const key = String(p.path[p.path.length - 1]);
        return U32_KEYS.has(key) || TIME_KEYS.has(key) || key === 'intValue';
      });
      if (!nums.length) return { text, expect: null };
      const p = nums[c.at % nums.length];
      const marker = '\u0002num';
      setPath(doc, p.path, marker);
      const out = JSON.stringify(doc).replace(`"${marker}"`, c.value);
      return { text: out, expect: null };
    }
    case 'json-duplicate-key': {
      const objs = paths.filter((p) => p.value && typeof p.value === 'object' && !Array.isArray(p.value) && Object.keys(p.value).length > 0);
      if (!objs.length) return { text, expect: null };
      const p = objs[c.at % objs.length];
      const marker = '\u0002dup';
      const o = p.value as Record<string, unknown>;
      const [k0, v0] = Object.entries(o)[0];
      setPath(doc, p.path, { ...o, [marker]: 1 });
      // The last of two equal keys wins in JSON.parse: the duplicate comes first, with the real value last.
      const out = JSON.stringify(doc).replace(`"${marker}":1`, `${JSON.stringify(k0)}:${JSON.stringify(v0)}`);
      // The same key twice with the same value: the same request.
      return { text: out, expect: 'clean' };
    }
  }
  return { text, expect: null };
}
