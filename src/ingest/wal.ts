import { promises as fsp, constants as fsc } from 'node:fs';
import path from 'node:path';
import { scanNativeBlocks } from '../model/native-scan.js';

/**
 * The write-ahead log: a directory of segment files, each a stream of
 * ClickHouse Native blocks of span rows, exactly the bytes the store inserts.
 *
 * Group commit: appends that arrive while an fsync is running wait for the
 * next one, so one fsync acknowledges many requests. {@link Wal.append}
 * resolves only after the bytes are on disk.
 *
 * A segment is deleted only after the store has durably taken its rows, so
 * every segment present at start-up may be partly or wholly in the store
 * already: the caller replays those with de-duplication.
 */

export interface Segment {
  readonly seq: number;
  readonly path: string;
  rows: number;
  bytes: number;
}

export interface WalOptions {
  dir: string;
  /** Rotate the active segment once it holds this many bytes. */
  segmentBytes: number;
}

export interface WalRecovery {
  /** Segments found at open, oldest first; their tails repaired. */
  segments: Segment[];
  /** Bytes cut off torn tails (never acknowledged). */
  truncatedBytes: number;
}

interface PendingAppend {
  /** The block's bytes, in order (a block may come in pieces, written with writev). */
  data: readonly Buffer[];
  rows: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

const SEGMENT_RE = /^(\d{20})\.native$/;

export class WalBrokenError extends Error {
  override readonly name = 'WalBrokenError';
}

/**
 * The WAL's filesystem had no room (or quota) for an append: none of the
 * refused bytes were kept, and later appends may succeed once there is room.
 */
export class WalFullError extends Error {
  override readonly name = 'WalFullError';
}

/** Errors that mean the disk is full, not that it is failing. */
const NO_SPACE = new Set(['ENOSPC', 'EDQUOT']);

export class Wal {
  private active: Segment | null = null;
  private fd: fsp.FileHandle | null = null;
  private pending: PendingAppend[] = [];
  private pendingBytes = 0;
  private running: Promise<void> | null = null;
  private sealWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private readonly sealed: Segment[] = [];
  private nextSeq: number;
  /** The number of the last segment sealed (or found at open); 0 for none. */
  private lastSealed = 0;
  private broken: Error | null = null;
  private closed = false;
  /** Bytes in the WAL not yet taken by the store: sealed + active + queued. */
  private unstoredBytes = 0;
  private readonly listeners = new Set<() => void>();

  private constructor(
    private readonly opts: WalOptions,
    firstSeq: number,
  ) {
    this.nextSeq = firstSeq;
  }

  /** Opens the WAL directory, repairing torn tails of existing segments. */
  static async open(opts: WalOptions): Promise<{ wal: Wal; recovery: WalRecovery }> {
    await fsp.mkdir(opts.dir, { recursive: true });
    const names = (await fsp.readdir(opts.dir)).filter((n) => SEGMENT_RE.test(n)).sort();
    const segments: Segment[] = [];
    let truncatedBytes = 0;
    let maxSeq = 0;
    for (const name of names) {
      const seq = Number(SEGMENT_RE.exec(name)![1]);
      maxSeq = Math.max(maxSeq, seq);
      const file = path.join(opts.dir, name);
      const data = await fsp.readFile(file);
      const scan = scanNativeBlocks(data);
      if (scan.validBytes < data.length) {
        truncatedBytes += data.length - scan.validBytes;
        const fh = await fsp.open(file, 'r+');
        try {
          await fh.truncate(scan.validBytes);
          await fh.sync();
        } finally {
          await fh.close();
        }
      }
      if (scan.rows === 0) {
        await fsp.unlink(file);
        continue;
      }
      segments.push({ seq, path: file, rows: scan.rows, bytes: scan.validBytes });
    }
    const wal = new Wal(opts, maxSeq + 1);
    wal.lastSealed = segments.at(-1)?.seq ?? 0;
    for (const s of segments) wal.unstoredBytes += s.bytes;
    return { wal, recovery: { segments, truncatedBytes } };
  }

  /** Bytes written to the WAL and not yet released by {@link remove}. */
  get backlogBytes(): number {
    return this.unstoredBytes;
  }

  /**
   * The number of the newest sealed segment (segments are numbered in
   * order, recovered ones first): every row appended before the last
   * {@link sealActive} resolved is in a segment up to this one.
   */
  get sealedThrough(): number {
    return this.lastSealed;
  }

  /** Why the WAL refuses writes, if it does. */
  get failure(): Error | null {
    return this.broken;
  }

