import type { Sql } from './sql/sql.js';

/**
 * What a ClickHouse-family engine can do, declared as data. The zero value
 * (all false) means the least capable engine we support, ClickHouse 18.16;
 * schema and SQL switch features on from here, never from the engine's name.
 */
export interface EngineCapabilities {
  /** `LowCardinality(T)` columns without experimental settings. */
  readonly lowCardinality: boolean;
  /** Per-column compression codecs (`CODEC(ZSTD(1))`). */
  readonly codecs: boolean;
  /** `fsync_after_insert` and `fsync_part_directory` MergeTree settings. */
  readonly fsyncSettings: boolean;
  /** JSONExtract* functions. */
  readonly jsonFunctions: boolean;
  /** `min_compress_block_size` and `max_compress_block_size` as table settings. */
  readonly tableCompressionSettings: boolean;
  /**
   * The `max_partitions_per_insert_block` limit exists (and must be lifted:
   * late spans can span many days). Older engines have no limit.
   */
  readonly insertPartitionLimit: boolean;
  /** Data-skipping indexes (bloom_filter) without experimental settings. */
  readonly skipIndexes: boolean;
  /**
   * A quantile state merges at any level: `quantilesTDigestMerge(0.5, 0.99)`
   * over states built by `quantileTDigestState`. 18.16 refuses (the level is
   * part of the state's type), so the span-metrics rollup keeps no digest there.
   */
  readonly quantileStatesAnyLevel: boolean;
  /**
   * MergeTree writes small parts in the compact format (one file for all
   * columns) below `min_bytes_for_wide_part`.
   */
  readonly compactParts: boolean;
  /**
   * The `min_level_for_wide_part` setting: parts fresh from an insert (level
   * 0) stay compact whatever their size, and merged parts are wide.
   */
  readonly widePartLevel: boolean;
  /** Per-column `SETTINGS (min_compress_block_size = ...)` in CREATE TABLE. */
  readonly columnSettings: boolean;
  /**
   * The `string_serialization_version` MergeTree setting: 'single_stream'
   * keeps a String's sizes inline instead of in a stream of their own.
   */
  readonly stringSerialization: boolean;
  /**
   * `ALTER TABLE ... MODIFY SETTING` and `RESET SETTING` of MergeTree
   * settings. Erasure shortens `old_parts_lifetime` while it waits for the
   * parts that held erased rows to leave the disk; without it, they leave
   * after the lifetime the server is configured with (480 s by default).
   */
  readonly modifyTableSettings: boolean;
  /**
   * Parts that merges and mutations replaced stay on disk until a statement
   * on the table's partitions runs (DROP PARTITION, even of a partition
   * that does not exist, removes those past `old_parts_lifetime`): the
   * engine's own cleanup never runs. So in chDB 3.4 (its issue 107);
   * ClickHouse servers remove them in the background.
   */
  readonly outdatedPartsKept: boolean;
  /** The `os_thread_priority` setting: a statement's threads can run at a lower priority. Not in 18.16. */
  readonly threadPriority: boolean;
  /**
   * A filter the engine has JIT-compiled (`compile_expressions`) fails when
   * it holds an IN whose set came out empty: ILLEGAL_COLUMN (44), "...
   * non constant in source stream but must be constant in result". The
   * engine compiles an expression once it has seen it
   * `min_count_to_compile_expression` times (3), across all sessions of a
   * process, so a search with such a condition answered three times and
   * failed from the fourth on. Reads then turn compilation off
   * (StoreContext). ClickHouse issue 116018: an IN over a built, empty set
   * returns a constant column its expression node does not declare.
   */
  readonly jitFailsOnEmptyInSets: boolean;
}

export const LEAST_CAPABLE: EngineCapabilities = {
  lowCardinality: false,
  codecs: false,
  fsyncSettings: false,
  jsonFunctions: false,
  tableCompressionSettings: false,
  insertPartitionLimit: false,
  skipIndexes: false,
  quantileStatesAnyLevel: false,
  compactParts: false,
  widePartLevel: false,
  columnSettings: false,
  stringSerialization: false,
  modifyTableSettings: false,
  outdatedPartsKept: false,
  threadPriority: false,
  jitFailsOnEmptyInSets: false,
};

