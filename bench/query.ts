import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LoadgenResult } from './loadgen.js';
import { buildPreviousRelease, SCHEMA_V2_COMMIT } from '../testkit/previous-release.js';

/**
 * npm run bench:query -- [--spans 10000000] [--runs 15] [--previous]
 *   [--only quantile,trace] [--data <dir> [--reuse]] [--baseline <commit>] [--engine]
 *
 * Fills a fresh Sightline (embedded store) with realistic spans from the
 * load generator, then times trace by id, TraceQL and diagnosis over HTTP:
 * the targets of the store, TraceQL and diagnosis issues. With --previous,
 * the previous release (schema v2, built from git history) is filled and
 * timed the same way first, and the table gives both and their ratio,
 * measured in one run. Also reports each server's idle and peak RSS.
 * Writes a markdown table to bench/results/.
 *
 * - `--only a,b`: time only the queries whose label contains one of these
 *   (case-insensitive), for quick iterations on one of them.
 * - `--data <dir>`: fill this data directory and keep it; with `--reuse`,
 *   a directory this benchmark filled before (it notes what it loaded, and
 *   when, in bench-query.json there) is timed again without loading, over
 *   the same hour. Filling 10M spans takes many minutes.
 * - `--baseline <commit>`: a build of that commit (same schema: version 3)
 *   is timed first on the same data, so one run gives before and after.
 * - `--engine`: after the servers stop, times the TraceQL metrics request
 *   in this process: the store's metricsSeries (no HTTP, no worker) and
 *   the very statement it sends, run alone in chDB: the engine's ceiling.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { values: args } = parseArgs({
  options: {
    spans: { type: 'string', default: '10000000' },
    runs: { type: 'string', default: '15' },
    previous: { type: 'boolean', default: false },
    only: { type: 'string' },
    data: { type: 'string' },
    reuse: { type: 'boolean', default: false },
    baseline: { type: 'string' },
    engine: { type: 'boolean', default: false },
  },
});
const RUNS = Number(args.runs);

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

/** What a fill loaded and over which hour; kept in the data directory for --reuse. */
interface Fill {
  spans: number;
  /** The queried hour, in seconds. */
  start: number;
  end: number;
  sampleTraceIds: string[];
  /** A span.enduser.id value present in the data. */
  user: string;
}

const FILL_NOTE = 'bench-query.json';

function rssMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

const wanted = (label: string) => !args.only || args.only.split(',').some((w) => label.toLowerCase().includes(w.trim().toLowerCase()));

async function fillWithSpans(cli: string, api: string, otlpHttp: number): Promise<Fill> {
  console.error(`loading ${args.spans} spans into ${path.relative(ROOT, cli) || cli}...`);
  const load = await new Promise<LoadgenResult>((resolve, reject) => {
    const gen = spawn(
      process.execPath,
      ['--max-semi-space-size=64', path.join(ROOT, 'dist', 'bench', 'loadgen.js'), JSON.stringify({ protocol: 'http', target: `127.0.0.1:${otlpHttp}`, concurrency: 8, durationS: 3600, maxSpans: Number(args.spans) })],
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
  return { spans: load.ackedSpans, start, end, sampleTraceIds: load.sampleTraceIds.slice(0, 300), user };
}

/** Starts the server of `cli` on `dataDir`, fills it unless `fill` says what it holds, and times the queries. */
async function measure(cli: string, dataDir: string, given: Fill | null): Promise<{ run: Run; fill: Fill }> {
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
    const fill = given ?? (await fillWithSpans(cli, api, ports.otlpHttp));
    const { start, end, user } = fill;
    const diagnosis = (p: string, params: Record<string, string>) => `/api/sightline/${p}?${new URLSearchParams({ ...params, start: String(start), end: String(end) })}`;
    const traceIds = fill.sampleTraceIds;
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
      // Application spans only (no CI/CD runs in the fill): what the Delivery
      // page costs on a store that is mostly request traffic, with its 24 h
      // version-history lookback.
      { label: 'delivery: the four keys and deployments over 1 h', target: 1000, url: () => diagnosis('delivery', {}) },
      { label: 'delivery: pipelines over 1 h', target: 1000, url: () => diagnosis('delivery/pipelines', {}) },
    ];
    const rows: Row[] = [];
    // Warm up the engine's caches once, as a live system would have them.
    for (const id of traceIds.slice(0, 20)) await (await fetch(`${api}/api/traces/${id}`)).arrayBuffer();
    for (const q of queries.filter((q) => wanted(q.label))) {
      const times: number[] = [];
      let results = 0;
      for (let i = 0; i < (q.runs ?? RUNS); i++) {
        const url = q.url();
        const t0 = process.hrtime.bigint();
        const r = await fetch(`${api}${url}`);
        const body = (await r.json()) as { trace?: { resourceSpans?: unknown[] }; batches?: unknown[]; traces?: unknown[]; series?: unknown[]; edges?: unknown[]; attributes?: unknown[]; operations?: unknown[]; buckets?: unknown[]; services?: unknown[]; pipelines?: unknown[] };
        if (r.status !== 200) throw new Error(`${url}: ${r.status} ${JSON.stringify(body)}`);
        times.push(Number(process.hrtime.bigint() - t0) / 1e6);
        results = (body.trace?.resourceSpans ?? body.traces ?? body.series ?? body.edges ?? body.attributes ?? body.operations ?? body.buckets ?? body.services ?? body.pipelines ?? []).length;
      }
      rows.push({ label: q.label, target: q.target, ...summary(times), results });
      console.error(`${q.label}: p50 ${rows[rows.length - 1].p50.toFixed(1)} ms`);
    }
    return { run: { spans: fill.spans, rows, idleRssMiB, peakRssMiB: rssMiB(pid, 'VmHWM') }, fill };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.on('exit', r));
  }
}

