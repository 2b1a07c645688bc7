import os from 'node:os';
import path from 'node:path';
import { ConfigError, SERVE_FLAGS, envName, parseServeConfig } from '../config/index.js';
import { redactClickHouseUrl, SchemaVersionError } from '../store/index.js';
import { AuthSetupError } from '../auth/index.js';
import { SIGHTLINE_VERSION } from '../version.js';
import { DataDirLockedError } from './data-lock.js';
import { TlsError } from '../tls/index.js';
import { createLogger, serve, StoreOpenError } from './serve.js';
import { resolveLogFormat, startupSummary } from './pretty.js';
import { tokenCommand } from './token.js';
import { auditCommand } from './audit.js';
import { eraseCommand } from './erase.js';

const USAGE = `Sightline ${SIGHTLINE_VERSION}: an OpenTelemetry-native tracing backend.

Usage:
  sightline serve [flags]   start Sightline on the embedded store
  sightline token ...       create, list and revoke API tokens (sightline token --help)
  sightline audit verify    check the audit trail's hash chains (sightline audit --help)
  sightline erase ...       erase whole traces of a tenant through a running server (sightline erase --help)
  sightline --help          show this help
  sightline --version       print the version

Flags of serve (each also read from the environment variable shown):
${SERVE_FLAGS.map((f) => `  --${f.name.padEnd(16)} ${f.help} (default ${f.default || 'none'}; ${envName(f.name)})`).join('\n')}
`;

/** Runs the CLI; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command === '--version' || command === '-v' || command === 'version') {
    process.stdout.write(`${SIGHTLINE_VERSION}\n`);
    return 0;
  }
  const out = (s: string) => void process.stdout.write(s);
  const err = (s: string) => void process.stderr.write(s);
  if (command === 'token') return tokenCommand(rest, process.env, out, err);
  if (command === 'audit') return auditCommand(rest, process.env, out, err);
  if (command === 'erase') return eraseCommand(rest, process.env, out, err);
  if (command !== 'serve') {
    process.stderr.write(`sightline: unknown command ${JSON.stringify(command)}; see sightline --help\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  let config;
  try {
    config = parseServeConfig(rest, process.env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`sightline: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const format = resolveLogFormat(config.logFormat, process.stdout.isTTY === true);
  const log = createLogger(config, format);
  let server;
  try {
    server = await serve(config, log);
  } catch (e) {
    if (e instanceof SchemaVersionError || e instanceof DataDirLockedError || e instanceof AuthSetupError || e instanceof TlsError || e instanceof StoreOpenError) {
      log.fatal(e.message);
      process.stderr.write(`sightline: ${e.message}\n`);
      return 1;
    }
    log.fatal({ err: e }, 'Sightline failed to start');
    return 1;
  }
  // At a terminal: where everything listens, in words (the JSON "ready" line carries the ports for programs).
  if (format === 'pretty')
    process.stdout.write(
      startupSummary({
        version: SIGHTLINE_VERSION,
        listeners: server.listeners,
        store: config.store.kind === 'clickhouse' ? `ClickHouse at ${redactClickHouseUrl(config.store.url)}` : `embedded, in ${path.resolve(config.dataDir, 'store')}`,
        retention: config.retentionText,
        tokenRequired: server.tokenRequired,
        hostname: os.hostname(),
      }),
    );
  return new Promise<number>((resolve) => {
    let signalled = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (signalled) {
        log.warn({ signal }, 'second signal: exiting without waiting');
        resolve(1);
        return;
      }
      signalled = true;
      log.info({ signal }, 'shutting down');
      server.stop().then(
        () => resolve(0),
        (e) => {
          log.error({ err: e }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
