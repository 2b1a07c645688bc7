import type { KeyValueJson } from '../model/any-value.js';
import type { SpanRecord } from '../model/span-record.js';
import type { LogRecord } from '../model/log-record.js';
import type { LogHistogramRequest, LogSearchRequest, SeverityClass } from './log-request.js';
import type { EngineCapabilities } from './engine.js';
import type { Condition, Field, IntrinsicField, ShownField, TagScope, TagValue, TimeRange, TraceCondition, Value } from './request.js';
import type { TenantScope } from './tenant.js';

/**
 * The store's read ports. Each is small and takes a TenantScope first:
 * every row read belongs to one of the scope's tenants, and the same trace
 * id, service or attribute in another tenant is never seen. Requests are
 * storage-free (see request.ts); the store owns all SQL and all schema.
 *
 * Writing is ingest's port (ingest/store-port.ts): the rows of a WAL
 * segment carry their tenant, stamped by the receiver that took them.
 */

// ---- traces by id -----------------------------------------------------------------

export interface TracePort {
  /**
   * All spans of a trace, de-duplicated, in start order (then span id); [] when
   * the trace is unknown in the scope. The range, when given, only narrows
   * where to look. With several tenants in scope, a trace id present in
   * more than one answers the spans of all of them, one copy of each span
   * (as Tempo combines a cross-tenant trace).
   */
  getTrace(scope: TenantScope, traceId: Buffer, range?: TimeRange): Promise<SpanRecord[]>;
}

// ---- search -----------------------------------------------------------------------

export interface MatchedSpan {
  spanId: Buffer;
  name: string;
  startNs: bigint;
  durationNs: bigint;
  attributes: KeyValueJson[];
}

export interface SpanSet {
  spans: MatchedSpan[];
  matched: number;
  attributes?: KeyValueJson[];
}

export interface TraceSummary {
  traceId: Buffer;
  /** '' when the root span has not been received. */
  rootServiceName: string;
  rootTraceName: string;
  startNs: bigint;
  durationNs: bigint;
  spanSet: SpanSet;
  /** Several span sets, as by() produces; absent means [spanSet]. */
  spanSets?: SpanSet[];
  /** Spans and error spans per service, as Tempo's serviceStats. */
  serviceStats?: Map<string, { spans: number; errors: number }>;
}

export interface SearchResult {
  traces: TraceSummary[];
  inspectedTraces?: number;
  inspectedSpans: number;
  inspectedBytes: number;
  /** Every trace the search matches in the range, when the request asked (`countTotal`). */
  total?: TraceTotal;
}

/**
 * How many traces match. `exact` is false when only part of the candidates
 * could be examined (a query evaluated in process): `count` is then a
 * lower bound.
 */
export interface TraceTotal {
  count: number;
  exact: boolean;
}

/**
 * Which traces a search returns when more match than `limit`: the most
 * recent (by their latest matching span, Tempo's order), or the longest
 * (by trace duration, the trace index's first start to last end).
 * `slowest` orders every matching trace of the range, not a page of them.
 */
export type SearchOrder = 'recent' | 'slowest';

export interface SpanSearchRequest {
  /** Spans matching this (and starting in the range) select their traces. */
  where: Condition;
  /** Values shown on matching spans, besides service.name. */
  shown: ShownField[];
  range: TimeRange;
  limit: number;
  /** Spans per span set. */
  spss: number;
  /** Default `recent`; the answer is in this order (ties: newer first). */
  order?: SearchOrder;
  /** Also count every matching trace of the range (SearchResult.total). */
  countTotal?: boolean;
}

/**
 * Traces matching a condition, counted per cell of a grid: start time
 * (steps of `stepNs` from the range start) by trace duration (between
 * consecutive `durationBoundsNs`). A trace that starts before the range
 * (but has a matching span in it) counts in the first column.
 */
export interface TraceHeatmapRequest {
  where: Condition;
  range: TimeRange;
  stepNs: bigint;
  /**
   * Ascending. Row r holds durations d with bounds[r-1] <= d < bounds[r]:
   * row 0 is below bounds[0], row bounds.length at or above the last.
   */
  durationBoundsNs: readonly bigint[];
}

