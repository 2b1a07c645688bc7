import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Glob } from './glob.js';

describe('key globs', () => {
  it('match with * anywhere, literally otherwise', () => {
    const g = (glob: string, key: string) => new Glob(glob).matches(key);
    assert.ok(g('patient.id', 'patient.id'));
    assert.ok(!g('patient.id', 'patient.idx'));
    assert.ok(g('http.request.header.*', 'http.request.header.authorization'));
    assert.ok(!g('http.request.header.*', 'http.response.header.x'));
    assert.ok(g('*.ssn', 'patient.ssn'));
    assert.ok(g('*ssn*', 'ssn'));
    assert.ok(g('a*b*c', 'abc'));
    assert.ok(g('a*b*c', 'a-b-b-c'));
    assert.ok(!g('a*b*c', 'a-c-b'));
    assert.ok(!g('a*a', 'a'), 'the pieces may not overlap');
    assert.ok(g('*', 'anything'));
    assert.ok(!g('Patient.*', 'patient.id'), 'case-sensitive');
  });
});
