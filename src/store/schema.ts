import { RESOURCE_COLUMNS, SPAN_COLUMNS, type ColumnSpec } from '../model/span-batch.js';
import { sql, join, ident, typeName, type Sql } from '../query/sql/index.js';
import { EngineError, type Engine, type EngineCapabilities } from './engine.js';

/**
 * The storage schema, shared by every ClickHouse-family engine.
 *
 * - spans: one row per span, columns as in SPAN_COLUMNS. Partitioned by UTC
 *   day number (a plain integer, so no time zone or version differences),
 *   sorted by (service, hour, trace id): a service's spans over a time range
 *   are contiguous, and within them a trace's spans sit together.
 * - resources: one row per distinct resource (attributes, schema URL),
 *   keyed by a hash that spans carry as resource_id. Resource attributes are
 *   the bulk of a span's bytes and repeat for every span of a process, so
 *   they are stored once, not per span. Partitioned by the day the row was
 *   written; ingest writes each resource again on every day it is seen.
 * - trace_index: trace id -> time range, services and root, filled by a
 *   materialized view from every span insert. Trace-by-id reads it first to
 *   learn which (service, hour) ranges of spans to read.
 * - span_metrics: per minute and (service, span name, kind, status), span
 *   count and duration aggregates, filled by a materialized view from every
 *   span insert. RED series and TraceQL metrics over those dimensions read
 *   it instead of every span (Tempo's metrics-generator, without a
 *   Prometheus: it is computed from the raw spans as they are stored).
 * - sightline_meta: the schema version.
 *
 * Version 2 added span_metrics and the bloom-filter indexes on attribute
 * values; a version-1 store is migrated at start (see MIGRATIONS).
 */
export const SCHEMA_VERSION = 2;

export const NS_PER_HOUR = 3_600_000_000_000n;
export const NS_PER_DAY = 86_400_000_000_000n;

export const TABLES = {
  spans: 'spans',
  resources: 'resources',
  traceIndex: 'trace_index',
  traceIndexView: 'trace_index_mv',
  spanMetrics: 'span_metrics',
  spanMetricsView: 'span_metrics_mv',
  meta: 'sightline_meta',
} as const;

const ZERO_SPAN_ID = Buffer.alloc(8);

/** The store type of a span column: wire type, dictionary-encoded where allowed. */
export function storeType(spec: ColumnSpec, caps: EngineCapabilities): string {
  if (!spec.lowCardinality || !caps.lowCardinality) return spec.type;
  if (spec.type === 'String') return 'LowCardinality(String)';
  if (spec.type === 'Array(String)') return 'Array(LowCardinality(String))';
  return spec.type;
}

function codec(caps: EngineCapabilities, spec?: ColumnSpec): Sql {
  if (!caps.codecs) return sql``;
  // Start times of spans sorted by (service, hour, trace) cluster per trace;
  // Delta turns them into small numbers before ZSTD.
  if (spec?.name === 'start_ns') return sql` CODEC(Delta, ZSTD(1))`;
  return sql` CODEC(ZSTD(1))`;
}

function mergeTreeSettings(caps: EngineCapabilities, granularity: number, smallBlocks = false): Sql {
  const settings = [sql`index_granularity = ${granularity}`];
  // Trace by id reads one granule in each of a few places of every column.
  // Compressed blocks of 4-64 KiB (instead of 64 KiB-1 MiB) mean it
  // decompresses little beyond that granule: at 10M spans this halved the
  // read (60 -> 30 ms) for about 4% more disk.
  if (smallBlocks && caps.tableCompressionSettings) settings.push(sql`min_compress_block_size = 4096`, sql`max_compress_block_size = 65536`);
  // Parts must be on disk before the WAL segment that fed them is deleted.
  if (caps.fsyncSettings) settings.push(sql`fsync_after_insert = 1`, sql`fsync_part_directory = 1`);
  return sql`SETTINGS ${join(settings)}`;
}

/**
 * Where the tables live. Queries and inserts always use the plain names
 * (spans, resources, trace_index). On a cluster those are Distributed
 * tables over `<name>_local` tables on every shard, sharded by trace id
 * (resources by resource id), so a whole trace lives on one shard.
 */
export interface Layout {
  /** remote_servers cluster name; absent for one node. */
  cluster?: string;
  database: string;
}

/** The name of the table that holds a table's data on each node. */
export function localName(table: string, layout: Layout): string {
  return layout.cluster ? `${table}_local` : table;
}

