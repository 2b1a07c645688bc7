import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { createRequire } from 'node:module';
import { CLI, REPO_ROOT, startSightline, tempDir } from '../testkit/sightline.js';
import { postOtlp, requestBytes, span } from '../testkit/fixtures.js';

const require = createRequire(import.meta.url);

function run(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The processes below `pid`, from /proc. */
function descendants(pid: number): number[] {
  const file = `/proc/${pid}/task/${pid}/children`;
  const children = existsSync(file) ? readFileSync(file, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number) : [];
  return children.flatMap((c) => [c, ...descendants(c)]);
}

/**
 * `sightline serve` on loopback with ephemeral ports, its stdout a
 * terminal (under util-linux `script`, which gives it a pseudo-terminal)
 * or a pipe; collects stdout until `done` says so, then stops Sightline by
 * its own PID with SIGTERM.
 */
async function serveOutput(opts: { tty: boolean; args?: string[]; done(stdout: string): boolean; whileUp?(stdout: string): Promise<void> }): Promise<string> {
  const dataDir = tempDir();
  const argv = [process.execPath, CLI, 'serve', '--data', dataDir, '--listen', '127.0.0.1', '--otlp-grpc-port', '0', '--otlp-http-port', '0', '--http-port', '0', ...(opts.args ?? [])];
  const env = { ...process.env };
  delete env.NO_COLOR;
  // stdin stays an open pipe: `script` ends its session when its input ends.
  // Under `script`, Sightline's stderr (where the engine may write) goes to a file: only stdout is the terminal.
  const stderrFile = path.join(dataDir, '..', `${path.basename(dataDir)}.stderr`);
  const child = opts.tty
    ? spawn('script', ['-qfec', `${argv.map(shellQuote).join(' ')} 2>${shellQuote(stderrFile)}`, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] })
    : spawn(argv[0], argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  let exitCode: number | null | undefined;
  void exited.then((c) => (exitCode = c));
  try {
    const deadline = Date.now() + 30_000;
    while (!opts.done(stdout.replace(/\r/g, ''))) {
      const errors = () => stderr + (existsSync(stderrFile) ? readFileSync(stderrFile, 'utf8') : '');
      if (exitCode !== undefined) throw new Error(`exited with ${exitCode} before ready:\n${stdout}\n${errors()}`);
      if (Date.now() > deadline) throw new Error(`not ready in time:\n${stdout}\n${errors()}`);
      await sleep(50);
    }
    await opts.whileUp?.(stdout.replace(/\r/g, ''));
  } finally {
    // Under `script`, the node process running the CLI (not the shell whose -c string names it too).
    const isSightline = (pid: number) => {
      try {
        const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        return args[0] === process.execPath && args[1] === CLI;
      } catch {
        return false;
      }
    };
    const sightline = opts.tty ? descendants(child.pid!).find(isSightline) : child.pid;
    if (exitCode === undefined) {
      if (sightline !== undefined) process.kill(sightline, 'SIGTERM');
      else child.kill('SIGTERM');
    }
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(stderrFile, { force: true });
  }
  return stdout.replace(/\r/g, '');
}

const READY_JSON = (out: string) => out.split('\n').some((l) => l.includes('"msg":"Sightline is ready"'));
const SUMMARY_DONE = (out: string) => out.includes('Ctrl-C stops Sightline.');
/** Escape sequences of colours, for reading a terminal's text. */
const plain = (s: string) => s.replace(/\u001b\[[0-9;]*m/g, '');

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

  it('at a terminal, prints where the UI and both OTLP listeners are bound, and readable log lines', async () => {
    await serveOutput({
      tty: true,
      done: SUMMARY_DONE,
      whileUp: async (raw) => {
        const out = plain(raw);
        // Each line of the summary is checked against the listener itself, not against the flags.
        const ui = /^ {2}Web UI {6}(http:\/\/127\.0\.0\.1:(\d+)\/)$/m.exec(out);
        const grpc = /^ {2}OTLP\/gRPC {3}(http:\/\/127\.0\.0\.1:(\d+))$/m.exec(out);
        const otlpHttp = /^ {2}OTLP\/HTTP {3}(http:\/\/127\.0\.0\.1:(\d+)) {2}\(traces: POST \/v1\/traces\)$/m.exec(out);
        assert.ok(ui && grpc && otlpHttp, out);
        assert.equal(new Set([ui[2], grpc[2], otlpHttp[2]]).size, 3, 'three ports, none of them 0');
        assert.ok(![ui[2], grpc[2], otlpHttp[2]].includes('0'));
        assert.equal(await (await fetch(`${ui[1]}api/echo`)).text(), 'echo\n');
        assert.match(await (await fetch(ui[1])).text(), /<div id="root">/);
        assert.equal((await postOtlp(otlpHttp[1], requestBytes([span()]))).status, 200);
        // An HTTP/2 server answers on the gRPC port: its SETTINGS frame arrives.
        const session = http2.connect(grpc[1]);
        await new Promise<void>((resolve, reject) => session.once('remoteSettings', () => resolve()).once('error', reject));
        session.close();
        assert.match(out, new RegExp(`^ {2}export OTEL_EXPORTER_OTLP_ENDPOINT=${otlpHttp[1]}$`, 'm'));
        assert.match(out, new RegExp(`npm run demo -- --fault b --otlp ${otlpHttp[1]}/v1/traces --api ${ui[1].slice(0, -1)}$`, 'm'));
        // Log lines for a person, coloured by level; no JSON on the terminal.
        assert.match(out, /^\d\d:\d\d:\d\d\.\d{3} INFO {2}store opened {2}engine=(?:"[^"]+"|\S+) dataDir=\S+/m);
        assert.match(out, /^\d\d:\d\d:\d\d\.\d{3} INFO {2}Sightline is ready {2}version=/m);
        assert.match(raw, /\u001b\[32mINFO \u001b\[0m/);
        assert.ok(!out.split('\n').some((l) => l.startsWith('{')), out);
      },
    });
  });

  it('keeps JSON lines when stdout is not a terminal, and at a terminal when asked', async () => {
    for (const mode of [{ tty: false, args: [] }, { tty: true, args: ['--log-format', 'json'] }]) {
      const out = await serveOutput({ ...mode, done: READY_JSON });
      const lines = out.split('\n').filter((l) => l !== '');
      const parsed = lines.map((l) => JSON.parse(l) as { msg: string; ports?: Record<string, number> });
      const ready = parsed.find((l) => l.msg === 'Sightline is ready');
      assert.ok(ready?.ports && ready.ports.http > 0 && ready.ports.otlpHttp > 0 && ready.ports.otlpGrpc > 0, out);
      assert.ok(!out.includes('Web UI'), `no summary (${mode.tty ? 'tty, --log-format json' : 'pipe'})`);
    }
    // Asked for pretty output into a pipe: the summary, without colour codes.
    const pretty = await serveOutput({ tty: false, args: ['--log-format', 'pretty'], done: SUMMARY_DONE });
    assert.match(pretty, /^ {2}OTLP\/HTTP {3}http:\/\/127\.0\.0\.1:\d+ /m);
    assert.ok(!pretty.includes('\u001b['));
    const bad = run(['serve', '--log-format', 'yaml']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--log-format: "yaml" is not a log format \(auto, json, pretty\)/);
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
