import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { context, trace, SpanKind, SpanStatusCode, type Context, type HrTime, type Span, type Tracer } from '@opentelemetry/api';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startSightline, eventually, REPO_ROOT, type Sightline } from '../testkit/sightline.js';

/**
 * The Services pages and the links between views, in Debian's chromium,
 * against a live Sightline filled by the real OpenTelemetry SDK:
 *
 * - every link from the service map and a service's page, and search ->
 *   trace -> service and compare -> search, lands on a page whose URL and
 *   shown range are the origin's, for a relative and an absolute range;
 * - a service with planted errors is coloured unhealthy, one slower than
 *   its own baseline too, and clean ones healthy (one always slow among
 *   them), with the numbers on hover;
 * - no edge label's box meets another label or an arrowhead;
 * - an operation whose latency is bimodal (12 ms or 240 ms) with the slow
 *   share planted to rise with load is said to grow with load, and the
 *   heatmap's cells hold exactly the planted spans.
 */

const CHROMIUM = '/usr/bin/chromium';
/** As test/ui-e2e.test.ts: docs/img/ for the README with SIGHTLINE_SCREENSHOTS=1, else a temporary directory (kept with SIGHTLINE_KEEP_SCREENSHOTS=1). */
const SCREENSHOTS = process.env.SIGHTLINE_SCREENSHOTS === '1' ? path.join(REPO_ROOT, 'docs', 'img') : mkdtempSync(path.join(os.tmpdir(), 'sightline-ui-services-'));

const ms = (epochMs: number): HrTime => [Math.floor(epochMs / 1000), Math.round((epochMs % 1000) * 1e6)];

