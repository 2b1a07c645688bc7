import { Re2 } from '../../re2/index.js';
import type { LogCompareOp, LogCondition, LogField, LogIntrinsic, Value } from '../../store/index.js';
import { LogQueryError } from './errors.js';
import { tokenize, type Token } from './lexer.js';
import { LEVELS } from './severity.js';

/**
 * The log query language: one TraceQL-style filter, `{ conditions }`,
 * compiled straight into the store's storage-free LogCondition.
 *
 *   { severity >= warn && resource.service.name = "billing" }
 *   { body =~ "timeout|refused" || body contains "retry" }
 *   { log.http.status_code >= 500 && .user.id != nil }
 *   { trace:id = "4bf92f3577b34da6a3ce929d0e0e4736" }
 *
 * Fields: `severity` (a level name, or a SeverityNumber), `severityNumber`,
 * `severityText`, `body`, `eventName`, `instrumentation:name`,
 * `instrumentation:version`, `trace:id`, `span:id`, and attributes:
 * `log.x` (the record's), `resource.x`, `.x` (the record's, else the
 * resource's). Operators: = != < <= > >= =~ !~ and `contains`; && || !
 * and parentheses. On `body`, `=~` finds an RE2 pattern anywhere (a text
 * search); on other fields it matches the whole value, as in TraceQL.
 */

/** Deepest nesting of parentheses and `!`. */
export const MAX_DEPTH = 64;
/** Most comparisons in one query. */
export const MAX_CONDITIONS = 256;


const INTRINSICS: Record<string, LogIntrinsic> = {
  severityNumber: 'severityNumber',
  severityText: 'severityText',
  body: 'body',
  eventName: 'eventName',
  'instrumentation:name': 'scopeName',
  'instrumentation:version': 'scopeVersion',
  'trace:id': 'traceId',
  'span:id': 'spanId',
};

type Op = '=' | '!=' | '=~' | '!~' | '<' | '<=' | '>' | '>=' | 'contains';

/** Parses a log query; `{ }` (or an empty text) matches every record. */
export function parseLogQuery(text: string): LogCondition {
  if (text.trim() === '') return { op: 'const', value: true };
  return new Parser(tokenize(text)).query();
}

class Parser {
  private at = 0;
  private depth = 0;
  private conditions = 0;

  constructor(private readonly tokens: Token[]) {}

  query(): LogCondition {
    this.expect('{');
    const where = this.peekIs('}') ? ({ op: 'const', value: true } as const) : this.or();
    this.expect('}');
    const t = this.peek();
    if (t.kind !== 'end') throw new LogQueryError('only one { } filter is taken; combine conditions with && and ||', t.pos);
    return where;
  }

  private or(): LogCondition {
    const terms = [this.and()];
    while (this.accept('||')) terms.push(this.and());
    return terms.length === 1 ? terms[0] : { op: 'or', terms };
  }

  private and(): LogCondition {
    const terms = [this.unary()];
    while (this.accept('&&')) terms.push(this.unary());
    return terms.length === 1 ? terms[0] : { op: 'and', terms };
  }

  private unary(): LogCondition {
    const t = this.peek();
    if (this.accept('!')) return this.nested(t, () => ({ op: 'not', term: this.unary() }));
    if (this.accept('(')) {
      const inner = this.nested(t, () => this.or());
      this.expect(')');
      return inner;
    }
    return this.comparison();
  }

  private nested(t: Token, f: () => LogCondition): LogCondition {
    if (++this.depth > MAX_DEPTH) throw new LogQueryError(`nesting is deeper than ${MAX_DEPTH}`, t.pos);
    try {
      return f();
    } finally {
      this.depth--;
    }
  }

