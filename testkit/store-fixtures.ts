import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SegmentStore, WriteOutcome } from '../src/ingest/store-port.js';
import { ResourceBatchBuilder, SpanBatchBuilder } from '../src/model/span-batch.js';
import { JsonSpanDecoder } from '../src/receivers/decode-json.js';
import { ResourceRows } from '../src/receivers/row-templates.js';
import { DEFAULT_TENANT } from '../src/store/tenant.js';

/**
 * Fixtures for the store suites, written the way ingest writes them:
 * OTLP/JSON resourceSpans are decoded by the receiver's decoder into a
 * Native span segment and a file of (resource, scope) rows, every row is
 * stamped with the tenant (fillTenant, as the receiver does once a request
 * is decoded), and the store takes the resources first, then the spans.
 */

/** One decoded request: its span segment, and its resource rows (none when it had no spans). */
export interface Segment {
  spans: string;
  resources: string | null;
  tenant: string;
}

export class FixtureWriter {
  private readonly dir = mkdtempSync(path.join(os.tmpdir(), 'sightline-fixtures-'));
  private fileNo = 0;

  constructor(
    private readonly target: SegmentStore,
    /** When the resource rows were seen (Unix ns): they are partitioned by its day. */
    private readonly seenNs: bigint = BigInt(Date.now()) * 1_000_000n,
  ) {}

  /** Decodes OTLP/JSON resourceSpans into segment files, every row under `tenant`. */
  segment(resourceSpans: readonly unknown[], tenant: string = DEFAULT_TENANT): Segment {
    const spans = new SpanBatchBuilder();
    const resources = new ResourceBatchBuilder();
    const outcome = new JsonSpanDecoder().decode(Buffer.from(JSON.stringify({ resourceSpans })), spans, new ResourceRows(resources, () => false, this.seenNs), {
      minStartNs: 0,
      retentionText: '-',
    });
    assert.equal(outcome.rejected, 0, outcome.firstError);
    spans.fillTenant(tenant);
    resources.fillTenant(tenant);
    const file = path.join(this.dir, `seg-${this.fileNo++}.native`);
    writeFileSync(file, spans.toBuffer());
    let resourceFile: string | null = null;
    if (resources.rows > 0) {
      resourceFile = `${file}.res`;
      writeFileSync(resourceFile, resources.toBuffer());
    }
    return { spans: file, resources: resourceFile, tenant };
  }

  /** Stores a segment as the ingest writer does: its resource rows, then its spans (replayed: only the missing rows). */
  async store(segment: Segment, opts: { replay?: boolean } = {}): Promise<void> {
    if (segment.resources) expectOk(await this.target.writeResources(segment.resources), `resources of ${segment.spans}`);
    expectOk(await this.target.writeSpans(segment.spans, { replay: opts.replay ?? false }), segment.spans);
  }

  /** Decodes and stores in one step; returns the segment (to replay it later). */
  async write(resourceSpans: readonly unknown[], opts: { tenant?: string; replay?: boolean } = {}): Promise<Segment> {
    const segment = this.segment(resourceSpans, opts.tenant);
    await this.store(segment, opts);
    return segment;
  }

  /** Removes the segment files. */
  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function expectOk(outcome: WriteOutcome, what: string): void {
  if (!outcome.ok) assert.fail(`storing ${what} failed (${outcome.retryable ? 'retryable' : 'bad input'}): ${outcome.error.message}`);
}
