import { InvalidQueryError } from '../../errors.js';
import { parseGoDuration, type Query } from '../tempo/params.js';

/**
 * Parameter parsing for Jaeger's query API (jaeger-query's query_parser.go
 * and api_v3's HTTP gateway), with their rules and error texts, so that
 * clients written against Jaeger see the same answers.
 */

export type { Query };

/** The last value of a parameter; empty counts as absent, as Go's FormValue. */
export function param(q: Query, name: string): string | undefined {
  const v = q[name];
  const s = Array.isArray(v) ? v[v.length - 1] : v;
  return s === undefined || s === '' ? undefined : s;
}

/** Every value of a repeated parameter, empty ones included (Go's r.Form[name]). */
export function values(q: Query, name: string): string[] {
  const v = q[name];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** The canonical parameter, else its deprecated spelling (api_v3 takes both). */
export function paramOr(q: Query, canonical: string, deprecated: string): { value?: string; name: string } {
  const c = param(q, canonical);
  if (c !== undefined) return { value: c, name: canonical };
  return { value: param(q, deprecated), name: deprecated };
}

const INT64 = /^[+-]?\d{1,19}$/;

function parseInt64(text: string): bigint | undefined {
  if (!INT64.test(text)) return undefined;
  const n = BigInt(text);
  return n >= -(1n << 63n) && n < 1n << 63n ? n : undefined;
}

const parseError = (name: string, detail: string) => new InvalidQueryError(`unable to parse param '${name}': ${detail}`);
const syntax = (text: string) => `strconv.ParseInt: parsing ${JSON.stringify(text)}: invalid syntax`;

/** A time parameter in `unitNs` units since the Unix epoch (µs for search, ms for dependencies), in ns. */
export function parseEpoch(q: Query, name: string, unitNs: bigint): bigint | undefined {
  const v = param(q, name);
  if (v === undefined) return undefined;
  const n = parseInt64(v);
  if (n === undefined) throw parseError(name, syntax(v));
  const ns = n * unitNs;
  return ns < 0n ? 0n : ns;
}

/** A Go duration parameter (`1.5ms`, `2h45m`), in ns. */
export function parseDuration(q: Query, name: string): bigint | undefined {
  const v = param(q, name);
  if (v === undefined) return undefined;
  const ns = parseGoDuration(v);
  if (ns === undefined) throw parseError(name, `time: invalid duration ${JSON.stringify(v)}`);
  return ns;
}

/** A count of milliseconds (dependencies' `lookback`), in ns. */
export function parseMillis(q: Query, name: string): bigint | undefined {
  return parseEpoch(q, name, 1_000_000n);
}

/**
 * Jaeger UI's `lookback` (`1h`, `2d`, `custom`): how far back from `end`
 * the search starts when `start` is not given. jaeger-query itself ignores
 * it (the UI always sends `start`); days and weeks are the UI's own units.
 */
export function parseLookback(q: Query): bigint | undefined {
  const v = param(q, 'lookback');
  if (v === undefined || v === 'custom') return undefined;
  const days = /^(\d{1,5})([dw])$/.exec(v);
  if (days) return BigInt(days[1]) * (days[2] === 'w' ? 7n : 1n) * 86_400_000_000_000n;
  const ns = parseGoDuration(v);
  if (ns === undefined || ns < 0n) throw parseError('lookback', `time: invalid duration ${JSON.stringify(v)}`);
  return ns;
}

/** Jaeger's `limit`: a 32-bit int; 0 or less means Jaeger's default. */
export function parseLimit(text: string | undefined, name: string, fallback: number, max: number, error: (detail: string) => Error): number {
  if (text === undefined) return fallback;
  const n = parseInt64(text);
  if (n === undefined || n > 2_147_483_647n || n < -2_147_483_648n) throw error(`strconv.ParseInt: parsing ${JSON.stringify(text)}: ${n === undefined ? 'invalid syntax' : 'value out of range'}`);
  return n <= 0n ? fallback : Math.min(Number(n), max);
}

/**
 * Tags from `tag=key:value` (repeated) and `tags={"key":"value"}` (a JSON
 * object of strings, repeated), in that order; a later value of a key
 * replaces an earlier one, as Jaeger's map does.
 */
export function parseTags(simple: readonly string[], json: readonly string[]): [string, string][] {
  const tags = new Map<string, string>();
  for (const tag of simple) {
    const colon = tag.indexOf(':');
    if (colon < 0) throw new InvalidQueryError(`malformed 'tag' parameter, expecting key:value, received: ${tag}`);
    tags.set(tag.slice(0, colon), tag.slice(colon + 1));
  }
  for (const text of json) for (const [k, v] of Object.entries(parseStringMap(text, (detail) => new InvalidQueryError(`malformed 'tags' parameter, cannot unmarshal JSON: ${detail}`)))) tags.set(k, v);
  return [...tags];
}

/** A JSON object whose values are all strings (Go's map[string]string). */
export function parseStringMap(text: string, error: (detail: string) => Error): Record<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw error((e as Error).message);
  }
  if (parsed === null) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw error(`cannot unmarshal ${Array.isArray(parsed) ? 'array' : typeof parsed} into Go value of type map[string]string`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (typeof v !== 'string') throw error(`cannot unmarshal ${v === null ? 'null' : typeof v} into Go value of type string (key ${JSON.stringify(k)})`);
    out[k] = v;
  }
  return out;
}

