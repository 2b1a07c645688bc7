import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRequire } from 'node:module';
import { startSightline, tempDir, type Sightline } from '../testkit/sightline.js';
import { nowNs, requestBytes, span } from '../testkit/fixtures.js';

const require = createRequire(import.meta.url);

/**
 * SIGKILL during sustained ingest, three times over, restarting each time.
 * Every span acknowledged before a kill must be stored afterwards, exactly
 * once: the WAL is replayed, and replay skips rows the store already took.
 */

interface Acked {
  traceId: Buffer;
  spanIds: Set<string>;
}

/** Senders post batches until stopped; only 200 replies count as acknowledged. */
function sustainedIngest(s: Sightline, acked: Acked[], concurrency: number): { stop(): Promise<number> } {
  let running = true;
  let requests = 0;
  const workers = Array.from({ length: concurrency }, async () => {
    while (running) {
      const traceId = randomBytes(16);
      const spans = Array.from({ length: 40 }, (_, i) =>
        span({ traceId, name: `op-${i % 5}`, startNs: nowNs() - BigInt(i) * 1000n, attributes: [{ key: 'i', value: { intValue: i } }] }),
      );
      try {
        const r = await fetch(`${s.otlpHttp}/v1/traces`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-protobuf' },
          body: requestBytes(spans, 'crash-svc'),
        });
        await r.arrayBuffer();
        requests++;
        if (r.status === 200) acked.push({ traceId, spanIds: new Set(spans.map((x) => (x.spanId as Buffer).toString('hex'))) });
      } catch {
        // The server died mid-request: not acknowledged.
        await sleep(5);
      }
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(workers);
      return requests;
    },
  };
}

describe('crash safety', () => {
  const dataDir = tempDir('sightline-crash-');
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('keeps every acknowledged span, once, across SIGKILLs during ingest', async () => {
    const acked: Acked[] = [];
    for (let round = 0; round < 3; round++) {
      const s = await startSightline({ dataDir });
      const load = sustainedIngest(s, acked, 6);
      // Kill at a different point of the insert cycle each round.
      await sleep(1500 + round * 370);
      await s.kill();
      await load.stop();
    }
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
    const { Session } = require('chdb') as { Session: new (dir: string) => { query(q: string, f: string): string; close(): void } };
    const ackedFile = path.join(dataDir, 'acked.tsv');
    writeFileSync(ackedFile, acked.flatMap((a) => [...a.spanIds].map((sid) => `${a.traceId.toString('hex')}\t${sid}\n`)).join(''));
    const ackedSpans = acked.reduce((n, a) => n + a.spanIds.size, 0);
    const db = new Session(path.join(dataDir, 'store'));
    try {
      const q = (sql: string) => db.query(sql, 'TSV').trim();
      const stored = `SELECT lower(hex(trace_id)) AS t, lower(hex(span_id)) AS s, count() AS c FROM spans_v3 GROUP BY t, s`;
      const acks = `SELECT * FROM file('${ackedFile}', 'TSV', 't String, s String')`;
      assert.equal(q(`SELECT count() FROM (${acks})`), String(ackedSpans));
      assert.equal(q(`SELECT count() FROM (${acks}) WHERE (t, s) NOT IN (SELECT t, s FROM (${stored}))`), '0', 'every acknowledged span is stored');
      assert.equal(q(`SELECT count() FROM (${stored}) WHERE c > 1`), '0', 'no span is stored twice');
      const indexed = q('SELECT uniqExact(trace_id) FROM trace_index_v3');
      assert.equal(indexed, q('SELECT uniqExact(trace_id) FROM spans_v3'), 'every stored trace is in the trace index');
    } finally {
      db.close();
    }
  });
});
