import { createRequire } from 'node:module';
import path from 'node:path';
import { sql, join, ident, type Sql } from '../sql/sql.js';
import { EngineError, limitSettings, type Engine, type EngineCapabilities, type EngineSettings, type Lane, type ResultFormat, type StatementLimits } from '../engine.js';

const require = createRequire(import.meta.url);

interface ChdbSession {
  queryAsync(query: string, opts?: { format?: string }): Promise<{ bytes(): Uint8Array }>;
  insert(params: { table: string; values: readonly Record<string, unknown>[] }): Promise<unknown>;
  close(): void;
}

export interface ChdbOptions {
  /** Directory holding chDB's own data (tables, parts). */
  dir: string;
  /** Query connections; each runs one query at a time. */
  queryConnections?: number;
  /** Engine memory ceiling in bytes (tracked allocations only, not JS). */
  maxMemoryBytes?: number;
}

/**
 * Embedded chDB: the ClickHouse engine in this process, on a data directory.
 *
 * chDB runs each session's operations one at a time on libuv's pool, so the
 * engine keeps one session for ingest and a few for queries, and queues work
 * per session rather than letting it pile up on the pool (see
 * shared/ENGINE-NOTES.md, "Threads" and "Sessions").
 */
export class ChdbEngine implements Engine {
  readonly capabilities: EngineCapabilities = {
    lowCardinality: true,
    codecs: true,
    fsyncSettings: true,
    jsonFunctions: true,
    tableCompressionSettings: true,
    insertPartitionLimit: true,
    skipIndexes: true,
    quantileStatesAnyLevel: true,
    compactParts: true,
    widePartLevel: true,
    columnSettings: true,
    stringSerialization: true,
    modifyTableSettings: true,
    // Measured: replaced parts stayed on disk for good ("Cleanup thread
    // hasn't seen this part yet"), across restarts, until a DROP PARTITION.
    outdatedPartsKept: true,
    threadPriority: true,
    // Measured on chDB 3.4 (ClickHouse 26.7.2.1), in a bare session too (no
    // limits SET): `{ name = "x" } && { kind = server && resource.b = 1 }`
    // with no resource holding b answered 200 three times, then 500 from
    // the fourth run on, whichever session ran it; the fourth run was the
    // first with CompileFunction in system.events. With
    // min_count_to_compile_expression = 0 it failed from the first run, and
    // with compile_expressions = 0 never (10 runs). It takes the condition
    // in WHERE (moved to PREWHERE) and again in HAVING's countIf; WHERE
    // alone passed, as did optimize_move_to_prewhere = 0 and
    // use_index_for_in_with_subqueries = 0 (costlier ways out).
    jitFailsOnEmptyInSets: true,
  };
  version = '';
  readonly exclusive = true;

  private readonly ingest: SerialSession;
  private readonly queries: SerialSession[];
  /** For reads bounded by their answer (trace by id, tags): never behind a heavy query. */
  private readonly lookup: SerialSession;
  private next = 0;

  private constructor(ingest: SerialSession, queries: SerialSession[], lookup: SerialSession) {
    this.ingest = ingest;
    this.queries = queries;
    this.lookup = lookup;
  }

  static async open(opts: ChdbOptions): Promise<ChdbEngine> {
    const { Session } = require('chdb') as { Session: new (dir: string, o?: object) => ChdbSession };
    const args = [
      // Marks of every part are cached; the default of 5 GiB is far past what
      // a single-machine Sightline should hold.
      '--mark_cache_size=268435456',
      '--index_mark_cache_size=67108864',
      `--max_server_memory_usage=${opts.maxMemoryBytes ?? 2 * 1024 ** 3}`,
      // The engine gives a query one thread less for each GiB (by default)
      // its memory limit has free below max_threads GiB (ClickHouse PR
      // 100383, in 26.3). Under the cap above, every read ran on one thread
      // (measured on chDB 3.4, 2 cores: one pipeline stream with the cap,
      // two without it or with this line; the p99 by service of 10M spans
      // took 267 ms instead of about 500). A quarter GiB per thread still
      // takes threads away when memory is short.
      '--max_threads_min_free_memory_per_thread=268435456',
    ];
    const dir = path.resolve(opts.dir);
    const open = () => new SerialSession(new Session(dir, { connectionArgs: args }));
    const ingest = open();
    const queries: SerialSession[] = [];
    for (let i = 0; i < (opts.queryConnections ?? 2); i++) queries.push(open());
    const engine = new ChdbEngine(ingest, queries, open());
    const out = await engine.query(sql`SELECT version()`, 'TabSeparated');
    engine.version = out.toString('utf8').trim();
    return engine;
  }

  async exec(statement: Sql, lane: Lane = 'query', settings: EngineSettings = {}): Promise<void> {
    const entries = Object.entries(settings);
    const text = entries.length > 0 ? `${statement.text}\nSETTINGS ${entries.map(([k, v]) => `${k} = ${Number(v)}`).join(', ')}` : statement.text;
    if (entries.some(([k]) => !/^[a-z_]+$/.test(k))) throw new EngineError('invalid setting name', undefined);
    await this.session(lane).run(text, 'TabSeparated');
  }

