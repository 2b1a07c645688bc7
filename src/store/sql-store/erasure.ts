import { setTimeout as sleep } from 'node:timers/promises';
import { EngineError } from '../engine.js';
import type { ErasureOptions, ErasurePort, ErasureResult, TraceCounts } from '../ports.js';
import { NS_PER_DAY, NS_PER_MINUTE, TABLES, localName, parseTenantDayPartition, spanMetricsColumns, spanMetricsSelect } from '../schema.js';
import type { TenantScope } from '../tenant.js';
import { sql, ident, join } from '../sql/sql.js';
import { T, tenantIn } from '../sql/tables.js';
import type { StoreContext } from './context.js';

/**
 * Trace ids per statement. They travel in the SQL text, which the engine
 * takes up to `max_query_size` (256 KiB): an id is 44 bytes there.
 */
const IDS_PER_STATEMENT = 4000;
const MINUTES_PER_STATEMENT = 10_000;
const POLL_MS = 500;
/** How long a replica may take to list a mutation that was just made. */
const MUTATION_LISTED_WITHIN_MS = 60_000;
const MINUTES_PER_DAY = 1440;
/** A partition id none of our tables has: theirs are hex hashes of (tenant, day). */
const NO_PARTITION = 'sightlinecleanup';
/** The trace id of log records not tied to a trace: never one whose records an erasure may take. */
const NO_TRACE = Buffer.alloc(16);

/** A table on one node that was given mutations, and what they touched. */
interface Mutated {
  node: number;
  /**
   * Every node that holds the table's data: `node`, and on a replicated
   * cluster the shard's other replicas, which run the same (replicated)
   * mutations on their own copies of the parts.
   */
  replicas: readonly number[];
  /** The table on that node (`<name>_local` on a cluster). */
  local: string;
  /** UTC days of the tenant's partitions that held erased rows; null: every day. */
  days: Set<number> | null;
  /** The highest mutation number before ours. */
  since: number;
  /** The highest mutation number after ours (set once they are done): parts at this data version or later hold no erased row. */
  version: number;
  /**
   * Replicated tables number a mutation per partition instead (the block
   * number it took there): by partition id, the highest of ours. A
   * partition it does not list was created after it.
   */
  partitionVersions: Map<string, number> | null;
}

/** A mutation as system.mutations lists it. */
interface Mutation {
  number: number;
  partsToDo: number;
  done: boolean;
  /** Replicated: the block number it took in each partition. */
  blocks: Map<string, number> | null;
}

/**
 * Erasure by ClickHouse mutations (`ALTER TABLE ... DELETE`), which every
 * engine we support has (since 1.1.54388), on each node's own tables.
 *
 * A lightweight `DELETE FROM`, where an engine has it, only masks rows:
 * their bytes stay in the part until a merge rewrites it. A mutation
 * rewrites each part that holds a matching row, so once it is done no
 * active part holds the rows; the parts it replaced stay on disk until the
 * engine's cleanup removes them, after `old_parts_lifetime` (chDB's cleanup
 * never runs: see `outdatedPartsKept`). Only then are the values gone from
 * the data directory, and only then does this resolve.
 *
 * Mutation commands (kept in the table's directory and in
 * system.mutations) hold the tenant, trace ids and minute numbers, never an
 * attribute value, a span name or a log body.
 */
export class Erasure implements ErasurePort {
  constructor(private readonly ctx: StoreContext) {}

  async countTraces(scope: TenantScope, traceIds: readonly Buffer[]): Promise<TraceCounts> {
    let traces = 0;
    let spans = 0;
    let logRecords = 0;
    const ids = unique(traceIds);
    for (const chunk of chunks(ids, IDS_PER_STATEMENT)) {
      const res = await this.ctx.json<[string, string]>(sql`
SELECT toString(uniqExact(trace_id)), toString(count()) FROM (
  SELECT trace_id FROM ${T.spans}
  WHERE ${tenantIn(scope)} AND trace_id IN (${chunk})
  LIMIT 1 BY trace_id, span_id, start_ns
)`);
      traces += Number(res.data[0]?.[0] ?? 0);
      spans += Number(res.data[0]?.[1] ?? 0);
    }
    for (const chunk of chunks(withoutNoTrace(ids), IDS_PER_STATEMENT)) {
      const res = await this.ctx.json<[string]>(sql`SELECT toString(count()) FROM ${T.logs} WHERE ${tenantIn(scope)} AND trace_id IN (${chunk})`);
      logRecords += Number(res.data[0]?.[0] ?? 0);
    }
    return { traces, spans, logRecords };
  }

