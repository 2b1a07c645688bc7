import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** Sightline's version, from the package.json this code was built from. */
export const SIGHTLINE_VERSION: string = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'sightline' && pkg.version) return pkg.version;
    } catch {
      // keep walking up
    }
    dir = path.dirname(dir);
  }
  return '0.0.0-unknown';
})();

/** The Tempo HTTP API level Sightline speaks; Grafana gates features on it. */
export const TEMPO_API_VERSION = '2.7.0';
