import type { FastifyReply, FastifyRequest } from 'fastify';
import type { TenantScope } from '../../store/index.js';
import type { JobTable } from './job.js';
import type { Lane, QueryPool } from './pool.js';

/**
 * Runs a job in the query pool and sends its answer. The query is stopped
 * when the client disconnects before the answer is sent.
 */
export async function sendJob<T extends JobTable, K extends keyof T & string>(
  queries: QueryPool,
  lane: Lane,
  job: K,
  args: Parameters<T[K]>[1],
  scope: TenantScope,
  req: FastifyRequest,
  reply: FastifyReply,
): Promise<FastifyReply> {
  const answer = await queries.run<T, K>(lane, job, args, scope, (abort) => {
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) abort();
    });
  });
  req.auditResults = answer.results;
  const body = typeof answer.body === 'string' ? answer.body : Buffer.from(answer.body.buffer, answer.body.byteOffset, answer.body.byteLength);
  return reply.type(answer.contentType).send(body);
}