/**
 * Which connection an operation should use. Ingest and queries get separate
 * connections so a slow query never holds up an insert, and the reverse;
 * `lookup` is for reads bounded by their answer (a trace by id, tag
 * values), so they never wait behind a heavy search or diagnosis.
 */
export type Lane = 'ingest' | 'query' | 'lookup';

/**
 * Limits on one statement that runs on behalf of a user's query. The
 * engine enforces them itself (ClickHouse's max_execution_time,
 * max_memory_usage, max_result_rows and max_result_bytes), and `signal`
 * cancels the statement, in the engine too where it can be.
 */
export interface StatementLimits {
  /** Names the statement in the engine (system.processes, KILL QUERY). */
  queryId: string;
  /** Whole seconds, at least 1. */
  maxExecutionSeconds: number;
  maxMemoryBytes: number;
  maxResultRows: number;
  maxResultBytes: number;
  signal?: AbortSignal;
}

/**
 * Nice value of the engine threads that run a heavy query's statements
 * (the `query` lane), where the engine can set it (`os_thread_priority`):
 * on a shared machine, inserts and lookups then get the CPU first.
 */
export const QUERY_THREAD_NICE = 10;

/**
 * ClickHouse's settings for statement limits: the same names on every
 * version since 18.16, and the heavy lane's thread priority where the
 * engine has it.
 */
export function limitSettings(limits: StatementLimits, lowPriority = false): Record<string, number | string> {
  return {
    ...(lowPriority ? { os_thread_priority: QUERY_THREAD_NICE } : {}),
    max_execution_time: Math.max(1, Math.ceil(limits.maxExecutionSeconds)),
    timeout_overflow_mode: 'throw',
    max_memory_usage: limits.maxMemoryBytes,
    max_result_rows: limits.maxResultRows,
    max_result_bytes: limits.maxResultBytes,
    result_overflow_mode: 'throw',
  };
}

/**
 * How long an ON CLUSTER statement waits for the nodes when one of them
 * does not answer (the server's default, 180 s, when all do). The statement
 * stays in ZooKeeper's queue, and a node that was down runs it when it
 * returns.
 */
export const DDL_WAIT_WITH_NODES_DOWN_S = 5;

export type ResultFormat = 'RowBinary' | 'JSONCompact' | 'TabSeparated';

export type EngineSettings = Record<string, number>;

/**
 * A connection to a ClickHouse-family engine: embedded chDB or a server.
 * The store builds all SQL; an engine only runs it and moves bytes.
 */
export interface Engine {
  readonly capabilities: EngineCapabilities;
  /** The engine's version string, for logs and buildinfo. */
  readonly version: string;
  /**
   * Only this process uses the store (embedded chDB holds a lock on its
   * directory). A shared server may have other Sightline processes on it.
   */
  readonly exclusive: boolean;

  /**
   * Runs a statement that returns no rows. `settings` apply to the whole
   * statement; engines pass them the way they take effect (ClickHouse 18.16
   * ignores some, such as insert_distributed_sync, in a SETTINGS clause of
   * INSERT ... SELECT, but honours them as request parameters).
   */
  exec(statement: Sql, lane?: Lane, settings?: EngineSettings): Promise<void>;

  /** Runs a query and returns its whole output in `format`. */
  query(statement: Sql, format: ResultFormat, lane?: Lane): Promise<Buffer>;

  /**
   * Inserts a file of ClickHouse Native blocks into `columns` of `table`.
   * The file holds exactly those columns; the engine converts types.
   * Resolves once the rows are committed (durably, where the table's
   * settings ask for fsync).
   */
  insertNativeFile(table: string, columns: readonly string[], file: string): Promise<void>;

  /**
   * Inserts a few rows given as objects (column name -> value, as JSON
   * would carry them). For small, rare writes (the audit trail); span rows
   * go through insertNativeFile.
   */
  insertRows(table: string, rows: readonly Record<string, unknown>[]): Promise<void>;

