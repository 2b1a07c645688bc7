import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { SightlineError } from '../errors.js';
import type { SegmentStore, WriteOutcome } from './store-port.js';
import { Wal, WalBrokenError, WalFullError, type Segment } from './wal.js';

export interface IngestorOptions {
  walDir: string;
  store: SegmentStore;
  log: Logger;
  /**
   * Bytes the WAL may hold that the store has not taken yet. Past it,
   * ingest is refused with "overloaded" until the store catches up.
   */
  backlogBudgetBytes: number;
  /** Longest a span waits in the WAL before an insert is started. */
  flushIntervalMs: number;
  /** Rotate WAL segments at this size. */
  segmentBytes: number;
}

/**
 * A request body's share of the ingest budget, taken as its bytes arrive
 * and given back once the request is answered or abandoned.
 */
export interface BudgetReservation {
  /**
   * Takes `bytes` more. Throws OverloadedError (taking nothing) when that
   * would pass the budget, and UnavailableError when ingest cannot take
   * writes at all. Does nothing after {@link release}.
   */
  take(bytes: number): void;
  /** Gives back all that was taken; later calls do nothing. */
  release(): void;
}

/** Ingest is refused until the store catches up; retry after `retryAfterSeconds`. */
export class OverloadedError extends SightlineError {
  override readonly name = 'OverloadedError';
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super('OVERLOADED', message);
  }
}

/** Ingest cannot be made durable at all (the WAL failed, or we are stopping). */
export class UnavailableError extends SightlineError {
  override readonly name = 'UnavailableError';
  readonly retryAfterSeconds = 5;
  constructor(message: string) {
    super('UNAVAILABLE', message);
  }
}

export interface IngestStats {
  acceptedSpans: number;
  storedSpans: number;
  storeInserts: number;
  storeErrors: number;
  /** Spans set aside because the store refused their data as invalid. */
  quarantinedSpans: number;
  overloadRefusals: number;
  /** Requests refused (503) because the disk holding the WAL was full; nothing of them was kept. */
  diskFullRefusals: number;
  backlogBytes: number;
  replayedSegments: number;
  /** Log records acknowledged (in the logs WAL), stored, and set aside as spans are (quarantinedSpans). */
  acceptedLogs: number;
  storedLogs: number;
  quarantinedLogs: number;
}

/**
 * The durable half of ingest: decoded span blocks go into the WAL (group
 * commit, fsync before success), and one writer moves sealed segments into
 * the store, oldest first.
 */
export class Ingestor {
  private readonly stats: IngestStats = {
    acceptedSpans: 0,
    storedSpans: 0,
    storeInserts: 0,
    storeErrors: 0,
    quarantinedSpans: 0,
    overloadRefusals: 0,
    diskFullRefusals: 0,
    backlogBytes: 0,
    replayedSegments: 0,
    acceptedLogs: 0,
    storedLogs: 0,
    quarantinedLogs: 0,
  };
  private stopping = false;
  /** Set by stop(): both WALs sealed and closed. */
  private walsClosed: Promise<void> | undefined;
  private writer: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private lastInsertAt = Date.now();
  private lastLogInsertAt = Date.now();
  /** Bytes of request bodies being received or decoded right now. */
  private receivingBytes = 0;
  /** The newest span segment stored or quarantined (the writer takes them in order). */
  private storedThrough = 0;
  /** The same for log segments, which have their own WAL and numbering. */
  private logsStoredThrough = 0;
  private drainWaiters: { seq: number; logSeq: number; resolve: () => void; reject: (e: Error) => void }[] = [];

  private constructor(
    /** Span rows. */
    private readonly wal: Wal,
    /** Resource rows, for resources first seen since the last start or day. */
    private readonly resourceWal: Wal,
    /**
     * Log record rows. A WAL of their own rather than a record type in the
     * span WAL: a segment is exactly the Native file the store inserts into
     * one table, so each table's rows need segments of their own; and the
     * WAL's group commit, recovery and quarantine then serve logs unchanged.
     */
    private readonly logWal: Wal,
    private readonly recovered: { spans: Segment[]; resources: Segment[]; logs: Segment[] },
    private readonly opts: IngestorOptions,
  ) {}

