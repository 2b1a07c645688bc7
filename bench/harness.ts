import { spawn, execFileSync } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

/** What the benchmarks share: a real Sightline process, its API, and /proc readings of it. */

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const DIST_BENCH = path.join(ROOT, 'dist', 'bench');
export const CLI = path.join(ROOT, 'bin', 'sightline.cjs');
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** Runs a benchmark script of dist/bench in a process of its own; resolves to the last JSON line it prints. */
export function runChild<T>(script: string, argv: string[], benchDir = DIST_BENCH): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--max-semi-space-size=64', path.join(benchDir, script), ...argv], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!) as T) : reject(new Error(`${script} exited ${code}`))));
  });
}

export interface Server {
  pid: number;
  ports: { otlpGrpc: number; otlpHttp: number; http: number };
  security: Security | null;
  stop(): Promise<void>;
}

/** Tokens and TLS, as a production Sightline runs: certificates made by openssl for the run. */
export interface Security {
  args: string[];
  ca: string;
  ingestToken: string;
  adminToken: string;
  remove(): void;
}

/** GET a JSON document from the server's API, with its CA and an admin token when it is secured. */
export function getJson<T>(s: Server, pathAndQuery: string): Promise<T> {
  const sec = s.security;
  const client = sec ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.get(
      { host: '127.0.0.1', port: s.ports.http, path: pathAndQuery, ...(sec ? { ca: sec.ca, headers: { authorization: `Bearer ${sec.adminToken}` } } : {}) },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(body) as T) : reject(new Error(`${pathAndQuery}: ${res.statusCode} ${body}`))));
      },
    );
    req.on('error', reject);
  });
}

export async function startServer(dataDir: string, storeArgs: string[] = [], security: Security | null = null, extraArgs: string[] = []): Promise<Server> {
  // SIGHTLINE_BENCH_NODE_ARGS: Node flags for the server alone, e.g. --cpu-prof (not allowed in NODE_OPTIONS).
  const nodeArgs = (process.env.SIGHTLINE_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, CLI, 'serve', '--data', dataDir, '--listen', '127.0.0.1', '--otlp-grpc-port', '0', '--otlp-http-port', '0', '--http-port', '0', ...(security?.args ?? []), ...extraArgs, ...storeArgs], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, SIGHTLINE_LOG_LEVEL: 'info', UV_THREADPOOL_SIZE: '16' },
  });
  let buf = '';
  const ready = new Promise<Server['ports']>((resolve, reject) => {
    child.stdout.on('data', (c) => {
      buf += c;
      for (const line of buf.split('\n')) {
        if (line.includes('"Sightline is ready"')) resolve((JSON.parse(line) as { ports: Server['ports'] }).ports);
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
  const ports = await ready;
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  return {
    pid: child.pid!,
    ports,
    security,
    async stop() {
      process.kill(child.pid!, 'SIGTERM');
      await exited;
    },
  };
}

export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

export function peakRssBytes(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

export function status(s: Server): Promise<{ ingest: { acceptedSpans: number; storedSpans: number; backlogBytes: number }; store: { spans: number } }> {
  return getJson(s, '/api/sightline/status');
}

export async function waitForStore(s: Server, timeoutS = 600): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const st = await status(s);
    if (st.ingest.backlogBytes === 0 && st.ingest.storedSpans >= st.ingest.acceptedSpans) return (Date.now() - t0) / 1000;
    if (Date.now() - t0 > timeoutS * 1000) throw new Error('store did not catch up');
    await sleep(200);
  }
}

