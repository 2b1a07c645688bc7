import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { attributeRef, quoteString, tokenize } from './traceql-tokens.js';
import { applyCompletion, completionContext, fieldItems, narrowingQuery, operatorItems, valueItems } from './completion.js';
import { applyQuickFilter, readQuickFilters } from './quick-filters.js';
import { offsetOf, parseQueryError } from './query-error.js';

const kinds = (text: string) => tokenize(text).filter((t) => t.kind !== 'space').map((t) => `${t.kind}:${t.text}`);

describe('TraceQL highlighting tokens', () => {
  it('covers every character, so the highlighted text is the text', () => {
    for (const q of ['{ span.http.status_code >= 500 && resource.service.name = "api" }', '{ .a = "unterminated', '}} { (', '{ x = 1.5e3 } | count() > 2', 'ünïcode ✓ { }']) {
      const toks = tokenize(q);
      assert.equal(toks.map((t) => t.text).join(''), q);
      for (let k = 1; k < toks.length; k++) assert.equal(toks[k].start, toks[k - 1].end);
    }
  });

  it('classifies attributes, intrinsics, keywords, literals and operators', () => {
    assert.deepEqual(kinds('{ span.http.method = "GET" && duration > 1.5s && status = error && .n != nil }'), [
      'brace:{', 'attribute:span.http.method', 'operator:=', 'string:"GET"', 'operator:&&', 'intrinsic:duration', 'operator:>', 'duration:1.5s',
      'operator:&&', 'intrinsic:status', 'operator:=', 'keyword:error', 'operator:&&', 'attribute:.n', 'operator:!=', 'keyword:nil', 'brace:}',
    ]);
    assert.deepEqual(kinds('{ } >> { trace:rootService = `x` } | by(resource.service.name) | count() >= 2'), [
      'brace:{', 'brace:}', 'operator:>>', 'brace:{', 'intrinsic:trace:rootService', 'operator:=', 'string:`x`', 'brace:}', 'pipe:|', 'function:by', 'paren:(',
      'attribute:resource.service.name', 'paren:)', 'pipe:|', 'function:count', 'paren:(', 'paren:)', 'operator:>=', 'number:2',
    ]);
    const quoted = tokenize('{ span."with space" = 1 }').find((t) => t.kind === 'attribute')!;
    assert.deepEqual([quoted.scope, quoted.name], ['span', 'with space']);
  });

  it('marks what cannot be right: unterminated strings, stray closers, unknown characters, bad numbers', () => {
    assert.equal(tokenize('{ .a = "x }').find((t) => t.kind === 'string')!.open, true);
    assert.deepEqual(kinds('{ .a = 1 } }'), ['brace:{', 'attribute:.a', 'operator:=', 'number:1', 'brace:}', 'error:}']);
    assert.deepEqual(kinds('{ ) }'), ['brace:{', 'error:)', 'brace:}']);
    assert.deepEqual(kinds('{ .a = 12abc }').slice(3, 4), ['error:12abc']);
    assert.deepEqual(kinds('{ # }').slice(1, 2), ['error:#']);
  });

  it('quotes strings and attribute names the lexer would cut', () => {
    assert.equal(quoteString('a "b" \\ c\n'), '"a \\"b\\" \\\\ c\\n"');
    assert.equal(attributeRef('span', 'http.method'), 'span.http.method');
    assert.equal(attributeRef('any', 'with space'), '."with space"');
    assert.equal(attributeRef('resource', 'a=b'), 'resource."a=b"');
  });
});

