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
 * The web UI in Debian's chromium against a live Sightline filled by the
 * real OpenTelemetry SDK: search, completion, error positions, a trace with
 * its critical path, keyboard navigation, find, and a 10,000-span trace
 * whose first render and scrolling are measured (reported, not asserted).
 * Screenshots go to a temporary directory, or to docs/img/ for the README
 * with SIGHTLINE_SCREENSHOTS=1, so a test run leaves the checkout unchanged.
 */

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS = process.env.SIGHTLINE_SCREENSHOTS === '1' ? path.join(REPO_ROOT, 'docs', 'img') : mkdtempSync(path.join(os.tmpdir(), 'sightline-ui-shots-'));
const BIG_TRACE_SPANS = 10_001;

const ms = (epochMs: number): HrTime => [Math.floor(epochMs / 1000), Math.round((epochMs % 1000) * 1e6)];

class Services {
  private providers = new Map<string, BasicTracerProvider>();
  constructor(private s: Sightline) {}
  tracer(service: string): Tracer {
    let p = this.providers.get(service);
    if (!p) {
      p = new BasicTracerProvider({
        resource: resourceFromAttributes({ 'service.name': service, 'service.version': '2.3.1', 'host.name': `${service}-7f9c` }),
        spanProcessors: [
          new BatchSpanProcessor(new OTLPTraceExporter({ url: `${this.s.otlpHttp}/v1/traces` }), { maxQueueSize: 30_000, maxExportBatchSize: 2_000, scheduledDelayMillis: 100 }),
        ],
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
  if (opts.error) {
    sp.setStatus({ code: SpanStatusCode.ERROR, message: opts.error });
    sp.addEvent('exception', { 'exception.type': 'CardDeclined', 'exception.message': opts.error }, ms(endMs - 1));
  }
  sp.end(ms(endMs));
  return trace.setSpan(parent, sp);
}

/**
 * A checkout through five services. Slow ones carry feature.flag=new-pricing
 * and wait on payments; every eighth fails in payments; `skewed` puts the
 * checkout server's clock 40 ms behind the frontend's.
 */
function checkoutTrace(services: Services, t0: number, i: number): string {
  const slow = i % 4 === 0;
  const failed = i % 8 === 3;
  const skew = i === 5 ? -40 : 0;
  const flag = slow ? 'new-pricing' : 'control';
  const payMs = slow ? 320 + (i % 5) * 20 : 60 + (i % 7) * 5;
  const total = 40 + payMs + 70;
  const root = trace.setSpan(context.active(), services.tracer('frontend').startSpan('GET /checkout', { kind: SpanKind.SERVER, startTime: ms(t0), attributes: { 'http.request.method': 'GET', 'http.route': '/checkout', 'user.tier': i % 3 === 0 ? 'gold' : 'free' } }, context.active()));
  const client = span(services, 'frontend', 'POST /orders', root, t0 + 5, t0 + total - 5, { kind: SpanKind.CLIENT });
  const c0 = t0 + 8 + skew;
  const server = span(services, 'checkout', 'POST /orders', client, c0, c0 + total - 16, { kind: SpanKind.SERVER, attributes: { 'feature.flag': flag, 'http.route': '/orders' } });
  span(services, 'checkout', 'SELECT cart', server, c0 + 2, c0 + 20, { kind: SpanKind.CLIENT, attributes: { 'db.system': 'postgresql', 'db.statement': 'SELECT * FROM cart WHERE user_id = $1' } });
  const inv = span(services, 'checkout', 'reserve stock', server, c0 + 22, c0 + 36, { kind: SpanKind.CLIENT });
  span(services, 'inventory', 'reserve stock', inv, c0 + 23, c0 + 35, { kind: SpanKind.SERVER, attributes: { 'inventory.items': 3 } });
  const pay = span(services, 'checkout', 'charge card', server, c0 + 38, c0 + 38 + payMs + 4, { kind: SpanKind.CLIENT, attributes: { 'feature.flag': flag } });
  // Weaker clues than the flag: each marks only some of the slow traces.
  const payServer = span(services, 'payments', 'charge card', pay, c0 + 40, c0 + 40 + payMs, { kind: SpanKind.SERVER, attributes: { 'payment.provider': i % 8 === 0 ? 'acme-v2' : 'acme' }, error: failed ? 'card declined' : undefined });
  span(services, 'payments', 'fraud check', payServer, c0 + 42, c0 + 42 + payMs * 0.7, { attributes: { 'fraud.model': i % 12 === 0 ? 'deep' : 'fast' } });
  span(services, 'checkout', 'publish order.created', server, c0 + 46 + payMs, c0 + 52 + payMs, { kind: SpanKind.PRODUCER });
  const rootSpan = trace.getSpan(root)!;
  if (failed) rootSpan.setStatus({ code: SpanStatusCode.ERROR, message: 'payment failed' });
  rootSpan.end(ms(t0 + total));
  return rootSpan.spanContext().traceId;
}

/** 1 root, 50 sequential batches of 199 sequential upserts each: 10,001 spans over three services. */
function bigTrace(services: Services, t0: number): string {
  const rootSpan = services.tracer('importer').startSpan('nightly import', { kind: SpanKind.SERVER, startTime: ms(t0) }, context.active());
  const root = trace.setSpan(context.active(), rootSpan);
  let t = t0 + 1;
  for (let b = 0; b < 50; b++) {
    const batch = services.tracer('importer').startSpan(`batch ${b}`, { startTime: ms(t), attributes: { 'batch.index': b } }, root);
    const bctx = trace.setSpan(root, batch);
    for (let u = 0; u < 199; u++) {
      const service = u % 3 === 0 ? 'search-indexer' : 'catalog';
      const d = 0.5 + ((b * 199 + u) % 11) * 0.1;
      span(services, service, u % 3 === 0 ? 'index document' : 'upsert product', bctx, t, t + d, { kind: SpanKind.CLIENT, attributes: { 'product.id': `p-${b}-${u}` }, error: (b * 199 + u) % 997 === 0 ? 'conflict' : undefined });
      t += d + 0.05;
    }
    batch.end(ms(t));
    t += 0.5;
  }
  rootSpan.end(ms(t + 1));
  return rootSpan.spanContext().traceId;
}

describe('web UI in chromium', { timeout: 120_000 }, () => {
  let s: Sightline;
  let browser: Browser;
  let page: Page;
  let checkoutIds: string[] = [];
  let bigId: string;
  const pageErrors: string[] = [];

  before(async () => {
    if (!existsSync(CHROMIUM)) execFileSync(process.execPath, [path.join(REPO_ROOT, 'scripts', 'chromium.mjs')], { stdio: 'inherit' });
    mkdirSync(SCREENSHOTS, { recursive: true });
    s = await startSightline({ args: ['--flush-interval', '200ms'] });
    const services = new Services(s);
    const now = Date.now();
    for (let i = 0; i < 40; i++) checkoutIds.push(checkoutTrace(services, now - 25 * 60_000 + i * 35_000 + (i % 3) * 7000, i));
    bigId = bigTrace(services, now - 3 * 60_000);
    await services.flush();
    await eventually(
      async () => {
        const r = await fetch(`${s.api}/api/v2/traces/${bigId}`);
        if (r.status !== 200) return undefined;
        const j = (await r.json()) as { trace: { resourceSpans: { scopeSpans: { spans: unknown[] }[] }[] } };
        const n = j.trace.resourceSpans.reduce((a, rs) => a + rs.scopeSpans.reduce((b, ss) => b + ss.spans.length, 0), 0);
        return n === BIG_TRACE_SPANS ? n : undefined;
      },
      30_000,
      'the 10,000-span trace to be stored',
    );
    await eventually(async () => {
      const r = (await (await fetch(`${s.api}/api/search?q=${encodeURIComponent('{ resource.service.name = "payments" }')}&limit=100`)).json()) as { traces?: unknown[] };
      return (r.traces?.length ?? 0) >= 40 ? true : undefined;
    }, 15_000, 'the checkout traces to be searchable');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
    page = await ctx.newPage();
    page.on('pageerror', (e) => pageErrors.push(String(e)));
  });

  after(async () => {
    await browser?.close();
    await s?.stop();
    s?.cleanup();
    if (process.env.SIGHTLINE_SCREENSHOTS !== '1') rmSync(SCREENSHOTS, { recursive: true, force: true });
  });

  it('serves the app at / with SPA fallback, and keeps API 404s', async () => {
    const index = await fetch(`${s.api}/trace/abc`);
    assert.equal(index.status, 200);
    assert.match(index.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await index.text(), /<div id="root">/);
    const api404 = await fetch(`${s.api}/api/nope`);
    assert.equal(api404.status, 404);
    assert.doesNotMatch(await api404.text(), /<html/i);
    assert.equal((await fetch(`${s.api}/api/echo`)).status, 200);
  });

  it('searches with TraceQL, shows results and the heatmap', async () => {
    const q = '{ resource.service.name = "frontend" && name = "GET /checkout" }';
    await page.goto(`${s.api}/search?q=${encodeURIComponent(q)}&limit=50`);
    await page.waitForSelector('[data-testid=results] tbody tr');
    assert.equal(await page.locator('[data-testid=results] tbody tr').count(), 40);
    // Every match, counted by start time and duration (test/ui-search.test.ts tests it in depth).
    await page.waitForSelector('[data-testid=heatmap] rect.cell');
    assert.equal(await page.locator('[data-testid=heatmap]').getAttribute('data-total'), '40');
    assert.ok((await page.locator('.editor-overlay .tok-attribute').count()) >= 1, 'the query is highlighted');
    // Span counts arrive from the traces themselves.
    await page.waitForFunction(`[...document.querySelectorAll('[data-testid=results] tbody tr td:nth-child(5)')].slice(0, 5).every((td) => td.textContent === '10')`);
    assert.equal(await page.locator('[data-testid=qf-service]').inputValue(), 'frontend');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'search.png') });
  });

  it('places a parse error where it is', async () => {
    await page.goto(`${s.api}/search?q=${encodeURIComponent('{ span.http.route = }')}`);
    const error = page.locator('[data-testid=query-error]');
    await error.waitFor();
    assert.match(await error.innerText(), /line 1, col \d+/);
    assert.equal(await page.locator('.tok-at-error').count(), 1);
  });

  it('completes values from the tag values API', async () => {
    await page.goto(`${s.api}/search`);
    const editor = page.locator('[data-testid=traceql]');
    await editor.click();
    await editor.pressSequentially('{ resource.service.name = "pay');
    const item = page.locator('.completion li', { hasText: 'payments' });
    await item.waitFor();
    await page.keyboard.press('Enter');
    assert.equal(await editor.inputValue(), '{ resource.service.name = "payments"');
  });

  it('opens a trace from the results with the critical path highlighted', async () => {
    const q = '{ resource.service.name = "checkout" && span.feature.flag = "new-pricing" }';
    await page.goto(`${s.api}/search?q=${encodeURIComponent(q)}`);
    await page.waitForSelector('[data-testid=results] tbody tr');
    await page.locator('[data-testid=results] tbody tr').first().click();
    await page.waitForURL(/\/trace\/[0-9a-f]{32}/);
    await page.waitForSelector('.wf-row[data-critical="true"]');
    const critical = await page.locator('.wf-row[data-critical="true"]').count();
    assert.ok(critical >= 4, `critical rows: ${critical}`);
    // The slow payment is on the path.
    assert.equal(await page.locator('.wf-row[data-critical="true"]', { hasText: 'fraud check' }).count(), 1);
    await page.locator('.wf-row', { hasText: 'fraud check' }).click();
    await page.waitForSelector('[data-testid=span-detail]');
    assert.match(await page.locator('[data-testid=span-detail]').innerText(), /Self time/);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'trace.png') });
  });

  it('navigates the waterfall with the keyboard and finds spans', async () => {
    await page.locator('.wf-scroll').focus();
    await page.keyboard.press('Home');
    const first = await page.locator('.wf-row[aria-selected="true"]').getAttribute('data-span-id');
    // Each key press renders asynchronously: wait for what it must lead to
    // (a busy machine renders late), and fail on a timeout if it never does.
    const rows = (n: number) => page.waitForFunction(`document.querySelectorAll('.wf-row').length === ${n}`, undefined, { timeout: 10_000 });
    const selectedIs = (nth: number) =>
      page.waitForFunction(`document.querySelectorAll('.wf-row')[${nth}]?.getAttribute('aria-selected') === 'true'`, undefined, { timeout: 10_000 });
    await selectedIs(0);
    await page.keyboard.press('ArrowDown');
    await selectedIs(1);
    await page.keyboard.press('ArrowDown');
    await selectedIs(2);
    const third = await page.locator('.wf-row[aria-selected="true"]').getAttribute('data-span-id');
    assert.notEqual(first, third);
    await page.waitForURL(new RegExp(`span=${third}`));
    await page.keyboard.press('Home');
    await selectedIs(0);
    await page.keyboard.press('ArrowLeft'); // collapses the root
    await rows(1);
    await page.keyboard.press('ArrowRight');
    await rows(10);
    await page.locator('[data-testid=find]').fill('payments');
    // A locator waits without evaluating a string in the page, which its CSP (script-src 'self') refuses once the wait polls.
    await page.locator('.wf-row[data-match="true"]').nth(1).waitFor();
    assert.equal(await page.locator('.wf-row[data-match="true"]').count(), 2);
    // Drag across the minimap to zoom into 40-80% of the trace.
    const box = (await page.locator('[data-testid=minimap]').boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.4, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.8, box.y + box.height / 2, { steps: 4 });
    await page.mouse.up();
    await page.waitForURL(/zoom=0\.[34]\d*-0\.[78]/);
    await page.locator('[data-testid=reset-zoom]').click();
    await page.waitForURL((u) => !u.search.includes('zoom='));
  });

  it('shows a clock-skew warning', async () => {
    await page.goto(`${s.api}/trace/${checkoutIds[5]}`);
    await page.locator('[data-testid=skew-warning]').waitFor();
  });

  it('renders a 10,000-span trace and scrolls it (measured)', async () => {
    const t0 = Date.now();
    await page.goto(`${s.api}/trace/${bigId}`);
    await page.waitForSelector('.wf-row');
    const firstScreenMs = Date.now() - t0;
    await page.waitForFunction('window.__sightlineTraceMetrics?.firstRenderMs !== undefined');
    const metrics = (await page.evaluate('window.__sightlineTraceMetrics')) as TraceMetrics;
    assert.equal(metrics.spans, BIG_TRACE_SPANS);
    const domRows = await page.locator('.wf-row').count();
    assert.ok(domRows < 120, `only visible rows are in the DOM (${domRows})`);
    await page.waitForSelector('.wf-row[data-critical="true"]');
    const scroll = (await page.evaluate(SCROLL_FOR_TWO_SECONDS)) as { frames: number; seconds: number; worstFrameMs: number; scrolledPx: number };
    const fps = scroll.frames / scroll.seconds;
    const report = {
      spans: metrics.spans,
      navigationToFirstRowsMs: firstScreenMs,
      inPage: {
        navigationToFirstFrameMs: Math.round(metrics.sinceNavigationMs!),
        fetchMs: Math.round(metrics.fetchMs),
        buildModelMs: Math.round(metrics.buildMs),
        fetchToFirstFrameMs: Math.round(metrics.firstRenderMs!),
      },
      scroll: { fps: Math.round(fps * 10) / 10, worstFrameMs: Math.round(scroll.worstFrameMs * 10) / 10, scrolledPx: scroll.scrolledPx },
      domRows,
    };
    console.log(`UI-PERF ${JSON.stringify(report)}`);
    assert.ok(scroll.scrolledPx > 0, 'the waterfall scrolled');
    await page.evaluate(`document.querySelector('.wf-scroll').scrollTop = 0`);
    await page.locator('.theme-toggle').click();
    await page.screenshot({ path: path.join(SCREENSHOTS, 'trace-10k-dark.png') });
    await page.locator('.theme-toggle').click();
  });

  it('shows the service map with rate, errors and latency on each edge, and a service page', async () => {
    await page.goto(`${s.api}/services`);
    await page.waitForSelector('[data-testid=service-map] .map-node');
    const services = await page.locator('[data-testid=service-map] .map-node').evaluateAll((els) => els.map((e) => e.getAttribute('data-service')));
    for (const name of ['frontend', 'checkout', 'payments', 'inventory']) assert.ok(services.includes(name), `${name} on the map: ${services}`);
    const edge = page.locator('[data-edge="checkout>payments"]');
    assert.match(await edge.locator('.map-edge-label').textContent() ?? '', /\/(s|min) · [\d.]+% · p95 \d/);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'service-map.png') });
    await page.locator('[data-service=payments]').click();
    await page.waitForURL(/\/services\/payments/);
    await page.waitForSelector('[data-testid=red-charts] .chart-line');
    await page.waitForSelector('[data-testid=operations] tbody tr');
    assert.ok((await page.locator('[data-testid=operations] tbody tr', { hasText: 'charge card' }).count()) >= 1);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'service.png') });
    // One operation: its RED, and its latency and wait against requests in flight.
    await page.locator('[data-testid=operations] tbody tr', { hasText: 'charge card' }).first().click();
    await page.waitForURL(/operation=charge/);
    const verdict = await page.locator('[data-testid=load-verdict]').textContent({ timeout: 15_000 });
    assert.match(verdict ?? '', /Waiting grows|Latency grows|does not grow|Too little variation/);
    assert.ok((await page.locator('[data-testid=load-chart] circle').count()) >= 2, 'a point per bucket for latency and wait');
  });

  it('compares slow traces with fast ones: the injected flag ranks first, payments holds the extra time', async () => {
    await page.goto(`${s.api}/compare`);
    // A band brushed on the latency chart becomes the selection.
    await page.waitForSelector('[data-testid=latency-brush] circle');
    const chart = (await page.locator('[data-testid=latency-brush] svg').boundingBox())!;
    await page.mouse.move(chart.x + chart.width / 2, chart.y + 12);
    await page.mouse.down();
    await page.mouse.move(chart.x + chart.width / 2, chart.y + chart.height - 24, { steps: 4 });
    await page.mouse.up();
    await page.waitForURL(/\/compare\?q=.*traceDuration/);
    const selection = '{ resource.service.name = "frontend" && traceDuration > 300ms }';
    const baseline = '{ resource.service.name = "frontend" && traceDuration < 300ms }';
    await page.goto(`${s.api}/compare?q=${encodeURIComponent(selection)}&baseline=${encodeURIComponent(baseline)}`);
    await page.waitForSelector('[data-testid=attr-row]');
    assert.equal(await page.locator('[data-testid=attr-row]').first().getAttribute('data-attribute'), 'span.feature.flag = "new-pricing"');
    await page.waitForSelector('[data-testid=path-row]');
    assert.match((await page.locator('[data-testid=path-row]').first().getAttribute('data-operation')) ?? '', /^payments: /);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'compare.png'), fullPage: true });
    // Each row links to example traces of the selection.
    await page.locator('[data-testid=attr-row]').first().locator('[data-testid=example-selection]').click();
    await page.waitForURL(/\/search\?q=/);
    await page.waitForSelector('[data-testid=results] tbody tr');
    assert.equal(await page.locator('[data-testid=results] tbody tr').count(), 10);
  });

  it('threw no errors in the page', () => {
    assert.deepEqual(pageErrors, []);
  });
});

/** What the trace page records (web/src/ui/TracePage.tsx). */
interface TraceMetrics {
  traceId: string;
  spans: number;
  fetchMs: number;
  buildMs: number;
  firstRenderMs?: number;
  sinceNavigationMs?: number;
}

/**
 * Runs in the page: scrolls the waterfall by 90 px every animation frame for
 * two seconds and counts frames. In-page code is a string because the test
 * compiles without DOM types.
 */
const SCROLL_FOR_TWO_SECONDS = `new Promise((resolve) => {
  const el = document.querySelector('.wf-scroll');
  let frames = 0, worst = 0;
  const start = performance.now();
  let last = start;
  const step = (now) => {
    frames++;
    worst = Math.max(worst, now - last);
    last = now;
    el.scrollTop += 90;
    if (now - start < 2000) requestAnimationFrame(step);
    else resolve({ frames, seconds: (now - start) / 1000, worstFrameMs: worst, scrolledPx: el.scrollTop });
  };
  requestAnimationFrame(step);
})`;
