import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { eventually, startSightline, type Sightline } from '../testkit/sightline.js';
import { postOtlp } from '../testkit/fixtures.js';
import { plantDeployChange, type PlantedDeploy } from '../testkit/deploy-change.js';

/**
 * The diagnosis endpoints over HTTP, on a real Sightline fed over OTLP/HTTP:
 * parameters, answer shapes and errors. What each method computes is
 * checked on every store by src/store/diagnosis-conformance.ts.
 */

const MS = 1_000_000n;
const T0 = ((BigInt(Date.now()) * MS - 120_000n * MS) / 60_000_000_000n) * 60_000_000_000n;
const START = Number(T0 / 1_000_000_000n) - 60;
const END = START + 300;

/** 20 bookings: gateway -> appointments -> a database call; tenant t2's are slow in the database. */
function fixture(): unknown {
  const gateway: unknown[] = [];
  const appointments: unknown[] = [];
  for (let i = 0; i < 20; i++) {
    const traceId = randomBytes(16).toString('hex');
    const [root, call, server, db] = [0, 1, 2, 3].map(() => randomBytes(8).toString('hex'));
    const slow = i % 2 === 1;
    const t = T0 + BigInt(i) * 1000n * MS;
    const ns = (ms: number) => (t + BigInt(ms) * MS).toString();
    const d = slow ? 400 : 40;
    const span = (spanId: string, parentSpanId: string | null, name: string, kind: number, from: number, to: number, attributes: unknown[] = []) => ({
      traceId,
      spanId,
      ...(parentSpanId ? { parentSpanId } : {}),
      name,
      kind,
      startTimeUnixNano: ns(from),
      endTimeUnixNano: ns(to),
      attributes,
      status: {},
    });
    gateway.push(
      span(root, null, 'POST /book', 2, 0, d + 30, [{ key: 'tenant.id', value: { stringValue: slow ? 't2' : 't1' } }]),
      span(call, root, 'POST appointments', 3, 5, d + 25),
    );
    appointments.push(span(server, call, 'POST /appointments', 2, 8, d + 22), span(db, server, 'INSERT appointment', 3, 10, d + 10));
  }
  const rs = (service: string, spans: unknown[]) => ({ resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] }, scopeSpans: [{ scope: { name: 'api-test' }, spans }] });
  return { resourceSpans: [rs('api-gateway', gateway), rs('api-appointments', appointments)] };
}

let s: Sightline;
before(async () => {
  s = await startSightline();
  const r = await postOtlp(s.otlpHttp, JSON.stringify(fixture()));
  assert.equal(r.status, 200, r.body.toString());
  await eventually(async () => {
    const map = (await (await fetch(`${s.api}/api/sightline/service-map?start=${START}&end=${END}`)).json()) as { nodes: { spans: number }[] };
    return map.nodes.reduce((n, x) => n + x.spans, 0) === 80 ? true : undefined;
  });
});
after(async () => {
  await s.stop();
  s.cleanup();
});

const get = async (path: string, status = 200) => {
  const r = await fetch(`${s.api}${path}`);
  const text = await r.text();
  assert.equal(r.status, status, `${path}: ${text}`);
  return status === 200 ? JSON.parse(text) : text;
};
const range = `start=${START}&end=${END}`;
const q = (text: string) => encodeURIComponent(text);
const SLOW = '{ resource.service.name = "api-gateway" && duration > 200ms }';

