import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { SightlineError } from '../../errors.js';
import { TenantScope, type EvalSpan, type MetricsRow, type SearchPort, type Value } from '../../store/index.js';
import { compileRoot, parse, print, validate, filterRequest, queryMetrics, TraceQLParseError, TraceQLUnsupportedError, TraceQLValidationError, type MetricsStore, type Series } from './index.js';
import type { MathExpr, Query, Root, SpansetOp } from './ast.js';

/** A query that is not metrics arithmetic, parsed. */
function parseQuery(text: string): Query {
  const root = parse(text);
  if (root.kind !== 'query') throw new Error(`not a query: ${text}`);
  return root;
}
import { Evaluator, SpanTree, relate, searchTraceQL } from './execute.js';
import { MAX_SERIES, topk } from './metrics.js';
import { PARSE_LIMITS } from './parser.js';
import { compareValues } from './residual.js';

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
        const q = validate(parseQuery(text));
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
    const s = parseQuery('{ .s = "a\\"b\\n" }').pipeline[0] as { expr: { right: { value: string } } };
    assert.equal(s.expr.right.value, 'a"b\n');
    assert.match(print(q), /duration > 1500ms/);
  });
});

/** A fast-check seed: FC_SEED to replay a failure, printed with every run. */
function seed(t: { diagnostic(message: string): void }): number {
  const value = process.env.FC_SEED ? Number(process.env.FC_SEED) : Date.now() % 2 ** 31;
  t.diagnostic(`fast-check seed ${value} (replay with FC_SEED=${value})`);
  return value;
}

const tempo = JSON.parse(readFileSync(path.resolve(here, '../../../../src/query/traceql/tempo-examples.json'), 'utf8')) as {
  valid: string[];
  invalid: string[];
  unsupported: string[];
};

/** Whether the evaluator (or the store's request) can be built for every query a root holds: nothing refused as unsupported. */
function plans(root: Root): void {
  const queries: Query[] = [];
  const walk = (e: MathExpr): void => {
    if (e.kind === 'mathQuery') queries.push(e.query);
    else if (e.kind === 'mathBinary') {
      walk(e.left);
      walk(e.right);
    }
  };
  if (root.kind === 'math') walk(root.expr);
  else queries.push(root);
  for (const q of queries) {
    const at = q.pipeline.findIndex((s) => s.kind === 'metrics' || s.kind === 'compare');
    const selection = at < 0 ? q : { ...q, pipeline: q.pipeline.slice(0, at) };
    new Evaluator(selection, { range: { startNs: 0n, endNs: 1n }, limit: 1, spss: 1 });
  }
}

describe("Tempo's grammar examples: accepted and refused as Tempo does", () => {
  describe('valid in Tempo: compiles, prints back to itself, and is planned', () => {
    for (const text of tempo.valid) {
      it(text, () => {
        const root = compileRoot(text);
        const printed = print(root);
        const again = compileRoot(printed);
        assert.equal(shape(again), shape(root), `re-parse of ${printed}`);
        assert.equal(print(again), printed);
        plans(root);
      });
    }
  });

  describe('invalid in Tempo (its parse_fails and validate_fails): a 400 with a position', () => {
    for (const text of tempo.invalid) {
      it(text, () => {
        assert.throws(
          () => compileRoot(text),
          (e: Error) => (e instanceof TraceQLParseError || e instanceof TraceQLValidationError) && /at line \d+, col \d+/.test(e.message),
        );
      });
    }
  });

  /** Valid in Tempo's grammar but refused by its engine; Sightline answers these (docs/traceql.md), and refuses the rest with a 400. */
  const answered = new Set([
    'min(.field) < max(duration)',
    'sum(.field) = min(.field)',
    'min(.field) + max(.field) > 1',
    'min(.field) + max(span:childCount) > max(duration) - min(.field)',
    'min(span:childCount) < 2 / 6',
    'max(1 - (2 + .field)) < avg(3 * duration ^ 2)',
    '{ .http.status = 200 } | max(.field) - min(.field) > 3',
    '{ parent.resource.a && true }',
    '{ parent.span.a > 3 }',
    '{ true } | count() + count() = 1',
    'avg(.field) > 1 - 3',
  ]);
  describe('unsupported in Tempo: answered here, or refused with a 400', () => {
    for (const text of tempo.unsupported) {
      it(text, () => {
        if (answered.has(text)) plans(compileRoot(text));
        else assert.throws(() => compileRoot(text), (e: Error) => e instanceof SightlineError && e.httpStatus === 400 && /at line \d+, col \d+/.test(e.message));
      });
    }
  });

  it('folds constants: arithmetic of numbers in filters and metrics arithmetic', () => {
    const root = compileRoot('({} | rate()) > 1 / 2');
    assert.equal(root.kind, 'query');
    const filter = (root as Query).pipeline.at(-1)!;
    assert.deepEqual([filter.kind, (filter as { value: number }).value], ['metricsFilter', 0.5]);
    const math = compileRoot('100 / 4 + ({} | rate()) * 10');
    assert.equal(print(math), '25 + ({ } | rate()) * 10');
  });
});

