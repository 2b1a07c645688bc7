import { createReadStream, readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import type { Readable } from 'node:stream';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { sql, join, ident, type Sql } from '../sql/sql.js';
import { EngineError, clickHouseErrorCode, limitSettings, type Engine, type EngineCapabilities, type EngineSettings, type Lane, type ResultFormat, type StatementLimits } from '../engine.js';

/**
 * A ClickHouse server, or the shards of a cluster, over HTTP.
 *
 * Statements go to the first node; `execEverywhere` runs DDL and
 * maintenance on every node, because without ZooKeeper (Debian's 18.16 has
 * none) `ON CLUSTER` is not available.
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
  };
}

export class ClickHouseEngine implements Engine {
  readonly capabilities: EngineCapabilities;
  readonly exclusive = false;

  private constructor(
    private readonly clients: ClickHouseClient[],
    readonly version: string,
    private readonly database: string,
    settings?: ReadonlySet<string>,
  ) {
    this.capabilities = capabilitiesFor(version, settings);
  }

  /** `caCert`: the CA bundle an https:// server's certificate must chain to (default: Node's CAs). */
  static async open(target: ClickHouseTarget, opts: { requestTimeoutMs?: number; caCert?: Buffer } = {}): Promise<ClickHouseEngine> {
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
      });
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
    const version = (await engine.query(sql`SELECT version()`, 'TabSeparated')).toString().trim();
    const versions = new Set([version]);
    for (let i = 1; i < clients.length; i++) versions.add((await engine.queryOn(i, sql`SELECT version()`, 'TabSeparated')).toString().trim());
    // Capabilities follow the oldest node, and the settings every node has.
    const oldest = [...versions].sort((a, b) => compareVersions(a, b))[0];
    let settings: Set<string> | undefined;
    for (let i = 0; i < clients.length; i++) {
      const names = (await engine.queryOn(i, sql`SELECT name FROM system.merge_tree_settings WHERE name IN (${['min_bytes_for_wide_part', 'min_level_for_wide_part', 'string_serialization_version']})`, 'TabSeparated'))
        .toString()
        .split('\n')
        .filter(Boolean);
      settings = settings ? new Set(names.filter((n) => settings!.has(n))) : new Set(names);
    }
    return new ClickHouseEngine(clients, oldest, target.database, settings);
  }

  get nodes(): number {
    return this.clients.length;
  }

  async exec(statement: Sql, _lane?: Lane, settings: EngineSettings = {}): Promise<void> {
    try {
      await this.clients[0].command({ query: statement.text, clickhouse_settings: settings as never });
    } catch (e) {
      throw toEngineError(e);
    }
  }

  async execOn(node: number, statement: Sql): Promise<void> {
    try {
      await this.clients[node].command({ query: statement.text });
    } catch (e) {
      throw toEngineError(e);
    }
  }

  async query(statement: Sql, format: ResultFormat): Promise<Buffer> {
    return this.queryOn(0, statement, format);
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
  async queryLimited(statement: Sql, format: ResultFormat, _lane: 'query' | 'lookup', limits: StatementLimits, node = 0): Promise<Buffer> {
    limits.signal?.throwIfAborted();
    const kill = () => void this.killQuery(node, limits.queryId);
    limits.signal?.addEventListener('abort', kill, { once: true });
    try {
      const { stream } = await this.clients[node].exec({
        query: `${statement.text}\nFORMAT ${format}`,
        query_id: limits.queryId,
        clickhouse_settings: limitSettings(limits) as never,
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
      const { stream } = await this.clients[0].exec({
        query,
        values: createReadStream(file),
        // Wait for a Distributed insert to reach the shards before we call it stored.
        clickhouse_settings: { insert_distributed_sync: 1, ...(this.capabilities.insertPartitionLimit ? { max_partitions_per_insert_block: '0' } : {}) } as never,
      });
      await collect(stream);
    } catch (e) {
      throw toEngineError(e);
    }
  }

  async insertRows(table: string, rows: readonly Record<string, unknown>[]): Promise<void> {
    if (rows.length === 0) return;
    try {
      await this.clients[0].insert({ table, values: rows as Record<string, unknown>[], format: 'JSONEachRow', clickhouse_settings: { insert_distributed_sync: 1 } as never });
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
  return new EngineError(err.message ?? String(e), code, { cause: e });
}
