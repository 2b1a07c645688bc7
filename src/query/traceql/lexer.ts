import type { AttributeScope, Pos } from './ast.js';
import { TraceQLParseError } from './errors.js';

export type TokenType =
  | 'punct' // { } ( ) , |
  | 'op' // = != > >= < <= =~ !~ && || ! + - * / % ^ >> << ~ !> !>> !< !<< &> &>> &< &<< &~
  | 'string'
  | 'number' // int or float text
  | 'duration'
  | 'ident' // keywords, intrinsics, function names
  | 'attribute'
  | 'eof';

export interface Token {
  type: TokenType;
  text: string;
  pos: Pos;
  /** For strings: the unescaped value. For attributes: the name. */
  value?: string;
  /** For attributes. */
  scope?: AttributeScope;
  parent?: boolean;
}

const OPERATORS = ['!>>', '!<<', '&>>', '&<<', '>>', '<<', '>=', '<=', '!=', '=~', '!~', '&&', '||', '!>', '!<', '&>', '&<', '&~', '=', '>', '<', '!', '~', '+', '-', '*', '/', '%', '^'];
const PUNCT = new Set(['{', '}', '(', ')', ',', '|']);
const SCOPES: AttributeScope[] = ['span', 'resource', 'event', 'link', 'instrumentation'];
/** Duration units in nanoseconds; where one is a prefix of another, the longer comes first. */
const UNITS: Record<string, bigint> = { ns: 1n, us: 1_000n, µs: 1_000n, ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n };
const DURATION_UNITS = Object.keys(UNITS);
/** Characters that end an unquoted attribute name. */
const NAME_END = new Set([' ', '\t', '\n', '\r', '{', '}', '(', ')', ',', '=', '!', '<', '>', '~', '&', '|', '"', '`', '+', '*', '%', '^']);

// Character classes by hand: nothing a user writes goes through a
// backtracking RegExp (DESIGN.md), and these scans are plainly linear.
const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const isLetter = (c: string | undefined): boolean => c !== undefined && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
const isIdentStart = (c: string | undefined): boolean => isLetter(c) || c === '_';
const isIdentChar = (c: string | undefined): boolean => isIdentStart(c) || isDigit(c);

/** Whether `text` is one or more decimal digits and nothing else. */
export function isDigits(text: string): boolean {
  return text.length > 0 && digits(text, 0) === text.length;
}

/** The end of the run of digits from `i`. */
function digits(text: string, i: number): number {
  while (isDigit(text[i])) i++;
  return i;
}

/**
 * A duration at `i` (digits, optionally a fraction, a unit, and no name
 * character after it): where its number ends and where it ends; or null.
 */
function scanDuration(text: string, i: number): { numberEnd: number; end: number } | null {
  let j = digits(text, i);
  if (j === i) return null;
  if (text[j] === '.' && isDigit(text[j + 1])) j = digits(text, j + 1);
  const unit = DURATION_UNITS.find((u) => text.startsWith(u, j));
  if (!unit || isIdentChar(text[j + unit.length])) return null;
  return { numberEnd: j, end: j + unit.length };
}

/** The end of a number at `i`: `12`, `1.5`, `1.`, `.5`, each with an optional exponent (`1e-3`). */
function scanNumber(text: string, i: number): number {
  let j = digits(text, i);
  if (text[j] === '.') j = digits(text, j + 1);
  if (text[j] === 'e' || text[j] === 'E') {
    const sign = text[j + 1] === '+' || text[j + 1] === '-' ? 1 : 0;
    const end = digits(text, j + 1 + sign);
    if (end > j + 1 + sign) j = end;
  }
  return j;
}