  async eraseTraces(scope: TenantScope, traceIds: readonly Buffer[], opts: ErasureOptions = {}): Promise<ErasureResult> {
    const tenant = scope.single;
    const ids = unique(traceIds);
    const before = await this.countTraces(scope, ids);
    const { engine, layout } = this.ctx;
    const spansLocal = localName(TABLES.spans, layout);
    const indexLocal = localName(TABLES.traceIndex, layout);
    const metricsLocal = localName(TABLES.spanMetrics, layout);
    const logsLocal = localName(TABLES.logs, layout);
    const logIds = withoutNoTrace(ids);
    const where = (chunk: Buffer[]) => sql`tenant = ${tenant} AND trace_id IN (${chunk})`;

    // What the rows touch on each shard (a trace lives on one shard): the
    // minutes its spans counted in, and the days (partitions) of each
    // table. Mutations and the rollup's recompute then run on the replica
    // that answered (on a replicated cluster they reach its peers through
    // replication).
    const shards = await this.ctx.shards();
    const touched: { node: number; replicas: number[]; minutes: number[]; indexDays: Set<number> }[] = [];
    for (const replicas of shards) {
      const found = await this.ctx.onShard(replicas, async (node) => {
        const minutes = new Set<number>();
        const indexDays = new Set<number>();
        for (const chunk of chunks(ids, IDS_PER_STATEMENT)) {
          const m = await this.ctx.jsonOn<[number]>(node, sql`SELECT DISTINCT toUInt32(intDiv(start_ns, ${NS_PER_MINUTE})) FROM ${ident(spansLocal)} WHERE ${where(chunk)}`);
          for (const [minute] of m.data) minutes.add(Number(minute));
          const d = await this.ctx.jsonOn<[string]>(node, sql`SELECT DISTINCT toString(intDiv(start_min, ${NS_PER_DAY})) FROM ${ident(indexLocal)} WHERE ${where(chunk)}`);
          for (const [day] of d.data) indexDays.add(Number(day));
        }
        return { node, replicas, minutes: [...minutes].sort((a, b) => a - b), indexDays };
      });
      if (found.minutes.length > 0 || found.indexDays.size > 0) touched.push(found);
    }
    // Log records are sharded by their own id, not their trace's: any shard
    // may hold some of a trace's records, and records sent without their
    // spans (or whose spans were erased before) have no span to lead there.
    // The days (partitions) of each shard's records of these traces.
    const logsTouched: { node: number; replicas: number[]; days: Set<number> }[] = [];
    if (logIds.length > 0) {
      for (const replicas of shards) {
        const found = await this.ctx.onShard(replicas, async (node) => {
          const days = new Set<number>();
          for (const chunk of chunks(logIds, IDS_PER_STATEMENT)) {
            const d = await this.ctx.jsonOn<[string]>(node, sql`SELECT DISTINCT toString(intDiv(time_ns, ${NS_PER_DAY})) FROM ${ident(logsLocal)} WHERE ${where(chunk)}`);
            for (const [day] of d.data) days.add(Number(day));
          }
          return { node, replicas, days };
        });
        if (found.days.size > 0) logsTouched.push(found);
      }
    }

    const lifetime = engine.capabilities.modifyTableSettings ? (opts.partLifetimeSeconds ?? 60) : null;
    const shortened: { node: number; local: string }[] = [];
    const shorten = async (node: number, local: string) => {
      if (lifetime === null) return;
      await engine.execOn(node, sql`ALTER TABLE ${ident(local)} MODIFY SETTING old_parts_lifetime = ${lifetime}`);
      shortened.push({ node, local });
    };
    const recomputed = new Set<number>();
    try {
      if (touched.length === 0 && logsTouched.length === 0) {
        // No row left: an earlier erasure of these traces may still have
        // left replaced parts on disk (it was stopped while it waited, or
        // did not wait). Wait for those: every part of the tenant older
        // than each table's last mutation.
        if (opts.awaitRemoval !== false) {
          const last: Mutated[] = [];
          for (const replicas of shards) {
            await this.ctx.onShard(replicas, async (node) => {
              for (const local of [spansLocal, indexLocal, metricsLocal, logsLocal]) {
                const mutations = await this.mutations(node, local);
                if (mutations.length === 0) continue;
                const version = Math.max(...mutations.map((m) => m.number));
                await shorten(node, local);
                last.push({ node, replicas, local, days: null, since: version, version, partitionVersions: partitionVersions(mutations) });
              }
            });
          }
          await this.awaitRemoval(tenant, last, lifetime, opts);
        }
        return { ...before, spansLeft: 0, logRecordsLeft: 0, rollupMinutes: 0 };
      }

      // 1. Spans, trace-index rows and log records.
      const mutated: Mutated[] = [];
      for (const t of touched) {
        const tables = [
          { local: spansLocal, days: new Set(t.minutes.map((m) => Math.floor(m / MINUTES_PER_DAY))) },
          { local: indexLocal, days: t.indexDays },
        ];
        for (const { local, days } of tables) {
          if (days.size === 0) continue;
          await shorten(t.node, local);
          const since = await this.lastMutation(t.node, local);
          for (const chunk of chunks(ids, IDS_PER_STATEMENT)) await engine.execOn(t.node, sql`ALTER TABLE ${ident(local)} DELETE WHERE ${where(chunk)}`);
          mutated.push({ node: t.node, replicas: t.replicas, local, days, since, version: 0, partitionVersions: null });
        }
      }
      for (const t of logsTouched) {
        await shorten(t.node, logsLocal);
        const since = await this.lastMutation(t.node, logsLocal);
        for (const chunk of chunks(logIds, IDS_PER_STATEMENT)) await engine.execOn(t.node, sql`ALTER TABLE ${ident(logsLocal)} DELETE WHERE ${where(chunk)}`);
        mutated.push({ node: t.node, replicas: t.replicas, local: logsLocal, days: t.days, since, version: 0, partitionVersions: null });
      }
      await this.awaitMutations(mutated, 'deleting', opts);

      // 2. The rollup: the touched minutes, recomputed from the spans left.
      //    No span insert of this process may land in between, or its rollup
      //    rows would be deleted (inserted before the delete) or counted
      //    twice (after it, and again by the recompute).
      const caps = engine.capabilities;
      const columns = join(spanMetricsColumns(caps).map(ident));
      await this.ctx.writes.exclusive(async () => {
        for (const t of touched) {
          if (t.minutes.length === 0) continue;
          await shorten(t.node, metricsLocal);
          const since = await this.lastMutation(t.node, metricsLocal);
          for (const chunk of chunks(t.minutes, MINUTES_PER_STATEMENT)) await engine.execOn(t.node, sql`ALTER TABLE ${ident(metricsLocal)} DELETE WHERE tenant = ${tenant} AND minute IN (${chunk})`);
          const days = new Set(t.minutes.map((m) => Math.floor(m / MINUTES_PER_DAY)));
          const rollup: Mutated = { node: t.node, replicas: t.replicas, local: metricsLocal, days, since, version: 0, partitionVersions: null };
          await this.awaitMutations([rollup], 'rollup', opts);
          mutated.push(rollup);
          // One insert per day: one partition each.
          for (const day of days) {
            const minutes = t.minutes.filter((m) => Math.floor(m / MINUTES_PER_DAY) === day);
            const spans = sql`(SELECT tenant, start_ns, service_name, name, kind, status_code, duration_ns FROM ${ident(spansLocal)}
  WHERE tenant = ${tenant} AND start_ns >= ${BigInt(day) * NS_PER_DAY} AND start_ns < ${BigInt(day + 1) * NS_PER_DAY}
    AND intDiv(start_ns, ${NS_PER_MINUTE}) IN (${minutes}))`;
            // Never skipped as a repeat: a replicated table would drop a
            // recompute that came out the same as an earlier block.
            await engine.execOn(t.node, sql`INSERT INTO ${ident(metricsLocal)} (${columns})\n${spanMetricsSelect(spans, caps)}`, { insert_deduplicate: 0 });
          }
          for (const m of t.minutes) recomputed.add(m);
        }
      });

      // 3. The parts the mutations replaced, gone from disk.
      if (opts.awaitRemoval !== false) await this.awaitRemoval(tenant, mutated, lifetime, opts);
    } finally {
      // Back to the configured lifetime, even when the erasure failed.
      for (const { node, local } of shortened) await engine.execOn(node, sql`ALTER TABLE ${ident(local)} RESET SETTING old_parts_lifetime`).catch(() => undefined);
    }
    const after = await this.countTraces(scope, ids);
    return { ...before, spansLeft: after.spans, logRecordsLeft: after.logRecords, rollupMinutes: recomputed.size };
  }

