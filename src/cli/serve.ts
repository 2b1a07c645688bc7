import { statSync } from 'node:fs';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { loadConfigFile, parseDuration, redactionRules, type Config } from '../config/index.js';
import { EngineError, openClickHouseStore, openEmbeddedStore, parseClickHouseUrl, redactClickHouseUrl, RetentionScheduler, type OpenedStore, type SqlStore } from '../store/index.js';
import { AuditLog, buildAuthenticator, OidcLogin, tailnetSources } from '../auth/index.js';
import { Ingestor } from '../ingest/index.js';
import { TraceExportHandler, LogExportHandler, createOtlpHttpServer, createZipkinHttpServer, newZipkinCounters, ListenerGuard, OtlpGrpcServer } from '../receivers/index.js';
import { addressOf, createApiServer, type BoundListeners } from '../api/index.js';
import { RedactionPolicy } from '../redact/index.js';
import { Erasures } from '../erasure/index.js';
import { loadSloConfig, SloService } from '../slo/index.js';
import { SIGHTLINE_VERSION, TEMPO_API_VERSION } from '../version.js';
import { lockDataDir } from './data-lock.js';
import { makeDataDirPrivate } from './data-dir.js';
import { logErrorSerializer, logsMayQuoteData } from './log-safety.js';
import { prettyDestination } from './pretty.js';
import { grpcServerCredentials, httpsServerOptions, loadTlsMaterial, reloadHttpsServer, TlsReloader } from '../tls/index.js';

/**
 * The store could not be opened (unreachable, refused our credentials, no
 * such database): one line for the operator, with the engine's reason and
 * never the password.
 */
/**
 * Engine memory the embedded store keeps for inserts: queries' statement
 * limits add up to the ceiling less this, so a heavy query can fail but an
 * insert cannot.
 */
const INSERT_RESERVE_BYTES = 512 * 1024 ** 2;

export class StoreOpenError extends Error {
  override readonly name = 'StoreOpenError';
}

export interface RunningServer {
  /** zipkin only when --zipkin-port is set. */
  ports: { otlpGrpc: number; otlpHttp: number; http: number; zipkin?: number };
  /** Where the three listeners are bound, as the operating system reports it. */
  listeners: BoundListeners;
  /** OTLP exporters and API callers need credentials (an identity source is configured). */
  tokenRequired: boolean;
  stop(): Promise<void>;
}

/**
 * Starts Sightline on the embedded store: lock the data directory, open the
 * store, replay the WAL, then listen. Stops in the reverse order.
 *
 * Sets the process umask to 077 (see makeDataDirPrivate): everything it
 * writes is readable by its own user only.
 */
