import type { AttributeKeyRow, DiagnosisPort, ResourceSighting, ResourceSightingsRequest, LoadSpanRow, PathSpanRow, PathSpans, ServiceGraph, TraceAttributeStats, TraceSample, TraceSampleRequest, TraceTiming, NumericKeyRow, AttributeValueRow, ServiceEdgeRow } from '../ports.js';
import { NUMERIC_LEVELS } from '../ports.js';
import type { Condition, TimeRange } from '../request.js';
import { NS_PER_MINUTE } from '../schema.js';
import type { TenantScope } from '../tenant.js';
import { attributeText, condition, type CompileContext } from '../sql/compile.js';
import { sql, join, ident, type Sql } from '../sql/sql.js';
import { T, resourceRows, tenantIn } from '../sql/tables.js';
import { startsIn as inRange, widened, type StoreContext } from './context.js';

/**
 * The SQL behind diagnosis (service map, attribute comparison, aggregated
 * critical path, load). Everything is plain ClickHouse 18.16 SQL: joins by
 * USING on subqueries, ARRAY JOIN, LIMIT BY, -If combinators. Subqueries
 * read the Distributed tables on a cluster, so the answers are exact there
 * too (joins run on the node that was asked).
 */

const ZERO_SPAN_ID = Buffer.alloc(8);
const SERVER = 2;
const CLIENT = 3;
const PRODUCER = 4;
const CONSUMER = 5;
/**
 * A parent may start a little before its child's range: look this much
 * earlier for parents, and later for children, than the range asked.
 */
const PARENT_SLACK_NS = 300_000_000_000n;
/** How much earlier than its parent a child may start (another host's clock). */
const CHILD_SKEW_NS = 60_000_000_000n;
/** Spans of a trace picked by a span in the range may start up to this far from it. */
const TRACE_SLACK_NS = 3_600_000_000_000n;

const num = (v: number | string): number => (typeof v === 'number' ? v : Number(v));

/** `trace_id` is one of these: the band they span (which the sort key skips to), then the set. */
function idSet(traceIds: Buffer[]): Sql {
  let lo = traceIds[0];
  let hi = traceIds[0];
  for (const id of traceIds) {
    if (Buffer.compare(id, lo) < 0) lo = id;
    if (Buffer.compare(id, hi) > 0) hi = id;
  }
  // The ids as one string split by the engine: a list of unhex() literals
  // costs the analyser 0.2 ms an id (450 against 90 ms for 2000 ids).
  const list = traceIds.map((id) => id.toString('hex')).join(',');
  return sql`trace_id >= ${lo} AND trace_id <= ${hi}
  AND trace_id IN (SELECT toFixedString(unhex(x), 16) FROM (SELECT arrayJoin(splitByChar(',', ${list})) AS x))`;
}

/** The key columns of traceAttributes' value rows: the same on every row of a key. */
function keyRows(rows: [string, string, string, number, string, string, string][]): AttributeKeyRow[] {
  const keys = new Map<string, AttributeKeyRow>();
  for (const [scope, key, , , , distinct, traces] of rows) {
    const id = `${scope}\u0000${key}`;
    if (!keys.has(id)) keys.set(id, { scope: scope as AttributeKeyRow['scope'], key, distinct: Number(distinct), traces: Number(traces) });
  }
  return [...keys.values()];
}

/** The trace id below which `fraction` of (uniformly random) ids fall. */
export function idBound(fraction: number): Buffer {
  const id = Buffer.alloc(16);
  // 2^64 * fraction in the first 8 bytes; a double keeps 53 bits of it, plenty for a sample.
  const max = (1n << 64n) - 1n;
  const bound = BigInt(Math.floor(Math.max(0, fraction) * 2 ** 64));
  id.writeBigUInt64BE(bound > max ? max : bound, 0);
  return id;
}

export class DiagnosisReads implements DiagnosisPort {
  constructor(private readonly ctx: StoreContext) {}

