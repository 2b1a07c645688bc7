import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { startSightline, type Sightline } from '../testkit/sightline.js';
import { nowNs, postOtlp, requestBytes, span } from '../testkit/fixtures.js';

/**
 * No query can stall Sightline: queries run in worker threads under a
 * deadline, stop when their client leaves, and past --max-concurrent-queries
 * get 429; meanwhile /ready, trace lookups and OTLP ingest keep answering.
 *
 * The heavy query is a real one that must scan every trace: `x >> y`
 * where every trace has an x and a y, as siblings, so SQL cannot rule any
 * trace out and the relation never holds; the evaluator reads and checks
 * all 20,000 candidate traces (200,000 spans).
 */
const TRACES = 20_000;
const SPANS_PER_TRACE = 10;
const HEAVY = `{ name = "x" } >> { name = "y" }`;

describe('query isolation', { timeout: 300_000 }, () => {
  let s: Sightline;
  let someTraceId = '';
  const range = () => `start=${Math.floor(Date.now() / 1000) - 3600}&end=${Math.floor(Date.now() / 1000) + 60}`;
  const heavyUrl = () => `${s.api}/api/search?q=${encodeURIComponent(HEAVY)}&limit=1000&${range()}`;
  const status = async () => (await (await fetch(`${s.api}/api/sightline/status`)).json()) as { ingest: { storedSpans: number }; queries: Record<string, number> & { running: { query: number; lookup: number } } };

  before(async () => {
    s = await startSightline({ args: ['--query-timeout', '0.5s', '--max-concurrent-queries', '2'] });
    const base = nowNs() - 600_000_000_000n;
    for (let batch = 0; batch < TRACES / 500; batch++) {
      const spans: Record<string, unknown>[] = [];
      for (let t = 0; t < 500; t++) {
        const traceId = randomBytes(16);
        if (!someTraceId) someTraceId = traceId.toString('hex');
        const root = randomBytes(8);
        const start = base + BigInt(batch * 500 + t) * 1_000_000n;
        spans.push(span({ traceId, spanId: root, name: 'root', startNs: start, endNs: start + 50_000_000n }));
        for (let i = 1; i < SPANS_PER_TRACE; i++) {
          const name = i === 1 ? 'x' : i === 2 ? 'y' : `filler-${i}`;
          spans.push(span({ traceId, parentSpanId: root, name, startNs: start + BigInt(i) * 1_000_000n, endNs: start + BigInt(i + 1) * 1_000_000n }));
        }
      }
      const res = await postOtlp(s.otlpHttp, requestBytes(spans, 'iso'));
      assert.equal(res.status, 200);
    }
    for (let i = 0; i < 600 && (await status()).ingest.storedSpans < TRACES * SPANS_PER_TRACE; i++) await sleep(100);
    assert.equal((await status()).ingest.storedSpans, TRACES * SPANS_PER_TRACE);
  });

  after(async () => {
    await s?.stop();
    s?.cleanup();
  });

  it('stops a query at its deadline with a 503 that says so, and frees its slot', async () => {
    const res = await fetch(heavyUrl());
    assert.equal(res.status, 503, await res.clone().text());
    assert.match(await res.text(), /ran past its deadline of 500 ms/);
    const q = (await status()).queries;
    assert.ok(q.timedOut >= 1);
    assert.equal(q.running.query, 0);
  });

  it('stops a query whose client went away', async () => {
    const before = (await status()).queries.cancelled;
    const ac = new AbortController();
    const pending = fetch(heavyUrl(), { signal: ac.signal }).catch((e: Error) => e);
    await sleep(150);
    ac.abort();
    assert.ok((await pending) instanceof Error);
    let q = (await status()).queries;
    for (let i = 0; i < 50 && (q.cancelled === before || q.running.query > 0); i++) {
      await sleep(20);
      q = (await status()).queries;
    }
    assert.equal(q.cancelled, before + 1);
    assert.equal(q.running.query, 0);
  });

  it('answers 429 with Retry-After past the concurrency limit, while lookups, /ready and ingest go on', async () => {
    const heavy = Array.from({ length: 6 }, () => fetch(heavyUrl()));
    // While they run: the event loop that takes ingest is free.
    const readyMs: number[] = [];
    const exportStatuses: number[] = [];
    const probes = (async () => {
      for (let i = 0; i < 10; i++) {
        const t0 = performance.now();
        const ready = await fetch(`${s.api}/ready`);
        readyMs.push(performance.now() - t0);
        assert.equal(ready.status, 200);
        exportStatuses.push((await postOtlp(s.otlpHttp, requestBytes([span({ name: 'during-queries' })], 'iso'))).status);
        const trace = await fetch(`${s.api}/api/v2/traces/${someTraceId}`);
        assert.equal(trace.status, 200);
        assert.equal(((await trace.json()) as { trace: { resourceSpans: { scopeSpans: { spans: unknown[] }[] }[] } }).trace.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((x) => x.spans)).length, SPANS_PER_TRACE);
        await sleep(30);
      }
    })();
    const answers = await Promise.all(heavy);
    await probes;
    const codes = answers.map((r) => r.status).sort();
    // Two run (and hit their deadline); the rest are refused at once.
    assert.equal(codes.filter((c) => c === 429).length, 4, `statuses: ${codes.join(',')}`);
    assert.equal(codes.filter((c) => c === 503).length, 2, `statuses: ${codes.join(',')}`);
    for (const r of answers.filter((x) => x.status === 429)) assert.match(r.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
    assert.deepEqual(exportStatuses, Array(10).fill(200));
    // Generous: a blocked loop stalls /ready for the whole query (seconds).
    assert.ok(Math.max(...readyMs) < 400, `/ready took up to ${Math.max(...readyMs).toFixed(0)} ms`);
    assert.ok((await status()).queries.rejected >= 4);
  });
});

