import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { doraKeys, mergeDeployments, pairAlerts, servicesNamed, traceqlString, versionDeployments, versionKey, type DeploymentRecord, type VersionSighting } from './deployments.js';
import { pipelineRun, taskStats, trend, type PipelineSpan } from './pipelines.js';
import { normalResult } from './semconv.js';
import { compileQuery, filterRequest } from '../query/traceql/index.js';

const MIN = 60_000;

/** Sightings of one service: per bucket, the versions present (first seen at bucket * MIN + offset). */
function history(service: string, buckets: string[][], field: 'version' | 'nomadJobVersion' = 'version'): VersionSighting[] {
  return buckets.flatMap((versions, bucket) =>
    versions.map((v, i) => ({ service, environment: 'production', version: field === 'version' ? v : '', nomadJobVersion: field === 'nomadJobVersion' ? v : '', bucket, firstMs: bucket * MIN + i })),
  );
}

const summary = (r: DeploymentRecord[]) => r.map((d) => [d.version || d.nomadJobVersion, d.timeMs, d.redeploy === true]);

describe('versionDeployments', () => {
  it('counts a new version, not what ran in the first bucket', () => {
    assert.deepEqual(summary(versionDeployments(history('a', [['1'], ['1'], ['1', '2'], ['2']]), 'version')), [['2', 2 * MIN + 1, false]]);
  });

  it('does not redeploy a canary that comes and goes with its traffic', () => {
    assert.deepEqual(summary(versionDeployments(history('a', [['1'], ['1', '2'], ['1'], ['1', '2'], ['1']]), 'version')), [['2', MIN + 1, false]]);
  });

  it('finds a rollback: the old version back after another was deployed, even when they overlapped', () => {
    const h = history('a', [['1'], ['1', '2'], ['2'], [], ['2'], ['1']]);
    assert.deepEqual(summary(versionDeployments(h, 'version')), [
      ['2', MIN + 1, false],
      ['1', 5 * MIN, true],
    ]);
  });

  it('tracks Nomad job versions the same way, and ignores empty values', () => {
    const h = [...history('inv', [['3'], ['3'], ['4']], 'nomadJobVersion'), ...history('inv', [['5.0.0'], ['5.0.0'], ['5.0.0']])];
    assert.deepEqual(summary(versionDeployments(h, 'nomadJobVersion')), [['4', 2 * MIN, false]]);
    assert.deepEqual(versionDeployments(h, 'version'), []);
  });
});

function record(p: Partial<DeploymentRecord> & { timeMs: number }): DeploymentRecord {
  return { service: 'a', environment: 'production', version: '', nomadJobVersion: '', sources: ['deployment-span'], revision: '', pipeline: null, deploymentId: '', deploymentName: '', status: '', ...p };
}

describe('mergeDeployments', () => {
  it('merges evidence of one deployment within the window, agreeing on what it says; the time is the earliest', () => {
    const merged = mergeDeployments(
      [
        record({ timeMs: 2 * MIN, version: '2', sources: ['version-first-seen'] }),
        record({ timeMs: 0, version: '2', revision: 'abc', status: 'succeeded', deploymentId: 'd1' }),
        record({ timeMs: 5 * MIN, nomadJobVersion: '7', sources: ['nomad-job-version'] }),
        record({ timeMs: 3 * MIN, version: '3', sources: ['version-first-seen'] }),
        record({ timeMs: 40 * MIN, version: '2', sources: ['version-first-seen'] }),
      ],
      15 * MIN,
    );
    assert.deepEqual(
      merged.map((d) => [d.timeMs, d.version, d.nomadJobVersion, d.revision, d.sources.join('+')]),
      [
        [0, '2', '7', 'abc', 'deployment-span+version-first-seen+nomad-job-version'],
        [3 * MIN, '3', '', '', 'version-first-seen'],
        [40 * MIN, '2', '', '', 'version-first-seen'],
      ],
    );
  });

  it('keeps two deployment spans with different ids apart', () => {
    assert.equal(mergeDeployments([record({ timeMs: 0, deploymentId: 'x' }), record({ timeMs: MIN, deploymentId: 'y' })], 15 * MIN).length, 2);
  });
});

