import type { Engine, EngineCapabilities } from '../engine.js';
import type {
  AuditPort,
  AuditQuery,
  AuditRecord,
  CompareCounts,
  CompareRequest,
  DiagnosisPort,
  ErasureOptions,
  ErasurePort,
  ErasureResult,
  EvalSpan,
  LoadSpanRow,
  LogHistogram,
  LogsPort,
  MaintenancePort,
  MetricsAnswer,
  MetricsPort,
  MetricsRequest,
  PathSpans,
  ReadPorts,
  ResourceSighting,
  ResourceSightingsRequest,
  RetentionPolicy,
  RetentionResult,
  SearchPort,
  SearchResult,
  ServiceGraph,
  SpanSearchRequest,
  TraceHeatmap,
  TraceHeatmapRequest,
  StoreStats,
  TagsPort,
  TraceAttributeStats,
  TraceCounts,
  TracePort,
  TraceSample,
  TraceSampleRequest,
  TraceTiming,
  TraceSpansRequest,
} from '../ports.js';
import type { Condition, IntrinsicField, TagScope, TagValue, TimeRange, TraceCondition } from '../request.js';
import type { LogHistogramRequest, LogSearchRequest } from '../log-request.js';
import type { LogRecord } from '../../model/log-record.js';
import type { Layout } from '../schema.js';
import type { TenantScope } from '../tenant.js';
import type { SpanRecord } from '../../model/span-record.js';
import { StoreContext } from './context.js';
import { DiagnosisReads } from './diagnosis.js';
import { Maintenance } from './maintenance.js';
import { MetricsReads } from './metrics.js';
import { LegacyCopy, type LegacyCopyStatus } from './migrate-v2.js';
import { SearchReads } from './search.js';
import { TagReads } from './tags.js';
import { TraceReads } from './traces.js';
import { LogReads } from './logs.js';
import { SegmentWriter, type WriteOutcome } from './writer.js';
import { AuditStore } from './audit.js';
import { Erasure } from './erasure.js';
import { SloState } from './slo-state.js';
import type { SloStatePort } from '../slo-state.js';

export type { WriteOutcome, LegacyCopyStatus };

export interface SqlStoreOptions {
  /** Old (version-2) spans belong to this tenant when they are copied. */
  defaultTenant: string;
  /** A directory for the migration's chunk files. */
  scratchDir: string;
}

/**
 * The store for every ClickHouse-family engine: all SQL lives under
 * store/, and engines differ only by their declared capabilities. Each
 * port is its own module; this class only hands calls to them.
 */
export class SqlStore implements ReadPorts, MaintenancePort, AuditPort, ErasurePort {
  private readonly ctx: StoreContext;
  private readonly writer: SegmentWriter;
  private readonly traces: TracePort;
  private readonly search: SearchPort;
  private readonly metrics: MetricsPort;
  private readonly tags: TagsPort;
  private readonly diagnosis: DiagnosisPort;
  private readonly logs: LogsPort;
  private readonly maintenance: Maintenance;
  private readonly audit: AuditStore;
  private readonly erasure: Erasure;
  private readonly slo: SloState;
  private readonly legacy: LegacyCopy;
  private legacyRun: Promise<void> | null = null;

  constructor(
    private readonly engine: Engine,
    layout: Layout,
    private readonly opts: SqlStoreOptions,
  ) {
    this.ctx = new StoreContext(engine, layout);
    this.writer = new SegmentWriter(this.ctx);
    this.traces = new TraceReads(this.ctx);
    this.search = new SearchReads(this.ctx);
    this.metrics = new MetricsReads(this.ctx);
    this.tags = new TagReads(this.ctx);
    this.diagnosis = new DiagnosisReads(this.ctx);
    this.logs = new LogReads(this.ctx);
    this.maintenance = new Maintenance(this.ctx);
    this.audit = new AuditStore(this.ctx);
    this.erasure = new Erasure(this.ctx);
    this.slo = new SloState(this.ctx);
    this.legacy = new LegacyCopy(this.ctx, this.writer, opts.defaultTenant, opts.scratchDir);
  }

  get capabilities(): EngineCapabilities {
    return this.engine.capabilities;
  }

  /** What query workers need to build this store over the same engine (store/remote.ts). */
  parts(): { engine: Engine; layout: Layout; options: SqlStoreOptions } {
    return { engine: this.engine, layout: this.ctx.layout, options: this.opts };
  }

  // ---- ingest's writer port -----------------------------------------------------

  writeSpans(file: string, opts: { replay: boolean }): Promise<WriteOutcome> {
    return this.writer.writeSpans(file, opts);
  }

  writeResources(file: string): Promise<WriteOutcome> {
    return this.writer.writeResources(file);
  }

  writeLogs(file: string, opts: { replay: boolean }): Promise<WriteOutcome> {
    return this.writer.writeLogs(file, opts);
  }

  // ---- reads --------------------------------------------------------------------

  getTrace(scope: TenantScope, traceId: Buffer, range?: TimeRange): Promise<SpanRecord[]> {
    return this.traces.getTrace(scope, traceId, range);
  }

  searchSpans(scope: TenantScope, req: SpanSearchRequest): Promise<SearchResult> {
    return this.search.searchSpans(scope, req);
  }

  traceHeatmap(scope: TenantScope, req: TraceHeatmapRequest): Promise<TraceHeatmap> {
    return this.search.traceHeatmap(scope, req);
  }