function summary(times: number[]): { p50: number; max: number } {
  const sorted = [...times].sort((a, b) => a - b);
  return { p50: sorted[Math.floor(sorted.length / 2)], max: sorted[sorted.length - 1] };
}

/** The quantile request of the HTTP table, as the TraceQL front end hands it to the store. */
const QUANTILE_LABEL = 'quantile_over_time(duration, .99) by (resource.service.name) over 1 h, 60 steps';

interface EngineRow {
  label: string;
  before?: { p50: number; max: number };
  now: { p50: number; max: number };
}

/**
 * The quantile request without HTTP or a query worker: the store's
 * metricsSeries in this process, then the one statement it sent, alone in
 * chDB. `storeModules` are the store builds to time (the baseline's first).
 */
async function timeInProcess(dataDir: string, fill: Fill, baselineDist: string | null): Promise<EngineRow[]> {
  type StoreModule = typeof import('../src/store/index.js');
  const { ChdbEngine } = await import('../src/store/chdb/index.js');
  const current = await import('../src/store/index.js');
  const engine = await ChdbEngine.open({ dir: path.join(dataDir, 'store') });
  try {
    const statements: string[] = [];
    // The engine, recording what the store sends.
    const recording = new Proxy(engine, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== 'function') return v;
        if (prop === 'query' || prop === 'queryLimited') return (s: { text: string }, ...rest: unknown[]) => (statements.push(s.text), (v as (...a: unknown[]) => unknown).call(target, s, ...rest));
        return (v as (...a: unknown[]) => unknown).bind(target);
      },
    });
    const request = {
      range: { startNs: BigInt(fill.start) * 1_000_000_000n, endNs: BigInt(fill.end) * 1_000_000_000n },
      stepNs: 60_000_000_000n,
      where: current.ALWAYS,
      by: [{ kind: 'field' as const, field: { kind: 'attribute' as const, scope: 'resource' as const, name: 'service.name' } }],
      aggregates: [{ fn: 'quantile' as const, q: 0.99, of: { kind: 'intrinsic' as const, name: 'duration' as const } }],
    };
    const scope = current.TenantScope.of([current.DEFAULT_TENANT]);
    const time = async (work: () => Promise<unknown>) => {
      await work();
      const times: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const t0 = process.hrtime.bigint();
        await work();
        times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      return summary(times);
    };
    const builds: StoreModule[] = [];
    if (baselineDist) builds.push((await import(pathToFileURL(path.join(baselineDist, 'src', 'store', 'index.js')).href)) as StoreModule);
    builds.push(current);
    const store: { p50: number; max: number }[] = [];
    const alone: { p50: number; max: number }[] = [];
    const answers: string[] = [];
    const statementCounts: number[] = [];
    for (const m of builds) {
      const s = new m.SqlStore(recording, { database: 'default' }, { defaultTenant: current.DEFAULT_TENANT, scratchDir: path.join(dataDir, 'store-scratch') });
      statements.length = 0;
      const answer = await s.metricsSeries(scope, request);
      // Rows of one bucket come in no particular order.
      answers.push(JSON.stringify(answer.rows.map((r) => JSON.stringify(r)).sort()));
      const sent = [...statements];
      console.error(`statements:\n${sent.join('\n;\n')}`);
      store.push(await time(() => s.metricsSeries(scope, request)));
      alone.push(
        await time(async () => {
          for (const text of sent) await engine.query({ text } as Parameters<typeof engine.query>[0], 'JSONCompact');
        }),
      );
      statementCounts.push(sent.length);
    }
    if (answers.length === 2 && answers[0] !== answers[1]) throw new Error('the baseline and the current store answered the quantile request differently');
    const row = (label: string, xs: { p50: number; max: number }[]): EngineRow => ({ label, now: xs[xs.length - 1], before: xs.length === 2 ? xs[0] : undefined });
    return [row(`${QUANTILE_LABEL}: the store's metricsSeries in this process (no HTTP, no worker)`, store), row(`${QUANTILE_LABEL}: the statements it sent (${statementCounts.join(' before, ')}${statementCounts.length === 2 ? ' now' : ''}), alone in chDB: the engine's ceiling for that SQL`, alone)];
  } finally {
    await engine.close();
  }
}