  /**
   * Service edges from parent/child span pairs in different services,
   * counted at the child (its start in the range), and each service's own
   * RED over its entry spans.
   *
   * Two hash joins keep the in-memory side small: server and consumer
   * children against every possible parent, then every other child against
   * client and producer parents. A cross-service pair where neither side has
   * one of those kinds (internal under internal) is not an edge.
   */
  async serviceGraph(scope: TenantScope, range: TimeRange, maxSpans = 0, groupBy?: string): Promise<ServiceGraph> {
    const fraction = maxSpans > 0 ? Math.min(1, maxSpans / Math.max(1, await this.spansIn(scope, range))) : 1;
    const tenant = tenantIn(scope);
    // Whole traces, by the first 8 bytes of their (random) ids: every pair of
    // a sampled trace is kept, and within each (service, hour) block of the
    // sort key the sample is one contiguous band of granules.
    const sample = fraction < 1 ? sql` AND trace_id < ${idBound(fraction)}` : sql``;
    const parents = widened(range, PARENT_SLACK_NS);
    // Split by a resource attribute: each span takes the value from its
    // resource row (one row per process, so the joined side stays small).
    const grouped = groupBy !== undefined;
    const withGroup = grouped
      ? sql` GLOBAL ANY LEFT JOIN (SELECT resource_id, ${attributeText('res', groupBy)} AS grp FROM ${resourceRows(scope)}) AS g USING resource_id`
      : sql``;
    const group = (alias: string) => (grouped ? sql`, grp AS ${ident(alias)}` : sql``);
    // Parent and child within one tenant: in a scope of several, each tenant's edges count once.
    const link = (id: string) => sql`cityHash64(tenant, trace_id, ${ident(id)}) AS link`;
    const entryChildren = sql`SELECT ${link('parent_span_id')}, toString(service_name) AS target${group('target_group')}, status_code AS child_status, duration_ns AS child_duration
  FROM ${T.spans}${withGroup} WHERE ${tenant} AND ${inRange(range)}${sample} AND kind IN (${SERVER}, ${CONSUMER}) AND parent_span_id != ${ZERO_SPAN_ID}`;
    const anyParent = sql`SELECT ${link('span_id')}, toString(service_name) AS source${group('source_group')}, kind AS parent_kind FROM ${T.spans}${withGroup} WHERE ${tenant} AND ${inRange(parents)}${sample}`;
    const otherChildren = sql`SELECT ${link('parent_span_id')}, toString(service_name) AS target${group('target_group')}, status_code AS child_status, duration_ns AS child_duration
  FROM ${T.spans}${withGroup} WHERE ${tenant} AND ${inRange(range)}${sample} AND kind NOT IN (${SERVER}, ${CONSUMER}) AND parent_span_id != ${ZERO_SPAN_ID}`;
    const callingParent = sql`SELECT ${link('span_id')}, toString(service_name) AS source${group('source_group')}, kind AS parent_kind FROM ${T.spans}${withGroup} WHERE ${tenant} AND ${inRange(parents)}${sample} AND kind IN (${CLIENT}, ${PRODUCER})`;
    // By the calling side: a client's child is what the callee traced, server span or not.
    const edgeKind = sql`multiIf(parent_kind = ${CLIENT}, 'request', parent_kind = ${PRODUCER}, 'messaging', 'link')`;
    // Split, a call from one value of a service to another (checkout on node 1 to checkout on node 2) is an edge too.
    const groups = grouped ? sql`, source_group, target_group` : sql``;
    const crosses = grouped ? sql`(source != target OR source_group != target_group)` : sql`source != target`;
    const pairs = (left: Sql, right: Sql) => sql`SELECT source, target${groups}, ${edgeKind} AS edge_kind, child_status, child_duration
  FROM (${left}) AS parent ALL INNER JOIN (${right}) AS child USING link
  WHERE ${crosses}`;
    const entry = sql`(kind IN (${SERVER}, ${CONSUMER}) OR parent_span_id = ${ZERO_SPAN_ID})`;
    // Exact quantiles when every span is read; a sampled map is an estimate anyway.
    const quantiles = fraction < 1 ? sql`quantiles` : sql`quantilesExact`;
    const edgeGroups = grouped ? sql`, source_group, target_group` : sql`, '', ''`;
    const nodeGroup = grouped ? sql`grp` : sql`''`;
    // Both at once, on the engine's two query connections.
    const [edges, nodes] = await Promise.all([
      this.ctx.json<[string, string, string, string, string, string, string, (number | string)[]]>(sql`
SELECT source, target${edgeGroups}, edge_kind, toString(count()), toString(countIf(child_status = 2)), ${quantiles}(0.5, 0.95, 0.99)(child_duration)
FROM (
  ${pairs(anyParent, entryChildren)}
  UNION ALL
  ${pairs(otherChildren, callingParent)}
)
GROUP BY source, target${groups}, edge_kind
ORDER BY source, target${groups}, edge_kind`),
      this.ctx.json<[string, string, string, string, string, (number | string)[]]>(sql`
SELECT toString(service_name) AS service, ${nodeGroup} AS node_group, toString(count()), toString(countIf(${entry})), toString(countIf(${entry} AND status_code = 2)), ${quantiles}If(0.5, 0.95, 0.99)(duration_ns, ${entry})
FROM ${T.spans}${withGroup}
WHERE ${tenant} AND ${inRange(range)}${sample}
GROUP BY service, node_group
ORDER BY service, node_group`),
    ]);
    return {
      fraction,
      edges: edges.data.map(([source, target, sourceGroup, targetGroup, kind, count, errors, q]) => ({
        source,
        target,
        ...(grouped ? { sourceGroup, targetGroup } : {}),
        kind: kind as ServiceEdgeRow['kind'],
        count: Number(count),
        errors: Number(errors),
        p50: num(q[0]),
        p95: num(q[1]),
        p99: num(q[2]),
      })),
      nodes: nodes.data.map(([service, nodeGroup, spans, entrySpans, entryErrors, q]) => ({
        service,
        ...(grouped ? { group: nodeGroup } : {}),
        spans: Number(spans),
        entrySpans: Number(entrySpans),
        entryErrors: Number(entryErrors),
        p50: Number(entrySpans) > 0 ? num(q[0]) : 0,
        p95: Number(entrySpans) > 0 ? num(q[1]) : 0,
        p99: Number(entrySpans) > 0 ? num(q[2]) : 0,
      })),
    };
  }