const SHARDING: Record<string, string> = {
  [TABLES.spans]: 'trace_id',
  [TABLES.traceIndex]: 'trace_id',
  [TABLES.resources]: 'resource_id',
  // Never inserted through: each node's view fills its own shard.
  [TABLES.spanMetrics]: 'minute',
};

export const NS_PER_MINUTE = 60_000_000_000n;

/**
 * Bloom filters over attribute values, one per granule: equality on a
 * high-cardinality attribute (a user or order id) reads only the granules
 * that may hold the value. The planner adds `has(values, x)` before the
 * key-value test so the index applies. About 1 byte per span.
 */
const VALUE_INDEXES = [
  { name: 'attr_str_values_bloom', column: 'attr_str_values' },
  { name: 'attr_int_values_bloom', column: 'attr_int_values' },
];

/** `name expr TYPE ...`: after INDEX in CREATE TABLE, after ADD INDEX in ALTER TABLE. */
function valueIndex(i: (typeof VALUE_INDEXES)[number]): Sql {
  return sql`${ident(i.name)} ${ident(i.column)} TYPE bloom_filter(0.01) GRANULARITY 1`;
}

export function createSpansTable(caps: EngineCapabilities, layout: Layout = { database: 'default' }): Sql {
  const columns = SPAN_COLUMNS.map((c) => sql`${ident(c.name)} ${typeName(storeType(c, caps))}${codec(caps, c)}`);
  if (caps.skipIndexes) columns.push(...VALUE_INDEXES.map((i) => sql`INDEX ${valueIndex(i)}`));
  return sql`CREATE TABLE IF NOT EXISTS ${ident(localName(TABLES.spans, layout))} (
  ${join(columns, ',\n  ')}
) ENGINE = MergeTree
PARTITION BY intDiv(start_ns, ${NS_PER_DAY})
ORDER BY (service_name, intDiv(start_ns, ${NS_PER_HOUR}), trace_id)
${mergeTreeSettings(caps, 2048, true)}`;
}

export function createResourcesTable(caps: EngineCapabilities, layout: Layout = { database: 'default' }): Sql {
  const columns = RESOURCE_COLUMNS.map((c) => sql`${ident(c.name)} ${typeName(storeType(c, caps))}${codec(caps, c)}`);
  return sql`CREATE TABLE IF NOT EXISTS ${ident(localName(TABLES.resources, layout))} (
  ${join(columns, ',\n  ')}
) ENGINE = ReplacingMergeTree
PARTITION BY intDiv(seen_ns, ${NS_PER_DAY})
ORDER BY resource_id
${mergeTreeSettings(caps, 1024)}`;
}

export function createTraceIndexTable(caps: EngineCapabilities, layout: Layout = { database: 'default' }): Sql {
  const lc = (t: string) => typeName(caps.lowCardinality ? `LowCardinality(${t})` : t);
  return sql`CREATE TABLE IF NOT EXISTS ${ident(localName(TABLES.traceIndex, layout))} (
  trace_id FixedString(16),
  start_min UInt64,
  start_max UInt64,
  end_max UInt64,
  services Array(${lc('String')}),
  has_root UInt8,
  root_service ${lc('String')},
  root_name ${lc('String')}
) ENGINE = MergeTree
PARTITION BY intDiv(start_min, ${NS_PER_DAY})
ORDER BY trace_id
${mergeTreeSettings(caps, 1024)}`;
}

export function createSpanMetricsTable(caps: EngineCapabilities, layout: Layout = { database: 'default' }): Sql {
  const lc = (t: string) => typeName(caps.lowCardinality ? `LowCardinality(${t})` : t);
  const digest = caps.quantileStatesAnyLevel ? sql`,
  duration_digest AggregateFunction(quantileTDigest, UInt64)` : sql``;
  return sql`CREATE TABLE IF NOT EXISTS ${ident(localName(TABLES.spanMetrics, layout))} (
  minute UInt32,
  service_name ${lc('String')},
  name ${lc('String')},
  kind UInt8,
  status_code UInt8,
  spans AggregateFunction(count),
  duration_sum AggregateFunction(sum, UInt64),
  duration_min AggregateFunction(min, UInt64),
  duration_max AggregateFunction(max, UInt64)${digest}
) ENGINE = AggregatingMergeTree
PARTITION BY intDiv(minute, 1440)
ORDER BY (minute, service_name, name, kind, status_code)
${mergeTreeSettings(caps, 1024)}`;
}

