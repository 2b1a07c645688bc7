import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT, eventually, startSightline, type Sightline } from '../testkit/sightline.js';
import { postOtlp } from '../testkit/fixtures.js';
import { otlp, decodeToObject } from '../testkit/otlp-schema.js';

/**
 * Golden files for the Tempo JSON shapes: a fixed trace goes in, and each
 * endpoint's reply must equal test/golden/<name>.json byte for byte (after
 * volatile metrics are masked). SIGHTLINE_UPDATE_GOLDEN=1 rewrites them;
 * review the diff against Tempo's documented shapes before committing.
 */

const GOLDEN_DIR = path.join(REPO_ROOT, 'test', 'golden');
const UPDATE = process.env.SIGHTLINE_UPDATE_GOLDEN === '1';

const TRACE_ID = '0000000000000000a1b2c3d4e5f60718';
const T0 = 1_700_000_000_000_000_000n; // 2023-11-14T22:13:20Z
const ns = (offsetMs: number) => (T0 + BigInt(offsetMs) * 1_000_000n).toString();
const START_S = 1_700_000_000 - 60;
const END_S = 1_700_000_000 + 60;

const FIXTURE = {
  resourceSpans: [
    {
      resource: {
        attributes: [
          { key: 'service.name', value: { stringValue: 'golden-frontend' } },
          { key: 'k8s.namespace.name', value: { stringValue: 'shop' } },
          { key: 'process.pid', value: { intValue: '4242' } },
        ],
      },
      scopeSpans: [
        {
          scope: { name: 'golden-lib', version: '1.0.0' },
          spans: [
            {
              traceId: TRACE_ID,
              spanId: '1000000000000001',
              traceState: 'vendor=1',
              flags: 1,
              name: 'GET /cart',
              kind: 2,
              startTimeUnixNano: ns(0),
              endTimeUnixNano: ns(612),
              attributes: [
                { key: 'http.method', value: { stringValue: 'GET' } },
                { key: 'http.status_code', value: { intValue: '200' } },
                { key: 'sampling.ratio', value: { doubleValue: 0.5 } },
                { key: 'cache.hit', value: { boolValue: false } },
                { key: 'tags', value: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: '1' }] } } },
              ],
              events: [{ timeUnixNano: ns(10), name: 'auth checked', attributes: [{ key: 'user.role', value: { stringValue: 'admin' } }] }],
              status: {},
            },
            {
              traceId: TRACE_ID,
              spanId: '1000000000000002',
              parentSpanId: '1000000000000001',
              name: 'render cart',
              kind: 1,
              startTimeUnixNano: ns(400),
              endTimeUnixNano: ns(600),
              droppedAttributesCount: 2,
              status: { code: 1 },
            },
          ],
        },
      ],
    },
    {
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'golden-cart' } }] },
      schemaUrl: 'https://opentelemetry.io/schemas/1.24.0',
      scopeSpans: [
        {
          scope: { name: 'golden-db' },
          spans: [
            {
              traceId: TRACE_ID,
              spanId: '1000000000000003',
              parentSpanId: '1000000000000001',
              name: 'SELECT cart_items',
              kind: 3,
              startTimeUnixNano: ns(20),
              endTimeUnixNano: ns(380),
              attributes: [{ key: 'db.system', value: { stringValue: 'postgresql' } }],
              links: [{ traceId: 'ffffffffffffffffffffffffffffffff', spanId: '2000000000000001', attributes: [{ key: 'link.kind', value: { stringValue: 'follows' } }] }],
              status: { code: 2, message: 'deadlock detected' },
            },
          ],
        },
      ],
    },
  ],
};

/** Replaces the values of volatile fields (engine statistics, versions). */
function mask(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value), (k, v) => {
    if (['inspectedBytes', 'inspectedSpans', 'revision', 'goVersion'].includes(k)) return '<masked>';
    return v;
  });
}

function golden(name: string, actual: unknown): void {
  const file = path.join(GOLDEN_DIR, `${name}.json`);
  const text = JSON.stringify(mask(actual), null, 2) + '\n';
  if (UPDATE || !existsSync(file)) {
    if (!UPDATE) assert.fail(`missing golden file ${file}; run with SIGHTLINE_UPDATE_GOLDEN=1 and review it`);
    writeFileSync(file, text);
    return;
  }
  assert.equal(text, readFileSync(file, 'utf8'), `${name} differs from its golden file`);
}

/**
 * One Sightline for the whole file, holding the fixed trace: every test
 * here only reads. (Fixed 2023 timestamps, so the retention is long.)
 */