  /** Spans starting in the range, from the per-minute rollup (whole minutes around it). */
  private async spansIn(scope: TenantScope, range: TimeRange): Promise<number> {
    const res = await this.ctx.json<[string]>(sql`SELECT toString(countMerge(spans)) FROM ${T.spanMetrics}
WHERE ${tenantIn(scope)} AND minute >= ${range.startNs / NS_PER_MINUTE} AND minute <= ${range.endNs / NS_PER_MINUTE}`);
    return Number(res.data[0]?.[0] ?? 0);
  }

  /**
   * The traces with the smallest ids among those qualifying. Trace ids are
   * random, so this is a uniform sample; and since spans are sorted by
   * trace id within each (service, hour), the sample's spans sit in a
   * narrow band of every block, which later reads skip to (see idBounds).
   */
  async sampleTraces(scope: TenantScope, req: TraceSampleRequest): Promise<TraceSample> {
    const cc: CompileContext = { scope, range: req.range, joined: false };
    const tenant = tenantIn(scope);
    const source = req.match
      ? sql`SELECT DISTINCT trace_id FROM ${T.spans} WHERE ${tenant} AND ${inRange(req.range)} AND (${condition(req.match, cc)})`
      : sql`SELECT DISTINCT trace_id FROM ${T.traceIndex} WHERE ${tenant} AND end_max >= ${req.range.startNs} AND start_min < ${req.range.endNs}`;
    const exclude = req.exclude
      ? sql`WHERE trace_id GLOBAL NOT IN (SELECT trace_id FROM ${T.spans} WHERE ${tenant} AND ${inRange(req.range)} AND (${condition(req.exclude, cc)}))`
      : sql``;
    const res = await this.ctx.json<[string]>(sql`SELECT hex(trace_id) FROM (${source}) ${exclude} ORDER BY trace_id LIMIT ${req.limit + 1}`);
    const ids = res.data.map(([id]) => Buffer.from(id, 'hex'));
    const sampled = ids.length > req.limit;
    const sample: TraceSample = { traceIds: ids.slice(0, req.limit), sampled };
    if (req.countTotal) {
      // Only a cut sample needs the count read: otherwise it is every trace.
      sample.total = sampled ? Number((await this.ctx.json<[string]>(sql`SELECT toString(count()) FROM (${source}) ${exclude}`)).data[0]?.[0] ?? 0) : ids.length;
    }
    return sample;
  }

