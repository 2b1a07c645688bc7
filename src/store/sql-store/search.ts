import type { KeyValueJson } from '../../model/any-value.js';
import type { EngineCapabilities } from '../engine.js';
import { heatmapColumns, type EvalSpan, type MatchedSpan, type SearchPort, type SearchResult, type SpanSearchRequest, type TraceHeatmap, type TraceHeatmapRequest, type TraceSpansRequest, type TraceSummary } from '../ports.js';
import type { Condition, TimeRange, TraceCondition } from '../request.js';
import { NS_PER_HOUR } from '../schema.js';
import type { TenantScope } from '../tenant.js';
import { condition, numberOf, parseTypedValues, textOf, typedOf, type CompileContext } from '../sql/compile.js';
import { sql, join, type Sql } from '../sql/sql.js';
import { T, resourceRows, tenantIn } from '../sql/tables.js';
import { POINT_LOOKUP, startsIn, widened, type StoreContext } from './context.js';

/** Search: spans matching a condition pick traces; structural queries read candidate traces whole. */
export class SearchReads implements SearchPort {
  constructor(private readonly ctx: StoreContext) {}

  get capabilities(): EngineCapabilities {
    return this.ctx.engine.capabilities;
  }

  async searchSpans(scope: TenantScope, req: SpanSearchRequest): Promise<SearchResult> {
    const cc: CompileContext = { scope, range: req.range, joined: false };
    const where = sql`${tenantIn(scope)} AND ${startsIn(req.range)} AND ${condition(req.where, cc)}`;

    let inspectedSpans = 0;
    let inspectedBytes = 0;
    const tally = (r: { statistics?: { rows_read?: number; bytes_read?: number } }) => {
      inspectedSpans += r.statistics?.rows_read ?? 0;
      inspectedBytes += r.statistics?.bytes_read ?? 0;
    };
    // Counted alongside step 1; awaited after it (a failure of step 1 must not leave this one unobserved).
    const totalQuery = req.countTotal ? this.ctx.json<[string]>(sql`SELECT toString(uniqExact(trace_id)) FROM ${T.spans} WHERE ${where}`) : undefined;
    totalQuery?.catch(() => undefined);

    const recent: string[] = [];
    if (req.order === 'slowest') {
      // 1. The longest traces among all that match: their durations come
      //    from the trace index, for every matching trace of the range.
      const top = await this.ctx.json<[string]>(sql`
SELECT hex(trace_id) FROM (
  SELECT trace_id, max(end_max) - min(start_min) AS d, min(start_min) AS s
  FROM ${T.traceIndex}
  WHERE ${tenantIn(scope)} AND trace_id GLOBAL IN (SELECT trace_id FROM ${T.spans} WHERE ${where})
  GROUP BY trace_id
)
ORDER BY d DESC, s DESC, trace_id
LIMIT ${req.limit}`);
      tally(top);
      for (const [id] of top.data) recent.push(id);
    } else {
      // 1. The traces with the most recent matching spans. A top-k sort of
      //    matching spans is far cheaper than grouping every match by trace;
      //    widen k until `limit` distinct traces are found or matches run out.
      for (let k = req.limit * 10; ; k *= 8) {
        const top = await this.ctx.json<[string]>(sql`SELECT hex(trace_id) FROM ${T.spans} WHERE ${where} ORDER BY start_ns DESC LIMIT ${k}`);
        tally(top);
        recent.length = 0;
        const seen = new Set<string>();
        for (const [id] of top.data) {
          if (seen.has(id)) continue;
          seen.add(id);
          recent.push(id);
          if (recent.length === req.limit) break;
        }
        if (recent.length === req.limit || top.data.length < k || k > 1_000_000) break;
      }
    }
    const counted = totalQuery && (await totalQuery);
    if (counted) tally(counted);
    const total = counted ? { count: Number(counted.data[0]?.[0] ?? 0), exact: true } : undefined;
    const traces: TraceSummary[] = [];
    if (recent.length === 0) return { traces, inspectedSpans, inspectedBytes, ...(total ? { total } : {}) };
    const ids = recent.map((id) => Buffer.from(id, 'hex'));

    // 2. Their matching spans and counts.
    const attrs = join([sql`toString(service_name)`, ...req.shown.map((s) => textOf(s.field, cc))]);
    type Row = [string, string, [string, string, string, string, string[]][]];
    const found = await this.ctx.json<Row>(sql`
SELECT hex(trace_id), toString(count()), groupArray(${req.spss})((hex(span_id), toString(name), toString(start_ns), toString(duration_ns), [${attrs}]))
FROM ${T.spans}
WHERE ${where} AND trace_id IN (${ids})
GROUP BY trace_id`);

    // 3. Their roots and time ranges, from the trace index.
    const info = await this.ctx.json<[string, string, string, string, string]>(
      sql`
SELECT hex(trace_id), toString(min(start_min)), toString(max(end_max)), anyIf(root_service, has_root = 1), anyIf(root_name, has_root = 1)
FROM ${T.traceIndex}
WHERE ${tenantIn(scope)} AND trace_id IN (${ids})
GROUP BY trace_id`,
      POINT_LOOKUP,
    );
    const byId = new Map(info.data.map((r) => [r[0], r]));
    const matches = new Map(found.data.map((r) => [r[0], r]));
    const names = ['service.name', ...req.shown.map((s) => s.key)];
    for (const hexId of recent) {
      const row = matches.get(hexId);
      if (!row) continue;
      const [, matched, spans] = row;
      const meta = byId.get(hexId);
      const first = spans.reduce((m, sp) => (BigInt(sp[2]) < m ? BigInt(sp[2]) : m), BigInt(spans[0]?.[2] ?? 0));
      const startNs = meta ? BigInt(meta[1]) : first;
      const endNs = meta ? BigInt(meta[2]) : first;
      traces.push({
        traceId: Buffer.from(hexId, 'hex'),
        rootServiceName: meta?.[3] ?? '',
        rootTraceName: meta?.[4] ?? '',
        startNs,
        durationNs: endNs - startNs,
        spanSet: {
          matched: Number(matched),
          spans: spans.map(([spanId, name, start, duration, values]): MatchedSpan => ({
            spanId: Buffer.from(spanId, 'hex'),
            name,
            startNs: BigInt(start),
            durationNs: BigInt(duration),
            attributes: values.map((v, i): KeyValueJson => ({ key: names[i], value: { stringValue: v } })).filter((kv) => (kv.value as { stringValue: string }).stringValue !== ''),
          })),
        },
      });
    }
    // Newest trace first, as Tempo orders results; or the longest first.
    traces.sort(req.order === 'slowest' ? bySlowest : byRecent);
    tally(found);
    tally(info);
    return { traces, inspectedSpans, inspectedBytes, ...(total ? { total } : {}) };
  }

