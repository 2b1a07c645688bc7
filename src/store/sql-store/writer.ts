import { randomBytes } from 'node:crypto';
import { RESOURCE_COLUMN_NAMES, SPAN_COLUMNS, SPAN_COLUMN_NAMES, type ColumnSpec } from '../../model/span-batch.js';
import { LOG_COLUMNS, LOG_COLUMN_NAMES } from '../../model/log-batch.js';
import { EngineError } from '../engine.js';
import { TABLES, TRACE_INDEX_COLUMNS, traceIndexSelect } from '../schema.js';
import { sql, join, ident, typeName, type Sql } from '../sql/sql.js';
import { T } from '../sql/tables.js';
import type { StoreContext } from './context.js';

/** How a write ended: stored, or refused (retrying the same bytes may help, or never will). */
export type WriteOutcome = { ok: true } | { ok: false; retryable: boolean; error: Error };

/**
 * What a replay needs to know of a table: its rows, a row's identity, the
 * time column that bounds where stored copies can be, and what narrows
 * that search further.
 */
interface ReplayTarget {
  table: string;
  tableSql: Sql;
  columns: readonly ColumnSpec[];
  /** Columns that identify a row: a staged row with a stored twin is not written again. */
  key: readonly string[];
  time: string;
  /** A condition on stored rows that holds for every twin of a staged row. */
  narrow(staging: Sql): Sql;
  /** Derived rows to write again once the rows are in (harmless if present). */
  after?(staging: Sql): Promise<void>;
}

/**
 * Writes WAL segments (files of Native blocks) into the store. The rows
 * carry their tenant, stamped by the receiver that took them. One write at
 * a time (the ingest writer loop).
 */
export class SegmentWriter {
  constructor(private readonly ctx: StoreContext) {}

  /**
   * Stores the span rows of one segment; resolves once they are durable.
   * With `replay`, the segment may already be partly or wholly stored (the
   * process died between the insert and the segment's deletion): rows that
   * are already there, by (tenant, trace id, span id, start), are not
   * written again.
   */
  async writeSpans(file: string, opts: { replay: boolean }): Promise<WriteOutcome> {
    // Through the gate: an erasure's rollup recompute must see no span insert (and so no rollup row) in between.
    return outcome(() => this.ctx.writes.shared(() => (opts.replay ? this.replay(file, this.spans) : this.ctx.engine.insertNativeFile(TABLES.spans, SPAN_COLUMN_NAMES, file))));
  }

  /**
   * Stores the log rows of one segment; with `replay`, rows already there
   * (by tenant and log id, a random id drawn at ingest) are not written again.
   */
  async writeLogs(file: string, opts: { replay: boolean }): Promise<WriteOutcome> {
    return outcome(() => (opts.replay ? this.replay(file, LOGS) : this.ctx.engine.insertNativeFile(TABLES.logs, LOG_COLUMN_NAMES, file)));
  }

  private readonly spans: ReplayTarget = {
    table: TABLES.spans,
    tableSql: T.spans,
    columns: SPAN_COLUMNS,
    key: ['tenant', 'trace_id', 'span_id', 'start_ns'],
    time: 'start_ns',
    narrow: (staging) => sql`trace_id GLOBAL IN (SELECT trace_id FROM ${staging})`,
    after: (staging) => this.ctx.engine.exec(sql`INSERT INTO ${T.traceIndex} (${join(TRACE_INDEX_COLUMNS.map(ident))})\n${traceIndexSelect(staging)}`, 'ingest', this.ctx.insertSettings()),
  };

  /** Stores (resource, scope) rows; rows may repeat, the store keeps one per id. */
  async writeResources(file: string): Promise<WriteOutcome> {
    return outcome(() => this.ctx.engine.insertNativeFile(TABLES.resources, RESOURCE_COLUMN_NAMES, file));
  }

  /**
   * Stages the segment, inserts only the rows the store lacks, and
   * re-derives what comes from them (for spans, trace-index rows).
   *
   * On a replicated cluster, what a read does not see may be stored all the
   * same: a block on a replica that died before its peer fetched it. So
   * when none of the segment's rows is visible, the segment's own bytes go
   * again: the same file splits into the same blocks per shard and
   * partition (insert_distributed_sync), and a shard skips a block whose
   * hash ZooKeeper holds (insert deduplication), within the last
   * SPANS_DEDUPLICATION_WINDOW blocks of that shard. When some rows are
   * visible (a shard took its block, another did not), only the missing
   * rows go: for a shard that took nothing, the same rows as the first
   * attempt's block there, which deduplication also recognises when they
   * come out in the same order; a block it cannot recognise may then be
   * stored twice once its replica returns (docs/deploy.md).
   */
  private async replay(file: string, target: ReplayTarget): Promise<void> {
    const { engine } = this.ctx;
    const stagingName = `sightline_replay_${process.pid}_${randomBytes(4).toString('hex')}`;
    const staging = ident(stagingName);
    const names = target.columns.map((c) => c.name);
    const all = join(names.map(ident));
    const columns = target.columns.map((c) => sql`${ident(c.name)} ${typeName(c.type)}`);
    const key = join(target.key.map(ident));
    const time = ident(target.time);
    await engine.exec(sql`CREATE TABLE ${staging} (${join(columns)}) ENGINE = Memory`, 'ingest');
    try {
      await engine.insertNativeFile(stagingName, names, file);
      const bounds = (await engine.query(sql`SELECT min(${time}), max(${time}) FROM ${staging}`, 'TabSeparated', 'ingest')).toString().trim().split('\t').map(BigInt);
      // GLOBAL: on a cluster the staging table exists only here, and the
      // shards must get its ids as data.
      const missing = sql`(${key}) GLOBAL NOT IN (
  SELECT ${key} FROM ${target.tableSql}
  WHERE ${time} >= ${bounds[0]} AND ${time} <= ${bounds[1]}
    AND ${target.narrow(staging)}
)`;
      let send: 'missing rows' | 'file' | 'nothing' = 'missing rows';
      if (this.ctx.layout.replicated) {
        const [rows, absent] = (await engine.query(sql`SELECT count(), countIf(${missing}) FROM ${staging}`, 'TabSeparated', 'ingest')).toString().trim().split('\t').map(Number);
        send = absent === 0 ? 'nothing' : absent === rows ? 'file' : 'missing rows';
      }
      if (send === 'file') await engine.insertNativeFile(target.table, names, file);
      else if (send === 'missing rows')
        await engine.exec(
          sql`INSERT INTO ${target.tableSql} (${all})
SELECT ${all} FROM ${staging}
WHERE ${missing}`,
          'ingest',
          this.ctx.insertSettings(),
        );
      await target.after?.(staging);
    } finally {
      await engine.exec(sql`DROP TABLE IF EXISTS ${staging}`, 'ingest');
    }
  }
}

const LOGS: ReplayTarget = {
  table: TABLES.logs,
  tableSql: T.logs,
  columns: LOG_COLUMNS,
  key: ['tenant', 'log_id'],
  time: 'time_ns',
  narrow: (staging) => sql`log_id GLOBAL IN (SELECT log_id FROM ${staging})`,
};

async function outcome(write: () => Promise<void>): Promise<WriteOutcome> {
  try {
    await write();
    return { ok: true };
  } catch (e) {
    const error = e instanceof Error ? e : new Error(String(e));
    // The data itself is bad: the same bytes fail the same way. Everything
    // else (limits, load, I/O, network) is worth retrying.
    return { ok: false, retryable: !(e instanceof EngineError && e.badInput), error };
  }
}
