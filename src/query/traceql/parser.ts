import {
  INTRINSICS,
  type ArithmeticOp,
  type Hint,
  type MathExpr,
  type MathOp,
  type MetricsFilterStage,
  type Root,
  type ScalarExpr,
  type TopkStage,
  KIND_VALUES,
  METRIC_FUNCTIONS,
  STATUS_VALUES,
  type Aggregate,
  type AggregateName,
  type ComparisonOp,
  type FieldExpr,
  type IntrinsicName,
  type KindValue,
  type MetricFunction,
  type Pos,
  type Query,
  type SpansetExpr,
  type SpansetFilter,
  type SpansetOp,
  type Stage,
  type Static,
  type StatusValue,
} from './ast.js';
import { TraceQLParseError } from './errors.js';
import { durationValue, isDigits, positionOf, tokenize, type Token } from './lexer.js';
import { foldMath } from './values.js';

/**
 * Bounds on one query, checked while parsing, so that a query is refused
 * with a 400 before it can exhaust the stack or the CPU of anything that
 * walks it later.
 */
export interface ParseLimits {
  /** Most UTF-8 bytes of query text: Tempo's default max_query_expression_size_bytes, 128 KiB. */
  maxBytes: number;
  /**
   * Deepest nesting of the tree, each parenthesis, operator and unary
   * operator counting one level (a chain of n `||` is n levels, as the
   * tree it builds is), and most pipeline stages. The validator, the
   * planner and the evaluator walk the tree recursively, and the SQL the
   * store builds nests as the tree does: ClickHouse refuses SQL nested
   * past its max_parser_depth and max_ast_depth (1000), which is about
   * 200 parentheses, so the default stays well below that.
   */
  maxDepth: number;
}

export const PARSE_LIMITS: Readonly<ParseLimits> = { maxBytes: 128 * 1024, maxDepth: 100 };

/**
 * Parses TraceQL into a {@link Root}: a query, or arithmetic over metrics
 * queries. A syntax error, or a query past `limits`, throws
 * TraceQLParseError with the line and column.
 */
export function parse(text: string, limits: Readonly<ParseLimits> = PARSE_LIMITS): Root {
  checkLength(text, limits.maxBytes);
  return new Parser(tokenize(text), limits.maxDepth).root();
}

/** Refuses text over `maxBytes` UTF-8 bytes, at the character that crosses the bound. */
function checkLength(text: string, maxBytes: number): void {
  // A UTF-16 unit is at most 3 UTF-8 bytes (a surrogate pair, 4 for 2).
  if (text.length * 3 <= maxBytes) return;
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const pair = c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
    bytes += c < 0x80 ? 1 : c < 0x800 ? 2 : pair ? 4 : 3;
    if (bytes > maxBytes) throw new TraceQLParseError(`the query is longer than ${maxBytes} bytes`, positionOf(text, i));
    if (pair) i++;
  }
}

const STRUCTURAL = new Set(['>', '>>', '<', '<<', '~', '!>', '!>>', '!<', '!<<', '!~', '&>', '&>>', '&<', '&<<', '&~']);
const COMPARISON = new Set(['=', '!=', '>', '>=', '<', '<=', '=~', '!~']);
const AGGREGATES = new Set(['count', 'avg', 'min', 'max', 'sum']);
/** Comparisons a metrics filter takes (`rate() > 10`); a regular expression has nothing to match there. */
const METRICS_COMPARISON = new Set(['=', '!=', '>', '>=', '<', '<=']);

/** Binding power of binary field operators: higher binds tighter. */
const FIELD_BP: Record<string, [number, number]> = {
  '||': [1, 2],
  '&&': [3, 4],
  '=': [5, 6], '!=': [5, 6], '>': [5, 6], '>=': [5, 6], '<': [5, 6], '<=': [5, 6], '=~': [5, 6], '!~': [5, 6],
  '+': [7, 8], '-': [7, 8],
  '*': [9, 10], '/': [9, 10], '%': [9, 10],
  '^': [12, 11], // right-associative
};
const UNARY_BP = 13;

class Parser {
  private i = 0;
  /** Nested calls of fieldExpr() and parenthesised spansets now running: the parser's own recursion. */
  private depth = 0;
  /** Heights of the nodes built so far that have children (a leaf is 1). */
  private readonly heights = new WeakMap<object, number>();

