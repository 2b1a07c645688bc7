/**
 * A forgiving TraceQL tokenizer for the editor: it never throws, covers every
 * character of the text (whitespace included, so highlighting reproduces the
 * text exactly), and marks what cannot be right (an unterminated string, an
 * unknown character, a bracket that closes nothing) as `error`. The server's
 * parser stays the judge of validity; this only colours and guides typing.
 * Lexical rules follow src/query/traceql/lexer.ts.
 */

export type TokenKind =
  | 'space'
  | 'brace' // { }
  | 'paren' // ( ) ,
  | 'pipe' // |
  | 'operator'
  | 'string'
  | 'number'
  | 'duration'
  | 'attribute'
  | 'intrinsic'
  | 'keyword'
  | 'function'
  | 'ident'
  | 'error';

export type Scope = 'span' | 'resource' | 'event' | 'link' | 'instrumentation' | 'any';

export interface Token {
  kind: TokenKind;
  start: number;
  end: number;
  text: string;
  /** For attributes: the scope and the name (unquoted). */
  scope?: Scope;
  name?: string;
  /** For attributes whose name is quoted but not closed yet, and unterminated strings. */
  open?: boolean;
}

const OPERATORS = ['!>>', '!<<', '&>>', '&<<', '>>', '<<', '>=', '<=', '!=', '=~', '!~', '&&', '||', '!>', '!<', '&>', '&<', '&~', '=', '>', '<', '!', '~', '+', '-', '*', '/', '%', '^'];
const SCOPES = ['span', 'resource', 'event', 'link', 'instrumentation'] as const;
const NAME_END = new Set([' ', '\t', '\n', '\r', '{', '}', '(', ')', ',', '=', '!', '<', '>', '~', '&', '|', '"', '`', '+', '*', '%', '^']);
const DURATION_RE = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)(?![A-Za-z0-9_])/;
const NUMBER_RE = /^(\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)/;

export const INTRINSICS = new Set([
  'name', 'status', 'statusMessage', 'kind', 'duration', 'traceDuration', 'rootName', 'rootServiceName', 'nestedSetLeft', 'nestedSetRight', 'nestedSetParent',
  'span:name', 'span:status', 'span:statusMessage', 'span:kind', 'span:duration', 'span:id', 'span:parentID',
  'trace:id', 'trace:duration', 'trace:rootName', 'trace:rootService', 'event:name', 'event:timeSinceStart',
  'link:traceID', 'link:spanID', 'instrumentation:name', 'instrumentation:version',
]);
export const KEYWORDS = new Set(['true', 'false', 'nil', 'error', 'ok', 'unset', 'client', 'server', 'producer', 'consumer', 'internal', 'unspecified']);
export const FUNCTIONS = new Set([
  'count', 'avg', 'min', 'max', 'sum', 'by', 'select', 'coalesce', 'compare',
  'rate', 'count_over_time', 'min_over_time', 'max_over_time', 'avg_over_time', 'sum_over_time', 'quantile_over_time', 'histogram_over_time', 'topk', 'bottomk',
]);

