import type { Condition, Field, Value } from '../../store/index.js';
import type { ComparisonOp, FieldExpr } from './ast.js';
import { TraceQLUnsupportedError, TraceQLValidationError, unlessUnsupported } from './errors.js';
import { FLIPPED, isComparison, toCondition, toField } from './request.js';
import { ARITHMETIC, arithmetic, compareValues, isNumber, regexProblem, valueOf } from './values.js';

export { compareValues, regexProblem };
import { printField } from './printer.js';

/**
 * A spanset filter's condition, split between the store and the evaluator.
 *
 * What the store can decide on a span is fetched as a flag. What it cannot
 * (`parent.` attributes, two non-numeric fields compared with each other,
 * ordering and regular expressions on the JSON-stored event., link. and
 * instrumentation. attributes) is decided here, in process, over values
 * fetched with the trace's spans. `superset` is a condition true on every
 * span that may match, so candidate selection never loses a trace.
 */
export interface SpanPredicate {
  /** Whether span `i` of a trace matches. */
  test(i: number, trace: TraceValues): boolean;
  /** Holds on every span the predicate can match. */
  superset: Condition;
  /**
   * Conditions some span of the trace meets whenever a span matches (a
   * matching span's parent, for `parent.` attributes); candidate selection
   * requires each.
   */
  inTrace: Condition[];
}

/** A trace's spans as the evaluator fetched them. */
export interface TraceValues {
  flags(i: number): boolean[];
  values(i: number): Value[][];
  /** Index of the parent span, -1 for a root or a missing parent. */
  parent(i: number): number;
  /** Trace-level intrinsics, from the trace's spans. */
  trace(): { durationNs: bigint; rootName: string | null; rootService: string | null };
  /** The span's place in the trace: nested set numbers and children, computed from the trace's spans. */
  structure(i: number): SpanStructure;
}

/** Tempo's nested set model of a trace (see INTRINSICS in ast.ts), and each span's children. */
export interface SpanStructure {
  nestedSetLeft: number;
  nestedSetRight: number;
  nestedSetParent: number;
  childCount: number;
}

/** The intrinsics a trace's structure answers, by TraceQL name. */
export const STRUCTURE_INTRINSICS: Partial<Record<string, keyof SpanStructure>> = {
  nestedSetLeft: 'nestedSetLeft',
  nestedSetRight: 'nestedSetRight',
  nestedSetParent: 'nestedSetParent',
  'span:childCount': 'childCount',
};

/** Collects what is fetched per span; returns its index. */
export interface ValueRegistry {
  flag(condition: Condition): number;
  values(field: Field): number;
}

const ALL: Condition = { op: 'const', value: true };

export function compilePredicate(e: FieldExpr | null, reg: ValueRegistry): SpanPredicate {
  if (!e) return { test: () => true, superset: ALL, inTrace: [] };
  return predicate(e, reg);
}

function predicate(e: FieldExpr, reg: ValueRegistry): SpanPredicate {
  // Whatever the store decides exactly is one fetched flag.
  const exact = unlessUnsupported(() => toCondition(e));
  if (exact) {
    const k = reg.flag(exact);
    return { test: (i, t) => t.flags(i)[k], superset: exact, inTrace: [] };
  }
  if (e.kind === 'binary' && (e.op === '&&' || e.op === '||')) {
    const l = predicate(e.left, reg);
    const r = predicate(e.right, reg);
    return e.op === '&&'
      ? { test: (i, t) => l.test(i, t) && r.test(i, t), superset: { op: 'and', terms: [l.superset, r.superset] }, inTrace: [...l.inTrace, ...r.inTrace] }
      : { test: (i, t) => l.test(i, t) || r.test(i, t), superset: { op: 'or', terms: [l.superset, r.superset] }, inTrace: [] };
  }
  if (e.kind === 'unary' && e.op === '!') {
    const inner = predicate(e.operand, reg);
    // The negation of a superset is no superset; any span may match.
    return { test: (i, t) => !inner.test(i, t), superset: ALL, inTrace: [] };
  }
  if (e.kind === 'attribute') return comparison('=', e, { kind: 'static', type: 'bool', value: true, pos: e.pos }, reg);
  if (e.kind === 'binary' && isComparison(e.op)) return comparison(e.op, e.left, e.right, reg);
  // Let the request translation report what is wrong with it.
  toCondition(e);
  throw new TraceQLUnsupportedError(`${printField(e)} as a condition`, e.pos);
}

