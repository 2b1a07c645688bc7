import { RESOURCE_COLUMNS, SPAN_COLUMNS, type ColumnSpec } from '../model/span-batch.js';
import { LOG_COLUMNS } from '../model/log-batch.js';
import { sql, join, ident, typeName, type Sql } from './sql/sql.js';
import type { EngineCapabilities } from './engine.js';

/**
 * The storage schema (version 3), shared by every ClickHouse-family engine.
 *
 * Every table leads with the tenant: first in the sort key and in the
 * partition key, so a tenant's rows are contiguous, and a tenant's days can
 * be dropped on their own (retention per tenant).
 *
 * - spans_v3: one row per span, columns as in SPAN_COLUMNS. Partitioned by
 *   (tenant, UTC day number), sorted by (tenant, service, hour, trace id):
 *   a service's spans over a time range are contiguous, and within them a
 *   trace's spans sit together. The rarely set fields are packed into one
 *   `extras` column (model/span-extras.ts).
 * - resources_v3: one row per (tenant, resource, instrumentation scope),
 *   keyed by a hash that spans carry as resource_id. Resource attributes
 *   are the bulk of a span's bytes and repeat for every span of a process,
 *   so they are stored once. Partitioned by the day the row was written;
 *   ingest writes each row again on every day it is seen.
 * - trace_index_v3: (tenant, trace id) -> time range, services and root,
 *   filled by a materialized view from every span insert. Trace-by-id
 *   reads it first to learn which (service, hour) ranges of spans to read.
 * - span_metrics_v3: per tenant, minute and (service, span name, kind,
 *   status), span count and duration aggregates, filled by a materialized
 *   view. RED series and TraceQL metrics over those dimensions read it
 *   instead of every span.
 * - logs_v3: one row per OTLP log record, columns as in LOG_COLUMNS, with
 *   its resource and scope inline. Partitioned by (tenant, UTC day of the
 *   record's time), sorted by (tenant, hour, service, time): a time range
 *   is contiguous, newest-first reads stop early, and a service's records
 *   within an hour sit together. Added to version 3 as a new table: a store
 *   created before it gets it at the next start (every statement here is
 *   CREATE ... IF NOT EXISTS), and nothing else changes.
 * - sightline_meta: the schema version, migration state and locks.
 *
 * Version 3 tables carry the version in their names, so a store upgraded
 * from version 2 keeps its old tables beside them until the migration has
 * copied them (migrate.ts).
 */
export const SCHEMA_VERSION = 3;

export const NS_PER_MINUTE = 60_000_000_000n;
export const NS_PER_HOUR = 3_600_000_000_000n;
export const NS_PER_DAY = 86_400_000_000_000n;

export const TABLES = {
  spans: 'spans_v3',
  resources: 'resources_v3',
  traceIndex: 'trace_index_v3',
  traceIndexView: 'trace_index_v3_mv',
  spanMetrics: 'span_metrics_v3',
  spanMetricsView: 'span_metrics_v3_mv',
  meta: 'sightline_meta',
  audit: 'audit_v1',
  logs: 'logs_v3',
  sloEvents: 'slo_events_v1',
  sloDeliveries: 'slo_deliveries_v1',
  sloAttempts: 'slo_attempts_v1',
  sloLeases: 'slo_leases_v1',
} as const;

/** The SLO alerting tables (createSloTables), small and kept whatever the span retention. */
export const SLO_TABLES: readonly string[] = [TABLES.sloEvents, TABLES.sloDeliveries, TABLES.sloAttempts, TABLES.sloLeases];

/** Tables with (tenant, day) partitions, and the column that dates their rows. */
export const PARTITIONED_TABLES: readonly string[] = [TABLES.spans, TABLES.traceIndex, TABLES.resources, TABLES.spanMetrics, TABLES.logs];

const ZERO_SPAN_ID = Buffer.alloc(8);

/**
 * Where the tables live. Queries and inserts always use the plain names.
 * On a cluster those are Distributed tables over `<name>_local` tables on
 * every shard, sharded by trace id (resources by resource id), so a whole
 * trace lives on one shard.
 */
export interface Layout {
  /** remote_servers cluster name; absent for one node. */
  cluster?: string;
  database: string;
  /**
   * The cluster's shards have replicas, kept by ZooKeeper: local tables are
   * Replicated*MergeTree (see tableEngine), DDL runs once ON CLUSTER,
   * and maintenance once per shard, on one replica.
   */
  replicated?: boolean;
}

