import { KIND_NAMES, type Condition, type Field, type KindName, type Value } from '../store/index.js';

/**
 * Jaeger's trace search as a span condition. Jaeger's storages select a
 * trace when one span matches everything at once: its service, its
 * operation, every tag, and the duration bounds (the span's own duration,
 * inclusive). A tag matches the span's tags, its process's tags or one of
 * its logs' fields, compared as text.
 *
 * Spans stored from OTLP show some fields as tags only in Jaeger's model
 * (the OpenTelemetry Collector's translator adds them): `span.kind`,
 * `otel.status_code`, `error`, `otel.status_description`,
 * `otel.scope.name`, `otel.scope.version`, and a log's `event`. Those keys
 * also match the span fields they stand for, so a search for a tag a
 * Jaeger UI shows finds the span that shows it.
 */
export interface JaegerSearch {
  service?: string;
  operation?: string;
  /** Key and value, as Jaeger's `tags` and `tag` parameters give them. */
  tags: readonly (readonly [key: string, value: string])[];
  /** Inclusive bounds on the matching span's duration, in ns. */
  minNs?: bigint;
  maxNs?: bigint;
}

const intrinsic = (name: Extract<Field, { kind: 'intrinsic' }>['name']): Field => ({ kind: 'intrinsic', name });
const equals = (field: Field, value: Value): Condition => ({ op: 'compare', field, cmp: '=', value });
const text = (value: string): Value => ({ type: 'string', value });

/** Span kinds as the translator names them in `span.kind` (unspecified has no tag). */
const TAG_KINDS: ReadonlySet<string> = new Set(KIND_NAMES.filter((k) => k !== 'unspecified'));
const TAG_STATUS: Record<string, 'ok' | 'error'> = { OK: 'ok', ERROR: 'error' };

export function jaegerSearchCondition(q: JaegerSearch): Condition {
  const terms: Condition[] = [];
  if (q.service !== undefined) terms.push(equals({ kind: 'attribute', scope: 'resource', name: 'service.name' }, text(q.service)));
  if (q.operation !== undefined) terms.push(equals(intrinsic('name'), text(q.operation)));
  for (const [key, value] of q.tags) terms.push(tagCondition(key, value));
  const duration = intrinsic('duration');
  if (q.minNs !== undefined) terms.push({ op: 'compare', field: duration, cmp: '>=', value: { type: 'duration', value: q.minNs } });
  if (q.maxNs !== undefined) terms.push({ op: 'compare', field: duration, cmp: '<=', value: { type: 'duration', value: q.maxNs } });
  return { op: 'and', terms };
}

/** One tag: an attribute of the span, its resource or one of its events, or a span field shown as that tag. */
function tagCondition(key: string, value: string): Condition {
  const alternatives: Condition[] = [];
  for (const scope of ['any', 'event'] as const) {
    const field: Field = { kind: 'attribute', scope, name: key };
    for (const v of typedValues(value)) alternatives.push(equals(field, v));
  }
  switch (key) {
    case 'span.kind':
      if (TAG_KINDS.has(value)) alternatives.push(equals(intrinsic('kind'), { type: 'kind', value: value as KindName }));
      break;
    case 'otel.status_code':
      if (value in TAG_STATUS) alternatives.push(equals(intrinsic('status'), { type: 'status', value: TAG_STATUS[value] }));
      break;
    case 'error':
      if (value === 'true') alternatives.push(equals(intrinsic('status'), { type: 'status', value: 'error' }));
      break;
    case 'otel.status_description':
      alternatives.push(equals(intrinsic('statusMessage'), text(value)));
      break;
    case 'otel.scope.name':
      alternatives.push(equals(intrinsic('scopeName'), text(value)));
      break;
    case 'otel.scope.version':
      alternatives.push(equals(intrinsic('scopeVersion'), text(value)));
      break;
    case 'event':
      alternatives.push(equals(intrinsic('eventName'), text(value)));
      break;
  }
  return { op: 'or', terms: alternatives };
}

/**
 * The typed values whose text (as Jaeger prints a tag's value) is `value`:
 * always the string; an int for integer text; a float for text that is a
 * float's shortest form; a bool for `true` and `false`.
 */
export function typedValues(value: string): Value[] {
  const out: Value[] = [text(value)];
  if (/^-?\d{1,19}$/.test(value)) {
    const n = BigInt(value);
    // An int also matches a float of the same value, as Jaeger prints 2.0 as "2".
    if (n >= -(1n << 63n) && n < 1n << 63n) out.push({ type: 'int', value: n });
  } else if (value.trim() !== '' && Number.isFinite(Number(value)) && String(Number(value)) === value) out.push({ type: 'float', value: Number(value) });
  if (value === 'true' || value === 'false') out.push({ type: 'bool', value: value === 'true' });
  return out;
}
