// SQLite, with a connection pool and client spans: Node's own node:sqlite
// where this Node has it unflagged (22.13 and later), better-sqlite3 12 on
// Node 20. Why both: better-sqlite3 has no prebuilt binary to fetch here,
// and compiling it took 77 s of each CI run; Node 20, still supported, has
// no node:sqlite. install.mjs leaves the optional better-sqlite3 out where
// node:sqlite loads.
//
// Why spans by hand: OpenTelemetry ships no instrumentation for better-sqlite3
// (contrib has none; the only community plugin pins an old
// @opentelemetry/instrumentation line and would install a second copy of it).
// So each statement gets a CLIENT span named and attributed per the database
// semantic conventions (db.system=sqlite, db.statement, db.operation,
// db.sql.table), which is what an auto-instrumentation would emit.
//
// Why a round-trip delay: SQLite runs in-process and answers in microseconds.
// The lab models a database server across the network, where each statement
// costs a round trip and a connection is held for it; that is what makes a
// connection pool, and its exhaustion, real.
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { trace, SpanKind, SpanStatusCode } from '@opentelemetry/api';

const tracer = trace.getTracer('clinic-sqlite', '1.0.0');

/** node:sqlite, or null where this Node lacks it (20) or keeps it behind a flag (22.5 to 22.12). */
const nodeSqlite = await import('node:sqlite').catch(() => null);

/** Which SQLite binding the lab runs on in this Node. */
export const SQLITE_BINDING = nodeSqlite ? 'node:sqlite' : 'better-sqlite3';

/**
 * Opens `file` with the calls the lab makes of better-sqlite3 (exec,
 * prepare with `reader`, all, run, transaction, close), in WAL mode.
 */
export function openDatabase(file) {
  if (!nodeSqlite) {
    const Database = createRequire(import.meta.url)('better-sqlite3');
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    return db;
  }
  const db = new nodeSqlite.DatabaseSync(file);
  db.exec('PRAGMA journal_mode = WAL');
  return {
    exec: (sql) => db.exec(sql),
    prepare(sql) {
      const statement = db.prepare(sql);
      // A statement that returns rows has result columns (better-sqlite3's `reader`).
      return { reader: statement.columns().length > 0, all: (...params) => statement.all(...params), run: (...params) => statement.run(...params) };
    },
    transaction(fn) {
      return (...args) => {
        db.exec('BEGIN');
        try {
          const result = fn(...args);
          db.exec('COMMIT');
          return result;
        } catch (error) {
          db.exec('ROLLBACK');
          throw error;
        }
      };
    },
    close: () => db.close(),
  };
}

export class SqlitePool {
  /**
   * @param {{ file: string, size: number, roundTripMs: number, dbName: string }} options
   */
  constructor({ file, size, roundTripMs, dbName }) {
    this.dbName = dbName;
    this.roundTripMs = roundTripMs;
    this.connections = Array.from({ length: size }, () => openDatabase(file));
    this.idle = [...this.connections];
    this.waiting = [];
    // How many connections may be lent out at once (setLimit); at most `size`.
    this.limit = size;
    this.lent = 0;
  }

  /** Lends out at most `limit` connections at once from now on (a smaller pool, without reopening it). */
  setLimit(limit) {
    this.limit = Math.max(1, Math.min(limit, this.connections.length));
    this.lendToWaiting();
  }

  /** Runs `fn(db)` once, outside any pool, to create and seed the schema. */
  setup(fn) {
    fn(this.connections[0]);
  }

  // Like most pool libraries, waiting for a free connection makes no span:
  // the time shows only as a gap in the caller's span.
  async acquire() {
    if (this.lent < this.limit && this.idle.length > 0) {
      this.lent++;
      return this.idle.pop();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release(connection) {
    this.lent--;
    this.idle.push(connection);
    this.lendToWaiting();
  }

  lendToWaiting() {
    while (this.waiting.length > 0 && this.lent < this.limit && this.idle.length > 0) {
      this.lent++;
      this.waiting.shift()(this.idle.pop());
    }
  }

  /** Takes a connection for the duration of `fn(connection)`. */
  async withConnection(fn) {
    const connection = await this.acquire();
    try {
      return await fn(connection);
    } finally {
      this.release(connection);
    }
  }

  /**
   * Runs one statement on a connection already held, in a CLIENT span.
   * `extraLatencyMs` models a slower server for this statement (a fault).
   * `failWith` makes the statement fail after its latency, as a locked
   * database does once its busy timeout runs out.
   */
  async query(connection, sql, params = [], { extraLatencyMs = 0, failWith } = {}) {
    const operation = sql.trimStart().split(/\s+/, 1)[0].toUpperCase();
    const table = /\b(?:from|into|update)\s+(\w+)/i.exec(sql)?.[1] ?? '';
    return tracer.startActiveSpan(
      table ? `${operation} ${table}` : operation,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          'db.system': 'sqlite',
          'db.name': this.dbName,
          'db.statement': sql,
          'db.operation': operation,
          ...(table ? { 'db.sql.table': table } : {}),
        },
      },
      async (span) => {
        try {
          await sleep(this.roundTripMs + extraLatencyMs);
          if (failWith) throw failWith;
          const statement = connection.prepare(sql);
          return statement.reader ? statement.all(...params) : statement.run(...params);
        } catch (error) {
          span.recordException(error);
          span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
          throw error;
        } finally {
          span.end();
        }
      },
    );
  }

  close() {
    for (const c of this.connections) c.close();
  }
}