  /**
   * The mutations of a table on a node, by number: `mutation_<n>.txt` on a
   * MergeTree that is not replicated; a replicated one numbers them in
   * ZooKeeper (`0000000003`), the same on every replica, and lists the
   * block number each took in each partition.
   */
  private async mutations(node: number, local: string): Promise<Mutation[]> {
    const res = await this.ctx.jsonOn<[string, string, number, string[], string[]]>(
      node,
      sql`SELECT mutation_id, toString(parts_to_do), is_done, block_numbers.partition_id, arrayMap(n -> toString(n), block_numbers.number)
FROM system.mutations WHERE database = currentDatabase() AND table = ${local}`,
    );
    const out: Mutation[] = [];
    for (const [id, partsToDo, done, partitions, numbers] of res.data) {
      const plain = /^mutation_(\d+)\.txt$/.exec(id);
      const replicated = this.ctx.layout.replicated ? /^(\d+)$/.exec(id) : null;
      const m = plain ?? replicated;
      if (!m) continue;
      const blocks = replicated ? new Map(partitions.map((p, i) => [p, Number(numbers[i])])) : null;
      out.push({ number: Number(m[1]), partsToDo: Number(partsToDo), done: Number(done) === 1, blocks });
    }
    return out;
  }

  /** The highest mutation number of a table so far; -1 for none (replicated tables number theirs from 0). */
  private async lastMutation(node: number, local: string): Promise<number> {
    return Math.max(-1, ...(await this.mutations(node, local)).map((m) => m.number));
  }

