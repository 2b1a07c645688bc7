import { sql, join, ident, type Sql } from '../sql/index.js';
import { KIND_VALUES, STATUS_VALUES, type Attribute, type ComparisonOp, type FieldExpr, type Intrinsic, type Query, type Static } from './ast.js';
import { TraceQLUnsupportedError, TraceQLValidationError } from './errors.js';
import { printField } from './printer.js';

/**
 * Compiles what SQL can do into conditions on span rows. The planner knows
 * the storage schema: typed attribute arrays on spans, resources in their
 * own table, trace-level fields in the trace index. What it does not
 * compile yet is refused with TraceQLUnsupportedError, never approximated.
 */

export interface SpanFilterPlan {
  /** Conditions on a span row (AND-ed); the time range is added by the caller. */
  where: Sql;
  /** Values to show on matching spans: name and a string expression on the span row. */
  shown: { key: string; value: Sql }[];
}

export interface PlanContext {
  /** Bounds for trace-index subqueries. */
  range: { startNs: bigint; endNs: bigint };
}

/** Where a field's value may be read from. */
export interface ValueContext {
  /**
   * The resource's attribute columns (res_*) are joined to each span row
   * (the evaluator's span fetch and metrics by() over resource attributes).
   * Without them only resource.service.name, a spans column, can be read.
   */
  resources?: boolean;
}

const RESOURCES = ident('resources');
const TRACE_INDEX = ident('trace_index');

/** Plans a query that is a single spanset filter; anything else is refused for now. */
export function planSearch(q: Query, ctx: PlanContext): SpanFilterPlan {
  const [first, ...rest] = q.pipeline;
  if (rest.length > 0) throw new TraceQLUnsupportedError('pipeline stages after the spanset', rest[0].pos);
  if (first.kind !== 'filter') throw new TraceQLUnsupportedError(`the spanset operator '${first.kind === 'spansetOp' ? first.op : ''}'`, first.pos);
  if (!first.expr) return { where: sql`1`, shown: [] };
  const shown: SpanFilterPlan['shown'] = [];
  collectShown(first.expr, shown);
  return { where: condition(first.expr, ctx), shown };
}

/** A filter's condition on one span row. */
export function compileCondition(e: FieldExpr | null, ctx: PlanContext): Sql {
  return e ? condition(e, ctx) : sql`1`;
}

function condition(e: FieldExpr, ctx: PlanContext): Sql {
  switch (e.kind) {
    case 'binary':
      if (e.op === '&&') return sql`(${condition(e.left, ctx)} AND ${condition(e.right, ctx)})`;
      if (e.op === '||') return sql`(${condition(e.left, ctx)} OR ${condition(e.right, ctx)})`;
      if (isComparison(e.op)) return comparison(e.op, e.left, e.right, ctx);
      throw new TraceQLUnsupportedError(`arithmetic ('${e.op}') in a filter`, e.pos);
    case 'unary':
      if (e.op === '!') return sql`NOT (${condition(e.operand, ctx)})`;
      throw new TraceQLUnsupportedError("unary '-' in a filter", e.pos);
    case 'attribute':
      // A bare attribute is a boolean attribute that is true.
      return attributeCompare(e, '=', { kind: 'static', type: 'bool', value: true, pos: e.pos });
    default:
      throw new TraceQLUnsupportedError(`${printField(e)} as a condition`, e.pos);
  }
}

function isComparison(op: string): op is ComparisonOp {
  return ['=', '!=', '>', '>=', '<', '<=', '=~', '!~'].includes(op);
}

const FLIPPED: Record<ComparisonOp, ComparisonOp> = { '=': '=', '!=': '!=', '>': '<', '>=': '<=', '<': '>', '<=': '>=', '=~': '=~', '!~': '!~' };

