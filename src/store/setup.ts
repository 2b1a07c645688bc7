import { DDL_WAIT_WITH_NODES_DOWN_S, EngineError, type Engine } from './engine.js';
import { readMeta, writeMeta } from './meta.js';
import { SCHEMA_VERSION, TABLES, localName, schemaObjects, type Layout, type SchemaObject } from './schema.js';
import { sql, type Sql } from './sql/sql.js';

export class SchemaVersionError extends Error {
  override readonly name = 'SchemaVersionError';
}

/** Versions whose tables the version-3 store copies from at start (migrate-v2.ts). */
const COPIED_VERSIONS = new Set([1, 2]);

/**
 * Creates the schema, or checks that an existing one is ours and current.
 * A version-1 or -2 store gets the version-3 tables beside its own, and
 * its version is recorded as 3 at once, so that an older Sightline started
 * later refuses it; its spans are then copied in the background (LegacyCopy).
 * Every statement is idempotent, so several processes may run this at
 * once; a statement that loses a creation race is let be.
 */
export async function initSchema(engine: Engine, describe: string, layout: Layout): Promise<{ created: boolean }> {
  const tables = await listTables(engine);
  const hasMeta = tables.has(TABLES.meta);
  if (!hasMeta && ['spans', 'spans_local', TABLES.spans, localName(TABLES.spans, layout)].some((t) => tables.has(t)))
    throw new SchemaVersionError(`${describe} holds a spans table without Sightline's schema record; refusing to touch it`);
  let found: number | null = null;
  if (hasMeta) {
    found = await readSchemaVersion(engine);
    // null: created by a process that died before recording the version;
    // the statements below finish the job.
    if (found !== null && found > SCHEMA_VERSION)
      throw new SchemaVersionError(
        `${describe} has schema version ${found}, written by a newer Sightline; this build understands up to version ${SCHEMA_VERSION}. Upgrade Sightline, or point it at another data location.`,
      );
    if (found !== null && found < SCHEMA_VERSION && !COPIED_VERSIONS.has(found))
      throw new SchemaVersionError(`${describe} has schema version ${found}, and this build has no migration from it to version ${SCHEMA_VERSION}.`);
  }
  if (layout.replicated) await refuseUnreplicated(engine, layout, describe);
  const objects = schemaObjects(engine.capabilities, layout);
  const run = layout.replicated ? runOnCluster : runEverywhere;
  // The meta table first, then the version record, then everything else.
  await run(engine, objects.slice(0, 1));
  if (found === null || found < SCHEMA_VERSION) await writeMeta(engine, 'schema_version', String(SCHEMA_VERSION));
  await run(engine, objects.slice(1));
  return { created: !hasMeta };
}

/**
 * A replicated layout over tables that are not replicated (a cluster first
 * run without --clickhouse-replicated) would leave each replica with data
 * of its own: refuse, rather than create the rest beside them.
 */
async function refuseUnreplicated(engine: Engine, layout: Layout, describe: string): Promise<void> {
  const local = localName(TABLES.spans, layout);
  const out = await engine.query(sql`SELECT engine FROM system.tables WHERE database = currentDatabase() AND name IN (${[TABLES.meta, local]})`, 'TabSeparated');
  const plain = out.toString('utf8').split('\n').filter((e) => e !== '' && !e.startsWith('Replicated'));
  if (plain.length > 0)
    throw new SchemaVersionError(
      `${describe} holds Sightline tables that are not replicated (${plain.join(', ')}); a replicated layout needs ReplicatedMergeTree tables. Use another database, or move the data into replicated tables first (docs/deploy.md).`,
    );
}

/**
 * DDL on a replicated cluster: each statement once, ON CLUSTER, so that
 * ZooKeeper's queue also brings it to nodes that are down now. Statements
 * whose object every node that answers has already are skipped: a restart
 * during a replica's outage then waits for no queue. When a node does not
 * answer, a statement waits DDL_WAIT_WITH_NODES_DOWN_S for the nodes and
 * is enough once every node that answers has run it.
 */
async function runOnCluster(engine: Engine, objects: SchemaObject[]): Promise<void> {
  let present = await tablesOnNodes(engine);
  for (const o of objects) {
    if (present.every((names) => names?.has(o.name))) continue;
    const down = present.some((names) => names === null);
    try {
      await engine.exec(o.create, 'ingest', down ? { distributed_ddl_task_timeout: DDL_WAIT_WITH_NODES_DOWN_S } : {});
    } catch (e) {
      // 159 TIMEOUT_EXCEEDED: some node had not run it when the wait ended.
      if (!(e instanceof EngineError && e.code === 159)) throw e;
      present = await tablesOnNodes(engine);
      if (!present.every((names) => names === null || names.has(o.name))) throw e;
    }
  }
}

/** The tables and views of each node; null for a node that cannot be reached. */
async function tablesOnNodes(engine: Engine): Promise<(Set<string> | null)[]> {
  const out: (Set<string> | null)[] = [];
  for (let node = 0; node < engine.nodes; node++) {
    try {
      const names = await engine.queryOn(node, sql`SELECT name FROM system.tables WHERE database = currentDatabase()`, 'TabSeparated');
      out.push(new Set(names.toString('utf8').split('\n').filter(Boolean)));
    } catch (e) {
      if (!(e instanceof EngineError && e.connection)) throw e;
      out.push(null);
    }
  }
  return out;
}

async function runEverywhere(engine: Engine, objects: SchemaObject[]): Promise<void> {
  const statements = objects.map((o) => o.create);
  for (let node = 0; node < engine.nodes; node++) {
    for (const statement of statements) {
      try {
        await engine.execOn(node, statement);
      } catch (e) {
        // 57 TABLE_ALREADY_EXISTS: another process created it between our check and our create.
        if (e instanceof EngineError && e.code === 57) continue;
        throw e;
      }
    }
  }
}

async function listTables(engine: Engine): Promise<Set<string>> {
  const out = await engine.query(sql`SELECT name FROM system.tables WHERE database = currentDatabase()`, 'TabSeparated');
  return new Set(out.toString('utf8').split('\n').filter(Boolean));
}

export async function readSchemaVersion(engine: Engine): Promise<number | null> {
  const text = await readMeta(engine, 'schema_version');
  if (text === null) return null;
  const n = Number(text);
  if (!Number.isInteger(n)) throw new SchemaVersionError(`unreadable schema version ${JSON.stringify(text)}`);
  return n;
}