describe('limits: refused with a 400 and a position, before anything recursive can overflow', () => {
  const max = PARSE_LIMITS.maxDepth;
  /** The parse error `text` gets, which must be one (never a RangeError). */
  const parseError = (text: string): TraceQLParseError => {
    try {
      parse(text);
    } catch (e) {
      if (e instanceof TraceQLParseError) return e;
      throw e;
    }
    assert.fail(`parsed: ${text.slice(0, 60)}...`);
  };

  for (const levels of [5000, 100_000]) {
    const shapes: [string, string, number][] = [
      // [name, query, offset of the token past the limit]
      ['parentheses in a filter', `{ ${'('.repeat(levels)}.a = 1${')'.repeat(levels)} }`, 2 + max],
      ['parentheses around spansets', `${'('.repeat(levels)}{ }${')'.repeat(levels)}`, max],
      ['filters opened inside parentheses', `{(`.repeat(levels), 2],
      ['negations', `{ ${'!'.repeat(levels)}.a }`, 2 + max],
      ['minus signs', `{ ${'-'.repeat(levels)}.a > 1 }`, 2 + max],
      ['a right-associative chain', `{ .a${' ^ .a'.repeat(levels)} > 1 }`, -1],
      ['a chain of ||', `{ .a = 1${' || .a = 1'.repeat(levels)} }`, -1],
      ['a chain of structural operators', `{ }${' >> { }'.repeat(levels)}`, -1],
      ['a pipeline', `{ }${' | { }'.repeat(levels)}`, 4 + 6 * (max - 1)],
    ];
    for (const [name, text, offset] of shapes) {
      if (Buffer.byteLength(text) > PARSE_LIMITS.maxBytes) {
        it(`${name}, ${levels} deep: over the length limit, refused for its length`, () => {
          const e = parseError(text);
          assert.match(e.message, new RegExp(`longer than ${PARSE_LIMITS.maxBytes} bytes`));
          assert.equal(e.pos.offset, PARSE_LIMITS.maxBytes, 'at the first byte past the limit');
        });
        continue;
      }
      it(`${name}, ${levels} deep`, () => {
        const e = parseError(text);
        if (name.startsWith('filters opened')) {
          // Not TraceQL at all, and refused as such where it stops being.
          assert.match(e.message, /col 3: expected a value/);
          return;
        }
        assert.match(e.message, /nests more than 100 levels deep|more than 100 stages/);
        assert.match(e.message, /at line 1, col \d+/);
        if (offset >= 0) assert.equal(e.pos.offset, offset, e.message);
        assert.ok(e.pos.offset < 2000, 'refused where the limit is crossed, not at the end');
      });
    }
  }

  it('takes nesting up to the limit, which then validates and prints', () => {
    const text = `{ ${'('.repeat(max - 3)}.a = 1${')'.repeat(max - 3)} }`;
    const q = validate(parse(text));
    assert.equal(print(q), '{ .a = 1 }');
    assert.throws(() => parse(`{ ${'('.repeat(max)}.a = 1${')'.repeat(max)} }`), TraceQLParseError);
    const chain = `{ .a = 1${' || .a = 1'.repeat(max - 5)} }`;
    assert.equal(print(validate(parse(chain))), chain);
    assert.equal(parseQuery(`{ }${' | { }'.repeat(max - 1)}`).pipeline.length, max);
  });

  it('counts the length in UTF-8 bytes, as Tempo does', () => {
    const room = PARSE_LIMITS.maxBytes - '{ .a = "" }'.length;
    assert.equal(parseQuery(`{ .a = "${'x'.repeat(room)}" }`).pipeline.length, 1);
    assert.throws(() => parse(`{ .a = "${'x'.repeat(room + 1)}" }`), /longer than 131072 bytes/);
    // ż is two bytes: half as many fit.
    assert.equal(parseQuery(`{ .a = "${'ż'.repeat(Math.floor(room / 2))}" }`).pipeline.length, 1);
    const e = (() => {
      try {
        parse(`{ .a = "${'ż'.repeat(room)}" }`);
      } catch (err) {
        return err as TraceQLParseError;
      }
    })()!;
    assert.ok(e instanceof TraceQLParseError);
    // The string starts at offset 8; the ż ending past byte 131072 is the (131072 - 8) / 2 + 1st.
    assert.equal(e.pos.offset, 8 + (PARSE_LIMITS.maxBytes - 8) / 2, 'the character that crosses the limit');
  });

  it('reads numbers and durations by hand as before', () => {
    const value = (text: string) => (parseQuery(`{ .a = ${text} }`).pipeline[0] as { expr: { right: { type: string; value: unknown } } }).expr.right;
    assert.equal(value('1.5ms').type, 'duration');
    assert.equal(value('1.5ms').value, 1_500_000n);
    assert.equal(value('2µs').value, 2000n);
    assert.equal(value('3m').value, 180_000_000_000n);
    assert.equal(value('1e3').value, 1000);
    assert.equal(value('.25').value, 0.25);
    assert.equal(value('1.').value, 1);
    assert.equal(value('7').value, 7n);
    assert.throws(() => parse('{ .a = 1min }'), /invalid number "1m"/);
    assert.throws(() => parse('{ .a = 1e }'), /invalid number "1e"/);
    assert.equal((parseQuery('{ span:duration > 1s }').pipeline[0] as { expr: { left: { name: string } } }).expr.left.name, 'span:duration');
  });
});

