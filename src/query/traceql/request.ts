import type { CompareOp, Condition, Field, Numeric, OrderOp, ShownField, SpanIntrinsic, Value } from '../../store/index.js';
import type { Attribute, ComparisonOp, FieldExpr, IntrinsicName, Query, Static } from './ast.js';
import { TraceQLUnsupportedError, TraceQLValidationError } from './errors.js';
import { printField } from './printer.js';
import { foldStatic, valueOf } from './values.js';

export { valueOf };

/**
 * Turns TraceQL into the store's storage-free requests: conditions on
 * fields, and the fields whose values are wanted. What the request
 * vocabulary cannot say (a parent's attribute, two text fields compared,
 * ordering on event attributes) is refused here with
 * TraceQLUnsupportedError, and the evaluator (residual.ts) finishes it in
 * process instead; nothing is ever approximated.
 */

/** A query that is one spanset filter, as one span condition and the fields Tempo shows on matched spans. */
export function filterRequest(q: Query): { where: Condition; shown: ShownField[] } {
  const [first, ...rest] = q.pipeline;
  if (rest.length > 0) throw new TraceQLUnsupportedError('pipeline stages after the spanset', rest[0].pos);
  if (first.kind !== 'filter') throw new TraceQLUnsupportedError(`the spanset operator '${first.kind === 'spansetOp' ? first.op : ''}'`, first.pos);
  if (!first.expr) return { where: { op: 'const', value: true }, shown: [] };
  const shown = new Map<string, ShownField>();
  collectShown(first.expr, shown);
  return { where: toCondition(first.expr), shown: [...shown.values()] };
}

/** A filter's expression as one span condition ({} is every span). */
export function toCondition(e: FieldExpr | null): Condition {
  if (!e) return { op: 'const', value: true };
  // A condition that reads no span (`{ true }`, `{ 1 < 1h }`) is decided here.
  const folded = foldStatic(e);
  if (folded) {
    if (folded.type !== 'bool') throw new TraceQLValidationError(`a spanset filter needs a condition, not a ${folded.type}`, e.pos);
    return { op: 'const', value: folded.value };
  }
  switch (e.kind) {
    case 'binary':
      if (e.op === '&&') return { op: 'and', terms: [toCondition(e.left), toCondition(e.right)] };
      if (e.op === '||') return { op: 'or', terms: [toCondition(e.left), toCondition(e.right)] };
      if (isComparison(e.op)) return comparison(e.op, foldStatic(e.left) ?? e.left, foldStatic(e.right) ?? e.right);
      throw new TraceQLUnsupportedError(`arithmetic ('${e.op}') in a filter`, e.pos);
    case 'unary':
      // `!.a` holds where .a is false, as in Tempo: an absent or non-boolean
      // attribute is no boolean to negate.
      if (e.op === '!' && e.operand.kind === 'attribute') return attributeCompare(e.operand, '=', { kind: 'static', type: 'bool', value: false, pos: e.pos });
      if (e.op === '!') return { op: 'not', term: toCondition(e.operand) };
      throw new TraceQLUnsupportedError("unary '-' in a filter", e.pos);
    case 'attribute':
      // A bare attribute is a boolean attribute that is true.
      return attributeCompare(e, '=', { kind: 'static', type: 'bool', value: true, pos: e.pos });
    default:
      throw new TraceQLUnsupportedError(`${printField(e)} as a condition`, e.pos);
  }
}

export function isComparison(op: string): op is ComparisonOp {
  return ['=', '!=', '>', '>=', '<', '<=', '=~', '!~'].includes(op);
}

export const FLIPPED: Record<ComparisonOp, ComparisonOp> = { '=': '=', '!=': '!=', '>': '<', '>=': '<=', '<': '>', '<=': '>=', '=~': '=~', '!~': '!~' };

function compareOp(op: ComparisonOp): CompareOp {
  return op === '=~' ? 'matches' : op === '!~' ? 'notMatches' : op;
}

