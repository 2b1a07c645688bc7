import { NUMERIC_LEVELS, type DiagnosisPort, type TenantScope, type TimeRange, type TraceAttributeStats } from '../store/index.js';
import type { Query } from '../query/traceql/index.js';
import { baselineTraces, selectTraces, type SelectionStore, type TraceGroup } from './selection.js';

/**
 * Attribute comparison (BubbleUp, for traces): which attribute values are
 * over-represented in the selected traces compared with the baseline.
 *
 * The unit is the trace: a value's share is the fraction of a group's
 * traces with at least one span (or its resource) carrying it. A request
 * is slow as a whole, and the attribute that explains it may sit on any of
 * its spans (the tenant on the entry span, the region on a downstream
 * resource). Comparing traces with traces also keeps the mix of span kinds
 * the same on both sides, so attributes that only some spans carry are not
 * diluted by the spans that lack them.
 */

export interface CompareOptions {
  range: TimeRange;
  selection: Query;
  /** Default: every other trace in the range. */
  baseline?: Query;
  /** Traces per group; more are sampled (a uniform sample, reported). */
  maxTraces: number;
  /** Entries returned in each list. */
  limit: number;
  /** Most frequent values kept per key and group. */
  valuesPerKey?: number;
}

export interface AttributeDiff {
  scope: 'span' | 'resource' | 'intrinsic';
  key: string;
  value: string;
  type: 'string' | 'int' | 'float' | 'bool';
  selectionShare: number;
  baselineShare: number;
  selectionTraces: number;
  baselineTraces: number;
  score: number;
  /**
   * Other values found in exactly as many traces of each group, folded into
   * this row: stand-ins that say the same thing (the ports of the services
   * in one region, next to cloud.region). The row's own value is the one
   * whose key has the fewest distinct values, the most general explanation.
   */
  equivalent?: { scope: AttributeDiff['scope']; key: string; value: string }[];
}

