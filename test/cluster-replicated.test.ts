import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SpanKind, context, trace } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { ClickHouseEngine, parseClickHouseUrl } from '../src/store/clickhouse/index.js';
import { openClickHouseStore } from '../src/store/index.js';
import { TABLES } from '../src/store/schema.js';
import { SPAN_COLUMN_NAMES } from '../src/model/span-batch.js';
import { FixtureWriter } from '../testkit/store-fixtures.js';
import { runConformanceSuite } from '../testkit/store-conformance.js';
import { runLogsConformance } from '../testkit/logs-conformance.js';
import { REPO_ROOT, eventually, startSightline } from '../testkit/sightline.js';

/**
 * A replicated cluster: ZooKeeper (Debian's 3.8) and four ClickHouse 18.16
 * servers as 2 shards x 2 replicas, all on loopback, started here and
 * stopped by PID. The store conformance suite runs on it unchanged; a
 * segment sent twice through different nodes is stored once per shard
 * (insert deduplication); and Sightline, fed by the OpenTelemetry SDK's
 * exporter, goes on ingesting and answering while the replica it talks to
 * is SIGKILLed, with every acknowledged span stored exactly once and the
 * killed replica catching up once it is back.
 */

interface ReplicatedCluster {
  nodes: { url: string; shard: string; replica: string; pid: number }[];
  /** Node indexes of each shard's replicas. */
  shards: number[][];
  cluster: string;
  stop(): Promise<void>;
  killServer(i: number): Promise<void>;
  startServer(i: number): Promise<void>;
}

let cluster: ReplicatedCluster;
before(async () => {
  const started = Date.now();
  const mod = (await import(path.join(REPO_ROOT, 'scripts', 'clickhouse-test-servers.mjs'))) as {
    startReplicatedCluster(opts: { shards: number; replicas: number }): Promise<ReplicatedCluster>;
  };
  cluster = await mod.startReplicatedCluster({ shards: 2, replicas: 2 });
  process.stderr.write(`# ZooKeeper and 2x2 ClickHouse servers started in ${Date.now() - started} ms\n`);
});
after(async () => {
  await cluster?.stop();
});