function comparison(op: ComparisonOp, left: FieldExpr, right: FieldExpr): Condition {
  // Field on the left, value on the right.
  if (left.kind === 'static' && right.kind !== 'static') return comparison(FLIPPED[op], right, left);
  // Arithmetic, and numeric fields compared with each other: both sides as
  // numbers (NaN, and so false, where an attribute is absent).
  if (isArithmetic(left) || isArithmetic(right) || (right.kind !== 'static' && isNumericField(left) && isNumericField(right))) {
    if (op === '=~' || op === '!~') throw new TraceQLUnsupportedError(`'${op}' on arithmetic`, left.pos);
    return { op: 'arithmetic', left: numeric(left), cmp: op as OrderOp, right: numeric(right) };
  }
  if (right.kind !== 'static') throw new TraceQLUnsupportedError('comparing two fields that are not numbers', right.pos);
  if (left.kind === 'intrinsic') return intrinsicCompare(left.name, op, right);
  if (left.kind === 'attribute') return attributeCompare(left, op, right);
  throw new TraceQLUnsupportedError(`${printField(left)} on the left of '${op}'`, left.pos);
}

function isArithmetic(e: FieldExpr): boolean {
  return (e.kind === 'binary' && ['+', '-', '*', '/', '%', '^'].includes(e.op)) || (e.kind === 'unary' && e.op === '-');
}

function isNumericField(e: FieldExpr): boolean {
  return (e.kind === 'attribute' && !e.parent && (e.scope === 'span' || e.scope === 'any')) || (e.kind === 'intrinsic' && (e.name === 'duration' || e.name === 'span:duration'));
}

function numeric(e: FieldExpr): Numeric {
  switch (e.kind) {
    case 'static':
      if (e.type === 'int' || e.type === 'duration') return { kind: 'number', value: Number(e.value) };
      if (e.type === 'float') return { kind: 'number', value: e.value };
      throw new TraceQLUnsupportedError(`a ${e.type} in arithmetic`, e.pos);
    case 'unary':
      return { kind: 'negate', operand: numeric(e.operand) };
    case 'binary':
      if (!['+', '-', '*', '/', '%', '^'].includes(e.op)) throw new TraceQLUnsupportedError(`'${e.op}' inside arithmetic`, e.pos);
      return { kind: 'binary', op: e.op as '+', left: numeric(e.left), right: numeric(e.right) };
    default:
      if (!isNumericField(e)) throw new TraceQLUnsupportedError(`${printField(e)} as a number`, e.pos);
      return { kind: 'field', field: toField(e) };
  }
}

/** TraceQL's intrinsic names (and their `span:`/`trace:` spellings) as request fields. */
const INTRINSIC_FIELDS: Partial<Record<IntrinsicName, SpanIntrinsic>> = {
  name: 'name',
  'span:name': 'name',
  status: 'status',
  'span:status': 'status',
  statusMessage: 'statusMessage',
  'span:statusMessage': 'statusMessage',
  kind: 'kind',
  'span:kind': 'kind',
  duration: 'duration',
  'span:duration': 'duration',
  'span:id': 'spanId',
  'span:parentID': 'parentId',
  'trace:id': 'traceId',
  'instrumentation:name': 'scopeName',
  'instrumentation:version': 'scopeVersion',
  'event:name': 'eventName',
  'event:timeSinceStart': 'eventTimeSinceStart',
  'link:traceID': 'linkTraceId',
  'link:spanID': 'linkSpanId',
  traceDuration: 'traceDuration',
  'trace:duration': 'traceDuration',
  rootName: 'rootName',
  'trace:rootName': 'rootName',
  rootServiceName: 'rootService',
  'trace:rootService': 'rootService',
};

/** An attribute (not of the parent) or an intrinsic, as a request field. */
export function toField(e: FieldExpr): Field {
  if (e.kind === 'intrinsic') {
    // The span's place in its trace (nested set, children) is no stored
    // column: the evaluator computes it from the trace's spans.
    const name = INTRINSIC_FIELDS[e.name];
    if (!name) throw new TraceQLUnsupportedError(`${e.name} as a stored field`, e.pos);
    return { kind: 'intrinsic', name };
  }
  if (e.kind === 'attribute' && !e.parent) return { kind: 'attribute', scope: e.scope, name: e.name };
  throw new TraceQLUnsupportedError(`${printField(e)} as a field`, e.pos);
}

/** Ids the intrinsic takes, in bytes, or 0 for intrinsics that take no id. */
const ID_BYTES: Partial<Record<SpanIntrinsic, number>> = { spanId: 8, parentId: 8, traceId: 16, linkTraceId: 16, linkSpanId: 8 };