describe('doraKeys', () => {
  const range = { startMs: 0, endMs: 2 * 86_400_000 };
  const base = { range, versionFirstSeen: new Map<string, number>(), commits: new Map<string, number>(), alerts: [], teams: new Map([['a', 'team-1']]), environment: null };

  it('marks failures: a failed status, an SLO alert before the next deployment, a rollback next', () => {
    const out = doraKeys({
      ...base,
      deployments: [
        record({ timeMs: -MIN, version: '0' }),
        record({ timeMs: 10 * MIN, version: '1', revision: 'r1' }),
        record({ timeMs: 20 * MIN, version: '2', status: 'failed' }),
        record({ timeMs: 30 * MIN, version: '3', revision: 'r3' }),
        record({ timeMs: 40 * MIN, version: '4' }),
        record({ timeMs: 50 * MIN, version: '3' }),
      ],
      versionFirstSeen: new Map([[versionKey('a', '0'), -5 * MIN]]),
      commits: new Map([
        ['r1', 4 * MIN],
        ['r3', 0],
      ]),
      alerts: [{ tenant: 't', slo: 's', services: ['a'], firedMs: 35 * MIN, resolvedMs: 38 * MIN }],
    });
    assert.deepEqual(
      out.deployments.map((d) => [d.version, d.rollback, d.failedBecause.join('+'), d.leadTimeMs, d.alerts.join()]),
      [
        ['3', true, '', null, ''],
        ['4', false, 'rollback', null, ''],
        ['3', false, 'slo-alert', 30 * MIN, 's'],
        ['2', false, 'status', null, ''],
        ['1', false, '', 6 * MIN, ''],
      ],
    );
    const [a] = out.services;
    assert.deepEqual(
      { ...a, perDay: a.perDay },
      {
        key: 'a',
        team: 'team-1',
        deployments: 5,
        perDay: 2.5,
        leadTime: { changes: 2, p50Ms: 30 * MIN, p95Ms: 30 * MIN, meanMs: 18 * MIN },
        failedDeployments: 3,
        changeFailureRate: 0.6,
        timeToRestore: { restored: 1, open: 0, p50Ms: 3 * MIN, meanMs: 3 * MIN },
      },
    );
    assert.deepEqual(
      out.teams.map((t) => [t.key, t.services, t.deployments]),
      [['team-1', ['a'], 5]],
    );
  });

  it('filters by environment, and answers null rates without deployments', () => {
    const out = doraKeys({ ...base, deployments: [record({ timeMs: MIN, environment: 'staging' })], environment: 'production', alerts: [{ tenant: 't', slo: 's', services: ['a'], firedMs: MIN, resolvedMs: null }] });
    assert.equal(out.deployments.length, 0);
    assert.deepEqual([out.services[0].changeFailureRate, out.services[0].timeToRestore], [null, { restored: 0, open: 1, p50Ms: null, meanMs: null }]);
  });
});

describe('alerts and SLO services', () => {
  it('pairs firing and resolved events by the alert start', () => {
    const alerts = pairAlerts(
      [
        { tenant: 't', slo: 's', status: 'resolved', alertStartMs: 100, timeMs: 400 },
        { tenant: 't', slo: 's', status: 'firing', alertStartMs: 100, timeMs: 100 },
        { tenant: 't', slo: 's', status: 'firing', alertStartMs: 900, timeMs: 900 },
      ],
      () => ['a'],
    );
    assert.deepEqual(alerts, [
      { tenant: 't', slo: 's', services: ['a'], firedMs: 100, resolvedMs: 400 },
      { tenant: 't', slo: 's', services: ['a'], firedMs: 900, resolvedMs: null },
    ]);
  });

  it('reads the services a valid query names, not under a negation', () => {
    const named = (q: string) => servicesNamed(filterRequest(compileQuery(q)).where);
    assert.deepEqual(named('{ resource.service.name = "gateway" && kind = server }'), ['gateway']);
    assert.deepEqual(named('{ .service.name = "b" || resource.service.name = "a" }'), ['a', 'b']);
    assert.deepEqual(named('{ !(resource.service.name = "a") && span.x = 1 }'), []);
    assert.deepEqual(named('{ resource.service.name != "a" }'), []);
  });

  it('quotes TraceQL strings', () => {
    assert.equal(traceqlString('a"b\\c'), '"a\\"b\\\\c"');
    assert.deepEqual(servicesNamed(filterRequest(compileQuery(`{ resource.service.name = ${traceqlString('we"ird\\one')} }`)).where), ['we"ird\\one']);
  });
});