function comparison(op: ComparisonOp, left: FieldExpr, right: FieldExpr, ctx: PlanContext): Sql {
  // Field on the left, value on the right.
  if (left.kind === 'static' && right.kind !== 'static') return comparison(FLIPPED[op], right, left, ctx);
  // Arithmetic, and numeric fields compared with each other: both sides as
  // numbers (NaN, and so false, where an attribute is absent).
  if (isArithmetic(left) || isArithmetic(right) || (right.kind !== 'static' && isNumericField(left) && isNumericField(right))) {
    if (op === '=~' || op === '!~') throw new TraceQLUnsupportedError(`'${op}' on arithmetic`, left.pos);
    return sql`${numeric(left)} ${sqlOp(op)} ${numeric(right)}`;
  }
  if (right.kind !== 'static') throw new TraceQLUnsupportedError('comparing two fields that are not numbers', right.pos);
  if (left.kind === 'intrinsic') return intrinsicCompare(left, op, right, ctx);
  if (left.kind === 'attribute') return attributeCompare(left, op, right);
  throw new TraceQLUnsupportedError(`${printField(left)} on the left of '${op}'`, left.pos);
}

function isArithmetic(e: FieldExpr): boolean {
  return (e.kind === 'binary' && ['+', '-', '*', '/', '%', '^'].includes(e.op)) || (e.kind === 'unary' && e.op === '-');
}

function isNumericField(e: FieldExpr): boolean {
  return (e.kind === 'attribute' && !e.parent && (e.scope === 'span' || e.scope === 'any')) || (e.kind === 'intrinsic' && (e.name === 'duration' || e.name === 'span:duration'));
}

