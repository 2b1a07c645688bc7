import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startSightline, tempDir } from '../testkit/sightline.js';
import { encode, otlp } from '../testkit/otlp-schema.js';
import { inStore, killDuringIngest, type CrashBatch } from '../testkit/crash-ingest.js';

/**
 * SIGKILL during sustained log ingest, three times over, restarting each
 * time, as test/crash.test.ts does for spans. Every log record acknowledged
 * before a kill must be stored afterwards, exactly once: the logs WAL is
 * replayed, and replay skips records the store already took (by their
 * ids, drawn at ingest and kept in the WAL). Records carry a unique body,
 * so each can be counted in the store itself.
 */

/** A batch of 50 records of one trace, their bodies noted in `acked` when acknowledged. */
function logBatch(acked: string[]): CrashBatch {
  const traceId = randomBytes(16);
  const bodies = Array.from({ length: 50 }, () => `rec-${randomBytes(8).toString('hex')}`);
  const now = BigInt(Date.now()) * 1_000_000n;
  const body = encode(otlp.ExportLogsServiceRequest, {
    resourceLogs: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'crash-logs' } }] },
        scopeLogs: [
          {
            logRecords: bodies.map((b, i) => ({
              timeUnixNano: String(now - BigInt(i) * 1000n),
              severityNumber: 9,
              body: { stringValue: b },
              traceId,
              spanId: randomBytes(8),
              attributes: [{ key: 'i', value: { intValue: i } }],
            })),
          },
        ],
      },
    ],
  });
  return { path: '/v1/logs', body, acknowledged: () => acked.push(...bodies) };
}

describe('crash safety of logs', () => {
  const dataDir = tempDir('sightline-logs-crash-');
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('keeps every acknowledged log record, once, across SIGKILLs during ingest', async () => {
    const acked: string[] = [];
    await killDuringIngest(dataDir, () => logBatch(acked));
    assert.ok(acked.length > 50 * 50, `expected sustained ingest, got ${acked.length} acknowledged records`);

    // Restart: the WAL is replayed into the store before serving.
    const s = await startSightline({ dataDir });
    try {
      const replayLog = s.logs.find((l) => l.msg === 'WAL holds segments from the last run; replaying them');
      assert.ok(replayLog, 'the last kill should have left WAL segments to replay');
      assert.ok(Number(replayLog.logs) > 0, 'log records among them');
      // A sample of acknowledged records is found through the API.
      const deadline = Date.now() + 60_000;
      const step = Math.max(1, Math.floor(acked.length / 30));
      for (let i = 0; i < acked.length; i += step) {
        for (;;) {
          const r = await fetch(`${s.api}/api/sightline/logs?q=${encodeURIComponent(`{ body = "${acked[i]}" }`)}&start=${Math.floor(Date.now() / 1000) - 3600}`);
          if (r.status === 200 && ((await r.json()) as { logs: unknown[] }).logs.length === 1) break;
          assert.ok(Date.now() < deadline, `record ${acked[i]} not found after restart`);
          await sleep(100);
        }
      }
    } finally {
      assert.equal(await s.stop(), 0);
    }

    // Every acknowledged record is in the store exactly once, counted in the store itself.
    const ackedFile = path.join(dataDir, 'acked-logs.tsv');
    writeFileSync(ackedFile, acked.map((b) => `${b}\n`).join(''));
    inStore(dataDir, (q) => {
      const stored = `SELECT body AS b, count() AS c FROM logs_v3 GROUP BY b`;
      const acks = `SELECT * FROM file('${ackedFile}', 'TSV', 'b String')`;
      assert.equal(q(`SELECT count() FROM (${acks})`), String(acked.length));
      assert.equal(q(`SELECT count() FROM (${acks}) WHERE b NOT IN (SELECT b FROM (${stored}))`), '0', 'every acknowledged record is stored');
      assert.equal(q(`SELECT count() FROM (${stored}) WHERE c > 1`), '0', 'no record is stored twice');
      assert.equal(q('SELECT uniqExact(tenant, log_id) = count() FROM logs_v3'), '1', 'ids are unique');
    });
  });
});
