import type { CompareOp, TimeRange, Value } from './request.js';

/**
 * The storage-free vocabulary of requests for log records, as request.ts
 * is for spans: query code (query/logs) builds these, and only the store
 * knows how they map onto columns. Every request is exact.
 */

/**
 * Log record fields that are not attributes.
 * - `severityNumber`: the number as sent (0 when unspecified).
 * - `severityLevel`: the number, or, when it is unspecified, the number of
 *   the level the severity text names (TRACE 1, DEBUG 5, INFO 9, WARN or
 *   WARNING 13, ERROR 17, FATAL or CRITICAL 21, any case); 0 when neither says.
 * - `body`: the body as text: a string body itself, any other as its
 *   OTLP/JSON; '' when there is none.
 * - `traceId`, `spanId`: raw bytes; absent on records not tied to a trace.
 */
export type LogIntrinsic = 'severityNumber' | 'severityLevel' | 'severityText' | 'body' | 'traceId' | 'spanId' | 'eventName' | 'scopeName' | 'scopeVersion';

/** `any` is an unscoped `.name`: the record's attribute, else its resource's. */
export type LogAttributeScope = 'log' | 'resource' | 'any';

export type LogField = { kind: 'intrinsic'; name: LogIntrinsic } | { kind: 'attribute'; scope: LogAttributeScope; name: string };

/**
 * The comparisons of request.ts, and `search`: an RE2 regular expression
 * found anywhere in the value (`matches` must match the whole value).
 */
export type LogCompareOp = CompareOp | 'search' | 'notSearch';

/**
 * A condition on one log record. As for spans, a comparison with an
 * absent field is false under every operator, and `exists` holds when the
 * field has a value.
 */
export type LogCondition =
  | { op: 'and' | 'or'; terms: readonly LogCondition[] }
  | { op: 'not'; term: LogCondition }
  | { op: 'const'; value: boolean }
  | { op: 'compare'; field: LogField; cmp: LogCompareOp; value: Value }
  | { op: 'exists'; field: LogField };

export const ALL_LOGS: LogCondition = { op: 'const', value: true };

/** Severity classes of the histogram, by SeverityNumber range (1-4 trace ... 21-24 fatal; 0 unspecified). */
export const SEVERITY_CLASSES = ['unspecified', 'trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type SeverityClass = (typeof SEVERITY_CLASSES)[number];

export interface LogSearchRequest {
  where: LogCondition;
  range: TimeRange;
  limit: number;
}

/** Records matching a condition counted per step of `stepNs` from the range start, and per severity class. */
export interface LogHistogramRequest {
  where: LogCondition;
  range: TimeRange;
  stepNs: bigint;
}
