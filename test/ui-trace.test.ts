import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { context, trace, SpanKind, type Context, type HrTime, type Span, type Tracer } from '@opentelemetry/api';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startSightline, eventually, REPO_ROOT, type Sightline } from '../testkit/sightline.js';

/**
 * The trace view in Debian's chromium against a live Sightline filled by
 * the real OpenTelemetry SDK, asserting what is true of the traces sent:
 * which spans are on the critical path (a fan-out whose fast calls started
 * first, so the path's time-walk brushes them), where its time goes, the
 * trace's duration against its root's and search's, a server span that
 * outlasts its client and one on a clock 50 ms ahead, an exception event,
 * an 11,000-character value, and the name column's drag handle.
 */

const CHROMIUM = '/usr/bin/chromium';
const ms = (epochMs: number): HrTime => [Math.floor(epochMs / 1000), Math.round((epochMs % 1000) * 1e6)];
const RUN = Date.now().toString(36);
/** A value with a quote and a backslash, so add-to-search must quote and escape it. */
const REPORT_ID = `rep "${RUN}" \\ q3`;
const LONG_STATEMENT = `SELECT entry_id, amount, memo FROM ledger_entries WHERE account IN (${Array.from({ length: 2000 }, (_, k) => `'a${k}'`).join(', ')})`.slice(0, 11_000);

