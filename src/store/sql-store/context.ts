import { EngineError, type Engine, type EngineSettings } from '../engine.js';
import type { Layout } from '../schema.js';
import { sql, type Sql } from '../sql/sql.js';

export interface JsonCompact<Row> {
  data: Row[];
  statistics?: { rows_read?: number; bytes_read?: number };
}

/** Settings every JSON-returning query needs to keep 64-bit values exact. */
const JSON_SETTINGS = sql`SETTINGS output_format_json_quote_64bit_integers = 1, output_format_json_quote_denormals = 1`;

/**
 * Where JIT-compiled filters fail on an empty IN set (EngineCapabilities),
 * every read here has compilation off: any condition on resources or on the
 * trace index is such a set, and it is empty whenever nothing matches.
 * Measured on chDB 3.4, 10M spans on 2 cores: search-shaped statements
 * took the same time with and without it (within run-to-run noise, about
 * 10%); our filters are comparisons and array functions, which PREWHERE
 * reads, not arithmetic that compilation speeds up.
 */
const NO_JIT = sql`, compile_expressions = 0`;

/**
 * For lookups that touch a few granules: a multi-threaded pipeline costs
 * more to set up than the read itself (40 ms against 8 ms for a trace-index
 * lookup at 10M spans on 2 cores).
 */
export const SINGLE_THREAD = sql`max_threads = 1`;
export const POINT_LOOKUP = sql`, ${SINGLE_THREAD}`;

/** What every port implementation shares: the engine, where the tables are, and how results are read. */
export class StoreContext {
  /** Span writes of this process, against work that must see no write in between (the rollup's recompute). */
  readonly writes = new WriteGate();
  /** Replicated: the shard number (1-based) of each node that has said. */
  private readonly shardOf = new Map<number, number>();
  private shardCount = 0;

  /** The SETTINGS clause of every read through json() and jsonOn(). */
  private readonly readSettings: Sql;

  constructor(
    readonly engine: Engine,
    readonly layout: Layout,
  ) {
    this.readSettings = engine.capabilities.jitFailsOnEmptyInSets ? sql`${JSON_SETTINGS}${NO_JIT}` : JSON_SETTINGS;
  }

  /** A query wherever the engine sends statements (on a replicated cluster, a node that answers). */
  async json<Row>(query: Sql, extra: Sql = sql``): Promise<JsonCompact<Row>> {
    const out = await this.engine.query(sql`${query}\n${this.readSettings}${extra}`, 'JSONCompact');
    return JSON.parse(out.toString('utf8')) as JsonCompact<Row>;
  }

  async jsonOn<Row>(node: number, query: Sql, extra: Sql = sql``): Promise<JsonCompact<Row>> {
    const out = await this.engine.queryOn(node, sql`${query}\n${this.readSettings}${extra}`, 'JSONCompact');
    return JSON.parse(out.toString('utf8')) as JsonCompact<Row>;
  }

  rowBinary(query: Sql): Promise<Buffer> {
    return this.engine.query(query, 'RowBinary');
  }

  /**
   * The engine's nodes by shard, in shard order: each shard's replicas.
   * Without replication every node is a shard of its own, so work done
   * once per shard is done once per node. Replicated, each node says which
   * shard it serves (system.clusters); one that cannot be reached is asked
   * again next time, and a shard none of whose nodes has said is an empty
   * list (onShard then fails for it).
   */
  async shards(): Promise<number[][]> {
    const { engine, layout } = this;
    if (!layout.replicated || layout.cluster === undefined) return Array.from({ length: engine.nodes }, (_, node) => [node]);
    for (let node = 0; node < engine.nodes; node++) {
      if (this.shardOf.has(node)) continue;
      try {
        const res = await this.jsonOn<[number, number]>(
          node,
          sql`SELECT anyIf(shard_num, is_local = 1), max(shard_num) FROM system.clusters WHERE cluster = ${layout.cluster}`,
        );
        const [mine, shards] = res.data[0] ?? [0, 0];
        if (Number(mine) > 0) this.shardOf.set(node, Number(mine));
        this.shardCount = Math.max(this.shardCount, Number(shards));
      } catch (e) {
        if (!(e instanceof EngineError && e.connection)) throw e;
      }
    }
    const out: number[][] = Array.from({ length: this.shardCount }, () => []);
    for (const [node, shard] of [...this.shardOf].sort((a, b) => a[0] - b[0])) out[shard - 1]?.push(node);
    return out;
  }

  /**
   * Runs `work` on one replica of a shard: the first of `replicas` that
   * answers. A replica that cannot be reached (EngineError.connection)
   * hands the whole of `work` to the next, so `work` must be safe to run
   * again. What runs there reaches the shard's other replicas through
   * replication (partition drops, mutations, inserts).
   */
  async onShard<T>(replicas: readonly number[], work: (node: number) => Promise<T>): Promise<T> {
    let failure: unknown = new EngineError('no replica of a shard of the cluster could be reached', undefined, { connection: true });
    for (const node of replicas) {
      try {
        return await work(node);
      } catch (e) {
        if (!(e instanceof EngineError && e.connection)) throw e;
        failure = e;
      }
    }
    throw failure;
  }

  /**
   * Settings for our INSERT ... SELECT statements: lift the per-insert
   * partition limit (late spans span days), and on a cluster wait until the
   * rows are on the shards.
   */
  insertSettings(): EngineSettings {
    const settings: EngineSettings = {};
    if (this.engine.capabilities.insertPartitionLimit) settings.max_partitions_per_insert_block = 0;
    if (this.layout.cluster) settings.insert_distributed_sync = 1;
    return settings;
  }
}

/** A time range condition on span start times. */
export function startsIn(range: { startNs: bigint; endNs: bigint }): Sql {
  return sql`start_ns >= ${range.startNs} AND start_ns < ${range.endNs}`;
}

/** The range widened by `slack` on both sides (not below 0). */
export function widened(range: { startNs: bigint; endNs: bigint }, slack: bigint): { startNs: bigint; endNs: bigint } {
  return { startNs: range.startNs > slack ? range.startNs - slack : 0n, endNs: range.endNs + slack };
}

/**
 * A readers-writer lock on this process's span writes: writes share it,
 * and work that must see no write happen meanwhile takes it alone, after
 * the writes in flight end and before any later one starts. Waiters are
 * served in arrival order, so neither side starves.
 */
export class WriteGate {
  private active = 0;
  private exclusiveHeld = false;
  private readonly queue: { exclusive: boolean; start: () => void }[] = [];

  shared<T>(work: () => Promise<T>): Promise<T> {
    return this.run(false, work);
  }

  exclusive<T>(work: () => Promise<T>): Promise<T> {
    return this.run(true, work);
  }

  private async run<T>(exclusive: boolean, work: () => Promise<T>): Promise<T> {
    await new Promise<void>((start) => {
      this.queue.push({ exclusive, start });
      this.next();
    });
    try {
      return await work();
    } finally {
      if (exclusive) this.exclusiveHeld = false;
      else this.active--;
      this.next();
    }
  }

  private next(): void {
    while (this.queue.length > 0 && !this.exclusiveHeld) {
      const head = this.queue[0];
      if (head.exclusive && this.active > 0) return;
      this.queue.shift();
      if (head.exclusive) this.exclusiveHeld = true;
      else this.active++;
      head.start();
    }
  }
}
