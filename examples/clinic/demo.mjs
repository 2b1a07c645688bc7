#!/usr/bin/env node
// npm run demo -- --fault <a|b|c|d|none> [--duration 60] [--http-port 3200]
//                 [--concurrency 1,2,4,8]  (load steps, sharing the duration)
//                 [--tenants riverside=3,summit=1] [--regions eu-west=1,us-east=1]  (mix, by weight)
//                 [--otlp URL --api URL]   (use a Sightline that is already running)
//
// Starts a local Sightline (unless --otlp/--api name one), the clinic with
// the chosen fault, runs the load, and prints where to look.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { ensureLabInstalled } from './install.mjs';
import { startClinic, FAULTS, FAULT_DESCRIPTIONS } from './lab.mjs';
import { runLoad } from './load.mjs';
import { scenario } from './scenarios.mjs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { values: args } = parseArgs({
  options: {
    fault: { type: 'string', default: 'none' },
    duration: { type: 'string', default: '60' },
    'http-port': { type: 'string', default: '3200' },
    concurrency: { type: 'string' },
    tenants: { type: 'string' },
    regions: { type: 'string' },
    otlp: { type: 'string' },
    api: { type: 'string' },
    exit: { type: 'boolean', default: false },
  },
});
if (!FAULTS.includes(args.fault)) {
  console.error(`--fault must be one of ${FAULTS.join(', ')}`);
  process.exit(2);
}
// The lab is its own package: its packages (better-sqlite3 among them) are
// installed on the first run, and again when its lockfile changes.
try {
  ensureLabInstalled();
} catch (e) {
  console.error(e.message);
  process.exit(1);
}

/** "a=3,b=1" -> { a: 3, b: 1 } */
function weights(text) {
  if (!text) return undefined;
  return Object.fromEntries(text.split(',').map((pair) => {
    const [key, weight = '1'] = pair.split('=');
    return [key.trim(), Number(weight)];
  }));
}

/** `sightline serve` on loopback with a temp data dir; resolves once it logs "ready". */
function startSightline(httpPort) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'sightline-demo-'));
  const child = spawn(
    process.execPath,
    [path.join(repoRoot, 'bin', 'sightline.cjs'), 'serve', '--data', dataDir, '--listen', '127.0.0.1',
      '--otlp-grpc-port', '0', '--otlp-http-port', '0', '--http-port', String(httpPort), '--log-format', 'json'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    let buffered = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      buffered += chunk;
      for (let nl; (nl = buffered.indexOf('\n')) >= 0; ) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        let entry;
        try { entry = JSON.parse(line); } catch { continue; }
        if (entry.msg === 'Sightline is ready') {
          resolve({
            otlp: `http://127.0.0.1:${entry.ports.otlpHttp}/v1/traces`,
            api: `http://127.0.0.1:${entry.ports.http}`,
            async stop() {
              const exited = new Promise((r) => child.once('exit', r));
              child.kill('SIGTERM');
              await exited;
              rmSync(dataDir, { recursive: true, force: true });
            },
          });
        } else if (entry.level >= 50) console.error(line);
      }
    });
    child.once('exit', (code) => reject(new Error(`sightline exited with ${code} before it was ready (is port ${httpPort} free? try --http-port 0)`)));
  });
}

const sightline = args.otlp && args.api ? { otlp: args.otlp, api: args.api, stop: async () => {} } : await startSightline(Number(args['http-port']));
console.log(`Sightline: ${sightline.api}  (OTLP/HTTP ${sightline.otlp})`);

const durationMs = Number(args.duration) * 1000;
const plan = scenario(args.fault, { durationMs });
if (args.concurrency) {
  const levels = args.concurrency.split(',').map(Number);
  plan.steps = levels.map((concurrency) => ({ concurrency, durationMs: Math.round(durationMs / levels.length) }));
}
const regionWeights = weights(args.regions) ?? plan.regionWeights;
console.log(`fault ${args.fault}: ${FAULT_DESCRIPTIONS[args.fault]}`);
const lab = await startClinic({ otlpUrl: sightline.otlp, fault: args.fault });
console.log('clinic gateways:', Object.entries(lab.gateways).map(([r, u]) => `${r} ${u}`).join(', '));
let load;
try {
  load = await runLoad({
    gateways: lab.gateways,
    steps: plan.steps,
    regionWeights,
    tenantWeights: weights(args.tenants),
    onStep: (s) => console.log(`  concurrency ${String(s.concurrency).padStart(2)}: ${s.requests} requests, p50 ${s.p50Ms} ms, p95 ${s.p95Ms} ms, ${s.errors} errors`),
  });
} finally {
  await lab.stop(); // flushes every service's spans
}
console.log('by tenant:', Object.entries(load.byTenant).map(([k, v]) => `${k} p50 ${v.p50Ms} ms`).join(', '));
console.log('by region:', Object.entries(load.byRegion).map(([k, v]) => `${k} p50 ${v.p50Ms} ms`).join(', '));

const start = Math.floor(load.startMs / 1000) - 1;
const end = Math.ceil(load.endMs / 1000) + 1;
const queries = plan.queries(load);
const enc = encodeURIComponent;
const range = `start=${start}&end=${end}`;
console.log(`
Try the diagnosis (spans become searchable within a couple of seconds).

In the UI:
  slow traces   ${sightline.api}/search?q=${enc(queries.selection)}&${range}
  compare       ${sightline.api}/compare?q=${enc(queries.selection)}&baseline=${enc(queries.baseline)}&${range}
  service map   ${sightline.api}/services?${range}

Through the API:
  compare       ${sightline.api}/api/sightline/compare?q=${enc(queries.selection)}&baseline=${enc(queries.baseline)}&${range}
  critical path ${sightline.api}/api/sightline/critical-path?q=${enc(queries.selection)}&baseline=${enc(queries.baseline)}&${range}
  load          ${sightline.api}/api/sightline/load?q=${enc(queries.load)}&${range}
  search        ${sightline.api}/api/search?q=${enc(queries.selection)}&${range}
  service map   ${sightline.api}/api/sightline/service-map?${range}
  RED           ${sightline.api}/api/sightline/red?service=gateway&${range}&step=5s

  selection: ${queries.selection}
  baseline:  ${queries.baseline}
  expected:  ${plan.expected}
`);

if (args.exit || (args.otlp && args.api)) {
  await sightline.stop();
  process.exit(0);
}
console.log('Sightline keeps running with the data; Ctrl-C stops it and deletes the data.');
const stopOnSignal = async () => {
  await sightline.stop();
  process.exit(0);
};
process.on('SIGINT', stopOnSignal);
process.on('SIGTERM', stopOnSignal);