export const SINGLE_NODE: Layout = { database: 'default' };

/** The name of the table that holds a table's data on each node. */
export function localName(table: string, layout: Layout): string {
  return layout.cluster ? `${table}_local` : table;
}

/**
 * A table in DDL. ON CLUSTER statements name the database: each node runs
 * them in a context of its own, where the current database is not ours.
 */
function tableRef(table: string, layout: Layout): Sql {
  return layout.replicated ? sql`${ident(layout.database)}.${ident(table)}` : ident(table);
}

/** `ON CLUSTER` for DDL on a replicated cluster: one statement, queued in ZooKeeper for every node. */
function onCluster(layout: Layout): Sql {
  return layout.replicated && layout.cluster ? sql` ON CLUSTER ${ident(layout.cluster)}` : sql``;
}

type EngineFamily = 'MergeTree' | 'ReplacingMergeTree' | 'AggregatingMergeTree';

const ENGINE_NAMES: Record<EngineFamily, { plain: Sql; replicated: Sql }> = {
  MergeTree: { plain: sql`MergeTree`, replicated: sql`ReplicatedMergeTree` },
  ReplacingMergeTree: { plain: sql`ReplacingMergeTree`, replicated: sql`ReplicatedReplacingMergeTree` },
  AggregatingMergeTree: { plain: sql`AggregatingMergeTree`, replicated: sql`ReplicatedAggregatingMergeTree` },
};

/**
 * A local table's engine. Replicated, each shard's replicas share the
 * ZooKeeper path /clickhouse/tables/{shard}/<database>.<table>, each under
 * its own name, from the server's {shard} and {replica} macros. `everyNode`:
 * one set of replicas over the whole cluster (sightline_meta, which every
 * node must be able to answer for; its replica names add the shard, since
 * {replica} need only be unique within a shard).
 */
function tableEngine(family: EngineFamily, table: string, layout: Layout, args: Sql[] = [], opts: { everyNode?: boolean } = {}): Sql {
  const names = ENGINE_NAMES[family];
  if (!layout.replicated) return args.length > 0 ? sql`${names.plain}(${join(args)})` : names.plain;
  const path = `/clickhouse/tables/${opts.everyNode ? 'all' : '{shard}'}/${layout.database}.${table}`;
  return sql`${names.replicated}(${join([path, opts.everyNode ? '{shard}-{replica}' : '{replica}', ...args])})`;
}

/**
 * Blocks whose hashes a replicated spans table remembers (ClickHouse's
 * default: 100). A WAL segment sent again after a failure or a crash is
 * the same bytes, so the same blocks, one per shard and partition: those a
 * shard already stored are skipped, as long as fewer than this many blocks
 * were inserted there since. 10,000 covers minutes of a busy cluster
 * (e.g. 10 Sightline processes writing 3 tenants: 30 blocks a second), for
 * a few MB in ZooKeeper per shard.
 */
export const SPANS_DEDUPLICATION_WINDOW = 10_000;

const SHARDING: Record<string, string> = {
  [TABLES.spans]: 'trace_id',
  [TABLES.traceIndex]: 'trace_id',
  [TABLES.resources]: 'resource_id',
  // Never inserted through: each node's view fills its own shard.
  [TABLES.spanMetrics]: 'minute',
  [TABLES.audit]: 'chain',
  // A random id per record: records spread evenly, and a segment sent
  // again splits into the same blocks per shard (its ids are in the file).
  [TABLES.logs]: 'log_id',
  // All of one SLO's rows on one shard: its lease is read back where it was written.
  [TABLES.sloEvents]: 'slo',
  [TABLES.sloDeliveries]: 'slo',
  [TABLES.sloAttempts]: 'slo',
  [TABLES.sloLeases]: 'slo',
};

/** The store type of a column: its wire type, dictionary-encoded where the engine has it. */
export function storeType(spec: ColumnSpec, caps: EngineCapabilities): string {
  if (!spec.lowCardinality || !caps.lowCardinality) return spec.type;
  if (spec.type === 'String') return 'LowCardinality(String)';
  if (spec.type === 'Array(String)') return 'Array(LowCardinality(String))';
  return spec.type;
}

/**
 * Column codecs, chosen by measurement (scratch research, 16 inserts of 51k
 * realistic spans, then merged): ZSTD(3) costs no more CPU than ZSTD(1) here
 * and is smaller; times as deltas (start times cluster per trace within a
 * service, durations per operation); attribute string values, a third of
 * the bytes, at ZSTD(6) in larger blocks of their own. Together with the
 * table settings below: 39.5 bytes per span after merge, from 52.
 */