  /** Called whenever a segment is sealed. */
  onSealed(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * Appends one Native block, given whole or as the pieces that make it up
   * in order, and resolves once it is fsynced. The buffers must not be
   * changed until the promise settles.
   */
  append(data: Buffer | readonly Buffer[], rows: number): Promise<void> {
    if (this.broken) return Promise.reject(new WalBrokenError(`WAL is failed: ${this.broken.message}`));
    if (this.closed) return Promise.reject(new WalBrokenError('WAL is closed'));
    const pieces = Buffer.isBuffer(data) ? [data] : data;
    let bytes = 0;
    for (const b of pieces) bytes += b.length;
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ data: pieces, rows, resolve, reject });
      this.pendingBytes += bytes;
      this.unstoredBytes += bytes;
      this.work();
    });
  }

  /** Segments ready for the store, oldest first. */
  takeSealed(): Segment[] {
    return this.sealed.splice(0, this.sealed.length);
  }

  /**
   * Seals the active segment if it has rows, once the appends queued before
   * this call are synced, so the store can take it.
   */
  sealActive(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.sealWaiters.push({ resolve, reject });
      this.work();
    });
  }

  /** Rows in the active segment and in the queue. */
  activeRows(): number {
    return (this.active?.rows ?? 0) + this.pending.reduce((n, p) => n + p.rows, 0);
  }

  /** Deletes a segment whose rows the store holds durably. */
  async remove(segment: Segment): Promise<void> {
    await fsp.unlink(segment.path);
    this.unstoredBytes -= segment.bytes;
  }

  /** Releases a segment that was moved elsewhere (quarantine). */
  forget(segment: Segment): void {
    this.unstoredBytes -= segment.bytes;
  }

  /** Syncs what is queued, seals the active segment and stops accepting. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.sealActive();
    this.closed = true;
    while (this.running) await this.running;
    if (this.fd) {
      // Opened but never written: nothing to keep.
      await this.fd.close();
      this.fd = null;
      if (this.active) await fsp.unlink(this.active.path).catch(() => {});
      this.active = null;
    }
  }

  /**
   * The single worker that owns the file: it writes and syncs queued appends
   * as one group, and rotates segments between groups.
   */
  private work(): void {
    if (this.running) return;
    this.running = this.workLoop().finally(() => {
      this.running = null;
      if (this.pending.length > 0 || this.sealWaiters.length > 0) this.work();
    });
  }

  private async workLoop(): Promise<void> {
    while (this.pending.length > 0 || this.sealWaiters.length > 0) {
      if (this.pending.length > 0) await this.flushGroup();
      // Seal between groups, so a steady stream of appends cannot starve it.
      if (this.sealWaiters.length > 0) {
        const waiters = this.sealWaiters.splice(0);
        try {
          if (this.broken) throw new WalBrokenError(`WAL is failed: ${this.broken.message}`);
          if (this.active && this.active.rows > 0) await this.rotate();
          for (const w of waiters) w.resolve();
        } catch (e) {
          for (const w of waiters) w.reject(e as Error);
        }
      }
    }
  }

  private async flushGroup(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    const bytes = this.pendingBytes;
    this.pendingBytes = 0;
    try {
      if (this.broken) throw new WalBrokenError(`WAL is failed: ${this.broken.message}`);
      if (this.active && this.active.bytes >= this.opts.segmentBytes) await this.rotate();
      if (!this.active) await this.openSegment();
      const fd = this.fd!;
      await writeAll(fd, batch.flatMap((p) => p.data));
      // fdatasync is enough: the file size is data, and the segment's
      // directory entry was synced when the file was created.
      await fd.datasync();
      let rows = 0;
      for (const p of batch) rows += p.rows;
      this.active!.rows += rows;
      this.active!.bytes += bytes;
      for (const p of batch) p.resolve();
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      this.unstoredBytes -= bytes;
      // A full disk is not a failing one: cut the group's bytes off again
      // (a writev can land part of them before ENOSPC, and a torn block
      // would end replay at that point) and refuse just this group. Later
      // appends may find room; none of these were acknowledged.
      if (!this.broken && NO_SPACE.has((err as NodeJS.ErrnoException).code ?? '') && (await this.cutToSynced())) {
        for (const p of batch) p.reject(new WalFullError(`the disk holding the WAL is full (${(err as NodeJS.ErrnoException).code}); nothing of this request was kept`));
        return;
      }
      // After any other failed write or fsync the file's state is unknown:
      // stop taking data rather than acknowledge something that may be lost.
      if (!this.broken) this.broken = err;
      for (const p of batch) p.reject(new WalBrokenError(`WAL write failed: ${err.message}`));
    }
  }

  /**
   * Truncates the active segment back to the bytes that were synced (all
   * acknowledged), and syncs that. Everything before that offset was
   * fsynced by an earlier group, so it is on disk whatever became of the
   * failed group's pages. False if that could not be done.
   */
  private async cutToSynced(): Promise<boolean> {
    if (!this.fd || !this.active) return true;
    try {
      await this.fd.truncate(this.active.bytes);
      await this.fd.datasync();
      return true;
    } catch {
      return false;
    }
  }

  private async openSegment(): Promise<void> {
    const seq = this.nextSeq++;
    const file = path.join(this.opts.dir, `${String(seq).padStart(20, '0')}.native`);
    const fd = await fsp.open(file, fsc.O_CREAT | fsc.O_EXCL | fsc.O_WRONLY | fsc.O_APPEND, 0o600);
    try {
      await syncDir(this.opts.dir);
    } catch (e) {
      // Not a segment until its directory entry is durable; leave no half.
      await fd.close().catch(() => {});
      await fsp.unlink(file).catch(() => {});
      throw e;
    }
    this.fd = fd;
    this.active = { seq, path: file, rows: 0, bytes: 0 };
  }

  private async rotate(): Promise<void> {
    const seg = this.active!;
    await this.fd!.close();
    this.fd = null;
    this.active = null;
    this.sealed.push(seg);
    this.lastSealed = seg.seq;
    for (const fn of this.listeners) fn();
  }
}

async function writeAll(fd: fsp.FileHandle, buffers: readonly Buffer[]): Promise<void> {
  // writev may write less than asked (IOV_MAX, signals); continue from there.
  let bufs = buffers;
  while (bufs.length > 0) {
    const chunk = bufs.slice(0, 512);
    const want = chunk.reduce((n, b) => n + b.length, 0);
    const { bytesWritten } = await fd.writev(chunk);
    if (bytesWritten === want) {
      bufs = bufs.slice(chunk.length);
      continue;
    }
    let left = bytesWritten;
    const rest: Buffer[] = [];
    for (const b of bufs) {
      if (left >= b.length) left -= b.length;
      else {
        rest.push(left > 0 ? b.subarray(left) : b);
        left = 0;
      }
    }
    bufs = rest;
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
