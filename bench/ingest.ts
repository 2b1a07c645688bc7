import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import * as decodeProtobuf from '../src/receivers/decode-protobuf.js';
import * as spanBatch from '../src/model/span-batch.js';
import * as rowTemplates from '../src/receivers/row-templates.js';
import { buildLogTemplates, buildTemplates, instantiate } from './otlp-gen.js';
import { ProtobufLogDecoder } from '../src/receivers/decode-logs-protobuf.js';
import { LogBatchBuilder, LOG_COLUMN_NAMES } from '../src/model/log-batch.js';
import { runDecodeBench } from './decode.js';
import type { LoadgenResult } from './loadgen.js';
import type { CeilingResult } from './engine-ceiling.js';
import { openClickHouseStore, parseClickHouseUrl, redactClickHouseUrl } from '../src/store/index.js';
import { TABLES } from '../src/store/schema.js';
import { buildPreviousRelease, SCHEMA_V2_COMMIT, type PreviousRelease } from '../testkit/previous-release.js';
import { ROOT, cpuSeconds, peakRssBytes, runChild, startServer, status, waitForStore, type Security } from './harness.js';
import { createToken } from '../src/auth/index.js';

const { RESOURCE_COLUMN_NAMES, SPAN_COLUMN_NAMES } = spanBatch;

/**
 * npm run bench:ingest -- [--duration 30] [--concurrency 8] [--protocols http,grpc] [--secure] [--redaction] [--logs] [--query-spans 10000000]
 *                         [--store clickhouse://user:pass@host:8123[,host2:8123]/db [--clickhouse-cluster NAME]
 *                          | clickhouse://local | clickhouse://local-cluster]
 *
 * Measures, in one run on this machine:
 *  - decode-only rates (ours and protobufjs) on one core;
 *  - the engine's own bulk insert of the same rows (the ceiling);
 *  - durable ingest through a real Sightline process from a separate load
 *    generator process, per protocol: acknowledged spans/s, spans per server
 *    CPU-second, request latency, peak RSS, bytes per span after merges;
 *  - with --secure, each protocol again with tokens and TLS on (ratios on/off);
 *  - with --redaction, each protocol again with redaction rules on: the
 *    healthcare preset, an MRN pattern, a hash, a drop and a scoped mask
 *    rule, and SQL normalisation (ratios on/off);
 *  - with --logs, OTLP log records too: the engine's bulk insert of the
 *    same log rows, and durable log ingest per protocol, as log records
 *    per Sightline CPU-second against that ceiling;
 *  - with --query-spans, trace-by-id and tag search latency at that size.
 * and writes a markdown table to bench/results/.
 */

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '30' },
    concurrency: { type: 'string', default: '8' },
    protocols: { type: 'string', default: 'http,grpc' },
    'query-spans': { type: 'string', default: '0' },
    store: { type: 'string' },
    'clickhouse-cluster': { type: 'string' },
    // Each protocol also with tokens and TLS on, interleaved with runs without.
    secure: { type: 'boolean', default: false },
    // Each protocol also with redaction rules on (docs/redaction.md), interleaved with runs without.
    redaction: { type: 'boolean', default: false },
    // OTLP log records as well: their engine ceiling and durable ingest per protocol.
    logs: { type: 'boolean', default: false },
  },
});