/** A numeric expression on a span row: durations in nanoseconds, absent attributes NaN. */
function numeric(e: FieldExpr): Sql {
  switch (e.kind) {
    case 'static':
      if (e.type === 'int' || e.type === 'duration') return sql`toFloat64(${e.value})`;
      if (e.type === 'float') return sql`toFloat64(${e.value})`;
      throw new TraceQLUnsupportedError(`a ${e.type} in arithmetic`, e.pos);
    case 'unary':
      return sql`(-${numeric(e.operand)})`;
    case 'binary': {
      const l = numeric(e.left);
      const r = numeric(e.right);
      switch (e.op) {
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
      throw new TraceQLUnsupportedError(`'${e.op}' inside arithmetic`, e.pos);
    }
    default:
      return compileNumber(e);
  }
}

/** `col op value`, or a regular expression match (fully anchored, as RE2 with ^...$). */
function compare(col: Sql, op: ComparisonOp, value: Sql): Sql {
  switch (op) {
    case '=~':
      return sql`match(${col}, concat('^(?:', ${value}, ')$'))`;
    case '!~':
      return sql`NOT match(${col}, concat('^(?:', ${value}, ')$'))`;
    default:
      return sql`${col} ${sqlOp(op)} ${value}`;
  }
}

function sqlOp(op: ComparisonOp): Sql {
  const ops: Record<string, Sql> = { '=': sql`=`, '!=': sql`!=`, '>': sql`>`, '>=': sql`>=`, '<': sql`<`, '<=': sql`<=` };
  return ops[op];
}

function literal(s: Static): Sql {
  switch (s.type) {
    case 'string':
      return sql`${s.value}`;
    case 'int':
    case 'duration':
      return sql`${s.value}`;
    case 'float':
      return sql`${s.value}`;
    case 'bool':
      return sql`${s.value ? 1 : 0}`;
    case 'status':
      return sql`${STATUS_CODE[s.value]}`;
    case 'kind':
      return sql`${KIND_VALUES.indexOf(s.value)}`;
    case 'nil':
      throw new Error('nil has no literal');
  }
}

const STATUS_CODE: Record<(typeof STATUS_VALUES)[number], number> = { unset: 0, ok: 1, error: 2 };

function intrinsicCompare(f: Intrinsic, op: ComparisonOp, v: Static, ctx: PlanContext): Sql {
  // Intrinsics always exist: `= nil` matches nothing, `!= nil` every span.
  if (v.type === 'nil') {
    if (op !== '=' && op !== '!=') throw new TraceQLValidationError(`nil takes only = and !=`, v.pos);
    return op === '=' ? sql`0` : sql`1`;
  }
  const id = (bytes: number): Sql => {
    if (v.type !== 'string' || !new RegExp(`^[0-9a-fA-F]{1,${bytes * 2}}$`).test(v.value))
      throw new TraceQLValidationError(`${f.name} takes an id of up to ${bytes * 2} hex characters`, v.pos);
    return sql`${Buffer.from(v.value.padStart(bytes * 2, '0'), 'hex')}`;
  };
  switch (f.name) {
    case 'name':
    case 'span:name':
      return compare(sql`name`, op, literal(v));
    case 'statusMessage':
    case 'span:statusMessage':
      return compare(sql`status_message`, op, literal(v));
    case 'status':
    case 'span:status':
      return compare(sql`status_code`, op, literal(v));
    case 'kind':
    case 'span:kind':
      return compare(sql`kind`, op, literal(v));
    case 'duration':
    case 'span:duration':
      return compare(sql`toInt64(duration_ns)`, op, literal(v));
    case 'span:id':
      return compare(sql`span_id`, op, id(8));
    case 'span:parentID':
      return compare(sql`parent_span_id`, op, id(8));
    case 'trace:id':
      return compare(sql`trace_id`, op, id(16));
    case 'instrumentation:name':
      return compare(sql`scope_name`, op, literal(v));
    case 'instrumentation:version':
      return compare(sql`scope_version`, op, literal(v));
    case 'event:name':
      return sql`arrayExists(x -> ${compare(sql`x`, op, literal(v))}, event_name)`;
    case 'event:timeSinceStart':
      return sql`arrayExists(t -> ${compare(sql`toInt64(t) - toInt64(start_ns)`, op, literal(v))}, event_time_ns)`;
    case 'link:traceID':
      return sql`arrayExists(x -> ${compare(sql`x`, op, id(16))}, link_trace_id)`;
    case 'link:spanID':
      return sql`arrayExists(x -> ${compare(sql`x`, op, id(8))}, link_span_id)`;
    case 'traceDuration':
    case 'trace:duration':
      return traceLevel(sql`HAVING ${compare(sql`toInt64(max(end_max)) - toInt64(min(start_min))`, op, literal(v))}`, ctx);
    case 'rootName':
    case 'trace:rootName':
      return traceLevel(sql`HAVING max(has_root) = 1 AND ${compare(sql`anyIf(root_name, has_root = 1)`, op, literal(v))}`, ctx);
    case 'rootServiceName':
    case 'trace:rootService':
      return traceLevel(sql`HAVING max(has_root) = 1 AND ${compare(sql`anyIf(root_service, has_root = 1)`, op, literal(v))}`, ctx);
  }
}

/** Spans of traces whose trace-index rows in the range satisfy `having`. */
function traceLevel(having: Sql, ctx: PlanContext): Sql {
  return sql`trace_id GLOBAL IN (SELECT trace_id FROM ${TRACE_INDEX} WHERE end_max >= ${ctx.range.startNs} AND start_min < ${ctx.range.endNs} GROUP BY trace_id ${having})`;
}

type AttrType = 'str' | 'int' | 'float' | 'bool' | 'other';
const ALL_TYPES: AttrType[] = ['str', 'int', 'float', 'bool', 'other'];

/** `key op value` over one typed attribute array of a prefix (attr_ or res_). */
function typed(prefix: 'attr' | 'res', type: AttrType, key: string, op: ComparisonOp, value: Sql): Sql {
  const keys = ident(`${prefix}_${type}_keys`);
  const values = ident(`${prefix}_${type}_values`);
  const exact = sql`arrayExists((k, v) -> k = ${key} AND ${compare(sql`v`, op, value)}, ${keys}, ${values})`;
  // For equality, has() first: a vectorised scan that rules out most rows
  // before the lambda runs (a user id at 10M spans: 5.4 s -> 3.5-4.4 s).
  return op === '=' ? sql`(has(${values}, ${value}) AND ${exact})` : exact;
}

function exists(prefix: 'attr' | 'res', key: string): Sql {
  return sql`(${join(ALL_TYPES.map((t) => sql`has(${ident(`${prefix}_${t}_keys`)}, ${key})`), ' OR ')})`;
}

/** The attribute condition on one side (span row, or resource row). */
function sideCondition(prefix: 'attr' | 'res', key: string, op: ComparisonOp, v: Static): Sql {
  switch (v.type) {
    case 'string':
      return typed(prefix, 'str', key, op, literal(v));
    case 'int':
    case 'float':
      // Ints and floats compare by value, as in Tempo.
      return sql`(${typed(prefix, 'int', key, op, v.type === 'int' ? literal(v) : sql`${v.value}`)} OR ${typed(prefix, 'float', key, op, sql`toFloat64(${literal(v)})`)})`;
    case 'bool':
      return typed(prefix, 'bool', key, op, literal(v));
    case 'duration':
      // A duration is a count of nanoseconds: it matches numeric attributes holding that count.
      return sql`(${typed(prefix, 'int', key, op, literal(v))} OR ${typed(prefix, 'float', key, op, sql`toFloat64(${literal(v)})`)})`;
    case 'status':
    case 'kind':
      // Attributes hold no enums; a status or kind matches its name as a string (`.level = error`).
      return typed(prefix, 'str', key, op, sql`${v.value}`);
    case 'nil':
      return op === '=' ? sql`NOT ${exists(prefix, key)}` : exists(prefix, key);
  }
}

function inResources(condition: Sql): Sql {
  return sql`resource_id GLOBAL IN (SELECT resource_id FROM ${RESOURCES} WHERE ${condition})`;
}

function attributeCompare(a: Attribute, op: ComparisonOp, v: Static): Sql {
  if (a.parent) throw new TraceQLUnsupportedError('parent. attributes', a.pos);
  if (v.type === 'nil' && op !== '=' && op !== '!=') throw new TraceQLUnsupportedError(`nil with '${op}'`, v.pos);
  switch (a.scope) {
    case 'span':
      return sideCondition('attr', a.name, op, v);
    case 'resource':
      // service.name is also the spans table's leading sort key column.
      if (a.name === 'service.name' && v.type === 'string' && op === '=') return sql`service_name = ${v.value}`;
      return inResources(sideCondition('res', a.name, op, v));
    case 'any': {
      const span = sideCondition('attr', a.name, op, v);
      const resource = inResources(sideCondition('res', a.name, op, v));
      // For nil, "absent" must hold on both sides.
      if (v.type === 'nil' && op === '=') return sql`(${span} AND NOT ${inResources(exists('res', a.name))})`;
      return sql`(${span} OR ${resource})`;
    }
    default:
      return jsonListCompare(a, op, v);
  }
}

/**
 * event., link. and instrumentation. attributes are stored as canonical
 * OTLP/JSON KeyValue lists, one string per event (link, scope). Canonical
 * means one exact spelling per key and value, so equality and existence are
 * exact substring tests, on every engine version; other comparisons would
 * need JSON parsing and are refused.
 */
function jsonListCompare(a: Attribute, op: ComparisonOp, v: Static): Sql {
  const column = a.scope === 'event' ? sql`event_attrs` : a.scope === 'link' ? sql`link_attrs` : null;
  const keyFragment = `{"key":${JSON.stringify(a.name)},"value":`;
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
    case 'nil':
      break;
    default:
      throw new TraceQLUnsupportedError(`${a.scope}. attributes compared with a ${v.type}`, v.pos);
  }
  if (v.type !== 'nil' && op !== '=' && op !== '!=') throw new TraceQLUnsupportedError(`'${op}' on ${a.scope}. attributes`, a.pos);
  const has = (x: Sql, fragment: string) => sql`position(${x}, ${fragment}) > 0`;
  const matches = (x: Sql): Sql => {
    if (v.type === 'nil') return op === '=' ? sql`NOT ${has(x, keyFragment)}` : has(x, keyFragment);
    const equal = sql`(${join(values.map((val) => has(x, `${keyFragment}${val}}`)), ' OR ')})`;
    return op === '=' ? equal : sql`(${has(x, keyFragment)} AND NOT ${equal})`;
  };
  if (!column) return matches(sql`scope_attrs`);
  // `= nil` holds when no event (link) has the key.
  if (v.type === 'nil' && op === '=') return sql`NOT arrayExists(x -> ${has(sql`x`, keyFragment)}, ${column})`;
  return sql`arrayExists(x -> ${matches(sql`x`)}, ${column})`;
}

