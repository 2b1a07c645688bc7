import fc from 'fast-check';
import { RE2JS } from 're2js';
import { otlp, encode } from './otlp-schema.js';

/**
 * TraceQL strings for fuzzing the query API, and the small dataset they run
 * against.
 *
 * Three kinds of query:
 * - `oracle`: spanset filters and structural operators over fields every
 *   seed span has; their answer is computed here from the dataset
 *   (matching traces for /api/search, matching spans for count_over_time),
 *   so the server's answer is checked, not only its status.
 * - `valid`: the whole grammar (every intrinsic, scope, operator, pipeline
 *   stage, aggregate and metrics function, by(), select(), strings with
 *   escapes, regular expressions, durations, nesting), typed so that each
 *   query is valid TraceQL: answered (200) or, where documented, refused as
 *   unsupported (501); never a 400 or a 5xx.
 * - `mutated`: a valid query with tokens and characters inserted, deleted,
 *   swapped and repeated, or plain junk: anything but a 5xx.
 */

// ---- the dataset ---------------------------------------------------------------

export const SERVICES = ['gateway', 'cart', 'db', 'auth'] as const;
export const SPAN_NAMES = ['GET /cart', 'POST /checkout', 'SELECT cart_items', 'INSERT order', 'render', 'auth.check'] as const;
export const METHODS = ['GET', 'POST', 'PUT', 'DELETE'] as const;
export const STATUS_CODES_HTTP = [200, 201, 404, 500, 503] as const;
const STATUSES = ['unset', 'ok', 'error'] as const;
const KINDS = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'] as const;
/** A value that makes backtracking regular expressions such as (a+)+b take exponential time. */
export const SLOW_REGEX_VALUE = `${'a'.repeat(28)}!`;

export interface SeedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  name: string;
  service: string;
  kind: number;
  status: number;
  startNs: bigint;
  durationNs: bigint;
  httpStatus: number;
  method: string;
  /** span.size, an int only some spans have (null: absent). */
  size: number | null;
}

export interface Dataset {
  spans: SeedSpan[];
  /** OTLP protobuf requests that hold exactly these spans. */
  requests: Buffer[];
  startNs: bigint;
  endNs: bigint;
}

/**
 * 60 traces of 5 spans (a root with two children, each with a child), from
 * `baseNs` on, spread over 10 minutes. Every span has the fields the
 * oracle reads; some have events, links and a string built to make a
 * backtracking regex engine take exponential time.
 */
export function seedDataset(baseNs: bigint, traces = 60): Dataset {
  const spans: SeedSpan[] = [];
  const byService = new Map<string, Record<string, unknown>[]>();
  const hex = (n: number, bytes: number, salt: number) => (salt.toString(16).padStart(4, '0') + n.toString(16).padStart(bytes * 2 - 4, '0')).slice(0, bytes * 2);
  for (let t = 0; t < traces; t++) {
    const traceId = hex(t + 1, 16, 0xf022);
    const traceStart = baseNs + BigInt(t) * 10_000_000_000n;
    const ids = [0, 1, 2, 3, 4].map((i) => hex(t * 8 + i + 1, 8, 0x5eed));
    const parents = [null, 0, 1, 0, 3];
    for (let i = 0; i < 5; i++) {
      const k = t * 5 + i;
      const s: SeedSpan = {
        traceId,
        spanId: ids[i],
        parentSpanId: parents[i] === null ? null : ids[parents[i]!],
        name: SPAN_NAMES[(t + i * 2) % SPAN_NAMES.length],
        service: i === 0 ? 'gateway' : SERVICES[(t + i) % SERVICES.length],
        kind: [2, 3, 2, 1, 4, 5, 0][(t + i) % 7],
        status: (t * 3 + i) % 7 === 0 ? 2 : (t + i) % 5 === 0 ? 1 : 0,
        startNs: traceStart + BigInt(i) * 1_000_000n,
        // Durations from 1 ms to 3 s, distinct enough for ordering.
        durationNs: BigInt(1 + ((k * 7919) % 3000)) * 1_000_000n + BigInt(k),
        httpStatus: STATUS_CODES_HTTP[(t * 2 + i) % STATUS_CODES_HTTP.length],
        method: METHODS[(t + i * 3) % METHODS.length],
        size: k % 3 === 0 ? 10 + ((k * 37) % 990) : null,
      };
      spans.push(s);
      const otlpSpan: Record<string, unknown> = {
        traceId: Buffer.from(s.traceId, 'hex'),
        spanId: Buffer.from(s.spanId, 'hex'),
        ...(s.parentSpanId ? { parentSpanId: Buffer.from(s.parentSpanId, 'hex') } : {}),
        name: s.name,
        kind: s.kind,
        startTimeUnixNano: s.startNs.toString(),
        endTimeUnixNano: (s.startNs + s.durationNs).toString(),
        attributes: [
          { key: 'http.status_code', value: { intValue: s.httpStatus } },
          { key: 'http.method', value: { stringValue: s.method } },
          { key: 'retry', value: { boolValue: k % 3 === 0 } },
          { key: 'ratio', value: { doubleValue: (k % 10) / 4 } },
          ...(s.size !== null ? [{ key: 'size', value: { intValue: s.size } }] : []),
          ...(k % 4 === 0 ? [{ key: 'payload', value: { stringValue: SLOW_REGEX_VALUE } }] : []),
          ...(k % 6 === 0 ? [{ key: 'tags', value: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: 1 }] } } }] : []),
        ],
        events:
          k % 5 === 0
            ? [{ timeUnixNano: (s.startNs + 1000n).toString(), name: 'exception', attributes: [{ key: 'exception.type', value: { stringValue: k % 2 ? 'TimeoutError' : SLOW_REGEX_VALUE } }, { key: 'attempt', value: { intValue: k % 3 } }] }]
            : [],
        links: k % 7 === 0 ? [{ traceId: Buffer.from(traceId, 'hex'), spanId: Buffer.from(ids[0], 'hex'), attributes: [{ key: 'kind', value: { stringValue: 'follows' } }, { key: 'n', value: { intValue: k % 4 } }] }] : [],
        status: { code: s.status, message: s.status === 2 ? `failed ${k % 3}` : '' },
      };
      if (!byService.has(s.service)) byService.set(s.service, []);
      byService.get(s.service)!.push(otlpSpan);
    }
  }
  const resourceSpans = [...byService.entries()].map(([service, list]) => ({
    resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }, { key: 'region', value: { stringValue: service === 'db' ? 'eu-west-1' : 'us-east-1' } }] },
    scopeSpans: [{ scope: { name: '@opentelemetry/instrumentation-http', version: '0.223.1' }, spans: list }],
  }));
  const requests = [encode(otlp.ExportTraceServiceRequest, { resourceSpans })];
  const startNs = spans.reduce((m, s) => (s.startNs < m ? s.startNs : m), spans[0].startNs);
  const endNs = spans.reduce((m, s) => (s.startNs + s.durationNs > m ? s.startNs + s.durationNs : m), 0n);
  return { spans, requests, startNs, endNs };
}

