/**
 * The storage-free vocabulary of requests to the store: fields, values and
 * conditions on spans, as TraceQL, Tempo's tag search and diagnosis ask
 * them. Query code builds these; only the store knows how they map onto
 * tables and columns (Tempo's engine asks its storage the same way, with
 * FetchSpansRequest).
 *
 * Every request here is exact: the store answers it fully or refuses it.
 * What the vocabulary cannot express (a parent's attribute, two text
 * fields compared) the query layer evaluates itself over values it fetches.
 */

/** A half-open range of Unix nanoseconds: [startNs, endNs). */
export interface TimeRange {
  startNs: bigint;
  endNs: bigint;
}

/**
 * Where an attribute is looked up. `any` is TraceQL's unscoped `.name`: the
 * span's attribute, else its resource's. `event`, `link` and
 * `instrumentation` attributes hold on a span when any of its events
 * (links, its scope) carries them.
 */
export type AttributeScope = 'span' | 'resource' | 'any' | 'event' | 'link' | 'instrumentation';

/** The scopes whose attribute names can be listed (Tempo's tag scopes). */
export type TagScope = Exclude<AttributeScope, 'any'>;
export const TAG_SCOPES: readonly TagScope[] = ['span', 'resource', 'event', 'link', 'instrumentation'];

/**
 * Span fields that are not attributes. `eventName`, `eventTimeSinceStart`,
 * `linkTraceId` and `linkSpanId` have one value per event (link): a
 * comparison holds when one of them does. `traceDuration`, `rootName` and
 * `rootService` belong to the span's trace; `start` is the span's start
 * time (Unix ns).
 */
export type SpanIntrinsic =
  | 'name'
  | 'status'
  | 'statusMessage'
  | 'kind'
  | 'duration'
  | 'start'
  | 'spanId'
  | 'parentId'
  | 'traceId'
  | 'scopeName'
  | 'scopeVersion'
  | 'eventName'
  | 'eventTimeSinceStart'
  | 'linkTraceId'
  | 'linkSpanId'
  | 'traceDuration'
  | 'rootName'
  | 'rootService';

export type Field = { kind: 'intrinsic'; name: SpanIntrinsic } | { kind: 'attribute'; scope: AttributeScope; name: string };

export const STATUS_NAMES = ['unset', 'ok', 'error'] as const;
export type StatusName = (typeof STATUS_NAMES)[number];
export const KIND_NAMES = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'] as const;
export type KindName = (typeof KIND_NAMES)[number];

/**
 * A typed value. Ints and floats compare with each other by value, as in
 * TraceQL; a duration is a count of nanoseconds and compares as a number
 * too. Ids are raw bytes (8 for spans, 16 for traces).
 */
export type Value =
  | { type: 'string'; value: string }
  | { type: 'int'; value: bigint }
  | { type: 'float'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'duration'; value: bigint }
  | { type: 'status'; value: StatusName }
  | { type: 'kind'; value: KindName }
  | { type: 'id'; value: Buffer };

/**
 * `matches` is a regular expression (RE2 syntax) over the whole value;
 * `contains` a substring test (Tempo's tag search).
 */
export type CompareOp = '=' | '!=' | '<' | '<=' | '>' | '>=' | 'matches' | 'notMatches' | 'contains';
export type OrderOp = '=' | '!=' | '<' | '<=' | '>' | '>=';

/** A number computed from a span's numeric fields; an absent attribute makes it NaN, and every comparison with NaN false. */
export type Numeric =
  | { kind: 'field'; field: Field }
  | { kind: 'number'; value: number }
  | { kind: 'negate'; operand: Numeric }
  | { kind: 'binary'; op: '+' | '-' | '*' | '/' | '%' | '^'; left: Numeric; right: Numeric };

/**
 * A condition on one span.
 *
 * - `compare` holds when the field has a value of a comparable type that
 *   compares true; an absent field compares false under every operator.
 *   Attributes of the `event`, `link` and `instrumentation` scopes take
 *   only `=` and `!=` (and `exists`); ordering them is the query layer's.
 * - `exists` holds when the field has a value (intrinsics always do, but
 *   for the list intrinsics of spans with no events or links).
 * - `arithmetic` compares two numbers computed from numeric fields (the
 *   duration, and int or float attributes of the span or `any` scope).
 */
export type Condition =
  | { op: 'and' | 'or'; terms: readonly Condition[] }
  | { op: 'not'; term: Condition }
  | { op: 'const'; value: boolean }
  | { op: 'compare'; field: Field; cmp: CompareOp; value: Value }
  | { op: 'exists'; field: Field }
  | { op: 'arithmetic'; left: Numeric; cmp: OrderOp; right: Numeric };

export const ALWAYS: Condition = { op: 'const', value: true };

/**
 * A condition on a whole trace: some span of it meets a span condition, and
 * combinations of such. Candidate selection for structural queries.
 */
export type TraceCondition = { op: 'and' | 'or'; terms: readonly TraceCondition[] } | { op: 'someSpan'; where: Condition };

/** An attribute or intrinsic shown on matched spans, under `key`, as text. */
export interface ShownField {
  key: string;
  field: Field;
}

/** Intrinsic fields whose distinct values can be listed (Tempo's tag values). */
export type IntrinsicField = 'name' | 'statusMessage' | 'rootName' | 'rootService' | 'eventName' | 'scopeName' | 'scopeVersion';

/** A typed value as listed by tag-value endpoints; `keyword` is an enum value (status, kind). */
export type ValueType = 'string' | 'int' | 'float' | 'bool' | 'keyword';
export interface TagValue {
  type: ValueType;
  value: string;
}
