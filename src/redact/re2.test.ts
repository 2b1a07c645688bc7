import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { re2Problem } from './re2.js';

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
