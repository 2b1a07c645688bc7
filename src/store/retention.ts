import type { Logger } from 'pino';
import type { MaintenancePort, RetentionPolicy } from './ports.js';

const HOUR_MS = 3_600_000;

/** How long spans are kept: a default, and per-tenant exceptions. */
export interface TenantRetention {
  defaultMs: number;
  /** Tenant id -> retention in ms. */
  perTenantMs: ReadonlyMap<string, number>;
}

/**
 * Drops whole (tenant, day) partitions once they are older than the
 * tenant's retention, at start and then hourly. A partition goes only when
 * its whole day is past the cutoff, so spans live for the retention and at
 * most one day more.
 */
export class RetentionScheduler {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: Pick<MaintenancePort, 'dropExpired'>,
    private readonly retention: TenantRetention,
    private readonly log: Logger,
    private readonly intervalMs = HOUR_MS,
  ) {}

  start(): void {
    this.schedule(0);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** The cutoffs at a moment. */
  policy(nowMs = Date.now()): RetentionPolicy {
    const { defaultMs, perTenantMs } = this.retention;
    return { cutoffNs: (tenant) => BigInt(nowMs - (perTenantMs.get(tenant) ?? defaultMs)) * 1_000_000n };
  }

  /** Runs one pass now; returns how many partitions went. */
  async runOnce(nowMs = Date.now()): Promise<number> {
    const { dropped } = await this.store.dropExpired(this.policy(nowMs));
    if (dropped.length > 0) this.log.info({ dropped }, 'dropped partitions past retention');
    return dropped.length;
  }

  private schedule(delay: number): void {
    this.timer = setTimeout(() => {
      this.runOnce()
        .catch((e) => this.log.error({ err: e }, 'retention pass failed'))
        .finally(() => {
          if (this.timer) this.schedule(this.intervalMs);
        });
    }, delay);
    this.timer.unref();
  }
}