/** Reads a field's values on span i: none when absent, several for event. and link. fields. */
type Reader = (i: number, t: TraceValues) => Value[];

function comparison(op: ComparisonOp, left: FieldExpr, right: FieldExpr, reg: ValueRegistry): SpanPredicate {
  if (left.kind === 'static' && right.kind === 'static') throw new TraceQLValidationError('a comparison needs a field', left.pos);
  // Field on the left; a regular expression keeps its sides (the pattern is on the right).
  if (left.kind === 'static' && op !== '=~' && op !== '!~') return comparison(FLIPPED[op], right, left, reg);
  const isNil = right.kind === 'static' && right.type === 'nil';
  if (isNil && op !== '=' && op !== '!=') throw new TraceQLValidationError(`nil takes only = and !=`, right.pos);
  if ((op === '=~' || op === '!~') && right.kind === 'static' && right.type === 'string') {
    const problem = regexProblem(right.value);
    if (problem) throw new TraceQLValidationError(`invalid regular expression ${JSON.stringify(right.value)}: ${problem}`, right.pos);
  }
  // `parent.x op value`: the same comparison, decided on the parent span;
  // the trace must then hold a span where it holds.
  if (left.kind === 'attribute' && left.parent && right.kind === 'static' && !(isNil && op === '=')) {
    const own = predicate({ kind: 'binary', op, left: { ...left, parent: false }, right, pos: left.pos }, reg);
    return {
      test: (i, t) => {
        const p = t.parent(i);
        return p >= 0 && own.test(p, t);
      },
      superset: ALL,
      inTrace: [own.superset, ...own.inTrace],
    };
  }
  if (isNil) {
    const read = reader(left, reg);
    return { test: (i, t) => (read(i, t).length === 0) === (op === '='), superset: ALL, inTrace: [] };
  }
  const l = reader(left, reg);
  const r = reader(right, reg);
  // A comparison needs both values: the span has the attributes it reads.
  const present: Condition[] = [left, right].filter((f) => f.kind === 'attribute' && !f.parent).map((f) => ({ op: 'exists', field: toField(f) }));
  return {
    test: (i, t) => {
      const rs = r(i, t);
      return rs.length > 0 && l(i, t).some((a) => rs.some((b) => compareValues(op, a, b)));
    },
    superset: present.length === 0 ? ALL : { op: 'and', terms: present },
    inTrace: [],
  };
}

function reader(e: FieldExpr, reg: ValueRegistry): Reader {
  if (e.kind === 'static') {
    const v = valueOf(e);
    return () => [v];
  }
  if (e.kind === 'attribute' && e.parent) {
    const own = reader({ ...e, parent: false }, reg);
    return (i, t) => {
      const p = t.parent(i);
      return p < 0 ? [] : own(p, t);
    };
  }
  if (e.kind === 'intrinsic') {
    const structural = STRUCTURE_INTRINSICS[e.name];
    if (structural) return (i, t) => [{ type: 'int', value: BigInt(t.structure(i)[structural]) }];
    switch (e.name) {
      case 'traceDuration':
      case 'trace:duration':
        return (_i, t) => [{ type: 'duration', value: t.trace().durationNs }];
      case 'rootName':
      case 'trace:rootName':
        return (_i, t) => optional(t.trace().rootName);
      case 'rootServiceName':
      case 'trace:rootService':
        return (_i, t) => optional(t.trace().rootService);
    }
  }
  if (e.kind === 'binary' && ARITHMETIC.has(e.op)) {
    const l = reader(e.left, reg);
    const r = reader(e.right, reg);
    const op = e.op;
    return (i, t) => {
      const out: Value[] = [];
      for (const a of l(i, t)) if (isNumber(a)) for (const b of r(i, t)) if (isNumber(b)) out.push({ type: 'float', value: arithmetic(op, Number(a.value), Number(b.value)) });
      return out;
    };
  }
  if (e.kind === 'unary' && e.op === '-') {
    const inner = reader(e.operand, reg);
    return (i, t) => inner(i, t).flatMap((a): Value[] => (isNumber(a) ? [{ type: 'float', value: -Number(a.value) }] : []));
  }
  if (e.kind === 'attribute' || e.kind === 'intrinsic') {
    const k = reg.values(toField(e));
    return (i, t) => t.values(i)[k];
  }
  throw new TraceQLUnsupportedError(`${printField(e)} in a comparison the evaluator finishes`, e.pos);
}

const optional = (v: string | null): Value[] => (v === null ? [] : [{ type: 'string', value: v }]);

