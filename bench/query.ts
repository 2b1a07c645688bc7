import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LoadgenResult } from './loadgen.js';
import { buildPreviousRelease, SCHEMA_V2_COMMIT } from '../testkit/previous-release.js';

/**
 * npm run bench:query -- [--spans 10000000] [--runs 15] [--previous]
 *
 * Fills a fresh Sightline (embedded store) with realistic spans from the
 * load generator, then times trace by id, TraceQL and diagnosis over HTTP:
 * the targets of the store, TraceQL and diagnosis issues. With --previous,
 * the previous release (schema v2, built from git history) is filled and
 * timed the same way first, and the table gives both and their ratio,
 * measured in one run. Also reports each server's idle and peak RSS.
 * Writes a markdown table to bench/results/.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { values: args } = parseArgs({
  options: { spans: { type: 'string', default: '10000000' }, runs: { type: 'string', default: '15' }, previous: { type: 'boolean', default: false } },
});

interface Row {
  label: string;
  target: number;
  p50: number;
  max: number;
  results: number;
}

interface Run {
  spans: number;
  rows: Row[];
  idleRssMiB: number;
  peakRssMiB: number;
}

function rssMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

async function measure(cli: string): Promise<Run> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'sightline-bench-traceql-'));
  const child = spawn(process.execPath, [cli, 'serve', '--data', dataDir, '--listen', '127.0.0.1', '--otlp-grpc-port', '0', '--otlp-http-port', '0', '--http-port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, UV_THREADPOOL_SIZE: '16' },
  });
  let buf = '';
  const ports = await new Promise<{ otlpHttp: number; http: number }>((resolve, reject) => {
    child.stdout.on('data', (c) => {
      buf += c;
      for (const line of buf.split('\n')) if (line.includes('"Sightline is ready"')) resolve(JSON.parse(line).ports);
    });
    child.on('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
  // The launcher may run the server in a child of its own: measure the process that listens.
  const pid = child.pid!;
  const api = `http://127.0.0.1:${ports.http}`;
  try {
    await sleep(5000);
    const idleRssMiB = rssMiB(pid, 'VmRSS');
    console.error(`loading ${args.spans} spans into ${path.relative(ROOT, cli) || cli}...`);
    const load = await new Promise<LoadgenResult>((resolve, reject) => {
      const gen = spawn(
        process.execPath,
        ['--max-semi-space-size=64', path.join(ROOT, 'dist', 'bench', 'loadgen.js'), JSON.stringify({ protocol: 'http', target: `127.0.0.1:${ports.otlpHttp}`, concurrency: 8, durationS: 3600, maxSpans: Number(args.spans) })],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let out = '';
      gen.stdout.on('data', (c) => (out += c));
      gen.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!)) : reject(new Error(`loadgen ${code}`))));
    });
    for (;;) {
      const st = (await (await fetch(`${api}/api/sightline/status`)).json()) as { ingest: { backlogBytes: number } };
      if (st.ingest.backlogBytes === 0) break;
      await sleep(500);
    }
    await sleep(5000);
    const end = Math.floor(Date.now() / 1000) + 1;
    const start = end - 3600;
    const user = ((await (await fetch(`${api}/api/v2/search/tag/span.enduser.id/values?limit=1&start=${start}&end=${end}`)).json()) as { tagValues: { value: string }[] }).tagValues[0].value;
    const diagnosis = (p: string, params: Record<string, string>) => `/api/sightline/${p}?${new URLSearchParams({ ...params, start: String(start), end: String(end) })}`;
    const traceIds = load.sampleTraceIds.slice(0, 300);
    let nextTrace = 0;
    const queries: { label: string; target: number; url: () => string; runs?: number }[] = [
      { label: 'trace by id (`/api/v2/traces/<id>`, 300 different traces)', target: 15, url: () => `/api/v2/traces/${traceIds[nextTrace++ % traceIds.length]}`, runs: traceIds.length },
      { label: '`{ resource.service.name = "billing" && duration > 500ms }` over 1 h', target: 300, url: () => `/api/search?q=${encodeURIComponent('{ resource.service.name = "billing" && duration > 500ms }')}&start=${start}&end=${end}&limit=20` },
      { label: 'attribute equality on a high-cardinality key (`{ span.enduser.id = "<a user>" }`) over 1 h', target: 500, url: () => `/api/search?q=${encodeURIComponent(`{ span.enduser.id = "${user}" }`)}&start=${start}&end=${end}&limit=20` },
      { label: 'structural `{ resource.service.name = "gateway" } >> { name = "SELECT" && duration > 50ms }` over 1 h', target: 1500, url: () => `/api/search?q=${encodeURIComponent('{ resource.service.name = "gateway" } >> { name = "SELECT" && duration > 50ms }')}&start=${start}&end=${end}&limit=20` },
      { label: '`{ } | quantile_over_time(duration, .99) by (resource.service.name)` over 1 h, 60 steps', target: 500, url: () => `/api/metrics/query_range?q=${encodeURIComponent('{ } | quantile_over_time(duration, .99) by (resource.service.name)')}&start=${start}&end=${end}&step=60s` },
      { label: 'the same, with `estimate=true` (t-digests from the span_metrics rollup)', target: 500, url: () => `/api/metrics/query_range?q=${encodeURIComponent('{ } | quantile_over_time(duration, .99) by (resource.service.name)')}&start=${start}&end=${end}&step=60s&estimate=true` },
      { label: 'service map over 1 h', target: 1000, url: () => diagnosis('service-map', {}) },
      { label: 'compare `{ resource.service.name = "billing" && duration > 50ms }` with everything else, 1000 traces a side', target: 2000, url: () => diagnosis('compare', { q: '{ resource.service.name = "billing" && duration > 50ms }' }) },
      { label: 'aggregated critical path of `{ resource.service.name = "gateway" && duration > 60ms }` against everything else, 10k traces a side', target: 3000, url: () => diagnosis('critical-path', { q: '{ resource.service.name = "gateway" && duration > 60ms }', maxTraces: '10000' }) },
      { label: 'load of `{ resource.service.name = "billing" && name = "SELECT" }` (100k most recent spans)', target: 3000, url: () => diagnosis('load', { q: '{ resource.service.name = "billing" && name = "SELECT" }' }) },
    ];
    const rows: Row[] = [];
    // Warm up the engine's caches once, as a live system would have them.
    for (const id of traceIds.slice(0, 20)) await (await fetch(`${api}/api/traces/${id}`)).arrayBuffer();
    for (const q of queries) {
      const times: number[] = [];
      let results = 0;
      for (let i = 0; i < (q.runs ?? Number(args.runs)); i++) {
        const url = q.url();
        const t0 = process.hrtime.bigint();
        const r = await fetch(`${api}${url}`);
        const body = (await r.json()) as { trace?: { resourceSpans?: unknown[] }; batches?: unknown[]; traces?: unknown[]; series?: unknown[]; edges?: unknown[]; attributes?: unknown[]; operations?: unknown[]; buckets?: unknown[] };
        if (r.status !== 200) throw new Error(`${url}: ${r.status} ${JSON.stringify(body)}`);
        times.push(Number(process.hrtime.bigint() - t0) / 1e6);
        results = (body.trace?.resourceSpans ?? body.traces ?? body.series ?? body.edges ?? body.attributes ?? body.operations ?? body.buckets ?? []).length;
      }
      times.sort((a, b) => a - b);
      rows.push({ label: q.label, target: q.target, p50: times[Math.floor(times.length / 2)], max: times[times.length - 1], results });
      console.error(`${q.label}: p50 ${rows[rows.length - 1].p50.toFixed(1)} ms`);
    }
    return { spans: load.ackedSpans, rows, idleRssMiB, peakRssMiB: rssMiB(pid, 'VmHWM') };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.on('exit', r));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const previous = args.previous ? buildPreviousRelease() : null;
  let before: Run | null = null;
  try {
    if (previous) before = await measure(previous.cli);
  } finally {
    previous?.remove();
  }
  const now = await measure(path.join(ROOT, 'bin', 'sightline.cjs'));
  const when = new Date().toISOString();
  const fmt = (n: number) => `${n.toFixed(1)} ms`;
  const head = before
    ? [`| query | target | p50 v2 (${SCHEMA_V2_COMMIT.slice(0, 7)}) | p50 now | now / v2 | max now | results | |`, '|---|---|---|---|---|---|---|---|']
    : ['| query | target | p50 | max | results | |', '|---|---|---|---|---|---|'];
  const lines = now.rows.map((r, i) => {
    const met = r.p50 <= r.target ? 'met' : 'missed';
    if (!before) return `| ${r.label} | ${r.target} ms | ${fmt(r.p50)} | ${fmt(r.max)} | ${r.results} | ${met} |`;
    const b = before.rows[i];
    return `| ${r.label} | ${r.target} ms | ${fmt(b.p50)} | ${fmt(r.p50)} | ${(r.p50 / b.p50).toFixed(2)} | ${fmt(r.max)} | ${r.results} | ${met} |`;
  });
  const rss = (r: Run) => `idle ${r.idleRssMiB.toFixed(0)} MiB, peak ${r.peakRssMiB.toFixed(0)} MiB`;
  const md = [
    `# Query benchmark, ${when}`,
    '',
    `Machine: ${os.cpus().length} cores, Node ${process.version}. ${now.spans.toLocaleString('en-US')} spans loaded through OTLP/HTTP into the embedded store; queries over HTTP, ${args.runs} runs each (trace by id: 300 different traces, after 20 for warm-up).`,
    `Command: \`npm run bench:query -- --spans ${args.spans} --runs ${args.runs}${before ? ' --previous' : ''}\``,
    '',
    ...head,
    ...lines,
    '',
    `Server RSS: now ${rss(now)}${before ? `; v2 ${rss(before)}` : ''}.`,
    '',
  ].join('\n');
  const dir = path.join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `query-${when.slice(0, 16).replace(/[:T]/g, '')}.md`);
  writeFileSync(file, md);
  process.stdout.write(md + `\nWritten to ${path.relative(ROOT, file)}\n`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
