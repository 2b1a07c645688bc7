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
import { plantDeployChange, type PlantedDeploy } from '../testkit/deploy-change.js';

/**
 * The Delivery page in Debian's chromium against a live Sightline, fed by
 * the real OpenTelemetry SDK with CI/CD spans shaped as the OpenTelemetry
 * CI/CD conventions name them (cicd.pipeline.*, vcs.ref.head.revision,
 * deployment.*, as Jenkins' OpenTelemetry plugin and GitLab send them on
 * spans; the producers themselves cannot run here):
 *
 * - checkout-ci runs six times over five hours; integration-tests fails on
 *   two revisions and passes when the same revision runs again (flaky on
 *   2 revisions); unit-tests is retried once within a run (flaky on 1);
 * - four runs deploy checkout (1.1.0 to 1.4.0) with a deployment span;
 *   1.4.0's says `failed`. Each deploy ends 20 minutes after the first
 *   span of its revision, except the two revisions that ran twice (80);
 * - after the last deploy, every checkout request calls a new, slow
 *   operation (testkit/deploy-change.ts): "What changed" must name it.
 *
 * The page must show those figures, the true ones, and open compare with
 * the hour after the deploy against the hour before.
 */

const CHROMIUM = '/usr/bin/chromium';
/** A temporary directory, kept with SIGHTLINE_KEEP_SCREENSHOTS=1 (as test/ui-services.test.ts). */
const SHOTS = mkdtempSync(path.join(os.tmpdir(), 'sightline-ui-delivery-'));
const MIN = 60_000;
const at = (epochMs: number): HrTime => [Math.floor(epochMs / 1000), Math.round((epochMs % 1000) * 1e6)];

/** What each run does: its revision, whether integration-tests passes, what it deploys. */
const RUNS = [
  { revision: 'r1', integration: true, deploy: '1.1.0' },
  { revision: 'r2', integration: false },
  { revision: 'r2', integration: true, deploy: '1.2.0' },
  { revision: 'r3', integration: false },
  { revision: 'r3', integration: true, deploy: '1.3.0' },
  { revision: 'r4', integration: true, deploy: '1.4.0', deployFails: true, unitRetried: true },
] as const;

type Run = { revision: string; integration: boolean; deploy?: string; deployFails?: boolean; unitRetried?: boolean };

