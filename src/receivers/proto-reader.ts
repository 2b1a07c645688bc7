import { isUtf8 } from 'node:buffer';
import type { ByteWriter } from '../model/byte-writer.js';
import type { ArrayGroup, AttributeColumns } from '../model/span-batch.js';
import { MAX_ANY_VALUE_DEPTH, doubleToJson } from '../model/any-value.js';
import type { SpanRedactor } from '../redact/index.js';
import { ResourceTemplate, ScopeTemplate } from './row-templates.js';
import { DecodeOutcome, MalformedRequestError } from './decode-result.js';

/**
 * What the hand-written OTLP protobuf decoders share (decode-protobuf.ts
 * for traces, decode-logs-protobuf.ts for logs): the wire primitives, the
 * resource and scope messages, attributes into typed columns, and AnyValue
 * to canonical JSON. Each decoder adds only its own record message.
 *
 * ResourceSpans and ResourceLogs number their fields alike (resource = 1,
 * scope_spans or scope_logs = 2, schema_url = 3), and so do ScopeSpans and
 * ScopeLogs (scope = 1, spans or log_records = 2, schema_url = 3), so one
 * walk serves both signals: {@link resourceGroup} and {@link scopeGroup}
 * call the decoder's {@link scopeReady} and {@link record}.
 *
 * Field numbers follow opentelemetry/proto/common/v1/common.proto and
 * resource/v1/resource.proto. Unknown fields are skipped, as protobuf requires.
 */

export const WT_VARINT = 0;
export const WT_I64 = 1;
export const WT_LEN = 2;
export const WT_I32 = 5;

const SERVICE_NAME = Buffer.from('service.name');

export abstract class OtlpProtoReader {
  protected buf: Buffer = Buffer.alloc(0);
  protected pos = 0;
  /** The halves of the last 64-bit value read. */
  protected lo = 0;
  protected hi = 0;
  /** The length read by the last lengthEnd(). */
  protected lastLength = 0;
  /** Where the message found by the last groupHead() ends. */
  private headEnd = 0;
  /**
   * The AnyValue member found by the last anyValueMember(): where it is (a
   * string from its length prefix, the others' payload; a double's start
   * only), or a bool's or int's halves.
   */
  protected memberAt = -1;
  protected memberEnd = -1;
  protected memberLo = 0;
  protected memberHi = 0;
  /** The request's redaction, run on each resource and scope before their ids are hashed. */
  protected redaction: SpanRedactor | null = null;
  /** The request's records taken and refused. */
  protected outcome!: DecodeOutcome;
  protected readonly resource = new ResourceTemplate();
  protected readonly scope = new ScopeTemplate();

  /** The scope's fields are decoded and finished; its records follow. */
  protected abstract scopeReady(): void;

  /** One record (a span, a log record) of the current scope, at [start, end). */
  protected abstract record(start: number, end: number): void;

  /**
   * Walks an ExportTraceServiceRequest or ExportLogsServiceRequest
   * (resource_spans and resource_logs are both field 1), and returns its
   * records taken and refused.
   */
  protected request(body: Buffer, redaction: SpanRedactor | null): DecodeOutcome {
    const outcome = (this.outcome = new DecodeOutcome());
    this.buf = body;
    this.pos = 0;
    this.redaction = redaction;
    const end = body.length;
    try {
      for (let e = this.nextMessage(1, end); e >= 0; e = this.nextMessage(1, end)) {
        this.resourceGroup(this.pos, e);
        this.pos = e;
      }
    } finally {
      this.buf = Buffer.alloc(0);
    }
    return outcome;
  }

  // ---- resource and scope ---------------------------------------------------

  /** A ResourceSpans or ResourceLogs message. */
  protected resourceGroup(start: number, end: number): void {
    const res = this.resource;
    res.reset();
    const resStart = this.groupHead(start, end, res.schemaUrl);
    if (resStart >= 0) this.resourceMessage(resStart, this.headEnd);
    this.redaction?.redactResource(res);
    res.finish();

    this.pos = start;
    for (let e = this.nextMessage(2, end); e >= 0; e = this.nextMessage(2, end)) {
      this.scopeGroup(this.pos, e);
      this.pos = e;
    }
  }

  /** A ScopeSpans or ScopeLogs message. */
  protected scopeGroup(start: number, end: number): void {
    const scope = this.scope;
    scope.reset();
    const scopeStart = this.groupHead(start, end, scope.schemaUrl);
    if (scopeStart >= 0) this.scopeMessage(scopeStart, this.headEnd);
    this.redaction?.redactScope(scope);
    scope.finish(this.resource);
    this.scopeReady();

    this.pos = start;
    for (let e = this.nextMessage(2, end); e >= 0; e = this.nextMessage(2, end)) {
      this.record(this.pos, e);
      this.pos = e;
    }
  }

