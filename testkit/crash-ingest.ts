import path from 'node:path';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { startSightline, type Sightline } from './sightline.js';

/**
 * What the crash-safety tests share (test/crash.test.ts for spans,
 * test/logs-crash.test.ts for log records): sustained ingest over
 * OTLP/HTTP while Sightline is SIGKILLed and restarted, and a look at the
 * stopped server's store itself, to count what it holds.
 */

const require = createRequire(import.meta.url);

/** One request a sender posts. */
export interface CrashBatch {
  /** On the OTLP/HTTP listener: /v1/traces or /v1/logs. */
  path: string;
  /** A protobuf export request. */
  body: Uint8Array;
  /** Notes what it carried: called only when the reply is 200. */
  acknowledged(): void;
}

/** `concurrency` senders post the batches `next` makes until stopped; only 200 replies count as acknowledged. */
function sustainedIngest(s: Sightline, concurrency: number, next: () => CrashBatch): { stop(): Promise<void> } {
  let running = true;
  const workers = Array.from({ length: concurrency }, async () => {
    while (running) {
      const batch = next();
      try {
        const r = await fetch(`${s.otlpHttp}${batch.path}`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: batch.body });
        await r.arrayBuffer();
        if (r.status === 200) batch.acknowledged();
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
    },
  };
}

/**
 * Three rounds of sustained ingest (6 senders) into a Sightline on
 * `dataDir`, each ended by SIGKILL at a different point of the insert cycle.
 */
export async function killDuringIngest(dataDir: string, next: () => CrashBatch): Promise<void> {
  for (let round = 0; round < 3; round++) {
    const s = await startSightline({ dataDir });
    const load = sustainedIngest(s, 6, next);
    await sleep(1500 + round * 370);
    await s.kill();
    await load.stop();
  }
}

/**
 * Runs `check` with a query function (TSV, trimmed) on the store of the
 * stopped Sightline in `dataDir`, opened directly with chDB: the API
 * de-duplicates, so only the store shows a row stored twice.
 */
export function inStore<T>(dataDir: string, check: (query: (sql: string) => string) => T): T {
  const { Session } = require('chdb') as { Session: new (dir: string) => { query(q: string, f: string): string; close(): void } };
  const db = new Session(path.join(dataDir, 'store'));
  try {
    return check((sql) => db.query(sql, 'TSV').trim());
  } finally {
    db.close();
  }
}
