import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { hkdfSync, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { EncryptJWT, exportJWK, generateKeyPair } from 'jose';
import pino from 'pino';
import Provider, { type ProviderContext } from 'oidc-provider';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startSightline, eventually, tempDir, REPO_ROOT, type Sightline } from '../testkit/sightline.js';
import { createToken } from '../src/auth/tokens.js';
import { nowNs, postOtlp, request, requestJson, span } from '../testkit/fixtures.js';
import { identityName, OidcLogin, oidcGrants, safeRedirectPath } from '../src/auth/oidc.js';

/**
 * OIDC login of the web UI on real parts: oidc-provider as the OpenID
 * Provider (on its own loopback address, so its cookies and Sightline's
 * are apart and the callback is a cross-site navigation, as in life), a
 * confidential client with PKCE required, and a login form of our own that
 * checks a name and password. Sightline runs as the CLI with a --config
 * mapping the provider's groups to viewer roles per tenant; Debian's
 * chromium signs in through the provider's form and reads traces.
 */

const CHROMIUM = '/usr/bin/chromium';
const CLIENT_ID = 'sightline';
const CLIENT_SECRET = randomBytes(24).toString('base64url');

interface User {
  password: string;
  email: string;
  groups: string[];
}
const USERS: Record<string, User> = {
  alice: { password: 'alice-pw', email: 'alice@clinic-a.example', groups: ['clinic-a-viewers'] },
  bob: { password: 'bob-pw', email: 'bob@clinic-b.example', groups: ['clinic-b-viewers'] },
  carol: { password: 'carol-pw', email: 'carol@clinics.example', groups: ['clinic-a-viewers', 'clinic-b-viewers'] },
  mallory: { password: 'mallory-pw', email: 'mallory@elsewhere.example', groups: ['visitors'] },
};

const TRACE_A = randomBytes(16).toString('hex');
const TRACE_B = randomBytes(16).toString('hex');
const SESSION_KEY = randomBytes(48);

async function freePort(host: string): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve, reject) => srv.once('error', reject).listen(0, host, resolve));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** 127.0.0.2 where the system routes it (Linux), else 127.0.0.1. */
async function providerHost(): Promise<string> {
  try {
    await freePort('127.0.0.2');
    return '127.0.0.2';
  } catch {
    return '127.0.0.1';
  }
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginForm(uid: string, error?: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Clinic sign-in</title></head><body>
<h1>Clinic identity provider</h1>${error ? `<p role="alert">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login">
<label>User <input name="login" autocomplete="username" autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button></form></body></html>`;
}

async function readBody(req: http.IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) body += chunk;
  return body;
}

interface Idp {
  issuer: string;
  server: http.Server;
  /** Requests to the userinfo endpoint so far (the ID token carries no groups: they come from there). */
  userinfoCalls: number;
  close(): Promise<void>;
}

/** oidc-provider with the client Sightline is registered as, four users, and a login form that checks passwords. */
async function startProvider(host: string, redirectUri: string): Promise<Idp> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: 'test', alg: 'RS256', use: 'sig' };
  let handle: (req: http.IncomingMessage, res: http.ServerResponse) => void = (_req, res) => res.writeHead(503).end();
  const server = http.createServer((req, res) => handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const issuer = `http://${host}:${(server.address() as AddressInfo).port}`;

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        redirect_uris: [redirectUri],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    pkce: { required: () => true },
    ttl: { Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 600, AuthorizationCode: 60 },
    jwks: { keys: [jwk] },
    cookies: { keys: [randomBytes(16).toString('hex')] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['preferred_username', 'name'], groups: ['groups'] },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    async findAccount(_ctx: unknown, sub: string) {
      const user = USERS[sub];
      if (!user) return undefined;
      return { accountId: sub, claims: async () => ({ sub, email: user.email, email_verified: true, preferred_username: sub, name: sub, groups: user.groups }) };
    },
    // A first-party client: no consent screen.
    async loadExistingGrant(ctx: ProviderContext) {
      const { client, session, result, provider: p } = ctx.oidc;
      const grantId = result?.consent?.grantId ?? session.grantIdFor(client.clientId);
      if (grantId) return p.Grant.find(grantId);
      const grant = new p.Grant({ clientId: client.clientId, accountId: session.accountId });
      grant.addOIDCScope('openid email profile groups');
      await grant.save();
      return grant;
    },
  });
  const callback = provider.callback();
  const idp: Idp = {
    issuer,
    server,
    userinfoCalls: 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  handle = (req, res) => {
    if (req.url?.startsWith('/me')) idp.userinfoCalls++;
    const m = /^\/interaction\/([^/?]+)(\/login)?(?:\?.*)?$/.exec(req.url ?? '');
    if (!m) return callback(req, res);
    void (async () => {
      try {
        const details = await provider.interactionDetails(req, res);
        if (details.prompt.name !== 'login') throw new Error(`unexpected prompt ${details.prompt.name}`);
        if (req.method === 'GET' && !m[2]) return void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(loginForm(details.uid));
        if (req.method !== 'POST' || !m[2]) return void res.writeHead(405).end();
        const form = new URLSearchParams(await readBody(req));
        const login = form.get('login') ?? '';
        if (!Object.hasOwn(USERS, login) || USERS[login].password !== form.get('password'))
          return void res.writeHead(401, { 'content-type': 'text/html; charset=utf-8' }).end(loginForm(details.uid, 'Wrong user name or password'));
        await provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
      } catch (e) {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' }).end(String(e));
      }
    })();
  };
  return idp;
}

