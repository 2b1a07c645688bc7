import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseSloConfig, SloConfigError, DEFAULT_ALERT_WINDOWS } from './config.js';
import { budgetRemaining, burnRate, evaluateWindows, formatWindow } from './budget.js';
import { alertmanagerBody, backoffMs, ZERO_TIME, type AlertNotice } from './notify.js';
import { winnerOf } from './evaluator.js';

const GOOD = `receivers:
  oncall: { url: "http://127.0.0.1:9/hook" }
slos:
  - tenant: clinic
    name: gateway-latency
    valid: '{ resource.service.name = "gateway" && kind = server }'
    good: '{ duration < 300ms && status != error }'
    objective: 99.5
    window: 28d
    receivers: [oncall]
`;

function errorOf(text: string): string {
  try {
    parseSloConfig(text, 'slos.yaml');
  } catch (e) {
    assert.ok(e instanceof SloConfigError, String(e));
    return e.message;
  }
  assert.fail('accepted');
}

describe('SLO config', () => {
  it('valid: defaults to the SRE workbook pairs, bad = valid && !good', () => {
    const c = parseSloConfig(GOOD, 'slos.yaml');
    const [s] = c.slos;
    assert.equal(s.windowMs, 28 * 86400_000);
    assert.deepEqual(s.alerts, DEFAULT_ALERT_WINDOWS);
    assert.deepEqual(
      s.alerts.map((a) => [formatWindow(a.longMs), formatWindow(a.shortMs), a.burnRate]),
      [['1h', '5m', 14.4], ['6h', '30m', 6], ['1d', '2h', 3], ['3d', '6h', 1]],
    );
    assert.equal(s.badQuery, '{ (resource.service.name = "gateway" && kind = server) && !(duration < 300ms && status != error) }');
    assert.equal(s.goodQuery, '{ (resource.service.name = "gateway" && kind = server) && (duration < 300ms && status != error) }');
    assert.equal(c.receivers.get('oncall')?.format, 'alertmanager');
  });

  it('parse_fails and validate_fails: file, line, column and the problem', () => {
    // `300x` starts at line 7, column 25 of the file: the TraceQL position inside the quoted string.
    assert.equal(errorOf(GOOD.replace("'{ duration < 300ms", "'{ duration < 300xs")), 'slos.yaml:7:25: good is not valid TraceQL: invalid number "300x"');
    assert.match(errorOf(GOOD.replace("'{ duration < 300ms", "'{ duration < 300xs")), /^slos\.yaml:7:\d+: good is not valid TraceQL: /);
    assert.match(errorOf(GOOD.replace('duration < 300ms', 'duration < "slow"')), /^slos\.yaml:7:\d+: good is not valid TraceQL: /);
    assert.equal(errorOf(GOOD.replace('objective: 99.5', 'objective: 100')), 'slos.yaml:8:16: objective must be a percentage above 0 and below 100 (e.g. 99.5)');
    assert.equal(errorOf(GOOD.replace('window: 28d', 'window: 28 days')), 'slos.yaml:9:13: window must be a duration of at least 1s (e.g. 30s, 5m, 1h, 28d); got "28 days"');
    assert.equal(errorOf(GOOD.replace('receivers: [oncall]', 'receivers: [pager]')), 'slos.yaml:10:17: no receiver named "pager" under receivers:');
    assert.equal(errorOf(GOOD.replace('    window: 28d\n', '    window: 28d\n    windw: 1h\n')), 'slos.yaml:10:5: unknown key "windw" in an SLO (expected one of tenant, name, description, valid, good, objective, window, alerts, receivers)');
    assert.match(errorOf(GOOD.replace("'{ duration < 300ms && status != error }'", "'{ duration < 300ms } | count() > 1'")), /^slos\.yaml:7:11: good must be one spanset filter/);
    assert.match(errorOf(`${GOOD}  - tenant: clinic\n    name: gateway-latency\n    valid: '{ }'\n    good: '{ }'\n    objective: 99\n    window: 1h\n`), /^slos\.yaml:12:11: tenant clinic has two SLOs named gateway-latency/);
    assert.match(errorOf('slos: [\n'), /^slos\.yaml:\d+:\d+: /);
  });

  it('names the place of a TraceQL error without the string it quotes (span values stay out of the logs)', () => {
    const text = GOOD.replace("'{ duration < 300ms", `'{ span.patient.name "Ada Lovelace" && duration < 300ms`);
    // The string starts at column 32 of line 7.
    assert.equal(errorOf(text), "slos.yaml:7:32: good is not valid TraceQL: expected '}', found a string");
    // Other tokens are the query's syntax, and stay.
    assert.equal(errorOf(GOOD.replace("'{ duration < 300ms", "'{ duration < 300xs")), 'slos.yaml:7:25: good is not valid TraceQL: invalid number "300x"');
  });
});