function codec(caps: EngineCapabilities, name?: string): Sql {
  if (!caps.codecs) return sql``;
  if (name === 'start_ns' || name === 'duration_ns' || name === 'time_ns' || name === 'observed_ns') return sql` CODEC(Delta, ZSTD(3))`;
  if (name === 'attr_str_values' || name === 'body')
    return caps.columnSettings ? sql` CODEC(ZSTD(6)) SETTINGS (min_compress_block_size = 65536, max_compress_block_size = 1048576)` : sql` CODEC(ZSTD(6))`;
  return sql` CODEC(ZSTD(3))`;
}

/**
 * Table settings. Inserts of about a second of spans are written as compact
 * parts (one file for all columns) where the engine has them: a wide part
 * is two files per column, and creating ~70 files per insert was over a
 * third of the insert's CPU time (the kernel's inode allocation, in perf).
 * Merged parts become wide, for fast column reads: by level where the
 * engine can (every merged part), else by size. Keeping every part compact
 * made merges cost more than the inserts saved.
 */
function mergeTreeSettings(caps: EngineCapabilities, granularity: number, opts: { smallBlocks?: boolean; deduplicationWindow?: number } = {}): Sql {
  const settings = [sql`index_granularity = ${granularity}`];
  if (opts.deduplicationWindow !== undefined) settings.push(sql`replicated_deduplication_window = ${opts.deduplicationWindow}`);
  // Trace by id reads one granule in each of a few places of every column.
  // Compressed blocks of 4-64 KiB (instead of 64 KiB-1 MiB) mean it
  // decompresses little beyond that granule.
  if (opts.smallBlocks && caps.tableCompressionSettings) settings.push(sql`min_compress_block_size = 4096`, sql`max_compress_block_size = 65536`);
  if (caps.widePartLevel) settings.push(sql`min_level_for_wide_part = 1`);
  else if (caps.compactParts) settings.push(sql`min_bytes_for_wide_part = ${COMPACT_PART_MAX_BYTES}`);
  // String sizes inline rather than in a stream of their own: 1.2 bytes per span less.
  if (caps.stringSerialization) settings.push(sql`string_serialization_version = 'single_stream'`);
  // Parts must be on disk before the WAL segment that fed them is deleted.
  if (caps.fsyncSettings) settings.push(sql`fsync_after_insert = 1`, sql`fsync_part_directory = 1`);
  return sql`SETTINGS ${join(settings)}`;
}

/** Without min_level_for_wide_part: parts below this many uncompressed bytes stay compact. */
const COMPACT_PART_MAX_BYTES = 128 * 1024 * 1024;

const tenantDay = (timeColumn: string) => sql`(tenant, intDiv(${ident(timeColumn)}, ${NS_PER_DAY}))`;
const lc = (caps: EngineCapabilities, t: string) => typeName(caps.lowCardinality ? `LowCardinality(${t})` : t);

/**
 * Bloom filters over attribute values, one per granule: equality on a
 * high-cardinality attribute (a user or order id) reads only the granules
 * that may hold the value. The condition compiler adds `has(values, x)`
 * before the key-value test so the index applies. About 1 byte per span.
 */
const VALUE_INDEXES = [
  { name: 'attr_str_values_bloom', column: 'attr_str_values' },
  { name: 'attr_int_values_bloom', column: 'attr_int_values' },
];

function columnsOf(specs: readonly ColumnSpec[], caps: EngineCapabilities): Sql[] {
  return specs.map((c) => sql`${ident(c.name)} ${typeName(storeType(c, caps))}${codec(caps, c.name)}`);
}

export function createSpansTable(caps: EngineCapabilities, layout: Layout = SINGLE_NODE): Sql {
  const columns = columnsOf(SPAN_COLUMNS, caps);
  // A false-positive rate of 2.5% rather than 1%: a little more read on a
  // miss, a smaller index, and cheaper merges.
  if (caps.skipIndexes) columns.push(...VALUE_INDEXES.map((i) => sql`INDEX ${ident(i.name)} ${ident(i.column)} TYPE bloom_filter(0.025) GRANULARITY 1`));
  const local = localName(TABLES.spans, layout);
  return sql`CREATE TABLE IF NOT EXISTS ${tableRef(local, layout)}${onCluster(layout)} (
  ${join(columns, ',\n  ')}
) ENGINE = ${tableEngine('MergeTree', local, layout)}
PARTITION BY ${tenantDay('start_ns')}
ORDER BY (tenant, service_name, intDiv(start_ns, ${NS_PER_HOUR}), trace_id)
${mergeTreeSettings(caps, 2048, { smallBlocks: true, deduplicationWindow: layout.replicated ? SPANS_DEDUPLICATION_WINDOW : undefined })}`;
}