  /**
   * The servers this engine talks to: 1 for chDB or a single server, one
   * per shard of a cluster, and one per replica of each shard on a
   * replicated cluster (the store groups those by shard: StoreContext).
   * Queries and inserts go to one node (through Distributed tables on a
   * cluster): node 0, or on a replicated cluster the next node that can
   * be reached when it cannot.
   */
  readonly nodes: number;
  /** Runs a statement on one node; `settings` as for exec. */
  execOn(node: number, statement: Sql, settings?: EngineSettings): Promise<void>;
  queryOn(node: number, statement: Sql, format: ResultFormat): Promise<Buffer>;

  /**
   * Runs a query on behalf of a user, within `limits`, on a read lane
   * (never the ingest connection). Rejects with an EngineError whose code
   * says which limit was hit, or with the signal's reason once aborted.
   * Without `node`, it goes where `query` sends statements.
   */
  queryLimited(statement: Sql, format: ResultFormat, lane: 'query' | 'lookup', limits: StatementLimits, node?: number): Promise<Buffer>;

  close(): Promise<void>;
}

/** An engine error with ClickHouse's own code, when there is one. */
export class EngineError extends Error {
  override readonly name = 'EngineError';
  /**
   * No answer came from the node: it could not be reached, or the
   * connection broke before its reply (refused, reset, unreachable). The
   * statement may or may not have run there. Another replica can be asked;
   * an error the node answered with (`code`) would be the same elsewhere.
   */
  readonly connection: boolean;

  constructor(
    message: string,
    /** ClickHouse's numeric error code, e.g. 241 MEMORY_LIMIT_EXCEEDED. */
    readonly code: number | undefined,
    options?: { cause?: unknown; connection?: boolean },
  ) {
    super(message, options);
    this.connection = options?.connection ?? false;
  }

  /**
   * The data itself is bad: retrying the same bytes will fail the same way.
   * Everything else (limits, load, I/O, network) is worth retrying.
   */
  get badInput(): boolean {
    return this.code !== undefined && BAD_INPUT_CODES.has(this.code);
  }

  /** Which statement limit stopped the statement, if one did. */
  get limitHit(): 'time' | 'memory' | 'result' | 'cancelled' | null {
    switch (this.code) {
      case 159: // TIMEOUT_EXCEEDED
        return 'time';
      case 241: // MEMORY_LIMIT_EXCEEDED
        return 'memory';
      case 158: // TOO_MANY_ROWS
      case 307: // TOO_MANY_BYTES
      case 396: // TOO_MANY_ROWS_OR_BYTES
        return 'result';
      case 394: // QUERY_WAS_CANCELLED
        return 'cancelled';
      default:
        return null;
    }
  }
}

/**
 * The code at the start of a ClickHouse error text. Servers send
 * `Code: 159. DB::Exception: ...` (and 18.16 `Code: 159, e.displayText() =
 * DB::Exception: ...`) as the body of an error answer; this is the wire
 * format of the code, not a reading of the message.
 */
export function clickHouseErrorCode(text: string): number | undefined {
  const m = /^\s*Code: (\d{1,4})[.,]/.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** ClickHouse codes that mean the inserted data cannot be read or converted. */
const BAD_INPUT_CODES = new Set([
  6, // CANNOT_PARSE_TEXT
  8, // THERE_IS_NO_COLUMN
  10, // NOT_FOUND_COLUMN_IN_BLOCK
  16, // NO_SUCH_COLUMN_IN_TABLE
  26, // CANNOT_PARSE_QUOTED_STRING
  27, // CANNOT_PARSE_INPUT_ASSERTION_FAILED
  33, // CANNOT_READ_ALL_DATA
  53, // TYPE_MISMATCH
  70, // CANNOT_CONVERT_TYPE
  72, // CANNOT_PARSE_NUMBER
  117, // INCORRECT_DATA
  128, // TOO_LARGE_ARRAY_SIZE
  131, // TOO_LARGE_STRING_SIZE
]);
