import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { createRequire } from 'node:module';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { context, trace, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPTraceExporter as HttpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as HttpProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import { CLI, REPO_ROOT, eventually, startSightline, type Sightline } from '../testkit/sightline.js';
import { scanForBytes, type ScanResult } from '../testkit/disk-scan.js';
import { postOtlp, requestBytes, span } from '../testkit/fixtures.js';

/**
 * Proof that nothing unredacted reaches disk (issue 12). A real Sightline,
 * with redaction rules in its config file (the healthcare preset, an MRN
 * pattern, a hash rule and a drop rule), takes spans from the real
 * OpenTelemetry JS SDK through all three exporters, with planted patient
 * data in every field kind rules cover: resource, span, event and link
 * attributes, the span name, the status message, the event name, and SQL
 * in db.statement.
 *
 * Then every file under the data directories is searched for the planted
 * values: Sightline's (WAL, its quarantine, the audit log, the embedded
 * store or the ClickHouse scratch files) and, on a ClickHouse server, the
 * server's own (parts, metadata, its logs); and Sightline's logs, stdout
 * and stderr. Store parts are compressed (LZ4, or ZSTD where the schema
 * sets a codec), so scanning their raw bytes alone would prove nothing:
 * testkit/disk-scan.ts decompresses every ClickHouse compressed block of
 * every file as well. The schema has no switch to store parts
 * uncompressed, and decompressing is the more honest check anyway, since
 * it reads the bytes the way the deployed engine writes them. To show the
 * scan can see values at all, a harmless canary value sent beside the
 * planted ones must be found: raw in the WAL, and only by decompressing in
 * the parts. The parts are scanned after a merge (OPTIMIZE FINAL), with
 * the parts it replaced still on disk beside it.
 *
 * Through the API, the masks show where the values were, and hashed
 * patient ids are equal across spans and traces (and differ between
 * patients), so a patient's spans still group.
 */

const require = createRequire(import.meta.url);
const hex = (n: number) => randomBytes(n).toString('hex');
const digits = (n: number) => Array.from({ length: n }, () => randomInt(10)).join('');

/** A 16-digit card number whose Luhn checksum holds, in groups of four. */
function cardNumber(): string {
  const body = `4${digits(14)}`;
  for (let check = 0; check < 10; check++) {
    const d = `${body}${check}`;
    let sum = 0;
    for (let i = 0; i < 16; i++) {
      let x = Number(d[15 - i]);
      if (i % 2 === 1) x = x * 2 > 9 ? x * 2 - 9 : x * 2;
      sum += x;
    }
    if (sum % 10 === 0) return d.replace(/(\d{4})(?=\d)/g, '$1 ');
  }
  throw new Error('unreachable');
}

/** Planted values, fresh each run so nothing found can be left from elsewhere. */
const PHI = {
  ssn: `${randomInt(100, 900)}-${digits(2)}-${digits(4)}`,
  linkSsn: `${randomInt(100, 900)}-${digits(2)}-${digits(4)}`,
  email: `pt.${hex(4)}@mail.example.com`,
  phone: `(555) ${randomInt(200, 1000)}-${digits(4)}`,
  card: cardNumber(),
  dob: `19${randomInt(30, 100)}-0${randomInt(1, 10)}-${randomInt(10, 29)}`,
  mrn: `MRN-${digits(8)}`,
  patientA: `P-${hex(5)}`,
  patientB: `P-${hex(5)}`,
  authorization: `Bearer tok-${hex(12)}`,
  surname: `Zed${hex(5)}`,
};
/** Sent beside them, redacted by no rule: the scan must find it. */
const CANARY = `canary-${hex(8)}`;
const NEEDLES = [...Object.values(PHI), PHI.card.replace(/ /g, '')];

const EXPORTERS = ['http-json', 'http-proto', 'grpc'] as const;
type ExporterKind = (typeof EXPORTERS)[number];

function exporterFor(kind: ExporterKind, s: Sightline): SpanExporter {
  switch (kind) {
    case 'http-json':
      return new HttpJsonExporter({ url: `${s.otlpHttp}/v1/traces` });
    case 'http-proto':
      return new HttpProtoExporter({ url: `${s.otlpHttp}/v1/traces`, compression: CompressionAlgorithm.GZIP });
    case 'grpc':
      return new GrpcExporter({ url: s.otlpGrpc, compression: CompressionAlgorithm.GZIP });
  }
}

/** One trace with a planted value in every field kind; returns its id. */
async function sendTrace(kind: ExporterKind, s: Sightline): Promise<string> {
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': `intake-${kind}`, 'patient.contact': PHI.email, canary: CANARY }),
    spanProcessors: [new BatchSpanProcessor(exporterFor(kind, s))],
  });
  const tracer = provider.getTracer('clinic-intake', '1.0.0');
  const root = tracer.startSpan(`GET /patients/${PHI.mrn}`, {
    kind: SpanKind.SERVER,
    attributes: {
      'patient.id': PHI.patientA,
      'patient.ssn': PHI.ssn,
      'http.request.header.authorization': [PHI.authorization],
      canary: CANARY,
    },
  });
  root.addEvent(`called ${PHI.phone}`, { 'exception.message': `patient born ${PHI.dob}` });
  root.setStatus({ code: SpanStatusCode.ERROR, message: `no coverage for card ${PHI.card}` });
  const ctx = trace.setSpan(context.active(), root);
  const db = tracer.startSpan(
    'SELECT patients',
    {
      kind: SpanKind.CLIENT,
      links: [{ context: root.spanContext(), attributes: { 'link.note': `referral for ${PHI.linkSsn}` } }],
      attributes: { 'patient.id': PHI.patientA, 'db.statement': `SELECT * FROM patients WHERE name = '${PHI.surname}' AND mrn = '${PHI.mrn}'` },
    },
    ctx,
  );
  db.end();
  tracer.startSpan('lookup sibling', { attributes: { 'patient.id': PHI.patientB } }, ctx).end();
  root.end();
  const traceId = root.spanContext().traceId;
  await provider.forceFlush();
  await provider.shutdown();
  return traceId;
}

