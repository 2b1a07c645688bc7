import { sql, type Sql } from '../sql/index.js';
import type { ComparisonOp, FieldExpr, Static } from './ast.js';
import { TraceQLUnsupportedError, TraceQLValidationError, unlessUnsupported } from './errors.js';
import { compileCondition, compileJsonLists, compileTyped, type PlanContext } from './plan.js';
import { printField } from './printer.js';

/**
 * A spanset filter's condition, split between SQL and the evaluator.
 *
 * What SQL can decide on a span row is fetched as a flag. What it cannot —
 * `parent.` attributes, two non-numeric fields compared with each other,
 * ordering and regular expressions on the JSON-stored event., link. and
 * instrumentation. attributes — is decided here, in process, over values
 * fetched with the trace's spans. `superset` is an SQL condition true on
 * every span that may match, so candidate selection never loses a trace.
 */
export interface SpanPredicate {
  /** Whether span `i` of a trace matches. */
  test(i: number, trace: TraceValues): boolean;
  /** Holds on every span the predicate can match. */
  superset: Sql;
  /**
   * Conditions some span of the trace meets whenever a span matches (a
   * matching span's parent, for `parent.` attributes); candidate selection
   * requires each with countIf() > 0.
   */
  inTrace: Sql[];
}

/** A trace's spans as the evaluator fetched them. */
export interface TraceValues {
  flags(i: number): boolean[];
  texts(i: number): string[];
  /** Index of the parent span, -1 for a root or a missing parent. */
  parent(i: number): number;
  /** Trace-level intrinsics, from the trace's spans. */
  trace(): { durationNs: bigint; rootName: string | null; rootService: string | null };
}

/** Collects the SQL expressions fetched per span; returns their index. */
export interface ValueRegistry {
  flag(condition: Sql): number;
  text(expression: Sql): number;
}

export function compilePredicate(e: FieldExpr | null, ctx: PlanContext, reg: ValueRegistry): SpanPredicate {
  if (!e) return { test: () => true, superset: sql`1`, inTrace: [] };
  return predicate(e, ctx, reg);
}

function predicate(e: FieldExpr, ctx: PlanContext, reg: ValueRegistry): SpanPredicate {
  // Whatever SQL decides exactly is one fetched flag.
  const exact = trySql(e, ctx);
  if (exact) {
    const k = reg.flag(exact);
    return { test: (i, t) => t.flags(i)[k], superset: exact, inTrace: [] };
  }
  if (e.kind === 'binary' && (e.op === '&&' || e.op === '||')) {
    const l = predicate(e.left, ctx, reg);
    const r = predicate(e.right, ctx, reg);
    return e.op === '&&'
      ? { test: (i, t) => l.test(i, t) && r.test(i, t), superset: sql`(${l.superset} AND ${r.superset})`, inTrace: [...l.inTrace, ...r.inTrace] }
      : { test: (i, t) => l.test(i, t) || r.test(i, t), superset: sql`(${l.superset} OR ${r.superset})`, inTrace: [] };
  }
  if (e.kind === 'unary' && e.op === '!') {
    const inner = predicate(e.operand, ctx, reg);
    // The negation of a superset is no superset; any span may match.
    return { test: (i, t) => !inner.test(i, t), superset: sql`1`, inTrace: [] };
  }
  if (e.kind === 'attribute') return comparison('=', e, { kind: 'static', type: 'bool', value: true, pos: e.pos }, ctx, reg);
  if (e.kind === 'binary' && isComparison(e.op)) return comparison(e.op, e.left, e.right, ctx, reg);
  // Let SQL planning report what is wrong with it.
  compileCondition(e, ctx);
  throw new TraceQLUnsupportedError(`${printField(e)} as a condition`, e.pos);
}

function trySql(e: FieldExpr, ctx: PlanContext): Sql | null {
  return unlessUnsupported(() => compileCondition(e, ctx));
}

