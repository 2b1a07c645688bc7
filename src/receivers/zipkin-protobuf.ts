import { isUtf8 } from 'node:buffer';
import { MalformedRequestError } from './decode-result.js';
import { emptyZipkinSpan, type ZipkinAnnotation, type ZipkinEndpoint, type ZipkinKind, type ZipkinSpan } from './zipkin-model.js';

/**
 * Parses a Zipkin v2 protobuf body (`application/x-protobuf`): a
 * `zipkin.proto3.ListOfSpans` (zipkin-api's zipkin.proto). Bytes that are
 * not a valid message make the whole request malformed; an id of the wrong
 * size makes only its span unusable (ZipkinSpan.problem). Unknown fields
 * are skipped, as protobuf requires.
 *
 * Written by hand rather than with protobufjs: that is a development
 * dependency only, and the message is small.
 * @throws MalformedRequestError
 */
export function parseZipkinProtobuf(body: Buffer): ZipkinSpan[] {
  const r = new Reader(body);
  const spans: ZipkinSpan[] = [];
  while (!r.done(body.length)) {
    const tag = r.varint(body.length);
    if (tag === ((1 << 3) | WT_LEN)) {
      const end = r.lengthEnd(body.length);
      spans.push(span(r, end));
    } else r.skipField(tag, body.length);
  }
  return spans;
}

const WT_VARINT = 0;
const WT_I64 = 1;
const WT_LEN = 2;
const WT_I32 = 5;

const KINDS: readonly ZipkinKind[] = ['', 'CLIENT', 'SERVER', 'PRODUCER', 'CONSUMER'];

function span(r: Reader, end: number): ZipkinSpan {
  const s = emptyZipkinSpan();
  let traceBytes = 0;
  let idBytes = 0;
  let parentBytes = 0;
  while (!r.done(end)) {
    const tag = r.varint(end);
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 1 && wt === WT_LEN) {
      [s.traceId, traceBytes] = r.hex(end);
    } else if (field === 2 && wt === WT_LEN) {
      [s.parentId, parentBytes] = r.hex(end);
    } else if (field === 3 && wt === WT_LEN) {
      [s.id, idBytes] = r.hex(end);
    } else if (field === 4 && wt === WT_VARINT) {
      const k = r.varint(end);
      // An enum value this version does not know reads as unspecified (proto3).
      s.kind = KINDS[k] ?? '';
    } else if (field === 5 && wt === WT_LEN) {
      s.name = r.text(end, 'span name');
    } else if (field === 6 && wt === WT_I64) {
      const ts = r.fixed64(end);
      // Zero is absent (proto3 default), as zipkin.proto says.
      s.timestampUs = ts === 0n ? null : ts;
    } else if (field === 7 && wt === WT_VARINT) {
      s.durationUs = r.varint64(end);
    } else if ((field === 8 || field === 9) && wt === WT_LEN) {
      const e = r.lengthEnd(end);
      const ep = endpoint(r, e);
      if (field === 8) s.localEndpoint = ep;
      else s.remoteEndpoint = ep;
    } else if (field === 10 && wt === WT_LEN) {
      s.annotations.push(annotation(r, r.lengthEnd(end)));
    } else if (field === 11 && wt === WT_LEN) {
      const e = r.lengthEnd(end);
      let key = '';
      let value = '';
      while (!r.done(e)) {
        const t = r.varint(e);
        if (t === ((1 << 3) | WT_LEN)) key = r.text(e, 'tag key');
        else if (t === ((2 << 3) | WT_LEN)) value = r.text(e, 'tag value');
        else r.skipField(t, e);
      }
      s.tags.set(key, value);
    } else if (field === 12 && wt === WT_VARINT) {
      s.debug = r.varint64(end) !== 0n;
    } else if (field === 13 && wt === WT_VARINT) {
      s.shared = r.varint64(end) !== 0n;
    } else r.skipField(tag, end);
  }
  // zipkin.proto: trace_id is 8 or 16 bytes, id 8, parent_id 8 or absent.
  if (traceBytes !== 8 && traceBytes !== 16) s.problem = `span trace_id must be 8 or 16 bytes, got ${traceBytes}`;
  else if (idBytes !== 8) s.problem = `span id must be 8 bytes, got ${idBytes}`;
  else if (parentBytes !== 0 && parentBytes !== 8) s.problem = `span parent_id must be 8 bytes or absent, got ${parentBytes}`;
  return s;
}

