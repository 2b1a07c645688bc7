// Installs Debian's chromium for the browser tests when it is missing (never
// `npx playwright install`: no browser downloads from outside the distribution).
import { fileURLToPath } from 'node:url';
import { ensureDebianPackage } from './debian.mjs';

export const CHROMIUM = '/usr/bin/chromium';

export function ensureChromiumInstalled(log) {
  ensureDebianPackage(CHROMIUM, 'chromium', 'the browser tests drive it', log);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) ensureChromiumInstalled();
