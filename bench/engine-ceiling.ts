import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

/**
 * The engine's own bulk-insert rate for our rows: Native files (the same
 * bytes the WAL holds) inserted straight into the real schema, with no
 * Sightline work around it, with background merges stopped meanwhile.
 * Runs in its own process (one chDB data directory per process). Then
 * reports the CPU of merging what was inserted into one part (OPTIMIZE
 * FINAL), and bytes per span after it.
 *
 * The schema and engine come from a build's dist/: this one, or the
 * previous release's (built from git history), so both are measured by
 * the same code. The store directory is left in `--dir` for the caller to
 * remove once every run is done: on ext4, creating files right after many
 * were deleted costs the kernel a scan of the freed inodes, which would
 * slow whichever run came next.
 *
 * Usage: node engine-ceiling.js --dist DIST --dir PARENT resources.native spans1.native [...]
 *        node engine-ceiling.js --dist DIST --dir PARENT --logs logs1.native [...]
 * With --logs, the files hold log rows, inserted into the logs table.
 */

export interface CeilingResult {
  rows: number;
  wallSeconds: number;
  cpuSeconds: number;
  rowsPerSecond: number;
  rowsPerCpuSecond: number;
  /** CPU of merging the inserted parts into one. */
  mergeCpuSeconds: number;
  bytesPerSpanMerged: number;
}

interface Build {
  ChdbEngine: { open(o: { dir: string }): Promise<Engine> };
  initSchema(engine: Engine, describe: string, layout: { database: string }): Promise<unknown>;
  /** Table names: version 3 carries the version in them. */
  spans: string;
  traceIndex: string;
  resources: string;
  spanColumns: readonly string[];
  resourceColumns: readonly string[];
  /** This build's logs table and its columns; absent in builds before logs. */
  logs?: { table: string; columns: readonly string[] };
  sql(strings: TemplateStringsArray, ...values: unknown[]): unknown;
}

interface Engine {
  insertNativeFile(table: string, columns: readonly string[], file: string): Promise<void>;
  exec(statement: unknown): Promise<void>;
  query(statement: unknown, format: string): Promise<Buffer>;
  close(): Promise<void>;
}

async function load(dist: string): Promise<Build> {
  // Modules of another build, read as the shape Build describes.
  const from = (p: string) => import(path.join(dist, 'src', p)) as Promise<unknown>;
  const engine = await from('store/chdb/index.js');
  const batch = await from('model/span-batch.js');
  const schema = await from('store/schema.js');
  // Version 3 moved initSchema to setup.js and the builder to store/sql.
  const setup = await from('store/setup.js').catch(() => schema);
  const sqlModule = await from('store/sql/sql.js').catch(() => from('query/sql/sql.js'));
  const tables = (schema as { TABLES: Record<string, string> }).TABLES;
  const logBatch = (await from('model/log-batch.js').catch(() => null)) as { LOG_COLUMN_NAMES: string[] } | null;
  return {
    ChdbEngine: (engine as { ChdbEngine: Build['ChdbEngine'] }).ChdbEngine,
    initSchema: (setup as { initSchema: Build['initSchema'] }).initSchema,
    spans: tables.spans,
    traceIndex: tables.traceIndex,
    resources: tables.resources,
    spanColumns: (batch as { SPAN_COLUMN_NAMES: string[] }).SPAN_COLUMN_NAMES,
    resourceColumns: (batch as { RESOURCE_COLUMN_NAMES: string[] }).RESOURCE_COLUMN_NAMES,
    ...(logBatch && tables.logs ? { logs: { table: tables.logs, columns: logBatch.LOG_COLUMN_NAMES } } : {}),
    sql: (sqlModule as { sql: Build['sql'] }).sql,
  };
}

async function main(): Promise<CeilingResult> {
  const { values, positionals: files } = parseArgs({ options: { dist: { type: 'string' }, dir: { type: 'string' }, logs: { type: 'boolean', default: false } }, allowPositionals: true });
  const build = await load(values.dist!);
  const logs = values.logs ? build.logs : undefined;
  if (values.logs && !logs) throw new Error('this build has no logs table');
  const dir = mkdtempSync(path.join(values.dir!, 'ceiling-'));
  const engine = await build.ChdbEngine.open({ dir });
  try {
    await build.initSchema(engine, 'ceiling', { database: 'default' });
    const sql = build.sql;
    const statement = (text: string) => sql([text] as unknown as TemplateStringsArray);
    // The insert alone: background merges would otherwise run in this
    // process during the inserts and count against them. They are measured
    // on their own below.
    await engine.exec(statement('SYSTEM STOP MERGES'));
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    if (logs) for (const f of files) await engine.insertNativeFile(logs.table, logs.columns, f);
    else {
      // The first file holds resource rows; the rest hold spans.
      await engine.insertNativeFile(build.resources, build.resourceColumns, files[0]);
      for (const f of files.slice(1)) await engine.insertNativeFile(build.spans, build.spanColumns, f);
    }
    const wallSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    const q = async (text: string) => (await engine.query(statement(text), 'TabSeparated')).toString().trim();
    await engine.exec(statement('SYSTEM START MERGES'));
    const merge0 = process.cpuUsage();
    const merged = logs ? [logs.table] : [build.spans, build.traceIndex];
    for (const t of merged) await engine.exec(statement(`OPTIMIZE TABLE ${t} FINAL`));
    const merge = process.cpuUsage(merge0);
    const rows = Number(await q(`SELECT count() FROM ${logs ? logs.table : build.spans}`));
    const counted = logs ? [logs.table] : [build.spans, build.traceIndex, build.resources];
    const bytes = Number(await q(`SELECT sum(data_compressed_bytes) FROM system.parts WHERE database = currentDatabase() AND active AND table IN (${counted.map((t) => `'${t}'`).join(', ')})`));
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    return {
      rows,
      wallSeconds,
      cpuSeconds,
      rowsPerSecond: rows / wallSeconds,
      rowsPerCpuSecond: rows / cpuSeconds,
      mergeCpuSeconds: (merge.user + merge.system) / 1e6,
      bytesPerSpanMerged: bytes / rows,
    };
  } finally {
    await engine.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then(
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
