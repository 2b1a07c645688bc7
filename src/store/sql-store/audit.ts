import type { AuditPort, AuditQuery, AuditRecord } from '../ports.js';
import { TABLES } from '../schema.js';
import type { TenantScope } from '../tenant.js';
import { sql, join } from '../sql/sql.js';
import { T } from '../sql/tables.js';
import type { StoreContext } from './context.js';

const COLUMNS = sql`chain, toString(seq), toString(time_ms), prev, hash, identity, tenants, remote, action, detail, toString(status), toString(results)`;
type Row = [string, string, string, string, string, string, string[], string, string, string, string, string];

/** The audit table: appended to, read by admins, verified whole. */
export class AuditStore implements AuditPort {
  constructor(private readonly ctx: StoreContext) {}

  async writeAudit(records: readonly AuditRecord[]): Promise<void> {
    await this.ctx.engine.insertRows(
      TABLES.audit,
      records.map((r) => ({
        chain: r.chain,
        seq: r.seq,
        time_ms: r.time,
        prev: r.prev,
        hash: r.hash,
        identity: r.identity,
        tenants: r.tenants,
        remote: r.remote,
        action: r.action,
        detail: JSON.stringify(r.detail),
        status: r.status,
        results: r.results,
      })),
    );
  }

  async readAudit(scope: TenantScope, q: AuditQuery): Promise<AuditRecord[]> {
    const where = [sql`time_ms >= ${q.startMs} AND time_ms < ${q.endMs}`, sql`hasAny(tenants, [${scope.tenants}])`];
    if (q.identity !== undefined) where.push(sql`identity = ${q.identity}`);
    if (q.action !== undefined) where.push(sql`action = ${q.action}`);
    const res = await this.ctx.json<Row>(sql`SELECT ${COLUMNS} FROM ${T.audit} WHERE ${join(where, ' AND ')} ORDER BY time_ms DESC, chain, seq DESC LIMIT 1 BY chain, seq LIMIT ${q.limit}`);
    return res.data.map(toRecord);
  }

  async allAudit(): Promise<AuditRecord[]> {
    const res = await this.ctx.json<Row>(sql`SELECT ${COLUMNS} FROM ${T.audit} ORDER BY chain, seq`);
    return res.data.map(toRecord);
  }
}

function toRecord([chain, seq, time, prev, hash, identity, tenants, remote, action, detail, status, results]: Row): AuditRecord {
  return { chain, seq: Number(seq), time: Number(time), prev, hash, identity, tenants, remote, action, detail: JSON.parse(detail) as AuditRecord['detail'], status: Number(status), results: Number(results) };
}
