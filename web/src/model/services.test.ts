import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { serviceMapLayout, lineChart, loadChart, type ServiceMapJson } from './services.js';
import { formatRoute, parseRoute } from './routes.js';

const edge = (source: string, target: string) => ({ source, target, kind: 'request' as const, count: 10, rate: 1, errors: 0, errorRate: 0, p50: 1, p95: 2, p99: 3 });
const node = (service: string) => ({ service, spans: 1, requests: 1, rate: 1, errors: 0, errorRate: 0, p50: 1, p95: 1, p99: 1 });

describe('service map layout', () => {
  it('puts callers left of callees, by their longest call chain', () => {
    const map: ServiceMapJson = {
      start: 0,
      end: 60,
      nodes: ['frontend', 'checkout', 'payments', 'db'].map(node),
      edges: [edge('frontend', 'checkout'), edge('checkout', 'payments'), edge('payments', 'db'), edge('frontend', 'db')],
    };
    const layout = serviceMapLayout(map);
    const rank = Object.fromEntries(layout.nodes.map((n) => [n.node.service, n.rank]));
    assert.deepEqual(rank, { frontend: 0, checkout: 1, payments: 2, db: 3 });
    assert.ok(layout.edges.every((e) => !e.backward));
    assert.ok(layout.width > 3 * 170);
  });

  it('breaks a cycle at the entry and draws the call back as an arc', () => {
    const map: ServiceMapJson = { start: 0, end: 60, nodes: ['gateway', 'a', 'b'].map(node), edges: [edge('gateway', 'a'), edge('a', 'b'), edge('b', 'a'), edge('b', 'b')] };
    const layout = serviceMapLayout(map);
    const rank = Object.fromEntries(layout.nodes.map((n) => [n.node.service, n.rank]));
    assert.deepEqual(rank, { gateway: 0, a: 1, b: 2 });
    assert.deepEqual(
      layout.edges.map((e) => [e.edge.source, e.edge.target, e.backward]),
      [
        ['gateway', 'a', false],
        ['a', 'b', false],
        ['b', 'a', true],
        ['b', 'b', true],
      ],
    );
  });

  it('places a service named only by an edge', () => {
    const layout = serviceMapLayout({ start: 0, end: 60, nodes: [node('web')], edges: [edge('web', 'redis')] });
    assert.deepEqual(layout.nodes.map((n) => [n.node.service, n.node.requests]), [['web', 1], ['redis', 0]]);
  });
});

describe('line charts', () => {
  it('breaks a line at an empty bucket instead of drawing zero', () => {
    const c = lineChart([0, 1000, 2000, 3000], [{ name: 'p95', values: [10, null, 20, 20] }], 300, 100);
    assert.equal(c.lines[0].d.split('M').length - 1, 2);
    assert.equal(c.xs[3], 300);
    assert.equal(c.yTicks[0].value, 0);
    assert.ok(c.yTicks[c.yTicks.length - 1].value >= 20);
  });

  it('copes with one bucket and all zeros', () => {
    const c = lineChart([5000], [{ name: 'rate', values: [0] }], 200, 50);
    assert.equal(c.lines[0].d, 'M100,50');
  });
});

describe('routes: services', () => {
  it('reads and writes the service map and a service page', () => {
    const map = parseRoute('/services', '?range=6h');
    assert.deepEqual(map, { page: 'services', state: { range: { preset: '6h' } } });
    assert.equal(formatRoute(map), '/services?range=6h');
    const svc = parseRoute('/services/api%20gateway', '?operation=GET+%2Fx&start=100&end=200');
    assert.deepEqual(svc, { page: 'service', state: { service: 'api gateway', operation: 'GET /x', range: { start: 100, end: 200 } } });
    assert.equal(formatRoute(svc), '/services/api%20gateway?operation=GET+%2Fx&start=100&end=200');
    assert.equal(formatRoute({ page: 'services', state: { range: { preset: '1h' } } }), '/services');
  });
});

describe('load chart', () => {
  const bucket = (c: number, latencyMs: number, waitMs: number) => ({
    concurrencyMin: c,
    concurrencyMax: c,
    spans: 10,
    latency: { meanNs: latencyMs * 1e6, p50Ns: latencyMs * 1e6, p95Ns: latencyMs * 1e6 },
    wait: { meanNs: waitMs * 1e6, p50Ns: waitMs * 1e6, p95Ns: waitMs * 1e6 },
    waitShare: waitMs / latencyMs,
  });

  it('calls a wait that grows with load saturation, and draws both lines over concurrency', () => {
    // The clinic lab's pool fault, as the load endpoint answered it: wait 2.5 ms at 1 in flight, 303.5 ms at 16.
    const c = loadChart(
      { spans: 80, sampled: false, measured: 80, buckets: [bucket(1, 49.5, 2.5), bucket(4, 65.7, 18.9), bucket(8, 166, 115.9), bucket(16, 351.6, 303.5)], trend: { latencyNsPerRequest: 21.9e6, waitNsPerRequest: 21.9e6, waitCorrelation: 0.99 } },
      300,
      100,
    );
    assert.equal(c.saturating, true);
    assert.match(c.verdict, /^Waiting grows by 22 ms per request in flight \(r = 0\.99\)/);
    assert.equal(c.points[0].x, 0);
    assert.equal(c.points[3].x, 300);
    assert.ok(c.points[3].waitY < c.points[0].waitY, 'higher wait is higher up');
    assert.ok(c.points.every((p) => p.latencyY <= p.waitY), 'latency is never below its wait');
    assert.equal(c.lines[1].d.split('L').length, 4);
    assert.deepEqual(c.xTicks.map((t) => t.value), [5, 10, 15], 'whole requests in flight, on 1-2-5 steps');
  });

  it('tells a slow dependency (flat wait) and no load effect apart from saturation', () => {
    const slowChildren = loadChart({ spans: 40, sampled: false, measured: 40, buckets: [bucket(1, 50, 2), bucket(8, 150, 2)], trend: { latencyNsPerRequest: 14e6, waitNsPerRequest: 0, waitCorrelation: 0 } }, 300, 100);
    assert.equal(slowChildren.saturating, false);
    assert.match(slowChildren.verdict, /look at the child spans/);
    const flat = loadChart({ spans: 40, sampled: false, measured: 40, buckets: [bucket(1, 50, 2), bucket(8, 50, 2)], trend: { latencyNsPerRequest: 0, waitNsPerRequest: 0, waitCorrelation: 0 } }, 300, 100);
    assert.match(flat.verdict, /does not grow/);
    assert.match(loadChart({ spans: 3, sampled: false, measured: 3, buckets: [bucket(2, 10, 1)], trend: null }, 300, 100).verdict, /Too little variation/);
  });
});
