import { SightlineError } from '../../errors.js';
import type { KeyValueJson } from '../../model/any-value.js';
import type { Aggregate, Condition, Field, Grouping, MetricsPort, MetricsRow, SearchPort, TenantScope, TimeRange } from '../../store/index.js';
import type { CompareStage, FieldExpr, Intrinsic, MathExpr, MathOp, MetricsFilterStage, MetricsStage, Query, Root, Stage } from './ast.js';
import { TraceQLUnsupportedError, TraceQLValidationError, unlessUnsupported } from './errors.js';
import { Evaluator } from './execute.js';
import { numberField, textField, toCondition, toField } from './request.js';
import { printField } from './printer.js';
import { foldMath } from './values.js';

/**
 * TraceQL metrics: `{ filter } | fn(...) [by(...)] [| topk(n) | bottomk(n)]`,
 * computed in SQL from the raw spans, one bucket per step. Quantiles are
 * exact (quantilesExact over the spans of each bucket), not estimated from
 * histogram buckets.
 *
 * The store answers from its per-minute rollup where that gives the same
 * answer (or the caller accepts estimated quantiles).
 */

export interface MetricsRequest {
  range: TimeRange;
  stepNs: bigint;
  /** Never read the rollup (tests compare both paths). */
  rawOnly?: boolean;
  /**
   * Quantiles may be estimated from the rollup's t-digests. Off unless the
   * caller asks (`estimate=true`): a query is answered exactly or refused,
   * never approximated behind the user's back.
   */
  estimates?: boolean;
  /** Most series in the answer (after topk/bottomk); default {@link MAX_SERIES}. */
  maxSeries?: number;
}

/**
 * Most series a metrics answer may hold unless the caller says otherwise:
 * Tempo's default max_response_series. Past it the query is refused
 * (QUERY_TOO_LARGE, 422) where Tempo would truncate: an answer is exact or
 * refused. compare() is not held to it; its size is topN per attribute.
 */
export const MAX_SERIES = 1000;

export interface Series {
  labels: KeyValueJson[];
  /** Samples in time order: [bucket start in ms, value]. */
  samples: [number, number][];
}

/** Most candidate traces examined for metrics the evaluator computes. */
const MAX_EVALUATED_TRACES = 200_000;

/** What metrics read: aggregates (the metrics port), and whole traces for queries the evaluator computes. */
export type MetricsStore = MetricsPort & SearchPort;

export interface MetricsResult {
  series: Series[];
  /** What answered: the store's rollup, its raw spans, or the evaluator over candidate traces. */
  source: 'rollup' | 'spans' | 'evaluator';
}

