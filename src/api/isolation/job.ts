import type { ReadPorts, TenantScope } from '../../store/index.js';

/**
 * A query job: the part of a request that reads spans and computes on
 * them, run in a query worker (see pool.ts). Its arguments and answer
 * cross threads by structured clone: plain data, bigints allowed, no
 * class instances. Routes parse and check parameters first, in the main
 * thread, so a job starts from values known to be well formed.
 */
export interface JobContext {
  store: ReadPorts;
  scope: TenantScope;
}

/** What a job answers: the body as it goes out, and the count the audit trail records. */
export interface JobAnswer {
  body: string | Uint8Array;
  contentType: string;
  /** Result count for the audit record (traces, series, spans...). */
  results: number;
}

// Job arguments are each job's own type; the table only needs to call them.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type JobTable = Record<string, (ctx: JobContext, args: any) => Promise<JobAnswer>>;

/** A JSON answer; bigints (nanosecond times) are not expected here and would throw. */
export function json(value: unknown, results: number): JobAnswer {
  return { body: JSON.stringify(value), contentType: 'application/json; charset=utf-8', results };
}