  /** Each trace's first start and last end in the trace index (its rows merged), for traces near the range. */
  async traceTimings(scope: TenantScope, req: { traceIds: Buffer[]; range: TimeRange }): Promise<TraceTiming[]> {
    if (req.traceIds.length === 0) return [];
    const near = widened(req.range, TRACE_SLACK_NS);
    const res = await this.ctx.json<[string, string, string]>(sql`
SELECT hex(trace_id), toString(min(start_min)), toString(max(end_max) - min(start_min))
FROM ${T.traceIndex}
WHERE ${tenantIn(scope)} AND end_max >= ${near.startNs} AND start_min < ${near.endNs} AND ${idSet(req.traceIds)}
GROUP BY trace_id`);
    return res.data.map(([id, start, duration]) => ({ traceId: Buffer.from(id, 'hex'), startNs: BigInt(start), durationNs: Number(duration) }));
  }

  /**
   * Per attribute value, how many of these traces carry it on some span:
   * span attributes, resource attributes, and the intrinsics name, kind and
   * status; the `valuesPerKey` most frequent values of each key. And per
   * numeric key (int and float attributes, and duration), the quantiles of
   * its values over the traces' spans.
   */
  async traceAttributes(scope: TenantScope, req: { traceIds: Buffer[]; range: TimeRange; valuesPerKey: number }): Promise<TraceAttributeStats> {
    if (req.traceIds.length === 0) return { traces: 0, spans: 0, values: [], keys: [], numeric: [] };
    const typed = (prefix: 'attr' | 'res', scope: string): Sql[] => [
      sql`arrayMap((k, x) -> (${scope}, toString(k), x, 0), ${ident(`${prefix}_str_keys`)}, ${ident(`${prefix}_str_values`)})`,
      sql`arrayMap((k, x) -> (${scope}, toString(k), toString(x), 1), ${ident(`${prefix}_int_keys`)}, ${ident(`${prefix}_int_values`)})`,
      sql`arrayMap((k, x) -> (${scope}, toString(k), toString(x), 2), ${ident(`${prefix}_float_keys`)}, ${ident(`${prefix}_float_values`)})`,
      sql`arrayMap((k, x) -> (${scope}, toString(k), if(x = 1, 'true', 'false'), 3), ${ident(`${prefix}_bool_keys`)}, ${ident(`${prefix}_bool_values`)})`,
    ];
    const numbers = (prefix: 'attr' | 'res', scope: string): Sql[] => [
      sql`arrayMap((k, x) -> (${scope}, toString(k), toFloat64(x)), ${ident(`${prefix}_int_keys`)}, ${ident(`${prefix}_int_values`)})`,
      sql`arrayMap((k, x) -> (${scope}, toString(k), toFloat64(x)), ${ident(`${prefix}_float_keys`)}, ${ident(`${prefix}_float_values`)})`,
    ];
    const intrinsics = sql`[('intrinsic', 'name', toString(name), 0), ('intrinsic', 'kind', ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'][kind + 1], 0), ('intrinsic', 'status', ['unset', 'ok', 'error'][status_code + 1], 0)]`;
    // Resource attributes from the (small) resources table, one row per resource.
    const resources = sql`SELECT resource_id, arrayConcat(${join(typed('res', 'resource'))}) AS res_pairs, arrayConcat(${join(numbers('res', 'resource'))}) AS res_numbers
  FROM ${resourceRows(scope)}`;
    const spans = sql`SELECT trace_id,
  arrayConcat(${intrinsics}, ${join(typed('attr', 'span'))}, res_pairs) AS pairs,
  arrayFilter(p -> isFinite(tupleElement(p, 3)), arrayConcat([('intrinsic', 'duration', toFloat64(duration_ns))], ${join(numbers('attr', 'span'))}, res_numbers)) AS numbers
FROM ${T.spans}
GLOBAL ANY LEFT JOIN (${resources}) AS r USING resource_id
WHERE ${tenantIn(scope)} AND ${this.traceFilter(req.traceIds, req.range)}`;
    const levels = join(NUMERIC_LEVELS.map((l) => sql`${l}`));
    // Per value, its traces; per key, its distinct values and the traces
    // carrying any of them (the per-value trace sets merged), in one read.
    // Every value takes part in the key's counts, the kept ones or not.
    const [values, numeric] = await Promise.all([
      this.ctx.json<[string, string, string, number, string, string, string]>(sql`
SELECT scope, k, x.1 AS v, x.2 AS t, toString(x.3) AS traces, toString(key_values), toString(key_traces)
FROM (
  SELECT scope, k, groupArray((v, t, traces)) AS vs, count() AS key_values, uniqExactMerge(trace_set) AS key_traces
  FROM (
    SELECT p.1 AS scope, p.2 AS k, p.3 AS v, p.4 AS t, uniqExact(trace_id) AS traces, uniqExactState(trace_id) AS trace_set
    FROM (${spans}) ARRAY JOIN pairs AS p
    GROUP BY scope, k, v, t)
  GROUP BY scope, k)
ARRAY JOIN vs AS x
ORDER BY x.3 DESC, scope, k, v
LIMIT ${req.valuesPerKey} BY scope, k`),
      this.ctx.json<[string, string, (number | string)[], string, string]>(sql`
SELECT p.1 AS scope, p.2 AS k, quantilesExact(${levels})(p.3), toString(count()), toString(uniqExact(trace_id))
FROM (${spans}) ARRAY JOIN numbers AS p
GROUP BY scope, k
ORDER BY scope, k`),
    ]);
    const TYPES = ['string', 'int', 'float', 'bool'] as const;
    const duration = numeric.data.find(([scope, k]) => scope === 'intrinsic' && k === 'duration');
    return {
      // Every span has a duration: its counts are the totals.
      spans: duration ? Number(duration[3]) : 0,
      traces: duration ? Number(duration[4]) : 0,
      values: values.data.map(([scope, key, value, t, traces]) => ({
        scope: scope as AttributeValueRow['scope'],
        key,
        value,
        type: TYPES[num(t)],
        traces: Number(traces),
      })),
      keys: keyRows(values.data),
      numeric: numeric.data.map(([scope, key, q, spans]) => ({ scope: scope as NumericKeyRow['scope'], key, quantiles: q.map(num), spans: Number(spans) })),
    };
  }