export interface TraceHeatmapCell {
  /** Column: step index from the range start. */
  column: number;
  /** Row: how many bounds the duration reaches (see TraceHeatmapRequest). */
  row: number;
  traces: number;
}

/** Columns of a heatmap over a range: whole steps, the last one possibly partial. */
export function heatmapColumns(range: TimeRange, stepNs: bigint): number {
  const span = range.endNs - range.startNs;
  return Math.max(1, Number((span + stepNs - 1n) / stepNs));
}

/** The cell of a trace that starts at `startNs` and lasts `durationNs`, as TraceHeatmapRequest defines it. */
export function heatmapCell(req: Pick<TraceHeatmapRequest, 'range' | 'stepNs' | 'durationBoundsNs'>, startNs: bigint, durationNs: bigint): { column: number; row: number } {
  const columns = heatmapColumns(req.range, req.stepNs);
  const column = startNs < req.range.startNs ? 0 : Math.min(Number((startNs - req.range.startNs) / req.stepNs), columns - 1);
  let row = 0;
  for (const b of req.durationBoundsNs) if (durationNs >= b) row++;
  return { column, row };
}

export interface TraceHeatmap {
  /** Non-empty cells only, in no particular order. */
  cells: TraceHeatmapCell[];
  /** The sum of the cells' traces: every matching trace when exact. */
  total: TraceTotal;
}

/** One span of a candidate trace, with the values the in-process evaluator asked for. */
export interface EvalSpan {
  /** Lower-case hex. */
  spanId: string;
  /** '' for a root span. */
  parentId: string;
  startNs: bigint;
  durationNs: bigint;
  name: string;
  serviceName: string;
  /** One per requested condition. */
  flags: boolean[];
  /** One per requested numeric field; NaN when absent. */
  numbers: number[];
  /** One per requested text field; '' when absent. */
  texts: string[];
  /** One per requested typed field: its values on the span (none when absent, several for event and link fields). */
  values: Value[][];
}

export interface TraceSpansRequest {
  traceIds: Buffer[];
  /** Spans near the range are read (a trace may start a little outside it). */
  range: TimeRange;
  flags: Condition[];
  numbers: Field[];
  texts: Field[];
  values: Field[];
}

export interface SearchPort {
  /** What the engine can do; callers choose paths by it (never by the engine's name). */
  readonly capabilities: EngineCapabilities;

  /** Traces with spans matching a condition, in the request's order (the most recent first by default). */
  searchSpans(scope: TenantScope, req: SpanSearchRequest): Promise<SearchResult>;

  /** Every trace with a span matching a condition in the range, counted by start time and duration. Exact. */
  traceHeatmap(scope: TenantScope, req: TraceHeatmapRequest): Promise<TraceHeatmap>;

  /**
   * Trace ids (most recent first) with a span in the range matching
   * `anySpan`, whose spans also satisfy `having`.
   */
  candidateTraces(scope: TenantScope, req: { range: TimeRange; anySpan: Condition; having: TraceCondition; limit: number; offset: number }): Promise<Buffer[]>;

  /** Every span of these traces, with the requested per-span values; by trace id in lower-case hex. */
  traceSpans(scope: TenantScope, req: TraceSpansRequest): Promise<Map<string, EvalSpan[]>>;

  /**
   * Spans and error spans per service of each trace (lower-case hex id),
   * de-duplicated; the range only narrows where to look.
   */
  serviceStats(scope: TenantScope, traceIds: Buffer[], range: TimeRange): Promise<Map<string, Map<string, { spans: number; errors: number }>>>;
}

// ---- metrics ----------------------------------------------------------------------

/** A group key: a field's value as text, or the power-of-two bucket (upper bound) of a positive number. */
export type Grouping = { kind: 'field'; field: Field } | { kind: 'log2Bucket'; of: Field };

/**
 * An aggregate over the spans of a bucket and group. min, max, sum, avg
 * and quantile read only spans where the field is present; quantiles are
 * exact (the element at floor(q * n)) unless estimates are allowed.
 */
