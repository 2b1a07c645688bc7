import type { Condition, Field, ShownField, Value } from '../store/index.js';

/** One `key=value` of Tempo's tag search. */
export interface SearchTag {
  key: string;
  value: string;
}

/** Keys Tempo matches as substrings of a resource attribute. */
const RESOURCE_SUBSTRING_KEYS = new Set(['cluster', 'namespace', 'pod', 'container', 'k8s.cluster.name', 'k8s.namespace.name', 'k8s.pod.name', 'k8s.container.name']);
/** Keys Tempo matches as substrings of a span attribute. */
const SPAN_SUBSTRING_KEYS = new Set(['http.method', 'http.url']);
const STATUS_NAMES: Record<string, 'unset' | 'ok' | 'error'> = { unset: 'unset', ok: 'ok', error: 'error' };

const intrinsic = (name: Extract<Field, { kind: 'intrinsic' }>['name']): Field => ({ kind: 'intrinsic', name });
const attribute = (scope: 'span' | 'resource' | 'any', name: string): Field => ({ kind: 'attribute', scope, name });
const contains = (field: Field, value: string): Condition => ({ op: 'compare', field, cmp: 'contains', value: { type: 'string', value } });
const equals = (field: Field, value: Value): Condition => ({ op: 'compare', field, cmp: '=', value });

/**
 * Tempo's tag search (`tags=`, and its legacy form), as a span condition,
 * with Tempo's semantics: a few well-known keys match as substrings of
 * dedicated fields; any other key must equal a span or resource attribute,
 * and values that read as numbers or booleans also match attributes of
 * that type. Bounds on the trace's duration are inclusive.
 */
export function tagSearchRequest(tags: readonly SearchTag[], duration: { minNs?: bigint; maxNs?: bigint }): { where: Condition; shown: ShownField[] } {
  const terms: Condition[] = tags.map(tagCondition);
  const traceDuration = intrinsic('traceDuration');
  if (duration.minNs !== undefined) terms.push({ op: 'compare', field: traceDuration, cmp: '>=', value: { type: 'duration', value: duration.minNs } });
  if (duration.maxNs !== undefined) terms.push({ op: 'compare', field: traceDuration, cmp: '<=', value: { type: 'duration', value: duration.maxNs } });
  const shown = tags.filter((t) => t.key !== 'service.name').map((t) => ({ key: t.key, field: shownField(t.key) }));
  return { where: { op: 'and', terms }, shown };
}

function tagCondition({ key, value }: SearchTag): Condition {
  switch (key) {
    case 'service.name':
      return contains(attribute('resource', 'service.name'), value);
    case 'name':
      return contains(intrinsic('name'), value);
    case 'status.code':
      return value in STATUS_NAMES ? equals(intrinsic('status'), { type: 'status', value: STATUS_NAMES[value] }) : { op: 'const', value: false };
    case 'error':
      return value === 'true' ? equals(intrinsic('status'), { type: 'status', value: 'error' }) : { op: 'not', term: equals(intrinsic('status'), { type: 'status', value: 'error' }) };
    case 'root.service.name':
      return contains(intrinsic('rootService'), value);
    case 'root.name':
      return contains(intrinsic('rootName'), value);
  }
  if (RESOURCE_SUBSTRING_KEYS.has(key)) return contains(attribute('resource', key), value);
  if (SPAN_SUBSTRING_KEYS.has(key)) return contains(attribute('span', key), value);
  const field = attribute('any', key);
  const alternatives: Condition[] = [equals(field, { type: 'string', value })];
  if (/^-?\d{1,19}$/.test(value)) {
    const n = BigInt(value);
    if (n >= -(1n << 63n) && n < 1n << 63n) alternatives.push(equals(field, { type: 'int', value: n }));
  } else if (value.trim() !== '' && Number.isFinite(Number(value))) alternatives.push(equals(field, { type: 'float', value: Number(value) }));
  if (value === 'true' || value === 'false') alternatives.push(equals(field, { type: 'bool', value: value === 'true' }));
  return { op: 'or', terms: alternatives };
}

/** The field shown for a tag on a matched span. */
function shownField(key: string): Field {
  switch (key) {
    case 'name':
      return intrinsic('name');
    case 'status.code':
    case 'error':
      return intrinsic('status');
  }
  // Span attributes only: resource attributes live in their own table.
  return attribute('span', key);
}
