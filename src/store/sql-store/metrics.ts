import type { EngineCapabilities } from '../engine.js';
import type { Aggregate, CompareCounts, CompareRequest, CompareValueType, Grouping, MetricsAnswer, MetricsPort, MetricsRequest } from '../ports.js';
import type { Condition, Field } from '../request.js';
import { NS_PER_MINUTE } from '../schema.js';
import type { TenantScope } from '../tenant.js';
import { condition, needsResourceRow, numberOf, textOf, type CompileContext } from '../sql/compile.js';
import { sql, join, ident, type Sql } from '../sql/sql.js';
import { T, resourceRows, tenantIn } from '../sql/tables.js';
import { startsIn, type StoreContext } from './context.js';

/** Metrics over spans: from the per-minute rollup where it answers exactly, else from the spans. */
export class MetricsReads implements MetricsPort {
  constructor(private readonly ctx: StoreContext) {}

  get capabilities(): EngineCapabilities {
    return this.ctx.engine.capabilities;
  }

  async metricsSeries(scope: TenantScope, req: MetricsRequest): Promise<MetricsAnswer> {
    const fromRollup = !req.rawOnly && rollupAnswers(req, req.allowEstimates === true && this.capabilities.quantileStatesAnyLevel);
    const fields = [...req.by.map((g) => (g.kind === 'field' ? g.field : g.of)), ...req.aggregates.flatMap((a) => ('of' in a ? [a.of] : []))];
    const joined = !fromRollup && needsResourceRow(fields);
    const cc: CompileContext = { scope, range: req.range, joined };
    // Group on the raw values and stringify only the result rows: grouping
    // on toString()/array keys cost a third more over 10M spans.
    const by = req.by.map((g, i) => sql`${grouping(g, cc)} AS ${ident(`k${i}`)}`);
    const values = req.aggregates.map((a, i) => sql`${fromRollup ? rollupAggregate(a) : aggregate(a, cc)} AS ${ident(`v${i}`)}`);
    const keys = req.by.length > 0 ? sql`[${join(req.by.map((_, i) => sql`toString(${ident(`k${i}`)})`))}]` : sql`emptyArrayString()`;
    const groupBy = join([sql`b`, ...req.by.map((_, i) => ident(`k${i}`))]);
    let inner: Sql;
    if (fromRollup) {
      const first = req.range.startNs / NS_PER_MINUTE;
      const end = req.range.endNs / NS_PER_MINUTE;
      inner = sql`SELECT intDiv(minute - ${first}, ${req.stepNs / NS_PER_MINUTE}) AS b, ${join([...by, ...values])}
FROM ${T.spanMetrics}
WHERE ${tenantIn(scope)} AND minute >= ${first} AND minute < ${end} AND (${condition(req.where, cc)})
GROUP BY ${groupBy}`;
    } else {
      const from = joined ? sql`${T.spans} GLOBAL ANY LEFT JOIN ${resourceRows(scope)} AS r USING resource_id` : T.spans;
      inner = sql`SELECT intDiv(start_ns - ${req.range.startNs}, ${req.stepNs}) AS b, ${join([...by, ...values])}
FROM ${from}
WHERE ${tenantIn(scope)} AND ${startsIn(req.range)} AND (${condition(req.where, cc)})
GROUP BY ${groupBy}`;
    }
    const res = await this.ctx.json<[string, string[], (number | string)[]]>(sql`
SELECT toString(b), ${keys}, [${join(req.aggregates.map((_, i) => sql`toFloat64(${ident(`v${i}`)})`))}]
FROM (${inner})
ORDER BY b`);
    return {
      source: fromRollup ? 'rollup' : 'spans',
      rows: res.data.map(([b, keys, vs]) => ({ bucket: Number(b), by: keys, values: vs.map((v) => (typeof v === 'number' ? v : Number(v))) })),
    };
  }

