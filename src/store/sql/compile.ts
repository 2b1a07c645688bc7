import type { Condition, CompareOp, Field, Numeric, SpanIntrinsic, TimeRange, Value } from '../request.js';
import { KIND_NAMES, STATUS_NAMES } from '../request.js';
import type { TenantScope } from '../tenant.js';
import { T, resourceIds, tenantIn, traceIdsWhere } from './tables.js';
import { sql, join, ident, type Sql } from './sql.js';

/**
 * Compiles the storage-free request vocabulary (request.ts) into SQL on a
 * span row of our schema: typed attribute arrays on spans, resources (with
 * their instrumentation scope) in their own table, trace-level fields in
 * the trace index. Everything the vocabulary can say compiles exactly; a
 * request outside it is a programming error (StoreRequestError).
 */

export interface CompileContext {
  scope: TenantScope;
  /** Bounds for trace-index subqueries (trace-level fields). */
  range: TimeRange;
  /**
   * The resource row's columns (res_*, scope_*) are joined to each span
   * row. Without them, resource fields are read through resource-id
   * subqueries (conditions) or not at all (values).
   */
  joined: boolean;
}

/** A request the vocabulary's contract rules out: a bug in the caller, not bad user input. */
export class StoreRequestError extends Error {
  override readonly name = 'StoreRequestError';
}

const ZERO_SPAN_ID = Buffer.alloc(8);
const STATUS_CODE: Record<string, number> = { unset: 0, ok: 1, error: 2 };
const STATUS_TEXT = sql`['unset', 'ok', 'error'][status_code + 1]`;
const KIND_TEXT = sql`['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'][kind + 1]`;

type Prefix = 'attr' | 'res';
type AttrType = 'str' | 'int' | 'float' | 'bool' | 'other';
const ALL_TYPES: readonly AttrType[] = ['str', 'int', 'float', 'bool', 'other'];
const keysOf = (p: Prefix, t: AttrType) => ident(`${p}_${t}_keys`);
const valuesOf = (p: Prefix, t: AttrType) => ident(`${p}_${t}_values`);

// ---- conditions -------------------------------------------------------------------

export function condition(c: Condition, ctx: CompileContext): Sql {
  switch (c.op) {
    case 'and':
      return c.terms.length === 0 ? sql`1` : c.terms.length === 1 ? condition(c.terms[0], ctx) : sql`(${join(c.terms.map((t) => condition(t, ctx)), ' AND ')})`;
    case 'or':
      return c.terms.length === 0 ? sql`0` : c.terms.length === 1 ? condition(c.terms[0], ctx) : sql`(${join(c.terms.map((t) => condition(t, ctx)), ' OR ')})`;
    case 'not':
      return sql`NOT (${condition(c.term, ctx)})`;
    case 'const':
      return c.value ? sql`1` : sql`0`;
    case 'exists':
      return exists(c.field, ctx);
    case 'compare':
      return c.field.kind === 'intrinsic' ? intrinsicCompare(c.field.name, c.cmp, c.value, ctx) : attributeCompare(c.field, c.cmp, c.value, ctx);
    case 'arithmetic':
      return sql`${numeric(c.left, ctx)} ${orderOp(c.cmp)} ${numeric(c.right, ctx)}`;
  }
}

/** `x op value`; a regular expression matches the whole value (RE2, as `^(?:re)$`). */
export function compareSql(x: Sql, op: CompareOp, value: Sql): Sql {
  switch (op) {
    case 'matches':
      return sql`match(${x}, concat('^(?:', ${value}, ')$'))`;
    case 'notMatches':
      return sql`NOT match(${x}, concat('^(?:', ${value}, ')$'))`;
    case 'contains':
      return sql`position(${x}, ${value}) > 0`;
    default:
      return sql`${x} ${orderOp(op)} ${value}`;
  }
}

function orderOp(op: CompareOp): Sql {
  const ops: Record<string, Sql> = { '=': sql`=`, '!=': sql`!=`, '>': sql`>`, '>=': sql`>=`, '<': sql`<`, '<=': sql`<=` };
  const out = ops[op];
  if (!out) throw new StoreRequestError(`'${op}' is not an ordering`);
  return out;
}

