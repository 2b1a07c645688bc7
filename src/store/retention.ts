import type { Logger } from 'pino';
import type { Store } from './types.js';

const HOUR_MS = 3_600_000;

/**
 * Drops whole day partitions once they are older than the retention, at
 * start and then hourly. A partition goes only when its whole day is past
 * the cutoff, so spans live for the retention and at most one day more.
 */
export class RetentionScheduler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly store: Store,
    private readonly retentionMs: number,
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

  /** Runs one pass now. */
  async runOnce(nowMs = Date.now()): Promise<number> {
    const cutoffNs = BigInt(nowMs - this.retentionMs) * 1_000_000n;
    const { dropped } = await this.store.dropExpired(cutoffNs);
    if (dropped.length > 0) this.log.info({ dropped }, 'dropped partitions past retention');
    return dropped.length;
  }

  private schedule(delay: number): void {
    this.timer = setTimeout(() => {
      this.running = this.runOnce()
        .then(() => undefined)
        .catch((e) => this.log.error({ err: e }, 'retention pass failed'))
        .finally(() => {
          this.running = null;
          if (this.timer) this.schedule(this.intervalMs);
        });
    }, delay);
    this.timer.unref();
  }
}
