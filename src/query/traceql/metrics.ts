import type { KeyValueJson } from '../../model/any-value.js';
import type { MetricsRow, TimeRange, TraceReader } from '../../store/index.js';
import { sql, type Sql } from '../sql/index.js';
import type { CompareStage, FieldExpr, Intrinsic, MetricsStage, Query, SpansetFilter } from './ast.js';
import { TraceQLUnsupportedError, TraceQLValidationError, unlessUnsupported } from './errors.js';
import { Evaluator } from './execute.js';
import { compileCondition, compileNumber, compileText, readsResourceColumns, type ValueContext } from './plan.js';
import { printField } from './printer.js';

/**
 * TraceQL metrics: `{ filter } | fn(...) [by(...)] [| topk(n) | bottomk(n)]`,
 * computed in SQL from the raw spans, one bucket per step. Quantiles are
 * exact (quantilesExact over the spans of each bucket), not estimated from
 * histogram buckets.
 *
 * When the filter, by() and the field use only a span's service, name, kind,
 * status and duration, and range and step are whole minutes, the answer
 * comes from the span_metrics rollup instead (per-minute aggregate states,
 * filled at ingest): the same counts, sums, minima and maxima. Quantiles
 * come from merged t-digests only when the caller accepts estimates.
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
}

export interface Series {
  labels: KeyValueJson[];
  /** Samples in time order: [bucket start in ms, value]. */
  samples: [number, number][];
}

/** Most candidate traces examined for metrics the evaluator computes. */
const MAX_EVALUATED_TRACES = 200_000;

export async function queryMetrics(q: Query, reader: TraceReader, req: MetricsRequest): Promise<Series[]> {
  const metricsAt = q.pipeline.findIndex((s, i) => i > 0 && (s.kind === 'metrics' || s.kind === 'compare'));
  if (metricsAt < 0) throw new TraceQLValidationError('a metrics query needs a metrics function such as rate()', q.pos);
  const before = q.pipeline.slice(0, metricsAt);
  const first = before[0];
  const after = q.pipeline.slice(metricsAt + 1);
  const sqlFilter = before.length === 1 && first.kind === 'filter' ? unlessUnsupported(() => compileCondition(first.expr, { range: req.range })) : null;
  const m0 = q.pipeline[metricsAt];
  // parent. attributes in by() are read by the evaluator.
  const sqlSelects = sqlFilter !== null && !(m0.kind === 'metrics' && m0.by.some((f) => f.kind === 'attribute' && f.parent));
  if (q.pipeline[metricsAt].kind === 'compare') {
    for (const s of after) throw new TraceQLUnsupportedError(`${s.kind} after compare()`, s.pos);
    if (!sqlFilter) throw new TraceQLUnsupportedError('compare() after spanset operators, pipeline stages or parent. attributes', first.pos);
    return queryCompare(first as SpansetFilter, q.pipeline[metricsAt] as CompareStage, reader, req);
  }
  const m = q.pipeline[metricsAt] as MetricsStage;
  const histogram = m.fn === 'histogram_over_time';
  const labels = valueLabels(m);
  // One SQL aggregation when SQL can select the spans; otherwise the
  // evaluator selects them over candidate traces and they are aggregated here.
  const rows = sqlSelects
    ? await sqlRows(first as SpansetFilter, sqlFilter!, m, reader, req)
    : await evaluatedRows({ ...q, pipeline: before }, m, reader, req);

  const by = m.by;
  const stepS = Number(req.stepNs) / 1e9;
  const series = new Map<string, Series>();
  for (const row of rows) {
    for (let v = 0; v < labels.length; v++) {
      const byLabels: KeyValueJson[] = by.map((f, i) => ({ key: labelName(f), value: { stringValue: row.by[i] } }));
      if (histogram) {
        const upper = Number(row.by[by.length]);
        byLabels.push({ key: '__bucket', value: { doubleValue: isDuration(m.field) ? upper / 1e9 : upper } });
      }
      const seriesLabels = [...byLabels, ...labels[v]];
      if (seriesLabels.length === 0) seriesLabels.push({ key: '__name__', value: { stringValue: m.fn } });
      const key = JSON.stringify(seriesLabels);
      let s = series.get(key);
      if (!s) series.set(key, (s = { labels: seriesLabels, samples: [] }));
      let value = row.values[v];
      if (m.fn === 'rate') value = value / stepS;
      // Durations are reported in seconds, as Tempo reports them (a histogram's values are counts).
      else if (isDuration(m.field) && !histogram) value = value / 1e9;
      if (!Number.isNaN(value)) s.samples.push([Number((req.range.startNs + BigInt(row.bucket) * req.stepNs) / 1_000_000n), value]);
    }
  }
  let out = [...series.values()].filter((s) => s.samples.length > 0);
  for (const s of out) s.samples.sort((a, b) => a[0] - b[0]);
  // A stable order (by labels) whatever order the engine grouped in.
  const order = new Map(out.map((s) => [s, JSON.stringify(s.labels)]));
  out.sort((a, b) => (order.get(a)! < order.get(b)! ? -1 : order.get(a)! > order.get(b)! ? 1 : 0));
  for (const stage of after) {
    if (stage.kind !== 'topk' && stage.kind !== 'bottomk') throw new TraceQLUnsupportedError(`${stage.kind} after a metrics function`, stage.pos);
    out = topk(out, stage.n, stage.kind === 'topk');
  }
  return out;
}