  /** The spans of these traces, with only the columns a critical path needs. */
  async pathSpans(scope: TenantScope, req: { traceIds: Buffer[]; range: TimeRange }): Promise<PathSpans> {
    const traces = new Map<string, PathSpanRow[]>();
    if (req.traceIds.length === 0) return { baseNs: 0n, traces };
    // RowBinary: formatting ids and numbers as text cost the engine 5x the read itself.
    const buf = await this.ctx.rowBinary(sql`
SELECT trace_id, span_id, parent_span_id, start_ns, duration_ns, service_name, name
FROM ${T.spans}
WHERE ${tenantIn(scope)} AND ${this.traceFilter(req.traceIds, req.range)}`);
    // Read by hand, allocating as little as possible per row: at 10k traces
    // this loop and the garbage it made took longer than the query.
    // Times are offsets from the range's start minus the slack, exact as doubles.
    const base = widened(req.range, TRACE_SLACK_NS).startNs;
    const baseHi = Number(base >> 32n);
    const baseLo = Number(base & 0xffffffffn);
    const root = '\u0000'.repeat(8);
    const strings = new Map<string, string>();
    let pos = 0;
    const text = (): string => {
      let n = 0;
      let shift = 0;
      for (;;) {
        const b = buf[pos++];
        n += (b & 0x7f) * 2 ** shift;
        if (b < 0x80) break;
        shift += 7;
      }
      // Service and span names repeat: keep one copy of each.
      const raw = buf.toString('latin1', pos, pos + n);
      let s = strings.get(raw);
      if (s === undefined) strings.set(raw, (s = buf.toString('utf8', pos, pos + n)));
      pos += n;
      return s;
    };
    while (pos < buf.length) {
      // Ids as byte strings: cheaper than hex, and only compared.
      const trace = buf.toString('latin1', pos, pos + 16);
      const spanId = buf.toString('latin1', pos + 16, pos + 24);
      const parent = buf.toString('latin1', pos + 24, pos + 32);
      const start = (buf.readUInt32LE(pos + 36) - baseHi) * 2 ** 32 + (buf.readUInt32LE(pos + 32) - baseLo);
      const duration = buf.readUInt32LE(pos + 44) * 2 ** 32 + buf.readUInt32LE(pos + 40);
      pos += 48;
      const service = text();
      const name = text();
      // A span received twice (an exporter's retry) comes back twice: the
      // critical path takes one of two identical children and hides the other.
      let spans = traces.get(trace);
      if (!spans) traces.set(trace, (spans = []));
      spans.push({ spanId, parentId: parent === root ? '' : parent, start, duration, service, name });
    }
    return { baseNs: base, traces };
  }

