import { INTRINSICS, type FieldExpr, type Pos, type Query, type SpansetExpr, type Stage } from './ast.js';
import { TraceQLValidationError } from './errors.js';
import { regexProblem } from './residual.js';

/**
 * Type-checks a parsed query: operands of each operator, what may stand in
 * a filter, and the order of pipeline stages. Attributes have no static
 * type (they are typed per span), so they are compatible with anything.
 */

type Type = 'string' | 'int' | 'float' | 'bool' | 'duration' | 'status' | 'kind' | 'nil' | 'attribute';

const NUMERIC = new Set<Type>(['int', 'float', 'duration', 'attribute']);

function fail(msg: string, pos: Pos): never {
  throw new TraceQLValidationError(msg, pos);
}

export function typeOf(e: FieldExpr): Type {
  switch (e.kind) {
    case 'static':
      return e.type;
    case 'attribute':
      return 'attribute';
    case 'intrinsic':
      return INTRINSICS[e.name] as Type;
    case 'unary': {
      const t = typeOf(e.operand);
      if (e.op === '!') {
        if (t !== 'bool' && t !== 'attribute') fail(`'!' needs a boolean, not a ${t}`, e.pos);
        return 'bool';
      }
      if (!NUMERIC.has(t)) fail(`'-' needs a number or duration, not a ${t}`, e.pos);
      return t;
    }
    case 'binary': {
      const l = typeOf(e.left);
      const r = typeOf(e.right);
      switch (e.op) {
        case '&&':
        case '||':
          for (const [t, side] of [[l, e.left], [r, e.right]] as const)
            if (t !== 'bool' && t !== 'attribute') fail(`'${e.op}' needs boolean operands, not a ${t}`, side.pos);
          return 'bool';
        case '=~':
        case '!~':
          if (l !== 'string' && l !== 'attribute') fail(`'${e.op}' matches strings, not a ${l}`, e.left.pos);
          if (e.right.kind !== 'static' || e.right.type !== 'string') fail(`'${e.op}' needs a string regular expression on its right`, e.right.pos);
          {
            // Compiled as the evaluator will match it, so whatever passes here
            // also runs there (and in the store, whose match() is RE2 too).
            const problem = regexProblem(e.right.value);
            if (problem) fail(`invalid regular expression ${JSON.stringify(e.right.value)}: ${problem}`, e.right.pos);
          }
          return 'bool';
        case '=':
        case '!=':
          if (!comparable(l, r)) fail(`cannot compare a ${l} with a ${r}`, e.pos);
          return 'bool';
        case '>':
        case '>=':
        case '<':
        case '<=':
          if (!comparable(l, r)) fail(`cannot compare a ${l} with a ${r}`, e.pos);
          for (const t of [l, r]) if (t === 'bool' || t === 'status' || t === 'kind' || t === 'nil') fail(`'${e.op}' does not order a ${t}`, e.pos);
          return 'bool';
        default: {
          // Arithmetic.
          for (const [t, side] of [[l, e.left], [r, e.right]] as const)
            if (!NUMERIC.has(t)) fail(`'${e.op}' needs numbers or durations, not a ${t}`, side.pos);
          if (l === 'duration' || r === 'duration') return 'duration';
          if (l === 'float' || r === 'float') return 'float';
          return l === 'attribute' || r === 'attribute' ? 'attribute' : 'int';
        }
      }
    }
  }
}

function comparable(a: Type, b: Type): boolean {
  if (a === 'attribute' || b === 'attribute') return true;
  if (a === 'nil' || b === 'nil') return false;
  if (a === b) return true;
  const numbers = new Set<Type>(['int', 'float']);
  return numbers.has(a) && numbers.has(b);
}

function filterExpr(e: FieldExpr): void {
  const t = typeOf(e);
  if (t !== 'bool' && t !== 'attribute') fail(`a spanset filter needs a condition, not a ${t}`, e.pos);
}

