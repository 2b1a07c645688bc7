import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChdbEngine } from '../src/store/chdb/index.js';
import { runDiagnosisConformance } from '../testkit/diagnosis-conformance.js';

runDiagnosisConformance({
  name: 'embedded chDB',
  async open() {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sightline-chdb-diagnosis-'));
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
