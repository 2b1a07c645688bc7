export { QueryPool, type QueryPoolOptions, type QueryStats, type Lane, type WorkerTask, type WorkerReply, type WorkerSetup } from './pool.js';
export { sendJob } from './reply.js';
export { json, type JobAnswer, type JobContext, type JobTable } from './job.js';
