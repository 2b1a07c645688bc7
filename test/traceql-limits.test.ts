import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, startSightline, type Sightline } from '../testkit/sightline.js';
import { nowNs, postOtlp, requestBytes, span } from '../testkit/fixtures.js';

/**
 * TraceQL's bounds through the real server and store: inputs that took
 * seconds to minutes (a backtracking regular expression, structural
 * operators on a deep trace, topk over many series) answer rightly within
 * each test's timeout, and what is past a limit is refused with a 4xx
 * naming it, never a 500. No timing assertions: the timeouts are the bound.
 */

let s: Sightline;
const T0 = nowNs() - 60_000_000_000n;
const START_S = Number(T0 / 1_000_000_000n) - 600;
const END_S = Number(T0 / 1_000_000_000n) + 600;
const CHAIN = 10_000;
/** One more distinct span.u than a metrics answer may hold by default (MAX_SERIES). */
const SERIES = 1001;

const id = (n: number, bytes: number) => Buffer.from(n.toString(16).padStart(bytes * 2, '0'), 'hex');
const str = (key: string, value: string) => ({ key, value: { stringValue: value } });

before(async () => {
  s = await startSightline();
  // A chain of 10,000 spans, each the child of the one before.
  const chainTrace = id(0xc4a1, 16);
  const chain = Array.from({ length: CHAIN }, (_, i) =>
    span({ traceId: chainTrace, spanId: id(i + 1, 8), parentSpanId: i > 0 ? id(i, 8) : undefined, name: i === 0 ? 'root' : 'link', startNs: T0 + BigInt(i) * 1000n, endNs: T0 + BigInt(i) * 1000n + 500n }),
  );
  // Values that make a backtracking engine take seconds, next to one that matches.
  const regexTrace = id(0x4e6e, 16);
  const long = `${'a'.repeat(40)}b`;
  const regex = [long, 'a'.repeat(40)].map((v, i) =>
    span({
      traceId: regexTrace,
      spanId: id(0x100 + i, 8),
      name: `regex-${i}`,
      startNs: T0,
      attributes: [str('x', v)],
      events: [{ timeUnixNano: (T0 + 10n).toString(), name: 'e', attributes: [str('y', v)] }],
    }),
  );
  // As many distinct span.u values as series past the default bound.
  const many = Array.from({ length: SERIES }, (_, i) => span({ name: 'many', startNs: T0 + BigInt(i), attributes: [str('u', `u${String(i).padStart(4, '0')}`)] }));
  for (const [spans, service] of [[chain, 'chain'], [regex, 'regex'], [many, 'many']] as const) {
    const r = await postOtlp(s.otlpHttp, requestBytes([...spans], service));
    assert.equal(r.status, 200, r.body.toString());
  }
  for (const q of ['{ span.u = "u1000" }', '{ name = "regex-1" }']) {
    await eventually(async () => {
      const r = await search(q);
      return r.status === 200 && ((await r.json()) as { traces: unknown[] }).traces.length === 1 ? true : undefined;
    }, 30_000, `${q} to be searchable`);
  }
  await eventually(async () => {
    const r = await fetch(`${s.api}/api/traces/${chainTrace.toString('hex')}`);
    return r.status === 200 ? true : undefined;
  }, 30_000, 'the chain to be stored');
});

after(async () => {
  await s?.stop();
  s?.cleanup();
});

function search(q: string, extra = ''): Promise<Response> {
  return fetch(`${s.api}/api/search?q=${encodeURIComponent(q)}&start=${START_S}&end=${END_S}&limit=20${extra}`);
}

async function spanNames(q: string): Promise<string[]> {
  const r = await search(q, '&spss=10');
  assert.equal(r.status, 200, await r.clone().text());
  const body = (await r.json()) as { traces: { spanSets: { spans: { name: string }[] }[] }[] };
  return body.traces.flatMap((t) => t.spanSets.flatMap((set) => set.spans.map((sp) => sp.name))).sort();
}

