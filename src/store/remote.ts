import type { MessagePort } from 'node:worker_threads';
import { relayedFromStoreThread, type Sql } from './sql/sql.js';
import { EngineError, type Engine, type EngineCapabilities, type ResultFormat, type StatementLimits } from './engine.js';
import type { Layout } from './schema.js';
import { SqlStore, type SqlStoreOptions } from './sql-store/index.js';

/**
 * The store across a thread boundary. Query workers (api/isolation) build
 * their own SqlStore, so SQL building, result parsing and evaluation all
 * run off the event loop that takes ingest; only the engine stays in the
 * main thread, where chDB's sessions and the ClickHouse clients live. Each
 * query gets its own MessageChannel, and every statement it sends runs
 * within that query's limits and dies with its signal.
 */

/** What a worker needs to build a read-only store: data only, so it crosses threads. */
export interface RemoteStoreInfo {
  capabilities: EngineCapabilities;
  version: string;
  exclusive: boolean;
  nodes: number;
  layout: Layout;
  options: SqlStoreOptions;
}

interface StatementMessage {
  id: number;
  /** Absent: wherever the engine sends statements without a node (it may fail over). */
  node?: number;
  text: string;
  format: ResultFormat;
}

type AnswerMessage = { id: number; bytes: Uint8Array } | { id: number; error: { message: string; code: number | undefined } };

/** The worker's engine: statements go to the main thread over `port`. Reads only. */
class RemoteEngine implements Engine {
  readonly capabilities: EngineCapabilities;
  readonly version: string;
  readonly exclusive: boolean;
  readonly nodes: number;
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (b: Buffer) => void; reject: (e: Error) => void }>();

  constructor(
    info: RemoteStoreInfo,
    private readonly port: MessagePort,
  ) {
    this.capabilities = info.capabilities;
    this.version = info.version;
    this.exclusive = info.exclusive;
    this.nodes = info.nodes;
    port.on('message', (m: AnswerMessage) => {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if ('bytes' in m) w.resolve(Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength));
      else w.reject(new EngineError(m.error.message, m.error.code));
    });
    port.on('close', () => {
      for (const w of this.waiting.values()) w.reject(new EngineError('the query was stopped', 394));
      this.waiting.clear();
    });
  }

  query(statement: Sql, format: ResultFormat): Promise<Buffer> {
    return this.send(undefined, statement, format);
  }

  queryOn(node: number, statement: Sql, format: ResultFormat): Promise<Buffer> {
    return this.send(node, statement, format);
  }

  private send(node: number | undefined, statement: Sql, format: ResultFormat): Promise<Buffer> {
    const id = this.nextId++;
    return new Promise<Buffer>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.port.postMessage({ id, node, text: statement.text, format } satisfies StatementMessage);
    });
  }

  queryLimited(statement: Sql, format: ResultFormat, _lane: 'query' | 'lookup', _limits: StatementLimits, node?: number): Promise<Buffer> {
    return this.send(node, statement, format);
  }

  exec(): Promise<void> {
    return Promise.reject(new EngineError('a query worker only reads', undefined));
  }

  execOn(): Promise<void> {
    return this.exec();
  }

  insertNativeFile(): Promise<void> {
    return this.exec();
  }

  insertRows(): Promise<void> {
    return this.exec();
  }

  async close(): Promise<void> {
    this.port.close();
  }
}

/** The main thread's side: the engine that serves workers, and what workers must know of it. */
export interface QueryHost {
  engine: Engine;
  info: RemoteStoreInfo;
}

export function queryHost(store: SqlStore): QueryHost {
  const { engine, layout, options } = store.parts();
  return { engine, info: { capabilities: { ...engine.capabilities }, version: engine.version, exclusive: engine.exclusive, nodes: engine.nodes, layout: { ...layout }, options: { ...options } } };
}

/** In a query worker: the store over the main thread's engine, for one query. */
export function openRemoteStore(info: RemoteStoreInfo, port: MessagePort): SqlStore {
  return new SqlStore(new RemoteEngine(info, port), info.layout, info.options);
}

export interface ServeOptions {
  lane: 'query' | 'lookup';
  /** Names statements `<prefix>-<n>` in the engine. */
  queryIdPrefix: string;
  /** The limits of the next statement; time shrinks as the query's deadline nears. */
  limits: () => Omit<StatementLimits, 'queryId' | 'signal'>;
  signal: AbortSignal;
}

/**
 * In the main thread: runs the statements a worker sends on `port` until
 * the port closes or the signal aborts. Returns the number of statements
 * run so far, for status counters.
 */
export function serveEngine(engine: Engine, port: MessagePort, opts: ServeOptions): { statements: () => number } {
  let n = 0;
  port.on('message', (m: StatementMessage) => {
    const queryId = `${opts.queryIdPrefix}-${n++}`;
    engine
      .queryLimited(relayedFromStoreThread(m.text), m.format, opts.lane, { ...opts.limits(), queryId, signal: opts.signal }, m.node)
      .then(
        (out) => {
          // A copy the port can move: engine buffers may be views into memory it cannot detach.
          const bytes = new Uint8Array(out.byteLength);
          bytes.set(out);
          port.postMessage({ id: m.id, bytes } satisfies AnswerMessage, [bytes.buffer]);
        },
        (e: unknown) => {
          const err = e instanceof EngineError ? e : new EngineError((e as Error)?.message ?? String(e), undefined);
          port.postMessage({ id: m.id, error: { message: err.message, code: err.code } } satisfies AnswerMessage);
        },
      );
  });
  return { statements: () => n };
}
