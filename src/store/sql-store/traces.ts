import { RESOURCE_COLUMN_NAMES, SPAN_COLUMN_NAMES } from '../../model/span-batch.js';
import { RowBinaryReader, readResourceRecords, readSpanRecords, type ResourceRecord } from '../../model/row-binary.js';
import type { SpanRecord } from '../../model/span-record.js';
import type { TracePort } from '../ports.js';
import type { TimeRange } from '../request.js';
import { TABLES, localName } from '../schema.js';
import type { TenantScope } from '../tenant.js';
import { sql, join, ident, type Sql } from '../sql/sql.js';
import { T, tenantIn } from '../sql/tables.js';
import { SINGLE_THREAD, type StoreContext } from './context.js';

const ALL_COLUMNS = join(SPAN_COLUMN_NAMES.map(ident));

/** Traces by id: the trace index says where the spans are, then only those granules are read. */
export class TraceReads implements TracePort {
  /**
   * (resource, scope) rows by id. An id is a hash of the row's content, so
   * a cached entry can never be stale, and equal ids in two tenants are
   * equal rows; the bound only limits memory.
   */
  private readonly resourceCache = new Map<string, ResourceRecord>();
  /** On a cluster: the engine node of each shard, learned once. */
  private shardNodes: Promise<number[] | null> | null = null;

  constructor(private readonly ctx: StoreContext) {}

  async getTrace(scope: TenantScope, traceId: Buffer, range?: TimeRange): Promise<SpanRecord[]> {
    const within = range ? sql` AND end_max >= ${range.startNs} AND start_min < ${range.endNs}` : sql``;
    const { node, spansTable, indexTable } = await this.traceRoute(traceId);
    const read = (statement: Sql) => (node === undefined ? this.ctx.engine.query(statement, 'RowBinary') : this.ctx.engine.queryOn(node, statement, 'RowBinary'));
    // The index rows themselves (one per insert that held the trace),
    // combined here: an aggregation in the engine cost a millisecond more.
    const index = await read(
      sql`SELECT start_min, start_max, services FROM ${indexTable} WHERE ${tenantIn(scope)} AND trace_id = ${traceId}${within} SETTINGS ${SINGLE_THREAD}`,
    );
    if (index.length === 0) return [];
    const r = new RowBinaryReader(index);
    let startMin = -1n;
    let startMax = 0n;
    const services = new Set<string>();
    while (!r.done) {
      const min = r.u64();
      const max = r.u64();
      for (let n = r.varint(); n > 0; n--) services.add(r.string());
      if (startMin < 0n || min < startMin) startMin = min;
      if (max > startMax) startMax = max;
    }
    // The sort key is (tenant, service, hour, trace id): naming the services
    // and the time range lets the engine read only the granules of this
    // trace, one place per service. One query: on 2 cores, splitting the
    // services over two sessions was no faster and paid the per-query cost twice.
    // Across the tenants of a scope, one span id and start is one span, as
    // Tempo combines a cross-tenant trace.
    const out = await read(
      sql`SELECT ${ALL_COLUMNS} FROM ${spansTable}
WHERE ${tenantIn(scope)} AND service_name IN (${[...services]}) AND start_ns >= ${startMin} AND start_ns <= ${startMax} AND trace_id = ${traceId}
LIMIT 1 BY span_id, start_ns
SETTINGS ${SINGLE_THREAD}`,
    );
    // In start order (then span id): the same answer whatever order the engine read the rows in.
    const spans = readSpanRecords(out).sort((a, b) => (a.startNs < b.startNs ? -1 : a.startNs > b.startNs ? 1 : Buffer.compare(a.spanId, b.spanId)));
    const byId = await this.resources(scope, spans.map((s) => s.resourceId));
    for (const s of spans) {
      const r = byId.get(s.resourceId.toString('hex'));
      // A resource row still in flight to the store: the span's own copy of
      // service.name is all we can say.
      if (r) {
        s.resource = r.resource;
        s.scope = r.scope;
      } else s.resource = { attributes: [{ key: 'service.name', value: { stringValue: s.serviceName } }], dropped: 0, schemaUrl: '' };
    }
    return spans;
  }

  /**
   * Where a trace's rows are. On a cluster a trace lives on one shard (the
   * tables are sharded by trace id), so read that shard's local tables
   * directly instead of fanning out through the Distributed ones. Not on
   * a replicated cluster: there the Distributed tables pick a replica of
   * the shard that answers, and the one the inserts went to.
   */
  private async traceRoute(traceId: Buffer): Promise<{ node?: number; spansTable: Sql; indexTable: Sql }> {
    const everywhere = { spansTable: T.spans, indexTable: T.traceIndex };
    const { layout, engine } = this.ctx;
    if (!layout.cluster || layout.replicated) return everywhere;
    this.shardNodes ??= this.mapShards().catch(() => null);
    const nodes = await this.shardNodes;
    if (!nodes) return everywhere;
    // The Distributed engine's own choice: the sharding key modulo the number of (equal-weight) shards.
    const out = await engine.query(sql`SELECT cityHash64(${traceId}) % ${nodes.length}`, 'TabSeparated');
    const node = nodes[Number(out.toString().trim())];
    if (node === undefined) return everywhere;
    return { node, spansTable: ident(localName(TABLES.spans, layout)), indexTable: ident(localName(TABLES.traceIndex, layout)) };
  }

  /** The node serving each shard, in shard order; null when that is not one-to-one with equal weights. */
  private async mapShards(): Promise<number[] | null> {
    const { layout, engine } = this.ctx;
    const byShard: number[] = [];
    let shards = 0;
    for (let node = 0; node < engine.nodes; node++) {
      const res = await this.ctx.jsonOn<[number, number, number]>(
        node,
        sql`SELECT shard_num, (SELECT count(DISTINCT shard_num) FROM system.clusters WHERE cluster = ${layout.cluster!}),
  (SELECT countIf(shard_weight != 1) FROM system.clusters WHERE cluster = ${layout.cluster!})
FROM system.clusters WHERE cluster = ${layout.cluster!} AND is_local = 1 LIMIT 1`,
      );
      const row = res.data[0];
      if (!row || Number(row[2]) > 0) return null;
      shards = Number(row[1]);
      byShard[Number(row[0]) - 1] = node;
    }
    if (shards !== byShard.length || byShard.some((n) => n === undefined)) return null;
    return byShard;
  }

  /** (resource, scope) rows by id (hex), from the cache or the table. */
  private async resources(scope: TenantScope, ids: Buffer[]): Promise<Map<string, ResourceRecord>> {
    const out = new Map<string, ResourceRecord>();
    const missing = new Map<string, Buffer>();
    for (const id of ids) {
      const key = id.toString('hex');
      const hit = this.resourceCache.get(key);
      if (hit) out.set(key, hit);
      else missing.set(key, id);
    }
    if (missing.size === 0) return out;
    const rows = readResourceRecords(
      await this.ctx.rowBinary(
        sql`SELECT ${join(RESOURCE_COLUMN_NAMES.map(ident))} FROM ${T.resources} WHERE ${tenantIn(scope)} AND resource_id IN (${[...missing.values()]}) LIMIT 1 BY resource_id SETTINGS ${SINGLE_THREAD}`,
      ),
    );
    if (this.resourceCache.size > 50_000) this.resourceCache.clear();
    for (const r of rows) {
      const key = r.resourceId.toString('hex');
      this.resourceCache.set(key, r);
      out.set(key, r);
    }
    return out;
  }
}
