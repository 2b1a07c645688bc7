import { InvalidQueryError } from '../../errors.js';

/** A log query that does not parse or does not make sense: 400, with the column where it goes wrong. */
export class LogQueryError extends InvalidQueryError {
  constructor(
    readonly detail: string,
    /** 1-based column in the query text. */
    readonly column: number,
  ) {
    super(`invalid log query: ${detail} at col ${column}`);
  }
}