  constructor(
    private readonly tokens: Token[],
    private readonly maxDepth: number,
  ) {}

  /** Enters a level of the parser's recursion; refuses at `at` past maxDepth, before the stack can run out. */
  private enter(at: Token): void {
    if (++this.depth > this.maxDepth) this.tooDeep(at);
  }

  private leave(): void {
    this.depth--;
  }

  /** `node`, with its height recorded: one more than its highest child's. */
  private built<T extends object>(node: T, children: object[], at: Token): T {
    let h = 0;
    for (const c of children) h = Math.max(h, this.heights.get(c) ?? 1);
    if (h + 1 > this.maxDepth) this.tooDeep(at);
    this.heights.set(node, h + 1);
    return node;
  }

  private tooDeep(at: Token): never {
    return this.fail(`the query nests more than ${this.maxDepth} levels deep (each parenthesis, operator and operand counts one)`, at.pos);
  }

  private peek(k = 0): Token {
    return this.tokens[Math.min(this.i + k, this.tokens.length - 1)];
  }

  private next(): Token {
    const t = this.tokens[this.i];
    if (this.i < this.tokens.length - 1) this.i++;
    return t;
  }

  private is(type: Token['type'], text?: string): boolean {
    const t = this.peek();
    return t.type === type && (text === undefined || t.text === text);
  }

  private expect(type: Token['type'], text: string, what = `'${text}'`): Token {
    const t = this.peek();
    if (t.type !== type || t.text !== text) this.fail(`expected ${what}, found ${describe(t)}`, t.pos);
    return this.next();
  }

  private fail(msg: string, pos: Pos): never {
    throw new TraceQLParseError(msg, pos);
  }

  /**
   * The whole text. A query that starts with `(`, a number or `-` may be
   * arithmetic over metrics queries; anything else is a pipeline.
   */
  root(): Root {
    const pos = this.peek().pos;
    let root: Root;
    if (this.is('punct', '(') || this.is('number') || this.is('op', '-')) root = this.finishTop(this.mathAdd(), pos);
    else root = this.pipeline(pos);
    root.hints = this.hints();
    if (!this.is('eof')) this.fail(`unexpected ${describe(this.peek())}`, this.peek().pos);
    return root;
  }

  /**
   * What a parenthesised or arithmetic start turned out to be, once it is
   * complete: a spanset operand goes on as a spanset expression and
   * pipeline; a metrics query, arithmetic or a number go on with a filter
   * and topk/bottomk stages. A lone metrics query (`({ } | rate()) > 1`) is
   * the same query with its stages appended, so it prints and runs as one.
   */
  private finishTop(x: Operand, pos: Pos): Root {
    if (x.kind === 'spanset') {
      const y = this.spansetContinue(x.expr, pos);
      if (y.kind === 'spanset') return { kind: 'query', pipeline: [y.expr], hints: [], pos };
      x = y;
    }
    const after = this.metricsTail();
    if (x.kind === 'metrics') {
      // One query with its stages appended, unless it was already a
      // math leaf's own stages (same thing: stages apply in order).
      x.query.pipeline.push(...after);
      return x.query;
    }
    if (x.kind === 'number') return this.fail('arithmetic needs a metrics query in parentheses, as in ({ } | rate()) * 100', x.pos);
    return { kind: 'math', expr: x.expr, after, hints: [], pos };
  }

  /** After a metrics query or arithmetic: an optional filter, then `| topk(n)` / `| bottomk(n)`, each with an optional filter. */
  private metricsTail(): (TopkStage | MetricsFilterStage)[] {
    const out: (TopkStage | MetricsFilterStage)[] = [];
    const filter = this.metricsFilter();
    if (filter) out.push(filter);
    while (this.is('punct', '|')) {
      const bar = this.next();
      const t = this.peek();
      if (!(t.type === 'ident' && (t.text === 'topk' || t.text === 'bottomk'))) this.fail(`only topk() or bottomk() may follow a metrics query, found ${describe(t)}`, t.pos);
      if (out.length >= this.maxDepth) this.fail(`the pipeline has more than ${this.maxDepth} stages`, bar.pos);
      out.push(this.topk());
      const f = this.metricsFilter();
      if (f) out.push(f);
    }
    return out;
  }