const isOrder = (op: CompareOp) => op !== 'matches' && op !== 'notMatches' && op !== 'contains';
const isNumber = (v: Value) => v.type === 'int' || v.type === 'float' || v.type === 'duration';
const numberLiteral = (v: Value): Sql => sql`${(v as { value: bigint | number }).value}`;
const textOfValue = (v: Value): string | null => (v.type === 'string' ? v.value : v.type === 'status' || v.type === 'kind' ? v.value : null);

function intrinsicCompare(name: SpanIntrinsic, op: CompareOp, v: Value, ctx: CompileContext): Sql {
  const text = (col: Sql) => (v.type === 'string' ? compareSql(col, op, sql`${v.value}`) : sql`0`);
  const num = (col: Sql) => (isNumber(v) && isOrder(op) ? compareSql(col, op, numberLiteral(v)) : sql`0`);
  const id = (col: Sql, bytes: number) => (v.type === 'id' && v.value.length === bytes && (op === '=' || op === '!=') ? compareSql(col, op, sql`${v.value}`) : sql`0`);
  switch (name) {
    case 'name':
      return text(sql`name`);
    case 'statusMessage':
      return text(sql`status_message`);
    case 'status':
      return v.type === 'status' && isOrder(op) ? compareSql(sql`status_code`, op, sql`${STATUS_CODE[v.value]}`) : sql`0`;
    case 'kind':
      return v.type === 'kind' && isOrder(op) ? compareSql(sql`kind`, op, sql`${KIND_NAMES.indexOf(v.value)}`) : sql`0`;
    case 'duration':
      return num(sql`toInt64(duration_ns)`);
    case 'start':
      return num(sql`toInt64(start_ns)`);
    case 'spanId':
      return id(sql`span_id`, 8);
    case 'parentId':
      return id(sql`parent_span_id`, 8);
    case 'traceId':
      return id(sql`trace_id`, 16);
    case 'scopeName':
      return inResources(text(sql`scope_name`), ctx);
    case 'scopeVersion':
      return inResources(text(sql`scope_version`), ctx);
    case 'eventName':
      return v.type === 'string' ? sql`arrayExists(x -> ${compareSql(sql`x`, op, sql`${v.value}`)}, event_name)` : sql`0`;
    case 'eventTimeSinceStart':
      return isNumber(v) ? sql`arrayExists(t -> ${compareSql(sql`toInt64(t) - toInt64(start_ns)`, op, numberLiteral(v))}, event_time_ns)` : sql`0`;
    case 'linkTraceId':
      return v.type === 'id' && v.value.length === 16 ? sql`arrayExists(x -> ${compareSql(sql`x`, op, sql`${v.value}`)}, link_trace_id)` : sql`0`;
    case 'linkSpanId':
      return v.type === 'id' && v.value.length === 8 ? sql`arrayExists(x -> ${compareSql(sql`x`, op, sql`${v.value}`)}, link_span_id)` : sql`0`;
    case 'traceDuration':
      return isNumber(v) ? traceLevel(compareSql(sql`toInt64(max(end_max)) - toInt64(min(start_min))`, op, numberLiteral(v)), ctx) : sql`0`;
    case 'rootName':
      return v.type === 'string' ? traceLevel(sql`max(has_root) = 1 AND ${compareSql(sql`anyIf(root_name, has_root = 1)`, op, sql`${v.value}`)}`, ctx) : sql`0`;
    case 'rootService':
      return v.type === 'string' ? traceLevel(sql`max(has_root) = 1 AND ${compareSql(sql`anyIf(root_service, has_root = 1)`, op, sql`${v.value}`)}`, ctx) : sql`0`;
  }
}

/** Spans of traces (in scope) whose trace-index rows in the range satisfy `having`. */
function traceLevel(having: Sql, ctx: CompileContext): Sql {
  return traceIdsWhere(ctx.scope, sql`end_max >= ${ctx.range.startNs} AND start_min < ${ctx.range.endNs}`, sql`HAVING ${having}`);
}

/** Spans whose resource row (resource and scope) matches `condition`. */
function inResources(condition: Sql, ctx: CompileContext): Sql {
  return resourceIds(ctx.scope, condition);
}

