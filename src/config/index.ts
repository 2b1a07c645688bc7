import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadCaBundle, parseClickHouseUrl, tenantIdProblem } from '../store/index.js';
import { ConfigFileError, loadConfigFile, type FileConfig } from './file.js';
import { loadTlsMaterial, TlsError, type TlsConfig } from '../tls/index.js';
import { compileRedaction, NO_REDACTION, RedactionConfigError, type RedactionRules } from '../redact/index.js';
import { loadSloConfig, parseSloDuration, SloConfigError, type SloConfig } from '../slo/index.js';

export { ConfigFileError, parseConfigFile, loadConfigFile, type FileConfig, type FileToken, type FileGrantRule, type FileOidc, type FileTailnet } from './file.js';

/**
 * One typed configuration, from flags, then SIGHTLINE_* environment
 * variables, then defaults that run on a laptop.
 */
export interface Config {
  dataDir: string;
  listen: string;
  otlpGrpcPort: number;
  otlpHttpPort: number;
  httpPort: number;
  /** Zipkin v2 ingest (POST /api/v2/spans); null: off, the default. */
  zipkinPort: number | null;
  retentionMs: number;
  retentionText: string;
  /** Retention per tenant, where it differs from retentionMs. */
  tenantRetentionMs: Map<string, number>;
  /** Everything is stored and read under this tenant while no identity says otherwise. */
  defaultTenant: string;
  maxBodyBytes: number;
  logLevel: LogLevel;
  /** `json` lines, `pretty` lines for a person, or `auto`: pretty when stdout is a terminal (the CLI decides). */
  logFormat: LogFormat;
  /** WAL bytes not yet in the store before ingest answers 429. */
  backlogBudgetBytes: number;
  corsOrigins: string[];
  /** Engine memory ceiling for the embedded store. */
  memoryLimitBytes: number;
  /** Longest a span waits in the WAL before an insert starts. */
  flushIntervalMs: number;
  store: StoreConfig;
  /** The config file, when --config names one. */
  file?: FileConfig;
  /** Redaction rules per tenant from the config file, compiled (patterns, key file read). */
  redaction: RedactionRules;
  /** Run without any identity source on a non-loopback address: the operator said so. */
  insecureNoAuth: boolean;
  /** HTTPS and gRPC over TLS on all three listeners (--tls-cert, --tls-key); session cookies are Secure with it. */
  tls?: TlsConfig;
  /** Limits on every query (docs/deploy.md, "Query limits"). */
  queries: QueryLimitsConfig;
  /** Connection caps and timeouts of the three listeners (docs/deploy.md, "Limits and timeouts"). */
  listeners: ListenerLimitsConfig;
  /** SLO definitions from --slo-config (docs/slo.md); absent: no SLOs. */
  slo?: SloConfig;
  /** How often each SLO is evaluated (--slo-interval); default 1m. */
  sloIntervalMs?: number;
}

/**
 * One set of limits for the three listeners; each counts its own
 * connections against them (src/receivers/listener-limits.ts, whose
 * ListenerLimits this is, with the two below).
 */
export interface ListenerLimitsConfig {
  /** Connections open at once on one listener; 0: no cap. */
  maxConnections: number;
  /** Connections open at once from one peer address, per listener; 0: no cap. */
  maxConnectionsPerPeer: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  idleTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /** gRPC calls open at once on one connection. */
  maxStreamsPerConnection: number;
  /** Largest request body the query API takes. */
  apiMaxBodyBytes: number;
}

export interface QueryLimitsConfig {
  /** Deadline of each query; past it the query is stopped, in the engine too. */
  timeoutMs: number;
  /** Searches, metrics and diagnosis running at once; past that, 429. */
  maxConcurrent: number;
  /** Engine memory per statement; absent: derived from the engine's own ceiling. */
  statementMemoryBytes?: number;
  /** V8 heap of each query worker. */
  workerHeapMb: number;
}

export type { TlsConfig } from '../tls/index.js';

