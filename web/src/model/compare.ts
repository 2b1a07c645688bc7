import { attributeRef, quoteString } from './traceql-tokens.js';
import { formatDuration, formatMs, formatClock, timeTicks } from './format.js';
import { windowLabel } from './time-range.js';

/**
 * GET /api/sightline/compare and GET /api/sightline/critical-path?q=&baseline=
 * (src/diagnosis/compare.ts, aggregate-path.ts): two groups of traces, what
 * sets the selection apart, and where its extra time goes on the path.
 */
export interface AttributeDiffJson {
  scope: 'span' | 'resource' | 'intrinsic';
  key: string;
  value: string;
  type: 'string' | 'int' | 'float' | 'bool';
  selectionShare: number;
  baselineShare: number;
  selectionTraces: number;
  baselineTraces: number;
  score: number;
  /** Values in exactly as many traces of each group, folded into this row. */
  equivalent?: { scope: 'span' | 'resource' | 'intrinsic'; key: string; value: string; type?: 'string' | 'int' | 'float' | 'bool' }[];
  /** The row stands for every value of a high-cardinality key; its own value and shares are its best value's. */
  grouped?: GroupedKeyJson;
}

export interface GroupedKeyJson {
  /** `spread`: values spread thin on both sides; `identifier-key`: a convention's identifier key (a port, an address, an id, a URL, a statement); `numbers`: a number with many values. */
  reason: 'spread' | 'identifier-key' | 'numbers';
  kind?: 'port' | 'address' | 'id' | 'url' | 'statement';
  selectionDistinct: number;
  baselineDistinct: number;
  selectionKeyTraces: number;
  baselineKeyTraces: number;
  /** No single value is on half the selection: the row was ranked below what it is a fragment of. */
  demoted: boolean;
  values: { value: string; type: 'string' | 'int' | 'float' | 'bool'; selectionTraces: number; baselineTraces: number; score: number }[];
  folded: number;
}

export interface NumericDiffJson {
  scope: 'span' | 'resource' | 'intrinsic';
  key: string;
  selection: DistributionJson | null;
  baseline: DistributionJson | null;
  ks: number;
  direction: 'higher' | 'lower' | 'same';
  /** Where the distributions are furthest apart: each group's share of spans above `at`. */
  gap?: { at: number; selectionAbove: number; baselineAbove: number } | null;
  score: number;
  /** A number that names something (a port, a pid): ranked after every measurement. */
  identifier?: 'port' | 'address' | 'id' | 'url' | 'statement';
}