describe('completion', () => {
  /** The context at the `|` in the text. */
  const ctx = (withCursor: string) => {
    const cursor = withCursor.indexOf('¦');
    return completionContext(withCursor.slice(0, cursor) + withCursor.slice(cursor + 1), cursor);
  };

  it('offers fields after {, && and ||, replacing the word being typed', () => {
    assert.deepEqual(ctx('{ ¦'), { kind: 'field', prefix: '', from: 2, to: 2, scope: undefined });
    assert.deepEqual(ctx('{ span.ht¦ }'), { kind: 'field', prefix: 'span.ht', from: 2, to: 9, scope: 'span' });
    assert.deepEqual(ctx('{ .a = 1 && res¦ource.x = 2 }'), { kind: 'field', prefix: 'res', from: 12, to: 22, scope: 'resource' });
    assert.equal(ctx('{ .a = 1 || ¦').kind, 'field');
    assert.equal(ctx('{ (¦').kind, 'field');
  });

  it('offers operators after a field and a space, and values after an operator', () => {
    assert.deepEqual(ctx('{ span.http.method ¦ }'), { kind: 'operator', field: 'span.http.method', from: 19, to: 19 });
    assert.deepEqual(ctx('{ resource.service.name = "ap¦ }'), { kind: 'value', field: 'resource.service.name', prefix: 'ap', from: 26, to: 29 }, 'an open string is replaced up to the end of its word, not to the end of the text');
    assert.deepEqual(ctx('{ status = ¦'), { kind: 'value', field: 'status', prefix: '', from: 11, to: 11 });
    assert.deepEqual(ctx('{ span."a b" != ¦'), { kind: 'value', field: 'span."a b"', prefix: '', from: 16, to: 16 });
  });

  it('offers nothing outside a spanset or after a finished value', () => {
    assert.deepEqual(ctx('¦'), { kind: 'none' });
    assert.deepEqual(ctx('{ .a = 1 } | count¦'), { kind: 'none' });
    assert.deepEqual(ctx('{ .a = "x"¦ }'), { kind: 'none' });
  });

  it('narrows by the other complete conditions of the spanset being edited', () => {
    const q = (withCursor: string) => {
      const c = withCursor.indexOf('¦');
      return narrowingQuery(withCursor.slice(0, c) + withCursor.slice(c + 1), c);
    };
    assert.equal(q('{ resource.service.name = "api" && name = ¦ }'), '{ resource.service.name = "api" }');
    assert.equal(q('{ status = error && span.x = 1 && resource.service.name = "a¦" }'), '{ status = error && span.x = 1 }');
    assert.equal(q('{ .a = 1 || .b = ¦ }'), undefined, 'the other side of || does not constrain');
    assert.equal(q('{ (.a = 1 || .b = 2) && .c = ¦ }'), undefined, 'a parenthesised condition is not kept, and nothing else is complete');
    assert.equal(q('{ .a = 1 } && { .b = ¦ }'), undefined, 'conditions of another spanset are not the same span');
    assert.equal(q('{ .a = "open && .b = ¦ }'), undefined);
  });

  it('builds field items from /api/v2/search/tags, prefix matches first', () => {
    const tags = { scopes: [{ name: 'span', tags: ['http.method', 'db.system'] }, { name: 'resource', tags: ['service.name'] }, { name: 'intrinsic', tags: ['duration', 'name', 'status'] }] };
    const labels = (p: string) => fieldItems(tags, p).map((i) => i.label);
    assert.deepEqual(labels('span.'), ['span.http.method', 'span.db.system']);
    assert.deepEqual(labels('.se'), ['.service.name']);
    assert.deepEqual(labels('st'), ['status']);
    assert.ok(labels('').includes('resource.service.name'));
    assert.deepEqual(labels('method'), ['span.http.method', '.http.method'], 'contains, after starts-with');
  });

  it('quotes string values and leaves numbers and keywords bare', () => {
    const items = valueItems({ tagValues: [{ type: 'string', value: 'say "hi"' }, { type: 'int', value: '500' }, { type: 'keyword', value: 'error' }] }, '');
    assert.deepEqual(items.map((i) => i.insert), ['"say \\"hi\\""', '500', 'error']);
    assert.deepEqual(valueItems({ tagValues: [{ type: 'string', value: 'api' }, { type: 'string', value: 'gateway' }] }, 'ga').map((i) => i.label), ['gateway']);
    assert.deepEqual(operatorItems('status').map((i) => i.label), ['=', '!=']);
  });

  it('applies an item, keeping a space after an operator', () => {
    assert.deepEqual(applyCompletion('{ status =}', 10, 10, 'error'), { text: '{ status = error}', cursor: 16 });
    assert.deepEqual(applyCompletion('{ span.ht }', 2, 9, 'span.http.method'), { text: '{ span.http.method }', cursor: 18 });
  });
});

