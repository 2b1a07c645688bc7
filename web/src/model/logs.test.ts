import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { barLogs, logRow, logString, logsBySpan, logsQuery, severityTotals, volumeColumns, type LogJson, type LogRow } from './logs.js';
import { formatRoute, parseRoute } from './routes.js';
import { linkFrom } from './links.js';

const record = (over: Partial<LogJson> = {}): LogJson => ({
  id: '0102030405060708',
  timeUnixNano: '1700000000123456789',
  observedTimeUnixNano: '1700000000200000000',
  severityNumber: 13,
  severityText: 'WARN',
  severity: 'warn',
  body: { stringValue: 'disk 91% full' },
  bodyText: 'disk 91% full',
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  spanId: '00f067aa0ba902b7',
  flags: 1,
  serviceName: 'billing',
  attributes: [
    { key: 'path', value: { stringValue: '/var' } },
    { key: 'pct', value: { doubleValue: 91.5 } },
    { key: 'n', value: { intValue: '7' } },
    { key: 'list', value: { arrayValue: { values: [{ stringValue: 'a' }] } } },
  ],
  resource: { attributes: [{ key: 'service.name', value: { stringValue: 'billing' } }] },
  scope: { name: 'pino', version: '10.4.0', attributes: [] },
  ...over,
});

describe('logs model', () => {
  it('composes one filter from the page filters, quoting what the user typed', () => {
    assert.equal(logsQuery({ q: '', level: '', text: '', service: '' }), '{ }');
    assert.equal(logsQuery({ q: '', level: 'warn', text: '', service: '' }), '{ severity >= warn }');
    assert.equal(
      logsQuery({ q: '{ log.code >= 500 || body =~ "x" }', level: 'error', text: ' say "hi"\\now ', service: 'billing' }),
      '{ severity >= error && resource.service.name = "billing" && body contains "say \\"hi\\"\\\\now" && (log.code >= 500 || body =~ "x") }',
    );
    assert.equal(logsQuery({ q: 'trace:id = "ab"', level: '', text: '', service: '' }), '{ trace:id = "ab" }');
    assert.equal(logString('a\nb\u0001'), '"a\\nb\\u0001"');
  });

  it('keeps its state in the URL, defaults left out', () => {
    const url = '/logs?q=%7B+.a+%3D+1+%7D&level=warn&text=timeout&service=billing&limit=500&range=6h';
    const route = parseRoute('/logs', url.slice(5));
    assert.equal(route.page, 'logs');
    assert.deepEqual(route.page === 'logs' && route.state, { q: '{ .a = 1 }', level: 'warn', text: 'timeout', service: 'billing', limit: 500, range: { preset: '6h' } });
    assert.equal(formatRoute(route), url);
    assert.equal(formatRoute(parseRoute('/logs', '?level=loud&limit=99999')), '/logs');
    assert.equal(linkFrom({ range: { preset: '6h' } }, { page: 'logs', q: '{ trace:id = "ab" }' }), '/logs?q=%7B+trace%3Aid+%3D+%22ab%22+%7D&range=6h');
  });

  it('turns a record into a row', () => {
    const r = logRow(record());
    assert.equal(r.timeMs, 1_700_000_000_123);
    assert.equal(r.timeNs, 1_700_000_000_123_456_789n);
    assert.equal(r.level, 'WARN');
    assert.deepEqual(r.attributes, [
      ['path', '/var'],
      ['pct', '91.5'],
      ['n', '7'],
      ['list', '{"arrayValue":{"values":[{"stringValue":"a"}]}}'],
    ]);
    assert.equal(r.scope, 'pino 10.4.0');
    assert.equal(logRow(record({ severityText: '', severity: 'error' })).level, 'ERROR');
    assert.equal(logRow(record({ severityText: '', severity: 'unspecified' })).level, '');
  });

  it('stacks the histogram by severity, every column present, and sums the legend', () => {
    const h = {
      startMs: 1000,
      endMs: 5000,
      stepMs: 1000,
      columns: 4,
      cells: [
        { column: 0, severity: 'error' as const, count: 2 },
        { column: 0, severity: 'info' as const, count: 5 },
        { column: 2, severity: 'warn' as const, count: 1 },
        { column: 9, severity: 'warn' as const, count: 100 },
      ],
      total: 8,
    };
    const { columns, max } = volumeColumns(h);
    assert.equal(columns.length, 4);
    assert.equal(max, 7);
    assert.deepEqual(columns[0].segments, [
      { severity: 'info', count: 5 },
      { severity: 'error', count: 2 },
    ]);
    assert.deepEqual([columns[1].total, columns[2].total, columns[3].total], [0, 1, 0]);
    assert.equal(columns[2].startMs, 3000);
    assert.deepEqual(severityTotals(h), [
      { severity: 'info', count: 5 },
      { severity: 'warn', count: 101 },
      { severity: 'error', count: 2 },
    ]);
  });

  it("groups a trace's records by span", () => {
    const by = logsBySpan({
      traceId: 'x',
      logs: [record({ id: 'a' }), record({ id: 'b', spanId: '' }), record({ id: 'c' })],
      bySpan: {},
      truncated: false,
    });
    assert.deepEqual(by.get('00f067aa0ba902b7')?.map((r) => r.id), ['a', 'c']);
    assert.deepEqual(by.get('')?.map((r) => r.id), ['b']);
  });
});

describe('log records on a span bar', () => {
  const row = (i: number, severity: LogRow['severity'], timeMs: number, extraNs = 0n): LogRow => ({
    id: `r${i}`,
    timeMs,
    timeNs: BigInt(timeMs) * 1_000_000n + extraNs,
    severity,
    level: severity.toUpperCase(),
    service: 'billing',
    body: `record ${i}`,
    traceId: 't',
    spanId: 's',
    eventName: '',
    attributes: [],
    resource: [],
    scope: '',
  });
  it('places each record at its time past the span start, to the nanosecond', () => {
    const start = 1_700_000_000_000n * 1_000_000n + 500n;
    const marks = barLogs(start, [row(1, 'info', 1_700_000_000_002, 700n)]);
    assert.deepEqual(marks.map((m) => [m.offsetNs, m.severity]), [[2_000_200, 'info']]);
    assert.match(marks[0].title, /INFO record 1/);
  });
  it('keeps every warning or worse when a chatty span has more records than marks', () => {
    const rows = Array.from({ length: 200 }, (_, i) => row(i, i % 50 === 7 ? 'error' : 'debug', 1_000 + i));
    const marks = barLogs(1_000n * 1_000_000n, rows, 10);
    assert.equal(marks.length, 10);
    assert.equal(marks.filter((m) => m.severity === 'error').length, 4);
    assert.deepEqual(marks.map((m) => m.offsetNs), [...marks.map((m) => m.offsetNs)].sort((a, b) => a - b));
  });
});