  /**
   * Waits until every mutation after `since` is done, on every replica
   * (each rewrites its own parts; one that cannot be reached counts as not
   * done), and records the last one's number.
   */
  private async awaitMutations(tables: Mutated[], phase: 'deleting' | 'rollup', opts: ErasureOptions): Promise<void> {
    const started = Date.now();
    for (;;) {
      opts.signal?.throwIfAborted();
      let partsLeft = 0;
      let pending = false;
      for (const t of tables) {
        const ours = (await this.mutations(t.node, t.local)).filter((m) => m.number > t.since);
        if (ours.length === 0) {
          // A replicated table lists a mutation once the replica has read
          // it back from ZooKeeper, a moment after the ALTER returned.
          if (this.ctx.layout.replicated && Date.now() - started < MUTATION_LISTED_WITHIN_MS) {
            pending = true;
            continue;
          }
          throw new Error(`the engine lists no mutation of ${t.local} on node ${t.node} after the erasure's`);
        }
        t.version = Math.max(...ours.map((m) => m.number));
        t.partitionVersions = partitionVersions(ours);
        for (const node of t.replicas) {
          let onNode: Mutation[];
          try {
            onNode = node === t.node ? ours : (await this.mutations(node, t.local)).filter((m) => m.number > t.since);
          } catch (e) {
            if (!(e instanceof EngineError && e.connection)) throw e;
            pending = true;
            continue;
          }
          // A replica that has not read the mutations from ZooKeeper yet lists fewer.
          if (onNode.length < ours.length) pending = true;
          for (const m of onNode) {
            if (m.done) continue;
            pending = true;
            partsLeft += m.partsToDo;
          }
        }
      }
      opts.onProgress?.({ phase, partsLeft });
      if (!pending) return;
      await sleep(POLL_MS);
    }
  }

