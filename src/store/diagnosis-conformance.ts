import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { SqlStore } from './sql-store.js';
import { initSchema } from './schema.js';
import { ResourceBatchBuilder, SpanBatchBuilder } from '../model/span-batch.js';
import { ResourceRows } from '../receivers/row-templates.js';
import { JsonSpanDecoder } from '../receivers/decode-json.js';
import { compileQuery } from '../query/traceql/index.js';
import { aggregateCriticalPath, compareGroups, loadCorrelation, redSeries, serviceMap, serviceOperations } from '../diagnosis/index.js';
import type { ConformanceTarget } from './conformance.js';
import type { TimeRange } from './types.js';

/**
 * Diagnosis on every store (chDB, a ClickHouse server, a 2-shard cluster):
 * service map, RED, attribute comparison, aggregated critical path and
 * load, each on a fixture whose answer is known. Each part writes its
 * traces in its own ten-minute window of the last hour, so the parts do
 * not see each other's spans.
 */
export function runDiagnosisConformance(target: ConformanceTarget): void {
  describe(`diagnosis conformance: ${target.name}`, () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sightline-diagnosis-'));
    let store: SqlStore;
    let closeTarget: () => Promise<void>;
    let fileNo = 0;
    const MINUTE = 60_000_000_000n;
    const MS = 1_000_000n;
    // Whole minutes, so RED buckets have known boundaries.
    const NOW = (BigInt(Date.now()) * MS / MINUTE) * MINUTE;
    /** The window of part `n`: five minutes, ten minutes apart. */
    const windowOf = (n: number): TimeRange => ({ startNs: NOW - BigInt(60 - 10 * n) * MINUTE, endNs: NOW - BigInt(55 - 10 * n) * MINUTE });

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

    /** Stores spans as ingest does: resource rows, then a Native segment of span rows. */
    async function write(spans: SpanSpec[]): Promise<void> {
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
      const builder = new SpanBatchBuilder();
      const resources = new ResourceBatchBuilder();
      const outcome = new JsonSpanDecoder().decode(Buffer.from(JSON.stringify({ resourceSpans })), builder, new ResourceRows(resources, () => false, NOW), {
        minStartNs: 0,
        retentionText: '-',
      });
      assert.equal(outcome.rejected, 0, outcome.firstError);
      const file = path.join(dir, `seg-${fileNo++}.native`);
      writeFileSync(file, builder.toBuffer());
      writeFileSync(`${file}.res`, resources.toBuffer());
      await store.writeResources(`${file}.res`);
      await store.writeSegment(file, { replay: false });
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
      store = new SqlStore(opened.engine, opened.layout);
    });

    after(async () => {
      await closeTarget();
      rmSync(dir, { recursive: true, force: true });
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
        const map = await serviceMap(store, range);
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
        assert.deepEqual((await serviceMap(store, windowOf(5))).edges.filter((e) => e.source.startsWith('map-')), []);
        // Sampled: whole traces below an id bound, counts scaled by the fraction read.
        const sampled = await serviceMap(store, range, 20);
        assert.equal(sampled.sampledFraction, 0.5);
        for (const e of sampled.edges) assert.equal(e.count % 2, 0, 'a count of sampled traces, doubled');
        const kept = sampled.edges.find((e) => e.source === 'map-gateway' && e.target === 'map-appointments')?.count ?? 0;
        assert.ok(kept <= 8);
      });

      it('answers RED series per step, for entry spans or one operation', async () => {
        const red = await redSeries(store, { service: 'map-appointments', range, stepNs: MINUTE });
        assert.equal(red.points.length, 5);
        assert.deepEqual(red.points.map((p) => p.count), [1, 1, 1, 1, 0]);
        assert.deepEqual(red.points.map((p) => p.errors), [1, 0, 0, 0, 0]);
        assert.equal(red.points[0].rate, 1 / 60);
        assert.equal(red.points[0].errorRate, 1);
        assert.equal(red.points[1].p99, 50e6);
        assert.equal(red.points[4].p50, null);
        assert.equal(red.points[1].time, Number((range.startNs + MINUTE) / MS));
        const consume = await redSeries(store, { service: 'map-billing', operation: 'process', range, stepNs: 5n * MINUTE });
        assert.deepEqual(consume.points.map((p) => [p.count, p.p99]), [[4, 20e6]]);
        assert.ok([10e6, 15e6].includes(consume.points[0].p50!), 'an exact quantile is one of the durations');
        const ops = await serviceOperations(store, 'map-appointments', range, 10);
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
        const r = await compareGroups(store, { range, selection: compileQuery(slow), maxTraces: 1000, limit: 1000 });
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
        // Numeric: rows read shifted completely, durations partly.
        const rows = r.numeric[0];
        assert.deepEqual([rows.scope, rows.key, rows.ks, rows.direction], ['span', 'db.rows', 1, 'higher']);
        assert.deepEqual(rows.selection, { spans: 10, min: 402, p50: 422, p90: 438, p99: 438, max: 438 });
        const duration = r.numeric.find((n) => n.key === 'duration')!;
        assert.equal(duration.scope, 'intrinsic');
        // Half the selection's spans are slower than every baseline span: KS 0.5, within the 5% quantile grid.
        assert.ok(Math.abs(duration.ks - 0.5) <= 0.05, String(duration.ks));
        assert.equal(duration.selection!.max, 900e6);
      });

      it('takes an explicit baseline, a structural selection, and samples big groups', async () => {
        const fast = '{ resource.service.name = "cmp-gateway" && duration < 500ms }';
        const explicit = await compareGroups(store, { range, selection: compileQuery(slow), baseline: compileQuery(fast), maxTraces: 1000, limit: 5 });
        assert.equal(explicit.attributes.length, 5);
        assert.deepEqual([explicit.attributes[0].key, explicit.attributes[0].value], ['tenant.id', 't3']);
        assert.equal(explicit.inspected.baselineTraces, 30);
        const structural = await compareGroups(store, { range, selection: compileQuery(`${slow} > { name = "SELECT patients" }`), maxTraces: 1000, limit: 5 });
        assert.equal(structural.inspected.selectionTraces, 10);
        assert.deepEqual([structural.attributes[0].key, structural.attributes[0].value], ['tenant.id', 't3']);
        // One filter that SQL alone cannot answer (a parent. attribute) is evaluated in process.
        const byParent = await compareGroups(store, { range, selection: compileQuery('{ parent.span.tenant.id = "t3" }'), maxTraces: 1000, limit: 5 });
        assert.deepEqual([byParent.inspected.selectionTraces, byParent.inspected.baselineTraces, byParent.attributes[0].value], [10, 30, 't3']);
        const sampled = await compareGroups(store, { range, selection: compileQuery(slow), maxTraces: 4, limit: 5 });
        assert.deepEqual([sampled.inspected.selectionTraces, sampled.inspected.baselineTraces, sampled.inspected.sampled], [4, 4, true]);
        const nothing = await compareGroups(store, { range, selection: compileQuery('{ name = "no such span" }'), maxTraces: 10, limit: 5 });
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
        const r = await aggregateCriticalPath(store, { range, selection: compileQuery('{ resource.service.name = "cp-gateway" && duration > 200ms }'), maxTraces: 10_000, limit: 10 });
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
        const sampled = await aggregateCriticalPath(store, { range, selection: compileQuery('{ resource.service.name = "cp-gateway" && duration > 200ms }'), maxTraces: 3, limit: 1 });
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
        const r = await loadCorrelation(store, { range, query: compileQuery(slots), limit: 1000, buckets: 20 });
        assert.deepEqual([r.spans, r.sampled, r.measured], [21, false, 21]);
        assert.deepEqual(
          r.buckets.map((b) => [b.concurrencyMin, b.concurrencyMax, b.spans, b.wait.meanNs, b.latency.p95Ns]),
          [1, 2, 3, 4, 5, 6].map((k) => [k, k, k, ((k - 1) * 20 + 5) * 1e6, ((k - 1) * 20 + 15) * 1e6]),
        );
        assert.ok(Math.abs(r.trend.waitNsPerRequest - 20e6) < 1, String(r.trend.waitNsPerRequest));
        assert.ok(Math.abs(r.trend.latencyNsPerRequest - 20e6) < 1);
        assert.ok(r.trend.waitCorrelation > 0.999);
        const wide = await loadCorrelation(store, { range, query: compileQuery(slots), limit: 1000, buckets: 3 });
        assert.deepEqual(wide.buckets.map((b) => [b.concurrencyMin, b.concurrencyMax, b.spans]), [[1, 2, 3], [3, 4, 7], [5, 6, 11]]);
        // The 10 most recent: bursts 5 and 6; burst 5 could overlap earlier spans, so only burst 6 is measured.
        const recent = await loadCorrelation(store, { range, query: compileQuery(slots), limit: 11, buckets: 20 });
        assert.deepEqual([recent.spans, recent.sampled, recent.measured, recent.buckets.map((b) => b.concurrencyMin)], [11, true, 6, [6]]);
        await assert.rejects(loadCorrelation(store, { range, query: compileQuery(`${slots} >> { }`), limit: 10, buckets: 5 }), /one spanset filter/);
      });
    });
  });
}
