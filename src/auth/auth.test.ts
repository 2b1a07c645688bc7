import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createToken, TokenVerifier } from './tokens.js';
import { Authenticator, BadCredentialsError, TokenSource } from './authenticator.js';
import { chooseTenants, TenantChoiceError } from './tenancy.js';
import { buildAuthenticator, AuthSetupError, isLoopback } from './setup.js';
import { holds, type Identity } from './identity.js';
import { resolveCaller } from './resolve.js';
import { ForbiddenError, InvalidQueryError, UnauthenticatedError } from '../errors.js';
import { READ_SPANS, WRITE_SPANS } from './policy.js';

describe('tokens', () => {
  it('verifies a token by its id and salted hash, and nothing else', () => {
    const { token, entry } = createToken('collector', ['ingester'], ['acme']);
    assert.match(token, /^slt_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    // The secret is the last 43 characters: base64url, which can hold '_' itself,
    // so splitting on '_' could test a fragment of a few characters (CI saw one
    // turn up in the entry's hash by chance).
    assert.ok(!JSON.stringify(entry).includes(token.slice(-43)), 'the entry never holds the secret');
    const v = new TokenVerifier([entry]);
    assert.deepEqual(v.verify(token), { source: 'token', name: 'collector', grants: [{ role: 'ingester', tenant: 'acme' }] });
    const secret = token.slice(-43);
    const flipped = token.slice(0, -43) + (secret[0] === 'A' ? 'B' : 'A') + secret.slice(1);
    assert.equal(v.verify(flipped), null, 'a wrong secret');
    assert.equal(v.verify(token.replace(entry.id, '0'.repeat(16))), null, 'an unknown id');
    for (const bad of ['', 'slt_', token + 'x', `Bearer ${token}`, 'slt_zzzzzzzzzzzzzzzz_' + secret]) assert.equal(v.verify(bad), null, bad);
  });
});

describe('identifying callers', () => {
  const { token, entry } = createToken('grafana', ['viewer'], ['acme', 'lab']);
  const auth = new Authenticator([new TokenSource(new TokenVerifier([entry]))], null);

  it('takes Bearer tokens and Basic with the token as password', async () => {
    assert.equal((await auth.identify({ authorization: `Bearer ${token}`, headers: {} }))?.name, 'grafana');
    const basic = Buffer.from(`anyone:${token}`).toString('base64');
    assert.equal((await auth.identify({ authorization: `Basic ${basic}`, headers: {} }))?.name, 'grafana');
    assert.equal(await auth.identify({ headers: {} }), null);
  });

  it('refuses a bad credential instead of falling through to anonymous', async () => {
    const open = new Authenticator([new TokenSource(new TokenVerifier([entry]))], { source: 'anonymous', name: 'anonymous', grants: [{ role: 'admin', tenant: 'x' }] });
    await assert.rejects(open.identify({ authorization: 'Bearer slt_nope', headers: {} }), BadCredentialsError);
    await assert.rejects(open.identify({ authorization: 'Digest x', headers: {} }), /unsupported Authorization scheme/);
  });
});

describe('choosing tenants', () => {
  const viewer: Identity = { source: 'token', name: 'v', grants: [{ role: 'viewer', tenant: 'acme' }, { role: 'viewer', tenant: 'lab' }] };
  const one: Identity = { source: 'token', name: 'o', grants: [{ role: 'ingester', tenant: 'acme' }] };
  const admin: Identity = { source: 'token', name: 'a', grants: [{ role: 'admin', tenant: '*' }] };

  it('takes X-Scope-OrgID among the tenants held, one or several', () => {
    assert.deepEqual(chooseTenants(viewer, 'viewer', 'lab', 'single-tenant', { several: true }), ['lab']);
    assert.deepEqual(chooseTenants(viewer, 'viewer', 'acme|lab', 'single-tenant', { several: true }), ['acme', 'lab']);
    assert.throws(() => chooseTenants(viewer, 'viewer', 'acme|other', 'single-tenant', { several: true }), (e: Error) => e instanceof TenantChoiceError && e.forbidden);
    assert.throws(() => chooseTenants(viewer, 'viewer', 'acme|lab', 'single-tenant', { several: false }), (e: Error) => e instanceof TenantChoiceError && !e.forbidden);
    assert.throws(() => chooseTenants(viewer, 'ingester', 'acme', 'single-tenant', { several: false }), (e: Error) => e instanceof TenantChoiceError && e.forbidden);
    assert.deepEqual(chooseTenants(admin, 'viewer', 'anything', 'd', { several: true }), ['anything'], 'admin includes viewing, in every tenant');
  });

  it('without the header, takes the only tenant held, else asks for one', () => {
    assert.deepEqual(chooseTenants(one, 'ingester', undefined, 'single-tenant', { several: false }), ['acme']);
    assert.throws(() => chooseTenants(viewer, 'viewer', undefined, 'single-tenant', { several: true }), /name one in X-Scope-OrgID/);
    assert.deepEqual(chooseTenants(admin, 'admin', undefined, 'd', { several: false }), ['d']);
    assert.ok(holds(admin, 'viewer', 'z'));
  });

  it('maps each refusal to 401, 403 or 400', async () => {
    const { token, entry } = createToken('c', ['ingester'], ['acme']);
    const auth = new Authenticator([new TokenSource(new TokenVerifier([entry]))], null);
    const creds = { authorization: `Bearer ${token}`, headers: {} };
    assert.deepEqual((await resolveCaller(auth, creds, WRITE_SPANS, undefined, 'd')).tenants, ['acme']);
    await assert.rejects(resolveCaller(auth, { headers: {} }, WRITE_SPANS, undefined, 'd'), UnauthenticatedError);
    await assert.rejects(resolveCaller(auth, creds, READ_SPANS, undefined, 'd'), ForbiddenError);
    await assert.rejects(resolveCaller(auth, creds, WRITE_SPANS, 'other', 'd'), ForbiddenError);
    await assert.rejects(resolveCaller(auth, creds, WRITE_SPANS, '*', 'd'), InvalidQueryError);
  });
});

describe('secure by default', () => {
  it('runs open only on loopback, or when told to', () => {
    assert.ok(isLoopback('127.0.0.1') && isLoopback('127.8.9.1') && isLoopback('::1') && isLoopback('localhost'));
    assert.ok(!isLoopback('0.0.0.0') && !isLoopback('10.0.0.1') && !isLoopback('::'));
    assert.equal(buildAuthenticator({ tokens: [], defaultTenant: 'd', listen: '127.0.0.1', insecureNoAuth: false }).enforcing, false);
    assert.throws(() => buildAuthenticator({ tokens: [], defaultTenant: 'd', listen: '0.0.0.0', insecureNoAuth: false }), (e: Error) => e instanceof AuthSetupError && /--config/.test(e.message) && /--insecure-no-auth/.test(e.message));
    assert.equal(buildAuthenticator({ tokens: [], defaultTenant: 'd', listen: '0.0.0.0', insecureNoAuth: true }).enforcing, false);
    const { entry } = createToken('t', ['viewer'], ['d']);
    assert.equal(buildAuthenticator({ tokens: [entry], defaultTenant: 'd', listen: '0.0.0.0', insecureNoAuth: false }).enforcing, true);
  });

  it('gives the open mode\'s anonymous operator every role in the default tenant only', async () => {
    const open = buildAuthenticator({ tokens: [], defaultTenant: 'd', listen: '127.0.0.1', insecureNoAuth: false });
    const id = await open.identify({ headers: {} });
    assert.ok(id && holds(id, 'admin', 'd') && holds(id, 'ingester', 'd') && !holds(id, 'viewer', 'other'));
    // X-Scope-OrgID is ignored without authentication, as in Tempo's single-tenant mode.
    assert.deepEqual((await resolveCaller(open, { headers: {} }, READ_SPANS, 'other', 'd')).tenants, ['d']);
  });
});
