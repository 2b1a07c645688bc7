import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_TENANT, SqlStore, TenantScope, type TimeRange } from '../src/store/index.js';
import { initSchema } from '../src/store/setup.js';
import { compileQuery } from '../src/query/traceql/index.js';
import { aggregateCriticalPath, compareGroups, loadCorrelation, redSeries, serviceMap, serviceOperations, traceCriticalPath } from '../src/diagnosis/index.js';
import type { ConformanceTarget } from './store-conformance.js';
import { FixtureWriter } from './store-fixtures.js';

/**
 * Diagnosis on every store (chDB, a ClickHouse server, a 2-shard cluster):
 * service map, RED, attribute comparison, aggregated critical path and
 * load, each on a fixture whose answer is known, and each kept to its
 * tenant. Each part writes its traces in its own ten-minute window of the
 * last hour, so the parts do not see each other's spans.
 */
export function runDiagnosisConformance(target: ConformanceTarget): void {
  describe(`diagnosis conformance: ${target.name}`, () => {
    const scratch = mkdtempSync(path.join(os.tmpdir(), 'sightline-diagnosis-'));
    let store: SqlStore;
    let fixtures: FixtureWriter;
    let closeTarget: () => Promise<void>;
    const MINUTE = 60_000_000_000n;
    const MS = 1_000_000n;
    // Whole minutes, so RED buckets have known boundaries.
    const NOW = (BigInt(Date.now()) * MS / MINUTE) * MINUTE;
    /** The window of part `n`: five minutes, ten minutes apart. */
    const windowOf = (n: number): TimeRange => ({ startNs: NOW - BigInt(60 - 10 * n) * MINUTE, endNs: NOW - BigInt(55 - 10 * n) * MINUTE });
    /** Every part but the tenant one writes and reads the default tenant. */
    const SINGLE = TenantScope.of([DEFAULT_TENANT]);

    interface SpanSpec {
      service: string;
      traceId: string;
      spanId: string;
      parentSpanId?: string;
      name: string;
      kind: number;
      startNs: bigint;
      endNs: bigint;
      error?: boolean;
      attributes?: Record<string, string | number>;
      resource?: Record<string, string>;
    }

    const kv = (attrs: Record<string, string | number>) =>
      Object.entries(attrs).map(([key, v]) => ({ key, value: typeof v === 'string' ? { stringValue: v } : { intValue: String(v) } }));

    /** Stores spans as ingest does (see store-fixtures.ts), one resource per service and resource attributes. */
    async function write(spans: SpanSpec[], tenant = DEFAULT_TENANT): Promise<void> {
      const groups = new Map<string, SpanSpec[]>();
      for (const s of spans) {
        const key = JSON.stringify([s.service, s.resource ?? {}]);
        groups.set(key, [...(groups.get(key) ?? []), s]);
      }
      const resourceSpans = [...groups.values()].map((list) => ({
        resource: { attributes: kv({ 'service.name': list[0].service, ...list[0].resource }) },
        scopeSpans: [
          {
            scope: { name: 'diagnosis-fixture' },
            spans: list.map((s) => ({
              traceId: s.traceId,
              spanId: s.spanId,
              ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
              name: s.name,
              kind: s.kind,
              startTimeUnixNano: s.startNs.toString(),
              endTimeUnixNano: s.endNs.toString(),
              attributes: kv(s.attributes ?? {}),
              status: { code: s.error ? 2 : 0 },
            })),
          },
        ],
      }));
      await fixtures.write(resourceSpans, { tenant });
    }

    const hex = (n: number) => randomBytes(n).toString('hex');
    const SERVER = 2;
    const CLIENT = 3;
    const PRODUCER = 4;
    const CONSUMER = 5;
    const INTERNAL = 1;

    before(async () => {
      const opened = await target.open();
      closeTarget = opened.close;
      await initSchema(opened.engine, 'test store', opened.layout);
      store = new SqlStore(opened.engine, opened.layout, { defaultTenant: DEFAULT_TENANT, scratchDir: scratch });
      fixtures = new FixtureWriter(store, NOW);
    });

    after(async () => {
      await closeTarget();
      fixtures?.close();
      rmSync(scratch, { recursive: true, force: true });
    });

    describe('service map and RED', () => {
      const range = windowOf(0);
      before(async () => {
        const spans: SpanSpec[] = [];
        for (let i = 0; i < 4; i++) {
          const traceId = hex(16);
          const t0 = range.startNs + BigInt(i) * MINUTE + 10n * MS;
          const at = (ms: number) => t0 + BigInt(ms) * MS;
          const id = { root: hex(8), call: hex(8), server: hex(8), insert: hex(8), publish: hex(8), consume: hex(8), notify: hex(8), notified: hex(8), legacy: hex(8), handler: hex(8) };
          spans.push(
            { service: 'map-gateway', traceId, spanId: id.root, name: 'GET /book', kind: SERVER, startNs: at(0), endNs: at(100) },
            { service: 'map-gateway', traceId, spanId: id.call, parentSpanId: id.root, name: 'POST appointments', kind: CLIENT, startNs: at(5), endNs: at(65) },
            // Another host's clock: the server span starts "before" its client span.
            { service: 'map-appointments', traceId, spanId: id.server, parentSpanId: id.call, name: 'POST /appointments', kind: SERVER, startNs: at(2), endNs: at(52), error: i === 0 },
            { service: 'map-appointments', traceId, spanId: id.insert, parentSpanId: id.server, name: 'INSERT', kind: CLIENT, startNs: at(10), endNs: at(20) },
            { service: 'map-appointments', traceId, spanId: id.publish, parentSpanId: id.server, name: 'publish', kind: PRODUCER, startNs: at(20), endNs: at(21) },
            { service: 'map-billing', traceId, spanId: id.consume, parentSpanId: id.publish, name: 'process', kind: CONSUMER, startNs: at(30), endNs: at(30 + 5 * (i + 1)) },
            // A cross-service link without client and server spans.
            { service: 'map-gateway', traceId, spanId: id.notify, parentSpanId: id.root, name: 'notify', kind: INTERNAL, startNs: at(70), endNs: at(90) },
            { service: 'map-billing', traceId, spanId: id.notified, parentSpanId: id.notify, name: 'POST /notify', kind: SERVER, startNs: at(72), endNs: at(88) },
            // A client span whose callee has no server instrumentation.
            { service: 'map-gateway', traceId, spanId: id.legacy, parentSpanId: id.root, name: 'GET legacy', kind: CLIENT, startNs: at(66), endNs: at(69) },
            { service: 'map-legacy', traceId, spanId: id.handler, parentSpanId: id.legacy, name: 'handle', kind: INTERNAL, startNs: at(67), endNs: at(68) },
          );
        }
        await write(spans);
      });

      it('derives edges from client/server, producer/consumer and other cross-service pairs, with RED on the child side', async () => {
        const map = await serviceMap(store, SINGLE, range);
        const edges = Object.fromEntries(map.edges.map((e) => [`${e.source} -> ${e.target} (${e.kind})`, e]));
        assert.deepEqual(Object.keys(edges).sort(), [
          'map-appointments -> map-billing (messaging)',
          'map-gateway -> map-appointments (request)',
          'map-gateway -> map-billing (link)',
          'map-gateway -> map-legacy (request)',
        ]);
        const call = edges['map-gateway -> map-appointments (request)'];
        assert.equal(call.count, 4);
        assert.equal(call.errors, 1);
        assert.equal(call.errorRate, 0.25);
        assert.equal(call.rate, 4 / 300);
        assert.deepEqual([call.p50, call.p95, call.p99], [50e6, 50e6, 50e6]);
        const queue = edges['map-appointments -> map-billing (messaging)'];
        assert.equal(queue.count, 4);
        assert.ok(queue.p50 >= 10e6 && queue.p50 <= 15e6 && queue.p99 <= 20e6 && queue.p99 >= 15e6, JSON.stringify(queue));
        assert.equal(edges['map-gateway -> map-billing (link)'].count, 4);
        assert.equal(edges['map-gateway -> map-legacy (request)'].p50, 1e6);
        const nodes = Object.fromEntries(map.nodes.map((n) => [n.service, n]));
        assert.deepEqual(Object.keys(nodes), ['map-appointments', 'map-billing', 'map-gateway', 'map-legacy']);
        assert.deepEqual(
          { spans: nodes['map-appointments'].spans, requests: nodes['map-appointments'].requests, errors: nodes['map-appointments'].errors, p50: nodes['map-appointments'].p50 },
          { spans: 12, requests: 4, errors: 1, p50: 50e6 },
        );
        assert.equal(nodes['map-billing'].requests, 8, 'consumer and server spans');
        assert.equal(nodes['map-gateway'].requests, 4, 'roots');
        assert.equal(nodes['map-legacy'].requests, 0);
        assert.equal(nodes['map-legacy'].p50, null);
        // Nothing outside the range.
        assert.deepEqual((await serviceMap(store, SINGLE, windowOf(5))).edges.filter((e) => e.source.startsWith('map-')), []);
        // Sampled: whole traces below an id bound, counts scaled by the fraction read.
        const sampled = await serviceMap(store, SINGLE, range, 20);
        assert.equal(sampled.sampledFraction, 0.5);
        for (const e of sampled.edges) assert.equal(e.count % 2, 0, 'a count of sampled traces, doubled');
        const kept = sampled.edges.find((e) => e.source === 'map-gateway' && e.target === 'map-appointments')?.count ?? 0;
        assert.ok(kept <= 8);
      });

      it('answers RED series per step, for entry spans or one operation', async () => {
        const red = await redSeries(store, SINGLE, { service: 'map-appointments', range, stepNs: MINUTE });
        assert.equal(red.points.length, 5);
        assert.deepEqual(red.points.map((p) => p.count), [1, 1, 1, 1, 0]);
        assert.deepEqual(red.points.map((p) => p.errors), [1, 0, 0, 0, 0]);
        assert.equal(red.points[0].rate, 1 / 60);
        assert.equal(red.points[0].errorRate, 1);
        assert.equal(red.points[1].p99, 50e6);
        assert.equal(red.points[4].p50, null);
        assert.equal(red.points[1].time, Number((range.startNs + MINUTE) / MS));
        const consume = await redSeries(store, SINGLE, { service: 'map-billing', operation: 'process', range, stepNs: 5n * MINUTE });
        assert.deepEqual(consume.points.map((p) => [p.count, p.p99]), [[4, 20e6]]);
        assert.ok([10e6, 15e6].includes(consume.points[0].p50!), 'an exact quantile is one of the durations');
        const ops = await serviceOperations(store, SINGLE, 'map-appointments', range, 10);
        assert.deepEqual(
          ops.operations.map((o) => [o.name, o.kind, o.count, o.errors]).sort(),
          [['INSERT', 'client', 4, 0], ['POST /appointments', 'server', 4, 1], ['publish', 'producer', 4, 0]],
        );
        assert.equal(ops.operations.find((o) => o.name === 'INSERT')!.totalDuration, 40e6);
      });
    });

    describe('attribute comparison', () => {
      const range = windowOf(1);
      before(async () => {
        // 40 requests from four tenants in two regions; tenant t3's are slow
        // and read many more rows. Region and everything else are evenly spread.
        const spans: SpanSpec[] = [];
        for (let i = 0; i < 40; i++) {
          const traceId = hex(16);
          const tenant = `t${(i % 4) + 1}`;
          const slow = tenant === 't3';
          const t0 = range.startNs + BigInt(i) * 5_000n * MS;
          const root = hex(8);
          spans.push(
            { service: 'cmp-gateway', resource: { 'cloud.region': i % 8 < 4 ? 'eu' : 'us' }, traceId, spanId: root, name: 'GET /patients', kind: SERVER, startNs: t0, endNs: t0 + (slow ? 900n : 100n) * MS, attributes: { 'tenant.id': tenant, 'request.seq': i } },
            { service: 'cmp-records', traceId, spanId: hex(8), parentSpanId: root, name: 'SELECT patients', kind: SERVER, startNs: t0 + 10n * MS, endNs: t0 + 60n * MS, attributes: { 'db.rows': slow ? 400 + i : i } },
          );
        }
        await write(spans);
      });
      const slow = '{ resource.service.name = "cmp-gateway" && duration > 500ms }';

      it('ranks the attribute value that explains the selection first, against everything else', async () => {
        const r = await compareGroups(store, SINGLE, { range, selection: compileQuery(slow), maxTraces: 1000, limit: 1000 });
        assert.deepEqual(r.inspected, { unit: 'trace', selectionTraces: 10, baselineTraces: 30, selectionSpans: 20, baselineSpans: 60, sampled: false, maxTraces: 1000 });
        const top = r.attributes[0];
        assert.deepEqual([top.scope, top.key, top.value, top.type, top.selectionShare, top.baselineShare, top.selectionTraces, top.baselineTraces], ['span', 'tenant.id', 't3', 'string', 1, 0, 10, 0]);
        assert.ok(top.score > 0.6, String(top.score));
        const find = (scope: string, key: string, value: string) => r.attributes.find((a) => a.scope === scope && a.key === key && a.value === value);
        const region = find('resource', 'cloud.region', 'eu')!;
        assert.deepEqual([region.selectionShare, region.baselineShare, region.score], [0.5, 0.5, 0]);
        assert.equal(find('intrinsic', 'name', 'SELECT patients')!.score, 0);
        assert.equal(find('intrinsic', 'kind', 'server')!.selectionShare, 1);
        assert.ok(find('span', 'tenant.id', 't1')!.score < 0, 'other tenants are under-represented');
        // Every request has its own sequence number: no single value explains anything.
        assert.ok(r.attributes.filter((a) => a.key === 'request.seq').every((a) => a.score === 0));
        // Its values are one row, which says it grouped them and why.
        const seq = r.attributes.filter((a) => a.key === 'request.seq');
        assert.deepEqual(
          seq.map((a) => [a.grouped?.reason, a.grouped?.selectionDistinct, a.grouped?.baselineDistinct, a.grouped?.selectionKeyTraces, a.grouped?.baselineKeyTraces]),
          [['spread', 10, 30, 10, 30]],
        );
        // Numeric: rows read shifted completely, durations partly.
        const rows = r.numeric[0];
        assert.deepEqual([rows.scope, rows.key, rows.ks, rows.direction], ['span', 'db.rows', 1, 'higher']);
        assert.deepEqual(rows.selection, { spans: 10, min: 402, p50: 422, p90: 438, p99: 438, max: 438 });
        // Where the distributions part, for the sentence the page writes: every selected span above 39, no baseline one.
        assert.deepEqual(rows.gap, { at: 39, selectionAbove: 1, baselineAbove: 0 });
        const duration = r.numeric.find((n) => n.key === 'duration')!;
        assert.equal(duration.scope, 'intrinsic');
        // Half the selection's spans are slower than every baseline span: KS 0.5, within the 5% quantile grid.
        assert.ok(Math.abs(duration.ks - 0.5) <= 0.05, String(duration.ks));
        assert.equal(duration.selection!.max, 900e6);
      });

      it('counts every value of a key, not only the kept ones; samples with a total; and times traces from the index', async () => {
        const all = await store.sampleTraces(SINGLE, { range, limit: 100, countTotal: true });
        assert.deepEqual([all.traceIds.length, all.sampled, all.total], [40, false, 40]);
        const cut = await store.sampleTraces(SINGLE, { range, limit: 10, countTotal: true });
        assert.deepEqual([cut.traceIds.length, cut.sampled, cut.total], [10, true, 40]);
        assert.deepEqual(cut.traceIds, all.traceIds.slice(0, 10), 'the smallest ids');
        const stats = await store.traceAttributes(SINGLE, { traceIds: all.traceIds, range, valuesPerKey: 5 });
        const key = (scope: string, k: string) => stats.keys.find((x) => x.scope === scope && x.key === k);
        assert.deepEqual(key('span', 'request.seq'), { scope: 'span', key: 'request.seq', distinct: 40, traces: 40 });
        assert.equal(stats.values.filter((v) => v.key === 'request.seq').length, 5, 'five kept');
        assert.deepEqual(key('span', 'tenant.id'), { scope: 'span', key: 'tenant.id', distinct: 4, traces: 40 });
        assert.deepEqual(key('resource', 'cloud.region'), { scope: 'resource', key: 'cloud.region', distinct: 2, traces: 40 });
        // db.rows is on the records spans only, each value on one trace.
        assert.deepEqual(key('span', 'db.rows'), { scope: 'span', key: 'db.rows', distinct: 40, traces: 40 });
        assert.deepEqual(key('intrinsic', 'name'), { scope: 'intrinsic', key: 'name', distinct: 2, traces: 40 });
        assert.equal(stats.keys.length, new Set(stats.values.map((v) => `${v.scope}/${v.key}`)).size, 'a row per key');
        const timings = await store.traceTimings(SINGLE, { traceIds: all.traceIds, range });
        assert.equal(timings.length, 40);
        assert.deepEqual([...new Set(timings.map((t) => t.durationNs))].sort(), [100e6, 900e6]);
        assert.ok(timings.every((t) => t.startNs >= range.startNs && t.startNs < range.endNs));
        assert.deepEqual(await store.traceTimings(SINGLE, { traceIds: [], range }), []);
      });

      it('takes an explicit baseline, a structural selection, and samples big groups', async () => {
        const fast = '{ resource.service.name = "cmp-gateway" && duration < 500ms }';
        const explicit = await compareGroups(store, SINGLE, { range, selection: compileQuery(slow), baseline: compileQuery(fast), maxTraces: 1000, limit: 5 });
        assert.equal(explicit.attributes.length, 5);
        assert.deepEqual([explicit.attributes[0].key, explicit.attributes[0].value], ['tenant.id', 't3']);
        assert.equal(explicit.inspected.baselineTraces, 30);
        const structural = await compareGroups(store, SINGLE, { range, selection: compileQuery(`${slow} > { name = "SELECT patients" }`), maxTraces: 1000, limit: 5 });
        assert.equal(structural.inspected.selectionTraces, 10);
        assert.deepEqual([structural.attributes[0].key, structural.attributes[0].value], ['tenant.id', 't3']);
        // One filter that SQL alone cannot answer (a parent. attribute) is evaluated in process.
        const byParent = await compareGroups(store, SINGLE, { range, selection: compileQuery('{ parent.span.tenant.id = "t3" }'), maxTraces: 1000, limit: 5 });
        assert.deepEqual([byParent.inspected.selectionTraces, byParent.inspected.baselineTraces, byParent.attributes[0].value], [10, 30, 't3']);
        const sampled = await compareGroups(store, SINGLE, { range, selection: compileQuery(slow), maxTraces: 4, limit: 5 });
        assert.deepEqual([sampled.inspected.selectionTraces, sampled.inspected.baselineTraces, sampled.inspected.sampled], [4, 4, true]);
        const nothing = await compareGroups(store, SINGLE, { range, selection: compileQuery('{ name = "no such span" }'), maxTraces: 10, limit: 5 });
        assert.deepEqual([nothing.inspected.selectionTraces, nothing.attributes.every((a) => a.score <= 0)], [0, true]);
      });
    });

    describe('aggregated critical path', () => {
      const range = windowOf(2);
      before(async () => {
        // 20 requests: gateway -> auth, then a query through a client span to
        // the records service. In the 10 slow ones the query takes 300 ms
        // instead of 20, and the gateway spends 20 ms more of its own.
        const spans: SpanSpec[] = [];
        for (let i = 0; i < 20; i++) {
          const traceId = hex(16);
          const slow = i % 2 === 0;
          const t0 = range.startNs + BigInt(i) * 5_000n * MS;
          const at = (ms: number) => t0 + BigInt(ms) * MS;
          const q = slow ? 300 : 20;
          const id = { root: hex(8), auth: hex(8), call: hex(8) };
          spans.push(
            { service: 'cp-gateway', traceId, spanId: id.root, name: 'GET /chart', kind: SERVER, startNs: at(0), endNs: at(q + 30 + (slow ? 70 : 50)) },
            { service: 'cp-auth', traceId, spanId: id.auth, parentSpanId: id.root, name: 'check', kind: SERVER, startNs: at(10), endNs: at(20) },
            { service: 'cp-gateway', traceId, spanId: id.call, parentSpanId: id.root, name: 'GET records', kind: CLIENT, startNs: at(20), endNs: at(q + 30) },
            { service: 'cp-records', traceId, spanId: hex(8), parentSpanId: id.call, name: 'query', kind: SERVER, startNs: at(25), endNs: at(q + 25) },
          );
        }
        await write(spans);
      });

      it('ranks the (service, operation) that explains the extra latency first', async () => {
        const r = await aggregateCriticalPath(store, SINGLE, { range, selection: compileQuery('{ resource.service.name = "cp-gateway" && duration > 200ms }'), maxTraces: 10_000, limit: 10 });
        assert.deepEqual(r.selection, { traces: 10, sampled: false, meanDurationNs: 400e6, p50DurationNs: 400e6, p95DurationNs: 400e6 });
        assert.deepEqual([r.baseline.traces, r.baseline.meanDurationNs], [10, 100e6]);
        assert.equal(r.extraLatencyNs, 300e6);
        const [first, second] = r.operations;
        assert.deepEqual([first.service, first.operation, first.explainsNs, first.explainedShare], ['cp-records', 'query', 280e6, 280 / 300]);
        assert.deepEqual(first.selection, { share: 0.75, meanOnPathNs: 300e6, p50OnPathNs: 300e6, p95OnPathNs: 300e6, traces: 10, spansPerTrace: 1 });
        assert.equal(first.baseline.meanOnPathNs, 20e6);
        assert.equal(first.baseline.share, 0.2);
        // The gateway's own time: 10 + 70 (slow) against 10 + 50, plus its client span's 10 either way.
        assert.deepEqual([second.service, second.operation, second.explainsNs], ['cp-gateway', 'GET /chart', 20e6]);
        const auth = r.operations.find((o) => o.service === 'cp-auth')!;
        assert.deepEqual([auth.explainsNs, auth.selection.meanOnPathNs], [0, 10e6]);
        const sampled = await aggregateCriticalPath(store, SINGLE, { range, selection: compileQuery('{ resource.service.name = "cp-gateway" && duration > 200ms }'), maxTraces: 3, limit: 1 });
        assert.deepEqual([sampled.selection.traces, sampled.selection.sampled, sampled.baseline.traces, sampled.operations.length], [3, true, 3, 1]);
      });
    });

    describe('load', () => {
      const range = windowOf(3);
      before(async () => {
        // A pool of one connection: in a burst of k simultaneous requests the
        // last waits (k - 1) x 20 ms for it, untraced, then queries for 10 ms.
        // Here every request of a burst waits as long as the last, so each
        // concurrency has one known wait.
        const spans: SpanSpec[] = [];
        for (let k = 1; k <= 6; k++) {
          const t0 = range.startNs + BigInt(k) * 5_000n * MS;
          const at = (ms: number) => t0 + BigInt(ms) * MS;
          const waitMs = (k - 1) * 20;
          for (let j = 0; j < k; j++) {
            const traceId = hex(16);
            const root = hex(8);
            spans.push(
              { service: 'ld-api', traceId, spanId: root, name: 'GET /slots', kind: SERVER, startNs: at(0), endNs: at(waitMs + 15) },
              { service: 'ld-api', traceId, spanId: hex(8), parentSpanId: root, name: 'SELECT slots', kind: CLIENT, startNs: at(waitMs), endNs: at(waitMs + 10) },
            );
          }
          // Other operations in flight do not count.
          spans.push({ service: 'ld-api', traceId: hex(16), spanId: hex(8), name: 'GET /health', kind: SERVER, startNs: at(0), endNs: at(500) });
        }
        await write(spans);
      });
      const slots = '{ resource.service.name = "ld-api" && name = "GET /slots" }';

      it('shows the uninstrumented wait growing with concurrency', async () => {
        const r = await loadCorrelation(store, SINGLE, { range, query: compileQuery(slots), limit: 1000, buckets: 20 });
        assert.deepEqual([r.spans, r.sampled, r.measured], [21, false, 21]);
        assert.deepEqual(
          r.buckets.map((b) => [b.concurrencyMin, b.concurrencyMax, b.spans, b.wait.meanNs, b.latency.p95Ns]),
          [1, 2, 3, 4, 5, 6].map((k) => [k, k, k, ((k - 1) * 20 + 5) * 1e6, ((k - 1) * 20 + 15) * 1e6]),
        );
        assert.ok(Math.abs(r.trend.waitNsPerRequest - 20e6) < 1, String(r.trend.waitNsPerRequest));
        assert.ok(Math.abs(r.trend.latencyNsPerRequest - 20e6) < 1);
        assert.ok(r.trend.waitCorrelation > 0.999);
        const wide = await loadCorrelation(store, SINGLE, { range, query: compileQuery(slots), limit: 1000, buckets: 3 });
        assert.deepEqual(wide.buckets.map((b) => [b.concurrencyMin, b.concurrencyMax, b.spans]), [[1, 2, 3], [3, 4, 7], [5, 6, 11]]);
        // The 10 most recent: bursts 5 and 6; burst 5 could overlap earlier spans, so only burst 6 is measured.
        const recent = await loadCorrelation(store, SINGLE, { range, query: compileQuery(slots), limit: 11, buckets: 20 });
        assert.deepEqual([recent.spans, recent.sampled, recent.measured, recent.buckets.map((b) => b.concurrencyMin)], [11, true, 6, [6]]);
        await assert.rejects(loadCorrelation(store, SINGLE, { range, query: compileQuery(`${slots} >> { }`), limit: 10, buckets: 5 }), /one spanset filter/);
      });
    });

    describe('tenant isolation', () => {
      // Two tenants with colliding data: the same trace ids, span ids,
      // services and attribute keys. In tenant-a traces 0 and 1 are slow
      // (their query takes 300 ms, else 20 ms) and have plan "basic", and
      // the gateway's call to a legacy service reaches an (internal) span
      // there. In tenant-b traces 2 and 3 are slow (400 ms, else 30 ms),
      // have plan "premium" and fail, every query calls a cache service,
      // the legacy call reaches nothing traced, and one more trace (a
      // one-span batch job) is tenant-b's alone.
      const range = windowOf(4);
      const A = TenantScope.of(['tenant-a']);
      const B = TenantScope.of(['tenant-b']);
      const BOTH = TenantScope.of(['tenant-a', 'tenant-b']);
      const traces = Array.from({ length: 4 }, () => ({ traceId: hex(16), root: hex(8), call: hex(8), legacyCall: hex(8), legacy: hex(8), query: hex(8), cacheCall: hex(8), cache: hex(8) }));
      before(async () => {
        for (const tenant of ['a', 'b'] as const) {
          const spans: SpanSpec[] = [];
          traces.forEach((t, i) => {
            const b = tenant === 'b';
            const slow = b ? i >= 2 : i < 2;
            const q = slow ? (b ? 400 : 300) : b ? 30 : 20;
            const t0 = range.startNs + BigInt(i) * 30_000n * MS;
            const at = (ms: number) => t0 + BigInt(ms) * MS;
            const { traceId } = t;
            spans.push(
              { service: 'iso-gateway', traceId, spanId: t.root, name: 'GET /visit', kind: SERVER, startNs: at(0), endNs: at(q + 20), attributes: { plan: i < 2 ? 'basic' : 'premium' } },
              { service: 'iso-gateway', traceId, spanId: t.call, parentSpanId: t.root, name: 'GET records', kind: CLIENT, startNs: at(5), endNs: at(q + 15) },
              { service: 'iso-gateway', traceId, spanId: t.legacyCall, parentSpanId: t.root, name: 'GET legacy', kind: CLIENT, startNs: at(1), endNs: at(4) },
              { service: 'iso-records', traceId, spanId: t.query, parentSpanId: t.call, name: 'query', kind: SERVER, startNs: at(10), endNs: at(q + 10), error: b && slow, attributes: { 'db.rows': b ? 500 : 10 } },
            );
            if (!b) spans.push({ service: 'iso-legacy', traceId, spanId: t.legacy, parentSpanId: t.legacyCall, name: 'handle', kind: INTERNAL, startNs: at(2), endNs: at(3) });
            if (b)
              spans.push(
                { service: 'iso-records', traceId, spanId: t.cacheCall, parentSpanId: t.query, name: 'GET cache', kind: CLIENT, startNs: at(12), endNs: at(17) },
                { service: 'iso-cache', traceId, spanId: t.cache, parentSpanId: t.cacheCall, name: 'get', kind: SERVER, startNs: at(13), endNs: at(16) },
              );
          });
          if (tenant === 'b') spans.push({ service: 'iso-batch', traceId: hex(16), spanId: hex(8), name: 'nightly', kind: INTERNAL, startNs: range.startNs + 120_000n * MS, endNs: range.startNs + 120_050n * MS });
          await write(spans, `tenant-${tenant}`);
        }
      });

      it('draws the service map of the tenant only', async () => {
        const edges = async (scope: TenantScope) =>
          Object.fromEntries((await serviceMap(store, scope, range)).edges.map((e) => [`${e.source} -> ${e.target} (${e.kind})`, [e.count, e.errors, e.p99]]));
        assert.deepEqual(await edges(A), { 'iso-gateway -> iso-legacy (request)': [4, 0, 1e6], 'iso-gateway -> iso-records (request)': [4, 0, 300e6] });
        assert.deepEqual(await edges(B), { 'iso-gateway -> iso-records (request)': [4, 2, 400e6], 'iso-records -> iso-cache (request)': [4, 0, 3e6] });
        assert.deepEqual(await edges(SINGLE), {});
        const nodes = async (scope: TenantScope) => Object.fromEntries((await serviceMap(store, scope, range)).nodes.map((n) => [n.service, [n.spans, n.requests, n.errors]]));
        assert.deepEqual(await nodes(A), { 'iso-gateway': [12, 4, 0], 'iso-legacy': [4, 0, 0], 'iso-records': [4, 4, 0] });
        assert.deepEqual(await nodes(B), { 'iso-batch': [1, 1, 0], 'iso-cache': [4, 4, 0], 'iso-gateway': [12, 4, 0], 'iso-records': [8, 4, 2] });
        assert.deepEqual(await nodes(BOTH), { 'iso-batch': [1, 1, 0], 'iso-cache': [4, 4, 0], 'iso-gateway': [24, 8, 0], 'iso-legacy': [4, 0, 0], 'iso-records': [12, 8, 2] });
        // Sampled: the span count that sets the fraction is the tenant's own (8 of tenant-a's 20 spans).
        assert.equal((await serviceMap(store, A, range, 8)).sampledFraction, 8 / 20);
      });

      it('answers RED series and operations of the tenant only', async () => {
        const red = async (scope: TenantScope, operation?: string) =>
          (await redSeries(store, scope, { service: 'iso-records', operation, range, stepNs: 5n * MINUTE })).points.map((p) => [p.count, p.errors, p.p99]);
        assert.deepEqual(await red(A), [[4, 0, 300e6]]);
        assert.deepEqual(await red(B), [[4, 2, 400e6]]);
        assert.deepEqual(await red(BOTH), [[8, 2, 400e6]]);
        assert.deepEqual(await red(SINGLE), [[0, 0, null]]);
        assert.deepEqual(await red(A, 'GET cache'), [[0, 0, null]]);
        assert.deepEqual(await red(B, 'GET cache'), [[4, 0, 5e6]]);
        const ops = async (scope: TenantScope) =>
          (await serviceOperations(store, scope, 'iso-records', range, 10)).operations.map((o) => [o.name, o.kind, o.count, o.errors, o.totalDuration]).sort();
        assert.deepEqual(await ops(A), [['query', 'server', 4, 0, 640e6]]);
        assert.deepEqual(await ops(B), [['GET cache', 'client', 4, 0, 20e6], ['query', 'server', 4, 2, 860e6]]);
        assert.deepEqual(await ops(BOTH), [['GET cache', 'client', 4, 0, 20e6], ['query', 'server', 8, 2, 1500e6]]);
      });

      it('compares attributes over the tenant traces only', async () => {
        const slow = compileQuery('{ resource.service.name = "iso-records" && duration > 100ms }');
        const compare = (scope: TenantScope, selection = slow) => compareGroups(store, scope, { range, selection, maxTraces: 100, limit: 1000 });
        // A value with the same counts as a better one is folded into that one's row (as an equivalent).
        const share = (r: Awaited<ReturnType<typeof compare>>, scope: string, key: string, value: string) => {
          const is = (x: { scope: string; key: string; value: string }) => x.scope === scope && x.key === key && x.value === value;
          const a = r.attributes.find((x) => is(x) || x.equivalent?.some(is));
          return a ? [a.selectionShare, a.baselineShare] : null;
        };
        const a = await compare(A);
        const b = await compare(B);
        assert.deepEqual([a.inspected.selectionTraces, a.inspected.baselineTraces, a.inspected.selectionSpans, a.inspected.baselineSpans], [2, 2, 10, 10]);
        assert.deepEqual([b.inspected.selectionTraces, b.inspected.baselineTraces, b.inspected.selectionSpans, b.inspected.baselineSpans], [2, 3, 12, 13]);
        assert.deepEqual(share(a, 'span', 'plan', 'basic'), [1, 0]);
        assert.deepEqual(share(b, 'span', 'plan', 'basic'), [0, 2 / 3]);
        assert.deepEqual(share(b, 'span', 'plan', 'premium'), [1, 0]);
        assert.deepEqual(share(a, 'intrinsic', 'status', 'error'), null);
        assert.deepEqual(share(b, 'intrinsic', 'status', 'error'), [1, 0]);
        assert.equal(r(a, 'db.rows'), 10);
        assert.equal(r(b, 'db.rows'), 500);
        // A structural selection: evaluated in process over the tenant's traces.
        const structural = compileQuery('{ span.plan = "basic" } >> { duration > 100ms }');
        assert.deepEqual((await compare(A, structural)).inspected.selectionTraces, 2);
        assert.deepEqual((await compare(B, structural)).inspected.selectionTraces, 0);
        // Its baseline is every other trace of the tenant: tenant-a has exactly 2 more, so 2 are not a sample.
        const small = await compareGroups(store, A, { range, selection: structural, maxTraces: 2, limit: 5 });
        assert.deepEqual([small.inspected.selectionTraces, small.inspected.baselineTraces, small.inspected.sampled], [2, 2, false]);
        assert.deepEqual((await compare(SINGLE)).inspected.selectionTraces, 0);
        function r(x: Awaited<ReturnType<typeof compare>>, key: string): number | undefined {
          return x.numeric.find((n) => n.key === key)?.selection?.max;
        }
      });

      it('aggregates the critical path over the tenant traces only', async () => {
        const path = (scope: TenantScope) =>
          aggregateCriticalPath(store, scope, { range, selection: compileQuery('{ resource.service.name = "iso-gateway" && duration > 200ms }'), maxTraces: 100, limit: 10 });
        const a = await path(A);
        const b = await path(B);
        assert.deepEqual([a.selection.traces, a.selection.meanDurationNs, a.baseline.traces, a.baseline.meanDurationNs], [2, 320e6, 2, 40e6]);
        // tenant-b's baseline: its two fast traces and its batch job, each 50 ms.
        assert.deepEqual([b.selection.traces, b.selection.meanDurationNs, b.baseline.traces, b.baseline.meanDurationNs], [2, 420e6, 3, 50e6]);
        assert.deepEqual([a.operations[0].service, a.operations[0].operation, a.operations[0].selection.meanOnPathNs], ['iso-records', 'query', 300e6]);
        // tenant-b's query waits 5 ms on the cache client span.
        assert.deepEqual([b.operations[0].service, b.operations[0].operation, b.operations[0].selection.meanOnPathNs], ['iso-records', 'query', 395e6]);
        assert.equal(a.operations.some((o) => o.service === 'iso-cache'), false);
        assert.equal(b.operations.some((o) => o.service === 'iso-cache'), true);
        assert.deepEqual((await path(SINGLE)).selection.traces, 0);
      });

      it('correlates load with latency over the tenant spans only', async () => {
        const load = (scope: TenantScope) =>
          loadCorrelation(store, scope, { range, query: compileQuery('{ resource.service.name = "iso-records" && name = "query" }'), limit: 100, buckets: 5 });
        const summary = (r: Awaited<ReturnType<typeof load>>) => [r.spans, r.buckets.map((x) => [x.concurrencyMin, x.spans, x.latency.meanNs, x.wait.meanNs])];
        // The traces are 30 s apart: one request in flight at a time.
        assert.deepEqual(summary(await load(A)), [4, [[1, 4, 160e6, 160e6]]]);
        assert.deepEqual(summary(await load(B)), [4, [[1, 4, 215e6, 210e6]]]);
        assert.deepEqual(summary(await load(SINGLE)), [0, []]);
      });

      it('finds the critical path of a trace by id in its tenant', async () => {
        const { traceId, root, query, cacheCall } = traces[0];
        const id = Buffer.from(traceId, 'hex');
        const a = traceCriticalPath(id, await store.getTrace(A, id));
        const b = traceCriticalPath(id, await store.getTrace(B, id));
        assert.deepEqual([a.rootSpanId, a.durationNs, a.spans.length], [root, 320e6, 5]);
        assert.deepEqual([b.rootSpanId, b.durationNs, b.spans.length], [root, 50e6, 6]);
        const onPath = (cp: typeof a, spanId: string) => cp.spans.find((s) => s.spanId === spanId)?.onPathNs;
        assert.equal(onPath(a, query), 300e6);
        assert.equal(onPath(b, query), 25e6);
        assert.equal(onPath(a, cacheCall), undefined);
        // The cache call's own time: 5 ms, less the 3 ms of the cache span inside it.
        assert.equal(onPath(b, cacheCall), 2e6);
        assert.equal(onPath(b, traces[0].cache), 3e6);
        assert.deepEqual(traceCriticalPath(id, await store.getTrace(SINGLE, id)).spans, []);
      });
    });

    describe('resource attribute sightings (Delivery)', () => {
      // Its own minute, after the Nomad part's; services prefixed rs-.
      // rs-web runs version 1, then 2 beside a straggling 1; rs-plain has
      // no version. Another tenant's rs-web runs version 9.
      const range: TimeRange = { startNs: NOW - 2n * MINUTE, endNs: NOW - MINUTE };
      const STEP = 30_000n * MS;
      const at = (ms: number) => range.startNs + BigInt(ms) * MS;
      const one = (service: string, resource: Record<string, string>, ms: number): SpanSpec => ({ service, resource, traceId: hex(16), spanId: hex(8), name: 'GET /', kind: SERVER, startNs: at(ms), endNs: at(ms + 5) });
      before(async () => {
        const v = (version: string) => ({ 'service.version': version, 'deployment.environment.name': 'prod' });
        await write([one('rs-web', v('1'), 1000), one('rs-web', v('1'), 10_000), one('rs-web', v('2'), 35_000), one('rs-web', v('2'), 50_000), one('rs-web', v('1'), 40_000), one('rs-plain', {}, 20_000)]);
        await write([one('rs-web', v('9'), 5000)], 'tenant-b');
      });

      const rows = async (scope: TenantScope, attributes: string[], stepNs = STEP) =>
        (await store.resourceSightings(scope, { range, stepNs, attributes }))
          .filter((r) => r.service.startsWith('rs-'))
          .sort((a, b) => a.step - b.step || a.service.localeCompare(b.service) || a.values.join().localeCompare(b.values.join()))
          .map((r) => [r.step, r.service, r.values, r.spans, r.firstNs - range.startNs]);

      it('answers the attribute values of each service per step, with spans and the first start', async () => {
        assert.deepEqual(await rows(SINGLE, ['service.version', "no.such'attribute", 'deployment.environment.name']), [
          [0, 'rs-plain', ['', '', ''], 1, 20_000n * MS],
          [0, 'rs-web', ['1', '', 'prod'], 2, 1000n * MS],
          [1, 'rs-web', ['1', '', 'prod'], 1, 40_000n * MS],
          [1, 'rs-web', ['2', '', 'prod'], 2, 35_000n * MS],
        ]);
        assert.deepEqual(await rows(SINGLE, [], range.endNs - range.startNs), [
          [0, 'rs-plain', [], 1, 20_000n * MS],
          [0, 'rs-web', [], 5, 1000n * MS],
        ]);
      });

      it('reads only the tenants of the scope', async () => {
        assert.deepEqual(await rows(TenantScope.of(['tenant-b']), ['service.version']), [[0, 'rs-web', ['9'], 1, 5000n * MS]]);
        const both = await rows(TenantScope.of([DEFAULT_TENANT, 'tenant-b']), ['service.version'], range.endNs - range.startNs);
        assert.deepEqual(both, [
          [0, 'rs-plain', [''], 1, 20_000n * MS],
          [0, 'rs-web', ['1'], 3, 1000n * MS],
          [0, 'rs-web', ['2'], 2, 35_000n * MS],
          [0, 'rs-web', ['9'], 1, 5000n * MS],
        ]);
      });
    });

    describe('service map split by a resource attribute (Nomad)', () => {
      // Its own minute, after every other part's window; services are
      // prefixed nmd- and only they are read. nmd-checkout runs as three
      // Nomad allocations, one per node; node-3's is slow and fails once.
      // One checkout call crosses from node-1's allocation to node-2's.
      // nmd-legacy runs outside Nomad (no nomad.* attributes).
      const range: TimeRange = { startNs: NOW - 4n * MINUTE, endNs: NOW - 3n * MINUTE };
      const nomad = (alloc: number, node: number) => ({ 'nomad.alloc.id': `alloc-${alloc}`, 'nomad.node.name': `node-${node}`, 'nomad.job.name': 'nmd' });
      before(async () => {
        const spans: SpanSpec[] = [];
        for (let i = 0; i < 6; i++) {
          const traceId = hex(16);
          const alloc = i % 3;
          const d = alloc === 2 ? 300 : 20;
          const at = (ms: number) => range.startNs + BigInt(i) * 5_000n * MS + BigInt(ms) * MS;
          const id = { root: hex(8), call: hex(8), server: hex(8), cross: hex(8), crossServer: hex(8), legacyCall: hex(8), legacy: hex(8) };
          const gateway = nomad(9, 1);
          spans.push(
            { service: 'nmd-gateway', resource: gateway, traceId, spanId: id.root, name: 'GET /cart', kind: SERVER, startNs: at(0), endNs: at(d + 20) },
            { service: 'nmd-gateway', resource: gateway, traceId, spanId: id.call, parentSpanId: id.root, name: 'GET checkout', kind: CLIENT, startNs: at(5), endNs: at(d + 15) },
            { service: 'nmd-checkout', resource: nomad(alloc, alloc + 1), traceId, spanId: id.server, parentSpanId: id.call, name: 'GET /checkout', kind: SERVER, startNs: at(10), endNs: at(d + 10), error: i === 5 },
          );
          if (i === 0)
            spans.push(
              { service: 'nmd-checkout', resource: nomad(0, 1), traceId, spanId: id.cross, parentSpanId: id.server, name: 'GET reserve', kind: CLIENT, startNs: at(12), endNs: at(18) },
              { service: 'nmd-checkout', resource: nomad(1, 2), traceId, spanId: id.crossServer, parentSpanId: id.cross, name: 'GET /reserve', kind: SERVER, startNs: at(13), endNs: at(17) },
            );
          if (i < 2)
            spans.push(
              { service: 'nmd-gateway', resource: gateway, traceId, spanId: id.legacyCall, parentSpanId: id.root, name: 'GET legacy', kind: CLIENT, startNs: at(1), endNs: at(4) },
              { service: 'nmd-legacy', traceId, spanId: id.legacy, parentSpanId: id.legacyCall, name: 'handle', kind: SERVER, startNs: at(2), endNs: at(3) },
            );
        }
        await write(spans);
      });
      const ours = (map: Awaited<ReturnType<typeof serviceMap>>) => ({
        nodes: Object.fromEntries(map.nodes.filter((n) => n.service.startsWith('nmd-')).map((n) => [`${n.service} @ ${n.group}`, [n.spans, n.requests, n.errors, n.p99]])),
        edges: Object.fromEntries(
          map.edges.filter((e) => e.source.startsWith('nmd-')).map((e) => [`${e.source} @ ${e.sourceGroup} -> ${e.target} @ ${e.targetGroup} (${e.kind})`, [e.count, e.errors, e.p99]]),
        ),
      });

      it('splits each service into one node per value, with the RED of that value alone and edges between the split nodes', async () => {
        const map = await serviceMap(store, SINGLE, range, 0, 'nomad.node.name');
        assert.equal(map.groupBy, 'nomad.node.name');
        assert.deepEqual(ours(map), {
          nodes: {
            'nmd-checkout @ node-1': [3, 2, 0, 20e6],
            'nmd-checkout @ node-2': [3, 3, 0, 20e6],
            'nmd-checkout @ node-3': [2, 2, 1, 300e6],
            'nmd-gateway @ node-1': [14, 6, 0, 320e6],
            'nmd-legacy @ null': [2, 2, 0, 1e6],
          },
          edges: {
            'nmd-checkout @ node-1 -> nmd-checkout @ node-2 (request)': [1, 0, 4e6],
            'nmd-gateway @ node-1 -> nmd-checkout @ node-1 (request)': [2, 0, 20e6],
            'nmd-gateway @ node-1 -> nmd-checkout @ node-2 (request)': [2, 0, 20e6],
            'nmd-gateway @ node-1 -> nmd-checkout @ node-3 (request)': [2, 1, 300e6],
            'nmd-gateway @ node-1 -> nmd-legacy @ null (request)': [2, 0, 1e6],
          },
        });
      });

      it('adds up to the unsplit map, and splits by any resource attribute', async () => {
        const whole = await serviceMap(store, SINGLE, range);
        assert.equal(whole.groupBy, undefined);
        assert.ok(whole.nodes.every((n) => !('group' in n)) && whole.edges.every((e) => !('sourceGroup' in e)));
        // Unsplit, the call between two checkout allocations is inside one service: no edge.
        assert.deepEqual(ours(whole), {
          nodes: { 'nmd-checkout @ undefined': [8, 7, 1, 300e6], 'nmd-gateway @ undefined': [14, 6, 0, 320e6], 'nmd-legacy @ undefined': [2, 2, 0, 1e6] },
          edges: {
            'nmd-gateway @ undefined -> nmd-checkout @ undefined (request)': [6, 1, 300e6],
            'nmd-gateway @ undefined -> nmd-legacy @ undefined (request)': [2, 0, 1e6],
          },
        });
        const byAlloc = ours(await serviceMap(store, SINGLE, range, 0, 'nomad.alloc.id'));
        assert.deepEqual(Object.keys(byAlloc.nodes), ['nmd-checkout @ alloc-0', 'nmd-checkout @ alloc-1', 'nmd-checkout @ alloc-2', 'nmd-gateway @ alloc-9', 'nmd-legacy @ null']);
        assert.deepEqual(byAlloc.nodes['nmd-checkout @ alloc-2'], [2, 2, 1, 300e6]);
        // An attribute no resource has: one node per service, all without a value.
        const none = ours(await serviceMap(store, SINGLE, range, 0, "no.such'attribute"));
        assert.deepEqual(Object.keys(none.nodes), ['nmd-checkout @ null', 'nmd-gateway @ null', 'nmd-legacy @ null']);
        assert.deepEqual(none.nodes['nmd-checkout @ null'], [8, 7, 1, 300e6]);
      });
    });
  });
}
