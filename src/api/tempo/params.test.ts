import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidQueryError } from '../../errors.js';
import { parseGoDuration, parseLogfmtTags, parseRange, parseTraceId, traceIdToTempoHex } from './params.js';
import { parseScopeParam, parseTagIdentifier } from './tags.js';

const invalid = (fn: () => unknown, pattern: RegExp) =>
  assert.throws(fn, (e: Error) => e instanceof InvalidQueryError && pattern.test(e.message));

describe('Tempo parameters', () => {
  it('parses trace ids as Tempo does: any case, odd lengths, left padding', () => {
    assert.equal(parseTraceId('ABCDEF').toString('hex'), '00000000000000000000000000abcdef');
    assert.equal(parseTraceId('abc').toString('hex'), '00000000000000000000000000000abc');
    assert.equal(parseTraceId('1b1ba462b409200d').toString('hex'), '00000000000000001b1ba462b409200d');
    invalid(() => parseTraceId('12z4'), /invalid character 'z' at position 3/);
    invalid(() => parseTraceId('a'.repeat(33)), /can't be larger than 128 bits/);
    assert.equal(traceIdToTempoHex(Buffer.from('00000000000000001b1ba462b409200d', 'hex')), '1b1ba462b409200d');
  });

  it('parses Go durations', () => {
    assert.equal(parseGoDuration('1.5s'), 1_500_000_000n);
    assert.equal(parseGoDuration('200ms'), 200_000_000n);
    assert.equal(parseGoDuration('10us'), 10_000n);
    assert.equal(parseGoDuration('10µs'), 10_000n);
    assert.equal(parseGoDuration('1h2m3s'), 3_723_000_000_000n);
    assert.equal(parseGoDuration('0'), 0n);
    assert.equal(parseGoDuration('5'), undefined);
    assert.equal(parseGoDuration('fast'), undefined);
  });

  it('checks time ranges with Tempo messages', () => {
    const { range } = parseRange({ start: '100', end: '200' }, 3600);
    assert.deepEqual(range, { startNs: 100_000_000_000n, endNs: 200_000_000_000n });
    invalid(() => parseRange({ start: '200', end: '100' }, 3600), /start must be before end. received start=200 end=100/);
    invalid(() => parseRange({ start: 'x' }, 3600), /invalid start/);
    const fallback = parseRange({}, 60, 1_000_000);
    assert.equal(fallback.range.endNs - fallback.range.startNs, 60_000_000_000n);
  });

  it('parses logfmt tags', () => {
    assert.deepEqual(parseLogfmtTags('service.name=api  name="GET /x" flag'), [
      { key: 'service.name', value: 'api' },
      { key: 'name', value: 'GET /x' },
      { key: 'flag', value: '' },
    ]);
    assert.deepEqual(parseLogfmtTags('a="quote \\" inside"'), [{ key: 'a', value: 'quote " inside' }]);
    invalid(() => parseLogfmtTags('a=1 a=2'), /tag a has been set twice/);
    invalid(() => parseLogfmtTags('a="open'), /unterminated/);
  });

  it('parses TraceQL tag identifiers and scopes', () => {
    assert.deepEqual(parseTagIdentifier('span.http.method'), { kind: 'attribute', ref: { scope: 'span', name: 'http.method' } });
    assert.deepEqual(parseTagIdentifier('resource.service.name'), { kind: 'attribute', ref: { scope: 'resource', name: 'service.name' } });
    assert.deepEqual(parseTagIdentifier('.k'), { kind: 'attribute', ref: { scope: 'any', name: 'k' } });
    assert.deepEqual(parseTagIdentifier('span."with space"'), { kind: 'attribute', ref: { scope: 'span', name: 'with space' } });
    assert.equal(parseTagIdentifier('status').kind, 'intrinsic');
    invalid(() => parseTagIdentifier('app.user.id'), /not valid intrinsic or scoped attribute/);
    assert.deepEqual(parseScopeParam('span'), { scopes: ['span'], intrinsic: false });
    assert.equal(parseScopeParam(undefined).intrinsic, true);
    invalid(() => parseScopeParam('bogus'), /invalid scope: bogus/);
  });
});