describe('TraceQL limits, end to end', () => {
  it('answers >> on a chain of 10,000 spans with its 9,999 descendants', { timeout: 20_000 }, async () => {
    const r = await search('{ resource.service.name = "chain" && name = "root" } >> { }', '&spss=3');
    assert.equal(r.status, 200, await r.clone().text());
    const body = (await r.json()) as { traces: { spanSets: { matched: number; spans: unknown[] }[] }[] };
    assert.equal(body.traces.length, 1);
    assert.equal(body.traces[0].spanSets[0].matched, CHAIN - 1);
    assert.equal(body.traces[0].spanSets[0].spans.length, 3);
    const leaves = await search('{ resource.service.name = "chain" } !<< { resource.service.name = "chain" }', '&spss=3');
    const leaf = (await leaves.json()) as { traces: { spanSets: { matched: number }[] }[] };
    assert.equal(leaf.traces[0].spanSets[0].matched, 1, 'one span without a descendant: the last');
  });

  it('matches (a+)+ against 41-character values rightly, in process (event.) and in the store (span.)', { timeout: 20_000 }, async () => {
    assert.deepEqual(await spanNames('{ event.y =~ "(a+)+" }'), ['regex-1']);
    assert.deepEqual(await spanNames('{ span.x =~ "(a+)+" }'), ['regex-1']);
    assert.deepEqual(await spanNames('{ resource.service.name = "regex" && span.x !~ "(a+)+" }'), ['regex-0']);
    // Anchored at both ends, in both places.
    assert.deepEqual(await spanNames('{ event.y =~ "a+" }'), ['regex-1']);
    assert.deepEqual(await spanNames('{ span.x =~ "a+" }'), ['regex-1']);
  });

  it('refuses a lookahead or a backreference with 400 at the pattern', async () => {
    for (const [q, col, reason] of [
      ['{ span.x =~ "a(?=b)" }', 13, 'invalid or unsupported Perl syntax'],
      ['{ event.y !~ "(a)\\\\1" }', 14, 'invalid escape sequence'],
    ] as const) {
      const r = await search(q);
      assert.equal(r.status, 400, q);
      const text = await r.text();
      assert.match(text, new RegExp(`line 1, col ${col}`), text);
      assert.ok(text.includes(reason), text);
    }
  });

  it('refuses 5,000 levels of nesting with 400 and where the limit is crossed', async () => {
    for (const q of [`{ ${'('.repeat(5000)}.a = 1${')'.repeat(5000)} }`, `${'('.repeat(5000)}{ }${')'.repeat(5000)}`, `{ ${'!'.repeat(5000)}.a }`]) {
      // Parentheses and ! as they are (they need no escaping), so the URL stays under Node's header limit.
      const r = await fetch(`${s.api}/api/search?q=${q.replace(/[ {}.=]/g, encodeURIComponent)}&start=${START_S}&end=${END_S}`);
      assert.equal(r.status, 400);
      assert.match(await r.text(), /line 1, col 10[0-9]: the query nests more than 100 levels deep/);
    }
  });

  it('refuses a metrics answer of more than 1,000 series with 422, and answers it with topk', { timeout: 20_000 }, async () => {
    const range = (q: string) => fetch(`${s.api}/api/metrics/query_range?q=${encodeURIComponent(q)}&start=${START_S}&end=${END_S}&step=1200s`);
    const all = await range('{ resource.service.name = "many" } | count_over_time() by(span.u)');
    assert.equal(all.status, 422);
    assert.match(await all.text(), /more than 1000 series/);
    const top = await range('{ resource.service.name = "many" } | count_over_time() by(span.u) | bottomk(2)');
    assert.equal(top.status, 200, await top.clone().text());
    const body = (await top.json()) as { series: { labels: { key: string; value: { stringValue?: string } }[] }[] };
    // Every series counts 1: the tie goes to the labels that sort first.
    assert.deepEqual(body.series.map((x) => x.labels.find((l) => l.key === 'span.u')?.value.stringValue), ['u0000', 'u0001']);
  });

  it('refuses grouping by more than 50 fields with 400 at the 51st', async () => {
    const fields = Array.from({ length: 51 }, (_, i) => `.k${i}`);
    const r = await search(`{ } | by(${fields.join(', ')})`);
    assert.equal(r.status, 400);
    assert.match(await r.text(), /at most 50 fields in all/);
    assert.equal((await search(`{ } | by(${fields.slice(0, 50).join(', ')})`)).status, 200);
  });

  it('gives no sample for min, max and sum over a field no span has, and none for a string field', async () => {
    const range = async (q: string) => {
      const r = await fetch(`${s.api}/api/metrics/query_range?q=${encodeURIComponent(q)}&start=${START_S}&end=${END_S}&step=1200s`);
      assert.equal(r.status, 200, await r.clone().text());
      return ((await r.json()) as { series: { samples: { value: number }[] }[] }).series.flatMap((x) => x.samples.map((p) => p.value));
    };
    for (const fn of ['min_over_time', 'max_over_time', 'sum_over_time']) assert.deepEqual(await range(`{ resource.service.name = "many" } | ${fn}(span.absent)`), []);
    assert.deepEqual(await range('{ resource.service.name = "many" } | quantile_over_time(resource.service.name, .5)'), []);
    // Where the field is there, the value is the real one (every span lasts 1 ms).
    assert.deepEqual(await range('{ resource.service.name = "many" } | min_over_time(duration)'), [0.001]);
  });
});
