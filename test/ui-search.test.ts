import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { context, trace, SpanKind, type HrTime, type Tracer } from '@opentelemetry/api';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startSightline, eventually, REPO_ROOT, type Sightline } from '../testkit/sightline.js';
import { bandCompare, formatLocalInput, formatRoute, heatmapLayout, type HeatmapJson, type QueryRangeJson } from '../web/src/model/index.js';

/**
 * The search page over a whole time range, in Debian's chromium against a
 * live Sightline filled by the real OpenTelemetry SDK: 149 shop traces of
 * known, distinct durations over the last 50 minutes (more than a page),
 * whose slowest is old, far from the most recent page; and a batch job of
 * 1,100 spans for a metrics query past the series cap.
 */

const CHROMIUM = '/usr/bin/chromium';
/** As in ui-e2e.test.ts: a temporary directory, or docs/img/ for the README with SIGHTLINE_SCREENSHOTS=1. */
const SCREENSHOTS = process.env.SIGHTLINE_SCREENSHOTS === '1' ? path.join(REPO_ROOT, 'docs', 'img') : mkdtempSync(path.join(os.tmpdir(), 'sightline-search-shots-'));
const SHOP = '{ resource.service.name = "shop-frontend" }';
const MS = 1_000_000;

const hr = (epochMs: number): HrTime => [Math.floor(epochMs / 1000), Math.round((epochMs % 1000) * 1e6)];

