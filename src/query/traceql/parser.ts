import {
  INTRINSICS,
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
 * Parses TraceQL into a {@link Query}. A syntax error, or a query past
 * `limits`, throws TraceQLParseError with the line and column.
 */
export function parse(text: string, limits: Readonly<ParseLimits> = PARSE_LIMITS): Query {
  checkLength(text, limits.maxBytes);
  return new Parser(tokenize(text), limits.maxDepth).query();
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

  query(): Query {
    const pos = this.peek().pos;
    const first = this.spansetExpr();
    const pipeline: Stage[] = [first];
    while (this.is('punct', '|')) {
      const bar = this.next();
      // Stages run one after another, each over the last one's output.
      if (pipeline.length >= this.maxDepth) this.fail(`the pipeline has more than ${this.maxDepth} stages`, bar.pos);
      pipeline.push(this.stage());
    }
    if (!this.is('eof')) this.fail(`unexpected ${describe(this.peek())}`, this.peek().pos);
    return { kind: 'query', pipeline, pos };
  }

  // ---- spanset expressions ---------------------------------------------------

  private spansetExpr(): SpansetExpr {
    let left = this.spansetStructural();
    while (this.is('op', '&&') || this.is('op', '||')) {
      const op = this.next();
      const right = this.spansetStructural();
      left = this.built({ kind: 'spansetOp', op: op.text as SpansetOp, left, right, pos: op.pos }, [left, right], op);
    }
    return left;
  }

  private spansetStructural(): SpansetExpr {
    let left = this.spansetPrimary();
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
      const e = this.spansetExpr();
      this.expect('punct', ')');
      this.leave();
      return e;
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

  private stage(): Stage {
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
      this.next();
      this.expect('punct', '(');
      const n = this.positiveInt();
      this.expect('punct', ')');
      return { kind: name, n, pos: t.pos };
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

  private scalarOperand(): Aggregate | Static {
    const t = this.peek();
    if (t.type === 'ident' && AGGREGATES.has(t.text)) {
      this.next();
      this.expect('punct', '(');
      let field: FieldExpr | null = null;
      if (t.text !== 'count') field = this.fieldExpr(0);
      this.expect('punct', ')');
      return { kind: 'aggregate', fn: t.text as AggregateName, field, pos: t.pos };
    }
    const v = this.fieldPrefix();
    if (v.kind !== 'static') this.fail('expected an aggregate such as count() or a value', t.pos);
    return v;
  }

  private scalarFilter(): Stage {
    const left = this.scalarOperand();
    const op = this.peek();
    if (op.type !== 'op' || !COMPARISON.has(op.text)) this.fail(`expected a comparison after the aggregate, found ${describe(op)}`, op.pos);
    this.next();
    const right = this.scalarOperand();
    return { kind: 'scalarFilter', op: op.text as ComparisonOp, left, right, pos: op.pos };
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

function numberStatic(t: Token): Static {
  if (isDigits(t.text)) return { kind: 'static', type: 'int', value: BigInt(t.text), pos: t.pos };
  return { kind: 'static', type: 'float', value: Number(t.text), pos: t.pos };
}

function describe(t: Token): string {
  return t.type === 'eof' ? 'end of query' : JSON.stringify(t.text);
}
