import path from 'node:path';
import { ChdbEngine } from './chdb/index.js';
import { ClickHouseEngine, loadCaBundle, parseClickHouseUrl, redactClickHouseUrl } from './clickhouse/index.js';
import { initSchema } from './setup.js';
import { SqlStore } from './sql-store/index.js';

export type * from './ports.js';
export type * from './request.js';
export type * from './log-request.js';
export type * from './slo-state.js';
export { ALL_LOGS, SEVERITY_CLASSES } from './log-request.js';
export { NUMERIC_LEVELS, heatmapCell, heatmapColumns } from './ports.js';
export { ALWAYS, TAG_SCOPES, STATUS_NAMES, KIND_NAMES } from './request.js';
export { TenantScope, InvalidTenantError, tenantIdProblem, validTenantId, DEFAULT_TENANT } from './tenant.js';
export { SchemaVersionError } from './setup.js';
export { SCHEMA_VERSION } from './schema.js';
export { EngineError, type EngineCapabilities } from './engine.js';
export { RetentionScheduler, type TenantRetention } from './retention.js';
export { SqlStore, type WriteOutcome, type LegacyCopyStatus } from './sql-store/index.js';
export { loadCaBundle, parseClickHouseUrl, redactClickHouseUrl };
export { openRemoteStore, queryHost, serveEngine, type QueryHost, type RemoteStoreInfo } from './remote.js';
export { QUERY_THREAD_NICE, type StatementLimits } from './engine.js';

export interface OpenedStore {
  store: SqlStore;
  /** Engine name and version, for logs and buildinfo. */
  engine: string;
  created: boolean;
}

export interface EmbeddedStoreOptions {
  /** Sightline's data directory; the engine's files go in a subdirectory. */
  dataDir: string;
  maxMemoryBytes?: number;
  /** Spans copied from a version-2 store belong to this tenant. */
  defaultTenant: string;
}

/** Opens the embedded chDB store in `<dataDir>/store`, creating or checking its schema. */
export async function openEmbeddedStore(opts: EmbeddedStoreOptions): Promise<OpenedStore> {
  const engine = await ChdbEngine.open({ dir: path.join(opts.dataDir, 'store'), maxMemoryBytes: opts.maxMemoryBytes });
  try {
    const layout = { database: 'default' };
    const { created } = await initSchema(engine, `data directory ${opts.dataDir}`, layout);
    const store = new SqlStore(engine, layout, { defaultTenant: opts.defaultTenant, scratchDir: path.join(opts.dataDir, 'store-scratch') });
    return { store, engine: `chDB ${engine.version}`, created };
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
  /**
   * The cluster's shards have replicas, with ZooKeeper: the URL lists every
   * replica of every shard; tables are Replicated*MergeTree, DDL runs ON
   * CLUSTER, and statements fail over to a node that answers.
   */
  replicated?: boolean;
  defaultTenant: string;
  /** A local directory for the migration's chunk files. */
  scratchDir: string;
  /** PEM CA bundle for an https:// server's certificate (--store-ca). */
  caFile?: string;
  /** The password, when it comes from a file (--store-password-file) rather than the URL. */
  password?: string;
}

/**
 * Opens a ClickHouse server or cluster store, creating or checking its
 * schema. With a cluster, list every shard's HTTP address in the URL: DDL
 * runs on each (no ON CLUSTER without ZooKeeper), queries and inserts go to
 * the first through the Distributed tables. With a replicated cluster
 * (ZooKeeper), list every replica of every shard: DDL runs once ON
 * CLUSTER, and queries and inserts go to the first node that answers.
 */
export async function openClickHouseStore(opts: ClickHouseStoreOptions): Promise<OpenedStore> {
  const target = { ...parseClickHouseUrl(opts.url), ...(opts.password !== undefined ? { password: opts.password } : {}) };
  if (opts.replicated && !opts.cluster) throw new Error('a replicated store needs its cluster name');
  const replicated = opts.replicated === true;
  const engine = await ClickHouseEngine.open(target, { caCert: opts.caFile ? loadCaBundle(opts.caFile) : undefined, replicatedCluster: replicated ? opts.cluster : undefined });
  try {
    const layout = { database: target.database, cluster: opts.cluster, ...(replicated ? { replicated } : {}) };
    const { created } = await initSchema(engine, `ClickHouse database ${target.database} at ${redactClickHouseUrl(opts.url)}`, layout);
    const where = opts.cluster ? `cluster ${opts.cluster}, ${engine.nodes} ${replicated ? 'replicas' : 'shards'}` : 'single server';
    const store = new SqlStore(engine, layout, { defaultTenant: opts.defaultTenant, scratchDir: opts.scratchDir });
    return { store, engine: `ClickHouse ${engine.version} (${where})`, created };
  } catch (e) {
    await engine.close();
    throw e;
  }
}