class Services {
  private providers = new Map<string, BasicTracerProvider>();
  constructor(private s: Sightline) {}
  tracer(service: string): Tracer {
    let p = this.providers.get(service);
    if (!p) {
      p = new BasicTracerProvider({
        resource: resourceFromAttributes({ 'service.name': service }),
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

interface Sent {
  traceId: string;
  startMs: number;
  durationMs: number;
  route: string;
}

/**
 * Trace i: 100 old ones from 50 to 20 minutes ago, 49 recent ones from 10
 * to 1 minute ago (no trace near the 15-minute boundary, however long the
 * test takes to get there). Durations 50..494 ms, all distinct, but the
 * 31st (900 ms, 41 minutes ago) and the 106th (700 ms, the slowest of the
 * last 15 minutes, not among its 20 most recent).
 */
function shopTraces(services: Services, t0: number): Sent[] {
  const out: Sent[] = [];
  for (let i = 0; i < 149; i++) {
    const startMs = i < 100 ? t0 - 50 * 60_000 + i * 18_000 : t0 - 10 * 60_000 + (i - 100) * 11_000;
    const durationMs = i === 30 ? 900 : i === 105 ? 700 : 50 + ((i * 37) % 149) * 3;
    const route = ['/cart', '/pay', '/list'][i % 3];
    const root = services.tracer('shop-frontend').startSpan('GET /shop', { kind: SpanKind.SERVER, startTime: hr(startMs), attributes: { 'http.route': route } }, context.active());
    const ctx = trace.setSpan(context.active(), root);
    services.tracer('shop-backend').startSpan('query', { kind: SpanKind.CLIENT, startTime: hr(startMs + 2) }, ctx).end(hr(startMs + durationMs - 3));
    root.end(hr(startMs + durationMs));
    out.push({ traceId: root.spanContext().traceId, startMs, durationMs, route });
  }
  return out;
}

/** One trace of 1,100 spans, each with its own `item`: a metrics query by(span.item) has more series than answered. */
function batchTrace(services: Services, t0: number): void {
  const root = services.tracer('batch-job').startSpan('nightly', { kind: SpanKind.INTERNAL, startTime: hr(t0 - 30 * 60_000) }, context.active());
  const ctx = trace.setSpan(context.active(), root);
  for (let i = 0; i < 1100; i++) services.tracer('batch-job').startSpan('item', { startTime: hr(t0 - 30 * 60_000 + i), attributes: { item: `item-${i}` } }, ctx).end(hr(t0 - 30 * 60_000 + i + 1));
  root.end(hr(t0 - 30 * 60_000 + 1200));
}

describe('search page: whole-range order, totals, heatmap, time picker, metrics', { timeout: 180_000 }, () => {
  let s: Sightline;
  let browser: Browser;
  let page: Page;
  let sent: Sent[] = [];
  const pageErrors: string[] = [];

  before(async () => {
    if (!existsSync(CHROMIUM)) execFileSync(process.execPath, [path.join(REPO_ROOT, 'scripts', 'chromium.mjs')], { stdio: 'inherit' });
    mkdirSync(SCREENSHOTS, { recursive: true });
    s = await startSightline({ args: ['--flush-interval', '200ms'] });
    const services = new Services(s);
    const t0 = Date.now();
    sent = shopTraces(services, t0);
    batchTrace(services, t0);
    await services.flush();
    await eventually(
      async () => {
        const r = (await (await fetch(`${s.api}/api/sightline/search?q=${encodeURIComponent(SHOP)}&limit=1`)).json()) as { total?: number };
        return r.total === sent.length ? true : undefined;
      },
      30_000,
      'the shop traces to be searchable',
    );
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'light' });
    page = await ctx.newPage();
    page.on('pageerror', (e) => pageErrors.push(String(e)));
  });

  after(async () => {
    await browser?.close();
    await s?.stop();
    s?.cleanup();
    if (process.env.SIGHTLINE_SCREENSHOTS !== '1') rmSync(SCREENSHOTS, { recursive: true, force: true });
  });

  const rowIds = () => page.$$eval('[data-testid=results] tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-trace-id')));
  const rowDurations = () => page.$$eval('[data-testid=results] tbody tr', (trs) => trs.map((tr) => Number(tr.getAttribute('data-duration-ms'))));
  const shown = async () => {
    const el = page.locator('[data-testid=shown]');
    return { text: await el.innerText(), shown: Number(await el.getAttribute('data-shown')), total: Number(await el.getAttribute('data-total')) };
  };
  /** Waits for the table to hold the answer to the page's current URL. */
  const settled = async () => {
    await page.waitForSelector('[data-testid=results] tbody tr');
    await page.locator('.state-loading').waitFor({ state: 'detached' });
  };
  /** Waits until the first element matching `selector` has `name` = `value` (the page's CSP allows no string evaluation). */
  const attribute = (selector: string, name: string, value: string) =>
    eventually(async () => ((await page.locator(selector).first().getAttribute(name, { timeout: 1000 }).catch(() => null)) === value ? true : undefined), 15_000, `${selector} ${name}=${value}`);
  const byDuration = (xs: Sent[]) => [...xs].sort((a, b) => b.durationMs - a.durationMs || b.startMs - a.startMs);

  it('says "N of M shown" with M every matching trace, and orders the slowest of the whole range first', async () => {
    await page.goto(`${s.api}/search?q=${encodeURIComponent(SHOP)}`);
    await settled();
    assert.deepEqual(await shown(), { text: `20 of ${sent.length} shown`, shown: 20, total: sent.length });
    // Most recent first: the 20 newest traces, and the slowest is not among them.
    const newest = [...sent].sort((a, b) => b.startMs - a.startMs).slice(0, 20);
    assert.deepEqual(await rowIds(), newest.map((t) => t.traceId));
    const slowest = byDuration(sent)[0];
    assert.equal(slowest.durationMs, 900);
    assert.ok(!(await rowIds()).includes(slowest.traceId), 'the slowest trace is not on the page of the most recent');

    await page.click('[data-testid=order-slowest]');
    await page.waitForURL(/order=slowest/);
    await attribute('[data-testid=results] tbody tr', 'data-trace-id', slowest.traceId);
    assert.deepEqual(await rowIds(), byDuration(sent).slice(0, 20).map((t) => t.traceId));
    assert.deepEqual(await rowDurations(), byDuration(sent).slice(0, 20).map((t) => t.durationMs));
    assert.equal((await shown()).total, sent.length);
    assert.equal(await page.locator('[data-testid=sort-duration]').getAttribute('aria-sort'), 'descending');
    await page.waitForSelector('[data-testid=heatmap] rect.cell');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'search-slowest.png') });
  });

  it('draws a heatmap of every matching trace, whose cells sum to M', async () => {
    await page.waitForSelector('[data-testid=heatmap] rect.cell');
    const cells = await page.$$eval('[data-testid=heatmap] rect.cell', (rs) => rs.map((r) => Number(r.getAttribute('data-traces'))));
    assert.equal(cells.reduce((a, b) => a + b, 0), sent.length);
    assert.equal(Number(await page.locator('[data-testid=heatmap]').getAttribute('data-total')), sent.length);
    assert.ok(cells.length > 10, `spread over time and duration: ${cells.length} cells`);
  });

  it('opens compare from a brushed band of the heatmap, with that time and duration band', async () => {
    await page.goto(`${s.api}/search?q=${encodeURIComponent(SHOP)}`);
    const mapResponse = await page.waitForResponse((r) => r.url().includes('/api/sightline/search/heatmap'));
    const map = (await mapResponse.json()) as HeatmapJson;
    await page.waitForSelector('[data-testid=heatmap] rect.cell');
    const box = (await page.locator('[data-testid=heatmap] svg').boundingBox())!;
    // The plot inside the chart's padding (Heatmap.tsx: left 64, right 12, top 10, height 190 less 44).
    const plot = { x: box.x + 64, y: box.y + 10, width: box.width - 76, height: 146 };
    const layout = heatmapLayout(map, plot.width, plot.height);
    const at500 = layout.yTicks.find((t) => t.ns === 500 * MS);
    assert.ok(at500, 'a row starts at 500 ms');
    // From the top left down to just above 500 ms, across the whole range: every trace of 500 ms or more.
    const from = { x: 1, y: 1 };
    const to = { x: plot.width - 1, y: at500.y - 3 };
    const band = layout.band(from.x, from.y, to.x, to.y);
    assert.equal(band.minNs, 500 * MS);
    const inBand = sent.filter((t) => t.durationMs * MS >= band.minNs! && (band.maxNs === undefined || t.durationMs * MS < band.maxNs) && t.startMs >= band.startMs && t.startMs < band.endMs);
    assert.deepEqual(inBand.map((t) => t.durationMs).sort(), [700, 900]);
    assert.equal(band.traces, inBand.length, 'the heatmap counts what was sent');

    await page.mouse.move(plot.x + from.x, plot.y + from.y);
    await page.mouse.down();
    await page.mouse.move(plot.x + to.x, plot.y + to.y, { steps: 6 });
    assert.match(await page.locator('[data-testid=heatmap-hint]').innerText(), /Release to compare: 2 traces, 500 ms or more/);
    await page.mouse.up();
    await page.waitForURL(/\/compare\?/);
    const c = bandCompare(SHOP, band);
    const expected = formatRoute({ page: 'compare', state: { q: c.q, baseline: c.baseline, range: c.range } });
    const url = new URL(page.url());
    assert.equal(url.pathname + url.search, expected);
    assert.equal(c.q, '{ resource.service.name = "shop-frontend" && traceDuration >= 500ms }');
    assert.equal(c.baseline, SHOP);
    assert.ok(c.range.start <= Math.floor(band.startMs / 1000) && c.range.end >= Math.floor(band.endMs / 1000) && c.range.end - c.range.start <= 3601);
    await page.waitForSelector('[data-testid=compare-selection]');
  });

  it('changes the range with the time picker: relative and absolute, in the URL and in the results', async () => {
    await page.goto(`${s.api}/search?q=${encodeURIComponent(SHOP)}&order=slowest`);
    await settled();
    await page.click('[data-testid=range-15m]');
    await page.waitForURL(/range=15m/);
    const recent = sent.filter((t) => t.startMs > Date.now() - 15 * 60_000);
    assert.equal(recent.length, 49);
    await attribute('[data-testid=shown]', 'data-total', '49');
    assert.equal((await rowIds())[0], byDuration(recent)[0].traceId);
    assert.equal((await rowDurations())[0], 700);
    const recent20 = [...recent].sort((a, b) => b.startMs - a.startMs).slice(0, 20);
    assert.ok(!recent20.some((t) => t.durationMs === 700), 'the slowest of the last 15 minutes is not among its 20 most recent');

    // Absolute: 55 to 15 minutes ago holds the 100 old traces.
    const t0 = sent[0].startMs + 50 * 60_000;
    const fromS = Math.floor((t0 - 55 * 60_000) / 1000);
    const toS = Math.floor((t0 - 15 * 60_000) / 1000);
    await page.click('[data-testid=range-custom]');
    await page.fill('[data-testid=range-from]', formatLocalInput(fromS));
    await page.fill('[data-testid=range-to]', formatLocalInput(toS));
    await page.click('[data-testid=range-apply]');
    await page.waitForURL(new RegExp(`start=${fromS}&end=${toS}`));
    await attribute('[data-testid=shown]', 'data-total', '100');
    assert.equal((await rowIds())[0], byDuration(sent.slice(0, 100))[0].traceId);
    assert.equal((await shown()).text, '20 of 100 shown');
    assert.match(await page.locator('[data-testid=range-custom]').innerText(), new RegExp(formatLocalInput(fromS).replace('T', ' ')));
  });

  it('refreshes on demand and on a timer, with the interval in the URL', async () => {
    await page.goto(`${s.api}/search?q=${encodeURIComponent(SHOP)}&range=15m`);
    await settled();
    let searches = 0;
    page.on('request', (r) => void (r.url().includes('/api/sightline/search?') && searches++));
    await page.click('[data-testid=refresh]');
    await eventually(async () => (searches >= 1 ? true : undefined), 5000, 'a search on refresh');
    await page.selectOption('[data-testid=auto-refresh]', '10s');
    await page.waitForURL(/refresh=10s/);
    const before = searches;
    await eventually(async () => (searches >= before + 2 ? true : undefined), 25_000, 'two searches on the 10 s timer');
    await page.selectOption('[data-testid=auto-refresh]', 'off');
    await page.waitForURL((u) => !u.search.includes('refresh='));
  });

  it('draws TraceQL metrics as time series matching /api/metrics/query_range', async () => {
    const q = `${SHOP} | count_over_time() by(span.http.route)`;
    const responseP = page.waitForResponse((r) => r.url().includes('/api/metrics/query_range'));
    await page.goto(`${s.api}/search?q=${encodeURIComponent(q)}`);
    const response = await responseP;
    await page.waitForSelector('[data-testid=metrics-chart] path.metric-line');
    // The same question straight to the API.
    const api = (await (await fetch(response.url())).json()) as QueryRangeJson;
    const series = api.series ?? [];
    assert.equal(series.length, 3);
    const nameOf = (s: (typeof series)[number]) => `{${(s.labels ?? []).map((l) => `${l.key}=${JSON.stringify(l.value.stringValue)}`).join(', ')}}`;
    assert.deepEqual(
      await page.$$eval('[data-testid=metrics-chart] path.metric-line', (ps) => ps.map((p) => p.getAttribute('data-series'))),
      series.map(nameOf),
    );
    assert.deepEqual(
      (await page.$$eval('[data-testid=metrics-legend] [data-series]', (xs) => xs.map((x) => x.getAttribute('data-series')))).sort(),
      ['{span.http.route="/cart"}', '{span.http.route="/list"}', '{span.http.route="/pay"}'],
    );
    // Every shop trace's root span counted once.
    const total = series.reduce((n, s) => n + (s.samples ?? []).reduce((m, x) => m + x.value, 0), 0);
    assert.equal(total, sent.length);

    // Hover the busiest bucket: the values shown are the API's (0 where a series has no sample).
    const url = new URL(response.url());
    const stepMs = Number(url.searchParams.get('step')!.replace(/s$/, '')) * 1000;
    const first = Math.floor((Number(url.searchParams.get('start')) * 1000) / stepMs) * stepMs;
    const n = Math.ceil((Number(url.searchParams.get('end')) * 1000 - first) / stepMs);
    const byTime = new Map<number, number>();
    for (const s of series) for (const x of s.samples ?? []) byTime.set(Number(x.timestampMs), (byTime.get(Number(x.timestampMs)) ?? 0) + x.value);
    const [busiest] = [...byTime].sort((a, b) => b[1] - a[1])[0];
    const index = (busiest - first) / stepMs;
    const box = (await page.locator('[data-testid=metrics-chart] svg').boundingBox())!;
    const plotW = box.width - 72 - 16;
    await page.mouse.move(box.x + 72 + (index / (n - 1)) * plotW, box.y + 100);
    await attribute('[data-testid=metrics-hover]', 'data-time', String(busiest));
    const hovered = Object.fromEntries(
      await page.$$eval('[data-testid=metrics-hover] [data-series]', (xs) => xs.map((x) => [x.getAttribute('data-series'), Number(x.getAttribute('data-value'))] as const)),
    );
    const expected = Object.fromEntries(series.map((s) => [nameOf(s), s.samples?.find((x) => Number(x.timestampMs) === busiest)?.value ?? 0]));
    assert.deepEqual(hovered, expected);
    assert.equal(await page.locator('[data-testid=series-count]').innerText().then((t) => t.split(' ')[0]), '3');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'search-metrics.png') });
  });

  it('shows the series cap as a clear error, not an empty chart', async () => {
    await page.goto(`${s.api}/search?q=${encodeURIComponent('{ resource.service.name = "batch-job" } | count_over_time() by(span.item)')}`);
    const alert = page.locator('.state-error');
    await alert.waitFor();
    assert.match(await alert.innerText(), /Too many series to answer/);
    assert.match(await alert.innerText(), /more than 1000 series/);
    assert.equal(await page.locator('[data-testid=metrics-chart]').count(), 0);
  });

  it('finds the slowest trace of the last 15 minutes in three clicks', async () => {
    await page.goto(`${s.api}/search`);
    await settled();
    await page.click('[data-testid=range-15m]'); // 1
    await page.waitForURL(/range=15m/);
    await settled();
    await page.click('[data-testid=order-slowest]'); // 2
    await page.waitForURL(/order=slowest/);
    await attribute('[data-testid=results] tbody tr', 'data-duration-ms', '700');
    await page.click('[data-testid=results] tbody tr >> nth=0'); // 3
    const slowest = byDuration(sent.filter((t) => t.startMs > Date.now() - 15 * 60_000))[0];
    await page.waitForURL(new RegExp(`/trace/${slowest.traceId}`));
    assert.deepEqual(pageErrors, []);
  });
});
