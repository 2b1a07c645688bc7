import type { TimeRange } from './time-range.js';

/**
 * The logs views' model: the /logs page's state and query, the API's
 * answers (docs/api.md, "Logs") turned into rows and a volume chart once,
 * and a trace's records by span for the trace view.
 */

export const SEVERITIES = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type Severity = (typeof SEVERITIES)[number];
/** A record's class, as the API names it: a level, or unspecified. */
export type SeverityClass = Severity | 'unspecified';
export const LOG_LIMITS = [100, 500, 1000] as const;

/**
 * /logs?q=&level=&text=&service=&range=&limit=: the records of a range
 * matching every filter given: `level` the least severity, `text` words
 * the body contains, `service` the resource's service.name, and `q` a
 * filter in the log query language for anything else.
 */
export interface LogsState {
  q: string;
  level: Severity | '';
  text: string;
  service: string;
  range: TimeRange;
  limit: number;
}

export const DEFAULT_LOGS: Omit<LogsState, 'range'> = { q: '', level: '', text: '', service: '', limit: 100 };

export function parseLogsState(p: URLSearchParams, range: TimeRange): LogsState {
  const level = p.get('level') ?? '';
  const limit = Number(p.get('limit'));
  return {
    q: p.get('q') ?? '',
    level: (SEVERITIES as readonly string[]).includes(level) ? (level as Severity) : '',
    text: p.get('text') ?? '',
    service: p.get('service') ?? '',
    range,
    limit: Number.isInteger(limit) && limit > 0 && limit <= 1000 ? limit : DEFAULT_LOGS.limit,
  };
}

/** Writes the state's non-default fields (the range is the caller's). */
export function writeLogsState(p: URLSearchParams, s: LogsState): void {
  if (s.q) p.set('q', s.q);
  if (s.level) p.set('level', s.level);
  if (s.text) p.set('text', s.text);
  if (s.service) p.set('service', s.service);
  if (s.limit !== DEFAULT_LOGS.limit) p.set('limit', String(s.limit));
}

/** A string literal of the log query language (its escapes: \" \\ \n \t \r \uXXXX). */
export function logString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (c < 0x20) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** The one filter the API is asked: every filter of the state, joined by `&&`. */
export function logsQuery(s: Pick<LogsState, 'q' | 'level' | 'text' | 'service'>): string {
  const parts: string[] = [];
  if (s.level) parts.push(`severity >= ${s.level}`);
  if (s.service.trim()) parts.push(`resource.service.name = ${logString(s.service.trim())}`);
  if (s.text.trim()) parts.push(`body contains ${logString(s.text.trim())}`);
  const q = s.q.trim();
  const inner = (q.startsWith('{') && q.endsWith('}') ? q.slice(1, -1) : q).trim();
  if (inner) parts.push(parts.length > 0 ? `(${inner})` : inner);
  return `{ ${parts.join(' && ')} }`.replace('{  }', '{ }');
}

/** The filter naming one trace's records: the trace view's "logs of this trace". */
export function traceLogsQuery(traceId: string): string {
  return `{ trace:id = "${traceId}" }`;
}

// ---- the API's answers --------------------------------------------------------------

type AnyValueJson = Record<string, unknown>;
interface KeyValueJson {
  key: string;
  value: AnyValueJson;
}

export interface LogJson {
  id: string;
  timeUnixNano: string;
  observedTimeUnixNano: string;
  severityNumber: number;
  severityText: string;
  severity: SeverityClass;
  body?: AnyValueJson;
  bodyText: string;
  traceId: string;
  spanId: string;
  flags: number;
  serviceName: string;
  eventName?: string;
  attributes: KeyValueJson[];
  resource: { attributes: KeyValueJson[] };
  scope: { name: string; version: string; attributes: KeyValueJson[] };
}

export interface LogsJson {
  logs: LogJson[];
  truncated: boolean;
  histogram: { startMs: number; endMs: number; stepMs: number; columns: number; cells: { column: number; severity: SeverityClass; count: number }[]; total: number };
}

export interface TraceLogsJson {
  traceId: string;
  logs: LogJson[];
  bySpan: Record<string, number>;
  truncated: boolean;
}

/** One record as the views show it. */
export interface LogRow {
  id: string;
  timeMs: number;
  /** The same time in Unix nanoseconds, exact, for ordering and exact display. */
  timeNs: bigint;
  severity: SeverityClass;
  /** What to show as the level: the text as sent, else the class. */
  level: string;
  service: string;
  body: string;
  traceId: string;
  spanId: string;
  eventName: string;
  attributes: [string, string][];
  resource: [string, string][];
  scope: string;
}

/** An attribute value as text: strings as they are, anything else as its JSON value. */
export function valueText(v: AnyValueJson | undefined): string {
  if (!v) return '';
  if (typeof v.stringValue === 'string') return v.stringValue;
  if (v.intValue !== undefined) return String(v.intValue);
  if (v.doubleValue !== undefined) return String(v.doubleValue);
  if (v.boolValue !== undefined) return String(v.boolValue);
  return JSON.stringify(v);
}