function exists(f: Field, ctx: CompileContext): Sql {
  if (f.kind === 'intrinsic') {
    switch (f.name) {
      case 'eventName':
      case 'eventTimeSinceStart':
        return sql`notEmpty(event_time_ns)`;
      case 'linkTraceId':
      case 'linkSpanId':
        return sql`notEmpty(link_span_id)`;
      case 'parentId':
        return sql`parent_span_id != ${ZERO_SPAN_ID}`;
      case 'rootName':
      case 'rootService':
        return traceLevel(sql`max(has_root) = 1`, ctx);
      default:
        return sql`1`;
    }
  }
  switch (f.scope) {
    case 'span':
      return hasKey('attr', f.name);
    case 'resource':
      return inResources(hasKey('res', f.name), ctx);
    case 'any':
      return sql`(${hasKey('attr', f.name)} OR ${inResources(hasKey('res', f.name), ctx)})`;
    case 'event':
      return sql`arrayExists(x -> ${jsonHasKey(sql`x`, f.name)}, event_attrs)`;
    case 'link':
      return sql`arrayExists(x -> ${jsonHasKey(sql`x`, f.name)}, link_attrs)`;
    case 'instrumentation':
      return inResources(jsonHasKey(sql`scope_attrs`, f.name), ctx);
  }
}

export function hasKey(p: Prefix, key: string): Sql {
  return sql`(${join(ALL_TYPES.map((t) => sql`has(${keysOf(p, t)}, ${key})`), ' OR ')})`;
}

/** `key op value` over one typed attribute array pair. */
function typed(p: Prefix, t: AttrType, key: string, op: CompareOp, value: Sql): Sql {
  const exact = sql`arrayExists((k, v) -> k = ${key} AND ${compareSql(sql`v`, op, value)}, ${keysOf(p, t)}, ${valuesOf(p, t)})`;
  // For equality, has() first: a vectorised scan (and the bloom-filter
  // index) rules out most rows before the lambda runs.
  return op === '=' ? sql`(has(${valuesOf(p, t)}, ${value}) AND ${exact})` : exact;
}

/** An attribute comparison on one side (span row, or resource row). */
export function sideCondition(p: Prefix, key: string, op: CompareOp, v: Value): Sql {
  const text = textOfValue(v);
  if (text !== null) return typed(p, 'str', key, op, sql`${text}`);
  if (isNumber(v)) {
    if (op === 'matches' || op === 'notMatches' || op === 'contains') return sql`0`;
    // Ints and floats compare by value; a duration is its count of nanoseconds.
    return sql`(${typed(p, 'int', key, op, numberLiteral(v))} OR ${typed(p, 'float', key, op, sql`toFloat64(${numberLiteral(v)})`)})`;
  }
  if (v.type === 'bool') return op === '=' || op === '!=' ? typed(p, 'bool', key, op, sql`${v.value ? 1 : 0}`) : sql`0`;
  return sql`0`;
}

function attributeCompare(a: Field & { kind: 'attribute' }, op: CompareOp, v: Value, ctx: CompileContext): Sql {
  switch (a.scope) {
    case 'span':
      return sideCondition('attr', a.name, op, v);
    case 'resource':
      if (a.name === 'service.name' && v.type === 'string') {
        // Also the spans table's leading sort-key column: name whole values
        // so the sort key narrows what is read.
        if (op === '=') return sql`service_name = ${v.value}`;
        if (op === 'contains') return sql`service_name GLOBAL IN (SELECT DISTINCT service_name FROM ${T.resources} WHERE ${tenantIn(ctx.scope)} AND position(service_name, ${v.value}) > 0)`;
      }
      return inResources(sideCondition('res', a.name, op, v), ctx);
    case 'any':
      return sql`(${sideCondition('attr', a.name, op, v)} OR ${inResources(sideCondition('res', a.name, op, v), ctx)})`;
    default:
      return jsonListCompare(a.scope, a.name, op, v, ctx);
  }
}

/**
 * event., link. and instrumentation. attributes are stored as canonical
 * OTLP/JSON KeyValue lists, one string per event (link, scope). Canonical
 * means one exact spelling per key and value, so equality is an exact
 * substring test on every engine version (18.16 has no JSON functions).
 */
