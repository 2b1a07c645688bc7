import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { SpanKind, SpanStatusCode, context, trace, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { eventually, startSightline, tempDir, type Sightline } from '../testkit/sightline.js';
import type { DeliveryJson, DeploymentJson, PipelinesJson } from '../src/delivery/wire.js';

/**
 * The Delivery API end to end. Pipeline runs shaped as the Collector's
 * GitHub receiver sends them (the run's root span and one resource per
 * job, a `queue-<job>` span with cicd.pipeline.run.queue.duration, step
 * spans with cicd.pipeline.task.name; a re-run is a new trace with the same
 * cicd.pipeline.run.id), a deploy script's span with deployment.* under the
 * deploy step, services whose service.version or nomad.job.version change,
 * all through the OpenTelemetry JS SDK; and an SLO alert that really fires
 * and resolves after the last deployment. The figures asserted are the
 * ones planted.
 */

const MIN = 60_000;
const HOUR = 60 * MIN;
const T = Math.floor(Date.now() / MIN) * MIN;

/** Tracers per resource, each with its own exporter (the GitHub receiver sends one resource per run and per job). */
class Emitter {
  private providers: BasicTracerProvider[] = [];
  constructor(private readonly url: string) {}

  tracer(resource: Attributes): Tracer {
    const p = new BasicTracerProvider({
      resource: resourceFromAttributes(resource),
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: this.url }), { scheduledDelayMillis: 100, maxExportBatchSize: 512 })],
    });
    this.providers.push(p);
    return p.getTracer('delivery-test');
  }

  async close(): Promise<void> {
    await Promise.all(this.providers.map((p) => p.shutdown()));
    this.providers = [];
  }
}

interface SpanSpec {
  name: string;
  start: number;
  end: number;
  parent?: Span;
  kind?: SpanKind;
  attributes?: Attributes;
  /** The GitHub conclusion: success -> OK, failure -> ERROR; the message is the conclusion. */
  conclusion?: 'success' | 'failure';
}

function emit(tracer: Tracer, s: SpanSpec): Span {
  const ctx = s.parent ? trace.setSpan(context.active(), s.parent) : context.active();
  const span = tracer.startSpan(s.name, { kind: s.kind ?? SpanKind.INTERNAL, startTime: s.start, attributes: s.attributes }, ctx);
  if (s.conclusion) span.setStatus({ code: s.conclusion === 'success' ? SpanStatusCode.OK : SpanStatusCode.ERROR, message: s.conclusion });
  span.end(s.end);
  return span;
}

const REPO = { 'service.name': 'checkout', 'vcs.repository.name': 'checkout', 'vcs.vendor.name': 'github', 'vcs.ref.head': 'main', 'vcs.ref.head.type': 'branch' };

/** A workflow run's root span, as the receiver makes it from a workflow_run event. */
function workflowRun(e: Emitter, a: { name: string; runId: number; revision: string; start: number; end: number; conclusion: 'success' | 'failure' }): Span {
  const tracer = e.tracer({
    ...REPO,
    'vcs.ref.head.revision': a.revision,
    'cicd.pipeline.name': a.name,
    'cicd.pipeline.run.id': a.runId,
    'cicd.pipeline.run.url.full': `https://github.com/shop/checkout/actions/runs/${a.runId}`,
    'cicd.pipeline.run.status': a.conclusion,
  });
  return emit(tracer, { name: a.name, start: a.start, end: a.end, kind: SpanKind.SERVER, conclusion: a.conclusion });
}

/**
 * A workflow job as the receiver makes it from a workflow_job event: the
 * job span (created_at to completed_at), its queue span (created_at to
 * started_at) and its steps, under a resource of the job's own.
 */
