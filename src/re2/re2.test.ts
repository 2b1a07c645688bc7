import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Re2 } from './index.js';

describe('Re2', () => {
  it('finds leftmost-first, non-overlapping matches as UTF-16 offsets', () => {
    const out: number[] = [];
    new Re2('[0-9]+').findAll('żółć 🙂 123 日本 45', out);
    assert.deepEqual(out, [8, 11, 15, 17]);
    const alt: number[] = [];
    new Re2('a|ab').findAll('ab', alt);
    assert.deepEqual(alt, [0, 1], 'the first alternative wins, as in RE2 and Go');
  });

  it('refuses what RE2 refuses, with Go\'s reason', () => {
    for (const [pattern, reason] of [
      ['(?=a)', 'invalid or unsupported Perl syntax: `(?=`'],
      ['a(?!b)', 'invalid or unsupported Perl syntax: `(?!`'],
      ['(?<=a)b', 'invalid named capture'],
      ['(a)\\1', 'invalid escape sequence: `\\1`'],
      ['a{1001}', 'invalid repeat count'],
      ['a)|(b', 'unexpected )'],
      ['('.repeat(1001) + ')'.repeat(1001), 'expression nests too deeply'],
    ]) {
      assert.throws(() => new Re2(pattern), (e: Error) => e.message.includes(reason), pattern);
    }
  });

  it('matches whole values, with the anchoring its own and not the text around the pattern', () => {
    assert.equal(new Re2('a|ab').matchesWhole('ab'), true, 'any alternative that spans the value');
    assert.equal(new Re2('b').matchesWhole('abc'), false);
    assert.equal(new Re2('abc').matchesWhole('abc\n'), false, '$ is the very end, not before a final newline');
    assert.equal(new Re2('a.b').matchesWhole('a\nb'), false);
    assert.equal(new Re2('a.b', { dotAll: true }).matchesWhole('a\nb'), true);
    assert.equal(new Re2('.', { dotAll: true }).matchesWhole('🙂'), true, 'one code point, not two UTF-16 units');
  });

  it('answers a pattern that backtracking engines take exponential time on, on a long value', () => {
    // (a+)+ against a run of a's ending in b: JavaScript's RegExp doubles its
    // time per character; RE2 reads the value once.
    const re = new Re2('(a+)+', { dotAll: true });
    assert.equal(re.matchesWhole('a'.repeat(10_000) + 'b'), false);
    assert.equal(re.matchesWhole('a'.repeat(10_000)), true);
  });
});
