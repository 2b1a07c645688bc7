import { attributeRef, quoteString } from './traceql-tokens.js';

/**
 * GET /api/sightline/compare and GET /api/sightline/critical-path?q=&baseline=
 * (src/diagnosis/compare.ts, aggregate-path.ts): two groups of traces, what
 * sets the selection apart, and where its extra time goes on the path.
 */
export interface AttributeDiffJson {
  scope: 'span' | 'resource' | 'intrinsic';
  key: string;
  value: string;
  type: 'string' | 'int' | 'float' | 'bool';
  selectionShare: number;
  baselineShare: number;
  selectionTraces: number;
  baselineTraces: number;
  score: number;
  /** Values in exactly as many traces of each group, folded into this row. */
  equivalent?: { scope: 'span' | 'resource' | 'intrinsic'; key: string; value: string }[];
}

export interface DistributionJson {
  spans: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface CompareJson {
  attributes: AttributeDiffJson[];
  numeric: { scope: 'span' | 'resource' | 'intrinsic'; key: string; selection: DistributionJson | null; baseline: DistributionJson | null; ks: number; direction: 'higher' | 'lower' | 'same'; score: number }[];
  inspected: { unit: 'trace'; selectionTraces: number; baselineTraces: number; selectionSpans: number; baselineSpans: number; sampled: boolean; maxTraces: number };
}

export interface OperationOnPathJson {
  share: number;
  meanOnPathNs: number;
  p50OnPathNs: number;
  p95OnPathNs: number;
  traces: number;
  spansPerTrace: number;
}

export interface GroupSummaryJson {
  traces: number;
  sampled: boolean;
  meanDurationNs: number;
  p50DurationNs: number;
  p95DurationNs: number;
}

export interface AggregatePathJson {
  selection: GroupSummaryJson;
  baseline: GroupSummaryJson;
  extraLatencyNs: number;
  operations: { service: string; operation: string; selection: OperationOnPathJson; baseline: OperationOnPathJson; explainsNs: number; explainedShare: number | null }[];
}

const KEYWORD_INTRINSICS = new Set(['status', 'kind']);

/** The TraceQL condition an attribute row stands for: `span.feature.flag = "x"`, `status = error`, `resource.n = 3`. */
export function attributeCondition(a: Pick<AttributeDiffJson, 'scope' | 'key' | 'value' | 'type'>): string {
  const field = a.scope === 'intrinsic' ? a.key : attributeRef(a.scope, a.key);
  const value = a.type === 'string' && !(a.scope === 'intrinsic' && KEYWORD_INTRINSICS.has(a.key)) ? quoteString(a.value) : a.value;
  return `${field} = ${value}`;
}

/** How a person reads the row: `span.feature.flag = new-pricing`. */
export function attributeLabel(a: Pick<AttributeDiffJson, 'scope' | 'key' | 'value'>): string {
  return `${a.scope === 'intrinsic' ? '' : `${a.scope}.`}${a.key} = ${a.value}`;
}

/** The condition of a (service, operation) row of the critical-path diff. */
export function operationCondition(service: string, operation: string): string {
  return `resource.service.name = ${quoteString(service)} && name = ${quoteString(operation)}`;
}

/**
 * A search for example traces of one group that also have a span matching
 * `condition`. Without a baseline query the baseline is "every other
 * trace", which TraceQL cannot say; its examples are the traces with the
 * condition, whichever group they are in.
 */
export function exampleQuery(groupQuery: string | undefined, condition: string): string {
  const group = groupQuery?.trim();
  return group ? `${group} && { ${condition} }` : `{ ${condition} }`;
}

/** A TraceQL duration for ms: whole units where it reads well (`250ms`, `1.5s`, `800us`). */
export function traceqlDuration(ms: number): string {
  if (ms >= 1000) return `${Number((ms / 1000).toFixed(3))}s`;
  if (ms >= 1) return `${Number(ms.toFixed(1))}ms`;
  return `${Math.max(1, Math.round(ms * 1000))}us`;
}

/** The selection for a band of trace durations picked on the latency chart. */
export function durationBandQuery(loMs: number, hiMs: number): string {
  return `{ traceDuration >= ${traceqlDuration(loMs)} && traceDuration <= ${traceqlDuration(hiMs)} }`;
}
