import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { eventually, startSightline, type Sightline } from '../testkit/sightline.js';
import { nowNs, postOtlp, request, requestJson, span } from '../testkit/fixtures.js';

/**
 * The same TraceQL search, run again and again, keeps its answer.
 *
 * Found by the fuzz test: on chDB 3.4 (ClickHouse 26.7) these searches
 * answered 200 three times, then 500 (ILLEGAL_COLUMN) from the fourth run
 * on, once the engine had JIT-compiled the filter, whenever the resource
 * condition matched no resource (its IN set was empty). See
 * EngineCapabilities.jitFailsOnEmptyInSets.
 *
 * First no resource holds the attributes the queries ask for (the empty
 * set), while spans that meet every span condition are there, so the
 * filter runs on rows; then a resource that holds them arrives, and each
 * query must find exactly that trace, every time.
 */

const QUERIES = [
  '{ name = "x" } && { kind = server && resource.b = 1 }',
  '{ span.x = 1 } > { duration > 1s && resource.b = 1 }',
  '{ span.http.status_code = resource." " && span." " = 0 }',
];
const RUNS = 8;

const T0 = nowNs() - 120_000_000_000n;
const START_S = Number(T0 / 1_000_000_000n) - 600;
const END_S = START_S + 1200;

/** A root named x (span.x = 1, http.status_code = 200, " " = 0) and its server child of 1.5 s. */
function trace(service: string, resourceAttrs: { key: string; value: Record<string, unknown> }[]): { id: string; body: string } {
  const traceId = randomBytes(16);
  const root = randomBytes(8);
  const attributes = [
    { key: 'x', value: { intValue: '1' } },
    { key: 'http.status_code', value: { intValue: '200' } },
    { key: ' ', value: { intValue: '0' } },
  ];
  const spans = [
    span({ traceId, spanId: root, name: 'x', kind: 2, startNs: T0, endNs: T0 + 2_000_000_000n, attributes }),
    span({ traceId, parentSpanId: root, name: 'y', kind: 2, startNs: T0 + 100_000_000n, endNs: T0 + 1_600_000_000n }),
  ];
  return { id: traceId.toString('hex'), body: requestJson(request(spans, service, resourceAttrs)) };
}

let s: Sightline;
before(async () => {
  s = await startSightline();
});
after(async () => {
  await s.stop();
  s.cleanup();
});

async function ingest(t: { id: string; body: string }): Promise<void> {
  const r = await postOtlp(s.otlpHttp, t.body);
  assert.equal(r.status, 200, r.body.toString());
  await eventually(async () => ((await fetch(`${s.api}/api/traces/${t.id}`)).status === 200 ? true : undefined));
}

/** Runs `q` RUNS times; each answer must be 200 with exactly `expected` (trace ids). */
async function repeat(q: string, expected: string[]): Promise<void> {
  for (let run = 1; run <= RUNS; run++) {
    const r = await fetch(`${s.api}/api/search?q=${encodeURIComponent(q)}&start=${START_S}&end=${END_S}`);
    const body = await r.text();
    assert.equal(r.status, 200, `${q}, run ${run}: ${r.status} ${body}`);
    const ids = (JSON.parse(body) as { traces: { traceID: string }[] }).traces.map((t) => t.traceID.padStart(32, '0')).sort();
    assert.deepEqual(ids, [...expected].sort(), `${q}, run ${run}`);
  }
}

describe('a TraceQL search repeated', () => {
  it('answers the same while no resource matches (an empty IN set)', async () => {
    await ingest(trace('repeat-plain', []));
    for (const q of QUERIES) await repeat(q, []);
  });

  it('finds the trace whose resource matches, every time', async () => {
    const matching = trace('repeat-matching', [
      { key: 'b', value: { intValue: '1' } },
      { key: ' ', value: { intValue: '200' } },
    ]);
    await ingest(matching);
    for (const q of QUERIES) await repeat(q, [matching.id]);
  });
});