/** Where spans are stored: the embedded engine, or a ClickHouse server or cluster. */
export type StoreConfig =
  | { kind: 'embedded' }
  | {
      kind: 'clickhouse';
      url: string;
      cluster?: string;
      /** The cluster's shards have replicas, with ZooKeeper (--clickhouse-replicated): the URL lists every replica. */
      replicated?: boolean;
      /** CA bundle for an https:// server's certificate (--store-ca). */
      caFile?: string;
      /** The password read from --store-password-file at start; the URL then carries none. */
      password?: string;
      /** Where the password came from, for the warning about its permissions. */
      passwordFile?: string;
    };

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
export type LogFormat = 'auto' | 'json' | 'pretty';
const LOG_FORMATS: readonly LogFormat[] = ['auto', 'json', 'pretty'];

/** A bad flag or value: the CLI prints the message on one line and exits 2. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

interface FlagSpec {
  /** Flag name without dashes; the env var is SIGHTLINE_ + NAME_IN_CAPS. */
  name: string;
  default: string;
  help: string;
  /** A switch without a value (`--insecure-no-auth`); its variable is `true` or `false`. */
  boolean?: true;
}

export const SERVE_FLAGS: readonly FlagSpec[] = [
  { name: 'data', default: './sightline-data', help: 'data directory (WAL and embedded store)' },
  { name: 'config', default: '', help: 'YAML config file: tenants, tokens, OIDC login, tailnet identities (docs/security.md)' },
  { name: 'listen', default: '127.0.0.1', help: 'address to listen on; off loopback, an identity source must be configured' },
  { name: 'insecure-no-auth', default: 'false', help: 'listen off loopback with no authentication at all (anyone who reaches it reads everything)', boolean: true },
  { name: 'otlp-grpc-port', default: '4317', help: 'OTLP/gRPC port' },
  { name: 'otlp-http-port', default: '4318', help: 'OTLP/HTTP port' },
  { name: 'http-port', default: '3200', help: 'query API (Tempo-compatible) and UI port' },
  { name: 'zipkin-port', default: '', help: 'Zipkin v2 ingest port (POST /api/v2/spans, JSON or protobuf; 9411 by convention); off unless set' },
  { name: 'retention', default: '7d', help: 'how long spans are kept (e.g. 36h, 7d, 2w)' },
  { name: 'tenant-retention', default: '', help: 'retention per tenant where it differs, e.g. acme=30d,lab=2d' },
  { name: 'default-tenant', default: 'single-tenant', help: 'the tenant spans are stored and read under without multi-tenant identities' },
  { name: 'max-body', default: '16MiB', help: 'largest request body, compressed or not' },
  { name: 'log-level', default: 'info', help: `one of ${LOG_LEVELS.join(', ')}; at info and above, logs never carry query text or span attribute values; debug and trace may` },
  { name: 'log-format', default: 'auto', help: 'json (one JSON object per line), pretty (for a person, with where each listener is bound at start), or auto: pretty when stdout is a terminal, json otherwise' },
  { name: 'backlog-budget', default: '512MiB', help: 'ingested bytes waiting for the store before ingest answers 429' },
  { name: 'cors-origins', default: '', help: 'comma-separated origins allowed to export from browsers (none by default)' },
  { name: 'memory-limit', default: '2GiB', help: 'memory ceiling of the embedded store engine' },
  { name: 'flush-interval', default: '1s', help: 'longest a span waits in the WAL before it is inserted into the store (e.g. 250ms, 2s)' },
  { name: 'store', default: 'embedded', help: 'embedded, or clickhouse://user@host:8123[,host2:8123]/database (https://user@host:8443/database for TLS), with the password in --store-password-file' },
  { name: 'store-password-file', default: '', help: 'file holding the ClickHouse password (a trailing newline is ignored); read once at start. Keeps it out of --store, where ps would show it' },
  { name: 'clickhouse-cluster', default: '', help: 'remote_servers cluster name; list every shard in --store' },
  { name: 'clickhouse-replicated', default: 'false', boolean: true, help: 'the --clickhouse-cluster shards have replicas, with ZooKeeper: ReplicatedMergeTree tables, ON CLUSTER DDL, and failover to a replica that answers; list every replica of every shard in --store' },
  { name: 'store-ca', default: '', help: 'PEM CA bundle that signed the https:// --store server certificate (default: the system CAs)' },
  { name: 'tls-cert', default: '', help: 'PEM certificate (chain) for HTTPS and gRPC-over-TLS on all three listeners, with --tls-key; re-read on SIGHUP' },
  { name: 'tls-key', default: '', help: 'PEM private key of --tls-cert (unencrypted); re-read on SIGHUP' },
  { name: 'query-timeout', default: '30s', help: 'deadline of each query (search, metrics, diagnosis, trace by id); past it the query is stopped, in the engine too, and answered 503' },
  { name: 'max-concurrent-queries', default: '4', help: 'searches, metrics and diagnosis queries running at once; past that, 429 with Retry-After' },
  { name: 'query-memory', default: '', help: 'engine memory one query statement may use (default: embedded, what is left of --memory-limit after 512MiB kept for inserts, shared by the query connections; ClickHouse, 2GiB)' },
  { name: 'query-worker-heap', default: '512MiB', help: 'JavaScript heap of each query worker thread; a query that needs more fails alone with 422' },
  { name: 'tls-client-ca', default: '', help: 'PEM CA bundle: both OTLP listeners then require a client certificate it signed (mutual TLS, on top of tokens); the query API and UI do not ask for one' },
  { name: 'max-connections', default: '1024', help: 'connections open at once on each listener; past it new ones are refused (HTTP 503, gRPC GOAWAY) and counted; 0 for no cap' },
  { name: 'max-connections-per-peer', default: '256', help: 'connections open at once from one client address on each listener (behind a proxy, all clients share its address); 0 for no cap' },
  { name: 'headers-timeout', default: '30s', help: 'a request\'s line and headers (and TLS handshake) must arrive within this (HTTP 408, then closed); also closes connections that send nothing' },
  { name: 'request-timeout', default: '5m', help: 'a whole request, body included, must arrive within this (HTTP 408; gRPC DEADLINE_EXCEEDED); at least --headers-timeout' },
  { name: 'idle-timeout', default: '30s', help: 'a request whose body (or a reply the client does not read) moves no byte for this long is aborted' },
  { name: 'keep-alive-timeout', default: '65s', help: 'an HTTP connection waits this long for its next request, a gRPC connection this long without a call, before it is closed' },
  { name: 'max-streams-per-connection', default: '100', help: 'gRPC calls open at once on one connection (HTTP/2 concurrent streams)' },
  { name: 'api-max-body', default: '1MiB', help: 'largest request body the query API (port --http-port) takes' },
  { name: 'slo-config', default: '', help: 'YAML file of SLOs, alert windows and webhook receivers (docs/slo.md); re-read on SIGHUP' },
  { name: 'slo-interval', default: '1m', help: 'how often each SLO is evaluated for alerts (e.g. 30s, 1m)' },
];