export async function serve(config: Config, log: Logger = createLogger(config)): Promise<RunningServer> {
  const dataDir = path.resolve(config.dataDir);
  // Refuse an unsafe configuration before touching anything.
  // Tailnet identities: `tailscale serve` headers from trusted proxies, and tailscaled's LocalAPI whois for direct peers.
  const tailnet = config.file?.tailnet ? tailnetSources(config.file.tailnet, { log: log.child({ component: 'tailnet' }) }) : [];
  // OIDC login for the web UI: the issuer is discovered now; start-up fails if it cannot be (OidcSetupError).
  const oidc = config.file?.oidc ? await OidcLogin.start(config.file.oidc, { log: log.child({ component: 'oidc' }), baseDir: path.dirname(path.resolve(config.file.path)) }) : undefined;
  const authenticator = buildAuthenticator({ tokens: config.file?.tokens ?? [], sources: oidc ? [...tailnet, oidc.source] : tailnet, defaultTenant: config.defaultTenant, listen: config.listen, insecureNoAuth: config.insecureNoAuth });
  if (!authenticator.enforcing && config.insecureNoAuth) log.warn({ listen: config.listen }, 'no authentication: anyone who reaches these listeners reads and writes everything (--insecure-no-auth)');
  // TLS files are read before anything starts: a bad one stops the start (TlsError).
  const tls = config.tls ? new TlsReloader(config.tls, loadTlsMaterial(config.tls), log.child({ component: 'tls' })) : null;
  const privacy = await makeDataDirPrivate(dataDir);
  if (privacy.wideMode !== undefined) {
    const was = privacy.wideMode.toString(8).padStart(4, '0');
    if (privacy.narrowed) log.info({ dataDir, was, now: '0700' }, 'the data directory was readable by other users; narrowed to 0700');
    else log.warn({ dataDir, mode: was, reason: privacy.error }, 'the data directory is readable by other users and could not be narrowed; chmod 700 it');
  }
  if (config.store.kind === 'clickhouse' && config.store.passwordFile) {
    const mode = (statSync(config.store.passwordFile, { throwIfNoEntry: false })?.mode ?? 0) & 0o777;
    if ((mode & 0o077) !== 0) log.warn({ file: config.store.passwordFile, mode: mode.toString(8) }, 'the --store-password-file is readable by other users; chmod 600 it');
  }
  const unlock = await lockDataDir(dataDir);
  const cleanups: (() => Promise<void>)[] = [unlock];
  const undo = async () => {
    for (const fn of cleanups.reverse()) await fn().catch((e) => log.error({ err: e }, 'cleanup failed'));
  };
  try {
    const { defaultTenant } = config;
    const opened = await openStore(config, dataDir);
    const store: SqlStore = opened.store;
    cleanups.push(() => store.close());
    log.info({ engine: opened.engine, dataDir, created: opened.created }, 'store opened');
    // A version-2 store's spans are copied in the background; ingest and queries go on meanwhile.
    void store.startMigration().then(() => {
      const m = store.migrationStatus();
      // Its error is an engine message about copied spans: it may quote their values.
      if (m.state === 'failed') log.error({ migration: logsMayQuoteData(config.logLevel) ? m : { ...m, error: 'withheld below --log-level debug' } }, 'copying the version-2 store failed; it is tried again at the next start');
      else if (m.state !== 'none') log.info({ migration: m }, 'version-2 store copied');
    });

    const ingestor = await Ingestor.open({
      walDir: path.join(dataDir, 'wal'),
      store,
      log: log.child({ component: 'ingest' }),
      backlogBudgetBytes: config.backlogBudgetBytes,
      flushIntervalMs: config.flushIntervalMs,
      segmentBytes: 64 * 1024 * 1024,
    });
    ingestor.start();
    cleanups.push(() => ingestor.stop());

    const retention = new RetentionScheduler(store, { defaultMs: config.retentionMs, perTenantMs: config.tenantRetentionMs }, log.child({ component: 'retention' }));
    retention.start();
    cleanups.push(async () => retention.stop());

    let ready = false;
    // Filled in once the listeners are bound; the UI's first-run panel shows it.
    let bound: BoundListeners | undefined;
    const audit = await AuditLog.open(path.join(dataDir, 'audit'), store);
    cleanups.push(async () => {
      await audit.close();
      // The chain's last hash, kept in the log: a record of how long the chain was.
      const h = audit.head;
      log.info({ auditHead: `${h.chain}:${h.seq}:${h.hash}` }, 'audit chain closed; keep its head to check the trail with `sightline audit verify --head`');
    });
    // Erasures drain the WALs first, so they cover every span and log record acknowledged before them.
    const erasures = new Erasures({ store, drain: () => ingestor.drain(), audit, log: log.child({ component: 'erasure' }) });
    cleanups.push(() => erasures.close());
    // Redaction rules per tenant, run on decoded spans before the WAL (docs/redaction.md).
    const redaction = new RedactionPolicy(config.redaction);
    if (redaction.enabled) log.info({ ruleSets: redaction.stats().ruleSets.map((r) => r.name) }, 'redaction rules in force');
    // Each listener counts its own connections against the same limits.
    const guards = { otlpGrpc: new ListenerGuard(config.listeners), otlpHttp: new ListenerGuard(config.listeners), api: new ListenerGuard(config.listeners), zipkin: new ListenerGuard(config.listeners) };
    // Zipkin spans left out for their content: Zipkin replies carry no counts, so they are counted here.
    const zipkinCounters = newZipkinCounters();
    const apiHttps = tls ? httpsServerOptions(tls.current, false) : undefined;
    // SLO evaluation and alerting (docs/slo.md), when --slo-config names a file.
    const slos = config.slo ? new SloService({ state: store.sloState(), log: log.child({ component: 'slo' }), config: config.slo, intervalMs: config.sloIntervalMs ?? 60_000 }) : undefined;
    const api = await createApiServer({
      slos,
      log,
      store,
      authenticator,
      defaultTenant,
      audit,
      storeStats: () => store.stats(),
      migrationStatus: () => store.migrationStatus(),
      // What the listeners refused and closed rides along with ingest's counters.
      ingestStats: () =>
        Object.assign(ingestor.getStats(), {
          listeners: { otlpGrpc: guards.otlpGrpc.stats(), otlpHttp: guards.otlpHttp.stats(), api: guards.api.stats(), ...(config.zipkinPort === null ? {} : { zipkin: guards.zipkin.stats() }) },
          ...(config.zipkinPort === null ? {} : { zipkin: { ...zipkinCounters } }),
        }),
      redactionStats: () => redaction.stats(),
      erasures,
      tempoApiVersion: TEMPO_API_VERSION,
      sightlineVersion: SIGHTLINE_VERSION,
      engine: opened.engine,
      defaultWindowSeconds: 3600,
      retentionMs: (tenant) => config.tenantRetentionMs.get(tenant) ?? config.retentionMs,
      maxSearchLimit: 1000,
      isReady: () => ready,
      queryLimits: {
        ...config.queries,
        // Embedded: the engine's ceiling less what inserts keep, shared by the
        // three read connections (two for queries, one for lookups), so
        // queries together can never take an insert's memory.
        statementMemoryBytes: config.queries.statementMemoryBytes ?? (config.store.kind === 'clickhouse' ? 2 * 1024 ** 3 : Math.max(64 * 1024 ** 2, Math.floor((config.memoryLimitBytes - INSERT_RESERVE_BYTES) / 3))),
      },
      oidc,
      https: apiHttps,
      listener: guards.api.fastifyOptions(config.listeners.apiMaxBodyBytes, apiHttps),
      listeners: () => bound,
    });
    guards.api.guardHttp(api.server, { tls: tls !== null });
    const handler = new TraceExportHandler(ingestor, config.retentionMs, config.retentionText, redaction);
    // Log records: the same ingestor (budget, WAL directory, group commit), redaction and retention.
    const logs = new LogExportHandler(ingestor, config.retentionMs, config.retentionText, redaction);
    const otlpHttp = await createOtlpHttpServer({ handler, logs, log, maxBodyBytes: config.maxBodyBytes, corsOrigins: config.corsOrigins, authenticator, defaultTenant, https: tls ? httpsServerOptions(tls.current, true) : undefined, guard: guards.otlpHttp });
    const otlpGrpc = new OtlpGrpcServer({
      handler,
      logs,
      log: log.child({ component: 'otlp-grpc' }),
      maxBodyBytes: config.maxBodyBytes,
      authenticator,
      defaultTenant,
      credentials: tls ? grpcServerCredentials(tls) : undefined,
      guard: guards.otlpGrpc,
      maxStreamsPerConnection: config.listeners.maxStreamsPerConnection,
    });
    // Zipkin v2 ingest, off unless --zipkin-port: the OTLP path and the OTLP/HTTP listener's protections.
    const zipkin =
      config.zipkinPort === null
        ? null
        : await createZipkinHttpServer({ handler, log, maxBodyBytes: config.maxBodyBytes, corsOrigins: config.corsOrigins, authenticator, defaultTenant, https: tls ? httpsServerOptions(tls.current, true) : undefined, guard: guards.zipkin, counters: zipkinCounters });
    if (tls) {
      // The client CA, when given, is asked of the ingest listeners only.
      reloadHttpsServer(tls, api.server, false);
      reloadHttpsServer(tls, otlpHttp.server, true);
      if (zipkin) reloadHttpsServer(tls, zipkin.server, true);
    }

    await api.listen({ host: config.listen, port: config.httpPort });
    cleanups.push(() => api.close());
    await otlpHttp.listen({ host: config.listen, port: config.otlpHttpPort });
    cleanups.push(() => otlpHttp.close());
    const grpcPort = await otlpGrpc.listen(config.listen, config.otlpGrpcPort);
    cleanups.push(() => otlpGrpc.close());
    if (zipkin && config.zipkinPort !== null) {
      await zipkin.listen({ host: config.listen, port: config.zipkinPort });
      cleanups.push(() => zipkin.close());
    }

    const ports = {
      otlpGrpc: grpcPort,
      otlpHttp: addressPort(otlpHttp.server.address()),
      http: addressPort(api.server.address()),
      ...(zipkin ? { zipkin: addressPort(zipkin.server.address()) } : {}),
    };
    const unbound = { address: config.listen, family: '', port: 0 };
    bound = {
      http: addressOf(api.server) ?? { ...unbound, port: ports.http },
      otlpHttp: addressOf(otlpHttp.server) ?? { ...unbound, port: ports.otlpHttp },
      otlpGrpc: otlpGrpc.address() ?? { ...unbound, port: ports.otlpGrpc },
      ...(zipkin ? { zipkin: addressOf(zipkin.server) ?? { ...unbound, port: ports.zipkin ?? 0 } } : {}),
      tls: tls !== null,
      clientCertificate: config.tls?.clientCaFile !== undefined,
    };
    const listeners = bound;
    if (slos && config.slo) {
      const sloFile = config.slo.path;
      slos.setExternalUrl(`${tls ? 'https' : 'http'}://${listeners.http.address.includes(':') ? `[${listeners.http.address}]` : listeners.http.address}:${ports.http}`);
      slos.start();
      // Stopped before the store closes (cleanups run in reverse).
      cleanups.push(() => slos.stop());
      log.info({ slos: config.slo.slos.length, intervalMs: slos.intervalMs }, 'SLO evaluation started');
      // SIGHUP re-reads the SLO file; one that does not load keeps the SLOs in use, and says why.
      const reloadSlos = () => {
        try {
          const next = loadSloConfig(sloFile);
          // tenant/name of each SLO added, removed or changed: names the operator chose, no query values.
          const change = slos.replaceConfig(next);
          log.info({ slos: next.slos.length, ...change }, 'SLOs re-read from the SLO file');
        } catch (e) {
          log.error({ err: (e as Error).message }, 'SLO file not re-read; the SLOs in use are unchanged');
        }
      };
      process.on('SIGHUP', reloadSlos);
      cleanups.push(async () => void process.off('SIGHUP', reloadSlos));
    }
    // SIGHUP re-reads the tokens and OIDC grant rules of the config file: a
    // revoked token or removed rule stops working without a restart.
    const configFile = config.file?.path;
    if (configFile) {
      const reloadTokens = () => {
        try {
          const file = loadConfigFile(configFile, parseDuration);
          const tokens = file.tokens;
          if (authenticator.reloadTokens(tokens)) log.info({ tokens: tokens.length }, 'tokens re-read from the config file');
          else log.warn('the config file now has tokens, but this server started with no authentication; restart it to turn authentication on');
          if (oidc && file.oidc) {
            const needRestart = oidc.replaceRules(file.oidc);
            log.info({ groups: Object.keys(file.oidc.groups).length, users: Object.keys(file.oidc.users).length }, 'OIDC grant rules re-read from the config file');
            if (needRestart.length > 0) log.warn({ settings: needRestart }, 'these oidc settings changed but only apply after a restart');
          } else if (oidc) log.warn('the config file no longer has an oidc section; login stays on until a restart');
        } catch (e) {
          log.error({ err: (e as Error).message }, 'config file not re-read; the tokens in use are unchanged');
        }
      };
      process.on('SIGHUP', reloadTokens);
      cleanups.push(async () => void process.off('SIGHUP', reloadTokens));
    }

    // SIGHUP re-reads the redaction rules too. A request takes its tenant's
    // rules when it starts, so none is redacted half by old rules; a file
    // that does not compile leaves the rules in use unchanged.
    if (configFile) {
      const reloadRedaction = () => {
        try {
          redaction.replace(redactionRules(loadConfigFile(configFile, parseDuration)));
          log.info({ ruleSets: redaction.stats().ruleSets.map((r) => r.name) }, 'redaction rules re-read from the config file');
        } catch (e) {
          log.error({ err: (e as Error).message }, 'redaction rules not re-read; the rules in use are unchanged');
        }
      };
      process.on('SIGHUP', reloadRedaction);
      cleanups.push(async () => void process.off('SIGHUP', reloadRedaction));
    }

    // SIGHUP re-reads the TLS certificate, key and client CA; the listeners
    // stay bound and new connections get the new certificate.
    if (tls) {
      const reloadTls = () => void tls.reload();
      process.on('SIGHUP', reloadTls);
      cleanups.push(async () => void process.off('SIGHUP', reloadTls));
    }

    ready = true;
    log.info({ version: SIGHTLINE_VERSION, listen: config.listen, ports, tls: tls !== null, retention: config.retentionText }, 'Sightline is ready');

    let stopping: Promise<void> | null = null;
    return {
      ports,
      listeners,
      tokenRequired: authenticator.enforcing,
      stop: () => {
        stopping ??= (async () => {
          ready = false;
          log.info('stopping: no new requests; flushing the WAL into the store');
          // Receivers first (in-flight requests finish), then the pipeline.
          await undo();
          log.info('stopped');
        })();
        return stopping;
      },
    };
  } catch (e) {
    await undo();
    throw e;
  }
}

