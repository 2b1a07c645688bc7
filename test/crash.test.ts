import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startSightline, tempDir } from '../testkit/sightline.js';
import { nowNs, requestBytes, span } from '../testkit/fixtures.js';
import { inStore, killDuringIngest, type CrashBatch } from '../testkit/crash-ingest.js';

/**
 * SIGKILL during sustained ingest, three times over, restarting each time.
 * Every span acknowledged before a kill must be stored afterwards, exactly
 * once: the WAL is replayed, and replay skips rows the store already took.
 */

interface Acked {
  traceId: Buffer;
  spanIds: Set<string>;
}

/** A batch of 40 spans of a new trace, noted in `acked` when acknowledged. */
function spanBatch(acked: Acked[]): CrashBatch {
  const traceId = randomBytes(16);
  const spans = Array.from({ length: 40 }, (_, i) =>
    span({ traceId, name: `op-${i % 5}`, startNs: nowNs() - BigInt(i) * 1000n, attributes: [{ key: 'i', value: { intValue: i } }] }),
  );
  return {
    path: '/v1/traces',
    body: requestBytes(spans, 'crash-svc'),
    acknowledged: () => acked.push({ traceId, spanIds: new Set(spans.map((x) => (x.spanId as Buffer).toString('hex'))) }),
  };
}

describe('crash safety', () => {
  const dataDir = tempDir('sightline-crash-');
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('keeps every acknowledged span, once, across SIGKILLs during ingest', async () => {
    const acked: Acked[] = [];
    await killDuringIngest(dataDir, () => spanBatch(acked));
    assert.ok(acked.length > 50, `expected sustained ingest, got ${acked.length} acknowledged requests`);

    // Restart: the WAL is replayed into the store before serving.
    const s = await startSightline({ dataDir });
    try {
      const replayLog = s.logs.find((l) => l.msg === 'WAL holds segments from the last run; replaying them');
      assert.ok(replayLog, 'the last kill should have left WAL segments to replay');
      // A sample of acknowledged traces, spread over all rounds, is found by
      // id through the API, complete. (All of them are checked in the store below.)
      const deadline = Date.now() + 60_000;
      const step = Math.max(1, Math.floor(acked.length / 60));
      for (let i = 0; i < acked.length; i += step) {
        const a = acked[i];
        for (;;) {
          const r = await fetch(`${s.api}/api/v2/traces/${a.traceId.toString('hex')}`);
          if (r.status === 200) {
            const j = (await r.json()) as any;
            const got = new Set<string>(
              j.trace.resourceSpans.flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans.map((sp: any) => Buffer.from(sp.spanId, 'base64').toString('hex')))),
            );
            if ([...a.spanIds].every((id) => got.has(id))) break;
          }
          assert.ok(Date.now() < deadline, `trace ${a.traceId.toString('hex')} not complete after restart`);
          await sleep(100);
        }
      }
    } finally {
      assert.equal(await s.stop(), 0);
    }

    // Every acknowledged span is in the store exactly once, counted in the
    // store itself (the API de-duplicates, so it would hide duplicates).
    const ackedFile = path.join(dataDir, 'acked.tsv');
    writeFileSync(ackedFile, acked.flatMap((a) => [...a.spanIds].map((sid) => `${a.traceId.toString('hex')}\t${sid}\n`)).join(''));
    const ackedSpans = acked.reduce((n, a) => n + a.spanIds.size, 0);
    inStore(dataDir, (q) => {
      const stored = `SELECT lower(hex(trace_id)) AS t, lower(hex(span_id)) AS s, count() AS c FROM spans_v3 GROUP BY t, s`;
      const acks = `SELECT * FROM file('${ackedFile}', 'TSV', 't String, s String')`;
      assert.equal(q(`SELECT count() FROM (${acks})`), String(ackedSpans));
      assert.equal(q(`SELECT count() FROM (${acks}) WHERE (t, s) NOT IN (SELECT t, s FROM (${stored}))`), '0', 'every acknowledged span is stored');
      assert.equal(q(`SELECT count() FROM (${stored}) WHERE c > 1`), '0', 'no span is stored twice');
      const indexed = q('SELECT uniqExact(trace_id) FROM trace_index_v3');
      assert.equal(indexed, q('SELECT uniqExact(trace_id) FROM spans_v3'), 'every stored trace is in the trace index');
    });
  });
});