/** Every node's host:port, for --store: each replica of each shard. */
const hosts = () => cluster.nodes.map((n) => n.url.replace(/^http:\/\//, '')).join(',');

async function clickhouse(node: number, query: string): Promise<string> {
  const r = await fetch(`${cluster.nodes[node].url}/`, { method: 'POST', body: query });
  const text = await r.text();
  if (!r.ok) throw new Error(`ClickHouse node ${node} ${r.status}: ${text}`);
  return text.trim();
}

const numbers = (text: string) => text.split('\t').map(Number);

runConformanceSuite({
  name: 'ClickHouse 2x2 replicated cluster',
  async open() {
    const database = 'sightline_replicated_conformance';
    const engine = await ClickHouseEngine.open(parseClickHouseUrl(`clickhouse://default@${hosts()}/${database}`), { replicatedCluster: cluster.cluster });
    return { engine, layout: { database, cluster: cluster.cluster, replicated: true }, close: () => engine.close() };
  },
});

runLogsConformance({
  name: 'ClickHouse 2x2 replicated cluster',
  async open() {
    const database = 'sightline_replicated_logs';
    const engine = await ClickHouseEngine.open(parseClickHouseUrl(`clickhouse://default@${hosts()}/${database}`), { replicatedCluster: cluster.cluster });
    return { engine, layout: { database, cluster: cluster.cluster, replicated: true }, close: () => engine.close() };
  },
});

describe('replicated cluster', () => {
  it('stores a segment sent again through other nodes once per shard: its blocks are deduplicated, and so is their rollup', async () => {
    const database = 'sightline_dedup';
    const scratch = mkdtempSync(path.join(os.tmpdir(), 'sightline-dedup-'));
    const { store } = await openClickHouseStore({ url: `clickhouse://default@${hosts()}/${database}`, cluster: cluster.cluster, replicated: true, defaultTenant: 'single-tenant', scratchDir: scratch });
    const fixtures = new FixtureWriter(store);
    try {
      const now = BigInt(Date.now()) * 1_000_000n;
      // 60 traces of 5 spans: both shards get some.
      const spans = Array.from({ length: 60 }, (_, t) => {
        const traceId = randomBytes(16).toString('hex');
        return Array.from({ length: 5 }, (_, i) => ({
          traceId,
          spanId: randomBytes(8).toString('hex'),
          name: `dedup-${i}`,
          kind: 2,
          startTimeUnixNano: (now - BigInt(t) * 1_000_000_000n).toString(),
          endTimeUnixNano: (now - BigInt(t) * 1_000_000_000n + 1_000_000n).toString(),
        }));
      }).flat();
      const segment = fixtures.segment([{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'dedup-svc' } }] }, scopeSpans: [{ scope: { name: 'lib' }, spans }] }]);
      await fixtures.store(segment);
      // The same bytes through each other node's Distributed table, as a retry after a failover sends them.
      for (let node = 1; node < cluster.nodes.length; node++) {
        const engine = await ClickHouseEngine.open(parseClickHouseUrl(`clickhouse://default@${hosts().split(',')[node]}/${database}`));
        try {
          await engine.insertNativeFile(TABLES.spans, SPAN_COLUMN_NAMES, segment.spans);
        } finally {
          await engine.close();
        }
      }
      // A replay of a stored segment adds nothing either.
      await fixtures.store(segment, { replay: true });
      // A replayed segment none of whose rows is visible goes as its own bytes, once.
      const fresh = fixtures.segment([{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'dedup-fresh' } }] }, scopeSpans: [{ scope: { name: 'lib' }, spans: spans.slice(0, 20).map((sp) => ({ ...sp, spanId: randomBytes(8).toString('hex') })) }] }]);
      await fixtures.store(fresh, { replay: true });
      await fixtures.store(fresh, { replay: true });
      assert.deepEqual(numbers(await clickhouse(2, `SELECT count(), uniqExact(trace_id, span_id) FROM ${database}.spans_v3 WHERE service_name = 'dedup-fresh'`)), [20, 20]);

      const where = `tenant = 'single-tenant' AND service_name = 'dedup-svc'`;
      assert.deepEqual(numbers(await clickhouse(0, `SELECT count(), uniqExact(trace_id, span_id) FROM ${database}.spans_v3 WHERE ${where}`)), [300, 300]);
      assert.equal(Number(await clickhouse(3, `SELECT countMerge(spans) FROM ${database}.span_metrics_v3 WHERE ${where}`)), 300, 'the rollup counts each span once');
      // Each replica of each shard, once replication has settled: the same rows, none twice, the shards together all of them.
      let total = 0;
      for (const replicas of cluster.shards) {
        const counts = await eventually(async () => {
          const c = await Promise.all(replicas.map(async (n) => numbers(await clickhouse(n, `SELECT count(), uniqExact(trace_id, span_id) FROM ${database}.spans_v3_local WHERE ${where}`))));
          return c.every(([rows]) => rows === c[0][0]) ? c : undefined;
        }, 20_000, 'the replicas of a shard to agree');
        for (const [rows, unique] of counts) assert.equal(rows, unique, 'no span twice on a replica');
        assert.ok(counts[0][0] > 0, 'both shards hold spans');
        total += counts[0][0];
      }
      assert.equal(total, 300);
    } finally {
      fixtures.close();
      await store.close();
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  it('keeps ingesting and answering while the replica it talks to is killed; every acknowledged span is stored once, and the replica catches up', async () => {
    const database = 'sightline_failover';
    const service = 'failover-svc';
    const s = await startSightline({
      args: ['--store', `clickhouse://default@${hosts()}/${database}`, '--clickhouse-cluster', cluster.cluster, '--clickhouse-replicated', '--flush-interval', '200ms'],
      timeoutMs: 60_000,
    });
    const status = async () => ((await (await fetch(`${s.api}/api/sightline/status`)).json()) as { ingest: { acceptedSpans: number; storedSpans: number; backlogBytes: number; storeErrors: number } }).ingest;
    const memory = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': service }), spanProcessors: [new SimpleSpanProcessor(memory)] });
    const tracer = provider.getTracer('failover');
    const exporter = new OTLPTraceExporter({ url: `${s.otlpHttp}/v1/traces` });
    const acked = new Set<string>();
    const ackedTraces: { id: string; at: number }[] = [];
    const failedExports: string[] = [];
    let ingesting = true;
    let querying = true;
    const queries = { ok: 0, failed: [] as string[] };
    try {
      // The SDK's exporter, one export after another: 10 traces of 4 spans each.
      const ingest = (async () => {
        while (ingesting) {
          for (let t = 0; t < 10; t++) {
            const root = tracer.startSpan('checkout', { kind: SpanKind.SERVER });
            const ctx = trace.setSpan(context.active(), root);
            for (let c = 0; c < 3; c++) tracer.startSpan(`step-${c}`, { kind: SpanKind.INTERNAL, attributes: { step: c } }, ctx).end();
            root.end();
          }
          const spans = memory.getFinishedSpans().slice();
          memory.reset();
          const result = await new Promise<ExportResult>((resolve) => exporter.export(spans, resolve));
          if (result.code === ExportResultCode.SUCCESS) {
            for (const sp of spans) acked.add(`${sp.spanContext().traceId}:${sp.spanContext().spanId}`);
            ackedTraces.push({ id: spans[0].spanContext().traceId, at: Date.now() });
          } else failedExports.push(result.error?.message ?? 'failed');
          await sleep(10);
        }
      })();
      // Reads through the Tempo API all along: a trace by id and a tag search.
      const read = (async () => {
        while (querying) {
          // A trace acknowledged a few seconds ago: in the store by now.
          const id = ackedTraces.findLast((t) => t.at < Date.now() - 3000)?.id;
          if (id) {
            const end = Math.ceil(Date.now() / 1000) + 60;
            const reads = [
              { url: `${s.api}/api/traces/${id}`, expect: 'checkout' },
              { url: `${s.api}/api/search?tags=${encodeURIComponent(`service.name=${service}`)}&limit=5&start=${end - 3600}&end=${end}`, expect: service },
            ];
            for (const { url, expect } of reads) {
              try {
                const r = await fetch(url);
                const body = await r.text();
                if (r.status === 200 && body.includes(expect)) queries.ok++;
                else queries.failed.push(`${r.status} ${url.replace(s.api, '')}: ${body.slice(0, 200)}`);
              } catch (e) {
                queries.failed.push(`${url.replace(s.api, '')}: ${(e as Error).message}`);
              }
            }
          }
          await sleep(100);
        }
      })();

      await eventually(async () => ((await status()).storedSpans > 2000 ? true : undefined), 30_000, 'spans to reach the store');
      // Node 0 is the first in --store: the one Sightline sends everything to.
      await cluster.killServer(0);
      const killed = { acked: acked.size, stored: (await status()).storedSpans, queries: queries.ok };
      // Inserts go on through a live replica: the store keeps taking spans, not only the WAL.
      await eventually(async () => ((await status()).storedSpans > killed.stored + 2000 ? true : undefined), 30_000, 'the store to take spans with node 0 down');
      // Reads too: a few of each kind, answered or not (a failure is recorded, and fails the test below).
      await eventually(async () => (queries.ok + queries.failed.length >= killed.queries + 6 ? true : undefined), 30_000, 'queries with node 0 down');
      const down = { acked: acked.size - killed.acked, queries: queries.ok - killed.queries, failed: queries.failed.length };
      await cluster.startServer(0);
      await sleep(1000);
      ingesting = false;
      await ingest;
      querying = false;
      await read;

      assert.deepEqual(failedExports, [], 'every export was answered with success');
      assert.deepEqual(queries.failed, [], 'every query was answered');
      assert.ok(down.acked > 1000, `ingest went on while node 0 was down (${down.acked} spans acknowledged)`);
      assert.ok(down.queries >= 6, `queries were answered while node 0 was down (${down.queries})`);
      await eventually(async () => ((await status()).backlogBytes === 0 ? true : undefined), 60_000, 'the WAL to drain');

      // Every acknowledged span, exactly once, through the Distributed table (asked of a node that stayed up)...
      const rows = (await clickhouse(1, `SELECT lower(hex(trace_id)), lower(hex(span_id)), count() FROM ${database}.spans_v3 WHERE service_name = '${service}' GROUP BY trace_id, span_id FORMAT TSV`))
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split('\t'));
      // What Sightline saw, for a failure's message: spans it accepted (more
      // than were acknowledged means the exporter sent some twice), failed
      // inserts, and its warnings.
      const seen = await status();
      const why = `accepted ${seen.acceptedSpans} spans, ${acked.size} acknowledged, ${seen.storeErrors} failed inserts; warnings: ${s.logs
        .filter((l) => Number(l.level) >= 40)
        .map((l) => `${String(l.msg)} ${String((l.err as { message?: string } | undefined)?.message ?? '').slice(0, 300)}`)
        .join(' | ')
        .slice(0, 3000)}`;
      const twice = rows.filter(([, , n]) => n !== '1');
      assert.equal(twice.length, 0, `no span stored twice: ${twice.length} were, e.g. ${JSON.stringify(twice.slice(0, 3))}; ${why}`);
      const stored = new Set(rows.map(([t, sp]) => `${t}:${sp}`));
      const lost = [...acked].filter((k) => !stored.has(k));
      assert.equal(lost.length, 0, `${lost.length} acknowledged spans missing, e.g. ${lost.slice(0, 3).join(', ')}; ${why}`);
      assert.equal(stored.size, acked.size, `nothing but the acknowledged spans; ${why}`);

      // ...and on each shard: the killed replica catches up with its peer, and the shards hold every span once.
      const caughtUpStart = Date.now();
      let total = 0;
      for (const replicas of cluster.shards) {
        const counts = await eventually(async () => {
          const c = await Promise.all(replicas.map(async (n) => numbers(await clickhouse(n, `SELECT count(), uniqExact(trace_id, span_id) FROM ${database}.spans_v3_local WHERE service_name = '${service}'`))));
          return c.every(([n]) => n === c[0][0]) ? c : undefined;
        }, 60_000, `the replicas of shard ${cluster.nodes[replicas[0]].shard} to hold the same spans`);
        for (const [n, unique] of counts) assert.equal(n, unique, 'no span twice on a replica');
        total += counts[0][0];
      }
      assert.equal(total, acked.size);
      const final = await status();
      process.stderr.write(
        `# ${acked.size} spans acknowledged (${down.acked} with node 0 down), ${queries.ok} queries answered (${down.queries} with node 0 down), ${final.storeErrors} failed store inserts retried; the killed replica caught up ${Date.now() - caughtUpStart} ms after the check began\n`,
      );
    } finally {
      ingesting = false;
      querying = false;
      await exporter.shutdown().catch(() => undefined);
      await provider.shutdown().catch(() => undefined);
      await s.stop();
      s.cleanup();
    }
  });
});
