import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LogQueryError, parseLogQuery, severityClassOf } from './index.js';
import type { LogCondition } from '../../store/index.js';

/**
 * The log query language, in the shape of Tempo's TraceQL tests: what
 * parses (and into which condition), what does not parse, and what parses
 * but means nothing.
 */

const level = (cmp: '=' | '!=' | '<' | '<=' | '>' | '>=', n: number): LogCondition => ({
  op: 'compare',
  field: { kind: 'intrinsic', name: 'severityLevel' },
  cmp,
  value: { type: 'int', value: BigInt(n) },
});
const str = (value: string) => ({ type: 'string' as const, value });

const VALID: [string, LogCondition][] = [
  ['{ }', { op: 'const', value: true }],
  ['', { op: 'const', value: true }],
  ['{ severity >= warn }', level('>=', 13)],
  ['{ severity = ERROR }', { op: 'and', terms: [level('>=', 17), level('<=', 20)] }],
  ['{ severity > info }', level('>', 12)],
  ['{ severity < warn }', { op: 'and', terms: [level('>', 0), level('<', 13)] }],
  ['{ severity >= "warning" }', level('>=', 13)],
  ['{ severity >= 13 }', level('>=', 13)],
  ['{ severityNumber >= 13 }', { op: 'compare', field: { kind: 'intrinsic', name: 'severityNumber' }, cmp: '>=', value: { type: 'int', value: 13n } }],
  ['{ severityText = "WARN" }', { op: 'compare', field: { kind: 'intrinsic', name: 'severityText' }, cmp: '=', value: str('WARN') }],
  ['{ body =~ "time(out|d out)" }', { op: 'compare', field: { kind: 'intrinsic', name: 'body' }, cmp: 'search', value: str('time(out|d out)') }],
  ['{ body !~ `\\d+` }', { op: 'compare', field: { kind: 'intrinsic', name: 'body' }, cmp: 'notSearch', value: str('\\d+') }],
  ['{ body contains "refused" }', { op: 'compare', field: { kind: 'intrinsic', name: 'body' }, cmp: 'contains', value: str('refused') }],
  ['{ body = "a \\"quoted\\" \\u00e9" }', { op: 'compare', field: { kind: 'intrinsic', name: 'body' }, cmp: '=', value: str('a "quoted" é') }],
  ['{ resource.service.name = "billing" }', { op: 'compare', field: { kind: 'attribute', scope: 'resource', name: 'service.name' }, cmp: '=', value: str('billing') }],
  ['{ log.http.status_code >= 500 }', { op: 'compare', field: { kind: 'attribute', scope: 'log', name: 'http.status_code' }, cmp: '>=', value: { type: 'int', value: 500n } }],
  ['{ .ratio < 0.5 }', { op: 'compare', field: { kind: 'attribute', scope: 'any', name: 'ratio' }, cmp: '<', value: { type: 'float', value: 0.5 } }],
  ['{ .ok = true }', { op: 'compare', field: { kind: 'attribute', scope: 'any', name: 'ok' }, cmp: '=', value: { type: 'bool', value: true } }],
  ['{ .route =~ "/api/.*" }', { op: 'compare', field: { kind: 'attribute', scope: 'any', name: 'route' }, cmp: 'matches', value: str('/api/.*') }],
  ['{ resource."host name" != nil }', { op: 'exists', field: { kind: 'attribute', scope: 'resource', name: 'host name' } }],
  ['{ log.user = nil }', { op: 'not', term: { op: 'exists', field: { kind: 'attribute', scope: 'log', name: 'user' } } }],
  ['{ trace:id = "4bf92f3577b34da6a3ce929d0e0e4736" }', { op: 'compare', field: { kind: 'intrinsic', name: 'traceId' }, cmp: '=', value: { type: 'id', value: Buffer.from('4bf92f3577b34da6a3ce929d0e0e4736', 'hex') } }],
  ['{ trace:id = "abc" }', { op: 'compare', field: { kind: 'intrinsic', name: 'traceId' }, cmp: '=', value: { type: 'id', value: Buffer.from('00000000000000000000000000000abc', 'hex') } }],
  ['{ span:id = "00f067aa0ba902b7" }', { op: 'compare', field: { kind: 'intrinsic', name: 'spanId' }, cmp: '=', value: { type: 'id', value: Buffer.from('00f067aa0ba902b7', 'hex') } }],
  ['{ span:id != nil }', { op: 'exists', field: { kind: 'intrinsic', name: 'spanId' } }],
  [
    '{ severity >= warn && (body contains "a" || !(.x = 1)) }',
    {
      op: 'and',
      terms: [
        level('>=', 13),
        {
          op: 'or',
          terms: [
            { op: 'compare', field: { kind: 'intrinsic', name: 'body' }, cmp: 'contains', value: str('a') },
            { op: 'not', term: { op: 'compare', field: { kind: 'attribute', scope: 'any', name: 'x' }, cmp: '=', value: { type: 'int', value: 1n } } },
          ],
        },
      ],
    },
  ],
  ['{ instrumentation:name = "pino" }', { op: 'compare', field: { kind: 'intrinsic', name: 'scopeName' }, cmp: '=', value: str('pino') }],
  ['{ eventName = "login" }', { op: 'compare', field: { kind: 'intrinsic', name: 'eventName' }, cmp: '=', value: str('login') }],
];

