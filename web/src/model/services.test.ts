import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { serviceMapLayout, splitMap, splitName, lineChart, loadChart, loadHeatmapView, nodeHealth, baselineWindow, boxesOverlap, type LoadJson, type ServiceMapJson } from './services.js';
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
  const bucket = (c: number, latencyMs: number, waitMs: number, slowShare?: number) => ({
    concurrencyMin: c,
    concurrencyMax: c,
    spans: 10,
    latency: { meanNs: latencyMs * 1e6, p50Ns: latencyMs * 1e6, p95Ns: latencyMs * 1e6 },
    wait: { meanNs: waitMs * 1e6, p50Ns: waitMs * 1e6, p95Ns: waitMs * 1e6 },
    waitShare: waitMs / latencyMs,
    ...(slowShare !== undefined ? { slowShare } : {}),
  });
  const band = (c: number, latencyMs: number, waitMs: number) => ({ concurrencyMin: c, concurrencyMax: c, spans: 100, latencyMeanNs: latencyMs * 1e6, waitMeanNs: waitMs * 1e6 });
  const trend = (low: ReturnType<typeof band>, high: ReturnType<typeof band>, latencyGrows: boolean, waitGrows: boolean) => ({ latencyNsPerRequest: 0, waitNsPerRequest: 0, waitCorrelation: 0, low, high, latencyGrows, waitGrows });

  it('calls a wait that grows with load saturation, and draws both means over concurrency', () => {
    // The clinic lab's pool fault, as the load endpoint answered it: wait 2.5 ms at 1 in flight, 303.5 ms at 16.
    const c = loadChart(
      {
        spans: 80,
        sampled: false,
        measured: 80,
        buckets: [bucket(1, 49.5, 2.5), bucket(4, 65.7, 18.9), bucket(8, 166, 115.9), bucket(16, 351.6, 303.5)],
        trend: trend(band(1, 49.5, 2.5), band(16, 351.6, 303.5), true, true),
      },
      300,
      100,
    );
    assert.equal(c.saturating, true);
    assert.equal(
      c.verdict,
      'Latency grows with load, from 49.5 ms on average at 1 in flight to 351 ms at 16, and 99% of the rise is waiting with no child span running: a pool, a lock or a queue that runs out.',
    );
    assert.equal(c.points[0].x, 0);
    assert.equal(c.points[3].x, 300);
    assert.ok(c.points[3].waitY < c.points[0].waitY, 'higher wait is higher up');
    assert.ok(c.points.every((p) => p.latencyY <= p.waitY), 'latency is never below its wait');
    assert.equal(c.lines[1].d.split('L').length, 4);
    assert.match(c.waitArea, /Z$/);
    assert.deepEqual(c.xTicks.map((t) => t.value), [5, 10, 15], 'whole requests in flight, on 1-2-5 steps');
  });

  it('says latency grows for bimodal load-driven latency, however little it grows per request in flight', () => {
    // 10 ms or 200 ms a span; the slow share goes from 2% at 1-10 in flight to 60% at 191-200: under 1 ms per request.
    const load: LoadJson = {
      spans: 1000,
      sampled: false,
      measured: 1000,
      buckets: [bucket(5, 13.8, 3.8, 0.02), bucket(100, 105, 95, 0.5), bucket(195, 124, 114, 0.6)],
      trend: { ...trend(band(5, 13.8, 3.8), band(195, 124, 114), true, true), latencyNsPerRequest: 0.58e6, waitCorrelation: 0.45 },
      bimodal: { thresholdNs: 45e6, fast: { spans: 600, p50Ns: 10e6 }, slow: { spans: 400, p50Ns: 200e6 }, slowShare: 0.4, separation: 9.1 },
    };
    const c = loadChart(load, 300, 100);
    assert.equal(c.kind, 'saturating');
    assert.match(c.verdict, /^Latency grows with load/);
    assert.equal(
      c.bimodal,
      'Latency is bimodal: a span takes about 10 ms or about 200 ms (40.0% slow, at or above 45 ms), so a median would flip between the two. The slow share is 2.0% at 5 in flight and 60.0% at 195.',
    );
  });

  it('tells a slow dependency (flat wait) and no load effect apart from saturation', () => {
    const slowChildren = loadChart({ spans: 40, sampled: false, measured: 40, buckets: [bucket(1, 50, 2), bucket(8, 150, 2)], trend: trend(band(1, 50, 2), band(8, 150, 2), true, false) }, 300, 100);
    assert.equal(slowChildren.saturating, false);
    assert.match(slowChildren.verdict, /look at the child spans/);
    const flat = loadChart({ spans: 40, sampled: false, measured: 40, buckets: [bucket(1, 50, 2), bucket(8, 50, 2)], trend: trend(band(1, 50, 2), band(8, 51, 2), false, false) }, 300, 100);
    assert.equal(flat.verdict, 'Latency does not grow with load: 50 ms on average at 1 in flight, 51 ms at 8.');
    assert.equal(flat.bimodal, undefined);
    assert.match(loadChart({ spans: 3, sampled: false, measured: 3, buckets: [bucket(2, 10, 1)], trend: null }, 300, 100).verdict, /Too little variation/);
    const noBands = loadChart({ spans: 40, sampled: false, measured: 40, buckets: [bucket(1, 50, 2), bucket(2, 50, 2)], trend: { ...trend(band(1, 50, 2), band(2, 50, 2), false, false), low: null, high: null } }, 300, 100);
    assert.equal(noBands.kind, 'too-little');
  });

  it('lays the heatmap of spans out by time and duration, with the load over it', () => {
    const bounds = [10e6, 15e6, 20e6, 30e6, 50e6, 70e6, 100e6, 150e6, 200e6, 300e6];
    const v = loadHeatmapView(
      {
        startMs: 1_000_000,
        stepMs: 1000,
        columns: 4,
        durationBoundsNs: bounds,
        cells: [
          { column: 0, row: 1, spans: 5 },
          { column: 3, row: 9, spans: 2 },
        ],
        inFlight: [1, null, 2, 4],
      },
      400,
      100,
    );
    assert.deepEqual(v.layout.cells.map((c) => [c.column, c.row, c.traces, c.x, c.width]), [
      [0, 1, 5, 0, 100],
      [3, 9, 2, 300, 100],
    ]);
    assert.equal(v.layout.total, 7);
    assert.ok(v.layout.cells[1].y < v.layout.cells[0].y, 'longer is higher');
    assert.equal(v.inFlight!.d, 'M50,75M250,50L350,0', 'the line breaks where no span started');
    assert.deepEqual(v.inFlight!.yTicks.map((t) => t.value), [0, 1, 2, 3, 4]);
  });
});