// ---- the oracle's subset ----------------------------------------------------------

type OValue =
  | { type: 'string'; v: string }
  | { type: 'regex'; v: string }
  | { type: 'int'; v: number }
  | { type: 'float'; v: number }
  | { type: 'duration'; v: bigint; text: string }
  | { type: 'status'; v: number }
  | { type: 'kind'; v: number };

type OField = 'name' | 'status' | 'kind' | 'duration' | 'span.http.status_code' | 'span.http.method' | 'resource.service.name';

export type OCond =
  | { c: 'cmp'; field: OField; op: string; value: OValue }
  | { c: 'bool'; op: '&&' | '||'; l: OCond; r: OCond };

export type OSpanset = { s: 'filter'; cond: OCond | null } | { s: 'op'; op: '&&' | '||' | '>' | '>>' | '<' | '<<' | '~'; l: OSpanset; r: OSpanset };

/** TraceQL string literal: every character that needs it escaped. */
export function quote(s: string): string {
  return `"${s.replace(/[\\"\n\t\r\0]/g, (c) => ({ '\\': '\\\\', '"': '\\"', '\n': '\\n', '\t': '\\t', '\r': '\\r', '\0': '\\0' })[c]!)}"`;
}

function valueText(v: OValue): string {
  switch (v.type) {
    case 'string':
    case 'regex':
      return quote(v.v);
    case 'int':
      return String(v.v);
    case 'float':
      return Number.isInteger(v.v) ? v.v.toFixed(1) : String(v.v);
    case 'duration':
      return v.text;
    case 'status':
      return STATUSES[v.v];
    case 'kind':
      return KINDS[v.v];
  }
}

export function condText(c: OCond): string {
  if (c.c === 'cmp') return `${c.field} ${c.op} ${valueText(c.value)}`;
  return `(${condText(c.l)} ${c.op} ${condText(c.r)})`;
}

export function spansetText(s: OSpanset): string {
  if (s.s === 'filter') return s.cond ? `{ ${condText(s.cond)} }` : '{ }';
  return `(${spansetText(s.l)} ${s.op} ${spansetText(s.r)})`;
}

const durationText = (ns: bigint): fc.Arbitrary<{ v: bigint; text: string }> =>
  fc.constantFrom(
    { v: ns, text: `${ns}ns` },
    ...(ns % 1_000n === 0n ? [{ v: ns, text: `${ns / 1_000n}us` }] : []),
    ...(ns % 1_000_000n === 0n ? [{ v: ns, text: `${ns / 1_000_000n}ms` }] : []),
    ...(ns % 100_000_000n === 0n ? [{ v: ns, text: `${Number(ns) / 1e9}s` }] : []),
  );

/** Regular expressions in the RE2 and JavaScript common subset. */
export const regexArb: fc.Arbitrary<string> = fc.letrec<{ re: string }>((tie) => ({
  re: fc.oneof(
    { depthSize: 'small', maxDepth: 3 },
    // RE2 and JavaScript agree on these (no inline flags: JavaScript has none).
    fc.constantFrom('GET.*', '.*cart.*', 'G.T /c.rt', 'POST|PUT', '(GET|POST) /.*', '[A-Z]+', '.*', 'auth\\..*', '[a-z]+ [a-z_]+', 'x?', 'a{1,3}', '\\d+', '[^ ]+'),
    fc.constantFrom('a', 'b', 'GET', ' ', '/', 'c').map((s) => s),
    fc.tuple(tie('re'), tie('re')).map(([a, b]) => a + b),
    fc.tuple(tie('re'), tie('re')).map(([a, b]) => `(${a}|${b})`),
    tie('re').map((a) => `(${a})*`),
    tie('re').map((a) => `(?:${a})+`),
  ),
})).re;

