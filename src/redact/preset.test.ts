import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { healthcareMasks, type HealthcarePart } from './preset.js';
import { CardFinder, luhnValid } from './finders.js';

/** Runs the preset's masks in order, as a MaskChain does. */
function mask(text: string, mrn: string[] = [], except: HealthcarePart[] = []): string {
  let out = text;
  for (const m of healthcareMasks(mrn, except)) {
    const ranges: number[] = [];
    m.finder.find(out, ranges);
    let next = '';
    let from = 0;
    for (let i = 0; i < ranges.length; i += 2) {
      next += out.slice(from, ranges[i]) + m.replacement;
      from = ranges[i + 1];
    }
    out = next + out.slice(from);
  }
  return out;
}

describe('healthcare preset', () => {
  it('masks US social security numbers, not longer digit runs', () => {
    assert.equal(mask('ssn 123-45-6789 on file'), 'ssn [REDACTED:ssn] on file');
    assert.equal(mask('ssn=123 45 6789'), 'ssn=[REDACTED:ssn]');
    assert.equal(mask('patient_ssn:078-05-1120.'), 'patient_ssn:[REDACTED:ssn].');
    assert.equal(mask('order 91234-45-67890'), 'order 91234-45-67890');
  });

  it('masks email addresses', () => {
    assert.equal(mask('contact jane.o\'doe+clinic@mail.example.org now'), 'contact [REDACTED:email] now');
    assert.equal(mask('a@b.co,c.d@e-f.example'), '[REDACTED:email],[REDACTED:email]');
    assert.equal(mask('no at sign here.example.org'), 'no at sign here.example.org');
  });

  it('masks phone numbers in common formats', () => {
    for (const phone of ['(555) 123-4567', '555-123-4567', '555.123.4567', '+1 555 123 4567', '1-555-123-4567', '+44 20 7946 0958', '+15551234567'])
      assert.equal(mask(`call ${phone} today`), 'call [REDACTED:phone] today', phone);
    assert.equal(mask('build 555-123-45678'), 'build 555-123-45678', 'part of a longer run');
    assert.equal(mask('version 10.1.200.1'), 'version 10.1.200.1');
  });

  it('masks card numbers only when their Luhn checksum holds', () => {
    assert.equal(mask('card 4111 1111 1111 1111 exp'), 'card [REDACTED:card] exp');
    assert.equal(mask('card 4111-1111-1111-1111'), 'card [REDACTED:card]');
    assert.equal(mask('card 4111111111111111'), 'card [REDACTED:card]');
    assert.equal(mask('amex 378282246310005'), 'amex [REDACTED:card]');
    // One digit off: not a card.
    assert.equal(mask('order 4111111111111112'), 'order 4111111111111112');
    // A card followed by more digit groups (an expiry) is still found.
    assert.equal(mask('4111 1111 1111 1111 2030'), '[REDACTED:card] 2030');
    // Inside one longer unseparated run it is not a card number.
    assert.equal(mask('id 94111111111111111'), 'id 94111111111111111');
  });

  it('checks Luhn as the card networks do', () => {
    const valid = ['79927398713', '4111111111111111', '5500005555555559', '6011111111111117', '3530111333300000'];
    for (const v of valid) assert.ok(luhnValid(v, 0, v.length), v);
    for (const v of ['79927398710', '4111111111111112', '1234567812345678']) assert.ok(!luhnValid(v, 0, v.length), v);
    assert.ok(luhnValid('4111 1111-1111 1111', 0, 19), 'separators are skipped');
  });

  it('masks dates in common formats', () => {
    const dates = ['1980-01-31', '1980/1/31', '01/31/1980', '31.01.1980', '1-31-80', '01/31/80', 'Jan 31, 1980', 'January 31st 1980', '31 Jan 1980', 'jan. 5, 1999', '5th March 2001'];
    for (const d of dates) assert.equal(mask(`dob ${d}.`), 'dob [REDACTED:dob].', d);
    assert.equal(mask('at 2026-12-02T10:11:12Z'), 'at [REDACTED:dob]T10:11:12Z', 'any date: a value cannot say whose');
    assert.equal(mask('1980-13-45'), '1980-13-45', 'not a calendar date');
    assert.equal(mask('dob 1980-01-31', [], ['dateOfBirth']), 'dob 1980-01-31', 'a part left out');
  });

  it('masks configured MRN patterns first', () => {
    assert.equal(mask('MRN-0012345 and MRN-12', ['MRN-[0-9]{6,10}']), '[REDACTED:mrn] and MRN-12');
    assert.equal(mask('chart A1234567 / mrn:778899', ['A[0-9]{7}', '(?i)mrn:[0-9]+']), 'chart [REDACTED:mrn] / [REDACTED:mrn]');
    assert.equal(mask('MRN-0012345'), 'MRN-0012345', 'no patterns, no MRN part');
  });

  it('never lets a planted identifier through, whatever surrounds it', () => {
    const digits = (n: number) => fc.array(fc.integer({ min: 0, max: 9 }), { minLength: n, maxLength: n }).map((d) => d.join(''));
    const ssn = fc.tuple(digits(3), digits(2), digits(4)).map(([a, b, c]) => `${a}-${b}-${c}`);
    const email = fc.tuple(fc.stringMatching(/^[a-z][a-z0-9.]{0,10}[a-z0-9]$/), fc.stringMatching(/^[a-z]{2,8}$/)).map(([u, d]) => `${u}@${d}.example.com`);
    const card = digits(15).map((body) => {
      // Append the Luhn check digit.
      for (let c = 0; c < 10; c++) if (luhnValid(body + c, 0, 16)) return `${body.slice(0, 4)} ${body.slice(4, 8)} ${body.slice(8, 12)} ${body.slice(12)}${c}`;
      throw new Error('unreachable');
    });
    const mrn = digits(8).map((d) => `MRN-${d}`);
    // Surroundings that do not glue digits onto the value (which would make it another number).
    const side = fc.stringMatching(/^[A-Za-z ,;:=()\[\]{}"'/_.!?-]{0,20}$/).map((s) => s.replace(/[.-]$/, ' '));
    fc.assert(
      fc.property(side, fc.oneof(ssn, email, card, mrn), side, (before, planted, after) => {
        const text = `${before} ${planted} ${after}`;
        const out = mask(text, ['MRN-[0-9]{6,10}']);
        assert.ok(!out.includes(planted), `${JSON.stringify(text)} -> ${JSON.stringify(out)}`);
      }),
      { numRuns: 2000 },
    );
  });

  it('runs in time linear in the value, even for adversarial text', () => {
    const time = (s: string) => {
      const t0 = process.hrtime.bigint();
      mask(s, ['MRN-[0-9]{6,10}', '(a+)+b']);
      return Number(process.hrtime.bigint() - t0);
    };
    for (const unit of ['1', '1-', '1 ', 'a', 'a@', '+1 ', 'MRN-1', '(555) ', 'Jan 1, ']) {
      const small = unit.repeat(2_000);
      const big = unit.repeat(20_000);
      // Best of five: a timer tick or a collection must not decide. Linear
      // is about 10x; quadratic would be about 100x.
      const best = (s: string) => Math.min(...Array.from({ length: 5 }, () => time(s)));
      const a = Math.max(best(small), 1);
      const b = best(big);
      assert.ok(b < a * 40, `${JSON.stringify(unit)}: 10x the input took ${(b / a).toFixed(1)}x the time`);
    }
  });
});

describe('card finder', () => {
  it('gives the ranges of the card numbers in a value', () => {
    const out: number[] = [];
    new CardFinder().find('a 4111111111111111 b 5500-0055-5555-5559', out);
    assert.deepEqual(out, [2, 18, 21, 40]);
  });
});
