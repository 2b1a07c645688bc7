import { EngineError } from '../engine.js';
import type { MaintenancePort, RetentionPolicy, RetentionResult, StoreStats } from '../ports.js';
import { NS_PER_DAY, PARTITIONED_TABLES, TABLES, localName, parseTenantDayPartition } from '../schema.js';
import { sql, ident } from '../sql/sql.js';
import { T } from '../sql/tables.js';
import type { StoreContext } from './context.js';

/** Retention and statistics. */
export class Maintenance implements MaintenancePort {
  constructor(private readonly ctx: StoreContext) {}

  async dropExpired(policy: RetentionPolicy): Promise<RetentionResult> {
    const dropped: RetentionResult['dropped'] = [];
    // Partitions live in each shard's local tables. Replicated, a drop on
    // one replica is a replicated action: its peers drop the partition too
    // (including parts they have not fetched yet), so one replica per shard.
    for (const replicas of await this.ctx.shards()) {
      await this.ctx.onShard(replicas, (node) => this.dropExpiredOn(node, policy, dropped));
    }
    return { dropped };
  }

  private async dropExpiredOn(node: number, policy: RetentionPolicy, dropped: RetentionResult['dropped']): Promise<void> {
    const { engine, layout } = this.ctx;
    for (const table of PARTITIONED_TABLES) {
      const local = localName(table, layout);
      const parts = await this.ctx.jsonOn<[string, string]>(
        node,
        sql`SELECT DISTINCT partition, partition_id FROM system.parts WHERE database = currentDatabase() AND active AND table = ${local}`,
      );
      for (const [partition, id] of parts.data) {
        const p = parseTenantDayPartition(partition);
        // A whole day goes once it ends at or before the tenant's cutoff.
        if (!p || BigInt(p.day + 1) * NS_PER_DAY > policy.cutoffNs(p.tenant)) continue;
        if (!(await dropPartition(() => engine.execOn(node, sql`ALTER TABLE ${ident(local)} DROP PARTITION ID ${id}`)))) continue;
        if (!dropped.some((d) => d.table === table && d.tenant === p.tenant && d.day === p.day)) dropped.push({ table, tenant: p.tenant, day: p.day });
      }
    }
  }

  async stats(): Promise<StoreStats> {
    const { layout } = this.ctx;
    let spans = 0;
    let bytes = 0;
    let count = 0;
    // One replica per shard: its peers hold the same parts.
    for (const replicas of await this.ctx.shards()) {
      const parts = await this.ctx.onShard(replicas, (node) =>
        this.ctx.jsonOn<[string, string, string]>(
          node,
          sql`SELECT toString(sum(rows)), toString(sum(data_compressed_bytes)), toString(count()) FROM system.parts
WHERE database = currentDatabase() AND active AND table = ${localName(TABLES.spans, layout)}`,
        ),
      );
      const [rows, b, c] = parts.data[0] ?? ['0', '0', '0'];
      spans += Number(rows);
      bytes += Number(b);
      count += Number(c);
    }
    const traces = await this.ctx.json<[string]>(sql`SELECT toString(uniq(tenant, trace_id)) FROM ${T.traceIndex}`);
    return { spans, bytesOnDisk: bytes, activeParts: count, traces: Number(traces.data[0]?.[0] ?? 0) };
  }
}

/** Drops one partition; false when another Sightline process sharing the store dropped it first. */
export async function dropPartition(drop: () => Promise<void>): Promise<boolean> {
  try {
    await drop();
    return true;
  } catch (e) {
    if (e instanceof EngineError && e.code !== undefined && !e.badInput) return false;
    throw e;
  }
}