  private comparison(): LogCondition {
    const ft = this.next();
    if (++this.conditions > MAX_CONDITIONS) throw new LogQueryError(`more than ${MAX_CONDITIONS} conditions`, ft.pos);
    if (ft.kind !== 'attribute' && ft.kind !== 'word') throw new LogQueryError('expected a field: severity, body, trace:id, span:id, resource.x, log.x or .x', ft.pos);
    const opToken = this.next();
    let op: Op;
    if (opToken.kind === 'op') op = opToken.value;
    else if (opToken.kind === 'word' && opToken.value === 'contains') op = 'contains';
    else throw new LogQueryError(`expected an operator (= != < <= > >= =~ !~ contains) after the field`, opToken.pos);
    const vt = this.next();

    if (ft.kind === 'attribute') return this.attribute({ kind: 'attribute', scope: ft.scope, name: ft.name }, op, vt);
    if (ft.value === 'severity') return severity(op, vt);
    const name = INTRINSICS[ft.value];
    if (!name) throw new LogQueryError(`unknown field ${JSON.stringify(ft.value)}; attributes are written resource.x, log.x or .x`, ft.pos);
    const field: LogField = { kind: 'intrinsic', name };
    switch (name) {
      case 'traceId':
      case 'spanId':
        return idComparison(field, name === 'traceId' ? 16 : 8, op, vt);
      case 'severityNumber':
        if (op === '=~' || op === '!~' || op === 'contains') throw new LogQueryError(`severityNumber takes = != < <= > >=, not ${op}`, opToken.pos);
        if (vt.kind !== 'number') throw new LogQueryError('severityNumber is compared with a number', vt.pos);
        return { op: 'compare', field, cmp: op, value: numberValue(vt) };
      default: {
        if (vt.kind === 'word' && vt.value === 'nil' && (op === '=' || op === '!=')) return existence(field, op);
        if (vt.kind !== 'string') throw new LogQueryError(`${ft.value} is compared with a string`, vt.pos);
        if (op === '<' || op === '<=' || op === '>' || op === '>=') throw new LogQueryError(`${ft.value} takes = != =~ !~ contains, not ${op}`, opToken.pos);
        return { op: 'compare', field, cmp: textOp(op, name === 'body', vt), value: { type: 'string', value: vt.value } };
      }
    }
  }

  private attribute(field: LogField, op: Op, vt: Token): LogCondition {
    if (vt.kind === 'word' && vt.value === 'nil') {
      if (op !== '=' && op !== '!=') throw new LogQueryError('nil is compared with = or != only', vt.pos);
      return existence(field, op);
    }
    if (vt.kind === 'string') {
      if (op === '<' || op === '<=' || op === '>' || op === '>=') return { op: 'compare', field, cmp: op, value: { type: 'string', value: vt.value } };
      return { op: 'compare', field, cmp: textOp(op, false, vt), value: { type: 'string', value: vt.value } };
    }
    if (vt.kind === 'number') {
      if (op === '=~' || op === '!~' || op === 'contains') throw new LogQueryError(`${op} takes a string`, vt.pos);
      return { op: 'compare', field, cmp: op, value: numberValue(vt) };
    }
    if (vt.kind === 'word' && (vt.value === 'true' || vt.value === 'false')) {
      if (op !== '=' && op !== '!=') throw new LogQueryError('true and false are compared with = or != only', vt.pos);
      return { op: 'compare', field, cmp: op, value: { type: 'bool', value: vt.value === 'true' } };
    }
    throw new LogQueryError('expected a value: a string, a number, true, false or nil', vt.pos);
  }

  private peek(): Token {
    return this.tokens[this.at];
  }

  private next(): Token {
    const t = this.tokens[this.at];
    if (t.kind !== 'end') this.at++;
    return t;
  }

  private peekIs(p: string): boolean {
    const t = this.peek();
    return t.kind === 'punct' && t.value === p;
  }

  private accept(p: string): boolean {
    if (!this.peekIs(p)) return false;
    this.at++;
    return true;
  }

  private expect(p: string): void {
    const t = this.peek();
    if (!this.accept(p)) throw new LogQueryError(`expected ${p}${t.kind === 'end' ? ' before the end' : ''}`, t.pos);
  }
}

function existence(field: LogField, op: '=' | '!='): LogCondition {
  const exists: LogCondition = { op: 'exists', field };
  return op === '!=' ? exists : { op: 'not', term: exists };
}

/** The store's comparison for a text operator; `=~` on the body searches, elsewhere it matches whole values. */
function textOp(op: Op, search: boolean, vt: Token & { kind: 'string' }): LogCompareOp {
  switch (op) {
    case '=~':
    case '!~': {
      let problem = '';
      try {
        new Re2(vt.value, { dotAll: true });
      } catch (e) {
        problem = (e as Error).message;
      }
      if (problem) throw new LogQueryError(`invalid regular expression ${JSON.stringify(vt.value)}: ${problem}`, vt.pos);
      if (search) return op === '=~' ? 'search' : 'notSearch';
      return op === '=~' ? 'matches' : 'notMatches';
    }
    case 'contains':
      return 'contains';
    default:
      return op;
  }
}

