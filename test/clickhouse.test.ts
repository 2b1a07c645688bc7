import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO_ROOT, eventually, startSightline, type Sightline } from '../testkit/sightline.js';
import { nowNs, postOtlp, requestBytes, span } from '../testkit/fixtures.js';

/**
 * Sightline in front of real ClickHouse servers (Debian's 18.16): a fleet
 * of stateless processes sharing one server, a 2-shard cluster, and a
 * server that stops and comes back during ingest.
 */

interface TestServers {
  shards: { url: string; pid: number }[];
  cluster: string;
  stop(): Promise<void>;
  stopServer(i: number): Promise<void>;
  startServer(i: number): Promise<void>;
}

let servers: TestServers;
before(async () => {
  const mod = (await import(path.join(REPO_ROOT, 'scripts', 'clickhouse-test-servers.mjs'))) as { startClickHouseServers(n: number): Promise<TestServers> };
  servers = await startClickHouseServers(mod);
});
after(async () => {
  await servers?.stop();
});

function startClickHouseServers(mod: { startClickHouseServers(n: number): Promise<TestServers> }): Promise<TestServers> {
  return mod.startClickHouseServers(2);
}

const host = (i: number) => servers.shards[i].url.replace(/^http:\/\//, '');

async function clickhouse(i: number, query: string): Promise<string> {
  const r = await fetch(`${servers.shards[i].url}/`, { method: 'POST', body: query });
  const text = await r.text();
  if (!r.ok) throw new Error(`ClickHouse ${r.status}: ${text}`);
  return text.trim();
}

async function ingestTrace(s: Sightline, service: string, spans = 3): Promise<string> {
  const traceId = randomBytes(16);
  const list = Array.from({ length: spans }, () => span({ traceId }));
  const r = await postOtlp(s.otlpHttp, requestBytes(list, service));
  assert.equal(r.status, 200);
  return traceId.toString('hex');
}

async function spanCount(s: Sightline, traceId: string): Promise<number | undefined> {
  const r = await fetch(`${s.api}/api/v2/traces/${traceId}`);
  if (r.status !== 200) return undefined;
  const j = (await r.json()) as any;
  return j.trace.resourceSpans.reduce((n: number, rs: any) => n + rs.scopeSpans.reduce((m: number, ss: any) => m + ss.spans.length, 0), 0);
}

describe('a fleet of Sightline processes on one ClickHouse server', () => {
  let a: Sightline;
  let b: Sightline;
  before(async () => {
    const store = `clickhouse://default@${host(0)}/fleet`;
    // Started together: schema creation must be safe when it races.
    [a, b] = await Promise.all([startSightline({ args: ['--store', store] }), startSightline({ args: ['--store', store] })]);
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    a?.cleanup();
    b?.cleanup();
  });

  it('finds spans ingested through either process through both', async () => {
    const viaA = await ingestTrace(a, 'fleet-a');
    const viaB = await ingestTrace(b, 'fleet-b');
    for (const s of [a, b]) {
      for (const id of [viaA, viaB]) assert.equal(await eventually(() => spanCount(s, id), 20_000, `trace ${id} through ${s.pid}`), 3);
      const found = (await (await fetch(`${s.api}/api/search?tags=${encodeURIComponent('service.name=fleet-')}&limit=50`)).json()) as any;
      assert.deepEqual(found.traces.map((t: any) => t.traceID.padStart(32, '0')).sort(), [viaA, viaB].sort());
    }
    const status = (await (await fetch(`${a.api}/api/sightline/status`)).json()) as any;
    assert.match(status.engine, /^ClickHouse 18\.16/);
  });
});

describe('Sightline on a 2-shard ClickHouse cluster', () => {
  let s: Sightline;
  before(async () => {
    s = await startSightline({ args: ['--store', `clickhouse://default@${host(0)},${host(1)}/sharded`, '--clickhouse-cluster', servers.cluster] });
  });
  after(async () => {
    await s?.stop();
    s?.cleanup();
  });

  it('spreads traces over both shards, keeps each trace on one, and finds them all', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push(await ingestTrace(s, 'sharded-svc', 4));
    for (const id of ids) assert.equal(await eventually(() => spanCount(s, id), 20_000, `trace ${id}`), 4);
    const perShard = await Promise.all([0, 1].map((i) => clickhouse(i, 'SELECT uniqExact(trace_id), count() FROM sharded.spans_v3_local')));
    const traces = perShard.map((row) => Number(row.split('\t')[0]));
    assert.ok(traces.every((n) => n > 0), `both shards hold traces: ${perShard.join(' / ')}`);
    assert.equal(traces[0] + traces[1], 20, 'a trace lives on exactly one shard');
  });
});

describe('ClickHouse stopping during ingest', () => {
  let s: Sightline;
  before(async () => {
    s = await startSightline({ args: ['--store', `clickhouse://default@${host(1)}/faults`, '--backlog-budget', '2MiB', '--flush-interval', '200ms'] });
  });
  after(async () => {
    await s?.stop();
    s?.cleanup();
  });

  it('keeps acknowledged spans in the WAL, refuses past the budget, and stores every span once when it returns', async () => {
    const acked: string[] = [];
    let refused = 0;
    let running = true;
    const senders = Array.from({ length: 4 }, async () => {
      while (running) {
        const traceId = randomBytes(16);
        const spans = Array.from({ length: 20 }, () => span({ traceId, startNs: nowNs() - 1_000_000n, attributes: [{ key: 'pad', value: { stringValue: 'x'.repeat(500) } }] }));
        try {
          const r = await postOtlp(s.otlpHttp, requestBytes(spans, 'fault-svc'));
          if (r.status === 200) acked.push(traceId.toString('hex'));
          else if (r.status === 429 || r.status === 503) {
            refused++;
            await sleep(50);
          } else assert.fail(`unexpected status ${r.status}`);
        } catch (e) {
          if ((e as { code?: string }).code === 'ERR_ASSERTION') throw e;
          await sleep(20);
        }
      }
    });
    await sleep(800);
    await servers.stopServer(1);
    // Ingest goes on into the WAL until the budget is spent, then 429s.
    await eventually(async () => (refused > 0 ? true : undefined), 30_000, 'ingest to refuse past the budget');
    const ackedWhileDown = acked.length;
    await sleep(500);
    await servers.startServer(1);
    await eventually(async () => (acked.length > ackedWhileDown + 5 ? true : undefined), 30_000, 'ingest to recover');
    running = false;
    await Promise.all(senders);

    await eventually(async () => {
      const st = (await (await fetch(`${s.api}/api/sightline/status`)).json()) as any;
      return st.ingest.backlogBytes === 0 ? true : undefined;
    }, 60_000, 'the WAL to drain into ClickHouse');
    // Every acknowledged span, exactly once, counted in ClickHouse itself.
    const ids = acked.map((id) => `unhex('${id}')`).join(',');
    const [traces, spans, dupes] = (
      await clickhouse(
        1,
        `SELECT uniqExact(trace_id), count(), countIf(c > 1) FROM (SELECT trace_id, span_id, count() AS c FROM faults.spans_v3 WHERE trace_id IN (${ids}) GROUP BY trace_id, span_id)`,
      )
    )
      .split('\t')
      .map(Number);
    assert.equal(traces, acked.length);
    assert.equal(spans, acked.length * 20);
    assert.equal(dupes, 0);
    assert.ok(refused > 0);
  });
});
