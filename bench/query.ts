import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LoadgenResult } from './loadgen.js';

/**
 * npm run bench:query -- [--spans 10000000] [--runs 15]
 *
 * Fills a fresh Sightline (embedded store) with realistic spans from the
 * load generator, then times TraceQL and diagnosis over HTTP: the targets
 * of the TraceQL and diagnosis issues. Writes a markdown table to
 * bench/results/.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { values: args } = parseArgs({ options: { spans: { type: 'string', default: '10000000' }, runs: { type: 'string', default: '15' } } });

async function main(): Promise<void> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'sightline-bench-traceql-'));
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'sightline.cjs'), 'serve', '--data', dataDir, '--listen', '127.0.0.1', '--otlp-grpc-port', '0', '--otlp-http-port', '0', '--http-port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let buf = '';
  const ports = await new Promise<{ otlpHttp: number; http: number }>((resolve, reject) => {
    child.stdout.on('data', (c) => {
      buf += c;
      for (const line of buf.split('\n')) if (line.includes('"Sightline is ready"')) resolve(JSON.parse(line).ports);
    });
    child.on('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
  const api = `http://127.0.0.1:${ports.http}`;
  try {
    console.error(`loading ${args.spans} spans...`);
    const load = await new Promise<LoadgenResult>((resolve, reject) => {
      const gen = spawn(process.execPath, ['--max-semi-space-size=64', path.join(ROOT, 'dist', 'bench', 'loadgen.js'), JSON.stringify({ protocol: 'http', target: `127.0.0.1:${ports.otlpHttp}`, concurrency: 8, durationS: 3600, maxSpans: Number(args.spans) })], { stdio: ['ignore', 'pipe', 'inherit'] });
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
    const diagnosis = (path: string, params: Record<string, string>) => `/api/sightline/${path}?${new URLSearchParams({ ...params, start: String(start), end: String(end) })}`;
    const queries: { label: string; target: number; url: string }[] = [
      { label: '`{ resource.service.name = "billing" && duration > 500ms }` over 1 h', target: 300, url: `/api/search?q=${encodeURIComponent('{ resource.service.name = "billing" && duration > 500ms }')}&start=${start}&end=${end}&limit=20` },
      { label: `attribute equality on a high-cardinality key (\`{ span.enduser.id = "${user}" }\`) over 1 h`, target: 500, url: `/api/search?q=${encodeURIComponent(`{ span.enduser.id = "${user}" }`)}&start=${start}&end=${end}&limit=20` },
      { label: 'structural `{ resource.service.name = "gateway" } >> { name = "SELECT" && duration > 50ms }` over 1 h', target: 1500, url: `/api/search?q=${encodeURIComponent('{ resource.service.name = "gateway" } >> { name = "SELECT" && duration > 50ms }')}&start=${start}&end=${end}&limit=20` },
      { label: '`{ } | quantile_over_time(duration, .99) by (resource.service.name)` over 1 h, 60 steps', target: 500, url: `/api/metrics/query_range?q=${encodeURIComponent('{ } | quantile_over_time(duration, .99) by (resource.service.name)')}&start=${start}&end=${end}&step=60s` },
      // Diagnosis (issue 5).
      { label: 'service map over 1 h', target: 1000, url: diagnosis('service-map', {}) },
      { label: 'compare `{ resource.service.name = "billing" && duration > 50ms }` with everything else, 1000 traces a side', target: 2000, url: diagnosis('compare', { q: '{ resource.service.name = "billing" && duration > 50ms }' }) },
      { label: 'aggregated critical path of `{ resource.service.name = "gateway" && duration > 60ms }` against everything else, 10k traces a side', target: 3000, url: diagnosis('critical-path', { q: '{ resource.service.name = "gateway" && duration > 60ms }', maxTraces: '10000' }) },
      { label: 'load of `{ resource.service.name = "billing" && name = "SELECT" }` (100k most recent spans)', target: 3000, url: diagnosis('load', { q: '{ resource.service.name = "billing" && name = "SELECT" }' }) },
      { label: 'the same, with `estimate=true` (t-digests from the span_metrics rollup)', target: 500, url: `/api/metrics/query_range?q=${encodeURIComponent('{ } | quantile_over_time(duration, .99) by (resource.service.name)')}&start=${start}&end=${end}&step=60s&estimate=true` },
    ];
    const rows: string[] = [];
    for (const q of queries) {
      const times: number[] = [];
      let results = 0;
      for (let i = 0; i < Number(args.runs); i++) {
        const t0 = process.hrtime.bigint();
        const r = await fetch(`${api}${q.url}`);
        const body = (await r.json()) as { traces?: unknown[]; series?: unknown[]; edges?: unknown[]; attributes?: unknown[]; operations?: unknown[]; buckets?: unknown[] };
        if (r.status !== 200) throw new Error(`${q.url}: ${r.status} ${JSON.stringify(body)}`);
        times.push(Number(process.hrtime.bigint() - t0) / 1e6);
        results = (body.traces ?? body.series ?? body.edges ?? body.attributes ?? body.operations ?? body.buckets ?? []).length;
      }
      times.sort((a, b) => a - b);
      const p50 = times[Math.floor(times.length / 2)];
      rows.push(`| ${q.label} | ${q.target} ms | ${p50.toFixed(1)} ms | ${times[times.length - 1].toFixed(1)} ms | ${results} | ${p50 <= q.target ? 'met' : 'missed'} |`);
      console.error(rows[rows.length - 1]);
    }
    const when = new Date().toISOString();
    const md = [
      `# TraceQL query benchmark, ${when}`,
      '',
      `Machine: ${os.cpus().length} cores, Node ${process.version}. ${load.ackedSpans.toLocaleString('en-US')} spans loaded through OTLP/HTTP into the embedded store; queries over HTTP, ${args.runs} runs each.`,
      `Command: \`npm run bench:query -- --spans ${args.spans} --runs ${args.runs}\``,
      '',
      '| query | target | p50 | max | results | |',
      '|---|---|---|---|---|---|',
      ...rows,
      '',
    ].join('\n');
    const dir = path.join(ROOT, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `traceql-${when.slice(0, 16).replace(/[:T]/g, '')}.md`);
    writeFileSync(file, md);
    process.stdout.write(md + `\nWritten to ${path.relative(ROOT, file)}\n`);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.on('exit', r));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
