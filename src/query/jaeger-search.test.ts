import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Condition } from '../store/index.js';
import { jaegerSearchCondition, typedValues } from './jaeger-search.js';

const terms = (c: Condition) => (c.op === 'and' ? c.terms : [c]);

describe("Jaeger's search as a span condition", () => {
  it('reads tag text as each type whose printed form it is', () => {
    assert.deepEqual(typedValues('200'), [{ type: 'string', value: '200' }, { type: 'int', value: 200n }]);
    assert.deepEqual(typedValues('0.25'), [{ type: 'string', value: '0.25' }, { type: 'float', value: 0.25 }]);
    // Not a float's shortest form: Jaeger would print 0.250 as 0.25.
    assert.deepEqual(typedValues('0.250'), [{ type: 'string', value: '0.250' }]);
    assert.deepEqual(typedValues('true'), [{ type: 'string', value: 'true' }, { type: 'bool', value: true }]);
    assert.deepEqual(typedValues('99999999999999999999'), [{ type: 'string', value: '99999999999999999999' }]);
  });

  it('puts service, operation, every tag and the span duration bounds on one span', () => {
    const c = jaegerSearchCondition({ service: 'cart', operation: 'GET /cart', tags: [['error', 'true'], ['span.kind', 'client']], minNs: 5n, maxNs: 9n });
    const [service, operation, error, kind, min, max] = terms(c);
    assert.deepEqual(service, { op: 'compare', field: { kind: 'attribute', scope: 'resource', name: 'service.name' }, cmp: '=', value: { type: 'string', value: 'cart' } });
    assert.deepEqual(operation, { op: 'compare', field: { kind: 'intrinsic', name: 'name' }, cmp: '=', value: { type: 'string', value: 'GET /cart' } });
    assert.ok(error.op === 'or' && error.terms.some((t) => t.op === 'compare' && t.field.kind === 'intrinsic' && t.field.name === 'status' && t.value.type === 'status' && t.value.value === 'error'));
    assert.ok(error.op === 'or' && error.terms.some((t) => t.op === 'compare' && t.field.kind === 'attribute' && t.field.scope === 'event' && t.value.type === 'bool'));
    assert.ok(kind.op === 'or' && kind.terms.some((t) => t.op === 'compare' && t.field.kind === 'intrinsic' && t.field.name === 'kind' && t.value.value === 'client'));
    assert.deepEqual(min, { op: 'compare', field: { kind: 'intrinsic', name: 'duration' }, cmp: '>=', value: { type: 'duration', value: 5n } });
    assert.deepEqual(max, { op: 'compare', field: { kind: 'intrinsic', name: 'duration' }, cmp: '<=', value: { type: 'duration', value: 9n } });
  });

  it('matches an unknown span kind or status text only as an attribute', () => {
    const [kind] = terms(jaegerSearchCondition({ tags: [['span.kind', 'sideways']] }));
    assert.ok(kind.op === 'or' && kind.terms.every((t) => t.op === 'compare' && t.field.kind === 'attribute'));
  });
});