  static async open(opts: IngestorOptions): Promise<Ingestor> {
    const spans = await Wal.open({ dir: opts.walDir, segmentBytes: opts.segmentBytes });
    const resources = await Wal.open({ dir: path.join(opts.walDir, 'resources'), segmentBytes: opts.segmentBytes });
    const logs = await Wal.open({ dir: path.join(opts.walDir, 'logs'), segmentBytes: opts.segmentBytes });
    const segments = spans.recovery.segments;
    const logSegments = logs.recovery.segments;
    if (segments.length > 0 || spans.recovery.truncatedBytes > 0 || logSegments.length > 0 || logs.recovery.truncatedBytes > 0) {
      opts.log.info(
        {
          segments: segments.length + logSegments.length,
          spans: segments.reduce((n, s) => n + s.rows, 0),
          resources: resources.recovery.segments.reduce((n, s) => n + s.rows, 0),
          logs: logSegments.reduce((n, s) => n + s.rows, 0),
          tornBytes: spans.recovery.truncatedBytes + resources.recovery.truncatedBytes + logs.recovery.truncatedBytes,
        },
        'WAL holds segments from the last run; replaying them',
      );
    }
    return new Ingestor(spans.wal, resources.wal, logs.wal, { spans: segments, resources: resources.recovery.segments, logs: logSegments }, opts);
  }

  /** Starts moving WAL segments into the store: recovered ones first. */
  start(): void {
    this.wal.onSealed(() => this.wake?.());
    this.logWal.onSealed(() => this.wake?.());
    this.writer = this.writeLoop().finally(() => {
      for (const w of this.drainWaiters.splice(0)) w.reject(new UnavailableError('ingest stopped before the WAL was stored'));
    });
  }

