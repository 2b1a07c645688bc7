import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { context, trace, SpanKind, type Context, type HrTime, type Tracer } from '@opentelemetry/api';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startSightline, eventually, REPO_ROOT, type Sightline } from '../testkit/sightline.js';
import { plantDeployChange } from '../testkit/deploy-change.js';
import { deployCompareLink } from '../web/src/model/index.js';

/**
 * The compare page in Debian's chromium against a live Sightline, filled by
 * the real OpenTelemetry SDK with a planted cause: every slow request runs
 * in eu-west, and so do a few fast ones. Around the cause sit what drowned
 * it before: ephemeral ports of kept-alive connections, client addresses,
 * request ids and URLs with patient ids, each a value per connection or
 * record; and stand-ins with exactly the cause's traces (the eu-west hosts
 * and instances, the eu-west billing port).
 */

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = mkdtempSync(path.join(os.tmpdir(), 'sightline-ui-compare-'));
const TRACES = 120;
const SELECTION = '{ resource.service.name = "gateway" && kind = server && duration > 200ms }';
const BASELINE = '{ resource.service.name = "gateway" && kind = server && duration <= 200ms }';
/** Keys whose values name a connection, peer, request or record. */
const IDENTIFIER_KEYS = ['span.network.peer.port', 'span.client.address', 'span.request.id', 'span.url.full'];

const ms = (epochMs: number): HrTime => [Math.floor(epochMs / 1000), Math.round((epochMs % 1000) * 1e6)];

/** What request `i` is: slow ones are all in eu-west, and some fast ones too. */
function plan(i: number): { slow: boolean; region: 'eu-west' | 'us-east'; instance: number } {
  const slow = i % 4 === 0;
  return { slow, region: slow || i % 9 === 1 ? 'eu-west' : 'us-east', instance: i % 3 };
}
/** The load driver's kept-alive connections: ten per gateway, each request on the next. */
const peerPort = (i: number) => (plan(i).region === 'eu-west' ? 51_000 : 53_000) + (Math.floor(i / 4) % 10);
const PLANTED = (() => {
  const all = Array.from({ length: TRACES }, (_, i) => ({ ...plan(i), port: peerPort(i) }));
  const fast = all.filter((p) => !p.slow);
  const slow = all.filter((p) => p.slow);
  return {
    slow: slow.length,
    fast: fast.length,
    fastInEu: fast.filter((p) => p.region === 'eu-west').length,
    ports: { selection: new Set(slow.map((p) => p.port)).size, baseline: new Set(fast.map((p) => p.port)).size },
  };
})();