/**
 * A trace id as Jaeger's TraceIDFromString takes it: up to 32 hex digits,
 * shorter ids left-padded with zeros; 16 bytes out.
 */
export function parseJaegerTraceId(raw: string): Buffer {
  if (raw.length > 32) throw new InvalidQueryError(`TraceID cannot be longer than 32 hex characters: ${raw}`);
  if (raw.length === 0 || !/^[0-9a-fA-F]+$/.test(raw)) throw new InvalidQueryError(`strconv.ParseUint: parsing ${JSON.stringify(raw)}: invalid syntax`);
  return Buffer.from(raw.padStart(32, '0'), 'hex');
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:(Z)|([+-])(\d{2}):(\d{2}))$/;

/** Go's time.Parse(time.RFC3339Nano, ...): a timestamp with a zone, to Unix ns. */
export function parseRfc3339(text: string): bigint | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  if (month < 1 || month > 12 || day < 1 || day > new Date(Date.UTC(year, month, 0)).getUTCDate() || hour > 23 || minute > 59 || second > 59) return undefined;
  let ms = Date.UTC(year, month - 1, day, hour, minute, second);
  // Date.UTC reads years 0-99 as 1900-1999.
  if (year < 100) ms = new Date(ms).setUTCFullYear(year);
  if (m[9] !== undefined) {
    const offsetMin = Number(m[10]) * 60 + Number(m[11]);
    if (Number(m[10]) > 23 || Number(m[11]) > 59) return undefined;
    ms -= (m[9] === '+' ? 1 : -1) * offsetMin * 60_000;
  }
  const fraction = BigInt((m[7] ?? '').padEnd(9, '0'));
  return BigInt(ms) * 1_000_000n + fraction;
}

/** An api_v3 RFC 3339 parameter (canonical name, else its deprecated one), in ns. */
export function parseV3Time(q: Query, canonical: string, deprecated: string): bigint | undefined {
  const { value, name } = paramOr(q, canonical, deprecated);
  if (value === undefined) return undefined;
  const ns = parseRfc3339(value);
  if (ns === undefined) throw new InvalidQueryError(`malformed parameter ${name}: parsing time ${JSON.stringify(value)} as "2006-01-02T15:04:05.999999999Z07:00": not an RFC 3339 time`);
  return ns < 0n ? 0n : ns;
}
