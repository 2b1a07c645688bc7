/**
 * One comparable form for a trace, whether it came from protobuf (decoded by
 * protobufjs), from OTLP/JSON, or from Tempo's JSON: a list of spans sorted
 * by span id, each carrying its resource and scope, ids in hex, 64-bit values
 * as decimal strings, enums as numbers, attributes sorted by key, and every
 * default filled in. Two traces are equal when their canonical forms are.
 */

type Obj = Record<string, any>;

export interface CanonicalSpan {
  resource: { attributes: Obj[]; droppedAttributesCount: number; schemaUrl: string };
  scope: { name: string; version: string; attributes: Obj[]; droppedAttributesCount: number; schemaUrl: string };
  traceId: string;
  spanId: string;
  parentSpanId: string;
  traceState: string;
  flags: number;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Obj[];
  droppedAttributesCount: number;
  events: Obj[];
  droppedEventsCount: number;
  links: Obj[];
  droppedLinksCount: number;
  status: { code: number; message: string };
}

export type IdEncoding = 'bytes' | 'hex' | 'base64';

const SPAN_KINDS = ['SPAN_KIND_UNSPECIFIED', 'SPAN_KIND_INTERNAL', 'SPAN_KIND_SERVER', 'SPAN_KIND_CLIENT', 'SPAN_KIND_PRODUCER', 'SPAN_KIND_CONSUMER'];
const STATUS_CODES = ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'];

function id(v: unknown, enc: IdEncoding, width: number): string {
  if (v === undefined || v === null || v === '') return '';
  let hex: string;
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) hex = Buffer.from(v).toString('hex');
  else if (enc === 'base64') hex = Buffer.from(String(v), 'base64').toString('hex');
  else hex = String(v).toLowerCase();
  // A zero parent id is "no parent".
  if (width === 8 && /^0*$/.test(hex)) return '';
  return hex;
}

function enumValue(v: unknown, names: string[]): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') return v;
  const i = names.indexOf(String(v));
  if (i < 0) throw new Error(`unknown enum ${String(v)}`);
  return i;
}

function u64(v: unknown): string {
  if (v === undefined || v === null) return '0';
  return BigInt(String(v)).toString();
}

export function canonicalAnyValue(v: Obj | undefined): Obj {
  if (!v) return {};
  if (v.stringValue !== undefined) return { stringValue: v.stringValue };
  if (v.boolValue !== undefined) return { boolValue: v.boolValue };
  if (v.intValue !== undefined) return { intValue: BigInt(String(v.intValue)).toString() };
  if (v.doubleValue !== undefined) {
    const d = typeof v.doubleValue === 'number' ? v.doubleValue : Number(v.doubleValue);
    return { doubleValue: Number.isNaN(d) ? 'NaN' : d === Infinity ? 'Infinity' : d === -Infinity ? '-Infinity' : d };
  }
  if (v.bytesValue !== undefined) return { bytesValue: Buffer.isBuffer(v.bytesValue) || v.bytesValue instanceof Uint8Array ? Buffer.from(v.bytesValue).toString('base64') : v.bytesValue };
  if (v.arrayValue !== undefined) return { arrayValue: (v.arrayValue.values ?? []).map(canonicalAnyValue) };
  if (v.kvlistValue !== undefined) return { kvlistValue: canonicalAttributes(v.kvlistValue.values ?? []) };
  return {};
}

export function canonicalAttributes(list: Obj[] | undefined): Obj[] {
  return (list ?? [])
    .map((kv) => ({ key: kv.key ?? '', value: canonicalAnyValue(kv.value) }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : JSON.stringify(a.value) < JSON.stringify(b.value) ? -1 : 1));
}

/** Canonical spans of a list of ResourceSpans in protobufjs/OTLP-JSON/Tempo-JSON object shape. */
export function canonicalSpans(resourceSpans: Obj[], ids: IdEncoding): CanonicalSpan[] {
  const out: CanonicalSpan[] = [];
  for (const rs of resourceSpans ?? []) {
    const resource = {
      attributes: canonicalAttributes(rs.resource?.attributes),
      droppedAttributesCount: rs.resource?.droppedAttributesCount ?? 0,
      schemaUrl: rs.schemaUrl ?? '',
    };
    for (const ss of rs.scopeSpans ?? []) {
      const scope = {
        name: ss.scope?.name ?? '',
        version: ss.scope?.version ?? '',
        attributes: canonicalAttributes(ss.scope?.attributes),
        droppedAttributesCount: ss.scope?.droppedAttributesCount ?? 0,
        schemaUrl: ss.schemaUrl ?? '',
      };
      for (const s of ss.spans ?? []) {
        out.push({
          resource,
          scope,
          traceId: id(s.traceId, ids, 16),
          spanId: id(s.spanId, ids, 16),
          parentSpanId: id(s.parentSpanId, ids, 8),
          traceState: s.traceState ?? '',
          flags: s.flags ?? 0,
          name: s.name ?? '',
          kind: enumValue(s.kind, SPAN_KINDS),
          startTimeUnixNano: u64(s.startTimeUnixNano),
          endTimeUnixNano: u64(s.endTimeUnixNano),
          attributes: canonicalAttributes(s.attributes),
          droppedAttributesCount: s.droppedAttributesCount ?? 0,
          events: (s.events ?? []).map((e: Obj) => ({
            timeUnixNano: u64(e.timeUnixNano),
            name: e.name ?? '',
            attributes: canonicalAttributes(e.attributes),
            droppedAttributesCount: e.droppedAttributesCount ?? 0,
          })),
          droppedEventsCount: s.droppedEventsCount ?? 0,
          links: (s.links ?? []).map((l: Obj) => ({
            traceId: id(l.traceId, ids, 16) || '0'.repeat(32),
            spanId: id(l.spanId, ids, 16) || '0'.repeat(16),
            traceState: l.traceState ?? '',
            attributes: canonicalAttributes(l.attributes),
            droppedAttributesCount: l.droppedAttributesCount ?? 0,
            flags: l.flags ?? 0,
          })),
          droppedLinksCount: s.droppedLinksCount ?? 0,
          status: { code: enumValue(s.status?.code, STATUS_CODES), message: s.status?.message ?? '' },
        });
      }
    }
  }
  return out.sort((a, b) => (a.spanId < b.spanId ? -1 : 1));
}
