import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, print, validate, filterRequest, TraceQLParseError, TraceQLUnsupportedError, TraceQLValidationError } from './index.js';
import { Evaluator } from './execute.js';

/**
 * The TraceQL front end against examples.json, in the shape of Tempo's test
 * examples: `valid` queries parse, validate, and print back to a query that
 * parses to the same tree; `parse_fails` and `validate_fails` fail with the
 * given message and a position.
 */

const here = path.dirname(fileURLToPath(import.meta.url));
const examples = JSON.parse(readFileSync(path.resolve(here, '../../../../src/query/traceql/examples.json'), 'utf8')) as {
  valid: string[];
  parse_fails: [string, string][];
  validate_fails: [string, string][];
  unsupported: string[];
};

/** The tree without positions, bigints as strings: what must survive printing. */
function shape(q: unknown): string {
  return JSON.stringify(q, (k, v) => (k === 'pos' ? undefined : typeof v === 'bigint' ? `${v}n` : v));
}

describe('TraceQL front end', () => {
  describe('valid', () => {
    for (const text of examples.valid) {
      it(text, () => {
        const q = validate(parse(text));
        const printed = print(q);
        const again = parse(printed);
        assert.equal(shape(again), shape(q), `re-parse of ${printed}`);
        assert.equal(print(again), printed);
      });
    }
  });

  describe('parse_fails', () => {
    for (const [text, message] of examples.parse_fails) {
      it(JSON.stringify(text), () => {
        assert.throws(
          () => parse(text),
          (e: Error) => e instanceof TraceQLParseError && e.message.includes(message) && /at line \d+, col \d+/.test(e.message),
          `expected a parse error containing ${JSON.stringify(message)}`,
        );
      });
    }
  });

  describe('validate_fails', () => {
    for (const [text, message] of examples.validate_fails) {
      it(text, () => {
        const q = parse(text);
        assert.throws(
          () => validate(q),
          (e: Error) => e instanceof TraceQLValidationError && e.message.includes(message) && /at line \d+, col \d+/.test(e.message),
          `expected a validation error containing ${JSON.stringify(message)}`,
        );
      });
    }
  });

  describe('unsupported (parses and validates; the planner refuses with 501)', () => {
    for (const text of examples.unsupported) {
      it(text, () => {
        const q = validate(parse(text));
        const range = { startNs: 0n, endNs: 1n };
        const [first, ...rest] = q.pipeline;
        assert.throws(
          () => {
            // What searchTraceQL would ask: the store's request for a lone
            // filter, or every filter, number and text an evaluation needs.
            if (rest.length === 0 && first.kind === 'filter') filterRequest(q);
            else new Evaluator(q, { range, limit: 1, spss: 1 });
          },
          (e: Error) => e instanceof TraceQLUnsupportedError && /at line \d+, col \d+/.test(e.message),
        );
      });
    }
  });

  it('reports positions on later lines', () => {
    assert.throws(() => parse('{\n  .a = 1 &&\n  foo = 2\n}'), (e: Error) => /line 3, col 3/.test(e.message));
  });

  it('keeps literal values exact', () => {
    const q = parse('{ .a = 9223372036854775807 && duration > 1.5s && .s = "a\\"b" && .f = .25 }');
    assert.match(shape(q), /"9223372036854775807n"/);
    assert.match(shape(q), /"1500000000n"/);
    const s = parse('{ .s = "a\\"b\\n" }').pipeline[0] as { expr: { right: { value: string } } };
    assert.equal(s.expr.right.value, 'a"b\n');
    assert.match(print(q), /duration > 1500ms/);
  });
});
