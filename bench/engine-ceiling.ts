import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChdbEngine } from '../src/store/chdb/index.js';
import { initSchema } from '../src/store/schema.js';
import { SqlStore } from '../src/store/sql-store.js';
import { sql } from '../src/query/sql/index.js';

/**
 * The engine's own bulk-insert rate for our rows: Native files (the same
 * bytes the WAL holds) inserted straight into the real schema, with no
 * Sightline work around it. Runs in its own process (one chDB data
 * directory per process). Also reports bytes per span after OPTIMIZE FINAL.
 *
 * Usage: node engine-ceiling.js resources.native spans1.native [spans2.native ...]
 */

export interface CeilingResult {
  rows: number;
  wallSeconds: number;
  cpuSeconds: number;
  rowsPerSecond: number;
  rowsPerCpuSecond: number;
  bytesPerSpanMerged: number;
}

async function main(files: string[]): Promise<CeilingResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sightline-ceiling-'));
  const engine = await ChdbEngine.open({ dir });
  try {
    await initSchema(engine, 'ceiling');
    const store = new SqlStore(engine);
    let rows = 0;
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    // The first file holds resource rows; the rest hold spans.
    await store.writeResources(files[0]);
    for (const f of files.slice(1)) await store.writeSegment(f, { replay: false });
    const wallSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    const stats = await store.stats();
    rows = stats.spans;
    await engine.exec(sql`OPTIMIZE TABLE spans FINAL`);
    await engine.exec(sql`OPTIMIZE TABLE trace_index FINAL`);
    const out = await engine.query(
      sql`SELECT sum(data_compressed_bytes) FROM system.parts WHERE database = currentDatabase() AND active AND table IN ('spans', 'trace_index', 'resources')`,
      'TabSeparated',
    );
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    return {
      rows,
      wallSeconds,
      cpuSeconds,
      rowsPerSecond: rows / wallSeconds,
      rowsPerCpuSecond: rows / cpuSeconds,
      bytesPerSpanMerged: Number(out.toString().trim()) / rows,
    };
  } finally {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then(
    (r) => {
      process.stdout.write(JSON.stringify(r) + '\n');
      process.exit(0);
    },
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