function isComparison(op: string): op is ComparisonOp {
  return ['=', '!=', '>', '>=', '<', '<=', '=~', '!~'].includes(op);
}

// ---- typed values -----------------------------------------------------------------

type Typed =
  | { t: 's'; v: string }
  | { t: 'i' | 'd'; v: bigint }
  | { t: 'f'; v: number }
  | { t: 'b'; v: boolean }
  | { t: 'st' | 'k'; v: string };

/** Reads a field's values on span i: none when absent, several for event. and link. attributes. */
type Reader = (i: number, t: TraceValues) => Typed[];

function comparison(op: ComparisonOp, left: FieldExpr, right: FieldExpr, ctx: PlanContext, reg: ValueRegistry): SpanPredicate {
  if (left.kind === 'static' && right.kind === 'static') throw new TraceQLValidationError('a comparison needs a field', left.pos);
  // Field on the left; a regular expression keeps its sides (the pattern is on the right).
  if (left.kind === 'static' && op !== '=~' && op !== '!~') return comparison(FLIPPED[op], right, left, ctx, reg);
  const isNil = right.kind === 'static' && right.type === 'nil';
  if (isNil && op !== '=' && op !== '!=') throw new TraceQLValidationError(`nil takes only = and !=`, right.pos);
  if ((op === '=~' || op === '!~') && right.kind === 'static' && right.type === 'string') {
    try {
      regex(right.value);
    } catch {
      throw new TraceQLValidationError(`invalid regular expression ${JSON.stringify(right.value)}`, right.pos);
    }
  }
  // `parent.x op value`: the same comparison, decided on the parent span;
  // the trace must then hold a span where it holds.
  if (left.kind === 'attribute' && left.parent && right.kind === 'static' && !(isNil && op === '=')) {
    const own = predicate({ kind: 'binary', op, left: { ...left, parent: false }, right, pos: left.pos }, ctx, reg);
    return {
      test: (i, t) => {
        const p = t.parent(i);
        return p >= 0 && own.test(p, t);
      },
      superset: sql`1`,
      inTrace: [own.superset, ...own.inTrace],
    };
  }
  if (isNil) {
    const read = reader(left, reg);
    return { test: (i, t) => (read(i, t).length === 0) === (op === '='), superset: sql`1`, inTrace: [] };
  }
  const l = reader(left, reg);
  const r = reader(right, reg);
  // A comparison needs both values: the span has the attributes it reads.
  const present = [left, right].filter((f) => f.kind === 'attribute' && !f.parent).map((f) => trySql({ kind: 'binary', op: '!=', left: f, right: { kind: 'static', type: 'nil', pos: f.pos }, pos: f.pos }, ctx));
  const superset = present.filter((x): x is Sql => x !== null).reduce((a, b) => sql`(${a} AND ${b})`, sql`1`);
  return {
    test: (i, t) => {
      const rs = r(i, t);
      return rs.length > 0 && l(i, t).some((a) => rs.some((b) => compareTyped(op, a, b)));
    },
    superset,
    inTrace: [],
  };
}

const FLIPPED: Record<ComparisonOp, ComparisonOp> = { '=': '=', '!=': '!=', '>': '<', '>=': '<=', '<': '>', '<=': '>=', '=~': '=~', '!~': '!~' };