export async function queryMetrics(q: Query, store: MetricsStore, scope: TenantScope, req: MetricsRequest): Promise<MetricsResult> {
  const metricsAt = q.pipeline.findIndex((s, i) => i > 0 && (s.kind === 'metrics' || s.kind === 'compare'));
  if (metricsAt < 0) throw new TraceQLValidationError('a metrics query needs a metrics function such as rate()', q.pos);
  const before = q.pipeline.slice(0, metricsAt);
  const first = before[0];
  const after = q.pipeline.slice(metricsAt + 1);
  const where = before.length === 1 && first.kind === 'filter' ? unlessUnsupported(() => toCondition(first.expr)) : null;
  const m0 = q.pipeline[metricsAt];
  if (m0.kind === 'compare') {
    for (const s of after) throw new TraceQLUnsupportedError(`${s.kind} after compare()`, s.pos);
    if (!where) throw new TraceQLUnsupportedError('compare() after spanset operators, pipeline stages or parent. attributes', first.pos);
    return { series: await queryCompare(where, m0, store, scope, req), source: 'spans' };
  }
  const m = m0 as MetricsStage;
  const histogram = m.fn === 'histogram_over_time';
  const labels = valueLabels(m);
  // One aggregation in the store when it can select the spans (parent.
  // attributes in by() are read by the evaluator); otherwise the evaluator
  // selects them over candidate traces and they are aggregated here.
  let rows: MetricsRow[];
  let source: MetricsResult['source'];
  // Fields the store cannot read (a parent's attribute, a span's place in
  // the tree) leave the aggregation to the evaluator too.
  const request = where && !m.by.some((f) => f.kind === 'attribute' && f.parent) ? unlessUnsupported(() => storeRequest(where, m, req)) : null;
  if (request) {
    const answer = await store.metricsSeries(scope, request);
    rows = answer.rows;
    source = answer.source;
  } else {
    rows = await evaluatedRows({ ...q, pipeline: before }, m, store, scope, req);
    source = 'evaluator';
  }

  const byNames = m.by.map(labelName);
  const stepS = Number(req.stepNs) / 1e9;
  const maxSeries = req.maxSeries ?? MAX_SERIES;
  // Without topk/bottomk every series is in the answer: refuse as soon as there are too many.
  const ranked = after.some((st) => st.kind === 'topk' || st.kind === 'bottomk');
  const series = new Map<string, Series>();
  /** Each series' labels as JSON: the answer's order, whatever order the engine grouped in. */
  const labelText = new Map<Series, string>();
  for (const row of rows) {
    let rowKey: string | null = null;
    for (let v = 0; v < labels.length; v++) {
      let value = row.values[v];
      if (m.fn === 'rate') value = value / stepS;
      // Durations are reported in seconds, as Tempo reports them (a histogram's values are counts).
      else if (isDuration(m.field) && !histogram) value = value / 1e9;
      if (Number.isNaN(value)) continue;
      rowKey ??= row.by.map((x) => `${x.length}:${x}`).join('');
      const key = `${v}/${rowKey}`;
      let s = series.get(key);
      if (!s) {
        if (!ranked && series.size >= maxSeries) throw tooManySeries(maxSeries);
        const seriesLabels: KeyValueJson[] = byNames.map((key, i) => ({ key, value: { stringValue: row.by[i] } }));
        if (histogram) {
          const upper = Number(row.by[byNames.length]);
          seriesLabels.push({ key: '__bucket', value: { doubleValue: isDuration(m.field) ? upper / 1e9 : upper } });
        }
        seriesLabels.push(...labels[v]);
        if (seriesLabels.length === 0) seriesLabels.push({ key: '__name__', value: { stringValue: m.fn } });
        series.set(key, (s = { labels: seriesLabels, samples: [] }));
        labelText.set(s, JSON.stringify(seriesLabels));
      }
      s.samples.push([Number((req.range.startNs + BigInt(row.bucket) * req.stepNs) / 1_000_000n), value]);
    }
  }
  let out = [...series.values()];
  for (const s of out) s.samples.sort((a, b) => a[0] - b[0]);
  out.sort((a, b) => (labelText.get(a)! < labelText.get(b)! ? -1 : labelText.get(a)! > labelText.get(b)! ? 1 : 0));
  out = secondStage(out, after);
  if (out.length > maxSeries) throw tooManySeries(maxSeries);
  return { series: out, source };
}

/** topk/bottomk and filters on values, in order, over a metrics answer. */
function secondStage(series: Series[], stages: Stage[]): Series[] {
  let out = series;
  for (const stage of stages) {
    if (stage.kind === 'topk' || stage.kind === 'bottomk') out = topk(out, stage.n, stage.kind === 'topk');
    else if (stage.kind === 'metricsFilter') out = filterSamples(out, stage);
    else throw new TraceQLUnsupportedError(`${stage.kind} after a metrics function`, stage.pos);
  }
  return out;
}

/**
 * `rate() > 10`: the samples whose value compares true, and the series
 * left with any, as a PromQL comparison without `bool` filters.
 */
export function filterSamples(series: Series[], f: MetricsFilterStage): Series[] {
  const holds = (v: number): boolean => {
    switch (f.op) {
      case '=':
        return v === f.value;
      case '!=':
        return v !== f.value;
      case '>':
        return v > f.value;
      case '>=':
        return v >= f.value;
      case '<':
        return v < f.value;
      case '<=':
        return v <= f.value;
    }
  };
  const out: Series[] = [];
  for (const s of series) {
    const samples = s.samples.filter(([, v]) => holds(v));
    if (samples.length > 0) out.push({ labels: s.labels, samples });
  }
  return out;
}