async function main(): Promise<void> {
  if (args.previous && args.baseline) throw new Error('--previous and --baseline each time a build before this one; pass one of them');
  if (args.reuse && !args.data) throw new Error('--reuse needs --data <dir>');
  const dataDir = args.data ? path.resolve(args.data) : mkdtempSync(path.join(os.tmpdir(), 'sightline-bench-traceql-'));
  const notePath = path.join(dataDir, FILL_NOTE);
  let fill: Fill | null = null;
  if (args.reuse && existsSync(notePath)) fill = JSON.parse(readFileSync(notePath, 'utf8')) as Fill;
  else if (args.data && existsSync(dataDir) && readdirSync(dataDir).length > 0) throw new Error(`${dataDir} is not empty: pass --reuse to time what a fill left there, or an empty directory`);
  const remember = (f: Fill) => {
    if (args.data) writeFileSync(notePath, JSON.stringify(f));
  };

  const previousName = args.previous ? `v2 (${SCHEMA_V2_COMMIT.slice(0, 7)})` : args.baseline ? `baseline (${args.baseline.slice(0, 7)})` : null;
  const previous = args.previous ? buildPreviousRelease() : args.baseline ? buildPreviousRelease(args.baseline) : null;
  let before: Run | null = null;
  let now: Run;
  let engineRows: EngineRow[] = [];
  try {
    if (args.previous && previous) {
      // Schema version 2: a data directory of its own.
      const v2Dir = mkdtempSync(path.join(os.tmpdir(), 'sightline-bench-traceql-v2-'));
      try {
        before = (await measure(previous.cli, v2Dir, null)).run;
      } finally {
        rmSync(v2Dir, { recursive: true, force: true });
      }
    } else if (previous) {
      const m = await measure(previous.cli, dataDir, fill);
      before = m.run;
      if (!fill) remember((fill = m.fill));
    }
    const m = await measure(path.join(ROOT, 'bin', 'sightline.cjs'), dataDir, fill);
    now = m.run;
    if (!fill) remember((fill = m.fill));
    if (args.engine) engineRows = await timeInProcess(dataDir, fill, args.baseline && previous ? previous.dist : null);
  } finally {
    previous?.remove();
    if (!args.data) rmSync(dataDir, { recursive: true, force: true });
  }

  const when = new Date().toISOString();
  const fmt = (n: number) => `${n.toFixed(1)} ms`;
  const head = before
    ? [`| query | target | p50 ${previousName} | p50 now | now / before | max now | results | |`, '|---|---|---|---|---|---|---|---|']
    : ['| query | target | p50 | max | results | |', '|---|---|---|---|---|---|'];
  const lines = now.rows.map((r, i) => {
    const met = r.p50 <= r.target ? 'met' : 'missed';
    if (!before) return `| ${r.label} | ${r.target} ms | ${fmt(r.p50)} | ${fmt(r.max)} | ${r.results} | ${met} |`;
    const b = before.rows[i];
    return `| ${r.label} | ${r.target} ms | ${fmt(b.p50)} | ${fmt(r.p50)} | ${(r.p50 / b.p50).toFixed(2)} | ${fmt(r.max)} | ${r.results} | ${met} |`;
  });
  const engineLines =
    engineRows.length === 0
      ? []
      : [
          '',
          `In this process, after the servers stopped (${RUNS} runs each after one warm-up, no query limits), on this build's chDB engine and its connection settings${engineRows[0].before ? ": the baseline's store and this one send their own SQL to the same engine, so these rows differ by the SQL alone" : ''}:`,
          '',
          ...(engineRows[0].before
            ? ['| what | p50 before | p50 now | now / before | max now |', '|---|---|---|---|---|', ...engineRows.map((r) => `| ${r.label} | ${fmt(r.before!.p50)} | ${fmt(r.now.p50)} | ${(r.now.p50 / r.before!.p50).toFixed(2)} | ${fmt(r.now.max)} |`)]
            : ['| what | p50 | max |', '|---|---|---|', ...engineRows.map((r) => `| ${r.label} | ${fmt(r.now.p50)} | ${fmt(r.now.max)} |`)]),
        ];
  const rss = (r: Run) => `idle ${r.idleRssMiB.toFixed(0)} MiB, peak ${r.peakRssMiB.toFixed(0)} MiB`;
  const md = [
    `# Query benchmark, ${when}`,
    '',
    `Machine: ${os.cpus().length} cores, Node ${process.version}. ${now.spans.toLocaleString('en-US')} spans loaded through OTLP/HTTP into the embedded store${args.reuse ? ' (by an earlier run, on the same data directory)' : ''}; queries over HTTP, ${RUNS} runs each (trace by id: 300 different traces, after 20 for warm-up)${before && !args.previous ? `; ${previousName} is that commit's build, timed first on the same data` : ''}.`,
    `Command: \`node dist/bench/query.js ${process.argv.slice(2).join(' ')}\``,
    '',
    ...head,
    ...lines,
    ...engineLines,
    '',
    `Server RSS: now ${rss(now)}${before ? `; ${previousName} ${rss(before)}` : ''}.`,
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
