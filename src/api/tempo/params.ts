import { InvalidQueryError } from '../../errors.js';
import type { TimeRange } from '../../store/index.js';
import type { SearchTag } from '../../query/tag-search.js';

/**
 * Parameter parsing for the Tempo API, with Tempo's rules and error texts so
 * that clients written against Tempo see the same answers.
 */

export type Query = Record<string, string | string[] | undefined>;

/** The last value of a parameter; empty counts as absent, as in Tempo. */
export function param(q: Query, name: string): string | undefined {
  const v = q[name];
  const s = Array.isArray(v) ? v[v.length - 1] : v;
  return s === undefined || s === '' ? undefined : s;
}

/**
 * A trace id in hex: case-insensitive, an odd length gets a leading 0, and
 * shorter ids are left-padded with zero bytes to 16.
 */
export function parseTraceId(raw: string): Buffer {
  let hex = raw.trim();
  for (let i = 0; i < hex.length; i++) {
    if (!/[0-9a-fA-F]/.test(hex[i]))
      throw new InvalidQueryError(`trace IDs can only contain hex characters: invalid character '${hex[i]}' at position ${i + 1}`);
  }
  if (hex.length === 0) throw new InvalidQueryError('please provide a traceID');
  if (hex.length % 2 === 1) hex = '0' + hex;
  if (hex.length > 32) throw new InvalidQueryError("trace IDs can't be larger than 128 bits");
  return Buffer.from(hex.padStart(32, '0'), 'hex');
}

/** Tempo's search and trace ids: hex without leading zeros. */
export function traceIdToTempoHex(id: Buffer): string {
  const hex = id.toString('hex').replace(/^0+/, '');
  return hex === '' ? '0' : hex;
}

const NS_PER_S = 1_000_000_000n;

/**
 * `start` and `end` in Unix seconds. Without them, `defaultWindowSeconds`
 * back from now. Tempo's check: when both are set, end must be after start.
 */
export function parseRange(q: Query, defaultWindowSeconds: number, nowMs = Date.now()): { range: TimeRange; explicit: boolean } {
  const start = parseSeconds(q, 'start');
  const end = parseSeconds(q, 'end');
  if (start !== undefined && end !== undefined && start !== 0n && end !== 0n && end <= start)
    throw new InvalidQueryError(`http parameter start must be before end. received start=${start} end=${end}`);
  const nowS = BigInt(Math.ceil(nowMs / 1000));
  const endS = end !== undefined && end !== 0n ? end : nowS + 1n;
  const startS = start !== undefined && start !== 0n ? start : endS - BigInt(defaultWindowSeconds);
  return { range: { startNs: startS * NS_PER_S, endNs: endS * NS_PER_S }, explicit: start !== undefined || end !== undefined };
}

function parseSeconds(q: Query, name: string): bigint | undefined {
  const v = param(q, name);
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v)) throw new InvalidQueryError(`invalid ${name}: strconv.ParseInt: parsing ${JSON.stringify(v)}: invalid syntax`);
  const n = BigInt(v);
  if (n < 0n) throw new InvalidQueryError(`invalid ${name}: must not be negative`);
  // Unix seconds: anything past year 2286 is a unit mistake (ms or ns).
  if (n > 9_999_999_999n) throw new InvalidQueryError(`invalid ${name}: ${v} is out of range for Unix seconds`);
  return n;
}

const DURATION_UNITS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  'µs': 1e3,
  'μs': 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** Go's time.ParseDuration, to nanoseconds. */
export function parseGoDuration(s: string): bigint | undefined {
  let rest = s;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest[0] === '-') sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0n;
  if (rest === '') return undefined;
  let total = 0;
  const re = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;
  while (rest !== '') {
    const m = re.exec(rest);
    if (!m) return undefined;
    total += Number(m[1]) * DURATION_UNITS[m[2]];
    rest = rest.slice(m[0].length);
  }
  return BigInt(Math.round(total)) * BigInt(sign);
}

export function parseDurationParam(q: Query, name: string): bigint | undefined {
  const v = param(q, name);
  if (v === undefined) return undefined;
  const ns = parseGoDuration(v);
  if (ns === undefined) throw new InvalidQueryError(`invalid ${name}: time: invalid duration ${JSON.stringify(v)}`);
  if (ns < 0n) throw new InvalidQueryError(`invalid ${name}: must not be negative`);
  return ns;
}

export function parsePositiveInt(q: Query, name: string, fallback: number, max: number): number {
  const v = param(q, name);
  if (v === undefined) return fallback;
  if (!/^-?\d+$/.test(v)) throw new InvalidQueryError(`invalid ${name}: strconv.Atoi: parsing ${JSON.stringify(v)}: invalid syntax`);
  const n = Number(v);
  if (n <= 0) throw new InvalidQueryError(`invalid ${name}: must be a positive number`);
  return Math.min(n, max);
}

/** logfmt `k=v k2="v 2"`, as Tempo's `tags` parameter takes it. */
export function parseLogfmtTags(s: string): SearchTag[] {
  const tags: SearchTag[] = [];
  const seen = new Set<string>();
  let i = 0;
  const n = s.length;
  const fail = (msg: string): never => {
    throw new InvalidQueryError(`invalid tags: ${msg} at pos ${i + 1}`);
  };
  while (i < n) {
    while (i < n && s[i] === ' ') i++;
    if (i >= n) break;
    const keyStart = i;
    while (i < n && s[i] !== '=' && s[i] !== ' ' && s[i] !== '"') i++;
    const key = s.slice(keyStart, i);
    if (key === '') fail('unexpected character');
    let value = '';
    if (s[i] === '=') {
      i++;
      if (s[i] === '"') {
        i++;
        let out = '';
        let closed = false;
        while (i < n) {
          const c = s[i];
          if (c === '\\' && i + 1 < n) {
            const next = s[i + 1];
            out += next === 'n' ? '\n' : next === 't' ? '\t' : next;
            i += 2;
          } else if (c === '"') {
            closed = true;
            i++;
            break;
          } else {
            out += c;
            i++;
          }
        }
        if (!closed) fail('unterminated quoted value');
        value = out;
      } else {
        const vStart = i;
        while (i < n && s[i] !== ' ') {
          if (s[i] === '"' || s[i] === '=') fail('unexpected character in value');
          i++;
        }
        value = s.slice(vStart, i);
      }
    } else if (i < n && s[i] !== ' ') fail('unexpected character');
    if (seen.has(key)) throw new InvalidQueryError(`invalid tags: tag ${key} has been set twice`);
    seen.add(key);
    tags.push({ key, value });
  }
  return tags;
}
