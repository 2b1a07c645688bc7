import { randomBytes } from 'node:crypto';
import { RESOURCE_COLUMN_NAMES, SPAN_COLUMNS, SPAN_COLUMN_NAMES } from '../../model/span-batch.js';
import { EngineError } from '../engine.js';
import { TABLES, TRACE_INDEX_COLUMNS, traceIndexSelect } from '../schema.js';
import { sql, join, ident, typeName } from '../sql/sql.js';
import { T } from '../sql/tables.js';
import type { StoreContext } from './context.js';

/** How a write ended: stored, or refused (retrying the same bytes may help, or never will). */
export type WriteOutcome = { ok: true } | { ok: false; retryable: boolean; error: Error };

const ALL_COLUMNS = join(SPAN_COLUMN_NAMES.map(ident));

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
    return outcome(() => this.ctx.writes.shared(() => (opts.replay ? this.replay(file) : this.ctx.engine.insertNativeFile(TABLES.spans, SPAN_COLUMN_NAMES, file))));
  }

  /** Stores (resource, scope) rows; rows may repeat, the store keeps one per id. */
  async writeResources(file: string): Promise<WriteOutcome> {
    return outcome(() => this.ctx.engine.insertNativeFile(TABLES.resources, RESOURCE_COLUMN_NAMES, file));
  }

  /**
   * Stages the segment, inserts only the rows the store lacks, and
   * re-derives its trace-index rows (harmless if present).
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
  private async replay(file: string): Promise<void> {
    const { engine } = this.ctx;
    const stagingName = `sightline_replay_${process.pid}_${randomBytes(4).toString('hex')}`;
    const staging = ident(stagingName);
    const columns = SPAN_COLUMNS.map((c) => sql`${ident(c.name)} ${typeName(c.type)}`);
    await engine.exec(sql`CREATE TABLE ${staging} (${join(columns)}) ENGINE = Memory`, 'ingest');
    try {
      await engine.insertNativeFile(stagingName, SPAN_COLUMN_NAMES, file);
      const bounds = (await engine.query(sql`SELECT min(start_ns), max(start_ns) FROM ${staging}`, 'TabSeparated', 'ingest')).toString().trim().split('\t').map(BigInt);
      // GLOBAL: on a cluster the staging table exists only here, and the
      // shards must get its trace ids as data.
      const missing = sql`(tenant, trace_id, span_id, start_ns) GLOBAL NOT IN (
  SELECT tenant, trace_id, span_id, start_ns FROM ${T.spans}
  WHERE start_ns >= ${bounds[0]} AND start_ns <= ${bounds[1]}
    AND trace_id GLOBAL IN (SELECT trace_id FROM ${staging})
)`;
      let send: 'missing rows' | 'file' | 'nothing' = 'missing rows';
      if (this.ctx.layout.replicated) {
        const [rows, absent] = (await engine.query(sql`SELECT count(), countIf(${missing}) FROM ${staging}`, 'TabSeparated', 'ingest')).toString().trim().split('\t').map(Number);
        send = absent === 0 ? 'nothing' : absent === rows ? 'file' : 'missing rows';
      }
      if (send === 'file') await engine.insertNativeFile(TABLES.spans, SPAN_COLUMN_NAMES, file);
      else if (send === 'missing rows')
        await engine.exec(
          sql`INSERT INTO ${T.spans} (${ALL_COLUMNS})
SELECT ${ALL_COLUMNS} FROM ${staging}
WHERE ${missing}`,
          'ingest',
          this.ctx.insertSettings(),
        );
      await engine.exec(sql`INSERT INTO ${T.traceIndex} (${join(TRACE_INDEX_COLUMNS.map(ident))})\n${traceIndexSelect(staging)}`, 'ingest', this.ctx.insertSettings());
    } finally {
      await engine.exec(sql`DROP TABLE IF EXISTS ${staging}`, 'ingest');
    }
  }
}

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