/**
 * Log records. Beside the sort key, a bloom filter over trace ids (where
 * the engine has skip indexes) lets a trace's logs be found without
 * reading every granule of its time range.
 */
export function createLogsTable(caps: EngineCapabilities, layout: Layout = SINGLE_NODE): Sql {
  const columns = columnsOf(LOG_COLUMNS, caps);
  if (caps.skipIndexes) columns.push(sql`INDEX trace_id_bloom trace_id TYPE bloom_filter(0.01) GRANULARITY 1`);
  const local = localName(TABLES.logs, layout);
  return sql`CREATE TABLE IF NOT EXISTS ${tableRef(local, layout)}${onCluster(layout)} (
  ${join(columns, ',\n  ')}
) ENGINE = ${tableEngine('MergeTree', local, layout)}
PARTITION BY ${tenantDay('time_ns')}
ORDER BY (tenant, intDiv(time_ns, ${NS_PER_HOUR}), service_name, time_ns)
${mergeTreeSettings(caps, 8192, { deduplicationWindow: layout.replicated ? SPANS_DEDUPLICATION_WINDOW : undefined })}`;
}

export function createResourcesTable(caps: EngineCapabilities, layout: Layout = SINGLE_NODE): Sql {
  const local = localName(TABLES.resources, layout);
  return sql`CREATE TABLE IF NOT EXISTS ${tableRef(local, layout)}${onCluster(layout)} (
  ${join(columnsOf(RESOURCE_COLUMNS, caps), ',\n  ')}
) ENGINE = ${tableEngine('ReplacingMergeTree', local, layout)}
PARTITION BY ${tenantDay('seen_ns')}
ORDER BY (tenant, resource_id)
${mergeTreeSettings(caps, 1024)}`;
}

export function createTraceIndexTable(caps: EngineCapabilities, layout: Layout = SINGLE_NODE): Sql {
  // ZSTD(1): smaller than the default LZ4 for about the same CPU.
  const z = caps.codecs ? sql` CODEC(ZSTD(1))` : sql``;
  const local = localName(TABLES.traceIndex, layout);
  return sql`CREATE TABLE IF NOT EXISTS ${tableRef(local, layout)}${onCluster(layout)} (
  tenant ${lc(caps, 'String')}${z},
  trace_id FixedString(16)${z},
  start_min UInt64${z},
  start_max UInt64${z},
  end_max UInt64${z},
  services Array(${lc(caps, 'String')})${z},
  has_root UInt8${z},
  root_service ${lc(caps, 'String')}${z},
  root_name ${lc(caps, 'String')}${z}
) ENGINE = ${tableEngine('MergeTree', local, layout)}
PARTITION BY ${tenantDay('start_min')}
ORDER BY (tenant, trace_id)
${mergeTreeSettings(caps, 1024)}`;
}

export function createSpanMetricsTable(caps: EngineCapabilities, layout: Layout = SINGLE_NODE): Sql {
  const digest = caps.quantileStatesAnyLevel ? sql`,
  duration_digest AggregateFunction(quantileTDigest, UInt64)` : sql``;
  const local = localName(TABLES.spanMetrics, layout);
  return sql`CREATE TABLE IF NOT EXISTS ${tableRef(local, layout)}${onCluster(layout)} (
  tenant ${lc(caps, 'String')},
  minute UInt32,
  service_name ${lc(caps, 'String')},
  name ${lc(caps, 'String')},
  kind UInt8,
  status_code UInt8,
  spans AggregateFunction(count),
  duration_sum AggregateFunction(sum, UInt64),
  duration_min AggregateFunction(min, UInt64),
  duration_max AggregateFunction(max, UInt64)${digest}
) ENGINE = ${tableEngine('AggregatingMergeTree', local, layout)}
PARTITION BY (tenant, intDiv(minute, 1440))
ORDER BY (tenant, minute, service_name, name, kind, status_code)
${mergeTreeSettings(caps, 1024)}`;
}

