import { ChdbEngine } from '../src/store/chdb/index.js';
import { sql } from '../src/query/sql/index.js';

/**
 * Bytes per span on disk after parts merge: OPTIMIZE FINAL on a stopped
 * Sightline's store, then compressed bytes of spans and trace_index over
 * the span count. Own process: one chDB data directory per process.
 */
async function main(dir: string): Promise<void> {
  const engine = await ChdbEngine.open({ dir });
  try {
    await engine.exec(sql`OPTIMIZE TABLE spans FINAL`);
    await engine.exec(sql`OPTIMIZE TABLE trace_index FINAL`);
    const out = await engine.query(
      sql`SELECT sumIf(rows, table = 'spans'), sum(data_compressed_bytes) FROM system.parts WHERE database = currentDatabase() AND active AND table IN ('spans', 'trace_index', 'resources')`,
      'TabSeparated',
    );
    const [rows, bytes] = out.toString().trim().split('\t').map(Number);
    process.stdout.write(JSON.stringify({ rows, bytes, bytesPerSpan: bytes / rows }) + '\n');
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
