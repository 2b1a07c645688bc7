import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { makeTokens } from './tokens.js';
import type { FastifyInstance } from 'fastify';
import { createApiServer, declaredRoutes } from '../src/api/index.js';
import { AuditLog, buildAuthenticator } from '../src/auth/index.js';
import type { SqlStore } from '../src/store/index.js';
import { TraceExportHandler, createOtlpHttpServer } from '../src/receivers/index.js';
import { Ingestor } from '../src/ingest/index.js';
import { Erasures } from '../src/erasure/index.js';
import { FixtureWriter } from './store-fixtures.js';

/**
 * Every route declares who may call it and which tenants it reads. This
 * walks the API server's own route table (so a route added later is
 * covered without touching this file) and calls each route as an anonymous
 * caller (401), as a caller without the role (403), and as a viewer of
 * another tenant, both naming the tenant (403) and not (only its own
 * tenant's data: the planted secret of tenant a never appears). A viewer
 * of tenant a gets through. The OTLP listener is tried the same way.
 */

const SECRET = 'secret-of-tenant-a';
const TRACE = 'a1a2a3a4a5a6a7a8a9aaabacadaeaf00';
const NOW = BigInt(Date.now()) * 1_000_000n;

/** Routes that need no identity, and why. */
const PUBLIC_ROUTES = new Map([
  ['GET /ready', 'health checks'],
  ['GET /api/echo', "Grafana's connection test"],
  ['GET /api/status/buildinfo', 'the API version Grafana reads'],
  ['GET /', 'the UI itself, which holds no data'],
  ['GET /*', 'the UI itself, which holds no data'],
  ['GET /auth/config', 'whether the UI offers a login'],
  ['GET /auth/me', 'the caller, by itself: 401 without one, and no tenant data'],
]);

/** A concrete URL for a route pattern, with a valid query where one is needed. */
function urlOf(pattern: string): string {
  const filled = pattern
    .replace(':traceId', TRACE)
    .replace(':service', 'svc-a')
    .replace(':tagName', 'span.note')
    .replace('/*', '/search');
  const q = new URLSearchParams({ q: '{ }', service: 'svc-a', start: String(Number(NOW / 1_000_000_000n) - 3600), end: String(Number(NOW / 1_000_000_000n) + 60) });
  if (pattern.startsWith('/api/metrics')) q.set('q', '{ } | rate()');
  return `${filled}?${q}`;
}

/** A store to run the suite on, and how to dispose of it. */
export interface PolicyStoreTarget {
  name: string;
  open(dir: string): Promise<{ store: SqlStore; close(): Promise<void> }>;
}