const oValueFor = (field: OField): fc.Arbitrary<{ op: string; value: OValue }> => {
  const ord = fc.constantFrom('=', '!=', '<', '<=', '>', '>=');
  switch (field) {
    case 'name':
    case 'span.http.method':
    case 'resource.service.name': {
      const vocab = field === 'name' ? SPAN_NAMES : field === 'span.http.method' ? METHODS : SERVICES;
      return fc.oneof(
        fc.record({ op: fc.constantFrom('=', '!='), value: fc.oneof(fc.constantFrom(...vocab), fc.string({ maxLength: 6 })).map((v): OValue => ({ type: 'string', v })) }),
        fc.record({ op: fc.constantFrom('=~', '!~'), value: regexArb.map((v): OValue => ({ type: 'regex', v })) }),
      );
    }
    case 'status':
      return fc.record({ op: fc.constantFrom('=', '!='), value: fc.nat(2).map((v): OValue => ({ type: 'status', v })) });
    case 'kind':
      return fc.record({ op: fc.constantFrom('=', '!='), value: fc.nat(5).map((v): OValue => ({ type: 'kind', v })) });
    case 'duration':
      return fc.record({
        op: ord,
        value: fc
          .oneof(fc.constantFrom(1_000_000n, 10_000_000n, 100_000_000n, 500_000_000n, 1_000_000_000n, 2_000_000_000n), fc.bigInt({ min: 0n, max: 3_100_000_000n }))
          .chain(durationText)
          .map((d): OValue => ({ type: 'duration', ...d })),
      });
    case 'span.http.status_code':
      return fc.record({
        op: ord,
        value: fc.oneof(
          fc.constantFrom(...STATUS_CODES_HTTP, 0, 300, 499).map((v): OValue => ({ type: 'int', v })),
          fc.constantFrom(200.0, 404.5, 499.99, 500.0).map((v): OValue => ({ type: 'float', v })),
        ),
      });
  }
};

const O_FIELDS: OField[] = ['name', 'status', 'kind', 'duration', 'span.http.status_code', 'span.http.method', 'resource.service.name'];

const oCondArb: fc.Arbitrary<OCond> = fc.letrec<{ cond: OCond }>((tie) => ({
  cond: fc.oneof(
    { depthSize: 'small', maxDepth: 3, withCrossShrink: true },
    fc.constantFrom(...O_FIELDS).chain((field) => oValueFor(field).map(({ op, value }): OCond => ({ c: 'cmp', field, op, value }))),
    fc.record({ c: fc.constant('bool' as const), op: fc.constantFrom('&&' as const, '||' as const), l: tie('cond'), r: tie('cond') }),
  ),
})).cond;

export const oSpansetArb: fc.Arbitrary<OSpanset> = fc.letrec<{ ss: OSpanset }>((tie) => ({
  ss: fc.oneof(
    { depthSize: 'small', maxDepth: 2, withCrossShrink: true },
    { weight: 3, arbitrary: fc.option(oCondArb, { freq: 8 }).map((cond): OSpanset => ({ s: 'filter', cond })) },
    { weight: 1, arbitrary: fc.record({ s: fc.constant('op' as const), op: fc.constantFrom('&&' as const, '||' as const, '>' as const, '>>' as const, '<' as const, '<<' as const, '~' as const), l: tie('ss'), r: tie('ss') }) },
  ),
})).ss;

/**
 * Whether `re` matches all of `s`, in linear time (re2js, RE2's semantics,
 * not the server's own wrapper). A backtracking RegExp here once held the
 * test process for 70 s on `((.*)*)*G.T /c.rt(GET.*)*`, and every lane's
 * request timed out behind it (seed 676104501).
 */
function fullMatch(re: string, s: string): boolean {
  return RE2JS.compile(re).matches(s);
}

function fieldValue(s: SeedSpan, f: OField): string | number | bigint {
  switch (f) {
    case 'name':
      return s.name;
    case 'status':
      return s.status;
    case 'kind':
      return s.kind;
    case 'duration':
      return s.durationNs;
    case 'span.http.status_code':
      return s.httpStatus;
    case 'span.http.method':
      return s.method;
    case 'resource.service.name':
      return s.service;
  }
}

function compare(op: string, a: number | bigint | string, b: number | bigint | string): boolean {
  switch (op) {
    case '=':
      return a === b;
    case '!=':
      return a !== b;
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
  }
  throw new Error(`op ${op}`);
}

export function evalCond(c: OCond, s: SeedSpan): boolean {
  if (c.c === 'bool') return c.op === '&&' ? evalCond(c.l, s) && evalCond(c.r, s) : evalCond(c.l, s) || evalCond(c.r, s);
  const a = fieldValue(s, c.field);
  const v = c.value;
  switch (v.type) {
    case 'regex':
      return fullMatch(v.v, a as string) === (c.op === '=~');
    case 'string':
    case 'status':
    case 'kind':
      return compare(c.op, a, v.v);
    case 'duration':
      return compare(c.op, a, v.v);
    case 'int':
    case 'float':
      return compare(c.op, a as number, v.v);
  }
}

/** The spans of one trace a spanset expression yields (Tempo's semantics). */
export function evalSpanset(e: OSpanset, trace: SeedSpan[]): Set<SeedSpan> {
  if (e.s === 'filter') return new Set(trace.filter((s) => (e.cond ? evalCond(e.cond, s) : true)));
  const l = evalSpanset(e.l, trace);
  const r = evalSpanset(e.r, trace);
  const byId = new Map(trace.map((s) => [s.spanId, s]));
  const parentOf = (s: SeedSpan) => (s.parentSpanId ? byId.get(s.parentSpanId) : undefined);
  const ancestors = (s: SeedSpan) => {
    const out: SeedSpan[] = [];
    for (let p = parentOf(s); p; p = parentOf(p)) out.push(p);
    return out;
  };
  switch (e.op) {
    case '&&':
      return l.size && r.size ? new Set([...l, ...r]) : new Set();
    case '||':
      return new Set([...l, ...r]);
    case '>':
      return new Set([...r].filter((s) => { const p = parentOf(s); return p !== undefined && l.has(p); }));
    case '>>':
      return new Set([...r].filter((s) => ancestors(s).some((a) => l.has(a))));
    case '<':
      return new Set([...r].filter((s) => trace.some((c) => parentOf(c) === s && l.has(c))));
    case '<<':
      return new Set([...r].filter((s) => trace.some((d) => l.has(d) && ancestors(d).includes(s))));
    case '~':
      return new Set([...r].filter((s) => s.parentSpanId !== null && trace.some((o) => o !== s && o.parentSpanId === s.parentSpanId && l.has(o))));
  }
}