/** Attributes and intrinsics the query names, as Tempo shows them on matched spans. */
function collectShown(e: FieldExpr, out: SpanFilterPlan['shown']): void {
  if (e.kind === 'binary') {
    collectShown(e.left, out);
    collectShown(e.right, out);
  } else if (e.kind === 'unary') collectShown(e.operand, out);
  else if (e.kind === 'attribute' && e.scope !== 'resource' && !e.parent && (e.scope === 'span' || e.scope === 'any')) {
    if (out.some((s) => s.key === e.name)) return;
    const k = e.name;
    const pick = (t: AttrType, conv: (x: Sql) => Sql) => sql`if(has(${ident(`attr_${t}_keys`)}, ${k}), ${conv(sql`${ident(`attr_${t}_values`)}[indexOf(${ident(`attr_${t}_keys`)}, ${k})]`)}, '')`;
    out.push({
      key: k,
      value: sql`concat(${pick('str', (x) => x)}, ${pick('int', (x) => sql`toString(${x})`)}, ${pick('float', (x) => sql`toString(${x})`)}, ${pick('bool', (x) => sql`if(${x} = 1, 'true', 'false')`)})`,
    });
  } else if (e.kind === 'intrinsic') {
    const key = e.name.replace(/^span:/, '');
    if (out.some((s) => s.key === key)) return;
    if (key === 'status') out.push({ key, value: sql`['unset', 'ok', 'error'][status_code + 1]` });
    else if (key === 'kind') out.push({ key, value: sql`['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'][kind + 1]` });
    else if (key === 'statusMessage') out.push({ key, value: sql`toString(status_message)` });
  }
}