describe('quick filters', () => {
  it('reads service, operation, status and trace duration from a single filter', () => {
    assert.deepEqual(readQuickFilters('{ resource.service.name = "api" && name = "GET /x" && status = error && traceDuration >= 100ms && traceDuration < 2s && .x = 1 }'), {
      editable: true,
      values: { service: 'api', operation: 'GET /x', status: 'error', minDuration: '100ms', maxDuration: '2s' },
    });
    assert.deepEqual(readQuickFilters(''), { editable: true, values: {} });
    assert.deepEqual(readQuickFilters('{ .service.name = "a\\"b" }'), { editable: true, values: { service: 'a"b' } });
  });

  it('refuses to edit queries that are more than one filter', () => {
    assert.equal(readQuickFilters('{ .a = 1 } && { .b = 2 }').editable, false);
    assert.equal(readQuickFilters('{ .a = 1 } | count() > 1').editable, false);
    assert.equal(readQuickFilters('{ .a = 1 || .b = 2 }').editable, false);
    assert.equal(readQuickFilters('{ .a = "x }').editable, false);
    assert.equal(applyQuickFilter('{ .a = 1 } >> { }', 'service', 'x'), undefined);
  });

  it('sets, replaces and clears conditions in place, leaving the rest of the text alone', () => {
    assert.equal(applyQuickFilter('', 'service', 'api'), '{ resource.service.name = "api" }');
    assert.equal(applyQuickFilter('{ }', 'status', 'error'), '{ status = error }');
    assert.equal(applyQuickFilter('{ span.x   =  1 }', 'operation', 'GET "/"'), '{ span.x   =  1 && name = "GET \\"/\\"" }');
    assert.equal(applyQuickFilter('{ resource.service.name = "api" && .x = 1 }', 'service', 'web'), '{ resource.service.name = "web" && .x = 1 }');
    assert.equal(applyQuickFilter('{ resource.service.name = "api" && .x = 1 }', 'service', undefined), '{ .x = 1 }');
    assert.equal(applyQuickFilter('{ .x = 1 && status = error }', 'status', undefined), '{ .x = 1 }');
    assert.equal(applyQuickFilter('{ status = error }', 'status', ''), '{ }');
    assert.equal(applyQuickFilter('{ .x = 1 }', 'minDuration', '250ms'), '{ .x = 1 && traceDuration >= 250ms }');
    assert.equal(applyQuickFilter('{ .x = 1 }', 'minDuration', 'fast'), undefined, 'not a duration');
    assert.equal(applyQuickFilter('{ .x = 1 }', 'service', undefined), '{ .x = 1 }');
  });

  it('round-trips: what is applied is read back', () => {
    let q = '';
    q = applyQuickFilter(q, 'service', 'cart')!;
    q = applyQuickFilter(q, 'operation', 'SELECT')!;
    q = applyQuickFilter(q, 'maxDuration', '1.5s')!;
    q = applyQuickFilter(q, 'status', 'ok')!;
    assert.deepEqual(readQuickFilters(q), { editable: true, values: { service: 'cart', operation: 'SELECT', maxDuration: '1.5s', status: 'ok' } });
  });
});

describe('query errors', () => {
  it('finds the position of a parse error as the server reports it', () => {
    const q = '{ .a = }';
    const e = parseQueryError(400, 'invalid TraceQL query: parse error at line 1, col 8: expected a value, found "}"\n', q);
    assert.deepEqual([e.kind, e.line, e.column, e.offset], ['syntax', 1, 8, 7]);
    assert.equal(e.detail, 'expected a value, found "}"');
    assert.equal(q[e.offset!], '}');
  });

  it('reads validation and unsupported errors, and positions on later lines', () => {
    const q = '{ .a = 1 &&\n  duration = "x" }';
    const e = parseQueryError(400, 'invalid TraceQL query: cannot compare a duration with a string at line 2, col 3\n', q);
    assert.deepEqual([e.kind, e.offset, e.detail], ['invalid', 14, 'cannot compare a duration with a string']);
    assert.equal(q.slice(e.offset!, e.offset! + 8), 'duration');
    const u = parseQueryError(501, 'TraceQL construct not supported: compare() at line 1, col 14\n', '{ } | compare({ .a = 1 })');
    assert.deepEqual([u.kind, u.offset, u.detail], ['unsupported', 13, 'not supported yet: compare()']);
  });

  it('keeps errors without a position, and positions outside the text, as messages only', () => {
    const e = parseQueryError(400, 'invalid start: not a number\n', '{ }');
    assert.deepEqual([e.kind, e.offset, e.message], ['other', undefined, 'invalid start: not a number']);
    assert.equal(offsetOf('abc', 1, 4), 3, 'just past the end: an error at the end of input');
    assert.equal(offsetOf('abc', 1, 5), undefined);
    assert.equal(offsetOf('abc', 2, 1), undefined);
  });
});
