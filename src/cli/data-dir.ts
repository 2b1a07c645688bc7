import { promises as fsp } from 'node:fs';
import { isMainThread } from 'node:worker_threads';

/** Files and directories Sightline creates: owner only. */
export const PRIVATE_UMASK = 0o077;

/**
 * Makes the data directory private to Sightline's user: it holds span
 * data, the WAL, quarantined segments and the audit trail.
 *
 * The process umask becomes 077, so every file created from now on is 0600
 * and every directory 0700. That is the only lever on the embedded engine:
 * chDB creates its parts, metadata and temporary files with the process
 * umask and has no mode setting of its own. It is set for the whole process
 * (a umask is per process), before the engine opens.
 *
 * A data directory that already exists with wider permissions (one made by
 * an older Sightline, or by hand) is narrowed to 0700; what is inside it
 * keeps its modes but can no longer be reached by other users. The answer
 * says what was found, so the caller can log it: `wideMode` is set when the
 * directory was wider, `narrowed` whether chmod succeeded (it fails on a
 * directory owned by another user).
 */
export async function makeDataDirPrivate(dataDir: string): Promise<{ wideMode?: number; narrowed: boolean; error?: string }> {
  // Worker threads may not change the umask; serve runs on the main thread.
  if (isMainThread) process.umask(PRIVATE_UMASK);
  await fsp.mkdir(dataDir, { recursive: true, mode: 0o700 });
  const mode = (await fsp.stat(dataDir)).mode & 0o777;
  if ((mode & 0o077) === 0) return { narrowed: false };
  try {
    await fsp.chmod(dataDir, mode & 0o700);
    return { wideMode: mode, narrowed: true };
  } catch (e) {
    return { wideMode: mode, narrowed: false, error: (e as NodeJS.ErrnoException).code ?? (e as Error).message };
  }
}
