import { BODY_KIND, type LogBatchBuilder } from '../model/log-batch.js';
import { writeLogContext } from './row-templates.js';
import type { DecodeOutcome, LogDecodeOptions } from './decode-result.js';
import { OtlpProtoReader, WT_I32, WT_I64, WT_LEN, WT_VARINT, writeIdOrZeros, writeRaw } from './proto-reader.js';

/**
 * Decodes an OTLP ExportLogsServiceRequest straight from protobuf bytes into
 * the columns of a log batch, as ProtobufSpanDecoder does for spans: strings
 * copied byte for byte, numbers written in place, no object per record.
 * Each row carries its resource and scope (see model/log-batch.ts).
 *
 * Field numbers follow opentelemetry/proto/logs/v1/logs.proto; resources,
 * scopes and attributes are proto-reader.ts's. Unknown fields are skipped.
 */
export class ProtobufLogDecoder extends OtlpProtoReader {
  private out!: LogBatchBuilder;
  private opts!: LogDecodeOptions;

  /**
   * Appends every valid log record of `body` to `out`; records that fail
   * validation are counted in the outcome and left out.
   * @throws MalformedRequestError when the bytes are not a valid request.
   */
  decode(body: Buffer, out: LogBatchBuilder, opts: LogDecodeOptions): DecodeOutcome {
    this.out = out;
    this.opts = opts;
    return this.request(body, opts.redaction ?? null);
  }

  /** Log rows carry the resource and scope themselves: nothing to collect. */
  protected scopeReady(): void {}

  /** One LogRecord. */
  protected record(start: number, end: number): void {
    const out = this.out;
    const buf = this.buf;
    out.mark();
    let timeLo = 0;
    let timeHi = 0;
    let observedLo = 0;
    let observedHi = 0;
    let severity = 0;
    let severityAt = -1;
    let severityEnd = -1;
    let bodyAt = -1;
    let bodyEnd = -1;
    let dropped = 0;
    let flags = 0;
    let traceAt = -1;
    let traceLen = 0;
    let spanAt = -1;
    let spanLen = 0;
    let eventAt = -1;
    let eventEnd = -1;

    this.pos = start;
    while (this.pos < end) {
      const tag = this.varint(end);
      const wt = tag & 7;
      switch (tag >>> 3) {
        case 1:
          if (wt !== WT_I64) break;
          this.fixed64(end);
          timeLo = this.lo;
          timeHi = this.hi;
          continue;
        case 11:
          if (wt !== WT_I64) break;
          this.fixed64(end);
          observedLo = this.lo;
          observedHi = this.hi;
          continue;
        case 2:
          if (wt !== WT_VARINT) break;
          severity = this.varint(end);
          continue;
        case 3:
          if (wt !== WT_LEN) break;
          severityAt = this.pos;
          severityEnd = this.skipString(end);
          continue;
        case 5:
          if (wt !== WT_LEN) break;
          bodyAt = this.payloadStart(end);
          bodyEnd = this.pos;
          continue;
        case 6:
          if (wt !== WT_LEN) break;
          this.keyValue(end, out.attrs, null);
          continue;
        case 7:
          if (wt !== WT_VARINT) break;
          dropped = this.varint(end) >>> 0;
          continue;
        case 8:
          if (wt !== WT_I32) break;
          flags = this.fixed32(end);
          continue;
        case 9:
          if (wt !== WT_LEN) break;
          traceAt = this.payloadStart(end);
          traceLen = this.lastLength;
          continue;
        case 10:
          if (wt !== WT_LEN) break;
          spanAt = this.payloadStart(end);
          spanLen = this.lastLength;
          continue;
        case 12:
          if (wt !== WT_LEN) break;
          eventAt = this.pos;
          eventEnd = this.skipString(end);
          continue;
      }
      this.skipField(tag, end);
    }

    // The record's time: its own, else when it was observed, else now.
    if (observedLo === 0 && observedHi === 0) {
      const now = this.opts.receivedNs;
      observedLo = Number(now & 0xffffffffn);
      observedHi = Number(now >> 32n);
    }
    if (timeLo === 0 && timeHi === 0) {
      timeLo = observedLo;
      timeHi = observedHi;
    }
    const error = this.recordError(traceLen, spanLen, severity, timeLo, timeHi);
    if (error) {
      out.rollback();
      this.outcome.reject(error);
      return;
    }

    out.timeNs.data.u64(timeLo, timeHi);
    out.observedNs.data.u64(observedLo, observedHi);
    out.severityNumber.data.u8(severity);
    writeRaw(out.severityText.data, buf, severityAt, severityEnd);
    this.body(bodyAt, bodyEnd);
    // Absent ids are stored as zeros, which OTLP reads as no id too.
    writeIdOrZeros(out.traceId.data, buf, traceAt, traceLen, 16);
    writeIdOrZeros(out.spanId.data, buf, spanAt, spanLen, 8);
    out.flags.data.u32(flags);
    writeRaw(out.eventName.data, buf, eventAt, eventEnd);
    out.droppedAttrs.data.u32(dropped);
    writeLogContext(out, this.resource, this.scope);
    out.endRow();
    this.outcome.accepted++;
  }

  private recordError(traceLen: number, spanLen: number, severity: number, timeLo: number, timeHi: number): string {
    if (traceLen !== 0 && traceLen !== 16) return `log record trace_id must be empty or 16 bytes, got ${traceLen}`;
    if (spanLen !== 0 && spanLen !== 8) return `log record span_id must be empty or 8 bytes, got ${spanLen}`;
    if (severity > 255) return `log record severity_number ${severity} is out of range`;
    if (timeHi * 0x100000000 + timeLo < this.opts.minStartNs) return `log record time is older than the retention period (${this.opts.retentionText})`;
    return '';
  }

  /**
   * The body AnyValue at [at, end): a string is stored as itself, anything
   * else as its canonical OTLP/JSON; an absent or empty one as none.
   */
  private body(at: number, end: number): void {
    const out = this.out;
    if (at < 0) {
      out.body.data.u8(0);
      out.bodyKind.data.u8(BODY_KIND.none);
      return;
    }
    // The AnyValue's (last) oneof member decides its kind.
    const kind = this.anyValueMember(at, end);
    if (kind === 0) {
      out.body.data.u8(0);
      out.bodyKind.data.u8(BODY_KIND.none);
    } else if (kind === 1) {
      writeRaw(out.body.data, this.buf, this.memberAt, this.memberEnd);
      out.bodyKind.data.u8(BODY_KIND.string);
    } else {
      out.body.data.string(this.anyValueJson(at, end, 0));
      out.bodyKind.data.u8(BODY_KIND.json);
    }
  }
}
