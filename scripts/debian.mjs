// Installs a Debian package when the binary a test needs is missing (tests
// only use what Debian ships: no downloads from elsewhere).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export function ensureDebianPackage(binary, pkg, why, log = (m) => process.stderr.write(`${m}\n`)) {
  if (existsSync(binary)) return;
  log(`${binary} is missing (${why}): installing it from Debian (apt-get update && apt-get install ${pkg})`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const sudo = process.getuid && process.getuid() === 0 ? [] : ['sudo'];
  const run = (args) => execFileSync(sudo[0] ?? args[0], sudo.length ? args : args.slice(1), { stdio: ['ignore', 'ignore', 'inherit'], env });
  run(['apt-get', 'update', '-qq']);
  run(['apt-get', 'install', '-y', '-qq', pkg]);
}
