import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, envName, parseDuration, parseServeConfig, parseSize } from './index.js';

describe('config', () => {
  it('has defaults that run on a laptop', () => {
    const c = parseServeConfig([], {});
    assert.equal(c.dataDir, './sightline-data');
    // Loopback: off it, an identity source must be configured (docs/security.md).
    assert.equal(c.listen, '127.0.0.1');
    assert.deepEqual(c.corsOrigins, []);
    assert.equal(c.insecureNoAuth, false);
    assert.deepEqual([c.otlpGrpcPort, c.otlpHttpPort, c.httpPort], [4317, 4318, 3200]);
    assert.equal(c.retentionMs, 7 * 24 * 3600 * 1000);
    assert.equal(c.maxBodyBytes, 16 * 1024 * 1024);
    assert.equal(c.logLevel, 'info');
  });

  it('takes flags over SIGHTLINE_* variables over defaults', () => {
    const env = { SIGHTLINE_RETENTION: '36h', SIGHTLINE_HTTP_PORT: '9000', SIGHTLINE_MAX_BODY: '1MB' };
    const c = parseServeConfig(['--http-port', '9100', '--data=/tmp/x'], env);
    assert.equal(c.httpPort, 9100);
    assert.equal(c.retentionMs, 36 * 3600 * 1000);
    assert.equal(c.maxBodyBytes, 1_000_000);
    assert.equal(c.dataDir, '/tmp/x');
    assert.equal(envName('otlp-grpc-port'), 'SIGHTLINE_OTLP_GRPC_PORT');
  });

  const rejects = (argv: string[], pattern: RegExp, env: Record<string, string> = {}) =>
    assert.throws(() => parseServeConfig(argv, env), (e: Error) => e instanceof ConfigError && pattern.test(e.message) && !e.message.includes('\n'));

  it('names the flag or variable in one-line errors', () => {
    rejects(['--nope'], /Unknown option '--nope'/);
    rejects(['--http-port', 'abc'], /--http-port: "abc" is not a port number/);
    rejects(['--http-port', '70000'], /not a port number/);
    rejects(['--retention', 'forever'], /--retention: "forever" is not a duration/);
    rejects(['--retention', '10m'], /at least 1h/);
    rejects(['--max-body', '12 parsecs'], /--max-body: "12 parsecs" is not a size/);
    rejects(['--log-level', 'loud'], /not a log level/);
    rejects(['--listen', 'not-an-ip'], /not an IP address/);
    rejects([], /SIGHTLINE_OTLP_HTTP_PORT: "x" is not a port number/, { SIGHTLINE_OTLP_HTTP_PORT: 'x' });
    rejects(['--http-port', '4317'], /ports must differ/);
    rejects(['stray'], /positional/i);
  });

  it('parses sizes and durations', () => {
    assert.equal(parseSize('16MiB'), 16 * 1024 * 1024);
    assert.equal(parseSize('10MB'), 10_000_000);
    assert.equal(parseSize('512k'), 512 * 1024);
    assert.equal(parseSize('123'), 123);
    assert.equal(parseSize('1.5GiB'), 1.5 * 1024 ** 3);
    assert.equal(parseSize('-1'), undefined);
    assert.equal(parseDuration('7d'), 7 * 86400e3);
    assert.equal(parseDuration('1w2d'), 9 * 86400e3);
    assert.equal(parseDuration('90m'), 90 * 60e3);
    assert.equal(parseDuration('7'), undefined);
    assert.equal(parseDuration(''), undefined);
  });
});

describe('zipkin port', () => {
  it('is off unless set, by flag or variable, and must differ from the other ports', () => {
    assert.equal(parseServeConfig([], {}).zipkinPort, null);
    assert.equal(parseServeConfig(['--zipkin-port', '9411'], {}).zipkinPort, 9411);
    assert.equal(parseServeConfig([], { SIGHTLINE_ZIPKIN_PORT: '9412' }).zipkinPort, 9412);
    assert.equal(parseServeConfig(['--zipkin-port', '0'], {}).zipkinPort, 0);
    assert.throws(() => parseServeConfig(['--zipkin-port', 'zipkin'], {}), (e: Error) => e instanceof ConfigError && /^--zipkin-port: "zipkin" is not a port number/.test(e.message));
    assert.throws(() => parseServeConfig(['--zipkin-port', '4318'], {}), (e: Error) => e instanceof ConfigError && /HTTP and Zipkin ports must differ \(got 4317, 4318, 3200, 4318\)/.test(e.message));
  });
});

