import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { randomUUID } from 'node:crypto';
import { Piscina } from 'piscina';
import { QueriesOverloadedError, SightlineError, type ErrorCode } from '../../errors.js';
import { EngineError, QUERY_THREAD_NICE, serveEngine, type QueryHost, type TenantScope } from '../../store/index.js';
import type { JobAnswer, JobTable } from './job.js';

/**
 * Query workers: every request that reads spans runs its SQL building,
 * result parsing and evaluation in a worker thread, so ingest's event loop
 * never waits on a query, and a query that runs past its deadline or
 * whose client left is stopped: its worker is terminated, its statements
 * still queued are dropped and the running one is killed in the engine.
 *
 * Two lanes, each with its own threads and engine connection: `query` for
 * searches, metrics and diagnosis (at most `maxConcurrent` at once, past
 * that 429 with Retry-After), and `lookup` for reads bounded by their
 * answer (a trace by id, tag values), which never wait behind a heavy one.
 */
export interface QueryPoolOptions {
  host: QueryHost;
  /** The worker module (api/query-worker.ts, compiled). */
  workerUrl: URL;
  /** Deadline of each query, in ms (--query-timeout). */
  timeoutMs: number;
  /** Heavy queries running at once (--max-concurrent-queries). */
  maxConcurrent: number;
  /** Lookups running or waiting at once; lookups run on two threads. */
  maxLookups?: number;
  /** Engine memory per statement (--query-memory). */
  statementMemoryBytes: number;
  maxResultRows: number;
  maxResultBytes: number;
  /** V8 heap of each worker, in MiB: a query that needs more fails alone. */
  workerHeapMb: number;
}

export type Lane = 'query' | 'lookup';

export interface QueryStats {
  running: { query: number; lookup: number };
  maxConcurrent: number;
  completed: number;
  /** Refused with 429: too many heavy queries at once. */
  rejected: number;
  timedOut: number;
  /** Stopped because the client went away. */
  cancelled: number;
  /** Failed on a limit: memory, result size, series. */
  tooLarge: number;
  failed: number;
}

/** What each worker thread is told when it starts (api/query-worker.ts). */
export interface WorkerSetup {
  /** Nice value of the thread (Linux schedules threads, so this one alone). */
  nice: number;
}

/** The task a worker gets (see api/query-worker.ts). */
export interface WorkerTask {
  job: string;
  args: unknown;
  tenants: readonly string[];
  info: QueryHost['info'];
  port: MessagePort;
}

/**
 * An unexpected error inside a worker, carried across the thread boundary
 * with its kind intact: an engine error stays an EngineError, so the log
 * serializer withholds its message (it can quote patient values) below debug.
 */
export interface WorkerFailure {
  name: string;
  message: string;
  stack?: string;
  engine: boolean;
  engineCode?: number;
}

export type WorkerReply = { ok: true; answer: JobAnswer } | { ok: false; code: ErrorCode; message: string; failure?: WorkerFailure };

export class QueryPool {
  private readonly pools: Record<Lane, Piscina>;
  private readonly running = { query: 0, lookup: 0 };
  private readonly counts = { completed: 0, rejected: 0, timedOut: 0, cancelled: 0, tooLarge: 0, failed: 0 };
  /** Recent heavy query time, ms (moving average): how long until a slot frees, for Retry-After. */
  private heavyMs = 1000;

  constructor(private readonly opts: QueryPoolOptions) {
    const common = {
      filename: opts.workerUrl.href,
      idleTimeout: 60_000,
      // A worker whose task is aborted is terminated; one task per worker
      // keeps that from taking other queries with it.
      concurrentTasksPerWorker: 1,
      resourceLimits: { maxOldGenerationSizeMb: opts.workerHeapMb },
    };
    this.pools = {
      // Heavy queries' threads run niced, so ingest and lookups get the CPU first.
      query: new Piscina({ ...common, minThreads: 1, maxThreads: opts.maxConcurrent, workerData: { nice: QUERY_THREAD_NICE } satisfies WorkerSetup }),
      lookup: new Piscina({ ...common, minThreads: 1, maxThreads: 2, workerData: { nice: 0 } satisfies WorkerSetup }),
    };
  }

  stats(): QueryStats {
    return { running: { ...this.running }, maxConcurrent: this.opts.maxConcurrent, ...this.counts };
  }

