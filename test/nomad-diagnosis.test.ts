import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { context, trace, SpanKind, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { detectResources, envDetector } from '@opentelemetry/resources';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { eventually, startSightline, type Sightline } from '../testkit/sightline.js';
import { NOMAD_RESOURCE_ATTRIBUTES, otelServiceTask, renderNomad, type NomadRuntime } from '../testkit/nomad.js';

/**
 * A Nomad fleet traced through examples/nomad/otel-service.nomad.hcl: each
 * allocation's OTEL_RESOURCE_ATTRIBUTES is the template's env block as
 * Nomad would render it there, parsed by the SDK's own env detector, and
 * its spans go to Sightline with the SDK's OTLP exporter.
 *
 * Six nodes; a gateway job of 6 allocations and a checkout job of 30
 * (alloc k on node k % 6). Two windows of 300 requests each: in the first,
 * one checkout allocation is slow; in the second, every checkout
 * allocation on node-4. In both, a few requests elsewhere are slow too.
 */

const MS = 1_000_000n;
const REQUESTS = 300;
const NODES = Array.from({ length: 6 }, (_, i) => ({ name: `node-${i + 1}`, id: randomUUID() }));
const BAD_ALLOC = 17;
const BAD_NODE = 'node-4';
/** Window starts, whole minutes in the past. */
const MINUTE = 60_000;
const NOW = Math.floor(Date.now() / MINUTE) * MINUTE;
const WINDOWS = { alloc: NOW - 12 * MINUTE, node: NOW - 6 * MINUTE };
const WINDOW_MS = 3 * MINUTE;

interface Allocation {
  job: string;
  group: string;
  task: string;
  index: number;
  id: string;
  node: (typeof NODES)[number];
}

const allocation = (job: string, group: string, task: string, index: number, node: number): Allocation => ({ job, group, task, index, id: randomUUID(), node: NODES[node] });
const gateways = Array.from({ length: 6 }, (_, i) => allocation('gateway', 'edge', 'proxy', i, i));
const checkouts = Array.from({ length: 30 }, (_, k) => allocation('checkout', 'api', 'server', k, k % 6));

/** What Nomad sets and interpolates for this allocation. */
function runtimeOf(a: Allocation): NomadRuntime {
  return {
    env: {
      NOMAD_JOB_NAME: a.job,
      NOMAD_GROUP_NAME: a.group,
      NOMAD_TASK_NAME: a.task,
      NOMAD_ALLOC_ID: a.id,
      NOMAD_ALLOC_NAME: `${a.job}.${a.group}[${a.index}]`,
      NOMAD_NAMESPACE: 'shop',
      NOMAD_DC: 'dc1',
      NOMAD_REGION: 'eu',
    },
    node: { 'node.unique.id': a.node.id, 'node.unique.name': a.node.name },
    vars: { version: '1.4.2', environment: 'production', job_version: '7' },
  };
}

/** One request of a window: which allocations served it, and how long checkout took. */
interface Request {
  at: number;
  gateway: Allocation;
  checkout: Allocation;
  ms: number;
}

function requests(window: keyof typeof WINDOWS): Request[] {
  return Array.from({ length: REQUESTS }, (_, r) => {
    const checkout = checkouts[r % 30];
    const bad = window === 'alloc' ? checkout.index === BAD_ALLOC : checkout.node.name === BAD_NODE;
    // A few slow requests anywhere: the fault explains most of the slow ones, not all.
    const noise = r % 47 === 5;
    return { at: WINDOWS[window] + r * 500, gateway: gateways[Math.floor(r / 50) % 6], checkout, ms: bad ? 400 : noise ? 350 : 20 + ((r * 7) % 40) };
  });
}

let s: Sightline;
const providers: BasicTracerProvider[] = [];
const tracers = new Map<Allocation, Tracer>();

before(async () => {
  s = await startSightline();
  const task = await otelServiceTask();
  const template = task.env[0];
  for (const a of [...gateways, ...checkouts]) {
    // The SDK reads its resource from the environment the template gives the task.
    const saved = { attrs: process.env.OTEL_RESOURCE_ATTRIBUTES, name: process.env.OTEL_SERVICE_NAME };
    process.env.OTEL_RESOURCE_ATTRIBUTES = renderNomad(template.OTEL_RESOURCE_ATTRIBUTES, runtimeOf(a));
    process.env.OTEL_SERVICE_NAME = renderNomad(template.OTEL_SERVICE_NAME, runtimeOf(a));
    const resource = detectResources({ detectors: [envDetector] });
    for (const [k, v] of [['OTEL_RESOURCE_ATTRIBUTES', saved.attrs], ['OTEL_SERVICE_NAME', saved.name]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    const provider = new BasicTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${s.otlpHttp}/v1/traces` }), { maxExportBatchSize: 512 })] });
    providers.push(provider);
    tracers.set(a, provider.getTracer('nomad-test'));
  }
  for (const window of ['alloc', 'node'] as const) {
    for (const r of requests(window)) {
      const root = tracers.get(r.gateway)!.startSpan('GET /cart', { kind: SpanKind.SERVER, startTime: r.at });
      const rootCtx = trace.setSpan(context.active(), root);
      const call = tracers.get(r.gateway)!.startSpan('GET checkout', { kind: SpanKind.CLIENT, startTime: r.at + 2 }, rootCtx);
      const server = tracers.get(r.checkout)!.startSpan('GET /checkout', { kind: SpanKind.SERVER, startTime: r.at + 4 }, trace.setSpan(context.active(), call));
      server.setStatus({ code: SpanStatusCode.OK });
      server.end(r.at + 4 + r.ms);
      call.end(r.at + 6 + r.ms);
      root.end(r.at + 10 + r.ms);
    }
  }
  await Promise.all(providers.map((p) => p.forceFlush()));
  await eventually(async () => {
    const map = await get(`/api/sightline/service-map?start=${WINDOWS.alloc / 1000}&end=${(WINDOWS.node + WINDOW_MS) / 1000}&exact=true`);
    return map.nodes.reduce((n: number, x: { spans: number }) => n + x.spans, 0) === 2 * REQUESTS * 3 ? true : undefined;
  });
});

after(async () => {
  await Promise.all(providers.map((p) => p.shutdown()));
  await s?.stop();
  s?.cleanup();
});

async function get(path: string): Promise<any> {
  const r = await fetch(`${s.api}${path}`);
  const text = await r.text();
  assert.equal(r.status, 200, `${path}: ${text}`);
  return JSON.parse(text);
}

const range = (window: keyof typeof WINDOWS) => `start=${WINDOWS[window] / 1000}&end=${(WINDOWS[window] + WINDOW_MS) / 1000}`;
const SLOW = encodeURIComponent('{ resource.service.name = "checkout" && duration > 200ms }');

interface Row {
  scope: string;
  key: string;
  value: string;
  selectionTraces: number;
  baselineTraces: number;
  score: number;
  equivalent?: { key: string; value: string }[];
  grouped?: { demoted: boolean };
}
/** A row's value and the stand-ins folded into it, as key=value. */
const names = (row: Row) => [`${row.key}=${row.value}`, ...(row.equivalent ?? []).map((e) => `${e.key}=${e.value}`)].sort();
/** Traces of the window, slow (selection) or not (baseline), that touch an allocation matching `has`. */
function expected(window: keyof typeof WINDOWS, has: (a: Allocation) => boolean): [number, number] {
  const rs = requests(window);
  const touching = (slow: boolean) => rs.filter((r) => r.ms > 200 === slow && (has(r.gateway) || has(r.checkout))).length;
  return [touching(true), touching(false)];
}

describe('Nomad resource attributes from the template, through the SDK', () => {
  it('reach Sightline as resource attributes, each from its Nomad source', async () => {
    const a = checkouts[BAD_ALLOC];
    const q = encodeURIComponent(`{ resource.nomad.alloc.id = "${a.id}" }`);
    const found = await get(`/api/search?q=${q}&${range('alloc')}&limit=1&spss=1`);
    assert.equal(found.traces.length, 1);
    const traceJson = await get(`/api/v2/traces/${found.traces[0].traceID}`);
    const resources = (traceJson.trace.resourceSpans as { resource: { attributes: { key: string; value: { stringValue?: string } }[] } }[]).map((rs) =>
      Object.fromEntries(rs.resource.attributes.map((x) => [x.key, x.value.stringValue])),
    );
    const mine = resources.find((r) => r['nomad.alloc.id'] === a.id)!;
    const runtime = runtimeOf(a);
    for (const [key, source] of Object.entries(NOMAD_RESOURCE_ATTRIBUTES)) {
      const want = 'env' in source ? runtime.env[source.env] : 'node' in source ? runtime.node[source.node] : runtime.vars[source.jobVar];
      assert.equal(mine[key], want, key);
    }
    assert.equal(mine['service.name'], 'checkout');
    assert.equal(mine['nomad.alloc.name'], 'checkout.api[17]');
  });
});

describe('compare names the slow allocation or the bad node', () => {
  it('ranks the slow allocation first among 36, ungrouped, with its stand-ins folded in', async () => {
    const r = await get(`/api/sightline/compare?q=${SLOW}&${range('alloc')}`);
    const bad = checkouts[BAD_ALLOC];
    const [sel, base] = expected('alloc', (a) => a === bad);
    const slowTraces = requests('alloc').filter((x) => x.ms > 200).length;
    assert.equal(r.inspected.selectionTraces, slowTraces);
    const top: Row = r.attributes[0];
    assert.deepEqual(names(top), [`nomad.alloc.id=${bad.id}`, 'nomad.alloc.name=checkout.api[17]', `service.instance.id=${bad.id}`]);
    assert.deepEqual([top.scope, top.selectionTraces, top.baselineTraces, top.grouped], ['resource', sel, base, undefined]);
    assert.deepEqual([sel, base], [10, 0]);
    // The node it runs on comes later: other allocations share it.
    const node = r.attributes.findIndex((x: Row) => names(x).includes(`nomad.node.name=${bad.node.name}`));
    assert.ok(node > 0 && r.attributes[node].score < top.score);
    report('bad allocation', r.attributes);
  });

  it('ranks the bad node first, and its allocations after it, as fragments of it', async () => {
    const r = await get(`/api/sightline/compare?q=${SLOW}&${range('node')}`);
    const [sel, base] = expected('node', (a) => a.node.name === BAD_NODE);
    const top: Row = r.attributes[0];
    const node = NODES.find((n) => n.name === BAD_NODE)!;
    assert.deepEqual(names(top), [`host.name=${BAD_NODE}`, `nomad.node.id=${node.id}`, `nomad.node.name=${BAD_NODE}`]);
    assert.deepEqual([top.selectionTraces, top.baselineTraces, top.grouped], [sel, base, undefined]);
    // Each of node-4's five checkout allocations is a fifth of the slow traces: below the node.
    const allocRows = r.attributes.filter((x: Row) => x.key === 'nomad.alloc.id' && checkouts.some((a) => a.id === x.value && a.node.name === BAD_NODE));
    assert.ok(allocRows.length >= 1 && allocRows.every((x: Row) => x.score < top.score));
    report('bad node', r.attributes);
  });
});

describe('the service map split by a Nomad attribute', () => {
  it('splits checkout by node: the bad node stands out, and the split adds up to the whole', async () => {
    const split = await get(`/api/sightline/service-map?${range('node')}&groupBy=nomad.node.name&exact=true`);
    const whole = await get(`/api/sightline/service-map?${range('node')}&exact=true`);
    assert.equal(split.groupBy, 'nomad.node.name');
    const rs = requests('node');
    const checkout = split.nodes.filter((n: { service: string }) => n.service === 'checkout');
    assert.deepEqual(checkout.map((n: { group: string }) => n.group), NODES.map((n) => n.name));
    for (const n of checkout) {
      const mine = rs.filter((r) => r.checkout.node.name === n.group).map((r) => r.ms * 1e6).sort((a, b) => a - b);
      assert.equal(n.requests, mine.length, n.group);
      // quantilesExact: the value at floor(q * n) of the sorted durations.
      assert.equal(n.p50, mine[Math.floor(0.5 * mine.length)], n.group);
      assert.equal(n.p99, mine[Math.floor(0.99 * mine.length)], n.group);
    }
    assert.equal(checkout.find((n: { group: string }) => n.group === BAD_NODE).p50, 400e6);
    const sum = (xs: { requests: number }[]) => xs.reduce((a, x) => a + x.requests, 0);
    assert.equal(sum(checkout), whole.nodes.find((n: { service: string }) => n.service === 'checkout').requests);
    // Edges from each gateway node to the bad node, as many as were sent.
    const intoBad = split.edges.filter((e: { target: string; targetGroup: string }) => e.target === 'checkout' && e.targetGroup === BAD_NODE);
    for (const e of intoBad) assert.equal(e.count, rs.filter((r) => r.gateway.node.name === e.sourceGroup && r.checkout.node.name === BAD_NODE).length);
    assert.equal(intoBad.reduce((a: number, e: { count: number }) => a + e.count, 0), rs.filter((r) => r.checkout.node.name === BAD_NODE).length);
  });

  it('splits by allocation: the slow one has the 400 ms requests', async () => {
    const split = await get(`/api/sightline/service-map?${range('alloc')}&groupBy=nomad.alloc.id&exact=true`);
    const checkout = split.nodes.filter((n: { service: string }) => n.service === 'checkout');
    assert.equal(checkout.length, 30);
    const bad = checkout.find((n: { group: string }) => n.group === checkouts[BAD_ALLOC].id);
    assert.deepEqual([bad.requests, bad.p50, bad.p99], [10, 400e6, 400e6]);
    const r = await fetch(`${s.api}/api/sightline/service-map?${range('alloc')}&groupBy=${'x'.repeat(257)}`);
    assert.equal(r.status, 400);
  });
});

/** The figures for the report: the first rows of a ranking. */
function report(what: string, rows: Row[]): void {
  const head = rows.slice(0, 4).map((x) => `${x.key}=${x.value.slice(0, 12)} sel ${x.selectionTraces} base ${x.baselineTraces} score ${x.score.toFixed(3)}${x.grouped ? ` grouped${x.grouped.demoted ? ' demoted' : ''}` : ''}`);
  console.log(`compare, ${what}:\n  ${head.join('\n  ')}`);
}