  /** `> 10`, `<= -0.5`, `>= 100 * 3` after a metrics function or topk/bottomk; null when no comparison follows. */
  private metricsFilter(): MetricsFilterStage | null {
    const t = this.peek();
    if (t.type !== 'op' || !METRICS_COMPARISON.has(t.text)) return null;
    this.next();
    const value = this.mathAdd();
    if (value.kind !== 'number') this.fail('a metrics filter compares with a number, as in rate() > 10', value.pos);
    return { kind: 'metricsFilter', op: t.text as MetricsFilterStage['op'], value: value.value, pos: t.pos };
  }

  // ---- metrics arithmetic -------------------------------------------------------

  private mathAdd(): Operand {
    let left = this.mathMul();
    while (this.is('op', '+') || this.is('op', '-')) {
      const op = this.next();
      left = this.arithmetic(op, left, this.mathMul());
    }
    return left;
  }

  private mathMul(): Operand {
    let left = this.mathAtom();
    while (this.is('op', '*') || this.is('op', '/')) {
      const op = this.next();
      left = this.arithmetic(op, left, this.mathAtom());
    }
    return left;
  }

  /** Two operands of + - * /: numbers fold into one; metrics queries and arithmetic make a tree; spansets cannot take part. */
  private arithmetic(op: Token, left: Operand, right: Operand): Operand {
    for (const side of [left, right])
      if (side.kind === 'spanset') this.fail(`'${op.text}' needs metrics queries or numbers, as in ({ } | rate()) * 100, not a spanset`, op.pos);
    if (left.kind === 'number' && right.kind === 'number') return { kind: 'number', value: foldMath(op.text as MathOp, left.value, right.value), pos: left.pos };
    const l = mathOf(left as Exclude<Operand, { kind: 'spanset' }>);
    const r = mathOf(right as Exclude<Operand, { kind: 'spanset' }>);
    return { kind: 'math', expr: this.built({ kind: 'mathBinary', op: op.text as MathOp, left: l, right: r, pos: op.pos }, [l, r], op), pos: left.pos };
  }

  private mathAtom(): Operand {
    const t = this.peek();
    if (t.type === 'op' && t.text === '-') {
      this.next();
      const n = this.next();
      if (n.type !== 'number') this.fail(`expected a number after '-', found ${describe(n)}`, n.pos);
      return { kind: 'number', value: -Number(n.text), pos: t.pos };
    }
    if (t.type === 'number') {
      this.next();
      return { kind: 'number', value: Number(t.text), pos: t.pos };
    }
    if (t.type === 'punct' && t.text === '(') {
      this.next();
      this.enter(t);
      const inner = this.parenInner(t.pos);
      this.expect('punct', ')');
      this.leave();
      return inner;
    }
    return this.fail(`expected '(', a number or a spanset, found ${describe(t)}`, t.pos);
  }

  /** What stands inside parentheses: arithmetic, a metrics query, a spanset expression or a pipeline. */
  private parenInner(pos: Pos): Operand {
    if (this.is('punct', '(') || this.is('number') || this.is('op', '-')) {
      const x = this.mathAdd();
      if (x.kind === 'spanset') return this.spansetContinue(x.expr, pos);
      if (x.kind === 'number') return x;
      const after = this.metricsTail();
      if (x.kind === 'metrics') {
        x.query.pipeline.push(...after);
        return x;
      }
      if (after.length === 0) return x;
      // Stages over arithmetic inside parentheses: a math query of its own.
      return this.fail('topk(), bottomk() and filters over arithmetic go outside its parentheses', after[0].pos);
    }
    const q = this.pipeline(pos);
    return this.operandOf(q);
  }

  /** A parsed pipeline as an operand: a metrics query, or a spanset (a pipeline of several stages in its own node). */
  private operandOf(q: Query): Operand {
    if (q.pipeline.some((s) => s.kind === 'metrics' || s.kind === 'compare')) return { kind: 'metrics', query: q, pos: q.pos };
    if (q.pipeline.length === 1 && isSpansetExpr(q.pipeline[0])) return { kind: 'spanset', expr: q.pipeline[0], pos: q.pos };
    return { kind: 'spanset', expr: this.built({ kind: 'spansetPipeline', pipeline: q.pipeline, pos: q.pos }, q.pipeline, this.peek()), pos: q.pos };
  }