let s: Sightline;
before(async () => {
  s = await startSightline({ args: ['--retention', '100000d'] });
  const r = await postOtlp(s.otlpHttp, JSON.stringify(FIXTURE));
  assert.equal(r.status, 200, r.body.toString());
  await eventually(async () => ((await fetch(`${s.api}/api/traces/${TRACE_ID}`)).status === 200 ? true : undefined));
});
after(async () => {
  await s.stop();
  s.cleanup();
});

describe('Tempo API golden files', () => {
  const get = async (p: string, headers: Record<string, string> = {}) => {
    const r = await fetch(`${s.api}${p}`, { headers });
    assert.equal(r.status, 200, `${p}: ${r.status}`);
    return r;
  };

  it('GET /api/traces/{id}', async () => {
    const r = await get(`/api/traces/${TRACE_ID}`);
    assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
    golden('trace-v1', await r.json());
  });

  it('GET /api/traces/{id} with a short id (left-padded, as in Tempo)', async () => {
    const r = await get(`/api/traces/${TRACE_ID.replace(/^0+/, '').toUpperCase()}`);
    golden('trace-v1', await r.json());
  });

  it('GET /api/v2/traces/{id}', async () => {
    golden('trace-v2', await (await get(`/api/v2/traces/${TRACE_ID}`)).json());
  });

  it('GET /api/v2/traces/{id} as protobuf decodes to the same trace', async () => {
    const r = await get(`/api/v2/traces/${TRACE_ID}`, { accept: 'application/protobuf' });
    const msg = decodeToObject(otlp.TraceByIDResponse, new Uint8Array(await r.arrayBuffer()));
    const spans = msg.trace.resourceSpans.flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans));
    assert.deepEqual(spans.map((sp: any) => sp.spanId.toString('hex')).sort(), ['1000000000000001', '1000000000000002', '1000000000000003']);
  });

  it('GET /api/sightline/traces/{id}/critical-path', async () => {
    const r = await get(`/api/sightline/traces/${TRACE_ID}/critical-path`);
    assert.equal(r.status, 200);
    const cp = (await r.json()) as { segments: { start: string; end: string; selfTimeOnPathNs: number }[]; durationNs: number };
    // The path tiles the root exactly: contiguous segments summing to the trace's duration.
    for (let i = 1; i < cp.segments.length; i++) assert.equal(cp.segments[i].start, cp.segments[i - 1].end);
    assert.equal(cp.segments.reduce((s, x) => s + x.selfTimeOnPathNs, 0), cp.durationNs);
    golden('critical-path', cp);
    assert.equal((await fetch(`${s.api}/api/sightline/traces/00000000000000000000000000000bad/critical-path`)).status, 404);
  });

  it('GET /api/search with tags', async () => {
    golden('search-tags', await (await get(`/api/search?tags=${encodeURIComponent('service.name=golden http.method=GET')}&start=${START_S}&end=${END_S}`)).json());
  });

  it('GET /api/search with minDuration and limit', async () => {
    golden('search-duration', await (await get(`/api/search?tags=${encodeURIComponent('db.system=postgresql')}&minDuration=500ms&limit=5&spss=1&start=${START_S}&end=${END_S}`)).json());
    const none = await (await get(`/api/search?tags=${encodeURIComponent('db.system=postgresql')}&minDuration=1s&start=${START_S}&end=${END_S}`)).json();
    assert.deepEqual((none as any).traces, []);
  });

  it('GET /api/search/tags and /api/v2/search/tags', async () => {
    golden('tags-v1', await (await get(`/api/search/tags?start=${START_S}&end=${END_S}`)).json());
    golden('tags-v2', await (await get(`/api/v2/search/tags?start=${START_S}&end=${END_S}`)).json());
    golden('tags-v2-scope-resource', await (await get(`/api/v2/search/tags?scope=resource&start=${START_S}&end=${END_S}`)).json());
  });

  it('GET tag values, v1 and v2', async () => {
    golden('tag-values-v1-service', await (await get(`/api/search/tag/service.name/values?start=${START_S}&end=${END_S}`)).json());
    golden('tag-values-v1-status', await (await get(`/api/search/tag/status.code/values?start=${START_S}&end=${END_S}`)).json());
    golden('tag-values-v2-status-code', await (await get(`/api/v2/search/tag/span.http.status_code/values?start=${START_S}&end=${END_S}`)).json());
    golden('tag-values-v2-name', await (await get(`/api/v2/search/tag/name/values?start=${START_S}&end=${END_S}`)).json());
    golden('tag-values-v2-status', await (await get(`/api/v2/search/tag/status/values`)).json());
    // Grafana 10/11 encodes the tag name twice.
    const twice = encodeURIComponent(encodeURIComponent('resource.service.name'));
    golden('tag-values-v2-service', await (await get(`/api/v2/search/tag/${twice}/values?start=${START_S}&end=${END_S}`)).json());
  });

  it('GET /api/status/buildinfo, /api/echo and /ready', async () => {
    golden('buildinfo', await (await get('/api/status/buildinfo')).json());
    assert.equal(await (await get('/api/echo')).text(), 'echo\n');
    assert.equal(await (await get('/ready')).text(), 'ready\n');
  });
});