/** The rows of one SQL aggregation, from the rollup or the raw spans. */
async function sqlRows(first: SpansetFilter, condition: Sql, m: MetricsStage, reader: TraceReader, req: MetricsRequest): Promise<MetricsRow[]> {
  const vc: ValueContext = { resources: readsResourceColumns([...m.by, ...(m.field ? [m.field] : [])]) };
  let where = condition;
  const histogram = m.fn === 'histogram_over_time';
  const fromRollup =
    !req.rawOnly && rollupAnswers(first, m, req, req.estimates === true && reader.capabilities.quantileStatesAnyLevel) && req.range.startNs >= (await reader.rollupFromNs());
  const { values } = fromRollup ? rollupAggregate(m) : aggregate(m, vc);
  // histogram_over_time: one more group key, the value's power-of-two bucket.
  const bucketExpr = histogram ? sql`toString(pow(2, ceil(log2(${compileNumber(m.field!, vc)}))))` : null;
  if (histogram) where = sql`(${where}) AND ${compileNumber(m.field!, vc)} > 0`;
  return reader.metricsSeries({
    range: req.range,
    stepNs: req.stepNs,
    where,
    by: [...m.by.map((f) => compileText(f, vc)), ...(bucketExpr ? [bucketExpr] : [])],
    values,
    source: fromRollup ? 'rollup' : 'spans',
    resources: vc.resources,
  });
}

/**
 * Rows like sqlRows', computed here over the spans the evaluator selects
 * (spanset operators, pipeline stages, parent. attributes...). Same
 * semantics: quantiles exact, histogram buckets powers of two.
 */