export function envName(flag: string): string {
  return `SIGHTLINE_${flag.toUpperCase().replace(/-/g, '_')}`;
}

/** Parses `serve` arguments and the environment into a Config. */
export function parseServeConfig(argv: readonly string[], env: NodeJS.ProcessEnv): Config {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: Object.fromEntries(SERVE_FLAGS.map((f) => [f.name, { type: f.boolean ? ('boolean' as const) : ('string' as const) }])),
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    throw new ConfigError((e as Error).message.split('\n')[0]);
  }
  const get = (name: string): { value: string; source: string } => {
    const flag = values[name];
    if (typeof flag === 'string') return { value: flag, source: `--${name}` };
    if (flag === true) return { value: 'true', source: `--${name}` };
    const fromEnv = env[envName(name)];
    if (fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, source: envName(name) };
    return { value: SERVE_FLAGS.find((f) => f.name === name)!.default.replace(/^''$/, ''), source: `default of --${name}` };
  };

  const retention = get('retention');
  const logLevel = get('log-level');
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel.value))
    throw new ConfigError(`${logLevel.source}: ${JSON.stringify(logLevel.value)} is not a log level (${LOG_LEVELS.join(', ')})`);
  const logFormat = get('log-format');
  if (!(LOG_FORMATS as readonly string[]).includes(logFormat.value))
    throw new ConfigError(`${logFormat.source}: ${JSON.stringify(logFormat.value)} is not a log format (${LOG_FORMATS.join(', ')})`);
  const listen = get('listen');
  if (net.isIP(listen.value) === 0 && listen.value !== 'localhost')
    throw new ConfigError(`${listen.source}: ${JSON.stringify(listen.value)} is not an IP address`);
  const data = get('data');
  if (data.value.trim() === '') throw new ConfigError(`${data.source}: the data directory must not be empty`);

  const ports = ['otlp-grpc-port', 'otlp-http-port', 'http-port'].map((n) => parsePort(get(n)));
  const zipkin = get('zipkin-port');
  const zipkinPort = zipkin.value.trim() === '' ? null : parsePort({ value: zipkin.value.trim(), source: zipkin.source });
  const listening = zipkinPort === null ? ports : [...ports, zipkinPort];
  const nonZero = listening.filter((p) => p !== 0);
  if (new Set(nonZero).size !== nonZero.length)
    throw new ConfigError(`the OTLP/gRPC, OTLP/HTTP, HTTP${zipkinPort === null ? '' : ' and Zipkin'} ports must differ (got ${listening.join(', ')})`);

  const retentionMs = parseDurationValue(retention);
  if (retentionMs < 60 * 60 * 1000) throw new ConfigError(`${retention.source}: retention must be at least 1h`);
  const configPath = get('config').value.trim();
  let file: FileConfig | undefined;
  if (configPath) {
    try {
      file = loadConfigFile(configPath, parseDuration);
    } catch (e) {
      if (e instanceof ConfigFileError) throw new ConfigError(e.message);
      throw e;
    }
  }
  // A flag or variable wins over the file, the file over the default.
  const defaultTenantFlag = get('default-tenant');
  const defaultTenant = file?.defaultTenant && defaultTenantFlag.source.startsWith('default') ? { value: file.defaultTenant, source: file.path } : defaultTenantFlag;
  const tenantProblem = tenantIdProblem(defaultTenant.value);
  if (tenantProblem) throw new ConfigError(`${defaultTenant.source}: ${JSON.stringify(defaultTenant.value)} is not a tenant id: ${tenantProblem}`);

  return {
    dataDir: data.value,
    listen: listen.value,
    otlpGrpcPort: ports[0],
    otlpHttpPort: ports[1],
    httpPort: ports[2],
    zipkinPort,
    retentionMs,
    retentionText: retention.value,
    tenantRetentionMs: new Map([...(file?.tenantRetentionMs ?? []), ...parseTenantRetention(get('tenant-retention'))]),
    defaultTenant: defaultTenant.value,
    file,
    insecureNoAuth: parseBoolean(get('insecure-no-auth')),
    maxBodyBytes: parseSizeValue(get('max-body'), 1024),
    logLevel: logLevel.value as LogLevel,
    logFormat: logFormat.value as LogFormat,
    backlogBudgetBytes: parseSizeValue(get('backlog-budget'), 1024 * 1024),
    corsOrigins: corsOrigins(get('cors-origins'), file),
    memoryLimitBytes: parseSizeValue(get('memory-limit'), 256 * 1024 * 1024),
    flushIntervalMs: parseFlushInterval(get('flush-interval')),
    store: parseStore(get('store'), get('clickhouse-cluster'), get('store-ca'), get('store-password-file'), get('clickhouse-replicated')),
    tls: parseTls(get('tls-cert'), get('tls-key'), get('tls-client-ca')),
    redaction: redactionRules(file),
    queries: parseQueryLimits(get),
    listeners: parseListenerLimits(get),
    ...parseSlo(get('slo-config'), get('slo-interval')),
  };
}

