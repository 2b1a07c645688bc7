#!/usr/bin/env node
// Runs the whole test suite on the built output. Each test file starts what
// it needs (Sightline processes and ClickHouse servers on loopback, with
// ephemeral ports) and stops it by PID. node --test prints its summary last.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureClickHouseInstalled, ensureZooKeeperInstalled } from './clickhouse-test-servers.mjs';
import { ensureChromiumInstalled } from './chromium.mjs';
import { ensureZstdInstalled } from './zstd.mjs';
import { ensureLabInstalled } from '../examples/clinic/install.mjs';

// Tests that need ClickHouse start their own servers (scripts/clickhouse-test-servers.mjs);
// install the Debian package once, up front, so they never race on apt.
ensureClickHouseInstalled();
// The replicated cluster test (test/cluster-replicated.test.ts) coordinates through Debian's ZooKeeper.
ensureZooKeeperInstalled();
// The browser test (test/ui-e2e.test.ts) drives Debian's chromium.
ensureChromiumInstalled();
// The redaction and erasure tests decompress store parts with zstd.
ensureZstdInstalled();

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Every built test file, listed here: `node --test <dir>` runs the files of a
 * directory on Node 20, but from Node 22 on it takes its arguments as file
 * patterns, and a directory names one module.
 */
function testFiles(dir) {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.test.js'))
    .map((e) => path.join(e.parentPath ?? e.path, e.name))
    .sort();
}

/**
 * --compat: the tests that lean hardest on Node itself (HTTP and HTTP/2
 * servers, worker threads, streams, fs and signals), for a second Node
 * version in CI (.ci/run) without running everything twice.
 */
const COMPAT = ['e2e-sdk', 'bad-input', 'backpressure', 'crash', 'tls', 'tempo-golden', 'query-isolation', 'hostile-clients', 'route-policies'];
const argv = process.argv.slice(2);
const files =
  argv[0] === '--compat'
    ? [...testFiles(path.join(root, 'dist', 'src')), ...COMPAT.map((n) => path.join(root, 'dist', 'test', `${n}.test.js`))]
    : argv.length > 0
      ? argv
      : testFiles(path.join(root, 'dist'));
// The clinic lab is its own package (examples/clinic/package.json), which
// the root install leaves out: its test installs it on first use, for this
// Node (on Node 20 with better-sqlite3, a native addon built per Node version).
if (files.some((f) => path.basename(f) === 'clinic.test.js')) ensureLabInstalled();
const args = ['--test', '--test-reporter=spec', '--test-concurrency=1', '--test-timeout=600000', ...files];
const r = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root, env: { ...process.env, UV_THREADPOOL_SIZE: '16' } });
process.exit(r.status ?? 1);
