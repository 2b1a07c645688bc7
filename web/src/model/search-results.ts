import { nsStringToMs, ticksBetween, timeTicks } from './format.js';
import { statusCode, type TraceByIdJson } from './otlp.js';

/** GET /api/search, Tempo's SearchResponse. */
export interface SearchResponseJson {
  traces?: {
    traceID: string;
    rootServiceName?: string;
    rootTraceName?: string;
    startTimeUnixNano?: string;
    durationMs?: number;
    spanSet?: SpanSetJson;
    spanSets?: SpanSetJson[];
    /** Tempo 2.4+: spans and errors per service. Sightline may leave it out. */
    serviceStats?: Record<string, { spanCount?: number; errorCount?: number }>;
  }[];
  metrics?: { inspectedTraces?: number; inspectedBytes?: string; inspectedSpans?: string };
}

interface SpanSetJson {
  spans?: { spanID: string; name?: string; startTimeUnixNano?: string; durationNanos?: string; attributes?: unknown[] }[];
  matched?: number;
}

/** Tempo's placeholder when the root span has not arrived. */
export const MISSING_ROOT = '<root span not yet received>';

export interface SearchRow {
  /** 32 hex digits (Tempo drops leading zeros; they are put back). */
  traceId: string;
  rootService: string;
  rootName: string;
  rootMissing: boolean;
  /** Unix ms of the trace's start. */
  startMs: number;
  durationMs: number;
  /** Spans in the trace, when known (from serviceStats or a fetched trace). */
  spanCount?: number;
  errorCount?: number;
  /** Spans that matched the query. */
  matched: number;
  services: string[];
}

export function traceIdHex(id: string): string {
  const hex = id.toLowerCase();
  return hex.length >= 32 ? hex : hex.padStart(32, '0');
}

/** Rows of the results table, in the server's order (newest match first). */
export function searchRows(response: SearchResponseJson): SearchRow[] {
  return (response.traces ?? []).map((t) => {
    const stats = t.serviceStats ? Object.entries(t.serviceStats) : undefined;
    const root = t.rootServiceName ?? '';
    const sets = t.spanSets ?? (t.spanSet ? [t.spanSet] : []);
    const row: SearchRow = {
      traceId: traceIdHex(t.traceID),
      rootService: root === MISSING_ROOT ? '' : root,
      rootName: t.rootTraceName ?? '',
      rootMissing: root === MISSING_ROOT || root === '',
      startMs: nsStringToMs(t.startTimeUnixNano),
      durationMs: t.durationMs ?? 0,
      matched: sets.reduce((n, s) => n + (s.matched ?? 0), 0),
      services: stats ? stats.map(([name]) => name).sort() : [],
    };
    if (stats) {
      row.spanCount = stats.reduce((n, [, s]) => n + (s.spanCount ?? 0), 0);
      row.errorCount = stats.reduce((n, [, s]) => n + (s.errorCount ?? 0), 0);
    }
    return row;
  });
}

/** What a fetched trace adds to its row when the search answer had no serviceStats. */
export function withCounts(row: SearchRow, counts: { spanCount: number; errorCount: number; services: string[] }): SearchRow {
  return { ...row, spanCount: counts.spanCount, errorCount: counts.errorCount, services: row.services.length > 0 ? row.services : [...counts.services].sort() };
}

export type SortKey = 'start' | 'duration' | 'spans' | 'errors' | 'service' | 'name';

/** Rows sorted by a column; unknown counts sort last; ties keep the server's order. */
export function sortRows(rows: readonly SearchRow[], key: SortKey, descending: boolean): SearchRow[] {
  const value = (r: SearchRow): number | string | undefined => {
    switch (key) {
      case 'start':
        return r.startMs;
      case 'duration':
        return r.durationMs;
      case 'spans':
        return r.spanCount;
      case 'errors':
        return r.errorCount;
      case 'service':
        return r.rootService.toLowerCase();
      case 'name':
        return r.rootName.toLowerCase();
    }
  };
  return rows
    .map((r, i) => ({ r, i, v: value(r) }))
    .sort((a, b) => {
      if (a.v === undefined || b.v === undefined) return a.v === b.v ? a.i - b.i : a.v === undefined ? 1 : -1;
      const c = a.v < b.v ? -1 : a.v > b.v ? 1 : 0;
      return c === 0 ? a.i - b.i : descending ? -c : c;
    })
    .map((x) => x.r);
}

