import { INTRINSICS, type FieldExpr, type MathExpr, type Pos, type Query, type Root, type ScalarExpr, type SpansetExpr, type Stage } from './ast.js';
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
          if (e.op === '=' && (l === 'nil' || r === 'nil')) {
            // As Tempo: `= nil` asks whether an attribute is absent, which
            // an intrinsic and resource.service.name never are.
            const other = l === 'nil' ? e.right : e.left;
            if (other.kind === 'intrinsic') fail(`${other.name} = nil is not valid because intrinsics cannot be nil`, e.pos);
            if (other.kind === 'attribute' && other.scope === 'resource' && other.name === 'service.name' && !other.parent)
              fail('resource.service.name = nil is not valid because resource.service.name cannot be nil', e.pos);
          }
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

/**
 * Types `=` and the orderings accept together. As in Tempo, ints, floats
 * and durations all compare by value (`{ 1 < 1h }` compares 1 with 3.6e12
 * nanoseconds), and nil compares with anything by `=` and `!=`.
 */
function comparable(a: Type, b: Type): boolean {
  if (a === 'attribute' || b === 'attribute') return true;
  if (a === 'nil' || b === 'nil') return true;
  if (a === b) return true;
  const numbers = new Set<Type>(['int', 'float', 'duration']);
  return numbers.has(a) && numbers.has(b);
}

/** Whether an expression reads the span: an attribute or an intrinsic somewhere in it. */
export function referencesSpan(e: FieldExpr): boolean {
  switch (e.kind) {
    case 'attribute':
    case 'intrinsic':
      return true;
    case 'static':
      return false;
    case 'unary':
      return referencesSpan(e.operand);
    case 'binary':
      return referencesSpan(e.left) || referencesSpan(e.right);
  }
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
  if (e.kind === 'spansetPipeline') {
    pipeline(e.pipeline, false);
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

/** Checks a parsed query; returns it, or throws TraceQLValidationError (400) with a position. */
export function validate<T extends Root>(q: T): T {
  if (q.kind === 'math') {
    math(q.expr);
    for (const s of q.after) if (s.kind === 'topk' || s.kind === 'bottomk') topkCount(s.n, s.kind, s.pos);
  } else pipeline(q.pipeline, true);
  return q;
}

function math(e: MathExpr): void {
  if (e.kind === 'mathBinary') {
    math(e.left);
    math(e.right);
  } else if (e.kind === 'mathQuery') {
    const compare = e.query.pipeline.find((s) => s.kind === 'compare');
    if (compare) fail('compare() cannot be used in arithmetic', compare.pos);
    pipeline(e.query.pipeline, true);
  }
}

function topkCount(n: number, kind: string, pos: Pos): void {
  if (!(n >= 1)) fail(`${kind}() needs a positive count`, pos);
}

/** A pipeline's stages in order; `metricsAllowed` is false inside a spanset operand. */
function pipeline(stages: Stage[], metricsAllowed: boolean): void {
  const [first, ...rest] = stages;
  if (first.kind === 'filter' || first.kind === 'spansetOp' || first.kind === 'spansetPipeline') spanset(first);
  else if (first.kind === 'scalarFilter' || first.kind === 'by' || first.kind === 'select') stage(first, null);
  else fail('a query starts with a spanset such as { }, or with a scalar filter, by() or select()', first.pos);
  let metrics: Stage | null = null;
  for (const s of rest) {
    stage(s, metrics);
    if (s.kind === 'metrics' || s.kind === 'compare') {
      if (!metricsAllowed) fail('a metrics function cannot be a spanset operand', s.pos);
      metrics = s;
    }
  }
  let grouping = 0;
  for (const s of stages) {
    const fields = s.kind === 'by' || s.kind === 'select' ? s.fields : s.kind === 'metrics' ? s.by : [];
    for (const f of fields) if (++grouping > MAX_GROUPING_FIELDS) fail(`a query may group by or select at most ${MAX_GROUPING_FIELDS} fields in all`, f.pos);
  }
}

/** One stage, given the metrics function before it (null for none). */
function stage(s: Stage, metrics: Stage | null): void {
  if (metrics) {
    if (metrics.kind === 'compare') fail('compare() cannot be followed by topk(), bottomk() or a filter', s.pos);
    if (s.kind !== 'topk' && s.kind !== 'bottomk' && s.kind !== 'metricsFilter') fail('nothing but topk(), bottomk() or a filter may follow a metrics function', s.pos);
  }
  switch (s.kind) {
    case 'filter':
    case 'spansetOp':
    case 'spansetPipeline':
      spanset(s);
      return;
    case 'by':
      for (const f of s.fields) {
        typeOf(f);
        if (!referencesSpan(f)) fail('by() groups by an expression that reads the span, as in by(resource.service.name) or by(.a + 1)', f.pos);
      }
      return;
    case 'select':
      for (const f of s.fields) fieldRef(f, 'select()');
      return;
    case 'coalesce':
      return;
    case 'scalarFilter': {
      if (s.op === '=~' || s.op === '!~') fail(`'${s.op}' compares strings, not aggregates`, s.pos);
      if (!hasAggregate(s.left) && !hasAggregate(s.right)) fail('a pipeline comparison needs an aggregate such as count()', s.pos);
      scalar(s.left);
      scalar(s.right);
      return;
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
      return;
    }
    case 'topk':
    case 'bottomk':
      if (!metrics) fail(`${s.kind}() follows a metrics function`, s.pos);
      topkCount(s.n, s.kind, s.pos);
      return;
    case 'metricsFilter':
      if (!metrics) fail('a filter on values follows a metrics function', s.pos);
      return;
    case 'compare':
      spanset(s.selection);
      return;
  }
}

function hasAggregate(e: ScalarExpr): boolean {
  switch (e.kind) {
    case 'aggregate':
      return true;
    case 'static':
      return false;
    case 'scalarNegate':
      return hasAggregate(e.operand);
    case 'scalarBinary':
      return hasAggregate(e.left) || hasAggregate(e.right);
  }
}

/** Aggregates read numbers from the span; statics are ints, floats and durations (the parser takes no others). */
function scalar(e: ScalarExpr): void {
  switch (e.kind) {
    case 'aggregate':
      if (e.field) {
        const t = typeOf(e.field);
        if (!NUMERIC.has(t)) fail(`${e.fn}() needs a number or duration, not a ${t}`, e.field.pos);
        if (!referencesSpan(e.field)) fail(`${e.fn}() aggregates an expression that reads the span, as in ${e.fn}(duration)`, e.field.pos);
      }
      return;
    case 'static':
      return;
    case 'scalarNegate':
      scalar(e.operand);
      return;
    case 'scalarBinary':
      scalar(e.left);
      scalar(e.right);
      return;
  }
}
