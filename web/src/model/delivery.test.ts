import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deploymentRows, doraRows, durationTicksMs, formatFrequency, formatSpanMs, pipelineViews, trendChart, whatChangedLink, type DeliveryJson, type DeploymentJson, type PipelineJson } from './delivery.js';
import { deliveryApiUrls, DEFAULT_DELIVERY, parseDeliveryState, type DeliveryState } from './delivery-state.js';
import { formatRoute, parseRoute } from './routes.js';
import { linkFrom } from './links.js';

const HOUR = 3_600_000;
const T = 1_764_770_400_000; // a whole second

function deployment(over: Partial<DeploymentJson> = {}): DeploymentJson {
  return {
    service: 'checkout',
    environment: 'production',
    version: '1.4.0',
    nomadJobVersion: '',
    timeMs: T,
    sources: ['deployment-span', 'version-first-seen'],
    revision: 'abc123',
    pipeline: { name: 'checkout-ci', runId: '42', traceId: '4bf92f3577b34da6a3ce929d0e0e4736' },
    deploymentId: 'd-42',
    deploymentName: 'checkout',
    status: 'succeeded',
    commitMs: T - 20 * 60_000,
    leadTimeMs: 20 * 60_000,
    rollback: false,
    failed: false,
    failedBecause: [],
    alerts: [],
    nextTimeMs: null,
    whatChanged: { query: '{ resource.service.name = "checkout" }', selection: { startMs: T, endMs: T + HOUR }, baseline: { startMs: T - HOUR, endMs: T } },
    ...over,
  };
}

const keys = (rows: Partial<DeliveryJson> = {}): DeliveryJson => ({
  range: { startMs: T - 7 * 24 * HOUR, endMs: T + HOUR },
  teamKey: 'service.namespace',
  environment: null,
  services: [
    {
      key: 'checkout',
      team: 'payments',
      deployments: 4,
      perDay: 4 / 7,
      leadTime: { changes: 4, p50Ms: 20 * 60_000, p95Ms: 26 * 60_000, meanMs: 21 * 60_000 },
      failedDeployments: 1,
      changeFailureRate: 0.25,
      timeToRestore: { restored: 2, open: 1, p50Ms: 45 * 60_000, meanMs: 50 * 60_000 },
    },
  ],
  teams: [
    {
      key: '',
      services: ['ledger'],
      deployments: 14,
      perDay: 2,
      leadTime: { changes: 0, p50Ms: null, p95Ms: null, meanMs: null },
      failedDeployments: 0,
      changeFailureRate: 0,
      timeToRestore: { restored: 0, open: 0, p50Ms: null, meanMs: null },
    },
  ],
  deployments: [],
  alerts: [],
  sampled: false,
  ...rows,
});

describe('delivery: the four keys', () => {
  it('reads each key per service with what it was measured over', () => {
    assert.deepEqual(doraRows(keys(), 'service'), [
      {
        key: 'checkout',
        label: 'checkout',
        detail: 'payments',
        deployments: 4,
        frequency: '4 / week',
        leadTime: '20 min',
        leadTimeDetail: 'p50 of 4 changes, p95 26 min',
        changeFailure: '25% (1 of 4)',
        restore: '45 min',
        restoreDetail: 'p50 of 2 restored, 1 still firing',
      },
    ]);
  });

  it('per team, names services without the team key by the key, and says what was not measured', () => {
    const [row] = doraRows(keys(), 'team');
    assert.deepEqual([row.label, row.detail, row.frequency, row.leadTime, row.leadTimeDetail, row.changeFailure, row.restore, row.restoreDetail], [
      '(no service.namespace)',
      'ledger',
      '2 / day',
      '—',
      'no deployment names its commit',
      '0% (0 of 14)',
      '—',
      'no SLO alert fired',
    ]);
  });

  it('formats spans of time from seconds to weeks, and frequencies per day or week', () => {
    assert.deepEqual([formatSpanMs(45_000), formatSpanMs(3 * HOUR + 20 * 60_000), formatSpanMs(60 * HOUR), formatSpanMs(null)], ['45 s', '3 h 20 min', '2.5 d', '—']);
    assert.deepEqual([formatFrequency(0, 0), formatFrequency(1 / 7, 1), formatFrequency(3.25, 26)], ['none', '1 / week', '3.3 / day']);
  });
});

