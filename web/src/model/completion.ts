import { attributeRef, quoteString, significant, tokenize, type Scope, type Token } from './traceql-tokens.js';

/**
 * What the TraceQL editor can offer at the cursor: a field (attribute or
 * intrinsic), a comparison operator, or a value for the field just compared.
 * `from`..`to` is the text an accepted item replaces.
 */
export type CompletionContext =
  | { kind: 'field'; prefix: string; from: number; to: number; scope: Scope | undefined }
  | { kind: 'operator'; field: string; from: number; to: number }
  | { kind: 'value'; field: string; prefix: string; from: number; to: number }
  | { kind: 'none' };

export interface CompletionItem {
  label: string;
  /** Text inserted in place of `from`..`to`. */
  insert: string;
  detail: string;
}

const COMPARISONS = new Set(['=', '!=', '>', '>=', '<', '<=', '=~', '!~']);
const FIELD_STARTERS = new Set(['{', '(', '&&', '||', '!']);
const WORDY: ReadonlySet<Token['kind']> = new Set(['attribute', 'intrinsic', 'ident', 'keyword', 'function', 'string', 'number', 'duration']);

/** The spanset (`{ ... }`) around the cursor, as token indices of its braces; close is -1 while unclosed. */
function enclosingSpanset(tokens: Token[], cursor: number): { open: number; close: number } | undefined {
  const stack: number[] = [];
  for (let k = 0; k < tokens.length && tokens[k].start < cursor; k++) {
    const t = tokens[k];
    if (t.kind === 'brace' && t.text === '{') stack.push(k);
    else if (t.kind === 'brace' && t.text === '}' && t.end <= cursor) stack.pop();
  }
  const open = stack[stack.length - 1];
  if (open === undefined) return undefined;
  let depth = 0;
  for (let k = open; k < tokens.length; k++) {
    if (tokens[k].kind === 'brace' && tokens[k].text === '{') depth++;
    else if (tokens[k].kind === 'brace' && tokens[k].text === '}' && --depth === 0) return { open, close: k };
  }
  return { open, close: -1 };
}

/** The field a token names, as the tag values API takes it: `span.http.method`, `.x`, `status`. */
export function fieldName(t: Token): string | undefined {
  if (t.kind === 'attribute') return attributeRef(t.scope ?? 'any', t.name ?? '');
  if (t.kind === 'intrinsic') return t.text;
  return undefined;
}

