import type { EngineCapabilities } from '../engine.js';
import type { Aggregate, CompareCounts, CompareRequest, CompareValueType, Grouping, MetricsAnswer, MetricsPort, MetricsRequest, MetricsRow } from '../ports.js';
import type { Condition, Field } from '../request.js';
import { NS_PER_MINUTE } from '../schema.js';
import type { TenantScope } from '../tenant.js';
import { condition, needsResourceRow, numberOf, StoreRequestError, textOf, type CompileContext } from '../sql/compile.js';
import { sql, join, ident, type Sql } from '../sql/sql.js';
import { T, resourceRows, tenantIn } from '../sql/tables.js';
import { jsonNumber, startsIn, type StoreContext } from './context.js';

/** Metrics over spans: from the per-minute rollup where it answers exactly, else from the spans. */
export class MetricsReads implements MetricsPort {
  constructor(private readonly ctx: StoreContext) {}

  get capabilities(): EngineCapabilities {
    return this.ctx.engine.capabilities;
  }

  async metricsSeries(scope: TenantScope, req: MetricsRequest): Promise<MetricsAnswer> {
    const fromRollup = !req.rawOnly && rollupAnswers(req, req.allowEstimates === true && this.capabilities.quantileStatesAnyLevel);
    if (fromRollup) return { source: 'rollup', rows: await this.rollupSeries(scope, req) };
    // Grouped by service: with the service as a number packed into the
    // bucket, unless a span's service was not among those listed (then the
    // plain grouping answers).
    const services = this.capabilities.lowCardinality && req.by.some(isServiceName) ? await this.serviceNames(scope) : null;
    const packed = services && services.length > 0 ? await this.spanSeries(scope, req, services) : null;
    return { source: 'spans', rows: packed ?? (await this.spanSeries(scope, req, null))! };
  }

  private async rollupSeries(scope: TenantScope, req: MetricsRequest): Promise<MetricsRow[]> {
    const cc: CompileContext = { scope, range: req.range, joined: false };
    const by = req.by.map((g, i) => sql`${grouping(g, cc)} AS ${ident(`k${i}`)}`);
    const values = req.aggregates.map((a, i) => sql`${rollupAggregate(a)} AS ${ident(`v${i}`)}`);
    const first = req.range.startNs / NS_PER_MINUTE;
    const end = req.range.endNs / NS_PER_MINUTE;
    const inner = sql`SELECT intDiv(minute - ${first}, ${req.stepNs / NS_PER_MINUTE}) AS b, ${join([...by, ...values])}
FROM ${T.spanMetrics}
WHERE ${tenantIn(scope)} AND minute >= ${first} AND minute < ${end} AND (${condition(req.where, cc)})
GROUP BY ${join([sql`b`, ...req.by.map((_, i) => ident(`k${i}`))])}`;
    const res = await this.ctx.json<[string, string[], (number | string | null)[]]>(sql`
SELECT toString(b), ${keyTexts(req.by.map((_, i) => i))}, [${join(req.aggregates.map((_, i) => sql`toFloat64(${ident(`v${i}`)})`))}]
FROM (${inner})
ORDER BY b`);
    return res.data.map(([b, keys, vs]) => ({ bucket: Number(b), by: keys, values: vs.map(jsonNumber) }));
  }

  /**
   * The series from the raw spans. Quantiles of one field share one
   * quantilesExact state (the values are kept once, whatever the levels),
   * over the stored integers where the field is a column every span has.
   * With `services` (the scope's service names), resource.service.name
   * groups are not a key of their own: the service's number in the list
   * (from 1; 0 for one not listed) is packed into the bucket key, and
   * computed once per distinct value of the LowCardinality column. A
   * LowCardinality string beside another key is grouped as plain strings:
   * the p99 by service of 10M spans took 510 ms of CPU that way, 343 ms
   * with one integer key (chDB 3.4, 2 cores). Returns null when a span's
   * service was not listed.
   */
  private async spanSeries(scope: TenantScope, req: MetricsRequest, services: string[] | null): Promise<MetricsRow[] | null> {
    const fields = [...req.by.map((g) => (g.kind === 'field' ? g.field : g.of)), ...req.aggregates.flatMap((a) => ('of' in a ? [a.of] : []))];
    const joined = needsResourceRow(fields);
    const cc: CompileContext = { scope, range: req.range, joined };
    const keyed = req.by.flatMap((g, i) => (services && isServiceName(g) ? [] : [i]));
    // Group on the raw values and stringify only the result rows: grouping
    // on toString()/array keys cost a third more over 10M spans.
    const by = keyed.map((i) => sql`${grouping(req.by[i], cc)} AS ${ident(`k${i}`)}`);
    const { states, values } = aggregateStates(req.aggregates, cc);
    const step = sql`intDiv(start_ns - ${req.range.startNs}, ${req.stepNs})`;
    // Service numbers run from 1 to services.length; 0 is a service not listed.
    const stride = services ? services.length + 1 : 1;
    const bucket = services ? sql`${step} * ${stride} + transform(service_name, [${services}], CAST([${services.map((_, i) => i + 1)}] AS Array(UInt32)), toUInt32(0))` : step;
    const from = joined ? sql`${T.spans} GLOBAL ANY LEFT JOIN ${resourceRows(scope)} AS r USING resource_id` : T.spans;
    const inner = sql`SELECT ${bucket} AS b, ${join([...by, ...states])}
FROM ${from}
WHERE ${tenantIn(scope)} AND ${startsIn(req.range)} AND (${condition(req.where, cc)})
GROUP BY ${join([sql`b`, ...keyed.map((i) => ident(`k${i}`))])}`;
    const res = await this.ctx.json<[string, string[], (number | string | null)[]]>(sql`
SELECT toString(b), ${keyTexts(keyed)}, [${join(values)}]
FROM (${inner})
ORDER BY b`);
    const rows: MetricsRow[] = [];
    for (const [b, keys, vs] of res.data) {
      const packed = BigInt(b);
      const service = Number(packed % BigInt(stride));
      if (services && service === 0) return null;
      let next = 0;
      rows.push({
        bucket: Number(packed / BigInt(stride)),
        by: req.by.map((g) => (services && isServiceName(g) ? services[service - 1] : keys[next++])),
        values: vs.map(jsonNumber),
      });
    }
    return rows;
  }

