/**
 * The JSON the UI reads from Sightline's Tempo API, as Tempo's jsonpb
 * encoding writes it: ids in base64, 64-bit integers as decimal strings,
 * enums by name, zero values left out. Every field is optional here because
 * jsonpb omits zero values; the model layer fills in the defaults.
 */

export type AnyValueJson = {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number | string;
  arrayValue?: { values?: AnyValueJson[] };
  kvlistValue?: { values?: KeyValueJson[] };
  bytesValue?: string;
};

export interface KeyValueJson {
  key: string;
  value?: AnyValueJson;
}

export interface SpanJson {
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
  traceState?: string;
  flags?: number;
  name?: string;
  kind?: string | number;
  startTimeUnixNano?: string | number;
  endTimeUnixNano?: string | number;
  attributes?: KeyValueJson[];
  droppedAttributesCount?: number;
  events?: { timeUnixNano?: string | number; name?: string; attributes?: KeyValueJson[]; droppedAttributesCount?: number }[];
  droppedEventsCount?: number;
  links?: { traceId?: string; spanId?: string; traceState?: string; attributes?: KeyValueJson[]; droppedAttributesCount?: number; flags?: number }[];
  droppedLinksCount?: number;
  status?: { code?: string | number; message?: string };
}

export interface ResourceSpansJson {
  resource?: { attributes?: KeyValueJson[]; droppedAttributesCount?: number };
  schemaUrl?: string;
  scopeSpans?: {
    scope?: { name?: string; version?: string; attributes?: KeyValueJson[]; droppedAttributesCount?: number };
    schemaUrl?: string;
    spans?: SpanJson[];
  }[];
}

/** GET /api/v2/traces/{id} as JSON. */
export interface TraceByIdJson {
  trace?: { resourceSpans?: ResourceSpansJson[] };
  metrics?: Record<string, unknown>;
}

/** An attribute ready to show: its key, its value as text, and the OTLP type it had. */
export interface Attribute {
  key: string;
  type: 'string' | 'bool' | 'int' | 'double' | 'array' | 'kvlist' | 'bytes' | 'empty';
  text: string;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_INDEX = new Int16Array(128).fill(-1);
for (let i = 0; i < B64.length; i++) B64_INDEX[B64.charCodeAt(i)] = i;
B64_INDEX['-'.charCodeAt(0)] = 62; // the URL-safe alphabet, in case a proxy re-encodes
B64_INDEX['_'.charCodeAt(0)] = 63;

/**
 * Base64 (jsonpb's encoding of bytes) to lowercase hex, without atob or
 * Buffer so it runs the same in the browser and under node --test.
 * Returns '' for '' and for anything that is not base64.
 */
export function base64ToHex(b64: string | undefined): string {
  if (!b64) return '';
  let out = '';
  let bits = 0;
  let acc = 0;
  for (let i = 0; i < b64.length; i++) {
    const c = b64.charCodeAt(i);
    if (c === 61 /* = */) break;
    const v = c < 128 ? B64_INDEX[c] : -1;
    if (v < 0) return '';
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      const byte = (acc >> bits) & 0xff;
      out += (byte < 16 ? '0' : '') + byte.toString(16);
    }
  }
  return out;
}

/** A 64-bit integer from jsonpb (decimal string or number) as bigint; 0n when absent or malformed. */
export function int64(v: string | number | undefined): bigint {
  if (v === undefined) return 0n;
  if (typeof v === 'number') return Number.isSafeInteger(v) ? BigInt(v) : 0n;
  return /^-?\d{1,20}$/.test(v) ? BigInt(v) : 0n;
}

/** The text of an AnyValue, as a person reads it: strings bare, containers as JSON. */
export function anyValueText(v: AnyValueJson | undefined): { type: Attribute['type']; text: string } {
  if (!v) return { type: 'empty', text: '' };
  if (v.stringValue !== undefined) return { type: 'string', text: v.stringValue };
  if (v.boolValue !== undefined) return { type: 'bool', text: String(v.boolValue) };
  if (v.intValue !== undefined) return { type: 'int', text: String(v.intValue) };
  if (v.doubleValue !== undefined) return { type: 'double', text: String(v.doubleValue) };
  if (v.arrayValue !== undefined) return { type: 'array', text: JSON.stringify(plain(v)) };
  if (v.kvlistValue !== undefined) return { type: 'kvlist', text: JSON.stringify(plain(v)) };
  if (v.bytesValue !== undefined) return { type: 'bytes', text: v.bytesValue };
  return { type: 'empty', text: '' };
}

/** An AnyValue as the plain JSON value it stands for (arrays and objects nested). */
function plain(v: AnyValueJson | undefined): unknown {
  if (!v) return null;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) {
    const n = Number(v.intValue);
    return Number.isSafeInteger(n) ? n : String(v.intValue);
  }
  if (v.doubleValue !== undefined) return typeof v.doubleValue === 'number' ? v.doubleValue : String(v.doubleValue);
  if (v.arrayValue !== undefined) return (v.arrayValue.values ?? []).map(plain);
  if (v.kvlistValue !== undefined) {
    const o: Record<string, unknown> = {};
    for (const kv of v.kvlistValue.values ?? []) o[kv.key] = plain(kv.value);
    return o;
  }
  if (v.bytesValue !== undefined) return v.bytesValue;
  return null;
}

/** Attributes to show, sorted by key: OTLP attributes are a map, and the API groups them by type. */
export function attributes(list: KeyValueJson[] | undefined): Attribute[] {
  if (!list || list.length === 0) return [];
  return list.map((kv) => ({ key: kv.key, ...anyValueText(kv.value) })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** Span kind from jsonpb (name or number) as a short lowercase word. */
export function spanKind(k: string | number | undefined): 'unspecified' | 'internal' | 'server' | 'client' | 'producer' | 'consumer' {
  const names = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'] as const;
  if (typeof k === 'number') return names[k] ?? 'unspecified';
  if (!k) return 'unspecified';
  const short = k.replace(/^SPAN_KIND_/, '').toLowerCase();
  return (names as readonly string[]).includes(short) ? (short as (typeof names)[number]) : 'unspecified';
}

/** Status code from jsonpb (name or number). */
export function statusCode(c: string | number | undefined): 'unset' | 'ok' | 'error' {
  if (c === 1 || c === 'STATUS_CODE_OK') return 'ok';
  if (c === 2 || c === 'STATUS_CODE_ERROR') return 'error';
  return 'unset';
}
