import { randomBytes } from 'node:crypto';
import { RESOURCE_COLUMN_NAMES, SPAN_COLUMNS, SPAN_COLUMN_NAMES } from '../model/span-batch.js';
import { readResourceRecords, readSpanRecords, type ResourceRecord } from '../model/row-binary.js';
import type { SpanRecord } from '../model/span-record.js';
import type { AnyValueJson, KeyValueJson } from '../model/any-value.js';
import { sql, join, ident, typeName, type Sql } from '../query/sql/index.js';
import { EngineError, type Engine, type EngineCapabilities, type EngineSettings } from './engine.js';
import { DiagnosisQueries, type LoadSpanRow, type PathSpans, type ServiceGraph, type TraceAttributeStats, type TraceSample, type TraceSampleRequest } from './diagnosis-sql.js';
import { NS_PER_DAY, NS_PER_HOUR, NS_PER_MINUTE, TABLES, localName, readRollupFrom, traceIndexSelect, type Layout } from './schema.js';
import type {
  AttributeRef,
  AttributeScope,
  IntrinsicField,
  MatchedSpan,
  RetentionResult,
  SearchResult,
  SearchTag,
  SpanSearchRequest,
  EvalSpan,
  MetricsRow,
  MetricsSeriesRequest,
  CompareRequest,
  CompareCounts,
  CompareValueType,
  Store,
  StoreStats,
  TagSearchRequest,
  TagValue,
  TimeRange,
  TraceSummary,
} from './types.js';

const SPANS = ident(TABLES.spans);
const RESOURCES = ident(TABLES.resources);
/**
 * One row per resource with its attribute columns, to join to span rows
 * (`GLOBAL ANY LEFT JOIN ... USING resource_id`) where resource attributes
 * are read per span. The resources table is small: one row per process.
 */
const RESOURCE_COLUMNS = sql`(SELECT resource_id, ${join(
  ['str', 'int', 'float', 'bool'].flatMap((t) => [`res_${t}_keys`, `res_${t}_values`]).map((c) => sql`any(${ident(c)}) AS ${ident(c)}`),
)} FROM ${RESOURCES} GROUP BY resource_id)`;
const TRACE_INDEX = ident(TABLES.traceIndex);
const ALL_COLUMNS = join(SPAN_COLUMN_NAMES.map(ident));

/** Settings every JSON-returning query needs to keep 64-bit values exact. */
const JSON_SETTINGS = sql`SETTINGS output_format_json_quote_64bit_integers = 1, output_format_json_quote_denormals = 1`;
/**
 * For lookups that touch a few granules: a multi-threaded pipeline costs
 * more to set up than the read itself (40 ms against 8 ms for a trace-index
 * lookup at 10M spans on 2 cores).
 */
const SINGLE_THREAD = sql`max_threads = 1`;
const POINT_LOOKUP = sql`, ${SINGLE_THREAD}`;

interface JsonCompact<Row> {
  data: Row[];
  statistics?: { rows_read?: number; bytes_read?: number };
}

/**
 * The store for every ClickHouse-family engine: all SQL lives here and in
 * schema.ts, and engines differ only by their declared capabilities.
 */
export class SqlStore implements Store {
  /**
   * Resources by id. A resource id is a hash of the resource's content, so
   * a cached entry can never be stale; the bound only limits memory.
   */
  private readonly resourceCache = new Map<string, ResourceRecord>();
  /** On a cluster: the engine node of each shard, learned once. */
  private shardNodes: Promise<number[] | null> | null = null;

  constructor(
    private readonly engine: Engine,
    private readonly layout: Layout = { database: 'default' },
  ) {}

  get capabilities(): EngineCapabilities {
    return this.engine.capabilities;
  }

  private rollupFrom: Promise<bigint> | null = null;

  /** Read once: it is fixed when the schema is created or migrated, before this store opens. */
  rollupFromNs(): Promise<bigint> {
    this.rollupFrom ??= readRollupFrom(this.engine).catch((e) => {
      this.rollupFrom = null;
      throw e;
    });
    return this.rollupFrom;
  }

  // ---- writing ---------------------------------------------------------------

