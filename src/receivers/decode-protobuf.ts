import { isUtf8 } from 'node:buffer';
import type { ByteWriter } from '../model/byte-writer.js';
import type { ArrayGroup, AttributeColumns, SpanBatchBuilder } from '../model/span-batch.js';
import { ResourceTemplate, ScopeTemplate, writeSpanContext, type ResourceRows } from './row-templates.js';
import { ExtrasWriter } from '../model/span-extras.js';
import { MAX_ANY_VALUE_DEPTH, doubleToJson } from '../model/any-value.js';
import { DecodeOutcome, MalformedRequestError, type DecodeOptions } from './decode-result.js';

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
 * Field numbers follow opentelemetry/proto/trace/v1/trace.proto and
 * common/v1/common.proto. Unknown fields are skipped, as protobuf requires.
 */

const WT_VARINT = 0;
const WT_I64 = 1;
const WT_LEN = 2;
const WT_I32 = 5;

const SERVICE_NAME = Buffer.from('service.name');

export class ProtobufSpanDecoder {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  /** The halves of the last 64-bit value read. */
  private lo = 0;
  private hi = 0;
  /** The length read by the last lengthEnd(). */
  private lastLength = 0;
  private out!: SpanBatchBuilder;
  private resources!: ResourceRows;
  private outcome!: DecodeOutcome;
  private opts!: DecodeOptions;
  private readonly resource = new ResourceTemplate();
  private readonly scope = new ScopeTemplate();
  private readonly extras = new ExtrasWriter();

  /**
   * Appends every valid span of `body` to `out`, and the rows of resources
   * not yet known to `resources`.
   * @throws MalformedRequestError when the bytes are not a valid request.
   */
  decode(body: Buffer, out: SpanBatchBuilder, resources: ResourceRows, opts: DecodeOptions): DecodeOutcome {
    this.buf = body;
    this.pos = 0;
    this.out = out;
    this.resources = resources;
    this.opts = opts;
    const outcome = (this.outcome = new DecodeOutcome());
    const end = body.length;
    try {
      while (this.pos < end) {
        const tag = this.varint(end);
        if (tag >>> 3 === 1 && (tag & 7) === WT_LEN) {
          const e = this.lengthEnd(end);
          this.resourceSpans(this.pos, e);
          this.pos = e;
        } else this.skip(tag, end);
      }
    } finally {
      this.buf = Buffer.alloc(0);
    }
    return outcome;
  }

  // ---- messages ---------------------------------------------------------

  private resourceSpans(start: number, end: number): void {
    // schema_url (3) follows scope_spans (2) on the wire, and fields may come
    // in any order, so find the resource-level fields before the spans.
    const res = this.resource;
    res.reset();
    let resStart = -1;
    let resEnd = -1;
    this.pos = start;
    while (this.pos < end) {
      const tag = this.varint(end);
      const field = tag >>> 3;
      if (field === 1 && (tag & 7) === WT_LEN) {
        resEnd = this.lengthEnd(end);
        resStart = this.pos;
        this.pos = resEnd;
      } else if (field === 3 && (tag & 7) === WT_LEN) {
        res.schemaUrl.len = 0;
        this.copyString(res.schemaUrl, end);
      } else this.skip(tag, end);
    }
    if (resStart >= 0) this.resourceMessage(resStart, resEnd);
    this.opts.redaction?.redactResource(res);
    res.finish();

    this.pos = start;
    while (this.pos < end) {
      const tag = this.varint(end);
      if (tag >>> 3 === 2 && (tag & 7) === WT_LEN) {
        const e = this.lengthEnd(end);
        this.scopeSpans(this.pos, e);
        this.pos = e;
      } else this.skip(tag, end);
    }
  }

  private resourceMessage(start: number, end: number): void {
    const res = this.resource;
    this.pos = start;
    while (this.pos < end) {
      const tag = this.varint(end);
      const field = tag >>> 3;
      if (field === 1 && (tag & 7) === WT_LEN) {
        const e = this.lengthEnd(end);
        this.keyValue(this.pos, e, res.attrs, res);
        this.pos = e;
      } else if (field === 2 && (tag & 7) === WT_VARINT) {
        res.dropped = this.varint(end) >>> 0;
      } else this.skip(tag, end);
    }
  }

