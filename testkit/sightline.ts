import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

/** The repository root, from dist/testkit. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(REPO_ROOT, 'bin', 'sightline.cjs');

export interface Sightline {
  pid: number;
  dataDir: string;
  ports: { otlpGrpc: number; otlpHttp: number; http: number; zipkin?: number };
  /** http://127.0.0.1:<port> of the query API. */
  api: string;
  otlpHttp: string;
  otlpGrpc: string;
  /** Every log line so far, parsed. */
  logs: Record<string, unknown>[];
  /** Everything written to stderr so far (the engine writes there, too). */
  stderr(): string;
  process: ChildProcess;
  /** SIGTERM and wait; resolves to the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
  /** Removes the data directory (after stop or kill). */
  cleanup(): void;
}

export interface StartOptions {
  /** Reuse a data directory (for restarts); default: a new temp dir. */
  dataDir?: string;
  args?: string[];
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Another build's CLI (the previous release, for upgrade tests); default this checkout's. */
  cli?: string;
}

export function tempDir(prefix = 'sightline-test-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * Starts the real `sightline serve` on loopback with ephemeral ports and
 * waits for its "ready" log line, which carries the bound ports.
 */
export async function startSightline(opts: StartOptions = {}): Promise<Sightline> {
  const dataDir = opts.dataDir ?? tempDir();
  const child = spawn(
    process.execPath,
    [opts.cli ?? CLI, 'serve', '--data', dataDir, '--listen', '127.0.0.1', '--otlp-grpc-port', '0', '--otlp-http-port', '0', '--http-port', '0', ...(opts.args ?? [])],
    { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  let buffered = '';
  let readyLine: Record<string, unknown> | null = null;
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        logs.push(parsed);
        if (parsed.msg === 'Sightline is ready') readyLine = parsed;
      } catch {
        logs.push({ raw: line });
      }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  let exited: number | null | undefined;
  const exit = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      exited = code;
      resolve(code);
    }),
  );

  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  while (!readyLine) {
    if (exited !== undefined) throw new Error(`sightline exited with ${exited} before ready:\n${stderr}\n${JSON.stringify(logs.slice(-5))}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`sightline not ready in time:\n${stderr}`);
    }
    await sleep(25);
  }
  const ports = (readyLine as { ports: Sightline['ports'] }).ports;
  return {
    pid: child.pid!,
    dataDir,
    ports,
    api: `http://127.0.0.1:${ports.http}`,
    otlpHttp: `http://127.0.0.1:${ports.otlpHttp}`,
    otlpGrpc: `http://127.0.0.1:${ports.otlpGrpc}`,
    logs,
    stderr: () => stderr,
    process: child,
    async stop() {
      if (exited !== undefined) return exited;
      process.kill(child.pid!, 'SIGTERM');
      return exit;
    },
    async kill() {
      if (exited !== undefined) return;
      process.kill(child.pid!, 'SIGKILL');
      await exit;
    },
    cleanup() {
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls `fn` until it returns a value that is not undefined, or times out. */
export async function eventually<T>(fn: () => Promise<T | undefined>, timeoutMs = 15_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    await sleep(100);
  }
}
