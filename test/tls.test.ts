import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { SpanKind, context, trace } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter as HttpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as HttpProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { chromium, type Browser } from 'playwright-core';
import { createToken } from '../src/auth/tokens.js';
import { TRACE_SERVICE } from '../src/receivers/otlp-grpc.js';
import { CLI, REPO_ROOT, eventually, startSightline, tempDir, type Sightline } from '../testkit/sightline.js';
import { decodeToObject, otlp } from '../testkit/otlp-schema.js';

/**
 * TLS on all three listeners, with certificates made here by the openssl
 * CLI: the OpenTelemetry JS SDK's three exporters send over TLS with a
 * Bearer token, a Grafana-shaped client reads the spans back over HTTPS,
 * plain HTTP and insecure gRPC are refused, client certificates are
 * required on OTLP with --tls-client-ca, SIGHUP swaps the certificate
 * without a restart, the API and UI carry helmet's headers, and the
 * ClickHouse store is reached over HTTPS with --store-ca. Loopback only;
 * everything is stopped by PID.
 */

const TENANT = 'clinic';
const CHROMIUM = '/usr/bin/chromium';

interface Pair {
  cert: string;
  key: string;
}

interface Pki {
  dir: string;
  caFile: string;
  ca: Buffer;
  server1: Pair;
  server2: Pair;
  client: Pair;
  /** A client certificate from a CA Sightline does not know. */
  rogue: Pair;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
}