  private scopeSpans(start: number, end: number): void {
    const scope = this.scope;
    scope.reset();
    let scopeStart = -1;
    let scopeEnd = -1;
    this.pos = start;
    while (this.pos < end) {
      const tag = this.varint(end);
      const field = tag >>> 3;
      if (field === 1 && (tag & 7) === WT_LEN) {
        scopeEnd = this.lengthEnd(end);
        scopeStart = this.pos;
        this.pos = scopeEnd;
      } else if (field === 3 && (tag & 7) === WT_LEN) {
        scope.schemaUrl.len = 0;
        this.copyString(scope.schemaUrl, end);
      } else this.skip(tag, end);
    }
    if (scopeStart >= 0) this.scopeMessage(scopeStart, scopeEnd);
    this.opts.redaction?.redactScope(scope);
    scope.finish(this.resource);
    this.resources.add(this.resource, scope);

    this.pos = start;
    while (this.pos < end) {
      const tag = this.varint(end);
      if (tag >>> 3 === 2 && (tag & 7) === WT_LEN) {
        const e = this.lengthEnd(end);
        this.span(this.pos, e);
        this.pos = e;
      } else this.skip(tag, end);
    }
  }

  private scopeMessage(start: number, end: number): void {
    const scope = this.scope;
    const attrs: string[] = [];
    this.pos = start;
    while (this.pos < end) {
      const tag = this.varint(end);
      const field = tag >>> 3;
      const wt = tag & 7;
      if (field === 1 && wt === WT_LEN) {
        scope.name.len = 0;
        this.copyString(scope.name, end);
      } else if (field === 2 && wt === WT_LEN) {
        scope.version.len = 0;
        this.copyString(scope.version, end);
      } else if (field === 3 && wt === WT_LEN) {
        const e = this.lengthEnd(end);
        attrs.push(this.keyValueJson(this.pos, e, 0));
        this.pos = e;
      } else if (field === 4 && wt === WT_VARINT) {
        scope.dropped = this.varint(end) >>> 0;
      } else this.skip(tag, end);
    }
    if (attrs.length > 0) scope.attrs.string(`[${attrs.join(',')}]`);
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
          traceIdLen = this.varint(end);
          traceIdAt = this.pos;
          this.advance(traceIdLen, end);
          continue;
        case 2:
          if (wt !== WT_LEN) break;
          spanIdLen = this.varint(end);
          spanIdAt = this.pos;
          this.advance(spanIdLen, end);
          continue;
        case 3:
          if (wt !== WT_LEN) break;
          traceStateAt = this.pos;
          traceStateEnd = this.skipString(end);
          continue;
        case 4:
          if (wt !== WT_LEN) break;
          parentLen = this.varint(end);
          parentAt = this.pos;
          this.advance(parentLen, end);
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
        case 9: {
          if (wt !== WT_LEN) break;
          const e = this.lengthEnd(end);
          this.keyValue(this.pos, e, out.attrs, null);
          this.pos = e;
          continue;
        }
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
            } else this.skip(t, e);
          }
          continue;
        }
        case 16:
          if (wt !== WT_I32) break;
          this.need(4, end);
          flags = buf.readUInt32LE(this.pos);
          this.pos += 4;
          continue;
      }
      this.skip(tag, end);
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
    if (parentLen === 8) out.parentSpanId.data.bytes(buf, parentAt, parentAt + 8);
    else out.parentSpanId.data.zeros(8);
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
        const e = this.lengthEnd(end);
        (attrs ??= []).push(this.keyValueJson(this.pos, e, 0));
        this.pos = e;
      } else if (field === 4 && wt === WT_VARINT) {
        dropped = this.varint(end) >>> 0;
      } else this.skip(tag, end);
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
        traceLen = this.varint(end);
        traceAt = this.pos;
        this.advance(traceLen, end);
      } else if (field === 2 && wt === WT_LEN) {
        spanLen = this.varint(end);
        spanAt = this.pos;
        this.advance(spanLen, end);
      } else if (field === 3 && wt === WT_LEN) {
        stateAt = this.pos;
        stateEnd = this.skipString(end);
      } else if (field === 4 && wt === WT_LEN) {
        const e = this.lengthEnd(end);
        (attrs ??= []).push(this.keyValueJson(this.pos, e, 0));
        this.pos = e;
      } else if (field === 5 && wt === WT_VARINT) {
        dropped = this.varint(end) >>> 0;
      } else if (field === 6 && wt === WT_I32) {
        this.need(4, end);
        flags = buf.readUInt32LE(this.pos);
        this.pos += 4;
      } else this.skip(tag, end);
    }
    // A link to an invalid span context is legal (it may carry attributes),
    // so empty ids are kept as zeros; other lengths are not ids at all.
    if (traceLen !== 0 && traceLen !== 16) return `link trace_id must be 16 bytes, got ${traceLen}`;
    if (spanLen !== 0 && spanLen !== 8) return `link span_id must be 8 bytes, got ${spanLen}`;
    if (traceLen === 16) group.data(0).bytes(buf, traceAt, traceAt + 16);
    else group.data(0).zeros(16);
    if (spanLen === 8) group.data(1).bytes(buf, spanAt, spanAt + 8);
    else group.data(1).zeros(8);
    group.data(2).string(attrs ? `[${attrs.join(',')}]` : '');
    group.count++;
    this.extras.addLink(buf, stateAt < 0 ? 0 : stringPayload(buf, stateAt, stateEnd), stateAt < 0 ? 0 : stateEnd, dropped, flags);
    return '';
  }

  /**
   * Appends one KeyValue to the typed attribute columns. When `resource` is
   * given, also remembers the `service.name` string value.
   */
  private keyValue(start: number, end: number, target: AttributeColumns, resource: ResourceTemplate | null): void {
    const buf = this.buf;
    let keyAt = -1;
    let keyEnd = -1;
    let valueStart = -1;
    let valueEnd = -1;
    this.pos = start;
    while (this.pos < end) {
      const tag = this.varint(end);
      const field = tag >>> 3;
      const wt = tag & 7;
      if (field === 1 && wt === WT_LEN) {
        keyAt = this.pos;
        keyEnd = this.skipString(end);
      } else if (field === 2 && wt === WT_LEN) {
        valueEnd = this.lengthEnd(end);
        valueStart = this.pos;
        this.pos = valueEnd;
      } else this.skip(tag, end);
    }

    // Find the AnyValue's (last) oneof member.
    let kindField = 0;
    let at = -1;
    let atEnd = -1;
    let varLo = 0;
    let varHi = 0;
    if (valueStart >= 0) {
      this.pos = valueStart;
      while (this.pos < valueEnd) {
        const tag = this.varint(valueEnd);
        const field = tag >>> 3;
        const wt = tag & 7;
        if ((field === 1 || field === 5 || field === 6 || field === 7) && wt === WT_LEN) {
          kindField = field;
          if (field === 1) {
            at = this.pos;
            atEnd = this.skipString(valueEnd);
          } else {
            atEnd = this.lengthEnd(valueEnd);
            at = this.pos;
          }
          this.pos = atEnd;
        } else if ((field === 2 || field === 3) && wt === WT_VARINT) {
          kindField = field;
          this.varint64(valueEnd);
          varLo = this.lo;
          varHi = this.hi;
        } else if (field === 4 && wt === WT_I64) {
          kindField = 4;
          at = this.pos;
          this.fixed64(valueEnd);
        } else this.skip(tag, valueEnd);
      }
    }

    let group: ArrayGroup;
    switch (kindField) {
      case 1:
        group = target.str;
        writeRaw(group.data(1), buf, at, atEnd);
        if (resource && keyEnd - keyAt === SERVICE_NAME.length + 1 && bytesEqual(buf, keyAt + 1, SERVICE_NAME)) {
          resource.serviceName.len = 0;
          resource.serviceName.bytes(buf, at, atEnd);
        }
        break;
      case 2:
        group = target.bool;
        group.data(1).u8(varLo !== 0 || varHi !== 0 ? 1 : 0);
        break;
      case 3:
        group = target.int;
        group.data(1).u64(varLo, varHi);
        break;
      case 4:
        group = target.float;
        group.data(1).bytes(buf, at, at + 8);
        break;
      default:
        group = target.other;
        group.data(1).string(kindField === 0 ? '{}' : this.anyValueMemberJson(kindField, at, atEnd, 0));
        break;
    }
    writeRaw(group.data(0), buf, keyAt, keyEnd);
    group.count++;
    this.pos = end;
  }

  // ---- AnyValue to canonical JSON (nested values, event/link/scope attributes)

  private keyValueJson(start: number, end: number, depth: number): string {
    let key = '';
    let value = '{}';
    this.pos = start;
    while (this.pos < end) {
      const tag = this.varint(end);
      const field = tag >>> 3;
      const wt = tag & 7;
      if (field === 1 && wt === WT_LEN) {
        key = this.readText(end);
      } else if (field === 2 && wt === WT_LEN) {
        const e = this.lengthEnd(end);
        value = this.anyValueJson(this.pos, e, depth);
        this.pos = e;
      } else this.skip(tag, end);
    }
    return `{"key":${JSON.stringify(key)},"value":${value}}`;
  }

  private anyValueJson(start: number, end: number, depth: number): string {
    if (depth > MAX_ANY_VALUE_DEPTH) throw new MalformedRequestError(`AnyValue nesting is deeper than ${MAX_ANY_VALUE_DEPTH}`);
    let json = '{}';
    this.pos = start;
    while (this.pos < end) {
      const tag = this.varint(end);
      const field = tag >>> 3;
      const wt = tag & 7;
      if ((field === 1 || field === 5 || field === 6 || field === 7) && wt === WT_LEN) {
        let at = this.pos;
        let e: number;
        if (field === 1) e = this.stringEnd(end);
        else {
          e = this.lengthEnd(end);
          at = this.pos;
        }
        json = this.anyValueMemberJson(field, at, e, depth);
        this.pos = e;
      } else if (field === 2 && wt === WT_VARINT) {
        this.varint64(end);
        json = `{"boolValue":${this.lo !== 0 || this.hi !== 0}}`;
      } else if (field === 3 && wt === WT_VARINT) {
        this.varint64(end);
        json = `{"intValue":"${BigInt.asIntN(64, (BigInt(this.hi) << 32n) | BigInt(this.lo))}"}`;
      } else if (field === 4 && wt === WT_I64) {
        this.need(8, end);
        json = `{"doubleValue":${doubleToJson(this.buf.readDoubleLE(this.pos))}}`;
        this.pos += 8;
      } else this.skip(tag, end);
    }
    return json;
  }

  /**
   * JSON for a length-delimited AnyValue member. For strings `at` points at
   * the length prefix; for the others at the payload.
   */
  private anyValueMemberJson(field: number, at: number, end: number, depth: number): string {
    switch (field) {
      case 1: {
        const saved = this.pos;
        this.pos = at;
        const s = this.readText(end);
        this.pos = saved;
        return `{"stringValue":${JSON.stringify(s)}}`;
      }
      case 7:
        return `{"bytesValue":"${this.buf.toString('base64', at, end)}"}`;
      case 5:
      case 6: {
        if (depth + 1 > MAX_ANY_VALUE_DEPTH)
          throw new MalformedRequestError(`AnyValue nesting is deeper than ${MAX_ANY_VALUE_DEPTH}`);
        const saved = this.pos;
        const items: string[] = [];
        this.pos = at;
        while (this.pos < end) {
          const tag = this.varint(end);
          if (tag >>> 3 === 1 && (tag & 7) === WT_LEN) {
            const e = this.lengthEnd(end);
            items.push(field === 5 ? this.anyValueJson(this.pos, e, depth + 1) : this.keyValueJson(this.pos, e, depth + 1));
            this.pos = e;
          } else this.skip(tag, end);
        }
        this.pos = saved;
        return field === 5
          ? `{"arrayValue":{"values":[${items.join(',')}]}}`
          : `{"kvlistValue":{"values":[${items.join(',')}]}}`;
      }
    }
    return '{}';
  }

  // ---- wire primitives ----------------------------------------------------

  private truncated(): never {
    throw new MalformedRequestError('protobuf: message is truncated or a length runs past its end');
  }

  private need(n: number, end: number): void {
    if (this.pos + n > end) this.truncated();
  }

  private advance(n: number, end: number): void {
    if (this.pos + n > end) this.truncated();
    this.pos += n;
  }

  /** Reads a varint that fits a double exactly (tags, lengths, enums, uint32). */
  private varint(end: number): number {
    const buf = this.buf;
    if (this.pos >= end) this.truncated();
    let b = buf[this.pos++];
    if (b < 0x80) return b;
    let value = b & 0x7f;
    let mul = 0x80;
    for (let i = 1; i < 10; i++) {
      if (this.pos >= end) this.truncated();
      b = buf[this.pos++];
      value += (b & 0x7f) * mul;
      if (b < 0x80) return value;
      mul *= 0x80;
    }
    throw new MalformedRequestError('protobuf: varint longer than 10 bytes');
  }

  /** Reads a 64-bit varint into lo/hi. */
  private varint64(end: number): void {
    const buf = this.buf;
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= end) this.truncated();
      const b = buf[this.pos++];
      if (i < 4) lo |= (b & 0x7f) << (7 * i);
      else if (i === 4) {
        lo |= (b & 0x0f) << 28;
        hi = (b & 0x7f) >> 4;
      } else hi |= (b & 0x7f) << (3 + 7 * (i - 5));
      if (b < 0x80) {
        this.lo = lo >>> 0;
        this.hi = hi >>> 0;
        return;
      }
    }
    throw new MalformedRequestError('protobuf: varint longer than 10 bytes');
  }

  private fixed64(end: number): void {
    this.need(8, end);
    this.lo = this.buf.readUInt32LE(this.pos);
    this.hi = this.buf.readUInt32LE(this.pos + 4);
    this.pos += 8;
  }

  /** Reads a length prefix; returns where the payload ends. pos is at the payload. */
  private lengthEnd(end: number): number {
    const len = this.varint(end);
    this.lastLength = len;
    const e = this.pos + len;
    if (e > end) this.truncated();
    return e;
  }

  /**
   * Reads a string field whose length prefix starts at pos, validating UTF-8.
   * Returns where it ends; [start of prefix, end) is the column encoding.
   */
  private stringEnd(end: number): number {
    const e = this.lengthEnd(end);
    const buf = this.buf;
    for (let i = this.pos; i < e; i++) {
      if (buf[i] >= 0x80) {
        if (!isUtf8(buf.subarray(this.pos, e))) throw new MalformedRequestError('protobuf: a string field is not valid UTF-8');
        break;
      }
    }
    this.pos = e;
    return e;
  }

  /**
   * Skips a string field whose length prefix starts at pos, without
   * checking it: the caller copies it with writeRaw, which checks UTF-8 in
   * the same pass. Returns where it ends.
   */
  private skipString(end: number): number {
    const e = this.lengthEnd(end);
    this.pos = e;
    return e;
  }

  /** Reads a length-prefixed string at pos (validated) as JS text. */
  private readText(end: number): string {
    const e = this.stringEnd(end);
    const len = this.lastLength;
    return this.buf.toString('utf8', e - len, e);
  }

  private skip(tag: number, end: number): void {
    switch (tag & 7) {
      case WT_VARINT:
        this.varint64(end);
        return;
      case WT_I64:
        this.advance(8, end);
        return;
      case WT_LEN:
        this.pos = this.lengthEnd(end);
        return;
      case WT_I32:
        this.advance(4, end);
        return;
      default:
        throw new MalformedRequestError(`protobuf: unsupported wire type ${tag & 7} for field ${tag >>> 3}`);
    }
  }

  private copyString(into: ByteWriter, end: number): void {
    const at = this.pos;
    const e = this.stringEnd(end);
    into.bytes(this.buf, at, e);
  }
}

