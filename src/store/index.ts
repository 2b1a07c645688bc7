import path from 'node:path';
import { ChdbEngine } from './chdb/index.js';
import { ClickHouseEngine, parseClickHouseUrl, redactClickHouseUrl } from './clickhouse/index.js';
import { initSchema } from './schema.js';
import { SqlStore } from './sql-store.js';
import type { Store } from './types.js';

export type {
  Store,
  SpanWriter,
  TraceReader,
  TimeRange,
  TagSearchRequest,
  SearchTag,
  SearchResult,
  TraceSummary,
  MatchedSpan,
  AttributeScope,
  AttributeRef,
  IntrinsicField,
  EvalSpan,
  MetricsRow,
  MetricsSeriesRequest,
  CompareRequest,
  CompareCounts,
  CompareValueType,
  SpanSearchRequest,
  TagValue,
  ValueType,
  RetentionResult,
  StoreStats,
} from './types.js';
export { ATTRIBUTE_SCOPES } from './types.js';
export { NUMERIC_LEVELS } from './diagnosis-sql.js';
export type { ServiceGraph, ServiceEdgeRow, ServiceNodeRow, TraceSample, TraceSampleRequest, TraceAttributeStats, AttributeValueRow, NumericKeyRow, PathSpanRow, PathSpans, LoadSpanRow } from './diagnosis-sql.js';
export { SchemaVersionError, SCHEMA_VERSION } from './schema.js';
export { EngineError } from './engine.js';
export { RetentionScheduler } from './retention.js';

export interface EmbeddedStoreOptions {
  /** Sightline's data directory; the engine's files go in a subdirectory. */
  dataDir: string;
  maxMemoryBytes?: number;
}

export interface OpenedStore {
  store: Store;
  /** Engine name and version, for logs and buildinfo. */
  engine: string;
  created: boolean;
}

/** Opens the embedded chDB store in `<dataDir>/store`, creating or checking its schema. */
export async function openEmbeddedStore(opts: EmbeddedStoreOptions): Promise<OpenedStore> {
  const dir = path.join(opts.dataDir, 'store');
  const engine = await ChdbEngine.open({ dir, maxMemoryBytes: opts.maxMemoryBytes });
  try {
    const { created } = await initSchema(engine, `data directory ${opts.dataDir}`);
    return { store: new SqlStore(engine), engine: `chDB ${engine.version}`, created };
  } catch (e) {
    await engine.close();
    throw e;
  }
}

export interface ClickHouseStoreOptions {
  /** clickhouse://user:password@host:8123[,host2:8123]/database */
  url: string;
  /** remote_servers cluster name: Distributed tables over <name>_local on every host. */
  cluster?: string;
}

/**
 * Opens a ClickHouse server or cluster store, creating or checking its
 * schema. With a cluster, list every shard's HTTP address in the URL: DDL
 * runs on each (no ON CLUSTER without ZooKeeper), queries and inserts go to
 * the first through the Distributed tables.
 */
export async function openClickHouseStore(opts: ClickHouseStoreOptions): Promise<OpenedStore> {
  const target = parseClickHouseUrl(opts.url);
  const engine = await ClickHouseEngine.open(target);
  try {
    const layout = { database: target.database, cluster: opts.cluster };
    const { created } = await initSchema(engine, `ClickHouse database ${target.database} at ${redactClickHouseUrl(opts.url)}`, layout);
    const where = opts.cluster ? `cluster ${opts.cluster}, ${engine.nodes} shards` : 'single server';
    return { store: new SqlStore(engine, layout), engine: `ClickHouse ${engine.version} (${where})`, created };
  } catch (e) {
    await engine.close();
    throw e;
  }
}

export { parseClickHouseUrl, redactClickHouseUrl };