  /**
   * Resolves once every span and log record acknowledged before the call is
   * in the store (or, refused by it as invalid, in quarantine); those
   * acknowledged after the call may or may not be. Erasure waits for this,
   * so that it covers spans and log records still in the WALs. Rejects with
   * UnavailableError if ingest stops first, a WAL fails, or the store has
   * not taken them in `timeoutMs`.
   */
  async drain(timeoutMs = 60_000): Promise<void> {
    if (this.stopping || !this.writer) throw new UnavailableError('ingest is not running');
    try {
      // Acknowledged appends are synced already; this puts them in sealed segments.
      await this.wal.sealActive();
      await this.logWal.sealActive();
    } catch (e) {
      throw new UnavailableError(`the WAL cannot be sealed: ${(e as Error).message}`);
    }
    const seq = this.wal.sealedThrough;
    const logSeq = this.logWal.sealedThrough;
    if (this.storedThrough >= seq && this.logsStoredThrough >= logSeq) return;
    await new Promise<void>((resolve, reject) => {
      const waiter = {
        seq,
        logSeq,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        this.drainWaiters = this.drainWaiters.filter((w) => w !== waiter);
        reject(new UnavailableError(`the store has not taken the spans and log records in the WAL within ${Math.round(timeoutMs / 1000)} s; try again later`));
      }, timeoutMs);
      this.drainWaiters.push(waiter);
      this.wake?.();
    });
  }

  /** A span or log segment is stored or quarantined: wake the drains it completes. */
  private segmentDone(kind: 'spans' | 'logs', seq: number): void {
    if (kind === 'spans' && seq > this.storedThrough) this.storedThrough = seq;
    if (kind === 'logs' && seq > this.logsStoredThrough) this.logsStoredThrough = seq;
    const isDone = (w: { seq: number; logSeq: number }) => w.seq <= this.storedThrough && w.logSeq <= this.logsStoredThrough;
    const done = this.drainWaiters.filter(isDone);
    if (done.length === 0) return;
    this.drainWaiters = this.drainWaiters.filter((w) => !isDone(w));
    for (const w of done) w.resolve();
  }

  private get backlogBytes(): number {
    return this.wal.backlogBytes + this.resourceWal.backlogBytes + this.logWal.backlogBytes;
  }

  private get walFailure(): Error | null {
    return this.wal.failure ?? this.resourceWal.failure ?? this.logWal.failure;
  }

  /**
   * Throws OverloadedError when the store is too far behind. Receivers call
   * this before decoding, so refused requests cost almost nothing.
   */
  checkCapacity(incomingBytes = 0): void {
    if (this.stopping) throw new UnavailableError('Sightline is shutting down');
    const failure = this.walFailure;
    if (failure) throw new UnavailableError(`the WAL cannot take writes: ${failure.message}`);
    const used = this.backlogBytes + this.receivingBytes;
    if (used + incomingBytes > this.opts.backlogBudgetBytes) {
      this.stats.overloadRefusals++;
      throw new OverloadedError(
        `ingest backlog is over its budget (${used} of ${this.opts.backlogBudgetBytes} bytes received or waiting for the store)`,
        2,
      );
    }
  }

  /**
   * Admits a request whose body is about to be received: refuses it now
   * (OverloadedError, UnavailableError) if ingest is past its budget already,
   * and otherwise returns its share of the budget, which grows as the body's
   * bytes arrive (see {@link BudgetReservation}). The body's declared
   * length is not charged: a client that declares 16 MiB and sends one byte
   * holds one byte of the budget, not 16 MiB, so a few such clients cannot
   * refuse everyone else.
   */
  reserve(): BudgetReservation {
    this.checkCapacity(0);
    let held = 0;
    let released = false;
    return {
      take: (bytes) => {
        if (released) return;
        this.checkCapacity(bytes);
        this.receivingBytes += bytes;
        held += bytes;
      },
      release: () => {
        if (released) return;
        released = true;
        this.receivingBytes -= held;
        held = 0;
      },
    };
  }

  /**
   * Makes a Native block of span rows durable, with the rows of the
   * resources they introduce. Blocks may be given as the pieces that make
   * them up (the builder's own buffers, written with writev, no copy); they
   * must not change until this settles. Resolves after fsync; the caller
   * may acknowledge the spans then.
   */
  async append(spans: Buffer | readonly Buffer[], rows: number, resources?: { block: Buffer | readonly Buffer[]; rows: number }): Promise<void> {
    // Capacity was checked when the request was admitted; here only refuse
    // when the WAL cannot take it at all.
    if (this.stopping) throw new UnavailableError('Sightline is shutting down');
    try {
      // Resources first: a sealed span segment then never refers to a
      // resource row that is not yet in the resource WAL.
      if (resources && resources.rows > 0) await this.resourceWal.append(resources.block, resources.rows);
      await this.wal.append(spans, rows);
    } catch (e) {
      if (e instanceof WalFullError) {
        this.stats.diskFullRefusals++;
        throw new UnavailableError(e.message);
      }
      if (e instanceof WalBrokenError) throw new UnavailableError(e.message);
      throw e;
    }
    this.stats.acceptedSpans += rows;
  }

  /**
   * Makes a Native block of log rows durable, as {@link append} does for
   * spans; resolves after fsync, when the caller may acknowledge them.
   */
  async appendLogs(block: Buffer | readonly Buffer[], rows: number): Promise<void> {
    if (this.stopping) throw new UnavailableError('Sightline is shutting down');
    try {
      await this.logWal.append(block, rows);
    } catch (e) {
      if (e instanceof WalFullError) {
        this.stats.diskFullRefusals++;
        throw new UnavailableError(e.message);
      }
      if (e instanceof WalBrokenError) throw new UnavailableError(e.message);
      throw e;
    }
    this.stats.acceptedLogs += rows;
  }

  getStats(): IngestStats {
    return { ...this.stats, backlogBytes: this.backlogBytes };
  }

  /**
   * Stops taking spans, seals the WAL and moves what it holds into the
   * store, waiting at most `deadlineMs`. Whatever is left stays in the WAL
   * for the next start.
   */
  async stop(deadlineMs = 30_000): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.walsClosed = this.wal.close().then(() => this.resourceWal.close()).then(() => this.logWal.close());
    await this.walsClosed;
    this.wake?.();
    if (!this.writer) return;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), deadlineMs);
    });
    const result = await Promise.race([this.writer.then(() => 'done' as const), deadline]);
    clearTimeout(timer);
    if (result === 'timeout') this.opts.log.warn('store did not take the whole WAL before the shutdown deadline; the rest is replayed at next start');
  }

  private async writeLoop(): Promise<void> {
    for (const seg of this.recovered.resources) if (!(await this.storeSegment(seg, 'resources'))) return;
    for (const seg of this.recovered.spans) {
      if (!(await this.storeSegment(seg, 'replay'))) return;
      this.stats.replayedSegments++;
    }
    for (const seg of this.recovered.logs) {
      if (!(await this.storeSegment(seg, 'logs-replay'))) return;
      this.stats.replayedSegments++;
    }
    for (;;) {
      if (this.stopping) {
        // stop() seals both WALs; wait for that rather than poll for it (a
        // loop that only polls would never yield to the sealing), then store
        // what they hold, resources first, and end. A failed seal leaves its
        // rows for replay at the next start.
        await this.walsClosed?.catch(() => undefined);
        for (const seg of this.resourceWal.takeSealed()) if (!(await this.storeSegment(seg, 'resources'))) return;
        for (const seg of this.wal.takeSealed()) if (!(await this.storeSegment(seg, 'spans'))) return;
        for (const seg of this.logWal.takeSealed()) if (!(await this.storeSegment(seg, 'logs'))) return;
        return;
      }
      const sealed = this.wal.takeSealed();
      if (sealed.length > 0) {
        // The resource rows these spans refer to are in the resource WAL
        // already (see append); store them first.
        await this.resourceWal.sealActive();
        for (const seg of this.resourceWal.takeSealed()) if (!(await this.storeSegment(seg, 'resources'))) return;
        for (const seg of sealed) if (!(await this.storeSegment(seg, 'spans'))) return;
        continue;
      }
      const sealedLogs = this.logWal.takeSealed();
      if (sealedLogs.length > 0) {
        for (const seg of sealedLogs) if (!(await this.storeSegment(seg, 'logs'))) return;
        continue;
      }
      const now = Date.now();
      const due = this.lastInsertAt + this.opts.flushIntervalMs - now;
      const logsDue = this.lastLogInsertAt + this.opts.flushIntervalMs - now;
      const spansWaiting = this.wal.activeRows() > 0;
      const logsWaiting = this.logWal.activeRows() > 0;
      if ((spansWaiting && due <= 0) || (logsWaiting && logsDue <= 0)) {
        try {
          if (spansWaiting && due <= 0) await this.wal.sealActive();
          if (logsWaiting && logsDue <= 0) await this.logWal.sealActive();
        } catch (e) {
          this.opts.log.error({ err: e }, 'sealing the WAL segment failed');
          await this.sleep(1000);
        }
        continue;
      }
      // The next seal due; an idle WAL waits a whole interval.
      const next = Math.min(spansWaiting && due > 0 ? due : this.opts.flushIntervalMs, logsWaiting && logsDue > 0 ? logsDue : this.opts.flushIntervalMs);
      await this.sleep(next);
    }
  }

  /**
   * Inserts one segment, retrying until it is stored. Returns false if we
   * were told to stop while the store was failing.
   */
  private async storeSegment(seg: Segment, kind: 'spans' | 'replay' | 'resources' | 'logs' | 'logs-replay'): Promise<boolean> {
    const log = this.opts.log;
    const isLogs = kind === 'logs' || kind === 'logs-replay';
    const wal = kind === 'resources' ? this.resourceWal : isLogs ? this.logWal : this.wal;
    let delay = 100;
    for (let attempt = 1; ; attempt++) {
      const started = Date.now();
      // After a failed attempt the insert may have landed anyway (a lost
      // reply, a timeout): retry as a replay, which skips stored rows.
      let result: WriteOutcome;
      try {
        const replay = kind === 'replay' || kind === 'logs-replay' || attempt > 1;
        result =
          kind === 'resources'
            ? await this.opts.store.writeResources(seg.path)
            : isLogs
              ? await this.opts.store.writeLogs(seg.path, { replay })
              : await this.opts.store.writeSpans(seg.path, { replay });
        if (result.ok) {
          if (isLogs) {
            this.lastLogInsertAt = Date.now();
            this.stats.storeInserts++;
            this.stats.storedLogs += seg.rows;
          } else if (kind !== 'resources') {
            this.lastInsertAt = Date.now();
            this.stats.storeInserts++;
            this.stats.storedSpans += seg.rows;
          }
          log.debug({ segment: seg.seq, kind, rows: seg.rows, bytes: seg.bytes, ms: Date.now() - started }, 'segment stored');
          await wal.remove(seg);
          if (kind === 'spans' || kind === 'replay') this.segmentDone('spans', seg.seq);
          else if (isLogs) this.segmentDone('logs', seg.seq);
          return true;
        }
      } catch (e) {
        // Anything unexpected (removing the segment failed, say) is worth another try.
        result = { ok: false, retryable: true, error: e instanceof Error ? e : new Error(String(e)) };
      }
      this.stats.storeErrors++;
      if (!result.retryable) {
        try {
          await this.quarantine(seg, wal, kind, result.error);
          if (kind === 'spans' || kind === 'replay') this.segmentDone('spans', seg.seq);
          else if (isLogs) this.segmentDone('logs', seg.seq);
          return true;
        } catch (e) {
          // Quarantine needs a directory entry on the WAL's disk, which may
          // be full: the segment stays where it is and is tried again.
          log.error({ err: e, segment: seg.seq, kind }, 'a WAL segment the store refused could not be moved to quarantine; retrying');
        }
      }
      log.warn({ err: result.error, segment: seg.seq, kind, attempt }, 'store insert failed; retrying');
      if (this.stopping && attempt >= 3) return false;
      await this.sleep(delay);
      delay = Math.min(delay * 2, 5000);
    }
  }

  /** Keeps a segment the store will not take, out of the way, and counts it. */
  private async quarantine(seg: Segment, wal: Wal, kind: string, err: Error): Promise<void> {
    const dir = path.join(this.opts.walDir, 'quarantine');
    await fsp.mkdir(dir, { recursive: true });
    const prefix = kind === 'resources' ? 'resources-' : kind === 'logs' || kind === 'logs-replay' ? 'logs-' : '';
    await fsp.rename(seg.path, path.join(dir, `${prefix}${path.basename(seg.path)}`));
    if (kind === 'logs' || kind === 'logs-replay') this.stats.quarantinedLogs += seg.rows;
    else if (kind !== 'resources') this.stats.quarantinedSpans += seg.rows;
    this.opts.log.error(
      { err, segment: seg.seq, kind, rows: seg.rows, dir },
      'the store refused a WAL segment as invalid; it was moved to quarantine and its rows are not queryable',
    );
    wal.forget(seg);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }
}
