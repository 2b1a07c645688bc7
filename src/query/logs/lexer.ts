import { LogQueryError } from './errors.js';

/**
 * Tokens of the log query language (docs/api.md, "Logs"). A hand-written
 * scanner without regular expressions: each character is looked at once,
 * so a hostile query costs time linear in its length.
 */
export type Token =
  | { kind: 'punct'; value: '{' | '}' | '(' | ')' | '&&' | '||' | '!'; pos: number }
  | { kind: 'op'; value: '=' | '!=' | '=~' | '!~' | '<' | '<=' | '>' | '>='; pos: number }
  | { kind: 'string'; value: string; pos: number }
  | { kind: 'number'; text: string; pos: number }
  /** A bare word: a field (`severity`, `trace:id`), a level, `true`, `nil`, `contains`. */
  | { kind: 'word'; value: string; pos: number }
  /** `resource.name`, `log.name` or `.name` (a quoted name after the dot too). */
  | { kind: 'attribute'; scope: 'resource' | 'log' | 'any'; name: string; pos: number }
  | { kind: 'end'; pos: number };

/** The longest query text taken. */
export const MAX_QUERY_LENGTH = 16 * 1024;

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isLetter = (c: number) => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f;
const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
/** Characters that end an unquoted attribute name (TraceQL's rule: names may hold dots, dashes, slashes...). */
const ENDS_NAME = new Set([...' \t\n\r{}()=!<>~&|,"`'].map((c) => c.charCodeAt(0)));

export function tokenize(text: string): Token[] {
  if (text.length > MAX_QUERY_LENGTH) throw new LogQueryError(`the query is longer than ${MAX_QUERY_LENGTH} characters`, 1);
  const out: Token[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (isSpace(c)) {
      i++;
      continue;
    }
    const pos = i + 1;
    const two = text.slice(i, i + 2);
    if (two === '&&' || two === '||') {
      out.push({ kind: 'punct', value: two, pos });
      i += 2;
    } else if (two === '!=' || two === '=~' || two === '!~' || two === '<=' || two === '>=') {
      out.push({ kind: 'op', value: two, pos });
      i += 2;
    } else if (c === 0x3d /* = */ || c === 0x3c /* < */ || c === 0x3e /* > */) {
      out.push({ kind: 'op', value: text[i] as '=' | '<' | '>', pos });
      i++;
    } else if (c === 0x7b || c === 0x7d || c === 0x28 || c === 0x29 || c === 0x21) {
      out.push({ kind: 'punct', value: text[i] as '{' | '}' | '(' | ')' | '!', pos });
      i++;
    } else if (c === 0x22 /* " */ || c === 0x60 /* ` */) {
      const s = readString(text, i);
      out.push({ kind: 'string', value: s.value, pos });
      i = s.end;
    } else if (isDigit(c) || (c === 0x2d /* - */ && i + 1 < n && isDigit(text.charCodeAt(i + 1)))) {
      let j = i + 1;
      while (j < n && (isDigit(text.charCodeAt(j)) || text[j] === '.' || text[j] === 'e' || text[j] === 'E' || ((text[j] === '+' || text[j] === '-') && (text[j - 1] === 'e' || text[j - 1] === 'E')))) j++;
      out.push({ kind: 'number', text: text.slice(i, j), pos });
      i = j;
    } else if (c === 0x2e /* . */) {
      const a = readName(text, i + 1, pos);
      out.push({ kind: 'attribute', scope: 'any', name: a.name, pos });
      i = a.end;
    } else if (isLetter(c)) {
      let j = i + 1;
      while (j < n && (isLetter(text.charCodeAt(j)) || isDigit(text.charCodeAt(j)) || text[j] === ':')) j++;
      const word = text.slice(i, j);
      if ((word === 'resource' || word === 'log') && text[j] === '.') {
        const a = readName(text, j + 1, pos);
        out.push({ kind: 'attribute', scope: word, name: a.name, pos });
        i = a.end;
      } else {
        out.push({ kind: 'word', value: word, pos });
        i = j;
      }
    } else throw new LogQueryError(`unexpected character ${JSON.stringify(text[i])}`, pos);
  }
  out.push({ kind: 'end', pos: n + 1 });
  return out;
}

/** An attribute name after its dot: quoted, or up to a character that ends names. */
function readName(text: string, at: number, pos: number): { name: string; end: number } {
  if (text[at] === '"' || text[at] === '`') {
    const s = readString(text, at);
    if (s.value === '') throw new LogQueryError('an attribute name is empty', pos);
    return { name: s.value, end: s.end };
  }
  let j = at;
  while (j < text.length && !ENDS_NAME.has(text.charCodeAt(j))) j++;
  if (j === at) throw new LogQueryError('an attribute name is missing after the dot', pos);
  return { name: text.slice(at, j), end: j };
}

/**
 * A string literal from its opening quote: "..." with JSON-like escapes
 * (\" \\ \n \t \r \uXXXX), or `...` taken as written (handy for regular
 * expressions).
 */
function readString(text: string, at: number): { value: string; end: number } {
  const quote = text[at];
  let i = at + 1;
  let value = '';
  while (i < text.length) {
    const ch = text[i];
    if (ch === quote) return { value, end: i + 1 };
    if (ch === '\\' && quote === '"') {
      const e = text[i + 1];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          value += e;
          i += 2;
          continue;
        case 'n':
          value += '\n';
          i += 2;
          continue;
        case 't':
          value += '\t';
          i += 2;
          continue;
        case 'r':
          value += '\r';
          i += 2;
          continue;
        case 'u': {
          const hex = text.slice(i + 2, i + 6);
          let code = 0;
          for (let k = 0; k < 4; k++) {
            const d = hex.charCodeAt(k);
            const v = isDigit(d) ? d - 0x30 : d >= 0x61 && d <= 0x66 ? d - 0x57 : d >= 0x41 && d <= 0x46 ? d - 0x37 : -1;
            if (v < 0 || hex.length < 4) throw new LogQueryError('\\u needs four hex digits', i + 1);
            code = code * 16 + v;
          }
          value += String.fromCharCode(code);
          i += 6;
          continue;
        }
        default:
          throw new LogQueryError(`unknown escape \\${e ?? ''} in a string`, i + 1);
      }
    }
    value += ch;
    i++;
  }
  throw new LogQueryError('a string is not closed', at + 1);
}
