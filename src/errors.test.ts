import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_CATALOGUE, InvalidQueryError, SightlineError, UnsupportedError, asSightlineError } from './errors.js';

describe('error catalogue', () => {
  it('maps each code to its HTTP and gRPC status', () => {
    assert.deepEqual(
      Object.fromEntries(Object.entries(ERROR_CATALOGUE).map(([k, v]) => [k, [v.http, v.grpc]])),
      {
        INVALID_QUERY: [400, 3],
        UNSUPPORTED: [501, 12],
        MALFORMED_REQUEST: [400, 3],
        BODY_TOO_LARGE: [413, 8],
        UNSUPPORTED_MEDIA_TYPE: [415, 3],
        NOT_FOUND: [404, 5],
        UNAUTHENTICATED: [401, 16],
        FORBIDDEN: [403, 7],
        OVERLOADED: [429, 8],
        QUERY_TOO_LARGE: [422, 8],
        QUERY_TIMEOUT: [503, 4],
        UNAVAILABLE: [503, 14],
        INTERNAL: [500, 13],
      },
    );
  });

  it('has the two query roots, and hides unexpected errors behind INTERNAL', () => {
    assert.equal(new InvalidQueryError('x').httpStatus, 400);
    assert.equal(new UnsupportedError('x').httpStatus, 501);
    const wrapped = asSightlineError(new TypeError('secret detail'));
    assert.equal(wrapped.code, 'INTERNAL');
    assert.equal(wrapped.message, 'internal error');
    assert.ok(wrapped.cause instanceof TypeError);
    const own = new SightlineError('OVERLOADED', 'busy');
    assert.equal(asSightlineError(own), own);
  });
});
