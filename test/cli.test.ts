import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { CLI, REPO_ROOT, startSightline, tempDir } from '../testkit/sightline.js';
import { postOtlp, requestBytes, span } from '../testkit/fixtures.js';

const require = createRequire(import.meta.url);

function run(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('sightline CLI', () => {
  it('prints help and version', () => {
    const help = run(['--help']);
    assert.equal(help.code, 0);
    for (const flag of ['--data', '--listen', '--otlp-grpc-port', '--otlp-http-port', '--http-port', '--retention', '--max-body', '--log-level'])
      assert.ok(help.stdout.includes(flag), `help lists ${flag}`);
    assert.ok(help.stdout.includes('SIGHTLINE_RETENTION'));
    const version = run(['--version']);
    assert.equal(version.code, 0);
    const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(version.stdout.trim(), pkg.version);
  });

  it('refuses unknown flags, bad values and unknown commands with one line and exit 2', () => {
    for (const [args, env, pattern] of [
      [['serve', '--bogus'], {}, /Unknown option '--bogus'/],
      [['serve', '--retention', 'soon'], {}, /--retention: "soon" is not a duration/],
      [['serve', '--max-body', 'big'], {}, /--max-body: "big" is not a size/],
      [['serve'], { SIGHTLINE_HTTP_PORT: '-1' }, /SIGHTLINE_HTTP_PORT: "-1" is not a port number/],
      [['launch'], {}, /unknown command "launch"/],
    ] as [string[], Record<string, string>, RegExp][]) {
      const r = run(args, env);
      assert.equal(r.code, 2, `${args.join(' ')} exits 2`);
      assert.match(r.stderr, pattern);
      assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    }
  });

  it('stops on SIGTERM and on SIGINT with exit 0, after flushing acknowledged spans into the store', async () => {
    const dataDir = tempDir();
    try {
      for (const signal of ['SIGTERM', 'SIGINT'] as const) {
        const s = await startSightline({ dataDir });
        const spans = Array.from({ length: 50 }, () => span());
        assert.equal((await postOtlp(s.otlpHttp, requestBytes(spans))).status, 200);
        const exit = new Promise<number | null>((resolve) => s.process.on('exit', resolve));
        process.kill(s.pid, signal);
        assert.equal(await exit, 0);
        assert.ok(s.logs.some((l) => l.msg === 'stopped'));
      }
      // A clean stop leaves nothing to replay: every span is already in the store.
      const { Session } = require('chdb') as { Session: new (dir: string) => { query(q: string, f: string): string; close(): void } };
      const db = new Session(path.join(dataDir, 'store'));
      assert.equal(db.query('SELECT count() FROM spans_v3', 'TSV').trim(), '100');
      db.close();
      const s = await startSightline({ dataDir });
      assert.ok(!s.logs.some((l) => String(l.msg).includes('replaying')));
      await s.stop();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses a data directory in use by another process, naming it', async () => {
    const s = await startSightline();
    try {
      const r = spawnSync(process.execPath, [CLI, 'serve', '--data', s.dataDir, '--otlp-grpc-port', '0', '--otlp-http-port', '0', '--http-port', '0'], {
        encoding: 'utf8',
        timeout: 30_000,
      });
      assert.equal(r.status, 1);
      assert.match(r.stderr, new RegExp(`in use by another Sightline process \\(pid ${s.pid}\\)`));
    } finally {
      await s.stop();
      s.cleanup();
    }
  });

  it('refuses a data directory of a newer schema version with a clear message', async () => {
    const s = await startSightline();
    await s.stop();
    const { Session } = require('chdb') as { Session: new (dir: string) => { query(q: string, f: string): string; close(): void } };
    const db = new Session(path.join(s.dataDir, 'store'));
    db.query(`INSERT INTO sightline_meta (key, value, version) VALUES ('schema_version', '7', ${Date.now() + 1})`, 'TSV');
    db.close();
    const r = spawnSync(process.execPath, [CLI, 'serve', '--data', s.dataDir, '--otlp-grpc-port', '0', '--otlp-http-port', '0', '--http-port', '0'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    s.cleanup();
    assert.equal(r.status, 1);
    assert.match(r.stderr, /schema version 7, written by a newer Sightline; this build understands up to version \d+\./);
  });
});
