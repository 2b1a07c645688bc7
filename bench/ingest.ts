import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProtobufSpanDecoder } from '../src/receivers/decode-protobuf.js';
import { ResourceBatchBuilder, SpanBatchBuilder } from '../src/model/span-batch.js';
import { ResourceRows } from '../src/receivers/row-templates.js';
import { buildTemplates, instantiate } from './otlp-gen.js';
import { runDecodeBench } from './decode.js';
import type { LoadgenResult } from './loadgen.js';
import type { CeilingResult } from './engine-ceiling.js';

/**
 * npm run bench:ingest -- [--duration 30] [--concurrency 8] [--protocols http,grpc] [--query-spans 10000000]
 *
 * Measures, in one run on this machine:
 *  - decode-only rates (ours and protobufjs) on one core;
 *  - the engine's own bulk insert of the same rows (the ceiling);
 *  - durable ingest through a real Sightline process from a separate load
 *    generator process, per protocol: acknowledged spans/s, spans per server
 *    CPU-second, request latency, peak RSS, bytes per span after merges;
 *  - with --query-spans, trace-by-id and tag search latency at that size.
 * and writes a markdown table to bench/results/.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DIST_BENCH = path.join(ROOT, 'dist', 'bench');
const CLI = path.join(ROOT, 'bin', 'sightline.cjs');
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '30' },
    concurrency: { type: 'string', default: '8' },
    protocols: { type: 'string', default: 'http,grpc' },
    'query-spans': { type: 'string', default: '0' },
    store: { type: 'string' },
  },
});

function runChild<T>(script: string, argv: string[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--max-semi-space-size=64', path.join(DIST_BENCH, script), ...argv], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!) as T) : reject(new Error(`${script} exited ${code}`))));
  });
}

interface Server {
  pid: number;
  ports: { otlpGrpc: number; otlpHttp: number; http: number };
  stop(): Promise<void>;
}

async function startServer(dataDir: string): Promise<Server> {
  const child = spawn(process.execPath, [CLI, 'serve', '--data', dataDir, '--listen', '127.0.0.1', '--otlp-grpc-port', '0', '--otlp-http-port', '0', '--http-port', '0'], {
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
    async stop() {
      process.kill(child.pid!, 'SIGTERM');
      await exited;
    },
  };
}

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

function peakRssBytes(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

async function status(s: Server): Promise<{ ingest: { acceptedSpans: number; storedSpans: number; backlogBytes: number }; store: { spans: number } }> {
  return (await (await fetch(`http://127.0.0.1:${s.ports.http}/api/sightline/status`)).json()) as never;
}

async function waitForStore(s: Server, timeoutS = 600): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const st = await status(s);
    if (st.ingest.backlogBytes === 0 && st.ingest.storedSpans >= st.ingest.acceptedSpans) return (Date.now() - t0) / 1000;
    if (Date.now() - t0 > timeoutS * 1000) throw new Error('store did not catch up');
    await sleep(200);
  }
}

interface IngestRun {
  protocol: string;
  load: LoadgenResult;
  serverCpuSeconds: number;
  peakRssBytes: number;
  catchUpSeconds: number;
  bytesPerSpanMerged: number;
}

async function ingestRun(protocol: 'http' | 'grpc', durationS: number, concurrency: number): Promise<IngestRun> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `sightline-bench-${protocol}-`));
  try {
    const s = await startServer(dataDir);
    const cpu0 = cpuSeconds(s.pid);
    const target = `127.0.0.1:${protocol === 'http' ? s.ports.otlpHttp : s.ports.otlpGrpc}`;
    const load = await runChild<LoadgenResult>('loadgen.js', [JSON.stringify({ protocol, target, concurrency, durationS })]);
    const catchUpSeconds = await waitForStore(s);
    const serverCpuSeconds = cpuSeconds(s.pid) - cpu0;
    const rss = peakRssBytes(s.pid);
    await s.stop();
    const merged = await runChild<{ bytesPerSpan: number }>('disk-usage.js', [path.join(dataDir, 'store')]);
    return { protocol, load, serverCpuSeconds, peakRssBytes: rss, catchUpSeconds, bytesPerSpanMerged: merged.bytesPerSpan };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

interface QueryRun {
  spans: number;
  traceByIdMs: { p50: number; p99: number };
  tagSearchMs: { p50: number; p99: number };
  peakRssBytes: number;
}

async function queryRun(spans: number, concurrency: number): Promise<QueryRun> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'sightline-bench-query-'));
  try {
    const s = await startServer(dataDir);
    const target = `127.0.0.1:${s.ports.otlpHttp}`;
    const load = await runChild<LoadgenResult>('loadgen.js', [JSON.stringify({ protocol: 'http', target, concurrency, durationS: 3600, maxSpans: spans })]);
    await waitForStore(s, 1800);
    await sleep(5000); // let merges settle a little, as a live system would have
    const api = `http://127.0.0.1:${s.ports.http}`;
    const time = async (url: string) => {
      const t0 = process.hrtime.bigint();
      const r = await fetch(url);
      await r.arrayBuffer();
      if (r.status !== 200) throw new Error(`${url}: ${r.status}`);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    const ids = load.sampleTraceIds.slice(0, 300);
    for (const id of ids.slice(0, 20)) await time(`${api}/api/traces/${id}`); // warm-up
    const byId: number[] = [];
    for (const id of ids) byId.push(await time(`${api}/api/v2/traces/${id}`));
    const nowS = Math.floor(Date.now() / 1000);
    const search: number[] = [];
    for (let i = 0; i < 30; i++) search.push(await time(`${api}/api/search?tags=${encodeURIComponent('service.name=billing')}&start=${nowS - 3600}&end=${nowS + 60}&limit=20`));
    const rss = peakRssBytes(s.pid);
    const stored = (await status(s)).store.spans;
    await s.stop();
    const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
    return {
      spans: stored,
      traceByIdMs: { p50: pct(byId, 0.5), p99: pct(byId, 0.99) },
      tagSearchMs: { p50: pct(search, 0.5), p99: pct(search, 0.99) },
      peakRssBytes: rss,
    };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * Native files of our decoded rows, for the engine ceiling: the resource
 * rows first (as the ingest writer stores them), then span files.
 */