async function evaluatedRows(selection: Query, m: MetricsStage, reader: TraceReader, req: MetricsRequest): Promise<MetricsRow[]> {
  const ev = new Evaluator(selection, { range: req.range, limit: 0, spss: 0 });
  const field = m.field ? ev.number(m.field) : -1;
  const by = m.by.map((f) => ev.fieldText(f));
  const histogram = m.fn === 'histogram_over_time';
  const groups = new Map<string, { bucket: number; by: string[]; count: number; xs: number[] }>();
  const scan = await ev.forEachMatchedSpan(reader, MAX_EVALUATED_TRACES, (span, text) => {
    const x = field >= 0 ? span.numbers[field] : NaN;
    const keys = by.map(text);
    if (histogram) {
      if (!(x > 0)) return;
      keys.push(String(2 ** Math.ceil(Math.log2(x))));
    }
    const bucket = Number((span.startNs - req.range.startNs) / req.stepNs);
    const key = JSON.stringify([bucket, keys]);
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
    case 'min_over_time':
      return [n ? Math.min(...xs) : NaN];
    case 'max_over_time':
      return [n ? Math.max(...xs) : NaN];
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
async function queryCompare(first: SpansetFilter, c: CompareStage, reader: TraceReader, req: MetricsRequest): Promise<Series[]> {
  let selection = compileCondition(c.selection.expr, { range: req.range });
  if (c.window) selection = sql`(${selection}) AND start_ns >= ${c.window.start} AND start_ns < ${c.window.end}`;
  const counts = await reader.compareCounts({
    range: req.range,
    stepNs: req.stepNs,
    where: compileCondition(first.expr, { range: req.range }),
    selection,
    intrinsics: COMPARE_INTRINSICS.map((name) => ({ name, text: compileText({ kind: 'intrinsic', name, pos: c.pos } as Intrinsic) })),
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

/** The SQL aggregate(s) of a metrics function, in valueLabels' order. */
function aggregate(m: MetricsStage, vc: ValueContext): { values: Sql[] } {
  const field = m.field && m.fn !== 'rate' && m.fn !== 'count_over_time' ? compileNumber(m.field, vc) : null;
  const present = (x: Sql) => sql`NOT isNaN(${x})`;
  switch (m.fn) {
    case 'rate':
    case 'count_over_time':
      return { values: [sql`toFloat64(count())`] };
    case 'min_over_time':
      return { values: [sql`minIf(${field!}, ${present(field!)})`] };
    case 'max_over_time':
      return { values: [sql`maxIf(${field!}, ${present(field!)})`] };
    case 'avg_over_time':
      return { values: [sql`avgIf(${field!}, ${present(field!)})`] };
    case 'sum_over_time':
      return { values: [sql`sumIf(${field!}, ${present(field!)})`] };
    case 'quantile_over_time':
      return { values: m.quantiles.map((q) => sql`quantileExactIf(${q})(${field!}, ${present(field!)})`) };
    case 'histogram_over_time':
      return { values: [sql`toFloat64(count())`] };
  }
}

/** The rollup's dimensions, as TraceQL fields. */
function isRollupDimension(f: FieldExpr): boolean {
  if (f.kind === 'intrinsic') return ['name', 'span:name', 'status', 'span:status', 'kind', 'span:kind'].includes(f.name);
  return f.kind === 'attribute' && f.scope === 'resource' && f.name === 'service.name' && !f.parent;
}

/** True when the condition reads only rollup dimensions (compileCondition then emits only their columns). */
function isRollupCondition(e: FieldExpr): boolean {
  if (e.kind === 'unary') return e.op === '!' && isRollupCondition(e.operand);
  if (e.kind !== 'binary') return false;
  if (e.op === '&&' || e.op === '||') return isRollupCondition(e.left) && isRollupCondition(e.right);
  const [field, value] = e.right.kind === 'static' ? [e.left, e.right] : [e.right, e.left];
  if (value.kind !== 'static' || !isRollupDimension(field)) return false;
  // resource.service.name: only '= "x"'. Other operators also match spans whose
  // resource has no service.name in the raw path, which the rollup cannot tell apart.
  if (field.kind === 'attribute') return e.op === '=' && value.type === 'string' && value.value !== '';
  return value.type !== 'nil';
}

function rollupAnswers(first: SpansetFilter, m: MetricsStage, req: MetricsRequest, quantiles: boolean): boolean {
  const minute = 60_000_000_000n;
  if (req.range.startNs % minute !== 0n || req.range.endNs % minute !== 0n || req.stepNs % minute !== 0n) return false;
  if (first.expr && !isRollupCondition(first.expr)) return false;
  if (!m.by.every(isRollupDimension)) return false;
  switch (m.fn) {
    case 'rate':
    case 'count_over_time':
      return true;
    case 'histogram_over_time':
      return false;
    case 'quantile_over_time':
      return quantiles && isDuration(m.field);
    default:
      return isDuration(m.field);
  }
}

/** aggregate(), from the rollup's states. */
function rollupAggregate(m: MetricsStage): { values: Sql[] } {
  switch (m.fn) {
    case 'min_over_time':
      return { values: [sql`minMerge(duration_min)`] };
    case 'max_over_time':
      return { values: [sql`maxMerge(duration_max)`] };
    case 'avg_over_time':
      return { values: [sql`sumMerge(duration_sum) / countMerge(spans)`] };
    case 'sum_over_time':
      return { values: [sql`sumMerge(duration_sum)`] };
    case 'quantile_over_time':
      return { values: m.quantiles.map((q) => sql`quantileTDigestMerge(${q})(duration_digest)`) };
    default:
      return { values: [sql`toFloat64(countMerge(spans))`] };
  }
}

function isDuration(f: FieldExpr | null): boolean {
  return f?.kind === 'intrinsic' && (f.name === 'duration' || f.name === 'span:duration');
}

function labelName(f: FieldExpr): string {
  return printField(f);
}

/** PromQL's topk/bottomk: at each timestamp, keep the n largest (smallest) series. */
function topk(series: Series[], n: number, largest: boolean): Series[] {
  const keep = new Map<Series, [number, number][]>();
  const times = new Set<number>();
  for (const s of series) for (const [t] of s.samples) times.add(t);
  for (const t of times) {
    const at = series
      .map((s) => ({ s, v: s.samples.find((x) => x[0] === t)?.[1] }))
      .filter((x): x is { s: Series; v: number } => x.v !== undefined)
      .sort((a, b) => (largest ? b.v - a.v : a.v - b.v))
      .slice(0, n);
    for (const { s, v } of at) {
      if (!keep.has(s)) keep.set(s, []);
      keep.get(s)!.push([t, v]);
    }
  }
  return [...keep.entries()].map(([s, samples]) => ({ labels: s.labels, samples: samples.sort((a, b) => a[0] - b[0]) }));
}