/** The SLO file, read and checked now: a bad one stops the start with its line and column. */
function parseSlo(file: { value: string; source: string }, interval: { value: string; source: string }): { slo?: SloConfig; sloIntervalMs: number } {
  const sloIntervalMs = parseSloDuration(interval.value) ?? NaN;
  if (!(sloIntervalMs >= 1000 && sloIntervalMs <= 3600_000)) throw new ConfigError(`${interval.source}: ${JSON.stringify(interval.value)} is not an interval from 1s to 1h (e.g. 30s, 1m)`);
  const path = file.value.trim();
  if (!path) return { sloIntervalMs };
  try {
    return { slo: loadSloConfig(path), sloIntervalMs };
  } catch (e) {
    if (e instanceof SloConfigError) throw new ConfigError(e.message);
    throw e;
  }
}

function parseQueryLimits(get: (name: string) => { value: string; source: string }): QueryLimitsConfig {
  const timeout = get('query-timeout');
  const timeoutMs = parseDuration(timeout.value);
  if (timeoutMs === undefined || timeoutMs < 100 || timeoutMs > 3600_000) throw new ConfigError(`${timeout.source}: ${JSON.stringify(timeout.value)} is not a duration between 100ms and 1h (e.g. 30s, 2m)`);
  const concurrent = get('max-concurrent-queries');
  if (!/^\d{1,3}$/.test(concurrent.value) || Number(concurrent.value) < 1) throw new ConfigError(`${concurrent.source}: ${JSON.stringify(concurrent.value)} is not a number of queries (1-999)`);
  const memory = get('query-memory');
  const heap = parseSizeValue(get('query-worker-heap'), 64 * 1024 * 1024);
  return {
    timeoutMs,
    maxConcurrent: Number(concurrent.value),
    statementMemoryBytes: memory.value.trim() === '' ? undefined : parseSizeValue(memory, 16 * 1024 * 1024),
    workerHeapMb: Math.floor(heap / (1024 * 1024)),
  };
}

