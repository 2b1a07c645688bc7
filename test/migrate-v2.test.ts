import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { buildPreviousRelease, type PreviousRelease } from '../testkit/previous-release.js';
import { eventually, REPO_ROOT, startSightline, tempDir, type Sightline } from '../testkit/sightline.js';
import { postOtlp } from '../testkit/fixtures.js';

/**
 * Upgrading a store written by the previous release (schema version 2):
 * the real previous build (from git history) takes spans over OTLP and
 * answers trace-by-id; this build then opens the same data directory (or
 * ClickHouse database), copies the old spans into its version-3 tables in
 * the background, and must answer every one of those requests with the
 * same bytes. The old build must then refuse the upgraded store.
 */

const HOUR = 3_600_000_000_000n;
const NOW = BigInt(Date.now()) * 1_000_000n;
const hex = (n: number) => randomBytes(n).toString('hex');
const str = (key: string, v: string) => ({ key, value: { stringValue: v } });

interface Fixture {
  requests: string[];
  traceIds: string[];
}

/**
 * Traces over three days (three day partitions), several services and
 * scopes, and every field kind: events and links with their dropped counts,
 * trace states and flags, typed and structured attributes, unicode.
 */
function fixture(): Fixture {
  const requests: string[] = [];
  const traceIds: string[] = [];
  for (let t = 0; t < 60; t++) {
    const traceId = hex(16);
    traceIds.push(traceId);
    const start = NOW - BigInt(t % 3) * 24n * HOUR - BigInt(t) * 60_000_000_000n;
    const root = hex(8);
    const child = hex(8);
    const at = (ms: number) => (start + BigInt(ms) * 1_000_000n).toString();
    requests.push(
      JSON.stringify({
        resourceSpans: [
          {
            resource: {
              attributes: [str('service.name', 'gateway'), str('cloud.region', t % 2 ? 'eu-west' : 'us-east'), { key: 'host.cores', value: { intValue: '8' } }],
              droppedAttributesCount: t % 5 === 0 ? 1 : 0,
            },
            schemaUrl: 'https://opentelemetry.io/schemas/1.21.0',
            scopeSpans: [
              {
                scope: { name: '@opentelemetry/instrumentation-http', version: '0.52.0', attributes: [str('scope.k', 'v')], droppedAttributesCount: 2 },
                schemaUrl: 'https://scope.example/1',
                spans: [
                  {
                    traceId,
                    spanId: root,
                    name: `GET /patients/${t}`,
                    kind: 2,
                    startTimeUnixNano: at(0),
                    endTimeUnixNano: at(120 + t),
                    traceState: t % 3 === 0 ? 'vendor=abc,other=1' : '',
                    flags: 257,
                    attributes: [
                      str('http.route', '/patients/:id'),
                      { key: 'http.response.status_code', value: { intValue: String(t % 7 === 0 ? 500 : 200) } },
                      { key: 'ratio', value: { doubleValue: t / 7 } },
                      { key: 'sampled', value: { boolValue: t % 2 === 0 } },
                      { key: 'tags', value: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: '1' }] } } },
                      { key: 'blob', value: { bytesValue: Buffer.from([0, 1, 2, t]).toString('base64') } },
                      str('note', 'zażółć 🙂 "quoted"'),
                    ],
                    droppedAttributesCount: t % 4,
                    events: [
                      { timeUnixNano: at(5), name: 'request.received', attributes: [{ key: 'bytes', value: { intValue: String(100 + t) } }], droppedAttributesCount: t % 2 },
                      ...(t % 7 === 0 ? [{ timeUnixNano: at(100), name: 'exception', attributes: [str('exception.type', 'TimeoutError')] }] : []),
                    ],
                    droppedEventsCount: t % 3,
                    links: t % 4 === 0 ? [{ traceId: hex(16), spanId: hex(8), traceState: 'linked=1', attributes: [str('why', 'retry')], droppedAttributesCount: 1, flags: 1 }] : [],
                    droppedLinksCount: t % 4 === 0 ? 2 : 0,
                    status: t % 7 === 0 ? { code: 2, message: 'upstream timed out' } : { code: 0 },
                  },
                ],
              },
              {
                scope: { name: 'db-tracer' },
                spans: [
                  {
                    traceId,
                    spanId: child,
                    parentSpanId: root,
                    name: 'SELECT patients',
                    kind: 3,
                    startTimeUnixNano: at(10),
                    endTimeUnixNano: at(90),
                    attributes: [str('db.system', 'postgresql'), str('db.query.text', `SELECT * FROM patients WHERE id = ${t}`)],
                    status: { code: 1 },
                  },
                ],
              },
            ],
          },
          {
            resource: { attributes: [str('service.name', 'patients')] },
            scopeSpans: [
              {
                scope: { name: 'express', version: '4' },
                spans: [{ traceId, spanId: hex(8), parentSpanId: child, name: 'lookup', kind: 1, startTimeUnixNano: at(20), endTimeUnixNano: at(60) }],
              },
            ],
          },
        ],
      }),
    );
  }
  return { requests, traceIds };
}