  candidateTraces(scope: TenantScope, req: { range: TimeRange; anySpan: Condition; having: TraceCondition; limit: number; offset: number }): Promise<Buffer[]> {
    return this.search.candidateTraces(scope, req);
  }

  traceSpans(scope: TenantScope, req: TraceSpansRequest): Promise<Map<string, EvalSpan[]>> {
    return this.search.traceSpans(scope, req);
  }

  serviceStats(scope: TenantScope, traceIds: Buffer[], range: TimeRange): Promise<Map<string, Map<string, { spans: number; errors: number }>>> {
    return this.search.serviceStats(scope, traceIds, range);
  }

  metricsSeries(scope: TenantScope, req: MetricsRequest): Promise<MetricsAnswer> {
    return this.metrics.metricsSeries(scope, req);
  }

  compareCounts(scope: TenantScope, req: CompareRequest): Promise<CompareCounts> {
    return this.metrics.compareCounts(scope, req);
  }

  tagNames(scope: TenantScope, scopes: readonly TagScope[], range: TimeRange, limit: number, where?: Condition): Promise<Map<TagScope, string[]>> {
    return this.tags.tagNames(scope, scopes, range, limit, where);
  }

  tagValues(scope: TenantScope, attribute: { scope: TagScope | 'any'; name: string }, range: TimeRange, limit: number, where?: Condition): Promise<TagValue[]> {
    return this.tags.tagValues(scope, attribute, range, limit, where);
  }

  intrinsicValues(scope: TenantScope, field: IntrinsicField, range: TimeRange, limit: number, where?: Condition): Promise<string[]> {
    return this.tags.intrinsicValues(scope, field, range, limit, where);
  }

  serviceGraph(scope: TenantScope, range: TimeRange, maxSpans?: number, groupBy?: string): Promise<ServiceGraph> {
    return this.diagnosis.serviceGraph(scope, range, maxSpans, groupBy);
  }

  sampleTraces(scope: TenantScope, req: TraceSampleRequest): Promise<TraceSample> {
    return this.diagnosis.sampleTraces(scope, req);
  }

  traceAttributes(scope: TenantScope, req: { traceIds: Buffer[]; range: TimeRange; valuesPerKey: number }): Promise<TraceAttributeStats> {
    return this.diagnosis.traceAttributes(scope, req);
  }

  traceTimings(scope: TenantScope, req: { traceIds: Buffer[]; range: TimeRange }): Promise<TraceTiming[]> {
    return this.diagnosis.traceTimings(scope, req);
  }

  pathSpans(scope: TenantScope, req: { traceIds: Buffer[]; range: TimeRange }): Promise<PathSpans> {
    return this.diagnosis.pathSpans(scope, req);
  }

  loadSpans(scope: TenantScope, req: { range: TimeRange; where: Condition; limit: number; originNs: bigint }): Promise<LoadSpanRow[]> {
    return this.diagnosis.loadSpans(scope, req);
  }

  resourceSightings(scope: TenantScope, req: ResourceSightingsRequest): Promise<ResourceSighting[]> {
    return this.diagnosis.resourceSightings(scope, req);
  }

  searchLogs(scope: TenantScope, req: LogSearchRequest): Promise<LogRecord[]> {
    return this.logs.searchLogs(scope, req);
  }

  logHistogram(scope: TenantScope, req: LogHistogramRequest): Promise<LogHistogram> {
    return this.logs.logHistogram(scope, req);
  }

  traceLogs(scope: TenantScope, traceId: Buffer, req: { range: TimeRange; limit: number }): Promise<LogRecord[]> {
    return this.logs.traceLogs(scope, traceId, req);
  }

  // ---- audit --------------------------------------------------------------------

  writeAudit(records: readonly AuditRecord[]): Promise<void> {
    return this.audit.writeAudit(records);
  }

  readAudit(scope: TenantScope, q: AuditQuery): Promise<AuditRecord[]> {
    return this.audit.readAudit(scope, q);
  }

  allAudit(): Promise<AuditRecord[]> {
    return this.audit.allAudit();
  }

  // ---- erasure ------------------------------------------------------------------

  countTraces(scope: TenantScope, traceIds: readonly Buffer[]): Promise<TraceCounts> {
    return this.erasure.countTraces(scope, traceIds);
  }

  eraseTraces(scope: TenantScope, traceIds: readonly Buffer[], opts?: ErasureOptions): Promise<ErasureResult> {
    return this.erasure.eraseTraces(scope, traceIds, opts);
  }

  // ---- SLO alert state ----------------------------------------------------------

  /** Alert events, deliveries, attempts and leases of SLO evaluation (src/slo). */
  sloState(): SloStatePort {
    return this.slo;
  }

  // ---- maintenance --------------------------------------------------------------

  async dropExpired(policy: RetentionPolicy): Promise<RetentionResult> {
    const result = await this.maintenance.dropExpired(policy);
    for (const d of await this.legacy.dropExpired(policy.cutoffNs(this.opts.defaultTenant))) result.dropped.push({ ...d, tenant: this.opts.defaultTenant });
    return result;
  }

  stats(): Promise<StoreStats> {
    return this.maintenance.stats();
  }

  /** Starts copying a version-2 store's spans in the background (a no-op without them). */
  startMigration(): Promise<void> {
    this.legacyRun ??= this.legacy.run();
    return this.legacyRun;
  }

  migrationStatus(): LegacyCopyStatus {
    return this.legacy.status();
  }

  async close(): Promise<void> {
    this.legacy.stop();
    await this.legacyRun;
    await this.engine.close();
  }
}