describe('regular expressions: RE2, the whole value, linear time', () => {
  const str = (value: string): Value => ({ type: 'string', value });
  const matches = (value: string, pattern: string) => compareValues('=~', str(value), str(pattern));

  it('answers (a+)+ on a 30-character and a 100,000-character value, rightly', () => {
    // JavaScript's RegExp takes seconds at 30 characters, doubling with each one more.
    assert.equal(matches(`${'a'.repeat(30)}b`, '(a+)+'), false);
    assert.equal(matches('a'.repeat(30), '(a+)+'), true);
    assert.equal(matches(`${'a'.repeat(100_000)}!`, '(a|aa)+'), false);
    assert.equal(compareValues('!~', str(`${'a'.repeat(30)}b`), str('(a+)+')), true);
  });

  it('anchors at both ends, as Tempo does, and lets . match a newline', () => {
    assert.equal(matches('GET /api', 'GET'), false);
    assert.equal(matches('GET /api', 'GET.*'), true);
    assert.equal(matches('xab', 'a|xab'), true, 'an alternative later in the list that spans the value');
    assert.equal(matches('line1\nline2', 'line1.line2'), true);
    assert.equal(matches('abc\n', 'abc'), false);
  });

  it('refuses what RE2 refuses, at the pattern, with RE2\'s reason', () => {
    assert.throws(
      () => validate(parse('{ span.x =~ "(?=x)" }')),
      (e: Error) => e instanceof TraceQLValidationError && e.pos.offset === 12 && /invalid or unsupported Perl syntax/.test(e.message),
    );
    assert.throws(() => validate(parse('{\n  .a = 1 &&\n  .b !~ `(\\w)\\1` }')), (e: Error) => /line 3, col 9/.test(e.message) && /invalid escape sequence/.test(e.message));
  });
});

