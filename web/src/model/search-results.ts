import { nsStringToMs, ticksBetween, timeTicks } from './format.js';
import { statusCode, type TraceByIdJson } from './otlp.js';
import { applyQuickFilter } from './quick-filters.js';
import { traceqlDuration } from './compare.js';

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

// ---- the whole range: how many match, and where ------------------------------------

/**
 * GET /api/sightline/search: Tempo's SearchResponse in the chosen order
 * (over every match of the range, not a page of it), with how many traces
 * match. `totalExact` is false when the query was evaluated over part of
 * its candidates only; `total` is then a lower bound.
 */
export interface OrderedSearchJson extends SearchResponseJson {
  order?: 'recent' | 'slowest';
  total?: number;
  totalExact?: boolean;
}

/** "20 of 915 shown", "20 of at least 20,000 shown". */
export function shownLabel(shown: number, total: number | undefined, exact = true): string {
  const n = (x: number) => x.toLocaleString('en-US');
  if (total === undefined) return `${n(shown)} shown`;
  return `${n(shown)} of ${exact ? '' : 'at least '}${n(Math.max(total, shown))} shown`;
}

/** GET /api/sightline/search/heatmap: matching traces by start time (columns) and duration (rows). */
export interface HeatmapJson {
  startMs: number;
  endMs: number;
  stepMs: number;
  columns: number;
  /** Row r holds durations in [bounds[r-1], bounds[r]); row 0 is below bounds[0], the last row at or above the last bound. */
  durationBoundsNs: number[];
  cells: { column: number; row: number; traces: number }[];
  total: number;
  totalExact: boolean;
}

export interface HeatmapCellView {
  column: number;
  row: number;
  traces: number;
  x: number;
  y: number;
  width: number;
  height: number;
  /** 0..1, on a log scale of counts: one trace is visible next to thousands. */
  level: number;
}

/** A brushed part of the heatmap, snapped to whole cells. Durations in ns; undefined: unbounded. */
export interface HeatmapBand {
  startMs: number;
  endMs: number;
  minNs?: number;
  maxNs?: number;
  /** Traces in the band's cells. */
  traces: number;
}

export interface HeatmapLayout {
  cells: HeatmapCellView[];
  /** The rows drawn, first (shortest, at the bottom) to last. */
  firstRow: number;
  lastRow: number;
  xTicks: { x: number; ms: number }[];
  /** At row boundaries: the duration there, in ns. */
  yTicks: { y: number; ns: number }[];
  /** Sum of the cells: every matching trace (when the answer is exact). */
  total: number;
  maxCell: number;
  /** The cell under a point, if any. */
  cellAt(x: number, y: number): HeatmapCellView | undefined;
  /** The band between two points (any corners), snapped outward to cells; open-ended where it reaches the top or bottom row. */
  band(x0: number, y0: number, x1: number, y1: number): HeatmapBand;
}

/** Rows around the data shown at least, so one duration is a band, not the whole chart. */
const MIN_ROWS = 8;

/** Lower bound (ns) of row r; 0 for the first row. */
export function rowLowerNs(bounds: readonly number[], row: number): number {
  return row <= 0 ? 0 : bounds[Math.min(row, bounds.length) - 1];
}

/** Upper bound (ns, exclusive) of row r; Infinity for the last row. */
export function rowUpperNs(bounds: readonly number[], row: number): number {
  return row >= bounds.length ? Infinity : bounds[row];
}

/**
 * Places the heatmap in a `width`×`height` plot: x is time over the whole
 * searched range, y the duration rows (log-spaced bounds, equal heights),
 * trimmed to the rows that hold traces with a row of margin each side.
 */