/**
 * Any metrics query, arithmetic over metrics queries included
 * (`({ status = error } | rate()) / ({ } | rate())`), as Tempo computes it:
 *
 * - series of the two sides pair up by their labels (`__name__` aside); a
 *   side's series without labels (a query without by(), or a number)
 *   pairs with every series of the other side;
 * - at each timestamp either side has, a missing or NaN value counts 0,
 *   and x / 0 is no sample;
 * - the result is named `(rate / rate)` when both sides have a function
 *   name; numbers have none.
 */
export async function queryMetricsRoot(root: Root, store: MetricsStore, scope: TenantScope, req: MetricsRequest): Promise<MetricsResult> {
  if (root.kind === 'query') return queryMetrics(root, store, scope, req);
  const sources = new Set<MetricsResult['source']>();
  const side = await mathSide(root.expr, store, scope, req, sources);
  let out = side.kind === 'number' ? [] : side.series;
  out = secondStage(sortSeries(out), root.after);
  const maxSeries = req.maxSeries ?? MAX_SERIES;
  if (out.length > maxSeries) throw tooManySeries(maxSeries);
  return { series: out, source: sources.has('evaluator') ? 'evaluator' : sources.has('spans') ? 'spans' : 'rollup' };
}

type MathSide = { kind: 'number'; value: number } | { kind: 'series'; series: Series[]; name: string };

async function mathSide(e: MathExpr, store: MetricsStore, scope: TenantScope, req: MetricsRequest, sources: Set<MetricsResult['source']>): Promise<MathSide> {
  switch (e.kind) {
    case 'mathNumber':
      return { kind: 'number', value: e.value };
    case 'mathQuery': {
      const answer = await queryMetrics(e.query, store, scope, req);
      sources.add(answer.source);
      const m = e.query.pipeline.find((s): s is MetricsStage => s.kind === 'metrics');
      return { kind: 'series', series: answer.series.map((s) => ({ labels: s.labels.filter((l) => l.key !== '__name__'), samples: s.samples })), name: m?.fn ?? '' };
    }
    case 'mathBinary': {
      const l = await mathSide(e.left, store, scope, req, sources);
      const r = await mathSide(e.right, store, scope, req, sources);
      if (l.kind === 'number' && r.kind === 'number') return { kind: 'number', value: foldMath(e.op, l.value, r.value) };
      return combine(e.op, l, r);
    }
  }
}

const NO_LABELS = '[]';

function combine(op: MathOp, l: MathSide, r: MathSide): MathSide {
  const byLabels = (side: MathSide): Map<string, Series> | null =>
    side.kind === 'number' ? null : new Map(side.series.map((s) => [JSON.stringify(s.labels.filter((x) => x.key !== '__name__')), s]));
  const lm = byLabels(l);
  const rm = byLabels(r);
  // Series of the side that may pair many to one with a label-less series of the other.
  const target = lm === null ? rm! : rm === null || rm.has(NO_LABELS) ? lm : rm;
  const pick = (m: Map<string, Series> | null, side: MathSide, key: string): Series | number | undefined =>
    m === null ? (side as { value: number }).value : (m.get(key) ?? m.get(NO_LABELS));
  const name = l.kind === 'series' && r.kind === 'series' && l.name !== '' && r.name !== '' ? `(${l.name} ${op} ${r.name})` : '';
  const out: Series[] = [];
  for (const [key, own] of target) {
    const a = pick(lm, l, key);
    const b = pick(rm, r, key);
    if (a === undefined || b === undefined) continue;
    const at = (x: Series | number): Map<number, number> | number => (typeof x === 'number' ? x : new Map(x.samples));
    const av = at(a);
    const bv = at(b);
    const times = new Set<number>();
    for (const x of [a, b]) if (typeof x !== 'number') for (const [t] of x.samples) times.add(t);
    const value = (v: Map<number, number> | number, t: number): number => {
      const x = typeof v === 'number' ? v : (v.get(t) ?? 0);
      return Number.isNaN(x) ? 0 : x;
    };
    const samples: [number, number][] = [];
    for (const t of [...times].sort((x, y) => x - y)) {
      const v = foldMath(op, value(av, t), value(bv, t));
      if (!Number.isNaN(v)) samples.push([t, v]);
    }
    const base = typeof a !== 'number' && a.labels.length > 0 ? a.labels : typeof b !== 'number' ? b.labels : own.labels;
    const labels = base.filter((x) => x.key !== '__name__');
    if (name !== '') labels.unshift({ key: '__name__', value: { stringValue: name } });
    if (samples.length > 0) out.push({ labels, samples });
  }
  return { kind: 'series', series: out, name };
}

