import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { canonicalIp, cidrProblem, decodeTailscaleHeader, LocalApiWhoisSource, parseWhoIs, TailscaleServeSource, tailnetSources, type FlowCheck, type WhoisOptions } from './tailnet.js';
import { AuthSetupError } from './setup.js';
import { Authenticator } from './authenticator.js';
import { resolveCaller } from './resolve.js';
import { READ_SPANS, WRITE_SPANS } from './policy.js';
import { ForbiddenError, UnauthenticatedError } from '../errors.js';
import type { FileTailnet } from '../config/file.js';

/**
 * A WhoIsResponse as tailscaled writes it: json.MarshalIndent(apitype.WhoIsResponse)
 * (ipn/localapi/localapi.go serveWhoIsWithBackend), Node a tailcfg.Node,
 * UserProfile a tailcfg.UserProfile {ID, LoginName, DisplayName, ProfilePicURL}
 * (tailcfg/tailcfg.go). Tagged nodes carry the "tagged-devices" profile
 * (Headscale: hscontrol/types/users.go TaggedDevices, id 2147455555).
 */
function whoIs(node: { name: string; tags?: string[]; ip?: string }, user: { login: string; display: string; id?: number }): string {
  const ip = node.ip ?? '100.64.0.7';
  return JSON.stringify(
    {
      Node: {
        ID: 7,
        StableID: 'nR7bQ2CNTRL',
        Name: node.name,
        User: user.id ?? 2147455555,
        Key: 'nodekey:5f2c0b6e1d0c4a0e8c3b9d7a2f1e6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b',
        KeyExpiry: '0001-01-01T00:00:00Z',
        Machine: 'mkey:0c1d2e3f405162738495a6b7c8d9eafb0c1d2e3f405162738495a6b7c8d9eafb',
        DiscoKey: 'discokey:a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90',
        Addresses: [`${ip}/32`, 'fd7a:115c:a1e0::7/128'],
        AllowedIPs: [`${ip}/32`, 'fd7a:115c:a1e0::7/128'],
        HomeDERP: 1,
        Hostinfo: { OS: 'linux', Hostname: node.name.split('.')[0] },
        Created: '2025-11-02T10:00:00Z',
        Cap: 127,
        ...(node.tags ? { Tags: node.tags } : {}),
        Online: true,
        MachineAuthorized: true,
        ComputedName: node.name.split('.')[0],
        ComputedNameWithHost: node.name.split('.')[0],
      },
      UserProfile: { ID: user.id ?? 2147455555, LoginName: user.login, DisplayName: user.display },
      CapMap: null,
    },
    null,
    '\t',
  );
}

const TAGGED = whoIs({ name: 'billing-api.tail1234.ts.net.', tags: ['tag:billing'] }, { login: 'tagged-devices', display: 'Tagged Devices' });
const LAPTOP = whoIs({ name: 'alice-laptop.tail1234.ts.net.' }, { login: 'alice@example.com', display: 'Alice Martin', id: 42 });

const RULES: FileTailnet = {
  trustedProxies: ['127.0.0.1', '::1'],
  users: {
    'alice@example.com': { roles: ['viewer'], tenants: ['billing'] },
    'bob@example.com': { roles: ['viewer'], tenants: ['ops'] },
    'renée@example.com': { roles: ['admin'], tenants: ['ops'] },
  },
  tags: {
    'tag:billing': { roles: ['ingester'], tenants: ['billing'] },
    'tag:ops': { roles: ['ingester'], tenants: ['ops'] },
  },
};

const creds = (remoteAddress: string | undefined, headers: Record<string, string | string[]> = {}, remotePort = 40000) => ({ headers, remoteAddress, remotePort });

