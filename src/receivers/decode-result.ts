import { SightlineError } from '../errors.js';
import type { SpanRedactor } from '../redact/index.js';

/**
 * What decoding one export request produced, besides the rows themselves.
 * Spans that fail validation are dropped from the batch and counted here;
 * the reply reports them as OTLP partial success.
 */
export class DecodeOutcome {
  accepted = 0;
  rejected = 0;
  /** The first rejection reason; OTLP replies carry one message for the request. */
  firstError = '';

  reject(reason: string): void {
    this.rejected++;
    if (!this.firstError) this.firstError = reason;
  }
}

/** The request as a whole cannot be decoded: malformed bytes or structure. */
export class MalformedRequestError extends SightlineError {
  override readonly name = 'MalformedRequestError';
  constructor(message: string) {
    super('MALFORMED_REQUEST', message);
  }
}

/** Options shared by the protobuf and JSON decoders. */
export interface DecodeOptions {
  /**
   * Spans starting before this (Unix ns, as a float; ms precision is enough)
   * are rejected: retention would drop them at once.
   */
  minStartNs: number;
  /** Human form of the retention, for the rejection message. */
  retentionText: string;
  /**
   * The tenant's redaction, when it has any: decoders run it on each
   * resource and scope before hashing them into a row id (the caller runs
   * it on the span rows).
   */
  redaction?: SpanRedactor | null;
}

/** Options of the log decoders. */
export interface LogDecodeOptions extends DecodeOptions {
  /**
   * When the request arrived (Unix ns): the observed time of records that
   * carry none, since Sightline is then what observed them.
   */
  receivedNs: bigint;
}