  async writeSegment(file: string, opts: { replay: boolean }): Promise<void> {
    if (!opts.replay) {
      // The materialized view fills trace_index from the same insert.
      await this.engine.insertNativeFile(TABLES.spans, SPAN_COLUMN_NAMES, file);
      return;
    }
    // The segment may be partly stored: stage it, insert only the rows the
    // store lacks, and re-derive its trace index rows (harmless if present).
    const stagingName = `sightline_replay_${process.pid}_${randomBytes(4).toString('hex')}`;
    const staging = ident(stagingName);
    const columns = SPAN_COLUMNS.map((c) => sql`${ident(c.name)} ${typeName(c.type)}`);
    await this.engine.exec(sql`CREATE TABLE ${staging} (${join(columns)}) ENGINE = Memory`, 'ingest');
    try {
      await this.engine.insertNativeFile(stagingName, SPAN_COLUMN_NAMES, file);
      const bounds = (await this.engine.query(sql`SELECT min(start_ns), max(start_ns) FROM ${staging}`, 'TabSeparated', 'ingest'))
        .toString()
        .trim()
        .split('\t')
        .map(BigInt);
      // GLOBAL: on a cluster the staging table exists only here, and the
      // shards must get its trace ids as data.
      await this.engine.exec(
        sql`INSERT INTO ${SPANS} (${ALL_COLUMNS})
SELECT ${ALL_COLUMNS} FROM ${staging}
WHERE (trace_id, span_id, start_ns) GLOBAL NOT IN (
  SELECT trace_id, span_id, start_ns FROM ${SPANS}
  WHERE start_ns >= ${bounds[0]} AND start_ns <= ${bounds[1]}
    AND trace_id GLOBAL IN (SELECT trace_id FROM ${staging})
)`,
        'ingest',
        this.insertSettings(),
      );
      await this.engine.exec(
        sql`INSERT INTO ${TRACE_INDEX} (trace_id, start_min, start_max, end_max, services, has_root, root_service, root_name)
${traceIndexSelect(staging)}`,
        'ingest',
        this.insertSettings(),
      );
    } finally {
      await this.engine.exec(sql`DROP TABLE IF EXISTS ${staging}`, 'ingest');
    }
  }

  async writeResources(file: string): Promise<void> {
    await this.engine.insertNativeFile(TABLES.resources, RESOURCE_COLUMN_NAMES, file);
  }

  /**
   * Settings for our INSERT ... SELECT statements: lift the per-insert
   * partition limit (late spans span days), and on a cluster wait until the
   * rows are on the shards.
   */
  private insertSettings(): EngineSettings {
    const settings: EngineSettings = {};
    if (this.engine.capabilities.insertPartitionLimit) settings.max_partitions_per_insert_block = 0;
    if (this.layout.cluster) settings.insert_distributed_sync = 1;
    return settings;
  }

  // ---- trace by id -----------------------------------------------------------

  async getTrace(traceId: Buffer, range?: TimeRange): Promise<SpanRecord[]> {
    const within = range ? sql` AND end_max >= ${range.startNs} AND start_min < ${range.endNs}` : sql``;
    const { node, spansTable, indexTable } = await this.traceRoute(traceId);
    const index = await this.jsonOn<[string, string, string, string[]]>(node, sql`
SELECT toString(count()), toString(min(start_min)), toString(max(start_max)), groupUniqArrayArray(services)
FROM ${indexTable}
WHERE trace_id = ${traceId}${within}`, POINT_LOOKUP);
    const [count, startMin, startMax, services] = index.data[0] ?? ['0', '0', '0', []];
    if (count === '0') return [];
    // The sort key is (service, hour, trace id): naming the services and the
    // time range lets the engine read only the granules of this trace. Each
    // service is a separate place to read from, so split them over two
    // queries that run at once on the engine's query connections.
    const groups = services.length > 1 ? [services.filter((_, i) => i % 2 === 0), services.filter((_, i) => i % 2 === 1)] : [services];
    const parts = await Promise.all(
      groups.map((group) =>
        this.engine.queryOn(
          node,
          sql`SELECT ${ALL_COLUMNS} FROM ${spansTable}
WHERE service_name IN (${group}) AND start_ns >= ${BigInt(startMin)} AND start_ns <= ${BigInt(startMax)} AND trace_id = ${traceId}
LIMIT 1 BY span_id, start_ns
SETTINGS ${SINGLE_THREAD}`,
          'RowBinary',
        ),
      ),
    );
    // A span is in one service's range only, so the halves cannot overlap.
    const out = Buffer.concat(parts);
    const spans = readSpanRecords(out);
    const byId = await this.resources(spans.map((s) => s.resourceId));
    for (const s of spans) {
      const r = byId.get(s.resourceId.toString('hex'));
      // A resource row still in flight to the store: the span's own copy of
      // service.name is all we can say.
      s.resource = r
        ? { attributes: r.attributes, dropped: r.dropped, schemaUrl: r.schemaUrl }
        : { attributes: [{ key: 'service.name', value: { stringValue: s.serviceName } }], dropped: 0, schemaUrl: '' };
    }
    return spans;
  }

  /**
   * Where a trace's rows are. On a cluster a trace lives on one shard (the
   * tables are sharded by trace id), so read that shard's local tables
   * directly instead of fanning out through the Distributed ones.
   */
  private async traceRoute(traceId: Buffer): Promise<{ node: number; spansTable: Sql; indexTable: Sql }> {
    const everywhere = { node: 0, spansTable: SPANS, indexTable: TRACE_INDEX };
    if (!this.layout.cluster) return everywhere;
    this.shardNodes ??= this.mapShards().catch(() => null);
    const nodes = await this.shardNodes;
    if (!nodes) return everywhere;
    // The Distributed engine's own choice: the sharding key modulo the number of (equal-weight) shards.
    const out = await this.engine.query(sql`SELECT cityHash64(${traceId}) % ${nodes.length}`, 'TabSeparated');
    const node = nodes[Number(out.toString().trim())];
    if (node === undefined) return everywhere;
    return {
      node,
      spansTable: ident(localName(TABLES.spans, this.layout)),
      indexTable: ident(localName(TABLES.traceIndex, this.layout)),
    };
  }

