import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { attributeCondition, attributeLabel, durationBandQuery, exampleQuery, operationCondition, traceqlDuration } from './compare.js';
import { formatRoute, parseRoute } from './routes.js';
import { scatterLayout, type SearchRow } from './search-results.js';

describe('compare: from rows to TraceQL', () => {
  it('writes the condition of an attribute row for each scope and type', () => {
    assert.equal(attributeCondition({ scope: 'span', key: 'feature.flag', value: 'new-pricing', type: 'string' }), 'span.feature.flag = "new-pricing"');
    assert.equal(attributeCondition({ scope: 'resource', key: 'k8s.pod count', value: '3', type: 'int' }), 'resource."k8s.pod count" = 3');
    assert.equal(attributeCondition({ scope: 'intrinsic', key: 'status', value: 'error', type: 'string' }), 'status = error');
    assert.equal(attributeCondition({ scope: 'intrinsic', key: 'name', value: 'GET "x"', type: 'string' }), 'name = "GET \\"x\\""');
    assert.equal(attributeCondition({ scope: 'span', key: 'cache.hit', value: 'false', type: 'bool' }), 'span.cache.hit = false');
    assert.equal(attributeLabel({ scope: 'intrinsic', key: 'kind', value: 'client' }), 'kind = client');
  });

  it('finds example traces of a group with the row', () => {
    const cond = operationCondition('payments', 'charge card');
    assert.equal(cond, 'resource.service.name = "payments" && name = "charge card"');
    assert.equal(exampleQuery('{ traceDuration > 300ms }', cond), `{ traceDuration > 300ms } && { ${cond} }`);
    assert.equal(exampleQuery('  ', cond), `{ ${cond} }`);
    assert.equal(exampleQuery(undefined, cond), `{ ${cond} }`);
  });

  it('turns a band brushed on the latency chart into a selection', () => {
    assert.equal(traceqlDuration(312.46), '312.5ms');
    assert.equal(traceqlDuration(1500), '1.5s');
    assert.equal(traceqlDuration(0.25), '250us');
    assert.equal(durationBandQuery(300, 2500), '{ traceDuration >= 300ms && traceDuration <= 2.5s }');
  });

  it('inverts the scatter y scale, linear and log', () => {
    const rows = [10, 100, 1000].map((d, i) => ({ traceId: String(i), durationMs: d, startMs: i * 1000 }) as SearchRow);
    for (const log of [false, true]) {
      const l = scatterLayout(rows, { startMs: 0, endMs: 3000 }, 300, 100, log);
      for (const p of l.points) assert.ok(Math.abs(l.durationAt(p.y) - p.row.durationMs) < 1e-6 * p.row.durationMs + 1e-9, `log=${log} ${p.row.durationMs}`);
    }
  });

  it('keeps the comparison in the URL', () => {
    const r = parseRoute('/compare', '?q=%7B+traceDuration+%3E+300ms+%7D&baseline=%7B+%7D&range=6h');
    assert.deepEqual(r, { page: 'compare', state: { q: '{ traceDuration > 300ms }', baseline: '{ }', range: { preset: '6h' } } });
    assert.equal(formatRoute(r), '/compare?q=%7B+traceDuration+%3E+300ms+%7D&baseline=%7B+%7D&range=6h');
    assert.equal(formatRoute({ page: 'compare', state: { q: '', baseline: '', range: { preset: '1h' } } }), '/compare');
  });
});