function numberValue(t: Token & { kind: 'number' }): Value {
  const text = t.text;
  let integer = text.length > (text[0] === '-' ? 1 : 0);
  for (let i = text[0] === '-' ? 1 : 0; i < text.length && integer; i++) integer = text.charCodeAt(i) >= 0x30 && text.charCodeAt(i) <= 0x39;
  if (integer) {
    const n = BigInt(text);
    if (n < -(1n << 63n) || n >= 1n << 63n) throw new LogQueryError(`${text} is out of the 64-bit integer range`, t.pos);
    return { type: 'int', value: n };
  }
  const f = Number(text);
  if (!Number.isFinite(f)) throw new LogQueryError(`${JSON.stringify(text)} is not a number`, t.pos);
  return { type: 'float', value: f };
}

function idComparison(field: LogField, bytes: number, op: Op, vt: Token): LogCondition {
  if (op !== '=' && op !== '!=') throw new LogQueryError(`ids are compared with = or != only`, vt.pos);
  if (vt.kind === 'word' && vt.value === 'nil') return existence(field, op);
  if (vt.kind !== 'string') throw new LogQueryError('an id is a string of hex digits', vt.pos);
  let hex = vt.value;
  for (let i = 0; i < hex.length; i++) {
    const c = hex.charCodeAt(i);
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
    if (!ok) throw new LogQueryError(`an id holds hex digits only, not ${JSON.stringify(hex[i])}`, vt.pos);
  }
  if (hex.length === 0 || hex.length > bytes * 2) throw new LogQueryError(`${bytes === 16 ? 'a trace id' : 'a span id'} is 1 to ${bytes * 2} hex digits`, vt.pos);
  // As trace ids are in Tempo's API: leading zeros may be left out.
  hex = hex.padStart(bytes * 2, '0');
  return { op: 'compare', field, cmp: op, value: { type: 'id', value: Buffer.from(hex, 'hex') } };
}

/**
 * `severity` against a level (a name, or a string naming one) covers the
 * level's four numbers: `= warn` is 13-16, `>= warn` 13 and up, `> warn`
 * 17 and up, `< warn` 1-12. Against a number it compares the number. It
 * reads the record's level (`severityLevel`): the number, or the level its
 * text names when the number is unspecified; `<` and `<=` hold only for
 * records with a level.
 */
function severity(op: Op, vt: Token): LogCondition {
  const field: LogField = { kind: 'intrinsic', name: 'severityLevel' };
  const cmp = (c: '=' | '!=' | '<' | '<=' | '>' | '>=', n: number): LogCondition => ({ op: 'compare', field, cmp: c, value: { type: 'int', value: BigInt(n) } });
  if (op === '=~' || op === '!~' || op === 'contains') throw new LogQueryError(`severity takes = != < <= > >=; match its text with severityText`, vt.pos);
  let base: number;
  if (vt.kind === 'number') {
    const v = numberValue(vt);
    const known = cmp('>', 0);
    const c: LogCondition = { op: 'compare', field, cmp: op, value: v };
    return op === '<' || op === '<=' ? { op: 'and', terms: [known, c] } : c;
  }
  if ((vt.kind === 'word' || vt.kind === 'string') && Object.hasOwn(LEVELS, vt.value.toLowerCase())) base = LEVELS[vt.value.toLowerCase()];
  else throw new LogQueryError(`severity is compared with a level (trace, debug, info, warn, error, fatal) or a number`, vt.pos);
  const top = base + 3;
  switch (op) {
    case '=':
      return { op: 'and', terms: [cmp('>=', base), cmp('<=', top)] };
    case '!=':
      return { op: 'not', term: { op: 'and', terms: [cmp('>=', base), cmp('<=', top)] } };
    case '>=':
      return cmp('>=', base);
    case '>':
      return cmp('>', top);
    case '<':
      return { op: 'and', terms: [cmp('>', 0), cmp('<', base)] };
    case '<=':
      return { op: 'and', terms: [cmp('>', 0), cmp('<=', top)] };
  }
}
