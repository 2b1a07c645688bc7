import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigFile, ConfigFileError } from './file.js';
import { parseDuration } from './index.js';

const parse = (text: string) => parseConfigFile(text, 'sightline.yaml', parseDuration);

describe('config file', () => {
  it('reads tenants, tokens, OIDC, tailnet and CORS', () => {
    const c = parse(`
defaultTenant: clinic-a
tenants:
  clinic-a: { retention: 30d }
  lab: { retention: 2h }
tokens:
  - name: collector
    id: 0123456789abcdef
    hash: sha256:AAAAAAAAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
    roles: [ingester]
    tenants: [clinic-a]
oidc:
  issuer: https://idp.example/realms/x
  clientId: sightline
  redirectUrl: https://sightline.example/auth/callback
  groups:
    clinicians: { roles: [viewer], tenants: [clinic-a] }
tailnet:
  trustedProxies: [127.0.0.1]
  tags:
    "tag:billing": { roles: [ingester], tenants: [billing] }
cors:
  origins: [https://app.example]
`);
    assert.equal(c.defaultTenant, 'clinic-a');
    assert.deepEqual([...c.tenantRetentionMs], [['clinic-a', 30 * 86400e3], ['lab', 2 * 3600e3]]);
    assert.deepEqual(c.tokens[0].roles, ['ingester']);
    assert.equal(c.oidc?.groupsClaim, 'groups');
    assert.deepEqual(c.oidc?.scopes, ['openid', 'profile', 'email']);
    assert.deepEqual(c.tailnet?.tags['tag:billing'], { roles: ['ingester'], tenants: ['billing'] });
    assert.deepEqual(c.corsOrigins, ['https://app.example']);
  });

  it('names the line and column of what is wrong', () => {
    const fails = (text: string, pattern: RegExp) => assert.throws(() => parse(text), (e: Error) => e instanceof ConfigFileError && pattern.test(e.message), text);
    fails('tokens:\n  - name: x\n    id: nothex\n', /^sightline\.yaml:3:9: a token id is 16 hex characters/);
    fails('tenantz: {}\n', /^sightline\.yaml:1:1: unknown key "tenantz"/);
    fails('tenants:\n  a/b: { retention: 1d }\n', /^sightline\.yaml:2:3: "a\/b" is not a tenant id/);
    fails('tenants:\n  a: { retention: 10m }\n', /sightline\.yaml:2:\d+: retention "10m" is not a duration of at least 1h/);
    fails('oidc:\n  issuer: ftp://x\n', /sightline\.yaml:2:11: issuer must be an http\(s\) URL/);
    fails('tokens:\n  - name: x\n    id: 0123456789abcdef\n    hash: secret-in-clear\n    roles: [viewer]\n    tenants: [a]\n', /4:11: a token hash is sha256:<salt>:<hash>/);
    fails('tokens:\n  - name: x\n    id: 0123456789abcdef\n    hash: sha256:AAAAAAAAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n    roles: [root]\n    tenants: [a]\n', /5:13: unknown role "root"/);
    fails('a: [\n', /^sightline\.yaml:\d+:\d+: /);
  });
});
