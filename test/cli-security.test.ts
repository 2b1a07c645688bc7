import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { CLI, eventually, startSightline, tempDir } from '../testkit/sightline.js';
import { postOtlp, requestBytes, span } from '../testkit/fixtures.js';

const require = createRequire(import.meta.url);
type ChdbSession = { query(q: string, f: string): string; close(): void };

function run(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * The security commands of the real CLI, end to end: tokens made by
 * `sightline token create` work against a running server, are revoked on
 * SIGHUP, never appear in the file, the logs or the audit trail; the
 * audit trail the server wrote passes `sightline audit verify`, and an
 * edited, removed or cut-off record fails it.
 */
describe('sightline token and audit commands', () => {
  it('refuses to listen off loopback with no authentication, naming --config and --insecure-no-auth', () => {
    const dir = tempDir();
    try {
      // Refused before any socket is opened.
      const r = run(['serve', '--data', dir, '--listen', '0.0.0.0', '--otlp-grpc-port', '0', '--otlp-http-port', '0', '--http-port', '0']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /refusing to listen on 0\.0\.0\.0 with no authentication/);
      assert.match(r.stderr, /--config/);
      assert.match(r.stderr, /--insecure-no-auth/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('makes tokens that a running server accepts, revokes them on SIGHUP, and keeps only hashes', async () => {
    const dir = tempDir();
    const config = path.join(dir, 'sightline.yaml');
    writeFileSync(config, '# Clinic A\ntenants:\n  clinic-a:\n    retention: 30d\n');
    let s: Awaited<ReturnType<typeof startSightline>> | undefined;
    try {
      const made = run(['token', 'create', '--name', 'grafana', '--role', 'viewer', '--tenant', 'clinic-a', '--config', config]);
      assert.equal(made.code, 0, made.stderr);
      const viewer = made.stdout.trim();
      assert.match(viewer, /^slt_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/, 'stdout is the token alone');
      const ingest = run(['token', 'create', '--name', 'collector', '--role', 'ingester', '--tenant', 'clinic-a'], { SIGHTLINE_CONFIG: config }).stdout.trim();
      const admin = run(['token', 'create', '--name', 'ops', '--role', 'admin,viewer', '--tenant', '*', '--config', config]).stdout.trim();

      const text = readFileSync(config, 'utf8');
      assert.ok(text.startsWith('# Clinic A\n'), 'comments survive');
      assert.match(text, /retention: 30d/);
      for (const t of [viewer, ingest, admin]) assert.ok(!text.includes(t.slice(21)), 'no secret in the file');
      assert.equal(statSync(config).mode & 0o777, 0o600);

      const again = run(['token', 'create', '--name', 'grafana', '--role', 'viewer', '--tenant', 'clinic-a', '--config', config]);
      assert.equal(again.code, 2);
      assert.match(again.stderr, /exists already/);
      assert.equal(run(['token', 'create', '--name', 'x', '--role', 'owner', '--tenant', 'a', '--config', config]).code, 2);
      const listed = run(['token', 'list', '--config', config]).stdout;
      assert.deepEqual(
        listed.trim().split('\n').map((l) => l.split('\t')[0]),
        ['grafana', 'collector', 'ops'],
      );

      s = await startSightline({ dataDir: path.join(dir, 'data'), args: ['--config', config] });
      const traceId = randomBytes(16);
      const spans = Array.from({ length: 5 }, () => span({ traceId, attributes: [{ key: 'patient.id', value: { stringValue: 'P-778' } }] }));
      assert.equal((await postOtlp(s.otlpHttp, requestBytes(spans))).status, 401, 'no token, no ingest');
      assert.equal((await postOtlp(s.otlpHttp, requestBytes(spans), { authorization: `Bearer ${ingest}` })).status, 200);
      const get = (token?: string) => fetch(`${s!.api}/api/v2/traces/${traceId.toString('hex')}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
      assert.equal((await get()).status, 401);
      assert.equal((await get(ingest)).status, 403, 'an ingester cannot read');
      const found = await eventually(async () => {
        const r = await get(viewer);
        return r.status === 200 ? r.text() : undefined;
      });
      assert.ok(found.includes('P-778'));

      assert.equal(run(['token', 'revoke', '--name', 'grafana', '--config', config]).code, 0);
      assert.equal((await get(viewer)).status, 200, 'still valid until the server re-reads its config');
      process.kill(s.pid, 'SIGHUP');
      await eventually(async () => ((await get(viewer)).status === 401 ? true : undefined), 5000, 'the revoked token refused');
      assert.equal((await fetch(`${s.api}/api/sightline/audit`, { headers: { authorization: `Bearer ${admin}` } })).status, 200);

      assert.equal(await s.stop(), 0);
      const logs = JSON.stringify(s.logs);
      for (const t of [viewer, ingest, admin]) assert.ok(!logs.includes(t.slice(21)), 'no token in the logs');
      assert.ok(!logs.includes('P-778'), 'no patient value in the logs');
    } finally {
      await s?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('verifies the audit trail a server wrote, and finds an edited, a removed and a cut-off record', async () => {
    const dir = tempDir();
    const config = path.join(dir, 'sightline.yaml');
    const data = path.join(dir, 'data');
    try {
      const viewer = run(['token', 'create', '--name', 'reader', '--role', 'viewer', '--tenant', 'single-tenant', '--config', config]).stdout.trim();
      const s = await startSightline({ dataDir: data, args: ['--config', config] });
      for (let i = 0; i < 4; i++) {
        const r = await fetch(`${s.api}/api/search?q=${encodeURIComponent(`{ span.n = ${i} }`)}`, { headers: { authorization: `Bearer ${viewer}` } });
        assert.equal(r.status, 200);
      }
      assert.equal(await s.stop(), 0);
      const closed = s.logs.find((l) => typeof l.auditHead === 'string');
      assert.ok(closed, 'the chain head is logged at stop');
      const head = String(closed.auditHead);
      assert.match(head, /:4:[0-9a-f]{64}$/);

      const verify = (...extra: string[]) => run(['audit', 'verify', '--data', data, ...extra]);
      const ok = verify('--head', head);
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      assert.match(ok.stdout, /audit trail intact: 4 records in 1 chains, 1 kept heads found/);

      const { Session } = require('chdb') as { Session: new (dir: string) => ChdbSession };
      const tamper = (statement: string) => {
        const db = new Session(path.join(data, 'store'));
        try {
          return db.query(statement, 'TSV');
        } finally {
          db.close();
        }
      };
      const trail = tamper('SELECT * FROM audit_v1 ORDER BY seq');
      assert.match(trail, /token:reader/);
      assert.match(trail, /span\.n = 2/, 'the query text is recorded');
      assert.ok(!trail.includes(viewer.slice(21)), 'no token in the trail');
      // Someone hides what the third search asked.
      tamper(`ALTER TABLE audit_v1 UPDATE detail = '{"q":"{ }"}' WHERE seq = 3 SETTINGS mutations_sync = 1`);
      const edited = verify();
      assert.equal(edited.code, 1);
      assert.match(edited.stdout, /record 3 was changed/);
      // ...then removes it instead.
      tamper(`ALTER TABLE audit_v1 DELETE WHERE seq = 3 SETTINGS mutations_sync = 1`);
      assert.match(verify().stdout, /record 3 is missing/);
      // Cutting off the tail looks like a chain that ended there, unless its head was kept.
      tamper(`ALTER TABLE audit_v1 DELETE WHERE seq >= 3 SETTINGS mutations_sync = 1`);
      assert.equal(verify().code, 0);
      const cut = verify('--head', head);
      assert.equal(cut.code, 1);
      assert.match(cut.stdout, /record 4, named by a kept head, is missing \(the chain was cut short\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
