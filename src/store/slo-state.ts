import type { TenantScope } from './tenant.js';

/**
 * Where SLO alerting keeps its state (src/slo): alert events, their
 * deliveries to receivers and every attempt, and the leases that decide
 * which process evaluates an SLO. Writes name one tenant: the scope must
 * hold exactly one. Reads see only the scope's tenants.
 */

export type SloEventStatus = 'firing' | 'resolved';

export interface SloEventRow {
  tenant: string;
  slo: string;
  /** Idempotency key: the same event recorded twice is kept once. */
  eventId: string;
  status: SloEventStatus;
  /** When the alert began; a resolved event repeats its firing's. */
  alertStartMs: number;
  timeMs: number;
  /** The notification as built when the event was recorded (JSON). */
  body: string;
}

export type SloDeliveryState = 'pending' | 'delivered' | 'failed';

export interface SloDeliveryRow {
  tenant: string;
  slo: string;
  eventId: string;
  receiver: string;
  state: SloDeliveryState;
  attempts: number;
  /** Earliest time of the next attempt (backoff). */
  nextMs: number;
  timeMs: number;
}

export interface SloAttemptRow {
  tenant: string;
  slo: string;
  eventId: string;
  receiver: string;
  attempt: number;
  timeMs: number;
  /** The receiver's HTTP status; 0 when none came (refused, timed out). */
  statusCode: number;
  /** '' on an answer; otherwise what went wrong, without the URL. */
  error: string;
}

export interface SloLeaseClaim {
  term: number;
  owner: string;
  expiresMs: number;
  writtenMs: number;
}

export interface SloStatePort {
  /** The intent: an event and a pending delivery per receiver, before anything is sent. */
  recordEvent(scope: TenantScope, event: Omit<SloEventRow, 'tenant'>, receivers: readonly string[]): Promise<void>;
  /** A delivery's new state; the latest written wins. */
  updateDelivery(scope: TenantScope, d: Omit<SloDeliveryRow, 'tenant'>): Promise<void>;
  recordAttempt(scope: TenantScope, a: Omit<SloAttemptRow, 'tenant'>): Promise<void>;
  /** Events of the scope's tenants, newest first; of one SLO when `slo` is given. */
  events(scope: TenantScope, q: { slo?: string; limit: number }): Promise<SloEventRow[]>;
  /** Each delivery's latest state, oldest event first. */
  deliveries(scope: TenantScope, q: { slo?: string; state?: SloDeliveryState }): Promise<SloDeliveryRow[]>;
  /** Attempts, newest first. */
  attempts(scope: TenantScope, q: { slo?: string; limit: number }): Promise<SloAttemptRow[]>;
  /** Every claim of an SLO's highest term, and of the term before it. */
  leaseClaims(scope: TenantScope, slo: string): Promise<SloLeaseClaim[]>;
  claimLease(scope: TenantScope, slo: string, claim: SloLeaseClaim): Promise<void>;
}