/** The rollup rows for a set of span rows; same-key rows merge in the background and in queries. */
export function spanMetricsSelect(from: Sql, caps: EngineCapabilities): Sql {
  const digest = caps.quantileStatesAnyLevel ? sql`,
  quantileTDigestState(duration_ns) AS duration_digest` : sql``;
  return sql`SELECT
  tenant,
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
GROUP BY tenant, minute, service_name, name, kind, status_code`;
}

/** The rollup's columns, in the order spanMetricsSelect gives them. */
export function spanMetricsColumns(caps: EngineCapabilities): string[] {
  const columns = ['tenant', 'minute', 'service_name', 'name', 'kind', 'status_code', 'spans', 'duration_sum', 'duration_min', 'duration_max'];
  if (caps.quantileStatesAnyLevel) columns.push('duration_digest');
  return columns;
}

export function createSpanMetricsView(caps: EngineCapabilities, layout: Layout = SINGLE_NODE): Sql {
  return sql`CREATE MATERIALIZED VIEW IF NOT EXISTS ${tableRef(TABLES.spanMetricsView, layout)}${onCluster(layout)} TO ${tableRef(localName(TABLES.spanMetrics, layout), layout)} AS
${spanMetricsSelect(tableRef(localName(TABLES.spans, layout), layout), caps)}`;
}

/** On a cluster: the Distributed table in front of a table's shards. */
export function createDistributedTable(table: string, layout: Layout & { cluster: string }): Sql {
  return sql`CREATE TABLE IF NOT EXISTS ${tableRef(table, layout)}${onCluster(layout)} AS ${tableRef(localName(table, layout), layout)}
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
  tenant,
  trace_id,
  min(start_ns) AS start_min,
  max(start_ns) AS start_max,
  max(start_ns + duration_ns) AS end_max,
  groupUniqArray(service_name) AS services,
  max(${isRoot}) AS has_root,
  anyIf(service_name, ${isRoot}) AS root_service,
  anyIf(name, ${isRoot}) AS root_name
FROM ${from}
GROUP BY tenant, trace_id`;
}

export const TRACE_INDEX_COLUMNS = ['tenant', 'trace_id', 'start_min', 'start_max', 'end_max', 'services', 'has_root', 'root_service', 'root_name'];

/** Each node indexes its own spans: a trace's spans and index rows share a shard. */
export function createTraceIndexView(layout: Layout = SINGLE_NODE): Sql {
  return sql`CREATE MATERIALIZED VIEW IF NOT EXISTS ${tableRef(TABLES.traceIndexView, layout)}${onCluster(layout)} TO ${tableRef(localName(TABLES.traceIndex, layout), layout)} AS
${traceIndexSelect(tableRef(localName(TABLES.spans, layout), layout))}`;
}

/**
 * The audit trail (auth/audit.ts): append-only, sorted by chain and
 * sequence so `sightline audit verify` reads each chain in order. Kept
 * whatever the span retention (HIPAA asks for six years of audit records).
 */
export function createAuditTable(caps: EngineCapabilities, layout: Layout = SINGLE_NODE): Sql {
  const local = localName(TABLES.audit, layout);
  return sql`CREATE TABLE IF NOT EXISTS ${tableRef(local, layout)}${onCluster(layout)} (
  chain String,
  seq UInt64,
  time_ms UInt64,
  prev String,
  hash String,
  identity String,
  tenants Array(String),
  remote String,
  action String,
  detail String,
  status UInt16,
  results Int64
) ENGINE = ${tableEngine('MergeTree', local, layout)}
PARTITION BY intDiv(time_ms, 2592000000)
ORDER BY (chain, seq)
${mergeTreeSettings(caps, 8192)}`;
}

/**
 * SLO alert state (src/slo): each table leads with the tenant, then the
 * SLO. Events are the alerts' firing and resolved notifications, keyed by
 * an idempotency id, so one recorded twice is kept once; deliveries, one
 * per event and receiver, carry the latest state by version (pending
 * until a receiver answers 2xx); attempts are appended, one per HTTP try;
 * leases hold, per term, the processes that claimed an SLO's evaluation.
 * Added to version 3 as new tables, like logs_v3.
 */