class Services {
  private providers = new Map<string, BasicTracerProvider>();
  constructor(private s: Sightline) {}
  tracer(service: string): Tracer {
    let p = this.providers.get(service);
    if (!p) {
      p = new BasicTracerProvider({
        resource: resourceFromAttributes({ 'service.name': service, 'service.version': '1.4.0' }),
        spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${this.s.otlpHttp}/v1/traces` }), { maxQueueSize: 30_000, maxExportBatchSize: 2_000, scheduledDelayMillis: 100 })],
      });
      this.providers.set(service, p);
    }
    return p.getTracer(`${service}-instrumentation`, '1.0.0');
  }
  async flush(): Promise<void> {
    await Promise.all([...this.providers.values()].map((p) => p.forceFlush()));
    await Promise.all([...this.providers.values()].map((p) => p.shutdown()));
  }
}

function span(
  services: Services,
  service: string,
  name: string,
  parent: Context,
  startMs: number,
  endMs: number,
  opts: { kind?: SpanKind; attributes?: Record<string, string | number | boolean>; error?: string } = {},
): Context {
  const sp: Span = services.tracer(service).startSpan(name, { kind: opts.kind ?? SpanKind.INTERNAL, startTime: ms(startMs), attributes: opts.attributes }, parent);
  if (opts.error) sp.setStatus({ code: SpanStatusCode.ERROR, message: opts.error });
  sp.end(ms(endMs));
  return trace.setSpan(parent, sp);
}

/** A call from `caller` to `callee`: the caller's client span and the callee's server span inside it. */
function call(services: Services, parent: Context, caller: string, callee: string, name: string, startMs: number, durMs: number, opts: { error?: string; attributes?: Record<string, string> } = {}): Context {
  const client = span(services, caller, name, parent, startMs, startMs + durMs + 2, { kind: SpanKind.CLIENT });
  return span(services, callee, name, client, startMs + 1, startMs + 1 + durMs, { kind: SpanKind.SERVER, error: opts.error, attributes: opts.attributes });
}

/**
 * A shop: web calls orders, catalog, recs and search-api; orders calls
 * payments and inventory; inventory calls orders back (a cycle).
 * `now` traces: payments fails every third call (with provider acme-v2),
 * inventory takes 60 ms. Baseline traces: no failures, inventory 10 ms.
 * recs takes 300 ms in both: slow, but as usual.
 */
function shopTrace(services: Services, t0: number, i: number, now: boolean): void {
  const fails = now && i % 3 === 0;
  const inventoryMs = now ? 60 : 10;
  const rootSpan = services.tracer('web').startSpan('GET /shop', { kind: SpanKind.SERVER, startTime: ms(t0) }, context.active());
  const root = trace.setSpan(context.active(), rootSpan);
  const orders = call(services, root, 'web', 'orders', 'GET /orders', t0 + 2, 30 + inventoryMs + 40);
  call(services, orders, 'orders', 'payments', 'POST /charge', t0 + 5, 25, { error: fails ? 'card declined' : undefined, attributes: { 'payment.provider': fails ? 'acme-v2' : 'acme' } });
  const inv = call(services, orders, 'orders', 'inventory', 'POST /reserve', t0 + 34, inventoryMs);
  call(services, inv, 'inventory', 'orders', 'POST /notify', t0 + 36, 3);
  call(services, root, 'web', 'catalog', 'GET /catalog', t0 + 3, 20);
  call(services, root, 'web', 'recs', 'GET /recs', t0 + 4, 300);
  call(services, root, 'web', 'search-api', 'GET /find', t0 + 5, 15);
  if (fails) rootSpan.setStatus({ code: SpanStatusCode.ERROR, message: 'payment failed' });
  rootSpan.end(ms(t0 + 320));
}

function random(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
}

/**
 * scheduler "reserve slot": closed-loop load at 1, 2, 4 and 8 requests in
 * flight, 6 s each. A request is fast (12 ms) or waits for a free
 * connection with no span (240 ms in all); the slow share is
 * (in flight - 1) / 8. Each ends with the same 8 ms query. Starts sit
 * 0.3 ms past a whole millisecond, never on a heatmap column boundary.
 */
function schedulerLoad(services: Services, t0: number): { startMs: number; durationMs: number }[] {
  const rand = random(11);
  const planted: { startMs: number; durationMs: number }[] = [];
  let t = t0 + 0.3;
  for (const level of [1, 2, 4, 8]) {
    const windowMs = 6000;
    for (let lane = 0; lane < level; lane++) {
      let s = t + lane * 2;
      for (;;) {
        const d = rand() < (level - 1) / 8 ? 240 : 12;
        if (s + d > t + windowMs) break;
        const server = span(services, 'scheduler', 'reserve slot', context.active(), s, s + d, { kind: SpanKind.SERVER });
        span(services, 'scheduler', 'SELECT slots', server, s + d - 9, s + d - 1, { kind: SpanKind.CLIENT });
        planted.push({ startMs: s, durationMs: d });
        s += d;
      }
    }
    t += windowMs + 1000;
  }
  return planted;
}

/**
 * billing (on node-a) calls ledger, which runs on node-a and node-b (its
 * resource carries nomad.node.name, as docs/nomad.md's template sets it):
 * 6 calls of 20 ms to node-a, 4 of 200 ms to node-b, 2 of those failing.
 * Alone in its minutes, two hours back.
 */
async function nodeSplitTraces(s: Sightline, t0: number): Promise<void> {
  const providers = new Map<string, BasicTracerProvider>();
  const tracer = (service: string, node: string): Tracer => {
    const key = `${service}/${node}`;
    let p = providers.get(key);
    if (!p) {
      p = new BasicTracerProvider({
        resource: resourceFromAttributes({ 'service.name': service, 'nomad.node.name': node }),
        spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${s.otlpHttp}/v1/traces` }), { scheduledDelayMillis: 100 })],
      });
      providers.set(key, p);
    }
    return p.getTracer('nomad-test');
  };
  for (let i = 0; i < 10; i++) {
    const slow = i >= 6;
    const start = t0 + i * 10_000;
    const durMs = slow ? 200 : 20;
    const root = tracer('billing', 'node-a').startSpan('POST /invoice', { kind: SpanKind.SERVER, startTime: ms(start) }, context.active());
    const rootCtx = trace.setSpan(context.active(), root);
    const client = tracer('billing', 'node-a').startSpan('POST /post', { kind: SpanKind.CLIENT, startTime: ms(start + 1) }, rootCtx);
    const server = tracer('ledger', slow ? 'node-b' : 'node-a').startSpan('POST /post', { kind: SpanKind.SERVER, startTime: ms(start + 2) }, trace.setSpan(rootCtx, client));
    if (slow && i % 2 === 0) server.setStatus({ code: SpanStatusCode.ERROR, message: 'ledger locked' });
    server.end(ms(start + 2 + durMs));
    client.end(ms(start + 3 + durMs));
    root.end(ms(start + 5 + durMs));
  }
  await Promise.all([...providers.values()].map(async (p) => (await p.forceFlush(), await p.shutdown())));
}