/** Trace ids (hex) with a non-empty result. */
export function expectedTraces(e: OSpanset, data: Dataset): Set<string> {
  const byTrace = new Map<string, SeedSpan[]>();
  for (const s of data.spans) {
    if (!byTrace.has(s.traceId)) byTrace.set(s.traceId, []);
    byTrace.get(s.traceId)!.push(s);
  }
  const out = new Set<string>();
  for (const [id, spans] of byTrace) if (evalSpanset(e, spans).size > 0) out.add(id);
  return out;
}

// ---- the whole grammar ---------------------------------------------------------------

const SCOPES = ['span.', 'resource.', '.', 'event.', 'link.', 'instrumentation.', 'parent.span.', 'parent.resource.'];
const ATTR_NAMES = ['http.status_code', 'http.method', 'retry', 'ratio', 'payload', 'tags', 'service.name', 'region', 'exception.type', 'attempt', 'kind', 'n', 'missing', 'a.b.c'];

const stringLit = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...SPAN_NAMES, ...METHODS, ...SERVICES, 'TimeoutError', 'follows', 'eu-west-1', '', SLOW_REGEX_VALUE) },
  { weight: 3, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 8 }) },
  { weight: 2, arbitrary: fc.string({ unit: fc.constantFrom('\\', '"', '\n', '\t', '\r', '\0', '`', "'", 'a', 'ż', '🙂', '%', '&', '+', '#', '\u2028'), maxLength: 10 }) },
).map(quote);
const rawStringLit = fc.string({ maxLength: 10 }).filter((s) => !s.includes('`')).map((s) => `\`${s}\``);

const attrArb = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...SCOPES), fc.constantFrom(...ATTR_NAMES)).map(([s, n]) => s + n) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('span.', 'resource.', '.'), fc.string({ minLength: 1, maxLength: 8 })).map(([s, n]) => `${s}${quote(n)}`) },
);

const intLit = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('0', '1', '2', '200', '404', '500', '503') },
  { weight: 2, arbitrary: fc.nat().map(String) },
  { weight: 1, arbitrary: fc.constantFrom('9223372036854775807', '9223372036854775808', '18446744073709551616', '99999999999999999999999999999') },
);
const floatLit = fc.oneof(
  fc.constantFrom('0.5', '1.5', '.25', '2.', '1e3', '1.5e-3', '1e308', '1e400', '4.9e-324', '0.0'),
  // TraceQL number syntax: digits with a point or an exponent ('1e+21' and '5e-324' are fine, '1e+21.0' is not).
  fc.double({ noNaN: true, noDefaultInfinity: true, min: 0 }).map((d) => (Number.isInteger(d) && d < 1e21 ? d.toFixed(1) : String(d))),
);
const durLit = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.nat(5000), fc.constantFrom('ns', 'us', 'µs', 'ms', 's', 'm', 'h')).map(([n, u]) => `${n}${u}`) },
  { weight: 2, arbitrary: fc.tuple(fc.nat(100), fc.nat(999), fc.constantFrom('ms', 's')).map(([a, b, u]) => `${a}.${b}${u}`) },
  { weight: 1, arbitrary: fc.constantFrom('99999999999999h', '9223372036854775807ns', '9223372036854775808ns', '0ns') },
);
const numLit = fc.oneof(intLit, floatLit);

const STRING_INTRINSICS = ['name', 'statusMessage', 'rootName', 'rootServiceName', 'span:name', 'span:statusMessage', 'trace:rootName', 'trace:rootService', 'event:name', 'instrumentation:name', 'instrumentation:version'];
const ID_INTRINSICS = ['span:id', 'span:parentID', 'trace:id', 'link:traceID', 'link:spanID'];
const DURATION_INTRINSICS = ['duration', 'traceDuration', 'span:duration', 'trace:duration', 'event:timeSinceStart'];
const STATUS_INTRINSICS = ['status', 'span:status'];
const KIND_INTRINSICS = ['kind', 'span:kind'];
const ORD = ['=', '!=', '<', '<=', '>', '>='];
const EQ = ['=', '!='];
const RE_OPS = ['=~', '!~'];

/** Arithmetic over attributes and numbers, with at least one attribute. */
const numericAttrExpr = fc
  .tuple(fc.boolean(), attrArb, fc.array(fc.tuple(fc.constantFrom('+', '-', '*', '/', '%', '^'), fc.oneof(attrArb, numLit)), { minLength: 1, maxLength: 3 }), fc.boolean())
  .map(([neg, first, rest, paren]) => {
    const e = `${neg ? '-' : ''}${first}${rest.map(([o, x]) => ` ${o} ${x}`).join('')}`;
    return paren ? `(${e})` : e;
  });

const hexId = (n: number) => fc.uint8Array({ minLength: n, maxLength: n }).map((b) => `"${Buffer.from(b).toString('hex')}"`);