/**
 * The config file's redaction rules, compiled: patterns, and the hash key
 * file (relative to the config file's directory) read now, so a bad one
 * stops the start, or a SIGHUP reload, with its line.
 */
export function redactionRules(file: FileConfig | undefined): RedactionRules {
  if (!file?.redaction) return NO_REDACTION;
  try {
    return compileRedaction(file.redaction, path.dirname(path.resolve(file.path)));
  } catch (e) {
    if (e instanceof RedactionConfigError) throw new ConfigError(e.message);
    throw e;
  }
}

/** Both of --tls-cert and --tls-key, or neither; the files are read and checked now so a bad one stops the start with one line. */
function parseTls(cert: { value: string; source: string }, key: { value: string; source: string }, clientCa: { value: string; source: string }): TlsConfig | undefined {
  const certFile = cert.value.trim();
  const keyFile = key.value.trim();
  const clientCaFile = clientCa.value.trim();
  if (!certFile && !keyFile) {
    if (clientCaFile) throw new ConfigError(`${clientCa.source} needs --tls-cert and --tls-key: client certificates are only asked for over TLS`);
    return undefined;
  }
  if (!certFile) throw new ConfigError(`${key.source} needs --tls-cert too`);
  if (!keyFile) throw new ConfigError(`${cert.source} needs --tls-key too`);
  const tls: TlsConfig = { certFile, keyFile, clientCaFile: clientCaFile || undefined };
  try {
    loadTlsMaterial(tls);
  } catch (e) {
    if (e instanceof TlsError) throw new ConfigError(e.message);
    throw e;
  }
  return tls;
}

