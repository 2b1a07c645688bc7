import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { startSightline, eventually, type Sightline } from '../testkit/sightline.js';
import { grpcExportClient, postOtlp, requestBytes, span } from '../testkit/fixtures.js';
import { otlp, decodeToObject } from '../testkit/otlp-schema.js';

/**
 * With a small backlog budget, a burst faster than the store takes it gets
 * 429 + Retry-After (HTTP) and RESOURCE_EXHAUSTED with RetryInfo (gRPC),
 * never unbounded buffering; once the store catches up, ingest recovers by
 * itself, and every acknowledged span is stored.
 */
describe('backpressure', () => {
  let s: Sightline;
  let client: ReturnType<typeof grpcExportClient>;
  before(async () => {
    s = await startSightline({ args: ['--backlog-budget', '1MiB'] });
    client = grpcExportClient(s.otlpGrpc);
  });
  after(async () => {
    client.close();
    await s.stop();
    s.cleanup();
  });

  /** One trace of `n` padded spans per request. */
  const payload = (n: number) => {
    const traceId = randomBytes(16);
    return requestBytes(Array.from({ length: n }, () => span({ traceId, attributes: [{ key: 'pad', value: { stringValue: 'p'.repeat(2000) } }] })), 'pressure-svc');
  };

  it('answers 429 with Retry-After past the budget, then recovers', async () => {
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    let message = '';
    let ackedSpans = 0;
    // About 250 KB per request, 24 at once: several MB against a 1 MiB budget.
    await Promise.all(
      Array.from({ length: 24 }, async () => {
        const r = await postOtlp(s.otlpHttp, payload(120));
        statuses.push(r.status);
        if (r.status === 200) ackedSpans += 120;
        if (r.status === 429) {
          retryAfter = r.headers.get('retry-after');
          message = decodeToObject(otlp.RpcStatus, r.body).message;
        }
      }),
    );
    assert.ok(statuses.includes(429), `expected some 429s, got ${statuses.join(',')}`);
    assert.ok(statuses.every((c) => c === 200 || c === 429));
    assert.equal(retryAfter, '2');
    assert.match(message, /backlog is over its budget/);

    // Recovers by itself once the store has taken the backlog.
    await eventually(async () => ((await postOtlp(s.otlpHttp, payload(10))).status === 200 ? true : undefined), 20_000, 'ingest to recover');
    ackedSpans += 10;
    await eventually(async () => {
      const r = await fetch(`${s.api}/api/search?tags=service.name%3Dpressure-svc&limit=1000&spss=1`);
      const j = (await r.json()) as any;
      const stored = j.traces.reduce((n: number, t: any) => n + t.spanSet.matched, 0);
      return stored === ackedSpans ? true : undefined;
    }, 20_000, 'every acknowledged span to be searchable');
  });

  it('answers RESOURCE_EXHAUSTED with RetryInfo over gRPC', async () => {
    const results = await Promise.all(Array.from({ length: 24 }, () => client.exportRaw(payload(120))));
    const refused = results.filter((r) => r.error);
    assert.ok(refused.length > 0, 'some exports are refused');
    for (const r of refused) {
      assert.equal(r.error!.code, grpc.status.RESOURCE_EXHAUSTED);
      const details = r.error!.metadata.get('grpc-status-details-bin')[0] as Buffer;
      const st = decodeToObject(otlp.RpcStatus, details);
      assert.equal(st.code, grpc.status.RESOURCE_EXHAUSTED);
      assert.equal(st.details[0].typeUrl, 'type.googleapis.com/google.rpc.RetryInfo');
      assert.equal(decodeToObject(otlp.RetryInfo, st.details[0].value).retryDelay.seconds, '2');
    }
    await eventually(async () => ((await client.exportRaw(payload(5))).response ? true : undefined), 20_000, 'gRPC ingest to recover');
  });
});
