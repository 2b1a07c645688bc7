import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deployCompareLink, linkFrom, routeRange, DEPLOY_WINDOW_SECONDS, type LinkTarget } from './links.js';
import { DEFAULT_AUDIT, DEFAULT_SEARCH, formatRoute, parseRoute, traceRoute, type Route, type TimeRange } from './routes.js';
import { DEFAULT_LOGS } from './logs.js';

const parse = (url: string): Route => {
  const q = url.indexOf('?');
  return q < 0 ? parseRoute(url, '') : parseRoute(url.slice(0, q), url.slice(q));
};

/** The range a page shows: its own, or its default when the URL has none (a trace's is the search default). */
const shownRange = (route: Route): TimeRange | undefined =>
  routeRange(route) ?? (route.page === 'trace' ? DEFAULT_SEARCH.range : route.page === 'audit' ? DEFAULT_AUDIT.range : undefined);

/** A view of every kind, showing `range`. */
function views(range: TimeRange): Route[] {
  return [
    { page: 'search', state: { ...DEFAULT_SEARCH, q: '{ status = error }', range } },
    { page: 'compare', state: { q: '{ duration > 1s }', baseline: '', range } },
    traceRoute('0af7651916cd43dd8448eb211c80319c', { span: '00f067aa0ba902b7', range }),
    { page: 'services', state: { range } },
    { page: 'service', state: { service: 'checkout', operation: 'POST /orders', range } },
    { page: 'audit', state: { ...DEFAULT_AUDIT, range } },
    { page: 'logs', state: { ...DEFAULT_LOGS, level: 'warn', range } },
    { page: 'slos', state: { range } },
    { page: 'slo', state: { tenant: 'clinic', name: 'gateway latency/p99', range } },
  ];
}

const TARGETS: LinkTarget[] = [
  { page: 'search', q: '{ resource.service.name = "checkout" }' },
  { page: 'compare', q: '{ duration > 1s }', baseline: '{ duration < 1s }' },
  { page: 'trace', traceId: '4bf92f3577b34da6a3ce929d0e0e4736', span: '00f067aa0ba902b7' },
  { page: 'services' },
  { page: 'service', service: 'api gateway', operation: 'GET /x' },
  { page: 'audit', who: 'token:grafana' },
  { page: 'logs', q: '{ trace:id = "4bf92f3577b34da6a3ce929d0e0e4736" }' },
  { page: 'slos' },
  { page: 'slo', tenant: 'clinic', name: 'gateway latency/p99' },
];