class Producers {
  private providers: BasicTracerProvider[] = [];
  readonly ci: Tracer;
  readonly checkout: Tracer;
  constructor(s: Sightline) {
    this.ci = this.tracer(s, { 'service.name': 'jenkins', 'service.namespace': 'platform' });
    // The deployment span is the deployed service's: its resource names the service and its team.
    this.checkout = this.tracer(s, { 'service.name': 'checkout', 'service.namespace': 'payments' });
  }
  private tracer(s: Sightline, resource: Record<string, string>): Tracer {
    const p = new BasicTracerProvider({
      resource: resourceFromAttributes(resource),
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${s.otlpHttp}/v1/traces` }), { maxExportBatchSize: 1000, scheduledDelayMillis: 100 })],
    });
    this.providers.push(p);
    return p.getTracer('cicd', '1.0.0');
  }
  async flush(): Promise<void> {
    await Promise.all(this.providers.map((p) => p.forceFlush()));
    await Promise.all(this.providers.map((p) => p.shutdown()));
  }
}

/**
 * One pipeline run from `start`: build (with 30 s in the queue), unit-tests,
 * integration-tests, and when it passes, deploy with the service's
 * deployment span ending 20 minutes after the run started.
 */
function pipelineRun(p: Producers, runNumber: number, run: Run, start: number): void {
  const end = start + (run.integration ? 20 : 18) * MIN;
  const failed = !run.integration || run.deployFails === true;
  const root = p.ci.startSpan(
    'checkout-ci',
    {
      kind: SpanKind.SERVER,
      startTime: at(start),
      attributes: { 'cicd.pipeline.name': 'checkout-ci', 'cicd.pipeline.run.id': String(runNumber), 'cicd.pipeline.result': failed ? 'failure' : 'success', 'vcs.ref.head.revision': run.revision },
    },
    context.active(),
  );
  const ctx = trace.setSpan(context.active(), root);
  const task = (name: string, from: number, to: number, ok: boolean, parent: Context = ctx): Context => {
    const sp = p.ci.startSpan(name, { startTime: at(from), attributes: { 'cicd.pipeline.task.name': name, 'cicd.pipeline.task.run.id': `${runNumber}-${name}-${from}`, 'cicd.pipeline.task.run.result': ok ? 'success' : 'failure' } }, parent);
    sp.end(at(to));
    return trace.setSpan(parent, sp);
  };
  const build = task('build', start, start + 4 * MIN, true);
  p.ci.startSpan('queued', { startTime: at(start), attributes: { 'cicd.pipeline.run.state': 'pending' } }, build).end(at(start + 30_000));
  if (run.unitRetried) {
    task('unit-tests', start + 4 * MIN, start + 5 * MIN, false);
    task('unit-tests', start + 5 * MIN, start + 6 * MIN, true);
  } else task('unit-tests', start + 4 * MIN, start + 6 * MIN, true);
  task('integration-tests', start + 6 * MIN, start + 18 * MIN, run.integration);
  if (run.deploy) {
    const deploy = task('deploy', start + 18 * MIN, end, !run.deployFails);
    p.checkout
      .startSpan(
        'deploy checkout',
        {
          startTime: at(end - 90_000),
          attributes: {
            'deployment.id': `deploy-${runNumber}`,
            'deployment.name': 'checkout',
            'deployment.status': run.deployFails ? 'failed' : 'succeeded',
            'deployment.environment.name': 'production',
            'service.version': run.deploy,
            'vcs.ref.head.revision': run.revision,
          },
        },
        deploy,
      )
      .end(at(end));
  }
  root.end(at(end));
}

describe('delivery page in chromium', { timeout: 120_000 }, () => {
  let s: Sightline;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  // The last deploy, two hours ago on a whole minute: the hour after it has passed.
  const T = Math.floor((Date.now() - 2 * 3_600_000) / MIN) * MIN;
  let planted: PlantedDeploy;

  before(async () => {
    if (!existsSync(CHROMIUM)) execFileSync(process.execPath, [path.join(REPO_ROOT, 'scripts', 'chromium.mjs')], { stdio: 'inherit' });
    s = await startSightline({ args: ['--flush-interval', '200ms'] });
    const producers = new Producers(s);
    // Hourly runs; the last one's deploy ends at T.
    RUNS.forEach((run, i) => pipelineRun(producers, i + 1, run, T - 20 * MIN - (RUNS.length - 1 - i) * 60 * MIN));
    await producers.flush();
    planted = await plantDeployChange(s.otlpHttp, { atS: T / 1000, service: 'checkout', versioned: false });
    const count = async (q: string) =>
      ((await (await fetch(`${s.api}/api/search?q=${encodeURIComponent(q)}&start=${T / 1000 - 8 * 3600}&end=${T / 1000 + 7200}&limit=1000`)).json()) as { traces?: unknown[] }).traces?.length ?? 0;
    await eventually(async () => ((await count('{ name = "checkout-ci" }')) === RUNS.length && (await count('{ name = "GET /cart" }')) === planted.sent ? true : undefined), 20_000, 'every run and request to be searchable');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    const ctx = await browser.newContext({ viewport: { width: 1440, height: 1000 }, colorScheme: 'light' });
    page = await ctx.newPage();
    page.on('pageerror', (e) => pageErrors.push(String(e)));
  });

  after(async () => {
    await browser?.close();
    await s?.stop();
    s?.cleanup();
    if (process.env.SIGHTLINE_KEEP_SCREENSHOTS !== '1') rmSync(SHOTS, { recursive: true, force: true });
  });

  const cell = (row: ReturnType<Page['locator']>, id: string) => row.locator(`[data-testid=${id}]`).innerText();
  /** Waits for `selector`, failing at once with the page's error when a section shows one instead. */
  const shown = async (selector: string) => {
    await page.waitForSelector(`${selector}, .delivery-page .state-error`);
    const errors = await page.locator('.delivery-page .state-error').allInnerTexts();
    assert.deepEqual(errors, [], 'the page shows no error');
  };

  it('is in the navigation, and shows the four keys of each service as sent', async () => {
    await page.goto(`${s.api}/search`);
    await page.locator('[data-testid=nav-delivery]').click();
    await page.waitForURL(/\/delivery$/);
    await shown('[data-testid=dora-row]');
    const rows = page.locator('[data-testid=dora-row]');
    assert.deepEqual(await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-key'))), ['checkout']);
    const checkout = rows.first();
    assert.equal(await cell(checkout, 'dora-deployments'), '4');
    // Four in the 7 days shown.
    assert.equal(await cell(checkout, 'dora-frequency'), '4 / week');
    // Lead times 20, 80, 80 and 20 minutes: the p50 (floor(0.5 n)-th, as every quantile here) is 80.
    assert.equal(await cell(checkout, 'dora-lead-time'), '1 h 20 min');
    assert.equal(await cell(checkout, 'dora-change-failure'), '25% (1 of 4)');
    assert.equal(await cell(checkout, 'dora-restore'), '—');
  });

  it('per team, from the service.namespace of the deployed service', async () => {
    await page.locator('[data-testid=keys-by-team]').click();
    await page.waitForURL(/\/delivery\?by=team$/);
    const rows = page.locator('[data-testid=dora-row]');
    await shown('[data-testid=dora-row][data-key=payments]');
    assert.deepEqual(await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-key'))), ['payments']);
    assert.equal(await cell(rows.first(), 'dora-deployments'), '4');
    assert.equal(await cell(rows.first(), 'dora-change-failure'), '25% (1 of 4)');
  });

  it('lists every deployment, newest first, with the failed one marked', async () => {
    const rows = page.locator('[data-testid=deployment-row]');
    assert.deepEqual(await rows.evaluateAll((els) => els.map((e) => `${e.getAttribute('data-service')} ${e.getAttribute('data-version')}`)), ['checkout 1.4.0', 'checkout 1.3.0', 'checkout 1.2.0', 'checkout 1.1.0']);
    assert.deepEqual(await page.locator('[data-testid=deployment-outcome]').allInnerTexts(), ['failed: deployment failed', 'ok', 'ok', 'ok']);
  });

  it('shows where pipeline time goes: runs, queue, critical path, slowest and flakiest tasks, trend', async () => {
    await shown('[data-testid=pipeline]');
    const ci = page.locator('[data-testid=pipeline][data-pipeline=checkout-ci]');
    assert.equal(await page.locator('[data-testid=pipeline]').count(), 1);
    assert.equal(await ci.locator('[data-testid=pipeline-runs]').innerText(), '6 runs');
    assert.equal(await ci.locator('[data-testid=pipeline-success]').innerText(), '3 of 6 finished runs (50%)');
    // Six queue waits of 30 s, one a run.
    assert.match(await ci.locator('[data-testid=pipeline-queue]').innerText(), /: 30 s per run \(p50\), 30 s \(p95\), over 6 queued tasks$/);
    assert.equal(await ci.locator('[data-testid=pipeline-path-row]').first().getAttribute('data-operation'), 'integration-tests');
    const task = (table: string) => ci.locator(`[data-testid=${table}] [data-testid=task-row]`);
    assert.equal(await task('slowest-tasks').first().getAttribute('data-task'), 'integration-tests');
    assert.deepEqual(await task('flaky-tasks').evaluateAll((els) => els.map((e) => e.getAttribute('data-task'))), ['integration-tests', 'unit-tests']);
    assert.deepEqual(await ci.locator('[data-testid=flaky-tasks] [data-testid=task-flakiness]').allInnerTexts(), ['failed then passed on 2 revisions', 'failed then passed on 1 revision, 1 retry']);
    // The trend's bars hold every run.
    const bars = await ci.locator('[data-testid=pipeline-trend] rect.trend-bar > title').allTextContents();
    assert.equal(bars.reduce((n, t) => n + Number(/^(\d+) run/.exec(t)?.[1] ?? NaN), 0), RUNS.length);
    await page.screenshot({ path: path.join(SHOTS, 'delivery.png'), fullPage: true });
  });

  it('opens "What changed" at the last deploy in compare, the hour after against the hour before, naming the new slow operation', async () => {
    await page.locator('[data-testid=deployment-row][data-version="1.4.0"] [data-testid=what-changed]').click();
    await page.waitForURL(/\/compare\?/);
    const url = new URL(page.url());
    const t = T / 1000;
    assert.deepEqual(
      ['q', 'start', 'end', 'baselineStart', 'baselineEnd', 'event'].map((k) => url.searchParams.get(k)),
      ['{ resource.service.name = "checkout" && kind = server }', String(t), String(t + 3600), String(t - 3600), String(t), 'deploy of checkout 1.4.0'],
    );
    await page.waitForSelector('[data-testid=compare-attributes] [data-testid=attr-row]');
    await page.waitForSelector('[data-testid=path-row]');
    assert.match(await page.locator('[data-testid=compare-windows-sentence]').innerText(), /^After deploy of checkout 1\.4\.0: .+ vs before: .+$/);
    assert.equal(await page.locator('[data-testid=compare-attributes] [data-testid=attr-row]').first().getAttribute('data-attribute'), `name = "${planted.slowOperation}"`);
    assert.equal(await page.locator('[data-testid=path-row]').first().getAttribute('data-operation'), `checkout: ${planted.slowOperation}`);
    // Each hour holds the service's requests alone: not the pipeline run that deployed it, though its deployment span is checkout's.
    // The latency chart has its own read: wait until it has drawn (all its dots come in one render).
    await page.locator('[data-testid=latency-brush] circle.dot-selection').first().waitFor();
    await page.locator('[data-testid=latency-brush] circle.dot-baseline').first().waitFor();
    assert.equal(await page.locator('[data-testid=latency-brush] circle.dot-selection').count(), planted.after);
    assert.equal(await page.locator('[data-testid=latency-brush] circle.dot-baseline').count(), planted.before);
    await page.screenshot({ path: path.join(SHOTS, 'delivery-what-changed.png'), fullPage: true });
  });

  it('threw no errors in the page', () => {
    assert.deepEqual(pageErrors, []);
  });
});
