import { EngineError, type Engine } from './engine.js';
import { readMeta, writeMeta } from './meta.js';
import { SCHEMA_VERSION, TABLES, localName, schemaStatements, type Layout } from './schema.js';
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
  const statements = schemaStatements(engine.capabilities, layout);
  // The meta table first, then the version record, then everything else.
  await runEverywhere(engine, statements.slice(0, 1));
  if (found === null || found < SCHEMA_VERSION) await writeMeta(engine, 'schema_version', String(SCHEMA_VERSION));
  await runEverywhere(engine, statements.slice(1));
  return { created: !hasMeta };
}

async function runEverywhere(engine: Engine, statements: Sql[]): Promise<void> {
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
