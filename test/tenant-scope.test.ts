import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidTenantError, TenantScope, tenantIdProblem, type ReadPorts } from '../src/store/index.js';

/**
 * Tenant scope by construction. The first half of this file is checked by
 * the compiler, not at run time: every `@ts-expect-error` line below must
 * fail to type-check, so `npm run build` (which type-checks test/) fails
 * the moment a read port accepts a call without a TenantScope, or a scope
 * can be made up without TenantScope.of().
 */
export function readsWithoutTenantDoNotCompile(store: ReadPorts, traceId: Buffer): void {
  const range = { startNs: 0n, endNs: 1n };
  // @ts-expect-error a trace read without its tenant scope
  void store.getTrace(traceId);
  // @ts-expect-error a search without its tenant scope
  void store.searchSpans({ where: { op: 'const', value: true }, shown: [], range, limit: 1, spss: 1 });
  // @ts-expect-error metrics without a tenant scope
  void store.metricsSeries({ range, stepNs: 1n, where: { op: 'const', value: true }, by: [], aggregates: [] });
  // @ts-expect-error tag names without a tenant scope
  void store.tagNames(['span'], range, 10);
  // @ts-expect-error the service map without a tenant scope
  void store.serviceGraph(range);
  // @ts-expect-error a scope is not an object literal that looks like one
  void store.getTrace({ tenants: ['acme'] }, traceId);
}

describe('tenant ids', () => {
  it('takes what Tempo takes in X-Scope-OrgID, and nothing else', () => {
    for (const ok of ['single-tenant', 'acme', 'A.b_c-d', "o'reilly(1)*!", 'x'.repeat(150)]) assert.equal(tenantIdProblem(ok), null, ok);
    for (const bad of ['', '.', '..', 'a|b', 'a b', 'a/b', 'ż', 'x'.repeat(151), "'; DROP TABLE spans_v3; --"]) assert.notEqual(tenantIdProblem(bad), null, bad);
  });

  it('builds scopes only from valid ids, de-duplicated', () => {
    assert.deepEqual(TenantScope.of(['a', 'b', 'a']).tenants, ['a', 'b']);
    assert.equal(TenantScope.of(['a']).single, 'a');
    assert.throws(() => TenantScope.of([]), InvalidTenantError);
    assert.throws(() => TenantScope.of(['a', 'b/c']), InvalidTenantError);
    assert.throws(() => TenantScope.of(['a', 'b']).single, InvalidTenantError);
  });
});