  /**
   * The first pass over a resource or scope group: copies its schema_url
   * (3) into `schemaUrl`, and returns where its resource or scope message
   * (1) starts, -1 when it has none, with its end in headEnd. schema_url
   * follows the children (2) on the wire, and fields may come in any
   * order, so these are found before the children are read.
   */
  private groupHead(start: number, end: number, schemaUrl: ByteWriter): number {
    let at = -1;
    this.pos = start;
    while (this.pos < end) {
      const tag = this.varint(end);
      const field = tag >>> 3;
      if (field === 1 && (tag & 7) === WT_LEN) {
        at = this.payloadStart(end);
        this.headEnd = this.pos;
      } else if (field === 3 && (tag & 7) === WT_LEN) {
        schemaUrl.len = 0;
        this.copyString(schemaUrl, end);
      } else this.skipField(tag, end);
    }
    return at;
  }

  protected resourceMessage(start: number, end: number): void {
    const res = this.resource;
    this.pos = start;
    while (this.pos < end) {
      const tag = this.varint(end);
      const field = tag >>> 3;
      if (field === 1 && (tag & 7) === WT_LEN) {
        this.keyValue(end, res.attrs, res);
      } else if (field === 2 && (tag & 7) === WT_VARINT) {
        res.dropped = this.varint(end) >>> 0;
      } else this.skipField(tag, end);
    }
  }