/** A point of the duration-over-time scatter, in pixels inside the plot area. */
export interface ScatterPoint {
  row: SearchRow;
  x: number;
  y: number;
}

export interface ScatterLayout {
  points: ScatterPoint[];
  xTicks: { x: number; ms: number }[];
  yTicks: { y: number; ms: number }[];
  /** Inverse of the x scale, for brushing a time range. */
  timeAt(x: number): number;
  /** Inverse of the y scale, for brushing a band of durations (ms). */
  durationAt(y: number): number;
}

/**
 * Places results on a duration-over-time plot of `width`×`height` pixels.
 * x spans the searched time range (so gaps show as gaps); y is linear from
 * 0, or logarithmic when durations spread over orders of magnitude.
 */
export function scatterLayout(rows: readonly SearchRow[], range: { startMs: number; endMs: number }, width: number, height: number, log: boolean): ScatterLayout {
  const { startMs, endMs } = range;
  const spanMs = Math.max(endMs - startMs, 1);
  const x = (ms: number) => ((ms - startMs) / spanMs) * width;
  const maxD = Math.max(1, ...rows.map((r) => r.durationMs));
  const minD = Math.max(0.1, Math.min(maxD, ...rows.map((r) => Math.max(r.durationMs, 0.1))));
  let y: (ms: number) => number;
  let durationAt: (px: number) => number;
  let yTicks: number[];
  if (log) {
    const lo = Math.log10(minD) - 0.1;
    const hi = Math.log10(maxD) + 0.1;
    y = (ms) => height - ((Math.log10(Math.max(ms, 0.1)) - lo) / Math.max(hi - lo, 1e-9)) * height;
    durationAt = (px) => 10 ** (lo + ((height - px) / height) * Math.max(hi - lo, 1e-9));
    yTicks = [];
    for (let p = Math.ceil(lo); p <= Math.floor(hi); p++) yTicks.push(10 ** p);
    if (yTicks.length === 0) yTicks = [minD, maxD];
  } else {
    const top = maxD * 1.1;
    y = (ms) => height - (ms / top) * height;
    durationAt = (px) => Math.max(0, ((height - px) / height) * top);
    yTicks = ticksBetween(0, top, 4);
  }
  return {
    points: rows.map((row) => ({ row, x: Math.min(width, Math.max(0, x(row.startMs))), y: Math.min(height, Math.max(0, y(row.durationMs))) })),
    xTicks: timeTicks(startMs, endMs, 6).map((ms) => ({ x: x(ms), ms })),
    yTicks: yTicks.map((ms) => ({ y: y(ms), ms })).filter((t) => t.y >= -0.5 && t.y <= height + 0.5),
    timeAt: (px: number) => startMs + (px / width) * spanMs,
    durationAt,
  };
}

/** Counts a fetched trace contributes to its row. */
export function traceCounts(model: { spans: { status: string; service: string }[]; services: string[] }): { spanCount: number; errorCount: number; services: string[] } {
  let errors = 0;
  for (const s of model.spans) if (s.status === 'error') errors++;
  return { spanCount: model.spans.length, errorCount: errors, services: model.services };
}

/**
 * The same counts straight from GET /api/v2/traces/{id}, without building
 * the trace: the results table only needs numbers, and a row may be a trace
 * of many thousands of spans.
 */
export function payloadCounts(payload: TraceByIdJson): { spanCount: number; errorCount: number; services: string[] } {
  let spans = 0;
  let errors = 0;
  const services = new Set<string>();
  for (const rs of payload.trace?.resourceSpans ?? []) {
    const service = rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value?.stringValue || 'unknown service';
    let any = false;
    for (const ss of rs.scopeSpans ?? []) {
      for (const sp of ss.spans ?? []) {
        spans++;
        any = true;
        if (statusCode(sp.status?.code) === 'error') errors++;
      }
    }
    if (any) services.add(service);
  }
  return { spanCount: spans, errorCount: errors, services: [...services] };
}