export function tokenize(text: string): Token[] {
  const out: Token[] = [];
  const brackets: number[] = []; // indices into out of open { and (
  let i = 0;
  const push = (kind: TokenKind, end: number, extra?: Partial<Token>) => {
    out.push({ kind, start: i, end, text: text.slice(i, end), ...extra });
    i = end;
  };
  while (i < text.length) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      let j = i + 1;
      while (j < text.length && /[ \t\n\r]/.test(text[j])) j++;
      push('space', j);
      continue;
    }
    if (c === '"' || c === '`') {
      let j = i + 1;
      while (j < text.length && text[j] !== c) j += text[j] === '\\' && c === '"' ? 2 : 1;
      if (j >= text.length) push('string', text.length, { open: true });
      else push('string', j + 1);
      continue;
    }
    if ((c >= '0' && c <= '9') || (c === '.' && /[0-9]/.test(text[i + 1] ?? ''))) {
      const rest = text.slice(i);
      const d = DURATION_RE.exec(rest);
      if (d) {
        push('duration', i + d[0].length);
        continue;
      }
      const m = NUMBER_RE.exec(rest)!;
      let end = i + m[0].length;
      if (/[A-Za-z_]/.test(text[end] ?? '')) {
        while (end < text.length && /[A-Za-z0-9_]/.test(text[end])) end++;
        push('error', end);
      } else push('number', end);
      continue;
    }
    const attr = readAttribute(text, i);
    if (attr) {
      push('attribute', attr.end, { scope: attr.scope, name: attr.name, open: attr.open });
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*(?::[A-Za-z][A-Za-z0-9]*)?/.exec(text.slice(i))!;
      const word = m[0];
      const kind: TokenKind = INTRINSICS.has(word) ? 'intrinsic' : KEYWORDS.has(word) ? 'keyword' : FUNCTIONS.has(word) ? 'function' : 'ident';
      push(kind, i + word.length);
      continue;
    }
    if (c === '{' || c === '(') {
      brackets.push(out.length);
      push(c === '{' ? 'brace' : 'paren', i + 1);
      continue;
    }
    if (c === '}' || c === ')') {
      const want = c === '}' ? '{' : '(';
      const top = brackets[brackets.length - 1];
      if (top !== undefined && out[top].text === want) {
        brackets.pop();
        push(c === '}' ? 'brace' : 'paren', i + 1);
      } else push('error', i + 1);
      continue;
    }
    if (c === ',') {
      push('paren', i + 1);
      continue;
    }
    if (c === '|' && text[i + 1] !== '|') {
      push('pipe', i + 1);
      continue;
    }
    const op = OPERATORS.find((o) => text.startsWith(o, i));
    if (op) {
      push('operator', i + op.length);
      continue;
    }
    push('error', i + 1);
  }
  return out;
}

function readAttribute(text: string, i: number): { end: number; scope: Scope; name: string; open: boolean } | null {
  let j = i;
  if (text.startsWith('parent.', j)) j += 7;
  let scope: Scope = 'any';
  if (text[j] === '.') j++;
  else {
    const s = SCOPES.find((sc) => text.startsWith(`${sc}.`, j));
    if (!s) return null;
    scope = s;
    j += s.length + 1;
  }
  if (text[j] === '"') {
    let k = j + 1;
    let name = '';
    while (k < text.length && text[k] !== '"') {
      if (text[k] === '\\' && k + 1 < text.length) {
        name += text[k + 1];
        k += 2;
      } else name += text[k++];
    }
    if (k >= text.length) return { end: text.length, scope, name, open: true };
    return { end: k + 1, scope, name, open: false };
  }
  let k = j;
  while (k < text.length && !NAME_END.has(text[k])) k++;
  return { end: k, scope, name: text.slice(j, k), open: false };
}

/** Tokens without whitespace: what the structure-aware helpers work on. */
export function significant(tokens: readonly Token[]): Token[] {
  return tokens.filter((t) => t.kind !== 'space');
}

/** The token that contains `offset` (or ends at it), ignoring whitespace. */
export function tokenAt(tokens: readonly Token[], offset: number): Token | undefined {
  for (const t of tokens) if (t.kind !== 'space' && t.start <= offset && offset <= t.end) return t;
  return undefined;
}

/**
 * Text with `"` and `\` escaped and quotes around it: a TraceQL string
 * literal for a completion value or a quick filter.
 */
export function quoteString(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\t/g, '\\t').replace(/\r/g, '\\r')}"`;
}

/** An attribute reference for a scope and name, quoting names the lexer would end early. */
export function attributeRef(scope: Scope, name: string): string {
  const prefix = scope === 'any' ? '.' : `${scope}.`;
  const plain = name !== '' && [...name].every((ch) => !NAME_END.has(ch)) && !/^[0-9]/.test(name);
  return plain ? `${prefix}${name}` : `${prefix}${quoteString(name)}`;
}