export function logRow(l: LogJson): LogRow {
  const ns = BigInt(l.timeUnixNano);
  return {
    id: l.id,
    timeMs: Number(ns / 1_000_000n),
    timeNs: ns,
    severity: l.severity,
    level: l.severityText || (l.severity === 'unspecified' ? '' : l.severity.toUpperCase()),
    service: l.serviceName,
    body: l.bodyText,
    traceId: l.traceId,
    spanId: l.spanId,
    eventName: l.eventName ?? '',
    attributes: l.attributes.map((a) => [a.key, valueText(a.value)]),
    resource: l.resource.attributes.map((a) => [a.key, valueText(a.value)]),
    scope: [l.scope.name, l.scope.version].filter(Boolean).join(' '),
  };
}

export function logRows(json: { logs: LogJson[] }): LogRow[] {
  return json.logs.map(logRow);
}

/** One column of the volume chart: its records by severity, most severe on top. */
export interface VolumeColumn {
  column: number;
  startMs: number;
  total: number;
  /** Bottom to top: unspecified, trace ... fatal; only classes with records. */
  segments: { severity: SeverityClass; count: number }[];
}

const STACK: readonly SeverityClass[] = ['unspecified', ...SEVERITIES];

/** The histogram as stacked columns (every column, empty ones too), and the tallest column's count. */
export function volumeColumns(h: LogsJson['histogram']): { columns: VolumeColumn[]; max: number } {
  const columns: VolumeColumn[] = Array.from({ length: h.columns }, (_, column) => ({ column, startMs: h.startMs + column * h.stepMs, total: 0, segments: [] }));
  const counts = new Map<string, number>();
  for (const c of h.cells) {
    if (c.column < 0 || c.column >= h.columns) continue;
    counts.set(`${c.column}/${c.severity}`, (counts.get(`${c.column}/${c.severity}`) ?? 0) + c.count);
  }
  let max = 0;
  for (const col of columns) {
    for (const severity of STACK) {
      const count = counts.get(`${col.column}/${severity}`) ?? 0;
      if (count > 0) col.segments.push({ severity, count });
      col.total += count;
    }
    if (col.total > max) max = col.total;
  }
  return { columns, max };
}

/** Counts per severity over the whole histogram, for the chart's legend. */
export function severityTotals(h: LogsJson['histogram']): { severity: SeverityClass; count: number }[] {
  const by = new Map<SeverityClass, number>();
  for (const c of h.cells) by.set(c.severity, (by.get(c.severity) ?? 0) + c.count);
  return STACK.filter((s) => by.has(s)).map((severity) => ({ severity, count: by.get(severity)! }));
}

/** A trace's records by span id, each span's oldest first; records tied to the trace but no span under ''. */
export function logsBySpan(json: TraceLogsJson): Map<string, LogRow[]> {
  const out = new Map<string, LogRow[]>();
  for (const l of json.logs) {
    const row = logRow(l);
    const list = out.get(row.spanId) ?? [];
    list.push(row);
    out.set(row.spanId, list);
  }
  return out;
}

/** A log record drawn on its span's bar: where, and what a pointer over it says. */
export interface BarLog {
  id: string;
  /** ns past the span's start (may fall outside the span, then it is pinned to its edge). */
  offsetNs: number;
  severity: SeverityClass;
  title: string;
}

/** Most log marks one bar draws. */
export const MAX_BAR_LOGS = 40;

const WARNING_OR_WORSE = new Set<SeverityClass>(['warn', 'error', 'fatal']);

/**
 * A span's records as marks on its bar, at their times. Past `max`, every
 * warning or worse is kept and the rest are sampled evenly, so a chatty
 * span still shows its errors.
 */
export function barLogs(spanStartNs: bigint, rows: readonly LogRow[] | undefined, max = MAX_BAR_LOGS): BarLog[] {
  if (!rows || rows.length === 0) return [];
  const all = rows.map((r): BarLog => {
    const offsetNs = Number(r.timeNs - spanStartNs);
    const body = r.body.length > 120 ? `${r.body.slice(0, 120)}…` : r.body;
    return { id: r.id, offsetNs, severity: r.severity, title: `${r.level} ${body}` };
  });
  if (all.length <= max) return all;
  const loud = all.filter((l) => WARNING_OR_WORSE.has(l.severity)).slice(0, max);
  const quiet = all.filter((l) => !WARNING_OR_WORSE.has(l.severity));
  const room = max - loud.length;
  const picked: BarLog[] = [];
  for (let k = 0; k < room; k++) picked.push(quiet[Math.floor((k * quiet.length) / room)]);
  return [...loud, ...picked].sort((a, b) => a.offsetNs - b.offsetNs);
}