describe('store config', () => {
  it('defaults to the embedded store and takes a ClickHouse URL and cluster', () => {
    assert.deepEqual(parseServeConfig([], {}).store, { kind: 'embedded' });
    assert.deepEqual(parseServeConfig(['--store', 'clickhouse://u:p@h1:8123,h2:8124/traces', '--clickhouse-cluster', 'c1'], {}).store, {
      kind: 'clickhouse',
      url: 'clickhouse://u:p@h1:8123,h2:8124/traces',
      cluster: 'c1',
    });
    assert.deepEqual(parseServeConfig([], { SIGHTLINE_STORE: 'clickhouse://h1/db' }).store, { kind: 'clickhouse', url: 'clickhouse://h1/db', cluster: undefined });
  });

  it('refuses a bad URL, a bad cluster name, and a cluster without ClickHouse', () => {
    assert.throws(() => parseServeConfig(['--store', 'mysql://x'], {}), (e: Error) => e instanceof ConfigError && /--store: not a ClickHouse URL/.test(e.message));
    assert.throws(() => parseServeConfig(['--store', 'clickhouse://h/db-name'], {}), /must be a plain identifier/);
    assert.throws(() => parseServeConfig(['--store', 'clickhouse://h/db', '--clickhouse-cluster', 'a;b'], {}), /not a cluster name/);
    assert.throws(() => parseServeConfig(['--clickhouse-cluster', 'c'], {}), /needs a ClickHouse --store/);
  });
});

describe('tenant config', () => {
  it('stores under Tempo\'s single-tenant id by default, or the one named', () => {
    assert.equal(parseServeConfig([], {}).defaultTenant, 'single-tenant');
    assert.equal(parseServeConfig(['--default-tenant', 'clinic-a'], {}).defaultTenant, 'clinic-a');
    assert.throws(() => parseServeConfig(['--default-tenant', 'a/b'], {}), (e: Error) => e instanceof ConfigError && /--default-tenant: "a\/b" is not a tenant id/.test(e.message));
  });

  it('takes a retention per tenant', () => {
    const c = parseServeConfig(['--tenant-retention', 'acme=30d, lab=2h'], {});
    assert.deepEqual([...c.tenantRetentionMs], [
      ['acme', 30 * 86400e3],
      ['lab', 2 * 3600e3],
    ]);
    assert.equal(parseServeConfig([], {}).tenantRetentionMs.size, 0);
    assert.throws(() => parseServeConfig(['--tenant-retention', 'acme'], {}), /not tenant=duration/);
    assert.throws(() => parseServeConfig(['--tenant-retention', 'acme=soon'], {}), /"soon" is not a duration/);
    assert.throws(() => parseServeConfig(['--tenant-retention', 'acme=10m'], {}), /retention for acme must be at least 1h/);
  });
});

describe('store password file', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sightline-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, content: string) => {
    const p = path.join(dir, name);
    writeFileSync(p, content, { mode: 0o600 });
    return p;
  };

  it('reads the password once, without its trailing newline, from the flag or the variable', () => {
    const crlf = file('crlf', 'p@ss w0rd\r\n');
    const store = parseServeConfig(['--store', 'clickhouse://sightline@h1:8123/traces', '--store-password-file', crlf], {}).store;
    assert.deepEqual(store, { kind: 'clickhouse', url: 'clickhouse://sightline@h1:8123/traces', cluster: undefined, password: 'p@ss w0rd', passwordFile: crlf });
    const fromEnv = parseServeConfig([], { SIGHTLINE_STORE: 'clickhouse://h1/db', SIGHTLINE_STORE_PASSWORD_FILE: file('plain', 'secret') }).store;
    assert.equal(fromEnv.kind === 'clickhouse' && fromEnv.password, 'secret');
    // The URL's empty password (user:@host) is no password: the file gives it.
    assert.equal((parseServeConfig(['--store', 'clickhouse://u:@h1/db', '--store-password-file', crlf], {}).store as { password?: string }).password, 'p@ss w0rd');
  });

  it('refuses two passwords, an empty or unreadable file, and a file without ClickHouse, quoting neither password', () => {
    const secret = file('secret', 'Zq-file-secret\n');
    const refuses = (argv: string[], pattern: RegExp) =>
      assert.throws(() => parseServeConfig(argv, {}), (e: Error) => e instanceof ConfigError && pattern.test(e.message) && !/Zq-/.test(e.message));
    refuses(['--store', 'clickhouse://u:Zq-url-secret@h1/db', '--store-password-file', secret], /^--store carries a password and --store-password-file gives one too/);
    refuses(['--store', 'clickhouse://u@h1/db', '--store-password-file', file('empty', '\n\n')], /: the file is empty$/);
    refuses(['--store', 'clickhouse://u@h1/db', '--store-password-file', path.join(dir, 'missing')], /missing: cannot be read \(no such file\)$/);
    refuses(['--store-password-file', secret], /^--store-password-file needs a ClickHouse --store$/);
  });
});