/** The rollup rows for a set of span rows; same-key rows merge in the background and in queries. */
export function spanMetricsSelect(from: Sql, caps: EngineCapabilities): Sql {
  const digest = caps.quantileStatesAnyLevel ? sql`,
  quantileTDigestState(duration_ns) AS duration_digest` : sql``;
  return sql`SELECT
  toUInt32(intDiv(start_ns, ${NS_PER_MINUTE})) AS minute,
  service_name,
  name,
  kind,
  status_code,
  countState() AS spans,
  sumState(duration_ns) AS duration_sum,
  minState(duration_ns) AS duration_min,
  maxState(duration_ns) AS duration_max${digest}
FROM ${from}
GROUP BY minute, service_name, name, kind, status_code`;
}

export function createSpanMetricsView(caps: EngineCapabilities, layout: Layout = { database: 'default' }): Sql {
  return sql`CREATE MATERIALIZED VIEW IF NOT EXISTS ${ident(TABLES.spanMetricsView)} TO ${ident(localName(TABLES.spanMetrics, layout))} AS
${spanMetricsSelect(ident(localName(TABLES.spans, layout)), caps)}`;
}

/** On a cluster: the Distributed table in front of a table's shards. */
export function createDistributedTable(table: string, layout: Required<Layout>): Sql {
  return sql`CREATE TABLE IF NOT EXISTS ${ident(table)} AS ${ident(localName(table, layout))}
ENGINE = Distributed(${ident(layout.cluster)}, ${ident(layout.database)}, ${ident(localName(table, layout))}, cityHash64(${ident(SHARDING[table])}))`;
}

/**
 * Index rows for a set of span rows, one per trace. Several rows may exist
 * for one trace (one per insert); readers aggregate them with min, max and
 * union, so inserting the same rows twice is harmless.
 */
export function traceIndexSelect(from: Sql): Sql {
  const isRoot = sql`parent_span_id = ${ZERO_SPAN_ID}`;
  return sql`SELECT
  trace_id,
  min(start_ns) AS start_min,
  max(start_ns) AS start_max,
  max(start_ns + duration_ns) AS end_max,
  groupUniqArray(service_name) AS services,
  max(${isRoot}) AS has_root,
  anyIf(service_name, ${isRoot}) AS root_service,
  anyIf(name, ${isRoot}) AS root_name
FROM ${from}
GROUP BY trace_id`;
}

/** Each node indexes its own spans: a trace's spans and index rows share a shard. */
export function createTraceIndexView(layout: Layout = { database: 'default' }): Sql {
  return sql`CREATE MATERIALIZED VIEW IF NOT EXISTS ${ident(TABLES.traceIndexView)} TO ${ident(localName(TABLES.traceIndex, layout))} AS
${traceIndexSelect(ident(localName(TABLES.spans, layout)))}`;
}

export function createMetaTable(): Sql {
  return sql`CREATE TABLE IF NOT EXISTS ${ident(TABLES.meta)} (
  key String,
  value String,
  version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY key`;
}

export class SchemaVersionError extends Error {
  override readonly name = 'SchemaVersionError';
}

/**
 * Creates the schema, or checks that an existing one is ours and current.
 * Every statement is idempotent, so several processes may run this at once;
 * a statement that loses a creation race is retried once.
 */
export async function initSchema(engine: Engine, describe: string, layout: Layout = { database: 'default' }): Promise<{ created: boolean }> {
  const tables = await listTables(engine);
  const hasMeta = tables.has(TABLES.meta);
  if (!hasMeta && (tables.has(TABLES.spans) || tables.has(localName(TABLES.spans, layout))))
    throw new SchemaVersionError(`${describe} holds a spans table without Sightline's schema record; refusing to touch it`);
  let created = false;
  let found: number | null = null;
  if (hasMeta) {
    found = await readSchemaVersion(engine);
    // null: created by a process that died before recording the version;
    // the statements below finish the job.
    if (found !== null && found > SCHEMA_VERSION) {
      throw new SchemaVersionError(
        `${describe} has schema version ${found}, written by a newer Sightline; this build understands up to version ${SCHEMA_VERSION}. Upgrade Sightline, or point it at another data location.`,
      );
    } else if (found !== null && found < SCHEMA_VERSION) {
      if (!MIGRATIONS[found]) throw new SchemaVersionError(`${describe} has schema version ${found}, and this build has no migration from it to version ${SCHEMA_VERSION}.`);
    }
  } else created = true;

  const caps = engine.capabilities;
  const run = async (statements: Sql[]) => {
    for (let node = 0; node < engine.nodes; node++) {
      for (const statement of statements) {
        try {
          await engine.execOn(node, statement);
        } catch (e) {
          // Another process created it between our check and our create.
          if (e instanceof EngineError && e.code === 57) continue;
          throw e;
        }
      }
    }
  };
  for (let v = found ?? SCHEMA_VERSION; v < SCHEMA_VERSION; v++) {
    await run(MIGRATIONS[v](caps, layout));
    if (v === 1) await recordRollupFrom(engine, Date.now());
    await recordSchemaVersion(engine, v + 1);
  }

  const statements = [
    createMetaTable(),
    createSpansTable(caps, layout),
    createResourcesTable(caps, layout),
    createTraceIndexTable(caps, layout),
    createTraceIndexView(layout),
    createSpanMetricsTable(caps, layout),
    createSpanMetricsView(caps, layout),
  ];
  if (layout.cluster) {
    const cluster = layout as Required<Layout>;
    statements.push(...[TABLES.spans, TABLES.resources, TABLES.traceIndex, TABLES.spanMetrics].map((t) => createDistributedTable(t, cluster)));
  }
  await run(statements);
  if (found === null) await recordSchemaVersion(engine, SCHEMA_VERSION);
  return { created };
}

