import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileQuery, filterRequest } from '../src/query/traceql/index.js';
import { numberField, textField } from '../src/query/traceql/request.js';
import { condition, numberOf, textOf, type CompileContext } from '../src/store/sql/compile.js';
import { schemaStatements } from '../src/store/schema.js';
import { LEAST_CAPABLE } from '../src/store/engine.js';
import { capabilitiesFor } from '../src/store/clickhouse/index.js';
import { TenantScope } from '../src/store/index.js';

/**
 * The SQL Sightline generates, pinned: the store's conditions for
 * representative TraceQL, and the schema for each version path (ClickHouse
 * 18.16, the least capable, and a current server). A change to any of it
 * shows up here as a diff to review. SIGHTLINE_UPDATE_GOLDEN=1 rewrites.
 */

const here = path.dirname(fileURLToPath(import.meta.url));
const GOLDEN = path.resolve(here, '../../test/golden');
const range = { startNs: 1_700_000_000_000_000_000n, endNs: 1_700_003_600_000_000_000n };
const ctx: CompileContext = { scope: TenantScope.of(['acme']), range, joined: false };

function pinned(name: string, actual: string): void {
  const file = path.join(GOLDEN, name);
  if (process.env.SIGHTLINE_UPDATE_GOLDEN === '1' || !existsSync(file)) {
    if (process.env.SIGHTLINE_UPDATE_GOLDEN !== '1') assert.fail(`missing ${file}; run with SIGHTLINE_UPDATE_GOLDEN=1 and review it`);
    writeFileSync(file, actual);
    return;
  }
  assert.equal(actual, readFileSync(file, 'utf8'), `${name} differs from its pinned SQL`);
}

const QUERIES = [
  '{ resource.service.name = "x" && duration > 500ms }',
  '{ span.user.id = "u-123" }',
  '{ .http.status_code >= 500 || status = error }',
  '{ name =~ "GET /api/.*" && kind = server }',
  '{ .retry = true && .ratio < 0.5 && .missing = nil }',
  '{ traceDuration > 2s && rootServiceName = "gateway" }',
  '{ event:name = "exception" && event:timeSinceStart > 10ms }',
  '{ span:id = "0102030405060708" && trace:id = "0102" }',
  `{ .k = "o'brien \\\\ \\n --" }`,
];

describe('pinned SQL', () => {
  it('planner conditions', () => {
    const out = QUERIES.map((q) => `-- ${q}\n${condition(filterRequest(compileQuery(q)).where, ctx).text}\n`).join('\n');
    pinned('traceql-conditions.sql', out);
  });

  it('values for aggregates, by() and select()', () => {
    const fields = ['duration', '.bytes', 'span.size', 'name', 'status', 'resource.service.name', '.tenant.id'];
    const out = fields
      .map((f) => {
        const q = compileQuery(`{ } | select(${f})`);
        const field = (q.pipeline[1] as { fields: Parameters<typeof textField>[0][] }).fields[0];
        let number = '';
        try {
          number = numberOf(numberField(field), ctx).text;
        } catch {
          number = '(not a number)';
        }
        return `-- ${f}\ntext: ${textOf(textField(field), ctx).text}\nnumber: ${number}\n`;
      })
      .join('\n');
    pinned('traceql-values.sql', out);
  });

  for (const [name, caps] of [['clickhouse-18.16', LEAST_CAPABLE], ['clickhouse-24.8', capabilitiesFor('24.8.4.13')]] as const) {
    it(`schema for ${name}`, () => {
      const single = schemaStatements(caps, { database: 'default' })
        .map((s) => `${s.text};\n`)
        .join('\n');
      assert.deepEqual(capabilitiesFor(name === 'clickhouse-18.16' ? '18.16.1' : '24.8.4.13'), caps);
      pinned(`schema-${name}.sql`, single);
    });
  }
});
