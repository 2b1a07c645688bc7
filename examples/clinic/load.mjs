// Closed-loop load on the gateways: at each step, `concurrency` workers each
// send one request at a time for `durationMs`. Tenants and regions are drawn
// by weight from a seeded generator, so runs repeat.
import http from 'node:http';
import { TENANTS, patientIds } from './seed.mjs';

/** mulberry32: small, seeded, good enough to pick tenants. */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick(weights, r) {
  const entries = Object.entries(weights);
  const total = entries.reduce((s, [, w]) => s + w, 0);
  let x = r() * total;
  for (const [key, w] of entries) if ((x -= w) < 0) return key;
  return entries[entries.length - 1][0];
}

function quantile(sorted, q) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function summarize(samples) {
  const ms = samples.map((s) => s.ms).sort((a, b) => a - b);
  return {
    requests: samples.length,
    errors: samples.filter((s) => s.status !== 200).length,
    p50Ms: Math.round(quantile(ms, 0.5) * 10) / 10,
    p95Ms: Math.round(quantile(ms, 0.95) * 10) / 10,
  };
}

function groupSummary(samples, key) {
  const groups = {};
  for (const s of samples) (groups[s[key]] ??= []).push(s);
  return Object.fromEntries(Object.entries(groups).map(([k, v]) => [k, summarize(v)]));
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });

function visitSummary(gateway, patientId, tenant) {
  return new Promise((resolve) => {
    const started = performance.now();
    const req = http.get(`${gateway}/visit-summary/${patientId}`, { agent, headers: { baggage: `tenant.id=${tenant}` } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, ms: performance.now() - started }));
    });
    req.on('error', () => resolve({ status: 0, ms: performance.now() - started }));
  });
}

/**
 * @param {{ gateways: Record<string, string>, steps: { concurrency: number, durationMs: number }[],
 *   tenantWeights?: Record<string, number>, regionWeights?: Record<string, number>, seed?: number,
 *   onStep?: (step: object) => void }} options
 * @returns {Promise<{ startMs: number, endMs: number, steps: object[], byTenant: object, byRegion: object, overall: object, latenciesMs: number[] }>}
 */
export async function runLoad(options) {
  const r = random(options.seed ?? 42);
  const tenantWeights = options.tenantWeights ?? Object.fromEntries(TENANTS.map((t) => [t, 1]));
  const regionWeights = options.regionWeights ?? Object.fromEntries(Object.keys(options.gateways).map((region) => [region, 1]));
  const all = [];
  const steps = [];
  const startMs = Date.now();
  for (const { concurrency, durationMs } of options.steps) {
    const stepStart = Date.now();
    const until = stepStart + durationMs;
    const samples = [];
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (Date.now() < until) {
          const tenant = pick(tenantWeights, r);
          const region = pick(regionWeights, r);
          const ids = patientIds(tenant);
          const patientId = ids[Math.floor(r() * ids.length)];
          const result = await visitSummary(options.gateways[region], patientId, tenant);
          samples.push({ ...result, tenant, region, at: Date.now() });
        }
      }),
    );
    const step = { concurrency, startMs: stepStart, endMs: Date.now(), ...summarize(samples) };
    steps.push(step);
    options.onStep?.(step);
    all.push(...samples);
  }
  return {
    startMs,
    endMs: Date.now(),
    steps,
    overall: summarize(all),
    byTenant: groupSummary(all, 'tenant'),
    byRegion: groupSummary(all, 'region'),
    latenciesMs: all.map((s) => s.ms),
  };
}