describe('links between views keep the time range', () => {
  // 24h is a preset of both span pages and the audit trail, so every view can show it.
  const ranges: [string, TimeRange][] = [
    ['absolute', { start: 1_700_000_000, end: 1_700_003_600 }],
    ['relative', { preset: '24h' }],
    ['relative, the default', { preset: '1h' }],
    ['relative, short', { preset: '5m' }],
  ];
  for (const [kind, range] of ranges) {
    for (const from of views(range)) {
      // 5 minutes is no audit range: the audit trail is neither its origin nor its target (see below).
      const short = 'preset' in range && range.preset === '5m';
      if (from.page === 'audit' && short) continue;
      it(`from ${from.page}, ${kind}: every target shows the same range`, () => {
        // The origin itself, through its own URL, shows the range.
        const origin = parse(formatRoute(from));
        assert.deepEqual(shownRange(origin), range, formatRoute(from));
        for (const to of TARGETS.filter((t) => !(short && t.page === 'audit'))) {
          const url = linkFrom(from.page === 'not-found' ? undefined : from.state, to);
          const landed = parse(url);
          assert.equal(landed.page, to.page, url);
          assert.deepEqual(shownRange(landed), range, `${formatRoute(from)} -> ${url}`);
        }
      });
    }
  }

  it('leads where it says, with what it names', () => {
    const from = { range: { preset: '6h' } } as const;
    assert.equal(linkFrom(from, { page: 'search', q: '{ a = 1 }' }), '/search?q=%7B+a+%3D+1+%7D&range=6h');
    assert.equal(linkFrom(from, { page: 'service', service: 'api gateway', operation: 'GET /x' }), '/services/api%20gateway?operation=GET+%2Fx&range=6h');
    assert.equal(linkFrom(from, { page: 'trace', traceId: 'abc', span: '00f067aa0ba902b7' }), '/trace/abc?span=00f067aa0ba902b7&range=6h');
    assert.equal(linkFrom({ range: { start: 10, end: 20 } }, { page: 'services' }), '/services?start=10&end=20');
    assert.equal(linkFrom(from, { page: 'compare', q: '{ a = 1 }' }), '/compare?q=%7B+a+%3D+1+%7D&range=6h');
    assert.equal(linkFrom(from, { page: 'slo', tenant: 'clinic', name: 'gateway-latency' }), '/slos/clinic/gateway-latency?range=6h');
    assert.equal(linkFrom({ range: { preset: '1h' } }, { page: 'slos' }), '/slos');
  });

  it('gives a trace the range of the view that opened it, and none when opened by id alone', () => {
    const t = parse('/trace/abc?range=6h');
    assert.deepEqual(t.page === 'trace' && t.state.range, { preset: '6h' });
    assert.equal(formatRoute(t), '/trace/abc?range=6h');
    const bare = parse('/trace/abc');
    assert.equal(bare.page === 'trace' && bare.state.range, undefined);
    assert.equal(linkFrom(bare.page === 'trace' ? bare.state : undefined, { page: 'services' }), '/services');
    assert.equal(linkFrom(undefined, { page: 'search' }), '/search');
  });

  it('drops a preset the target page does not offer, rather than carry one it would misread', () => {
    // The audit trail's 30 days are no span page's range: the span page shows its default.
    assert.equal(linkFrom({ range: { preset: '30d' } }, { page: 'search', q: '' }), '/search');
    assert.equal(linkFrom({ range: { preset: '5m' } }, { page: 'audit' }), '/audit');
    assert.equal(linkFrom({ range: { preset: '30d' } }, { page: 'audit' }), '/audit?range=30d');
  });
});

describe('what changed at a deploy', () => {
  const at = 1_764_770_400; // 2025-12-03 14:00 UTC

  it('compares the service in the hour after the deploy against the same query in the hour before', () => {
    const url = deployCompareLink({ service: 'checkout', at, version: '2.0.0' });
    const route = parse(url);
    assert.equal(route.page, 'compare');
    if (route.page !== 'compare') return;
    assert.deepEqual(route.state, {
      q: '{ resource.service.name = "checkout" }',
      // Empty: the selection's query, in the baseline window.
      baseline: '',
      range: { start: at, end: at + 3600 },
      baselineRange: { start: at - 3600, end: at },
      event: 'deploy of checkout 2.0.0',
    });
    assert.equal(DEPLOY_WINDOW_SECONDS, 3600);
    // Written back the same: the link is the page's own URL.
    assert.equal(formatRoute(route), url);
    const p = new URLSearchParams(url.slice(url.indexOf('?')));
    assert.deepEqual([p.get('start'), p.get('end'), p.get('baselineStart'), p.get('baselineEnd')], [String(at), String(at + 3600), String(at - 3600), String(at)]);
  });

  it('quotes any service name into TraceQL, takes whole seconds, and another window length', () => {
    const route = parse(deployCompareLink({ service: 'say "hi" \\ there', at: at + 0.75 }, 900));
    assert.ok(route.page === 'compare');
    if (route.page !== 'compare') return;
    assert.equal(route.state.q, '{ resource.service.name = "say \\"hi\\" \\\\ there" }');
    assert.deepEqual([route.state.range, route.state.baselineRange, route.state.event], [{ start: at, end: at + 900 }, { start: at - 900, end: at }, 'deploy of say "hi" \\ there']);
  });

  it('keeps compare links short without a baseline window, and ignores half of one', () => {
    const plain = { page: 'compare', state: { q: '{ a = 1 }', baseline: '', range: { start: 10, end: 20 } } } as const;
    assert.equal(formatRoute(plain), '/compare?q=%7B+a+%3D+1+%7D&start=10&end=20');
    const half = parse('/compare?q=x&baselineStart=5&event=deploy');
    assert.ok(half.page === 'compare' && half.state.baselineRange === undefined && half.state.event === undefined);
    const backwards = parse('/compare?q=x&baselineStart=9&baselineEnd=5');
    assert.ok(backwards.page === 'compare' && backwards.state.baselineRange === undefined);
  });
});