/** The requests Grafana's Tempo data source makes, in its order. */
describe("Grafana's Tempo data source requests", () => {
  it('passes "Save & test" and reads a version that enables its features', async () => {
    assert.equal((await fetch(`${s.api}/api/echo`, { headers: {} })).status, 200);
    const info = (await (await fetch(`${s.api}/api/status/buildinfo`)).json()) as { version: string };
    const [major, minor] = info.version.split('.').map(Number);
    assert.ok(major > 2 || (major === 2 && minor >= 7), `version ${info.version} is at least 2.7.0`);
  });

  it('opens a trace: v2 protobuf first, with and without a time shift', async () => {
    for (const query of ['', `?start=${START_S}&end=${END_S}`]) {
      const r = await fetch(`${s.api}/api/v2/traces/${TRACE_ID.replace(/^0+/, '')}${query}`, { headers: { accept: 'application/protobuf' } });
      assert.equal(r.status, 200);
      const msg = decodeToObject(otlp.TraceByIDResponse, new Uint8Array(await r.arrayBuffer()));
      assert.equal(msg.trace.resourceSpans.length, 2);
    }
  });

  it('gets 404 for an unknown trace on v2, and again on its v1 retry', async () => {
    const unknown = 'feedfacefeedfacefeedfacefeedface';
    assert.equal((await fetch(`${s.api}/api/v2/traces/${unknown}`, { headers: { accept: 'application/protobuf' } })).status, 404);
    assert.equal((await fetch(`${s.api}/api/traces/${unknown}`, { headers: { accept: 'application/protobuf' } })).status, 404);
  });

  it('autocompletes tags and values with limit=5000', async () => {
    const tags = (await (await fetch(`${s.api}/api/v2/search/tags?limit=5000&start=${START_S}&end=${END_S}`)).json()) as any;
    assert.ok(tags.scopes.find((sc: any) => sc.name === 'resource').tags.includes('service.name'));
    const values = (await (await fetch(`${s.api}/api/v2/search/tag/resource.service.name/values?limit=5000&start=${START_S}&end=${END_S}`)).json()) as any;
    assert.deepEqual(values.tagValues.map((v: any) => v.value), ['golden-cart', 'golden-frontend']);
  });

  it('runs the old tag search and the empty TraceQL query', async () => {
    const old = (await (await fetch(`${s.api}/api/search?tags=${encodeURIComponent('service.name="golden-cart"')}&minDuration=100ms&maxDuration=10s&limit=20&start=${START_S}&end=${END_S}`)).json()) as any;
    assert.deepEqual(old.traces.map((t: any) => t.traceID), ['a1b2c3d4e5f60718']);
    const all = (await (await fetch(`${s.api}/api/search?q=${encodeURIComponent('{}')}&limit=20&spss=3&start=${START_S}&end=${END_S}`)).json()) as any;
    assert.deepEqual(all.traces.map((t: any) => t.traceID), ['a1b2c3d4e5f60718']);
    assert.equal(all.traces[0].spanSets[0].spans.length, 3);
  });
});

