import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { idBound } from './diagnosis.js';

describe('sampling bound', () => {
  it('puts the given fraction of the id space below it', () => {
    assert.equal(idBound(0.5).toString('hex'), '80000000000000000000000000000000');
    assert.equal(idBound(0.25).toString('hex'), '40000000000000000000000000000000');
    assert.equal(idBound(1).toString('hex'), 'ffffffffffffffff0000000000000000');
  });
});