export interface DistributionJson {
  spans: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface CompareJson {
  attributes: AttributeDiffJson[];
  numeric: NumericDiffJson[];
  inspected: { unit: 'trace'; selectionTraces: number; baselineTraces: number; selectionSpans: number; baselineSpans: number; sampled: boolean; maxTraces: number };
}

export interface OperationOnPathJson {
  share: number;
  meanOnPathNs: number;
  p50OnPathNs: number;
  p95OnPathNs: number;
  traces: number;
  spansPerTrace: number;
}

export interface GroupSummaryJson {
  traces: number;
  sampled: boolean;
  meanDurationNs: number;
  p50DurationNs: number;
  p95DurationNs: number;
}

export interface AggregatePathJson {
  selection: GroupSummaryJson;
  baseline: GroupSummaryJson;
  extraLatencyNs: number;
  operations: { service: string; operation: string; selection: OperationOnPathJson; baseline: OperationOnPathJson; explainsNs: number; explainedShare: number | null }[];
}

const KEYWORD_INTRINSICS = new Set(['status', 'kind']);

/** The TraceQL condition an attribute row stands for: `span.feature.flag = "x"`, `status = error`, `resource.n = 3`. */
export function attributeCondition(a: Pick<AttributeDiffJson, 'scope' | 'key' | 'value' | 'type'>): string {
  const field = a.scope === 'intrinsic' ? a.key : attributeRef(a.scope, a.key);
  const value = a.type === 'string' && !(a.scope === 'intrinsic' && KEYWORD_INTRINSICS.has(a.key)) ? quoteString(a.value) : a.value;
  return `${field} = ${value}`;
}

/** How a person reads the row: `span.feature.flag = new-pricing`. */
export function attributeLabel(a: Pick<AttributeDiffJson, 'scope' | 'key' | 'value'>): string {
  return `${a.scope === 'intrinsic' ? '' : `${a.scope}.`}${a.key} = ${a.value}`;
}

/** The condition of a (service, operation) row of the critical-path diff. */
export function operationCondition(service: string, operation: string): string {
  return `resource.service.name = ${quoteString(service)} && name = ${quoteString(operation)}`;
}

/**
 * A search for example traces of one group that also have a span matching
 * `condition`. Without a baseline query the baseline is "every other
 * trace", which TraceQL cannot say; its examples are the traces with the
 * condition, whichever group they are in.
 */
export function exampleQuery(groupQuery: string | undefined, condition: string): string {
  const group = groupQuery?.trim();
  return group ? `${group} && { ${condition} }` : `{ ${condition} }`;
}

/** A TraceQL duration for ms: whole units where it reads well (`250ms`, `1.5s`, `800us`). */
export function traceqlDuration(ms: number): string {
  if (ms >= 1000) return `${Number((ms / 1000).toFixed(3))}s`;
  if (ms >= 1) return `${Number(ms.toFixed(1))}ms`;
  return `${Math.max(1, Math.round(ms * 1000))}us`;
}

/** The selection for a band of trace durations picked on the latency chart. */
export function durationBandQuery(loMs: number, hiMs: number): string {
  return `{ traceDuration >= ${traceqlDuration(loMs)} && traceDuration <= ${traceqlDuration(hiMs)} }`;
}

/**
 * A share as a percentage that never says what the count does not: "0%"
 * only for none and "100%" only for all, "<1%" and ">99%" for what
 * rounding would hide either way.
 */
export function formatShare(share: number): string {
  if (!(share > 0)) return '0%';
  if (share >= 1) return '100%';
  if (share < 0.005) return '<1%';
  if (share >= 0.995) return '>99%';
  return `${Math.round(share * 100)}%`;
}

/** A share for a bar's width: within 0-100%. */
export function barWidth(share: number): string {
  return `${Math.max(0, Math.min(1, share)) * 100}%`;
}

/** `span.net.peer.port`, `name`: how a key reads in a row. */
export function keyLabel(a: { scope: 'span' | 'resource' | 'intrinsic'; key: string }): string {
  return a.scope === 'intrinsic' ? a.key : `${a.scope}.${a.key}`;
}

const KIND_WORDS: Record<NonNullable<GroupedKeyJson['kind']>, string> = {
  port: 'port numbers name connections',
  address: 'addresses name peers',
  id: 'ids name single requests',
  url: 'URLs carry record ids',
  statement: 'statements carry literal values',
};

export interface AttributeRowView {
  /** React key, and what the browser test reads. */
  id: string;
  grouped: boolean;
  /** `span.tenant.id = riverside`, or for a grouped key `span.network.peer.port`. */
  label: string;
  /** The TraceQL condition of the row's (best) value. */
  condition: string;
  selectionShare: number;
  baselineShare: number;
  selection: string;
  baseline: string;
  /** The counts behind the shares: "320 of 450". */
  selectionCount: string;
  baselineCount: string;
  /** Values in exactly the same traces, folded into this row, all of them. */
  sameAs: { label: string; condition: string }[];
  /** For a grouped key: what was grouped and why, and its best values. */
  group?: {
    summary: string;
    why: string;
    demoted: boolean;
    values: { label: string; condition: string; selection: string; baseline: string }[];
    more: number;
  };
}

/**
 * The attribute rows of a comparison as the page lists them: the rows
 * that set the selection apart (score > 0) first, up to `limit`; the rest
 * are counted in `weak` (shown on demand).
 */
export function attributeRows(data: Pick<CompareJson, 'attributes' | 'inspected'>, limit = 15): { rows: AttributeRowView[]; weak: AttributeRowView[] } {
  const S = data.inspected.selectionTraces;
  const B = data.inspected.baselineTraces;
  const views = data.attributes.map((a): AttributeRowView => {
    const condition = attributeCondition(a);
    const g = a.grouped;
    const view: AttributeRowView = {
      id: `${a.scope}|${a.key}|${g ? '*' : a.value}`,
      grouped: !!g,
      label: g ? keyLabel(a) : attributeLabel(a),
      condition,
      selectionShare: a.selectionShare,
      baselineShare: a.baselineShare,
      selection: formatShare(a.selectionShare),
      baseline: formatShare(a.baselineShare),
      selectionCount: `${a.selectionTraces.toLocaleString('en-US')} of ${S.toLocaleString('en-US')}`,
      baselineCount: `${a.baselineTraces.toLocaleString('en-US')} of ${B.toLocaleString('en-US')}`,
      sameAs: (a.equivalent ?? []).map((e) => ({ label: attributeLabel(e), condition: attributeCondition({ ...e, type: e.type ?? 'string' }) })),
    };
    if (g) {
      const distinct =
        g.selectionDistinct === g.baselineDistinct
          ? `${g.selectionDistinct.toLocaleString('en-US')} distinct values in each group`
          : `${g.selectionDistinct.toLocaleString('en-US')} distinct values in the selection, ${g.baselineDistinct.toLocaleString('en-US')} in the baseline`;
      const why =
        g.reason === 'identifier-key' && g.kind
          ? `${KIND_WORDS[g.kind]}, not causes`
          : g.reason === 'numbers'
            ? 'a number with many values: see how its distribution moved under "Numbers that moved"'
            : 'no value is on more than 10% of the traces carrying the key';
      view.group = {
        summary: `${distinct}, high-cardinality — grouped`,
        why:
          why +
          (g.demoted ? `; the best is on ${formatShare(a.selectionShare)} of the selection, so it ranks below what it is a fragment of` : ''),
        demoted: g.demoted,
        values: g.values.map((v) => {
          const one = { scope: a.scope, key: a.key, value: v.value, type: v.type };
          return { label: v.value, condition: attributeCondition(one), selection: formatShare(S > 0 ? v.selectionTraces / S : 0), baseline: formatShare(B > 0 ? v.baselineTraces / B : 0) };
        }),
        more: Math.max(0, g.folded - g.values.length),
      };
    }
    return view;
  });
  const strong = data.attributes.map((a, i) => ({ a, v: views[i] })).filter(({ a }) => a.score > 0);
  const rows = strong.slice(0, limit).map(({ v }) => v);
  const shown = new Set(rows);
  return { rows, weak: views.filter((v) => !shown.has(v)) };
}

/** A number of a numeric key, as its unit reads: durations as durations. */
export function numericValue(n: Pick<NumericDiffJson, 'scope' | 'key'>, v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '—';
  if (n.scope === 'intrinsic' && n.key === 'duration') return formatDuration(v);
  return String(Number(v.toPrecision(4)));
}

/**
 * The Kolmogorov–Smirnov statistic in words: where the two groups' values
 * are furthest apart, and how many of each lie beyond that point.
 * "The selection's values are mostly higher: 80% of selected spans vs 20%
 * of baseline spans are above 120 ms."
 */
export function ksSentence(n: NumericDiffJson): string {
  if (n.identifier) return `Not ranked: ${KIND_WORDS[n.identifier]}, so how far apart they are says nothing.`;
  if (!n.selection || !n.baseline) return n.selection ? 'Only the selection has this key.' : 'Only the baseline has this key.';
  const gap = n.gap;
  if (!gap || n.ks < 0.005) return 'The two groups have the same spread of values.';
  const at = numericValue(n, gap.at);
  const higher = gap.selectionAbove >= gap.baselineAbove;
  const sentence = higher
    ? `The selection's values are mostly higher: ${formatShare(gap.selectionAbove)} of selected spans vs ${formatShare(gap.baselineAbove)} of baseline spans are above ${at}.`
    : `The selection's values are mostly lower: ${formatShare(1 - gap.selectionAbove)} of selected spans vs ${formatShare(1 - gap.baselineAbove)} of baseline spans are at or below ${at}.`;
  return n.score > 0 ? sentence : `${sentence} At these counts, chance could do that.`;
}

export interface PathShareView {
  /** "+12.3 ms" or "−1.2 ms". */
  delta: string;
  /** Of the time the selection added on its critical path (every operation that got slower, summed): "45%", "<1%"; null for operations that got faster. */
  share: string | null;
  /** For a bar: within 0-1. */
  fraction: number;
}

/**
 * What each operation of the critical-path diff adds, as a share of all
 * the time added. Against the net extra latency (the API's
 * explainedShare) an operation can explain more than 100% when others got
 * faster, and shares of nothing read "0%". Against the sum of what the
 * slower operations add, the shares of those are within 0-100% and sum to
 * 100%; an operation that got faster says how much it saves instead.
 */
export function pathShares(data: Pick<AggregatePathJson, 'operations'>): PathShareView[] {
  const added = data.operations.reduce((sum, o) => sum + Math.max(0, o.explainsNs), 0);
  return data.operations.map((o) => ({
    delta: `${o.explainsNs >= 0 ? '+' : '−'}${formatDuration(Math.abs(o.explainsNs))}`,
    share: o.explainsNs > 0 && added > 0 ? formatShare(o.explainsNs / added) : null,
    fraction: added > 0 ? Math.max(0, Math.min(1, Math.abs(o.explainsNs) / added)) : 0,
  }));
}

/** GET /api/sightline/compare/latency (src/diagnosis/compare-latency.ts). */
export interface LatencyGroupJson {
  total: number;
  totalExact: boolean;
  sampled: boolean;
  traces: { traceId: string; startMs: number; durationMs: number }[];
}

export interface LatencyJson {
  startMs: number;
  endMs: number;
  maxTraces: number;
  selection: LatencyGroupJson | null;
  baseline: LatencyGroupJson;
  /** The baseline's own window, when it has one (startMs/endMs are then the selection's). */
  baselineWindow?: { startMs: number; endMs: number };
}

/** The two windows of a comparison across time, as the page states them. */
export interface CompareWindowsView {
  /** How each group reads: "after", "before", or, for windows that overlap, "selection" and "baseline". */
  selectionRole: 'after' | 'before' | 'selection';
  baselineRole: 'after' | 'before' | 'baseline';
  /** "2026-12-03 14:00–15:00". */
  selection: string;
  /** "13:00–14:00": without the date when it is the selection's. */
  baseline: string;
  /** "After deploy checkout 2.0.0: 2026-12-03 14:00–15:00 vs before: 13:00–14:00". */
  sentence: string;
}

/**
 * What a comparison of two windows says: which comes first, each window,
 * and what happened between them (`event`, "deploy checkout 2.0.0").
 * Windows that overlap are the selection's and the baseline's.
 */
export function compareWindows(selection: { start: number; end: number }, baseline: { start: number; end: number }, event?: string): CompareWindowsView {
  const [selectionRole, baselineRole] =
    baseline.end <= selection.start ? (['after', 'before'] as const) : baseline.start >= selection.end ? (['before', 'after'] as const) : (['selection', 'baseline'] as const);
  const sel = windowLabel(selection);
  const base = windowLabel(baseline, selection.start);
  const head = `${selectionRole[0].toUpperCase()}${selectionRole.slice(1)}${event && selectionRole !== 'selection' ? ` ${event}` : ''}`;
  return { selectionRole, baselineRole, selection: sel, baseline: base, sentence: `${head}: ${sel} vs ${baselineRole}: ${base}` };
}

const count = (n: number) => n.toLocaleString('en-US');

/** How one group of the chart was drawn: "464 traces", "1,000 of 8,048 traces, sampled uniformly". */
export function groupCaption(g: LatencyGroupJson): string {
  const drawn = g.traces.length;
  const total = g.totalExact ? count(g.total) : `more than ${count(g.total - 1)}`;
  if (!g.sampled && drawn >= g.total) return `${count(drawn)} trace${drawn === 1 ? '' : 's'}`;
  return `${count(drawn)} of ${total} traces, sampled uniformly`;
}

/** The chart's caption: what it draws, and how it sampled. */
export function latencyCaption(data: LatencyJson): string {
  if (!data.selection) return `${groupCaption(data.baseline)} in the range.`;
  if (data.baselineWindow) return `Selection: ${groupCaption(data.selection)} in its window. Baseline: ${groupCaption(data.baseline)} in its own window. These are the traces compared below.`;
  return `Selection: ${groupCaption(data.selection)}. Baseline: ${groupCaption(data.baseline)}. These are the traces compared below.`;
}

export interface LatencyPoint {
  traceId: string;
  group: 'selection' | 'baseline';
  x: number;
  y: number;
  durationMs: number;
}

export interface LatencyLayout {
  points: LatencyPoint[];
  /** With a baseline window: each group's window across the chart, to shade. */
  windows: { group: 'selection' | 'baseline'; x0: number; x1: number }[];
  xTicks: { x: number; label: string }[];
  yTicks: { y: number; label: string }[];
  /** The duration (ms) at a y pixel, and back. */
  durationAt(y: number): number;
  yOf(ms: number): number;
}

/**
 * Trace durations over the whole range: x is the trace's start across the
 * range, y its duration on a log scale (durations spread over orders of
 * magnitude). Baseline points first, so the selection draws on top. With
 * a baseline window, x covers both windows, and each is shaded.
 */
export function latencyLayout(data: LatencyJson, width: number, height: number): LatencyLayout {
  const all = [...data.baseline.traces, ...(data.selection?.traces ?? [])];
  const durations = all.map((t) => Math.max(t.durationMs, 0.001));
  const maxD = Math.max(1, ...durations);
  const minD = Math.min(maxD / 10, ...durations);
  const lo = Math.log10(minD) - 0.05;
  const hi = Math.log10(maxD) + 0.05;
  const yOf = (ms: number) => height - ((Math.log10(Math.max(ms, 0.001)) - lo) / (hi - lo)) * height;
  const durationAt = (y: number) => 10 ** (lo + ((height - y) / height) * (hi - lo));
  const bw = data.baselineWindow;
  const startMs = bw ? Math.min(data.startMs, bw.startMs) : data.startMs;
  const endMs = bw ? Math.max(data.endMs, bw.endMs) : data.endMs;
  const spanMs = Math.max(1, endMs - startMs);
  const xOf = (ms: number) => Math.max(0, Math.min(width, ((ms - startMs) / spanMs) * width));
  const point = (group: LatencyPoint['group']) => (t: LatencyGroupJson['traces'][number]): LatencyPoint => ({ traceId: t.traceId, group, x: xOf(t.startMs), y: yOf(t.durationMs), durationMs: t.durationMs });
  const yTicks: { y: number; label: string }[] = [];
  for (let p = Math.ceil(lo); p <= Math.floor(hi); p++) for (const m of [1, 2, 5]) {
    const ms = m * 10 ** p;
    if (ms >= 10 ** lo && ms <= 10 ** hi && (m === 1 || hi - lo < 2.5)) yTicks.push({ y: yOf(ms), label: formatMs(ms) });
  }
  const ticks = timeTicks(startMs, endMs, 6);
  const step = ticks.length > 1 ? ticks[1] - ticks[0] : 60_000;
  return {
    points: [...data.baseline.traces.map(point('baseline')), ...(data.selection?.traces ?? []).map(point('selection'))],
    windows: bw
      ? [
          { group: 'baseline', x0: xOf(bw.startMs), x1: xOf(bw.endMs) },
          { group: 'selection', x0: xOf(data.startMs), x1: xOf(data.endMs) },
        ]
      : [],
    xTicks: ticks.map((ms) => ({ x: xOf(ms), label: formatClock(ms, step) })),
    yTicks,
    durationAt,
    yOf,
  };
}

/** The band of a selection written by durationBandQuery, to draw it again: [lo, hi] in ms, or null. */
export function parseDurationBand(q: string): [number, number] | null {
  const m = /^\{\s*traceDuration\s*>=\s*([\d.]+)(us|ms|s)\s*&&\s*traceDuration\s*<=\s*([\d.]+)(us|ms|s)\s*\}$/.exec(q.trim());
  if (!m) return null;
  const ms = (v: string, unit: string) => Number(v) * (unit === 's' ? 1000 : unit === 'us' ? 0.001 : 1);
  return [ms(m[1], m[2]), ms(m[3], m[4])];
}