/**
 * Engine memory per query statement (--query-memory): a query that needs
 * more fails with 422 and says why, inserts meanwhile succeed, and the
 * connection it failed on answers the next query correctly.
 */
describe('query memory limit', { timeout: 300_000 }, () => {
  let s: Sightline;
  const range = () => `start=${Math.floor(Date.now() / 1000) - 3600}&end=${Math.floor(Date.now() / 1000) + 60}`;
  const UNIQUE_VALUES = 100_000;

  before(async () => {
    s = await startSightline({ args: ['--query-memory', '16MiB'] });
    const base = nowNs() - 600_000_000_000n;
    for (let b = 0; b < UNIQUE_VALUES / 5000; b++) {
      const spans: Record<string, unknown>[] = [];
      for (let t = 0; t < 500; t++) {
        const traceId = randomBytes(16);
        for (let i = 0; i < 10; i++)
          spans.push(span({ traceId, name: `op-${i}`, startNs: base + BigInt(b * 500 + t) * 1_000_000n, attributes: [{ key: 'u', value: { stringValue: randomBytes(16).toString('hex') } }] }));
      }
      assert.equal((await postOtlp(s.otlpHttp, requestBytes(spans, 'mem'))).status, 200);
    }
    const stored = async () => ((await (await fetch(`${s.api}/api/sightline/status`)).json()) as { ingest: { storedSpans: number } }).ingest.storedSpans;
    for (let i = 0; i < 600 && (await stored()) < UNIQUE_VALUES; i++) await sleep(100);
  });

  after(async () => {
    await s?.stop();
    s?.cleanup();
  });

  it('fails a query that needs more engine memory with 422, while inserts go on', async () => {
    // One series per distinct value of u: 100,000 groups do not fit in 16 MiB.
    const wide = `${s.api}/api/metrics/query_range?q=${encodeURIComponent('{ } | count_over_time() by (span.u)')}&step=60s&${range()}`;
    const exports = Array.from({ length: 10 }, (_, i) => postOtlp(s.otlpHttp, requestBytes([span({ name: `insert-during-${i}` })], 'mem')));
    const queries = await Promise.all(Array.from({ length: 3 }, () => fetch(wide)));
    for (const r of queries) {
      assert.equal(r.status, 422);
      assert.match(await r.text(), /more engine memory than a query may use \(--query-memory\)/);
    }
    assert.deepEqual((await Promise.all(exports)).map((r) => r.status), Array(10).fill(200));
    // The same connections then answer a query that fits, correctly.
    const ops = await fetch(`${s.api}/api/metrics/query?q=${encodeURIComponent('{ resource.service.name = "mem" && name = "op-3" } | count_over_time()')}&${range()}`);
    assert.equal(ops.status, 200);
    const body = (await ops.json()) as { series: { value: number }[] };
    assert.equal(body.series.length, 1);
    assert.equal(body.series[0].value, UNIQUE_VALUES / 10);
  });
});