export interface Distribution {
  spans: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface NumericDiff {
  scope: 'span' | 'resource' | 'intrinsic';
  key: string;
  selection: Distribution | null;
  baseline: Distribution | null;
  /** Kolmogorov-Smirnov statistic, from the quantiles at 5% steps. */
  ks: number;
  /** Where the selection's median lies against the baseline's. */
  direction: 'higher' | 'lower' | 'same';
  score: number;
}

export interface CompareJson {
  attributes: AttributeDiff[];
  numeric: NumericDiff[];
  inspected: {
    unit: 'trace';
    selectionTraces: number;
    baselineTraces: number;
    selectionSpans: number;
    baselineSpans: number;
    /** A group had more traces than maxTraces, and a uniform sample of it was compared. */
    sampled: boolean;
    maxTraces: number;
  };
}

/**
 * The lower bound of a 95% confidence interval of the difference between
 * two proportions (s of S, b of B), towards zero: the share difference,
 * less what chance alone could explain at these counts. Values seen in a
 * handful of traces score near zero however lopsided they are.
 */
export function shareScore(s: number, S: number, b: number, B: number): number {
  if (S === 0 || B === 0) return 0;
  const d = s / S - b / B;
  const p = (s + b) / (S + B);
  const margin = 1.96 * Math.sqrt(p * (1 - p) * (1 / S + 1 / B));
  if (d > 0) return Math.max(0, d - margin);
  return Math.min(0, d + margin);
}

/** F(x) of a distribution known by its quantiles at `levels`. */
export function cdfAt(levels: readonly number[], quantiles: readonly number[], x: number): number {
  if (x < quantiles[0]) return 0;
  if (x >= quantiles[quantiles.length - 1]) return 1;
  // The last level whose quantile is <= x (ties: the highest), interpolated to the next.
  let i = 0;
  while (i + 1 < quantiles.length && quantiles[i + 1] <= x) i++;
  const lo = quantiles[i];
  const hi = quantiles[i + 1];
  if (hi === lo) return levels[i];
  return levels[i] + ((levels[i + 1] - levels[i]) * (x - lo)) / (hi - lo);
}

/** The largest gap between two CDFs, each known by its quantiles at `levels`. */
export function ksFromQuantiles(levels: readonly number[], a: readonly number[], b: readonly number[]): number {
  let d = 0;
  for (const x of [...a, ...b]) d = Math.max(d, Math.abs(cdfAt(levels, a, x) - cdfAt(levels, b, x)));
  return d;
}

/** The KS statistic less its 5% critical value for these sample sizes (0 when not significant). */
export function ksScore(ks: number, n: number, m: number): number {
  if (n === 0 || m === 0) return 0;
  return Math.max(0, ks - 1.36 * Math.sqrt((n + m) / (n * m)));
}

export async function compareGroups(store: SelectionStore & Pick<DiagnosisPort, 'traceAttributes'>, scope: TenantScope, opts: CompareOptions): Promise<CompareJson> {
  const selected = await selectTraces(store, scope, opts.selection, opts.range, opts.maxTraces);
  const base = await baselineTraces(store, scope, opts.selection, selected, opts.baseline, opts.range, opts.maxTraces);
  const stats = (g: TraceGroup) => store.traceAttributes(scope, { traceIds: g.traceIds, range: opts.range, valuesPerKey: opts.valuesPerKey ?? 50 });
  const [sel, bl] = await Promise.all([stats(selected), stats(base)]);
  return {
    attributes: attributeDiffs(sel, bl).slice(0, opts.limit),
    numeric: numericDiffs(sel, bl).slice(0, opts.limit),
    inspected: {
      unit: 'trace',
      selectionTraces: sel.traces,
      baselineTraces: bl.traces,
      selectionSpans: sel.spans,
      baselineSpans: bl.spans,
      sampled: selected.sampled || base.sampled,
      maxTraces: opts.maxTraces,
    },
  };
}

/**
 * Values present in either group, ranked by score. A value cut from a
 * group's most frequent list counts as absent there: it is rarer than
 * every value kept.
 */
export function attributeDiffs(sel: TraceAttributeStats, base: TraceAttributeStats): AttributeDiff[] {
  const rows = new Map<string, AttributeDiff>();
  const entry = (v: TraceAttributeStats['values'][number]): AttributeDiff => {
    const k = JSON.stringify([v.scope, v.key, v.value, v.type]);
    let row = rows.get(k);
    if (!row) {
      row = { scope: v.scope, key: v.key, value: v.value, type: v.type, selectionShare: 0, baselineShare: 0, selectionTraces: 0, baselineTraces: 0, score: 0 };
      rows.set(k, row);
    }
    return row;
  };
  for (const v of sel.values) entry(v).selectionTraces = v.traces;
  for (const v of base.values) entry(v).baselineTraces = v.traces;
  const out = [...rows.values()];
  for (const r of out) {
    r.selectionShare = sel.traces > 0 ? r.selectionTraces / sel.traces : 0;
    r.baselineShare = base.traces > 0 ? r.baselineTraces / base.traces : 0;
    r.score = shareScore(r.selectionTraces, sel.traces, r.baselineTraces, base.traces);
  }
  // Distinct values per key: among equals, the key with fewer values is the more general explanation.
  const cardinality = new Map<string, number>();
  for (const r of out) cardinality.set(`${r.scope}\u0000${r.key}`, (cardinality.get(`${r.scope}\u0000${r.key}`) ?? 0) + 1);
  const valuesOf = (r: AttributeDiff) => cardinality.get(`${r.scope}\u0000${r.key}`)!;
  out.sort(
    (a, b) =>
      b.score - a.score ||
      b.selectionShare - b.baselineShare - (a.selectionShare - a.baselineShare) ||
      b.selectionTraces - a.selectionTraces ||
      valuesOf(a) - valuesOf(b) ||
      (a.key < b.key ? -1 : a.key > b.key ? 1 : a.value < b.value ? -1 : 1),
  );
  // Fold the stand-ins of a value that explains something into its row.
  const folded: AttributeDiff[] = [];
  const leaders = new Map<string, AttributeDiff>();
  for (const r of out) {
    const same = `${r.selectionTraces}/${r.baselineTraces}`;
    const leader = r.score > 0 ? leaders.get(same) : undefined;
    if (leader && leader.score === r.score) {
      (leader.equivalent ??= []).push({ scope: r.scope, key: r.key, value: r.value });
      continue;
    }
    if (r.score > 0 && !leaders.has(same)) leaders.set(same, r);
    folded.push(r);
  }
  return folded;
}

function distribution(q: number[] | undefined, spans: number): Distribution | null {
  if (!q) return null;
  const at = (level: number) => q[NUMERIC_LEVELS.indexOf(level)];
  return { spans, min: at(0), p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1) };
}

export function numericDiffs(sel: TraceAttributeStats, base: TraceAttributeStats): NumericDiff[] {
  const keys = new Map<string, { scope: NumericDiff['scope']; key: string; sel?: TraceAttributeStats['numeric'][number]; base?: TraceAttributeStats['numeric'][number] }>();
  for (const [side, stats] of [['sel', sel], ['base', base]] as const) {
    for (const n of stats.numeric) {
      const k = JSON.stringify([n.scope, n.key]);
      const e = keys.get(k) ?? { scope: n.scope, key: n.key };
      e[side] = n;
      keys.set(k, e);
    }
  }
  const out: NumericDiff[] = [];
  for (const e of keys.values()) {
    const a = e.sel?.quantiles;
    const b = e.base?.quantiles;
    const ks = a && b ? ksFromQuantiles(NUMERIC_LEVELS, a, b) : 0;
    const median = NUMERIC_LEVELS.indexOf(0.5);
    const direction = a && b ? (a[median] > b[median] ? 'higher' : a[median] < b[median] ? 'lower' : 'same') : 'same';
    out.push({
      scope: e.scope,
      key: e.key,
      selection: distribution(a, e.sel?.spans ?? 0),
      baseline: distribution(b, e.base?.spans ?? 0),
      ks,
      direction,
      score: ksScore(ks, e.sel?.spans ?? 0, e.base?.spans ?? 0),
    });
  }
  return out.sort((x, y) => y.score - x.score || y.ks - x.ks || (x.key < y.key ? -1 : 1));
}