function intrinsicCompare(name: IntrinsicName, op: ComparisonOp, v: Static): Condition {
  // Intrinsics always exist: `= nil` matches nothing, `!= nil` every span.
  if (v.type === 'nil') {
    if (op !== '=' && op !== '!=') throw new TraceQLValidationError(`nil takes only = and !=`, v.pos);
    return { op: 'const', value: op !== '=' };
  }
  const field = toField({ kind: 'intrinsic', name, pos: v.pos }) as Extract<Field, { kind: 'intrinsic' }>;
  const bytes = ID_BYTES[field.name];
  if (bytes) {
    // As in Tempo, an id that is no hex id is a string no span's id equals.
    if (v.type === 'string' && !isHexId(v.value, bytes * 2) && (op === '=' || op === '!=')) return { op: 'const', value: op === '!=' };
    if (v.type !== 'string' || !isHexId(v.value, bytes * 2))
      throw new TraceQLValidationError(`${name} takes an id of up to ${bytes * 2} hex characters`, v.pos);
    return { op: 'compare', field, cmp: compareOp(op), value: { type: 'id', value: Buffer.from(v.value.padStart(bytes * 2, '0'), 'hex') } };
  }
  return { op: 'compare', field, cmp: compareOp(op), value: valueOf(v) };
}

/** 1 to `maxDigits` hex digits, and nothing else. */
function isHexId(s: string, maxDigits: number): boolean {
  if (s.length === 0 || s.length > maxDigits) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
  }
  return true;
}

function attributeCompare(a: Attribute, op: ComparisonOp, v: Static): Condition {
  if (a.parent) throw new TraceQLUnsupportedError('parent. attributes', a.pos);
  if (v.type === 'nil') {
    if (op !== '=' && op !== '!=') throw new TraceQLUnsupportedError(`nil with '${op}'`, v.pos);
    const exists: Condition = { op: 'exists', field: toField(a) };
    return op === '=' ? { op: 'not', term: exists } : exists;
  }
  if (a.scope === 'event' || a.scope === 'link' || a.scope === 'instrumentation') {
    // Stored as canonical JSON: equality is exact in the store; ordering and
    // other types are the evaluator's.
    if (v.type !== 'string' && v.type !== 'bool' && v.type !== 'int' && v.type !== 'float') throw new TraceQLUnsupportedError(`${a.scope}. attributes compared with a ${v.type}`, v.pos);
    if (op !== '=' && op !== '!=') throw new TraceQLUnsupportedError(`'${op}' on ${a.scope}. attributes`, a.pos);
  }
  return { op: 'compare', field: toField(a), cmp: compareOp(op), value: valueOf(v) };
}

/** Attributes and intrinsics the query names, as Tempo shows them on matched spans: by key, the first naming of each. */
function collectShown(e: FieldExpr, out: Map<string, ShownField>): void {
  if (e.kind === 'binary') {
    collectShown(e.left, out);
    collectShown(e.right, out);
  } else if (e.kind === 'unary') collectShown(e.operand, out);
  else if (e.kind === 'attribute' && !e.parent && (e.scope === 'span' || e.scope === 'any')) {
    if (!out.has(e.name)) out.set(e.name, { key: e.name, field: { kind: 'attribute', scope: 'span', name: e.name } });
  } else if (e.kind === 'intrinsic') {
    const key = e.name.replace(/^span:/, '');
    if ((key === 'status' || key === 'kind' || key === 'statusMessage') && !out.has(key)) out.set(key, { key, field: toField(e) });
  }
}

/** A field a number is read from (aggregates, arithmetic): the duration, or an int or float attribute. */
export function numberField(e: FieldExpr): Field {
  if (e.kind === 'intrinsic' && (e.name === 'duration' || e.name === 'span:duration')) return { kind: 'intrinsic', name: 'duration' };
  if (e.kind === 'attribute' && !e.parent && (e.scope === 'span' || e.scope === 'any' || e.scope === 'resource')) return toField(e);
  throw new TraceQLUnsupportedError(`${printField(e)} as a number`, e.pos);
}

/** A field read as text (by() and select()). */
export function textField(e: FieldExpr): Field {
  if (e.kind === 'intrinsic' && ['name', 'span:name', 'status', 'span:status', 'kind', 'span:kind', 'statusMessage', 'span:statusMessage', 'duration', 'span:duration', 'instrumentation:name', 'instrumentation:version'].includes(e.name))
    return toField(e);
  if (e.kind === 'attribute' && !e.parent && (e.scope === 'span' || e.scope === 'any' || e.scope === 'resource')) return toField(e);
  throw new TraceQLUnsupportedError(`${printField(e)} in by() or select()`, e.pos);
}

/** A stable text key for a request value (bigints and buffers included), to de-duplicate requests. */
export function requestKey(x: unknown): string {
  return JSON.stringify(x, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
}

export type { Attribute };
