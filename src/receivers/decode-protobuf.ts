import type { SpanBatchBuilder } from '../model/span-batch.js';
import { writeSpanContext, type ResourceRows } from './row-templates.js';
import { ExtrasWriter } from '../model/span-extras.js';
import type { DecodeOutcome, DecodeOptions } from './decode-result.js';
import { OtlpProtoReader, WT_I32, WT_I64, WT_LEN, WT_VARINT, allZero, stringPayload, writeIdOrZeros, writeRaw } from './proto-reader.js';

/**
 * Decodes an OTLP ExportTraceServiceRequest straight from protobuf bytes into
 * the columns of a span batch: strings are copied byte for byte (protobuf and
 * ClickHouse Native share the varint length prefix), numbers are written in
 * place, and no object is created per span.
 *
 * Hand-written because protobufjs builds an object graph per span and tops
 * out near 150k spans/s per core on this hardware (shared/ENGINE-NOTES.md);
 * bench/decode measures this decoder against it.
 *
 * Field numbers follow opentelemetry/proto/trace/v1/trace.proto; what the
 * trace and log decoders share (wire primitives, resources, scopes,
 * attributes) is in proto-reader.ts. Unknown fields are skipped, as
 * protobuf requires.
 */

export class ProtobufSpanDecoder extends OtlpProtoReader {
  private out!: SpanBatchBuilder;
  private resources!: ResourceRows;
  private opts!: DecodeOptions;
  private readonly extras = new ExtrasWriter();

  /**
   * Appends every valid span of `body` to `out`, and the rows of resources
   * not yet known to `resources`.
   * @throws MalformedRequestError when the bytes are not a valid request.
   */
  decode(body: Buffer, out: SpanBatchBuilder, resources: ResourceRows, opts: DecodeOptions): DecodeOutcome {
    this.out = out;
    this.resources = resources;
    this.opts = opts;
    return this.request(body, opts.redaction ?? null);
  }

  // ---- messages ---------------------------------------------------------

  protected scopeReady(): void {
    this.resources.add(this.resource, this.scope);
  }

  protected record(start: number, end: number): void {
    this.span(start, end);
  }

