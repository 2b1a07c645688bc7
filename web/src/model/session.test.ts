import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { afterUnauthorized, canSignOut, chooseTenant, loginHref, parseAuthConfig, parseMe, sessionFrom, viewerTenants, type MeJson } from './session.js';

const me = (viewer: string[], source = 'oidc'): MeJson => ({ name: 'alice@clinic.example', source, tenants: { viewer, ingester: [], admin: [] }, everyTenant: [] });

describe('session', () => {
  it('comes back to the page it left, encoded', () => {
    assert.equal(loginHref('/search', '?q=%7B%20%7D&range=6h'), '/auth/login?redirect=%2Fsearch%3Fq%3D%257B%2520%257D%26range%3D6h');
    assert.equal(loginHref('/', ''), '/auth/login?redirect=%2F');
  });

  it('reads /auth/config and /auth/me, and nothing that only looks like them', () => {
    assert.deepEqual(parseAuthConfig({ oidc: true }), { oidc: true });
    assert.equal(parseAuthConfig({ oidc: 'yes' }), undefined);
    assert.equal(parseAuthConfig(null), undefined);
    assert.deepEqual(parseMe({ name: 'a', source: 'oidc', tenants: { viewer: ['x', 3], admin: ['y'] }, everyTenant: ['viewer', 'root'] }), {
      name: 'a',
      source: 'oidc',
      tenants: { viewer: ['x'], ingester: [], admin: ['y'] },
      everyTenant: ['viewer'],
    });
    assert.equal(parseMe({ name: 'a' }), undefined);
    assert.equal(parseMe('a'), undefined);
  });

  it('names a tenant only when there is a choice, keeping the stored one while it is held', () => {
    assert.equal(chooseTenant(me(['clinic-a']), 'clinic-b'), undefined);
    assert.equal(chooseTenant(me([]), null), undefined);
    assert.equal(chooseTenant(undefined, 'clinic-a'), undefined);
    assert.equal(chooseTenant(me(['clinic-b', 'clinic-a']), null), 'clinic-a');
    assert.equal(chooseTenant(me(['clinic-b', 'clinic-a']), 'clinic-b'), 'clinic-b');
    assert.equal(chooseTenant(me(['clinic-b', 'clinic-a']), 'clinic-z'), 'clinic-a', 'a tenant no longer held is not sent');
    assert.deepEqual(viewerTenants(me(['b', 'a', 'b'])), ['a', 'b']);
  });

  it('is open without OIDC, signed out on 401, and a 401 later ends a session but not an open UI', () => {
    assert.deepEqual(sessionFrom(undefined, undefined, null), { status: 'open' });
    assert.deepEqual(sessionFrom({ oidc: false }, null, null), { status: 'open' });
    assert.deepEqual(sessionFrom({ oidc: true }, null, null), { status: 'signed-out' });
    assert.deepEqual(sessionFrom({ oidc: true }, me(['a', 'b']), 'b'), { status: 'signed-in', me: me(['a', 'b']), tenant: 'b' });
    assert.deepEqual(sessionFrom({ oidc: true }, undefined, null), { status: 'signed-in', me: undefined, tenant: undefined });
    assert.deepEqual(afterUnauthorized({ status: 'open' }), { status: 'open' });
    assert.deepEqual(afterUnauthorized({ status: 'signed-in', me: me(['a']) }), { status: 'signed-out' });
    assert.deepEqual(afterUnauthorized({ status: 'checking' }), { status: 'checking' });
  });

  it('offers Sign out only for a login session', () => {
    assert.equal(canSignOut(me(['a'])), true);
    assert.equal(canSignOut(me(['a'], 'tailnet-user')), false);
    assert.equal(canSignOut(undefined), false);
  });
});
