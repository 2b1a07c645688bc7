import { ResourceBatchBuilder, SpanBatchBuilder } from '../model/span-batch.js';
import type { Ingestor } from '../ingest/index.js';
import { ProtobufSpanDecoder } from './decode-protobuf.js';
import { JsonSpanDecoder } from './decode-json.js';
import { MalformedRequestError } from './decode-result.js';
import { ResourceRows } from './row-templates.js';

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
  private readonly resourceBuilder = new ResourceBatchBuilder();
  /**
   * (tenant, resource and scope) rows that are durably in the WAL, with the
   * UTC day each was written: a row is written again on each new day it is
   * seen, so retention (by day) never drops a row its spans still need.
   */
  private readonly knownResources = new Map<string, number>();

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
   * Every span of the request is stored under `tenant`, which the receiver
   * took from the request's identity.
   * @throws MalformedRequestError (or AllSpansRejectedError) for bad input,
   *   OverloadedError and UnavailableError from the ingestor.
   */
  async export(body: Buffer, encoding: Encoding, tenant: string, reserved = false): Promise<ExportResult> {
    if (!reserved) this.ingestor.checkCapacity(body.length);
    const builder = this.builder;
    const resourceBuilder = this.resourceBuilder;
    builder.reset();
    resourceBuilder.reset();
    const nowMs = Date.now();
    const today = Math.floor(nowMs / 86_400_000);
    // Rows are per tenant: the same resource in two tenants is two rows.
    const known = (id: string) => this.knownResources.get(`${tenant}/${id}`) === today;
    const resources = new ResourceRows(resourceBuilder, known, BigInt(nowMs) * 1_000_000n);
    const opts = { minStartNs: (nowMs - this.retentionMs) * 1e6, retentionText: this.retentionText };
    let block: Buffer;
    let rows: number;
    let resourceBlock: { block: Buffer; rows: number } | undefined;
    let outcome;
    try {
      outcome = (encoding === 'protobuf' ? this.protobuf : this.json).decode(body, builder, resources, opts);
      if (outcome.accepted === 0 && outcome.rejected > 0)
        throw new AllSpansRejectedError(`all ${outcome.rejected} spans were rejected: ${outcome.firstError}`);
      rows = builder.rows;
      builder.fillTenant(tenant);
      block = builder.toBuffer();
      if (resourceBuilder.rows > 0) {
        resourceBuilder.fillTenant(tenant);
        resourceBlock = { block: resourceBuilder.toBuffer(), rows: resourceBuilder.rows };
      }
    } finally {
      builder.reset();
      resourceBuilder.reset();
    }
    if (rows > 0) {
      await this.ingestor.append(block, rows, resourceBlock);
      // Resources are few; a bound keeps a flood of distinct ones from
      // growing this map without limit (forgetting one only rewrites it).
      if (this.knownResources.size > 100_000) this.knownResources.clear();
      for (const id of resources.emitted) this.knownResources.set(`${tenant}/${id}`, today);
    }
    return { accepted: outcome.accepted, rejected: outcome.rejected, errorMessage: outcome.firstError };
  }
}