function span(p: Partial<PipelineSpan> & { spanId: string; startMs: number; durationMs: number }): PipelineSpan {
  return { parentId: '', name: p.spanId, status: 'unset', pipelineName: '', runId: '', pipelineResult: '', taskName: '', taskRunId: '', taskResult: '', runState: '', revision: '', queueDurationNs: NaN, ...p };
}

describe('pipeline runs', () => {
  it('reads a GitHub receiver run: the queue span under its job, steps as tasks under the job', () => {
    const run = pipelineRun('t1', [
      span({ spanId: 'root', name: 'ci', startMs: 0, durationMs: 300_000, pipelineName: 'ci', runId: '9', pipelineResult: 'failure', revision: 'r' }),
      span({ spanId: 'job', parentId: 'root', name: 'test', startMs: 10_000, durationMs: 280_000, pipelineName: 'test', taskRunId: '501', taskResult: 'failure' }),
      span({ spanId: 'q', parentId: 'job', name: 'queue-test', startMs: 10_000, durationMs: 30_000, taskRunId: '501', queueDurationNs: 3e10 }),
      span({ spanId: 'step', parentId: 'job', name: 'Make test', startMs: 40_000, durationMs: 250_000, taskName: 'Make test', taskRunId: '501', taskResult: 'failure' }),
    ])!;
    assert.deepEqual([run.name, run.runId, run.result, run.revision, run.queueSpans, run.queueMs], ['ci', '9', 'failure', 'r', 1, 30_000]);
    assert.deepEqual(
      run.tasks.map((t) => [t.name, t.parent, t.runMs, t.queueMs, t.result]),
      [
        ['test', '', 250_000, 30_000, 'failure'],
        ['Make test', 'test', 250_000, 0, 'failure'],
      ],
    );
  });

  it("counts Jenkins' Phase: Start and the pending state as queue, and span status as a result", () => {
    const run = pipelineRun('t2', [
      span({ spanId: 'root', name: 'BUILD app', startMs: 0, durationMs: 100, pipelineName: 'app', status: 'ok' }),
      span({ spanId: 'start', parentId: 'root', name: 'Phase: Start', startMs: 0, durationMs: 40 }),
      span({ spanId: 'pending', parentId: 'root', name: 'wait', startMs: 40, durationMs: 10, runState: 'pending' }),
    ])!;
    assert.deepEqual([run.result, run.queueSpans, run.queueMs, run.tasks.length], ['success', 2, 50, 0]);
    assert.equal(pipelineRun('t3', [span({ spanId: 'x', startMs: 0, durationMs: 1 })]), null);
  });

  it('finds retries and flaky tasks: failed then passed on the same revision', () => {
    const attempt = (trace: string, start: number, result: string, revision = 'r') =>
      pipelineRun(trace, [
        span({ spanId: 'root', startMs: start, durationMs: 10, pipelineName: 'ci', runId: '9', pipelineResult: result, revision }),
        span({ spanId: 'job', parentId: 'root', name: 'test', startMs: start, durationMs: 5, taskRunId: trace, taskResult: result }),
      ])!;
    const tasks = taskStats([attempt('a', 0, 'failure'), attempt('b', 100, 'success'), attempt('c', 200, 'success', 'r2')]);
    assert.deepEqual(
      tasks.map((t) => [t.task, t.runs, t.failures, t.retries, t.flakyRevisions]),
      [['test', 3, 1, 2, 1]],
    );
    const buckets = trend([attempt('a', 0, 'failure'), attempt('b', 100, 'success')], { startMs: 0, endMs: 200 }, 100);
    assert.deepEqual(
      buckets.map((b) => [b.startMs, b.runs, b.p50Ms, b.failureRate]),
      [
        [0, 1, 10, 1],
        [100, 1, 10, 0],
      ],
    );
  });

  it('maps producer words to the convention', () => {
    assert.deepEqual(['SUCCESS', 'succeeded', 'FAILURE', 'UNSTABLE', 'ABORTED', 'cancelled', 'skipped', 'timed_out', 'error'].map(normalResult), [
      'success',
      'success',
      'failure',
      'failure',
      'cancellation',
      'cancellation',
      'skip',
      'timeout',
      'error',
    ]);
  });
});