function jsonListCompare(scope: 'event' | 'link' | 'instrumentation', name: string, op: CompareOp, v: Value, ctx: CompileContext): Sql {
  if (op !== '=' && op !== '!=') throw new StoreRequestError(`${scope}. attributes take only = and !=`);
  const keyFragment = jsonKeyFragment(name);
  const values: string[] = [];
  switch (v.type) {
    case 'string':
      values.push(`{"stringValue":${JSON.stringify(v.value)}}`);
      break;
    case 'bool':
      values.push(`{"boolValue":${v.value}}`);
      break;
    case 'int':
      values.push(`{"intValue":"${v.value}"}`, `{"doubleValue":${Number(v.value)}}`);
      break;
    case 'float':
      values.push(`{"doubleValue":${JSON.stringify(v.value)}}`);
      if (Number.isInteger(v.value)) values.push(`{"intValue":"${v.value}"}`);
      break;
    default:
      return sql`0`;
  }
  const has = (x: Sql, fragment: string) => sql`position(${x}, ${fragment}) > 0`;
  const matches = (x: Sql): Sql => {
    const equal = sql`(${join(values.map((val) => has(x, `${keyFragment}${val}}`)), ' OR ')})`;
    return op === '=' ? equal : sql`(${has(x, keyFragment)} AND NOT ${equal})`;
  };
  if (scope === 'instrumentation') return inResources(matches(sql`scope_attrs`), ctx);
  return sql`arrayExists(x -> ${matches(sql`x`)}, ${scope === 'event' ? sql`event_attrs` : sql`link_attrs`})`;
}

const jsonKeyFragment = (name: string) => `{"key":${JSON.stringify(name)},"value":`;

function jsonHasKey(x: Sql, name: string): Sql {
  return sql`position(${x}, ${jsonKeyFragment(name)}) > 0`;
}

// ---- values -----------------------------------------------------------------------

/** A number on a span row (Float64), NaN where absent. */
export function numeric(n: Numeric, ctx: CompileContext): Sql {
  switch (n.kind) {
    case 'number':
      return sql`toFloat64(${n.value})`;
    case 'negate':
      return sql`(-${numeric(n.operand, ctx)})`;
    case 'field':
      return numberOf(n.field, ctx);
    case 'binary': {
      const l = numeric(n.left, ctx);
      const r = numeric(n.right, ctx);
      switch (n.op) {
        case '+':
          return sql`(${l} + ${r})`;
        case '-':
          return sql`(${l} - ${r})`;
        case '*':
          return sql`(${l} * ${r})`;
        case '/':
          return sql`(${l} / ${r})`;
        case '%':
          return sql`modulo(${l}, ${r})`;
        case '^':
          return sql`pow(${l}, ${r})`;
      }
    }
  }
}

/** True when reading these fields' values needs the resource row joined to spans. */
export function needsResourceRow(fields: readonly Field[]): boolean {
  return fields.some(
    (f) =>
      (f.kind === 'attribute' && (f.scope === 'any' || f.scope === 'instrumentation' || (f.scope === 'resource' && f.name !== 'service.name'))) ||
      (f.kind === 'intrinsic' && (f.name === 'scopeName' || f.name === 'scopeVersion')),
  );
}

/** A numeric field on a span row as Float64, NaN where absent: the duration, int and float attributes. */
export function numberOf(f: Field, ctx: CompileContext): Sql {
  if (f.kind === 'intrinsic') {
    if (f.name === 'duration') return sql`toFloat64(duration_ns)`;
    if (f.name === 'start') return sql`toFloat64(start_ns)`;
    throw new StoreRequestError(`${f.name} is not a number`);
  }
  const side = (p: Prefix, otherwise: Sql): Sql => {
    const at = (t: AttrType) => sql`${valuesOf(p, t)}[indexOf(${keysOf(p, t)}, ${f.name})]`;
    return sql`if(has(${keysOf(p, 'int')}, ${f.name}), toFloat64(${at('int')}), if(has(${keysOf(p, 'float')}, ${f.name}), ${at('float')}, ${otherwise}))`;
  };
  switch (f.scope) {
    case 'span':
      return side('attr', sql`nan`);
    case 'any':
      return side('attr', ctx.joined ? side('res', sql`nan`) : sql`nan`);
    case 'resource':
      if (ctx.joined) return side('res', sql`nan`);
      // Read from the span row without the join (needsResourceRow), and a
      // string: like any string attribute, never a number (found by
      // test/fuzz.test.ts: quantile_over_time(resource.service.name, .5) was a 500).
      if (f.name === 'service.name') return sql`nan`;
  }
  throw new StoreRequestError(`${f.scope}. attributes are not read as numbers${f.scope === 'resource' ? ' without the resource row' : ''}`);
}

