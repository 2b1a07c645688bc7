import { SpanBatchBuilder } from '../model/span-batch.js';
import type { Ingestor } from '../ingest/index.js';
import { ProtobufSpanDecoder } from './decode-protobuf.js';
import { JsonSpanDecoder } from './decode-json.js';
import { MalformedRequestError } from './decode-result.js';

export type Encoding = 'protobuf' | 'json';

export interface ExportResult {
  accepted: number;
  rejected: number;
  /** Why spans were rejected; '' when none were. */
  errorMessage: string;
}

/** Every span of the request was invalid; nothing was stored. */
export class AllSpansRejectedError extends MalformedRequestError {}

/**
 * One OTLP trace export, whatever the transport: decode into a Native
 * block, make it durable, report what was accepted.
 *
 * Decoding is synchronous, so one decoder and one builder serve every
 * request in turn; the block is copied out before the next request runs.
 */
export class TraceExportHandler {
  private readonly protobuf = new ProtobufSpanDecoder();
  private readonly json = new JsonSpanDecoder();
  private readonly builder = new SpanBatchBuilder();

  constructor(
    private readonly ingestor: Ingestor,
    private readonly retentionMs: number,
    private readonly retentionText: string,
  ) {}

  /**
   * Refuses early, before the body is even read, when ingest is overloaded;
   * otherwise holds `bytes` of the budget until the returned function runs.
   */
  reserve(bytes: number): () => void {
    return this.ingestor.reserve(bytes);
  }

  /**
   * @throws MalformedRequestError (or AllSpansRejectedError) for bad input,
   *   OverloadedError and UnavailableError from the ingestor.
   */
  async export(body: Buffer, encoding: Encoding, reserved = false): Promise<ExportResult> {
    if (!reserved) this.ingestor.checkCapacity(body.length);
    const builder = this.builder;
    builder.reset();
    const opts = { minStartNs: (Date.now() - this.retentionMs) * 1e6, retentionText: this.retentionText };
    let block: Buffer;
    let rows: number;
    let outcome;
    try {
      outcome = (encoding === 'protobuf' ? this.protobuf : this.json).decode(body, builder, opts);
      if (outcome.accepted === 0 && outcome.rejected > 0)
        throw new AllSpansRejectedError(`all ${outcome.rejected} spans were rejected: ${outcome.firstError}`);
      rows = builder.rows;
      const native = builder.toNative();
      block = Buffer.concat(native.chunks, native.bytes);
    } finally {
      builder.reset();
    }
    if (rows > 0) await this.ingestor.append(block, rows);
    return { accepted: outcome.accepted, rejected: outcome.rejected, errorMessage: outcome.firstError };
  }
}
