import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { alertHistory, attemptText, budgetLevel, burnCharts, formatBudget, formatBurn, queryLinkOf, sloRows, sloSeriesUrl, splitFindings, type SloDetailJson, type SloSeriesJson, type SloSummaryJson } from './slo.js';
import { formatRoute, parseRoute } from './routes.js';

const BAD = '{ (resource.service.name = "gateway" && kind = server) && !(duration < 300ms && status != error) }';
const GOOD = '{ (resource.service.name = "gateway" && kind = server) && (duration < 300ms && status != error) }';

function summary(over: Partial<SloSummaryJson> = {}): SloSummaryJson {
  return {
    tenant: 'clinic',
    name: 'gateway-latency',
    valid: '{ resource.service.name = "gateway" && kind = server }',
    good: '{ duration < 300ms && status != error }',
    validQuery: '{ resource.service.name = "gateway" && kind = server }',
    goodQuery: GOOD,
    badQuery: BAD,
    objective: 99,
    window: '1h',
    atMs: 1_764_000_000_000,
    events: { valid: 1200, good: 1100, bad: 100 },
    budgetRemaining: 1 - 100 / 12,
    burnRates: [
      { window: '1h', valid: 1200, good: 1100, burnRate: 100 / 12, source: 'spans' },
      { window: '10s', valid: 0, good: 0, burnRate: 0, source: 'spans' },
      { window: '5m', valid: 1200, good: 1100, burnRate: 100 / 12, source: 'spans' },
    ],
    alerts: [{ long: '5m', short: '10s', burnRate: 5, severity: 'page', firing: false }],
    state: 'ok',
    receivers: ['hook'],
    evaluatedHere: true,
    ...over,
  };
}

