import { createHash, randomUUID } from 'node:crypto';
import { promises as fsp, constants as fsc } from 'node:fs';
import path from 'node:path';
import type { AuditRecord } from '../store/index.js';

/**
 * The audit trail: who read which tenant's span data, when, from where,
 * with which query or trace ids and how many results; and every admin
 * action.
 *
 * - **Durable before the answer.** A record is fsynced to a local file
 *   before the response that it describes is sent (group commit: one fsync
 *   covers the records of every request answered meanwhile). No span data
 *   leaves Sightline unaccounted for, even if the process dies right after.
 * - **Tamper-evident.** Each process writes its own chain: every record
 *   holds the SHA-256 of the one before it, and its own hash covers that.
 *   Changing, removing or reordering a stored record breaks the chain,
 *   which `sightline audit verify` checks. (Cutting off a chain's tail
 *   cannot be told from the process stopping there; the chain's head is
 *   logged at shutdown so it can be kept elsewhere and given to
 *   `sightline audit verify --head`.)
 * - **Append-only.** Records move from the local files into the store's
 *   audit table, which nothing in Sightline updates or deletes.
 * - **No secrets.** Records hold identity names, never tokens, cookies or
 *   Authorization headers.
 */

/** What a caller asks to record: an audit record before it is chained (fields documented on AuditRecord). */
export type AuditEntry = Omit<AuditRecord, 'chain' | 'seq' | 'time' | 'prev' | 'hash'>;

export type { AuditRecord };

const GENESIS = '0'.repeat(64);

/** The hash of a record: SHA-256 over its fields in a fixed order (canonical JSON). */
export function auditHash(r: Omit<AuditRecord, 'hash'>): string {
  const canonical = JSON.stringify([r.chain, r.seq, r.time, r.prev, r.identity, [...r.tenants].sort(), r.remote, r.action, sortKeys(r.detail), r.status, r.results]);
  return createHash('sha256').update(canonical).digest('hex');
}

function sortKeys(o: Record<string, unknown>): [string, unknown][] {
  return Object.keys(o)
    .sort()
    .map((k) => [k, o[k]]);
}

/** Where audit records end up: the store's append-only audit table. */
export interface AuditSink {
  /** Stores records; repeats of the same record are harmless. */
  writeAudit(records: readonly AuditRecord[]): Promise<void>;
}

/** Records that fail verification, and why. */
export interface AuditVerdict {
  chains: number;
  records: number;
  problems: string[];
}

/**
 * Checks every chain: sequence numbers from 1 without gaps, each record's
 * hash, and each link to the record before. Exact repeats of a record (a
 * replayed file) are allowed; two different records with one sequence
 * number are not.
 */
export function verifyAudit(records: Iterable<AuditRecord>): AuditVerdict {
  const byChain = new Map<string, Map<number, AuditRecord>>();
  const problems: string[] = [];
  let count = 0;
  for (const r of records) {
    count++;
    let chain = byChain.get(r.chain);
    if (!chain) byChain.set(r.chain, (chain = new Map()));
    const seen = chain.get(r.seq);
    if (seen && seen.hash !== r.hash) problems.push(`chain ${r.chain}: two different records at ${r.seq}`);
    chain.set(r.seq, r);
  }
  for (const [id, chain] of byChain) {
    const seqs = [...chain.keys()].sort((a, b) => a - b);
    let prev = GENESIS;
    for (let i = 0; i < seqs.length; i++) {
      const r = chain.get(seqs[i])!;
      if (r.seq !== i + 1) {
        problems.push(`chain ${id}: record ${i + 1} is missing (next is ${r.seq})`);
        break;
      }
      const { hash, ...rest } = r;
      if (auditHash(rest) !== hash) problems.push(`chain ${id}: record ${r.seq} was changed (its hash does not match its fields)`);
      if (r.prev !== prev) problems.push(`chain ${id}: record ${r.seq} does not follow record ${r.seq - 1} (the link is broken)`);
      prev = hash;
    }
  }
  return { chains: byChain.size, records: count, problems };
}

/** A chain's last record as kept elsewhere (logged at shutdown): `chain:seq:hash`. */
export interface AuditHead {
  chain: string;
  seq: number;
  hash: string;
}

export function parseAuditHead(text: string): AuditHead | null {
  const m = /^([0-9a-f-]{36}):([1-9][0-9]{0,15}):([0-9a-f]{64})$/.exec(text.trim());
  return m ? { chain: m[1], seq: Number(m[2]), hash: m[3] } : null;
}

/**
 * Checks records against heads kept outside Sightline: a chain cut short
 * after its head was taken (the one tampering the chain alone cannot show)
 * lacks the head's record, or holds another in its place.
 */
