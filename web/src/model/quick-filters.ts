import { quoteString, significant, tokenize, type Token } from './traceql-tokens.js';

/**
 * Quick filters are views onto the query text, not a second query: each
 * reads one condition of a single `{ ... }` filter and writes it back in
 * place. The TraceQL in the editor stays the one truth that runs, is shared
 * in the URL, and gets the server's error positions.
 */
export interface QuickFilters {
  service?: string;
  operation?: string;
  status?: 'error' | 'ok' | 'unset';
  /** TraceQL durations, for example `100ms`. */
  minDuration?: string;
  maxDuration?: string;
}

export type QuickFilterKey = keyof QuickFilters;

export type QuickFilterState = { editable: true; values: QuickFilters } | { editable: false; reason: string };

interface Condition {
  tokens: Token[];
  start: number;
  end: number;
}

interface Spanset {
  open: Token;
  close: Token;
  conditions: Condition[];
}

const DURATION_TEXT = /^\d+(\.\d+)?(ns|us|µs|ms|s|m|h)$/;

export function isDuration(text: string): boolean {
  return DURATION_TEXT.test(text.trim());
}

/** The query as one spanset filter split at its top-level `&&`, or why it is not one. */
function singleSpanset(text: string): Spanset | string {
  const tokens = significant(tokenize(text));
  if (tokens.some((t) => t.kind === 'error' || t.open)) return 'the query has a syntax error';
  const open = tokens[0];
  const close = tokens[tokens.length - 1];
  if (!open || open.text !== '{' || close.text !== '}') return 'the query is more than one { ... } filter';
  let depth = 0;
  const conditions: Condition[] = [];
  let current: Token[] = [];
  const flush = () => {
    if (current.length > 0) conditions.push({ tokens: current, start: current[0].start, end: current[current.length - 1].end });
    current = [];
  };
  for (let k = 1; k < tokens.length - 1; k++) {
    const t = tokens[k];
    if (t.kind === 'brace' || t.kind === 'pipe') return 'the query is more than one { ... } filter';
    if (t.text === '(') depth++;
    if (t.text === ')') depth--;
    if (depth === 0 && t.text === '||') return 'the filter has a top-level ||';
    if (depth === 0 && t.text === '&&') flush();
    else current.push(t);
  }
  flush();
  return { open, close, conditions };
}

function classify(c: Condition): { key: QuickFilterKey; value: string } | undefined {
  if (c.tokens.length !== 3) return undefined;
  const [f, op, v] = c.tokens;
  if (f.kind === 'attribute' && (f.scope === 'resource' || f.scope === 'any') && f.name === 'service.name' && op.text === '=' && v.kind === 'string')
    return { key: 'service', value: unquote(v.text) };
  if (f.kind === 'intrinsic' && (f.text === 'name' || f.text === 'span:name') && op.text === '=' && v.kind === 'string') return { key: 'operation', value: unquote(v.text) };
  if (f.kind === 'intrinsic' && (f.text === 'status' || f.text === 'span:status') && op.text === '=' && v.kind === 'keyword' && ['error', 'ok', 'unset'].includes(v.text))
    return { key: 'status', value: v.text };
  if (f.kind === 'intrinsic' && (f.text === 'traceDuration' || f.text === 'trace:duration') && v.kind === 'duration') {
    if (op.text === '>=' || op.text === '>') return { key: 'minDuration', value: v.text };
    if (op.text === '<=' || op.text === '<') return { key: 'maxDuration', value: v.text };
  }
  return undefined;
}

function unquote(s: string): string {
  if (s.startsWith('`')) return s.slice(1, -1);
  try {
    return JSON.parse(s) as string;
  } catch {
    return s.slice(1, -1);
  }
}

export function readQuickFilters(text: string): QuickFilterState {
  if (text.trim() === '') return { editable: true, values: {} };
  const set = singleSpanset(text);
  if (typeof set === 'string') return { editable: false, reason: set };
  const values: Record<string, string> = {};
  for (const c of set.conditions) {
    const k = classify(c);
    if (k && values[k.key] === undefined) values[k.key] = k.value;
  }
  return { editable: true, values: values as QuickFilters };
}

function conditionText(key: QuickFilterKey, value: string): string {
  switch (key) {
    case 'service':
      return `resource.service.name = ${quoteString(value)}`;
    case 'operation':
      return `name = ${quoteString(value)}`;
    case 'status':
      return `status = ${value}`;
    case 'minDuration':
      return `traceDuration >= ${value.trim()}`;
    case 'maxDuration':
      return `traceDuration <= ${value.trim()}`;
  }
}

/**
 * The query with one quick filter set (replacing the condition it reads
 * from, or adding one) or cleared (removing it and its `&&`). The rest of
 * the text, spacing included, is left as it was. Returns undefined when the
 * query is not a single filter (see readQuickFilters).
 */
export function applyQuickFilter(text: string, key: QuickFilterKey, value: string | undefined): string | undefined {
  const v = value?.trim() === '' ? undefined : value;
  if (v !== undefined && (key === 'minDuration' || key === 'maxDuration') && !isDuration(v)) return undefined;
  if (text.trim() === '') return v === undefined ? text : `{ ${conditionText(key, v)} }`;
  const set = singleSpanset(text);
  if (typeof set === 'string') return undefined;
  const at = set.conditions.findIndex((c) => classify(c)?.key === key);
  if (at >= 0) {
    const c = set.conditions[at];
    if (v !== undefined) return text.slice(0, c.start) + conditionText(key, v) + text.slice(c.end);
    // Remove the condition with the `&&` that joined it: the one before, or else the one after.
    if (set.conditions.length === 1) return `${text.slice(0, set.open.end)} ${text.slice(set.close.start)}`;
    if (at > 0) return text.slice(0, set.conditions[at - 1].end) + text.slice(c.end);
    return text.slice(0, c.start) + text.slice(set.conditions[1].start);
  }
  if (v === undefined) return text;
  if (set.conditions.length === 0) return `${text.slice(0, set.open.end)} ${conditionText(key, v)} ${text.slice(set.close.start)}`;
  const last = set.conditions[set.conditions.length - 1];
  return `${text.slice(0, last.end)} && ${conditionText(key, v)}${text.slice(last.end)}`;
}