function parseStore(
  store: { value: string; source: string },
  cluster: { value: string; source: string },
  ca: { value: string; source: string },
  passwordFileFlag: { value: string; source: string },
  replicatedFlag: { value: string; source: string },
): StoreConfig {
  const replicated = parseBoolean(replicatedFlag);
  const value = store.value.trim();
  const caFile = ca.value.trim();
  const passwordFile = passwordFileFlag.value.trim();
  if (value === 'embedded' || value === '') {
    if (cluster.value) throw new ConfigError(`${cluster.source} needs a ClickHouse --store`);
    if (replicated) throw new ConfigError(`${replicatedFlag.source} needs a ClickHouse --store`);
    if (caFile) throw new ConfigError(`${ca.source} needs an https:// ClickHouse --store`);
    if (passwordFile) throw new ConfigError(`${passwordFileFlag.source} needs a ClickHouse --store`);
    return { kind: 'embedded' };
  }
  let urls: string[];
  let urlPassword: string;
  try {
    ({ urls, password: urlPassword } = parseClickHouseUrl(value));
  } catch (e) {
    // parseClickHouseUrl's messages never quote the URL, which may hold a password.
    throw new ConfigError(`${store.source}: ${(e as Error).message}`);
  }
  let password: string | undefined;
  if (passwordFile) {
    // Two passwords would leave the reader guessing which one is used.
    if (urlPassword !== '') throw new ConfigError(`${store.source} carries a password and ${passwordFileFlag.source} gives one too; take it out of the URL`);
    password = readPasswordFile(passwordFile, passwordFileFlag.source);
  }
  if (caFile) {
    if (!urls.every((u) => u.startsWith('https:'))) throw new ConfigError(`${ca.source} needs an https:// ClickHouse --store (it checks the server's certificate)`);
    try {
      loadCaBundle(caFile);
    } catch (e) {
      throw new ConfigError(`${ca.source} ${caFile}: ${(e as Error).message}`);
    }
  }
  if (cluster.value && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(cluster.value))
    throw new ConfigError(`${cluster.source}: ${JSON.stringify(cluster.value)} is not a cluster name`);
  // ON CLUSTER DDL and the Distributed tables both need the cluster's name.
  if (replicated && !cluster.value) throw new ConfigError(`${replicatedFlag.source} needs --clickhouse-cluster (the remote_servers cluster of the replicas)`);
  return { kind: 'clickhouse', url: value, cluster: cluster.value || undefined, ...(replicated ? { replicated } : {}), ...(caFile ? { caFile } : {}), ...(password !== undefined ? { password, passwordFile } : {}) };
}

/**
 * The ClickHouse password from --store-password-file, without its trailing
 * newline (`echo secret > file` writes one). Read once, at start: a changed
 * password needs a restart. Errors name the file, never its content.
 */
function readPasswordFile(file: string, source: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : (code ?? 'unreadable');
    throw new ConfigError(`${source} ${file}: cannot be read (${reason})`);
  }
  const password = text.replace(/[\r\n]+$/, '');
  if (password === '') throw new ConfigError(`${source} ${file}: the file is empty`);
  return password;
}

function parseBoolean({ value, source }: { value: string; source: string }): boolean {
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0' || value === '') return false;
  throw new ConfigError(`${source}: ${JSON.stringify(value)} is not true or false`);
}

function corsOrigins(flag: { value: string; source: string }, file: FileConfig | undefined): string[] {
  const fromFlag = flag.value.split(',').map((s) => s.trim()).filter(Boolean);
  return fromFlag.length > 0 || !file?.corsOrigins ? fromFlag : file.corsOrigins;
}

function parseTenantRetention({ value, source }: { value: string; source: string }): Map<string, number> {
  const out = new Map<string, number>();
  for (const item of value.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = item.indexOf('=');
    const tenant = eq < 0 ? '' : item.slice(0, eq).trim();
    const problem = tenantIdProblem(tenant);
    if (problem) throw new ConfigError(`${source}: ${JSON.stringify(item)} is not tenant=duration (${problem})`);
    const ms = parseDurationValue({ value: item.slice(eq + 1).trim(), source: `${source} for ${tenant}` });
    if (ms < 60 * 60 * 1000) throw new ConfigError(`${source}: retention for ${tenant} must be at least 1h`);
    out.set(tenant, ms);
  }
  return out;
}

