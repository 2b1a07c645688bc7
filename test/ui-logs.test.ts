import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { context, trace } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startSightline, eventually, REPO_ROOT, type Sightline } from '../testkit/sightline.js';
import { AsyncLocalStorageContextManager } from '../testkit/context-manager.js';

/**
 * The Logs page and the trace view's logs, in Debian's chromium, against a
 * live Sightline filled by the real OpenTelemetry logs and trace SDKs:
 *
 * - the Logs page lists exactly the records sent, newest first, and its
 *   volume chart and legend count every one of them by severity;
 * - the severity, text and service filters narrow the list to the records
 *   that match, and nothing else;
 * - a record logged inside a span links to its trace, opened at that span,
 *   whose detail panel lists the span's own records; the trace's header
 *   links to "logs of this trace", which lists exactly its records.
 */

const CHROMIUM = '/usr/bin/chromium';

interface Sent {
  traceId: string;
  rootSpanId: string;
  childSpanId: string;
}

async function sendLogs(s: Sightline): Promise<Sent> {
  const logProviders: LoggerProvider[] = [];
  const logger = (service: string) => {
    const p = new LoggerProvider({ resource: resourceFromAttributes({ 'service.name': service }), processors: [new BatchLogRecordProcessor({ exporter: new OTLPLogExporter({ url: `${s.otlpHttp}/v1/logs` }) })] });
    logProviders.push(p);
    return p.getLogger('app');
  };
  const tracing = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': 'billing' }), spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${s.otlpHttp}/v1/traces` }))] });
  const tracer = tracing.getTracer('billing');
  const billing = logger('billing');
  const inventory = logger('inventory');

  const root = tracer.startSpan('POST /checkout');
  const rootCtx = trace.setSpan(context.active(), root);
  const child = tracer.startSpan('charge card', {}, rootCtx);
  context.with(rootCtx, () => {
    billing.emit({ severityNumber: SeverityNumber.INFO, severityText: 'INFO', body: 'checkout started', attributes: { 'order.id': 42 } });
    context.with(trace.setSpan(context.active(), child), () => {
      billing.emit({ severityNumber: SeverityNumber.WARN, severityText: 'WARN', body: 'payment retry 1' });
      billing.emit({ severityNumber: SeverityNumber.ERROR, severityText: 'ERROR', body: 'card declined by issuer', attributes: { 'decline.code': 'insufficient_funds' } });
    });
  });
  child.end();
  root.end();
  for (let i = 0; i < 4; i++) billing.emit({ severityNumber: SeverityNumber.DEBUG, severityText: 'DEBUG', body: `background sweep ${i}` });
  inventory.emit({ severityNumber: SeverityNumber.INFO, severityText: 'INFO', body: 'stock level recalculated' });
  inventory.emit({ severityNumber: SeverityNumber.WARN, severityText: 'WARN', body: 'stock low for sku 77' });
  for (const p of logProviders) await p.forceFlush();
  await tracing.forceFlush();
  for (const p of logProviders) await p.shutdown();
  await tracing.shutdown();
  return { traceId: root.spanContext().traceId, rootSpanId: root.spanContext().spanId, childSpanId: child.spanContext().spanId };
}

/** The bodies of the rows on the page, top to bottom, once `n` rows are shown. */
async function bodies(page: Page, n: number, within = '[data-testid=logs-page]'): Promise<string[]> {
  await page.waitForFunction(
    ([rows, count]) => {
      // Runs in the page, where `document` is the DOM (not a name this file's types know).
      const doc = (globalThis as unknown as { document: { querySelectorAll(s: string): { length: number }; querySelector(s: string): unknown } }).document;
      return doc.querySelectorAll(rows).length === count && !doc.querySelector('.state-loading');
    },
    [`${within} [data-testid=log-row]`, n] as const,
  );
  return page.locator(`${within} [data-testid=log-body]`).allTextContents();
}