  private span(start: number, end: number): void {
    const out = this.out;
    const buf = this.buf;
    out.mark();
    this.extras.reset();
    let traceIdAt = -1;
    let traceIdLen = 0;
    let spanIdAt = -1;
    let spanIdLen = 0;
    let parentAt = -1;
    let parentLen = 0;
    let traceStateAt = -1;
    let traceStateEnd = -1;
    let nameAt = -1;
    let nameEnd = -1;
    let kind = 0;
    let startLo = 0;
    let startHi = 0;
    let endLo = 0;
    let endHi = 0;
    let droppedAttrs = 0;
    let droppedEvents = 0;
    let droppedLinks = 0;
    let statusCode = 0;
    let statusAt = -1;
    let statusEnd = -1;
    let flags = 0;
    let error = '';

    this.pos = start;
    while (this.pos < end) {
      const tag = this.varint(end);
      const wt = tag & 7;
      switch (tag >>> 3) {
        case 1:
          if (wt !== WT_LEN) break;
          traceIdAt = this.payloadStart(end);
          traceIdLen = this.lastLength;
          continue;
        case 2:
          if (wt !== WT_LEN) break;
          spanIdAt = this.payloadStart(end);
          spanIdLen = this.lastLength;
          continue;
        case 3:
          if (wt !== WT_LEN) break;
          traceStateAt = this.pos;
          traceStateEnd = this.skipString(end);
          continue;
        case 4:
          if (wt !== WT_LEN) break;
          parentAt = this.payloadStart(end);
          parentLen = this.lastLength;
          continue;
        case 5:
          if (wt !== WT_LEN) break;
          nameAt = this.pos;
          nameEnd = this.skipString(end);
          continue;
        case 6:
          if (wt !== WT_VARINT) break;
          kind = this.varint(end);
          continue;
        case 7:
          if (wt !== WT_I64) break;
          this.fixed64(end);
          startLo = this.lo;
          startHi = this.hi;
          continue;
        case 8:
          if (wt !== WT_I64) break;
          this.fixed64(end);
          endLo = this.lo;
          endHi = this.hi;
          continue;
        case 9:
          if (wt !== WT_LEN) break;
          this.keyValue(end, out.attrs, null);
          continue;
        case 10:
          if (wt !== WT_VARINT) break;
          droppedAttrs = this.varint(end) >>> 0;
          continue;
        case 11: {
          if (wt !== WT_LEN) break;
          const e = this.lengthEnd(end);
          this.event(this.pos, e);
          this.pos = e;
          continue;
        }
        case 12:
          if (wt !== WT_VARINT) break;
          droppedEvents = this.varint(end) >>> 0;
          continue;
        case 13: {
          if (wt !== WT_LEN) break;
          const e = this.lengthEnd(end);
          const linkError = this.link(this.pos, e);
          if (linkError && !error) error = linkError;
          this.pos = e;
          continue;
        }
        case 14:
          if (wt !== WT_VARINT) break;
          droppedLinks = this.varint(end) >>> 0;
          continue;
        case 15: {
          if (wt !== WT_LEN) break;
          const e = this.lengthEnd(end);
          statusCode = 0;
          statusAt = -1;
          while (this.pos < e) {
            const t = this.varint(e);
            if (t >>> 3 === 2 && (t & 7) === WT_LEN) {
              statusAt = this.pos;
              statusEnd = this.skipString(e);
            } else if (t >>> 3 === 3 && (t & 7) === WT_VARINT) {
              statusCode = this.varint(e);
            } else this.skipField(t, e);
          }
          continue;
        }
        case 16:
          if (wt !== WT_I32) break;
          flags = this.fixed32(end);
          continue;
      }
      this.skipField(tag, end);
    }

    if (!error) error = this.spanError(traceIdAt, traceIdLen, spanIdAt, spanIdLen, parentLen, kind, statusCode,
      startLo, startHi, endLo, endHi);
    if (error) {
      out.rollback();
      this.outcome.reject(error);
      return;
    }

    out.traceId.data.bytes(buf, traceIdAt, traceIdAt + 16);
    out.spanId.data.bytes(buf, spanIdAt, spanIdAt + 8);
    writeIdOrZeros(out.parentSpanId.data, buf, parentAt, parentLen, 8);
    out.flags.data.u32(flags);
    writeRaw(out.name.data, buf, nameAt, nameEnd);
    out.kind.data.u8(kind);
    out.startNs.data.u64(startLo, startHi);
    let durLo = endLo - startLo;
    let durHi = endHi - startHi;
    if (durLo < 0) {
      durLo += 0x100000000;
      durHi -= 1;
    }
    out.durationNs.data.u64(durLo, durHi);
    out.statusCode.data.u8(statusCode);
    writeRaw(out.statusMessage.data, buf, statusAt, statusEnd);
    writeSpanContext(out, this.resource, this.scope);
    // The string's bytes, past its length prefix.
    if (traceStateAt >= 0) this.extras.setTraceState(buf, stringPayload(buf, traceStateAt, traceStateEnd), traceStateEnd);
    this.extras.setDropped(droppedAttrs, droppedEvents, droppedLinks);
    this.extras.writeTo(out.extras.data);
    out.endRow();
    this.outcome.accepted++;
  }

  private spanError(
    traceIdAt: number, traceIdLen: number, spanIdAt: number, spanIdLen: number, parentLen: number,
    kind: number, statusCode: number, startLo: number, startHi: number, endLo: number, endHi: number,
  ): string {
    const buf = this.buf;
    if (traceIdLen !== 16) return `span trace_id must be 16 bytes, got ${traceIdAt < 0 ? 0 : traceIdLen}`;
    if (allZero(buf, traceIdAt, 16)) return 'span trace_id is all zero';
    if (spanIdLen !== 8) return `span span_id must be 8 bytes, got ${spanIdAt < 0 ? 0 : spanIdLen}`;
    if (allZero(buf, spanIdAt, 8)) return 'span span_id is all zero';
    if (parentLen !== 0 && parentLen !== 8) return `span parent_span_id must be empty or 8 bytes, got ${parentLen}`;
    if (kind > 255) return `span kind ${kind} is out of range`;
    if (statusCode > 255) return `span status code ${statusCode} is out of range`;
    if (endHi < startHi || (endHi === startHi && endLo < startLo))
      return 'span end_time_unix_nano is before start_time_unix_nano';
    if (startHi * 0x100000000 + startLo < this.opts.minStartNs)
      return `span start time is older than the retention period (${this.opts.retentionText})`;
    return '';
  }