describe('diagnosis API', () => {
  it('GET /api/sightline/service-map', async () => {
    const map = await get(`/api/sightline/service-map?${range}`);
    assert.deepEqual(Object.keys(map), ['start', 'end', 'sampledFraction', 'nodes', 'edges']);
    assert.equal(map.sampledFraction, 1);
    // A sample of about 40 of the 80 spans: whole traces, counts scaled back up.
    const half = await get(`/api/sightline/service-map?${range}&maxSpans=40`);
    assert.equal(half.sampledFraction, 0.5);
    assert.ok(half.edges.length <= 1 && half.nodes.every((n: { spans: number }) => n.spans % 2 === 0));
    assert.equal(map.edges.length, 1);
    assert.deepEqual(
      { source: map.edges[0].source, target: map.edges[0].target, kind: map.edges[0].kind, count: map.edges[0].count, errorRate: map.edges[0].errorRate },
      { source: 'api-gateway', target: 'api-appointments', kind: 'request', count: 20, errorRate: 0 },
    );
    assert.deepEqual(Object.keys(map.edges[0]), ['source', 'target', 'kind', 'count', 'rate', 'errors', 'errorRate', 'p50', 'p95', 'p99']);
    assert.deepEqual(map.nodes.map((n: { service: string }) => n.service), ['api-appointments', 'api-gateway']);
  });

  it('GET /api/sightline/red and /services/{service}/operations', async () => {
    const red = await get(`/api/sightline/red?service=api-gateway&${range}&step=1m`);
    assert.equal(red.stepSeconds, 60);
    assert.equal(red.points.reduce((n: number, p: { count: number }) => n + p.count, 0), 20);
    const op = await get(`/api/sightline/red?service=api-appointments&operation=${q('INSERT appointment')}&${range}&step=300`);
    // Whole 5-minute steps around the range: the bookings fall in one of them.
    assert.deepEqual(op.points.filter((p: { count: number }) => p.count > 0).map((p: { count: number; p99: number }) => [p.count, p.p99]), [[20, 400e6]]);
    assert.equal(op.points[0].time % 300_000, 0);
    const ops = await get(`/api/sightline/services/api-gateway/operations?${range}`);
    assert.deepEqual(ops.operations.map((o: { name: string; kind: string; count: number }) => [o.name, o.kind, o.count]).sort(), [['POST /book', 'server', 20], ['POST appointments', 'client', 20]]);
    assert.match(await get(`/api/sightline/red?${range}`, 400), /missing parameter service/);
    assert.match(await get(`/api/sightline/red?service=x&${range}&step=soon`, 400), /invalid step/);
  });

  it('GET /api/sightline/compare', async () => {
    const r = await get(`/api/sightline/compare?q=${q(SLOW)}&${range}`);
    assert.deepEqual(Object.keys(r), ['attributes', 'numeric', 'inspected']);
    assert.deepEqual([r.attributes[0].key, r.attributes[0].value, r.attributes[0].selectionShare, r.attributes[0].baselineShare], ['tenant.id', 't2', 1, 0]);
    assert.deepEqual(Object.keys(r.attributes[0]), ['scope', 'key', 'value', 'type', 'selectionShare', 'baselineShare', 'selectionTraces', 'baselineTraces', 'score']);
    assert.deepEqual(r.inspected, { unit: 'trace', selectionTraces: 10, baselineTraces: 10, selectionSpans: 40, baselineSpans: 40, sampled: false, maxTraces: 1000 });
    assert.match(await get(`/api/sightline/compare?${range}`, 400), /missing parameter q/);
    assert.match(await get(`/api/sightline/compare?q=${q('{ duration > }')}&${range}`, 400), /parse error/);
  });

  it('GET /api/sightline/compare/latency', async () => {
    const trace = (t: { traceId: string; startMs: number; durationMs: number }) => t.durationMs;
    // The groups compare reads, each trace's start and duration.
    const r = await get(`/api/sightline/compare/latency?q=${q(SLOW)}&${range}`);
    assert.deepEqual(Object.keys(r), ['startMs', 'endMs', 'maxTraces', 'selection', 'baseline']);
    assert.deepEqual([r.startMs, r.endMs, r.maxTraces], [START * 1000, END * 1000, 1000]);
    assert.deepEqual([r.selection.total, r.selection.totalExact, r.selection.sampled, [...new Set(r.selection.traces.map(trace))]], [10, true, false, [430]]);
    assert.deepEqual([r.baseline.total, r.baseline.sampled, [...new Set(r.baseline.traces.map(trace))]], [10, false, [70]]);
    assert.match(r.selection.traces[0].traceId, /^[0-9a-f]{32}$/);
    assert.ok(r.selection.traces.every((t: { startMs: number }) => t.startMs >= START * 1000 && t.startMs < END * 1000));
    // Without a selection: every trace of the range, here a uniform sample of 5 of them, with the total.
    const all = await get(`/api/sightline/compare/latency?${range}&maxTraces=5`);
    assert.equal(all.selection, null);
    assert.deepEqual([all.baseline.total, all.baseline.totalExact, all.baseline.sampled, all.baseline.traces.length], [20, true, true, 5]);
    assert.match(await get(`/api/sightline/compare/latency?q=${q('{ duration > }')}&${range}`, 400), /parse error/);
  });

  it('GET /api/sightline/critical-path', async () => {
    const r = await get(`/api/sightline/critical-path?q=${q(SLOW)}&baseline=${q('{ resource.service.name = "api-gateway" && duration < 200ms }')}&${range}`);
    assert.equal(r.extraLatencyNs, 360e6);
    assert.deepEqual([r.operations[0].service, r.operations[0].operation, r.operations[0].explainsNs], ['api-appointments', 'INSERT appointment', 360e6]);
    assert.deepEqual([r.selection.traces, r.baseline.traces], [10, 10]);
  });

  it('GET /api/sightline/load', async () => {
    const r = await get(`/api/sightline/load?q=${q('{ name = "POST /book" }')}&${range}`);
    assert.equal(r.spans, 20);
    assert.deepEqual(r.buckets.map((b: { concurrencyMin: number; spans: number }) => [b.concurrencyMin, b.spans]), [[1, 20]]);
    assert.match(await get(`/api/sightline/load?q=${q('{ } >> { }')}&${range}`, 501), /one spanset filter/);
  });
});

