import { ChdbEngine } from '../src/store/chdb/index.js';
import { TABLES } from '../src/store/schema.js';
import { ident, sql } from '../src/store/sql/sql.js';

/**
 * Bytes per span on disk after parts merge: OPTIMIZE FINAL on a stopped
 * Sightline's store, then compressed bytes of spans, the trace index and
 * resources over the span count, and of their skip indexes. Own process:
 * one chDB data directory per process.
 */
async function main(dir: string): Promise<void> {
  const engine = await ChdbEngine.open({ dir });
  try {
    await engine.exec(sql`OPTIMIZE TABLE ${ident(TABLES.spans)} FINAL`);
    await engine.exec(sql`OPTIMIZE TABLE ${ident(TABLES.traceIndex)} FINAL`);
    const out = await engine.query(
      sql`SELECT sumIf(rows, table = ${TABLES.spans}), sum(data_compressed_bytes), sum(secondary_indices_compressed_bytes) FROM system.parts
WHERE database = currentDatabase() AND active AND table IN (${[TABLES.spans, TABLES.traceIndex, TABLES.resources]})`,
      'TabSeparated',
    );
    const [rows, bytes, indexBytes] = out.toString().trim().split('\t').map(Number);
    // Column data only, as earlier releases measured it; the skip indexes are reported beside it.
    process.stdout.write(JSON.stringify({ rows, bytes, bytesPerSpan: bytes / rows, indexBytesPerSpan: indexBytes / rows }) + '\n');
  } finally {
    await engine.close();
  }
}

main(process.argv[2]).then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