describe('SLO arithmetic', () => {
  it('burn rate and budget', () => {
    // 99% objective: 1% may fail. 3% failing burns 3x; 0.5% spends half the budget.
    assert.equal(Math.round(burnRate({ valid: 1000, good: 970 }, 99) * 1000) / 1000, 3);
    assert.equal(Math.round(budgetRemaining({ valid: 1000, good: 995 }, 99) * 1000) / 1000, 0.5);
    assert.equal(budgetRemaining({ valid: 0, good: 0 }, 99), 1);
    assert.equal(burnRate({ valid: 0, good: 0 }, 99), 0);
    assert.ok(budgetRemaining({ valid: 100, good: 90 }, 99) < 0);
  });

  it('both windows of a pair must burn', () => {
    const burns = new Map([[3600_000, 20], [300_000, 1]]);
    const [fast] = evaluateWindows(DEFAULT_ALERT_WINDOWS.slice(0, 1), (w) => burns.get(w) ?? 0);
    assert.equal(fast.firing, false, 'long burning, short recovered: not firing');
    burns.set(300_000, 15);
    assert.equal(evaluateWindows(DEFAULT_ALERT_WINDOWS.slice(0, 1), (w) => burns.get(w) ?? 0)[0].firing, true);
  });

  it('backoff doubles to its cap', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => backoffMs(n, 1000, 10_000)), [1000, 2000, 4000, 8000, 10_000, 10_000]);
  });

  it("Alertmanager's webhook body, version 4", () => {
    const notice: AlertNotice = { status: 'firing', labels: { alertname: 'SLOErrorBudgetBurn', tenant: 't', slo: 's', severity: 'page' }, annotations: { summary: 'x' }, startsAt: '2026-01-01T00:00:00.000Z', endsAt: ZERO_TIME, generatorURL: 'http://x/', fingerprint: '0123456789abcdef' };
    const body = alertmanagerBody(notice, 'oncall', 'http://x');
    assert.deepEqual(Object.keys(body).sort(), ['alerts', 'commonAnnotations', 'commonLabels', 'externalURL', 'groupKey', 'groupLabels', 'receiver', 'status', 'truncatedAlerts', 'version']);
    assert.equal(body.version, '4');
    assert.deepEqual(body.alerts, [notice]);
    assert.equal(body.groupKey, '{}:{alertname="SLOErrorBudgetBurn", slo="s", tenant="t"}');
  });

  it('a lease term goes to its smallest claimant, at its latest renewal', () => {
    const claims = [
      { term: 2, owner: 'b', expiresMs: 10, writtenMs: 1 },
      { term: 2, owner: 'a', expiresMs: 12, writtenMs: 2 },
      { term: 2, owner: 'a', expiresMs: 20, writtenMs: 5 },
      { term: 1, owner: 'c', expiresMs: 9, writtenMs: 0 },
    ];
    assert.deepEqual(winnerOf(claims, 2), { owner: 'a', expiresMs: 20 });
    assert.equal(winnerOf(claims, 3), null);
  });
});