function reader(e: FieldExpr, reg: ValueRegistry): Reader {
  if (e.kind === 'static') {
    const v = fromStatic(e);
    return () => [v];
  }
  if (e.kind === 'attribute' && e.parent) {
    const own = reader({ ...e, parent: false }, reg);
    return (i, t) => {
      const p = t.parent(i);
      return p < 0 ? [] : own(p, t);
    };
  }
  if (e.kind === 'attribute' && (e.scope === 'event' || e.scope === 'link' || e.scope === 'instrumentation')) {
    const k = reg.text(compileJsonLists(e.scope));
    const name = e.name;
    return (i, t) => jsonValues(t.texts(i)[k], name);
  }
  if (e.kind === 'intrinsic') {
    switch (e.name) {
      case 'traceDuration':
      case 'trace:duration':
        return (_i, t) => [{ t: 'd', v: t.trace().durationNs }];
      case 'rootName':
      case 'trace:rootName':
        return (_i, t) => optional(t.trace().rootName);
      case 'rootServiceName':
      case 'trace:rootService':
        return (_i, t) => optional(t.trace().rootService);
      case 'event:name':
      case 'event:timeSinceStart':
      case 'link:traceID':
      case 'link:spanID': {
        const k = reg.text(compileTypedList(e.name));
        return (i, t) => parseTypedList(t.texts(i)[k]);
      }
    }
  }
  if (e.kind === 'binary' && ARITHMETIC.has(e.op)) {
    const l = reader(e.left, reg);
    const r = reader(e.right, reg);
    const op = e.op;
    return (i, t) => {
      const out: Typed[] = [];
      for (const a of l(i, t)) if (isNumber(a)) for (const b of r(i, t)) if (isNumber(b)) out.push({ t: 'f', v: arithmetic(op, Number(a.v), Number(b.v)) });
      return out;
    };
  }
  if (e.kind === 'unary' && e.op === '-') {
    const inner = reader(e.operand, reg);
    return (i, t) => inner(i, t).flatMap((a): Typed[] => (isNumber(a) ? [{ t: 'f', v: -Number(a.v) }] : []));
  }
  if (e.kind === 'attribute' || e.kind === 'intrinsic') {
    const k = reg.text(compileTyped(e));
    return (i, t) => {
      const v = parseTyped(t.texts(i)[k]);
      return v ? [v] : [];
    };
  }
  throw new TraceQLUnsupportedError(`${printField(e)} in a comparison the evaluator finishes`, e.pos);
}

const ARITHMETIC = new Set(['+', '-', '*', '/', '%', '^']);

/** As SQL computes it: doubles; x % y with the sign of x, as ClickHouse's modulo. */
function arithmetic(op: string, a: number, b: number): number {
  switch (op) {
    case '+':
      return a + b;
    case '-':
      return a - b;
    case '*':
      return a * b;
    case '/':
      return a / b;
    case '%':
      return a % b;
    default:
      return a ** b;
  }
}

const optional = (v: string | null): Typed[] => (v === null ? [] : [{ t: 's', v }]);

/**
 * Event and link intrinsics: one value per event (link), as comma-separated
 * hex (safe for any name on every engine; 18.16 has hex() but no JSON output).
 */
function compileTypedList(name: 'event:name' | 'event:timeSinceStart' | 'link:traceID' | 'link:spanID'): Sql {
  switch (name) {
    case 'event:name':
      return sql`concat('s:', arrayStringConcat(arrayMap(x -> hex(x), event_name), ','))`;
    case 'event:timeSinceStart':
      return sql`concat('d:', arrayStringConcat(arrayMap(x -> hex(toString(toInt64(x) - toInt64(start_ns))), event_time_ns), ','))`;
    case 'link:traceID':
      return sql`concat('s:', arrayStringConcat(arrayMap(x -> hex(lower(hex(x))), link_trace_id), ','))`;
    case 'link:spanID':
      return sql`concat('s:', arrayStringConcat(arrayMap(x -> hex(lower(hex(x))), link_span_id), ','))`;
  }
}

function parseTypedList(text: string): Typed[] {
  const colon = text.indexOf(':');
  const body = text.slice(colon + 1);
  if (body === '') return [];
  return body.split(',').map((h) => parseTyped(`${text.slice(0, colon)}:${Buffer.from(h, 'hex').toString('utf8')}`)!);
}

