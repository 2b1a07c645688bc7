import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChdbEngine } from '../src/store/chdb/index.js';
import { initSchema } from '../src/store/setup.js';
import { SqlStore } from '../src/store/sql-store/index.js';
import { TABLES } from '../src/store/schema.js';
import { ident, sql } from '../src/store/sql/sql.js';

/**
 * The engine's own bulk-insert rate for our rows: Native files (the same
 * bytes the WAL holds) inserted straight into the real schema, with no
 * Sightline work around it. Runs in its own process (one chDB data
 * directory per process). Also reports the CPU of merging what was
 * inserted (OPTIMIZE FINAL), and bytes per span after it.
 *
 * Usage: node engine-ceiling.js resources.native spans1.native [spans2.native ...]
 * (the previous release's build has its own, for its rows and schema).
 */

export interface CeilingResult {
  rows: number;
  wallSeconds: number;
  cpuSeconds: number;
  rowsPerSecond: number;
  rowsPerCpuSecond: number;
  /** CPU of merging the inserted parts into one, per row. */
  mergeCpuSeconds?: number;
  bytesPerSpanMerged: number;
}

async function main(files: string[]): Promise<CeilingResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sightline-ceiling-'));
  const engine = await ChdbEngine.open({ dir });
  try {
    const layout = { database: 'default' };
    await initSchema(engine, 'ceiling', layout);
    const store = new SqlStore(engine, layout, { defaultTenant: 'bench', scratchDir: path.join(dir, 'scratch') });
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    // The first file holds resource rows; the rest hold spans.
    const check = (o: { ok: boolean; error?: Error }) => {
      if (!o.ok) throw o.error;
    };
    check(await store.writeResources(files[0]));
    for (const f of files.slice(1)) check(await store.writeSpans(f, { replay: false }));
    const wallSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    const rows = (await store.stats()).spans;
    const merge0 = process.cpuUsage();
    await engine.exec(sql`OPTIMIZE TABLE ${ident(TABLES.spans)} FINAL`);
    await engine.exec(sql`OPTIMIZE TABLE ${ident(TABLES.traceIndex)} FINAL`);
    const merge = process.cpuUsage(merge0);
    const out = await engine.query(
      sql`SELECT sum(data_compressed_bytes) FROM system.parts WHERE database = currentDatabase() AND active AND table IN (${[TABLES.spans, TABLES.traceIndex, TABLES.resources]})`,
      'TabSeparated',
    );
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    return {
      rows,
      wallSeconds,
      cpuSeconds,
      rowsPerSecond: rows / wallSeconds,
      rowsPerCpuSecond: rows / cpuSeconds,
      mergeCpuSeconds: (merge.user + merge.system) / 1e6,
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