/** A field's value on a span row as text ('' where absent): by() keys and shown values. */
export function textOf(f: Field, ctx: CompileContext): Sql {
  if (f.kind === 'intrinsic') {
    switch (f.name) {
      case 'name':
        return sql`toString(name)`;
      case 'status':
        return STATUS_TEXT;
      case 'kind':
        return KIND_TEXT;
      case 'statusMessage':
        return sql`toString(status_message)`;
      case 'duration':
        return sql`toString(duration_ns)`;
      case 'scopeName':
        if (ctx.joined) return sql`toString(scope_name)`;
        break;
      case 'scopeVersion':
        if (ctx.joined) return sql`toString(scope_version)`;
        break;
    }
    throw new StoreRequestError(`${f.name} is not read as text${ctx.joined ? '' : ' without the resource row'}`);
  }
  if (f.scope === 'resource' && f.name === 'service.name') return sql`toString(service_name)`;
  if (f.scope === 'resource' && ctx.joined) return attributeText('res', f.name);
  if (f.scope === 'span' || f.scope === 'any') {
    const span = attributeText('attr', f.name);
    // Unscoped names fall back to the resource; service.name lives there.
    if (f.scope === 'any' && f.name === 'service.name') return sql`if(${span} = '', toString(service_name), ${span})`;
    if (f.scope === 'any' && ctx.joined) return sql`if(${span} = '', ${attributeText('res', f.name)}, ${span})`;
    return span;
  }
  throw new StoreRequestError(`${f.scope}. attributes are not read as text${ctx.joined ? '' : ' without the resource row'}`);
}

/** An attribute's value as text ('' when absent), whatever its type. */
export function attributeText(p: Prefix, name: string): Sql {
  const pick = (t: AttrType, conv: (x: Sql) => Sql) => sql`if(has(${keysOf(p, t)}, ${name}), ${conv(sql`${valuesOf(p, t)}[indexOf(${keysOf(p, t)}, ${name})]`)}, '')`;
  return sql`concat(${pick('str', (x) => x)}, ${pick('int', (x) => sql`toString(${x})`)}, ${pick('float', (x) => sql`toString(${x})`)}, ${pick('bool', (x) => sql`if(${x} = 1, 'true', 'false')`)})`;
}

/**
 * A field's values on a span row, encoded as text for {@link parseTypedValues}:
 * `<type>:<value>` for one value, '' when absent; a list (events, links)
 * as `<type>:` and comma-separated hex; JSON-stored attributes as `J:` and
 * their lists one per line. The resource row must be joined.
 */
export function typedOf(f: Field): Sql {
  if (f.kind === 'intrinsic') {
    switch (f.name) {
      case 'name':
        return sql`concat('s:', toString(name))`;
      case 'statusMessage':
        return sql`concat('s:', toString(status_message))`;
      case 'status':
        return sql`concat('st:', ${STATUS_TEXT})`;
      case 'kind':
        return sql`concat('k:', ${KIND_TEXT})`;
      case 'duration':
        return sql`concat('d:', toString(duration_ns))`;
      case 'start':
        return sql`concat('i:', toString(start_ns))`;
      case 'spanId':
        return sql`concat('s:', lower(hex(span_id)))`;
      case 'parentId':
        return sql`concat('s:', lower(hex(parent_span_id)))`;
      case 'traceId':
        return sql`concat('s:', lower(hex(trace_id)))`;
      case 'scopeName':
        return sql`concat('s:', toString(scope_name))`;
      case 'scopeVersion':
        return sql`concat('s:', toString(scope_version))`;
      // One value per event (link), as comma-separated hex: safe for any
      // name on every engine (18.16 has hex() but no JSON output).
      case 'eventName':
        return sql`concat('L:s:', arrayStringConcat(arrayMap(x -> hex(x), event_name), ','))`;
      case 'eventTimeSinceStart':
        return sql`concat('L:d:', arrayStringConcat(arrayMap(x -> hex(toString(toInt64(x) - toInt64(start_ns))), event_time_ns), ','))`;
      case 'linkTraceId':
        return sql`concat('L:s:', arrayStringConcat(arrayMap(x -> hex(lower(hex(x))), link_trace_id), ','))`;
      case 'linkSpanId':
        return sql`concat('L:s:', arrayStringConcat(arrayMap(x -> hex(lower(hex(x))), link_span_id), ','))`;
      default:
        throw new StoreRequestError(`${f.name} is a trace-level field; the evaluator derives it from the trace's spans`);
    }
  }
  switch (f.scope) {
    case 'span':
      return typedSide('attr', f.name);
    case 'resource':
      return typedSide('res', f.name);
    case 'any':
      return sql`if(${typedSide('attr', f.name)} = '', ${typedSide('res', f.name)}, ${typedSide('attr', f.name)})`;
    // JSON strings never hold a raw newline: one list per line.
    case 'event':
      return sql`concat('J:', arrayStringConcat(event_attrs, '\n'))`;
    case 'link':
      return sql`concat('J:', arrayStringConcat(link_attrs, '\n'))`;
    case 'instrumentation':
      return sql`concat('J:', toString(scope_attrs))`;
  }
}