/** One comparison (or bare attribute) that type-checks. */
const comparisonArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...STRING_INTRINSICS), fc.constantFrom(...EQ), stringLit).map((p) => p.join(' ')) },
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...STRING_INTRINSICS), fc.constantFrom(...RE_OPS), regexArb.map(quote)).map((p) => p.join(' ')) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('span:id', 'span:parentID', 'link:spanID'), fc.constantFrom(...EQ), hexId(8)).map((p) => p.join(' ')) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('trace:id', 'link:traceID'), fc.constantFrom(...EQ), hexId(16)).map((p) => p.join(' ')) },
  { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...DURATION_INTRINSICS), fc.constantFrom(...ORD), durLit).map((p) => p.join(' ')) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('duration', 'event:timeSinceStart'), fc.constantFrom(...ORD), fc.constantFrom('duration / 10', 'duration * 2', 'duration / 2 + 1ms')).map((p) => p.join(' ')) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('duration / 2', 'duration * 3', 'duration - 1ms'), fc.constantFrom(...ORD), durLit).map((p) => p.join(' ')) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...STATUS_INTRINSICS), fc.constantFrom(...EQ), fc.constantFrom(...STATUSES)).map((p) => p.join(' ')) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...KIND_INTRINSICS), fc.constantFrom(...EQ), fc.constantFrom(...KINDS)).map((p) => p.join(' ')) },
  {
    weight: 4,
    arbitrary: fc
      .tuple(attrArb, fc.constantFrom(...EQ), fc.oneof(stringLit, rawStringLit, numLit, durLit, fc.constantFrom('true', 'false', 'nil', 'error', 'ok', 'server', 'client')))
      // As in Tempo, `resource.service.name = nil` is invalid: it always exists.
      .filter(([a, o, v]) => !(a === 'resource.service.name' && o === '=' && v === 'nil'))
      .map((p) => p.join(' ')),
  },
  { weight: 3, arbitrary: fc.tuple(attrArb, fc.constantFrom(...ORD), fc.oneof(numLit, durLit)).map((p) => p.join(' ')) },
  // Backtracking traps (RE2 runs them in linear time) and RE2's inline flags.
  { weight: 2, arbitrary: fc.tuple(attrArb, fc.constantFrom(...RE_OPS), fc.oneof(regexArb, fc.constantFrom('(a+)+b', '(a|aa)+c', '(.*a){12}', '(a*)*b', '(?i)get /CART', 'GET(?i) /CART', '(?s).*'))).map(([a, o, r]) => `${a} ${o} ${quote(r)}`) },
  { weight: 1, arbitrary: fc.tuple(numericAttrExpr, fc.constantFrom(...ORD), numLit).map((p) => p.join(' ')) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('name', 'statusMessage', 'rootServiceName'), fc.constantFrom(...EQ), attrArb).map((p) => p.join(' ')) },
  { weight: 1, arbitrary: fc.tuple(attrArb, fc.constantFrom(...ORD), attrArb).map((p) => p.join(' ')) },
  { weight: 1, arbitrary: attrArb },
  // Static conditions, nil, and the trace's structure (Tempo's grammar, issue 15).
  { weight: 1, arbitrary: fc.constantFrom('true', 'false', '1 < 1h', '1 * 1h = 1', '"a" =~ "a"', 'nil = nil', 'nil != nil', 'name != nil', '-1 = 2', 'duration > 1s * 2s') },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('nestedSetLeft', 'nestedSetRight', 'nestedSetParent', 'span:childCount'), fc.constantFrom(...ORD), fc.integer({ min: -1, max: 12 })).map((p) => p.join(' ')) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('!', ''), attrArb).map(([n, a]) => `${n}${a}`) },
);

const condArb: fc.Arbitrary<string> = fc.letrec<{ cond: string }>((tie) => ({
  cond: fc.oneof(
    { depthSize: 'small', maxDepth: 3 },
    { weight: 4, arbitrary: comparisonArb },
    { weight: 2, arbitrary: fc.tuple(tie('cond'), fc.constantFrom('&&', '||'), tie('cond')).map(([a, o, b]) => `${a} ${o} ${b}`) },
    { weight: 1, arbitrary: tie('cond').map((a) => `(${a})`) },
    { weight: 1, arbitrary: tie('cond').map((a) => `!(${a})`) },
  ),
})).cond;

const filterArb = fc.option(condArb, { freq: 6 }).map((c) => (c === null ? '{ }' : `{ ${c} }`));
const SPANSET_OPS = ['&&', '||', '>', '>>', '<', '<<', '~', '!>', '!>>', '!<', '!<<', '!~', '&>', '&>>', '&<', '&<<', '&~'];

const spansetArb: fc.Arbitrary<string> = fc.letrec<{ ss: string }>((tie) => ({
  ss: fc.oneof(
    { depthSize: 'small', maxDepth: 2 },
    { weight: 4, arbitrary: filterArb },
    { weight: 1, arbitrary: fc.tuple(tie('ss'), fc.constantFrom(...SPANSET_OPS), tie('ss')).map(([a, o, b]) => `${a} ${o} ${b}`) },
    { weight: 1, arbitrary: tie('ss').map((a) => `(${a})`) },
  ),
})).ss;

const fieldRef = fc.oneof(attrArb, fc.constantFrom('name', 'status', 'kind', 'duration', 'rootServiceName', 'resource.service.name', 'span:id', 'trace:id', 'statusMessage', 'instrumentation:name'));
const numericAttr = fc.oneof(fc.constantFrom('span.http.status_code', '.ratio', 'span.attempt', 'parent.span.http.status_code'), attrArb);
const numericField = fc.oneof(fc.constant('duration'), numericAttr);
const fieldList = fc.array(fieldRef, { minLength: 1, maxLength: 3 }).map((f) => f.join(', '));