  async query(statement: Sql, format: ResultFormat, lane: Lane = 'query'): Promise<Buffer> {
    return this.session(lane).run(statement.text, format);
  }

  /**
   * chDB cannot interrupt a statement once it runs, so a cancelled query's
   * statements that have not started are dropped from the session's queue,
   * and the one running is bounded by max_execution_time.
   */
  async queryLimited(statement: Sql, format: ResultFormat, lane: 'query' | 'lookup', limits: StatementLimits): Promise<Buffer> {
    return this.session(lane).run(statement.text, format, limits, lane === 'query');
  }

  readonly nodes = 1;

  async execOn(_node: number, statement: Sql): Promise<void> {
    await this.exec(statement);
  }

  async queryOn(_node: number, statement: Sql, format: ResultFormat): Promise<Buffer> {
    return this.query(statement, format);
  }

  async insertNativeFile(table: string, columns: readonly string[], file: string): Promise<void> {
    const names = join(columns.map(ident));
    // The file's own column names and types are used; the SELECT converts
    // types (String to LowCardinality) and the column list maps by name.
    await this.exec(
      sql`INSERT INTO ${ident(table)} (${names}) SELECT ${names} FROM file(${path.resolve(file)}, 'Native') SETTINGS max_partitions_per_insert_block = 0`,
      'ingest',
    );
  }

  async insertRows(table: string, rows: readonly Record<string, unknown>[]): Promise<void> {
    if (rows.length > 0) await this.ingest.insert(table, rows);
  }

  async close(): Promise<void> {
    await Promise.all([this.ingest, ...this.queries, this.lookup].map((s) => s.close()));
  }

  private session(lane: Lane): SerialSession {
    if (lane === 'ingest') return this.ingest;
    if (lane === 'lookup') return this.lookup;
    // The least busy query session; ties go round-robin.
    let best = this.queries[this.next++ % this.queries.length];
    for (const s of this.queries) if (s.depth < best.depth) best = s;
    return best;
  }
}

/** One chDB session with our own FIFO in front, so queue depth is visible and bounded by callers. */
class SerialSession {
  depth = 0;
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;
  /**
   * The limit settings last SET on this session ('' for none). Settings
   * stay on a chDB session, so they are SET only when they change, and
   * taken off before a statement that has none (maintenance, our own reads).
   */
  private limitsInForce = '';

  constructor(private readonly session: ChdbSession) {}

  run(text: string, format: string, limits?: StatementLimits, lowPriority = false): Promise<Buffer> {
    return this.enqueue(async () => {
      limits?.signal?.throwIfAborted();
      await this.applyLimits(limits, lowPriority);
      const r = await this.session.queryAsync(text, { format });
      const bytes = r.bytes();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    });
  }

  private async applyLimits(limits: StatementLimits | undefined, lowPriority = false): Promise<void> {
    const settings = limits ? limitSettings(limits, lowPriority) : null;
    const wanted = settings ? JSON.stringify(settings) : '';
    if (wanted === this.limitsInForce) return;
    const assignments = settings
      ? Object.entries(settings).map(([k, v]) => `${k} = ${typeof v === 'number' ? Math.trunc(v) : `'${v}'`}`)
      : ['max_execution_time = 0', 'max_memory_usage = 0', 'max_result_rows = 0', 'max_result_bytes = 0', 'os_thread_priority = 0'];
    // Names and values are ours (limitSettings), never a user's text.
    await this.session.queryAsync(`SET ${assignments.join(', ')}`, { format: 'TabSeparated' });
    this.limitsInForce = wanted;
  }

  insert(table: string, rows: readonly Record<string, unknown>[]): Promise<void> {
    return this.enqueue(async () => {
      await this.applyLimits(undefined);
      await this.session.insert({ table, values: rows });
    });
  }

  private enqueue<T>(work: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new EngineError('chDB session is closed', undefined));
    this.depth++;
    const result = this.tail.then(async () => {
      try {
        return await work();
      } catch (e) {
        await this.discardStaleOutput();
        throw toEngineError(e);
      } finally {
        this.depth--;
      }
    });
    this.tail = result.catch(() => undefined);
    return result;
  }

  /**
   * chDB 3.4 keeps what a statement that failed while running had written,
   * and hands it out ahead of the next statement's output on the session
   * (measured: after a MEMORY_LIMIT_EXCEEDED in JSONCompact, the next
   * query's answer began with the failed one's header, so it did not
   * parse). One throwaway statement takes it.
   */
  private async discardStaleOutput(): Promise<void> {
    try {
      await this.session.queryAsync('SELECT 1', { format: 'TabSeparated' });
    } catch {
      // Nothing more to do: the next statement's own error will say what is wrong.
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.tail;
    this.session.close();
  }
}

function toEngineError(e: unknown): EngineError {
  if (e instanceof EngineError) return e;
  const err = e as { message?: string; clickhouseCode?: number };
  return new EngineError(err.message ?? String(e), err.clickhouseCode, { cause: e });
}