  /** The service names of the scope's resources, or null when there are too many to list in a statement. */
  private async serviceNames(scope: TenantScope): Promise<string[] | null> {
    const res = await this.ctx.json<[string]>(sql`SELECT DISTINCT toString(service_name) AS s FROM ${T.resources} WHERE ${tenantIn(scope)} ORDER BY s LIMIT ${MAX_LISTED_SERVICES + 1}`);
    return res.data.length > MAX_LISTED_SERVICES ? null : res.data.map(([s]) => s);
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

/** Services listed in a metrics statement at most; past it, the plain grouping. */
const MAX_LISTED_SERVICES = 2000;

/** A by() on resource.service.name: the spans table's own service column. */
function isServiceName(g: Grouping): boolean {
  return g.kind === 'field' && g.field.kind === 'attribute' && g.field.scope === 'resource' && g.field.name === 'service.name';
}

/** The group key texts of these by() positions, as one array per row. */
function keyTexts(positions: number[]): Sql {
  return positions.length > 0 ? sql`[${join(positions.map((i) => sql`toString(${ident(`k${i}`)})`))}]` : sql`emptyArrayString()`;
}


/**
 * A numeric field that is a column every span has, as stored (UInt64).
 * The k-th smallest of the integers converts to the k-th smallest of their
 * Float64 values (the conversion keeps order), so quantiles over the column
 * equal those over numberOf(), without converting or testing every row.
 */
function storedNumber(f: Field): Sql | null {
  if (f.kind !== 'intrinsic') return null;
  if (f.name === 'duration') return sql`duration_ns`;
  if (f.name === 'start') return sql`start_ns`;
  return null;
}

/**
 * The aggregate states of the inner statement and, in the request's order,
 * the Float64 value of each aggregate read from them in the outer one.
 * Quantiles of one field share a quantilesExact state: quantilesExact
 * takes, for each level q, the element at floor(q * n) of the n sorted
 * values (n - 1 for q = 1), as quantileExact does for one.
 */
function aggregateStates(aggregates: readonly Aggregate[], cc: CompileContext): { states: Sql[]; values: Sql[] } {
  const states: Sql[] = [];
  const quantiles = new Map<string, { n: number; of: Field; stored: Sql | null; levels: number[] }>();
  const values = aggregates.map((a, i) => {
    if (a.fn !== 'quantile') {
      states.push(sql`${aggregate(a, cc)} AS ${ident(`v${i}`)}`);
      return sql`toFloat64(${ident(`v${i}`)})`;
    }
    const key = JSON.stringify(a.of);
    let set = quantiles.get(key);
    if (!set) quantiles.set(key, (set = { n: quantiles.size, of: a.of, stored: storedNumber(a.of), levels: [] }));
    set.levels.push(a.q);
    const value = sql`toFloat64(${ident(`q${set.n}`)}[${set.levels.length}])`;
    // Of no values, quantilesExact gives 0s: no value is NaN, as for the other aggregates.
    return set.stored ? value : sql`if(${ident(`c${set.n}`)} = 0, nan, ${value})`;
  });
  for (const { n, of, stored, levels } of quantiles.values()) {
    if (stored) {
      states.push(sql`quantilesExact(${levels})(${stored}) AS ${ident(`q${n}`)}`);
      continue;
    }
    const x = numberOf(of, cc);
    states.push(sql`quantilesExactIf(${levels})(${x}, NOT isNaN(${x})) AS ${ident(`q${n}`)}`, sql`countIf(NOT isNaN(${x})) AS ${ident(`c${n}`)}`);
  }
  return { states, values };
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
      throw new StoreRequestError('quantiles are computed in sets (aggregateStates)');
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
