import type { Engine } from './engine.js';
import { TABLES } from './schema.js';
import { sql, ident } from './sql/sql.js';

/**
 * The sightline_meta table: keys with a value and a version. It is a
 * ReplacingMergeTree(version): the row with the highest version wins, so
 * writing a key again replaces it, and readers use FINAL.
 */
const META = ident(TABLES.meta);

export async function readMeta(engine: Engine, key: string): Promise<string | null> {
  return (await readMetaWhere(engine, sql`key = ${key}`)).get(key) ?? null;
}

/** Every key that starts with `prefix`, and its value. */
export function readMetaPrefix(engine: Engine, prefix: string): Promise<Map<string, string>> {
  // substring(): 18.16 has no startsWith().
  return readMetaWhere(engine, sql`substring(key, 1, ${Buffer.byteLength(prefix)}) = ${prefix}`);
}

async function readMetaWhere(engine: Engine, where: ReturnType<typeof sql>): Promise<Map<string, string>> {
  const out = await engine.query(sql`SELECT key, value FROM ${META} FINAL WHERE ${where}`, 'JSONCompact');
  return new Map((JSON.parse(out.toString('utf8')) as { data: [string, string][] }).data);
}

let lastVersion = 0;

/** Writes a key; a later write (by the clock, in ms, as every release has written it) replaces it. */
export async function writeMeta(engine: Engine, key: string, value: string): Promise<void> {
  // Strictly increasing within this process, so two writes in one millisecond still order.
  lastVersion = Math.max(Date.now(), lastVersion + 1);
  await engine.exec(sql`INSERT INTO ${META} (key, value, version) VALUES (${key}, ${value}, ${lastVersion})`);
}
