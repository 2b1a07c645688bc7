#!/usr/bin/env node
// Runs the whole test suite on the built output. Each test file starts what
// it needs (Sightline processes and ClickHouse servers on loopback, with
// ephemeral ports) and stops it by PID. node --test prints its summary last.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureClickHouseInstalled, ensureZooKeeperInstalled } from './clickhouse-test-servers.mjs';
import { ensureChromiumInstalled } from './chromium.mjs';
import { ensureZstdInstalled } from './zstd.mjs';

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
const args = [
  '--test',
  '--test-reporter=spec',
  '--test-concurrency=1',
  '--test-timeout=600000',
  ...(process.argv.length > 2 ? process.argv.slice(2) : [path.join(root, 'dist')]),
];
const r = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root, env: { ...process.env, UV_THREADPOOL_SIZE: '16' } });
process.exit(r.status ?? 1);