describe('service health', () => {
  const n = (requests: number, errors: number, p95Ms: number | null) => ({ service: 's', spans: requests, requests, rate: requests / 60, errors, errorRate: requests > 0 ? errors / requests : 0, p50: null, p95: p95Ms === null ? null : p95Ms * 1e6, p99: null });

  it('calls failing requests unhealthy even with no baseline, and a clean service healthy', () => {
    const failing = nodeHealth(n(40, 5, 80), undefined);
    assert.equal(failing.level, 'unhealthy');
    assert.deepEqual(failing.reasons, ['errors 12.5% (no baseline)']);
    assert.equal(nodeHealth(n(40, 0, 80), undefined).level, 'healthy');
    assert.equal(nodeHealth(n(0, 0, null), undefined).level, 'idle');
    // Two errors in a thousand is noise, not a finding.
    assert.equal(nodeHealth(n(1000, 2, 80), undefined).level, 'healthy');
  });

  it('judges against the service own usual: always 10% errors is as usual, 2x its usual p95 is not', () => {
    assert.equal(nodeHealth(n(100, 10, 80), n(400, 40, 80)).level, 'healthy');
    const slow = nodeHealth(n(100, 0, 200), n(400, 0, 80));
    assert.equal(slow.level, 'unhealthy');
    assert.deepEqual(slow.reasons, ['p95 200 ms (usually 80 ms, 2.5x)']);
    assert.equal(nodeHealth(n(100, 0, 110), n(400, 0, 80)).level, 'degraded');
    // A baseline of a few requests is no baseline.
    assert.equal(nodeHealth(n(100, 0, 200), n(5, 0, 80)).level, 'healthy');
    assert.deepEqual(baselineWindow({ start: 1000, end: 1100 }), { start: 600, end: 1000 });
  });
});