  async compareCounts(scope: TenantScope, req: CompareRequest): Promise<CompareCounts> {
    const TYPES: CompareValueType[] = ['string', 'int', 'float', 'bool'];
    const cc: CompileContext = { scope, range: req.range, joined: true };
    // Every (key, value, type) of a span: intrinsics, span attributes, and its
    // resource's attributes (joined from the small resources table).
    const typed = (prefix: string, label: string): Sql[] => [
      sql`arrayMap((k, x) -> (concat(${label}, k), x, 0), ${ident(`${prefix}_str_keys`)}, ${ident(`${prefix}_str_values`)})`,
      sql`arrayMap((k, x) -> (concat(${label}, k), toString(x), 1), ${ident(`${prefix}_int_keys`)}, ${ident(`${prefix}_int_values`)})`,
      sql`arrayMap((k, x) -> (concat(${label}, k), toString(x), 2), ${ident(`${prefix}_float_keys`)}, ${ident(`${prefix}_float_values`)})`,
      sql`arrayMap((k, x) -> (concat(${label}, k), if(x = 1, 'true', 'false'), 3), ${ident(`${prefix}_bool_keys`)}, ${ident(`${prefix}_bool_values`)})`,
    ];
    const intrinsics = req.intrinsics.map((i) => sql`(${i.label}, toString(${textOf(i.field, cc)}), 0)`);
    const inner = sql`SELECT
  intDiv(start_ns - ${req.range.startNs}, ${req.stepNs}) AS b,
  toUInt8(${condition(req.selection, cc)}) AS sel,
  arrayConcat([${join(intrinsics)}], ${join(typed('attr', 'span.'))}, ${join(typed('res', 'resource.'))}) AS pairs
FROM ${T.spans}
GLOBAL ANY LEFT JOIN ${resourceRows(scope)} AS r USING resource_id
WHERE ${tenantIn(scope)} AND ${startsIn(req.range)} AND (${condition(req.where, cc)})`;

    // 1. The most frequent values per group and key; one more than kept tells "too many".
    const top = await this.ctx.json<[number, string, string, number, string]>(sql`
SELECT sel, p.1 AS k, p.2 AS v, p.3 AS t, toString(count()) AS c
FROM (${inner}) ARRAY JOIN pairs AS p
GROUP BY sel, k, v, t
ORDER BY toUInt64(c) DESC, k, v
LIMIT ${req.topN + 1} BY sel, k`);
    const kept: Sql[] = [];
    const perKey = new Map<string, number>();
    const tooMany = new Set<string>();
    for (const [sel, k, v, t] of top.data) {
      const n = (perKey.get(`${sel}\u0000${k}`) ?? 0) + 1;
      perKey.set(`${sel}\u0000${k}`, n);
      if (n > req.topN) tooMany.add(k);
      else kept.push(sql`(${Number(sel)}, ${k}, ${v}, ${Number(t)})`);
    }
    if (kept.length === 0) return { values: [], totals: [], tooMany: [...tooMany] };

    // 2. Per step: the kept values, and everything else per key (for the totals).
    const rows = await this.ctx.json<[number, string, string, number, string, string]>(sql`
SELECT sel, k, v, t, toString(b), toString(count())
FROM (
  SELECT sel, b, p.1 AS k, (sel, p.1, p.2, p.3) IN (${join(kept)}) AS isKept, if(isKept, p.2, '') AS v, if(isKept, p.3, 255) AS t
  FROM (${inner}) ARRAY JOIN pairs AS p
)
GROUP BY sel, k, v, t, b`);
    const values = new Map<string, CompareCounts['values'][number]>();
    const totals = new Map<string, CompareCounts['totals'][number]>();
    for (const [sel, k, v, t, b, c] of rows.data) {
      const selection = Number(sel) === 1;
      const bucket = Number(b);
      const count = Number(c);
      const tk = `${selection}\u0000${k}`;
      let total = totals.get(tk);
      if (!total) totals.set(tk, (total = { selection, key: k, counts: new Map() }));
      total.counts.set(bucket, (total.counts.get(bucket) ?? 0) + count);
      if (Number(t) === 255) continue;
      const vk = `${tk}\u0000${v}\u0000${t}`;
      let value = values.get(vk);
      if (!value) values.set(vk, (value = { selection, key: k, value: v, type: TYPES[Number(t)], counts: new Map() }));
      value.counts.set(bucket, count);
    }
    return { values: [...values.values()], totals: [...totals.values()], tooMany: [...tooMany] };
  }
}

