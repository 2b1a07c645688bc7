import type { KeyValueJson } from '../model/any-value.js';
import type { SpanRecord } from '../model/span-record.js';

/** A half-open range of Unix nanoseconds: [startNs, endNs). */
export interface TimeRange {
  startNs: bigint;
  endNs: bigint;
}

/**
 * Writes span rows. Owned by the ingest pipeline: one writer call at a time.
 */
export interface SpanWriter {
  /**
   * Stores the span rows of one WAL segment (a file of Native blocks).
   * Resolves once they are durable in the store; the caller may then delete
   * the segment.
   *
   * With `replay`, the segment may already be partly or wholly stored (the
   * process died between the insert and the segment's deletion): rows that
   * are already there, by (trace id, span id, start), are not written again.
   */
  writeSegment(file: string, opts: { replay: boolean }): Promise<void>;

  /**
   * Stores resource rows (a file of Native blocks). Rows may repeat: the
   * store keeps one per resource id. Call it before the span segments that
   * refer to these resources.
   */
  writeResources(file: string): Promise<void>;
}

/** One `key=value` of Tempo's tag search. */
export interface SearchTag {
  key: string;
  value: string;
}

export interface TagSearchRequest {
  tags: SearchTag[];
  /** Bounds on the trace's duration, inclusive. */
  minDurationNs?: bigint;
  maxDurationNs?: bigint;
  range: TimeRange;
  limit: number;
  /** Spans per span set. */
  spss: number;
}

export interface MatchedSpan {
  spanId: Buffer;
  name: string;
  startNs: bigint;
  durationNs: bigint;
  attributes: KeyValueJson[];
}

export interface TraceSummary {
  traceId: Buffer;
  /** '' when the root span has not been received. */
  rootServiceName: string;
  rootTraceName: string;
  startNs: bigint;
  durationNs: bigint;
  spanSet: { spans: MatchedSpan[]; matched: number; attributes?: KeyValueJson[] };
  /** Several span sets, as by() produces; absent means [spanSet]. */
  spanSets?: { spans: MatchedSpan[]; matched: number; attributes?: KeyValueJson[] }[];
  /** Spans and error spans per service, as Tempo's serviceStats. */
  serviceStats?: Map<string, { spans: number; errors: number }>;
}

export interface SearchResult {
  traces: TraceSummary[];
  inspectedTraces?: number;
  inspectedSpans: number;
  inspectedBytes: number;
}

export type AttributeScope = 'span' | 'resource' | 'event' | 'link' | 'instrumentation';
export const ATTRIBUTE_SCOPES: readonly AttributeScope[] = ['span', 'resource', 'event', 'link', 'instrumentation'];

export type ValueType = 'string' | 'int' | 'float' | 'bool' | 'keyword';

export interface TagValue {
  type: ValueType;
  value: string;
}

/** An attribute, by scope (or any scope, for unscoped `.name`). */
export interface AttributeRef {
  scope: AttributeScope | 'any';
  name: string;
}

/** Span and trace fields, beside attributes, whose values can be listed. */
export type IntrinsicField = 'name' | 'statusMessage' | 'rootName' | 'rootService' | 'eventName' | 'scopeName' | 'scopeVersion';

/** A search by conditions already compiled to SQL (TraceQL's planner). */
export interface SpanSearchRequest {
  /** Condition on a span row. */
  where: import('../query/sql/index.js').Sql;
  /** Values shown on matching spans. */
  shown: { key: string; value: import('../query/sql/index.js').Sql }[];
  range: TimeRange;
  limit: number;
  spss: number;
}

/** One span of a candidate trace, for in-process TraceQL evaluation. */
export interface EvalSpan {
  spanId: string;
  /** '' for a root span. */
  parentId: string;
  startNs: bigint;
  durationNs: bigint;
  name: string;
  serviceName: string;
  /** One per requested condition. */
  flags: boolean[];
  /** One per requested numeric expression; NaN when absent. */
  numbers: number[];
  /** One per requested text expression; '' when absent. */
  texts: string[];
}

/** One bucket of one group of a metrics query. */
/**
 * One aggregate per step and group. `source: 'rollup'` reads span_metrics
 * (per-minute aggregate states; `where`, `by` and `values` may use only its
 * columns and -Merge functions, and range and step must be whole minutes).
 */
export interface MetricsSeriesRequest {
  range: TimeRange;
  stepNs: bigint;
  where: import('../query/sql/index.js').Sql;
  by: import('../query/sql/index.js').Sql[];
  values: import('../query/sql/index.js').Sql[];
  source?: 'spans' | 'rollup';
  /** Join the resource attribute columns (res_*) to span rows; `by` or `values` read them. */
  resources?: boolean;
}

/** TraceQL compare(): see SqlStore.compareCounts. */
export interface CompareRequest {
  range: TimeRange;
  stepNs: bigint;
  /** The spans compared (the query's filter). */
  where: import('../query/sql/index.js').Sql;
  /** Which of them are the selection; the rest are the baseline. */
  selection: import('../query/sql/index.js').Sql;
  /** (name, text) pairs of intrinsic fields to count values of, besides every attribute. */
  intrinsics: { name: string; text: import('../query/sql/index.js').Sql }[];
  /** Values kept per attribute and group. */
  topN: number;
}

export type CompareValueType = 'string' | 'int' | 'float' | 'bool';

