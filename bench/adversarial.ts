import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { encode, otlp } from '../testkit/otlp-schema.js';
import type { LoadgenResult } from './loadgen.js';
import { ROOT, runChild, startServer, status, waitForStore, type Server } from './harness.js';

/**
 * npm run bench:adversarial -- [--duration 30] [--rate 50] [--spans-per-request 200]
 *
 * Realistic ingest (a paced load generator in its own process) first
 * alone, then while an attacker sends, over and over, the requests that
 * used to stall Sightline (issue 13's table):
 *  - `{ event.y =~ "(a+)+" }` over an event value of 30 a's and a '!';
 *  - `count_over_time() by(span.u) | topk(1)` over 20,000 series, step 0.33 s;
 *  - `{ resource.service.name = "chain" } >> { }` on one 10,000-span chain;
 *  - 33 sockets that declare a 16 MiB OTLP body and send 1 byte;
 *  - 8 compare calls, each abandoned after 0.5 s;
 *  - a filter nested 5000 parentheses deep.
 * Reports ingest latency p50 and p99 in both phases, /ready latency, what
 * each attack got, and whether every acknowledged span was stored.
 * Target: p99 under attack at most 2x the quiet p99, and no span lost.
 */

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '30' },
    rate: { type: 'string', default: '50' },
    'spans-per-request': { type: 'string', default: '200' },
  },
});

const nowNs = () => BigInt(Date.now()) * 1_000_000n;

function kvString(key: string, value: string) {
  return { key, value: { stringValue: value } };
}

/** OTLP protobuf of spans under one service. */
function exportBody(service: string, spans: Record<string, unknown>[]): Buffer {
  return encode(otlp.ExportTraceServiceRequest, {
    resourceSpans: [{ resource: { attributes: [kvString('service.name', service)] }, scopeSpans: [{ scope: { name: 'adversarial' }, spans }] }],
  });
}

function spanOf(f: { traceId: Buffer; spanId?: Buffer; parent?: Buffer; name: string; startNs: bigint; attrs?: ReturnType<typeof kvString>[]; events?: unknown[] }) {
  return {
    traceId: f.traceId,
    spanId: f.spanId ?? randomBytes(8),
    ...(f.parent ? { parentSpanId: f.parent } : {}),
    name: f.name,
    kind: 2,
    startTimeUnixNano: f.startNs.toString(),
    endTimeUnixNano: (f.startNs + 1_000_000n).toString(),
    attributes: f.attrs ?? [],
    events: f.events ?? [],
  };
}