describe('delivery: deployments', () => {
  it('lists each deployment with its outcome, how it was seen, its pipeline run and what changed', () => {
    const [ok, failed] = deploymentRows(
      keys({
        deployments: [
          deployment(),
          deployment({ version: '', nomadJobVersion: '7', timeMs: T - 2 * HOUR, failed: true, failedBecause: ['rollback', 'slo-alert'], alerts: ['checkout-latency'], pipeline: null, sources: ['nomad-job-version'], leadTimeMs: null }),
        ],
      }),
    );
    assert.deepEqual([ok.version, ok.outcome, ok.leadTime, ok.seenBy, ok.pipeline], ['1.4.0', 'ok', '20 min', 'deployment span, new service.version', { label: 'checkout-ci #42', href: '/trace/4bf92f3577b34da6a3ce929d0e0e4736' }]);
    assert.deepEqual([failed.version, failed.outcome, failed.leadTime, failed.seenBy, failed.pipeline], ['job v7', 'failed: rolled back, SLO alert after it (checkout-latency)', '—', 'new Nomad job version', null]);
  });

  it('opens compare with the hour after the deploy against the hour before, in one click', () => {
    const route = parseRoute('/compare', whatChangedLink(deployment()).slice('/compare'.length));
    assert.ok(route.page === 'compare');
    if (route.page !== 'compare') return;
    assert.deepEqual(route.state, {
      q: '{ resource.service.name = "checkout" }',
      baseline: '',
      range: { start: T / 1000, end: T / 1000 + 3600 },
      baselineRange: { start: T / 1000 - 3600, end: T / 1000 },
      event: 'deploy of checkout 1.4.0',
    });
    // A deploy off the whole second: the windows still meet at one second.
    const odd = parseRoute('/compare', whatChangedLink(deployment({ whatChanged: { query: '{ x }', selection: { startMs: T + 700, endMs: T + 700 + HOUR }, baseline: { startMs: T + 700 - HOUR, endMs: T + 700 } } })).slice(8));
    assert.ok(odd.page === 'compare' && odd.state.baselineRange?.end === (odd.state.range as { start: number }).start);
  });
});

