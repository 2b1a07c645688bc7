import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { startSightline, eventually, tempDir, type Sightline } from '../testkit/sightline.js';
import { requestBytes, span } from '../testkit/fixtures.js';
import { TRACE_SERVICE } from '../src/receivers/index.js';

/**
 * Tailnet identities against the real Sightline. tailscaled cannot run
 * here, so a unix-socket HTTP server stands in for its LocalAPI and
 * answers as tailscaled does (tailscale/tailscale):
 *
 * - ipn/localapi/localapi.go: requests whose Host is not
 *   "local-tailscaled.sock" (apitype.LocalAPIHost) are refused 403
 *   "invalid localapi request"; GET /localapi/v0/whois?addr=<ip>|<ip:port>
 *   (serveWhoIsWithBackend) answers 400 "missing 'addr' parameter" /
 *   "invalid 'addr' parameter", 404 "no match for IP:port", or 200 with
 *   json.MarshalIndent(apitype.WhoIsResponse, "", "\t");
 * - client/tailscale/apitype/apitype.go: WhoIsResponse {Node *tailcfg.Node,
 *   UserProfile *tailcfg.UserProfile, CapMap}, Node and UserProfile never nil;
 * - tailcfg/tailcfg.go: Node {ID, StableID, Name (FQDN with a trailing dot),
 *   User, Key, ..., Addresses, AllowedIPs, Hostinfo, Created, Cap, Tags
 *   (omitempty), Online, MachineAuthorized, ComputedName...}; UserProfile
 *   {ID, LoginName, DisplayName, ProfilePicURL (omitempty)};
 * - tagged nodes carry the "tagged-devices" profile (juanfont/headscale
 *   hscontrol/types/users.go TaggedDevices, id 2147455555; Tailscale shows
 *   the same login name).
 *
 * It resolves by the ip of ip:port, as tailscaled does for Tailscale
 * addresses; loopback addresses 127.0.0.x stand for tailnet peers (the test
 * runs with `peers: [127.0.0.0/8]`), each client bound to its own with
 * `localAddress`.
 */

function whoIsResponse(node: { name: string; tags?: string[] }, user: { id: number; login: string; display: string }): string {
  const host = node.name.split('.')[0];
  return JSON.stringify(
    {
      Node: {
        ID: 1000 + user.id,
        StableID: `n${host}CNTRL`,
        Name: node.name,
        User: user.id,
        Key: `nodekey:${'1f'.repeat(32)}`,
        KeyExpiry: '0001-01-01T00:00:00Z',
        Machine: `mkey:${'2e'.repeat(32)}`,
        DiscoKey: `discokey:${'3d'.repeat(32)}`,
        Addresses: ['100.64.0.7/32', 'fd7a:115c:a1e0::7/128'],
        AllowedIPs: ['100.64.0.7/32', 'fd7a:115c:a1e0::7/128'],
        HomeDERP: 1,
        Hostinfo: { OS: 'linux', Hostname: host },
        Created: '2025-11-02T10:00:00Z',
        Cap: 127,
        ...(node.tags ? { Tags: node.tags } : {}),
        Online: true,
        MachineAuthorized: true,
        ComputedName: host,
        ComputedNameWithHost: host,
      },
      UserProfile: { ID: user.id, LoginName: user.login, DisplayName: user.display },
      CapMap: null,
    },
    null,
    '\t',
  );
}

const TAGGED_DEVICES = { id: 2147455555, login: 'tagged-devices', display: 'Tagged Devices' };
const BILLING_NODE = whoIsResponse({ name: 'billing-api.tail1234.ts.net.', tags: ['tag:billing'] }, TAGGED_DEVICES);
const OTHER_NODE = whoIsResponse({ name: 'misc.tail1234.ts.net.', tags: ['tag:other'] }, TAGGED_DEVICES);
const ALICE_LAPTOP = whoIsResponse({ name: 'alice-laptop.tail1234.ts.net.' }, { id: 42, login: 'alice@example.com', display: 'Alice Martin' });

/** tailscaled's LocalAPI whois, on a unix socket. */
class FakeTailscaled {
  /** ip -> WhoIsResponse JSON. */
  readonly nodes = new Map<string, string>();
  readonly asked: { addr: string; host: string | undefined }[] = [];
  private server: http.Server | null = null;