class Services {
  private providers = new Map<string, BasicTracerProvider>();
  constructor(private s: Sightline) {}
  tracer(service: string): Tracer {
    let p = this.providers.get(service);
    if (!p) {
      p = new BasicTracerProvider({
        resource: resourceFromAttributes({ 'service.name': service, 'host.name': `${service}-1` }),
        spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${this.s.otlpHttp}/v1/traces` }), { scheduledDelayMillis: 100 })],
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
  /** Span ids by a name of the test's own. */
  ids: Record<string, string>;
}

function spanIn(
  services: Services,
  ids: Record<string, string>,
  label: string,
  service: string,
  name: string,
  parent: Context,
  startMs: number,
  endMs: number,
  opts: { kind?: SpanKind; attributes?: Record<string, string | number> } = {},
): Context {
  const sp: Span = services.tracer(service).startSpan(name, { kind: opts.kind ?? SpanKind.INTERNAL, startTime: ms(startMs), attributes: opts.attributes }, parent);
  sp.end(ms(endMs));
  ids[label] = sp.spanContext().spanId;
  return trace.setSpan(parent, sp);
}

/**
 * A report page: a root and a wrapper, then three calls started in a loop
 * 0.4 ms apart (users, prefs, ledger), the slowest started last; the
 * ledger's one query holds 230 ms of the 300; then a render.
 * On the path: root, wrapper, the ledger call chain, render. Off it: users and prefs.
 */
function reportTrace(services: Services, t0: number): Sent {
  const ids: Record<string, string> = {};
  const rootSpan = services.tracer('web').startSpan('GET /report', { kind: SpanKind.SERVER, startTime: ms(t0), attributes: { 'report.id': REPORT_ID, 'http.route': '/report' } }, context.active());
  const root = trace.setSpan(context.active(), rootSpan);
  const load = spanIn(services, ids, 'load', 'web', 'load report', root, t0 + 5, t0 + 290);
  const users = spanIn(services, ids, 'usersClient', 'web', 'GET /users', load, t0 + 10, t0 + 60, { kind: SpanKind.CLIENT });
  spanIn(services, ids, 'usersServer', 'users', 'GET /users', users, t0 + 11, t0 + 59, { kind: SpanKind.SERVER });
  const prefs = spanIn(services, ids, 'prefsClient', 'web', 'GET /prefs', load, t0 + 10.4, t0 + 90, { kind: SpanKind.CLIENT });
  spanIn(services, ids, 'prefsServer', 'prefs', 'GET /prefs', prefs, t0 + 11, t0 + 89, { kind: SpanKind.SERVER });
  const ledger = spanIn(services, ids, 'ledgerClient', 'web', 'GET /ledger', load, t0 + 10.8, t0 + 250, { kind: SpanKind.CLIENT });
  // The ledger server's span is made before its child (which must be ended first in this helper), so its exception is added here.
  const ledgerServerSpan = services.tracer('ledger').startSpan('GET /ledger', { kind: SpanKind.SERVER, startTime: ms(t0 + 12) }, ledger);
  ledgerServerSpan.addEvent('cache miss', { 'cache.key': 'ledger:42' }, ms(t0 + 14));
  ledgerServerSpan.addEvent('exception', { 'exception.type': 'LedgerTimeout', 'exception.message': 'replica lagged 180 ms' }, ms(t0 + 200));
  const ledgerServer = trace.setSpan(ledger, ledgerServerSpan);
  spanIn(services, ids, 'entries', 'ledger', 'SELECT entries', ledgerServer, t0 + 15, t0 + 245, { kind: SpanKind.CLIENT, attributes: { 'db.system': 'postgresql', 'db.statement': LONG_STATEMENT } });
  ledgerServerSpan.end(ms(t0 + 249));
  ids.ledgerServer = ledgerServerSpan.spanContext().spanId;
  spanIn(services, ids, 'render', 'web', 'render', load, t0 + 252, t0 + 288);
  rootSpan.end(ms(t0 + 300));
  ids.root = rootSpan.spanContext().spanId;
  return { traceId: rootSpan.spanContext().traceId, ids };
}

/**
 * A balance page: the profile service's clock runs 50 ms ahead (its span
 * fits its call once shifted back), and billing's server span lasts 241 ms
 * under a 233 ms call, recorded running 8 ms past the root's end.
 */
function balanceTrace(services: Services, t0: number): Sent {
  const ids: Record<string, string> = {};
  const rootSpan = services.tracer('gateway').startSpan('GET /balance-page', { kind: SpanKind.SERVER, startTime: ms(t0), attributes: { 'test.run': RUN } }, context.active());
  const root = trace.setSpan(context.active(), rootSpan);
  const profile = spanIn(services, ids, 'profileClient', 'gateway', 'GET /profile', root, t0 + 20, t0 + 120, { kind: SpanKind.CLIENT });
  spanIn(services, ids, 'profileServer', 'profile', 'GET /profile', profile, t0 + 90, t0 + 170, { kind: SpanKind.SERVER });
  const balance = spanIn(services, ids, 'balanceClient', 'gateway', 'GET /balance', root, t0 + 160, t0 + 393, { kind: SpanKind.CLIENT });
  const billingSpan = services.tracer('billing').startSpan('GET /balance', { kind: SpanKind.SERVER, startTime: ms(t0 + 167) }, balance);
  const billing = trace.setSpan(balance, billingSpan);
  spanIn(services, ids, 'invoices', 'billing', 'SELECT invoices', billing, t0 + 170, t0 + 405, { kind: SpanKind.CLIENT });
  billingSpan.end(ms(t0 + 408));
  ids.billingServer = billingSpan.spanContext().spanId;
  rootSpan.end(ms(t0 + 400));
  ids.root = rootSpan.spanContext().spanId;
  return { traceId: rootSpan.spanContext().traceId, ids };
}

const row = (page: Page, spanId: string) => page.locator(`.wf-row[data-span-id="${spanId}"]`);

async function box(page: Page, selector: string) {
  const b = await page.locator(selector).boundingBox();
  assert.ok(b, `${selector} is on screen`);
  return b;
}

describe('the trace view in chromium', { timeout: 180_000 }, () => {
  let s: Sightline;
  let browser: Browser;
  let page: Page;
  let report: Sent;
  let balance: Sent;
  const pageErrors: string[] = [];

  before(async () => {
    if (!existsSync(CHROMIUM)) execFileSync(process.execPath, [path.join(REPO_ROOT, 'scripts', 'chromium.mjs')], { stdio: 'inherit' });
    s = await startSightline({ args: ['--flush-interval', '200ms'] });
    const services = new Services(s);
    const now = Date.now();
    report = reportTrace(services, now - 5 * 60_000);
    balance = balanceTrace(services, now - 4 * 60_000);
    await services.flush();
    for (const [t, n] of [
      [report, 10],
      [balance, 6],
    ] as const) {
      await eventually(
        async () => {
          const r = await fetch(`${s.api}/api/v2/traces/${t.traceId}`);
          if (r.status !== 200) return undefined;
          const j = (await r.json()) as { trace: { resourceSpans: { scopeSpans: { spans: unknown[] }[] }[] } };
          return j.trace.resourceSpans.reduce((a, rs) => a + rs.scopeSpans.reduce((b, ss) => b + ss.spans.length, 0), 0) === n ? true : undefined;
        },
        30_000,
        `trace ${t.traceId} to be stored`,
      );
    }
    await eventually(async () => {
      const r = (await (await fetch(`${s.api}/api/search?q=${encodeURIComponent(`{ span.test.run = "${RUN}" }`)}`)).json()) as { traces?: unknown[] };
      return (r.traces?.length ?? 0) >= 1 ? true : undefined;
    }, 15_000, 'the traces to be searchable');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
    page = await ctx.newPage();
    page.on('pageerror', (e) => pageErrors.push(String(e)));
  });

  after(async () => {
    await browser?.close();
    await s?.stop();
    s?.cleanup();
  });

  it('marks exactly the critical path, dims the parallel calls it did not wait for, and sums where its time went', async () => {
    await page.goto(`${s.api}/trace/${report.traceId}`);
    await page.waitForSelector('[data-testid=path-summary] [data-testid=path-contributor]');
    const roles = await page.locator('.wf-row').evaluateAll((els) => els.map((e) => [e.getAttribute('data-span-id'), e.getAttribute('data-path-role'), e.getAttribute('data-critical'), e.getAttribute('data-dimmed')]));
    const byLabel = Object.fromEntries(Object.entries(report.ids).map(([label, id]) => [label, roles.find((r) => r[0] === id)]));
    const critical = Object.keys(byLabel).filter((l) => byLabel[l]?.[2] === 'true').sort();
    assert.deepEqual(critical, ['entries', 'ledgerServer', 'load', 'render', 'root']);
    assert.equal(byLabel.ledgerClient?.[1], 'through', 'the ledger call is on the path, but holds only 2.2 ms of it itself');
    const dimmed = Object.keys(byLabel).filter((l) => byLabel[l]?.[3] === 'true').sort();
    assert.deepEqual(dimmed, ['prefsClient', 'prefsServer', 'usersClient', 'usersServer']);
    const opacity = await row(page, report.ids.usersClient).locator('.wf-bar').evaluate((e) => (globalThis as unknown as { getComputedStyle(e: unknown): { opacity: string } }).getComputedStyle(e).opacity);
    assert.ok(Number(opacity) < 0.6, `a dimmed bar is faint (opacity ${opacity})`);

    const top = page.locator('[data-testid=path-contributor]').first();
    assert.equal(await top.getAttribute('data-service'), 'ledger');
    assert.equal(await top.getAttribute('data-operation'), 'SELECT entries');
    const onPath = Number(await top.getAttribute('data-onpath-ns'));
    assert.ok(Math.abs(onPath - 230_000_000) < 1_000, `the planted query's 230 ms (${onPath} ns)`);
    assert.match(await top.innerText(), /77%\s*230 ms\s*ledger\s*SELECT entries/);
    // Clicking it selects the query.
    await top.click();
    await page.waitForSelector(`.wf-row.selected[data-span-id="${report.ids.entries}"]`);
  });

  it('marks the exception on its bar at its time, and explains every mark', async () => {
    const mark = row(page, report.ids.ledgerServer).locator('.wf-event.exception');
    assert.equal(await mark.count(), 1);
    assert.equal(Number(await mark.getAttribute('data-offset-ns')), 188_000_000, 'at 200 ms into the trace, 188 ms into the span');
    assert.match((await mark.getAttribute('title')) ?? '', /exception at \+188 ms .*\n.*LedgerTimeout: replica lagged 180 ms/s);
    const bar = (await row(page, report.ids.ledgerServer).locator('.wf-bar').boundingBox())!;
    const m = (await mark.boundingBox())!;
    const at = (m.x + m.width / 2 - bar.x) / bar.width;
    assert.ok(Math.abs(at - 188 / 237) < 0.02, `drawn at ${at} of the bar`);
    assert.equal(await row(page, report.ids.ledgerServer).locator('.wf-event:not(.exception)').count(), 1, 'the other event, plainly');
    const legend = await page.locator('[data-testid=marks-legend]').innerText();
    for (const word of ['critical', 'off the path', 'exception', 'event']) assert.ok(legend.includes(word), `the legend names ${word}: ${legend}`);
  });

  it('cuts an 11,000-character value behind "show more", and opens each span\u2019s details at their top', async () => {
    await row(page, report.ids.entries).click();
    const detail = page.locator('[data-testid=span-detail]');
    await detail.waitFor();
    const cell = detail.locator('tr[data-attribute="db.statement"] td').first();
    assert.ok((await cell.innerText()).length < 500, 'cut');
    const eventsTop = (await detail.locator('[data-testid=events]').boundingBox())!.y;
    const panelTop = (await detail.boundingBox())!.y;
    assert.ok(eventsTop - panelTop < 1000, `the events are a scroll away at most (${Math.round(eventsTop - panelTop)} px down)`);
    await cell.locator('[data-testid=show-more]').click();
    assert.ok((await cell.innerText()).length > 11_000, 'expanded to the whole value');
    // Scroll down the long value, then pick another span: its details start at the top.
    await detail.evaluate((e) => (e.scrollTop = 2000));
    assert.ok((await detail.evaluate((e) => e.scrollTop)) > 500);
    await row(page, report.ids.ledgerServer).click();
    // Waits go through locators: the page's CSP (script-src 'self') refuses waitForFunction's string predicates once they poll.
    await detail.locator('h2', { hasText: /^GET \/ledger$/ }).waitFor();
    assert.equal(await detail.evaluate((e) => e.scrollTop), 0);
    // Back on the query, its value is cut again.
    await row(page, report.ids.entries).click();
    assert.ok((await detail.locator('tr[data-attribute="db.statement"] td').first().innerText()).length < 500);
    // Keys wrap between words only.
    const key = detail.locator('tr[data-attribute="db.statement"] th');
    assert.equal(await key.locator('wbr').count(), 1);
  });

  it('links a span to its service and operation pages, and a value to search and compare', async () => {
    const detail = page.locator('[data-testid=span-detail]');
    const op = new URL((await detail.locator('[data-testid=operation-link]').getAttribute('href'))!, s.api);
    assert.equal(op.pathname, '/services/ledger');
    assert.equal(op.searchParams.get('operation'), 'SELECT entries');
    assert.ok(op.searchParams.has('start') || op.searchParams.has('range'), 'with a time range');
    assert.equal(new URL((await detail.locator('[data-testid=service-link]').getAttribute('href'))!, s.api).pathname, '/services/ledger');
    // The long value searches by its start.
    const long = new URL((await detail.locator('tr[data-attribute="db.statement"] [data-testid=add-to-search]').getAttribute('href'))!, s.api);
    assert.match(long.searchParams.get('q') ?? '', /^\{ span\.db\.statement =~ "SELECT entry_id.*\.\*" \}$/);

    await row(page, report.ids.root).click();
    await detail.locator('h2', { hasText: /^GET \/report$/ }).waitFor();
    const compare = new URL((await detail.locator('tr[data-attribute="report.id"] [data-testid=compare-by]').getAttribute('href'))!, s.api);
    assert.equal(compare.pathname, '/compare');
    const condition = `span.report.id = "rep \\"${RUN}\\" \\\\ q3"`;
    assert.equal(compare.searchParams.get('q'), `{ ${condition} }`);
    await detail.locator('tr[data-attribute="report.id"] [data-testid=add-to-search]').click();
    await page.waitForURL(/\/search\?/);
    assert.equal(new URL(page.url()).searchParams.get('q'), `{ ${condition} }`);
    const found = page.locator('[data-testid=results] tbody tr', { has: page.locator(`a[href*="${report.traceId}"]`) });
    await found.waitFor({ timeout: 15_000 });
    assert.equal(await page.locator('[data-testid=results] tbody tr').count(), 1, 'this trace, and only it');
  });

  it('resizes the name column by dragging and by keyboard, and keeps the width', async () => {
    await page.goto(`${s.api}/trace/${report.traceId}?span=${report.ids.entries}`);
    await page.waitForSelector('[data-testid=span-detail]');
    const name = `.wf-row[data-span-id="${report.ids.entries}"] .wf-name`;
    const before = (await box(page, name)).width;
    // With the details open at 1280×800, a deep row's name is not cut.
    const op = page.locator(`${name} .wf-op`);
    assert.ok(await op.evaluate((e) => e.scrollWidth <= e.clientWidth), 'SELECT entries shows whole');
    const handle = await box(page, '[data-testid=name-resizer]');
    await page.mouse.move(handle.x + handle.width / 2, handle.y + 200);
    await page.mouse.down();
    await page.mouse.move(handle.x + handle.width / 2 + 120, handle.y + 200, { steps: 5 });
    await page.mouse.up();
    const dragged = (await box(page, name)).width;
    assert.ok(Math.abs(dragged - before - 120) <= 2, `${before} -> ${dragged}`);
    // The grid lines move with it.
    const grid = await box(page, '.wf-grid');
    const timeline = await box(page, `.wf-row[data-span-id="${report.ids.entries}"] .wf-timeline`);
    assert.ok(Math.abs(grid.x - timeline.x) <= 2, 'the grid starts where the timeline does');
    await page.locator('[data-testid=name-resizer]').focus();
    await page.keyboard.press('ArrowLeft');
    assert.equal(await page.locator('[data-testid=name-resizer]').getAttribute('aria-valuenow'), String(Math.round(dragged - 16)));
    await page.reload();
    await page.waitForSelector(name);
    assert.ok(Math.abs((await box(page, name)).width - (dragged - 16)) <= 2, 'kept across a reload');
    await page.evaluate(`localStorage.removeItem('sightline.trace.nameColumn')`);
  });

  it('agrees on the duration in the header, on the root row and in search, and says why the root is shorter', async () => {
    await page.goto(`${s.api}/trace/${balance.traceId}`);
    await page.waitForSelector('[data-testid=trace-duration]');
    const header = page.locator('[data-testid=trace-duration]');
    assert.equal(Number(await header.getAttribute('data-ns')), 408_000_000, 'first start to last end');
    assert.match(await header.innerText(), /408 ms/);
    const rootDuration = page.locator('[data-testid=root-duration]');
    assert.match(await rootDuration.innerText(), /root span 400 ms/);
    assert.match((await rootDuration.getAttribute('title')) ?? '', /ends 8 ms after it/);
    assert.match(await row(page, balance.ids.root).locator('.wf-label').innerText(), /^400 ms/);
    await page.goto(`${s.api}/search?q=${encodeURIComponent(`{ span.test.run = "${RUN}" }`)}`);
    const found = page.locator('[data-testid=results] tbody tr', { has: page.locator(`a[href*="${balance.traceId}"]`) });
    await found.waitFor({ timeout: 15_000 });
    assert.match(await found.innerText(), /408 ms/);
  });

  it('draws corrected server spans inside their client calls, and says when one is longer than its call', async () => {
    await page.goto(`${s.api}/trace/${balance.traceId}`);
    await page.waitForSelector('[data-testid=skew-warning]');
    await page.waitForSelector('[data-testid=overrun-warning]');
    const barOf = (id: string) => box(page, `.wf-row[data-span-id="${id}"] .wf-bar`);
    const inside = async (child: string, parent: string) => {
      const c = await barOf(child);
      const p = await barOf(parent);
      return c.x >= p.x - 1 && c.x + c.width <= p.x + p.width + 1;
    };
    assert.ok(await inside(balance.ids.profileServer, balance.ids.profileClient), 'the skewed profile server sits inside its call');
    assert.ok(await inside(balance.ids.billingServer, balance.ids.balanceClient), 'the 241 ms billing server is cut at its 233 ms call');
    assert.ok(await inside(balance.ids.invoices, balance.ids.balanceClient), 'and so is its query');
    const rootBar = await barOf(balance.ids.root);
    assert.ok((await barOf(balance.ids.billingServer)).x + (await barOf(balance.ids.billingServer)).width <= rootBar.x + rootBar.width + 1, 'nothing past the root');
    assert.equal(await row(page, balance.ids.billingServer).locator('[data-mark=overrun]').count(), 1);
    assert.match((await row(page, balance.ids.billingServer).locator('[data-mark=overrun]').getAttribute('title')) ?? '', /241 ms inside a 233 ms gateway span \(8 ms more\)/);
    assert.match(await row(page, balance.ids.billingServer).locator('.wf-label').innerText(), /^241 ms/, 'the label keeps the span\u2019s real duration');
    assert.equal(await row(page, balance.ids.profileServer).locator('[data-mark=skew]').count(), 1);
    assert.equal(await row(page, balance.ids.billingServer).locator('[data-mark=skew]').count(), 0, 'starting the longer span with its call is no skew correction');
    const legend = await page.locator('[data-testid=marks-legend]').innerText();
    assert.ok(legend.includes('shifted for clock skew') && legend.includes('longer than its caller'), legend);
    // As recorded, the billing server runs past its call and the root.
    await page.locator('[data-testid=skew-warning] button').click();
    await page.waitForURL(/times=raw/);
    assert.ok(!(await inside(balance.ids.billingServer, balance.ids.balanceClient)), 'as recorded, it runs past its call');
  });

  it('threw no errors in the page', () => {
    assert.deepEqual(pageErrors, []);
  });
});
