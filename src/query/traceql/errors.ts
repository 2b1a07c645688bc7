import { InvalidQueryError, UnsupportedError } from '../../errors.js';
import type { Pos } from './ast.js';

/** A syntax error: 400, with the line and column where it is. */
export class TraceQLParseError extends InvalidQueryError {
  constructor(
    readonly detail: string,
    readonly pos: Pos,
  ) {
    super(`invalid TraceQL query: parse error at line ${pos.line}, col ${pos.column}: ${detail}`);
  }
}

/** Well-formed but meaningless (a type mismatch): 400, with its position. */
export class TraceQLValidationError extends InvalidQueryError {
  constructor(
    readonly detail: string,
    readonly pos: Pos,
  ) {
    super(`invalid TraceQL query: ${detail} at line ${pos.line}, col ${pos.column}`);
  }
}

/**
 * `plan()`, or null when SQL alone cannot answer it (TraceQLUnsupportedError):
 * the evaluator then finishes the query in process. Other errors propagate.
 */
export function unlessUnsupported<T>(plan: () => T): T | null {
  try {
    return plan();
  } catch (err) {
    if (err instanceof TraceQLUnsupportedError) return null;
    throw err;
  }
}

/** Valid TraceQL that Sightline does not answer (yet): 501. Never approximated. */
export class TraceQLUnsupportedError extends UnsupportedError {
  constructor(
    readonly detail: string,
    readonly pos: Pos,
  ) {
    super(`TraceQL construct not supported: ${detail} at line ${pos.line}, col ${pos.column}`);
  }
}