/** Every answer whose bytes must survive the upgrade: trace by id, v1 and v2, JSON and protobuf. */
async function answers(s: Sightline, traceIds: string[]): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const id of traceIds) {
    for (const [path, accept] of [
      [`/api/v2/traces/${id}`, 'application/json'],
      [`/api/v2/traces/${id}`, 'application/protobuf'],
      [`/api/traces/${id}`, 'application/json'],
      [`/api/traces/${id}`, 'application/protobuf'],
    ]) {
      const r = await fetch(`${s.api}${path}`, { headers: { accept } });
      assert.equal(r.status, 200, `${path} (${accept})`);
      out.set(`${path} ${accept}`, Buffer.from(await r.arrayBuffer()));
    }
  }
  return out;
}

/** Spans in a /api/v2/traces JSON answer. */
function spanCount(body: Buffer): number {
  const t = JSON.parse(body.toString()) as { trace: { resourceSpans: { scopeSpans: { spans: unknown[] }[] }[] } };
  return t.trace.resourceSpans.reduce((n, r) => n + r.scopeSpans.reduce((m, s) => m + s.spans.length, 0), 0);
}

async function status(s: Sightline): Promise<{ migration: { state: string; spansCopied: number }; store: { spans: number } }> {
  return (await (await fetch(`${s.api}/api/sightline/status`)).json()) as never;
}

function upgradeSuite(name: string, storeArgs: () => Promise<string[]>): void {
  describe(`upgrading a version-2 store: ${name}`, () => {
    let previous: PreviousRelease;
    before(() => {
      previous = buildPreviousRelease();
    });
    after(() => previous?.remove());

    it('copies every span into version 3 and answers trace by id with the same bytes', async () => {
      const args = await storeArgs();
      const dataDir = tempDir('sightline-upgrade-');
      const { requests, traceIds } = fixture();
      const old = await startSightline({ cli: previous.cli, dataDir, args });
      let before: Map<string, Buffer>;
      try {
        for (const body of requests) assert.equal((await postOtlp(old.otlpHttp, body)).status, 200);
        before = await eventually(async () => {
          const a = await answers(old, traceIds).catch(() => undefined);
          // Every span of every trace is stored (3 per trace).
          if (!a) return undefined;
          const spans = [...a.entries()].filter(([k]) => k.endsWith('application/json') && k.startsWith('/api/v2')).reduce((n, [, b]) => n + spanCount(b), 0);
          return spans === traceIds.length * 3 ? a : undefined;
        }, 30_000, 'the previous release to store every span');
      } finally {
        assert.equal(await old.stop(), 0);
      }

      const upgraded = await startSightline({ dataDir, args });
      try {
        const done = await eventually(async () => {
          const st = await status(upgraded);
          if (st.migration.state === 'failed') throw new Error(`migration failed: ${JSON.stringify(st.migration)}`);
          return st.migration.state === 'done' ? st : undefined;
        }, 60_000, 'the copy of the version-2 store');
        assert.equal(done.migration.spansCopied, traceIds.length * 3);
        assert.equal(done.store.spans, traceIds.length * 3);
        const after = await answers(upgraded, traceIds);
        for (const [key, bytes] of before!) assert.ok(bytes.equals(after.get(key)!), `${key} changed:\nbefore ${bytes.toString()}\nafter  ${after.get(key)?.toString()}`);
        // New spans go on being taken during and after the copy.
        const traceId = hex(16);
        const body = JSON.stringify({ resourceSpans: [{ resource: { attributes: [str('service.name', 'after')] }, scopeSpans: [{ spans: [{ traceId, spanId: hex(8), name: 'new', startTimeUnixNano: NOW.toString(), endTimeUnixNano: (NOW + 1000n).toString() }] }] }] });
        assert.equal((await postOtlp(upgraded.otlpHttp, body)).status, 200);
        await eventually(async () => ((await fetch(`${upgraded.api}/api/v2/traces/${traceId}`)).status === 200 ? true : undefined), 15_000, 'a new span');
      } finally {
        assert.equal(await upgraded.stop(), 0);
      }

      // A second start copies nothing again, and the counts stay.
      const again = await startSightline({ dataDir, args });
      try {
        const st = await eventually(async () => {
          const s = await status(again);
          return s.migration.state === 'done' ? s : undefined;
        }, 30_000, 'the second start');
        assert.equal(st.migration.spansCopied, 0);
        assert.equal(st.store.spans, traceIds.length * 3 + 1);
      } finally {
        await again.stop();
      }

      // The previous release refuses the upgraded store.
      await assert.rejects(startSightline({ cli: previous.cli, dataDir, args, timeoutMs: 20_000 }), /schema version 3/);
    });
  });
}

upgradeSuite('embedded chDB', async () => []);

let servers: { shards: { url: string }[]; stop(): Promise<void> } | undefined;
after(async () => servers?.stop());
upgradeSuite('ClickHouse server', async () => {
  const { startClickHouseServers } = (await import(path.join(REPO_ROOT, 'scripts', 'clickhouse-test-servers.mjs'))) as { startClickHouseServers(n: number): Promise<NonNullable<typeof servers>> };
  servers ??= await startClickHouseServers(1);
  return ['--store', `clickhouse://default@${servers.shards[0].url.replace(/^http:\/\//, '')}/sightline_upgrade`];
});
