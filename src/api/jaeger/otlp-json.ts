import type { SpanRecord } from '../../model/span-record.js';
import { groupByResource } from '../../model/trace-groups.js';
import { resourceSpansJson as otlpResourceSpansJson, type OtlpJsonStyle } from '../../model/resource-spans-json.js';

/**
 * Traces as api_v3 answers them: OTLP JSON as the OpenTelemetry Collector's
 * ptrace.JSONMarshaler writes it (the OTLP/JSON encoding: ids in hex,
 * enums as numbers, 64-bit integers as strings, empty fields left out;
 * resource, scope and status always present).
 */
const API_V3_JSON: OtlpJsonStyle = {
  id: (bytes) => bytes.toString('hex'),
  kind: (kind) => kind,
  statusCode: (code) => code,
  // Times are never left out, even when zero.
  empty: (v) => v === undefined || v === '' || v === 0 || (Array.isArray(v) && v.length === 0),
};

/** The ResourceSpans of one trace, grouped back by resource and scope. */
export function resourceSpansJson(spans: readonly SpanRecord[]): Record<string, unknown>[] {
  return otlpResourceSpansJson(groupByResource(spans), API_V3_JSON);
}