  private event(start: number, end: number): void {
    const group = this.out.events;
    let timeLo = 0;
    let timeHi = 0;
    let nameAt = -1;
    let nameEnd = -1;
    let dropped = 0;
    let attrs: string[] | null = null;
    this.pos = start;
    while (this.pos < end) {
      const tag = this.varint(end);
      const field = tag >>> 3;
      const wt = tag & 7;
      if (field === 1 && wt === WT_I64) {
        this.fixed64(end);
        timeLo = this.lo;
        timeHi = this.hi;
      } else if (field === 2 && wt === WT_LEN) {
        nameAt = this.pos;
        nameEnd = this.skipString(end);
      } else if (field === 3 && wt === WT_LEN) {
        (attrs ??= []).push(this.attributeJson(end));
      } else if (field === 4 && wt === WT_VARINT) {
        dropped = this.varint(end) >>> 0;
      } else this.skipField(tag, end);
    }
    group.data(0).u64(timeLo, timeHi);
    writeRaw(group.data(1), this.buf, nameAt, nameEnd);
    group.data(2).string(attrs ? `[${attrs.join(',')}]` : '');
    group.count++;
    this.extras.addEvent(dropped);
  }

  /** Appends one link; returns a rejection reason for the span, or ''. */
  private link(start: number, end: number): string {
    const group = this.out.links;
    const buf = this.buf;
    let traceAt = -1;
    let traceLen = 0;
    let spanAt = -1;
    let spanLen = 0;
    let stateAt = -1;
    let stateEnd = -1;
    let dropped = 0;
    let flags = 0;
    let attrs: string[] | null = null;
    this.pos = start;
    while (this.pos < end) {
      const tag = this.varint(end);
      const field = tag >>> 3;
      const wt = tag & 7;
      if (field === 1 && wt === WT_LEN) {
        traceAt = this.payloadStart(end);
        traceLen = this.lastLength;
      } else if (field === 2 && wt === WT_LEN) {
        spanAt = this.payloadStart(end);
        spanLen = this.lastLength;
      } else if (field === 3 && wt === WT_LEN) {
        stateAt = this.pos;
        stateEnd = this.skipString(end);
      } else if (field === 4 && wt === WT_LEN) {
        (attrs ??= []).push(this.attributeJson(end));
      } else if (field === 5 && wt === WT_VARINT) {
        dropped = this.varint(end) >>> 0;
      } else if (field === 6 && wt === WT_I32) {
        flags = this.fixed32(end);
      } else this.skipField(tag, end);
    }
    // A link to an invalid span context is legal (it may carry attributes),
    // so empty ids are kept as zeros; other lengths are not ids at all.
    if (traceLen !== 0 && traceLen !== 16) return `link trace_id must be 16 bytes, got ${traceLen}`;
    if (spanLen !== 0 && spanLen !== 8) return `link span_id must be 8 bytes, got ${spanLen}`;
    writeIdOrZeros(group.data(0), buf, traceAt, traceLen, 16);
    writeIdOrZeros(group.data(1), buf, spanAt, spanLen, 8);
    group.data(2).string(attrs ? `[${attrs.join(',')}]` : '');
    group.count++;
    this.extras.addLink(buf, stateAt < 0 ? 0 : stringPayload(buf, stateAt, stateEnd), stateAt < 0 ? 0 : stateEnd, dropped, flags);
    return '';
  }
}