  /** A spanset operand already parsed, followed by spanset operators and pipeline stages. */
  private spansetContinue(first: SpansetExpr, pos: Pos): Operand {
    const expr = this.spansetExprFrom(first);
    return this.operandOf(this.pipelineFrom(expr, pos));
  }

  // ---- pipelines -------------------------------------------------------------

  /**
   * A spanset expression, or a scalar filter, by() or select() over every
   * span of a trace, then `| stage`s; a metrics function may end it, with
   * its filter and topk/bottomk stages.
   */
  private pipeline(pos: Pos): Query {
    const t = this.peek();
    let first: Stage;
    if (t.type === 'ident' && (AGGREGATES.has(t.text) || t.text === 'by' || t.text === 'select')) first = this.stage(false);
    else if (t.type === 'ident' && t.text === 'coalesce') return this.fail('a pipeline cannot start with coalesce()', t.pos);
    else if (t.type === 'punct' && (t.text === '{' || t.text === '(')) first = this.spansetExpr();
    else return this.fail(`expected a spanset such as { }, found ${describe(t)}`, t.pos);
    return this.pipelineFrom(first, pos);
  }

  private pipelineFrom(first: Stage, pos: Pos): Query {
    const pipeline: Stage[] = [first];
    let metrics = false;
    while (this.is('punct', '|')) {
      const bar = this.next();
      // Stages run one after another, each over the last one's output.
      if (pipeline.length >= this.maxDepth) this.fail(`the pipeline has more than ${this.maxDepth} stages`, bar.pos);
      const s = this.stage(metrics);
      pipeline.push(s);
      if (s.kind === 'metrics' || s.kind === 'compare' || s.kind === 'topk' || s.kind === 'bottomk') {
        metrics = true;
        const f = this.metricsFilter();
        if (f) pipeline.push(f);
      }
    }
    return { kind: 'query', pipeline, hints: [], pos };
  }

  /** `with(sample=0.1, most_recent=true)` at the end of a query. */
  private hints(): Hint[] {
    if (!this.is('ident', 'with')) return [];
    this.next();
    this.expect('punct', '(');
    const out: Hint[] = [];
    do {
      if (out.length > 0) this.next();
      const name = this.next();
      if (name.type !== 'ident') this.fail(`expected a hint name, found ${describe(name)}`, name.pos);
      this.expect('op', '=');
      const v = this.fieldPrefix();
      if (v.kind !== 'static') this.fail('a hint takes a value, as in sample=0.1', v.pos);
      out.push({ name: name.text, value: v, pos: name.pos });
    } while (this.is('punct', ','));
    this.expect('punct', ')');
    return out;
  }

  // ---- spanset expressions ---------------------------------------------------

  private spansetExpr(): SpansetExpr {
    return this.spansetExprFrom(this.spansetPrimary());
  }

  private spansetExprFrom(first: SpansetExpr): SpansetExpr {
    let left = this.spansetStructuralFrom(first);
    while (this.is('op', '&&') || this.is('op', '||')) {
      const op = this.next();
      const right = this.spansetStructuralFrom(this.spansetPrimary());
      left = this.built({ kind: 'spansetOp', op: op.text as SpansetOp, left, right, pos: op.pos }, [left, right], op);
    }
    return left;
  }

  private spansetStructuralFrom(first: SpansetExpr): SpansetExpr {
    let left = first;
    while (this.peek().type === 'op' && STRUCTURAL.has(this.peek().text)) {
      const op = this.next();
      const right = this.spansetPrimary();
      left = this.built({ kind: 'spansetOp', op: op.text as SpansetOp, left, right, pos: op.pos }, [left, right], op);
    }
    return left;
  }

  private spansetPrimary(): SpansetExpr {
    if (this.is('punct', '(')) {
      const open = this.next();
      this.enter(open);
      const inner = this.parenInner(open.pos);
      this.expect('punct', ')');
      this.leave();
      if (inner.kind !== 'spanset') this.fail('a spanset operator takes spansets or pipelines of spansets, not a metrics query or a number', inner.pos);
      return inner.expr;
    }
    return this.filter();
  }