function grouping(g: Grouping, cc: CompileContext): Sql {
  // histogram_over_time's buckets: powers of two, by their upper bound.
  return g.kind === 'field' ? textOf(g.field, cc) : sql`toString(pow(2, ceil(log2(${numberOf(g.of, cc)}))))`;
}

/** An aggregate over raw span rows; numeric ones skip spans without the field. */
function aggregate(a: Aggregate, cc: CompileContext): Sql {
  if (a.fn === 'count') return sql`toFloat64(count())`;
  if (a.fn === 'countWhere') return sql`toFloat64(countIf(${condition(a.where, cc)}))`;
  const x = numberOf(a.of, cc);
  const present = sql`NOT isNaN(${x})`;
  // minIf, maxIf and sumIf of no rows are 0, not "no value": a bucket where
  // no span has the field must give no sample, as avg and quantile do
  // (found by test/fuzz.test.ts: min_over_time(span.absent) was all zeros).
  const unlessNone = (agg: Sql) => sql`if(countIf(${present}) = 0, nan, ${agg})`;
  switch (a.fn) {
    case 'min':
      return unlessNone(sql`minIf(${x}, ${present})`);
    case 'max':
      return unlessNone(sql`maxIf(${x}, ${present})`);
    case 'avg':
      return sql`avgIf(${x}, ${present})`;
    case 'sum':
      return unlessNone(sql`sumIf(${x}, ${present})`);
    case 'quantile':
      return sql`quantileExactIf(${a.q})(${x}, ${present})`;
  }
}

/** The same aggregates from the rollup's states (only over the duration; see rollupAnswers). */
function rollupAggregate(a: Aggregate): Sql {
  switch (a.fn) {
    case 'min':
      return sql`minMerge(duration_min)`;
    case 'max':
      return sql`maxMerge(duration_max)`;
    case 'avg':
      return sql`sumMerge(duration_sum) / countMerge(spans)`;
    case 'sum':
      return sql`sumMerge(duration_sum)`;
    case 'quantile':
      return sql`quantileTDigestMerge(${a.q})(duration_digest)`;
    default:
      return sql`toFloat64(countMerge(spans))`;
  }
}

const isDuration = (f: Field) => f.kind === 'intrinsic' && f.name === 'duration';

/** The rollup's dimensions: service, span name, kind and status. */
function isRollupDimension(f: Field): boolean {
  if (f.kind === 'intrinsic') return f.name === 'name' || f.name === 'status' || f.name === 'kind';
  return f.scope === 'resource' && f.name === 'service.name';
}

/** True when the condition reads only rollup dimensions (and so compiles to rollup columns only). */
function isRollupCondition(c: Condition): boolean {
  switch (c.op) {
    case 'const':
      return true;
    case 'not':
      return isRollupCondition(c.term);
    case 'and':
    case 'or':
      return c.terms.every(isRollupCondition);
    case 'compare':
      if (!isRollupDimension(c.field)) return false;
      // resource.service.name: only '= "x"'. Other operators also match spans
      // whose resource has no service.name in the raw path, which the rollup
      // cannot tell apart.
      if (c.field.kind === 'attribute') return c.cmp === '=' && c.value.type === 'string' && c.value.value !== '';
      return true;
    default:
      return false;
  }
}

/** Whether the rollup answers exactly as the spans would (or, for quantiles, estimates are allowed). */
function rollupAnswers(req: MetricsRequest, quantileEstimates: boolean): boolean {
  if (req.range.startNs % NS_PER_MINUTE !== 0n || req.range.endNs % NS_PER_MINUTE !== 0n || req.stepNs % NS_PER_MINUTE !== 0n) return false;
  if (!isRollupCondition(req.where)) return false;
  if (!req.by.every((g) => g.kind === 'field' && isRollupDimension(g.field))) return false;
  return req.aggregates.every((a) => {
    switch (a.fn) {
      case 'count':
        return true;
      case 'countWhere':
        return false;
      case 'quantile':
        return quantileEstimates && isDuration(a.of);
      default:
        return isDuration(a.of);
    }
  });
}