function endpoint(r: Reader, end: number): ZipkinEndpoint {
  const e: ZipkinEndpoint = { serviceName: '', ipv4: '', ipv6: '', port: 0 };
  while (!r.done(end)) {
    const tag = r.varint(end);
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 1 && wt === WT_LEN) e.serviceName = r.text(end, 'endpoint service_name');
    else if (field === 2 && wt === WT_LEN) {
      const b = r.bytes(end);
      if (b.length !== 0 && b.length !== 4) throw new MalformedRequestError(`protobuf: endpoint ipv4 must be 4 bytes, got ${b.length}`);
      e.ipv4 = b.length === 4 ? `${b[0]}.${b[1]}.${b[2]}.${b[3]}` : '';
    } else if (field === 3 && wt === WT_LEN) {
      const b = r.bytes(end);
      if (b.length !== 0 && b.length !== 16) throw new MalformedRequestError(`protobuf: endpoint ipv6 must be 16 bytes, got ${b.length}`);
      e.ipv6 = b.length === 16 ? ipv6Text(b) : '';
    } else if (field === 4 && wt === WT_VARINT) {
      const port = Number(BigInt.asIntN(32, r.varint64(end)));
      if (port < 0 || port > 65535) throw new MalformedRequestError(`protobuf: endpoint port ${port} is not from 0 to 65535`);
      e.port = port;
    } else r.skipField(tag, end);
  }
  return e;
}

function annotation(r: Reader, end: number): ZipkinAnnotation {
  let timestampUs = 0n;
  let value = '';
  while (!r.done(end)) {
    const tag = r.varint(end);
    if (tag === ((1 << 3) | WT_I64)) timestampUs = r.fixed64(end);
    else if (tag === ((2 << 3) | WT_LEN)) value = r.text(end, 'annotation value');
    else r.skipField(tag, end);
  }
  return { timestampUs, value };
}

/** RFC 5952 text: lower case, the longest run of two or more zero groups as `::`. */
function ipv6Text(b: Buffer): string {
  const groups = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(2 * i));
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestAt < 0) return hex.join(':');
  return `${hex.slice(0, bestAt).join(':')}::${hex.slice(bestAt + bestLen).join(':')}`;
}

/** The protobuf wire primitives, each bounded by the end of the message it reads. */
class Reader {
  pos = 0;
  constructor(private readonly buf: Buffer) {}

  done(end: number): boolean {
    return this.pos >= end;
  }

  private truncated(): never {
    throw new MalformedRequestError('protobuf: message is truncated or a length runs past its end');
  }

  /** A varint that fits a double exactly: tags, lengths, enums. */
  varint(end: number): number {
    let value = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= end) this.truncated();
      const b = this.buf[this.pos++];
      value += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (value > Number.MAX_SAFE_INTEGER) throw new MalformedRequestError('protobuf: a tag or length is too large');
        return value;
      }
      mul *= 0x80;
    }
    throw new MalformedRequestError('protobuf: varint longer than 10 bytes');
  }

  varint64(end: number): bigint {
    let value = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= end) this.truncated();
      const b = this.buf[this.pos++];
      value |= BigInt(b & 0x7f) << BigInt(7 * i);
      if (b < 0x80) return BigInt.asUintN(64, value);
    }
    throw new MalformedRequestError('protobuf: varint longer than 10 bytes');
  }

  fixed64(end: number): bigint {
    if (this.pos + 8 > end) this.truncated();
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }

  /** Reads a length prefix; returns where the payload ends, with pos at its start. */
  lengthEnd(end: number): number {
    const len = this.varint(end);
    const e = this.pos + len;
    if (e > end) this.truncated();
    return e;
  }

  bytes(end: number): Buffer {
    const e = this.lengthEnd(end);
    const b = this.buf.subarray(this.pos, e);
    this.pos = e;
    return b;
  }

  /** A bytes field as lower-case hex, and how many bytes it had. */
  hex(end: number): [string, number] {
    const b = this.bytes(end);
    return [b.toString('hex'), b.length];
  }

  text(end: number, what: string): string {
    const b = this.bytes(end);
    if (!isUtf8(b)) throw new MalformedRequestError(`protobuf: ${what} is not valid UTF-8`);
    return b.toString('utf8');
  }

  skipField(tag: number, end: number): void {
    switch (tag & 7) {
      case WT_VARINT:
        this.varint64(end);
        return;
      case WT_I64:
        if (this.pos + 8 > end) this.truncated();
        this.pos += 8;
        return;
      case WT_LEN:
        this.pos = this.lengthEnd(end);
        return;
      case WT_I32:
        if (this.pos + 4 > end) this.truncated();
        this.pos += 4;
        return;
      default:
        throw new MalformedRequestError(`protobuf: unsupported wire type ${tag & 7} for field ${tag >>> 3}`);
    }
  }
}
