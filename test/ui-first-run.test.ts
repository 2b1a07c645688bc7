import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { SpanKind } from '@opentelemetry/api';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPTraceExporter as OtlpHttpExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as OtlpGrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startSightline, eventually, REPO_ROOT, type Sightline } from '../testkit/sightline.js';

/**
 * A new user's first minutes, in Debian's chromium: Sightline starts empty;
 * the search page shows this host's OTLP endpoints (checked against the
 * ports Sightline bound, and by sending to them), an SDK snippet and the
 * demo; one span sent by the real OpenTelemetry SDK, configured from that
 * snippet, makes the panel give way to the result without a reload. Then a
 * search that matches nothing on a store that holds spans says so, and the
 * example query names the service that is really there.
 */

const CHROMIUM = '/usr/bin/chromium';
/** The service name the snippet sets. */
const SERVICE = 'my-service';

/** Exports one span with the SDK's OTLP/HTTP exporter, configured only by the environment variables the panel shows. */
async function sendFromSnippet(snippet: string, spanName: string): Promise<string> {
  const env = Object.fromEntries(
    snippet
      .split('\n')
      .map((l) => /^export (OTEL_[A-Z_]+)=(.*)$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1], m[2]]),
  );
  assert.deepEqual(Object.keys(env).sort(), ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_PROTOCOL', 'OTEL_SERVICE_NAME']);
  assert.equal(env.OTEL_EXPORTER_OTLP_PROTOCOL, 'http/protobuf');
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    // No url: the exporter reads OTEL_EXPORTER_OTLP_ENDPOINT and appends /v1/traces itself. (The
    // service name is applied by hand: OTEL_SERVICE_NAME is read by NodeSDK's detectors, not by this provider.)
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': env.OTEL_SERVICE_NAME }),
      spanProcessors: [new SimpleSpanProcessor(new OtlpHttpExporter())],
    });
    const span = provider.getTracer('first-run').startSpan(spanName, { kind: SpanKind.SERVER });
    span.end();
    await provider.forceFlush();
    await provider.shutdown();
    return span.spanContext().traceId;
  } finally {
    for (const k of Object.keys(env)) if (saved[k] === undefined) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

describe('first run in chromium', { timeout: 120_000 }, () => {
  let s: Sightline;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  before(async () => {
    if (!existsSync(CHROMIUM)) execFileSync(process.execPath, [path.join(REPO_ROOT, 'scripts', 'chromium.mjs')], { stdio: 'inherit' });
    s = await startSightline({ args: ['--flush-interval', '100ms'] });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
    ctx.setDefaultTimeout(20_000);
    page = await ctx.newPage();
    page.on('pageerror', (e) => pageErrors.push(String(e)));
  });

  after(async () => {
    await browser?.close();
    await s?.stop();
    s?.cleanup();
  });

  it('says the store is empty through the API, with the bound endpoints', async () => {
    const r = await fetch(`${s.api}/api/sightline/getting-started`);
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), {
      endpoints: {
        ui: `http://127.0.0.1:${s.ports.http}/`,
        otlpGrpc: `http://127.0.0.1:${s.ports.otlpGrpc}`,
        otlpHttp: `http://127.0.0.1:${s.ports.otlpHttp}`,
        otlpHttpTraces: `http://127.0.0.1:${s.ports.otlpHttp}/v1/traces`,
      },
      tokenRequired: false,
      clientCertificate: false,
      hasSpans: false,
    });
  });

  it('teaches on an empty store, then gives way to the first trace sent from its own snippet', async () => {
    await page.goto(`${s.api}/search`);
    const panel = page.locator('[data-testid=first-run]');
    await panel.waitFor();
    assert.equal(await page.getByText('Nothing matched').count(), 0, 'an empty store is not "nothing matched"');
    // The endpoints are the ports Sightline bound (from its own ready line), all three ephemeral and distinct.
    assert.equal(await page.locator('[data-testid=first-run-otlp-http]').innerText(), `http://127.0.0.1:${s.ports.otlpHttp}`);
    assert.equal(await page.locator('[data-testid=first-run-otlp-grpc]').innerText(), `http://127.0.0.1:${s.ports.otlpGrpc}`);
    assert.equal(
      await page.locator('[data-testid=first-run-demo]').innerText(),
      `npm run demo -- --fault b --otlp http://127.0.0.1:${s.ports.otlpHttp}/v1/traces --api http://127.0.0.1:${s.ports.http}`,
    );
    // No service exists, so the example query names none (it used to name "checkout").
    const placeholder = await page.locator('[data-testid=traceql]').getAttribute('placeholder');
    assert.equal(placeholder, '{ duration > 100ms }');
    if (process.env.SIGHTLINE_SCREENSHOTS === '1') await page.screenshot({ path: path.join(REPO_ROOT, 'docs', 'img', 'first-run.png'), fullPage: true });

    // The gRPC endpoint shown takes spans too (checked through the API, so the panel stays up meanwhile).
    const grpcSnippet = await page.locator('[data-testid=first-run-env-grpc]').textContent();
    const grpcUrl = /^export OTEL_EXPORTER_OTLP_ENDPOINT=(\S+)$/m.exec(grpcSnippet ?? '')?.[1];
    assert.equal(grpcUrl, `http://127.0.0.1:${s.ports.otlpGrpc}`);
    assert.match(grpcSnippet ?? '', /^export OTEL_EXPORTER_OTLP_PROTOCOL=grpc$/m);

    const traceId = await sendFromSnippet(await page.locator('[data-testid=first-run-env]').innerText(), 'GET /first');
    // No reload: the panel asks again by itself and the search runs when the span is stored.
    const row = page.locator(`[data-testid=results] tbody tr[data-trace-id="${traceId}"]`);
    await row.waitFor({ timeout: 20_000 });
    assert.equal(await panel.count(), 0);
    assert.equal(await page.locator('[data-testid=results] tbody tr').count(), 1);
    assert.equal(await row.locator('td').first().innerText(), SERVICE);

    // Now the gRPC endpoint from the snippet, with the SDK's gRPC exporter.
    const provider = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': 'sent-over-grpc' }), spanProcessors: [new SimpleSpanProcessor(new OtlpGrpcExporter({ url: grpcUrl }))] });
    const grpcSpan = provider.getTracer('first-run').startSpan('GET /second');
    grpcSpan.end();
    await provider.forceFlush();
    await provider.shutdown();
    await eventually(async () => {
      const r = await fetch(`${s.api}/api/v2/traces/${grpcSpan.spanContext().traceId}`);
      return r.status === 200 ? true : undefined;
    }, 15_000, 'the span sent to the gRPC endpoint shown');
  });

  it('on a store that holds spans, a search that matches nothing says so, and the example names a real service', async () => {
    const r = (await (await fetch(`${s.api}/api/sightline/getting-started`)).json()) as { hasSpans: boolean };
    assert.equal(r.hasSpans, true);
    await page.goto(`${s.api}/search?q=${encodeURIComponent('{ resource.service.name = "no-such-service" }')}`);
    await page.getByText('No traces found').waitFor();
    assert.equal(await page.locator('[data-testid=first-run]').count(), 0);
    await page.goto(`${s.api}/search`);
    await page.locator('[data-testid=results] tbody tr').first().waitFor();
    await page.waitForFunction(`document.querySelector('[data-testid=traceql]').placeholder.includes('${SERVICE}')`);
    assert.equal(await page.locator('[data-testid=traceql]').getAttribute('placeholder'), `{ resource.service.name = "${SERVICE}" && duration > 100ms }`);
    assert.deepEqual(pageErrors, []);
  });
});