function spanset(e: SpansetExpr): void {
  if (e.kind === 'filter') {
    if (e.expr) filterExpr(e.expr);
    return;
  }
  spanset(e.left);
  spanset(e.right);
}

function fieldRef(e: FieldExpr, where: string): void {
  if (e.kind !== 'attribute' && e.kind !== 'intrinsic') fail(`${where} takes attributes and intrinsics`, e.pos);
}

/**
 * Fields one query may group by or select, over all its by() and select()
 * stages. Each becomes a column the store reads per span; 200 made SQL past
 * the engine's 256 KiB statement limit (a 500, found by test/fuzz.test.ts),
 * and 150 took 3 s to answer over a few hundred spans.
 */
export const MAX_GROUPING_FIELDS = 50;

export function validate(q: Query): Query {
  const [first, ...rest] = q.pipeline;
  if (first.kind !== 'filter' && first.kind !== 'spansetOp') fail('a query starts with a spanset such as { }', first.pos);
  spanset(first);
  let metricsSeen = false;
  for (const s of rest) stage(s, metricsSeen) && (metricsSeen = true);
  let grouping = 0;
  for (const s of rest) {
    const fields = s.kind === 'by' || s.kind === 'select' ? s.fields : s.kind === 'metrics' ? s.by : [];
    for (const f of fields) if (++grouping > MAX_GROUPING_FIELDS) fail(`a query may group by or select at most ${MAX_GROUPING_FIELDS} fields in all`, f.pos);
  }
  return q;
}

/** Returns true for a metrics stage. */
function stage(s: Stage, afterMetrics: boolean): boolean {
  if (afterMetrics && s.kind !== 'topk' && s.kind !== 'bottomk') fail('nothing but topk or bottomk may follow a metrics function', s.pos);
  switch (s.kind) {
    case 'filter':
    case 'spansetOp':
      spanset(s);
      return false;
    case 'by':
    case 'select':
      for (const f of s.fields) fieldRef(f, `${s.kind}()`);
      return false;
    case 'coalesce':
      return false;
    case 'scalarFilter': {
      for (const side of [s.left, s.right]) {
        if (side.kind === 'aggregate' && side.field) {
          const t = typeOf(side.field);
          if (!NUMERIC.has(t)) fail(`${side.fn}() needs a number or duration, not a ${t}`, side.field.pos);
        }
      }
      if (s.left.kind !== 'aggregate' && s.right.kind !== 'aggregate') fail('a pipeline comparison needs an aggregate such as count()', s.pos);
      return false;
    }
    case 'metrics': {
      const needsField = s.fn !== 'rate' && s.fn !== 'count_over_time';
      if (needsField && !s.field) fail(`${s.fn}() needs a field, as in ${s.fn}(duration)`, s.pos);
      if (!needsField && s.field) fail(`${s.fn}() takes no arguments`, s.field.pos);
      if (s.field) {
        fieldRef(s.field, `${s.fn}()`);
        const t = typeOf(s.field);
        if (!NUMERIC.has(t)) fail(`${s.fn}() needs a number or duration, not a ${t}`, s.field.pos);
      }
      if (s.fn === 'quantile_over_time') {
        if (s.quantiles.length === 0) fail('quantile_over_time() needs at least one quantile, as in quantile_over_time(duration, .99)', s.pos);
        for (const q of s.quantiles) if (!(q >= 0 && q <= 1)) fail(`quantile ${q} is not between 0 and 1`, s.pos);
      } else if (s.quantiles.length > 0) fail(`${s.fn}() takes one field`, s.pos);
      for (const f of s.by) fieldRef(f, 'by()');
      return true;
    }
    case 'topk':
    case 'bottomk':
      if (!afterMetrics) fail(`${s.kind}() follows a metrics function`, s.pos);
      return true;
    case 'compare':
      spanset(s.selection);
      return true;
  }
}