function workflowJob(
  e: Emitter,
  root: Span,
  a: { name: string; jobId: number; revision: string; created: number; started: number; completed: number; conclusion: 'success' | 'failure'; steps: { name: string; start: number; end: number; conclusion: 'success' | 'failure' }[] },
): { tracer: Tracer; job: Span; steps: Span[] } {
  const tracer = e.tracer({
    ...REPO,
    'vcs.ref.head.revision': a.revision,
    'cicd.pipeline.worker.id': 346,
    'cicd.pipeline.worker.name': 'GitHub Actions 320',
    'cicd.pipeline.worker.labels': ['ubuntu-latest'],
    'cicd.pipeline.name': a.name,
    'cicd.pipeline.task.run.url.full': `https://github.com/shop/checkout/actions/runs/1/job/${a.jobId}`,
    'cicd.pipeline.task.run.id': a.jobId,
    'cicd.pipeline.run.task.status': a.conclusion,
  });
  const job = emit(tracer, { name: a.name, start: a.created, end: a.completed, parent: root, conclusion: a.conclusion });
  emit(tracer, { name: `queue-${a.name}`, start: a.created, end: a.started, parent: job, attributes: { 'cicd.pipeline.run.queue.duration': (a.started - a.created) * 1e6 } });
  const steps = a.steps.map((s) =>
    emit(tracer, { name: s.name, start: s.start, end: s.end, parent: job, conclusion: s.conclusion, attributes: { 'cicd.pipeline.task.name': s.name, 'cicd.pipeline.run.task.status': s.conclusion } }),
  );
  return { tracer, job, steps };
}

const REVISIONS = ['1111111111111111111111111111111111111111', '2222222222222222222222222222222222222222', '3333333333333333333333333333333333333333'];
/** checkout's deployments: each the end of a deploy script's span, 15 minutes into its pipeline run. */
const DEPLOYS = [
  { at: T - 5 * HOUR, version: '1.1.0', runId: 7001, revision: REVISIONS[0] },
  { at: T - 3 * HOUR, version: '1.2.0', runId: 7002, revision: REVISIONS[1] },
  { at: T - 20 * MIN, version: '1.3.0', runId: 7003, revision: REVISIONS[2] },
];
/** The pull request's CI run for the second revision, two hours before its deployment: its commit time. */
const CI_FIRST = DEPLOYS[1].at - 2 * HOUR;
const CI_RETRY = CI_FIRST + 20 * MIN;

function plantPipelines(e: Emitter): void {
  for (const [i, d] of DEPLOYS.entries()) {
    const s = d.at - 15 * MIN;
    const root = workflowRun(e, { name: 'build-and-deploy', runId: d.runId, revision: d.revision, start: s, end: s + 16 * MIN, conclusion: 'success' });
    workflowJob(e, root, {
      name: 'build',
      jobId: 100 + i * 10,
      revision: d.revision,
      created: s + MIN,
      started: s + MIN + 5000,
      completed: s + 4 * MIN,
      conclusion: 'success',
      steps: [
        { name: 'Checkout', start: s + MIN + 5000, end: s + MIN + 20_000, conclusion: 'success' },
        { name: 'Build image', start: s + MIN + 20_000, end: s + 4 * MIN, conclusion: 'success' },
      ],
    });
    const deploy = workflowJob(e, root, {
      name: 'deploy',
      jobId: 101 + i * 10,
      revision: d.revision,
      created: s + 5 * MIN,
      started: s + 5 * MIN + 2000,
      completed: s + 15 * MIN,
      conclusion: 'success',
      steps: [{ name: 'Deploy to production', start: s + 5 * MIN + 2000, end: s + 15 * MIN, conclusion: 'success' }],
    });
    // The deploy script, traced with the SDK under the step (TRACEPARENT): the deployed service's name, the revision from GITHUB_SHA.
    const script = e.tracer({ 'service.name': 'checkout', 'vcs.ref.head.revision': d.revision });
    emit(script, {
      name: 'deploy checkout',
      start: s + 5 * MIN + 5000,
      end: d.at,
      parent: deploy.steps[0],
      attributes: { 'deployment.name': 'deploy checkout', 'deployment.id': `dep-${d.runId}`, 'deployment.status': 'succeeded', 'deployment.environment.name': 'production', 'service.version': d.version },
    });
  }
  // The pull request's checks: attempt 1 fails in "Make test", the re-run (a new trace, the same run id) passes.
  for (const [attempt, start, queueMs, runMs, conclusion] of [
    [1, CI_FIRST, 30_000, 5 * MIN, 'failure'],
    [2, CI_RETRY, 90_000, 7 * MIN, 'success'],
  ] as const) {
    const root = workflowRun(e, { name: 'ci', runId: 9001, revision: REVISIONS[1], start, end: start + runMs, conclusion });
    const created = start + 10_000;
    const started = created + queueMs;
    const completed = start + runMs - 10_000;
    workflowJob(e, root, {
      name: 'test',
      jobId: 500 + attempt,
      revision: REVISIONS[1],
      created,
      started,
      completed,
      conclusion,
      steps: [
        { name: 'Checkout', start: started, end: started + 10_000, conclusion: 'success' },
        { name: 'Make test', start: started + 10_000, end: completed, conclusion },
      ],
    });
  }
}