/** A CA, two server certificates (127.0.0.1 and localhost), a client certificate, and a client certificate of another CA. */
function makePki(): Pki {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sightline-tls-'));
  writeFileSync(
    path.join(dir, 'ca.cnf'),
    '[req]\ndistinguished_name = dn\nx509_extensions = v3_ca\n[dn]\n[v3_ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n',
  );
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const ca of ['ca', 'rogue-ca']) openssl(dir, ['req', '-x509', '-new', ...ec, '-keyout', `${ca}.key`, '-out', `${ca}.crt`, '-days', '2', '-subj', `/CN=Sightline test ${ca}`, '-config', 'ca.cnf']);
  const leaf = (name: string, cn: string, ext: string, serial: string, ca = 'ca'): Pair => {
    writeFileSync(path.join(dir, `${name}.ext`), `basicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature\nauthorityKeyIdentifier = keyid\n${ext}\n`);
    openssl(dir, ['req', '-new', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
    openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-set_serial', serial, '-days', '2', '-out', `${name}.crt`, '-extfile', `${name}.ext`]);
    return { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
  };
  const server = 'extendedKeyUsage = serverAuth\nsubjectAltName = IP:127.0.0.1,DNS:localhost';
  return {
    dir,
    caFile: path.join(dir, 'ca.crt'),
    ca: readFileSync(path.join(dir, 'ca.crt')),
    server1: leaf('server1', 'sightline-1', server, '0x5e1001'),
    server2: leaf('server2', 'sightline-2', server, '0x5e1002'),
    client: leaf('client', 'otel-collector', 'extendedKeyUsage = clientAuth', '0xc11e01'),
    rogue: leaf('rogue', 'intruder', 'extendedKeyUsage = clientAuth', '0xbad001', 'rogue-ca'),
  };
}

const serialOf = (certFile: string) => new X509Certificate(readFileSync(certFile)).serialNumber;

interface ClientCert {
  cert?: Buffer;
  key?: Buffer;
}
const clientCertOf = (p: Pair): ClientCert => ({ cert: readFileSync(p.cert), key: readFileSync(p.key) });

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/**
 * One HTTPS request that trusts only the test CA. Node 20's fetch takes no
 * CA per request (that needs the undici package, not a dependency here), so
 * this is node:https with the same headers a client would send.
 */
function httpsRequest(url: string, opts: { ca: Buffer; method?: string; headers?: Record<string, string>; body?: Buffer } & ClientCert): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: opts.method ?? 'GET', headers: opts.headers, ca: opts.ca, cert: opts.cert, key: opts.key, agent: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} in 10s`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** The serial number of the certificate a new TLS connection to `port` is shown. */
function peerSerial(port: number, ca: Buffer, opts: ClientCert & { alpn?: string[] } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca, cert: opts.cert, key: opts.key, ALPNProtocols: opts.alpn, timeout: 10_000 }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.end();
      resolve(serial);
    });
    socket.on('timeout', () => socket.destroy(new Error(`TLS handshake with port ${port} timed out`)));
    socket.on('error', reject);
  });
}

/** Spans of one small trace, as the SDK finished them. */
function makeSpans(service: string): ReadableSpan[] {
  const captured = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': service }), spanProcessors: [new SimpleSpanProcessor(captured)] });
  const tracer = provider.getTracer('tls-test');
  const root = tracer.startSpan(`GET /patients/${service}`, { kind: SpanKind.SERVER, attributes: { 'http.route': '/patients/:id' } });
  tracer.startSpan('SELECT patients', { kind: SpanKind.CLIENT }, trace.setSpan(context.active(), root)).end();
  root.end();
  return captured.getFinishedSpans();
}

function exportSpans(exporter: SpanExporter, spans: ReadableSpan[]): Promise<ExportResult> {
  return new Promise((resolve) => exporter.export(spans, resolve));
}

const EXPORTERS = ['http-json', 'http-proto', 'grpc'] as const;
type ExporterKind = (typeof EXPORTERS)[number];

function exporterFor(kind: ExporterKind, s: Sightline, token: string, ca: Buffer, client: ClientCert = {}): SpanExporter {
  const headers = { Authorization: `Bearer ${token}` };
  // Bounded: a refused export is retried only until this timeout.
  const timeoutMillis = 5_000;
  switch (kind) {
    case 'http-json':
      return new HttpJsonExporter({ url: `https://localhost:${s.ports.otlpHttp}/v1/traces`, headers, timeoutMillis, httpAgentOptions: { ca, ...client } });
    case 'http-proto':
      return new HttpProtoExporter({ url: `https://localhost:${s.ports.otlpHttp}/v1/traces`, headers, timeoutMillis, httpAgentOptions: { ca, ...client } });
    case 'grpc': {
      const metadata = new grpc.Metadata();
      metadata.set('authorization', `Bearer ${token}`);
      return new GrpcExporter({ url: `https://localhost:${s.ports.otlpGrpc}`, metadata, timeoutMillis, credentials: grpc.credentials.createSsl(ca, client.key ?? null, client.cert ?? null) });
    }
  }
}

function writeConfig(dir: string, tokens: ReturnType<typeof createToken>['entry'][]): string {
  const file = path.join(dir, 'sightline.yaml');
  const yaml = ['tokens:', ...tokens.flatMap((t) => [`  - name: ${t.name}`, `    id: "${t.id}"`, `    hash: "${t.hash}"`, `    roles: [${t.roles.join(', ')}]`, `    tenants: [${t.tenants.join(', ')}]`])].join('\n');
  writeFileSync(file, `${yaml}\n`);
  return file;
}

/** What Grafana's Tempo data source sends: Basic auth with the token as password, and the tenant. */
function grafanaHeaders(token: string): Record<string, string> {
  return { Authorization: `Basic ${Buffer.from(`grafana:${token}`).toString('base64')}`, 'X-Scope-OrgID': TENANT, 'User-Agent': 'Grafana/11.0.0' };
}

function assertSecurityHeaders(a: Answer, what: string): void {
  const csp = String(a.headers['content-security-policy'] ?? '');
  assert.match(csp, /frame-ancestors 'none'/, `${what}: CSP ${csp}`);
  assert.match(csp, /default-src 'self'/, `${what}: CSP ${csp}`);
  assert.match(csp, /script-src 'self'/, `${what}: CSP ${csp}`);
  assert.equal(a.headers['x-content-type-options'], 'nosniff', what);
  assert.equal(a.headers['x-frame-options'], 'DENY', what);
  assert.equal(a.headers['strict-transport-security'], 'max-age=31536000', what);
}