function typedSide(p: Prefix, name: string): Sql {
  const at = (t: AttrType) => sql`${valuesOf(p, t)}[indexOf(${keysOf(p, t)}, ${name})]`;
  const has = (t: AttrType) => sql`has(${keysOf(p, t)}, ${name})`;
  return sql`multiIf(${has('str')}, concat('s:', ${at('str')}), ${has('int')}, concat('i:', toString(${at('int')})), ${has('float')}, concat('f:', toString(${at('float')})), ${has('bool')}, if(${at('bool')} = 1, 'b:true', 'b:false'), '')`;
}

/** Decodes {@link typedOf}'s text for field `f` into its values. */
export function parseTypedValues(text: string, f: Field): Value[] {
  if (text === '') return [];
  if (text.startsWith('L:')) {
    const rest = text.slice(2);
    const colon = rest.indexOf(':');
    const body = rest.slice(colon + 1);
    if (body === '') return [];
    const type = rest.slice(0, colon);
    return body.split(',').map((h) => parseOne(type, Buffer.from(h, 'hex').toString('utf8'))!);
  }
  if (text.startsWith('J:')) return jsonValues(text.slice(2), f.kind === 'attribute' ? f.name : '');
  const colon = text.indexOf(':');
  const v = parseOne(text.slice(0, colon), text.slice(colon + 1));
  return v ? [v] : [];
}

function parseOne(type: string, value: string): Value | null {
  switch (type) {
    case 's':
      return { type: 'string', value };
    case 'i':
      return { type: 'int', value: BigInt(value) };
    case 'd':
      return { type: 'duration', value: BigInt(value) };
    case 'f':
      return { type: 'float', value: Number(value) };
    case 'b':
      return { type: 'bool', value: value === 'true' };
    case 'st':
      return (STATUS_NAMES as readonly string[]).includes(value) ? { type: 'status', value: value as (typeof STATUS_NAMES)[number] } : null;
    case 'k':
      return (KIND_NAMES as readonly string[]).includes(value) ? { type: 'kind', value: value as (typeof KIND_NAMES)[number] } : null;
  }
  return null;
}

/** Values of `key` in newline-separated OTLP/JSON KeyValue lists. */
function jsonValues(lists: string, key: string): Value[] {
  if (lists === '' || !lists.includes(JSON.stringify(key))) return [];
  const out: Value[] = [];
  for (const line of lists.split('\n')) {
    if (line === '') continue;
    for (const kv of JSON.parse(line) as { key: string; value?: Record<string, unknown> }[]) {
      if (kv.key !== key || !kv.value) continue;
      const v = kv.value;
      if (typeof v.stringValue === 'string') out.push({ type: 'string', value: v.stringValue });
      else if (v.intValue !== undefined) out.push({ type: 'int', value: BigInt(v.intValue as string | number) });
      else if (v.doubleValue !== undefined) out.push({ type: 'float', value: Number(v.doubleValue) });
      else if (typeof v.boolValue === 'boolean') out.push({ type: 'bool', value: v.boolValue });
    }
  }
  return out;
}
