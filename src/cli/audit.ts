import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { checkAuditHeads, parseAuditFile, parseAuditHead, verifyAudit, type AuditHead, type AuditRecord } from '../auth/index.js';
import { ConfigError, parseServeConfig } from '../config/index.js';
import { openClickHouseStore, openEmbeddedStore } from '../store/index.js';
import { DataDirLockedError, lockDataDir } from './data-lock.js';
import { makeDataDirPrivate } from './data-dir.js';

export const AUDIT_USAGE = `Usage:
  sightline audit verify [--head CHAIN:SEQ:HASH ...] [--data DIR] [--store URL] [--store-password-file FILE] [--clickhouse-cluster NAME]
      checks every audit chain in the store (and records not yet moved from DIR/audit):
      each record's hash, each link to the record before, no gaps. A --head
      (logged as auditHead when a server stops) also proves the chain was not cut short.
      Exits 0 when intact, 1 when not. Store flags are those of serve; the
      embedded store can be checked only while no server uses DIR.
`;

export async function auditCommand(argv: string[], env: NodeJS.ProcessEnv, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    out(AUDIT_USAGE);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== 'verify') {
    err(`sightline audit: unknown command ${JSON.stringify(sub)}\n${AUDIT_USAGE}`);
    return 2;
  }
  const heads: AuditHead[] = [];
  const storeArgs: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    const inline = arg.startsWith('--head=') ? arg.slice('--head='.length) : null;
    if (arg === '--head' || inline !== null) {
      const text = inline ?? rest[++i] ?? '';
      const head = parseAuditHead(text);
      if (!head) {
        err(`sightline audit: ${JSON.stringify(text)} is not a chain head (CHAIN:SEQ:HASH, as logged in auditHead)\n`);
        return 2;
      }
      heads.push(head);
    } else storeArgs.push(arg);
  }
  let config;
  try {
    config = parseServeConfig(storeArgs, env);
  } catch (e) {
    if (e instanceof ConfigError) {
      err(`sightline audit: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const dataDir = path.resolve(config.dataDir);
  let unlock: (() => Promise<void>) | null = null;
  if (config.store.kind === 'embedded') {
    // The engine may write (merges, its own metadata): keep new files private, as serve does.
    await makeDataDirPrivate(dataDir);
    try {
      unlock = await lockDataDir(dataDir);
    } catch (e) {
      if (e instanceof DataDirLockedError) {
        err(`sightline audit: ${e.message}; stop it first, or read the trail through GET /api/sightline/audit\n`);
        return 1;
      }
      throw e;
    }
  }
  try {
    const { store } =
      config.store.kind === 'clickhouse'
        ? await openClickHouseStore({ url: config.store.url, cluster: config.store.cluster, caFile: config.store.caFile, password: config.store.password, defaultTenant: config.defaultTenant, scratchDir: path.join(dataDir, 'store-scratch') })
        : await openEmbeddedStore({ dataDir, maxMemoryBytes: config.memoryLimitBytes, defaultTenant: config.defaultTenant });
    let records: AuditRecord[];
    try {
      records = await store.allAudit();
    } finally {
      await store.close();
    }
    // Records a server had fsynced but not yet moved into the store.
    const auditDir = path.join(dataDir, 'audit');
    const files = (await fsp.readdir(auditDir).catch(() => [] as string[])).filter((n) => n.endsWith('.ndjson')).sort();
    for (const name of files) records.push(...parseAuditFile(await fsp.readFile(path.join(auditDir, name), 'utf8')));

    const verdict = verifyAudit(records);
    const problems = [...verdict.problems, ...checkAuditHeads(records, heads)];
    if (problems.length === 0) {
      out(`audit trail intact: ${verdict.records} records in ${verdict.chains} chains${heads.length > 0 ? `, ${heads.length} kept heads found` : ''}\n`);
      return 0;
    }
    out(`audit trail NOT intact: ${problems.length} problems in ${verdict.records} records of ${verdict.chains} chains\n`);
    for (const p of problems) out(`  ${p}\n`);
    return 1;
  } finally {
    await unlock?.();
  }
}