  private filter(): SpansetFilter {
    const open = this.expect('punct', '{', "'{'");
    if (this.is('punct', '}')) {
      this.next();
      return { kind: 'filter', expr: null, pos: open.pos };
    }
    const expr = this.fieldExpr(0);
    this.expect('punct', '}');
    return this.built({ kind: 'filter', expr, pos: open.pos }, [expr], open);
  }

  // ---- field expressions (Pratt) ---------------------------------------------

  /** Every recursion of field expressions (parentheses, operands, unary operators) passes here. */
  private fieldExpr(minBp: number): FieldExpr {
    this.enter(this.peek());
    let left = this.fieldPrefix();
    for (;;) {
      const t = this.peek();
      if (t.type !== 'op') break;
      const bp = FIELD_BP[t.text];
      if (!bp || bp[0] < minBp) break;
      this.next();
      const right = this.fieldExpr(bp[1]);
      left = this.built({ kind: 'binary', op: t.text as never, left, right, pos: t.pos }, [left, right], t);
    }
    this.leave();
    return left;
  }

  private fieldPrefix(): FieldExpr {
    const t = this.peek();
    if (t.type === 'op' && (t.text === '!' || t.text === '-')) {
      this.next();
      const operand = this.fieldExpr(UNARY_BP);
      // Negative literals are literals, so that printing and re-parsing agree.
      if (t.text === '-' && operand.kind === 'static') {
        if (operand.type === 'int') return { ...operand, value: -operand.value, pos: t.pos };
        if (operand.type === 'float') return { ...operand, value: -operand.value, pos: t.pos };
        if (operand.type === 'duration') return { ...operand, value: -operand.value, pos: t.pos };
      }
      return this.built({ kind: 'unary', op: t.text as '!' | '-', operand, pos: t.pos }, [operand], t);
    }
    if (this.is('punct', '(')) {
      this.next();
      const e = this.fieldExpr(0);
      this.expect('punct', ')');
      return e;
    }
    return this.operand();
  }

  private operand(): FieldExpr {
    const t = this.next();
    switch (t.type) {
      case 'string':
        return { kind: 'static', type: 'string', value: t.value!, pos: t.pos };
      case 'number':
        return numberStatic(t);
      case 'duration':
        return { kind: 'static', type: 'duration', value: durationValue(t.text), pos: t.pos };
      case 'attribute':
        return { kind: 'attribute', scope: t.scope!, parent: t.parent!, name: t.value!, pos: t.pos };
      case 'ident':
        return this.identOperand(t);
    }
    return this.fail(`expected a value, attribute or intrinsic, found ${describe(t)}`, t.pos);
  }

  private identOperand(t: Token): FieldExpr {
    const s = t.text;
    if (s in INTRINSICS) return { kind: 'intrinsic', name: s as IntrinsicName, pos: t.pos };
    if (s === 'true' || s === 'false') return { kind: 'static', type: 'bool', value: s === 'true', pos: t.pos };
    if (s === 'nil') return { kind: 'static', type: 'nil', pos: t.pos };
    if ((STATUS_VALUES as readonly string[]).includes(s)) return { kind: 'static', type: 'status', value: s as StatusValue, pos: t.pos };
    if ((KIND_VALUES as readonly string[]).includes(s)) return { kind: 'static', type: 'kind', value: s as KindValue, pos: t.pos };
    return this.fail(`unknown identifier ${JSON.stringify(s)}; attributes need a scope, as in .${s} or span.${s}`, t.pos);
  }

  // ---- pipeline stages ---------------------------------------------------------

