/**
 * AnyValue values that have no typed column (arrays, kvlists, bytes and the
 * empty value) are stored as canonical OTLP/JSON text, so they come back out
 * exactly as they went in whichever encoding they arrived in.
 *
 * Canonical form, as proto3 JSON prints it:
 *   {"stringValue":"s"} {"boolValue":true} {"intValue":"-5"} {"doubleValue":1.5}
 *   {"doubleValue":"NaN"} {"arrayValue":{"values":[...]}}
 *   {"kvlistValue":{"values":[{"key":"k","value":{...}}]}} {"bytesValue":"base64"} {}
 */

/** Deepest AnyValue nesting accepted; deeper input is refused, not truncated. */
export const MAX_ANY_VALUE_DEPTH = 32;

export type AnyValueJson =
  | { stringValue: string }
  | { boolValue: boolean }
  | { intValue: string }
  | { doubleValue: number | 'NaN' | 'Infinity' | '-Infinity' }
  | { arrayValue: { values: AnyValueJson[] } }
  | { kvlistValue: { values: KeyValueJson[] } }
  | { bytesValue: string }
  | Record<string, never>;

export interface KeyValueJson {
  key: string;
  value: AnyValueJson;
}

export function doubleToJson(v: number): string {
  if (Number.isFinite(v)) return JSON.stringify(v);
  if (Number.isNaN(v)) return '"NaN"';
  return v > 0 ? '"Infinity"' : '"-Infinity"';
}

export function doubleFromJson(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return undefined;
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  if (v.trim() === '') return undefined;
  const n = Number(v);
  return Number.isNaN(n) ? undefined : n;
}

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

/** Parses a JSON int64 given as a string or a number; undefined if it is not one. */
export function int64FromJson(v: unknown): bigint | undefined {
  let n: bigint;
  if (typeof v === 'string') {
    if (!/^-?\d{1,20}$/.test(v)) return undefined;
    n = BigInt(v);
  } else if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) return undefined;
    n = BigInt(v);
  } else return undefined;
  return n < INT64_MIN || n > INT64_MAX ? undefined : n;
}

/** Parses a JSON uint64 given as a string or a number. */
export function uint64FromJson(v: unknown): bigint | undefined {
  let n: bigint;
  if (typeof v === 'string') {
    if (!/^\d{1,20}$/.test(v)) return undefined;
    n = BigInt(v);
  } else if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) return undefined;
    n = BigInt(v);
  } else return undefined;
  return n > 0xffffffffffffffffn ? undefined : n;
}

export class AnyValueError extends Error {}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Turns an OTLP/JSON AnyValue, as a client sent it, into canonical JSON text.
 * Accepts the lowerCamelCase and the proto field names, ints as strings or
 * numbers, and doubles as numbers or the proto3 special strings.
 */
export function canonicalAnyValue(v: unknown, depth = 0): string {
  if (depth > MAX_ANY_VALUE_DEPTH) throw new AnyValueError(`AnyValue nesting is deeper than ${MAX_ANY_VALUE_DEPTH}`);
  if (v === undefined || v === null) return '{}';
  if (!isObject(v)) throw new AnyValueError('AnyValue must be an object');
  for (const k in v) {
    const x = v[k];
    switch (k) {
      case 'stringValue':
      case 'string_value':
        if (typeof x !== 'string') throw new AnyValueError('stringValue must be a string');
        return `{"stringValue":${JSON.stringify(x)}}`;
      case 'boolValue':
      case 'bool_value':
        if (typeof x !== 'boolean') throw new AnyValueError('boolValue must be a boolean');
        return `{"boolValue":${x}}`;
      case 'intValue':
      case 'int_value': {
        const n = int64FromJson(x);
        if (n === undefined) throw new AnyValueError('intValue must be a 64-bit integer');
        return `{"intValue":"${n}"}`;
      }
      case 'doubleValue':
      case 'double_value': {
        const n = doubleFromJson(x);
        if (n === undefined) throw new AnyValueError('doubleValue must be a number');
        return `{"doubleValue":${doubleToJson(n)}}`;
      }
      case 'bytesValue':
      case 'bytes_value':
        if (typeof x !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(x))
          throw new AnyValueError('bytesValue must be base64');
        return `{"bytesValue":${JSON.stringify(Buffer.from(x, 'base64').toString('base64'))}}`;
      case 'arrayValue':
      case 'array_value': {
        const values = x === undefined || x === null ? [] : isObject(x) ? (x.values ?? []) : null;
        if (!Array.isArray(values)) throw new AnyValueError('arrayValue.values must be an array');
        return `{"arrayValue":{"values":[${values.map((e) => canonicalAnyValue(e, depth + 1)).join(',')}]}}`;
      }
      case 'kvlistValue':
      case 'kvlist_value': {
        const values = x === undefined || x === null ? [] : isObject(x) ? (x.values ?? []) : null;
        if (!Array.isArray(values)) throw new AnyValueError('kvlistValue.values must be an array');
        return `{"kvlistValue":{"values":[${values.map((e) => canonicalKeyValue(e, depth + 1)).join(',')}]}}`;
      }
      default:
        // Unknown fields are ignored, as OTLP/JSON receivers must.
        break;
    }
  }
  return '{}';
}

export function canonicalKeyValue(kv: unknown, depth: number): string {
  if (!isObject(kv)) throw new AnyValueError('attribute must be an object');
  const key = kv.key ?? '';
  if (typeof key !== 'string') throw new AnyValueError('attribute key must be a string');
  return `{"key":${JSON.stringify(key)},"value":${canonicalAnyValue(kv.value, depth)}}`;
}

/** Canonical JSON for a KeyValue list, or '' for an empty one (saves a column byte). */
export function canonicalKeyValueList(list: unknown, depth = 0): string {
  if (list === undefined || list === null) return '';
  if (!Array.isArray(list)) throw new AnyValueError('attributes must be an array');
  if (list.length === 0) return '';
  return `[${list.map((kv) => canonicalKeyValue(kv, depth)).join(',')}]`;
}
