import { promises as fsp } from 'node:fs';
import path from 'node:path';

/**
 * One Sightline process per data directory. The engine refuses a second
 * one with an unhelpful message, so we take our own lock first and say who
 * holds it. A lock left by a killed process is taken over.
 */
export class DataDirLockedError extends Error {
  override readonly name = 'DataDirLockedError';
}

export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  await fsp.mkdir(dataDir, { recursive: true });
  const file = path.join(dataDir, 'sightline.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await fsp.open(file, 'wx', 0o600);
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      return async () => {
        await fsp.unlink(file).catch(() => {});
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = Number((await fsp.readFile(file, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder))
        throw new DataDirLockedError(`data directory ${dataDir} is in use by another Sightline process (pid ${holder})`);
      await fsp.unlink(file).catch(() => {});
    }
  }
  throw new DataDirLockedError(`could not lock data directory ${dataDir}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
