/**
 * The error catalogue: every error Sightline reports to a client has one of
 * these stable codes, and the code alone decides the HTTP status and the
 * gRPC status. Handlers never classify errors by their message.
 */
export const ERROR_CATALOGUE = {
  /** A query (TraceQL, tags, parameters) is not valid. */
  INVALID_QUERY: { http: 400, grpc: 3 },
  /** A valid construct that Sightline does not answer. Never approximated. */
  UNSUPPORTED: { http: 501, grpc: 12 },
  /** Ingested bytes cannot be decoded, or every span in them is invalid. */
  MALFORMED_REQUEST: { http: 400, grpc: 3 },
  BODY_TOO_LARGE: { http: 413, grpc: 8 },
  UNSUPPORTED_MEDIA_TYPE: { http: 415, grpc: 3 },
  NOT_FOUND: { http: 404, grpc: 5 },
  /** No identity, or a credential that is not valid. */
  UNAUTHENTICATED: { http: 401, grpc: 16 },
  /** An identity without the role in the tenant asked. */
  FORBIDDEN: { http: 403, grpc: 7 },
  /** Ingest is past its backlog budget, or queries past their concurrency; retry later (Retry-After says when). */
  OVERLOADED: { http: 429, grpc: 8 },
  /** A query needs more than its limits allow: memory, result size or series. Narrow it; retrying will not help. */
  QUERY_TOO_LARGE: { http: 422, grpc: 8 },
  /** A query ran past its deadline (--query-timeout) and was stopped, in the engine too. */
  QUERY_TIMEOUT: { http: 503, grpc: 4 },
  /** Ingest cannot be made durable right now (stopping, WAL failed). */
  UNAVAILABLE: { http: 503, grpc: 14 },
  INTERNAL: { http: 500, grpc: 13 },
} as const;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export class SightlineError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  get httpStatus(): number {
    return ERROR_CATALOGUE[this.code].http;
  }

  get grpcStatus(): number {
    return ERROR_CATALOGUE[this.code].grpc;
  }
}

/** The root of query errors: 400. */
export class InvalidQueryError extends SightlineError {
  override readonly name = 'InvalidQueryError';
  constructor(message: string) {
    super('INVALID_QUERY', message);
  }
}

/** The root of "valid, but not answered": 501. */
export class UnsupportedError extends SightlineError {
  override readonly name = 'UnsupportedError';
  constructor(message: string) {
    super('UNSUPPORTED', message);
  }
}

export class NotFoundError extends SightlineError {
  override readonly name = 'NotFoundError';
  constructor(message: string) {
    super('NOT_FOUND', message);
  }
}

export class UnauthenticatedError extends SightlineError {
  override readonly name = 'UnauthenticatedError';
  constructor(message: string) {
    super('UNAUTHENTICATED', message);
  }
}

export class ForbiddenError extends SightlineError {
  override readonly name = 'ForbiddenError';
  constructor(message: string) {
    super('FORBIDDEN', message);
  }
}

/** Too many queries at once: 429, and Retry-After says when a slot should be free. */
export class QueriesOverloadedError extends SightlineError {
  override readonly name = 'QueriesOverloadedError';
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super('OVERLOADED', message);
  }
}

/** Wraps anything unexpected, keeping the cause for the log only. */
export function asSightlineError(e: unknown): SightlineError {
  if (e instanceof SightlineError) return e;
  return new SightlineError('INTERNAL', 'internal error', { cause: e });
}