/** Application spans: a server span per sighting, under each version's resource. */
function plantServices(e: Emitter): void {
  const app = (attrs: Attributes, times: number[]) => {
    const tracer = e.tracer(attrs);
    for (const t of times) emit(tracer, { name: 'GET /', start: t, end: t + 20, kind: SpanKind.SERVER, conclusion: 'success' });
  };
  const checkout = (version: string) => ({ 'service.name': 'checkout', 'service.version': version, 'service.namespace': 'shop', 'deployment.environment.name': 'production' });
  app(checkout('1.0.0'), [T - 7 * HOUR, T - 6.5 * HOUR, DEPLOYS[0].at - 5 * MIN]);
  app(checkout('1.1.0'), [DEPLOYS[0].at + 2 * MIN, T - 4 * HOUR, DEPLOYS[1].at - 5 * MIN]);
  app(checkout('1.2.0'), [DEPLOYS[1].at + 2 * MIN, T - 2 * HOUR, DEPLOYS[2].at - 5 * MIN]);
  app(checkout('1.3.0'), [DEPLOYS[2].at + 2 * MIN, T - 10 * MIN]);
  // payments rolls 2.1.0 back to 2.0.0; no deployment spans, only its versions.
  const payments = (version: string) => ({ 'service.name': 'payments', 'service.version': version, 'service.namespace': 'money', 'deployment.environment.name': 'production' });
  app(payments('2.0.0'), [T - 7 * HOUR, T - 6 * HOUR, T - 5 * HOUR, T - 4 * HOUR - 2 * MIN]);
  app(payments('2.1.0'), [T - 4 * HOUR, T - 3 * HOUR, T - 2 * HOUR - 2 * MIN]);
  app(payments('2.0.0'), [T - 2 * HOUR, T - HOUR, T - 10 * MIN]);
  // inventory on Nomad: the job is re-run as version 4 (the template's nomad.job.version); service.version stays.
  const inventory = (job: string) => ({ 'service.name': 'inventory', 'service.version': '5.0.0', 'nomad.job.name': 'inventory', 'nomad.job.version': job, 'service.namespace': 'shop', 'deployment.environment.name': 'production' });
  app(inventory('3'), [T - 7 * HOUR, T - 6 * HOUR, T - 2 * HOUR]);
  app(inventory('4'), [T - 90 * MIN, T - 30 * MIN]);
  // search is deployed by a tool that marks its span with a deployment event instead.
  const helm = e.tracer({ 'service.name': 'search' });
  const upgrade = helm.startSpan('helm upgrade search', { startTime: SEARCH_DEPLOY - MIN });
  upgrade.addEvent('deployment', { 'deployment.name': 'search', 'deployment.status': 'succeeded' }, SEARCH_DEPLOY - 1000);
  upgrade.end(SEARCH_DEPLOY);
}
const SEARCH_DEPLOY = T - 150 * MIN;

function sloFile(dir: string): string {
  const file = path.join(dir, 'slos.yaml');
  writeFileSync(
    file,
    `slos:
  - tenant: single-tenant
    name: checkout-errors
    valid: '{ resource.service.name = "checkout" && kind = server }'
    good: '{ status != error }'
    objective: 99
    window: 1h
    alerts:
      - { long: 60s, short: 10s, burnRate: 5, severity: page }
`,
  );
  return file;
}