/** Series in the order of their labels' JSON: the same answer whatever order they were computed in. */
function sortSeries(series: Series[]): Series[] {
  const text = new Map(series.map((s) => [s, JSON.stringify(s.labels)]));
  return [...series].sort((a, b) => (text.get(a)! < text.get(b)! ? -1 : text.get(a)! > text.get(b)! ? 1 : 0));
}

function tooManySeries(max: number): SightlineError {
  return new SightlineError('QUERY_TOO_LARGE', `the query answers more than ${max} series; narrow its filter or by(), or keep the largest with topk()`);
}

/** The store's request for a metrics function over a condition. */
function storeRequest(where: Condition, m: MetricsStage, req: MetricsRequest): import('../../store/index.js').MetricsRequest {
  const by: Grouping[] = m.by.map((f) => ({ kind: 'field', field: textField(f) }));
  if (m.fn === 'histogram_over_time') {
    // One more group key: the value's power-of-two bucket, of positive values only.
    const of = numberField(m.field!);
    by.push({ kind: 'log2Bucket', of });
    where = { op: 'and', terms: [where, { op: 'arithmetic', left: { kind: 'field', field: of }, cmp: '>', right: { kind: 'number', value: 0 } }] };
  }
  return { range: req.range, stepNs: req.stepNs, where, by, aggregates: aggregates(m), allowEstimates: req.estimates, rawOnly: req.rawOnly };
}

/** The aggregate(s) of a metrics function, in valueLabels' order. */
function aggregates(m: MetricsStage): Aggregate[] {
  switch (m.fn) {
    case 'rate':
    case 'count_over_time':
    case 'histogram_over_time':
      return [{ fn: 'count' }];
    case 'min_over_time':
      return [{ fn: 'min', of: numberField(m.field!) }];
    case 'max_over_time':
      return [{ fn: 'max', of: numberField(m.field!) }];
    case 'avg_over_time':
      return [{ fn: 'avg', of: numberField(m.field!) }];
    case 'sum_over_time':
      return [{ fn: 'sum', of: numberField(m.field!) }];
    case 'quantile_over_time':
      return m.quantiles.map((q) => ({ fn: 'quantile', q, of: numberField(m.field!) }));
  }
}

/**
 * Rows like the store's, computed here over the spans the evaluator selects
 * (spanset operators, pipeline stages, parent. attributes...). Same
 * semantics: quantiles exact, histogram buckets powers of two.
 */
