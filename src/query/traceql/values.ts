import { Re2 } from '../../re2/index.js';
import type { Value } from '../../store/index.js';
import type { ComparisonOp, FieldExpr, MathOp, Static } from './ast.js';

/**
 * Values as the evaluator and the constant folder compute them: literals as
 * request values, comparisons, arithmetic and RE2 matching, the same on a
 * span's values and on a query's own constants (`{ 1 < 1h }`).
 */

/** A static as a request value (nil has none). */
export function valueOf(s: Static): Value {
  switch (s.type) {
    case 'string':
      return { type: 'string', value: s.value };
    case 'int':
      return { type: 'int', value: s.value };
    case 'float':
      return { type: 'float', value: s.value };
    case 'bool':
      return { type: 'bool', value: s.value };
    case 'duration':
      return { type: 'duration', value: s.value };
    case 'status':
      return { type: 'status', value: s.value };
    case 'kind':
      return { type: 'kind', value: s.value };
    case 'nil':
      throw new Error('nil has no value');
  }
}

export const ARITHMETIC = new Set(['+', '-', '*', '/', '%', '^']);

/** As SQL computes it: doubles; x % y with the sign of x, as ClickHouse's modulo. */
export function arithmetic(op: string, a: number, b: number): number {
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

export const isNumber = (x: Value): x is Extract<Value, { type: 'int' | 'duration' | 'float' }> => x.type === 'int' || x.type === 'duration' || x.type === 'float';

/** Compares two values as the store does: numbers by value, other types only with their own type. */
export function compareValues(op: ComparisonOp, a: Value, b: Value): boolean {
  if (isNumber(a) && isNumber(b)) {
    // Exact for two integers (int64 ids, nanoseconds); as doubles otherwise.
    const c = a.type !== 'float' && b.type !== 'float' ? (a.value < b.value ? -1 : a.value > b.value ? 1 : 0) : order(Number(a.value), Number(b.value));
    return ordered(op, c);
  }
  if (a.type !== b.type) return false;
  if (a.type === 'string' && b.type === 'string') {
    if (op === '=~') return regex(b.value).matchesWhole(a.value);
    if (op === '!~') return !regex(b.value).matchesWhole(a.value);
    return ordered(op, order(a.value, b.value));
  }
  // bool, status and kind: only equality.
  if (op === '=') return a.value === b.value;
  if (op === '!=') return a.value !== b.value;
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

const regexCache = new Map<string, Re2>();

/**
 * A TraceQL regular expression as Tempo matches it: RE2 syntax, the whole
 * value (`^(?s:re)$`, as Prometheus' matchers), `.` matching newlines; the
 * store's match(col, '^(?:re)$') is RE2 with dot_nl, the same. Time is
 * linear in the value whatever the pattern.
 * @throws Error with RE2's reason for a pattern RE2 refuses.
 */
function regex(pattern: string): Re2 {
  let re = regexCache.get(pattern);
  if (!re) {
    if (regexCache.size >= 1000) regexCache.clear();
    re = new Re2(pattern, { dotAll: true });
    regexCache.set(pattern, re);
  }
  return re;
}

/**
 * Why `pattern` cannot be a TraceQL regular expression (RE2's reason, in
 * Go's words, as Tempo reports it), or ''. The pattern compiles alone, not
 * inside the store's `^(?:...)$`, so `a)|(b` cannot unbalance the anchors.
 */
export function regexProblem(pattern: string): string {
  try {
    regex(pattern);
    return '';
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/**
 * The value of an expression that reads no span (`1 * 1h`, `"a" =~ "a"`,
 * `nil = nil`), folded as Tempo evaluates it; null when it reads the span.
 * Ints, floats and durations mix by value: a duration with anything numeric
 * is a duration (nanoseconds), a float with an int a float.
 */
export function foldStatic(e: FieldExpr): Static | null {
  switch (e.kind) {
    case 'static':
      return e;
    case 'attribute':
    case 'intrinsic':
      return null;
    case 'unary': {
      const v = foldStatic(e.operand);
      if (!v) return null;
      if (e.op === '!') return v.type === 'bool' ? { kind: 'static', type: 'bool', value: !v.value, pos: e.pos } : null;
      if (v.type === 'int' || v.type === 'duration') return { ...v, value: -v.value, pos: e.pos };
      if (v.type === 'float') return { ...v, value: -v.value, pos: e.pos };
      return null;
    }
    case 'binary': {
      const l = foldStatic(e.left);
      const r = foldStatic(e.right);
      if (!l || !r) return null;
      const bool = (value: boolean): Static => ({ kind: 'static', type: 'bool', value, pos: e.pos });
      switch (e.op) {
        case '&&':
        case '||':
          if (l.type !== 'bool' || r.type !== 'bool') return null;
          return bool(e.op === '&&' ? l.value && r.value : l.value || r.value);
        case '=':
        case '!=':
          if (l.type === 'nil' || r.type === 'nil') return bool((l.type === 'nil' && r.type === 'nil') === (e.op === '='));
          return bool(compareValues(e.op, valueOf(l), valueOf(r)));
        case '>':
        case '>=':
        case '<':
        case '<=':
        case '=~':
        case '!~':
          if (l.type === 'nil' || r.type === 'nil') return bool(false);
          return bool(compareValues(e.op, valueOf(l), valueOf(r)));
        default:
          return foldArithmetic(e.op, l, r, e);
      }
    }
  }
}

function foldArithmetic(op: string, l: Static, r: Static, at: FieldExpr): Static | null {
  const num = (s: Static): number | null => (s.type === 'int' || s.type === 'duration' ? Number(s.value) : s.type === 'float' ? s.value : null);
  const a = num(l);
  const b = num(r);
  if (a === null || b === null) return null;
  const pos = at.pos;
  // Exact for two integers where the operator keeps them whole.
  if (l.type !== 'float' && r.type !== 'float' && (op === '+' || op === '-' || op === '*' || op === '%')) {
    const x = (l as { value: bigint }).value;
    const y = (r as { value: bigint }).value;
    if (op === '%' && y === 0n) return { kind: 'static', type: 'float', value: NaN, pos };
    const v = op === '+' ? x + y : op === '-' ? x - y : op === '*' ? x * y : x % y;
    return { kind: 'static', type: l.type === 'duration' || r.type === 'duration' ? 'duration' : 'int', value: v, pos };
  }
  const v = arithmetic(op, a, b);
  if ((l.type === 'duration' || r.type === 'duration') && Number.isFinite(v)) return { kind: 'static', type: 'duration', value: BigInt(Math.trunc(v)), pos };
  return { kind: 'static', type: 'float', value: v, pos };
}

/** Constant arithmetic, folded as Tempo folds it (a division by zero is NaN, as in its metrics math). */
export function foldMath(op: MathOp, a: number, b: number): number {
  switch (op) {
    case '+':
      return a + b;
    case '-':
      return a - b;
    case '*':
      return a * b;
    case '/':
      return b === 0 ? NaN : a / b;
  }
}

