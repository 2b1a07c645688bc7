import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatRoute, parseRoute, DEFAULT_AUDIT, type AuditState } from './routes.js';
import { auditApiUrl, auditRows, auditTenants, canReadAudit, compactDetail, distinctValues, peerAddress, type AuditRecordJson } from './audit.js';
import { sessionFrom, type MeJson } from './session.js';

const me = (admin: string[], everyTenant: MeJson['everyTenant'] = [], viewer: string[] = admin): MeJson => ({
  name: 'ops',
  source: 'token',
  tenants: { viewer, ingester: [], admin },
  everyTenant,
});

function record(seq: number, time: number, extra: Partial<AuditRecordJson> = {}): AuditRecordJson {
  return {
    chain: 'c1',
    seq,
    time,
    prev: 'p',
    hash: 'h',
    identity: 'token:grafana',
    tenants: ['clinic-a'],
    remote: '::ffff:127.0.0.1',
    action: 'GET /api/search',
    detail: { q: '{ status = error }', limit: '20' },
    status: 200,
    results: 3,
    ...extra,
  };
}

describe('audit page: the URL', () => {
  it('round-trips every field, leaving the defaults (24h, 100) out', () => {
    assert.deepEqual(parseRoute('/audit', ''), { page: 'audit', state: DEFAULT_AUDIT });
    assert.equal(formatRoute({ page: 'audit', state: DEFAULT_AUDIT }), '/audit');
    const state: AuditState = { range: { preset: '7d' }, who: 'oidc:alice@clinic-a.example', route: 'GET /api/traces/:traceId', limit: 500 };
    const url = formatRoute({ page: 'audit', state });
    assert.equal(url, '/audit?range=7d&who=oidc%3Aalice%40clinic-a.example&route=GET+%2Fapi%2Ftraces%2F%3AtraceId&limit=500');
    const q = url.indexOf('?');
    assert.deepEqual(parseRoute(url.slice(0, q), url.slice(q)), { page: 'audit', state });
    // Absolute ranges too; a trailing slash is the same page.
    const abs: AuditState = { ...DEFAULT_AUDIT, range: { start: 1_700_000_000, end: 1_700_086_400 }, who: 'token:grafana' };
    assert.equal(formatRoute({ page: 'audit', state: abs }), '/audit?start=1700000000&end=1700086400&who=token%3Agrafana');
    assert.deepEqual(parseRoute('/audit/', '?start=1700000000&end=1700086400&who=token%3Agrafana'), { page: 'audit', state: abs });
  });

  it('takes its own presets (1h to 30d) and ignores what it cannot use', () => {
    const r = parseRoute('/audit', '?range=30d');
    assert.deepEqual(r.page === 'audit' && r.state.range, { preset: '30d' });
    // 5m is a search preset, not an audit one; limits past the API's 10,000 are dropped.
    const bad = parseRoute('/audit', '?range=5m&limit=20000&who=%20%20&route=');
    assert.deepEqual(bad, { page: 'audit', state: DEFAULT_AUDIT });
    // And the audit presets do not leak into search.
    const search = parseRoute('/search', '?range=30d');
    assert.deepEqual(search.page === 'search' && search.state.range, { preset: '1h' });
    assert.equal(formatRoute({ page: 'audit', state: { ...DEFAULT_AUDIT, range: { preset: '1h' } } }), '/audit?range=1h');
  });

  it('asks the API for the resolved range, the limit, and only the filters that are set', () => {
    const now = 1_700_000_000_500;
    assert.equal(auditApiUrl(DEFAULT_AUDIT, now), '/api/sightline/audit?start=1699913601&end=1700000001&limit=100');
    assert.equal(
      auditApiUrl({ range: { preset: '1h' }, who: 'token:grafana', route: 'GET /api/search', limit: 500 }, now),
      '/api/sightline/audit?start=1699996401&end=1700000001&limit=500&identity=token%3Agrafana&action=GET+%2Fapi%2Fsearch',
    );
    assert.equal(auditApiUrl({ ...DEFAULT_AUDIT, range: { start: 10, end: 20 } }, now), '/api/sightline/audit?start=10&end=20&limit=100');
  });
});