async function post(s: Server, body: Buffer): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${s.ports.otlpHttp}/v1/traces`, { method: 'POST', body, headers: { 'content-type': 'application/x-protobuf' } });
  await res.arrayBuffer();
  return res.status;
}

/** The data the attacks run on; returns how many spans it stored. */
async function seed(s: Server): Promise<number> {
  const t0 = nowNs() - 300_000_000_000n;
  let spans = 0;
  const send = async (service: string, list: Record<string, unknown>[]) => {
    if ((await post(s, exportBody(service, list))) !== 200) throw new Error(`seeding ${service} failed`);
    spans += list.length;
  };
  // One event value that makes a backtracking (a+)+ take exponential time.
  await send('regex', [spanOf({ traceId: randomBytes(16), name: 'with-event', startNs: t0, events: [{ timeUnixNano: t0.toString(), name: 'e', attributes: [kvString('y', `${'a'.repeat(30)}!`)] }] })]);
  // 20,000 series of span.u.
  for (let b = 0; b < 20; b++) {
    const list: Record<string, unknown>[] = [];
    for (let i = 0; i < 1000; i++) list.push(spanOf({ traceId: randomBytes(16), name: 'series', startNs: t0 + BigInt(b * 1000 + i) * 10_000_000n, attrs: [kvString('u', `u-${b}-${i}`)] }));
    await send('series', list);
  }
  // One chain of 10,000 spans, each the child of the one before.
  const traceId = randomBytes(16);
  let parent: Buffer | undefined;
  const chain: Record<string, unknown>[] = [];
  for (let i = 0; i < 10_000; i++) {
    const spanId = randomBytes(8);
    chain.push(spanOf({ traceId, spanId, parent, name: `link-${i}`, startNs: t0 + BigInt(i) * 1000n }));
    parent = spanId;
  }
  for (let i = 0; i < chain.length; i += 2000) await send('chain', chain.slice(i, i + 2000));
  return spans;
}

interface Outcome {
  statuses: Record<string, number>;
  ms: number[];
}

const ATTACK_QUERIES = {
  'regex (a+)+ on an event value': () => `/api/search?q=${encodeURIComponent('{ event.y =~ "(a+)+" }')}`,
  'topk(1) over 20k series, step 0.33s': () => `/api/metrics/query_range?q=${encodeURIComponent('{ resource.service.name = "series" } | count_over_time() by (span.u) | topk(1)')}&step=0.33`,
  '>> on a 10,000-span chain': () => `/api/search?q=${encodeURIComponent('{ resource.service.name = "chain" } >> { }')}`,
  'filter nested 5000 deep': () => `/api/search?q=${encodeURIComponent(`{ ${'('.repeat(5000)}.a = 1${')'.repeat(5000)} }`)}`,
};

function rangeParams(): string {
  const now = Math.floor(Date.now() / 1000);
  return `start=${now - 1800}&end=${now + 60}`;
}

async function timed(url: string, signal?: AbortSignal): Promise<{ status: string; ms: number; retryAfterS?: number }> {
  const t0 = performance.now();
  try {
    const res = await fetch(url, { signal });
    await res.arrayBuffer();
    const retry = res.headers.get('retry-after');
    return { status: String(res.status), ms: performance.now() - t0, ...(retry ? { retryAfterS: Number(retry) } : {}) };
  } catch (e) {
    return { status: (e as Error).name === 'AbortError' ? 'abandoned' : 'error', ms: performance.now() - t0 };
  }
}

function record(o: Outcome, r: { status: string; ms: number }): void {
  o.statuses[r.status] = (o.statuses[r.status] ?? 0) + 1;
  o.ms.push(r.ms);
}

/** Runs every attack until `until`, concurrently; returns what each got. */
async function attack(s: Server, until: number): Promise<Record<string, Outcome>> {
  const api = `http://127.0.0.1:${s.ports.http}`;
  const outcomes: Record<string, Outcome> = {};
  const outcome = (name: string) => (outcomes[name] ??= { statuses: {}, ms: [] });
  const loops: Promise<void>[] = [];
  for (const [name, url] of Object.entries(ATTACK_QUERIES))
    loops.push(
      (async () => {
        while (Date.now() < until) {
          const r = await timed(`${api}${url()}&${rangeParams()}`);
          record(outcome(name), r);
          // As an HTTP client does with 429: back off for Retry-After, then ask again.
          if (r.retryAfterS) await sleep(Math.min(r.retryAfterS * 1000, Math.max(0, until - Date.now())));
        }
      })(),
    );
  // Eight compare calls at a time, each abandoned after 0.5 s.
  loops.push(
    (async () => {
      while (Date.now() < until) {
        await Promise.all(
          Array.from({ length: 8 }, async () => {
            const ac = new AbortController();
            const timer = setTimeout(() => ac.abort(), 500);
            const r = await timed(`${api}/api/sightline/compare?q=${encodeURIComponent('{ resource.service.name = "series" }')}&${rangeParams()}`, ac.signal);
            record(outcome('8 compare calls abandoned after 0.5 s'), r);
            clearTimeout(timer);
            if (r.retryAfterS) await sleep(Math.min(r.retryAfterS * 1000, Math.max(0, until - Date.now())));
          }),
        );
      }
    })(),
  );
  // 33 sockets that declare 16 MiB and send 1 byte; reopened when the server closes them.
  const slow = outcome('33 sockets declaring 16 MiB, sending 1 byte');
  loops.push(
    ...Array.from({ length: 33 }, async () => {
      while (Date.now() < until) {
        const t0 = performance.now();
        await new Promise<void>((resolve) => {
          const sock = net.connect(s.ports.otlpHttp, '127.0.0.1', () => {
            sock.write(`POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\nContent-Length: ${16 * 1024 * 1024}\r\n\r\nx`);
          });
          const stop = setTimeout(() => sock.destroy(), Math.max(0, until - Date.now()));
          let answer = '';
          sock.on('data', (c) => (answer += c.toString('latin1')));
          sock.on('close', () => {
            clearTimeout(stop);
            const m = /^HTTP\/1\.1 (\d{3})/.exec(answer);
            record(slow, { status: m ? m[1] : Date.now() >= until ? 'held to the end' : 'closed by server', ms: performance.now() - t0 });
            resolve();
          });
          sock.on('error', () => undefined);
        });
      }
    }),
  );
  await Promise.all(loops);
  return outcomes;
}