/** The range part of a URL: range=, start=, end= (empty when the page's default). */
function rangeOf(url: string): Record<string, string> {
  const p = new URL(url).searchParams;
  const out: Record<string, string> = {};
  for (const k of ['range', 'start', 'end']) if (p.has(k)) out[k] = p.get(k)!;
  return out;
}

const p2 = (n: number) => String(n).padStart(2, '0');
/** As the pages print an absolute range: local time, to the second. */
const local = (unixS: number) => {
  const d = new Date(unixS * 1000);
  return `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}`;
};

describe('services pages and links between views in chromium', { timeout: 180_000 }, () => {
  let s: Sightline;
  let browser: Browser;
  let page: Page;
  let planted: { startMs: number; durationMs: number }[];
  let abs: { start: number; end: number };
  const pageErrors: string[] = [];

  before(async () => {
    if (!existsSync(CHROMIUM)) execFileSync(process.execPath, [path.join(REPO_ROOT, 'scripts', 'chromium.mjs')], { stdio: 'inherit' });
    mkdirSync(SCREENSHOTS, { recursive: true });
    s = await startSightline({ args: ['--flush-interval', '200ms'] });
    const services = new Services(s);
    const now = Date.now();
    // Baseline: 3 h ago, inside the 4 h before the default last hour.
    for (let i = 0; i < 30; i++) shopTrace(services, now - 3 * 3_600_000 + i * 60_000, i, false);
    for (let i = 0; i < 36; i++) shopTrace(services, now - 24 * 60_000 + i * 35_000, i, true);
    planted = schedulerLoad(services, now - 10 * 60_000);
    await services.flush();
    await nodeSplitTraces(s, now - 2 * 3_600_000);
    abs = { start: Math.floor(now / 1000) - 40 * 60, end: Math.floor(now / 1000) + 5 * 60 };
    const count = async (q: string, start: number, end: number) => {
      const r = (await (await fetch(`${s.api}/api/search?q=${encodeURIComponent(q)}&start=${start}&end=${end}&limit=1000`)).json()) as { traces?: unknown[] };
      return r.traces?.length ?? 0;
    };
    const nowS = Math.floor(now / 1000);
    await eventually(async () => ((await count('{ resource.service.name = "payments" }', nowS - 3600, nowS + 60)) >= 36 ? true : undefined), 30_000, 'the shop traces');
    await eventually(async () => ((await count('{ resource.service.name = "payments" }', nowS - 4 * 3600, nowS - 3600)) >= 30 ? true : undefined), 30_000, 'the baseline traces');
    await eventually(
      async () => {
        const q = encodeURIComponent('{ resource.service.name = "scheduler" && name = "reserve slot" }');
        const r = (await (await fetch(`${s.api}/api/sightline/load?q=${q}&start=${nowS - 3600}&end=${nowS + 60}`)).json()) as { spans?: number };
        return r.spans === planted.length ? true : undefined;
      },
      30_000,
      'the scheduler spans',
    );
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 }, colorScheme: 'light' });
    page = await ctx.newPage();
    page.on('pageerror', (e) => pageErrors.push(String(e)));
  });

  after(async () => {
    await browser?.close();
    await s?.stop();
    s?.cleanup();
    if (process.env.SIGHTLINE_SCREENSHOTS !== '1' && process.env.SIGHTLINE_KEEP_SCREENSHOTS !== '1') rmSync(SCREENSHOTS, { recursive: true, force: true });
  });

  /** The range a page shows: its time picker's active chip. */
  const shown = async () => (await page.locator('.range-bar .chip.active').first().innerText()).trim();

  /** Follows a link (a click) from the page now open, and checks the page it lands on shows the origin's range. */
  async function follow(what: string, click: () => Promise<void>, lands: RegExp, expected: { params: Record<string, string>; label: string }) {
    await click();
    await page.waitForURL(lands);
    assert.deepEqual(rangeOf(page.url()), expected.params, `${what}: ${page.url()}`);
    await page.locator('.range-bar .chip.active').first().waitFor();
    assert.equal(await shown(), expected.label, `${what}: the range shown`);
  }

  for (const kind of ['relative', 'absolute'] as const) {
    it(`keeps a ${kind} range on every link from the services pages`, async () => {
      const params: Record<string, string> = kind === 'relative' ? { range: '6h' } : { start: String(abs.start), end: String(abs.end) };
      const expected = { params, label: kind === 'relative' ? 'last 6h' : `${local(abs.start)} – ${local(abs.end)}` };
      const qs = new URLSearchParams(params).toString();
      const services = `${s.api}/services?${qs}`;
      const open = async (url: string) => {
        await page.goto(url);
        await page.locator('.range-bar .chip.active').first().waitFor();
        assert.equal(await shown(), expected.label, `the origin ${url} shows its range`);
      };

      await open(services);
      await page.waitForSelector('[data-testid=service-map] .map-node');
      await follow('services table: traces', () => page.locator('[data-service-row=orders] [data-testid=service-traces]').click(), /\/search\?/, expected);
      assert.match(new URL(page.url()).searchParams.get('q') ?? '', /resource\.service\.name = "orders"/);

      await open(services);
      await page.waitForSelector('[data-testid=service-map] .map-node');
      await follow('service map: node', () => page.locator('.map-node[data-service=orders]').click(), /\/services\/orders\?/, expected);

      await open(services);
      await page.waitForSelector('[data-testid=services-table]');
      await follow('services table: service', () => page.locator('[data-service-row=orders] [data-testid=service-link]').click(), /\/services\/orders\?/, expected);

      // On the service page: its traces, an operation's traces, back to the map, and the top bar.
      const service = page.url();
      await follow('service: Search its traces', () => page.locator('[data-testid=search-its-traces]').click(), /\/search\?/, expected);
      await open(service);
      await page.waitForSelector('[data-testid=operations] tbody tr');
      await follow('service: an operation', () => page.locator('[data-testid=operations] tbody tr', { hasText: 'POST /notify' }).first().click(), /operation=POST/, expected);
      await follow('operation: its traces', () => page.locator('[data-testid=operations] tr.selected [data-testid=operation-traces]').click(), /\/search\?/, expected);
      assert.match(new URL(page.url()).searchParams.get('q') ?? '', /name = "POST \/notify"/);
      await open(service);
      await follow('service: Services', () => page.locator('[data-testid=services-link]').click(), /\/services\?/, expected);
      await open(service);
      await follow('top bar: Search', () => page.locator('.nav a', { hasText: 'Search' }).click(), /\/search/, expected);
      await open(service);
      await follow('top bar: Compare', () => page.locator('.nav a', { hasText: 'Compare' }).click(), /\/compare/, expected);
    });
  }

  it('follows search -> trace -> service, and compare -> search, with the range', async () => {
    const expected = { params: { range: '6h' }, label: 'last 6h' };
    await page.goto(`${s.api}/search?q=${encodeURIComponent('{ resource.service.name = "payments" }')}&range=6h`);
    await page.waitForSelector('[data-testid=results] tbody tr');
    await page.locator('[data-testid=results] tbody tr a').first().click();
    await page.waitForURL(/\/trace\/[0-9a-f]{32}/);
    assert.deepEqual(rangeOf(page.url()), expected.params, `search -> trace: ${page.url()}`);
    await page.locator('.wf-row', { hasText: 'POST /charge' }).last().click();
    await follow('trace -> service', () => page.locator('[data-testid=span-detail] [data-testid=service-link]').click(), /\/services\/[^/?]+\?/, expected);

    const q = '{ resource.service.name = "payments" && status = error }';
    await page.goto(`${s.api}/compare?q=${encodeURIComponent(q)}&range=6h`);
    await page.waitForSelector('[data-testid=attr-row]');
    assert.equal(await shown(), expected.label);
    await follow('compare -> search', () => page.locator('[data-testid=attr-row]').first().locator('[data-testid=example-selection]').click(), /\/search\?/, expected);
  });

  it('colours services by health against their own baseline, with the numbers on hover', async () => {
    await page.goto(`${s.api}/services`);
    await page.waitForSelector('[data-testid=service-map] .map-node');
    // The baseline arrives after the map: wait for the legend to stop saying it is loading.
    await page.locator('[data-testid=health-legend]', { hasNotText: 'loading' }).waitFor();
    const health = Object.fromEntries(
      await page.locator('.map-node').evaluateAll((els) => els.map((e) => [e.getAttribute('data-service'), e.getAttribute('data-health')])),
    ) as Record<string, string>;
    assert.equal(health.payments, 'unhealthy', JSON.stringify(health));
    assert.equal(health.inventory, 'unhealthy', `6x its usual p95: ${JSON.stringify(health)}`);
    for (const clean of ['catalog', 'search-api', 'recs', 'scheduler']) assert.equal(health[clean], 'healthy', `${clean}: ${JSON.stringify(health)}`);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'services-health.png') });
    // The colour is the page's error colour for the failing one, its healthy colour for a clean one.
    const colours = (await page.evaluate(`(() => {
      const probe = (v) => { const e = document.createElement('span'); e.style.color = 'var(' + v + ')'; document.body.appendChild(e); const c = getComputedStyle(e).color; e.remove(); return c; };
      const stroke = (svc) => getComputedStyle(document.querySelector('.map-node[data-service="' + svc + '"] rect')).stroke;
      return { error: probe('--error'), ok: probe('--ok'), payments: stroke('payments'), catalog: stroke('catalog') };
    })()`)) as Record<string, string>;
    assert.equal(colours.payments, colours.error, JSON.stringify(colours));
    assert.equal(colours.catalog, colours.ok, JSON.stringify(colours));
    assert.notEqual(colours.error, colours.ok);
    await page.locator('.map-node[data-service=payments]').hover();
    const tip = await page.locator('[data-testid=map-tip]').innerText();
    assert.match(tip, /payments/);
    assert.match(tip, /33\.3% \(12\), usually 0\.0%/, tip);
    await page.locator('.map-node[data-service=inventory]').hover();
    assert.match(await page.locator('[data-testid=map-tip]').innerText(), /p95 ~?6\d(\.\d+)? ms \(usually 1\d(\.\d+)? ms/);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'services-health-hover.png') });
  });

  it('splits services by a resource attribute: one node per service and node, with its own numbers', async () => {
    const t0s = Math.floor((Date.now() - 2 * 3_600_000) / 1000);
    const url = `${s.api}/services?groupBy=nomad.node.name&start=${t0s - 300}&end=${t0s + 400}`;
    await eventually(async () => {
      const r = (await (await fetch(`${s.api}/api/sightline/service-map?groupBy=nomad.node.name&start=${t0s - 300}&end=${t0s + 400}`)).json()) as { nodes: { requests: number }[] };
      return r.nodes.reduce((n, x) => n + x.requests, 0) === 20 ? true : undefined;
    }, 30_000, 'the node-split traces');
    await page.goto(url);
    await page.waitForSelector('[data-testid=services-table] tr[data-service-row]');
    const rows = Object.fromEntries(
      await page.locator('[data-testid=services-table] tr[data-service-row]').evaluateAll((trs) =>
        trs.map((tr) => [tr.getAttribute('data-service-row'), [...tr.querySelectorAll('td')].map((td) => (td.textContent ?? '').trim())]),
      ),
    ) as Record<string, string[]>;
    assert.deepEqual(Object.keys(rows).sort(), ['billing @ node-a', 'ledger @ node-a', 'ledger @ node-b'], JSON.stringify(rows));
    // Columns: service, health, requests, rate, errors, p50, p95, p99.
    assert.deepEqual([rows['ledger @ node-a'][2], rows['ledger @ node-a'][4], rows['ledger @ node-a'][5]], ['6', '0%', '20 ms']);
    assert.deepEqual([rows['ledger @ node-b'][2], rows['ledger @ node-b'][4], rows['ledger @ node-b'][5]], ['4', '50.0%', '200 ms']);
    assert.equal(rows['billing @ node-a'][2], '10');
    // Both ledger nodes are on the map, each with its edge from billing.
    const nodes = await page.locator('.map-node').evaluateAll((els) => els.map((e) => e.getAttribute('data-service')).sort());
    assert.deepEqual(nodes, ['billing @ node-a', 'ledger @ node-a', 'ledger @ node-b']);
    assert.equal(await page.locator('[data-testid=split-by]').inputValue(), 'nomad.node.name');
    // A split row's link goes to the service itself, with the range.
    await page.locator('tr[data-service-row="ledger @ node-b"] [data-testid=service-link]').click();
    await page.waitForURL(/\/services\/ledger\?/);
    assert.deepEqual(rangeOf(page.url()), { start: String(t0s - 300), end: String(t0s + 400) });
    // Splitting off again from the control.
    await page.goto(url);
    await page.locator('[data-testid=split-by]').selectOption('');
    await page.waitForURL((u) => !u.searchParams.has('groupBy'));
    await page.waitForSelector('tr[data-service-row="ledger"]');
  });

  it('places no edge label on another label or on an arrowhead', async () => {
    await page.goto(`${s.api}/services`);
    await page.waitForSelector('[data-testid=service-map] .map-node');
    type R = { x: number; y: number; w: number; h: number; text?: number };
    const boxes = (await page.evaluate(`(() => {
      const r = (e) => { const b = e.getBoundingClientRect(); return { x: b.x, y: b.y, w: b.width, h: b.height }; };
      return {
        labels: [...document.querySelectorAll('[data-testid=edge-label]')].map((g) => ({ ...r(g.querySelector('rect')), text: g.querySelector('text').getBoundingClientRect().width })),
        arrows: [...document.querySelectorAll('.map-arrowhead')].map(r),
      };
    })()`)) as { labels: R[]; arrows: R[] };
    const edges = await page.locator('.map-edge').count();
    assert.ok(edges >= 7, `edges: ${edges}`);
    assert.equal(boxes.labels.length, edges);
    assert.equal(boxes.arrows.length, edges);
    const meet = (a: R, b: R) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
    boxes.labels.forEach((l, i) => {
      assert.ok(l.text! <= l.w, `label ${i}'s text fits its background`);
      boxes.labels.forEach((o, j) => assert.ok(j <= i || !meet(l, o), `labels ${i} and ${j} overlap: ${JSON.stringify([l, o])}`));
      boxes.arrows.forEach((a, j) => assert.ok(!meet(l, a), `label ${i} covers arrowhead ${j}: ${JSON.stringify([l, a])}`));
    });
  });

  it('says bimodal latency that load drives grows with load, and its heatmap holds the planted spans', async () => {
    await page.goto(`${s.api}/services/scheduler?operation=${encodeURIComponent('reserve slot')}&start=${abs.start}&end=${abs.end}`);
    const verdict = await page.locator('[data-testid=load-verdict]').innerText({ timeout: 20_000 });
    assert.match(verdict, /^Latency grows with load/, verdict);
    assert.match(verdict, /waiting with no child span running/);
    assert.equal(await page.locator('[data-testid=load-chart]').getAttribute('data-verdict'), 'saturating');
    const bimodal = await page.locator('[data-testid=load-bimodal]').innerText();
    assert.match(bimodal, /bimodal: a span takes about 12 ms or about 240 ms/, bimodal);
    // Both series drawn and named.
    assert.equal(await page.locator('[data-testid=load-by-concurrency] path[data-series=latency]').count(), 1);
    assert.equal(await page.locator('[data-testid=load-by-concurrency] path[data-series=wait]').count(), 1);
    const legend = await page.locator('[data-testid=load-by-concurrency] .chart-legend').innerText();
    assert.match(legend, /latency \(mean\)/);
    assert.match(legend, /wait with no child span running/);

    const cells = (await page.locator('[data-testid=load-heatmap-cell]').evaluateAll((els) =>
      els.map((e) => ({
        startMs: Number(e.getAttribute('data-start-ms')),
        endMs: Number(e.getAttribute('data-end-ms')),
        minNs: Number(e.getAttribute('data-min-ns')),
        maxNs: e.getAttribute('data-max-ns') === null ? Infinity : Number(e.getAttribute('data-max-ns')),
        count: Number(e.getAttribute('data-count')),
      })),
    )) as { startMs: number; endMs: number; minNs: number; maxNs: number; count: number }[];
    const expected = new Map<number, number>();
    for (const p of planted) {
      const i = cells.findIndex((c) => p.startMs >= c.startMs && p.startMs < c.endMs && p.durationMs * 1e6 >= c.minNs && p.durationMs * 1e6 < c.maxNs);
      assert.ok(i >= 0, `no cell for the span at ${p.startMs} lasting ${p.durationMs} ms: ${JSON.stringify(cells.filter((c) => p.startMs >= c.startMs - 2000 && p.startMs < c.endMs + 2000))}, first planted ${planted[0].startMs}; ${cells.length} cells, the first ${JSON.stringify(cells.slice(0, 3))}`);
      expected.set(i, (expected.get(i) ?? 0) + 1);
    }
    assert.deepEqual(
      cells.map((c) => c.count),
      cells.map((_, i) => expected.get(i) ?? 0),
      'each cell holds the planted spans that start in its column and last as long as its row',
    );
    assert.equal(Number(await page.locator('[data-testid=load-heatmap]').getAttribute('data-total')), planted.length);
    // Two bands: every planted span is 12 ms or 240 ms, so two rows hold them all.
    assert.equal(new Set(cells.map((c) => c.minNs)).size, 2);
    await page.locator('[data-testid=load-chart]').screenshot({ path: path.join(SCREENSHOTS, 'service-load.png') });
  });

  it('threw no errors in the page', () => {
    assert.deepEqual(pageErrors, []);
  });
});