  /** One stage; `afterMetrics` says whether a metrics function came before (topk/bottomk need one). */
  private stage(afterMetrics: boolean): Stage {
    const t = this.peek();
    if (t.type === 'punct' && (t.text === '{' || t.text === '(')) return this.spansetExpr();
    if (t.type === 'number' || t.type === 'duration' || t.type === 'string') return this.scalarFilter();
    if (t.type !== 'ident') this.fail(`expected a pipeline stage, found ${describe(t)}`, t.pos);
    const name = t.text;
    if (name === 'by' || name === 'select') {
      this.next();
      const fields = this.fieldList();
      return { kind: name, fields, pos: t.pos };
    }
    if (name === 'coalesce') {
      this.next();
      this.expect('punct', '(');
      this.expect('punct', ')');
      return { kind: 'coalesce', pos: t.pos };
    }
    if (AGGREGATES.has(name)) return this.scalarFilter();
    if ((METRIC_FUNCTIONS as readonly string[]).includes(name)) return this.metrics();
    if (name === 'topk' || name === 'bottomk') {
      if (!afterMetrics) this.fail(`${name}() follows a metrics function, as in { } | rate() by(name) | ${name}(5)`, t.pos);
      return this.topk();
    }
    if (name === 'compare') {
      this.next();
      this.expect('punct', '(');
      const selection = this.filter();
      let topN: number | null = null;
      let window: { start: bigint; end: bigint } | null = null;
      if (this.is('punct', ',')) {
        this.next();
        topN = this.positiveInt();
        // Optionally the selection's own time window, in Unix nanoseconds.
        if (this.is('punct', ',')) {
          this.next();
          const start = BigInt(this.positiveInt(true));
          this.expect('punct', ',');
          const endTok = this.peek();
          const end = BigInt(this.positiveInt(true));
          if (end <= start) this.fail('compare() end timestamp must be greater than start timestamp', endTok.pos);
          window = { start, end };
        }
      }
      this.expect('punct', ')');
      return { kind: 'compare', selection, topN, window, pos: t.pos };
    }
    return this.fail(`unknown pipeline stage ${JSON.stringify(name)}`, t.pos);
  }

  /** `topk(n)` / `bottomk(n)`: n is a whole number here, and positive by validation (topk(0) is a type error in Tempo, topk(-1) a syntax error). */
  private topk(): TopkStage {
    const t = this.next();
    this.expect('punct', '(');
    const n = this.next();
    if (n.type !== 'number' || !isDigits(n.text)) this.fail(`expected a whole number, found ${describe(n)}`, n.pos);
    this.expect('punct', ')');
    return { kind: t.text as 'topk' | 'bottomk', n: Number(n.text), pos: t.pos };
  }

  private fieldList(): FieldExpr[] {
    this.expect('punct', '(');
    const fields = [this.fieldExpr(0)];
    while (this.is('punct', ',')) {
      this.next();
      fields.push(this.fieldExpr(0));
    }
    this.expect('punct', ')');
    return fields;
  }

  /**
   * `count() > 2`, `max(duration) - min(duration) >= 2 * avg(duration)`:
   * aggregates and numbers (ints, floats, durations) in arithmetic on both
   * sides of one comparison. Anything else on a side (a string, a status,
   * nil) is a syntax error, as in Tempo.
   */
  private scalarFilter(): Stage {
    const left = this.scalarAdd();
    const op = this.peek();
    if (op.type !== 'op' || !COMPARISON.has(op.text)) this.fail(`expected a comparison after the aggregate, found ${describe(op)}`, op.pos);
    this.next();
    const right = this.scalarAdd();
    return { kind: 'scalarFilter', op: op.text as ComparisonOp, left, right, pos: op.pos };
  }

  private scalarAdd(): ScalarExpr {
    this.enter(this.peek());
    let left = this.scalarMul();
    while (this.is('op', '+') || this.is('op', '-')) {
      const op = this.next();
      const right = this.scalarMul();
      left = this.built({ kind: 'scalarBinary', op: op.text as ArithmeticOp, left, right, pos: op.pos }, [left, right], op);
    }
    this.leave();
    return left;
  }

  private scalarMul(): ScalarExpr {
    let left = this.scalarPow();
    while (this.is('op', '*') || this.is('op', '/') || this.is('op', '%')) {
      const op = this.next();
      const right = this.scalarPow();
      left = this.built({ kind: 'scalarBinary', op: op.text as ArithmeticOp, left, right, pos: op.pos }, [left, right], op);
    }
    return left;
  }

