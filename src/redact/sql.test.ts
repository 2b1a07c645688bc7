import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { normalizeSql } from './sql.js';

describe('normalizeSql', () => {
  const cases: [string, string][] = [
    ["SELECT * FROM patients WHERE ssn = '123-45-6789'", 'SELECT * FROM patients WHERE ssn = ?'],
    ['SELECT * FROM t WHERE age > 40 AND score < -1.5e3', 'SELECT * FROM t WHERE age > ? AND score < -?'],
    ["INSERT INTO t (a, b) VALUES ('x', 42), ('y', 0x1F)", 'INSERT INTO t (a, b) VALUES (?, ?), (?, ?)'],
    // Doubled quote and backslash escapes stay inside the literal.
    ["SELECT 'O''Brien', 'it\\'s secret' FROM t", 'SELECT ?, ? FROM t'],
    // A quote inside a comment opens nothing; comments go (free text).
    ["SELECT a -- don't 'leak'\nFROM t WHERE b = 'x'", 'SELECT a  \nFROM t WHERE b = ?'],
    ["SELECT /* patient 'Jane Doe' 555 */ a FROM t", 'SELECT   a FROM t'],
    ['SELECT /* outer /* inner */ still comment */ 1', 'SELECT   ?'],
    ['SELECT a FROM t # mysql comment 123', 'SELECT a FROM t  '],
    // Digits inside names are names.
    ['SELECT col1, t2.c3 FROM table9', 'SELECT col1, t2.c3 FROM table9'],
    // Parameters and keywords stay.
    ['SELECT * FROM t WHERE a = $1 AND b = ? AND c = :name AND d = @p1 AND e IS NULL AND f = TRUE', 'SELECT * FROM t WHERE a = $1 AND b = ? AND c = :name AND d = @p1 AND e IS NULL AND f = TRUE'],
    // PostgreSQL dollar quotes, typed and prefixed strings.
    ["SELECT $$John's$$, $tag$a $$ b$tag$, E'x\\n', N'y', X'FF', U&'d\\0061t'", 'SELECT ?, ?, ?, ?, ?, ?'],
    // Double quotes: names where they read as names, else literals (MySQL strings).
    ['SELECT "public"."Patient"."id" FROM "Patient" WHERE "Patient"."mrn" = "MRN-001"', 'SELECT "public"."Patient"."id" FROM "Patient" WHERE "Patient"."mrn" = ?'],
    ['SELECT x AS "alias" FROM t WHERE name = "Jane"', 'SELECT x AS "alias" FROM t WHERE name = ?'],
    ['SELECT `weird col` FROM `t1` WHERE id=7', 'SELECT `weird col` FROM `t1` WHERE id=?'],
    // Unterminated: everything to the end goes.
    ["SELECT * FROM t WHERE a = 'never closed AND ssn = 123", 'SELECT * FROM t WHERE a = ?'],
    ['SELECT 1 /* never closed 123', 'SELECT ?  '],
    ['SELECT .5, 1., 12abc', 'SELECT ?, ?, ?'],
    ['SET patient:123 "Jane"', 'SET patient:? ?'],
    ['', ''],
    ['SELECT 1', 'SELECT ?'],
  ];
  for (const [input, want] of cases) {
    it(JSON.stringify(input), () => assert.equal(normalizeSql(input), want));
  }

  it('returns the same string when there is nothing to replace', () => {
    const s = 'SELECT a FROM t WHERE b = $1';
    assert.equal(normalizeSql(s), s);
  });

  it('never lets a planted string or number literal through, whatever surrounds it', () => {
    const secret = fc.stringMatching(/^[A-Za-z]{6,12}$/).map((s) => `Zq${s}`);
    const noise = fc.stringMatching(/^[ -~\n]{0,30}$/);
    fc.assert(
      fc.property(noise, secret, noise, fc.constantFrom("'", '$$', "E'"), (before, planted, after, quote) => {
        const close = quote === '$$' ? '$$' : "'";
        // The statement up to the literal is closed: strip what could open a
        // string or comment before it, as a real statement would have none.
        const prefix = before.replace(/['"`$#]|--|\/\*/g, ' ');
        const sql = `${prefix} WHERE a = ${quote}${planted}${close} ${after}`;
        assert.ok(!normalizeSql(sql).includes(planted), sql);
      }),
      { numRuns: 500 },
    );
  });

  it('takes time linear in the input, even for adversarial text', () => {
    const time = (s: string) => {
      const t0 = process.hrtime.bigint();
      normalizeSql(s);
      return Number(process.hrtime.bigint() - t0);
    };
    for (const unit of ["'", '/*', '"a" ', '$a', '1e', 'x.', '-- \n', '\\']) {
      // Large enough that a few microseconds of timer noise do not count.
      const small = unit.repeat(100_000);
      const big = unit.repeat(1_000_000);
      // Best of five: a timer tick or a collection must not decide. Linear
      // is about 10x; quadratic would be about 100x.
      const best = (s: string) => Math.min(...Array.from({ length: 5 }, () => time(s)));
      const a = Math.max(best(small), 1);
      const b = best(big);
      assert.ok(b < a * 40, `${JSON.stringify(unit)}: 10x the input took ${(b / a).toFixed(1)}x the time`);
    }
  });
});