  async traceHeatmap(scope: TenantScope, req: TraceHeatmapRequest): Promise<TraceHeatmap> {
    const cc: CompileContext = { scope, range: req.range, joined: false };
    const where = sql`${tenantIn(scope)} AND ${startsIn(req.range)} AND ${condition(req.where, cc)}`;
    const columns = heatmapColumns(req.range, req.stepNs);
    const { startNs } = req.range;
    // Comparisons with integer bounds, not a logarithm: the rows are the
    // same on every engine, and the same as the query layer computes. A sum
    // of comparisons, since 18.16's lambdas cannot read a column.
    const row = sql`toUInt64(${req.durationBoundsNs.reduce((acc, b) => sql`${acc} + (d >= ${b})`, sql`0`)})`;
    const res = await this.ctx.json<[string, string, string]>(sql`
SELECT toString(c), toString(r), toString(count()) FROM (
  SELECT if(s < ${startNs}, toUInt64(0), toUInt64(least(intDiv(s - ${startNs}, ${req.stepNs}), ${BigInt(columns - 1)}))) AS c, ${row} AS r
  FROM (
    SELECT min(start_min) AS s, max(end_max) - min(start_min) AS d
    FROM ${T.traceIndex}
    WHERE ${tenantIn(scope)} AND trace_id GLOBAL IN (SELECT trace_id FROM ${T.spans} WHERE ${where})
    GROUP BY trace_id
  )
)
GROUP BY c, r`);
    const cells = res.data.map(([c, r, n]) => ({ column: Number(c), row: Number(r), traces: Number(n) }));
    return { cells, total: { count: cells.reduce((sum, x) => sum + x.traces, 0), exact: true } };
  }

  async candidateTraces(scope: TenantScope, req: { range: TimeRange; anySpan: Condition; having: TraceCondition; limit: number; offset: number }): Promise<Buffer[]> {
    const cc: CompileContext = { scope, range: req.range, joined: false };
    const res = await this.ctx.json<[string]>(sql`
SELECT hex(trace_id) FROM ${T.spans}
WHERE ${tenantIn(scope)} AND ${startsIn(req.range)} AND (${condition(req.anySpan, cc)})
GROUP BY trace_id
HAVING ${traceCondition(req.having, cc)}
ORDER BY max(start_ns) DESC
LIMIT ${req.limit} OFFSET ${req.offset}`);
    return res.data.map(([id]) => Buffer.from(id, 'hex'));
  }

