import { createReadStream, readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import type { Readable } from 'node:stream';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { sql, join, ident, type Sql } from '../sql/sql.js';
import { DDL_WAIT_WITH_NODES_DOWN_S, EngineError, clickHouseErrorCode, limitSettings, type Engine, type EngineCapabilities, type EngineSettings, type Lane, type ResultFormat, type StatementLimits } from '../engine.js';

/**
 * A ClickHouse server, or the shards of a cluster, over HTTP.
 *
 * Statements go to the first node; the store runs DDL and maintenance on
 * every node (`execOn`), because without ZooKeeper `ON CLUSTER` is not
 * available. On a replicated cluster (ZooKeeper, ReplicatedMergeTree) the
 * nodes are every replica of every shard: DDL runs once ON CLUSTER, and a
 * statement goes to the next node when one cannot be reached.
 */

export interface ClickHouseTarget {
  /** HTTP base URLs of every node, e.g. http://127.0.0.1:8123. */
  urls: string[];
  user: string;
  password: string;
  database: string;
}

/**
 * Parses `clickhouse://user:pass@host:8123[,host2:8123]/db` (or `http://`,
 * `https://` for TLS). Several hosts mean several shards of one cluster.
 *
 * The URL may hold a password, so no error quotes any part of it. The
 * userinfo ends at the last `@` before the path: an unencoded `@` in a
 * password must not turn the rest of it into a host name that a later
 * connection error would print.
 */
export function parseClickHouseUrl(raw: string): ClickHouseTarget {
  const m = /^(clickhouse|http|https|clickhouses):\/\/(?:([^:@/?#]*)(?::([^/?#]*))?@)?([^/?#@]+)(?:\/([^?#]*))?$/.exec(raw.trim());
  if (!m) throw new Error('not a ClickHouse URL: expected clickhouse://user@host:8123/database (percent-encode / ? # in a password, or use --store-password-file)');
  const scheme = m[1] === 'https' || m[1] === 'clickhouses' ? 'https' : 'http';
  const hosts = m[4].split(',').filter(Boolean);
  if (hosts.length === 0) throw new Error('the ClickHouse URL names no host');
  // Host names, IPv4 or [IPv6] addresses, each with an optional port.
  const badHost = hosts.findIndex((h) => !/^(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/.test(h));
  if (badHost >= 0) throw new Error(`host ${badHost + 1} of the ClickHouse URL is not host or host:port`);
  const decode = (part: string | undefined, what: string) => {
    try {
      return decodeURIComponent(part ?? '');
    } catch {
      throw new Error(`the ${what} in the ClickHouse URL has a malformed %-escape`);
    }
  };
  const database = decode(m[5], 'database name') || 'default';
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(database)) throw new Error('the database name (the URL\'s path) must be a plain identifier: letters, digits and _');
  return {
    urls: hosts.map((h) => `${scheme}://${/:\d+$/.test(h) ? h : `${h}:8123`}`),
    user: decode(m[2], 'user name') || 'default',
    password: decode(m[3], 'password'),
    database,
  };
}

/**
 * A PEM CA bundle (--store-ca) for an https:// server's certificate. Throws
 * an Error with a one-line reason when the file cannot be read or holds no
 * certificate.
 */
export function loadCaBundle(file: string): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`cannot be read (${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (e as Error).message.split('\n')[0]})`);
  }
  const certs = pem.toString('latin1').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (certs.length === 0) throw new Error('no PEM certificate (-----BEGIN CERTIFICATE-----) in the file');
  for (const c of certs) {
    try {
      new X509Certificate(c);
    } catch (e) {
      throw new Error(`not a valid certificate (${(e as Error).message.split('\n')[0]})`);
    }
  }
  return pem;
}

/** The URL with its password hidden, for logs. Like the parser, the userinfo ends at the last `@`. */
export function redactClickHouseUrl(raw: string): string {
  return raw.trim().replace(/^([a-z]+:\/\/[^:@/?#]*:)[^/?#]*@/, '$1***@');
}

/**
 * What a server version can do. 18.16 (Debian bookworm) is the floor.
 * `settings` are the MergeTree settings the server lists, where known:
 * features that are only a setting are declared by its presence.
 */
export function capabilitiesFor(version: string, settings?: ReadonlySet<string>): EngineCapabilities {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const atLeast = (a: number, b: number) => major > a || (major === a && minor >= b);
  return {
    lowCardinality: atLeast(19, 9),
    codecs: atLeast(19, 10),
    jsonFunctions: atLeast(19, 4),
    fsyncSettings: atLeast(21, 1),
    tableCompressionSettings: atLeast(22, 1),
    insertPartitionLimit: atLeast(19, 1),
    // Skipping indexes left experimental in 19.17 (ClickHouse PR 7974).
    skipIndexes: atLeast(20, 1),
    // Refused on 18.16, accepted on chDB 26.7; 22.1 is a conservative floor
    // (the release in between was not available to test).
    quantileStatesAnyLevel: atLeast(22, 1),
    compactParts: settings ? settings.has('min_bytes_for_wide_part') : atLeast(20, 3),
    widePartLevel: settings?.has('min_level_for_wide_part') ?? false,
    // Column-level compression block sizes: ClickHouse PR 55201, 23.11.
    columnSettings: atLeast(23, 11),
    stringSerialization: settings?.has('string_serialization_version') ?? false,
    // MODIFY SETTING came in 19.x; RESET SETTING with ClickHouse PR 17769
    // (December 2020). 21.3, the first LTS after it, is a conservative floor.
    modifyTableSettings: atLeast(21, 3),
    outdatedPartsKept: false,
    // Not in 18.16; 20.1 is a conservative floor (the releases in between were not available to test).
    threadPriority: atLeast(20, 1),
    jitFailsOnEmptyInSets: jitFailsOnEmptyInSets(version),
  };
}

/**
 * The releases with the JIT and empty IN set failure (EngineCapabilities):
 * 26.6 to 26.8 (ClickHouse issue 116018, from PR 100226), before the
 * backports of its fix (PR 116057), which 26.9 has from the start.
 * Measured on chDB 3.4 (26.7.2.1: fails) and Debian's 18.16 (does not);
 * the other versions are as the issue and the fix's backports state.
 */
const JIT_EMPTY_IN_SET_FIXED: Readonly<Record<string, string>> = { '26.6': '26.6.5.101', '26.7': '26.7.7.9', '26.8': '26.8.3.14' };

function jitFailsOnEmptyInSets(version: string): boolean {
  const fixed = JIT_EMPTY_IN_SET_FIXED[version.split('.').slice(0, 2).join('.')];
  return fixed !== undefined && compareVersions(version, fixed) < 0;
}

export interface ClickHouseOpenOptions {
  requestTimeoutMs?: number;
  /** The CA bundle an https:// server's certificate must chain to (default: Node's CAs). */
  caCert?: Buffer;
  /**
   * The nodes are replicas of the shards of this remote_servers cluster
   * (with ZooKeeper): the database is created ON CLUSTER, the engine opens
   * while some nodes are down, and statements fail over to the next node
   * that can be reached.
   */
  replicatedCluster?: string;
}

export class ClickHouseEngine implements Engine {
  readonly capabilities: EngineCapabilities;
  readonly exclusive = false;
  /** Where statements without a node go: the first node, until it cannot be reached (with failover). */
  private live = 0;

  private constructor(
    private readonly clients: ClickHouseClient[],
    readonly version: string,
    private readonly database: string,
    settings?: ReadonlySet<string>,
    private readonly failover = false,
  ) {
    this.capabilities = capabilitiesFor(version, settings);
  }

  static async open(target: ClickHouseTarget, opts: ClickHouseOpenOptions = {}): Promise<ClickHouseEngine> {
    const replicated = opts.replicatedCluster !== undefined;
    // Create the database first, through the default one.
    const make = (url: string, database: string) =>
      createClient({
        url,
        username: target.user,
        password: target.password,
        database,
        request_timeout: opts.requestTimeoutMs ?? 120_000,
        compression: { request: false, response: false },
        max_open_connections: 16,
        keep_alive: { enabled: true },
        // Errors reach us as exceptions; the client's own log would repeat them on stderr.
        log: { level: ClickHouseLogLevel.OFF },
        ...(opts.caCert && url.startsWith('https:') ? { tls: { ca_cert: opts.caCert } } : {}),
        // Replicas of a shard are read and written in the order remote_servers
        // lists them, not at random (the default): a Distributed read then
        // goes to the replica the Distributed insert wrote to, and sees it.
        ...(replicated ? { clickhouse_settings: { load_balancing: 'in_order' } as never } : {}),
      });
    if (opts.replicatedCluster !== undefined) await createDatabaseOnCluster(target.urls.map((u) => make(u, 'default')), target.database, opts.replicatedCluster);
    else
      for (const url of target.urls) {
        const admin = make(url, 'default');
        try {
          await admin.command({ query: sql`CREATE DATABASE IF NOT EXISTS ${ident(target.database)}`.text });
        } catch (e) {
          throw toEngineError(e);
        } finally {
          await admin.close();
        }
      }
    const clients = target.urls.map((u) => make(u, target.database));
    const engine = new ClickHouseEngine(clients, '', target.database);
    // Capabilities follow the oldest node, and the settings every node has.
    // A replica that cannot be reached now is left out.
    const versions = new Set<string>();
    let settings: Set<string> | undefined;
    for (let i = 0; i < clients.length; i++) {
      let version: string;
      try {
        version = (await engine.queryOn(i, sql`SELECT version()`, 'TabSeparated')).toString().trim();
      } catch (e) {
        if (replicated && e instanceof EngineError && e.connection && (i < clients.length - 1 || versions.size > 0)) continue;
        throw e;
      }
      versions.add(version);
      const names = (await engine.queryOn(i, sql`SELECT name FROM system.merge_tree_settings WHERE name IN (${['min_bytes_for_wide_part', 'min_level_for_wide_part', 'string_serialization_version']})`, 'TabSeparated'))
        .toString()
        .split('\n')
        .filter(Boolean);
      settings = settings ? new Set(names.filter((n) => settings!.has(n))) : new Set(names);
    }
    const oldest = [...versions].sort((a, b) => compareVersions(a, b))[0];
    return new ClickHouseEngine(clients, oldest, target.database, settings, replicated);
  }

  get nodes(): number {
    return this.clients.length;
  }

  /**
   * Runs `send` against the node statements go to. With failover, when no
   * answer came from it (EngineError.connection), against the next node,
   * which then stays the one used; each node is tried once. An error a
   * node answered with is thrown as it is, never retried elsewhere.
   */
  private async onLiveNode<T>(send: (node: number) => Promise<T>): Promise<T> {
    const first = this.live;
    for (let i = 0; ; i++) {
      const node = (first + i) % this.clients.length;
      try {
        const out = await send(node);
        this.live = node;
        return out;
      } catch (e) {
        if (!this.failover || i + 1 >= this.clients.length || !toEngineError(e).connection) throw e;
      }
    }
  }

  async exec(statement: Sql, _lane?: Lane, settings: EngineSettings = {}): Promise<void> {
    try {
      await this.onLiveNode((node) => this.clients[node].command({ query: statement.text, clickhouse_settings: settings as never }));
    } catch (e) {
      throw toEngineError(e);
    }
  }

  async execOn(node: number, statement: Sql, settings: EngineSettings = {}): Promise<void> {
    try {
      await this.clients[node].command({ query: statement.text, clickhouse_settings: settings as never });
    } catch (e) {
      throw toEngineError(e);
    }
  }

  async query(statement: Sql, format: ResultFormat): Promise<Buffer> {
    return this.onLiveNode((node) => this.queryOn(node, statement, format));
  }

  async queryOn(node: number, statement: Sql, format: ResultFormat): Promise<Buffer> {
    try {
      const { stream } = await this.clients[node].exec({ query: `${statement.text}\nFORMAT ${format}` });
      return await collect(stream);
    } catch (e) {
      throw toEngineError(e);
    }
  }

  /**
   * The limits travel as settings of the request, the query id names it,
   * and an abort both drops the HTTP request and asks the server to KILL
   * the query: a server that does not notice the closed connection (18.16
   * has no cancel_http_readonly_queries_on_client_close) would otherwise
   * run it to its time limit.
   */
  async queryLimited(statement: Sql, format: ResultFormat, lane: 'query' | 'lookup', limits: StatementLimits, node?: number): Promise<Buffer> {
    if (node === undefined) return this.onLiveNode((n) => this.queryLimited(statement, format, lane, limits, n));
    limits.signal?.throwIfAborted();
    const kill = () => void this.killQuery(node, limits.queryId);
    limits.signal?.addEventListener('abort', kill, { once: true });
    try {
      const { stream } = await this.clients[node].exec({
        query: `${statement.text}\nFORMAT ${format}`,
        query_id: limits.queryId,
        clickhouse_settings: limitSettings(limits, lane === 'query' && this.capabilities.threadPriority) as never,
        ...(limits.signal ? { abort_signal: limits.signal } : {}),
      });
      return await collect(stream);
    } catch (e) {
      if (limits.signal?.aborted) throw limits.signal.reason;
      throw toEngineError(e);
    } finally {
      limits.signal?.removeEventListener('abort', kill);
    }
  }

  /** Best effort: the query may have ended already, and then there is nothing to kill. */
  private async killQuery(node: number, queryId: string): Promise<void> {
    try {
      await this.clients[node].command({ query: sql`KILL QUERY WHERE query_id = ${queryId} ASYNC`.text });
    } catch {
      // The answer to the user is already the abort; a failed KILL leaves the
      // query to its max_execution_time.
    }
  }

  async insertNativeFile(table: string, columns: readonly string[], file: string): Promise<void> {
    // The body is our Native file. Column types in it are the plain wire
    // types; servers that dictionary-encode convert them on insert.
    const query = sql`INSERT INTO ${ident(table)} (${join(columns.map(ident))}) FORMAT Native`.text;
    try {
      // Another node gets the same bytes: on a replicated cluster, the blocks
      // a first attempt stored are recognised and skipped (insert deduplication).
      await this.onLiveNode(async (node) => {
        const { stream } = await this.clients[node].exec({
          query,
          values: createReadStream(file),
          // Wait for a Distributed insert to reach the shards before we call it stored.
          clickhouse_settings: { insert_distributed_sync: 1, ...(this.capabilities.insertPartitionLimit ? { max_partitions_per_insert_block: '0' } : {}) } as never,
        });
        await collect(stream);
      });
    } catch (e) {
      throw toEngineError(e);
    }
  }

  async insertRows(table: string, rows: readonly Record<string, unknown>[]): Promise<void> {
    if (rows.length === 0) return;
    try {
      await this.onLiveNode((node) => this.clients[node].insert({ table, values: rows as Record<string, unknown>[], format: 'JSONEachRow', clickhouse_settings: { insert_distributed_sync: 1 } as never }));
    } catch (e) {
      throw toEngineError(e);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.close()));
  }

  get databaseName(): string {
    return this.database;
  }
}

function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

function toEngineError(e: unknown): EngineError {
  if (e instanceof EngineError) return e;
  const err = e as { message?: string; code?: string | number };
  // The client reads the code out of newer servers' answers only; 18.16's
  // error body starts `Code: 241, e.displayText() = ...`.
  const code = err.code !== undefined && /^\d+$/.test(String(err.code)) ? Number(err.code) : clickHouseErrorCode(err.message ?? '');
  return new EngineError(err.message ?? String(e), code, { cause: e, connection: typeof err.code === 'string' && CONNECTION_CODES.has(err.code) });
}

/**
 * Error codes of Node's sockets (which @clickhouse/client passes on) that
 * mean no answer came from the server: it is not listening, cannot be
 * reached, or the connection broke before the reply.
 */
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ETIMEDOUT', 'EPIPE', 'ECONNABORTED', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * Creates the database on every node of a replicated cluster with one ON
 * CLUSTER statement, unless every node that answers has it already. Nodes
 * that are down get the statement from ZooKeeper's queue when they return
 * (and the tables' statements after it), so a replica that was down when
 * the store was first created is not left without them.
 */
async function createDatabaseOnCluster(admins: ClickHouseClient[], database: string, cluster: string): Promise<void> {
  const unreachable = () => new EngineError('no node of the replicated cluster could be reached', undefined, { connection: true });
  /** Whether each node that answers has the database. */
  const present = async (): Promise<boolean[]> => {
    const has: boolean[] = [];
    for (const admin of admins) {
      try {
        const { stream } = await admin.exec({ query: sql`SELECT count() FROM system.databases WHERE name = ${database}\nFORMAT TabSeparated`.text });
        has.push((await collect(stream)).toString().trim() === '1');
      } catch (e) {
        if (!toEngineError(e).connection) throw toEngineError(e);
      }
    }
    if (has.length === 0) throw unreachable();
    return has;
  };
  try {
    const has = await present();
    if (has.every(Boolean)) return;
    const settings = has.length < admins.length ? { distributed_ddl_task_timeout: DDL_WAIT_WITH_NODES_DOWN_S } : {};
    for (const admin of admins) {
      try {
        await admin.command({ query: sql`CREATE DATABASE IF NOT EXISTS ${ident(database)} ON CLUSTER ${ident(cluster)}`.text, clickhouse_settings: settings as never });
        return;
      } catch (e) {
        const err = toEngineError(e);
        if (err.connection) continue;
        // 159 TIMEOUT_EXCEEDED: a node did not run it in time (it is down);
        // enough when every node that answers did.
        if (err.code === 159 && (await present()).every(Boolean)) return;
        throw err;
      }
    }
    throw unreachable();
  } finally {
    await Promise.all(admins.map((a) => a.close()));
  }
}