describe('tailnet addresses', () => {
  it('compares addresses in one form: IPv4-mapped IPv6 is IPv4, IPv6 is compressed lower case', () => {
    assert.equal(canonicalIp('127.0.0.1'), '127.0.0.1');
    assert.equal(canonicalIp('::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(canonicalIp('::FFFF:7f00:1'), '127.0.0.1');
    assert.equal(canonicalIp('0:0:0:0:0:0:0:1'), '::1');
    assert.equal(canonicalIp('FD7A:115C:A1E0:0:0:0:0:7'), 'fd7a:115c:a1e0::7');
    for (const bad of [undefined, '', 'localhost', '127.0.0.1:80', 'fe80::1%eth0', '1.2.3', '::ffff:1.2.3', 'x'.repeat(100)]) assert.equal(canonicalIp(bad), null, String(bad));
  });

  it('takes CIDR blocks and bare addresses, and says what is wrong with others', () => {
    for (const ok of ['100.64.0.0/10', 'fd7a:115c:a1e0::/48', '127.0.0.0/8', '10.0.0.1', '::1', '0.0.0.0/0']) assert.equal(cidrProblem(ok), null, ok);
    for (const bad of ['100.64.0.0/33', 'fd7a::/129', '100.64.0.0/', '100.64.0.0/x', 'tailnet', '1.2.3.4/8/8']) assert.notEqual(cidrProblem(bad), null, bad);
  });
});

describe('Tailscale-User-* header values', () => {
  it('reads plain ASCII and the RFC 2047 Q-encoding tailscaled uses for the rest', () => {
    assert.equal(decodeTailscaleHeader('alice@example.com'), 'alice@example.com');
    // mime.QEncoding.Encode("utf-8", "Renée François")
    assert.equal(decodeTailscaleHeader('=?utf-8?q?Ren=C3=A9e_Fran=C3=A7ois?='), 'Renée François');
    // a long value is split into several encoded words, separated by spaces
    assert.equal(decodeTailscaleHeader('=?utf-8?q?=C5=BC=C3=B3=C5=82?= =?utf-8?q?w_=C3=A9?='), 'żółw é');
  });

  it('refuses what tailscaled never writes', () => {
    for (const bad of [undefined, '', '   ', ['a@x', 'b@x'], 'x'.repeat(513), 'a\u0000b', '=?utf-8?q?=C3?=', '=?utf-8?q?=ZZ?=', '=?iso-8859-1?q?x?=', '=?utf-8?b?YQ==?=', '=?utf-8?q?a b?=', '=?utf-8?q?a?b?=', '=?utf-8?q?=0A?='])
      assert.equal(decodeTailscaleHeader(bad as string), null, JSON.stringify(bad));
  });

  it('takes linear time on hostile input', () => {
    for (const hostile of ['=?'.repeat(256), '=?utf-8?q?' + '='.repeat(500), '=?utf-8?q?a?= '.repeat(40), ' '.repeat(512)]) {
      const t = process.hrtime.bigint();
      decodeTailscaleHeader(hostile);
      assert.ok(process.hrtime.bigint() - t < 50_000_000n, 'well under 50ms');
    }
  });
});

describe('TailscaleServeSource', () => {
  const serve = new TailscaleServeSource(RULES);

  it('maps Tailscale-User-Login from a trusted proxy (IPv4, IPv6, IPv4-mapped) to the user’s grants', async () => {
    for (const peer of ['127.0.0.1', '::ffff:127.0.0.1', '::1', '0:0:0:0:0:0:0:1']) {
      const id = await serve.identify(creds(peer, { 'tailscale-user-login': 'alice@example.com', 'tailscale-user-name': 'Alice Martin' }));
      assert.deepEqual(id, { source: 'tailnet-user', name: 'alice@example.com', displayName: 'Alice Martin', grants: [{ role: 'viewer', tenant: 'billing' }] }, peer);
    }
    const encoded = await serve.identify(creds('127.0.0.1', { 'tailscale-user-login': '=?utf-8?q?ren=C3=A9e@example.com?=' }));
    assert.equal(encoded?.name, 'renée@example.com');
  });

  it('ignores the header from any other peer', async () => {
    for (const peer of ['127.0.0.2', '100.64.0.7', '::2', '::ffff:127.0.0.2', undefined]) assert.equal(await serve.identify(creds(peer, { 'tailscale-user-login': 'alice@example.com' })), null, String(peer));
  });

  it('is nobody for a login without a rule, a Funnel request, several logins, or an object key that is not a rule', async () => {
    const cases: Record<string, string | string[]>[] = [
      { 'tailscale-user-login': 'mallory@example.com' },
      { 'tailscale-user-login': 'Alice@Example.com' },
      { 'tailscale-user-login': 'constructor' },
      { 'tailscale-user-login': '__proto__' },
      { 'tailscale-user-login': ['alice@example.com', 'alice@example.com'] },
      { 'tailscale-user-login': 'alice@example.com', 'tailscale-funnel-request': '?1' },
      {},
    ];
    for (const headers of cases) assert.equal(await serve.identify(creds('127.0.0.1', headers)), null, JSON.stringify(headers));
  });

  it('ignores the headers of a connection tailscaled reports as a tailnet peer’s, and when tailscaled cannot say', async () => {
    const asked: [string, number | undefined][] = [];
    const answer = (a: Awaited<ReturnType<FlowCheck>>): FlowCheck => async (ip, port) => (asked.push([ip, port]), a);
    const h = { 'tailscale-user-login': 'alice@example.com' };
    assert.equal(await new TailscaleServeSource(RULES, answer('peer')).identify(creds('::ffff:127.0.0.1', h, 51000)), null);
    assert.equal(await new TailscaleServeSource(RULES, answer('unknown')).identify(creds('127.0.0.1', h)), null);
    assert.equal((await new TailscaleServeSource(RULES, answer('not-peer')).identify(creds('127.0.0.1', h)))?.name, 'alice@example.com');
    assert.deepEqual(asked[0], ['127.0.0.1', 51000]);
  });

  it('refuses a trusted proxy that is not an address', () => {
    assert.throws(() => new TailscaleServeSource({ ...RULES, trustedProxies: ['localhost'] }), AuthSetupError);
  });
});

/** A whois source whose LocalAPI answers from a table (by the ip of ip:port), counting calls. */
function stubbed(table: Record<string, { status: number; body: string } | Error>, opts: WhoisOptions = {}, config: Partial<FileTailnet> = {}) {
  const calls: string[] = [];
  const warnings: Record<string, unknown>[] = [];
  let now = 1_000_000;
  const source = new LocalApiWhoisSource(
    { ...RULES, ...config },
    {
      now: () => now,
      log: { warn: (o) => void warnings.push(o as Record<string, unknown>) },
      fetchWhois: async (addr) => {
        calls.push(addr);
        const ip = addr.startsWith('[') ? addr.slice(1, addr.indexOf(']')) : addr.slice(0, addr.lastIndexOf(':'));
        const r = table[ip] ?? { status: 404, body: 'no match for IP:port\n' };
        if (r instanceof Error) throw r;
        return r;
      },
      ...opts,
    },
  );
  return { source, calls, warnings, tick: (ms: number) => void (now += ms) };
}

describe('LocalApiWhoisSource', () => {
  it('reads the WhoIsResponse tailscaled writes', () => {
    assert.deepEqual(parseWhoIs(TAGGED), { node: 'billing-api.tail1234.ts.net', tags: ['tag:billing'], login: 'tagged-devices', displayName: 'Tagged Devices' });
    assert.deepEqual(parseWhoIs(LAPTOP), { node: 'alice-laptop.tail1234.ts.net', tags: [], login: 'alice@example.com', displayName: 'Alice Martin' });
    for (const bad of ['', 'null', '[]', '{}', '{"Node":{}}', '{"Node":{"Tags":"tag:x"},"UserProfile":{"LoginName":"a"}}', '{"Node":{},"UserProfile":{}}']) assert.equal(parseWhoIs(bad), null, bad);
  });

  it('maps a tagged node by its tags only, and a user’s node by its login', async () => {
    const { source, calls } = stubbed({
      '100.64.0.7': { status: 200, body: TAGGED },
      'fd7a:115c:a1e0::9': { status: 200, body: LAPTOP },
      // A tagged node on older Headscale keeps the user who registered it: still only its tags count.
      '100.64.0.8': { status: 200, body: whoIs({ name: 'ops-runner.tail1234.ts.net.', tags: ['tag:ops', 'tag:unmapped'] }, { login: 'alice@example.com', display: 'Alice', id: 42 }) },
      '100.64.0.10': { status: 200, body: whoIs({ name: 'misc.tail1234.ts.net.', tags: ['tag:unmapped'] }, { login: 'tagged-devices', display: 'Tagged Devices' }) },
      '100.64.0.11': { status: 200, body: whoIs({ name: 'eve.tail1234.ts.net.' }, { login: 'eve@example.com', display: 'Eve', id: 9 }) },
    });
    assert.deepEqual(await source.identify(creds('100.64.0.7')), { source: 'tailnet-node', name: 'billing-api.tail1234.ts.net', node: 'billing-api.tail1234.ts.net', tags: ['tag:billing'], grants: [{ role: 'ingester', tenant: 'billing' }] });
    assert.deepEqual(await source.identify(creds('FD7A:115C:A1E0::9', {}, 443)), { source: 'tailnet-user', name: 'alice@example.com', displayName: 'Alice Martin', node: 'alice-laptop.tail1234.ts.net', grants: [{ role: 'viewer', tenant: 'billing' }] });
    assert.deepEqual((await source.identify(creds('::ffff:100.64.0.8')))?.grants, [{ role: 'ingester', tenant: 'ops' }]);
    assert.equal(await source.identify(creds('100.64.0.10')), null, 'no rule for any of its tags');
    assert.equal(await source.identify(creds('100.64.0.11')), null, 'no rule for its login');
    assert.equal(await source.identify(creds('100.64.0.12')), null, 'unknown to tailscaled (404)');
    assert.equal(await source.identify(creds('192.168.1.5')), null, 'not a tailnet address');
    assert.equal(await source.identify(creds('127.0.0.1')), null, 'not in the default peers');
    assert.deepEqual(calls, ['100.64.0.7:40000', '[fd7a:115c:a1e0::9]:443', '100.64.0.8:40000', '100.64.0.10:40000', '100.64.0.11:40000', '100.64.0.12:40000'], 'only tailnet peers are asked about, as ip:port');
  });

  it('keeps answers for a tailnet address briefly, by address; forwarded loopback connections by ip:port', async () => {
    const { source, calls, tick } = stubbed({ '100.64.0.7': { status: 200, body: TAGGED }, '127.0.0.1': { status: 200, body: TAGGED } }, {}, { peers: ['100.64.0.0/10', '127.0.0.0/8'] });
    await source.identify(creds('100.64.0.7', {}, 1));
    await source.identify(creds('100.64.0.7', {}, 2));
    await source.identify(creds('100.64.0.12', {}, 1)); // unknown: kept too
    await source.identify(creds('100.64.0.12', {}, 2));
    assert.equal(calls.length, 2);
    tick(15_001);
    await source.identify(creds('100.64.0.7', {}, 3));
    assert.equal(calls.length, 3, 'asked again once the answer is old');
    await source.identify(creds('127.0.0.1', {}, 5000));
    await source.identify(creds('127.0.0.1', {}, 5000));
    await source.identify(creds('127.0.0.1', {}, 5001));
    assert.equal(calls.length, 5, 'one call per loopback connection');
    tick(1001);
    await source.identify(creds('127.0.0.1', {}, 5000));
    assert.equal(calls.length, 6, 'a loopback answer lasts a second');
    assert.equal(await source.identify({ headers: {}, remoteAddress: '127.0.0.1' }), null, 'a loopback peer without a port is nobody');
  });

  it('keeps a bounded number of answers, and asks once for concurrent requests from one peer', async () => {
    const { source, calls } = stubbed({}, { cacheMax: 3 });
    for (let i = 1; i <= 5; i++) await source.identify(creds(`100.64.0.${i}`));
    await source.identify(creds('100.64.0.5'));
    await source.identify(creds('100.64.0.1'));
    assert.equal(calls.length, 6, 'the oldest answer was dropped');
    await Promise.all(Array.from({ length: 20 }, () => source.identify(creds('100.64.1.1'))));
    assert.equal(calls.length, 7);
  });

  it('fails closed when tailscaled cannot answer, logging once a minute, and recovers', async () => {
    const table: Record<string, { status: number; body: string } | Error> = { '100.64.0.7': Object.assign(new Error('connect ENOENT /var/run/tailscale/tailscaled.sock'), { code: 'ENOENT' }) };
    const { source, calls, warnings, tick } = stubbed(table);
    for (let i = 0; i < 10; i++) assert.equal(await source.identify(creds('100.64.0.7')), null);
    assert.equal(calls.length, 10, 'failures are not kept: each request asks again');
    assert.equal(warnings.length, 1);
    assert.match(String(warnings[0].error), /ENOENT/);
    tick(60_000);
    table['100.64.0.7'] = { status: 403, body: 'whois access denied\n' };
    assert.equal(await source.identify(creds('100.64.0.7')), null);
    assert.equal(warnings.length, 2);
    assert.equal(warnings[1].suppressed, 9);
    assert.match(String(warnings[1].error), /HTTP 403: whois access denied/);
    table['100.64.0.7'] = { status: 200, body: '{"Node": null' };
    tick(60_000);
    assert.equal(await source.identify(creds('100.64.0.7')), null);
    assert.match(String(warnings[2].error), /not a WhoIsResponse/);
    table['100.64.0.7'] = { status: 200, body: TAGGED };
    assert.equal((await source.identify(creds('100.64.0.7')))?.name, 'billing-api.tail1234.ts.net');
  });

  it('refuses peers that are not address blocks', () => {
    assert.throws(() => new LocalApiWhoisSource({ ...RULES, peers: ['100.64.0.0/40'] }), /tailnet.peers/);
  });
});

describe('LocalApiWhoisSource over a unix socket', () => {
  let dir: string;
  let server: http.Server;
  const seen: { url: string; host: string | undefined }[] = [];
  let mode: 'answer' | 'hang' | 'huge' | 'reset' = 'answer';

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'sightline-tailnet-unit-'));
    server = http.createServer((req, res) => {
      seen.push({ url: req.url ?? '', host: req.headers.host });
      if (mode === 'hang') return;
      if (mode === 'reset') return void req.socket.destroy();
      if (req.headers.host !== 'local-tailscaled.sock') return void res.writeHead(403).end('invalid localapi request\n');
      res.writeHead(200, { 'content-type': 'application/json' });
      if (mode === 'huge') {
        res.write('{"Node":{"Name":"' + 'x'.repeat(1 << 20));
        res.end('"},"UserProfile":{"LoginName":"x"}}');
      } else res.end(LAPTOP);
    });
    await new Promise<void>((r) => server.listen(path.join(dir, 'tailscaled.sock'), r));
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  const source = (timeoutMs = 300) => new LocalApiWhoisSource({ ...RULES, localApiSocket: path.join(dir, 'tailscaled.sock') }, { timeoutMs, log: { warn: () => undefined } });

  it('asks GET /localapi/v0/whois?addr=ip:port with Host local-tailscaled.sock', async () => {
    mode = 'answer';
    assert.equal((await source().identify(creds('fd7a:115c:a1e0::9', {}, 41641)))?.name, 'alice@example.com');
    assert.deepEqual(seen.at(-1), { url: '/localapi/v0/whois?addr=%5Bfd7a%3A115c%3Aa1e0%3A%3A9%5D%3A41641', host: 'local-tailscaled.sock' });
  });

  it('gives up within its timeout, on an oversized answer and on a reset', async () => {
    for (const m of ['hang', 'huge', 'reset'] as const) {
      mode = m;
      const t = Date.now();
      assert.equal(await source(300).identify(creds('100.64.0.7')), null, m);
      assert.ok(Date.now() - t < 2000, `${m}: settled in ${Date.now() - t}ms`);
    }
    mode = 'answer';
  });

  it('fails closed when the socket is not there', async () => {
    const s = new LocalApiWhoisSource({ ...RULES, localApiSocket: path.join(dir, 'missing.sock') }, { log: { warn: () => undefined } });
    assert.equal(await s.identify(creds('100.64.0.7')), null);
  });
});