/**
 * A field's value on a span row, as a Float64 (null when absent), for
 * aggregates: durations in nanoseconds, numeric span attributes.
 */
export function compileNumber(e: FieldExpr, vc: ValueContext = {}): Sql {
  if (e.kind === 'intrinsic' && (e.name === 'duration' || e.name === 'span:duration')) return sql`toFloat64(duration_ns)`;
  const side = (prefix: 'attr' | 'res', name: string, otherwise: Sql): Sql => {
    const at = (t: AttrType) => sql`${ident(`${prefix}_${t}_values`)}[indexOf(${ident(`${prefix}_${t}_keys`)}, ${name})]`;
    return sql`if(has(${ident(`${prefix}_int_keys`)}, ${name}), toFloat64(${at('int')}), if(has(${ident(`${prefix}_float_keys`)}, ${name}), ${at('float')}, ${otherwise}))`;
  };
  if (e.kind === 'attribute' && !e.parent && e.scope === 'resource' && vc.resources) return side('res', e.name, sql`nan`);
  if (e.kind === 'attribute' && !e.parent && (e.scope === 'span' || e.scope === 'any')) {
    return side('attr', e.name, e.scope === 'any' && vc.resources ? side('res', e.name, sql`nan`) : sql`nan`);
  }
  throw new TraceQLUnsupportedError(`${printField(e)} as a number`, e.pos);
}

/** A field's value on a span row as a string, for by() and select(). */
export function compileText(e: FieldExpr, vc: ValueContext = {}): Sql {
  if (e.kind === 'intrinsic') {
    switch (e.name) {
      case 'name':
      case 'span:name':
        return sql`toString(name)`;
      case 'status':
      case 'span:status':
        return sql`['unset', 'ok', 'error'][status_code + 1]`;
      case 'kind':
      case 'span:kind':
        return sql`['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'][kind + 1]`;
      case 'statusMessage':
      case 'span:statusMessage':
        return sql`toString(status_message)`;
      case 'duration':
      case 'span:duration':
        return sql`toString(duration_ns)`;
      case 'instrumentation:name':
        return sql`toString(scope_name)`;
      case 'instrumentation:version':
        return sql`toString(scope_version)`;
    }
  }
  if (e.kind === 'attribute' && !e.parent && e.scope === 'resource' && e.name === 'service.name') return sql`toString(service_name)`;
  if (e.kind === 'attribute' && !e.parent && e.scope === 'resource' && vc.resources) return attributeText('res', e.name);
  if (e.kind === 'attribute' && !e.parent && (e.scope === 'span' || e.scope === 'any')) {
    const span = attributeText('attr', e.name);
    // Unscoped names fall back to the resource; service.name lives there.
    if (e.scope === 'any' && e.name === 'service.name') return sql`if(${span} = '', toString(service_name), ${span})`;
    if (e.scope === 'any' && vc.resources) return sql`if(${span} = '', ${attributeText('res', e.name)}, ${span})`;
    return span;
  }
  throw new TraceQLUnsupportedError(`${printField(e)} in by() or select()`, e.pos);
}