export function completionContext(text: string, cursor: number): CompletionContext {
  const tokens = significant(tokenize(text));
  const set = enclosingSpanset(tokens, cursor);
  if (!set) return { kind: 'none' };
  // The token being typed: the cursor is inside it or just after it.
  let curIndex = -1;
  for (let k = set.open + 1; k < tokens.length && tokens[k].start < cursor; k++) {
    if (tokens[k].end >= cursor && WORDY.has(tokens[k].kind)) curIndex = k;
  }
  // A closed string the cursor is after is finished, not being typed.
  if (curIndex >= 0 && tokens[curIndex].kind === 'string' && !tokens[curIndex].open && tokens[curIndex].end === cursor) curIndex = -1;
  const cur = curIndex >= 0 ? tokens[curIndex] : undefined;
  let prevIndex = -1;
  for (let k = set.open; k < tokens.length && tokens[k].end <= (cur ? cur.start : cursor); k++) prevIndex = k;
  const prev = tokens[prevIndex];
  const prev2 = prevIndex - 1 > set.open ? tokens[prevIndex - 1] : undefined;
  const from = cur ? cur.start : cursor;
  // An unterminated string runs to the end of the text; replace only the word being typed.
  let to = cur ? cur.end : cursor;
  if (cur?.open) {
    to = cursor;
    while (to < text.length && !/[\s"}]/.test(text[to])) to++;
  }

  if (prev && (FIELD_STARTERS.has(prev.text) && (prev.kind === 'brace' || prev.kind === 'paren' || prev.kind === 'operator'))) {
    if (cur && !['attribute', 'intrinsic', 'ident', 'keyword', 'function'].includes(cur.kind)) return { kind: 'none' };
    const prefix = cur ? text.slice(cur.start, cursor) : '';
    return { kind: 'field', prefix, from, to, scope: cur?.kind === 'attribute' ? cur.scope : undefined };
  }
  if (prev && (prev.kind === 'attribute' || prev.kind === 'intrinsic') && !cur) {
    return { kind: 'operator', field: fieldName(prev)!, from, to };
  }
  if (prev && prev.kind === 'operator' && COMPARISONS.has(prev.text) && prev2 && (prev2.kind === 'attribute' || prev2.kind === 'intrinsic')) {
    let prefix = cur ? text.slice(cur.start, cursor) : '';
    if (cur?.kind === 'string') prefix = prefix.slice(1);
    return { kind: 'value', field: fieldName(prev2)!, prefix, from, to };
  }
  return { kind: 'none' };
}

/**
 * The `q` that narrows completions at the cursor, as Grafana's editor sends
 * it: the other complete `field op value` conditions of the spanset being
 * edited, joined by `&&`. With an `||` at the top of the spanset the other
 * conditions do not constrain, so nothing narrows.
 */
export function narrowingQuery(text: string, cursor: number): string | undefined {
  const tokens = significant(tokenize(text));
  const set = enclosingSpanset(tokens, cursor);
  if (!set) return undefined;
  const end = set.close < 0 ? tokens.length : set.close;
  const conditions: Token[][] = [[]];
  let depth = 0;
  for (let k = set.open + 1; k < end; k++) {
    const t = tokens[k];
    if (t.kind === 'paren' && t.text === '(') depth++;
    if (t.kind === 'paren' && t.text === ')') depth--;
    if (depth === 0 && t.kind === 'operator' && t.text === '||') return undefined;
    if (depth === 0 && t.kind === 'operator' && t.text === '&&') conditions.push([]);
    else conditions[conditions.length - 1].push(t);
  }
  const kept: string[] = [];
  for (const c of conditions) {
    if (c.length !== 3) continue;
    const [f, op, v] = c;
    if (c[0].start <= cursor && cursor <= c[2].end) continue;
    if (!(f.kind === 'attribute' || f.kind === 'intrinsic') || f.open) continue;
    if (!(op.kind === 'operator' && COMPARISONS.has(op.text))) continue;
    if (!['string', 'number', 'duration', 'keyword'].includes(v.kind) || v.open) continue;
    kept.push(`${f.text} ${op.text} ${v.text}`);
  }
  return kept.length > 0 ? `{ ${kept.join(' && ')} }` : undefined;
}

/** /api/v2/search/tags, Tempo's shape. */
export interface TagScopesJson {
  scopes?: { name: string; tags?: string[] }[];
}

const SCOPE_ORDER: Scope[] = ['span', 'resource', 'event', 'link', 'instrumentation'];

/**
 * Field items for a prefix: scoped attributes (`span.x`, `resource.x`),
 * unscoped ones (`.x`, for span and resource names) and intrinsics. Items
 * that start with the prefix come first, then those that contain it.
 */
export function fieldItems(tags: TagScopesJson, prefix: string, limit = 50): CompletionItem[] {
  const items: CompletionItem[] = [];
  const seen = new Set<string>();
  const add = (insert: string, detail: string) => {
    if (seen.has(insert)) return;
    seen.add(insert);
    items.push({ label: insert, insert, detail });
  };
  const byScope = new Map((tags.scopes ?? []).map((s) => [s.name, s.tags ?? []]));
  for (const sc of SCOPE_ORDER) if (byScope.has(sc) || sc === 'span' || sc === 'resource') add(`${sc}.`, 'scope');
  for (const name of byScope.get('intrinsic') ?? []) add(name, 'intrinsic');
  for (const sc of SCOPE_ORDER) for (const name of byScope.get(sc) ?? []) add(attributeRef(sc, name), `${sc} attribute`);
  for (const sc of ['span', 'resource'] as const) for (const name of byScope.get(sc) ?? []) add(attributeRef('any', name), 'any scope');
  return rank(items, prefix, limit);
}

/** /api/v2/search/tag/{name}/values, Tempo's shape. */
export interface TagValuesJson {
  tagValues?: { type: string; value: string }[];
}

/** Value items: strings quoted, numbers, booleans and keywords (status, kind) bare. */
export function valueItems(values: TagValuesJson, prefix: string, limit = 50): CompletionItem[] {
  const items = (values.tagValues ?? []).map((v) => ({
    label: v.value,
    insert: v.type === 'string' ? quoteString(v.value) : v.value,
    detail: v.type,
  }));
  return rank(items, prefix, limit);
}

export function operatorItems(field: string): CompletionItem[] {
  const enumLike = field === 'status' || field === 'kind' || field === 'span:status' || field === 'span:kind';
  const all: [string, string][] = [
    ['=', 'equals'],
    ['!=', 'not equal'],
    ['>', 'greater'],
    ['>=', 'at least'],
    ['<', 'less'],
    ['<=', 'at most'],
    ['=~', 'matches regex (anchored)'],
    ['!~', 'does not match regex'],
  ];
  return all.filter(([op]) => !enumLike || op === '=' || op === '!=').map(([op, detail]) => ({ label: op, insert: `${op} `, detail }));
}

function rank(items: CompletionItem[], prefix: string, limit: number): CompletionItem[] {
  const p = prefix.toLowerCase();
  if (p === '') return items.slice(0, limit);
  const starts: CompletionItem[] = [];
  const contains: CompletionItem[] = [];
  for (const it of items) {
    const l = it.label.toLowerCase();
    if (l === p) continue;
    if (l.startsWith(p)) starts.push(it);
    // "method" finds span.http.method; ".se" means unscoped names, not resource.service.
    else if (p.length >= 3 && !p.includes('.') && l.includes(p)) contains.push(it);
  }
  return [...starts, ...contains].slice(0, limit);
}

/** The text after accepting an item, and where the cursor goes. */
export function applyCompletion(text: string, from: number, to: number, insert: string): { text: string; cursor: number } {
  // `name =` then a value: keep a space between the operator and the value.
  const glue = from > 0 && /[=~!<>]/.test(text[from - 1]) && !insert.startsWith(' ') ? ' ' : '';
  const next = text.slice(0, from) + glue + insert + text.slice(to);
  return { text: next, cursor: from + glue.length + insert.length };
}
