import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChdbEngine } from '../src/store/chdb/index.js';
import { runLogsConformance } from '../testkit/logs-conformance.js';

/**
 * The logs part of the store conformance suite on embedded chDB, in a
 * process of its own: chDB takes one data directory per process.
 */
runLogsConformance({
  name: 'embedded chDB',
  async open() {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sightline-chdb-logs-'));
    const engine = await ChdbEngine.open({ dir });
    return {
      engine,
      layout: { database: 'default' },
      async close() {
        await engine.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});