/** An attribute's value as text ('' when absent), whatever its type. */
function attributeText(prefix: 'attr' | 'res', name: string): Sql {
  const pick = (t: AttrType, conv: (x: Sql) => Sql) =>
    sql`if(has(${ident(`${prefix}_${t}_keys`)}, ${name}), ${conv(sql`${ident(`${prefix}_${t}_values`)}[indexOf(${ident(`${prefix}_${t}_keys`)}, ${name})]`)}, '')`;
  return sql`concat(${pick('str', (x) => x)}, ${pick('int', (x) => sql`toString(${x})`)}, ${pick('float', (x) => sql`toString(${x})`)}, ${pick('bool', (x) => sql`if(${x} = 1, 'true', 'false')`)})`;
}

/** True when reading these fields needs the resource columns joined (ValueContext.resources). */
export function readsResourceColumns(fields: readonly FieldExpr[]): boolean {
  return fields.some((f) => f.kind === 'attribute' && !f.parent && (f.scope === 'any' || (f.scope === 'resource' && f.name !== 'service.name')));
}

/**
 * A field's value on a span row as typed text for the in-process evaluator:
 * '<type>:<value>', or '' when absent. Types: s string, i int, f float,
 * b bool, d duration (ns), st status, k kind. Reads resource columns, so the
 * row must have them joined.
 */
export function compileTyped(e: FieldExpr): Sql {
  if (e.kind === 'intrinsic') {
    switch (e.name) {
      case 'name':
      case 'span:name':
        return sql`concat('s:', toString(name))`;
      case 'statusMessage':
      case 'span:statusMessage':
        return sql`concat('s:', toString(status_message))`;
      case 'status':
      case 'span:status':
        return sql`concat('st:', ['unset', 'ok', 'error'][status_code + 1])`;
      case 'kind':
      case 'span:kind':
        return sql`concat('k:', ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'][kind + 1])`;
      case 'duration':
      case 'span:duration':
        return sql`concat('d:', toString(duration_ns))`;
      case 'span:id':
        return sql`concat('s:', lower(hex(span_id)))`;
      case 'span:parentID':
        return sql`concat('s:', lower(hex(parent_span_id)))`;
      case 'trace:id':
        return sql`concat('s:', lower(hex(trace_id)))`;
      case 'instrumentation:name':
        return sql`concat('s:', toString(scope_name))`;
      case 'instrumentation:version':
        return sql`concat('s:', toString(scope_version))`;
    }
  }
  if (e.kind === 'attribute' && (e.scope === 'span' || e.scope === 'resource' || e.scope === 'any')) {
    const side = (prefix: 'attr' | 'res') => {
      const at = (t: AttrType) => sql`${ident(`${prefix}_${t}_values`)}[indexOf(${ident(`${prefix}_${t}_keys`)}, ${e.name})]`;
      const has = (t: AttrType) => sql`has(${ident(`${prefix}_${t}_keys`)}, ${e.name})`;
      return sql`multiIf(${has('str')}, concat('s:', ${at('str')}), ${has('int')}, concat('i:', toString(${at('int')})), ${has('float')}, concat('f:', toString(${at('float')})), ${has('bool')}, if(${at('bool')} = 1, 'b:true', 'b:false'), '')`;
    };
    if (e.scope === 'span') return side('attr');
    if (e.scope === 'resource') return side('res');
    return sql`if(${side('attr')} = '', ${side('res')}, ${side('attr')})`;
  }
  throw new TraceQLUnsupportedError(`${printField(e)} compared with another field`, e.pos);
}

/**
 * The OTLP/JSON attribute lists of a scope that is stored as JSON, one list
 * per line (JSON strings never hold a raw newline): events', links', or the
 * instrumentation scope's.
 */
export function compileJsonLists(scope: 'event' | 'link' | 'instrumentation'): Sql {
  if (scope === 'event') return sql`arrayStringConcat(event_attrs, '\n')`;
  if (scope === 'link') return sql`arrayStringConcat(link_attrs, '\n')`;
  return sql`toString(scope_attrs)`;
}
