import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatRoute, normalizeTraceId, parseRoute, resolveRange, traceRoute, DEFAULT_SEARCH } from './routes.js';
import { navigate, rowPosition, scrollToRow, windowRows } from './navigation.js';
import { findSpans, parseTerms } from './find.js';
import { buildTrace, visibleRows } from './trace.js';
import { durationTicks, formatDuration, niceStep, timeTicks } from './format.js';
import { sid, tracePayload } from './fixtures.js';

describe('routes: view state in the URL', () => {
  it('reads and writes a search, leaving defaults out', () => {
    const url = '/search?q=%7B+status+%3D+error+%7D&range=15m&limit=50&order=slowest&refresh=30s';
    const r = parseRoute('/search', url.slice(url.indexOf('?')));
    assert.deepEqual(r, { page: 'search', state: { q: '{ status = error }', range: { preset: '15m' }, limit: 50, order: 'slowest', refresh: '30s' } });
    const odd = parseRoute('/search', '?order=fastest&refresh=5s&range=7d');
    assert.deepEqual(odd, { page: 'search', state: { ...DEFAULT_SEARCH, range: { preset: '7d' } } });
    assert.equal(formatRoute(r), url);
    assert.equal(formatRoute({ page: 'search', state: DEFAULT_SEARCH }), '/search');
    assert.deepEqual(parseRoute('/', ''), { page: 'search', state: DEFAULT_SEARCH });
  });

  it('keeps an absolute time range, and ignores one that ends before it starts', () => {
    const r = parseRoute('/search', '?start=1700000000&end=1700003600');
    assert.deepEqual(r.page === 'search' && r.state.range, { start: 1_700_000_000, end: 1_700_003_600 });
    assert.equal(formatRoute(r), '/search?start=1700000000&end=1700003600');
    const bad = parseRoute('/search', '?start=5&end=4&range=nope&limit=-3');
    assert.deepEqual(bad.page === 'search' && bad.state, DEFAULT_SEARCH);
    assert.deepEqual(resolveRange({ preset: '5m' }, 1_000_000_500), { start: 1_000_001 - 300, end: 1_000_001 });
  });

  it('reads and writes a trace view: selected span, find text, collapsed spans, zoom, times, critical path', () => {
    const r = parseRoute('/trace/0af7651916cd43dd8448eb211c80319c', `?span=${sid(10)}&find=db+error&collapsed=${sid(1)},${sid(2)},junk&zoom=0.25-0.5&times=raw&cp=off`);
    assert.deepEqual(r, {
      page: 'trace',
      state: { traceId: '0af7651916cd43dd8448eb211c80319c', span: sid(10), find: 'db error', collapsed: [sid(1), sid(2)], zoom: [0.25, 0.5], times: 'raw', criticalPath: false },
    });
    assert.equal(formatRoute(r), `/trace/0af7651916cd43dd8448eb211c80319c?span=${sid(10)}&find=db+error&collapsed=${sid(1)},${sid(2)}&zoom=0.25-0.5&times=raw&cp=off`);
    assert.equal(formatRoute(traceRoute('abc')), '/trace/abc');
    const noZoom = parseRoute('/trace/abc', '?zoom=0.5-0.5');
    assert.equal(noZoom.page === 'trace' && noZoom.state.zoom, undefined);
  });

  it('answers not-found for other paths, and normalizes trace ids', () => {
    assert.deepEqual(parseRoute('/nope', ''), { page: 'not-found', path: '/nope' });
    assert.equal(normalizeTraceId(' ABC '), '00000000000000000000000000000abc');
    assert.equal(normalizeTraceId('xyz'), undefined);
    assert.equal(normalizeTraceId('1'.repeat(33)), undefined);
  });
});

