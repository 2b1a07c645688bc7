import type { SloAttemptRow, SloDeliveryRow, SloDeliveryState, SloEventRow, SloEventStatus, SloLeaseClaim, SloStatePort } from '../slo-state.js';
import { TABLES } from '../schema.js';
import type { TenantScope } from '../tenant.js';
import { ident, join, sql, type Sql } from '../sql/sql.js';
import { tenantIn } from '../sql/tables.js';
import type { StoreContext } from './context.js';

const EVENTS = ident(TABLES.sloEvents);
const DELIVERIES = ident(TABLES.sloDeliveries);
const ATTEMPTS = ident(TABLES.sloAttempts);
const LEASES = ident(TABLES.sloLeases);

/** SLO alert state in four small tables (schema.ts, createSloTables). */
export class SloState implements SloStatePort {
  /** Strictly increasing versions for this process's delivery rows. */
  private lastVersion = 0;

  constructor(private readonly ctx: StoreContext) {}

  private tenantOf(scope: TenantScope): string {
    if (scope.tenants.length !== 1) throw new Error('SLO state is written for exactly one tenant');
    return scope.tenants[0];
  }

  private version(): number {
    this.lastVersion = Math.max(Date.now() * 1000, this.lastVersion + 1);
    return this.lastVersion;
  }

  async recordEvent(scope: TenantScope, e: Omit<SloEventRow, 'tenant'>, receivers: readonly string[]): Promise<void> {
    const tenant = this.tenantOf(scope);
    // Deliveries first: an event row without them would never be sent, while
    // deliveries without their event are read as not yet recorded (a retry writes both again).
    await this.ctx.engine.insertRows(
      TABLES.sloDeliveries,
      receivers.map((receiver) => ({ tenant, slo: e.slo, event_id: e.eventId, receiver, state: 'pending', attempts: 0, next_ms: e.timeMs, time_ms: e.timeMs, version: this.version() })),
    );
    await this.ctx.engine.insertRows(TABLES.sloEvents, [{ tenant, slo: e.slo, event_id: e.eventId, status: e.status, alert_start_ms: e.alertStartMs, time_ms: e.timeMs, body: e.body }]);
  }

  async updateDelivery(scope: TenantScope, d: Omit<SloDeliveryRow, 'tenant'>): Promise<void> {
    await this.ctx.engine.insertRows(TABLES.sloDeliveries, [
      { tenant: this.tenantOf(scope), slo: d.slo, event_id: d.eventId, receiver: d.receiver, state: d.state, attempts: d.attempts, next_ms: d.nextMs, time_ms: d.timeMs, version: this.version() },
    ]);
  }

  async recordAttempt(scope: TenantScope, a: Omit<SloAttemptRow, 'tenant'>): Promise<void> {
    await this.ctx.engine.insertRows(TABLES.sloAttempts, [
      { tenant: this.tenantOf(scope), slo: a.slo, event_id: a.eventId, receiver: a.receiver, attempt: a.attempt, time_ms: a.timeMs, status_code: a.statusCode, error: a.error },
    ]);
  }

  async events(scope: TenantScope, q: { slo?: string; limit: number }): Promise<SloEventRow[]> {
    const res = await this.ctx.json<[string, string, string, string, string, string, string]>(
      sql`SELECT tenant, slo, event_id, status, toString(alert_start_ms), toString(time_ms), body FROM ${EVENTS} WHERE ${where(scope, q.slo)}
ORDER BY time_ms DESC, event_id LIMIT 1 BY tenant, slo, event_id LIMIT ${q.limit}`,
    );
    return res.data.map(([tenant, slo, eventId, status, start, time, body]) => ({ tenant, slo, eventId, status: status as SloEventStatus, alertStartMs: Number(start), timeMs: Number(time), body }));
  }

  async deliveries(scope: TenantScope, q: { slo?: string; state?: SloDeliveryState }): Promise<SloDeliveryRow[]> {
    const res = await this.ctx.json<[string, string, string, string, string, number, string, string]>(
      sql`SELECT tenant, slo, event_id, receiver, state, attempts, toString(next_ms), toString(time_ms) FROM (
  SELECT tenant, slo, event_id, receiver, state, attempts, next_ms, time_ms FROM ${DELIVERIES} WHERE ${where(scope, q.slo)}
  ORDER BY version DESC LIMIT 1 BY tenant, slo, event_id, receiver
)${q.state ? sql` WHERE state = ${q.state}` : sql``}
ORDER BY time_ms, event_id, receiver`,
    );
    return res.data.map(([tenant, slo, eventId, receiver, state, attempts, next, time]) => ({ tenant, slo, eventId, receiver, state: state as SloDeliveryState, attempts: Number(attempts), nextMs: Number(next), timeMs: Number(time) }));
  }

  async attempts(scope: TenantScope, q: { slo?: string; limit: number }): Promise<SloAttemptRow[]> {
    const res = await this.ctx.json<[string, string, string, string, number, string, number, string]>(
      sql`SELECT tenant, slo, event_id, receiver, attempt, toString(time_ms), status_code, error FROM ${ATTEMPTS} WHERE ${where(scope, q.slo)} ORDER BY time_ms DESC LIMIT ${q.limit}`,
    );
    return res.data.map(([tenant, slo, eventId, receiver, attempt, time, statusCode, error]) => ({ tenant, slo, eventId, receiver, attempt: Number(attempt), timeMs: Number(time), statusCode: Number(statusCode), error }));
  }

  async leaseClaims(scope: TenantScope, slo: string): Promise<SloLeaseClaim[]> {
    const base = where(scope, slo);
    const res = await this.ctx.json<[string, string, string, string]>(
      sql`SELECT toString(term), owner, toString(expires_ms), toString(written_ms) FROM ${LEASES}
WHERE ${base} AND term + 1 >= (SELECT max(term) FROM ${LEASES} WHERE ${base})
ORDER BY term DESC, written_ms DESC`,
    );
    return res.data.map(([term, owner, expires, written]) => ({ term: Number(term), owner, expiresMs: Number(expires), writtenMs: Number(written) }));
  }

  async claimLease(scope: TenantScope, slo: string, c: SloLeaseClaim): Promise<void> {
    await this.ctx.engine.insertRows(TABLES.sloLeases, [{ tenant: this.tenantOf(scope), slo, term: c.term, owner: c.owner, expires_ms: c.expiresMs, written_ms: c.writtenMs }]);
  }
}

function where(scope: TenantScope, slo: string | undefined): Sql {
  return slo === undefined ? tenantIn(scope) : join([tenantIn(scope), sql`slo = ${slo}`], ' AND ');
}
