import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidQueryError } from '../../errors.js';
import { parseEpoch, parseJaegerTraceId, parseLimit, parseLookback, parseRfc3339, parseStringMap, parseTags } from './params.js';

describe('Jaeger parameters', () => {
  it('takes tags from tag=k:v and tags={json}, a later value of a key winning', () => {
    assert.deepEqual(parseTags(['http.url:http://x:80/a', 'error:true'], ['{"db.system":"pg","error":"false"}']), [
      ['http.url', 'http://x:80/a'],
      ['error', 'false'],
      ['db.system', 'pg'],
    ]);
    assert.throws(() => parseTags(['novalue'], []), /malformed 'tag' parameter, expecting key:value, received: novalue/);
    assert.throws(() => parseTags([], ['{"n":1}']), /malformed 'tags' parameter, cannot unmarshal JSON: cannot unmarshal number into Go value of type string/);
    assert.throws(() => parseTags([], ['[1]']), InvalidQueryError);
    assert.throws(() => parseTags([], ['{']), /malformed 'tags' parameter/);
    assert.deepEqual(parseStringMap('null', (d) => new Error(d)), {});
  });

  it('reads times in units since the epoch and refuses what is not an int64', () => {
    assert.equal(parseEpoch({ start: '1700000000123456' }, 'start', 1000n), 1_700_000_000_123_456_000n);
    assert.equal(parseEpoch({ start: '' }, 'start', 1000n), undefined);
    assert.throws(() => parseEpoch({ end: '17e5' }, 'end', 1000n), /unable to parse param 'end': strconv.ParseInt: parsing "17e5": invalid syntax/);
    assert.throws(() => parseEpoch({ end: '99999999999999999999' }, 'end', 1000n), /invalid syntax/);
  });

  it('takes Jaeger UI lookbacks, days and weeks included', () => {
    assert.equal(parseLookback({ lookback: '1h' }), 3_600_000_000_000n);
    assert.equal(parseLookback({ lookback: '2d' }), 2n * 86_400_000_000_000n);
    assert.equal(parseLookback({ lookback: '1w' }), 7n * 86_400_000_000_000n);
    assert.equal(parseLookback({ lookback: 'custom' }), undefined);
    assert.throws(() => parseLookback({ lookback: 'soon' }), /unable to parse param 'lookback'/);
  });

  it('reads a limit as a 32-bit int, 0 meaning the default, capped at the maximum', () => {
    const err = (d: string) => new InvalidQueryError(d);
    assert.equal(parseLimit(undefined, 'limit', 100, 1000, err), 100);
    assert.equal(parseLimit('0', 'limit', 100, 1000, err), 100);
    assert.equal(parseLimit('20', 'limit', 100, 1000, err), 20);
    assert.equal(parseLimit('5000', 'limit', 100, 1000, err), 1000);
    assert.throws(() => parseLimit('x', 'limit', 100, 1000, err), /strconv.ParseInt: parsing "x": invalid syntax/);
    assert.throws(() => parseLimit('3000000000', 'limit', 100, 1000, err), /value out of range/);
  });

  it('reads trace ids as TraceIDFromString: up to 32 hex digits, left-padded', () => {
    assert.equal(parseJaegerTraceId('8448eb211c80319c').toString('hex'), '00000000000000008448eb211c80319c');
    assert.equal(parseJaegerTraceId('ABC').toString('hex'), '00000000000000000000000000000abc');
    assert.throws(() => parseJaegerTraceId('0'.repeat(33)), /TraceID cannot be longer than 32 hex characters/);
    assert.throws(() => parseJaegerTraceId('xyz'), /strconv.ParseUint: parsing "xyz": invalid syntax/);
  });

  it('reads RFC 3339 times with a zone and up to nanoseconds, as Go does', () => {
    assert.equal(parseRfc3339('2023-11-14T22:13:20Z'), 1_700_000_000_000_000_000n);
    assert.equal(parseRfc3339('2023-11-14T22:13:20.123456789Z'), 1_700_000_000_123_456_789n);
    assert.equal(parseRfc3339('2023-11-14T23:13:20.5+01:00'), 1_700_000_000_500_000_000n);
    for (const bad of ['2023-11-14', '2023-11-14T22:13:20', '2023-02-30T00:00:00Z', '2023-11-14t22:13:20z', '1700000000']) assert.equal(parseRfc3339(bad), undefined, bad);
  });
});
