import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { AuditEntry } from '../auth/index.js';
import { InvalidQueryError, SightlineError } from '../errors.js';
import type { ErasurePort, TenantScope, TimeRange } from '../store/index.js';

/**
 * Erasure: an admin's request to forget whole traces of one tenant, chosen
 * by trace id or by a TraceQL query over a time range (a "forget this
 * patient" request). As in Tempo or Honeycomb, a query selects traces: the
 * traces with a span that matches and starts in the range go whole, every
 * span of them, not only the matching spans, and every log record that
 * carries one of their trace ids. Log records not tied to a selected trace
 * are out of reach, whatever they hold: every answer says so (notCovered).
 *
 * A request first waits until every span and log record acknowledged
 * before it is out of the WALs and in the store, then resolves the
 * selection to trace ids and counts them (a dry run stops there).
 * Erasures then run one at a time in the background; their progress is
 * kept here, in this process, and their outcome is written to the audit
 * trail.
 */

export type ErasureSelection = { kind: 'traceIds'; traceIds: Buffer[] } | { kind: 'traceql'; query: string; range: TimeRange };

export interface ErasureRequest {
  selection: ErasureSelection;
  /** Count what would go, erase nothing. */
  dryRun: boolean;
}

/** Who asked, for the audit record of the outcome. */
export interface Requester {
  identity: string;
  remote: string;
}

export type ErasureState = 'pending' | 'running' | 'complete' | 'failed';

/**
 * An erasure as the API reports it. It never repeats the selection (trace
 * ids, or a query that may hold a patient's identifier): that is in the
 * audit record of the request, under the same id.
 */
export interface ErasureStatus {
  id: string;
  tenant: string;
  state: ErasureState;
  dryRun: boolean;
  selection: 'traceIds' | 'traceql';
  /** What the selection matched when it was asked (with the WAL drained): the traces, spans and log records that go. */
  traces: number;
  spans: number;
  /** Log records that carry one of the selected trace ids. */
  logRecords: number;
  /**
   * What this erasure does not reach, in words (NOT_COVERED), on every
   * answer: `complete` means the selected traces' rows are gone, not that
   * no record anywhere holds the value the selection was made by.
   */
  notCovered: readonly string[];
  /** While running: what the store is doing, and the parts it still has to rewrite or remove. */
  phase?: 'deleting' | 'rollup' | 'removing';
  partsLeft?: number;
  /** Once complete: spans of these traces stored after the erasure began (acknowledged after it was asked for), kept. */
  spansLeft?: number;
  /** Once complete: log records of these traces stored after the erasure began, kept. */
  logRecordsLeft?: number;
  /** Once complete: rollup minutes recomputed. */
  rollupMinutes?: number;
  requestedAt: string;
  startedAt?: string;
  completedAt?: string;
  error?: string;
}

/**
 * Every trace a TraceQL query selects in a range, or `overLimit` past
 * `max` (see matchingTraceIds). The API runs it in a query worker, so an
 * erasure's query is evaluated off the ingest event loop like any other.
 */
export type SelectionMatcher = (scope: TenantScope, query: string, range: TimeRange, max: number) => Promise<{ traceIds: Buffer[]; overLimit: boolean }>;

export interface ErasuresOptions {
  store: ErasurePort;
  /** Resolves once every span acknowledged before the call is stored (the ingestor's drain). */
  drain: () => Promise<void>;
  /** Where outcomes are recorded; null records nothing (tests of other things). */
  audit: { append(entry: AuditEntry): Promise<unknown> } | null;
  log: Logger;
  /** Most traces one request may select; past it the request is refused (never cut short). */
  maxTraces?: number;
  /** The store's `old_parts_lifetime` while it waits for replaced parts to leave the disk. */
  partLifetimeSeconds?: number;
  /** Finished erasures remembered for GET. */
  keep?: number;
}

interface Operation {
  status: ErasureStatus;
  scope: TenantScope;
  traceIds: Buffer[];
  requester: Requester;
}

export const MAX_ERASED_TRACES = 100_000;

/**
 * What no erasure reaches, stated in every answer (and in docs/erasure.md)
 * rather than left for the reader to assume covered.
 */
export const NOT_COVERED: readonly string[] = [
  "log records not tied to an erased trace (without a trace id, or with another trace's) are kept even when they hold the selected value: a selection matches spans, and log records go only by their trace id; they stay until retention drops their day",
  'resource attributes (resources_v3), shared by every trace of a process, are kept',
];

export class Erasures {
  private readonly ops = new Map<string, Operation>();
  private queue: Promise<void> = Promise.resolve();
  private readonly abort = new AbortController();
  private closed = false;

  constructor(private readonly opts: ErasuresOptions) {}

