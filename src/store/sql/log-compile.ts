import type { LogAttributeScope, LogCondition, LogField, LogCompareOp, LogIntrinsic } from '../log-request.js';
import type { CompareOp, Value } from '../request.js';
import { compareSql, hasKey, sideCondition } from './compile.js';
import { sql, join, ident, type Sql } from './sql.js';

/**
 * Compiles log conditions (log-request.ts) into SQL on a row of the logs
 * table. A log row holds its record's attributes (attr_*) and its
 * resource's (res_*) itself, so every condition is on the row alone.
 */

const ZERO_TRACE_ID = Buffer.alloc(16);
const ZERO_SPAN_ID = Buffer.alloc(8);

/** The SeverityNumber a record's level is read as (log-request.ts, `severityLevel`). */
export const SEVERITY_LEVEL = sql`multiIf(severity_number > 0, toUInt32(severity_number), upper(toString(severity_text)) IN ('TRACE'), 1, upper(toString(severity_text)) IN ('DEBUG'), 5, upper(toString(severity_text)) IN ('INFO'), 9, upper(toString(severity_text)) IN ('WARN', 'WARNING'), 13, upper(toString(severity_text)) IN ('ERROR'), 17, upper(toString(severity_text)) IN ('FATAL', 'CRITICAL'), 21, 0)`;

/** The severity class index (log-request.ts SEVERITY_CLASSES) of a row: 0 unspecified, 1 trace ... 6 fatal. */
export const SEVERITY_CLASS = sql`least(intDiv(${SEVERITY_LEVEL} + 3, 4), 6)`;

export function logCondition(c: LogCondition): Sql {
  switch (c.op) {
    case 'and':
      return c.terms.length === 0 ? sql`1` : c.terms.length === 1 ? logCondition(c.terms[0]) : sql`(${join(c.terms.map(logCondition), ' AND ')})`;
    case 'or':
      return c.terms.length === 0 ? sql`0` : c.terms.length === 1 ? logCondition(c.terms[0]) : sql`(${join(c.terms.map(logCondition), ' OR ')})`;
    case 'not':
      return sql`NOT (${logCondition(c.term)})`;
    case 'const':
      return c.value ? sql`1` : sql`0`;
    case 'exists':
      return exists(c.field);
    case 'compare':
      return c.field.kind === 'intrinsic' ? intrinsic(c.field.name, c.cmp, c.value) : attribute(c.field.scope, c.field.name, c.cmp, c.value);
  }
}

/** `x op value` with `search` (RE2, anywhere in the value) besides the span comparisons. */
function compare(x: Sql, op: LogCompareOp, value: Sql): Sql {
  if (op === 'search') return sql`match(${x}, ${value})`;
  if (op === 'notSearch') return sql`NOT match(${x}, ${value})`;
  return compareSql(x, op, value);
}

const isOrder = (op: LogCompareOp) => op === '=' || op === '!=' || op === '<' || op === '<=' || op === '>' || op === '>=';

function intrinsic(name: LogIntrinsic, op: LogCompareOp, v: Value): Sql {
  const text = (col: Sql) => (v.type === 'string' ? compare(sql`toString(${col})`, op, sql`${v.value}`) : sql`0`);
  const num = (col: Sql) => ((v.type === 'int' || v.type === 'float') && isOrder(op) ? compare(col, op, sql`${v.value}`) : sql`0`);
  // An absent id (zeros) equals no id: `!=` holds only on records that have one.
  const id = (col: Sql, zero: Buffer) =>
    v.type === 'id' && v.value.length === zero.length && (op === '=' || op === '!=') ? sql`(${col} != ${zero} AND ${compare(col, op, sql`${v.value}`)})` : sql`0`;
  switch (name) {
    case 'severityNumber':
      return num(sql`severity_number`);
    case 'severityLevel':
      return num(SEVERITY_LEVEL);
    case 'severityText':
      return text(sql`severity_text`);
    case 'body':
      return text(sql`body`);
    case 'traceId':
      return id(sql`trace_id`, ZERO_TRACE_ID);
    case 'spanId':
      return id(sql`span_id`, ZERO_SPAN_ID);
    case 'eventName':
      return text(sql`event_name`);
    case 'scopeName':
      return text(sql`scope_name`);
    case 'scopeVersion':
      return text(sql`scope_version`);
  }
}

function attribute(scope: LogAttributeScope, name: string, op: LogCompareOp, v: Value): Sql {
  // `search` over an attribute is a regular expression found anywhere in its string value.
  const side = (p: 'attr' | 'res') => (op === 'search' || op === 'notSearch' ? searchSide(p, name, op, v) : sideCondition(p, name, op as CompareOp, v));
  switch (scope) {
    case 'log':
      return side('attr');
    case 'resource':
      // Also a column of the sort key: whole values narrow the read.
      if (name === 'service.name' && v.type === 'string' && op !== 'search' && op !== 'notSearch') return compare(sql`toString(service_name)`, op, sql`${v.value}`);
      return side('res');
    case 'any':
      return sql`(${side('attr')} OR ${side('res')})`;
  }
}

function searchSide(p: 'attr' | 'res', name: string, op: 'search' | 'notSearch', v: Value): Sql {
  if (v.type !== 'string') return sql`0`;
  const keys = ident(`${p}_str_keys`);
  const found = sql`arrayExists((k, x) -> k = ${name} AND match(x, ${v.value}), ${keys}, ${ident(`${p}_str_values`)})`;
  return op === 'search' ? found : sql`(has(${keys}, ${name}) AND NOT ${found})`;
}

function exists(f: LogField): Sql {
  if (f.kind === 'attribute') {
    switch (f.scope) {
      case 'log':
        return hasKey('attr', f.name);
      case 'resource':
        return hasKey('res', f.name);
      case 'any':
        return sql`(${hasKey('attr', f.name)} OR ${hasKey('res', f.name)})`;
    }
  }
  switch (f.name) {
    case 'traceId':
      return sql`trace_id != ${ZERO_TRACE_ID}`;
    case 'spanId':
      return sql`span_id != ${ZERO_SPAN_ID}`;
    case 'body':
      return sql`body_kind != 0`;
    case 'severityText':
      return sql`severity_text != ''`;
    case 'eventName':
      return sql`event_name != ''`;
    default:
      return sql`1`;
  }
}