/**
 * Opens the configured store. An engine error here comes from connecting,
 * authenticating or creating the schema, statements that hold no span data,
 * so its first line is safe to show; the password is taken out of it all the
 * same, in case a layer below ever echoes it.
 */
async function openStore(config: Config, dataDir: string): Promise<OpenedStore> {
  const { defaultTenant, store } = config;
  try {
    return store.kind === 'clickhouse'
      ? await openClickHouseStore({ url: store.url, cluster: store.cluster, replicated: store.replicated, caFile: store.caFile, password: store.password, defaultTenant, scratchDir: path.join(dataDir, 'store-scratch') })
      : await openEmbeddedStore({ dataDir, maxMemoryBytes: config.memoryLimitBytes, defaultTenant });
  } catch (e) {
    if (!(e instanceof EngineError)) throw e;
    const where = store.kind === 'clickhouse' ? `the ClickHouse store at ${redactClickHouseUrl(store.url)}` : `the embedded store in ${path.join(dataDir, 'store')}`;
    let reason = (e.message.split('\n').find((l) => l.trim() !== '') ?? 'unknown error').trim();
    for (const secret of store.kind === 'clickhouse' ? [store.password, parseUrlPassword(store.url)] : [])
      if (secret) reason = reason.split(secret).join('***');
    throw new StoreOpenError(`cannot open ${where}: ${reason}`, { cause: e });
  }
}

function parseUrlPassword(url: string): string | undefined {
  try {
    return parseClickHouseUrl(url).password;
  } catch {
    return undefined;
  }
}

function addressPort(addr: ReturnType<import('node:net').Server['address']>): number {
  return typeof addr === 'object' && addr !== null ? addr.port : 0;
}

/**
 * The process's logger: JSON lines on stdout, or the same lines laid out
 * for a person (`pretty`, see pretty.ts). Redaction and the serializers run
 * before either, so both carry the same, safe, content.
 */
export function createLogger(config: Pick<Config, 'logLevel'>, format: 'json' | 'pretty' = 'json', out: NodeJS.WriteStream = process.stdout): Logger {
  const options: pino.LoggerOptions = {
    level: config.logLevel,
    base: { service: 'sightline' },
    // Never log credentials that may ride in headers or URLs.
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', '*.password', '*.token'], censor: '[redacted]' },
    // Engine errors quote SQL and the values in it: only debug and trace keep them.
    serializers: { err: logErrorSerializer(config.logLevel) },
  };
  if (format === 'json') return pino(options);
  return pino(options, prettyDestination(out, { color: out.isTTY === true && !process.env.NO_COLOR }));
}
