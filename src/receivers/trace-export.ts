import { ResourceBatchBuilder, SpanBatchBuilder } from '../model/span-batch.js';
import type { BudgetReservation, Ingestor } from '../ingest/index.js';
import { ProtobufSpanDecoder } from './decode-protobuf.js';
import { JsonSpanDecoder } from './decode-json.js';
import { ZipkinSpanDecoder } from './zipkin-to-otlp.js';
import { parseZipkinJson } from './zipkin-json.js';
import { parseZipkinProtobuf } from './zipkin-protobuf.js';
import { MalformedRequestError } from './decode-result.js';
import { ResourceRows } from './row-templates.js';
import type { RedactionPolicy } from '../redact/index.js';

export type Encoding = 'protobuf' | 'json';
/** Zipkin v2 bodies, translated to OTLP on the way in (zipkin-to-otlp.ts). */
export type ZipkinEncoding = 'zipkin-json' | 'zipkin-protobuf';

export interface ExportResult {
  accepted: number;
  rejected: number;
  /** Why spans were rejected; '' when none were. */
  errorMessage: string;
}

/** Every span of the request was invalid; nothing was stored. */
export class AllSpansRejectedError extends MalformedRequestError {
  constructor(
    message: string,
    /** How many spans were rejected. */
    readonly rejected = 0,
  ) {
    super(message);
  }
}

/** A span builder and a resource builder, reused request after request. */
interface Builders {
  spans: SpanBatchBuilder;
  resources: ResourceBatchBuilder;
}

/** Idle builders kept for reuse; more requests at once get fresh ones, dropped after. */
const POOLED_BUILDERS = 8;
/** A builder that grew past this (a huge request) is dropped after use rather than kept. */
const POOLED_CAPACITY = 16 * 1024 * 1024;

/**
 * One OTLP trace export, whatever the transport: decode into a Native
 * block, redact it by the tenant's rules, make it durable, report what was
 * accepted.
 *
 * Decoding is synchronous, so one decoder serves every request in turn. The
 * builders it writes into are lent to a request until its block is in the
 * WAL: the WAL writes the builders' own buffers (writev), so a block is
 * never copied, and a pool of builders means no large buffer is allocated
 * per request either (fresh buffers were a fifth of ingest's CPU, in page
 * clearing and garbage collection, in a profile at 70k spans/s).
 */
export class TraceExportHandler {
  private readonly protobuf = new ProtobufSpanDecoder();
  private readonly json = new JsonSpanDecoder();
  private readonly decoders = {
    protobuf: this.protobuf,
    json: this.json,
    'zipkin-json': new ZipkinSpanDecoder(parseZipkinJson),
    'zipkin-protobuf': new ZipkinSpanDecoder(parseZipkinProtobuf),
  };
  private readonly idle: Builders[] = [];
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
    /** Per-tenant redaction, applied before the WAL; none when absent. */
    private readonly redaction: RedactionPolicy | null = null,
  ) {}

  /**
   * Refuses early, before the body is even read, when ingest is overloaded;
   * otherwise returns the request's share of the budget, to be taken as its
   * bytes arrive and released once it is answered.
   */
  reserve(): BudgetReservation {
    return this.ingestor.reserve();
  }

  /**
   * Every span of the request is stored under `tenant`, which the receiver
   * took from the request's identity. With `reserved`, the caller holds the
   * body's bytes in the budget already (see {@link reserve}).
   * @throws MalformedRequestError (or AllSpansRejectedError) for bad input,
   *   OverloadedError and UnavailableError from the ingestor.
   */
  async export(body: Buffer, encoding: Encoding | ZipkinEncoding, tenant: string, reserved = false): Promise<ExportResult> {
    if (!reserved) this.ingestor.checkCapacity(body.length);
    const builders = this.idle.pop() ?? { spans: new SpanBatchBuilder(), resources: new ResourceBatchBuilder() };
    try {
      return await this.decodeAndAppend(body, encoding, tenant, builders);
    } finally {
      builders.spans.reset();
      builders.resources.reset();
      if (this.idle.length < POOLED_BUILDERS && builders.spans.capacity() + builders.resources.capacity() <= POOLED_CAPACITY) this.idle.push(builders);
    }
  }

  private async decodeAndAppend(body: Buffer, encoding: Encoding | ZipkinEncoding, tenant: string, { spans: builder, resources: resourceBuilder }: Builders): Promise<ExportResult> {
    const nowMs = Date.now();
    const today = Math.floor(nowMs / 86_400_000);
    // Rows are per tenant: the same resource in two tenants is two rows.
    const known = (id: string) => this.knownResources.get(`${tenant}/${id}`) === today;
    const resources = new ResourceRows(resourceBuilder, known, BigInt(nowMs) * 1_000_000n);
    // Taken once: a SIGHUP reload mid-request does not change its rules.
    const redaction = this.redaction?.forTenant(tenant) ?? null;
    const opts = { minStartNs: (nowMs - this.retentionMs) * 1e6, retentionText: this.retentionText, redaction };
    const outcome = this.decoders[encoding].decode(body, builder, resources, opts);
    if (outcome.accepted === 0 && outcome.rejected > 0) throw new AllSpansRejectedError(`all ${outcome.rejected} spans were rejected: ${outcome.firstError}`, outcome.rejected);
    const rows = builder.rows;
    if (rows > 0) {
      // Before anything is written: unredacted values never reach the WAL.
      redaction?.redactSpans(builder);
      builder.fillTenant(tenant);
      let resourceBlock: { block: Buffer[]; rows: number } | undefined;
      if (resourceBuilder.rows > 0) {
        resourceBuilder.fillTenant(tenant);
        resourceBlock = { block: resourceBuilder.toNative().chunks, rows: resourceBuilder.rows };
      }
      await this.ingestor.append(builder.toNative().chunks, rows, resourceBlock);
      // Resources are few; a bound keeps a flood of distinct ones from
      // growing this map without limit (forgetting one only rewrites it).
      if (this.knownResources.size > 100_000) this.knownResources.clear();
      for (const id of resources.emitted) this.knownResources.set(`${tenant}/${id}`, today);
    }
    return { accepted: outcome.accepted, rejected: outcome.rejected, errorMessage: outcome.firstError };
  }
}