  protected scopeMessage(start: number, end: number): void {
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
        attrs.push(this.attributeJson(end));
      } else if (field === 4 && wt === WT_VARINT) {
        scope.dropped = this.varint(end) >>> 0;
      } else this.skipField(tag, end);
    }
    if (attrs.length > 0) scope.attrs.string(`[${attrs.join(',')}]`);
  }

  /**
   * Appends the KeyValue whose length prefix is at pos to the typed
   * attribute columns, and moves past it. When `resource` is given, also
   * remembers the `service.name` string value.
   */
  protected keyValue(end: number, target: AttributeColumns, resource: ResourceTemplate | null): void {
    const buf = this.buf;
    const kvEnd = this.lengthEnd(end);
    let keyAt = -1;
    let keyEnd = -1;
    let valueStart = -1;
    let valueEnd = -1;
    while (this.pos < kvEnd) {
      const tag = this.varint(kvEnd);
      const field = tag >>> 3;
      const wt = tag & 7;
      if (field === 1 && wt === WT_LEN) {
        keyAt = this.pos;
        keyEnd = this.skipString(kvEnd);
      } else if (field === 2 && wt === WT_LEN) {
        valueStart = this.payloadStart(kvEnd);
        valueEnd = this.pos;
      } else this.skipField(tag, kvEnd);
    }

    const kindField = valueStart >= 0 ? this.anyValueMember(valueStart, valueEnd) : 0;
    const at = this.memberAt;
    const atEnd = this.memberEnd;
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
        group.data(1).u8(this.memberLo !== 0 || this.memberHi !== 0 ? 1 : 0);
        break;
      case 3:
        group = target.int;
        group.data(1).u64(this.memberLo, this.memberHi);
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
    this.pos = kvEnd;
  }

  /**
   * Finds the AnyValue's (last) oneof member in [start, end), as protobuf
   * reads a oneof: returns its field number, 0 when it has none, and leaves
   * where it is in memberAt and memberEnd, or a bool's or int's value in
   * memberLo and memberHi. A string's UTF-8 is left for its copier
   * (writeRaw) to check.
   */
  protected anyValueMember(start: number, end: number): number {
    let kind = 0;
    this.pos = start;
    while (this.pos < end) {
      const tag = this.varint(end);
      const field = tag >>> 3;
      const wt = tag & 7;
      if ((field === 1 || field === 5 || field === 6 || field === 7) && wt === WT_LEN) {
        kind = field;
        if (field === 1) {
          this.memberAt = this.pos;
          this.memberEnd = this.skipString(end);
        } else {
          this.memberAt = this.payloadStart(end);
          this.memberEnd = this.pos;
        }
      } else if ((field === 2 || field === 3) && wt === WT_VARINT) {
        kind = field;
        this.varint64(end);
        this.memberLo = this.lo;
        this.memberHi = this.hi;
      } else if (field === 4 && wt === WT_I64) {
        kind = 4;
        this.memberAt = this.pos;
        this.fixed64(end);
      } else this.skipField(tag, end);
    }
    return kind;
  }

  // ---- AnyValue to canonical JSON (nested values, event/link/scope attributes)

  /** The canonical JSON of the KeyValue whose length prefix is at pos; moves past it. */
  protected attributeJson(end: number): string {
    const e = this.lengthEnd(end);
    const json = this.keyValueJson(this.pos, e, 0);
    this.pos = e;
    return json;
  }

  protected keyValueJson(start: number, end: number, depth: number): string {
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
      } else this.skipField(tag, end);
    }
    return `{"key":${JSON.stringify(key)},"value":${value}}`;
  }

  protected anyValueJson(start: number, end: number, depth: number): string {
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
      } else this.skipField(tag, end);
    }
    return json;
  }

  /**
   * JSON for a length-delimited AnyValue member. For strings `at` points at
   * the length prefix; for the others at the payload.
   */
  protected anyValueMemberJson(field: number, at: number, end: number, depth: number): string {
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
        for (let e = this.nextMessage(1, end); e >= 0; e = this.nextMessage(1, end)) {
          items.push(field === 5 ? this.anyValueJson(this.pos, e, depth + 1) : this.keyValueJson(this.pos, e, depth + 1));
          this.pos = e;
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

  protected truncated(): never {
    throw new MalformedRequestError('protobuf: message is truncated or a length runs past its end');
  }

  protected need(n: number, end: number): void {
    if (this.pos + n > end) this.truncated();
  }

  protected advance(n: number, end: number): void {
    if (this.pos + n > end) this.truncated();
    this.pos += n;
  }

  /** Reads a varint that fits a double exactly (tags, lengths, enums, uint32). */
  protected varint(end: number): number {
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
  protected varint64(end: number): void {
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

  protected fixed64(end: number): void {
    this.need(8, end);
    this.lo = this.buf.readUInt32LE(this.pos);
    this.hi = this.buf.readUInt32LE(this.pos + 4);
    this.pos += 8;
  }

  protected fixed32(end: number): number {
    this.need(4, end);
    const value = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return value;
  }

  /** Reads a length prefix; returns where the payload ends. pos is at the payload. */
  protected lengthEnd(end: number): number {
    const len = this.varint(end);
    this.lastLength = len;
    const e = this.pos + len;
    if (e > end) this.truncated();
    return e;
  }

  /**
   * Moves past a length-delimited field whose length prefix is at pos, to
   * come back to: returns where its payload starts, with its length in
   * lastLength.
   */
  protected payloadStart(end: number): number {
    const e = this.lengthEnd(end);
    const at = this.pos;
    this.pos = e;
    return at;
  }

  /**
   * Moves on to the next length-delimited field numbered `field` before
   * `end`, skipping the others: returns where its payload ends, pos at its
   * start, or -1 when there is none left.
   */
  protected nextMessage(field: number, end: number): number {
    while (this.pos < end) {
      const tag = this.varint(end);
      if (tag >>> 3 === field && (tag & 7) === WT_LEN) return this.lengthEnd(end);
      this.skipField(tag, end);
    }
    return -1;
  }

  /**
   * Reads a string field whose length prefix starts at pos, validating UTF-8.
   * Returns where it ends; [start of prefix, end) is the column encoding.
   */
  protected stringEnd(end: number): number {
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
  protected skipString(end: number): number {
    const e = this.lengthEnd(end);
    this.pos = e;
    return e;
  }

  /** Reads a length-prefixed string at pos (validated) as JS text. */
  protected readText(end: number): string {
    const e = this.stringEnd(end);
    const len = this.lastLength;
    return this.buf.toString('utf8', e - len, e);
  }

  protected skipField(tag: number, end: number): void {
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

  protected copyString(into: ByteWriter, end: number): void {
    const at = this.pos;
    const e = this.stringEnd(end);
    into.bytes(this.buf, at, e);
  }
}
/**
 * Where the bytes of the string at `at` (its length prefix) begin; checks
 * they are UTF-8, as writeRaw does for what it copies.
 */
export function stringPayload(buf: Buffer, at: number, end: number): number {
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

/**
 * Copies a length-prefixed string from the input, or writes '' when absent,
 * checking its UTF-8 in the same pass: only strings with a byte >= 0x80
 * need the full check.
 */
export function writeRaw(w: ByteWriter, buf: Buffer, at: number, end: number): void {
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

/**
 * Copies an id of `size` bytes, or writes zeros when it has another length:
 * OTLP reads zeros as no id (the caller has refused the lengths it must).
 */
export function writeIdOrZeros(w: ByteWriter, buf: Buffer, at: number, len: number, size: number): void {
  if (len === size) w.bytes(buf, at, at + size);
  else w.zeros(size);
}

export function allZero(buf: Buffer, at: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (buf[at + i] !== 0) return false;
  return true;
}

function bytesEqual(buf: Buffer, at: number, expected: Buffer): boolean {
  for (let i = 0; i < expected.length; i++) if (buf[at + i] !== expected[i]) return false;
  return true;
}