export function runRoutePoliciesSuite(target: PolicyStoreTarget): void {
  describe(`route policies and tenant isolation through the API: ${target.name}`, () => {
    let closeStore: () => Promise<void>;
    let dir: string;
    let store: SqlStore;
    let app: FastifyInstance;
    let otlp: FastifyInstance;
    let ingestor: Ingestor;
    let audit: AuditLog;
    let erasures: Erasures;
    const tokens = new Map<string, string>();

    before(async () => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'sightline-policies-'));
      ({ store, close: closeStore } = await target.open(dir));
      const made = makeTokens([
        ['viewer-a', 'viewer', 'a'],
        ['viewer-b', 'viewer', 'b'],
        ['ingester-a', 'ingester', 'a'],
        ['admin-a', 'admin', 'a'],
        ['admin-b', 'admin', 'b'],
      ] as const);
      for (const [name, token] of made.tokens) tokens.set(name, token);
      const entries = made.entries;
      const authenticator = buildAuthenticator({ tokens: entries, defaultTenant: 'single-tenant', listen: '0.0.0.0', insecureNoAuth: false });
      const log = pino({ level: 'silent' });
      audit = await AuditLog.open(path.join(dir, 'audit'), store);
      erasures = new Erasures({ store, drain: () => ingestor.drain(), audit, log });
      app = await createApiServer({
        log,
        store,
        authenticator,
        defaultTenant: 'single-tenant',
        audit,
        storeStats: () => store.stats(),
        migrationStatus: () => store.migrationStatus(),
        ingestStats: () => ingestor.getStats(),
        erasures,
        tempoApiVersion: '2.9.0',
        sightlineVersion: 'test',
        engine: 'test',
        defaultWindowSeconds: 3600,
        maxSearchLimit: 100,
        isReady: () => true,
      });
      ingestor = await Ingestor.open({ walDir: path.join(dir, 'wal'), store, log, backlogBudgetBytes: 64 * 1024 * 1024, flushIntervalMs: 100, segmentBytes: 1024 * 1024 });
      ingestor.start();
      otlp = await createOtlpHttpServer({ handler: new TraceExportHandler(ingestor, 86400e3, '1d'), log, maxBodyBytes: 1024 * 1024, corsOrigins: [], authenticator, defaultTenant: 'single-tenant' });
      // Tenant a's secret, in a trace whose id tenant b also uses.
      const fixtures = new FixtureWriter(store);
      const span = (service: string, note: string) => ({
        resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
        scopeSpans: [{ spans: [{ traceId: TRACE, spanId: 'b1b2b3b4b5b6b7b8', name: note, kind: 2, startTimeUnixNano: (NOW - 60_000_000_000n).toString(), endTimeUnixNano: (NOW - 59_000_000_000n).toString(), attributes: [{ key: 'note', value: { stringValue: note } }] }] }],
      });
      await fixtures.write([span('svc-a', SECRET)], { tenant: 'a' });
      await fixtures.write([span('svc-b', 'of-tenant-b')], { tenant: 'b' });
      fixtures.close();
    });

    after(async () => {
      await app?.close();
      await otlp?.close();
      await erasures?.close();
      await ingestor?.stop();
      await audit?.close();
      await closeStore?.();
      rmSync(dir, { recursive: true, force: true });
    });

    const call = (method: string, url: string, as?: string, tenant?: string) =>
      app.inject({ method: method as 'GET', url, headers: { ...(as ? { authorization: `Bearer ${tokens.get(as)}` } : {}), ...(tenant ? { 'x-scope-orgid': tenant } : {}) } });

    it('gives every route a policy, and only the known public ones none', () => {
      const routes = declaredRoutes(app);
      assert.ok(routes.length >= 20, `${routes.length} routes`);
      for (const r of routes) {
        const key = `${r.method} ${r.url}`;
        if (r.policy.role === 'public') assert.ok(PUBLIC_ROUTES.has(key), `${key} is public but not known to be`);
        else assert.ok(!PUBLIC_ROUTES.has(key), `${key} should be public`);
      }
    });

    it('refuses each non-public route to the anonymous, the wrong role and the wrong tenant, and never leaks tenant a', async () => {
      let checked = 0;
      for (const r of declaredRoutes(app)) {
        if (r.policy.role === 'public') continue;
        const url = urlOf(r.url);
        const label = `${r.method} ${r.url}`;
        const anonymous = await call(r.method, url);
        assert.equal(anonymous.statusCode, 401, `${label} anonymous: ${anonymous.body}`);
        assert.match(String(anonymous.headers['www-authenticate']), /^Bearer/, label);
        const wrongRole = await call(r.method, url, r.policy.role === 'admin' ? 'viewer-a' : 'ingester-a', 'a');
        assert.equal(wrongRole.statusCode, 403, `${label} wrong role: ${wrongRole.body}`);
        if (r.policy.tenants !== 'none') {
          const otherTenant = await call(r.method, url, r.policy.role === 'admin' ? 'admin-b' : 'viewer-b', 'a');
          assert.equal(otherTenant.statusCode, 403, `${label} another tenant's viewer naming tenant a: ${otherTenant.body}`);
        }
        const own = await call(r.method, url, r.policy.role === 'admin' ? 'admin-b' : 'viewer-b');
        assert.ok(!own.body.includes(SECRET), `${label} showed tenant a's data to tenant b's viewer`);
        for (const res of [anonymous, wrongRole]) assert.ok(!res.body.includes(SECRET), `${label} leaked in a refusal`);
        const right = await call(r.method, url, r.policy.role === 'admin' ? 'admin-a' : 'viewer-a');
        assert.ok(right.statusCode !== 401 && right.statusCode !== 403, `${label} refused its rightful caller: ${right.statusCode} ${right.body}`);
        checked++;
      }
      assert.ok(checked >= 15, `${checked} routes checked`);
    });

    it('shows tenant a its own data through the same routes (the test can see a leak)', async () => {
      const found = await call('GET', urlOf('/api/search').replace('q=%7B+%7D', `q=${encodeURIComponent(`{ span.note = "${SECRET}" }`)}`), 'viewer-a');
      assert.equal(found.statusCode, 200);
      assert.ok(found.body.includes(TRACE.replace(/^0+/, '')), found.body);
      const trace = await call('GET', `/api/v2/traces/${TRACE}`, 'viewer-a');
      assert.ok(trace.body.includes(SECRET));
      const other = await call('GET', `/api/v2/traces/${TRACE}`, 'viewer-b');
      assert.equal(other.statusCode, 200);
      assert.ok(other.body.includes('of-tenant-b') && !other.body.includes(SECRET));
    });

    it('lets only ingesters write OTLP, into their own tenant', async () => {
      const body = JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: TRACE, spanId: 'c1c2c3c4c5c6c7c8', name: 'x', startTimeUnixNano: NOW.toString(), endTimeUnixNano: NOW.toString() }] }] }] });
      const post = (as?: string, tenant?: string) =>
        otlp.inject({ method: 'POST', url: '/v1/traces', payload: body, headers: { 'content-type': 'application/json', ...(as ? { authorization: `Bearer ${tokens.get(as)}` } : {}), ...(tenant ? { 'x-scope-orgid': tenant } : {}) } });
      assert.equal((await post()).statusCode, 401);
      assert.equal((await post('viewer-a')).statusCode, 403);
      assert.equal((await post('ingester-a', 'b')).statusCode, 403);
      assert.equal((await post('ingester-a')).statusCode, 200);
    });

    it("lists to an admin the tokens that reach the admin's tenants, without hashes", async () => {
      const names = async (as: string) => {
        const r = await call('GET', '/api/sightline/tokens', as);
        assert.equal(r.statusCode, 200, r.body);
        assert.ok(!r.body.includes('sha256:'), 'no hash leaves the server');
        return (r.json() as { tokens: { name: string; roles: string[]; tenants: string[] }[] }).tokens.map((t) => `${t.name}:${t.roles}:${t.tenants}`);
      };
      assert.deepEqual(await names('admin-a'), ['admin-a:admin:a', 'ingester-a:ingester:a', 'viewer-a:viewer:a']);
      assert.deepEqual(await names('admin-b'), ['admin-b:admin:b', 'viewer-b:viewer:b']);
      assert.equal((await call('GET', '/api/sightline/tokens', 'viewer-a')).statusCode, 403);
    });

    it('records each read of span data in the audit trail, with who, which tenant and what', async () => {
      await call('GET', `/api/v2/traces/${TRACE}`, 'viewer-a');
      await audit.close();
      const records = await store.allAudit();
      const read = records.find((r) => r.action === 'GET /api/v2/traces/:traceId' && r.identity === 'token:viewer-a');
      assert.ok(read, JSON.stringify(records.slice(-3)));
      assert.deepEqual(read.tenants, ['a']);
      assert.equal(read.detail.traceId, TRACE);
      assert.equal(read.results, 1);
      assert.ok(!JSON.stringify(records).includes(tokens.get('viewer-a')!), 'no token in the audit trail');
    });
  });
}