function makeSecurity(): Security {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sightline-bench-tls-'));
  const at = (f: string) => path.join(dir, f);
  const openssl = (...a: string[]) => execFileSync('openssl', a, { stdio: ['ignore', 'ignore', 'pipe'] });
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=bench-ca', '-keyout', at('ca.key'), '-out', at('ca.crt'));
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', at('server.key'), '-out', at('server.csr'));
  writeFileSync(at('ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  openssl('x509', '-req', '-in', at('server.csr'), '-CA', at('ca.crt'), '-CAkey', at('ca.key'), '-CAcreateserial', '-days', '1', '-extfile', at('ext.cnf'), '-out', at('server.crt'));
  const ingest = createToken('bench-loadgen', ['ingester'], ['bench']);
  const admin = createToken('bench-admin', ['admin'], ['bench']);
  const yaml = ['tokens:', ...[ingest, admin].map(({ entry: e }) => `  - { name: ${e.name}, id: "${e.id}", hash: "${e.hash}", roles: [${e.roles.join(', ')}], tenants: [${e.tenants.join(', ')}] }`)].join('\n');
  writeFileSync(at('sightline.yaml'), yaml + '\n');
  return {
    args: ['--config', at('sightline.yaml'), '--tls-cert', at('server.crt'), '--tls-key', at('server.key')],
    ca: readFileSync(at('ca.crt'), 'utf8'),
    ingestToken: ingest.token,
    adminToken: admin.token,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * A config file with redaction rules for every tenant, as docs/redaction.md
 * suggests for a clinic: the healthcare preset with an MRN pattern, user
 * ids hashed, request headers dropped, a mask limited to URL attributes,
 * and SQL literals replaced (on by default).
 */
function makeRedaction(): { args: string[]; remove(): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sightline-bench-redaction-'));
  writeFileSync(path.join(dir, 'redaction.key'), randomBytes(48).toString('base64'), { mode: 0o600 });
  writeFileSync(
    path.join(dir, 'sightline.yaml'),
    [
      'redaction:',
      '  hashKeyFile: redaction.key',
      '  default:',
      '    preset: healthcare',
      '    mrnPatterns: ["MRN-[0-9]{6,10}"]',
      '    hash: [enduser.id]',
      '    drop: ["http.request.header.*"]',
      '    mask: [{ pattern: "items/[0-9]+", replacement: "items/[ID]", keys: ["url.*"] }]',
      '',
    ].join('\n'),
  );
  return { args: ['--config', path.join(dir, 'sightline.yaml')], remove: () => rmSync(dir, { recursive: true, force: true }) };
}

interface IngestRun {
  protocol: string;
  /** What was sent: spans, or log records (then `ackedSpans` counts records). */
  signal: 'traces' | 'logs';
  secured: boolean;
  redacted: boolean;
  load: LoadgenResult;
  serverCpuSeconds: number;
  peakRssBytes: number;
  catchUpSeconds: number;
  bytesPerSpanMerged: number;
}

async function ingestRun(protocol: 'http' | 'grpc', durationS: number, concurrency: number, backend: Backend, security: Security | null = null, redaction: { args: string[] } | null = null, signal: 'traces' | 'logs' = 'traces'): Promise<IngestRun> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `sightline-bench-${protocol}-`));
  const database = `sightline_bench_${protocol}_${Date.now()}`;
  try {
    const s = await startServer(dataDir, backend.storeArgs(database), security, redaction?.args ?? []);
    const cpu0 = cpuSeconds(s.pid);
    const target = `127.0.0.1:${protocol === 'http' ? s.ports.otlpHttp : s.ports.otlpGrpc}`;
    const auth = security ? { token: security.ingestToken, tlsCa: security.ca } : {};
    const load = await runChild<LoadgenResult>('loadgen.js', [JSON.stringify({ protocol, target, concurrency, durationS, signal, ...auth })]);
    const catchUpSeconds = await waitForStore(s);
    const serverCpuSeconds = cpuSeconds(s.pid) - cpu0;
    const rss = peakRssBytes(s.pid);
    await s.stop();
    // Bytes per row are measured for spans only (the log ceiling reports its own).
    const bytesPerSpanMerged = signal === 'traces' ? await backend.bytesPerSpan(dataDir, database) : NaN;
    return { protocol, signal, secured: security !== null, redacted: redaction !== null, load, serverCpuSeconds, peakRssBytes: rss, catchUpSeconds, bytesPerSpanMerged };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

interface QueryRun {
  spans: number;
  traceByIdMs: { p50: number; p99: number };
  tagSearchMs: { p50: number; p99: number };
  peakRssBytes: number;
}

async function queryRun(spans: number, concurrency: number, backend: Backend): Promise<QueryRun> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'sightline-bench-query-'));
  try {
    const s = await startServer(dataDir, backend.storeArgs(`sightline_bench_query_${Date.now()}`));
    const target = `127.0.0.1:${s.ports.otlpHttp}`;
    const load = await runChild<LoadgenResult>('loadgen.js', [JSON.stringify({ protocol: 'http', target, concurrency, durationS: 3600, maxSpans: spans })]);
    await waitForStore(s, 1800);
    await sleep(5000); // let merges settle a little, as a live system would have
    const api = `http://127.0.0.1:${s.ports.http}`;
    const time = async (url: string) => {
      const t0 = process.hrtime.bigint();
      const r = await fetch(url);
      await r.arrayBuffer();
      if (r.status !== 200) throw new Error(`${url}: ${r.status}`);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    const ids = load.sampleTraceIds.slice(0, 300);
    for (const id of ids.slice(0, 20)) await time(`${api}/api/traces/${id}`); // warm-up
    const byId: number[] = [];
    for (const id of ids) byId.push(await time(`${api}/api/v2/traces/${id}`));
    const nowS = Math.floor(Date.now() / 1000);
    const search: number[] = [];
    for (let i = 0; i < 30; i++) search.push(await time(`${api}/api/search?tags=${encodeURIComponent('service.name=billing')}&start=${nowS - 3600}&end=${nowS + 60}&limit=20`));
    const rss = peakRssBytes(s.pid);
    const stored = (await status(s)).store.spans;
    await s.stop();
    const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
    return {
      spans: stored,
      traceByIdMs: { p50: pct(byId, 0.5), p99: pct(byId, 0.99) },
      tagSearchMs: { p50: pct(search, 0.5), p99: pct(search, 0.99) },
      peakRssBytes: rss,
    };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The modules that turn OTLP bytes into Native rows, of this build or the previous release's. */
interface RowCodec {
  ProtobufSpanDecoder: typeof decodeProtobuf.ProtobufSpanDecoder;
  SpanBatchBuilder: typeof spanBatch.SpanBatchBuilder;
  ResourceBatchBuilder: typeof spanBatch.ResourceBatchBuilder;
  ResourceRows: typeof rowTemplates.ResourceRows;
}

const THIS_BUILD: RowCodec = { ...decodeProtobuf, ...spanBatch, ...rowTemplates };

/** The previous release's row codec, from its build. */
async function previousCodec(previous: PreviousRelease): Promise<RowCodec> {
  const from = (p: string) => import(path.join(previous.dist, 'src', p)) as Promise<Record<string, unknown>>;
  return { ...(await from('receivers/decode-protobuf.js')), ...(await from('model/span-batch.js')), ...(await from('receivers/row-templates.js')) } as unknown as RowCodec;
}

/**
 * Native files of decoded rows, for an engine ceiling: the resource rows
 * first (as the ingest writer stores them), then span files. The same
 * OTLP requests for every codec, so two schemas get the same spans.
 */
function nativeFiles(codec: RowCodec, dir: string, files: number, requestsPerFile: number): string[] {
  const templates = buildTemplates(40, 500, 7);
  const decoder = new codec.ProtobufSpanDecoder();
  const builder = new codec.SpanBatchBuilder();
  const resources = new codec.ResourceBatchBuilder();
  // Only this build's rows have a tenant.
  const stamp = (b: { fillTenant?: (t: string) => void }) => b.fillTenant?.('bench');
  const known = new Set<string>();
  const out: string[] = [];
  mkdirSync(dir, { recursive: true });
  const t0 = 1_700_000_000_000_000_000n;
  for (let f = 0; f < files; f++) {
    const parts: Buffer[] = [];
    for (let i = 0; i < requestsPerFile; i++) {
      builder.reset();
      const rows = new codec.ResourceRows(resources, (id) => known.has(id), t0);
      const n = f * requestsPerFile + i;
      decoder.decode(instantiate(templates[n % templates.length], t0 + BigInt(n) * 10_000_000n), builder, rows, { minStartNs: 0, retentionText: '' });
      for (const id of rows.emitted) known.add(id);
      stamp(builder);
      parts.push(builder.toBuffer());
    }
    const file = path.join(dir, `ceiling-${f}.native`);
    writeFileSync(file, Buffer.concat(parts));
    out.push(file);
  }
  const res = path.join(dir, 'ceiling-resources.native');
  stamp(resources);
  writeFileSync(res, resources.toBuffer());
  return [res, ...out];
}

/**
 * Native files of decoded log rows, for the logs ceiling: the same
 * requests the load generator sends, decoded by the receiver's decoder,
 * stamped with a tenant and ids as the receiver stamps them.
 */
function nativeLogFiles(dir: string, files: number, requestsPerFile: number): string[] {
  const templates = buildLogTemplates(40, 500, 7);
  const decoder = new ProtobufLogDecoder();
  const builder = new LogBatchBuilder();
  const out: string[] = [];
  mkdirSync(dir, { recursive: true });
  const t0 = 1_700_000_000_000_000_000n;
  for (let f = 0; f < files; f++) {
    const parts: Buffer[] = [];
    for (let i = 0; i < requestsPerFile; i++) {
      builder.reset();
      const n = f * requestsPerFile + i;
      decoder.decode(instantiate(templates[n % templates.length], t0 + BigInt(n) * 10_000_000n), builder, { minStartNs: 0, retentionText: '', receivedNs: t0 });
      builder.fillTenantAndIds('bench');
      parts.push(builder.toBuffer());
    }
    const file = path.join(dir, `logs-ceiling-${f}.native`);
    writeFileSync(file, Buffer.concat(parts));
    out.push(file);
  }
  return out;
}

/** Where the benchmark's Sightline stores spans, and how to measure that store's own ceiling. */
interface Backend {
  label: string;
  storeArgs(database: string): string[];
  /** The store's own bulk insert of the same rows (log rows with `logs`). */
  ceiling(files: string[], keepDir: string, logs?: boolean): Promise<{ rowsPerSecond: number; rowsPerCpuSecond?: number; mergeCpuSeconds?: number; rows?: number; bytesPerSpanMerged?: number; label: string }>;
  bytesPerSpan(dataDir: string, database: string): Promise<number>;
  close(): Promise<void>;
}

const embedded: Backend = {
  label: 'embedded chDB',
  storeArgs: () => [],
  async ceiling(files, keepDir, logs) {
    const r = await runChild<CeilingResult>('engine-ceiling.js', ['--dist', path.join(ROOT, 'dist'), '--dir', keepDir, ...(logs ? ['--logs'] : []), ...files]);
    return { ...r, label: `engine bulk insert of the same ${logs ? 'log ' : ''}rows (chDB, INSERT from Native file)` };
  },
  async bytesPerSpan(dataDir) {
    return (await runChild<{ bytesPerSpan: number }>('disk-usage.js', [path.join(dataDir, 'store')])).bytesPerSpan;
  },
  async close() {},
};

/**
 * A ClickHouse server: one given by URL, or (clickhouse://local) a
 * throwaway Debian 18.16 server started on loopback for the run.
 */
async function clickhouseBackend(url: string, clusterArg?: string): Promise<Backend> {
  let stopLocal = async () => {};
  let base = url;
  let cluster = clusterArg;
  const local = /^clickhouse:\/\/local(-cluster)?\/?$/.exec(url);
  if (local) {
    const { startClickHouseServers } = (await import(path.join(ROOT, 'scripts', 'clickhouse-test-servers.mjs'))) as {
      startClickHouseServers(n: number): Promise<{ shards: { url: string }[]; cluster: string; stop(): Promise<void> }>;
    };
    const servers = await startClickHouseServers(local[1] ? 2 : 1);
    stopLocal = servers.stop;
    base = `clickhouse://default@${servers.shards.map((sh) => sh.url.replace(/^http:\/\//, '')).join(',')}/default`;
    if (local[1]) cluster = servers.cluster;
  }
  const target = parseClickHouseUrl(base);
  const withDb = (db: string) => base.replace(/\/[A-Za-z0-9_]*$/, '') + '/' + db;
  const httpOn = async (node: string, query: string, body?: Buffer): Promise<string> => {
    const auth = 'Basic ' + Buffer.from(`${target.user}:${target.password}`).toString('base64');
    const sep = node.includes('?') ? '&' : '/?';
    const r = await fetch(`${node}${sep}query=${encodeURIComponent(query)}`, { method: 'POST', body: body ? new Uint8Array(body) : undefined, headers: { authorization: auth } });
    const text = await r.text();
    if (!r.ok) throw new Error(text);
    return text.trim();
  };
  const http = (query: string, body?: Buffer) => httpOn(target.urls[0], query, body);
  return {
    label: `ClickHouse ${await http('SELECT version()')} at ${redactClickHouseUrl(base)}${cluster ? `, cluster ${cluster}` : ''}`,
    storeArgs: (db) => ['--store', withDb(db), ...(cluster ? ['--clickhouse-cluster', cluster] : [])],
    async ceiling(files, _keepDir, logs) {
      // A fresh database with Sightline's schema, then the server's own
      // bulk insert: the Native files POSTed straight to it.
      const db = `sightline_ceiling_${Date.now()}`;
      const opened = await openClickHouseStore({ url: withDb(db), cluster, defaultTenant: 'bench', scratchDir: path.join(os.tmpdir(), `${db}-scratch`) });
      await opened.store.close();
      let rows = 0;
      const t0 = process.hrtime.bigint();
      for (const [i, f] of files.entries()) {
        const table = logs ? TABLES.logs : i === 0 ? TABLES.resources : TABLES.spans;
        const cols = (logs ? LOG_COLUMN_NAMES : i === 0 ? RESOURCE_COLUMN_NAMES : SPAN_COLUMN_NAMES).map((c) => '`' + c + '`').join(', ');
        // Settings go in the URL: after FORMAT, the rest of the body is data.
        await httpOn(`${target.urls[0]}/?insert_distributed_sync=1`, `INSERT INTO ${db}.${table} (${cols}) FORMAT Native`, readFileSync(f));
      }
      const wall = Number(process.hrtime.bigint() - t0) / 1e9;
      rows = Number(await http(`SELECT count() FROM ${db}.${logs ? TABLES.logs : TABLES.spans}`));
      for (const node of target.urls) await httpOn(node, `DROP DATABASE ${db}`);
      return { rowsPerSecond: rows / wall, label: `the server's own bulk insert of the same rows (Native files POSTed to ${redactClickHouseUrl(base)})` };
    },
    async bytesPerSpan(_dataDir, db) {
      // Local tables hold the data (on every node of a cluster).
      const sfx = cluster ? '_local' : '';
      let rows = 0;
      let bytes = 0;
      for (const node of target.urls) {
        const on = (q: string) => httpOn(node, q);
        const [spans, traceIndex, resources] = [TABLES.spans, TABLES.traceIndex, TABLES.resources].map((t) => `${t}${sfx}`);
        await on(`OPTIMIZE TABLE ${db}.${spans} FINAL`);
        await on(`OPTIMIZE TABLE ${db}.${traceIndex} FINAL`);
        const [r, b] = (
          await on(`SELECT sumIf(rows, table = '${spans}'), sum(data_compressed_bytes) FROM system.parts WHERE database = '${db}' AND active AND table IN ('${spans}', '${traceIndex}', '${resources}')`)
        )
          .split('\t')
          .map(Number);
        rows += r;
        bytes += b;
        await on(`DROP DATABASE ${db}`);
      }
      return bytes / rows;
    },
    close: () => stopLocal(),
  };
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

const CEILING_FILES = 8;
const CEILING_ROUNDS = 3;

/** RSS of a freshly started, idle Sightline. */
async function idleRssBytes(): Promise<number> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'sightline-bench-idle-'));
  try {
    const s = await startServer(dataDir);
    await sleep(5000);
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${s.pid}/status`, 'utf8'));
    await s.stop();
    return m ? Number(m[1]) * 1024 : 0;
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const durationS = Number(args.duration);
  const concurrency = Number(args.concurrency);
  const protocols = args.protocols!.split(',') as ('http' | 'grpc')[];
  const backend = args.store ? await clickhouseBackend(args.store, args['clickhouse-cluster']) : embedded;

  console.error('decode-only rates...');
  const decode = runDecodeBench(3);
  console.error(`store bulk-insert ceiling (${backend.label})...`);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'sightline-bench-files-'));
  const files = nativeFiles(THIS_BUILD, path.join(tmp, 'v3'), CEILING_FILES, 100);
  // The previous schema's rows beside ours, on the embedded engine: the
  // previous release's own decoder, schema and ceiling script, same spans.
  const previous = backend === embedded ? buildPreviousRelease() : null;
  const previousFiles = previous ? nativeFiles(await previousCodec(previous), path.join(tmp, 'v2'), CEILING_FILES, 100) : [];
  const ceilings: NonNullable<Awaited<ReturnType<Backend['ceiling']>>>[] = [];
  const previousCeilings: CeilingResult[] = [];
  // Interleaved rounds on a noisy machine; the best of each is its ceiling.
  // The stores stay until every round is done (see engine-ceiling.ts).
  const stores = path.join(tmp, 'stores');
  mkdirSync(stores);
  for (let round = 0; round < CEILING_ROUNDS; round++) {
    if (previous) previousCeilings.push(await runChild<CeilingResult>('engine-ceiling.js', ['--dist', previous.dist, '--dir', stores, ...previousFiles]));
    ceilings.push(await backend.ceiling(files, stores));
  }
  previous?.remove();
  // Log rows beside them, interleaved the same way.
  const logCeilings: Awaited<ReturnType<Backend['ceiling']>>[] = [];
  if (args.logs) {
    console.error(`store bulk-insert ceiling for log rows (${backend.label})...`);
    const logFiles = nativeLogFiles(path.join(tmp, 'logs'), CEILING_FILES, 100);
    for (let round = 0; round < CEILING_ROUNDS; round++) logCeilings.push(await backend.ceiling(logFiles, stores, true));
  }
  rmSync(tmp, { recursive: true, force: true });
  const best = <T extends { rowsPerCpuSecond?: number; rowsPerSecond: number }>(xs: T[]) => xs.reduce((a, b) => ((b.rowsPerCpuSecond ?? b.rowsPerSecond) > (a.rowsPerCpuSecond ?? a.rowsPerSecond) ? b : a));
  const ceiling = best(ceilings);
  const logCeiling = logCeilings.length > 0 ? best(logCeilings) : null;
  const previousCeiling = previous ? best(previousCeilings) : null;
  const idleRss = backend === embedded ? await idleRssBytes() : 0;
  const runs: IngestRun[] = [];
  const security = args.secure ? makeSecurity() : null;
  const redaction = args.redaction ? makeRedaction() : null;
  for (const p of protocols) {
    console.error(`durable ingest over ${p} for ${durationS}s...`);
    runs.push(await ingestRun(p, durationS, concurrency, backend));
    if (security) {
      console.error(`durable ingest over ${p} with tokens and TLS for ${durationS}s...`);
      runs.push(await ingestRun(p, durationS, concurrency, backend, security));
    }
    if (redaction) {
      console.error(`durable ingest over ${p} with redaction rules for ${durationS}s...`);
      runs.push(await ingestRun(p, durationS, concurrency, backend, null, redaction));
    }
  }
  if (args.logs)
    for (const p of protocols) {
      console.error(`durable log ingest over ${p} for ${durationS}s...`);
      runs.push(await ingestRun(p, durationS, concurrency, backend, null, null, 'logs'));
    }
  security?.remove();
  redaction?.remove();
  const querySpans = Number(args['query-spans']);
  const query = querySpans > 0 ? (console.error(`query latency at ${querySpans} spans...`), await queryRun(querySpans, concurrency, backend)) : null;
  await backend.close();

  const lines: string[] = [];
  const when = new Date().toISOString();
  lines.push(`# Ingest benchmark, ${when}`, '');
  lines.push(`Machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), ${fmt(os.totalmem() / 1024 ** 3)} GiB, Node ${process.version}.`);
  lines.push(`Command: \`npm run bench:ingest -- --duration ${durationS} --concurrency ${concurrency} --protocols ${protocols.join(',')}${args.secure ? ' --secure' : ''}${args.redaction ? ' --redaction' : ''}${args.logs ? ' --logs' : ''}${querySpans ? ` --query-spans ${querySpans}` : ''}${args.store ? ` --store ${redactClickHouseUrl(args.store)}` : ''}\``, '');
  lines.push('Load: realistic OTLP protobuf, 500 spans per request, 10-30 spans per trace, 10-15 attributes per span, 6 services x 3 hosts; a separate load-generator process on loopback.', '');
  lines.push('## Ceilings measured in this run', '');
  lines.push('| ceiling | rate |', '|---|---|');
  lines.push(`| decode only, our column decoder (1 core) | ${fmt(decode.oursSpansPerSec)} spans/s |`);
  lines.push(`| decode only, protobufjs objects (1 core) | ${fmt(decode.protobufjsSpansPerSec)} spans/s |`);
  lines.push(`| ${ceiling.label} | ${fmt(ceiling.rowsPerSecond)} rows/s${ceiling.rowsPerCpuSecond ? `, ${fmt(ceiling.rowsPerCpuSecond)} rows per CPU-second` : ''} |`);
  lines.push('');
  if (previousCeiling && ceiling.rowsPerCpuSecond) {
    const perCpu = (r: { rowsPerCpuSecond?: number }) => r.rowsPerCpuSecond ?? 0;
    const mergeUs = (r: { mergeCpuSeconds?: number; rows?: number }) => (r.mergeCpuSeconds !== undefined && r.rows ? fmt((r.mergeCpuSeconds / r.rows) * 1e6, 2) : 'n/a');
    lines.push(`### Schema v3 against schema v2 (the previous release, ${SCHEMA_V2_COMMIT.slice(0, 7)}, built from git history), same spans, best of ${CEILING_ROUNDS} interleaved rounds`, '');
    lines.push('| schema | engine bulk insert (merges stopped), rows per CPU-second | each round | then merging into one part (OPTIMIZE FINAL), µs CPU per row | bytes/span after merge |', '|---|---|---|---|---|');
    lines.push(`| v2 | ${fmt(perCpu(previousCeiling))} | ${previousCeilings.map((r) => fmt(perCpu(r))).join(', ')} | ${mergeUs(previousCeiling)} | ${fmt(previousCeiling.bytesPerSpanMerged, 1)} |`);
    lines.push(`| v3 | ${fmt(perCpu(ceiling))} | ${ceilings.map((r) => fmt(perCpu(r))).join(', ')} | ${mergeUs(ceiling)} | ${ceiling.bytesPerSpanMerged !== undefined ? fmt(ceiling.bytesPerSpanMerged, 1) : 'n/a'} |`);
    lines.push('', `v3 over v2: **${fmt(perCpu(ceiling) / perCpu(previousCeiling), 2)}x** rows per CPU-second.`, '');
  }
  if (idleRss) lines.push(`Idle RSS of a started Sightline (embedded store, empty, 5 s after ready): ${fmt(idleRss / 1024 ** 2)} MiB.`, '');
  lines.push('## Durable ingest through Sightline', '');
  lines.push(`Store: ${backend.label}.`, '');
  lines.push('| protocol | acked spans/s | vs store bulk insert (spans/s) | spans per Sightline CPU-s | vs engine insert (per CPU-s) | vs decode only | p50 / p99 request ms | peak RSS | bytes/span after merge | refused (429) |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of runs.filter((x) => x.signal === 'traces')) {
    const rate = r.load.ackedSpans / r.load.seconds;
    const perCpu = r.load.ackedSpans / r.serverCpuSeconds;
    lines.push(
      `| ${r.protocol}${r.secured ? ' + token + TLS' : ''}${r.redacted ? ' + redaction' : ''} | ${fmt(rate)} | ${fmt((100 * rate) / ceiling.rowsPerSecond)}% | ${fmt(perCpu)} | ${ceiling.rowsPerCpuSecond ? `${fmt((100 * perCpu) / ceiling.rowsPerCpuSecond)}%` : 'n/a (separate server)'} | ${fmt((100 * perCpu) / decode.oursSpansPerSec)}% | ${fmt(r.load.latencyMs.p50, 1)} / ${fmt(r.load.latencyMs.p99, 1)} | ${fmt(r.peakRssBytes / 1024 ** 2)} MiB | ${fmt(r.bytesPerSpanMerged, 1)} | ${r.load.refused} |`,
    );
  }
  if (security) {
    lines.push('', 'With tokens and TLS on, against off (same protocol, runs back to back):', '');
    lines.push('| protocol | acked spans/s, on / off | spans per Sightline CPU-s, on / off |', '|---|---|---|');
    for (const p of protocols) {
      const [off, on] = [false, true].map((sec) => runs.find((r) => r.signal === 'traces' && r.protocol === p && r.secured === sec && !r.redacted)!);
      const rate = (r: IngestRun) => r.load.ackedSpans / r.load.seconds;
      const perCpu = (r: IngestRun) => r.load.ackedSpans / r.serverCpuSeconds;
      lines.push(`| ${p} | ${fmt(rate(on))} / ${fmt(rate(off))} = **${fmt(rate(on) / rate(off), 2)}x** | ${fmt(perCpu(on))} / ${fmt(perCpu(off))} = **${fmt(perCpu(on) / perCpu(off), 2)}x** |`);
    }
  }
  if (redaction) {
    lines.push('', 'With redaction rules on (healthcare preset, MRN pattern, a hash, a drop and a scoped mask rule, SQL normalisation), against off (same protocol, runs back to back):', '');
    lines.push('| protocol | acked spans/s, on / off | spans per Sightline CPU-s, on / off |', '|---|---|---|');
    for (const p of protocols) {
      const [off, on] = [false, true].map((red) => runs.find((r) => r.signal === 'traces' && r.protocol === p && r.redacted === red && !r.secured)!);
      const rate = (r: IngestRun) => r.load.ackedSpans / r.load.seconds;
      const perCpu = (r: IngestRun) => r.load.ackedSpans / r.serverCpuSeconds;
      lines.push(`| ${p} | ${fmt(rate(on))} / ${fmt(rate(off))} = **${fmt(rate(on) / rate(off), 2)}x** | ${fmt(perCpu(on))} / ${fmt(perCpu(off))} = **${fmt(perCpu(on) / perCpu(off), 2)}x** |`);
    }
  }
  lines.push('', `Wire size: ${fmt(decode.bytesPerSpanOnWire)} bytes/span of OTLP protobuf; WAL/Native: ${fmt(decode.nativeBytesPerSpan)} bytes/span.`);
  if (logCeiling) {
    lines.push('', '## Durable log ingest through Sightline', '');
    lines.push('Load: realistic OTLP protobuf log records, 500 per request, 5 shapes at 4 levels, 4-5 attributes each, two in three inside a trace, 6 services x 3 hosts.', '');
    lines.push(`Ceiling: ${logCeiling.label}: ${fmt(logCeiling.rowsPerSecond)} rows/s${logCeiling.rowsPerCpuSecond ? `, ${fmt(logCeiling.rowsPerCpuSecond)} rows per CPU-second (each round: ${logCeilings.map((c) => fmt(c.rowsPerCpuSecond ?? c.rowsPerSecond)).join(', ')})` : ''}${logCeiling.bytesPerSpanMerged !== undefined ? `; ${fmt(logCeiling.bytesPerSpanMerged, 1)} bytes per record after merge` : ''}.`, '');
    lines.push('| protocol | acked records/s | vs store bulk insert (rows/s) | records per Sightline CPU-s | vs engine insert (per CPU-s) | p50 / p99 request ms | peak RSS | refused (429) |');
    lines.push('|---|---|---|---|---|---|---|---|');
    for (const r of runs.filter((x) => x.signal === 'logs')) {
      const rate = r.load.ackedSpans / r.load.seconds;
      const perCpu = r.load.ackedSpans / r.serverCpuSeconds;
      lines.push(
        `| ${r.protocol} | ${fmt(rate)} | ${fmt((100 * rate) / logCeiling.rowsPerSecond)}% | ${fmt(perCpu)} | ${logCeiling.rowsPerCpuSecond ? `**${fmt(perCpu / logCeiling.rowsPerCpuSecond, 2)}x** (${fmt((100 * perCpu) / logCeiling.rowsPerCpuSecond)}%)` : 'n/a (separate server)'} | ${fmt(r.load.latencyMs.p50, 1)} / ${fmt(r.load.latencyMs.p99, 1)} | ${fmt(r.peakRssBytes / 1024 ** 2)} MiB | ${r.load.refused} |`,
      );
    }
  }
  if (query) {
    lines.push('', `## Queries at ${fmt(query.spans)} stored spans`, '');
    lines.push('| query | p50 ms | p99 ms |', '|---|---|---|');
    lines.push(`| trace by id (/api/v2/traces, 300 ids) | ${fmt(query.traceByIdMs.p50, 1)} | ${fmt(query.traceByIdMs.p99, 1)} |`);
    lines.push(`| tag search, one service over 1 h (30 runs) | ${fmt(query.tagSearchMs.p50, 1)} | ${fmt(query.tagSearchMs.p99, 1)} |`);
    lines.push('', `Peak RSS of the server: ${fmt(query.peakRssBytes / 1024 ** 2)} MiB.`);
  }
  const md = lines.join('\n') + '\n';
  const dir = path.join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `ingest-${when.slice(0, 16).replace(/[:T]/g, '')}.md`);
  writeFileSync(file, md);
  process.stdout.write(md + `\nWritten to ${path.relative(ROOT, file)}\n`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