describe('structural relations: nested-set passes against a brute-force reference', () => {
  const OPS: SpansetOp[] = ['>', '>>', '<', '<<', '~', '!>', '!>>', '!<', '!<<', '!~', '&>', '&>>', '&<', '&<<', '&~', '&&', '||'];

  /** The operators as the evaluator defined them before nested sets, walking parents per span. */
  function reference(op: SpansetOp, l: number[], r: number[], parent: (i: number) => number, n: number): number[] {
    const L = new Set(l);
    const R = new Set(r);
    const ancestors = (b: number) => {
      const out: number[] = [];
      for (let p = parent(b), steps = 0; p >= 0 && steps <= n; p = parent(p), steps++) out.push(p);
      return out;
    };
    const all = [...Array(n).keys()];
    const children = (b: number) => all.filter((c) => parent(c) === b);
    const descendants = (b: number) => all.filter((c) => ancestors(c).includes(b));
    const siblings = (b: number) => (parent(b) < 0 ? [] : all.filter((c) => c !== b && parent(c) === parent(b)));
    const sorted = (xs: number[]) => [...new Set(xs)].sort((a, b) => a - b);
    const has = (xs: number[], S: Set<number>) => xs.some((x) => S.has(x));
    switch (op) {
      case '&&': return l.length > 0 && r.length > 0 ? sorted([...l, ...r]) : [];
      case '||': return sorted([...l, ...r]);
      case '>': return r.filter((b) => L.has(parent(b)));
      case '!>': return r.filter((b) => !L.has(parent(b)));
      case '<': return r.filter((b) => has(children(b), L));
      case '!<': return r.filter((b) => !has(children(b), L));
      case '>>': return r.filter((b) => has(ancestors(b), L));
      case '!>>': return r.filter((b) => !has(ancestors(b), L));
      case '<<': return r.filter((b) => has(descendants(b), L));
      case '!<<': return r.filter((b) => !has(descendants(b), L));
      case '~': return r.filter((b) => has(siblings(b), L));
      case '!~': return r.filter((b) => !has(siblings(b), L));
      case '&>': return sorted([...l.filter((a) => has(children(a), R)), ...r.filter((b) => L.has(parent(b)))]);
      case '&<': return sorted([...l.filter((a) => R.has(parent(a))), ...r.filter((b) => has(children(b), L))]);
      case '&>>': return sorted([...l.filter((a) => has(descendants(a), R)), ...r.filter((b) => has(ancestors(b), L))]);
      case '&<<': return sorted([...l.filter((a) => has(ancestors(a), R)), ...r.filter((b) => has(descendants(b), L))]);
      case '&~': return sorted([...l.filter((a) => has(siblings(a), R)), ...r.filter((b) => has(siblings(b), L))]);
    }
  }

  /** A random forest over n spans, its spans in random index order, some parents missing from the trace. */
  const forest = fc.integer({ min: 1, max: 40 }).chain((n) =>
    fc
      .tuple(
        fc.array(fc.integer({ min: -2, max: n - 1 }), { minLength: n, maxLength: n }),
        fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }),
        fc.array(fc.boolean(), { minLength: n, maxLength: n }),
        fc.array(fc.boolean(), { minLength: n, maxLength: n }),
      )
      .map(([raw, perm, inL, inR]) => {
        // Span k's parent is an earlier span (acyclic), none (-1) or one not in the trace (n, out of range).
        const byRank = raw.map((p, k) => (p === -2 ? n : p < k ? p : -1));
        const parents = new Array<number>(n);
        for (let k = 0; k < n; k++) parents[perm[k]] = byRank[k] >= 0 && byRank[k] < n ? perm[byRank[k]] : byRank[k];
        const pick = (m: boolean[]) => m.flatMap((x, i) => (x ? [i] : []));
        return { parents, l: pick(inL), r: pick(inR) };
      }),
  );

  it('agree with the reference for every operator on random forests', (t) => {
    fc.assert(
      fc.property(forest, ({ parents, l, r }) => {
        const tree = new SpanTree(parents);
        const n = parents.length;
        const parent = (i: number) => (parents[i] >= 0 && parents[i] < n ? parents[i] : -1);
        for (let i = 0; i < n; i++) assert.equal(tree.parent(i), parent(i));
        for (const op of OPS) assert.deepEqual(relate(op, l, r, tree), reference(op, l, r, parent, n), op);
        for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) {
          let up = parent(b);
          while (up >= 0 && up !== a) up = parent(up);
          assert.equal(tree.isAncestor(a, b), up === a, `isAncestor(${a}, ${b})`);
        }
      }),
      { seed: seed(t), numRuns: 300 },
    );
  });

  it('end on cycles of parents, cutting each cycle at one span and nothing else', (t) => {
    const anyParents = fc.integer({ min: 1, max: 30 }).chain((n) => fc.array(fc.integer({ min: -1, max: n - 1 }), { minLength: n, maxLength: n }));
    fc.assert(
      fc.property(anyParents, fc.array(fc.nat(), { maxLength: 10 }), (parents, picks) => {
        const n = parents.length;
        const tree = new SpanTree(parents);
        const onCycle = (i: number) => {
          for (let p = parents[i], steps = 0; p >= 0 && steps <= n; p = parents[p], steps++) if (p === i) return true;
          return false;
        };
        for (let i = 0; i < n; i++) {
          if (tree.parent(i) !== parents[i]) assert.ok(tree.parent(i) === -1 && onCycle(i), `span ${i} cut though not on a cycle`);
          assert.equal(tree.isAncestor(i, i), false);
        }
        // What is left is a forest, and the relations are those of that forest.
        const l = picks.map((x) => x % n);
        const all = [...Array(n).keys()];
        for (const op of OPS) assert.deepEqual(relate(op, [...new Set(l)].sort((a, b) => a - b), all, tree), reference(op, [...new Set(l)].sort((a, b) => a - b), all, (i) => tree.parent(i), n), op);
      }),
      { seed: seed(t), numRuns: 300 },
    );
    // Two spans each other's parent, and one its own.
    const tree = SpanTree.of([
      { spanId: 'a', parentId: 'b' },
      { spanId: 'b', parentId: 'a' },
      { spanId: 'c', parentId: 'c' },
      { spanId: 'd', parentId: 'a' },
    ]);
    assert.deepEqual([0, 1, 2, 3].map((i) => tree.parent(i)), [-1, 0, -1, 0]);
    assert.deepEqual(relate('>>', [0], [0, 1, 2, 3], tree), [1, 3]);
  });

  it('take a chain of 100,000 spans in one pass each (the walk uses no recursion)', () => {
    const n = 100_000;
    const tree = new SpanTree(Array.from({ length: n }, (_, i) => i - 1));
    const all = [...Array(n).keys()];
    assert.equal(relate('>>', [0], all, tree).length, n - 1);
    assert.deepEqual(relate('<<', [n - 1], all, tree), all.slice(0, n - 1));
    assert.deepEqual(relate('>', [5], all, tree), [6]);
    assert.deepEqual(relate('!>>', [n - 1], all, tree), all);
    assert.deepEqual(relate('~', all, all, tree), []);
    assert.deepEqual(relate('&>>', [0], [n - 1], tree), [0, n - 1]);
    assert.deepEqual(relate('&>>', [n - 1], [0], tree), []);
  });
});

