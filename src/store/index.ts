import path from 'node:path';
import { ChdbEngine } from './chdb/index.js';
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
  TagValue,
  ValueType,
  RetentionResult,
  StoreStats,
} from './types.js';
export { ATTRIBUTE_SCOPES } from './types.js';
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