  constructor(readonly socketPath: string) {}

  async start(): Promise<void> {
    rmSync(this.socketPath, { force: true });
    const server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://local-tailscaled.sock');
      const fail = (status: number, text: string) => res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(`${text}\n`);
      if (req.headers.origin || req.headers.referer || (req.headers.host !== 'local-tailscaled.sock' && req.headers.host !== undefined)) return fail(403, 'invalid localapi request');
      if (url.pathname !== '/localapi/v0/whois') return fail(404, '404 page not found');
      const addr = url.searchParams.get('addr') ?? '';
      this.asked.push({ addr, host: req.headers.host });
      if (!addr) return fail(400, "missing 'addr' parameter");
      const ip = parseAddr(addr);
      if (ip === null) return fail(400, "invalid 'addr' parameter");
      const body = this.nodes.get(ip);
      if (!body) return fail(404, 'no match for IP:port');
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    });
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(this.socketPath, resolve));
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    rmSync(this.socketPath, { force: true });
  }
}

/** The ip of `ip`, `ip:port` or `[ip6]:port`, as netip.ParseAddr / ParseAddrPort take them; null otherwise. */
function parseAddr(addr: string): string | null {
  if (addr.startsWith('[')) {
    const end = addr.indexOf(']:');
    return end > 0 ? addr.slice(1, end) : null;
  }
  const colons = addr.split(':').length - 1;
  if (colons === 0) return addr;
  if (colons === 1) return /^\d+$/.test(addr.slice(addr.indexOf(':') + 1)) ? addr.slice(0, addr.indexOf(':')) : null;
  return addr; // a bare IPv6 address
}

interface Answer {
  status: number;
  body: string;
  /** The client's port: what the server saw as remotePort. */
  localPort: number;
}