/**
 * Copies a length-prefixed string from the input, or writes '' when absent,
 * checking its UTF-8 in the same pass: only strings with a byte >= 0x80
 * need the full check.
 */
/**
 * Where the bytes of the string at `at` (its length prefix) begin; checks
 * they are UTF-8, as writeRaw does for what it copies.
 */
function stringPayload(buf: Buffer, at: number, end: number): number {
  let payload = at;
  while (buf[payload] & 0x80) payload++;
  payload++;
  for (let i = payload; i < end; i++) {
    if (buf[i] & 0x80) {
      if (!isUtf8(buf.subarray(payload, end))) throw new MalformedRequestError('protobuf: a string field is not valid UTF-8');
      break;
    }
  }
  return payload;
}

function writeRaw(w: ByteWriter, buf: Buffer, at: number, end: number): void {
  if (at < 0) {
    w.u8(0);
    return;
  }
  const n = end - at;
  if (w.len + n > w.buf.length) w.ensure(n);
  const out = w.buf;
  let o = w.len;
  let high = 0;
  if (n < 64) {
    for (let i = at; i < end; i++) {
      const c = buf[i];
      high |= c;
      out[o++] = c;
    }
  } else {
    for (let i = at; i < end; i++) high |= buf[i];
    out.set(buf.subarray(at, end), o);
    o += n;
  }
  w.len = o;
  if (high & 0x80) {
    let payload = at;
    while (buf[payload] & 0x80) payload++;
    if (!isUtf8(buf.subarray(payload + 1, end))) throw new MalformedRequestError('protobuf: a string field is not valid UTF-8');
  }
}

function allZero(buf: Buffer, at: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (buf[at + i] !== 0) return false;
  return true;
}

function bytesEqual(buf: Buffer, at: number, expected: Buffer): boolean {
  for (let i = 0; i < expected.length; i++) if (buf[at + i] !== expected[i]) return false;
  return true;
}