export function checkAuditHeads(records: Iterable<AuditRecord>, heads: readonly AuditHead[]): string[] {
  const wanted = new Map(heads.map((h) => [`${h.chain}:${h.seq}`, h]));
  const found = new Set<string>();
  const problems: string[] = [];
  for (const r of records) {
    const key = `${r.chain}:${r.seq}`;
    const head = wanted.get(key);
    if (!head) continue;
    found.add(key);
    if (r.hash !== head.hash) problems.push(`chain ${r.chain}: record ${r.seq} is not the one its kept head names`);
  }
  for (const [key, h] of wanted) if (!found.has(key)) problems.push(`chain ${h.chain}: record ${h.seq}, named by a kept head, is missing (the chain was cut short)`);
  return problems;
}

/**
 * One process's audit chain: records are hashed in order, fsynced to a
 * local file before `append` resolves, and moved into the store in the
 * background (files left by a crash are moved at the next start).
 */
export class AuditLog {
  readonly chain = randomUUID();
  private seq = 0;
  private prev = GENESIS;
  private fd: fsp.FileHandle | null = null;
  private file = '';
  private fileRecords: AuditRecord[] = [];
  private pending: { line: string; resolve: () => void; reject: (e: Error) => void }[] = [];
  private writing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private moving: Promise<void> = Promise.resolve();
  private failure: Error | null = null;

  private constructor(
    private readonly dir: string,
    private readonly sink: AuditSink,
    private readonly moveEveryMs: number,
  ) {}

  /** Opens the audit directory and moves what a previous run left into the store. */
  static async open(dir: string, sink: AuditSink, opts: { moveEveryMs?: number } = {}): Promise<AuditLog> {
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    const log = new AuditLog(dir, sink, opts.moveEveryMs ?? 2000);
    for (const name of (await fsp.readdir(dir)).filter((n) => n.endsWith('.ndjson')).sort()) await log.moveFile(path.join(dir, name), null);
    log.timer = setInterval(() => void log.rotate(), log.moveEveryMs);
    log.timer.unref();
    return log;
  }

  /** The chain's last hash, to keep somewhere else (it proves the chain's length). */
  get head(): AuditHead {
    return { chain: this.chain, seq: this.seq, hash: this.prev };
  }

  /** Appends a record; resolves once it is on disk. */
  append(entry: AuditEntry): Promise<AuditRecord> {
    if (this.failure) return Promise.reject(this.failure);
    const base = { ...entry, chain: this.chain, seq: ++this.seq, time: Date.now(), prev: this.prev };
    const record: AuditRecord = { ...base, hash: auditHash(base) };
    this.prev = record.hash;
    this.fileRecords.push(record);
    return new Promise<AuditRecord>((resolve, reject) => {
      this.pending.push({ line: JSON.stringify(record) + '\n', resolve: () => resolve(record), reject });
      this.write();
    });
  }

  private write(): void {
    if (this.writing) return;
    this.writing = (async () => {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0);
        try {
          if (!this.fd) await this.openFile();
          await this.fd!.write(batch.map((p) => p.line).join(''));
          await this.fd!.datasync();
          for (const p of batch) p.resolve();
        } catch (e) {
          // A record that may not be on disk must not be vouched for:
          // refuse from here on (callers answer 503) rather than lose the trail.
          this.failure = new Error(`the audit log cannot be written: ${(e as Error).message}`);
          for (const p of batch) p.reject(this.failure);
        }
      }
    })().finally(() => {
      this.writing = null;
      if (this.pending.length > 0) this.write();
    });
  }

  private async openFile(): Promise<void> {
    this.file = path.join(this.dir, `${Date.now()}-${this.chain}-${this.seq}.ndjson`);
    this.fd = await fsp.open(this.file, fsc.O_CREAT | fsc.O_EXCL | fsc.O_WRONLY | fsc.O_APPEND, 0o600);
    const dir = await fsp.open(this.dir, 'r');
    await dir.sync().finally(() => dir.close());
  }

  /** Closes the current file and moves it into the store. */
  private rotate(): Promise<void> {
    this.moving = this.moving.then(async () => {
      while (this.writing) await this.writing;
      if (!this.fd) return;
      const fd = this.fd;
      const file = this.file;
      const records = this.fileRecords;
      this.fd = null;
      this.fileRecords = [];
      await fd.close();
      await this.moveFile(file, records);
    });
    return this.moving;
  }

  /** Stores a file's records, then deletes it; left for the next start if the store fails. */
  private async moveFile(file: string, known: AuditRecord[] | null): Promise<void> {
    try {
      const records = known ?? parseAuditFile(await fsp.readFile(file, 'utf8'));
      if (records.length > 0) await this.sink.writeAudit(records);
      await fsp.unlink(file);
    } catch {
      // Kept on disk; the next rotation or start tries again.
    }
  }

  /** Writes what is pending and moves every record into the store. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    while (this.writing) await this.writing;
    await this.rotate();
    for (const name of (await fsp.readdir(this.dir)).filter((n) => n.endsWith('.ndjson')).sort()) await this.moveFile(path.join(this.dir, name), null);
  }
}

/** The records of an audit file; a torn last line (a crash mid-write, never acknowledged) is left out. */
export function parseAuditFile(text: string): AuditRecord[] {
  const out: AuditRecord[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      out.push(JSON.parse(line) as AuditRecord);
    } catch {
      break;
    }
  }
  return out;
}