export function heatmapLayout(map: HeatmapJson, width: number, height: number): HeatmapLayout {
  const rowsAll = map.durationBoundsNs.length + 1;
  const filled = map.cells.filter((c) => c.traces > 0);
  let firstRow = filled.length > 0 ? Math.max(0, Math.min(...filled.map((c) => c.row)) - 1) : 0;
  let lastRow = filled.length > 0 ? Math.min(rowsAll - 1, Math.max(...filled.map((c) => c.row)) + 1) : Math.min(rowsAll - 1, MIN_ROWS - 1);
  while (lastRow - firstRow + 1 < Math.min(MIN_ROWS, rowsAll)) {
    if (firstRow > 0) firstRow--;
    if (lastRow - firstRow + 1 < MIN_ROWS && lastRow < rowsAll - 1) lastRow++;
  }
  const rows = lastRow - firstRow + 1;
  const rowH = height / rows;
  const colW = width / Math.max(1, map.columns);
  const spanMs = Math.max(1, map.endMs - map.startMs);
  const xOfMs = (ms: number) => ((ms - map.startMs) / spanMs) * width;
  const maxCell = Math.max(1, ...filled.map((c) => c.traces));
  const yOfRow = (row: number) => height - (row - firstRow + 1) * rowH;
  const cells: HeatmapCellView[] = filled.map((c) => {
    const x0 = xOfMs(map.startMs + c.column * map.stepMs);
    const x1 = Math.min(width, xOfMs(map.startMs + (c.column + 1) * map.stepMs));
    return { ...c, x: x0, y: yOfRow(c.row), width: Math.max(1, x1 - x0), height: rowH, level: Math.log1p(c.traces) / Math.log1p(maxCell) };
  });
  const byKey = new Map(cells.map((c) => [`${c.column}/${c.row}`, c]));
  const columnAt = (x: number) => Math.max(0, Math.min(map.columns - 1, Math.floor(((x / width) * spanMs) / map.stepMs)));
  const rowAt = (y: number) => Math.max(firstRow, Math.min(lastRow, firstRow + Math.floor((height - y) / rowH)));
  const yTicks: { y: number; ns: number }[] = [];
  for (let r = firstRow + 1; r <= lastRow; r++) yTicks.push({ y: yOfRow(r) + rowH, ns: rowLowerNs(map.durationBoundsNs, r) });
  return {
    cells,
    firstRow,
    lastRow,
    xTicks: timeTicksIn(map.startMs, map.endMs).map((ms) => ({ x: xOfMs(ms), ms })),
    yTicks,
    total: filled.reduce((n, c) => n + c.traces, 0),
    maxCell,
    cellAt: (x, y) => (x < 0 || x > width || y < 0 || y > height ? undefined : byKey.get(`${columnAt(x)}/${rowAt(y)}`)),
    band: (x0, y0, x1, y1) => {
      const c0 = columnAt(Math.min(x0, x1));
      const c1 = columnAt(Math.max(x0, x1));
      const r0 = rowAt(Math.max(y0, y1));
      const r1 = rowAt(Math.min(y0, y1));
      let traces = 0;
      for (const c of filled) if (c.column >= c0 && c.column <= c1 && c.row >= r0 && c.row <= r1) traces += c.traces;
      const band: HeatmapBand = { startMs: map.startMs + c0 * map.stepMs, endMs: Math.min(map.endMs, map.startMs + (c1 + 1) * map.stepMs), traces };
      // No trace lies beyond the rows drawn: a band that reaches the top (bottom) row is open above (below).
      if (r0 > firstRow) band.minNs = rowLowerNs(map.durationBoundsNs, r0);
      if (r1 < lastRow) band.maxNs = rowUpperNs(map.durationBoundsNs, r1);
      return band;
    },
  };
}

function timeTicksIn(startMs: number, endMs: number): number[] {
  return timeTicks(startMs, endMs, 6);
}

/**
 * The Compare page for a band brushed on the heatmap: the selection is the
 * search's own query narrowed to the band's durations, the baseline the
 * search's query (the rest of its traces; every other trace when the
 * search has none), both over the band's time.
 */
export function bandCompare(q: string, band: Pick<HeatmapBand, 'startMs' | 'endMs' | 'minNs' | 'maxNs'>): { q: string; baseline: string; range: { start: number; end: number } } {
  const lo = band.minNs !== undefined ? traceqlDuration(band.minNs / 1e6) : undefined;
  const hi = band.maxNs !== undefined ? traceqlDuration(band.maxNs / 1e6) : undefined;
  const text = q.trim();
  let selection: string | undefined = applyQuickFilter(text, 'minDuration', lo);
  if (selection !== undefined) selection = applyQuickFilter(selection, 'maxDuration', hi);
  if (selection === undefined) {
    const terms = [lo && `traceDuration >= ${lo}`, hi && `traceDuration <= ${hi}`].filter(Boolean);
    // Not one filter (spanset operators, a pipeline): a filter stage on the
    // trace's duration keeps or drops each spanset whole.
    selection = terms.length > 0 ? `${text} | { ${terms.join(' && ')} }` : text;
  }
  if (selection.trim() === '') selection = '{ }';
  return { q: selection, baseline: text === '{ }' ? '' : text, range: { start: Math.floor(band.startMs / 1000), end: Math.ceil(band.endMs / 1000) } };
}