describe('evaluation over large traces', () => {
  const scope = TenantScope.of(['single-tenant']);
  const range = { startNs: 0n, endNs: 10n ** 18n };

  /** A store holding one trace; flags answered for `name = "..."` conditions only. */
  function oneTrace(spans: Omit<EvalSpan, 'flags'>[]): SearchPort {
    const id = Buffer.alloc(16, 1);
    return {
      capabilities: {} as SearchPort['capabilities'],
      searchSpans: async () => assert.fail('a lone filter is not asked for here'),
      traceHeatmap: async () => assert.fail('a lone filter is not asked for here'),
      candidateTraces: async (_s, req) => (req.offset === 0 ? [id] : []),
      traceSpans: async (_s, req) => {
        const flag = (c: (typeof req.flags)[number], s: Omit<EvalSpan, 'flags'>) => {
          if (c.op === 'compare' && c.field.kind === 'intrinsic' && c.field.name === 'name' && c.cmp === '=' && c.value.type === 'string') return s.name === c.value.value;
          if (c.op === 'const') return c.value;
          return assert.fail(`condition not faked: ${JSON.stringify(c)}`);
        };
        return new Map([[id.toString('hex'), spans.map((s) => ({ ...s, flags: req.flags.map((c) => flag(c, s)) }))]]);
      },
      serviceStats: async () => new Map(),
    };
  }
  const span = (i: number, parent: number, extra: Partial<EvalSpan> = {}): Omit<EvalSpan, 'flags'> => ({
    spanId: i.toString(16).padStart(16, '0'),
    parentId: parent < 0 ? '' : parent.toString(16).padStart(16, '0'),
    startNs: BigInt(1000 + i),
    durationNs: 1n,
    name: i === 0 ? 'root' : 'op',
    serviceName: 'chain',
    numbers: [],
    texts: [],
    values: [],
    ...extra,
  });
  const search = (text: string, store: SearchPort) => searchTraceQL(validate(parseQuery(text)), store, scope, { range, limit: 20, spss: 3 });

  it('answers >> on a chain of 10,000 spans with all 9,999 descendants', { timeout: 20_000 }, async () => {
    const chain = Array.from({ length: 10_000 }, (_, i) => span(i, i - 1));
    const r = await search('{ name = "root" } >> { }', oneTrace(chain));
    assert.equal(r.traces.length, 1);
    assert.equal(r.traces[0].spanSet.matched, 9999);
    assert.deepEqual(r.traces[0].spanSet.spans.map((s) => s.spanId.toString('hex')), [1, 2, 3].map((i) => i.toString(16).padStart(16, '0')));
    const leaf = await search('{ } !<< { name = "root" }', oneTrace(chain));
    assert.equal(leaf.traces.length, 0, 'the root has descendants');
  });

  it('groups 150,000 spans into as many spansets, and aggregates them, without a spread', { timeout: 20_000 }, async () => {
    const n = 150_000;
    const flat = Array.from({ length: n }, (_, i) => span(i, i === 0 ? -1 : 0, { texts: [String(i)], numbers: [i] }));
    const store = oneTrace(flat);
    const grouped = await search('{ } | by(span.u) | coalesce()', store);
    assert.equal(grouped.traces[0].spanSet.matched, n);
    const max = await search(`{ } | max(span.n) = ${n - 1}`, store);
    assert.equal(max.traces.length, 1);
    const min = await search('{ } | min(span.n) > 0', store);
    assert.equal(min.traces.length, 0);
  });

  it('relates within each of 75,000 spansets at the cost of its own spans, not the trace\'s', { timeout: 20_000 }, async () => {
    // Span 0 is the root of 149,999 siblings; by() pairs them as (0, 1), (2, 3), ...
    const n = 150_000;
    const pairs = Array.from({ length: n }, (_, i) => span(i, i === 0 ? -1 : 0, { texts: [String(i >> 1)] }));
    const r = await search('{ } | by(span.u) | { } ~ { }', oneTrace(pairs));
    assert.equal(r.traces[0].spanSets!.length, n / 2 - 1, 'every pair but the root and its child');
    assert.ok(r.traces[0].spanSets!.every((set) => set.matched === 2));
    const none = await search('{ } | by(span.n) | { } ~ { }', oneTrace(pairs.map((sp, i) => ({ ...sp, texts: [String(i)] }))));
    assert.equal(none.traces.length, 0, 'a span alone in its spanset has no sibling there');
  });

  it('matches (a+)+ on an event value of 40 characters in process, rightly', { timeout: 20_000 }, async () => {
    const value = (v: string): Value[][] => [[{ type: 'string', value: v }]];
    const spans = [span(0, -1, { values: value(`${'a'.repeat(40)}b`) }), span(1, 0, { values: value('a'.repeat(40)) })];
    const r = await search('{ event.y =~ "(a+)+" }', oneTrace(spans));
    assert.deepEqual(r.traces[0].spanSet.spans.map((s) => s.spanId.toString('hex')), ['0000000000000001']);
    const not = await search('{ event.y !~ "(a+)+" }', oneTrace(spans));
    assert.deepEqual(not.traces[0].spanSet.spans.map((s) => s.spanId.toString('hex')), ['0000000000000000']);
  });
});