export function createSloTables(caps: EngineCapabilities, layout: Layout = SINGLE_NODE): SchemaObject[] {
  const table = (name: string, family: EngineFamily, columns: string, order: string, args: Sql[] = []): SchemaObject => {
    const local = localName(name, layout);
    const cols = columns.split(', ').map((c) => {
      const [n, t] = c.split(' ');
      return sql`${ident(n)} ${typeName(t)}`;
    });
    return {
      name: local,
      create: sql`CREATE TABLE IF NOT EXISTS ${tableRef(local, layout)}${onCluster(layout)} (
  ${join(cols, ',\n  ')}
) ENGINE = ${tableEngine(family, local, layout, args)}
ORDER BY (${join(order.split(', ').map(ident))})
${mergeTreeSettings(caps, 1024)}`,
    };
  };
  return [
    table(TABLES.sloEvents, 'ReplacingMergeTree', 'tenant String, slo String, event_id String, status String, alert_start_ms UInt64, time_ms UInt64, body String', 'tenant, slo, event_id'),
    table(TABLES.sloDeliveries, 'ReplacingMergeTree', 'tenant String, slo String, event_id String, receiver String, state String, attempts UInt32, next_ms UInt64, time_ms UInt64, version UInt64', 'tenant, slo, event_id, receiver', [sql`version`]),
    table(TABLES.sloAttempts, 'MergeTree', 'tenant String, slo String, event_id String, receiver String, attempt UInt32, time_ms UInt64, status_code UInt16, error String', 'tenant, slo, time_ms'),
    table(TABLES.sloLeases, 'MergeTree', 'tenant String, slo String, term UInt64, owner String, expires_ms UInt64, written_ms UInt64', 'tenant, slo, term'),
  ];
}

/**
 * The store's own records. Not sharded: on a cluster each node has its
 * own, and node 0's is the one used; replicated, one table with a replica
 * on every node, so whichever node answers has it.
 */
export function createMetaTable(layout: Layout = SINGLE_NODE): Sql {
  return sql`CREATE TABLE IF NOT EXISTS ${tableRef(TABLES.meta, layout)}${onCluster(layout)} (
  key String,
  value String,
  version UInt64
) ENGINE = ${tableEngine('ReplacingMergeTree', TABLES.meta, layout, [sql`version`], { everyNode: true })}
ORDER BY key`;
}

/** A statement that creates one table or view, and that object's name. */
export interface SchemaObject {
  name: string;
  create: Sql;
}

/** Every table and view of the version-3 schema, in the order they must be created; each statement is idempotent. */
export function schemaObjects(caps: EngineCapabilities, layout: Layout): SchemaObject[] {
  const objects: SchemaObject[] = [
    { name: TABLES.meta, create: createMetaTable(layout) },
    { name: localName(TABLES.spans, layout), create: createSpansTable(caps, layout) },
    { name: localName(TABLES.resources, layout), create: createResourcesTable(caps, layout) },
    { name: localName(TABLES.traceIndex, layout), create: createTraceIndexTable(caps, layout) },
    { name: TABLES.traceIndexView, create: createTraceIndexView(layout) },
    { name: localName(TABLES.spanMetrics, layout), create: createSpanMetricsTable(caps, layout) },
    { name: TABLES.spanMetricsView, create: createSpanMetricsView(caps, layout) },
    { name: localName(TABLES.audit, layout), create: createAuditTable(caps, layout) },
    { name: localName(TABLES.logs, layout), create: createLogsTable(caps, layout) },
    ...createSloTables(caps, layout),
  ];
  const { cluster } = layout;
  if (cluster !== undefined)
    objects.push(...[TABLES.spans, TABLES.resources, TABLES.traceIndex, TABLES.spanMetrics, TABLES.audit, TABLES.logs, ...SLO_TABLES].map((t) => ({ name: t, create: createDistributedTable(t, { ...layout, cluster }) })));
  return objects;
}

/** Every statement that creates the version-3 schema, in order; each is idempotent. */
export function schemaStatements(caps: EngineCapabilities, layout: Layout): Sql[] {
  return schemaObjects(caps, layout).map((o) => o.create);
}

/**
 * A partition of a (tenant, day) table as system.parts prints it:
 * `('acme',20400)`. Returns null for anything else (a partition of another
 * shape is not ours to drop).
 */
export function parseTenantDayPartition(text: string): { tenant: string; day: number } | null {
  const m = /^\('((?:[^'\\]|\\.)*)',(\d+)\)$/.exec(text);
  if (!m) return null;
  return { tenant: m[1].replace(/\\(.)/g, '$1'), day: Number(m[2]) };
}