describe('tailnet sources in the authenticator', () => {
  it('builds serve and whois sources from the config, never an open server', () => {
    assert.deepEqual(tailnetSources({ ...RULES, trustedProxies: [] }).map((s) => s.constructor.name), ['LocalApiWhoisSource']);
    assert.deepEqual(tailnetSources({ ...RULES, tags: {} }).map((s) => s.constructor.name), ['TailscaleServeSource']);
    assert.deepEqual(tailnetSources({ ...RULES, localApiSocket: '/x.sock' }).map((s) => s.constructor.name), ['TailscaleServeSource', 'LocalApiWhoisSource']);
    assert.deepEqual(tailnetSources({ trustedProxies: [], users: {}, tags: {} }).map((s) => s.constructor.name), ['LocalApiWhoisSource']);
    assert.throws(() => tailnetSources({ ...RULES, trustedProxies: ['127.0.0.1/8'] }), AuthSetupError);
  });

  it('decides writes and reads by tenant: a tag:billing node writes billing only and reads nothing', async () => {
    const { source } = stubbed({ '100.64.0.7': { status: 200, body: TAGGED }, '100.64.0.9': { status: 200, body: LAPTOP } });
    const auth = new Authenticator([source], null);
    const node = creds('100.64.0.7');
    assert.deepEqual((await resolveCaller(auth, node, WRITE_SPANS, undefined, 'single-tenant')).tenants, ['billing']);
    assert.deepEqual((await resolveCaller(auth, node, WRITE_SPANS, 'billing', 'single-tenant')).tenants, ['billing']);
    await assert.rejects(resolveCaller(auth, node, WRITE_SPANS, 'ops', 'single-tenant'), ForbiddenError);
    await assert.rejects(resolveCaller(auth, node, READ_SPANS, 'billing', 'single-tenant'), ForbiddenError);
    const laptop = creds('100.64.0.9');
    assert.deepEqual((await resolveCaller(auth, laptop, READ_SPANS, undefined, 'single-tenant')).tenants, ['billing']);
    await assert.rejects(resolveCaller(auth, laptop, WRITE_SPANS, 'billing', 'single-tenant'), ForbiddenError);
    await assert.rejects(resolveCaller(auth, creds('100.64.0.99'), WRITE_SPANS, undefined, 'single-tenant'), UnauthenticatedError);
  });
});