  /** The node serving each shard, in shard order; null when that is not one-to-one with equal weights. */
  private async mapShards(): Promise<number[] | null> {
    const byShard: number[] = [];
    let shards = 0;
    for (let node = 0; node < this.engine.nodes; node++) {
      const res = await this.jsonOn<[number, number, number]>(
        node,
        sql`SELECT shard_num, (SELECT count(DISTINCT shard_num) FROM system.clusters WHERE cluster = ${this.layout.cluster!}),
  (SELECT countIf(shard_weight != 1) FROM system.clusters WHERE cluster = ${this.layout.cluster!})
FROM system.clusters WHERE cluster = ${this.layout.cluster!} AND is_local = 1 LIMIT 1`,
      );
      const row = res.data[0];
      if (!row || Number(row[2]) > 0) return null;
      shards = Number(row[1]);
      byShard[Number(row[0]) - 1] = node;
    }
    if (shards !== byShard.length || byShard.some((n) => n === undefined)) return null;
    return byShard;
  }

  /** Resources by id (hex), from the cache or the resources table. */
  private async resources(ids: Buffer[]): Promise<Map<string, ResourceRecord>> {
    const out = new Map<string, ResourceRecord>();
    const missing = new Map<string, Buffer>();
    for (const id of ids) {
      const key = id.toString('hex');
      const hit = this.resourceCache.get(key);
      if (hit) out.set(key, hit);
      else missing.set(key, id);
    }
    if (missing.size === 0) return out;
    const rows = readResourceRecords(
      await this.engine.query(
        sql`SELECT ${join(RESOURCE_COLUMN_NAMES.map(ident))} FROM ${RESOURCES} WHERE resource_id IN (${[...missing.values()]}) LIMIT 1 BY resource_id SETTINGS ${SINGLE_THREAD}`,
        'RowBinary',
      ),
    );
    if (this.resourceCache.size > 50_000) this.resourceCache.clear();
    for (const r of rows) {
      const key = r.resourceId.toString('hex');
      this.resourceCache.set(key, r);
      out.set(key, r);
    }
    return out;
  }

  // ---- tag search ------------------------------------------------------------

  async searchTags(req: TagSearchRequest): Promise<SearchResult> {
    const { range } = req;
    const conditions: Sql[] = [sql`1`];
    for (const tag of req.tags) conditions.push(tagCondition(tag, range));
    if (req.minDurationNs !== undefined || req.maxDurationNs !== undefined) {
      const having: Sql[] = [];
      if (req.minDurationNs !== undefined) having.push(sql`max(end_max) - min(start_min) >= ${req.minDurationNs}`);
      if (req.maxDurationNs !== undefined) having.push(sql`max(end_max) - min(start_min) <= ${req.maxDurationNs}`);
      conditions.push(sql`trace_id GLOBAL IN (
  SELECT trace_id FROM ${TRACE_INDEX}
  WHERE end_max >= ${range.startNs} AND start_min < ${range.endNs}
  GROUP BY trace_id HAVING ${join(having, ' AND ')})`);
    }
    const shown = req.tags
      .filter((t) => t.key !== 'service.name')
      .map((t) => ({ key: t.key, value: tagDisplayValue(t.key) }));
    return this.searchSpans({ where: join(conditions, '\n  AND '), shown, range, limit: req.limit, spss: req.spss });
  }