const aggregateFilter = fc.oneof(
  fc.tuple(fc.constantFrom(...ORD), intLit).map(([o, n]) => `count() ${o} ${n}`),
  fc.tuple(fc.constantFrom('avg', 'min', 'max', 'sum'), fc.constantFrom(...ORD), durLit).map(([f, o, d]) => `${f}(duration) ${o} ${d}`),
  fc.tuple(fc.constantFrom('avg', 'min', 'max', 'sum'), numericAttr, fc.constantFrom(...ORD), numLit).map(([f, x, o, n]) => `${f}(${x}) ${o} ${n}`),
  fc.tuple(intLit, fc.constantFrom(...ORD)).map(([n, o]) => `${n} ${o} count()`),
  // Arithmetic between aggregates, over expressions and the tree.
  fc.tuple(fc.constantFrom('max(duration) - min(duration)', 'count() * 2', 'avg(duration) / 2', 'max(span:childCount) + 1', 'sum(1 + span.attempt)'), fc.constantFrom(...ORD), fc.oneof(intLit, durLit)).map((p) => p.join(' ')),
  fc.tuple(fc.constantFrom('avg', 'min', 'max', 'sum'), numericAttr, fc.constantFrom(...ORD), fc.constantFrom('avg', 'min', 'max'), fc.constant('duration')).map(([f, x, o, g, y]) => `${f}(${x}) ${o} ${g}(${y})`),
);

const stageArb = fc.oneof(
  { weight: 3, arbitrary: aggregateFilter },
  { weight: 2, arbitrary: fieldList.map((f) => `by(${f})`) },
  { weight: 2, arbitrary: fieldList.map((f) => `select(${f})`) },
  { weight: 1, arbitrary: fc.constant('coalesce()') },
  { weight: 2, arbitrary: spansetArb },
);

const quantiles = fc.array(fc.constantFrom('.5', '.9', '.99', '0.999', '0.25', '1e-9'), { minLength: 1, maxLength: 3 }).map((q) => q.join(', '));
const metricsFn = fc.oneof(
  fc.constantFrom('rate()', 'count_over_time()'),
  fc.tuple(fc.constantFrom('min_over_time', 'max_over_time', 'avg_over_time', 'sum_over_time', 'histogram_over_time'), numericField).map(([f, x]) => `${f}(${x})`),
  fc.tuple(numericField, quantiles).map(([x, q]) => `quantile_over_time(${x}, ${q})`),
);
/** A filter on metrics values: ` > 10`, ` <= -0.5`, or nothing. */
const metricsFilter = fc.option(fc.tuple(fc.constantFrom('=', '!=', '<', '<=', '>', '>='), fc.oneof(numLit, fc.constantFrom('-3', '1 / 2', '100 * 3'))).map(([o, n]) => ` ${o} ${n}`), { freq: 3 }).map((f) => f ?? '');
const metricsStage = fc
  .tuple(metricsFn, fc.option(fieldList, { freq: 2 }), metricsFilter, fc.array(fc.tuple(fc.constantFrom('topk', 'bottomk'), fc.integer({ min: 1, max: 20 }), metricsFilter), { maxLength: 2 }))
  .map(([fn, by, filter, tops]) => `${fn}${by ? ` by(${by})` : ''}${filter}${tops.map(([k, n, f]) => ` | ${k}(${n})${f}`).join('')}`);

/** Metrics whose answer the oracle knows: counts per group, and the extremes of a field over the range. */
export type OracleMetric = 'count_over_time()' | 'min_over_time(duration)' | 'max_over_time(duration)' | 'min_over_time(span.size)' | 'max_over_time(span.size)';

/**
 * What the oracle expects of a metrics query: per label, the span count
 * (count_over_time), or the least or greatest value over every bucket
 * (durations in seconds, as Tempo reports them); null when no span has one.
 */
export function expectedMetric(fn: OracleMetric, by: string | null | undefined, cond: OCond | null, data: Dataset): Map<string, number> | number | null {
  const spans = data.spans.filter((s) => (cond ? evalCond(cond, s) : true));
  if (fn === 'count_over_time()') {
    const want = new Map<string, number>();
    for (const s of spans) {
      const label = by === 'resource.service.name' ? s.service : by === 'name' ? s.name : '';
      want.set(label, (want.get(label) ?? 0) + 1);
    }
    return want;
  }
  const values = fn.endsWith('(duration)') ? spans.map((s) => Number(s.durationNs) / 1e9) : spans.flatMap((s) => (s.size === null ? [] : [s.size]));
  if (!values.length) return null;
  return fn.startsWith('min') ? Math.min(...values) : Math.max(...values);
}

export interface TraceQLCase {
  kind: 'oracle' | 'oracle-metrics' | 'valid' | 'deep' | 'mutated' | 'junk';
  endpoint: 'search' | 'metrics';
  q: string;
  /** For oracle cases. */
  spanset?: OSpanset;
  /** For oracle-metrics: the function, and count_over_time's grouping. */
  fn?: OracleMetric;
  by?: 'resource.service.name' | 'name' | null;
  /** Extra query parameters (search: limit, spss; metrics: step). */
  params: Record<string, string>;
  /** A parameter value that must be refused with 400. */
  badParam?: boolean;
}