  /**
   * Resolves and counts the selection; unless it is a dry run, queues the
   * erasure. Throws InvalidQueryError (400) for a query that cannot be
   * parsed or selects too many traces, and UNAVAILABLE (503) when the WAL
   * cannot be drained.
   */
  async request(scope: TenantScope, req: ErasureRequest, requester: Requester, match: SelectionMatcher): Promise<ErasureStatus> {
    if (this.closed) throw new SightlineError('UNAVAILABLE', 'Sightline is shutting down');
    const tenant = scope.single;
    await this.opts.drain();
    const traceIds = await this.resolve(scope, req.selection, match);
    const counts = await this.opts.store.countTraces(scope, traceIds);
    const status: ErasureStatus = {
      id: randomUUID(),
      tenant,
      state: req.dryRun ? 'complete' : 'pending',
      dryRun: req.dryRun,
      selection: req.selection.kind,
      traces: counts.traces,
      spans: counts.spans,
      logRecords: counts.logRecords,
      notCovered: NOT_COVERED,
      requestedAt: new Date().toISOString(),
    };
    const op: Operation = { status, scope, traceIds: req.dryRun ? [] : traceIds, requester };
    this.remember(op);
    if (req.dryRun) status.completedAt = status.requestedAt;
    else this.queue = this.queue.then(() => this.run(op));
    return { ...status };
  }

  /** An erasure of the scope's tenant, or undefined. */
  get(scope: TenantScope, id: string): ErasureStatus | undefined {
    const op = this.ops.get(id);
    return op && op.status.tenant === scope.single ? { ...op.status } : undefined;
  }

  /** The scope's tenant's erasures known to this process, newest first. */
  list(scope: TenantScope): ErasureStatus[] {
    const tenant = scope.single;
    return [...this.ops.values()]
      .filter((op) => op.status.tenant === tenant)
      .map((op) => ({ ...op.status }))
      .reverse();
  }

  /**
   * Stops: the running erasure stops waiting and is reported failed (the
   * mutations it gave the engine still finish there), queued ones fail.
   */
  async close(): Promise<void> {
    this.closed = true;
    this.abort.abort();
    await this.queue;
  }

  private async resolve(scope: TenantScope, selection: ErasureSelection, match: SelectionMatcher): Promise<Buffer[]> {
    if (selection.kind === 'traceIds') return selection.traceIds;
    const max = this.opts.maxTraces ?? MAX_ERASED_TRACES;
    const found = await match(scope, selection.query, selection.range, max);
    if (found.overLimit) throw new InvalidQueryError(`the query selects more than ${max} traces in the range (or more candidate traces, for a structural query); narrow the query or the range and erase in parts`);
    return found.traceIds;
  }

  private async run(op: Operation): Promise<void> {
    const s = op.status;
    if (this.closed) {
      s.state = 'failed';
      s.error = 'Sightline stopped before the erasure started; ask for it again';
    } else {
      s.state = 'running';
      s.startedAt = new Date().toISOString();
      try {
        const r = await this.opts.store.eraseTraces(op.scope, op.traceIds, {
          onProgress: (p) => {
            s.phase = p.phase;
            s.partsLeft = p.partsLeft;
          },
          partLifetimeSeconds: this.opts.partLifetimeSeconds,
          signal: this.abort.signal,
        });
        s.state = 'complete';
        s.spansLeft = r.spansLeft;
        s.logRecordsLeft = r.logRecordsLeft;
        s.rollupMinutes = r.rollupMinutes;
        delete s.phase;
        delete s.partsLeft;
      } catch (e) {
        s.state = 'failed';
        s.error = this.closed ? 'Sightline stopped before the erasure completed (mutations already given to the engine still finish there); ask for it again' : String((e as Error).message ?? e).slice(0, 500);
        this.opts.log.error({ err: e, erasure: s.id, tenant: s.tenant }, 'erasure failed');
      }
    }
    s.completedAt = new Date().toISOString();
    op.traceIds = [];
    await this.record(op);
  }

  /** The outcome, in the audit trail beside the request's own record. */
  private async record(op: Operation): Promise<void> {
    const s = op.status;
    if (!this.opts.audit) return;
    const detail: AuditEntry['detail'] = { erasure: s.id, selection: s.selection, traces: s.traces, spans: s.spans, logRecords: s.logRecords };
    if (s.spansLeft !== undefined) detail.spansLeft = s.spansLeft;
    if (s.logRecordsLeft !== undefined) detail.logRecordsLeft = s.logRecordsLeft;
    if (s.rollupMinutes !== undefined) detail.rollupMinutes = s.rollupMinutes;
    if (s.error !== undefined) detail.error = s.error;
    try {
      await this.opts.audit.append({
        identity: op.requester.identity,
        tenants: [s.tenant],
        remote: op.requester.remote,
        action: s.state === 'complete' ? 'erasure.complete' : 'erasure.failed',
        detail,
        status: s.state === 'complete' ? 200 : 500,
        results: s.traces,
      });
    } catch (e) {
      this.opts.log.error({ err: e, erasure: s.id }, 'the outcome of an erasure could not be written to the audit log');
    }
  }

  private remember(op: Operation): void {
    this.ops.set(op.status.id, op);
    const keep = this.opts.keep ?? 1000;
    for (const [id, o] of this.ops) {
      if (this.ops.size <= keep) break;
      if (o.status.state === 'complete' || o.status.state === 'failed') this.ops.delete(id);
    }
  }
}