  async searchSpans(req: SpanSearchRequest): Promise<SearchResult> {
    const where = sql`start_ns >= ${req.range.startNs} AND start_ns < ${req.range.endNs} AND ${req.where}`;

    // 1. The traces with the most recent matching spans. A top-k sort of
    //    matching spans is far cheaper than grouping every match by trace;
    //    widen k until `limit` distinct traces are found or matches run out.
    const recent: string[] = [];
    let inspectedSpans = 0;
    let inspectedBytes = 0;
    for (let k = req.limit * 10; ; k *= 8) {
      const top = await this.json<[string]>(sql`SELECT hex(trace_id) FROM ${SPANS} WHERE ${where} ORDER BY start_ns DESC LIMIT ${k}`);
      inspectedSpans += top.statistics?.rows_read ?? 0;
      inspectedBytes += top.statistics?.bytes_read ?? 0;
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
    const traces: TraceSummary[] = [];
    if (recent.length === 0) return { traces, inspectedSpans, inspectedBytes };
    const ids = recent.map((id) => Buffer.from(id, 'hex'));

    // 2. Their matching spans and counts.
    const attrs = join([sql`service_name`, ...req.shown.map((s) => s.value)]);
    type Row = [string, string, [string, string, string, string, string[]][]];
    const found = await this.json<Row>(sql`
SELECT hex(trace_id), toString(count()), groupArray(${req.spss})((hex(span_id), name, toString(start_ns), toString(duration_ns), [${attrs}]))
FROM ${SPANS}
WHERE ${where} AND trace_id IN (${ids})
GROUP BY trace_id`);

    // 3. Their roots and time ranges, from the trace index.
    const info = await this.json<[string, string, string, string, string]>(sql`
SELECT hex(trace_id), toString(min(start_min)), toString(max(end_max)), anyIf(root_service, has_root = 1), anyIf(root_name, has_root = 1)
FROM ${TRACE_INDEX}
WHERE trace_id IN (${ids})
GROUP BY trace_id`, POINT_LOOKUP);
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
            attributes: values
              .map((v, i): KeyValueJson => ({ key: names[i], value: { stringValue: v } }))
              .filter((kv) => (kv.value as { stringValue: string }).stringValue !== ''),
          })),
        },
      });
    }
    // Newest trace first, as Tempo orders results.
    traces.sort((a, b) => (a.startNs > b.startNs ? -1 : a.startNs < b.startNs ? 1 : 0));
    for (const r of [found, info]) {
      inspectedSpans += r.statistics?.rows_read ?? 0;
      inspectedBytes += r.statistics?.bytes_read ?? 0;
    }
    return { traces, inspectedSpans, inspectedBytes };
  }

  async metricsSeries(req: MetricsSeriesRequest): Promise<MetricsRow[]> {
    // Group on the raw values and stringify only the result rows: grouping
    // on toString()/array keys cost a third more over 10M spans.
    const by = req.by.map((b, i) => sql`${b} AS ${ident(`k${i}`)}`);
    const values = req.values.map((v, i) => sql`${v} AS ${ident(`v${i}`)}`);
    const keys = req.by.length > 0 ? sql`[${join(req.by.map((_, i) => sql`toString(${ident(`k${i}`)})`))}]` : sql`emptyArrayString()`;
    const groupBy = join([sql`b`, ...req.by.map((_, i) => ident(`k${i}`))]);
    let inner: Sql;
    if (req.source === 'rollup') {
      // Whole minutes: the caller checked that range and step are minute-aligned.
      const first = req.range.startNs / NS_PER_MINUTE;
      const end = req.range.endNs / NS_PER_MINUTE;
      inner = sql`SELECT intDiv(minute - ${first}, ${req.stepNs / NS_PER_MINUTE}) AS b, ${join([...by, ...values])}
FROM ${ident(TABLES.spanMetrics)}
WHERE minute >= ${first} AND minute < ${end} AND (${req.where})
GROUP BY ${groupBy}`;
    } else {
      // by() over resource attributes reads the joined resource columns.
      const from = req.resources ? sql`${SPANS} GLOBAL ANY LEFT JOIN ${RESOURCE_COLUMNS} AS r USING resource_id` : SPANS;
      inner = sql`SELECT intDiv(start_ns - ${req.range.startNs}, ${req.stepNs}) AS b, ${join([...by, ...values])}
FROM ${from}
WHERE ${timeFilter(req.range)} AND (${req.where})
GROUP BY ${groupBy}`;
    }
    const res = await this.json<[string, string[], (number | string)[]]>(sql`
SELECT toString(b), ${keys}, [${join(req.values.map((_, i) => sql`toFloat64(${ident(`v${i}`)})`))}]
FROM (${inner})
ORDER BY b`);
    return res.data.map(([b, by, values]) => ({ bucket: Number(b), by, values: values.map((v) => (typeof v === 'number' ? v : Number(v))) }));
  }

  async compareCounts(req: CompareRequest): Promise<CompareCounts> {
    const TYPES: CompareValueType[] = ['string', 'int', 'float', 'bool'];
    // Every (key, value, type) of a span: intrinsics, span attributes, and its
    // resource's attributes (joined from the small resources table).
    const typed = (prefix: string, scope: string): Sql[] => [
      sql`arrayMap((k, x) -> (concat(${scope}, k), x, 0), ${ident(`${prefix}_str_keys`)}, ${ident(`${prefix}_str_values`)})`,
      sql`arrayMap((k, x) -> (concat(${scope}, k), toString(x), 1), ${ident(`${prefix}_int_keys`)}, ${ident(`${prefix}_int_values`)})`,
      sql`arrayMap((k, x) -> (concat(${scope}, k), toString(x), 2), ${ident(`${prefix}_float_keys`)}, ${ident(`${prefix}_float_values`)})`,
      sql`arrayMap((k, x) -> (concat(${scope}, k), if(x = 1, 'true', 'false'), 3), ${ident(`${prefix}_bool_keys`)}, ${ident(`${prefix}_bool_values`)})`,
    ];
    const intrinsics = req.intrinsics.map((i) => sql`(${i.name}, toString(${i.text}), 0)`);
    const inner = sql`SELECT
  intDiv(start_ns - ${req.range.startNs}, ${req.stepNs}) AS b,
  toUInt8(${req.selection}) AS sel,
  arrayConcat([${join(intrinsics)}], ${join(typed('attr', 'span.'))}, res_pairs) AS pairs
FROM ${SPANS}
GLOBAL ANY LEFT JOIN (
  SELECT resource_id, arrayConcat(${join(typed('res', 'resource.'))}) AS res_pairs
  FROM ${RESOURCE_COLUMNS} AS latest
) AS r USING resource_id
WHERE ${timeFilter(req.range)} AND (${req.where})`;

    // 1. The most frequent values per group and key; one more than kept tells "too many".
    const top = await this.json<[number, string, string, number, string]>(sql`
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
    const rows = await this.json<[number, string, string, number, string, string]>(sql`
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

  // ---- TraceQL evaluation ------------------------------------------------------

  async candidateTraces(req: { range: TimeRange; anySpan: Sql; having: Sql; limit: number; offset: number }): Promise<Buffer[]> {
    const res = await this.json<[string]>(sql`
SELECT hex(trace_id) FROM ${SPANS}
WHERE ${timeFilter(req.range)} AND (${req.anySpan})
GROUP BY trace_id
HAVING ${req.having}
ORDER BY max(start_ns) DESC
LIMIT ${req.limit} OFFSET ${req.offset}`);
    return res.data.map(([id]) => Buffer.from(id, 'hex'));
  }

  async serviceStats(traceIds: Buffer[], range: TimeRange): Promise<Map<string, Map<string, { spans: number; errors: number }>>> {
    const out = new Map<string, Map<string, { spans: number; errors: number }>>();
    if (traceIds.length === 0) return out;
    // Spans of a trace may start a little outside the searched range.
    const near = { startNs: range.startNs - NS_PER_HOUR, endNs: range.endNs + NS_PER_HOUR };
    const res = await this.json<[string, string, string, string]>(sql`
SELECT lower(t), s, toString(count()), toString(countIf(st = 2))
FROM (
  SELECT hex(trace_id) AS t, toString(service_name) AS s, status_code AS st
  FROM ${SPANS}
  WHERE ${timeFilter(near)} AND trace_id IN (${traceIds})
  LIMIT 1 BY trace_id, span_id, start_ns
)
GROUP BY t, s`);
    for (const [trace, service, spans, errors] of res.data) {
      let m = out.get(trace);
      if (!m) out.set(trace, (m = new Map()));
      m.set(service, { spans: Number(spans), errors: Number(errors) });
    }
    return out;
  }

  async traceSpans(req: { traceIds: Buffer[]; range: TimeRange; flags: Sql[]; numbers: Sql[]; texts: Sql[] }): Promise<Map<string, EvalSpan[]>> {
    const out = new Map<string, EvalSpan[]>();
    if (req.traceIds.length === 0) return out;
    // Spans of a trace may start a little outside the searched range.
    const near = { startNs: req.range.startNs - NS_PER_HOUR, endNs: req.range.endNs + NS_PER_HOUR };
    const list = (xs: Sql[], conv: (x: Sql) => Sql) => (xs.length === 0 ? sql`[]` : sql`[${join(xs.map(conv))}]`);
    type Row = [string, string, string, string, string, string, string, number[], (number | string)[], string[]];
    const res = await this.json<Row>(sql`
SELECT hex(trace_id), hex(span_id), hex(parent_span_id), toString(start_ns), toString(duration_ns), toString(name), toString(service_name),
  ${list(req.flags, (f) => sql`toUInt8(${f})`)}, ${list(req.numbers, (n) => sql`toFloat64(${n})`)}, ${list(req.texts, (t) => sql`toString(${t})`)}
FROM ${SPANS}
GLOBAL ANY LEFT JOIN ${RESOURCE_COLUMNS} AS r USING resource_id
WHERE ${timeFilter(near)} AND trace_id IN (${req.traceIds})
LIMIT 1 BY trace_id, span_id, start_ns`);
    for (const [trace, spanId, parent, start, duration, name, service, flags, numbers, texts] of res.data) {
      let spans = out.get(trace);
      if (!spans) out.set(trace, (spans = []));
      spans.push({
        spanId,
        parentId: /^0+$/.test(parent) ? '' : parent,
        startNs: BigInt(start),
        durationNs: BigInt(duration),
        name,
        serviceName: service,
        flags: flags.map((f) => f === 1),
        numbers: numbers.map((n) => (typeof n === 'number' ? n : Number(n))),
        texts,
      });
    }
    return out;
  }

  // ---- diagnosis ---------------------------------------------------------------

  private readonly diagnosis = new DiagnosisQueries(
    (query) => this.json(query),
    (query) => this.engine.query(query, 'RowBinary'),
  );

  serviceGraph(range: TimeRange, maxSpans?: number): Promise<ServiceGraph> {
    return this.diagnosis.serviceGraph(range, maxSpans);
  }

  sampleTraces(req: TraceSampleRequest): Promise<TraceSample> {
    return this.diagnosis.sampleTraces(req);
  }

  traceAttributes(req: { traceIds: Buffer[]; range: TimeRange; valuesPerKey: number }): Promise<TraceAttributeStats> {
    return this.diagnosis.traceAttributes(req);
  }

  pathSpans(req: { traceIds: Buffer[]; range: TimeRange }): Promise<PathSpans> {
    return this.diagnosis.pathSpans(req);
  }

  loadSpans(req: { range: TimeRange; where: Sql; limit: number }): Promise<LoadSpanRow[]> {
    return this.diagnosis.loadSpans(req);
  }

  // ---- tags ------------------------------------------------------------------

  async tagNames(scopes: readonly AttributeScope[], range: TimeRange, limit: number, where?: Sql): Promise<Map<AttributeScope, string[]>> {
    const out = new Map<AttributeScope, string[]>();
    const when = spanFilter(range, where);
    for (const scope of scopes) {
      let keys: Sql | null = null;
      let extra = sql``;
      switch (scope) {
        case 'span':
          keys = sql`arrayJoin(arrayConcat(${join(TYPES.map((t) => ident(`attr_${t}_keys`)))}))`;
          break;
        case 'resource': {
          const res = await this.json<[string]>(
            sql`SELECT DISTINCT toString(arrayJoin(arrayConcat(${join(TYPES.map((t) => ident(`res_${t}_keys`)))}))) AS k FROM ${RESOURCES} WHERE ${seenFilter(range, where)} LIMIT ${limit}`,
          );
          out.set(scope, res.data.map((r) => r[0]).sort());
          continue;
        }
        case 'event':
          if (!this.engine.capabilities.jsonFunctions) break;
          keys = sql`arrayJoin(arrayFlatten(arrayMap(a -> arrayMap(kv -> JSONExtractString(kv, 'key'), JSONExtractArrayRaw(a)), event_attrs)))`;
          extra = sql` AND notEmpty(event_attrs)`;
          break;
        case 'link':
          if (!this.engine.capabilities.jsonFunctions) break;
          keys = sql`arrayJoin(arrayFlatten(arrayMap(a -> arrayMap(kv -> JSONExtractString(kv, 'key'), JSONExtractArrayRaw(a)), link_attrs)))`;
          extra = sql` AND notEmpty(link_attrs)`;
          break;
        case 'instrumentation':
          if (!this.engine.capabilities.jsonFunctions) break;
          keys = sql`arrayJoin(arrayMap(kv -> JSONExtractString(kv, 'key'), JSONExtractArrayRaw(scope_attrs)))`;
          extra = sql` AND scope_attrs != ''`;
          break;
      }
      if (!keys) {
        out.set(scope, []);
        continue;
      }
      const res = await this.json<[string]>(sql`SELECT DISTINCT toString(${keys}) AS k FROM ${SPANS} WHERE ${when}${extra} LIMIT ${limit}`);
      out.set(scope, res.data.map((r) => r[0]).sort());
    }
    return out;
  }

  async tagValues(attr: AttributeRef, range: TimeRange, limit: number, where?: Sql): Promise<TagValue[]> {
    const when = spanFilter(range, where);
    const values: TagValue[] = [];
    const seen = new Set<string>();
    const add = (type: TagValue['type'], value: string) => {
      const k = `${type}\u0000${value}`;
      if (values.length < limit && !seen.has(k)) {
        seen.add(k);
        values.push({ type, value });
      }
    };
    const typedScopes: ('attr' | 'res')[] =
      attr.scope === 'span' ? ['attr'] : attr.scope === 'resource' ? ['res'] : attr.scope === 'any' ? ['attr', 'res'] : [];
    for (const p of typedScopes) {
      if (p === 'res' && attr.name === 'service.name') {
        // Also a sort-key column: much cheaper than the attribute arrays.
        const res = await this.json<[string]>(sql`SELECT DISTINCT service_name FROM ${SPANS} WHERE ${when} LIMIT ${limit}`);
        for (const [v] of res.data) add('string', v);
        continue;
      }
      const [table, filter] = p === 'res' ? [RESOURCES, seenFilter(range, where)] : [SPANS, when];
      for (const t of TYPES) {
        if (t === 'other') continue;
        const k = ident(`${p}_${t}_keys`);
        const v = ident(`${p}_${t}_values`);
        const res = await this.json<[string]>(
          sql`SELECT DISTINCT toString(arrayJoin(arrayFilter((v, k) -> k = ${attr.name}, ${v}, ${k}))) FROM ${table} WHERE ${filter} AND has(${k}, ${attr.name}) LIMIT ${limit}`,
        );
        for (const [value] of res.data) add(VALUE_TYPE[t], t === 'bool' ? (value === '1' ? 'true' : 'false') : value);
      }
    }
    const jsonColumn = attr.scope === 'event' ? 'event_attrs' : attr.scope === 'link' ? 'link_attrs' : attr.scope === 'instrumentation' ? 'scope_attrs' : null;
    if (jsonColumn && this.engine.capabilities.jsonFunctions) {
      const lists = jsonColumn === 'scope_attrs' ? sql`[scope_attrs]` : ident(jsonColumn);
      const res = await this.json<[string]>(sql`
SELECT DISTINCT JSONExtractRaw(kv, 'value') FROM ${SPANS}
ARRAY JOIN arrayFlatten(arrayMap(a -> JSONExtractArrayRaw(a), ${lists})) AS kv
WHERE ${when} AND JSONExtractString(kv, 'key') = ${attr.name}
LIMIT ${limit}`);
      for (const [raw] of res.data) {
        const tv = typedValue(JSON.parse(raw) as AnyValueJson);
        if (tv) add(tv.type, tv.value);
      }
    }
    return values;
  }

  async intrinsicValues(field: IntrinsicField, range: TimeRange, limit: number, where?: Sql): Promise<string[]> {
    let query: Sql;
    const when = spanFilter(range, where);
    switch (field) {
      case 'rootName':
      case 'rootService':
        query = sql`SELECT DISTINCT toString(${field === 'rootName' ? sql`root_name` : sql`root_service`}) FROM ${TRACE_INDEX}
WHERE has_root = 1 AND end_max >= ${range.startNs} AND start_min < ${range.endNs}${where ? sql` AND trace_id GLOBAL IN (SELECT trace_id FROM ${SPANS} WHERE ${when})` : sql``} LIMIT ${limit}`;
        break;
      case 'eventName':
        query = sql`SELECT DISTINCT toString(arrayJoin(event_name)) FROM ${SPANS} WHERE ${when} AND notEmpty(event_name) LIMIT ${limit}`;
        break;
      default: {
        const column = { name: 'name', statusMessage: 'status_message', scopeName: 'scope_name', scopeVersion: 'scope_version' }[field];
        query = sql`SELECT DISTINCT toString(${ident(column)}) AS v FROM ${SPANS} WHERE ${when} AND v != '' LIMIT ${limit}`;
      }
    }
    const res = await this.json<[string]>(query);
    return res.data.map((r) => r[0]).filter((v) => v !== '').sort();
  }

  // ---- maintenance -----------------------------------------------------------

  async dropExpired(cutoffNs: bigint): Promise<RetentionResult> {
    const cutoffDay = Number(cutoffNs / NS_PER_DAY);
    const tables = [TABLES.spans, TABLES.traceIndex, TABLES.resources, TABLES.spanMetrics];
    const dropped: RetentionResult['dropped'] = [];
    // Partitions live in each node's local tables.
    for (let node = 0; node < this.engine.nodes; node++) {
      for (const table of tables) {
        const local = localName(table, this.layout);
        const parts = await this.jsonOn<[string]>(
          node,
          sql`SELECT DISTINCT partition FROM system.parts WHERE database = currentDatabase() AND active AND table = ${local}`,
        );
        for (const [partition] of parts.data) {
          const day = Number(partition);
          if (!Number.isInteger(day) || day >= cutoffDay) continue;
          try {
            await this.engine.execOn(node, sql`ALTER TABLE ${ident(local)} DROP PARTITION ${day}`);
          } catch (e) {
            // Another Sightline process sharing this store dropped it first.
            if (e instanceof EngineError && e.code !== undefined && !e.badInput) continue;
            throw e;
          }
          if (!dropped.some((d) => d.table === table && d.day === day)) dropped.push({ table, day });
        }
      }
    }
    return { dropped };
  }

  async stats(): Promise<StoreStats> {
    let spans = 0;
    let bytes = 0;
    let count = 0;
    for (let node = 0; node < this.engine.nodes; node++) {
      const parts = await this.jsonOn<[string, string, string]>(
        node,
        sql`SELECT toString(sum(rows)), toString(sum(data_compressed_bytes)), toString(count()) FROM system.parts
WHERE database = currentDatabase() AND active AND table = ${localName(TABLES.spans, this.layout)}`,
      );
      const [rows, b, c] = parts.data[0] ?? ['0', '0', '0'];
      spans += Number(rows);
      bytes += Number(b);
      count += Number(c);
    }
    const traces = await this.json<[string]>(sql`SELECT toString(uniq(trace_id)) FROM ${TRACE_INDEX}`);
    return { spans, bytesOnDisk: bytes, activeParts: count, traces: Number(traces.data[0]?.[0] ?? 0) };
  }

  async close(): Promise<void> {
    await this.engine.close();
  }

  private async json<Row>(query: Sql, extra: Sql = sql``): Promise<JsonCompact<Row>> {
    return this.jsonOn(0, query, extra);
  }

  private async jsonOn<Row>(node: number, query: Sql, extra: Sql = sql``): Promise<JsonCompact<Row>> {
    const out = await this.engine.queryOn(node, sql`${query}\n${JSON_SETTINGS}${extra}`, 'JSONCompact');
    return JSON.parse(out.toString('utf8')) as JsonCompact<Row>;
  }
}

const TYPES = ['str', 'int', 'float', 'bool', 'other'] as const;
const VALUE_TYPE = { str: 'string', int: 'int', float: 'float', bool: 'bool' } as const;

function timeFilter(range: TimeRange): Sql {
  return sql`start_ns >= ${range.startNs} AND start_ns < ${range.endNs}`;
}

/** Spans in the range, and matching `where` when given (tag completion narrowed by a query). */
function spanFilter(range: TimeRange, where?: Sql): Sql {
  return where ? sql`${timeFilter(range)} AND (${where})` : timeFilter(range);
}

/** Resources with spans in the range (resource rows carry no span times). */
function seenFilter(range: TimeRange, where?: Sql): Sql {
  return sql`resource_id GLOBAL IN (SELECT DISTINCT resource_id FROM ${SPANS} WHERE ${spanFilter(range, where)})`;
}

/**
 * Subqueries are GLOBAL throughout: on a cluster the outer query and the
 * subquery both read Distributed tables, and GLOBAL sends the subquery's
 * result to the shards as data. On one node it is a plain IN.
 */

/** Spans whose resource matches `condition` (on resource columns). */
function resourceMatches(condition: Sql): Sql {
  return sql`resource_id GLOBAL IN (SELECT resource_id FROM ${RESOURCES} WHERE ${condition})`;
}

function typedValue(v: AnyValueJson): TagValue | null {
  if ('stringValue' in v) return { type: 'string', value: v.stringValue };
  if ('intValue' in v) return { type: 'int', value: v.intValue };
  if ('doubleValue' in v) return { type: 'float', value: String(v.doubleValue) };
  if ('boolValue' in v) return { type: 'bool', value: String(v.boolValue) };
  return null;
}

/** Keys Tempo matches as substrings of a resource attribute. */
const RESOURCE_SUBSTRING_KEYS = new Set([
  'cluster', 'namespace', 'pod', 'container',
  'k8s.cluster.name', 'k8s.namespace.name', 'k8s.pod.name', 'k8s.container.name',
]);
/** Keys Tempo matches as substrings of a span attribute. */
const SPAN_SUBSTRING_KEYS = new Set(['http.method', 'http.url']);
const STATUS_CODES: Record<string, number> = { unset: 0, ok: 1, error: 2 };

function strAttr(prefix: 'attr' | 'res', key: string, match: (x: Sql) => Sql): Sql {
  return sql`arrayExists((k, x) -> k = ${key} AND ${match(sql`x`)}, ${ident(`${prefix}_str_keys`)}, ${ident(`${prefix}_str_values`)})`;
}

function typedAttr(prefix: 'attr' | 'res', type: 'int' | 'float' | 'bool', key: string, value: number | bigint | boolean): Sql {
  return sql`arrayExists((k, x) -> k = ${key} AND x = ${value}, ${ident(`${prefix}_${type}_keys`)}, ${ident(`${prefix}_${type}_values`)})`;
}

/**
 * One tag of Tempo's tag search, with Tempo's semantics: a few well-known
 * keys match as substrings of dedicated fields; any other key must equal a
 * span or resource attribute. Values that read as numbers or booleans also
 * match attributes of that type.
 */
function tagCondition(tag: SearchTag, range: TimeRange): Sql {
  const { key, value } = tag;
  const contains = (x: Sql) => sql`position(${x}, ${value}) > 0`;
  switch (key) {
    case 'service.name':
      // As a set of whole names, so that the sort key (which starts with
      // service_name) narrows what is read.
      return sql`service_name GLOBAL IN (SELECT DISTINCT service_name FROM ${RESOURCES} WHERE ${contains(sql`service_name`)})`;
    case 'name':
      return contains(sql`name`);
    case 'status.code':
      return value in STATUS_CODES ? sql`status_code = ${STATUS_CODES[value]}` : sql`0`;
    case 'error':
      return value === 'true' ? sql`status_code = 2` : sql`status_code != 2`;
    case 'root.service.name':
    case 'root.name': {
      const col = key === 'root.name' ? sql`root_name` : sql`root_service`;
      return sql`trace_id GLOBAL IN (SELECT trace_id FROM ${TRACE_INDEX} WHERE end_max >= ${range.startNs} AND start_min < ${range.endNs} AND has_root = 1 AND ${contains(col)})`;
    }
  }
  if (RESOURCE_SUBSTRING_KEYS.has(key)) return resourceMatches(strAttr('res', key, contains));
  if (SPAN_SUBSTRING_KEYS.has(key)) return strAttr('attr', key, contains);
  const matches = (p: 'attr' | 'res'): Sql => {
    const alternatives = [strAttr(p, key, (x) => sql`${x} = ${value}`)];
    if (/^-?\d{1,19}$/.test(value)) {
      const n = BigInt(value);
      if (n >= -(1n << 63n) && n < 1n << 63n) alternatives.push(typedAttr(p, 'int', key, n));
    }
    if (value.trim() !== '' && Number.isFinite(Number(value))) alternatives.push(typedAttr(p, 'float', key, Number(value)));
    if (value === 'true' || value === 'false') alternatives.push(typedAttr(p, 'bool', key, value === 'true'));
    return join(alternatives, ' OR ');
  };
  return sql`(${matches('attr')} OR ${resourceMatches(matches('res'))})`;
}

/** The string shown for a tag on a matched span. */
function tagDisplayValue(key: string): Sql {
  switch (key) {
    case 'name':
      return sql`toString(name)`;
    case 'status.code':
    case 'error':
      return sql`['unset', 'ok', 'error'][status_code + 1]`;
  }
  // Span attributes only: resource attributes live in their own table.
  return sql`toString(attr_str_values[indexOf(attr_str_keys, ${key})])`;
}