describe('diagnosis API: what changed at a deploy (two windows)', () => {
  // Two hours ago, on a whole minute: the hour after it has ended.
  const t = Math.floor((Date.now() / 1000 - 7200) / 60) * 60;
  let planted: PlantedDeploy;
  const windows = `start=${t}&end=${t + 3600}&baselineStart=${t - 3600}&baselineEnd=${t}`;
  const service = () => q(`{ resource.service.name = "${planted.service}" }`);

  before(async () => {
    planted = await plantDeployChange(s.otlpHttp, { atS: t, service: 'shop' });
    await eventually(async () => {
      const r = (await (await fetch(`${s.api}/api/search?q=${q('{ name = "GET /cart" }')}&start=${t - 7200}&end=${t + 7200}&limit=1000`)).json()) as { traces?: unknown[] };
      return r.traces?.length === planted.sent ? true : undefined;
    }, 20_000, 'every planted trace to be searchable');
  });

  it('compares the service after the deploy with the same query before it, and ranks the new version first', async () => {
    const r = await get(`/api/sightline/compare?q=${service()}&${windows}`);
    // Each group is the service's traces in its own hour, and nothing else.
    assert.deepEqual([r.inspected.selectionTraces, r.inspected.baselineTraces], [planted.after, planted.before]);
    assert.deepEqual([r.inspected.selectionSpans, r.inspected.baselineSpans], [planted.after * 3, planted.before * 2]);
    const top = r.attributes[0];
    assert.deepEqual([top.scope, top.key, top.value, top.selectionShare, top.baselineShare], ['resource', 'service.version', planted.newVersion, 1, 0]);
    // The new operation is in exactly the same traces: folded into the row.
    assert.ok(top.equivalent.some((e: { key: string; value: string }) => e.key === 'name' && e.value === planted.slowOperation), JSON.stringify(top.equivalent));
    const old = r.attributes.find((a: { key: string; value: string }) => a.key === 'service.version' && a.value === planted.oldVersion);
    assert.deepEqual([old.selectionShare, old.baselineShare], [0, 1]);
    // Traces just outside the hours are in neither group.
    const versions = r.attributes.filter((a: { key: string }) => a.key === 'service.version').map((a: { value: string }) => a.value);
    for (const v of planted.outsideVersions) assert.ok(!versions.includes(v), `${v} is outside both windows: ${versions}`);
  });

  it('puts the extra time on the new slow operation of the critical path', async () => {
    const r = await get(`/api/sightline/critical-path?q=${service()}&${windows}`);
    assert.deepEqual([r.selection.traces, r.baseline.traces], [planted.after, planted.before]);
    assert.equal(r.extraLatencyNs, planted.extraMs * 1e6);
    assert.deepEqual([r.operations[0].service, r.operations[0].operation, r.operations[0].explainsNs], [planted.service, planted.slowOperation, planted.extraMs * 1e6]);
    // What did not change holds the same time on the path in both hours.
    for (const o of r.operations.slice(1)) assert.equal(o.explainsNs, 0, `${o.operation}`);
  });

  it('draws each group in its window', async () => {
    const r = await get(`/api/sightline/compare/latency?q=${service()}&${windows}`);
    assert.deepEqual([r.startMs, r.endMs, r.baselineWindow], [t * 1000, (t + 3600) * 1000, { startMs: (t - 3600) * 1000, endMs: t * 1000 }]);
    assert.deepEqual([r.selection.total, r.baseline.total], [planted.after, planted.before]);
    assert.ok(r.selection.traces.every((x: { startMs: number; durationMs: number }) => x.startMs >= t * 1000 && x.durationMs === 360));
    assert.ok(r.baseline.traces.every((x: { startMs: number; durationMs: number }) => x.startMs < t * 1000 && x.startMs >= (t - 3600) * 1000 && x.durationMs === 60));
    // One window, as before: no baselineWindow in the answer.
    assert.deepEqual(Object.keys(await get(`/api/sightline/compare/latency?q=${service()}&start=${t}&end=${t + 3600}`)), ['startMs', 'endMs', 'maxTraces', 'selection', 'baseline']);
  });

  it('an explicit baseline query reads the baseline window too', async () => {
    const r = await get(`/api/sightline/compare?q=${service()}&baseline=${q('{ name = "SELECT cart" }')}&${windows}`);
    // Both services query the cart: the service's and its neighbour's traces of the hour before, none of the hour after.
    assert.deepEqual([r.inspected.selectionTraces, r.inspected.baselineTraces], [planted.after, planted.before + planted.neighbourBefore]);
  });

  it('refuses a baseline window it cannot answer, saying why', async () => {
    const nowS = Math.floor(Date.now() / 1000);
    const at = (extra: string) => get(`/api/sightline/compare?q=${service()}&start=${t}&end=${t + 3600}&${extra}`, 400);
    assert.match(await at(`baselineStart=${t - 3600}`), /baselineStart and baselineEnd go together/);
    assert.match(await at(`baselineEnd=${t}`), /baselineStart and baselineEnd go together/);
    assert.match(await at(`baselineStart=${t}&baselineEnd=${t}`), new RegExp(`baselineStart must be before baselineEnd. received baselineStart=${t} baselineEnd=${t}`));
    assert.match(await at(`baselineStart=soon&baselineEnd=${t}`), /invalid baselineStart: "soon" is not Unix seconds/);
    assert.match(await at(`baselineStart=${t - 3600}&baselineEnd=${t}000`), /invalid baselineEnd/);
    assert.match(await at(`baselineStart=${nowS + 3600}&baselineEnd=${nowS + 7200}`), /the baseline window starts in the future/);
    // Default retention: 7 days.
    const old = nowS - 8 * 86_400;
    assert.match(await at(`baselineStart=${old}&baselineEnd=${old + 3600}`), /the baseline window starts before the retention period \(7d\)/);
    for (const path of ['compare/latency', 'critical-path']) assert.match(await get(`/api/sightline/${path}?q=${service()}&baselineStart=${t}&baselineEnd=${t - 1}`, 400), /must be before baselineEnd/);
  });
});