/** TraceQL through /api/search, as Grafana's editor and query builder send it. */
describe('TraceQL search', () => {
  const search = (q: string) => fetch(`${s.api}/api/search?q=${encodeURIComponent(q)}&limit=20&spss=3&start=${START_S}&end=${END_S}`);

  it('answers the query builder form with Tempo-shaped results', async () => {
    golden('search-traceql', await (await search('{resource.service.name="golden-cart" && status=error}')).json());
    const r = (await (await search('{ span.http.status_code >= 200 && name =~ "GET .*" }')).json()) as any;
    assert.equal(r.traces.length, 1);
    assert.deepEqual(r.traces[0].spanSets[0].spans.map((sp: any) => sp.spanID), ['1000000000000001']);
    const attrs = Object.fromEntries(r.traces[0].spanSets[0].spans[0].attributes.map((a: any) => [a.key, a.value.stringValue]));
    assert.deepEqual(attrs, { 'service.name': 'golden-frontend', 'http.status_code': '200' });
    assert.deepEqual(((await (await search('{ traceDuration > 1s }')).json()) as any).traces, []);
  });

  it('answers a parse error with 400 and its line and column, and an unsupported construct with 501', async () => {
    const bad = await search('{ .a = }');
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /parse error at line 1, col 8: expected a value/);
    const invalid = await search('{ duration > "x" }');
    assert.equal(invalid.status, 400);
    assert.match(await invalid.text(), /cannot compare a duration with a string at line 1, col 12/);
    const unsupported = await search('{ .a = 1 } | rate()');
    assert.equal(unsupported.status, 501);
    assert.match(await unsupported.text(), /not supported: metrics in a search .* at line 1, col 14/);
  });

  it('serves metrics in Tempo\'s shapes, as Grafana requests them', async () => {
    const q = encodeURIComponent('{ resource.service.name =~ "golden-.*" } | count_over_time() by(resource.service.name)');
    const range = await fetch(`${s.api}/api/metrics/query_range?q=${q}&start=${START_S}&end=${END_S}&step=60s`, { headers: { accept: 'application/json' } });
    assert.equal(range.status, 200);
    const ranged = (await range.json()) as { series: { labels: unknown[]; samples: { timestampMs: string; value: number }[] }[] };
    golden('metrics-query-range', ranged);
    // Arithmetic over metrics queries, answered by the same endpoint: each series doubled, labels kept.
    const doubled = await fetch(`${s.api}/api/metrics/query_range?q=${encodeURIComponent(`(${decodeURIComponent(q)}) * 2`)}&start=${START_S}&end=${END_S}&step=60s`);
    assert.equal(doubled.status, 200);
    const twice = (await doubled.json()) as typeof ranged;
    assert.deepEqual(
      twice.series.map((x) => [x.labels, x.samples.map((v) => [v.timestampMs, v.value])]),
      ranged.series.map((x) => [x.labels, x.samples.map((v) => [v.timestampMs, v.value * 2])]),
    );
    const filtered = await fetch(`${s.api}/api/metrics/query_range?q=${encodeURIComponent(`${decodeURIComponent(q)} > 1 | topk(1)`)}&start=${START_S}&end=${END_S}&step=60s`);
    assert.equal(filtered.status, 200);
    const kept = ((await filtered.json()) as typeof ranged).series.flatMap((x) => x.samples.map((v) => v.value));
    assert.ok(kept.length > 0 && kept.every((v) => v > 1), JSON.stringify(kept));
    const instant = await fetch(`${s.api}/api/metrics/query?q=${encodeURIComponent('{ } | quantile_over_time(duration, .5)')}&start=${START_S}&end=${END_S}`);
    golden('metrics-query-instant', await instant.json());
    const bad = await fetch(`${s.api}/api/metrics/query_range?q=${encodeURIComponent('{ } | rate(')}&start=${START_S}&end=${END_S}`);
    assert.equal(bad.status, 400);
  });

  it('narrows tag completions to spans matching q, as Grafana\'s editor asks', async () => {
    const get = async (path: string) => (await (await fetch(`${s.api}${path}&start=${START_S}&end=${END_S}`)).json()) as any;
    const narrowed = await get(`/api/v2/search/tag/name/values?q=${encodeURIComponent('{resource.service.name="golden-cart"}')}`);
    assert.deepEqual(narrowed.tagValues.map((v: any) => v.value), ['SELECT cart_items']);
    const spanTags = await get(`/api/v2/search/tags?scope=span&q=${encodeURIComponent('{resource.service.name="golden-cart"}')}`);
    assert.deepEqual(spanTags.scopes[0].tags, ['db.system']);
    const services = await get(`/api/v2/search/tag/resource.service.name/values?q=${encodeURIComponent('{span.db.system="postgresql"}')}`);
    assert.deepEqual(services.tagValues.map((v: any) => v.value), ['golden-cart']);
    // A query that does not parse does not narrow (Tempo ignores it too).
    const all = await get(`/api/v2/search/tag/name/values?q=${encodeURIComponent('{resource.service.name=')}`);
    assert.equal(all.tagValues.length, 3);
  });

  it('answers structural queries with the right-hand spans', async () => {
    const r = (await (await search('{ resource.service.name = "golden-frontend" && kind = server } > { kind = client }')).json()) as any;
    assert.equal(r.traces.length, 1);
    assert.deepEqual(r.traces[0].spanSets[0].spans.map((sp: any) => sp.spanID), ['1000000000000003']);
    assert.equal(r.traces[0].rootTraceName, 'GET /cart');
  });
});
