// Installs Debian's zstd when it is missing: the disk scans of the redaction
// and erasure tests (testkit/disk-scan.ts) decompress ClickHouse's ZSTD
// blocks with it, to look for values inside compressed parts.
import { fileURLToPath } from 'node:url';
import { ensureDebianPackage } from './debian.mjs';

export function ensureZstdInstalled(log) {
  ensureDebianPackage('/usr/bin/zstd', 'zstd', 'the disk scans decompress store parts with it', log);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) ensureZstdInstalled();
