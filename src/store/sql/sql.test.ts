import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ident, join, literal, quoteString, sql, typeName } from './index.js';

describe('SQL builder', () => {
  it('escapes string literals for ClickHouse', () => {
    assert.equal(quoteString("o'brien"), "'o\\'brien'");
    assert.equal(quoteString('a\\b'), "'a\\\\b'");
    assert.equal(quoteString('line\nbreak\r\ttab\u0000nul\u0001'), "'line\\nbreak\\r\\ttab\\0nul\\x01'");
    assert.equal(quoteString("'; DROP TABLE spans; --"), "'\\'; DROP TABLE spans; --'");
    assert.equal(quoteString('żółć 🙂'), "'żółć 🙂'");
  });

  it('renders values by type and quotes identifiers', () => {
    const q = sql`SELECT ${ident('a`b')} FROM t WHERE x = ${"it's"} AND n IN (${[1, 2n, 'z']}) AND id = ${Buffer.from([0xab, 0x01])} AND f = ${1.5} AND b = ${true}`;
    assert.equal(q.text, "SELECT `a\\`b` FROM t WHERE x = 'it\\'s' AND n IN (1, 2, 'z') AND id = unhex('ab01') AND f = 1.5 AND b = 1");
    assert.equal(literal(NaN).text, 'nan');
    assert.equal(join([sql`a`, sql`b`], ' AND ').text, 'a AND b');
    assert.throws(() => join([sql`a`], "; DROP"), /unsafe/);
  });

  it('accepts only type names of our own grammar', () => {
    assert.equal(typeName('Array(LowCardinality(String))').text, 'Array(LowCardinality(String))');
    assert.throws(() => typeName('String; DROP TABLE x'), /unexpected column type/);
  });
});
