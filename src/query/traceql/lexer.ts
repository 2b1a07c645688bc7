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
const DURATION_RE = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/;
/** Characters that end an unquoted attribute name. */
const NAME_END = new Set([' ', '\t', '\n', '\r', '{', '}', '(', ')', ',', '=', '!', '<', '>', '~', '&', '|', '"', '`', '+', '*', '%', '^']);

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
    if ((c >= '0' && c <= '9') || (c === '.' && /[0-9]/.test(text[i + 1] ?? ''))) {
      const rest = text.slice(i);
      const d = DURATION_RE.exec(rest);
      if (d && !/[A-Za-z0-9_]/.test(rest[d[0].length] ?? '')) {
        advance(d[0].length);
        tokens.push({ type: 'duration', text: d[0], pos: start });
        continue;
      }
      const m = /^(\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)/.exec(rest)!;
      if (/[A-Za-z_]/.test(rest[m[0].length] ?? '')) fail(`invalid number ${JSON.stringify(rest.slice(0, m[0].length + 1))}`, start);
      advance(m[0].length);
      tokens.push({ type: 'number', text: m[0], pos: start });
      continue;
    }
    // Attributes: .name, span.name, parent.span.name, resource."quoted name"
    const attr = readAttribute(text, i);
    if (attr) {
      advance(attr.length);
      tokens.push({ type: 'attribute', text: text.slice(start.offset, i), value: attr.name, scope: attr.scope, parent: attr.parent, pos: start });
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*(?::[A-Za-z][A-Za-z0-9]*)?/.exec(text.slice(i))!;
      advance(m[0].length);
      tokens.push({ type: 'ident', text: m[0], pos: start });
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

const UNITS: Record<string, bigint> = { ns: 1n, us: 1_000n, µs: 1_000n, ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n };

/** A duration token's value in nanoseconds. */
export function durationValue(text: string): bigint {
  const m = DURATION_RE.exec(text)!;
  const [whole, frac = ''] = m[1].split('.');
  const unit = UNITS[m[2]];
  const scale = 10n ** BigInt(frac.length);
  return (BigInt(whole) * scale + BigInt(frac || '0')) * unit / scale;
}
