import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChdbEngine } from '../src/store/chdb/index.js';
import { runConformanceSuite } from '../testkit/store-conformance.js';

runConformanceSuite({
  name: 'embedded chDB',
  async open() {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sightline-chdb-'));
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
