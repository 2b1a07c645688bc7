import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from './sightline.js';

/**
 * The last release with schema version 2, built from this repository's own
 * git history: the migration test upgrades a data directory that this
 * real build wrote, and the ingest benchmark measures its rows beside
 * ours in one run. Nothing is downloaded: `git archive` of a commit, this
 * checkout's node_modules, and its TypeScript compiler.
 */
export const SCHEMA_V2_COMMIT = 'a8b8b2a169386d44d950cd4abd601d59fe82df90';

export interface PreviousRelease {
  /** Its source tree, built. */
  dir: string;
  /** Its `bin/sightline.cjs`. */
  cli: string;
  /** Its compiled output (dist/), to import modules from. */
  dist: string;
  remove(): void;
}

export function buildPreviousRelease(commit = SCHEMA_V2_COMMIT): PreviousRelease {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sightline-previous-'));
  try {
    const archive = spawnSync('git', ['-C', REPO_ROOT, 'archive', '--format=tar', commit], { maxBuffer: 512 * 1024 * 1024 });
    if (archive.status !== 0)
      throw new Error(
        `git archive ${commit} failed (${archive.stderr.toString().trim()}): the migration test and benchmark build the previous release from git history, so they need a full clone, not a shallow one`,
      );
    const untar = spawnSync('tar', ['-x', '-C', dir], { input: archive.stdout });
    if (untar.status !== 0) throw new Error(`tar failed: ${untar.stderr.toString()}`);
    symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    // The server and its benchmarks only; the UI is not needed.
    const tsc = spawnSync(process.execPath, [path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(dir, 'tsconfig.json')], { encoding: 'utf8' });
    if (tsc.status !== 0) throw new Error(`building ${commit} failed:\n${tsc.stdout}${tsc.stderr}`);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    dir,
    cli: path.join(dir, 'bin', 'sightline.cjs'),
    dist: path.join(dir, 'dist'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
