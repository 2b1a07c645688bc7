import type { Engine, EngineSettings } from '../engine.js';
import type { Layout } from '../schema.js';
import { sql, type Sql } from '../sql/sql.js';

export interface JsonCompact<Row> {
  data: Row[];
  statistics?: { rows_read?: number; bytes_read?: number };
}

/** Settings every JSON-returning query needs to keep 64-bit values exact. */
const JSON_SETTINGS = sql`SETTINGS output_format_json_quote_64bit_integers = 1, output_format_json_quote_denormals = 1`;

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

  constructor(
    readonly engine: Engine,
    readonly layout: Layout,
  ) {}

  json<Row>(query: Sql, extra: Sql = sql``): Promise<JsonCompact<Row>> {
    return this.jsonOn(0, query, extra);
  }

  async jsonOn<Row>(node: number, query: Sql, extra: Sql = sql``): Promise<JsonCompact<Row>> {
    const out = await this.engine.queryOn(node, sql`${query}\n${JSON_SETTINGS}${extra}`, 'JSONCompact');
    return JSON.parse(out.toString('utf8')) as JsonCompact<Row>;
  }

  rowBinary(query: Sql): Promise<Buffer> {
    return this.engine.query(query, 'RowBinary');
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