const pki = makePki();
after(() => rmSync(pki.dir, { recursive: true, force: true }));

const ingest = createToken('exporter', ['ingester'], [TENANT]);
const viewer = createToken('grafana', ['viewer'], [TENANT]);

describe('TLS on all three listeners', { timeout: 180_000 }, () => {
  let s: Sightline;
  let work: string;
  // Sightline reads these; the reload test replaces them.
  let liveCert: string;
  let liveKey: string;

  before(async () => {
    work = tempDir('sightline-tls-run-');
    liveCert = path.join(work, 'tls.crt');
    liveKey = path.join(work, 'tls.key');
    copyFileSync(pki.server1.cert, liveCert);
    copyFileSync(pki.server1.key, liveKey);
    const config = writeConfig(work, [ingest.entry, viewer.entry]);
    s = await startSightline({ args: ['--config', config, '--tls-cert', liveCert, '--tls-key', liveKey, '--flush-interval', '100ms'] });
  });
  after(async () => {
    await s?.stop();
    s?.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  for (const kind of EXPORTERS) {
    it(`the SDK's ${kind} exporter sends over TLS with a Bearer token; Grafana reads the trace back over HTTPS`, async () => {
      const service = `tls-${kind}`;
      const spans = makeSpans(service);
      const exporter = exporterFor(kind, s, ingest.token, pki.ca);
      const result = await exportSpans(exporter, spans);
      await exporter.shutdown();
      assert.equal(result.code, ExportResultCode.SUCCESS, String(result.error));

      const traceId = spans[0].spanContext().traceId;
      const api = `https://localhost:${s.ports.http}`;
      const now = Math.floor(Date.now() / 1000);
      const q = `{ resource.service.name = "${service}" }`;
      const found = await eventually(async () => {
        const r = await httpsRequest(`${api}/api/search?q=${encodeURIComponent(q)}&start=${now - 3600}&end=${now + 60}&limit=20`, { ca: pki.ca, headers: grafanaHeaders(viewer.token) });
        assert.equal(r.status, 200, r.body.toString());
        const traces = (JSON.parse(r.body.toString()) as { traces: { traceID: string; rootServiceName: string }[] }).traces;
        // The trace can be found by one span before its root's row is indexed: wait for the root too.
        return traces.find((t) => t.traceID.padStart(32, '0') === traceId && t.rootServiceName === service);
      }, 15_000, `trace of ${service} in /api/search, with its root`);
      assert.equal(found.rootServiceName, service);

      const r = await httpsRequest(`${api}/api/v2/traces/${traceId}`, { ca: pki.ca, headers: { ...grafanaHeaders(viewer.token), Accept: 'application/protobuf' } });
      assert.equal(r.status, 200, r.body.toString());
      assert.equal(r.headers['content-type'], 'application/protobuf');
      const msg = decodeToObject(otlp.TraceByIDResponse, r.body);
      const names = msg.trace.resourceSpans.flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans.map((sp: any) => sp.name))).sort();
      assert.deepEqual(names, ['GET /patients/' + service, 'SELECT patients']);
    });
  }

  it('refuses plain HTTP and insecure gRPC on the TLS listeners', async () => {
    await assert.rejects(fetch(`http://127.0.0.1:${s.ports.http}/api/echo`, { signal: AbortSignal.timeout(10_000) }));
    await assert.rejects(fetch(`http://127.0.0.1:${s.ports.otlpHttp}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ingest.token}` }, body: '{}', signal: AbortSignal.timeout(10_000) }));
    const Client = grpc.makeGenericClientConstructor(TRACE_SERVICE, 'TraceService');
    const client = new Client(`127.0.0.1:${s.ports.otlpGrpc}`, grpc.credentials.createInsecure());
    try {
      const err = await new Promise<grpc.ServiceError | null>((resolve) =>
        (client as any).Export(Buffer.alloc(0), new grpc.Metadata(), { deadline: Date.now() + 5_000 }, (e: grpc.ServiceError | null) => resolve(e)),
      );
      assert.ok(err, 'an insecure gRPC call to the TLS port must fail');
      assert.ok([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED].includes(err.code), `got ${err.code} ${err.details}`);
    } finally {
      client.close();
    }
    // And the SDK's gRPC exporter pointed at http:// (insecure) fails too.
    const insecure = new GrpcExporter({ url: `http://127.0.0.1:${s.ports.otlpGrpc}`, timeoutMillis: 3_000 });
    const result = await exportSpans(insecure, makeSpans('tls-insecure'));
    await insecure.shutdown();
    assert.equal(result.code, ExportResultCode.FAILED);
  });

  it('sends helmet headers and HSTS on API answers, errors and the UI', async () => {
    const api = `https://127.0.0.1:${s.ports.http}`;
    const ok = await httpsRequest(`${api}/api/search?q=${encodeURIComponent('{}')}&limit=1`, { ca: pki.ca, headers: grafanaHeaders(viewer.token) });
    assert.equal(ok.status, 200);
    assertSecurityHeaders(ok, 'search');
    const unauthenticated = await httpsRequest(`${api}/api/search`, { ca: pki.ca });
    assert.equal(unauthenticated.status, 401);
    assertSecurityHeaders(unauthenticated, '401');
    const badQuery = await httpsRequest(`${api}/api/search?q=${encodeURIComponent('{ span.x = }')}`, { ca: pki.ca, headers: grafanaHeaders(viewer.token) });
    assert.equal(badQuery.status, 400);
    assertSecurityHeaders(badQuery, '400');
    const missing = await httpsRequest(`${api}/api/no-such-route`, { ca: pki.ca });
    assert.equal(missing.status, 404);
    assertSecurityHeaders(missing, '404');
    const ui = await httpsRequest(`${api}/search`, { ca: pki.ca });
    assert.equal(ui.status, 200);
    assert.match(String(ui.headers['content-type']), /text\/html/);
    assertSecurityHeaders(ui, 'UI');
    assert.match(String(ui.headers['content-security-policy']), /upgrade-insecure-requests/);
  });

  it('loads the UI over HTTPS in chromium with no CSP violation', { skip: existsSync(CHROMIUM) ? false : 'no /usr/bin/chromium (scripts/chromium.mjs installs it)' }, async () => {
    let browser: Browser | undefined;
    try {
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'], timeout: 30_000 });
      // The test CA is not in chromium's store; the certificate itself is checked above.
      const ctx = await browser.newContext({ ignoreHTTPSErrors: true });
      const page = await ctx.newPage();
      const violations: string[] = [];
      const errors: string[] = [];
      page.on('console', (m) => {
        if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.addInitScript(`document.addEventListener('securitypolicyviolation', (e) => console.error('Refused to load: CSP ' + e.violatedDirective + ' ' + e.blockedURI))`);
      const res = await page.goto(`https://localhost:${s.ports.http}/search`, { timeout: 20_000 });
      assert.equal(res?.status(), 200);
      // The app rendered: React filled #root from the bundled script and styles applied.
      await page.waitForFunction(`(document.getElementById('root')?.childElementCount ?? 0) > 0`, undefined, { timeout: 15_000 });
      const styled = (await page.evaluate(`document.styleSheets.length`)) as number;
      assert.ok(styled > 0, 'the stylesheet loaded');
      await page.waitForTimeout(500);
      assert.deepEqual(violations, []);
      assert.deepEqual(errors, []);
    } finally {
      await browser?.close();
    }
  });

  it('swaps the certificate on SIGHUP without dropping the listeners, and keeps it when the new files are bad', async () => {
    const pid = s.pid;
    const ports = [s.ports.http, s.ports.otlpHttp, s.ports.otlpGrpc];
    const serials = () => Promise.all(ports.map((p, i) => peerSerial(p, pki.ca, { alpn: i === 2 ? ['h2'] : undefined })));
    const first = serialOf(pki.server1.cert);
    const second = serialOf(pki.server2.cert);
    assert.notEqual(first, second);
    assert.deepEqual(await serials(), [first, first, first]);

    copyFileSync(pki.server2.key, liveKey);
    copyFileSync(pki.server2.cert, liveCert);
    const reloadsBefore = s.logs.filter((l) => l.msg === 'TLS certificate reloaded').length;
    process.kill(pid, 'SIGHUP');
    await eventually(async () => (s.logs.filter((l) => l.msg === 'TLS certificate reloaded').length > reloadsBefore ? true : undefined), 10_000, 'the reload log line');
    assert.deepEqual(await serials(), [second, second, second]);
    assert.equal(s.process.pid, pid);
    assert.equal(s.process.exitCode, null, 'still running');
    assert.equal(s.logs.find((l) => l.msg === 'TLS certificate reloaded' && l.serial === second)?.serial, second);

    // Still serving on the same ports, with the new certificate.
    for (const kind of ['http-proto', 'grpc'] as const) {
      const exporter = exporterFor(kind, s, ingest.token, pki.ca);
      const result = await exportSpans(exporter, makeSpans(`tls-after-reload-${kind}`));
      await exporter.shutdown();
      assert.equal(result.code, ExportResultCode.SUCCESS, `${kind}: ${String(result.error)}`);
    }

    // A bad file: logged, and the certificate in use stays.
    writeFileSync(liveCert, 'not a certificate\n');
    const failuresBefore = s.logs.filter((l) => l.msg === 'TLS reload failed: the current certificate stays in use').length;
    process.kill(pid, 'SIGHUP');
    const failure = await eventually(async () => s.logs.filter((l) => l.msg === 'TLS reload failed: the current certificate stays in use')[failuresBefore], 10_000, 'the failed reload log line');
    assert.match(String(failure.reason), /--tls-cert .*tls\.crt: no PEM certificate/);
    assert.deepEqual(await serials(), [second, second, second]);
    // A key whose certificate is another: refused the same way.
    copyFileSync(pki.server1.cert, liveCert);
    process.kill(pid, 'SIGHUP');
    const mismatch = await eventually(async () => s.logs.filter((l) => l.msg === 'TLS reload failed: the current certificate stays in use')[failuresBefore + 1], 10_000, 'the second failed reload');
    assert.match(String(mismatch.reason), /does not belong to the certificate/);
    assert.deepEqual(await serials(), [second, second, second]);
    assert.equal(s.process.exitCode, null);

    // No key material in any log line.
    const keyText = readFileSync(pki.server2.key, 'utf8');
    const keyBody = keyText.split('\n').filter((l) => l && !l.startsWith('-----'))[0];
    for (const line of s.logs) {
      const text = JSON.stringify(line);
      assert.ok(!text.includes('PRIVATE KEY') && !text.includes(keyBody), `key material in a log line: ${text.slice(0, 200)}`);
    }
  });
});