const PARSE_FAILS: [string, RegExp][] = [
  ['severity >= warn', /expected \{ at col 1/],
  ['{ severity >= warn', /expected \} before the end/],
  ['{ body = "open }', /string is not closed/],
  ['{ body "x" }', /expected an operator/],
  ['{ .a = 1 } { .b = 2 }', /only one \{ \} filter/],
  ['{ body = "\\q" }', /unknown escape/],
  ['{ . = 1 }', /attribute name is missing/],
  ['{ .a = 1 && }', /expected a field/],
  ['{ # }', /unexpected character "#"/],
  [`{ ${'('.repeat(70)}.a = 1${')'.repeat(70)} }`, /nesting is deeper than 64/],
  [`{ ${Array.from({ length: 300 }, (_, i) => `.a${i} = 1`).join(' || ')} }`, /more than 256 conditions/],
  [`{ body = "${'x'.repeat(17_000)}" }`, /longer than 16384 characters/],
];

const VALIDATE_FAILS: [string, RegExp][] = [
  ['{ severity >= loud }', /severity is compared with a level/],
  ['{ severity =~ "W.*" }', /match its text with severityText/],
  ['{ severityNumber >= "13" }', /compared with a number/],
  ['{ body > "a" }', /body takes = != =~ !~ contains/],
  ['{ body = 1 }', /body is compared with a string/],
  ['{ body =~ "a(?=b)" }', /invalid regular expression/],
  ['{ .a =~ "(" }', /invalid regular expression/],
  ['{ .a contains 1 }', /contains takes a string/],
  ['{ .a < true }', /true and false are compared with = or != only/],
  ['{ trace:id = "xyz" }', /hex digits only/],
  ['{ trace:id > "ab" }', /compared with = or != only/],
  ['{ span:id = "00112233445566778899" }', /1 to 16 hex digits/],
  ['{ status = error }', /unknown field "status"/],
  ['{ .a = nothing }', /expected a value/],
];

describe('log query language', () => {
  describe('valid', () => {
    for (const [q, want] of VALID) it(q || '(empty)', () => assert.deepEqual(parseLogQuery(q), want));
  });
  describe('parse_fails', () => {
    for (const [q, re] of PARSE_FAILS)
      it(q.length > 60 ? `${q.slice(0, 60)}…` : q, () => {
        assert.throws(() => parseLogQuery(q), (e: unknown) => e instanceof LogQueryError && re.test(e.message) && e.code === 'INVALID_QUERY');
      });
  });
  describe('validate_fails', () => {
    for (const [q, re] of VALIDATE_FAILS)
      it(q, () => {
        assert.throws(() => parseLogQuery(q), (e: unknown) => e instanceof LogQueryError && re.test(e.message));
      });
  });
  it('reads severity classes as the store does', () => {
    assert.equal(severityClassOf(13, ''), 'warn');
    assert.equal(severityClassOf(16, 'whatever'), 'warn');
    assert.equal(severityClassOf(0, 'Warning'), 'warn');
    assert.equal(severityClassOf(0, 'CRITICAL'), 'fatal');
    assert.equal(severityClassOf(0, 'chatty'), 'unspecified');
    assert.equal(severityClassOf(24, ''), 'fatal');
    assert.equal(severityClassOf(99, ''), 'fatal');
    assert.equal(severityClassOf(1, ''), 'trace');
  });
});