/** One HTTP request on its own connection, from `from` (a loopback address). */
function call(url: string, opts: { method?: string; headers?: Record<string, string>; body?: Buffer; from: string }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    let localPort = 0;
    const req = http.request(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method: opts.method ?? 'GET', headers: opts.headers, localAddress: opts.from, agent: false, timeout: 10_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), localPort }));
        res.on('error', reject);
      },
    );
    req.on('socket', (s) => s.once('connect', () => (localPort = s.localPort ?? 0)));
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer in 10s`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

const GrpcClient = grpc.makeGenericClientConstructor(TRACE_SERVICE, 'TraceService');

/** One OTLP/gRPC Export on a new channel; resolves to the status code (0 = OK). */
function grpcExport(address: string, body: Buffer, tenant?: string): Promise<{ code: number; details?: string }> {
  const client = new GrpcClient(address.replace(/^http:\/\//, ''), grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  if (tenant) metadata.set('x-scope-orgid', tenant);
  return new Promise((resolve) => {
    (client as unknown as { Export: (b: Buffer, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null) => void) => void }).Export(body, metadata, { deadline: Date.now() + 10_000 }, (e) => {
      client.close();
      resolve(e ? { code: e.code, details: e.details } : { code: 0 });
    });
  });
}

describe('tailnet identities', { timeout: 180_000 }, () => {
  let s: Sightline;
  let dir: string;
  let tailscaled: FakeTailscaled;

  before(async () => {
    dir = tempDir('sightline-tailnet-');
    tailscaled = new FakeTailscaled(path.join(dir, 'tailscaled.sock'));
    tailscaled.nodes.set('127.0.0.3', BILLING_NODE);
    tailscaled.nodes.set('127.0.0.4', ALICE_LAPTOP);
    tailscaled.nodes.set('127.0.0.5', OTHER_NODE);
    await tailscaled.start();
    const config = path.join(dir, 'sightline.yaml');
    writeFileSync(
      config,
      [
        'tailnet:',
        '  trustedProxies: ["127.0.0.1"]',
        `  localApiSocket: ${JSON.stringify(tailscaled.socketPath)}`,
        '  peers: ["127.0.0.0/8"]',
        '  tags:',
        '    "tag:billing": { roles: [ingester], tenants: [billing] }',
        '  users:',
        '    alice@example.com: { roles: [viewer], tenants: [billing] }',
        '    bob@example.com: { roles: [viewer], tenants: [ops] }',
        '',
      ].join('\n'),
    );
    s = await startSightline({ args: ['--config', config, '--flush-interval', '200ms'] });
  });

  after(async () => {
    await s?.stop();
    s?.cleanup();
    await tailscaled?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const traces = new Map<string, Buffer>();
  const otlpBody = (name: string) => {
    const traceId = randomBytes(16);
    traces.set(name, traceId);
    return requestBytes([span({ traceId, name })], 'tailnet-test');
  };
  const post = (from: string, body: Buffer, headers: Record<string, string> = {}) =>
    call(`${s.otlpHttp}/v1/traces`, { method: 'POST', from, body, headers: { 'content-type': 'application/x-protobuf', ...headers } });
  const readTrace = (from: string, name: string, tenant?: string) => call(`${s.api}/api/traces/${traces.get(name)!.toString('hex')}`, { from, headers: tenant ? { 'x-scope-orgid': tenant } : {} });

  it('a node tagged tag:billing writes OTLP/HTTP into tenant billing, and nowhere else', async () => {
    const r = await post('127.0.0.3', otlpBody('http-billing'));
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(tailscaled.asked.at(-1), { addr: `127.0.0.3:${r.localPort}`, host: 'local-tailscaled.sock' }, 'whois is asked about the exact peer ip:port');
    assert.equal((await post('127.0.0.3', otlpBody('http-billing-2'), { 'x-scope-orgid': 'billing' })).status, 200);
    const other = await post('127.0.0.3', otlpBody('http-ops'), { 'x-scope-orgid': 'ops' });
    assert.equal(other.status, 403, other.body);
  });

  it('and reads nothing', async () => {
    assert.equal((await readTrace('127.0.0.3', 'http-billing', 'billing')).status, 403);
    assert.equal((await readTrace('127.0.0.3', 'http-billing')).status, 403);
  });

  it('a user’s node is a viewer of its tenant: reads billing, writes nothing', async () => {
    const found = await eventually(async () => {
      const r = await readTrace('127.0.0.4', 'http-billing', 'billing');
      return r.status === 200 ? r : undefined;
    }, 20_000, 'the billing trace, read by alice');
    assert.match(found.body, /http-billing/);
    assert.equal((await readTrace('127.0.0.4', 'http-billing', 'ops')).status, 403);
    assert.equal((await post('127.0.0.4', otlpBody('alice-write'), { 'x-scope-orgid': 'billing' })).status, 403);
  });

  it('OTLP/gRPC: the peer of the call is asked about, with the same grants', async () => {
    // grpc-js cannot bind a client address, so its calls come from 127.0.0.1: say that is the billing node.
    tailscaled.nodes.set('127.0.0.1', BILLING_NODE);
    try {
      const before = tailscaled.asked.length;
      assert.deepEqual(await grpcExport(s.otlpGrpc, otlpBody('grpc-billing'), 'billing'), { code: 0 });
      const asked = tailscaled.asked.slice(before).map((a) => a.addr);
      assert.equal(asked.length, 1, JSON.stringify(asked));
      assert.match(asked[0], /^127\.0\.0\.1:\d+$/);
      assert.notEqual(asked[0], `127.0.0.1:${s.ports.otlpGrpc}`, 'the client’s port, not the server’s');
      assert.deepEqual(await grpcExport(s.otlpGrpc, otlpBody('grpc-none')), { code: 0 }, 'its only tenant, without x-scope-orgid');
      assert.equal((await grpcExport(s.otlpGrpc, otlpBody('grpc-ops'), 'ops')).code, grpc.status.PERMISSION_DENIED);
    } finally {
      tailscaled.nodes.delete('127.0.0.1');
    }
    await new Promise((r) => setTimeout(r, 1100)); // past the per-connection answer's life
    assert.equal((await grpcExport(s.otlpGrpc, otlpBody('grpc-unknown'), 'billing')).code, grpc.status.UNAUTHENTICATED);
    const found = await eventually(async () => {
      const r = await readTrace('127.0.0.4', 'grpc-billing', 'billing');
      return r.status === 200 ? r : undefined;
    }, 20_000, 'the gRPC trace, read by alice');
    assert.match(found.body, /grpc-billing/);
  });

  it('an unknown node, or a node whose tags have no rule, is nobody (401)', async () => {
    for (const from of ['127.0.0.2', '127.0.0.5']) {
      assert.equal((await post(from, otlpBody('unknown'))).status, 401, from);
      assert.equal((await readTrace(from, 'http-billing', 'billing')).status, 401, from);
    }
  });

  it('tailscale serve: Tailscale-User-Login from the trusted proxy maps to the user’s grants', async () => {
    const bob = { 'tailscale-user-login': 'bob@example.com', 'tailscale-user-name': '=?utf-8?q?Bob_B=C3=A9rard?=', 'tailscale-headers-info': 'https://tailscale.com/s/serve-headers' };
    const tags = (from: string, headers: Record<string, string>, tenant: string) => call(`${s.api}/api/search/tags`, { from, headers: { ...headers, 'x-scope-orgid': tenant } });
    assert.equal((await tags('127.0.0.1', bob, 'ops')).status, 200);
    assert.equal((await tags('127.0.0.1', bob, 'billing')).status, 403);
    assert.equal((await tags('127.0.0.1', { 'tailscale-user-login': 'mallory@example.com' }, 'ops')).status, 401, 'a login without a rule');
    assert.equal((await tags('127.0.0.1', { ...bob, 'tailscale-funnel-request': '?1' }, 'ops')).status, 401, 'a Funnel request');
    assert.equal((await tags('127.0.0.1', {}, 'ops')).status, 401, 'no header');
  });

  it('tailscale serve: the same header from another address is ignored', async () => {
    const bob = { 'tailscale-user-login': 'bob@example.com' };
    const tags = (from: string, tenant: string) => call(`${s.api}/api/search/tags`, { from, headers: { ...bob, 'x-scope-orgid': tenant } });
    assert.equal((await tags('127.0.0.2', 'ops')).status, 401, 'an unknown peer claiming to be bob');
    assert.equal((await tags('127.0.0.3', 'ops')).status, 403, 'the billing node claiming to be bob is the billing node');
    assert.equal((await tags('127.0.0.4', 'billing')).status, 200, 'alice claiming to be bob is alice');
    assert.equal((await tags('127.0.0.4', 'ops')).status, 403);
  });

  it('tailscale serve: a connection tailscaled forwarded from a peer to the proxy address keeps the peer’s identity, whatever its headers', async () => {
    // Userspace networking: tailscaled forwards direct tailnet connections from 127.0.0.1, as serve's own.
    tailscaled.nodes.set('127.0.0.1', BILLING_NODE);
    try {
      const r = await call(`${s.api}/api/search/tags`, { from: '127.0.0.1', headers: { 'tailscale-user-login': 'bob@example.com', 'x-scope-orgid': 'ops' } });
      assert.equal(r.status, 403, r.body);
      assert.equal((await post('127.0.0.1', otlpBody('forwarded'), { 'tailscale-user-login': 'bob@example.com' })).status, 200);
    } finally {
      tailscaled.nodes.delete('127.0.0.1');
    }
  });

  it('with tailscaled gone, tailnet callers are refused (401), Sightline stays up and says so once, and recovers', async () => {
    const warned = () => s.logs.filter((l) => l.component === 'tailnet' && l.level === 40).length;
    const before = warned();
    await tailscaled.stop();
    try {
      for (let i = 0; i < 5; i++) assert.equal((await post('127.0.0.3', otlpBody(`gone-${i}`))).status, 401);
      assert.equal((await readTrace('127.0.0.4', 'http-billing', 'billing')).status, 401);
      assert.equal((await grpcExport(s.otlpGrpc, otlpBody('gone-grpc'), 'billing')).code, grpc.status.UNAUTHENTICATED);
      const bob = await call(`${s.api}/api/search/tags`, { from: '127.0.0.1', headers: { 'tailscale-user-login': 'bob@example.com', 'x-scope-orgid': 'ops' } });
      assert.equal(bob.status, 401, 'serve headers are not taken when tailscaled cannot say whose the connection is');
      assert.equal((await call(`${s.api}/ready`, { from: '127.0.0.1' })).status, 200);
      await eventually(async () => (warned() > before ? true : undefined), 5000, 'the warning');
      assert.equal(warned() - before, 1, 'one warning, not one per request');
      assert.equal(s.process.exitCode, null);
    } finally {
      await tailscaled.start();
    }
    assert.equal((await post('127.0.0.3', otlpBody('back'))).status, 200);
  });
});