export type Aggregate =
  | { fn: 'count' }
  | { fn: 'countWhere'; where: Condition }
  | { fn: 'min' | 'max' | 'sum' | 'avg'; of: Field }
  | { fn: 'quantile'; q: number; of: Field };

export interface MetricsRequest {
  range: TimeRange;
  stepNs: bigint;
  where: Condition;
  by: Grouping[];
  aggregates: Aggregate[];
  /**
   * Quantiles may be estimated (from the rollup's digests). Off unless the
   * caller asks: an answer is exact or refused, never approximated behind
   * the user's back.
   */
  allowEstimates?: boolean;
  /** Read the raw spans even where the rollup could answer (tests compare the two). */
  rawOnly?: boolean;
}

export interface MetricsRow {
  /** Step index from the range start. */
  bucket: number;
  /** Group key texts, in the request's order. */
  by: string[];
  /** One per aggregate, in the request's order; NaN where no span had the field. */
  values: number[];
}

/** TraceQL compare(): span counts per attribute value, selection against baseline, per step. */
export interface CompareRequest {
  range: TimeRange;
  stepNs: bigint;
  /** The spans compared. */
  where: Condition;
  /** Which of them are the selection; the rest are the baseline. */
  selection: Condition;
  /** Intrinsic fields counted besides every span and resource attribute, under these labels. */
  intrinsics: { label: string; field: Field }[];
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

export interface MetricsAnswer {
  rows: MetricsRow[];
  /** What answered: the per-minute rollup, or the raw spans. */
  source: 'rollup' | 'spans';
}

export interface MetricsPort {
  readonly capabilities: EngineCapabilities;
  /** Aggregates per step bucket and group. The store answers from its rollup where that is exact (or estimates are allowed). */
  metricsSeries(scope: TenantScope, req: MetricsRequest): Promise<MetricsAnswer>;
  compareCounts(scope: TenantScope, req: CompareRequest): Promise<CompareCounts>;
}

// ---- tags -------------------------------------------------------------------------

export interface TagsPort {
  readonly capabilities: EngineCapabilities;
  /** Attribute names seen in the range, per scope, at most `limit` per scope; narrowed to spans matching `where`. */
  tagNames(scope: TenantScope, scopes: readonly TagScope[], range: TimeRange, limit: number, where?: Condition): Promise<Map<TagScope, string[]>>;
  /** Distinct values of an attribute in the range, typed. */
  tagValues(scope: TenantScope, attribute: { scope: TagScope | 'any'; name: string }, range: TimeRange, limit: number, where?: Condition): Promise<TagValue[]>;
  /** Distinct values of an intrinsic text field in the range. */
  intrinsicValues(scope: TenantScope, field: IntrinsicField, range: TimeRange, limit: number, where?: Condition): Promise<string[]>;
}

// ---- diagnosis --------------------------------------------------------------------

/** One service-to-service edge, by the span pairs that make it. */
export interface ServiceEdgeRow {
  /** Service of the parent (calling) span. */
  source: string;
  /** Service of the child (called) span. */
  target: string;
  /** With `groupBy`: the value of that resource attribute on the parent's and the child's resource ('' where absent). */
  sourceGroup?: string;
  targetGroup?: string;
  /** `request` (client -> server), `messaging` (producer -> consumer), `link` (any other cross-service parent and child). */
  kind: 'request' | 'messaging' | 'link';
  count: number;
  /** Child spans with status error. */
  errors: number;
  /** Child span duration quantiles, ns. */
  p50: number;
  p95: number;
  p99: number;
}

export interface ServiceNodeRow {
  service: string;
  /** With `groupBy`: the value of that resource attribute ('' where the resource lacks it); one row per service and value. */
  group?: string;
  /** Every span of the service in the range. */
  spans: number;
  /** Its entry spans: server and consumer spans, and roots. */
  entrySpans: number;
  entryErrors: number;
  /** Entry span duration quantiles, ns (0 without entry spans). */
  p50: number;
  p95: number;
  p99: number;
}

export interface ServiceGraph {
  /** The fraction of traces read (1: all); counts are of those traces. */
  fraction: number;
  edges: ServiceEdgeRow[];
  nodes: ServiceNodeRow[];
}

export interface TraceSampleRequest {
  range: TimeRange;
  /** Traces with a span (in the range) matching this; absent: every trace in the range. */
  match?: Condition;
  /** Leaves out traces with a span (in the range) matching this. */
  exclude?: Condition;
  limit: number;
  /** Also count every trace that qualifies (TraceSample.total). */
  countTotal?: boolean;
}

export interface TraceSample {
  /** Ascending. */
  traceIds: Buffer[];
  /** More traces qualified than `limit`. */
  sampled: boolean;
  /** How many traces qualified, when the request asked (`countTotal`). */
  total?: number;
}

/** A trace's extent in the trace index: its first span's start to its last span's end. */
export interface TraceTiming {
  traceId: Buffer;
  startNs: bigint;
  durationNs: number;
}

export interface AttributeValueRow {
  scope: 'span' | 'resource' | 'intrinsic';
  key: string;
  value: string;
  type: 'string' | 'int' | 'float' | 'bool';
  /** Traces with at least one span carrying this value. */
  traces: number;
}

export interface NumericKeyRow {
  scope: 'span' | 'resource' | 'intrinsic';
  key: string;
  /** Values at NUMERIC_LEVELS. */
  quantiles: number[];
  spans: number;
}

/**
 * How spread out a key's values are in a group of traces: every distinct
 * value, and the traces carrying any of them. Counted over all values, not
 * only the `valuesPerKey` kept.
 */
export interface AttributeKeyRow {
  scope: 'span' | 'resource' | 'intrinsic';
  key: string;
  /** Distinct values (of any type). */
  distinct: number;
  /** Traces with at least one span carrying the key. */
  traces: number;
}

export interface TraceAttributeStats {
  traces: number;
  spans: number;
  values: AttributeValueRow[];
  /** One row per key of `values`. */
  keys: AttributeKeyRow[];
  numeric: NumericKeyRow[];
}

/** The levels of numeric quantiles in TraceAttributeStats, for distribution comparisons. */
export const NUMERIC_LEVELS: readonly number[] = [0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.99, 1];

/** A span with only what a critical path needs; ids are byte strings (latin1). */
export interface PathSpanRow {
  spanId: string;
  /** '' for a root. */
  parentId: string;
  /** ns from PathSpans.baseNs. */
  start: number;
  duration: number;
  service: string;
  name: string;
}

export interface PathSpans {
  baseNs: bigint;
  /** By trace id (a latin1 byte string). */
  traces: Map<string, PathSpanRow[]>;
}

/** A span of a load query, with its children's [start, end) intervals; times in ns from an origin shared by the answer. */
/** Times are ns after the request's `originNs`, as doubles: exact for offsets within 104 days either side. */
export interface LoadSpanRow {
  start: number;
  duration: number;
  /** The children's [start, end). */
  children: [number, number][];
}

/**
 * Resource attribute values seen per service and time step (Delivery's
 * version history and teams): for each step from the range start, service
 * and combination of the attributes' values ('' where a resource lacks
 * one), the spans counted and the first one's start.
 */
export interface ResourceSighting {
  step: number;
  service: string;
  /** One per requested attribute, in order. */
  values: string[];
  spans: number;
  firstNs: bigint;
}

export interface ResourceSightingsRequest {
  range: TimeRange;
  stepNs: bigint;
  /** Resource attribute names. */
  attributes: readonly string[];
}

export interface DiagnosisPort {
  /**
   * Service edges from cross-service parent/child span pairs, and each
   * service's own RED. With `maxSpans` (> 0), a uniform sample of whole
   * traces holding about that many spans is read; the answer says which fraction.
   * With `groupBy` (a resource attribute name), each service is split by
   * that attribute's value on its spans' resources: nodes per (service,
   * value), edges between such pairs (calls between two values of one
   * service included).
   */
  serviceGraph(scope: TenantScope, range: TimeRange, maxSpans?: number, groupBy?: string): Promise<ServiceGraph>;
  /** A uniform sample of trace ids in the range (the smallest ids), with or without a matching span. */
  sampleTraces(scope: TenantScope, req: TraceSampleRequest): Promise<TraceSample>;
  /** How many of these traces carry each attribute value, and numeric attribute quantiles over their spans. */
  traceAttributes(scope: TenantScope, req: { traceIds: Buffer[]; range: TimeRange; valuesPerKey: number }): Promise<TraceAttributeStats>;
  /** Start and duration of these traces (the trace index's extent), in no particular order; ids not found are left out. */
  traceTimings(scope: TenantScope, req: { traceIds: Buffer[]; range: TimeRange }): Promise<TraceTiming[]>;
  /** The spans of these traces, by trace, with only what a critical path needs. */
  pathSpans(scope: TenantScope, req: { traceIds: Buffer[]; range: TimeRange }): Promise<PathSpans>;
  /** The most recent `limit` spans matching `where`, each with its children's intervals; times after `originNs` (LoadSpanRow). */
  loadSpans(scope: TenantScope, req: { range: TimeRange; where: Condition; limit: number; originNs: bigint }): Promise<LoadSpanRow[]>;
  /**
   * Which values of these resource attributes each service's spans carried,
   * per step of the range (ResourceSighting), in no particular order. Spans
   * are counted per resource before resources are read, so the cost is a
   * scan of the spans' time, service and resource columns.
   */
  resourceSightings(scope: TenantScope, req: ResourceSightingsRequest): Promise<ResourceSighting[]>;
}

// ---- logs -------------------------------------------------------------------------

export interface LogHistogramCell {
  /** Step index from the range start. */
  column: number;
  severity: SeverityClass;
  count: number;
}

export interface LogHistogram {
  /** Non-empty cells only, in no particular order. */
  cells: LogHistogramCell[];
  /** Every matching record of the range. */
  total: number;
}

export interface LogsPort {
  /** The newest `limit` records in the range matching the condition, newest first (then by observed time and id). */
  searchLogs(scope: TenantScope, req: LogSearchRequest): Promise<LogRecord[]>;
  /** Every matching record of the range, counted by step and severity class. Exact. */
  logHistogram(scope: TenantScope, req: LogHistogramRequest): Promise<LogHistogram>;
  /**
   * A trace's records, oldest first, at most `limit`. Where the trace
   * index knows the trace, they are looked for around its extent (records
   * sent without their spans too); otherwise within `range`.
   */
  traceLogs(scope: TenantScope, traceId: Buffer, req: { range: TimeRange; limit: number }): Promise<LogRecord[]>;
}

// ---- maintenance ------------------------------------------------------------------

export interface RetentionResult {
  /** Partitions dropped: table, tenant and UTC day number. */
  dropped: { table: string; tenant: string; day: number }[];
}

export interface StoreStats {
  spans: number;
  traces: number;
  /** Compressed bytes of active parts. */
  bytesOnDisk: number;
  activeParts: number;
}

/** Retention: how long each tenant's spans are kept. */
export interface RetentionPolicy {
  /** Cutoff for a tenant: days that end at or before it are dropped. */
  cutoffNs(tenant: string): bigint;
}

export interface MaintenancePort {
  /** Drops, per tenant, every day partition that ends at or before the tenant's cutoff. */
  dropExpired(policy: RetentionPolicy): Promise<RetentionResult>;
  stats(): Promise<StoreStats>;
}

// ---- erasure ----------------------------------------------------------------------

export interface TraceCounts {
  /** Traces with at least one stored span. */
  traces: number;
  /** Their spans, each counted once (as reads return them). */
  spans: number;
  /**
   * Log records that carry one of these trace ids (whether or not the
   * trace has stored spans). Records without a trace id are never counted.
   */
  logRecords: number;
}

export interface ErasureProgress {
  /**
   * `deleting`: the engine rewrites the parts that hold the traces' rows
   * (spans, trace index and log records).
   * `rollup`: the minutes the spans fell in are recomputed from the spans left.
   * `removing`: the replaced parts wait to be removed from disk.
   */
  phase: 'deleting' | 'rollup' | 'removing';
  /** Parts (over every node and table) still to be rewritten or removed. */
  partsLeft: number;
}

export interface ErasureOptions {
  onProgress?: (p: ErasureProgress) => void;
  /**
   * Resolve only once no part on disk holds the erased rows (default). With
   * false, resolve once no table returns them: the replaced parts stay on
   * disk until the engine removes them (a server after its
   * `old_parts_lifetime`; chDB only on a partition command), or until these
   * traces are erased again with the default.
   */
  awaitRemoval?: boolean;
  /**
   * Where the engine can change table settings: the `old_parts_lifetime`
   * set while waiting (then reset). ClickHouse keeps replaced parts a while
   * in case their replacement, not yet flushed from the page cache, is lost
   * with the power; 60 s leaves the kernel (30 s dirty expiry by default)
   * time to write it.
   */
  partLifetimeSeconds?: number;
  /** Stops waiting (the engine finishes the mutations it was given). */
  signal?: AbortSignal;
}

export interface ErasureResult extends TraceCounts {
  /**
   * Spans of these traces still stored afterwards: stored after the
   * erasure began (acknowledged after it was asked for). Normally 0.
   */
  spansLeft: number;
  /** Log records of these traces still stored afterwards, for the same reason. Normally 0. */
  logRecordsLeft: number;
  /** Rollup minutes recomputed from the spans left. */
  rollupMinutes: number;
}

/**
 * Erasure of whole traces of one tenant (the scope must hold exactly one).
 * Every span of each trace goes, with its trace-index rows and every log
 * record that carries its trace id (on a cluster, log records are spread
 * over the shards by their own id, so every shard is searched); the
 * rollup's minutes that counted its spans are recomputed from the spans
 * left. Log records without a trace id (or with the all-zero one) are never
 * touched, whatever they hold. Resource rows (process attributes shared by
 * every trace of a process) and the audit trail are not touched.
 */
export interface ErasurePort {
  /** How many of these traces the tenant holds, their spans, and their log records. */
  countTraces(scope: TenantScope, traceIds: readonly Buffer[]): Promise<TraceCounts>;
  /**
   * Erases these traces. Rows written after the call began may survive.
   * Resolves once no table returns the rows and (unless `awaitRemoval` is
   * false) no data part on disk holds them. When no row of them is left,
   * it only waits until no part of the tenant that predates each table's
   * last mutation is on disk (what an erasure that did not wait left).
   */
  eraseTraces(scope: TenantScope, traceIds: readonly Buffer[], opts?: ErasureOptions): Promise<ErasureResult>;
}

// ---- audit ------------------------------------------------------------------------

/** One audit record, as auth/audit.ts makes and chains them. */
export interface AuditRecord {
  /** The writing process's chain, and the record's place in it (from 1). */
  chain: string;
  seq: number;
  /** Unix ms. */
  time: number;
  /** Hex SHA-256 of the chain's previous record, and of this one. */
  prev: string;
  hash: string;
  /** How the caller was identified and their name: `token:collector`, `oidc:alice@clinic`; never a credential. */
  identity: string;
  /** The tenants read or acted on ([] for none). */
  tenants: string[];
  /** The peer address. */
  remote: string;
  /** `GET /api/search`, `erasure.complete`... */
  action: string;
  /** What was asked: the TraceQL text, trace ids, parameters (never credentials). */
  detail: Record<string, string | number | boolean | string[]>;
  /** The HTTP status answered. */
  status: number;
  /** Traces, series or rows returned; -1 when not counted. */
  results: number;
}

export interface AuditQuery {
  startMs: number;
  endMs: number;
  limit: number;
  /** Only records of this identity, or this action. */
  identity?: string;
  action?: string;
}

/**
 * The append-only audit table. Nothing in Sightline updates or deletes it;
 * retention does not touch it.
 */
export interface AuditPort {
  /** Stores records; a record stored twice (a replayed file) is kept once by readers. */
  writeAudit(records: readonly AuditRecord[]): Promise<void>;
  /** Records that touch any of the scope's tenants, newest first. */
  readAudit(scope: TenantScope, q: AuditQuery): Promise<AuditRecord[]>;
  /** Every record of every tenant, by chain and sequence: for `sightline audit verify`. */
  allAudit(): Promise<AuditRecord[]>;
}

/** Every read port at once, as the query API uses them. */
export interface ReadPorts extends TracePort, SearchPort, MetricsPort, TagsPort, DiagnosisPort, LogsPort {}
