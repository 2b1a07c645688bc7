import { LogBatchBuilder } from '../model/log-batch.js';
import type { BudgetReservation, Ingestor } from '../ingest/index.js';
import type { RedactionPolicy } from '../redact/index.js';
import { ProtobufLogDecoder } from './decode-logs-protobuf.js';
import { JsonLogDecoder } from './decode-logs-json.js';
import { MalformedRequestError } from './decode-result.js';
import type { Encoding, ExportResult } from './trace-export.js';

/** Every log record of the request was invalid; nothing was stored. */
export class AllLogRecordsRejectedError extends MalformedRequestError {}

const POOLED_BUILDERS = 8;
const POOLED_CAPACITY = 16 * 1024 * 1024;

/**
 * One OTLP logs export, whatever the transport, with the guarantees of a
 * trace export (TraceExportHandler): decoded into a Native block, redacted
 * by the tenant's rules, stamped with the tenant, fsynced in the logs WAL
 * before it is acknowledged, and counted when records are refused.
 * Builders are pooled and lent to a request until its block is in the WAL.
 */
export class LogExportHandler {
  private readonly protobuf = new ProtobufLogDecoder();
  private readonly json = new JsonLogDecoder();
  private readonly idle: LogBatchBuilder[] = [];

  constructor(
    private readonly ingestor: Ingestor,
    private readonly retentionMs: number,
    private readonly retentionText: string,
    /** Per-tenant redaction, applied before the WAL; none when absent. */
    private readonly redaction: RedactionPolicy | null = null,
  ) {}

  /** See TraceExportHandler.reserve: logs and spans share one ingest budget. */
  reserve(): BudgetReservation {
    return this.ingestor.reserve();
  }

  /**
   * Every record of the request is stored under `tenant`, which the
   * receiver took from the request's identity. With `reserved`, the caller
   * holds the body's bytes in the budget already.
   * @throws MalformedRequestError (or AllLogRecordsRejectedError) for bad
   *   input, OverloadedError and UnavailableError from the ingestor.
   */
  async export(body: Buffer, encoding: Encoding, tenant: string, reserved = false): Promise<ExportResult> {
    if (!reserved) this.ingestor.checkCapacity(body.length);
    const builder = this.idle.pop() ?? new LogBatchBuilder();
    try {
      const nowMs = Date.now();
      // Taken once: a SIGHUP reload mid-request does not change its rules.
      const redaction = this.redaction?.forTenant(tenant) ?? null;
      const opts = { minStartNs: (nowMs - this.retentionMs) * 1e6, retentionText: this.retentionText, redaction, receivedNs: BigInt(nowMs) * 1_000_000n };
      const outcome = (encoding === 'protobuf' ? this.protobuf : this.json).decode(body, builder, opts);
      if (outcome.accepted === 0 && outcome.rejected > 0) throw new AllLogRecordsRejectedError(`all ${outcome.rejected} log records were rejected: ${outcome.firstError}`);
      if (builder.rows > 0) {
        // Before anything is written: unredacted values never reach the WAL.
        redaction?.redactLogs(builder);
        builder.fillTenantAndIds(tenant);
        await this.ingestor.appendLogs(builder.toNative().chunks, builder.rows);
      }
      return { accepted: outcome.accepted, rejected: outcome.rejected, errorMessage: outcome.firstError };
    } finally {
      builder.reset();
      if (this.idle.length < POOLED_BUILDERS && builder.capacity() <= POOLED_CAPACITY) this.idle.push(builder);
    }
  }
}