export interface CompareCounts {
  /** Per group, attribute and kept value: counts per step. */
  values: { selection: boolean; key: string; value: string; type: CompareValueType; counts: Map<number, number> }[];
  /** Per group and attribute: spans that have it, per step. */
  totals: { selection: boolean; key: string; counts: Map<number, number> }[];
  /** Attributes with more than topN values in a group. */
  tooMany: string[];
}

export interface MetricsRow {
  /** Step index from the range start. */
  bucket: number;
  /** by() values. */
  by: string[];
  values: number[];
}

export interface TraceReader {
  /** What the engine behind this reader can do; planners choose paths by it. */
  readonly capabilities: import('./engine.js').EngineCapabilities;

  /**
   * All spans of a trace, de-duplicated, in no particular order; [] when the
   * trace is unknown. The range, when given, only narrows where to look.
   */
  getTrace(traceId: Buffer, range?: TimeRange): Promise<SpanRecord[]>;

  /** Tempo's tag search: traces with a span matching every tag. */
  searchTags(req: TagSearchRequest): Promise<SearchResult>;

  /**
   * Spans and error spans per service of each trace (hex id, lower case),
   * de-duplicated; the range only narrows where to look.
   */
  serviceStats(traceIds: Buffer[], range: TimeRange): Promise<Map<string, Map<string, { spans: number; errors: number }>>>;

  /** Traces with spans matching a compiled condition, most recent first. */
  searchSpans(req: SpanSearchRequest): Promise<SearchResult>;

  /**
   * Trace ids (most recent first) with a span in the range matching
   * `anySpan`, whose spans satisfy `having` (an aggregate over countIf()).
   */
  candidateTraces(req: { range: TimeRange; anySpan: import('../query/sql/index.js').Sql; having: import('../query/sql/index.js').Sql; limit: number; offset: number }): Promise<Buffer[]>;

  /**
   * The first time (ns) from which the span_metrics rollup holds every span:
   * metrics over ranges starting earlier read the spans.
   */
  rollupFromNs(): Promise<bigint>;

  /** Aggregates of matching spans per step bucket and by() group. */
  metricsSeries(req: MetricsSeriesRequest): Promise<MetricsRow[]>;

  /** Span counts per attribute value, selection against baseline, per step. */
  compareCounts(req: CompareRequest): Promise<CompareCounts>;

  /** Every span of these traces (near the range), with the requested per-span values. */
  traceSpans(req: {
    traceIds: Buffer[];
    range: TimeRange;
    flags: import('../query/sql/index.js').Sql[];
    numbers: import('../query/sql/index.js').Sql[];
    texts: import('../query/sql/index.js').Sql[];
  }): Promise<Map<string, EvalSpan[]>>;

  // ---- diagnosis (SQL in diagnosis-sql.ts) ----

  /**
   * Service edges from cross-service parent/child span pairs, and each
   * service's own RED. With `maxSpans` (> 0), a uniform sample of whole
   * traces holding about that many spans is read; the answer says which fraction.
   */
  serviceGraph(range: TimeRange, maxSpans?: number): Promise<import('./diagnosis-sql.js').ServiceGraph>;

  /** A uniform sample of trace ids in the range (the smallest ids), with or without a matching span. */
  sampleTraces(req: import('./diagnosis-sql.js').TraceSampleRequest): Promise<import('./diagnosis-sql.js').TraceSample>;

  /** How many of these traces carry each attribute value, and numeric attribute quantiles over their spans. */
  traceAttributes(req: { traceIds: Buffer[]; range: TimeRange; valuesPerKey: number }): Promise<import('./diagnosis-sql.js').TraceAttributeStats>;

  /** The spans of these traces, by trace, with only what a critical path needs. */
  pathSpans(req: { traceIds: Buffer[]; range: TimeRange }): Promise<import('./diagnosis-sql.js').PathSpans>;

  /** The most recent `limit` spans matching `where`, each with its children's intervals. */
  loadSpans(req: { range: TimeRange; where: import('../query/sql/index.js').Sql; limit: number }): Promise<import('./diagnosis-sql.js').LoadSpanRow[]>;

  /** Attribute names seen in the range, per scope, at most `limit` per scope. */
  tagNames(scopes: readonly AttributeScope[], range: TimeRange, limit: number, where?: import('../query/sql/index.js').Sql): Promise<Map<AttributeScope, string[]>>;

  /** Distinct values of an attribute in the range, typed. */
  tagValues(attr: AttributeRef, range: TimeRange, limit: number, where?: import('../query/sql/index.js').Sql): Promise<TagValue[]>;

  /** Distinct values of an intrinsic string field in the range. */
  intrinsicValues(field: IntrinsicField, range: TimeRange, limit: number, where?: import('../query/sql/index.js').Sql): Promise<string[]>;
}

export interface RetentionResult {
  /** Partitions (UTC day numbers) dropped, per table. */
  dropped: { table: string; day: number }[];
}

export interface StoreStats {
  spans: number;
  traces: number;
  /** Compressed bytes of active parts. */
  bytesOnDisk: number;
  activeParts: number;
}

export interface Store extends SpanWriter, TraceReader {
  /** Drops every day partition that ends at or before `cutoffNs`. */
  dropExpired(cutoffNs: bigint): Promise<RetentionResult>;
  stats(): Promise<StoreStats>;
  close(): Promise<void>;
}
