import { NUMERIC_LEVELS, type DiagnosisPort, type TenantScope, type TimeRange, type TraceAttributeStats } from '../store/index.js';
import type { Query } from '../query/traceql/index.js';
import { selectGroups, type SelectionStore, type TraceGroup } from './selection.js';

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
  /** Default: every other trace in the range; with `baselineRange`, the selection's query there. */
  baseline?: Query;
  /** The baseline's own window (the hour before a deploy); default `range` (selectGroups). */
  baselineRange?: TimeRange;
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
  equivalent?: { scope: AttributeDiff['scope']; key: string; value: string; type: AttributeDiff['type'] }[];
  /**
   * This row stands for every value of a high-cardinality key (see
   * `KeySpread`): the row's own value, shares and score are its best
   * value's, and `values` lists the best few.
   */
  grouped?: GroupedKey;
}

/** Why a key's values are nearly unique per trace or connection, rather than categories. */
export type IdentifierKind = 'port' | 'address' | 'id' | 'url' | 'statement';

export interface GroupedKey {
  /**
   * `spread`: any key whose values are spread thin on both sides: at
   * least MIN_DISTINCT of them, none in more than SPREAD_SHARE of the
   * traces carrying the key. `identifier-key`: a semantic-convention key
   * naming a connection, peer, request or record (`kind` says which) with
   * at least MIN_DISTINCT values. `numbers`: an int or float key with at
   * least MIN_DISTINCT values, a quantity whose single values are
   * fragments of its distribution (which `numeric` compares).
   */
  reason: 'spread' | 'identifier-key' | 'numbers';
  kind?: IdentifierKind;
  /** Distinct values and the traces carrying the key, per group (0 where the key is absent). */
  selectionDistinct: number;
  baselineDistinct: number;
  selectionKeyTraces: number;
  baselineKeyTraces: number;
  /**
   * No single value of the key is in DOMINANT_SHARE of the selected
   * traces, so each is a fragment of whatever else sets them apart: the
   * row ranks as if it scored DEMOTION of its best value's score.
   */
  demoted: boolean;
  /** The key's values with the highest scores, best first (up to GROUPED_VALUES_SHOWN). */
  values: { value: string; type: AttributeDiff['type']; selectionTraces: number; baselineTraces: number; score: number }[];
  /** Value rows folded into this one (of the kept values). */
  folded: number;
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
  /**
   * Where the two distributions are furthest apart (the KS statistic, in
   * words): the share of each group's spans above `at`. Null unless both
   * groups have the key.
   */
  gap: { at: number; selectionAbove: number; baselineAbove: number } | null;
  score: number;
  /**
   * A number that names something (a port, a process id) rather than
   * measuring it: its distribution says nothing, so the row is ranked after
   * every measurement.
   */
  identifier?: IdentifierKind;
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
  return largestGap(levels, a, b).ks;
}

/**
 * The largest gap between two CDFs and where it is: `at`, and each CDF
 * there. Among equal gaps, the smallest `at`.
 */
export function largestGap(levels: readonly number[], a: readonly number[], b: readonly number[]): { ks: number; at: number; fa: number; fb: number } {
  let best = { ks: 0, at: a[0] ?? 0, fa: 0, fb: 0 };
  for (const x of [...a, ...b].sort((p, q) => p - q)) {
    const fa = cdfAt(levels, a, x);
    const fb = cdfAt(levels, b, x);
    if (Math.abs(fa - fb) > best.ks) best = { ks: Math.abs(fa - fb), at: x, fa, fb };
  }
  return best;
}

/** The KS statistic less its 5% critical value for these sample sizes (0 when not significant). */
export function ksScore(ks: number, n: number, m: number): number {
  if (n === 0 || m === 0) return 0;
  return Math.max(0, ks - 1.36 * Math.sqrt((n + m) / (n * m)));
}