  async serviceStats(scope: TenantScope, traceIds: Buffer[], range: TimeRange): Promise<Map<string, Map<string, { spans: number; errors: number }>>> {
    const out = new Map<string, Map<string, { spans: number; errors: number }>>();
    if (traceIds.length === 0) return out;
    // Spans of a trace may start a little outside the searched range.
    const res = await this.ctx.json<[string, string, string, string]>(sql`
SELECT lower(t), s, toString(count()), toString(countIf(st = 2))
FROM (
  SELECT hex(trace_id) AS t, toString(service_name) AS s, status_code AS st
  FROM ${T.spans}
  WHERE ${tenantIn(scope)} AND ${startsIn(widened(range, NS_PER_HOUR))} AND trace_id IN (${traceIds})
  LIMIT 1 BY tenant, trace_id, span_id, start_ns
)
GROUP BY t, s`);
    for (const [trace, service, spans, errors] of res.data) {
      let m = out.get(trace);
      if (!m) out.set(trace, (m = new Map()));
      m.set(service, { spans: Number(spans), errors: Number(errors) });
    }
    return out;
  }

  async traceSpans(scope: TenantScope, req: TraceSpansRequest): Promise<Map<string, EvalSpan[]>> {
    const out = new Map<string, EvalSpan[]>();
    if (req.traceIds.length === 0) return out;
    const cc: CompileContext = { scope, range: req.range, joined: true };
    const list = (xs: Sql[], conv: (x: Sql) => Sql) => (xs.length === 0 ? sql`[]` : sql`[${join(xs.map(conv))}]`);
    type Row = [string, string, string, string, string, string, string, number[], (number | string)[], string[], string[]];
    // Spans of a trace may start a little outside the searched range.
    const res = await this.ctx.json<Row>(sql`
SELECT lower(hex(trace_id)), lower(hex(span_id)), hex(parent_span_id), toString(start_ns), toString(duration_ns), toString(name), toString(service_name),
  ${list(req.flags.map((f) => condition(f, cc)), (f) => sql`toUInt8(${f})`)},
  ${list(req.numbers.map((n) => numberOf(n, cc)), (n) => sql`toFloat64(${n})`)},
  ${list(req.texts.map((t) => textOf(t, cc)), (t) => sql`toString(${t})`)},
  ${list(req.values.map((v) => typedOf(v)), (t) => sql`toString(${t})`)}
FROM ${T.spans}
GLOBAL ANY LEFT JOIN ${resourceRows(scope)} AS r USING resource_id
WHERE ${tenantIn(scope)} AND ${startsIn(widened(req.range, NS_PER_HOUR))} AND trace_id IN (${req.traceIds})
LIMIT 1 BY tenant, trace_id, span_id, start_ns`);
    for (const [trace, spanId, parent, start, duration, name, service, flags, numbers, texts, values] of res.data) {
      let spans = out.get(trace);
      if (!spans) out.set(trace, (spans = []));
      spans.push({
        spanId,
        parentId: /^0+$/.test(parent) ? '' : parent.toLowerCase(),
        startNs: BigInt(start),
        durationNs: BigInt(duration),
        name,
        serviceName: service,
        flags: flags.map((f) => f === 1),
        numbers: numbers.map((n) => (typeof n === 'number' ? n : Number(n))),
        texts,
        values: values.map((v, i) => parseTypedValues(v, req.values[i])),
      });
    }
    return out;
  }
}

const byRecent = (a: TraceSummary, b: TraceSummary) => (a.startNs > b.startNs ? -1 : a.startNs < b.startNs ? 1 : 0);
const bySlowest = (a: TraceSummary, b: TraceSummary) => (a.durationNs > b.durationNs ? -1 : a.durationNs < b.durationNs ? 1 : byRecent(a, b));

/** A trace condition over the spans of one trace (grouped by trace id). */
function traceCondition(c: TraceCondition, cc: CompileContext): Sql {
  switch (c.op) {
    case 'someSpan':
      return sql`countIf(${condition(c.where, cc)}) > 0`;
    case 'and':
      return c.terms.length === 0 ? sql`1` : sql`(${join(c.terms.map((t) => traceCondition(t, cc)), ' AND ')})`;
    case 'or':
      return c.terms.length === 0 ? sql`0` : sql`(${join(c.terms.map((t) => traceCondition(t, cc)), ' OR ')})`;
  }
}