  /**
   * Spans matching `where` that start in the range (the most recent
   * `limit`), each with the intervals of its child spans.
   */
  /**
   * Spans counted per (step, service, resource) first, reading three
   * columns; only those groups meet the resources table, whose rows give
   * the attribute values.
   */
  async resourceSightings(scope: TenantScope, req: ResourceSightingsRequest): Promise<ResourceSighting[]> {
    const values = req.attributes.map((a, i) => sql`${attributeText('res', a)} AS ${ident(`v${i}`)}`);
    const named = req.attributes.map((_, i) => ident(`v${i}`));
    const res = await this.ctx.json<[string, string, string[], string, string]>(sql`
SELECT toString(b), s, ${named.length > 0 ? sql`[${join(named)}]` : sql`emptyArrayString()`}, toString(sum(n)), toString(min(f))
FROM (
  SELECT intDiv(start_ns - ${req.range.startNs}, ${req.stepNs}) AS b, toString(service_name) AS s, resource_id, count() AS n, min(start_ns) AS f
  FROM ${T.spans}
  WHERE ${tenantIn(scope)} AND ${inRange(req.range)}
  GROUP BY b, s, resource_id
) AS per_resource GLOBAL ANY LEFT JOIN (SELECT resource_id${values.length > 0 ? sql`, ${join(values)}` : sql``} FROM ${resourceRows(scope)}) AS g USING resource_id
GROUP BY ${join([sql`b`, sql`s`, ...named])}`);
    return res.data.map(([b, service, vs, n, f]) => ({ step: Number(b), service, values: vs, spans: Number(n), firstNs: BigInt(f) }));
  }

  async loadSpans(scope: TenantScope, req: { range: TimeRange; where: Condition; limit: number; originNs: bigint }): Promise<LoadSpanRow[]> {
    const tenant = tenantIn(scope);
    const where = condition(req.where, { scope, range: req.range, joined: false });
    const matching = sql`SELECT tenant, trace_id, span_id AS link, start_ns, duration_ns FROM ${T.spans} WHERE ${tenant} AND ${inRange(req.range)} AND (${where}) ORDER BY start_ns DESC LIMIT ${req.limit}`;
    // Children start after the earliest span taken (a minute's slack for
    // clock skew): when the most recent are a short stretch of the range,
    // that skips most rows before the costlier tuple lookup (2.3 -> 0.8 s at 10M spans).
    const children = sql`SELECT tenant, trace_id, parent_span_id AS link, groupArray((start_ns, duration_ns)) AS children
  FROM ${T.spans}
  WHERE ${tenant} AND start_ns >= (SELECT min(start_ns) FROM (${matching})) - ${CHILD_SKEW_NS} AND start_ns < ${widened(req.range, PARENT_SLACK_NS).endNs}
    AND (tenant, trace_id, parent_span_id) GLOBAL IN (SELECT tenant, trace_id, link FROM (${matching}))
  GROUP BY tenant, trace_id, link`;
    // Offsets from the caller's origin, as doubles (exact), so JSON carries plain numbers.
    const origin = req.originNs;
    const offset = (x: Sql) => sql`toFloat64(toInt64(${x}) - ${origin})`;
    const res = await this.ctx.json<[number, number, [number, number][]]>(sql`
SELECT ${offset(sql`start_ns`)}, toFloat64(duration_ns), arrayMap(c -> (${offset(sql`tupleElement(c, 1)`)}, toFloat64(tupleElement(c, 2))), children)
FROM (${matching}) AS matching ANY LEFT JOIN (${children}) AS children USING (tenant, trace_id, link)`);
    return res.data.map(([start, duration, kids]) => ({ start, duration, children: kids.map(([s, d]) => [s, s + d]) }));
  }

  /**
   * Spans of the given traces. The id bounds let the engine skip to the
   * sample's band of each (service, hour) block of the sort key, instead of
   * reading every granule to test the id list.
   */
  private traceFilter(traceIds: Buffer[], range: TimeRange): Sql {
    return sql`${inRange(widened(range, TRACE_SLACK_NS))} AND ${idSet(traceIds)}`;
  }
}