  /**
   * Waits until no part of the touched partitions (active or not) predates
   * the mutations: the parts they replaced, and parts that merges had
   * replaced before, all of which may hold erased rows, are then gone from
   * disk. Fails past twice the parts' lifetime and ten minutes.
   */
  private async awaitRemoval(tenant: string, tables: Mutated[], lifetime: number | null, opts: ErasureOptions): Promise<void> {
    const seconds = lifetime ?? (await this.configuredLifetime());
    const started = Date.now();
    const deadline = started + (2 * seconds + 600) * 1000;
    let nudged = 0;
    for (;;) {
      opts.signal?.throwIfAborted();
      // An engine that keeps replaced parts removes them when a partition
      // command runs on the table: drop a partition that cannot exist (our
      // partition ids are hex hashes) once the parts' lifetime has passed,
      // and again every few seconds. Not more often: it stops the table's
      // merges while it runs, and not on other engines: their cleanup runs.
      const now = Date.now();
      if (this.ctx.engine.capabilities.outdatedPartsKept && now >= started + seconds * 1000 + 1000 && now >= nudged + 5000) {
        nudged = now;
        for (const t of tables) await this.ctx.engine.execOn(t.node, sql`ALTER TABLE ${ident(t.local)} DROP PARTITION ID ${NO_PARTITION}`);
      }
      let partsLeft = 0;
      const stale: string[] = [];
      for (const t of tables) {
        // Every replica's disk: each holds its own copies of the parts.
        for (const node of t.replicas) {
          let parts;
          try {
            parts = await this.ctx.jsonOn<[string, string, string, string, string, string]>(
              node,
              sql`SELECT name, partition, partition_id, toString(min_block_number), toString(max_block_number), toString(level) FROM system.parts WHERE database = currentDatabase() AND table = ${t.local}`,
            );
          } catch (e) {
            if (!(e instanceof EngineError && e.connection)) throw e;
            partsLeft++;
            stale.push(`${t.local} on node ${node} (not reachable)`);
            continue;
          }
          for (const [name, partition, partitionId, min, max, level] of parts.data) {
            const p = parseTenantDayPartition(partition);
            if (!p || p.tenant !== tenant || (t.days !== null && !t.days.has(p.day))) continue;
            const version = t.partitionVersions ? t.partitionVersions.get(partitionId) : t.version;
            if (version === undefined || dataVersion(name, min, max, level) >= version) continue;
            partsLeft++;
            stale.push(`${t.local}/${name}`);
          }
        }
      }
      opts.onProgress?.({ phase: 'removing', partsLeft });
      if (partsLeft === 0) return;
      if (Date.now() > deadline)
        throw new Error(`${partsLeft} replaced parts are still on disk ${2 * seconds + 600} s after their erasure (old_parts_lifetime ${seconds} s): ${stale.slice(0, 5).join(', ')}`);
      await sleep(POLL_MS);
    }
  }

  /** The server's `old_parts_lifetime` in seconds (the longest over the nodes that answer). */
  private async configuredLifetime(): Promise<number> {
    let seconds = 0;
    for (let node = 0; node < this.ctx.engine.nodes; node++) {
      let res;
      try {
        res = await this.ctx.jsonOn<[string]>(node, sql`SELECT value FROM system.merge_tree_settings WHERE name = 'old_parts_lifetime'`);
      } catch (e) {
        if (e instanceof EngineError && e.connection) continue;
        throw e;
      }
      seconds = Math.max(seconds, Number(res.data[0]?.[0] ?? 480) || 480);
    }
    return seconds || 480;
  }
}

/** Replicated mutations' block numbers: per partition, the highest; null when they carry none (not replicated). */
function partitionVersions(mutations: readonly Mutation[]): Map<string, number> | null {
  let out: Map<string, number> | null = null;
  for (const m of mutations) {
    if (!m.blocks) continue;
    out ??= new Map();
    for (const [partition, block] of m.blocks) out.set(partition, Math.max(out.get(partition) ?? 0, block));
  }
  return out;
}

/**
 * The data version of a part from its name, `<partition>_<min>_<max>_<level>`
 * with `_<mutation>` after it once a mutation rewrote it: the mutation
 * number, else the first block number.
 */
export function dataVersion(name: string, min: string, max: string, level: string): number {
  if (name.endsWith(`_${min}_${max}_${level}`)) return Number(min);
  const m = /_(\d+)$/.exec(name);
  return m ? Number(m[1]) : Number(min);
}

/** Trace ids whose log records an erasure takes: not the all-zero id that untied records carry. */
function withoutNoTrace(ids: readonly Buffer[]): Buffer[] {
  return ids.filter((id) => !id.equals(NO_TRACE));
}

function unique(ids: readonly Buffer[]): Buffer[] {
  const seen = new Map<string, Buffer>();
  for (const id of ids) seen.set(id.toString('hex'), id);
  return [...seen.values()];
}

function chunks<T>(xs: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