describe('delivery: pipelines', () => {
  const pipeline: PipelineJson = {
    name: 'checkout-ci',
    runs: 6,
    finished: 6,
    succeeded: 3,
    successRate: 0.5,
    runTime: { p50Ms: 20 * 60_000, p95Ms: 24 * 60_000 },
    queue: { queuedTasks: 6, totalMs: 180_000, perRunP50Ms: 30_000, perRunP95Ms: 30_000, share: 0.025 },
    criticalPath: { runs: 6, operations: [{ service: 'ci', operation: 'integration-tests', share: 0.6, meanOnPathMs: 12 * 60_000, p50OnPathMs: 12 * 60_000, p95OnPathMs: 13 * 60_000, runs: 6 }] },
    slowestTasks: [{ task: 'integration-tests', parent: '', runs: 6, failures: 2, p50Ms: 12 * 60_000, p95Ms: 13 * 60_000, queueP50Ms: 0, retries: 0, flakyRevisions: 2 }],
    flakyTasks: [
      { task: 'integration-tests', parent: '', runs: 6, failures: 2, p50Ms: 12 * 60_000, p95Ms: 13 * 60_000, queueP50Ms: 0, retries: 0, flakyRevisions: 2 },
      { task: 'unit', parent: 'test', runs: 7, failures: 1, p50Ms: 60_000, p95Ms: 60_000, queueP50Ms: 30_000, retries: 1, flakyRevisions: 0 },
    ],
    trend: {
      stepMs: HOUR,
      buckets: [
        { startMs: T, runs: 2, p50Ms: 10 * 60_000, failureRate: 0.5 },
        { startMs: T + HOUR, runs: 0, p50Ms: null, failureRate: null },
        { startMs: T + 2 * HOUR, runs: 4, p50Ms: 20 * 60_000, failureRate: 0 },
      ],
    },
  };

  it('says how runs went, where their time goes, and which tasks are slow or flaky', () => {
    const [v] = pipelineViews({ pipelines: [pipeline] });
    assert.deepEqual([v.success, v.runTime, v.queueShare], ['3 of 6 finished runs (50%)', 'p50 20 min, p95 24 min', 0.025]);
    assert.equal(v.queueWords, '3% of task time waiting in a queue: 30 s per run (p50), 30 s (p95), over 6 queued tasks');
    assert.deepEqual(v.pathRows.map((r) => [r.label, r.shareText, r.mean]), [['integration-tests', '60%', '12 min']]);
    assert.deepEqual(v.flaky.map((t) => [t.label, t.flakiness]), [
      ['integration-tests', 'failed then passed on 2 revisions'],
      ['test › unit', '1 retry'],
    ]);
    assert.equal(v.slowest[0].queue, '—');
    assert.equal(pipelineViews({ pipelines: [{ ...pipeline, successRate: null, queue: { ...pipeline.queue, queuedTasks: 0 } }] })[0].queueWords, 'no queue wait was sent');
  });

  it('draws runs as bars, the run time as a line broken where no run started, and failures on 0-100%', () => {
    const c = trendChart(pipeline.trend, 300, 100);
    assert.deepEqual(c.bars.map((b) => [b.x, b.width, b.runs, b.height]), [
      [15, 70, 2, 45],
      [115, 70, 0, 0],
      [215, 70, 4, 90],
    ]);
    // Two points, the empty bucket between them a gap: a new M, no L across it.
    assert.match(c.line, /^M50,\d+(\.\d)?M250,\d+(\.\d)?$/);
    assert.deepEqual(c.p50Points, [
      { x: 50, y: 50, p50Ms: 10 * 60_000 },
      { x: 250, y: 0, p50Ms: 20 * 60_000 },
    ]);
    assert.deepEqual(c.failures, [
      { x: 50, y: 50, rate: 0.5 },
      { x: 250, y: 100, rate: 0 },
    ]);
    // The run time axis on clock steps, topped at 20 min: the p50 of 20 min at the top.
    assert.deepEqual(c.yTicks.map((t) => [t.label, Math.round(t.y)]), [['0', 100], ['5 min', 75], ['10 min', 50], ['15 min', 25], ['20 min', 0]]);
    assert.deepEqual(durationTicksMs(21 * 60_000), [0, 10, 20, 30].map((m) => m * 60_000));
    assert.deepEqual(durationTicksMs(900), [0, 500, 1000]);
  });
});

describe('delivery: the URL', () => {
  it('keeps its state in the URL, defaults left out', () => {
    const round = (s: DeliveryState) => {
      const url = formatRoute({ page: 'delivery', state: s });
      const back = parseRoute('/delivery', url.slice('/delivery'.length));
      assert.deepEqual(back, { page: 'delivery', state: s }, url);
      return url;
    };
    assert.equal(round(DEFAULT_DELIVERY), '/delivery');
    assert.equal(round({ range: { preset: '30d' }, by: 'team', environment: 'production', pipeline: 'checkout ci' }), '/delivery?range=30d&by=team&env=production&pipeline=checkout+ci');
    assert.equal(round({ ...DEFAULT_DELIVERY, range: { start: 100, end: 200 } }), '/delivery?start=100&end=200');
    // A preset the page does not offer falls back to its default.
    assert.deepEqual(parseDeliveryState(new URLSearchParams('range=5m')).range, { preset: '7d' });
  });

  it('asks the API for the range and filters in force', () => {
    const urls = deliveryApiUrls({ range: { start: 100, end: 200 }, by: 'team', environment: 'prod', pipeline: 'ci' }, 0);
    assert.deepEqual(urls, { keys: '/api/sightline/delivery?start=100&end=200&environment=prod', pipelines: '/api/sightline/delivery/pipelines?start=100&end=200&pipeline=ci' });
    assert.equal(deliveryApiUrls(DEFAULT_DELIVERY, 1_000_000_000_000).keys, `/api/sightline/delivery?start=${1_000_000_000 - 7 * 86_400}&end=1000000000`);
  });

  it('is reached from any view with its range when the page offers it, else its default', () => {
    assert.equal(linkFrom({ range: { preset: '24h' } }, { page: 'delivery' }), '/delivery?range=24h');
    assert.equal(linkFrom({ range: { preset: '1h' } }, { page: 'delivery' }), '/delivery');
    assert.equal(linkFrom({ range: { start: 1, end: 2 } }, { page: 'delivery' }), '/delivery?start=1&end=2');
  });
});
