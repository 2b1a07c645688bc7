import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Re2, re2Problem } from './re2.js';

describe('mask patterns', () => {
  it('are RE2: checked at load, backtracking constructs refused', () => {
    assert.equal(re2Problem('ACCT-[0-9]+'), '');
    assert.match(re2Problem('(a'), /not a valid RE2 pattern/);
    assert.match(re2Problem('(?<=x)y'), /not a valid RE2 pattern/, 'no lookbehind');
    assert.match(re2Problem('(a)\\1'), /not a valid RE2 pattern/, 'no backreferences');
    assert.match(re2Problem('x*'), /matches the empty string/);
    assert.match(re2Problem(''), /empty pattern/);
  });
});

describe('Re2', () => {
  it('finds leftmost-first, non-overlapping matches as UTF-16 offsets', () => {
    const out: number[] = [];
    new Re2('[0-9]+').findAll('żółć 🙂 123 日本 45', out);
    assert.deepEqual(out, [8, 11, 15, 17]);
    const alt: number[] = [];
    new Re2('a|ab').findAll('ab', alt);
    assert.deepEqual(alt, [0, 1], 'the first alternative wins, as in RE2 and Go');
  });
});