describe('metrics: topk/bottomk in one pass, and a bound on series', () => {
  const scope = TenantScope.of(['single-tenant']);
  const range = { startNs: 0n, endNs: 180_000_000_000n };
  const stepNs = 60_000_000_000n;
  /** A store answering every metrics request with `rows`. */
  const rowsStore = (rows: MetricsRow[]): MetricsStore =>
    ({ capabilities: {}, metricsSeries: async () => ({ rows, source: 'spans' }) }) as unknown as MetricsStore;
  const run = (text: string, rows: MetricsRow[], maxSeries?: number) => queryMetrics(validate(parseQuery(text)), rowsStore(rows), scope, { range, stepNs, maxSeries });
  const answer = (series: Series[]) => Object.fromEntries(series.map((s) => [s.labels.map((l) => (l.value as { stringValue: string }).stringValue).join(','), s.samples.map(([t, v]) => `${t / 60_000}:${v}`)]));

  it('keeps, at each timestamp, the n largest (smallest), ties to the labels that sort first', async () => {
    // t0: a=5 b=5 c=7; t1: a=1 b=3 c=3; t2: only b=2.
    const rows: MetricsRow[] = [
      { bucket: 0, by: ['c'], values: [7] }, { bucket: 0, by: ['b'], values: [5] }, { bucket: 0, by: ['a'], values: [5] },
      { bucket: 1, by: ['a'], values: [1] }, { bucket: 1, by: ['c'], values: [3] }, { bucket: 1, by: ['b'], values: [3] },
      { bucket: 2, by: ['b'], values: [2] },
    ];
    const q = '{ } | count_over_time() by(span.u)';
    assert.deepEqual(answer((await run(`${q} | topk(2)`, rows)).series), { a: ['0:5'], b: ['1:3', '2:2'], c: ['0:7', '1:3'] });
    assert.deepEqual(answer((await run(`${q} | topk(1)`, rows)).series), { b: ['1:3', '2:2'], c: ['0:7'] });
    assert.deepEqual(answer((await run(`${q} | bottomk(1)`, rows)).series), { a: ['0:5', '1:1'], b: ['2:2'] });
    assert.deepEqual(answer((await run(`${q} | bottomk(2)`, rows)).series), { a: ['0:5', '1:1'], b: ['0:5', '1:3', '2:2'] });
    assert.deepEqual(Object.keys(answer((await run(`${q} | topk(10)`, rows)).series)), ['a', 'b', 'c'], 'all of them, in label order');
  });

  it('agrees with a sort per timestamp on random series', (t) => {
    const sample = fc.record({ t: fc.integer({ min: 0, max: 5 }), v: fc.integer({ min: -3, max: 3 }) });
    const arb = fc.tuple(fc.array(fc.array(sample, { maxLength: 6 }), { maxLength: 12 }), fc.integer({ min: 1, max: 5 }), fc.boolean());
    fc.assert(
      fc.property(arb, ([raw, n, largest]) => {
        const series: Series[] = raw.map((samples, i) => ({
          labels: [{ key: 'i', value: { stringValue: String(i) } }],
          samples: [...new Map(samples.map((x) => [x.t, x.v])).entries()].sort((a, b) => a[0] - b[0]),
        }));
        const expected = series.map((): [number, number][] => []);
        for (const time of [...new Set(series.flatMap((s) => s.samples.map((x) => x[0])))].sort((a, b) => a - b)) {
          const at = series.flatMap((s, i) => s.samples.filter((x) => x[0] === time).map((x) => ({ i, v: x[1] })));
          at.sort((a, b) => (a.v === b.v ? a.i - b.i : largest ? b.v - a.v : a.v - b.v));
          for (const { i, v } of at.slice(0, n)) expected[i].push([time, v]);
        }
        const want = series.flatMap((s, i) => (expected[i].length > 0 ? [{ labels: s.labels, samples: expected[i] }] : []));
        assert.deepEqual(topk(series, n, largest), want);
      }),
      { seed: seed(t), numRuns: 300 },
    );
  });

  it('ranks 20,000 series over 500 steps with a heap of n', { timeout: 20_000 }, async () => {
    const rows: MetricsRow[] = [];
    for (let s = 0; s < 20_000; s++) for (let b = 0; b < 500; b += 7) rows.push({ bucket: b, by: [`u${s}`], values: [(s * 7919 + b) % 1000] });
    const longRange = { startNs: 0n, endNs: 500n * stepNs };
    const q = validate(parseQuery('{ } | count_over_time() by(span.u) | topk(1)'));
    const { series } = await queryMetrics(q, rowsStore(rows), scope, { range: longRange, stepNs });
    const samples = series.flatMap((s) => s.samples);
    assert.equal(samples.length, Math.ceil(500 / 7), 'one series per timestamp');
    assert.ok(samples.every(([, v]) => v === 999));
  });

  it(`refuses more than ${MAX_SERIES} series (or the caller's bound) with QUERY_TOO_LARGE, 422`, async () => {
    const rows = (n: number): MetricsRow[] => Array.from({ length: n }, (_, i) => ({ bucket: 0, by: [`u${i}`], values: [i] }));
    const q = '{ } | count_over_time() by(span.u)';
    assert.equal((await run(q, rows(MAX_SERIES))).series.length, MAX_SERIES);
    await assert.rejects(run(q, rows(MAX_SERIES + 1)), (e: Error) => e instanceof SightlineError && e.code === 'QUERY_TOO_LARGE' && e.httpStatus === 422 && /more than 1000 series/.test(e.message));
    assert.equal((await run(`${q} | topk(3)`, rows(20_000))).series.length, 3, 'the bound is on the answer, after topk');
    await assert.rejects(run(q, rows(6), 5), /more than 5 series/);
    await assert.rejects(run(`${q} | topk(6)`, rows(6), 5), /more than 5 series/);
    // Series whose every value is NaN are no series.
    const nan = rows(MAX_SERIES + 5).map((r, i) => ({ ...r, values: [i < 5 ? NaN : 1] }));
    assert.equal((await run('{ } | avg_over_time(span.n) by(span.u)', nan)).series.length, MAX_SERIES);
  });
});
