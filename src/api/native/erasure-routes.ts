import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ADMIN } from '../../auth/index.js';
import { scopeOf } from '../auth.js';
import { InvalidQueryError, NotFoundError } from '../../errors.js';
import type { ErasureRequest, Erasures, SelectionMatcher } from '../../erasure/index.js';
import type { QueryPool } from '../isolation/index.js';
import type { NativeJobs } from './jobs.js';
import { parseRange, parseTraceId } from '../tempo/params.js';

/** Trace ids one request may name (they are kept whole in its audit record). */
export const MAX_TRACE_IDS = 10_000;

/**
 * Erasure (see docs/erasure.md): admins of one tenant, every call audited.
 * The selection comes in a JSON body, never in the URL: URLs end up in
 * proxies' and browsers' logs, and a query may hold a patient's identifier.
 */
export function registerErasureRoutes(app: FastifyInstance, erasures: Erasures, queries: QueryPool): void {
  app.post('/api/sightline/erasures', { config: { policy: ADMIN } }, async (req, reply) => {
    const request = parseErasureBody(req.body);
    // Recorded even when the request fails from here on.
    req.auditDetail = describe(request);
    const match: SelectionMatcher = async (scope, query, range, max) => {
      const answer = await queries.run<NativeJobs, 'erasureSelection'>('query', 'erasureSelection', { query, range, max }, scope, (abort) =>
        reply.raw.once('close', () => {
          if (!reply.raw.writableFinished) abort();
        }),
      );
      const found = JSON.parse(answer.body as string) as { traceIds: string[]; overLimit: boolean };
      return { traceIds: found.traceIds.map((id) => Buffer.from(id, 'hex')), overLimit: found.overLimit };
    };
    const op = await erasures.request(scopeOf(req), request, requesterOf(req), match);
    req.auditDetail = { ...req.auditDetail, erasure: op.id, traces: op.traces, spans: op.spans, logRecords: op.logRecords };
    req.auditResults = op.traces;
    return reply.code(op.dryRun ? 200 : 202).send(op);
  });

  app.get('/api/sightline/erasures/:id', { config: { policy: ADMIN } }, async (req) => {
    const id = (req.params as { id: string }).id;
    const op = erasures.get(scopeOf(req), id);
    if (!op) throw new NotFoundError('no such erasure in this tenant (erasures are known to the Sightline process that took them, until it restarts; outcomes are in the audit trail)');
    req.auditResults = 1;
    return op;
  });

  app.get('/api/sightline/erasures', { config: { policy: ADMIN } }, async (req) => {
    const list = erasures.list(scopeOf(req));
    req.auditResults = list.length;
    return { erasures: list };
  });
}

const USAGE = 'the body must be a JSON object: {"traceIds": ["<hex>", ...]} or {"q": "<TraceQL>", "start": <unix seconds>, "end": <unix seconds>}, with "dryRun": true to only count';
const KEYS = new Set(['traceIds', 'q', 'start', 'end', 'dryRun']);

/** The erasure a request body asks for; InvalidQueryError (400) for anything else. */
export function parseErasureBody(body: unknown): ErasureRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new InvalidQueryError(USAGE);
  const b = body as Record<string, unknown>;
  const unknown = Object.keys(b).filter((k) => !KEYS.has(k));
  if (unknown.length > 0) throw new InvalidQueryError(`unknown field ${JSON.stringify(unknown[0])}: ${USAGE}`);
  if (b.dryRun !== undefined && typeof b.dryRun !== 'boolean') throw new InvalidQueryError('dryRun must be true or false');
  const dryRun = b.dryRun === true;
  if ((b.traceIds === undefined) === (b.q === undefined)) throw new InvalidQueryError(`give either traceIds or q: ${USAGE}`);
  if (b.traceIds !== undefined) {
    if (!Array.isArray(b.traceIds) || b.traceIds.length === 0 || !b.traceIds.every((t) => typeof t === 'string')) throw new InvalidQueryError('traceIds must be a non-empty array of hex trace ids');
    if (b.traceIds.length > MAX_TRACE_IDS) throw new InvalidQueryError(`at most ${MAX_TRACE_IDS} trace ids per erasure`);
    // Whole traces, wherever their spans are in time: no range.
    if (b.start !== undefined || b.end !== undefined) throw new InvalidQueryError('start and end go with q; trace ids erase whole traces whenever their spans started');
    return { selection: { kind: 'traceIds', traceIds: (b.traceIds as string[]).map(parseTraceId) }, dryRun };
  }
  if (typeof b.q !== 'string' || b.q.trim() === '') throw new InvalidQueryError('q must be a TraceQL query');
  if (b.q.length > 8192) throw new InvalidQueryError('q is longer than 8192 characters');
  // No default window: an erasure says exactly when.
  const seconds = (name: string) => {
    const v = b[name];
    if (v === undefined) throw new InvalidQueryError(`${name} is required with q (Unix seconds)`);
    if ((typeof v !== 'number' && typeof v !== 'string') || !/^\d+$/.test(String(v)) || Number(v) <= 0) throw new InvalidQueryError(`${name} must be Unix seconds`);
    return String(v);
  };
  const { range } = parseRange({ start: seconds('start'), end: seconds('end') }, 0);
  return { selection: { kind: 'traceql', query: b.q, range }, dryRun };
}

/** The selection, for the audit record. */
function describe(r: ErasureRequest): Record<string, string | number | boolean | string[]> {
  const s = r.selection;
  if (s.kind === 'traceIds') return { selection: 'traceIds', traceIds: s.traceIds.map((id) => id.toString('hex')), dryRun: r.dryRun };
  return { selection: 'traceql', q: s.query, start: Number(s.range.startNs / 1_000_000_000n), end: Number(s.range.endNs / 1_000_000_000n), dryRun: r.dryRun };
}

function requesterOf(req: FastifyRequest): { identity: string; remote: string } {
  const identity = req.caller ? `${req.caller.identity.source}:${req.caller.identity.name}` : 'unknown';
  return { identity, remote: req.socket.remoteAddress ?? '' };
}