describe('keyboard navigation', () => {
  const m = buildTrace(
    tracePayload([
      { id: 1, start: 0, end: 100 },
      { id: 2, parent: 1, start: 10, end: 40 },
      { id: 3, parent: 2, start: 15, end: 20 },
      { id: 4, parent: 1, start: 50, end: 90 },
    ]),
  );
  const step = (selected: number, collapsed: number[], key: Parameters<typeof navigate>[3]) => {
    const set = new Set(collapsed);
    const next = navigate(m, visibleRows(m, set), { selected, collapsed: set }, key);
    return { selected: next.selected, collapsed: [...next.collapsed].sort() };
  };

  it('moves between visible rows, skipping collapsed subtrees', () => {
    assert.deepEqual(step(0, [], 'ArrowDown'), { selected: 1, collapsed: [] });
    assert.deepEqual(step(1, [1], 'ArrowDown'), { selected: 3, collapsed: [1] });
    assert.deepEqual(step(3, [], 'ArrowDown'), { selected: 3, collapsed: [] }, 'stays on the last row');
    assert.deepEqual(step(0, [], 'ArrowUp'), { selected: 0, collapsed: [] });
    assert.deepEqual(step(1, [], 'End'), { selected: 3, collapsed: [] });
  });

  it('right expands then enters; left collapses then climbs', () => {
    assert.deepEqual(step(1, [1], 'ArrowRight'), { selected: 1, collapsed: [] });
    assert.deepEqual(step(1, [], 'ArrowRight'), { selected: 2, collapsed: [] });
    assert.deepEqual(step(2, [], 'ArrowRight'), { selected: 2, collapsed: [] }, 'a leaf has nothing to expand');
    assert.deepEqual(step(1, [], 'ArrowLeft'), { selected: 1, collapsed: [1] });
    assert.deepEqual(step(1, [1], 'ArrowLeft'), { selected: 0, collapsed: [1] });
    assert.deepEqual(step(2, [], 'ArrowLeft'), { selected: 1, collapsed: [] });
  });

  it('windows rows for the scroll position, and scrolls just enough to show a row', () => {
    assert.deepEqual(windowRows(0, 240, 24, 10_000, 5), { first: 0, last: 15 });
    assert.deepEqual(windowRows(24_000, 240, 24, 10_000, 5), { first: 995, last: 1015 });
    assert.deepEqual(windowRows(239_900, 240, 24, 10_000, 5), { first: 9990, last: 10_000 });
    assert.equal(scrollToRow(100, 0, 240, 24), 100 * 24 + 24 - 240);
    assert.equal(scrollToRow(3, 24, 240, 24), undefined);
    assert.equal(scrollToRow(0, 24, 240, 24), 0);
    assert.equal(rowPosition(new Int32Array([0, 1, 5, 9]), 5), 2);
    assert.equal(rowPosition(new Int32Array([0, 1, 5, 9]), 4), -1);
  });
});

describe('find in trace', () => {
  const m = buildTrace(
    tracePayload([
      { id: 1, start: 0, end: 100, service: 'gateway', name: 'GET /cart', attributes: { 'http.status_code': 500 } },
      { id: 2, parent: 1, start: 10, end: 40, service: 'cart-db', name: 'SELECT cart', error: true, attributes: { 'db.system': 'postgresql' } },
      { id: 0xabcdef, parent: 1, start: 50, end: 90, service: 'gateway', name: 'render' },
    ]),
  );
  it('matches all terms across name, service, attributes and span id', () => {
    assert.deepEqual(findSpans(m, 'cart'), [0, 1]);
    assert.deepEqual(findSpans(m, 'gateway render'), [2]);
    assert.deepEqual(findSpans(m, 'db.system=postgres'), [1]);
    assert.deepEqual(findSpans(m, 'http.status_code=500'), [0]);
    assert.deepEqual(findSpans(m, 'status=error'), [1]);
    assert.deepEqual(findSpans(m, sid(0xabcdef).slice(0, 12)), [2]);
    assert.deepEqual(findSpans(m, '"GET /cart"'), [0]);
    assert.deepEqual(findSpans(m, '   '), []);
    assert.deepEqual(findSpans(m, 'nothing-like-this'), []);
    assert.deepEqual(parseTerms('a "b c" k=v'), [{ kind: 'text', text: 'a' }, { kind: 'text', text: 'b c' }, { kind: 'kv', key: 'k', value: 'v' }]);
  });
});

describe('formatting', () => {
  it('writes durations with three significant digits in a fitting unit', () => {
    assert.equal(formatDuration(0), '0 ns');
    assert.equal(formatDuration(999), '999 ns');
    assert.equal(formatDuration(1_234), '1.23 µs');
    assert.equal(formatDuration(12_345_678), '12.3 ms');
    assert.equal(formatDuration(612_000_000), '612 ms');
    assert.equal(formatDuration(1_500_000_000), '1.5 s');
    assert.equal(formatDuration(125_000_000_000), '2 min 5 s');
    assert.equal(formatDuration(3_600_000_000_000), '1 h');
    assert.equal(formatDuration(-2_000_000), '-2 ms');
    assert.equal(formatDuration(NaN), '—');
  });

  it('places ticks on 1-2-5 steps and clock-friendly times', () => {
    assert.equal(niceStep(3), 5);
    assert.equal(niceStep(0.15), 0.2);
    assert.deepEqual(durationTicks(612_000_000, 5), [0, 200_000_000, 400_000_000, 600_000_000]);
    const t = timeTicks(Date.UTC(2026, 0, 1, 10, 0, 7), Date.UTC(2026, 0, 1, 11, 0, 7), 6);
    assert.ok(t.length >= 4 && t.length <= 8);
    for (let k = 1; k < t.length; k++) assert.equal(t[k] - t[k - 1], 600_000);
    assert.equal(new Date(t[0]).getSeconds(), 0);
  });
});