  private scalarPow(): ScalarExpr {
    const left = this.scalarUnary();
    if (!this.is('op', '^')) return left;
    const op = this.next();
    // Right-associative, as in field expressions.
    const right = this.scalarPow();
    return this.built({ kind: 'scalarBinary', op: '^', left, right, pos: op.pos }, [left, right], op);
  }

  private scalarUnary(): ScalarExpr {
    const t = this.peek();
    if (t.type === 'op' && t.text === '-') {
      this.next();
      const operand = this.scalarUnary();
      // Negative literals are literals, so that printing and re-parsing agree.
      if (operand.kind === 'static' && (operand.type === 'int' || operand.type === 'duration')) return { ...operand, value: -operand.value, pos: t.pos };
      if (operand.kind === 'static' && operand.type === 'float') return { ...operand, value: -operand.value, pos: t.pos };
      return this.built({ kind: 'scalarNegate', operand, pos: t.pos }, [operand], t);
    }
    if (t.type === 'punct' && t.text === '(') {
      this.next();
      this.enter(t);
      const inner = this.scalarAdd();
      this.expect('punct', ')');
      this.leave();
      return inner;
    }
    if (t.type === 'ident' && AGGREGATES.has(t.text)) {
      this.next();
      this.expect('punct', '(');
      let field: FieldExpr | null = null;
      if (t.text !== 'count') field = this.fieldExpr(0);
      this.expect('punct', ')');
      return { kind: 'aggregate', fn: t.text as AggregateName, field, pos: t.pos };
    }
    if (t.type === 'number') {
      this.next();
      return numberStatic(t);
    }
    if (t.type === 'duration') {
      this.next();
      return { kind: 'static', type: 'duration', value: durationValue(t.text), pos: t.pos };
    }
    return this.fail(`expected an aggregate such as count() or a number, found ${describe(t)}`, t.pos);
  }

  private metrics(): Stage {
    const t = this.next();
    const fn = t.text as MetricFunction;
    this.expect('punct', '(');
    let field: FieldExpr | null = null;
    const quantiles: number[] = [];
    if (!this.is('punct', ')')) {
      field = this.fieldExpr(0);
      while (this.is('punct', ',')) {
        this.next();
        const q = this.next();
        if (q.type !== 'number') this.fail(`expected a quantile such as .99, found ${describe(q)}`, q.pos);
        quantiles.push(Number(q.text));
      }
    }
    this.expect('punct', ')');
    let by: FieldExpr[] = [];
    if (this.is('ident', 'by')) {
      this.next();
      by = this.fieldList();
    }
    return { kind: 'metrics', fn, field, quantiles, by, pos: t.pos };
  }

  /** With `asText`, the digits themselves (timestamps exceed 2^53). */
  private positiveInt(): number;
  private positiveInt(asText: true): string;
  private positiveInt(asText = false): number | string {
    const t = this.next();
    if (t.type !== 'number' || !isDigits(t.text) || BigInt(t.text) <= 0n) this.fail(`expected a positive integer, found ${describe(t)}`, t.pos);
    return asText ? t.text : Number(t.text);
  }
}

/** What a parenthesised or arithmetic part of a query turned out to be. */
type Operand =
  | { kind: 'spanset'; expr: SpansetExpr; pos: Pos }
  | { kind: 'metrics'; query: Query; pos: Pos }
  | { kind: 'math'; expr: MathExpr; pos: Pos }
  | { kind: 'number'; value: number; pos: Pos };

function mathOf(x: Exclude<Operand, { kind: 'spanset' }>): MathExpr {
  switch (x.kind) {
    case 'metrics':
      return { kind: 'mathQuery', query: x.query, pos: x.pos };
    case 'math':
      return x.expr;
    case 'number':
      return { kind: 'mathNumber', value: x.value, pos: x.pos };
  }
}

function isSpansetExpr(s: Stage): s is SpansetExpr {
  return s.kind === 'filter' || s.kind === 'spansetOp' || s.kind === 'spansetPipeline';
}

function numberStatic(t: Token): Static {
  if (isDigits(t.text)) return { kind: 'static', type: 'int', value: BigInt(t.text), pos: t.pos };
  return { kind: 'static', type: 'float', value: Number(t.text), pos: t.pos };
}

function describe(t: Token): string {
  return t.type === 'eof' ? 'end of query' : JSON.stringify(t.text);
}