export async function compareGroups(store: SelectionStore & Pick<DiagnosisPort, 'traceAttributes'>, scope: TenantScope, opts: CompareOptions): Promise<CompareJson> {
  const { selected, base, baselineRange } = await selectGroups(store, scope, opts);
  const stats = (g: TraceGroup, range: TimeRange) => store.traceAttributes(scope, { traceIds: g.traceIds, range, valuesPerKey: opts.valuesPerKey ?? 50 });
  const [sel, bl] = await Promise.all([stats(selected, opts.range), stats(base, baselineRange)]);
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

/** Keys with fewer distinct values than this are never grouped: a handful of values reads well as rows. */
export const MIN_DISTINCT = 10;
/** A key is spread thin when no value is in more than this share of the traces carrying it, on either side. */
export const SPREAD_SHARE = 0.1;
/** A grouped key ranks by its best value only when that value is in at least this share of the selected traces. */
export const DOMINANT_SHARE = 0.5;
/**
 * A demoted grouped row ranks as if its best value's score were this much
 * of itself: after every ungrouped value scoring at least half as high.
 * Fragments are bounded by their share (under DOMINANT_SHARE), so a cause
 * they are fragments of scores well above them; when nothing else scores
 * (a fault of load, not of any attribute), they still lead, grouped.
 */
export const DEMOTION = 0.5;
/** Values listed in a grouped row. */
export const GROUPED_VALUES_SHOWN = 10;

/**
 * Semantic-convention keys whose values name one connection, peer, request
 * or record rather than a category: every `*.port`, the client and peer
 * addresses, ids of traces, requests and messages, process and thread ids,
 * full URLs and paths (which carry record ids), and database statements
 * (which carry literals). `server.address` is not one: it names a service.
 * This is a prior only: for values, the key must also have MIN_DISTINCT
 * distinct values before it is grouped.
 */
export function identifierPrior(key: string): IdentifierKind | undefined {
  const k = key.toLowerCase();
  if (/(^|[._])port$/.test(k)) return 'port';
  if (/^(client|source|destination)\.(address|ip)$|^(network|net)\.(peer|local|sock\.peer|sock\.host)\.(address|addr|ip)$|^net\.peer\.ip$|^http\.client_ip$|^client\.socket\.address$/.test(k)) return 'address';
  if (/(^|[._])((trace|span|request|message|correlation)[._]?id|uuid|pid)$|^thread\.id$/.test(k)) return 'id';
  if (/^(url\.full|url\.path|url\.query|http\.url|http\.target)$/.test(k)) return 'url';
  if (/^(db\.statement|db\.query\.text)$/.test(k)) return 'statement';
  return undefined;
}

/** A number that names something: its magnitude means nothing, so its distribution is not compared for rank. */
function numericIdentifier(key: string): IdentifierKind | undefined {
  const kind = identifierPrior(key);
  return kind === 'port' || kind === 'id' ? kind : undefined;
}

/** One group's view of a key: distinct values, traces carrying it, and the traces of its most frequent value. */
export interface SideSpread {
  distinct: number;
  traces: number;
  top: number;
}

/** How a key's values spread over each group's traces, and whether its values are grouped into one row. */
export interface KeySpread {
  scope: AttributeDiff['scope'];
  key: string;
  selection: SideSpread | null;
  baseline: SideSpread | null;
  grouped: GroupedKey['reason'] | null;
  kind?: IdentifierKind;
}

const keyOf = (scope: string, key: string) => `${scope}\u0000${key}`;

/** Values kept per key. */
function keptCounts(stats: TraceAttributeStats): Map<string, number> {
  const out = new Map<string, number>();
  for (const v of stats.values) out.set(keyOf(v.scope, v.key), (out.get(keyOf(v.scope, v.key)) ?? 0) + 1);
  return out;
}

function sideSpreads(stats: TraceAttributeStats): Map<string, SideSpread> {
  const out = new Map<string, SideSpread>();
  for (const v of stats.values) {
    const k = keyOf(v.scope, v.key);
    // Without the store's per-key row: the kept values, over every trace of the group.
    const s = out.get(k) ?? { distinct: 0, traces: stats.traces, top: 0 };
    s.distinct++;
    s.top = Math.max(s.top, v.traces);
    out.set(k, s);
  }
  // The store's per-key counts cover every value, not only the kept ones.
  for (const row of stats.keys) {
    const s = out.get(keyOf(row.scope, row.key));
    if (s) {
      s.distinct = Math.max(s.distinct, row.distinct);
      s.traces = row.traces;
    }
  }
  return out;
}

/**
 * Which keys have values nearly unique per trace or connection, from the
 * data: at least MIN_DISTINCT distinct values, and on every side that has
 * the key, no value in more than SPREAD_SHARE of the traces carrying it
 * (`spread`). Or a semantic-convention identifier key (identifierPrior)
 * with at least MIN_DISTINCT values on a side (`identifier-key`): an
 * ephemeral port can be shared by the many requests of one kept-alive
 * connection, so its values are not spread thin, yet each names only a
 * connection. Or a number with at least MIN_DISTINCT values (`numbers`):
 * its distribution is compared as a whole (numericDiffs), and each of its
 * values alone is a slice of that. Intrinsics (name, kind, status) are
 * never grouped.
 */
export function keySpreads(sel: TraceAttributeStats, base: TraceAttributeStats): Map<string, KeySpread> {
  const s = sideSpreads(sel);
  const b = sideSpreads(base);
  // Keys whose every value is an int or a float.
  const numericKeys = new Set<string>();
  const other = new Set<string>();
  for (const v of [...sel.values, ...base.values]) (v.type === 'int' || v.type === 'float' ? numericKeys : other).add(keyOf(v.scope, v.key));
  for (const k of other) numericKeys.delete(k);
  // Distinct values over both groups, where each group's kept values are all it has.
  const union = new Map<string, Set<string>>();
  const [keptSel, keptBase] = [keptCounts(sel), keptCounts(base)];
  for (const v of [...sel.values, ...base.values]) {
    const k = keyOf(v.scope, v.key);
    if ((s.get(k)?.distinct ?? 0) > (keptSel.get(k) ?? 0) || (b.get(k)?.distinct ?? 0) > (keptBase.get(k) ?? 0)) continue;
    let set = union.get(k);
    if (!set) union.set(k, (set = new Set()));
    set.add(`${v.type}\u0000${v.value}`);
  }
  const out = new Map<string, KeySpread>();
  for (const v of [...sel.values, ...base.values]) {
    const k = keyOf(v.scope, v.key);
    if (out.has(k)) continue;
    const selection = s.get(k) ?? null;
    const baseline = b.get(k) ?? null;
    const sides = [selection, baseline].filter((x): x is SideSpread => x !== null);
    const distinct = Math.max(...sides.map((x) => x.distinct), union.get(k)?.size ?? 0);
    const kind = v.scope === 'intrinsic' ? undefined : identifierPrior(v.key);
    let grouped: KeySpread['grouped'] = null;
    if (v.scope !== 'intrinsic' && distinct >= MIN_DISTINCT) {
      if (sides.every((x) => x.distinct >= MIN_DISTINCT && x.top <= SPREAD_SHARE * x.traces)) grouped = 'spread';
      else if (kind) grouped = 'identifier-key';
      else if (numericKeys.has(k)) grouped = 'numbers';
    }
    out.set(k, { scope: v.scope, key: v.key, selection, baseline, grouped, ...(kind ? { kind } : {}) });
  }
  return out;
}

/**
 * Values present in either group, ranked by score. A value cut from a
 * group's most frequent list counts as absent there: it is rarer than
 * every value kept.
 *
 * Values of a high-cardinality key (keySpreads) are grouped into one row
 * per key, which says so. Unless its best value alone is in DOMINANT_SHARE
 * of the selected traces, such a row is demoted (DEMOTION): a port or a
 * patient id that marks a slice of the slow traces is a fragment of what
 * really sets them apart (a region, a tenant, the load), and twenty such
 * rows would bury it.
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
  const spreads = keySpreads(sel, base);
  const spreadOf = (r: AttributeDiff) => spreads.get(keyOf(r.scope, r.key))!;
  const isGrouped = (r: AttributeDiff) => spreadOf(r).grouped !== null;
  // Distinct values per key: among equals, the key with fewer values is the more general explanation.
  const distinctOf = (r: AttributeDiff) => {
    const s = spreadOf(r);
    return Math.max(s.selection?.distinct ?? 0, s.baseline?.distinct ?? 0);
  };
  out.sort(
    (a, b) =>
      b.score - a.score ||
      b.selectionShare - b.baselineShare - (a.selectionShare - a.baselineShare) ||
      b.selectionTraces - a.selectionTraces ||
      Number(isGrouped(a)) - Number(isGrouped(b)) ||
      distinctOf(a) - distinctOf(b) ||
      (a.key < b.key ? -1 : a.key > b.key ? 1 : a.value < b.value ? -1 : 1),
  );
  // Fold the stand-ins of a value that explains something into its row.
  // Only an ungrouped value leads: the region, not one of its ports.
  const folded: AttributeDiff[] = [];
  const leaders = new Map<string, AttributeDiff>();
  for (const r of out) {
    const same = `${r.selectionTraces}/${r.baselineTraces}`;
    const leader = r.score > 0 ? leaders.get(same) : undefined;
    if (leader && leader.score === r.score) {
      (leader.equivalent ??= []).push({ scope: r.scope, key: r.key, value: r.value, type: r.type });
      continue;
    }
    if (r.score > 0 && !isGrouped(r) && !leaders.has(same)) leaders.set(same, r);
    folded.push(r);
  }
  // One row per grouped key, at its best value (the first in rank order).
  const groups = new Map<string, AttributeDiff>();
  const ranked: AttributeDiff[] = [];
  for (const r of folded) {
    const spread = spreadOf(r);
    if (!spread.grouped) {
      ranked.push(r);
      continue;
    }
    const k = keyOf(r.scope, r.key);
    const value = { value: r.value, type: r.type, selectionTraces: r.selectionTraces, baselineTraces: r.baselineTraces, score: r.score };
    const head = groups.get(k);
    if (head) {
      head.grouped!.folded++;
      if (head.grouped!.values.length < GROUPED_VALUES_SHOWN) head.grouped!.values.push(value);
      continue;
    }
    const row: AttributeDiff = {
      ...r,
      grouped: {
        reason: spread.grouped,
        ...(spread.kind ? { kind: spread.kind } : {}),
        selectionDistinct: spread.selection?.distinct ?? 0,
        baselineDistinct: spread.baseline?.distinct ?? 0,
        selectionKeyTraces: spread.selection?.traces ?? 0,
        baselineKeyTraces: spread.baseline?.traces ?? 0,
        demoted: r.selectionShare < DOMINANT_SHARE,
        values: [value],
        folded: 1,
      },
    };
    groups.set(k, row);
    ranked.push(row);
  }
  // A grouped fragment ranks as if it explained DEMOTION of what its best value does. Stable otherwise.
  const rankScore = (r: AttributeDiff) => (r.grouped?.demoted && r.score > 0 ? r.score * DEMOTION : r.score);
  return ranked
    .map((r, i) => ({ r, i, s: rankScore(r) }))
    .sort((x, y) => (x.s > 0 || y.s > 0 ? y.s - x.s : 0) || x.i - y.i)
    .map(({ r }) => r);
}

function distribution(q: number[] | undefined, spans: number): Distribution | null {
  if (!q) return null;
  const at = (level: number) => q[NUMERIC_LEVELS.indexOf(level)];
  return { spans, min: at(0), p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1) };
}

/**
 * Numeric keys ranked by how far apart the groups' distributions are (the
 * KS statistic less its critical value). Numbers that name something
 * (numericIdentifier: ports, process ids) come after every measurement.
 */
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
    const gap = a && b ? largestGap(NUMERIC_LEVELS, a, b) : null;
    const ks = gap?.ks ?? 0;
    const median = NUMERIC_LEVELS.indexOf(0.5);
    const direction = a && b ? (a[median] > b[median] ? 'higher' : a[median] < b[median] ? 'lower' : 'same') : 'same';
    const identifier = e.scope === 'intrinsic' ? undefined : numericIdentifier(e.key);
    out.push({
      scope: e.scope,
      key: e.key,
      selection: distribution(a, e.sel?.spans ?? 0),
      baseline: distribution(b, e.base?.spans ?? 0),
      ks,
      direction,
      gap: gap ? { at: gap.at, selectionAbove: 1 - gap.fa, baselineAbove: 1 - gap.fb } : null,
      score: ksScore(ks, e.sel?.spans ?? 0, e.base?.spans ?? 0),
      ...(identifier ? { identifier } : {}),
    });
  }
  return out.sort((x, y) => Number(!!x.identifier) - Number(!!y.identifier) || y.score - x.score || y.ks - x.ks || (x.key < y.key ? -1 : 1));
}