  /**
   * Runs `job` of table `T` for `scope`. `onClientGone` registers the
   * callback that aborts the query when the client disconnects.
   */
  async run<T extends JobTable, K extends keyof T & string>(
    lane: Lane,
    job: K,
    args: Parameters<T[K]>[1],
    scope: TenantScope,
    onClientGone: (abort: () => void) => void,
  ): Promise<JobAnswer> {
    const limit = lane === 'query' ? this.opts.maxConcurrent : (this.opts.maxLookups ?? 64);
    if (this.running[lane] >= limit) {
      this.counts.rejected++;
      throw new QueriesOverloadedError(
        `too many queries at once (${limit} ${lane === 'query' ? 'searches, metrics or diagnosis' : 'lookups'} running); retry shortly`,
        lane === 'query' ? Math.min(30, Math.max(1, Math.ceil(this.heavyMs / 1000))) : 1,
      );
    }
    this.running[lane]++;
    const started = Date.now();
    const deadline = started + this.opts.timeoutMs;
    const controller = new AbortController();
    const timeout = new SightlineError('QUERY_TIMEOUT', `the query ran past its deadline of ${formatMs(this.opts.timeoutMs)} and was stopped; narrow its time range or its conditions`);
    const timer = setTimeout(() => controller.abort(timeout), this.opts.timeoutMs);
    const gone = new SightlineError('QUERY_TIMEOUT', 'the client went away; the query was stopped');
    onClientGone(() => controller.abort(gone));
    const { port1, port2 } = new MessageChannel();
    serveEngine(this.opts.host.engine, port1, {
      lane,
      queryIdPrefix: `sightline-${randomUUID()}`,
      signal: controller.signal,
      limits: () => ({
        maxExecutionSeconds: Math.max(1, Math.ceil((deadline - Date.now()) / 1000)),
        maxMemoryBytes: this.opts.statementMemoryBytes,
        maxResultRows: this.opts.maxResultRows,
        maxResultBytes: this.opts.maxResultBytes,
      }),
    });
    try {
      const task: WorkerTask = { job, args, tenants: scope.tenants, info: this.opts.host.info, port: port2 };
      let reply: WorkerReply;
      try {
        reply = (await this.pools[lane].run(task, { transferList: [port2 as never], signal: controller.signal })) as WorkerReply;
      } catch (e) {
        if (controller.signal.aborted) throw controller.signal.reason;
        if ((e as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY')
          throw new SightlineError('QUERY_TOO_LARGE', `the query needed more than a query worker's ${this.opts.workerHeapMb} MiB; narrow its time range or its conditions`);
        throw e;
      }
      if (controller.signal.aborted) throw controller.signal.reason;
      // The API's error handler logs an internal failure, with this cause.
      if (!reply.ok) throw new SightlineError(reply.code, reply.message, reply.failure ? { cause: rebuild(reply.failure) } : undefined);
      this.counts.completed++;
      return reply.answer;
    } catch (e) {
      const code = (e as SightlineError).code;
      if (e === timeout) this.counts.timedOut++;
      else if (e === gone) this.counts.cancelled++;
      else if (code === 'QUERY_TOO_LARGE') this.counts.tooLarge++;
      else if (code === 'QUERY_TIMEOUT') this.counts.timedOut++;
      else if (code === 'INTERNAL' || !(e instanceof SightlineError)) this.counts.failed++;
      throw e;
    } finally {
      clearTimeout(timer);
      // Statements still queued for this query are dropped, a running one killed.
      if (!controller.signal.aborted) controller.abort(new Error('the query has ended'));
      port1.close();
      this.running[lane]--;
      if (lane === 'query') this.heavyMs = 0.8 * this.heavyMs + 0.2 * (Date.now() - started);
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.pools.query.destroy(), this.pools.lookup.destroy()]);
  }
}

/** The worker's error, as the kind of error it was. */
function rebuild(f: WorkerFailure): Error {
  const e = f.engine ? new EngineError(f.message, f.engineCode) : f.name === 'SyntaxError' ? new SyntaxError(f.message) : new Error(f.message);
  if (!f.engine) (e as { name: string }).name = f.name;
  if (f.stack !== undefined) e.stack = f.stack;
  return e;
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
