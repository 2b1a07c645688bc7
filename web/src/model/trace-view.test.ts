import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { clipValue, valueCondition, regexEscape, rangeForTrace, nameColumnWidth, nameColumnKey, NAME_COLUMN_MIN, TIMELINE_MIN } from './trace-view.js';
import { formatDuration, formatDurationExact } from './format.js';
import { tokenize } from './traceql-tokens.js';

describe('long values', () => {
  it('shows the first 300 characters and counts the rest', () => {
    const long = 'x'.repeat(11_000);
    assert.deepEqual(clipValue(long), { shown: 'x'.repeat(300), hidden: 10_700 });
    assert.deepEqual(clipValue('short'), { shown: 'short', hidden: 0 });
  });

  it('never cuts a character in half', () => {
    const text = `${'a'.repeat(299)}😀tail`;
    const { shown, hidden } = clipValue(text);
    assert.equal(shown, 'a'.repeat(299));
    assert.equal(shown.length + hidden, text.length);
  });
});

describe('a value as a TraceQL condition', () => {
  it('quotes and escapes strings, and leaves numbers and booleans bare', () => {
    assert.deepEqual(valueCondition('span', { key: 'order.id', type: 'string', text: 'ord "7" \\ x\nnext' }), { condition: 'span.order.id = "ord \\"7\\" \\\\ x\\nnext"', prefix: false });
    assert.deepEqual(valueCondition('resource', { key: 'cloud.region', type: 'string', text: 'eu-west' }), { condition: 'resource.cloud.region = "eu-west"', prefix: false });
    assert.equal(valueCondition('span', { key: 'http.status_code', type: 'int', text: '503' })?.condition, 'span.http.status_code = 503');
    assert.equal(valueCondition('span', { key: 'ratio', type: 'double', text: '0.25' })?.condition, 'span.ratio = 0.25');
    assert.equal(valueCondition('span', { key: 'cache.hit', type: 'bool', text: 'false' })?.condition, 'span.cache.hit = false');
  });

  it('quotes a key the lexer would end early', () => {
    assert.equal(valueCondition('span', { key: 'weird key=1', type: 'string', text: 'v' })?.condition, 'span."weird key=1" = "v"');
  });

  it('offers nothing TraceQL cannot compare', () => {
    for (const type of ['array', 'kvlist', 'bytes', 'empty'] as const) assert.equal(valueCondition('span', { key: 'k', type, text: '[1]' }), undefined);
    assert.equal(valueCondition('span', { key: 'k', type: 'double', text: 'NaN' }), undefined);
  });

  it('matches a value too long for a request line by its start, as an anchored regular expression', () => {
    const value = `SELECT * FROM t WHERE a = '(x)' ${'y'.repeat(11_000)}`;
    const c = valueCondition('span', { key: 'db.statement', type: 'string', text: value })!;
    assert.equal(c.prefix, true);
    assert.ok(c.condition.length < 600, `${c.condition.length} characters`);
    assert.ok(c.condition.startsWith('span.db.statement =~ "SELECT \\\\* FROM t WHERE a = \'\\\\(x\\\\)\' yyy'));
    assert.ok(c.condition.endsWith('.*"'));
    // The condition is one attribute, one operator and one well-formed string to the lexer.
    const kinds = tokenize(c.condition).filter((t) => t.kind !== 'space').map((t) => t.kind);
    assert.deepEqual(kinds, ['attribute', 'operator', 'string']);
    // The regular expression, unquoted, matches the value (TraceQL anchors it at both ends).
    const re = new RegExp(`^(?:${regexEscape(value.slice(0, 200))}.*)$`, 's');
    assert.ok(re.test(value));
  });
});

describe('the range links out of a trace carry', () => {
  const model = { startNs: 1_700_000_000_500_000_000n, durationNs: 2_000_000_000 };
  const now = 1_700_000_100_000;

  it('keeps the range the trace was opened from when it holds the trace', () => {
    assert.deepEqual(rangeForTrace(model, { preset: '15m' }, now), { preset: '15m' });
    assert.deepEqual(rangeForTrace(model, { start: 1_699_999_000, end: 1_700_000_100 }, now), { start: 1_699_999_000, end: 1_700_000_100 });
  });

  it('otherwise takes 15 minutes either side of the trace', () => {
    assert.deepEqual(rangeForTrace(model, undefined, now), { start: 1_700_000_000 - 900, end: 1_700_000_003 + 900 });
    assert.deepEqual(rangeForTrace(model, { preset: '5m' }, now + 3_600_000), { start: 1_699_999_100, end: 1_700_000_903 });
  });
});

describe('the name column', () => {
  it('defaults to 40% of the waterfall, at most 520 px, and keeps the timeline usable', () => {
    assert.equal(nameColumnWidth(undefined, 800), 320);
    assert.equal(nameColumnWidth(undefined, 2000), 520);
    assert.equal(nameColumnWidth(50, 800), NAME_COLUMN_MIN);
    assert.equal(nameColumnWidth(5000, 800), 800 - TIMELINE_MIN);
    assert.equal(nameColumnWidth(Infinity, 800), 800 - TIMELINE_MIN);
    assert.equal(nameColumnWidth(NaN, 800), 320);
  });

  it('moves by keyboard: arrows by 16 px, 64 with Shift, Home and End to the bounds', () => {
    assert.equal(nameColumnKey('ArrowRight', false, 300, 1000), 316);
    assert.equal(nameColumnKey('ArrowLeft', true, 300, 1000), 236);
    assert.equal(nameColumnKey('Home', false, 300, 1000), NAME_COLUMN_MIN);
    assert.equal(nameColumnKey('End', false, 300, 1000), 1000 - TIMELINE_MIN);
    assert.equal(nameColumnKey('Enter', false, 300, 1000), undefined);
  });
});

describe('durations', () => {
  it('cuts digits instead of rounding, so a 407.6 ms trace reads 407 ms everywhere, as search lists it', () => {
    assert.equal(formatDuration(407_603_145), '407 ms');
    assert.equal(formatDuration(Math.floor(407_603_145 / 1e6) * 1e6), '407 ms', 'search\u2019s whole milliseconds');
    assert.equal(formatDuration(12_379_000), '12.3 ms');
    assert.equal(formatDuration(290_000), '290 µs');
    assert.equal(formatDuration(1_999_999_999), '1.99 s');
    assert.equal(formatDuration(119_900_000_000), '1 min 59 s');
    assert.equal(formatDurationExact(407_603_145), '407.603 ms');
  });
});