class Services {
  private providers = new Map<string, BasicTracerProvider>();
  constructor(private s: Sightline) {}
  /** One provider per service instance: the resource says where it runs. */
  tracer(service: 'gateway' | 'billing', region: string, instance: number): Tracer {
    const host = region === 'eu-west' ? `${service}-eu-1` : `${service}-us-${instance + 1}`;
    let p = this.providers.get(host);
    if (!p) {
      p = new BasicTracerProvider({
        resource: resourceFromAttributes({ 'service.name': service, 'cloud.region': region, 'host.name': host, 'service.instance.id': `${host}-0a1b` }),
        spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${this.s.otlpHttp}/v1/traces` }), { maxExportBatchSize: 1000, scheduledDelayMillis: 100 })],
      });
      this.providers.set(host, p);
    }
    return p.getTracer('ui-compare', '1.0.0');
  }
  async flush(): Promise<void> {
    await Promise.all([...this.providers.values()].map((p) => p.forceFlush()));
    await Promise.all([...this.providers.values()].map((p) => p.shutdown()));
  }
}

/** gateway GET /visit -> billing GET /balance -> SELECT invoices. */
function visit(services: Services, t0: number, i: number): void {
  const { slow, region, instance } = plan(i);
  const gateway = services.tracer('gateway', region, 0);
  const billing = services.tracer('billing', region, instance);
  const dbMs = slow ? 380 + (i % 7) * 15 : 20 + (i % 5) * 8;
  const total = dbMs + 40;
  const patient = 100 + ((i * 7) % 60);
  const root = gateway.startSpan(
    'GET /visit/:patient',
    {
      kind: SpanKind.SERVER,
      startTime: ms(t0),
      attributes: {
        'http.route': '/visit/:patient',
        'tenant.id': ['acme', 'globex', 'initech'][i % 3],
        'network.peer.port': peerPort(i),
        'client.address': `10.1.${i}.${(i * 7) % 250}`,
        'request.id': `req-${(i * 2_654_435_761) % 4_294_967_296}`,
        'url.full': `http://gateway:8080/visit/${patient}`,
      },
    },
    context.active(),
  );
  const rootCtx: Context = trace.setSpan(context.active(), root);
  const call = gateway.startSpan('GET /balance', { kind: SpanKind.CLIENT, startTime: ms(t0 + 5) }, rootCtx);
  const callCtx = trace.setSpan(rootCtx, call);
  const server = billing.startSpan(
    'GET /balance',
    { kind: SpanKind.SERVER, startTime: ms(t0 + 8), attributes: { 'server.port': region === 'eu-west' ? 7001 : 7002 + instance, 'invoice.count': slow ? 40 + (i % 10) : 1 + (i % 9) } },
    callCtx,
  );
  const db = billing.startSpan('SELECT invoices', { kind: SpanKind.CLIENT, startTime: ms(t0 + 12), attributes: { 'db.system': 'postgresql', 'db.statement': 'SELECT * FROM invoices WHERE patient_id = $1' } }, trace.setSpan(callCtx, server));
  db.end(ms(t0 + 12 + dbMs));
  server.end(ms(t0 + 16 + dbMs));
  call.end(ms(t0 + 20 + dbMs));
  root.end(ms(t0 + total));
}

const share = (n: number, of: number) => `${Math.round((n / of) * 100)}%`;
/** "(45% of it)", "<1%", ">99%" as a number to check bounds, or null for "(faster)". */
const percentOf = (text: string): number | null => {
  const m = /\((<|>)?(\d+)% of it\)/.exec(text);
  return m ? Number(m[2]) : null;
};

describe('compare page in chromium', { timeout: 120_000 }, () => {
  let s: Sightline;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  before(async () => {
    if (!existsSync(CHROMIUM)) execFileSync(process.execPath, [path.join(REPO_ROOT, 'scripts', 'chromium.mjs')], { stdio: 'inherit' });
    s = await startSightline({ args: ['--flush-interval', '200ms'] });
    const services = new Services(s);
    const now = Date.now();
    for (let i = 0; i < TRACES; i++) visit(services, now - 30 * 60_000 + i * 12_000, i);
    await services.flush();
    await eventually(
      async () => {
        const r = (await (await fetch(`${s.api}/api/search?q=${encodeURIComponent('{ name = "SELECT invoices" }')}&limit=500`)).json()) as { traces?: unknown[] };
        return (r.traces?.length ?? 0) === TRACES ? true : undefined;
      },
      20_000,
      'every visit to be searchable',
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
    rmSync(SHOTS, { recursive: true, force: true });
  });

  it('ranks the planted cause first, with no port, address or id value above it, and says which keys it grouped', async () => {
    await page.goto(`${s.api}/compare?q=${encodeURIComponent(SELECTION)}&baseline=${encodeURIComponent(BASELINE)}`);
    await page.waitForSelector('[data-testid=compare-attributes] [data-testid=attr-row]');
    const rows = page.locator('[data-testid=compare-attributes] [data-testid=attr-row]');
    const top = rows.first();
    assert.equal(await top.getAttribute('data-attribute'), 'resource.cloud.region = "eu-west"');
    assert.equal(await top.getAttribute('data-grouped'), null);
    // Its shares are the planted counts: every slow request, and the fast ones in eu-west.
    assert.equal(await top.locator('[data-testid=attr-shares]').innerText(), `${share(PLANTED.slow, PLANTED.slow)} vs ${share(PLANTED.fastInEu, PLANTED.fast)}`);

    // Every row, including those that set nothing apart (opened on demand).
    const weak = page.locator('.weak-rows > summary');
    if ((await weak.count()) > 0) await weak.click();
    const all = await page.locator('[data-testid=compare-attributes] [data-testid=attr-row]').evaluateAll((els) =>
      els.map((e) => ({
        attribute: e.getAttribute('data-attribute') ?? '',
        grouped: e.getAttribute('data-grouped') === 'true',
        summary: e.querySelector('[data-testid=group-summary]')?.textContent ?? '',
        shares: e.querySelector('[data-testid=attr-shares]')?.textContent ?? '',
      })),
    );
    const key = (attribute: string) => attribute.split(' = ')[0];
    for (const k of IDENTIFIER_KEYS) {
      const of = all.filter((r) => key(r.attribute) === k);
      assert.equal(of.length, 1, `${k}: one row for the key, not one per value: ${JSON.stringify(of)}`);
      assert.ok(of[0].grouped, `${k} is grouped`);
      assert.match(of[0].summary, /^\d+ distinct values (in each group|in the selection, \d+ in the baseline), high-cardinality — grouped$/, k);
    }
    assert.match(all.find((r) => r.attribute === 'span.network.peer.port')!.summary, new RegExp(`^${PLANTED.ports.selection} distinct values in the selection, ${PLANTED.ports.baseline} in the baseline`));
    // A count with many values is one row too: its distribution is in the numeric table.
    assert.ok(all.find((r) => r.attribute === 'span.invoice.count')?.grouped, JSON.stringify(all.map((r) => r.attribute)));
    // Shares are within 0-100%, and say "<1%" rather than a 0% that is not zero.
    for (const r of all) {
      for (const m of r.shares.matchAll(/(<|>)?(\d+)%/g)) assert.ok(Number(m[2]) >= 0 && Number(m[2]) <= 100, r.shares);
    }
    await page.screenshot({ path: path.join(SHOTS, 'compare-ranking.png'), fullPage: true });
  });

  it('shows the values found in exactly the cause\'s traces inline', async () => {
    const top = page.locator('[data-testid=compare-attributes] [data-testid=attr-row]').first();
    const same = top.locator('[data-testid=same-traces]');
    assert.match(await same.innerText(), /^same traces as 5 other values: /);
    await top.locator('[data-testid=same-toggle]').click();
    const values = await top.locator('[data-testid=same-value]').allInnerTexts();
    assert.deepEqual(values.sort(), [
      'resource.host.name = billing-eu-1',
      'resource.host.name = gateway-eu-1',
      'resource.service.instance.id = billing-eu-1-0a1b',
      'resource.service.instance.id = gateway-eu-1-0a1b',
      'span.server.port = 7001',
    ]);
  });

  it('explains the numeric table in words, with ports ranked after every measurement', async () => {
    const rows = page.locator('[data-testid=numeric-row]');
    const keys = await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-key') ?? ''));
    const firstPort = keys.findIndex((k) => k.endsWith('.port'));
    assert.ok(firstPort > 0 && keys.slice(firstPort).every((k) => k.endsWith('.port')), `ports last: ${keys}`);
    const invoices = rows.filter({ has: page.locator('code', { hasText: 'span.invoice.count' }) });
    // Slow requests have 40-49 invoices, fast ones 1-9: all of one group is above all of the other.
    assert.match(await invoices.locator('td').nth(3).innerText(), /^The selection's values are mostly higher: 100% of selected spans vs 0% of baseline spans are above \d+\.$/);
    assert.match(await rows.nth(firstPort).locator('td').nth(3).innerText(), /^Not ranked: port numbers name connections/);
  });

  it('gives each operation a share of the added time within 0-100%', async () => {
    await page.waitForSelector('[data-testid=path-row]');
    assert.match((await page.locator('[data-testid=path-row]').first().getAttribute('data-operation')) ?? '', /^billing: SELECT invoices$/);
    const texts = await page.locator('[data-testid=path-share]').allInnerTexts();
    assert.ok(texts.length >= 3);
    let sum = 0;
    for (const t of texts) {
      const p = percentOf(t);
      assert.ok(p === null ? /\(faster\)/.test(t) : p >= 0 && p <= 100, t);
      assert.doesNotMatch(t, /\(0% of it\)/);
      if (p !== null) sum += p;
    }
    assert.ok(sum <= 100 + texts.length, `shares add up to about 100%: ${texts}`);
  });

  it('draws the whole range in two colours, says how it sampled, and keeps a brushed band after release', async () => {
    await page.goto(`${s.api}/compare`);
    await page.waitForSelector('[data-testid=latency-brush] circle');
    assert.equal(await page.locator('[data-testid=latency-brush] circle').count(), TRACES);
    assert.equal(await page.locator('[data-testid=latency-caption]').innerText(), `${TRACES} traces in the range.`);
    const chart = (await page.locator('[data-testid=latency-brush] svg').boundingBox())!;
    // The slow traces sit in the upper half of the log scale: drag from the top to the middle.
    await page.mouse.move(chart.x + chart.width / 2, chart.y + 10);
    await page.mouse.down();
    await page.mouse.move(chart.x + chart.width / 2, chart.y + 10 + (190 - 44) * 0.45, { steps: 5 });
    await page.mouse.up();
    assert.equal(await page.locator('[data-testid=brush-band]').count(), 1, 'the band stays after release');
    await page.waitForURL(/\/compare\?q=.*traceDuration/);
    await page.waitForSelector('[data-testid=latency-brush] circle.dot-selection');
    assert.equal(await page.locator('[data-testid=brush-band]').count(), 1, 'and once the comparison shows');
    assert.equal(await page.locator('[data-testid=latency-brush] circle.dot-selection').count(), PLANTED.slow);
    assert.equal(await page.locator('[data-testid=latency-brush] circle.dot-baseline').count(), PLANTED.fast);
    assert.equal(await page.locator('[data-testid=latency-caption]').innerText(), `Selection: ${PLANTED.slow} traces. Baseline: ${PLANTED.fast} traces. These are the traces compared below.`);
    // Runs in the page; the test compiles without DOM types.
    type InPage = { getComputedStyle(e: unknown): Record<string, string> };
    const colour = (selector: string, prop: 'fill' | 'backgroundColor') =>
      page.locator(selector).first().evaluate((e, p) => (globalThis as unknown as InPage).getComputedStyle(e)[p], prop);
    const [sel, base] = [await colour('circle.dot-selection', 'fill'), await colour('circle.dot-baseline', 'fill')];
    assert.match(sel, /^rgb/);
    assert.notEqual(sel, base, 'two colours');
    assert.equal(await colour('[data-testid=legend-selection]', 'backgroundColor'), sel, 'the legend says which is which');
    assert.equal(await colour('[data-testid=legend-baseline]', 'backgroundColor'), base);
    for (const axis of ['trace start', 'duration (log)']) assert.equal(await page.locator('[data-testid=latency-brush] text.axis-title', { hasText: axis }).count(), 1);
    // The brushed band selects the slow requests: the cause ranks first again.
    await page.waitForSelector('[data-testid=compare-attributes] [data-testid=attr-row]');
    assert.equal(await page.locator('[data-testid=compare-attributes] [data-testid=attr-row]').first().getAttribute('data-attribute'), 'resource.cloud.region = "eu-west"');
    await page.screenshot({ path: path.join(SHOTS, 'compare-brushed.png'), fullPage: true });
  });

  it('opens "what changed at this deploy" with two windows, states both, and ranks the planted change first', async () => {
    // Three hours ago, clear of the last hour the other tests read.
    const t = Math.floor((Date.now() / 1000 - 3 * 3600) / 60) * 60;
    const planted = await plantDeployChange(s.otlpHttp, { atS: t, service: 'shop' });
    await eventually(
      async () => {
        const r = (await (await fetch(`${s.api}/api/search?q=${encodeURIComponent('{ name = "GET /cart" }')}&start=${t - 7200}&end=${t + 7200}&limit=1000`)).json()) as { traces?: unknown[] };
        return r.traces?.length === planted.sent ? true : undefined;
      },
      20_000,
      'every planted trace to be searchable',
    );
    await page.goto(`${s.api}${deployCompareLink({ service: planted.service, at: t, version: planted.newVersion })}`);
    await page.waitForSelector('[data-testid=compare-attributes] [data-testid=attr-row]');
    await page.waitForSelector('[data-testid=path-row]');
    // Both windows, in the viewer's clock (this process and the browser share the time zone).
    const hm = (unixS: number) => {
      const d = new Date(unixS * 1000);
      return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
    };
    const sentence = await page.locator('[data-testid=compare-windows-sentence]').innerText();
    assert.match(sentence, new RegExp(`^After deploy of shop 2\\.0\\.0: .*${hm(t)}.*${hm(t + 3600)} vs before: .*${hm(t - 3600)}.*${hm(t)}$`));
    // The new version leads, with its new operation in the same traces; the critical path puts the added time on that operation.
    const top = page.locator('[data-testid=compare-attributes] [data-testid=attr-row]').first();
    assert.equal(await top.getAttribute('data-attribute'), `resource.service.version = "${planted.newVersion}"`);
    assert.equal(await top.locator('[data-testid=attr-shares]').innerText(), '100% vs 0%');
    assert.match(await top.locator('[data-testid=same-traces]').innerText(), new RegExp(`name = ${planted.slowOperation}`));
    const pathRow = page.locator('[data-testid=path-row]').first();
    assert.equal(await pathRow.getAttribute('data-operation'), `shop: ${planted.slowOperation}`);
    assert.match(await pathRow.locator('[data-testid=path-share]').innerText(), /^\+300 ?ms \(100% of it\)$/);
    // The chart draws each group in its own window: every baseline trace left of every selected one.
    await page.waitForSelector('[data-testid=latency-brush] circle.dot-selection');
    const xs = (group: string) => page.locator(`[data-testid=latency-brush] circle.dot-${group}`).evaluateAll((els) => els.map((e) => Number(e.getAttribute('cx'))));
    const [sel, base] = [await xs('selection'), await xs('baseline')];
    assert.deepEqual([sel.length, base.length], [planted.after, planted.before]);
    assert.ok(Math.max(...base) < Math.min(...sel), `${base} before ${sel}`);
    assert.equal(await page.locator('[data-testid=window-baseline]').count(), 1);
    // Example traces of the baseline are searched in its window.
    const example = new URL((await pathRow.locator('[data-testid=example-baseline]').getAttribute('href'))!, s.api);
    assert.deepEqual([example.searchParams.get('start'), example.searchParams.get('end')], [String(t - 3600), String(t)]);
    await page.screenshot({ path: path.join(SHOTS, 'compare-deploy.png'), fullPage: true });
    // One window again: the link drops the baseline's, and the page says nothing of two.
    await page.locator('[data-testid=one-window]').click();
    await page.waitForURL((u) => !u.searchParams.has('baselineStart'));
    assert.equal(await page.locator('[data-testid=compare-windows]').count(), 0);
  });

  it('threw no errors in the page', () => {
    assert.deepEqual(pageErrors, []);
  });
});