async function getJson<T>(s: Sightline, pathAndQuery: string): Promise<T> {
  const res = await fetch(`${s.api}${pathAndQuery}`);
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as T;
}

type History = { status: string; alertStartMs: number; timeMs: number }[];

describe('Delivery: DORA keys and pipeline time from CI/CD and deployment spans', () => {
  let s: Sightline;
  let dir: string;
  let history: History;
  const startS = Math.floor((T - 6 * HOUR) / 1000);
  const endS = Math.ceil((T + 30 * MIN) / 1000);

  before(async () => {
    dir = tempDir();
    s = await startSightline({ dataDir: dir, args: ['--slo-config', sloFile(dir), '--slo-interval', '1s', '--flush-interval', '200ms'] });
    const e = new Emitter(`${s.otlpHttp}/v1/traces`);
    plantPipelines(e);
    plantServices(e);
    await e.close();

    // After the last deployment, checkout fails every request until its SLO alert fires, then recovers until it resolves.
    const live = new Emitter(`${s.otlpHttp}/v1/traces`);
    const tracer = live.tracer({ 'service.name': 'checkout', 'service.version': '1.3.0', 'service.namespace': 'shop', 'deployment.environment.name': 'production' });
    let failing = true;
    const timer = setInterval(() => {
      const now = Date.now();
      for (let i = 0; i < 10; i++) emit(tracer, { name: 'GET /', start: now - 30, end: now - 10, kind: SpanKind.SERVER, ...(failing ? { conclusion: 'failure' as const } : { conclusion: 'success' as const }) });
    }, 250);
    const detail = () => getJson<{ history: History }>(s, '/api/sightline/slos/single-tenant/checkout-errors');
    try {
      await eventually(async () => ((await detail()).history.some((h) => h.status === 'firing') ? true : undefined), 30_000, 'the SLO alert to fire');
      failing = false;
      history = await eventually(async () => {
        const h = (await detail()).history;
        return h.some((x) => x.status === 'resolved') ? h : undefined;
      }, 60_000, 'the SLO alert to resolve');
    } finally {
      clearInterval(timer);
      await live.close();
    }
  });

  after(async () => {
    await s?.stop();
    s?.cleanup();
  });

  it('counts each deployment once, with its sources, lead time, rollback and failure', async () => {
    const d = await getJson<DeliveryJson>(s, `/api/sightline/delivery?start=${startS}&end=${endS}`);
    assert.equal(d.teamKey, 'service.namespace');
    assert.equal(d.sampled, false);
    const summary = (x: DeploymentJson) => [x.service, x.version, x.nomadJobVersion, x.timeMs, x.sources.join('+'), x.rollback, x.failedBecause.join('+')];
    assert.deepEqual(d.deployments.map(summary), [
      ['checkout', '1.3.0', '', DEPLOYS[2].at, 'deployment-span+version-first-seen', false, 'slo-alert'],
      ['inventory', '', '4', T - 90 * MIN, 'nomad-job-version', false, ''],
      ['payments', '2.0.0', '', T - 2 * HOUR, 'version-first-seen', true, ''],
      ['search', '', '', SEARCH_DEPLOY, 'deployment-span', false, ''],
      ['checkout', '1.2.0', '', DEPLOYS[1].at, 'deployment-span+version-first-seen', false, ''],
      ['payments', '2.1.0', '', T - 4 * HOUR, 'version-first-seen', false, 'rollback'],
      ['checkout', '1.1.0', '', DEPLOYS[0].at, 'deployment-span+version-first-seen', false, ''],
    ]);
    const byVersion = new Map(d.deployments.map((x) => [x.version, x]));
    // Commit: the earliest span carrying the revision (the deploy run's root; for 1.2.0, the pull request's checks two hours before).
    assert.deepEqual(
      DEPLOYS.map((x) => [byVersion.get(x.version)!.revision, byVersion.get(x.version)!.commitMs, byVersion.get(x.version)!.leadTimeMs]),
      [
        [REVISIONS[0], DEPLOYS[0].at - 15 * MIN, 15 * MIN],
        [REVISIONS[1], CI_FIRST, 2 * HOUR],
        [REVISIONS[2], DEPLOYS[2].at - 15 * MIN, 15 * MIN],
      ],
    );
    const latest = byVersion.get('1.3.0')!;
    assert.deepEqual(latest.pipeline, { name: 'build-and-deploy', runId: '7003', traceId: latest.pipeline!.traceId });
    assert.match(latest.pipeline!.traceId, /^[0-9a-f]{32}$/);
    assert.deepEqual([latest.deploymentId, latest.deploymentName, latest.status, latest.environment], ['dep-7003', 'deploy checkout', 'succeeded', 'production']);
    assert.deepEqual(latest.alerts, ['checkout-errors']);
    assert.equal(latest.nextTimeMs, null);
    assert.equal(byVersion.get('1.2.0')!.nextTimeMs, DEPLOYS[2].at);
    const search = d.deployments.find((x) => x.service === 'search')!;
    assert.deepEqual([search.deploymentName, search.status, search.pipeline, search.revision, search.commitMs], ['search', 'succeeded', null, '', null]);
    assert.deepEqual(latest.whatChanged, {
      query: '{ resource.service.name = "checkout" && kind = server }',
      selection: { startMs: DEPLOYS[2].at, endMs: DEPLOYS[2].at + HOUR },
      baseline: { startMs: DEPLOYS[2].at - HOUR, endMs: DEPLOYS[2].at },
    });
  });

  it('answers the four keys per service and per team', async () => {
    const d = await getJson<DeliveryJson>(s, `/api/sightline/delivery?start=${startS}&end=${endS}`);
    const days = (endS - startS) / 86_400;
    const firing = history.find((h) => h.status === 'firing')!;
    const resolved = history.find((h) => h.status === 'resolved')!;
    const restoreMs = resolved.timeMs - firing.alertStartMs;
    assert.ok(restoreMs > 0);
    assert.deepEqual(d.alerts, [{ tenant: 'single-tenant', slo: 'checkout-errors', services: ['checkout'], firedMs: firing.alertStartMs, resolvedMs: resolved.timeMs }]);
    const checkout = d.services.find((x) => x.key === 'checkout')!;
    assert.ok(Math.abs(checkout.perDay - 3 / days) < 1e-9, String(checkout.perDay));
    assert.deepEqual(checkout, {
      key: 'checkout',
      team: 'shop',
      deployments: 3,
      perDay: checkout.perDay,
      leadTime: { changes: 3, p50Ms: 15 * MIN, p95Ms: 2 * HOUR, meanMs: (15 * MIN + 2 * HOUR + 15 * MIN) / 3 },
      failedDeployments: 1,
      changeFailureRate: 1 / 3,
      timeToRestore: { restored: 1, open: 0, p50Ms: restoreMs, meanMs: restoreMs },
    });
    const payments = d.services.find((x) => x.key === 'payments')!;
    assert.deepEqual([payments.team, payments.deployments, payments.failedDeployments, payments.changeFailureRate, payments.leadTime.changes], ['money', 2, 1, 0.5, 0]);
    const inventory = d.services.find((x) => x.key === 'inventory')!;
    assert.deepEqual([inventory.team, inventory.deployments, inventory.changeFailureRate], ['shop', 1, 0]);
    assert.deepEqual(
      d.teams.map((t) => [t.key, t.services, t.deployments, t.failedDeployments, t.changeFailureRate, t.timeToRestore.restored]),
      [
        ['', ['search'], 1, 0, 0, 0],
        ['money', ['payments'], 2, 1, 0.5, 0],
        ['shop', ['checkout', 'inventory'], 4, 1, 0.25, 1],
      ],
    );
    // Another team key: nomad.job.name names inventory's team only.
    const byJob = await getJson<DeliveryJson>(s, `/api/sightline/delivery?start=${startS}&end=${endS}&teamKey=nomad.job.name`);
    assert.deepEqual(
      byJob.teams.map((t) => [t.key, t.services]),
      [
        ['', ['checkout', 'payments', 'search']],
        ['inventory', ['inventory']],
      ],
    );
    // An environment nothing was deployed to.
    const staging = await getJson<DeliveryJson>(s, `/api/sightline/delivery?start=${startS}&end=${endS}&environment=staging`);
    assert.equal(staging.deployments.length, 0);
  });

  it('shows where pipeline time goes: queue wait, critical path, slowest and flaky tasks', async () => {
    const p = await getJson<PipelinesJson>(s, `/api/sightline/delivery/pipelines?start=${startS}&end=${endS}`);
    assert.equal(p.sampled, false);
    assert.equal(p.runsRead, 5);
    assert.deepEqual(
      p.pipelines.map((x) => [x.name, x.runs, x.finished, x.succeeded, x.successRate]),
      [
        ['build-and-deploy', 3, 3, 3, 1],
        ['ci', 2, 2, 1, 0.5],
      ],
    );
    const deploy = p.pipelines[0];
    assert.deepEqual(deploy.runTime, { p50Ms: 16 * MIN, p95Ms: 16 * MIN });
    assert.deepEqual(deploy.queue, { queuedTasks: 6, totalMs: 21_000, perRunP50Ms: 7000, perRunP95Ms: 7000, share: 21_000 / (21_000 + 3 * (175_000 + 598_000)) });
    // The deploy script's span holds most of each run's critical path: 9 min 55 s of 16 min.
    const [top] = deploy.criticalPath.operations;
    assert.equal(deploy.criticalPath.runs, 3);
    assert.deepEqual([top.service, top.operation, top.meanOnPathMs, top.runs], ['checkout', 'deploy checkout', 595_000, 3]);
    assert.ok(Math.abs(top.share - 595 / 960) < 1e-9, String(top.share));
    assert.deepEqual(
      deploy.slowestTasks.slice(0, 3).map((t) => [t.task, t.parent, t.runs, t.p50Ms, t.p95Ms, t.queueP50Ms]),
      [
        ['Deploy to production', 'deploy', 3, 598_000, 598_000, 0],
        ['deploy', '', 3, 598_000, 598_000, 2000],
        ['build', '', 3, 175_000, 175_000, 5000],
      ],
    );
    assert.deepEqual(deploy.flakyTasks, []);

    const ci = p.pipelines[1];
    assert.deepEqual(ci.runTime, { p50Ms: 7 * MIN, p95Ms: 7 * MIN });
    assert.deepEqual(ci.queue, { queuedTasks: 2, totalMs: 120_000, perRunP50Ms: 90_000, perRunP95Ms: 90_000, share: 120_000 / (120_000 + 250_000 + 310_000) });
    assert.deepEqual(
      ci.flakyTasks.map((t) => [t.task, t.parent, t.runs, t.failures, t.retries, t.flakyRevisions, t.p50Ms]),
      [
        ['Make test', 'test', 2, 1, 1, 1, 300_000],
        ['test', '', 2, 1, 1, 1, 310_000],
        ['Checkout', 'test', 2, 0, 1, 0, 10_000],
      ],
    );
    assert.equal(
      ci.trend.buckets.reduce((n, b) => n + b.runs, 0),
      2,
    );
    const failedBucket = ci.trend.buckets.find((b) => b.startMs <= CI_FIRST && CI_FIRST < b.startMs + ci.trend.stepMs)!;
    assert.deepEqual([failedBucket.runs, failedBucket.failureRate, failedBucket.p50Ms], [1, 1, 5 * MIN]);

    const only = await getJson<PipelinesJson>(s, `/api/sightline/delivery/pipelines?start=${startS}&end=${endS}&pipeline=ci`);
    assert.deepEqual(
      only.pipelines.map((x) => x.name),
      ['ci'],
    );
  });

  it('refuses bad parameters', async () => {
    for (const q of [`teamKey=${'k'.repeat(300)}`, 'lookback=bogus', 'lookback=1000h', 'mergeWindow=25h', 'maxDeployments=0', 'start=5&end=4']) {
      const res = await fetch(`${s.api}/api/sightline/delivery?${q}`);
      assert.equal(res.status, 400, q);
    }
    const res = await fetch(`${s.api}/api/sightline/delivery/pipelines?start=${startS}&end=${endS}&step=1s`);
    assert.equal(res.status, 400);
  });
});