/** /ready latency, every 100 ms until `until`. */
async function probeReady(s: Server, until: number): Promise<number[]> {
  const ms: number[] = [];
  while (Date.now() < until) {
    const r = await timed(`http://127.0.0.1:${s.ports.http}/ready`);
    ms.push(r.ms);
    await sleep(100);
  }
  return ms;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

async function phase(s: Server, durationS: number, withAttack: boolean): Promise<{ load: LoadgenResult; ready: number[]; attacks: Record<string, Outcome> }> {
  const until = Date.now() + durationS * 1000;
  const config = { protocol: 'http', target: `127.0.0.1:${s.ports.otlpHttp}`, concurrency: 16, durationS, rate: Number(args.rate), spansPerRequest: Number(args['spans-per-request']) };
  const [load, ready, attacks] = await Promise.all([runChild<LoadgenResult>('loadgen.js', [JSON.stringify(config)]), probeReady(s, until), withAttack ? attack(s, until) : Promise.resolve({})]);
  return { load, ready, attacks };
}

async function main(): Promise<void> {
  const durationS = Number(args.duration);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'sightline-bench-adversarial-'));
  const s = await startServer(dataDir);
  try {
    console.error('seeding the attacks\' data...');
    const seeded = await seed(s);
    await waitForStore(s);
    console.error(`quiet phase, ${durationS} s...`);
    const quiet = await phase(s, durationS, false);
    console.error(`attack phase, ${durationS} s...`);
    const attacked = await phase(s, durationS, true);
    await waitForStore(s);
    const st = await status(s);
    const acked = seeded + quiet.load.ackedSpans + attacked.load.ackedSpans;
    const lost = acked - st.ingest.storedSpans;
    const fmt = (x: number, d = 1) => x.toFixed(d);
    const lines = [
      `# Adversarial benchmark, ${new Date().toISOString()}`,
      '',
      `\`npm run bench:adversarial -- --duration ${durationS} --rate ${args.rate} --spans-per-request ${args['spans-per-request']}\` on this machine (${os.cpus().length} cores), embedded store.`,
      `Ingest: a paced OTLP/HTTP protobuf load generator in its own process, ${args.rate} requests/s of ${args['spans-per-request']} spans; latency from each request's scheduled time.`,
      '',
      '| phase | requests | acknowledged spans | refused | errors | ingest p50 ms | ingest p99 ms | ingest max ms | /ready p99 ms | /ready max ms |',
      '|---|---|---|---|---|---|---|---|---|---|',
      ...[
        ['quiet', quiet],
        ['under attack', attacked],
      ].map(([name, p]) => {
        const r = p as typeof quiet;
        return `| ${name as string} | ${r.load.requests} | ${r.load.ackedSpans} | ${r.load.refused} | ${r.load.errors} | ${fmt(r.load.latencyMs.p50)} | ${fmt(r.load.latencyMs.p99)} | ${fmt(r.load.latencyMs.max)} | ${fmt(quantile(r.ready, 0.99))} | ${fmt(Math.max(...r.ready))} |`;
      }),
      '',
      `Ingest p99 under attack / quiet p99: **${fmt(attacked.load.latencyMs.p99 / quiet.load.latencyMs.p99, 2)}x** (target at most 2x).`,
      `Acknowledged spans (seed ${seeded} + load ${quiet.load.ackedSpans + attacked.load.ackedSpans}): ${acked}; stored: ${st.ingest.storedSpans}; lost: **${lost}**.`,
      '',
      '| attack | answers | p50 ms | max ms |',
      '|---|---|---|---|',
      ...Object.entries(attacked.attacks).map(
        ([name, o]) =>
          `| ${name} | ${Object.entries(o.statuses)
            .map(([k, v]) => `${k}: ${v}`)
            .join(', ')} | ${fmt(quantile(o.ms, 0.5))} | ${fmt(Math.max(...o.ms))} |`,
      ),
      '',
    ];
    const md = lines.join('\n');
    const dir = path.join(ROOT, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `adversarial-${new Date().toISOString().slice(0, 16).replace(/[:T]/g, '')}.md`);
    writeFileSync(file, md);
    process.stdout.write(md + `\nWritten to ${path.relative(ROOT, file)}\n`);
  } finally {
    await s.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