/** One span, as OTLP/HTTP JSON, into `tenant` with the ingester token. */
async function ingest(s: Sightline, token: string, tenant: string, service: string, traceId: string): Promise<void> {
  const end = nowNs();
  const body = requestJson(request([span({ traceId: Buffer.from(traceId, 'hex'), name: 'GET /patients', startNs: end - 12_000_000n, endNs: end })], service));
  const r = await postOtlp(s.otlpHttp, body, { authorization: `Bearer ${token}`, 'x-scope-orgid': tenant });
  assert.equal(r.status, 200, r.body.toString());
}

/** A fetch made by the page itself (its cookies, its origin). */
async function pageFetch(page: Page, url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return page.evaluate(
    async ({ url, headers }) => {
      const r = await fetch(url, { headers });
      return { status: r.status, body: await r.text() };
    },
    { url, headers },
  );
}

describe('OIDC login: pure parts', () => {
  it('accepts only same-origin paths as the place to return to', () => {
    for (const ok of ['/', '/search?q=%7B%20%7D&range=6h', '/trace/abc#x', '/search?q=a\\b', '/%0a']) assert.equal(safeRedirectPath(ok), ok, ok);
    assert.equal(safeRedirectPath(undefined), '/');
    assert.equal(safeRedirectPath('/auth/logout'), '/', 'not back into the login routes');
    for (const bad of ['//evil.example', '/\\evil.example', 'https://evil.example/', 'evil', '/\tx', '/x\n', ' /x']) assert.equal(safeRedirectPath(bad), null, bad);
  });

  it('maps groups, claim=value and users to grants; unverified emails match nothing', () => {
    const settings = {
      groupsClaim: 'realm_access.roles',
      groups: {
        'clinic-a-viewers': { roles: ['viewer' as const], tenants: ['clinic-a'] },
        'hd=clinic-b.example': { roles: ['viewer' as const], tenants: ['clinic-b'] },
        ops: { roles: ['admin' as const], tenants: ['*'] },
      },
      users: { 'Dana@Clinic.example': { roles: ['viewer' as const, 'ingester' as const], tenants: ['clinic-c'] } },
    };
    assert.deepEqual(oidcGrants({ realm_access: { roles: ['clinic-a-viewers', 'x'] }, hd: 'clinic-b.example' }, settings), {
      grants: [
        { role: 'viewer', tenant: 'clinic-a' },
        { role: 'viewer', tenant: 'clinic-b' },
      ],
      rules: ['group:clinic-a-viewers', 'group:hd=clinic-b.example'],
    });
    assert.deepEqual(oidcGrants({ realm_access: { roles: ['ops'] } }, settings).grants, [{ role: 'admin', tenant: '*' }]);
    assert.deepEqual(oidcGrants({ email: 'dana@clinic.example' }, settings).rules, ['user:Dana@Clinic.example']);
    assert.deepEqual(oidcGrants({ email: 'dana@clinic.example', email_verified: false }, settings), { grants: [], rules: [] });
    assert.deepEqual(oidcGrants({ groups: ['clinic-a-viewers'] }, settings), { grants: [], rules: [] }, 'only the configured claim counts');
    assert.equal(identityName({ sub: 's1', email: 'A@B.example', preferred_username: 'a' }), 'a@b.example');
    assert.equal(identityName({ sub: 's1', email: 'a@b.example', email_verified: false, preferred_username: 'a' }), 'a');
    assert.equal(identityName({ sub: 's1' }), 's1');
  });
});

