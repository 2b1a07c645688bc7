// Installs Debian's chromium for the browser tests when it is missing (never
// `npx playwright install`: no browser downloads from outside the distribution).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const CHROMIUM = '/usr/bin/chromium';

export function ensureChromiumInstalled(log = (m) => process.stderr.write(`${m}\n`)) {
  if (existsSync(CHROMIUM)) return;
  log('chromium is missing: installing it from Debian (apt-get update && apt-get install chromium)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const sudo = process.getuid && process.getuid() === 0 ? [] : ['sudo'];
  const run = (args) => execFileSync(sudo[0] ?? args[0], sudo.length ? args : args.slice(1), { stdio: ['ignore', 'ignore', 'inherit'], env });
  run(['apt-get', 'update', '-qq']);
  run(['apt-get', 'install', '-y', '-qq', 'chromium']);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) ensureChromiumInstalled();