async function recordSchemaVersion(engine: Engine, version: number): Promise<void> {
  // The row version orders records (ReplacingMergeTree keeps the highest): the latest write wins.
  await engine.exec(sql`INSERT INTO ${ident(TABLES.meta)} (key, value, version) VALUES ('schema_version', ${String(version)}, ${BigInt(Date.now())})`);
}

/**
 * Migrations from version v to v + 1, run on every node before the
 * idempotent CREATEs. Each statement is safe to run again: a migration cut
 * short by a crash runs again at the next start.
 */
export const MIGRATIONS: Record<number, (caps: EngineCapabilities, layout: Layout) => Sql[]> = {
  // 1 -> 2: the value indexes (built for new parts; old parts merge into
  // indexed ones) and the span-metrics rollup with its view. The rollup is
  // not backfilled: a backfill races with inserts still in flight, and with
  // other processes migrating at the same time (both would add the old
  // spans). Instead `span_metrics_from` records when the view is surely
  // complete, and ranges that start earlier are answered from the spans.
  1: (caps, layout) => {
    const spans = ident(localName(TABLES.spans, layout));
    return [
      ...(caps.skipIndexes ? VALUE_INDEXES.map((i) => sql`ALTER TABLE ${spans} ADD INDEX IF NOT EXISTS ${valueIndex(i)}`) : []),
      createSpanMetricsTable(caps, layout),
      createSpanMetricsView(caps, layout),
    ];
  },
};

/**
 * The first minute (ns) from which the span_metrics rollup holds every span:
 * 0 for a store created with it; for a migrated one, a minute after its view
 * was created (inserts already under way then bypass the view).
 */
export async function readRollupFrom(engine: Engine): Promise<bigint> {
  const out = await engine.query(sql`SELECT value FROM ${ident(TABLES.meta)} FINAL WHERE key = 'span_metrics_from'`, 'TabSeparated');
  const text = out.toString('utf8').trim();
  return text === '' ? 0n : BigInt(text);
}

async function recordRollupFrom(engine: Engine, nowMs: number): Promise<void> {
  const minuteNs = 60_000_000_000n;
  const from = ((BigInt(nowMs) * 1_000_000n + minuteNs) / minuteNs + 1n) * minuteNs;
  // A later record wins; any of them is safe, since the view predates them all.
  await engine.exec(sql`INSERT INTO ${ident(TABLES.meta)} (key, value, version) VALUES ('span_metrics_from', ${from.toString()}, ${BigInt(nowMs)})`);
}

async function listTables(engine: Engine): Promise<Set<string>> {
  const out = await engine.query(sql`SELECT name FROM system.tables WHERE database = currentDatabase()`, 'TabSeparated');
  return new Set(out.toString('utf8').split('\n').filter(Boolean));
}

export async function readSchemaVersion(engine: Engine): Promise<number | null> {
  const out = await engine.query(
    sql`SELECT value FROM ${ident(TABLES.meta)} FINAL WHERE key = 'schema_version'`,
    'TabSeparated',
  );
  const text = out.toString('utf8').trim();
  if (text === '') return null;
  const n = Number(text);
  if (!Number.isInteger(n)) throw new SchemaVersionError(`unreadable schema version ${JSON.stringify(text)}`);
  return n;
}