describe('OIDC login in chromium', { timeout: 240_000 }, () => {
  const dir = tempDir('sightline-oidc-');
  let idp: Idp;
  let s: Sightline;
  let browser: Browser;
  let ctx: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];
  let configFile: string;

  before(async () => {
    if (!existsSync(CHROMIUM)) execFileSync(process.execPath, [path.join(REPO_ROOT, 'scripts', 'chromium.mjs')], { stdio: 'inherit' });
    const httpPort = await freePort('127.0.0.1');
    const redirectUrl = `http://127.0.0.1:${httpPort}/auth/callback`;
    idp = await startProvider(await providerHost(), redirectUrl);
    writeFileSync(path.join(dir, 'client-secret'), `${CLIENT_SECRET}\n`, { mode: 0o600 });
    writeFileSync(path.join(dir, 'session.key'), SESSION_KEY, { mode: 0o600 });
    const collector = createToken('collector', ['ingester'], ['clinic-a', 'clinic-b']);
    configFile = path.join(dir, 'sightline.yaml');
    writeFileSync(
      configFile,
      `tokens:
  - name: ${collector.entry.name}
    id: ${collector.entry.id}
    hash: ${collector.entry.hash}
    roles: [ingester]
    tenants: [clinic-a, clinic-b]
oidc:
  issuer: ${idp.issuer}
  clientId: ${CLIENT_ID}
  clientSecretFile: client-secret
  redirectUrl: ${redirectUrl}
  scopes: [openid, profile, email, groups]
  groupsClaim: groups
  session: 1h
  sessionKeyFile: session.key
  groups:
    clinic-a-viewers: { roles: [viewer], tenants: [clinic-a] }
    clinic-b-viewers: { roles: [viewer], tenants: [clinic-b] }
`,
    );
    // The later --http-port wins over startSightline's ephemeral one: the provider knows this redirect URI already.
    s = await startSightline({ dataDir: path.join(dir, 'data'), args: ['--config', configFile, '--http-port', String(httpPort), '--flush-interval', '200ms'] });
    await ingest(s, collector.token, 'clinic-a', 'clinic-a-frontdesk', TRACE_A);
    await ingest(s, collector.token, 'clinic-b', 'clinic-b-frontdesk', TRACE_B);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'], timeout: 60_000 });
    ctx = await browser.newContext();
    ctx.setDefaultTimeout(20_000);
    page = await ctx.newPage();
    page.on('pageerror', (e) => pageErrors.push(String(e)));
  });

  after(async () => {
    await browser?.close();
    await s?.stop();
    await idp?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Through the provider's own form, from Sightline's sign-in screen. */
  async function signIn(p: Page, user: string, startPath = '/search'): Promise<void> {
    await p.goto(`${s.api}${startPath}`);
    await p.locator('[data-testid=sign-in]').click();
    await p.waitForURL((u) => u.href.startsWith(idp.issuer));
    await p.locator('input[name=login]').fill(user);
    await p.locator('input[name=password]').fill(USERS[user].password);
    await p.locator('button[type=submit]').click();
  }

  const sessionCookie = async (c: BrowserContext) => (await c.cookies(s.api)).find((k) => k.name === 'sightline-session');

  it('says login is configured; without a session the API answers 401 and the UI offers to sign in', async () => {
    assert.deepEqual(await (await fetch(`${s.api}/auth/config`)).json(), { oidc: true });
    assert.equal((await fetch(`${s.api}/auth/me`)).status, 401);
    assert.equal((await fetch(`${s.api}/api/search`)).status, 401);
    await page.goto(`${s.api}/search`);
    await page.locator('[data-testid=sign-in-screen]').waitFor();
    assert.equal(await page.locator('[data-testid=sign-in]').getAttribute('href'), '/auth/login?redirect=%2Fsearch');
  });

  it('refuses to send anyone back to another origin after login', async () => {
    for (const bad of ['//evil.example/', 'https://evil.example/', '/\\evil.example']) {
      const r = await fetch(`${s.api}/auth/login?redirect=${encodeURIComponent(bad)}`, { redirect: 'manual' });
      assert.equal(r.status, 400, bad);
      assert.equal(r.headers.get('set-cookie'), null);
      // The page's own policy (inline style only), not the app's.
      assert.match(r.headers.get('content-security-policy') ?? '', /^default-src 'none'; style-src 'unsafe-inline'/);
    }
  });

  it('signs alice in through the provider: the search page lists clinic-a only', async () => {
    await signIn(page, 'alice');
    await page.waitForURL(`${s.api}/search`);
    assert.equal(await page.locator('[data-testid=user-name]').innerText(), 'alice@clinic-a.example');
    assert.equal(idp.userinfoCalls, 1, 'groups read from userinfo');
    assert.equal(await page.locator('[data-testid=tenant-picker]').count(), 0, 'one tenant: nothing to pick');
    // Flushed within the 200 ms interval; wait until the search answers it, then load the page again.
    await eventually(async () => ((await pageFetch(page, '/api/search')).body.includes(TRACE_A) ? true : undefined), 40_000, 'clinic-a trace to be searchable');
    await page.reload();
    await page.locator(`[data-testid=results] tr[data-trace-id="${TRACE_A}"]`).waitFor();
    assert.equal(await page.locator(`[data-testid=results] tr[data-trace-id="${TRACE_B}"]`).count(), 0);
    const table = await page.locator('[data-testid=results]').innerText();
    assert.match(table, /clinic-a-frontdesk/);
    assert.doesNotMatch(table, /clinic-b-frontdesk/);
  });

  it('keeps the session in an HttpOnly, SameSite=Lax cookie, and the login cookie is gone', async () => {
    const cookies = await ctx.cookies(s.api);
    const session = cookies.find((c) => c.name === 'sightline-session');
    assert.ok(session, `cookies: ${cookies.map((c) => c.name).join(', ')}`);
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Lax');
    assert.equal(session.path, '/');
    assert.equal(session.secure, false, 'plain http redirect URL: not Secure');
    assert.ok(session.expires > Date.now() / 1000 + 3000 && session.expires < Date.now() / 1000 + 3700, 'expires with the 1h session');
    assert.equal(cookies.find((c) => c.name === 'sightline-login'), undefined);
    assert.equal(await page.evaluate('document.cookie.includes("sightline-session")'), false, 'not readable by scripts');
  });

  it("answers the page's API calls for clinic-a only, and refuses clinic-b (403)", async () => {
    const me = await pageFetch(page, '/auth/me');
    assert.equal(me.status, 200);
    assert.deepEqual(JSON.parse(me.body), { name: 'alice@clinic-a.example', source: 'oidc', tenants: { viewer: ['clinic-a'], ingester: [], admin: [] }, everyTenant: [] });
    const search = await pageFetch(page, '/api/search?limit=100');
    assert.equal(search.status, 200);
    assert.ok(search.body.includes(TRACE_A));
    assert.ok(!search.body.includes(TRACE_B));
    assert.equal((await pageFetch(page, '/api/search', { 'X-Scope-OrgID': 'clinic-b' })).status, 403);
    assert.equal((await pageFetch(page, '/api/search', { 'X-Scope-OrgID': 'clinic-a|clinic-b' })).status, 403);
    assert.equal((await pageFetch(page, `/api/v2/traces/${TRACE_B}`)).status, 404);
    // Nor the audit trail: viewer only.
    assert.equal((await pageFetch(page, '/api/sightline/audit')).status, 403);
  });

  it('does not accept a tampered or foreign session cookie (401, as with none)', async () => {
    const genuine = (await sessionCookie(ctx))!.value;
    const call = (cookie: string) => fetch(`${s.api}/api/search`, { headers: { cookie: `sightline-session=${cookie}` } }).then((r) => r.status);
    assert.equal(await call(genuine), 200);
    const parts = genuine.split('.');
    assert.equal(parts.length, 5, 'a compact JWE');
    const flip = (p: string) => p.slice(0, 3) + (p[3] === 'A' ? 'B' : 'A') + p.slice(4);
    for (const i of [0, 2, 3, 4]) {
      const tampered = parts.map((p, j) => (j === i ? flip(p) : p)).join('.');
      assert.equal(await call(tampered), 401, `part ${i} changed`);
    }
    assert.equal(await call('not-a-jwe'), 401);
    // Sent because another origin made the browser send it: not signed in.
    const from = (headers: Record<string, string>) => fetch(`${s.api}/api/search`, { headers: { cookie: `sightline-session=${genuine}`, ...headers } }).then((r) => r.status);
    assert.equal(await from({ 'sec-fetch-site': 'same-site' }), 401);
    assert.equal(await from({ 'sec-fetch-site': 'cross-site' }), 401);
    assert.equal(await from({ origin: 'http://127.0.0.1:1' }), 401);
    assert.equal(await from({ 'sec-fetch-site': 'same-origin', origin: s.api }), 200);
    assert.equal((await fetch(`${s.api}/auth/me`, { headers: { cookie: `sightline-session=${parts.slice(0, 4).join('.')}.${parts[4].slice(2)}` } })).status, 401);
  });

  it('honours a session only until it expires, and only the grants of rules still configured', async () => {
    // Sessions minted here with the key file Sightline was given, as it mints them.
    const key = new Uint8Array(hkdfSync('sha256', SESSION_KEY, 'sightline', 'sightline oidc session cookie', 32));
    const mint = (claims: { grants: [string, string][]; rules: string[] }, exp: number) =>
      new EncryptJWT(claims)
        .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
        .setSubject('dana@clinic-a.example')
        .setAudience(`sightline-session:${idp.issuer}:${CLIENT_ID}`)
        .setIssuedAt()
        .setExpirationTime(exp)
        .encrypt(key);
    const me = (cookie: string) => fetch(`${s.api}/auth/me`, { headers: { cookie: `sightline-session=${cookie}` } });
    const now = Math.floor(Date.now() / 1000);
    const viewerA = { grants: [['viewer', 'clinic-a']] as [string, string][], rules: ['group:clinic-a-viewers'] };
    const live = await me(await mint(viewerA, now + 600));
    assert.equal(live.status, 200, 'the minted session is a real one');
    assert.equal(((await live.json()) as { name: string }).name, 'dana@clinic-a.example');
    assert.equal((await me(await mint(viewerA, now - 5))).status, 401, 'expired');
    // Grants claimed without a rule that gives them, or from a rule no longer in the config: dropped.
    const claimed = await me(await mint({ grants: [['viewer', 'clinic-a'], ['admin', '*']], rules: ['group:clinic-a-viewers'] }, now + 600));
    assert.deepEqual(((await claimed.json()) as { tenants: unknown; everyTenant: unknown }).everyTenant, []);
    assert.equal((await me(await mint({ grants: [['admin', '*']], rules: ['group:sightline-admins'] }, now + 600))).status, 401);
  });

  it('drops what a removed rule gave on SIGHUP, without a restart or a new sign-in', async () => {
    const key = new Uint8Array(hkdfSync('sha256', SESSION_KEY, 'sightline', 'sightline oidc session cookie', 32));
    const session = await new EncryptJWT({ grants: [['viewer', 'clinic-a'], ['viewer', 'clinic-b']], rules: ['group:clinic-a-viewers', 'group:clinic-b-viewers'] })
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
      .setSubject('erin@clinics.example')
      .setAudience(`sightline-session:${idp.issuer}:${CLIENT_ID}`)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + 600)
      .encrypt(key);
    const tenantsNow = async () => {
      const r = await fetch(`${s.api}/auth/me`, { headers: { cookie: `sightline-session=${session}` } });
      return r.status === 200 ? ((await r.json()) as { tenants: { viewer: string[] } }).tenants.viewer : r.status;
    };
    const sighup = async (marker: RegExp) => {
      const seen = s.logs.length;
      process.kill(s.pid, 'SIGHUP');
      const deadline = Date.now() + 10_000;
      while (!s.logs.slice(seen).some((l) => marker.test(String(l.msg)))) {
        assert.ok(Date.now() < deadline, 'the server did not log the re-read');
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    assert.deepEqual(await tenantsNow(), ['clinic-a', 'clinic-b']);
    const original = readFileSync(configFile, 'utf8');
    try {
      writeFileSync(configFile, original.replace(/^    clinic-b-viewers: .*\n/m, ''));
      await sighup(/OIDC grant rules re-read/);
      assert.deepEqual(await tenantsNow(), ['clinic-a'], 'clinic-b is gone with its rule');
      writeFileSync(configFile, original.replace(/^    clinic-(a|b)-viewers: .*\n/gm, '').replace(/^  groups:\n/m, '  groups:\n    visitors: { roles: [viewer], tenants: [lobby] }\n'));
      await sighup(/OIDC grant rules re-read/);
      assert.equal(await tenantsNow(), 401, 'no rule left: no session');
    } finally {
      writeFileSync(configFile, original);
      await sighup(/OIDC grant rules re-read/);
    }
    assert.deepEqual(await tenantsNow(), ['clinic-a', 'clinic-b'], 'restored rules apply again');
  });

  it('marks cookies Secure (and the session __Host-) when the redirect URL is https', async () => {
    const login = await OidcLogin.start(
      {
        issuer: idp.issuer,
        clientId: CLIENT_ID,
        redirectUrl: 'https://sightline.clinic.example/auth/callback',
        scopes: ['openid'],
        groupsClaim: 'groups',
        groups: {},
        users: {},
        sessionMs: 3_600_000,
      },
      { log: pino({ level: 'silent' }) },
    );
    assert.equal(login.sessionCookie, '__Host-sightline-session');
    const start = await login.beginLogin('/search');
    assert.match(start.cookies[0], /^__Secure-sightline-login=[^;]+; Path=\/auth\/callback; Max-Age=600; HttpOnly; SameSite=Lax; Secure$/);
    const url = new URL(start.location);
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
    for (const p of ['code_challenge', 'state', 'nonce']) assert.ok(url.searchParams.get(p), p);
    assert.match(login.logout().cookies[0], /^__Host-sightline-session=; Path=\/; Max-Age=0; HttpOnly; SameSite=Lax; Secure$/);
  });

  it('does not start when the issuer cannot be reached, and says why', async () => {
    const closed = await freePort('127.0.0.1');
    const bad = path.join(dir, 'unreachable.yaml');
    writeFileSync(bad, `oidc:\n  issuer: http://127.0.0.1:${closed}\n  clientId: x\n  redirectUrl: http://127.0.0.1:1/auth/callback\n  groups:\n    g: { roles: [viewer], tenants: [a] }\n`);
    await assert.rejects(startSightline({ dataDir: path.join(dir, 'data-unreachable'), args: ['--config', bad], timeoutMs: 30_000 }), /cannot discover the OIDC issuer http:\/\/127\.0\.0\.1:\d+/);
  });

  it('signs out: the cookie is gone, the API answers 401, and the UI offers to sign in again', async () => {
    await page.goto(`${s.api}/search`);
    await page.locator('[data-testid=sign-out]').click();
    // To the provider's end_session_endpoint, which asks to confirm.
    await page.waitForURL((u) => u.href.startsWith(idp.issuer));
    assert.equal(await sessionCookie(ctx), undefined);
    assert.equal((await ctx.request.get(`${s.api}/api/search`)).status(), 401);
    assert.equal((await ctx.request.get(`${s.api}/auth/me`)).status(), 401);
    await page.locator('button[value=yes]').click();
    await page.waitForLoadState();
    await page.goto(`${s.api}/search`);
    await page.locator('[data-testid=sign-in-screen]').waitFor();
  });

  it('lets a user of two clinics pick the tenant, sent as X-Scope-OrgID', async () => {
    const c = await browser.newContext();
    c.setDefaultTimeout(20_000);
    try {
      const p = await c.newPage();
      p.on('pageerror', (e) => pageErrors.push(String(e)));
      await signIn(p, 'carol');
      await p.waitForURL(`${s.api}/search`);
      const picker = p.locator('[data-testid=tenant-picker]');
      await picker.waitFor();
      assert.equal(await picker.inputValue(), 'clinic-a', 'the first, until one is chosen');
      await p.locator(`[data-testid=results] tr[data-trace-id="${TRACE_A}"]`).waitFor();
      // The Search page asks the native search (server-side order and totals).
      const asked = p.waitForRequest((r) => new URL(r.url()).pathname === '/api/sightline/search' && r.headers()['x-scope-orgid'] === 'clinic-b');
      await picker.selectOption('clinic-b');
      await asked;
      await p.locator(`[data-testid=results] tr[data-trace-id="${TRACE_B}"]`).waitFor();
      assert.equal(await p.locator(`[data-testid=results] tr[data-trace-id="${TRACE_A}"]`).count(), 0);
      // Kept for the next visit.
      await p.reload();
      await p.locator(`[data-testid=results] tr[data-trace-id="${TRACE_B}"]`).waitFor();
      assert.equal(await picker.inputValue(), 'clinic-b');
    } finally {
      await c.close();
    }
  });

  it('refuses a user whom no rule grants anything, with a page that says so and no session', async () => {
    const c = await browser.newContext();
    c.setDefaultTimeout(20_000);
    try {
      const p = await c.newPage();
      await signIn(p, 'mallory');
      const refusal = p.locator('[data-testid=auth-error]');
      await refusal.waitFor();
      assert.match(await refusal.innerText(), /No access to Sightline[\s\S]*mallory@elsewhere\.example/);
      assert.equal(await sessionCookie(c), undefined);
      assert.equal((await c.request.get(`${s.api}/auth/me`)).status(), 401);
    } finally {
      await c.close();
    }
  });

  it('threw no errors in the page', () => {
    assert.deepEqual(pageErrors, []);
  });
});
