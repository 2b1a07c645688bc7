import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { serviceMapLayout, lineChart, type ServiceMapJson } from './services.js';
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