const CONFIG = `
redaction:
  hashKeyFile: redaction.key
  default:
    preset: healthcare
    mrnPatterns: ["MRN-[0-9]{6,10}"]
    hash: [patient.id]
    drop: ["http.request.header.*"]
`;

interface Target {
  name: string;
  /** Starts the engine when it is a server; its files are scanned too. */
  open(): Promise<{ storeArgs: string[]; engineDirs: string[]; merge(dataDir: string): Promise<void>; close(): Promise<void> }>;
}

type Attrs = { key: string; value: { stringValue?: string } }[];
const attr = (list: Attrs | undefined, key: string) => list?.find((a) => a.key === key)?.value.stringValue;

function runLeakSuite(target: Target): void {
  describe(`nothing unredacted reaches disk: ${target.name}`, () => {
    let dir: string;
    let dataDir: string;
    let config: string;
    let engine: Awaited<ReturnType<Target['open']>>;
    /** Every Sightline run of the suite, for their logs. */
    const runs: Sightline[] = [];
    let s: Sightline;
    const traceIds = new Map<ExporterKind, string>();
    let walScan: ScanResult;
    /** /api/sightline/status of the run that took the spans (counters start over with a process). */
    let status: any;

    before(async () => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'sightline-redaction-'));
      dataDir = path.join(dir, 'data');
      config = path.join(dir, 'sightline.yaml');
      writeFileSync(path.join(dir, 'redaction.key'), randomBytes(48).toString('base64'));
      chmodSync(path.join(dir, 'redaction.key'), 0o600);
      writeFileSync(config, CONFIG);
      engine = await target.open();
      // A long flush interval keeps acknowledged spans in the WAL while it is scanned.
      s = await startSightline({ dataDir, args: ['--config', config, '--flush-interval', '60s', ...engine.storeArgs] });
      runs.push(s);
      for (const kind of EXPORTERS) traceIds.set(kind, await sendTrace(kind, s));
      walScan = await scanForBytes([path.join(dataDir, 'wal')], [...NEEDLES, CANARY]);
      status = await (await fetch(`${s.api}/api/sightline/status`)).json();
      // Stopping moves the WAL into the store; the second run serves the API.
      assert.equal(await s.stop(), 0);
      s = await startSightline({ dataDir, args: ['--config', config, ...engine.storeArgs] });
      runs.push(s);
    });

    after(async () => {
      for (const r of runs) await r.stop();
      await engine?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('keeps planted values out of the WAL, where the canary beside them is found', () => {
      assert.deepEqual(walScan.hits.filter((h) => h.needle !== CANARY), []);
      assert.ok(walScan.hits.some((h) => h.needle === CANARY && h.in === 'raw'), `the canary is in the WAL (${walScan.files} files, ${walScan.bytes} bytes)`);
    });

    for (const kind of EXPORTERS) {
      it(`shows the masks through the API (exporter ${kind})`, async () => {
        const id = traceIds.get(kind)!;
        const body = await eventually(async () => {
          const r = await fetch(`${s.api}/api/v2/traces/${id}`);
          if (r.status !== 200) return undefined;
          const j = (await r.json()) as any;
          const spans = j.trace.resourceSpans.flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans.map((sp: any) => ({ ...sp, resource: rs.resource }))));
          return spans.length === 3 ? spans : undefined;
        }, 20_000, `trace ${id}`);
        const text = JSON.stringify(body);
        for (const v of NEEDLES) assert.ok(!text.includes(v), `${v} came back from the API`);
        const root = body.find((sp: any) => sp.name.startsWith('GET '));
        const db = body.find((sp: any) => sp.name === 'SELECT patients');
        const sibling = body.find((sp: any) => sp.name === 'lookup sibling');
        assert.equal(attr(root.resource.attributes, 'patient.contact'), '[REDACTED:email]');
        assert.equal(attr(root.resource.attributes, 'canary'), CANARY);
        assert.equal(root.name, 'GET /patients/[REDACTED:mrn]');
        assert.equal(root.status.message, 'no coverage for card [REDACTED:card]');
        assert.equal(attr(root.attributes, 'patient.ssn'), '[REDACTED:ssn]');
        assert.equal(root.attributes.find((a: any) => a.key === 'http.request.header.authorization'), undefined, 'dropped');
        assert.equal(root.events[0].name, 'called [REDACTED:phone]');
        assert.equal(attr(root.events[0].attributes, 'exception.message'), 'patient born [REDACTED:dob]');
        assert.equal(attr(db.links[0].attributes, 'link.note'), 'referral for [REDACTED:ssn]');
        assert.equal(attr(db.attributes, 'db.statement'), 'SELECT * FROM patients WHERE name = ? AND mrn = ?');
        const hashA = attr(root.attributes, 'patient.id');
        assert.match(hashA ?? '', /^hmac:[0-9a-f]{32}$/);
        assert.equal(attr(db.attributes, 'patient.id'), hashA, 'the same patient, the same hash');
        assert.notEqual(attr(sibling.attributes, 'patient.id'), hashA, 'another patient, another hash');
      });
    }

    it('groups a patient by the hash: equal across traces and exporters, and searchable', async () => {
      const hashes = new Set<string>();
      for (const id of traceIds.values()) {
        const j = (await (await fetch(`${s.api}/api/v2/traces/${id}`)).json()) as any;
        for (const rs of j.trace.resourceSpans) for (const ss of rs.scopeSpans) for (const sp of ss.spans) if (sp.name === 'SELECT patients') hashes.add(attr(sp.attributes, 'patient.id')!);
      }
      assert.equal(hashes.size, 1, 'one patient, one hash, whichever exporter sent it');
      const [hash] = hashes;
      const nowS = Math.floor(Date.now() / 1000);
      const r = await fetch(`${s.api}/api/search?tags=${encodeURIComponent(`patient.id=${hash}`)}&start=${nowS - 3600}&end=${nowS + 60}&limit=20`);
      assert.equal(r.status, 200);
      const found = ((await r.json()) as any).traces.map((t: any) => t.traceID.padStart(32, '0')).sort();
      assert.deepEqual(found, [...traceIds.values()].sort());
    });

    it('counts what each rule did in /api/sightline/status, without the values', () => {
      assert.equal(status.redaction.enabled, true);
      const rules = Object.fromEntries(status.redaction.ruleSets[0].rules.map((r: any) => [r.rule, r]));
      // Three traces, one per exporter, of three spans each.
      assert.deepEqual([rules['hash patient.id'].values, rules['hash patient.id'].spans], [9, 9]);
      assert.deepEqual([rules['drop http.request.header.*'].values, rules['drop http.request.header.*'].spans], [3, 3]);
      assert.equal(rules['sql db.query.text, db.statement'].values, 3);
      for (const part of ['ssn', 'email', 'phone', 'card', 'dateOfBirth', 'mrn']) assert.ok(rules[`healthcare ${part}`].values >= 3, part);
      for (const v of NEEDLES) assert.ok(!JSON.stringify(status).includes(v));
    });

    it('keeps planted values out of every file after merging, of the logs, of stdout and stderr', async () => {
      for (const r of runs) await r.stop();
      await engine.merge(dataDir);
      const scan = await scanForBytes([dataDir, ...engine.engineDirs], [...NEEDLES, CANARY]);
      assert.deepEqual(scan.hits.filter((h) => h.needle !== CANARY), [], 'planted values on disk');
      assert.ok(scan.compressedFiles > 0, 'the scan decompressed ClickHouse blocks');
      assert.ok(
        scan.hits.some((h) => h.needle === CANARY && h.in === 'decompressed'),
        `the scan sees the canary inside compressed parts (${scan.files} files, ${scan.bytes} bytes, ${scan.decompressedBytes} decompressed)`,
      );
      for (const r of runs) {
        const out = JSON.stringify(r.logs) + r.stderr();
        for (const v of NEEDLES) assert.ok(!out.includes(v), `${v} in the logs of Sightline ${r.pid}`);
      }
    });
  });
}

