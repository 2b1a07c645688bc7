import os from 'node:os';
import { workerData } from 'piscina';
import { SightlineError } from '../errors.js';
import { EngineError, openRemoteStore, TenantScope } from '../store/index.js';
import type { WorkerFailure, WorkerReply, WorkerSetup, WorkerTask } from './isolation/pool.js';
import type { JobTable } from './isolation/job.js';
import { tempoJobs } from './tempo/jobs.js';
import { jaegerJobs } from './jaeger/jobs.js';
import { nativeJobs } from './native/jobs.js';
import { firstRunJobs } from './native/first-run-jobs.js';
import { logJobs } from './native/logs-jobs.js';
import { sloJobs } from './native/slo-jobs.js';
import { deliveryJobs } from './native/delivery-jobs.js';

/**
 * A query worker thread (see isolation/pool.ts): builds the store over the
 * main thread's engine for one task, runs the job and answers with data,
 * errors included, since an Error loses its class crossing threads.
 */
const JOBS: JobTable = { ...tempoJobs, ...jaegerJobs, ...nativeJobs, ...firstRunJobs, ...logJobs, ...sloJobs, ...deliveryJobs };

const setup = workerData as WorkerSetup | undefined;
if (setup?.nice) {
  try {
    // pid 0: on Linux, the calling thread only.
    os.setPriority(0, setup.nice);
  } catch {
    // Not permitted here: queries then run at the process's priority.
  }
}

export default async function runTask(task: WorkerTask): Promise<WorkerReply> {
  const port = task.port;
  const store = openRemoteStore(task.info, port);
  try {
    const job = JOBS[task.job];
    if (!job) return { ok: false, code: 'INTERNAL', message: 'internal error', failure: { name: 'Error', message: `no job named ${task.job}`, engine: false } };
    const answer = await job({ store, scope: TenantScope.of(task.tenants) }, task.args);
    return { ok: true, answer };
  } catch (e) {
    return failure(e);
  } finally {
    port.close();
  }
}

function failure(e: unknown): WorkerReply {
  if (e instanceof SightlineError) return { ok: false, code: e.code, message: e.message };
  if (e instanceof EngineError) {
    switch (e.limitHit) {
      case 'time':
        return { ok: false, code: 'QUERY_TIMEOUT', message: 'the query ran past its deadline in the engine and was stopped; narrow its time range or its conditions' };
      case 'memory':
        return { ok: false, code: 'QUERY_TOO_LARGE', message: 'the query needed more engine memory than a query may use (--query-memory); narrow its time range or its conditions' };
      case 'result':
        return { ok: false, code: 'QUERY_TOO_LARGE', message: 'the query read back more rows or bytes than a query may; narrow its time range or its conditions' };
      case 'cancelled':
        return { ok: false, code: 'QUERY_TIMEOUT', message: 'the query was stopped' };
    }
  }
  const failure: WorkerFailure =
    e instanceof Error
      ? { name: e.name, message: e.message, ...(e.stack !== undefined ? { stack: e.stack } : {}), engine: e instanceof EngineError, ...(e instanceof EngineError && e.code !== undefined ? { engineCode: e.code } : {}) }
      : { name: 'Error', message: String(e), engine: false };
  return { ok: false, code: 'INTERNAL', message: 'internal error', failure };
}