describe('logs in the web UI, in chromium', { timeout: 180_000 }, () => {
  let s: Sightline;
  let browser: Browser;
  let page: Page;
  let sent: Sent;
  const pageErrors: string[] = [];

  before(async () => {
    if (!existsSync(path.join(REPO_ROOT, 'dist', 'web-ui', 'index.html'))) execFileSync('npm', ['run', 'build'], { cwd: REPO_ROOT, stdio: 'inherit' });
    context.setGlobalContextManager(new AsyncLocalStorageContextManager());
    s = await startSightline({ args: ['--flush-interval', '100ms'] });
    sent = await sendLogs(s);
    await eventually(async () => {
      const r = await fetch(`${s.api}/api/sightline/logs`);
      const j = (await r.json()) as { logs: unknown[] };
      const t = await fetch(`${s.api}/api/v2/traces/${sent.traceId}`);
      return j.logs.length === 9 && t.status === 200 ? true : undefined;
    }, 20_000, 'the records and the trace stored');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'], timeout: 60_000 });
    page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
    page.on('pageerror', (e) => pageErrors.push(String(e)));
  });

  after(async () => {
    await browser?.close();
    await s?.stop();
    s?.cleanup();
    context.disable();
  });

  it('lists every record, newest first, and counts them all by severity', async () => {
    await page.goto(`${s.api}/logs`);
    const shown = await bodies(page, 9);
    assert.deepEqual(
      [...shown].sort(),
      ['background sweep 0', 'background sweep 1', 'background sweep 2', 'background sweep 3', 'card declined by issuer', 'checkout started', 'payment retry 1', 'stock level recalculated', 'stock low for sku 77'],
    );
    assert.match((await page.locator('[data-testid=logs-meta]').textContent()) ?? '', /9 newest of 9 matching records/);
    const totals = Object.fromEntries(
      await Promise.all(['debug', 'info', 'warn', 'error'].map(async (sev) => [sev, Number(((await page.locator(`[data-testid=logs-total-${sev}]`).textContent()) ?? '').replace(/\D/g, ''))])),
    );
    assert.deepEqual(totals, { debug: 4, info: 2, warn: 2, error: 1 });
    const columns = await page.locator('.logs-volume-column').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-total'))));
    assert.equal(columns.length, 60);
    assert.equal(columns.reduce((a, b) => a + b, 0), 9, 'the chart counts every record');
    const levels = await page.locator('[data-testid=log-level]').allTextContents();
    assert.equal(levels.filter((l) => l === 'DEBUG').length, 4);
  });

  it('narrows by severity, text and service', async () => {
    await page.selectOption('[data-testid=logs-level]', 'warn');
    assert.deepEqual((await bodies(page, 3)).sort(), ['card declined by issuer', 'payment retry 1', 'stock low for sku 77']);
    assert.match(page.url(), /level=warn/);
    await page.fill('[data-testid=logs-service]', 'billing');
    await page.click('[data-testid=logs-run]');
    assert.deepEqual((await bodies(page, 2)).sort(), ['card declined by issuer', 'payment retry 1']);
    await page.fill('[data-testid=logs-text]', 'declined');
    await page.click('[data-testid=logs-run]');
    assert.deepEqual(await bodies(page, 1), ['card declined by issuer']);
    // A filter that does not parse is said to be invalid, with the server's reason.
    await page.fill('[data-testid=logs-q]', '{ body =~ "(" }');
    await page.click('[data-testid=logs-run]');
    await page.locator('[data-testid=logs-error]').waitFor();
    assert.match((await page.locator('[data-testid=logs-error]').textContent()) ?? '', /invalid regular expression/);
  });

  it("opens a record's trace at its span, whose panel lists the span's records", async () => {
    await page.goto(`${s.api}/logs?text=declined`);
    await bodies(page, 1);
    await page.locator('[data-testid=log-row]').first().click();
    await page.locator('[data-testid=log-detail]').waitFor();
    assert.match((await page.locator('[data-testid=log-detail]').textContent()) ?? '', /decline\.codeinsufficient_funds/);
    await page.click('[data-testid=log-trace-link]');
    await page.locator('[data-testid=trace-page]').waitFor();
    assert.ok(page.url().includes(`/trace/${sent.traceId}`) && page.url().includes(`span=${sent.childSpanId}`), page.url());
    const inPanel = await bodies(page, 2, '[data-testid=span-logs]');
    assert.deepEqual([...inPanel].sort(), ['card declined by issuer', 'payment retry 1']);
    // The records are marks on their spans' bars, at their times: inside the span they were logged in.
    const marks = async (spanId: string) =>
      page.locator(`[data-span-id="${spanId}"] .wf-log`).evaluateAll((els) => els.map((e) => [e.getAttribute('data-log'), Number(e.getAttribute('data-offset-ns'))] as [string, number]));
    await page.locator(`[data-span-id="${sent.childSpanId}"] .wf-log`).first().waitFor();
    const child = await marks(sent.childSpanId);
    assert.deepEqual(child.map(([sev]) => sev).sort(), ['error', 'warn']);
    const root = await marks(sent.rootSpanId);
    assert.deepEqual(root.map(([sev]) => sev), ['info']);
    for (const [, offset] of [...child, ...root]) assert.ok(offset >= 0 && offset < 60_000_000_000, String(offset));
    const link = page.locator('[data-testid=trace-logs-link]');
    assert.match((await link.textContent()) ?? '', /3 logs of this trace/);
    await link.click();
    await page.locator('[data-testid=logs-page]').waitFor();
    assert.deepEqual((await bodies(page, 3)).sort(), ['card declined by issuer', 'checkout started', 'payment retry 1']);
    assert.equal(new URL(page.url()).searchParams.get('q'), `{ trace:id = "${sent.traceId}" }`);
    assert.deepEqual(pageErrors, []);
  });
});