describe('sightline serve with bad redaction rules', () => {
  it('does not start, naming the line of the problem and never the key', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sightline-redaction-cli-'));
    try {
      const config = path.join(dir, 'sightline.yaml');
      const run = (yaml: string) => {
        writeFileSync(config, yaml);
        return spawnSync(process.execPath, [CLI, 'serve', '--data', path.join(dir, 'data'), '--config', config, '--otlp-grpc-port', '0', '--otlp-http-port', '0', '--http-port', '0'], { encoding: 'utf8', timeout: 60_000 });
      };
      const bad = run('redaction:\n  default:\n    mask:\n      - pattern: "(?<=MRN)[0-9]+"\n');
      assert.equal(bad.status, 2, bad.stderr);
      assert.match(bad.stderr, /sightline\.yaml:4:18: not a valid RE2 pattern/);
      const secret = `short-${hex(4)}`;
      writeFileSync(path.join(dir, 'redaction.key'), secret);
      const short = run('redaction:\n  hashKeyFile: redaction.key\n  default:\n    hash: [patient.id]\n');
      assert.equal(short.status, 2, short.stderr);
      assert.match(short.stderr, /sightline\.yaml:2:16: redaction\.hashKeyFile .* holds 14 bytes; it needs at least 32/);
      assert.ok(!short.stderr.includes(secret), 'the key is never echoed');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('SIGHUP and redaction rules', () => {
  it('puts re-read rules in force for later requests, and keeps the rules in use when the file is broken', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sightline-redaction-hup-'));
    const config = path.join(dir, 'sightline.yaml');
    const rules = (pattern: string) => `redaction:\n  default:\n    mask:\n      - pattern: "${pattern}"\n`;
    writeFileSync(config, rules('A-[0-9]+'));
    const s = await startSightline({ dataDir: path.join(dir, 'data'), args: ['--config', config, '--flush-interval', '100ms'] });
    try {
      const send = async () => {
        const traceId = randomBytes(16);
        assert.equal((await postOtlp(s.otlpHttp, requestBytes([span({ traceId, name: 'visit A-1 B-2' })]))).status, 200);
        return traceId.toString('hex');
      };
      const hup = async (msg: string) => {
        const before = s.logs.length;
        process.kill(s.pid, 'SIGHUP');
        await eventually(async () => (s.logs.slice(before).some((l) => l.msg === msg) ? true : undefined), 10_000, msg);
      };
      const first = await send();
      writeFileSync(config, rules('B-[0-9]+'));
      await hup('redaction rules re-read from the config file');
      const second = await send();
      writeFileSync(config, rules('(unclosed'));
      await hup('redaction rules not re-read; the rules in use are unchanged');
      const third = await send();
      const name = (id: string) =>
        eventually(async () => {
          const r = await fetch(`${s.api}/api/v2/traces/${id}`);
          return r.status === 200 ? ((await r.json()) as any).trace.resourceSpans[0].scopeSpans[0].spans[0].name as string : undefined;
        }, 15_000, `trace ${id}`);
      assert.equal(await name(first), 'visit [REDACTED] B-2');
      assert.equal(await name(second), 'visit A-1 [REDACTED]');
      assert.equal(await name(third), 'visit A-1 [REDACTED]');
    } finally {
      await s.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Runs every MergeTree table's merge to one part (old parts stay on disk until cleaned; they are scanned too). */
async function mergeAll(run: (q: string) => Promise<string>, database: string): Promise<void> {
  const tables = (await run(`SELECT name FROM system.tables WHERE database = '${database}' AND engine LIKE '%MergeTree%'`)).split('\n').filter(Boolean);
  assert.ok(tables.length > 0, `no tables in ${database}`);
  for (const t of tables) await run(`OPTIMIZE TABLE \`${database}\`.\`${t.replace(/`/g, '')}\` FINAL`);
}

runLeakSuite({
  name: 'embedded chDB',
  async open() {
    return {
      storeArgs: [],
      // The store lives in Sightline's data directory.
      engineDirs: [],
      async merge(dataDir) {
        // Sightline has stopped: the directory is free for this process to open.
        const { Session } = require('chdb') as { Session: new (dir: string) => { query(q: string, f: string): string; close(): void } };
        const db = new Session(path.join(dataDir, 'store'));
        try {
          const database = db.query('SELECT currentDatabase()', 'TSV').trim();
          await mergeAll(async (q) => db.query(q, 'TSV'), database);
        } finally {
          db.close();
        }
      },
      async close() {},
    };
  },
});

runLeakSuite({
  name: 'ClickHouse server',
  async open() {
    const mod = (await import(path.join(REPO_ROOT, 'scripts', 'clickhouse-test-servers.mjs'))) as {
      startClickHouseServers(n: number): Promise<{ shards: { url: string; dir: string }[]; stop(): Promise<void> }>;
    };
    const servers = await mod.startClickHouseServers(1);
    const url = servers.shards[0].url;
    const database = `redaction_${hex(4)}`;
    const run = async (query: string) => {
      const r = await fetch(`${url}/`, { method: 'POST', body: query });
      const text = await r.text();
      if (!r.ok) throw new Error(`ClickHouse ${r.status}: ${text}`);
      return text;
    };
    return {
      storeArgs: ['--store', `clickhouse://default@${url.replace(/^http:\/\//, '')}/${database}`],
      engineDirs: [servers.shards[0].dir],
      merge: () => mergeAll(run, database),
      close: () => servers.stop(),
    };
  },
});