async function evaluatedRows(selection: Query, m: MetricsStage, store: SearchPort, scope: TenantScope, req: MetricsRequest): Promise<MetricsRow[]> {
  const ev = new Evaluator(selection, { range: req.range, limit: 0, spss: 0 });
  const field = m.field ? ev.number(m.field) : null;
  const by = m.by.map((f) => ev.fieldText(f));
  const histogram = m.fn === 'histogram_over_time';
  const groups = new Map<string, { bucket: number; by: string[]; count: number; xs: number[] }>();
  const scan = await ev.forEachMatchedSpan(store, scope, MAX_EVALUATED_TRACES, (span, text, number) => {
    const x = field ? number(field) : NaN;
    const keys = by.map(text);
    if (histogram) {
      if (!(x > 0)) return;
      keys.push(String(2 ** Math.ceil(Math.log2(x))));
    }
    const bucket = Number((span.startNs - req.range.startNs) / req.stepNs);
    let key = `${bucket}`;
    for (const k of keys) key += `/${k.length}:${k}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { bucket, by: keys, count: 0, xs: [] }));
    g.count++;
    if (!Number.isNaN(x)) g.xs.push(x);
  });
  if (scan.truncated) throw new TraceQLUnsupportedError(`metrics over more than ${MAX_EVALUATED_TRACES} candidate traces; narrow the time range or the filter`, selection.pos);
  const rows: MetricsRow[] = [];
  for (const g of groups.values()) rows.push({ bucket: g.bucket, by: g.by, values: evaluatedValues(m, g.count, g.xs) });
  return rows.sort((a, b) => a.bucket - b.bucket);
}

function evaluatedValues(m: MetricsStage, count: number, xs: number[]): number[] {
  const n = xs.length;
  switch (m.fn) {
    case 'rate':
    case 'count_over_time':
    case 'histogram_over_time':
      return [count];
    // Loops, not Math.min(...xs): a spread throws past ~100k arguments.
    case 'min_over_time':
      return [xs.reduce((a, b) => (b < a ? b : a), n ? Infinity : NaN)];
    case 'max_over_time':
      return [xs.reduce((a, b) => (b > a ? b : a), n ? -Infinity : NaN)];
    case 'sum_over_time':
      return [xs.reduce((a, b) => a + b, 0)];
    case 'avg_over_time':
      return [n ? xs.reduce((a, b) => a + b, 0) / n : NaN];
    case 'quantile_over_time': {
      const sorted = [...xs].sort((a, b) => a - b);
      // quantileExact's choice: the element at floor(q * n).
      return m.quantiles.map((q) => (n ? sorted[Math.min(n - 1, Math.floor(q * n))] : NaN));
    }
  }
}

const COMPARE_INTRINSICS = ['name', 'status', 'kind', 'statusMessage', 'instrumentation:name'] as const;

/**
 * compare(), in Tempo's series shape: for each attribute (and the intrinsics
 * above), the topN most frequent values in the selection and in the baseline
 * as `{__meta_type="selection"|"baseline", <attr>=<value>}`, the spans having
 * the attribute as `{__meta_type="selection_total"|"baseline_total", <attr>=nil}`,
 * and `{__meta_error="__too_many_values__", <attr>=nil}` where values were cut.
 */
async function queryCompare(where: Condition, c: CompareStage, store: MetricsPort, scope: TenantScope, req: MetricsRequest): Promise<Series[]> {
  let selection = toCondition(c.selection.expr);
  if (c.window) {
    const start: Field = { kind: 'intrinsic', name: 'start' };
    selection = {
      op: 'and',
      terms: [
        selection,
        { op: 'compare', field: start, cmp: '>=', value: { type: 'int', value: c.window.start } },
        { op: 'compare', field: start, cmp: '<', value: { type: 'int', value: c.window.end } },
      ],
    };
  }
  const counts = await store.compareCounts(scope, {
    range: req.range,
    stepNs: req.stepNs,
    where,
    selection,
    intrinsics: COMPARE_INTRINSICS.map((name) => ({ label: name, field: toField({ kind: 'intrinsic', name, pos: c.pos } as Intrinsic) })),
    topN: c.topN ?? 10,
  });
  const toSamples = (m: Map<number, number>): [number, number][] =>
    [...m.entries()].sort((a, b) => a[0] - b[0]).map(([bucket, n]) => [Number((req.range.startNs + BigInt(bucket) * req.stepNs) / 1_000_000n), n]);
  const meta = (value: string): KeyValueJson => ({ key: '__meta_type', value: { stringValue: value } });
  const typedValue = (type: string, v: string): KeyValueJson['value'] =>
    type === 'int' ? { intValue: v } : type === 'float' ? { doubleValue: Number(v) } : type === 'bool' ? { boolValue: v === 'true' } : { stringValue: v };
  const out: Series[] = [];
  for (const v of counts.values) out.push({ labels: [meta(v.selection ? 'selection' : 'baseline'), { key: v.key, value: typedValue(v.type, v.value) }], samples: toSamples(v.counts) });
  for (const t of counts.totals) out.push({ labels: [meta(t.selection ? 'selection_total' : 'baseline_total'), { key: t.key, value: {} }], samples: toSamples(t.counts) });
  for (const key of counts.tooMany) out.push({ labels: [{ key: '__meta_error', value: { stringValue: '__too_many_values__' } }, { key, value: {} }], samples: [] });
  const order = new Map(out.map((s) => [s, JSON.stringify(s.labels)]));
  return out.sort((a, b) => (order.get(a)! < order.get(b)! ? -1 : order.get(a)! > order.get(b)! ? 1 : 0));
}

/** The extra labels of each value of a metrics function: `p` for each quantile. */
function valueLabels(m: MetricsStage): KeyValueJson[][] {
  return m.fn === 'quantile_over_time' ? m.quantiles.map((q) => [{ key: 'p', value: { doubleValue: q } }]) : [[]];
}

function isDuration(f: FieldExpr | null): boolean {
  return f?.kind === 'intrinsic' && (f.name === 'duration' || f.name === 'span:duration');
}

function labelName(f: FieldExpr): string {
  return printField(f);
}

/**
 * topk/bottomk as Tempo (and PromQL) compute them: at each timestamp, the n
 * series with the largest (smallest) values there; a series keeps the
 * samples where it is among them. Of equal values, the series earlier in
 * `series` (ordered by labels) wins, as Tempo prefers the series whose
 * labels sort first. Each timestamp's samples pass through a heap of at
 * most n: O(samples · log n), the output in `series`' order.
 */
export function topk(series: Series[], n: number, largest: boolean): Series[] {
  // Each timestamp's samples: the series' indices (ascending) and values.
  const at = new Map<number, { s: number[]; v: number[] }>();
  series.forEach((x, s) => {
    for (const [t, v] of x.samples) {
      let c = at.get(t);
      if (!c) at.set(t, (c = { s: [], v: [] }));
      c.s.push(s);
      c.v.push(v);
    }
  });
  const kept: [number, number][][] = series.map(() => []);
  const times = [...at.keys()].sort((a, b) => a - b);
  const heap = new Int32Array(Math.min(n, series.length));
  for (const t of times) {
    const { s, v } = at.get(t)!;
    // `a` ranks above `b` (candidate positions): a better value, or the same from an earlier series.
    const above = (a: number, b: number) => (v[a] === v[b] ? s[a] < s[b] : largest ? v[a] > v[b] : v[a] < v[b]);
    let size = 0;
    // heap[0] is the lowest ranked of those kept.
    const down = (i: number) => {
      for (;;) {
        const l = 2 * i + 1;
        if (l >= size) return;
        const c = l + 1 < size && above(heap[l], heap[l + 1]) ? l + 1 : l;
        if (!above(heap[i], heap[c])) return;
        [heap[i], heap[c]] = [heap[c], heap[i]];
        i = c;
      }
    };
    for (let k = 0; k < s.length; k++) {
      if (size < heap.length) {
        // Sift up.
        let i = size++;
        heap[i] = k;
        while (i > 0) {
          const p = (i - 1) >> 1;
          if (!above(heap[p], heap[i])) break;
          [heap[i], heap[p]] = [heap[p], heap[i]];
          i = p;
        }
      } else if (size > 0 && above(k, heap[0])) {
        heap[0] = k;
        down(0);
      }
    }
    for (let i = 0; i < size; i++) kept[s[heap[i]]].push([t, v[heap[i]]]);
  }
  const out: Series[] = [];
  series.forEach((x, i) => {
    if (kept[i].length > 0) out.push({ labels: x.labels, samples: kept[i] });
  });
  return out;
}
