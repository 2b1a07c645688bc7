#!/usr/bin/env node
// Installs the lab's own packages (examples/clinic/node_modules) when they
// are missing or no longer match its lockfile. Where this Node has
// node:sqlite (22.13 and later) the lab uses it and the optional
// better-sqlite3 is left out; on Node 20 better-sqlite3 is installed, and
// rebuilt when it was built for another Node version. The lab is its own
// package so that Sightline itself installs without compiling SQLite;
// `npm run demo`, the test runner (scripts/test.mjs) and .ci/run call this
// first.
//
//   node examples/clinic/install.mjs      (a no-op when all is in place)
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const LAB_DIR = path.dirname(fileURLToPath(import.meta.url));
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/**
 * Why the installed packages do not match the lockfile, or undefined when
 * they do. npm's own record of what it installed (node_modules/.package-lock.json)
 * is compared with the lockfile, so an install made by hand counts too.
 */
export function labInstallProblem(dir = LAB_DIR) {
  const installed = path.join(dir, 'node_modules', '.package-lock.json');
  if (!existsSync(installed)) return 'not installed yet';
  const want = JSON.parse(readFileSync(path.join(dir, 'package-lock.json'), 'utf8')).packages ?? {};
  const have = JSON.parse(readFileSync(installed, 'utf8')).packages ?? {};
  for (const [where, entry] of Object.entries(want)) {
    // The root is the lab itself; optional packages may be skipped for this platform.
    if (where === '' || entry.optional) continue;
    if (have[where]?.version !== entry.version) return `${where.replace(/^node_modules\//, '')} ${entry.version} is ${have[where] ? `at ${have[where].version}` : 'missing'}`;
  }
  return undefined;
}

/** Whether this Node has node:sqlite without a flag: then db.mjs needs no better-sqlite3. */
export function nodeSqliteLoads() {
  return spawnSync(process.execPath, ['-e', "require('node:sqlite')"], { stdio: 'ignore' }).status === 0;
}

/** Whether better-sqlite3 loads in this Node (a native addon is built for one Node ABI). */
function sqliteLoads(dir) {
  const r = spawnSync(process.execPath, ['-e', "new (require('better-sqlite3'))(':memory:').close()"], { cwd: dir, encoding: 'utf8' });
  return { ok: r.status === 0, stderr: r.stderr ?? '' };
}

function npm(args, dir) {
  const r = spawnSync(NPM, args, { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`\`npm ${args.join(' ')}\` in ${dir} failed (${r.error?.message ?? `exit ${r.status}`})`);
}

/**
 * Makes the lab runnable on this Node: `npm ci` in the lab when its packages
 * are missing or stale, `npm rebuild better-sqlite3` when only the addon is
 * built for another Node. Progress goes to stderr; throws when it cannot.
 */
export function ensureLabInstalled({ dir = LAB_DIR, log = (line) => process.stderr.write(`${line}\n`) } = {}) {
  const builtIn = nodeSqliteLoads();
  const problem = labInstallProblem(dir) ?? (builtIn || existsSync(path.join(dir, 'node_modules', 'better-sqlite3')) ? undefined : 'better-sqlite3 is missing');
  if (problem) {
    log(
      builtIn
        ? `clinic lab: installing its packages (${problem}); this Node has node:sqlite, so better-sqlite3 is left out`
        : `clinic lab: installing its packages (${problem}); better-sqlite3 compiles from source when no prebuilt binary can be fetched, which takes a minute or two`,
    );
    const started = Date.now();
    npm(['ci', '--no-audit', '--no-fund', ...(builtIn ? ['--omit=optional'] : [])], dir);
    log(`clinic lab: installed in ${Math.round((Date.now() - started) / 1000)} s`);
  }
  if (builtIn) return;
  const loads = sqliteLoads(dir);
  if (loads.ok) return;
  if (!/NODE_MODULE_VERSION|was compiled against a different Node/.test(loads.stderr)) throw new Error(`clinic lab: better-sqlite3 does not load:\n${loads.stderr}`);
  log(`clinic lab: rebuilding better-sqlite3 for Node ${process.version}`);
  npm(['rebuild', 'better-sqlite3'], dir);
  const again = sqliteLoads(dir);
  if (!again.ok) throw new Error(`clinic lab: better-sqlite3 does not load after a rebuild:\n${again.stderr}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    ensureLabInstalled();
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
}