describe('service map labels', () => {
  const arrowsOf = (l: ReturnType<typeof serviceMapLayout>) => l.edges.map((e) => e.arrowBox);

  it('puts no label on another, on an arrowhead, or on its own edge', () => {
    // A fan-out: one caller, five callees in the next column; and a fan-in behind them.
    const callees = ['a', 'b', 'c', 'd', 'e'];
    const map: ServiceMapJson = {
      start: 0,
      end: 60,
      nodes: ['gw', ...callees, 'db'].map(node),
      edges: [...callees.map((c) => edge('gw', c)), ...callees.map((c) => edge(c, 'db')), edge('db', 'gw')],
    };
    const l = serviceMapLayout(map);
    const labels = l.edges.map((e) => e.labelBox);
    for (let i = 0; i < labels.length; i++) {
      for (let j = i + 1; j < labels.length; j++) assert.ok(!boxesOverlap(labels[i], labels[j]), `labels ${i} and ${j} overlap`);
      for (const a of arrowsOf(l)) assert.ok(!boxesOverlap(labels[i], a), `label ${i} covers an arrowhead`);
      for (const nd of l.nodes) assert.ok(!boxesOverlap(labels[i], { x: nd.x, y: nd.y, width: 170, height: 58 }), `label ${i} covers ${nd.node.service}`);
    }
    // Everything is inside the drawing.
    for (const b of [...labels, ...arrowsOf(l)]) assert.ok(b.x >= 0 && b.y >= 0 && b.x + b.width <= l.width && b.y + b.height <= l.height, JSON.stringify(b));
  });

  it('ends each edge at an arrowhead whose tip touches the target', () => {
    const l = serviceMapLayout({ start: 0, end: 60, nodes: ['a', 'b'].map(node), edges: [edge('a', 'b'), edge('b', 'a')] });
    const b = l.nodes.find((x) => x.node.service === 'b')!;
    const a = l.nodes.find((x) => x.node.service === 'a')!;
    assert.ok(l.edges[0].arrow.startsWith(`M${b.x},${b.y + 29}`), l.edges[0].arrow);
    assert.ok(l.edges[1].arrow.startsWith(`M${a.x + 85},${a.y + 58}`), l.edges[1].arrow);
    assert.equal(l.edges[0].label, '1.00/s · 0.0% · p95 2 ns');
  });
});

describe('a map split by a resource attribute', () => {
  const stat = { spans: 1, requests: 1, rate: 1, errors: 0, errorRate: 0, p50: 1, p95: 1, p99: 1 };
  const edge = { kind: 'request' as const, count: 1, rate: 1, errors: 0, errorRate: 0, p50: 1, p95: 1, p99: 1 };
  it('names each (service, value) as a node, maps edges onto them, and finds the service for links', () => {
    const map: ServiceMapJson = {
      start: 0,
      end: 1,
      groupBy: 'nomad.node.name',
      nodes: [
        { service: 'billing', group: 'node-a', ...stat },
        { service: 'ledger', group: 'node-a', ...stat },
        { service: 'ledger', group: null, ...stat },
      ],
      edges: [
        { source: 'billing', sourceGroup: 'node-a', target: 'ledger', targetGroup: 'node-a', ...edge },
        { source: 'billing', sourceGroup: 'node-a', target: 'ledger', targetGroup: null, ...edge },
      ],
    };
    const { map: split, serviceOf } = splitMap(map);
    assert.deepEqual(split.nodes.map((n) => n.service), ['billing @ node-a', 'ledger @ node-a', 'ledger @ (none)']);
    assert.deepEqual(split.edges.map((e) => `${e.source} > ${e.target}`), ['billing @ node-a > ledger @ node-a', 'billing @ node-a > ledger @ (none)']);
    assert.equal(serviceOf('ledger @ (none)'), 'ledger');
    assert.equal(splitName('a', ''), 'a @ (none)');
    // Laid out as any map: every edge joins two nodes.
    const layout = serviceMapLayout(split);
    assert.equal(layout.nodes.length, 3);
    assert.equal(layout.edges.length, 2);
  });

  it('leaves an unsplit map as it is, and keeps groupBy in the URL', () => {
    const map: ServiceMapJson = { start: 0, end: 1, nodes: [{ service: 'a', ...stat }], edges: [] };
    assert.equal(splitMap(map).map, map);
    const url = formatRoute({ page: 'services', state: { range: { preset: '6h' }, groupBy: 'host.name' } });
    assert.match(url, /groupBy=host\.name/);
    const back = parseRoute(url.split('?')[0], `?${url.split('?')[1]}`);
    assert.deepEqual(back.page === 'services' ? back.state.groupBy : undefined, 'host.name');
  });
});