/** Splits TraceQL text into tokens, with line and column for error messages. */
export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  let col = 1;
  const pos = (): Pos => ({ offset: i, line, column: col });
  const advance = (n: number) => {
    for (let k = 0; k < n; k++) {
      if (text[i] === '\n') {
        line++;
        col = 1;
      } else col++;
      i++;
    }
  };
  const fail = (msg: string, at: Pos): never => {
    throw new TraceQLParseError(msg, at);
  };

  while (i < text.length) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      advance(1);
      continue;
    }
    const start = pos();
    if (c === '"' || c === '`') {
      const quote = c;
      advance(1);
      let value = '';
      for (;;) {
        if (i >= text.length) fail('unterminated string', start);
        const d = text[i];
        if (d === quote) {
          advance(1);
          break;
        }
        if (d === '\\' && quote === '"') {
          const e = text[i + 1];
          const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', '0': '\0' };
          if (e === undefined || !(e in map)) fail(`unknown escape \\${e ?? ''} in string`, pos());
          value += map[e];
          advance(2);
          continue;
        }
        value += d;
        advance(1);
      }
      tokens.push({ type: 'string', text: text.slice(start.offset, i), value, pos: start });
      continue;
    }
    // Numbers and durations; a leading '.' followed by a digit is a number.
    if (isDigit(c) || (c === '.' && isDigit(text[i + 1]))) {
      const d = scanDuration(text, i);
      if (d) {
        advance(d.end - i);
        tokens.push({ type: 'duration', text: text.slice(start.offset, i), pos: start });
        continue;
      }
      const end = scanNumber(text, i);
      if (isIdentStart(text[end])) fail(`invalid number ${JSON.stringify(text.slice(i, end + 1))}`, start);
      advance(end - i);
      tokens.push({ type: 'number', text: text.slice(start.offset, i), pos: start });
      continue;
    }
    // Attributes: .name, span.name, parent.span.name, resource."quoted name"
    const attr = readAttribute(text, i);
    if (attr) {
      advance(attr.length);
      tokens.push({ type: 'attribute', text: text.slice(start.offset, i), value: attr.name, scope: attr.scope, parent: attr.parent, pos: start });
      continue;
    }
    if (isIdentStart(c)) {
      // A name, optionally `scope:name` (span:duration, trace:id).
      let end = i + 1;
      while (isIdentChar(text[end])) end++;
      if (text[end] === ':' && isLetter(text[end + 1])) {
        end += 2;
        while (isLetter(text[end]) || isDigit(text[end])) end++;
      }
      advance(end - i);
      tokens.push({ type: 'ident', text: text.slice(start.offset, i), pos: start });
      continue;
    }
    if (PUNCT.has(c) && !(c === '|' && text[i + 1] === '|')) {
      advance(1);
      tokens.push({ type: 'punct', text: c, pos: start });
      continue;
    }
    const op = OPERATORS.find((o) => text.startsWith(o, i));
    if (op) {
      advance(op.length);
      tokens.push({ type: 'op', text: op, pos: start });
      continue;
    }
    fail(`unexpected character ${JSON.stringify(c)}`, start);
  }
  tokens.push({ type: 'eof', text: '', pos: pos() });
  return tokens;
}

function readAttribute(text: string, i: number): { length: number; scope: AttributeScope; parent: boolean; name: string } | null {
  let j = i;
  let parent = false;
  if (text.startsWith('parent.', j)) {
    parent = true;
    j += 7;
  }
  let scope: AttributeScope = 'any';
  if (text[j] === '.') j++;
  else {
    const s = SCOPES.find((sc) => text.startsWith(`${sc}.`, j));
    if (!s) return null;
    scope = s;
    j += s.length + 1;
  }
  if (text[j] === '"') {
    // Quoted name: JSON-style escapes.
    let k = j + 1;
    let name = '';
    while (k < text.length && text[k] !== '"') {
      if (text[k] === '\\' && k + 1 < text.length) {
        const e = text[k + 1];
        name += e === 'n' ? '\n' : e === 't' ? '\t' : e;
        k += 2;
      } else name += text[k++];
    }
    if (k >= text.length) throw new TraceQLParseError('unterminated quoted attribute name', positionOf(text, i));
    return { length: k + 1 - i, scope, parent, name };
  }
  let k = j;
  while (k < text.length && !NAME_END.has(text[k])) k++;
  if (k === j) return null;
  return { length: k - i, scope, parent, name: text.slice(j, k) };
}

export function positionOf(text: string, offset: number): Pos {
  let line = 1;
  let column = 1;
  for (let i = 0; i < offset; i++) {
    if (text[i] === '\n') {
      line++;
      column = 1;
    } else column++;
  }
  return { offset, line, column };
}

/** A duration token's value in nanoseconds, exact (no float on the way). */
export function durationValue(text: string): bigint {
  const d = scanDuration(text, 0)!;
  const [whole, frac = ''] = text.slice(0, d.numberEnd).split('.');
  const unit = UNITS[text.slice(d.numberEnd)];
  const scale = 10n ** BigInt(frac.length);
  return ((BigInt(whole) * scale + BigInt(frac || '0')) * unit) / scale;
}