// Small limits: a search that finds traces costs tens of milliseconds per trace set returned.
const searchParams = fc.record({ limit: fc.constantFrom('1', '2', '5'), spss: fc.constantFrom('1', '3', '10') });
const metricsParams = fc.record({ step: fc.constantFrom('60s', '30', '1m', '15s', '5m', '2m30s') });
const badParams = fc.oneof(
  fc.record({ limit: fc.constantFrom('0', '-1', 'abc', '1.5') }).map((p) => ({ ...p, endpoint: 'search' as const })),
  fc.record({ spss: fc.constantFrom('0', 'x') }).map((p) => ({ ...p, endpoint: 'search' as const })),
  fc.record({ step: fc.constantFrom('0', '-1s', 'abc', '1ns') }).map((p) => ({ ...p, endpoint: 'metrics' as const })),
);

/** A query kept valid: the whole grammar. */
export const validQueryArb: fc.Arbitrary<{ q: string; metrics: boolean }> = fc.oneof(
  { weight: 4, arbitrary: spansetArb.map((q) => ({ q, metrics: false })) },
  { weight: 2, arbitrary: fc.tuple(spansetArb, fc.array(stageArb, { minLength: 1, maxLength: 3 })).map(([s, st]) => ({ q: [s, ...st].join(' | '), metrics: false })) },
  { weight: 3, arbitrary: fc.tuple(spansetArb, metricsStage).map(([s, m]) => ({ q: `${s} | ${m}`, metrics: true })) },
  { weight: 1, arbitrary: fc.tuple(filterArb, filterArb, fc.option(fc.integer({ min: 1, max: 20 }))).map(([s, sel, n]) => ({ q: `${s} | compare(${sel}${n ? `, ${n}` : ''})`, metrics: true })) },
  // Pipelines that start with a stage, and pipelines as spanset operands.
  { weight: 1, arbitrary: fc.tuple(fc.oneof(aggregateFilter.filter((f) => !/^[0-9-]/.test(f)), fieldList.map((f) => `by(${f})`), fieldList.map((f) => `select(${f})`)), fc.array(stageArb, { maxLength: 2 })).map(([f, st]) => ({ q: [f, ...st].join(' | '), metrics: false })) },
  { weight: 1, arbitrary: fc.tuple(spansetArb, stageArb, fc.constantFrom(...SPANSET_OPS), spansetArb, stageArb).map(([a, x, o, b, y]) => ({ q: `(${a} | ${x}) ${o} (${b} | ${y})`, metrics: false })) },
  // Arithmetic over metrics queries and numbers, filters and topk after it, and hints.
  {
    weight: 2,
    arbitrary: fc
      .tuple(spansetArb, metricsStage, fc.constantFrom('+', '-', '*', '/'), fc.oneof(fc.tuple(spansetArb, metricsStage).map(([s, m]) => `(${s} | ${m})`), numLit, fc.constantFrom('-5', '-1.5')), fc.boolean(), metricsFilter, fc.option(fc.constantFrom(' with(sample=0.1)', ' with(most_recent=true)')))
      .map(([s, m, o, other, swap, f, hint]) => {
        const left = `(${s} | ${m})`;
        return { q: `${swap ? `${other} ${o} ${left}` : `${left} ${o} ${other}`}${f}${hint ?? ''}`, metrics: true };
      }),
  },
);

/** Valid, but large: deep parentheses, long chains. Refusing them (400) is fine; a 5xx is not. */
const deepQueryArb: fc.Arbitrary<{ q: string; metrics: boolean }> = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 3000 }).map((n) => ({ q: `{ ${'('.repeat(n)}.a = 1${')'.repeat(n)} }`, metrics: false })) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 2000 }).map((n) => ({ q: `{ ${'!('.repeat(n)}.a = 1${')'.repeat(n)} }`, metrics: false })) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 1000 }).map((n) => ({ q: `${'('.repeat(n)}{ .a = 1 }${')'.repeat(n)}`, metrics: false })) },
  { weight: 3, arbitrary: fc.tuple(fc.integer({ min: 2, max: 400 }), fc.constantFrom('&&', '||')).map(([n, o]) => ({ q: `{ ${Array.from({ length: n }, (_, i) => `.a${i % 7} = ${i}`).join(` ${o} `)} }`, metrics: false })) },
  { weight: 3, arbitrary: fc.tuple(fc.integer({ min: 2, max: 150 }), fc.constantFrom(...SPANSET_OPS)).map(([n, o]) => ({ q: Array.from({ length: n }, (_, i) => `{ name = "${SPAN_NAMES[i % 6]}" }`).join(` ${o} `), metrics: false })) },
  { weight: 3, arbitrary: fc.integer({ min: 2, max: 300 }).map((n) => ({ q: `{ } ${'| count() > 0 '.repeat(n)}`, metrics: false })) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 500 }).map((n) => ({ q: `{ ${'-'.repeat(n)}.a > 1 }`, metrics: false })) },
  { weight: 3, arbitrary: fc.integer({ min: 2, max: 500 }).map((n) => ({ q: `{ ${Array.from({ length: n }, () => '.a').join(' + ')} > 1 }`, metrics: false })) },
  // Slow (seconds) past a hundred fields, so kept to a few per run.
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 250 }).map((n) => ({ q: `{ } | rate() by(${Array.from({ length: n }, (_, i) => `.k${i}`).join(', ')})`, metrics: true })) },
  { weight: 3, arbitrary: fc.integer({ min: 1000, max: 6000 }).map((n) => ({ q: `{ .a = ${quote('x'.repeat(n))} }`, metrics: false })) },
);

const TOKENS = ['{', '}', '(', ')', '|', ',', '&&', '||', '!', '=', '!=', '=~', '!~', '>', '>=', '<', '<=', '>>', '<<', '~', '&>', '+', '-', '*', '/', '%', '^', '"', '`', '"x"', '1', '1.5', '.5', '1s', '1e', '0x1', 'nil', 'true', 'status', 'error', 'span.', '.', '.a', 'span:', ':', 'name', 'duration', 'by', 'select', 'count()', 'rate()', 'topk(1)', 'compare(', 'parent.', '\\', '\n', ' ', '#', ';', '$', '@', '\u0000', '🙂', 'µs', '\uFEFF', '%'];