function fromStatic(s: Static): Typed {
  switch (s.type) {
    case 'string':
      return { t: 's', v: s.value };
    case 'int':
      return { t: 'i', v: s.value };
    case 'duration':
      return { t: 'd', v: s.value };
    case 'float':
      return { t: 'f', v: s.value };
    case 'bool':
      return { t: 'b', v: s.value };
    case 'status':
      return { t: 'st', v: s.value };
    case 'kind':
      return { t: 'k', v: s.value };
    case 'nil':
      throw new Error('nil has no value');
  }
}

function parseTyped(text: string): Typed | null {
  if (text === '') return null;
  const colon = text.indexOf(':');
  const type = text.slice(0, colon);
  const value = text.slice(colon + 1);
  switch (type) {
    case 's':
      return { t: 's', v: value };
    case 'i':
    case 'd':
      return { t: type, v: BigInt(value) };
    case 'f':
      return { t: 'f', v: Number(value) };
    case 'b':
      return { t: 'b', v: value === 'true' };
    case 'st':
    case 'k':
      return { t: type, v: value };
  }
  return null;
}

/** Values of `key` in newline-separated OTLP/JSON KeyValue lists. */
function jsonValues(lists: string, key: string): Typed[] {
  if (lists === '' || !lists.includes(JSON.stringify(key))) return [];
  const out: Typed[] = [];
  for (const line of lists.split('\n')) {
    if (line === '') continue;
    for (const kv of JSON.parse(line) as { key: string; value?: Record<string, unknown> }[]) {
      if (kv.key !== key || !kv.value) continue;
      const v = kv.value;
      if (typeof v.stringValue === 'string') out.push({ t: 's', v: v.stringValue });
      else if (v.intValue !== undefined) out.push({ t: 'i', v: BigInt(v.intValue as string | number) });
      else if (v.doubleValue !== undefined) out.push({ t: 'f', v: Number(v.doubleValue) });
      else if (typeof v.boolValue === 'boolean') out.push({ t: 'b', v: v.boolValue });
    }
  }
  return out;
}

const isNumber = (x: Typed): x is Extract<Typed, { t: 'i' | 'd' | 'f' }> => x.t === 'i' || x.t === 'd' || x.t === 'f';

/** Compares two typed values as the SQL path does: numbers by value, other types only with their own type. */
export function compareTyped(op: ComparisonOp, a: Typed, b: Typed): boolean {
  if (isNumber(a) && isNumber(b)) {
    // Exact for two integers (int64 ids, nanoseconds); as doubles otherwise.
    const c = a.t !== 'f' && b.t !== 'f' ? (a.v < b.v ? -1 : a.v > b.v ? 1 : 0) : order(Number(a.v), Number(b.v));
    return ordered(op, c);
  }
  if (a.t !== b.t) return false;
  if (a.t === 's' && b.t === 's') {
    if (op === '=~') return regex(b.v).test(a.v);
    if (op === '!~') return !regex(b.v).test(a.v);
    return ordered(op, order(a.v, b.v));
  }
  // bool, status and kind: only equality.
  if (op === '=') return a.v === b.v;
  if (op === '!=') return a.v !== b.v;
  return false;
}

function order<T extends string | number>(a: T, b: T): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return NaN;
  return a < b ? -1 : a > b ? 1 : 0;
}

function ordered(op: ComparisonOp, c: number): boolean {
  if (Number.isNaN(c)) return op === '!=';
  switch (op) {
    case '=':
      return c === 0;
    case '!=':
      return c !== 0;
    case '>':
      return c > 0;
    case '>=':
      return c >= 0;
    case '<':
      return c < 0;
    case '<=':
      return c <= 0;
    default:
      return false;
  }
}

const regexCache = new Map<string, RegExp>();

/** Fully anchored, as the SQL path's RE2 match(col, '^(?:re)$'). */
function regex(pattern: string): RegExp {
  let re = regexCache.get(pattern);
  if (!re) {
    if (regexCache.size > 1000) regexCache.clear();
    re = new RegExp(`^(?:${pattern})$`, 'su');
    regexCache.set(pattern, re);
  }
  return re;
}