describe('SLO view models', () => {
  it('figures: budget as a percentage (negative when overspent), burn as a multiple, levels', () => {
    assert.equal(formatBudget(0.625), '62.5%');
    assert.equal(formatBudget(1 - 100 / 12), '-733.3%');
    assert.equal(formatBudget(1), '100.0%');
    assert.equal(formatBurn(100 / 12), '8.33×');
    assert.equal(formatBurn(14.4), '14.4×');
    assert.deepEqual([1, 0.3, 0.2, 0, -1].map(budgetLevel), ['healthy', 'healthy', 'low', 'spent', 'spent']);
  });

  it('the list: firing first, then least budget; windows shortest first', () => {
    const rows = sloRows({
      slos: [
        summary({ name: 'a-healthy', budgetRemaining: 0.9 }),
        summary({ name: 'b-low', budgetRemaining: 0.1 }),
        summary({ name: 'c-firing', budgetRemaining: 0.95, state: 'firing', alerts: [{ long: '5m', short: '10s', burnRate: 5, severity: 'page', firing: true }] }),
      ],
    });
    assert.deepEqual(rows.map((r) => r.name), ['c-firing', 'b-low', 'a-healthy']);
    assert.deepEqual(rows[0].burns.map((b) => b.window), ['10s', '5m', '1h']);
    assert.deepEqual(rows[0].burning, ['5m/10s page']);
    assert.equal(rows[1].level, 'low');
    assert.equal(rows[2].budgetText, '90.0%');
  });

  it('splits diagnosis findings at separators outside quoted values', () => {
    assert.deepEqual(splitFindings('span.db.shard = "7" in 100% of bad traces vs 0% of good; span.note = "a; b \\"c; d\\"" in 40% of bad traces vs 1% of good'), [
      'span.db.shard = "7" in 100% of bad traces vs 0% of good',
      'span.note = "a; b \\"c; d\\"" in 40% of bad traces vs 1% of good',
    ]);
    assert.deepEqual(splitFindings(''), []);
  });

  it('reads a notification link: queries and range, whatever host it names', () => {
    const url = `https://sightline.example/compare?${new URLSearchParams({ q: BAD, baseline: GOOD, start: '1764000000', end: '1764000060' })}`;
    assert.deepEqual(queryLinkOf(url), { q: BAD, baseline: GOOD, range: { start: 1_764_000_000, end: 1_764_000_060 } });
    assert.equal(queryLinkOf('not a url at all %'), undefined);
    assert.equal(queryLinkOf('/search?q=x&start=5&end=4'), undefined);
  });

  it('alert history: one entry per alert, its duration, diagnosis and every attempt per receiver', () => {
    const startMs = 1_764_000_060_000;
    const compare = `http://127.0.0.1:3200/compare?${new URLSearchParams({ q: BAD, baseline: GOOD, start: '1764000000', end: '1764000060' })}`;
    const notice = {
      status: 'firing' as const,
      labels: { alertname: 'SLOErrorBudgetBurn', tenant: 'clinic', slo: 'gateway-latency', severity: 'page', long_window: '5m', short_window: '10s' },
      annotations: {
        summary: 'SLO gateway-latency is spending its error budget 33.33x ...',
        budget_remaining: '-2.3',
        burn_rate_long: '33.33',
        burn_rate_short: '33.33',
        compare_url: compare,
        examples_url: `http://127.0.0.1:3200/search?${new URLSearchParams({ q: BAD, start: '1764000000', end: '1764000060' })}`,
        diagnosis_attributes: 'span.db.shard = "7" in 100% of bad traces vs 0% of good; span.db.system = "postgresql" in 100% of bad traces vs 99% of good',
        diagnosis_operation: 'gateway "SELECT visits": +590 ms per trace on the critical path (98% of the extra latency)',
        diagnosis_traces: '40 bad and 80 good traces compared',
      },
      startsAt: new Date(startMs).toISOString(),
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL: 'http://127.0.0.1:3200/slos/clinic/gateway-latency',
      fingerprint: '0123456789abcdef',
    };
    const firingId = `0123456789abcdef-${startMs}-firing`;
    const resolvedId = `0123456789abcdef-${startMs}-resolved`;
    const detail: Pick<SloDetailJson, 'history' | 'deliveries' | 'attempts'> = {
      history: [
        { eventId: resolvedId, status: 'resolved', alertStartMs: startMs, timeMs: startMs + 95_000, notice: { ...notice, status: 'resolved', endsAt: new Date(startMs + 95_000).toISOString() } },
        { eventId: firingId, status: 'firing', alertStartMs: startMs, timeMs: startMs, notice },
        { eventId: 'x-1-firing', status: 'firing', alertStartMs: startMs - 600_000, timeMs: startMs - 600_000, notice: { ...notice, annotations: { summary: 's', diagnosis_attributes: 'diagnosis unavailable (OVERLOADED)' } } },
      ],
      deliveries: [
        { eventId: firingId, receiver: 'hook', state: 'delivered', attempts: 2, nextMs: 0, timeMs: startMs },
        { eventId: firingId, receiver: 'chat', state: 'delivered', attempts: 1, nextMs: 0, timeMs: startMs },
        { eventId: resolvedId, receiver: 'hook', state: 'pending', attempts: 1, nextMs: 0, timeMs: startMs + 95_000 },
      ],
      attempts: [
        { eventId: firingId, receiver: 'hook', attempt: 2, timeMs: startMs + 2000, statusCode: 200, error: '' },
        { eventId: firingId, receiver: 'hook', attempt: 1, timeMs: startMs + 100, statusCode: 503, error: 'HTTP 503' },
        { eventId: firingId, receiver: 'chat', attempt: 1, timeMs: startMs + 100, statusCode: 200, error: '' },
        { eventId: resolvedId, receiver: 'hook', attempt: 1, timeMs: startMs + 95_100, statusCode: 0, error: 'ECONNREFUSED' },
      ],
    };
    const [latest, older] = alertHistory(detail, startMs + 200_000);
    assert.equal(latest.status, 'resolved');
    assert.equal(latest.durationMs, 95_000);
    assert.equal(latest.durationText, '1 min 35 s');
    assert.equal(latest.windows, '5m/10s');
    assert.equal(latest.burnLong, 33.33);
    assert.equal(latest.budgetAtFire, -2.3);
    assert.deepEqual(latest.diagnosis.attributes, ['span.db.shard = "7" in 100% of bad traces vs 0% of good', 'span.db.system = "postgresql" in 100% of bad traces vs 99% of good']);
    assert.match(latest.diagnosis.operation ?? '', /^gateway "SELECT visits"/);
    assert.deepEqual(latest.diagnosis.compare, { q: BAD, baseline: GOOD, range: { start: 1_764_000_000, end: 1_764_000_060 } });
    assert.deepEqual(latest.diagnosis.examples?.q, BAD);
    assert.deepEqual(latest.notifications.map((n) => n.receiver), ['chat', 'hook']);
    const hook = latest.notifications[1];
    assert.deepEqual(hook.deliveries.map((d) => [d.status, d.state, d.attempts.map(attemptText)]), [
      ['firing', 'delivered', ['503', '200']],
      ['resolved', 'pending', ['no answer: ECONNREFUSED']],
    ]);
    assert.deepEqual(latest.notifications[0].deliveries.map((d) => d.state), ['delivered', 'not recorded']);
    assert.equal(older.status, 'firing');
    assert.equal(older.durationMs, 800_000, 'still firing: to now');
    assert.equal(older.diagnosis.unavailable, 'OVERLOADED');
    assert.deepEqual(older.diagnosis.attributes, []);
  });

  it('burn charts: one per pair, long and short windows with the threshold, firing at the end when both cross', () => {
    const series: SloSeriesJson = {
      tenant: 'clinic',
      name: 'gateway-latency',
      objective: 99,
      alerts: [
        { long: '5m', short: '10s', longMs: 300_000, shortMs: 10_000, burnRate: 5, severity: 'page' },
        { long: '1h', short: '5m', longMs: 3_600_000, shortMs: 300_000, burnRate: 50, severity: 'ticket' },
      ],
      startMs: 0,
      endMs: 20_000,
      stepMs: 10_000,
      times: [0, 10_000, 20_000],
      windows: [
        { window: '10s', windowMs: 10_000, valid: [1, 1, 1], good: [1, 1, 0], burnRate: [0, 0, 100] },
        { window: '5m', windowMs: 300_000, valid: [1, 2, 3], good: [1, 2, 2], burnRate: [0, 0, 100 / 3] },
        { window: '1h', windowMs: 3_600_000, valid: [1, 2, 3], good: [1, 2, 2], burnRate: [0, 0, 100 / 3] },
      ],
      source: 'spans',
    };
    const [fast, slow] = burnCharts(series);
    assert.deepEqual(fast.data.series.map((s) => s.name), ['5m window', '10s window', 'threshold 5×']);
    assert.deepEqual(fast.data.series[2].values, [5, 5, 5]);
    assert.equal(fast.firingAtEnd, true);
    assert.deepEqual(slow.last, { long: 100 / 3, short: 100 / 3 });
    assert.equal(slow.firingAtEnd, false, '33x is under the 50x threshold');
  });

  it('routes: the list and one SLO keep their range; the series URL resolves it', () => {
    const url = formatRoute({ page: 'slo', state: { tenant: 'clinic', name: 'gateway-latency', range: { preset: '6h' } } });
    assert.equal(url, '/slos/clinic/gateway-latency?range=6h');
    assert.deepEqual(parseRoute('/slos/clinic/gateway-latency', '?range=6h'), { page: 'slo', state: { tenant: 'clinic', name: 'gateway-latency', range: { preset: '6h' } } });
    assert.deepEqual(parseRoute('/slos', '?start=10&end=20'), { page: 'slos', state: { range: { start: 10, end: 20 } } });
    assert.equal(sloSeriesUrl('clinic', 'gateway-latency', { preset: '5m' }, 1_764_000_000_000), '/api/sightline/slos/clinic/gateway-latency/series?start=1763999700&end=1764000000');
  });
});