type Mutation = { op: 'delete-token' | 'dup-token' | 'insert-token' | 'swap-tokens' | 'delete-char' | 'insert-char' | 'replace-char' | 'truncate'; at: number; at2: number; token: string; ch: string };

const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  op: fc.constantFrom('delete-token', 'dup-token', 'insert-token', 'swap-tokens', 'delete-char', 'insert-char', 'replace-char', 'truncate'),
  at: fc.nat(),
  at2: fc.nat(),
  token: fc.constantFrom(...TOKENS),
  ch: fc.oneof(fc.constantFrom(...TOKENS.filter((t) => [...t].length === 1)), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })),
});

function tokens(q: string): string[] {
  return q.match(/"(?:[^"\\]|\\.)*"?|`[^`]*`?|\s+|[A-Za-z_][\w.:]*|\d[\w.]*|&&|\|\||!=|=~|!~|>=|<=|>>|<<|[^\s]/gu) ?? [];
}

export function mutate(q: string, m: Mutation): string {
  const t = tokens(q);
  const i = t.length ? m.at % t.length : 0;
  const j = t.length ? m.at2 % t.length : 0;
  const chars = [...q];
  const c = chars.length ? m.at % chars.length : 0;
  switch (m.op) {
    case 'delete-token':
      t.splice(i, 1);
      return t.join('');
    case 'dup-token':
      t.splice(i, 0, t[i] ?? '');
      return t.join('');
    case 'insert-token':
      t.splice(i, 0, ` ${m.token} `);
      return t.join('');
    case 'swap-tokens':
      [t[i], t[j]] = [t[j], t[i]];
      return t.join('');
    case 'delete-char':
      chars.splice(c, 1);
      return chars.join('');
    case 'insert-char':
      chars.splice(c, 0, m.ch);
      return chars.join('');
    case 'replace-char':
      chars[c] = m.ch;
      return chars.join('');
    case 'truncate':
      return chars.slice(0, c).join('');
  }
}

const junkArb = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: fc.constantFrom(...'{}()|&!=~<>.:"`\\ ,+-*/%^0123456789abcdegilmnrsuµ'), maxLength: 40 }),
  fc.array(fc.constantFrom(...TOKENS), { maxLength: 20 }).map((t) => t.join(' ')),
);

/** Parameters that keep an answer small where only the status is checked. */
const cheap = (metrics: boolean): Record<string, string> => (metrics ? { step: '5m' } : { limit: '1', spss: '1' });

/**
 * Every kind of TraceQL case, mixed. The shares keep a run of 10,000 within
 * CI's time: a query that finds traces costs tens of milliseconds on two
 * cores, one the parser refuses a few.
 */
export const traceqlCaseArb: fc.Arbitrary<TraceQLCase> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.tuple(oSpansetArb, searchParams).map(([s, p]): TraceQLCase => ({ kind: 'oracle', endpoint: 'search', q: spansetText(s), spanset: s, params: { ...p, limit: '100' } })),
  },
  {
    weight: 4,
    arbitrary: fc
      .tuple(
        fc.option(oCondArb, { freq: 6 }),
        fc.oneof(
          { weight: 2, arbitrary: fc.tuple(fc.constant<OracleMetric>('count_over_time()'), fc.constantFrom(null, 'resource.service.name' as const, 'name' as const)) },
          { weight: 1, arbitrary: fc.tuple(fc.constantFrom<OracleMetric>('min_over_time(duration)', 'max_over_time(duration)', 'min_over_time(span.size)', 'max_over_time(span.size)'), fc.constant(null)) },
        ),
        metricsParams,
      )
      .map(([cond, [fn, by], p]): TraceQLCase => {
        const spanset: OSpanset = { s: 'filter', cond };
        return { kind: 'oracle-metrics', endpoint: 'metrics', q: `${spansetText(spanset)} | ${fn}${by ? ` by(${by})` : ''}`, spanset, fn, by, params: p };
      }),
  },
  {
    weight: 12,
    arbitrary: fc.tuple(validQueryArb, searchParams, metricsParams).map(([v, sp, mp]): TraceQLCase => ({ kind: 'valid', endpoint: v.metrics ? 'metrics' : 'search', q: v.q, params: v.metrics ? mp : sp })),
  },
  { weight: 2, arbitrary: deepQueryArb.map((v): TraceQLCase => ({ kind: 'deep', endpoint: v.metrics ? 'metrics' : 'search', q: v.q, params: cheap(v.metrics) })) },
  {
    weight: 66,
    arbitrary: fc
      .tuple(validQueryArb, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), fc.boolean())
      .map(([v, ms, swap]): TraceQLCase => ({ kind: 'mutated', endpoint: v.metrics !== swap ? 'metrics' : 'search', q: ms.reduce(mutate, v.q), params: cheap(v.metrics !== swap) })),
  },
  { weight: 9, arbitrary: fc.tuple(junkArb, fc.boolean()).map(([q, m]): TraceQLCase => ({ kind: 'junk', endpoint: m ? 'metrics' : 'search', q, params: cheap(m) })) },
  {
    weight: 3,
    arbitrary: fc.tuple(validQueryArb, badParams).map(([v, { endpoint, ...p }]): TraceQLCase => ({ kind: 'valid', endpoint, q: endpoint === 'metrics' ? '{ } | rate()' : v.metrics ? '{ }' : v.q, params: p, badParam: true })),
  },
);