function nativeFiles(dir: string, files: number, requestsPerFile: number): string[] {
  const templates = buildTemplates(40, 500, 7);
  const decoder = new ProtobufSpanDecoder();
  const builder = new SpanBatchBuilder();
  const resources = new ResourceBatchBuilder();
  const known = new Set<string>();
  const out: string[] = [];
  for (let f = 0; f < files; f++) {
    const parts: Buffer[] = [];
    for (let i = 0; i < requestsPerFile; i++) {
      builder.reset();
      const rows = new ResourceRows(resources, (id) => known.has(id), BigInt(Date.now()) * 1_000_000n);
      decoder.decode(instantiate(templates[(f * requestsPerFile + i) % templates.length], BigInt(Date.now()) * 1_000_000n), builder, rows, { minStartNs: 0, retentionText: '' });
      for (const id of rows.emitted) known.add(id);
      parts.push(builder.toBuffer());
    }
    const file = path.join(dir, `ceiling-${f}.native`);
    writeFileSync(file, Buffer.concat(parts));
    out.push(file);
  }
  const res = path.join(dir, 'ceiling-resources.native');
  writeFileSync(res, resources.toBuffer());
  return [res, ...out];
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function main(): Promise<void> {
  const durationS = Number(args.duration);
  const concurrency = Number(args.concurrency);
  const protocols = args.protocols!.split(',') as ('http' | 'grpc')[];
  if (args.store) throw new Error('--store is for a ClickHouse server, which this build does not support yet');

  console.error('decode-only rates...');
  const decode = runDecodeBench(3);
  console.error('engine bulk-insert ceiling...');
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'sightline-bench-files-'));
  const ceiling = await runChild<CeilingResult>('engine-ceiling.js', nativeFiles(tmp, 4, 100));
  rmSync(tmp, { recursive: true, force: true });
  const runs: IngestRun[] = [];
  for (const p of protocols) {
    console.error(`durable ingest over ${p} for ${durationS}s...`);
    runs.push(await ingestRun(p, durationS, concurrency));
  }
  const querySpans = Number(args['query-spans']);
  const query = querySpans > 0 ? (console.error(`query latency at ${querySpans} spans...`), await queryRun(querySpans, concurrency)) : null;

  const lines: string[] = [];
  const when = new Date().toISOString();
  lines.push(`# Ingest benchmark, ${when}`, '');
  lines.push(`Machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), ${fmt(os.totalmem() / 1024 ** 3)} GiB, Node ${process.version}.`);
  lines.push(`Command: \`npm run bench:ingest -- --duration ${durationS} --concurrency ${concurrency} --protocols ${protocols.join(',')}${querySpans ? ` --query-spans ${querySpans}` : ''}\``, '');
  lines.push('Load: realistic OTLP protobuf, 500 spans per request, 10-30 spans per trace, 10-15 attributes per span, 6 services x 3 hosts; a separate load-generator process on loopback.', '');
  lines.push('## Ceilings measured in this run', '');
  lines.push('| ceiling | rate |', '|---|---|');
  lines.push(`| decode only, our column decoder (1 core) | ${fmt(decode.oursSpansPerSec)} spans/s |`);
  lines.push(`| decode only, protobufjs objects (1 core) | ${fmt(decode.protobufjsSpansPerSec)} spans/s |`);
  lines.push(`| engine bulk insert of the same rows (chDB, INSERT from Native file) | ${fmt(ceiling.rowsPerSecond)} rows/s, ${fmt(ceiling.rowsPerCpuSecond)} rows per CPU-second |`);
  lines.push('');
  lines.push('## Durable ingest through Sightline', '');
  lines.push('| protocol | acked spans/s | spans per server CPU-s | vs engine insert (per CPU-s) | vs decode only | p50 / p99 request ms | peak RSS | bytes/span after merge | refused (429) |');
  lines.push('|---|---|---|---|---|---|---|---|---|');
  for (const r of runs) {
    const rate = r.load.ackedSpans / r.load.seconds;
    const perCpu = r.load.ackedSpans / r.serverCpuSeconds;
    lines.push(
      `| ${r.protocol} | ${fmt(rate)} | ${fmt(perCpu)} | ${fmt((100 * perCpu) / ceiling.rowsPerCpuSecond)}% | ${fmt((100 * perCpu) / decode.oursSpansPerSec)}% | ${fmt(r.load.latencyMs.p50, 1)} / ${fmt(r.load.latencyMs.p99, 1)} | ${fmt(r.peakRssBytes / 1024 ** 2)} MiB | ${fmt(r.bytesPerSpanMerged, 1)} | ${r.load.refused} |`,
    );
  }
  lines.push('', `Wire size: ${fmt(decode.bytesPerSpanOnWire)} bytes/span of OTLP protobuf; WAL/Native: ${fmt(decode.nativeBytesPerSpan)} bytes/span. Engine-only bytes/span after merge: ${fmt(ceiling.bytesPerSpanMerged, 1)}.`);
  if (query) {
    lines.push('', `## Queries at ${fmt(query.spans)} stored spans`, '');
    lines.push('| query | p50 ms | p99 ms |', '|---|---|---|');
    lines.push(`| trace by id (/api/v2/traces, 300 ids) | ${fmt(query.traceByIdMs.p50, 1)} | ${fmt(query.traceByIdMs.p99, 1)} |`);
    lines.push(`| tag search, one service over 1 h (30 runs) | ${fmt(query.tagSearchMs.p50, 1)} | ${fmt(query.tagSearchMs.p99, 1)} |`);
    lines.push('', `Peak RSS of the server: ${fmt(query.peakRssBytes / 1024 ** 2)} MiB.`);
  }
  const md = lines.join('\n') + '\n';
  const dir = path.join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `ingest-${when.slice(0, 16).replace(/[:T]/g, '')}.md`);
  writeFileSync(file, md);
  process.stdout.write(md + `\nWritten to ${path.relative(ROOT, file)}\n`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