describe('client certificates with --tls-client-ca', { timeout: 120_000 }, () => {
  let s: Sightline;
  let work: string;
  before(async () => {
    work = tempDir('sightline-mtls-run-');
    const config = writeConfig(work, [ingest.entry, viewer.entry]);
    s = await startSightline({ args: ['--config', config, '--tls-cert', pki.server1.cert, '--tls-key', pki.server1.key, '--tls-client-ca', pki.caFile] });
  });
  after(async () => {
    await s?.stop();
    s?.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  for (const kind of EXPORTERS) {
    it(`${kind}: refused without a client certificate or with one of another CA, accepted with one the CA signed`, async () => {
      const attempts: [string, ClientCert, ExportResultCode][] = [
        ['no client certificate', {}, ExportResultCode.FAILED],
        ['another CA', clientCertOf(pki.rogue), ExportResultCode.FAILED],
        ['signed by --tls-client-ca', clientCertOf(pki.client), ExportResultCode.SUCCESS],
      ];
      for (const [what, client, want] of attempts) {
        const exporter = exporterFor(kind, s, ingest.token, pki.ca, client);
        const result = await exportSpans(exporter, makeSpans(`mtls-${kind}`));
        await exporter.shutdown();
        assert.equal(result.code, want, `${what}: ${String(result.error)}`);
      }
    });
  }

  it('refuses the TLS handshake itself without a client certificate (before any token is looked at)', async () => {
    await assert.rejects(
      httpsRequest(`https://localhost:${s.ports.otlpHttp}/v1/traces`, { ca: pki.ca, method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.from('{}') }),
      (e: NodeJS.ErrnoException) => /certificate required|ECONNRESET|socket hang up|EPIPE/i.test(`${e.code} ${e.message}`),
    );
    const withCert = await httpsRequest(`https://localhost:${s.ports.otlpHttp}/v1/traces`, { ca: pki.ca, method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ingest.token}` }, body: Buffer.from('{}'), ...clientCertOf(pki.client) });
    assert.equal(withCert.status, 200, withCert.body.toString());
  });

  it('does not ask the query API and UI for a client certificate', async () => {
    const r = await httpsRequest(`https://localhost:${s.ports.http}/api/search?limit=1`, { ca: pki.ca, headers: grafanaHeaders(viewer.token) });
    assert.equal(r.status, 200, r.body.toString());
    assertSecurityHeaders(r, 'search with --tls-client-ca');
  });
});

describe('TLS configuration errors stop the start with one line', { timeout: 60_000 }, () => {
  const run = (args: string[]) => {
    const data = tempDir('sightline-tls-bad-');
    try {
      const r = spawnSync(process.execPath, [CLI, 'serve', '--data', data, '--listen', '127.0.0.1', '--otlp-grpc-port', '0', '--otlp-http-port', '0', '--http-port', '0', ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, SIGHTLINE_TLS_CERT: '', SIGHTLINE_TLS_KEY: '' } });
      return { code: r.status, stderr: r.stderr };
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  };
  const garbage = path.join(pki.dir, 'garbage.pem');
  writeFileSync(garbage, 'hello\n');
  const cases: [string, string[], RegExp][] = [
    ['a missing certificate file', ['--tls-cert', path.join(pki.dir, 'missing.crt'), '--tls-key', pki.server1.key], /^sightline: --tls-cert \S+missing\.crt: cannot be read \(no such file\)$/],
    ['a file that is not a certificate', ['--tls-cert', garbage, '--tls-key', pki.server1.key], /^sightline: --tls-cert \S+garbage\.pem: no PEM certificate/],
    ['a key that is not a key', ['--tls-cert', pki.server1.cert, '--tls-key', garbage], /^sightline: --tls-key \S+garbage\.pem: no PEM private key/],
    ['a key of another certificate', ['--tls-cert', pki.server1.cert, '--tls-key', pki.server2.key], /^sightline: --tls-key \S+server2\.key: the key does not belong to the certificate in --tls-cert/],
    ['a certificate without its key', ['--tls-cert', pki.server1.cert], /^sightline: --tls-cert needs --tls-key too$/],
    ['a client CA without TLS', ['--tls-client-ca', pki.caFile], /^sightline: --tls-client-ca needs --tls-cert and --tls-key/],
    ['a client CA that is not a certificate', ['--tls-cert', pki.server1.cert, '--tls-key', pki.server1.key, '--tls-client-ca', garbage], /^sightline: --tls-client-ca \S+garbage\.pem: no PEM certificate/],
    ['--store-ca with the embedded store', ['--store-ca', pki.caFile], /^sightline: --store-ca needs an https:\/\/ ClickHouse --store/],
    ['--store-ca with plain http', ['--store', 'clickhouse://default@127.0.0.1:1/db', '--store-ca', pki.caFile], /^sightline: --store-ca needs an https:\/\/ ClickHouse --store/],
  ];
  for (const [what, args, want] of cases) {
    it(what, () => {
      const r = run(args);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
      assert.match(r.stderr.trimEnd(), want);
      assert.ok(!r.stderr.includes('PRIVATE KEY'));
    });
  }
  it('reads the flags from SIGHTLINE_TLS_* too', () => {
    const data = tempDir('sightline-tls-env-');
    try {
      const r = spawnSync(process.execPath, [CLI, 'serve', '--data', data, '--http-port', '0', '--otlp-http-port', '0', '--otlp-grpc-port', '0'], {
        encoding: 'utf8',
        timeout: 30_000,
        env: { ...process.env, SIGHTLINE_TLS_CERT: pki.server1.cert, SIGHTLINE_TLS_KEY: pki.server2.key },
      });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /^sightline: --tls-key \S+server2\.key: the key does not belong/);
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });
});

describe('ClickHouse store over HTTPS (--store-ca)', { timeout: 180_000 }, () => {
  const scripts = path.join(REPO_ROOT, 'scripts', 'clickhouse-test-servers.mjs');
  let servers: { shards: { url: string; httpsUrl?: string }[]; stop(): Promise<void> } | undefined;
  let available = true;

  before(async () => {
    const mod = (await import(scripts)) as {
      serverBinaryExists(): boolean;
      startClickHouseServers(n: number, opts: { https: { certFile: string; keyFile: string } }): Promise<NonNullable<typeof servers>>;
    };
    if (!mod.serverBinaryExists()) {
      available = false;
      return;
    }
    // ClickHouse 18.16 serves HTTPS through Poco NetSSL with <https_port> and <openSSL><server>.
    servers = await mod.startClickHouseServers(1, { https: { certFile: pki.server1.cert, keyFile: pki.server1.key } });
    const ping = servers.shards[0].httpsUrl!;
    await eventually(async () => ((await httpsRequest(`${ping}/ping`, { ca: pki.ca })).status === 200 ? true : undefined), 20_000, 'ClickHouse https ping');
  });
  after(async () => {
    await servers?.stop();
  });

  it('stores and answers through an https:// ClickHouse whose certificate --store-ca vouches for', async (t) => {
    if (!available) return t.skip('clickhouse-server is not installed');
    const url = servers!.shards[0].httpsUrl!.replace('https://', 'https://default@') + '/sightline_tls';
    const s = await startSightline({ args: ['--store', url, '--store-ca', pki.caFile, '--flush-interval', '100ms'], timeoutMs: 60_000 });
    try {
      assert.match(String(s.logs.find((l) => l.msg === 'store opened')?.engine), /^ClickHouse 18\.16/);
      const spans = makeSpans('tls-clickhouse');
      const exporter = new HttpProtoExporter({ url: `${s.otlpHttp}/v1/traces`, timeoutMillis: 5_000 });
      const result = await exportSpans(exporter, spans);
      await exporter.shutdown();
      assert.equal(result.code, ExportResultCode.SUCCESS, String(result.error));
      const traceId = spans[0].spanContext().traceId;
      const body = await eventually(async () => {
        const r = await fetch(`${s.api}/api/v2/traces/${traceId}`, { signal: AbortSignal.timeout(10_000) });
        return r.status === 200 ? ((await r.json()) as any) : undefined;
      }, 20_000, 'the trace from ClickHouse over https');
      assert.equal(body.trace.resourceSpans[0].scopeSpans[0].spans.length, 2);
    } finally {
      await s.stop();
      s.cleanup();
    }
  });

  it('refuses to start when the server certificate is not trusted (no --store-ca)', async (t) => {
    if (!available) return t.skip('clickhouse-server is not installed');
    const url = servers!.shards[0].httpsUrl!.replace('https://', 'https://default@') + '/sightline_tls';
    await assert.rejects(startSightline({ args: ['--store', url], timeoutMs: 60_000 }), /exited with 1 before ready[\s\S]*(certificate|issuer)/i);
  });
});