describe('audit page: who may read it, and which tenants', () => {
  it('is offered to admins of a named tenant or of every tenant, and to nobody unknown', () => {
    assert.equal(canReadAudit(me(['clinic-a'])), true);
    assert.equal(canReadAudit(me([], ['admin'], [])), true);
    assert.equal(canReadAudit(me([], ['viewer'], ['clinic-a'])), false);
    assert.equal(canReadAudit(undefined), false);
  });

  it('reads every named tenant the user administers, whatever tenant is picked for traces', () => {
    assert.equal(auditTenants(me(['clinic-b', 'clinic-a', 'clinic-b'], [], ['clinic-a', 'clinic-b', 'clinic-c'])), 'clinic-a|clinic-b');
    assert.equal(auditTenants(me(['clinic-a'])), 'clinic-a');
    assert.equal(auditTenants(me([], ['admin'], [])), undefined, 'an admin of every tenant: the usual choice');
    assert.equal(auditTenants(undefined), undefined);
  });

  it('keeps who the server takes the browser for when there is no login (open mode)', () => {
    const ops = me(['default']);
    assert.deepEqual(sessionFrom({ oidc: false }, ops, null), { status: 'open', me: ops });
    assert.deepEqual(sessionFrom({ oidc: false }, null, null), { status: 'open' });
    assert.deepEqual(sessionFrom(undefined, undefined, null), { status: 'open' });
  });
});

describe('audit page: rows', () => {
  it('orders newest first (by time, then by place in a chain) and shows each field', () => {
    const json = {
      records: [
        record(2, 1000, { results: -1, action: 'GET /api/sightline/audit', identity: 'token:ops', detail: {} }),
        record(5, 3000, { action: 'GET /api/traces/:traceId', detail: { traceId: 'ab'.repeat(16) }, status: 404, results: 0 }),
        record(4, 3000),
        { chain: 'c2', seq: 1, time: 2000, identity: 'oidc:alice@clinic-a.example', tenants: ['clinic-a', 'clinic-b'], remote: '10.0.4.7', action: 'GET /api/search', detail: { tags: ['a', 'b'] }, status: 200, results: 1 },
        { nonsense: true },
      ],
    };
    const rows = auditRows(json);
    assert.deepEqual(
      rows.map((r) => [r.key, r.time]),
      [
        ['c1:5', 3000],
        ['c1:4', 3000],
        ['c2:1', 2000],
        ['c1:2', 1000],
      ],
    );
    assert.deepEqual(rows[0], {
      key: 'c1:5',
      time: 3000,
      identity: 'token:grafana',
      tenants: ['clinic-a'],
      peer: '127.0.0.1',
      route: 'GET /api/traces/:traceId',
      detail: `traceId=${'ab'.repeat(16)}`,
      detailFull: `traceId=${'ab'.repeat(16)}`,
      status: 404,
      results: 0,
    });
    assert.equal(rows[2].detail, 'tags=a,b');
    assert.equal(rows[2].peer, '10.0.4.7');
    assert.equal(rows[3].results, null, '-1: the route does not count');
    assert.equal(rows[3].detail, '');
    assert.deepEqual(auditRows({}), []);
    assert.deepEqual(auditRows(null), []);
  });

  it('says what was asked compactly: parameters in order, whitespace folded, long values cut', () => {
    const q = `{ span.patient.id = "P-1" &&\n   duration > 200ms && resource.service.name = "frontdesk" }`;
    const text = compactDetail({ q, limit: '20', spss: 3, exact: true });
    assert.equal(text, 'q={ span.patient.id = "P-1" && duration > 200ms &…  limit=20  spss=3  exact=true');
    assert.equal(compactDetail({}), '');
    assert.equal(peerAddress('::1'), '::1');
    assert.equal(peerAddress('::FFFF:192.168.0.9'), '192.168.0.9');
  });

  it('suggests each identity and route once, sorted, keeping what was seen before', () => {
    const rows = auditRows({ records: [record(1, 1), record(2, 2, { identity: 'token:nurse' }), record(3, 3)] });
    assert.deepEqual(
      distinctValues(rows, (r) => r.identity, ['oidc:bob']),
      ['oidc:bob', 'token:grafana', 'token:nurse'],
    );
    assert.deepEqual(
      distinctValues(rows, (r) => r.route),
      ['GET /api/search'],
    );
  });
});
