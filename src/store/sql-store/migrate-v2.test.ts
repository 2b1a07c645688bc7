import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { idAt } from './migrate-v2.js';

describe('copying a version-2 store in bands of trace ids', () => {
  it('splits the id space into increasing bands that start at the bottom and cover it', () => {
    for (const bands of [1, 2, 3, 7, 100]) {
      const bounds = Array.from({ length: bands }, (_, b) => idAt(b, bands));
      assert.equal(bounds[0], null, 'the first band has no lower bound');
      for (let b = 2; b < bands; b++) assert.ok(Buffer.compare(bounds[b - 1]!, bounds[b]!) < 0, `band ${b} starts after band ${b - 1}`);
      if (bands > 1) assert.ok(bounds[bands - 1]!.readUInt16BE(0) < 0x10000);
    }
    assert.equal(idAt(1, 2)!.toString('hex'), '80000000000000000000000000000000');
  });
});