function parseFlushInterval({ value, source }: { value: string; source: string }): number {
  const m = /^(\d+)(ms|s)$/.exec(value.trim());
  const ms = m ? Number(m[1]) * (m[2] === 's' ? 1000 : 1) : NaN;
  if (!(ms >= 10 && ms <= 60_000)) throw new ConfigError(`${source}: ${JSON.stringify(value)} is not an interval between 10ms and 60s (e.g. 250ms, 2s)`);
  return ms;
}

function parsePort({ value, source }: { value: string; source: string }): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535) throw new ConfigError(`${source}: ${JSON.stringify(value)} is not a port number (0-65535)`);
  return Number(value);
}

const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, k: 1024, m: 1024 ** 2, g: 1024 ** 3,
};

/** Sizes like 16MiB, 10MB, 512k or plain bytes. */
export function parseSize(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(s.trim());
  if (!m) return undefined;
  const unit = SIZE_UNITS[m[2].toLowerCase()];
  if (unit === undefined) return undefined;
  return Math.floor(Number(m[1]) * unit);
}

function parseSizeValue({ value, source }: { value: string; source: string }, min: number): number {
  const n = parseSize(value);
  if (n === undefined) throw new ConfigError(`${source}: ${JSON.stringify(value)} is not a size (e.g. 16MiB, 10MB, 1048576)`);
  if (n < min) throw new ConfigError(`${source}: ${value} is too small (at least ${min} bytes)`);
  return n;
}

const DURATION_UNITS: Record<string, number> = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 };

/** Durations like 7d, 36h, 90m, 1w2d. */
export function parseDuration(s: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)([smhdw])/y;
  let total = 0;
  let pos = 0;
  const text = s.trim();
  if (text === '') return undefined;
  while (pos < text.length) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m) return undefined;
    total += Number(m[1]) * DURATION_UNITS[m[2]];
    pos = re.lastIndex;
  }
  return total;
}

function parseDurationValue({ value, source }: { value: string; source: string }): number {
  const n = parseDuration(value);
  if (n === undefined) throw new ConfigError(`${source}: ${JSON.stringify(value)} is not a duration (e.g. 36h, 7d, 2w)`);
  return n;
}

/** The listeners' caps and timeouts; a header deadline past the request deadline could never apply. */
function parseListenerLimits(get: (name: string) => { value: string; source: string }): ListenerLimitsConfig {
  const count = (name: string, max: number): number => {
    const { value, source } = get(name);
    if (!/^\d+$/.test(value.trim()) || Number(value) > max) throw new ConfigError(`${source}: ${JSON.stringify(value)} is not a number from 0 to ${max}`);
    return Number(value);
  };
  const headers = get('headers-timeout');
  const request = get('request-timeout');
  const headersTimeoutMs = parseTimeout(headers);
  const requestTimeoutMs = parseTimeout(request);
  if (headersTimeoutMs > requestTimeoutMs) throw new ConfigError(`${headers.source} (${headers.value}) is longer than ${request.source} (${request.value}), which covers the headers too`);
  const streams = count('max-streams-per-connection', 100_000);
  if (streams < 1) throw new ConfigError(`${get('max-streams-per-connection').source}: at least one call per connection`);
  return {
    maxConnections: count('max-connections', 1_000_000),
    maxConnectionsPerPeer: count('max-connections-per-peer', 1_000_000),
    headersTimeoutMs,
    requestTimeoutMs,
    idleTimeoutMs: parseTimeout(get('idle-timeout')),
    keepAliveTimeoutMs: parseTimeout(get('keep-alive-timeout')),
    maxStreamsPerConnection: streams,
    apiMaxBodyBytes: parseSizeValue(get('api-max-body'), 1024),
  };
}

/** A timeout like 250ms, 30s, 5m: from 100ms to 1h. */
function parseTimeout({ value, source }: { value: string; source: string }): number {
  const ms = /^\d+ms$/.test(value.trim()) ? Number(value.trim().slice(0, -2)) : parseDuration(value);
  if (ms === undefined || !(ms >= 100 && ms <= 3600_000)) throw new ConfigError(`${source}: ${JSON.stringify(value)} is not a timeout from 100ms to 1h (e.g. 500ms, 30s, 5m)`);
  return ms;
}
