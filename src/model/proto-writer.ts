import { ByteWriter } from './byte-writer.js';

/**
 * A protobuf encoder for the few messages Sightline writes (OTLP replies,
 * traces for the Tempo API). Nested messages are written in place: a
 * one-byte length is reserved and, in the rare case the message is 128 bytes
 * or longer, the body is moved to make room for a longer prefix. That keeps
 * encoding a 10,000-span trace to one buffer and no per-field objects.
 */
export class ProtoWriter {
  readonly w = new ByteWriter(1024);
  private readonly stack: number[] = [];

  private tag(field: number, wireType: number): void {
    this.w.varint(field * 8 + wireType);
  }

  /** Starts a length-delimited field; end it with {@link end}. */
  begin(field: number): this {
    this.tag(field, 2);
    this.w.u8(0);
    this.stack.push(this.w.len);
    return this;
  }

  end(): this {
    const start = this.stack.pop()!;
    const len = this.w.len - start;
    if (len < 0x80) {
      this.w.buf[start - 1] = len;
      return this;
    }
    let extra = 0;
    for (let n = len >>> 7; n > 0; n >>>= 7) extra++;
    this.w.ensure(extra);
    const b = this.w.buf;
    b.copyWithin(start + extra, start, this.w.len);
    let pos = start - 1;
    let n = len;
    while (n >= 0x80) {
      b[pos++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    b[pos] = n;
    this.w.len += extra;
    return this;
  }

  /** Zero values are skipped unless `always` (oneof members must be written). */
  string(field: number, s: string, always = false): this {
    if (s === '' && !always) return this;
    this.tag(field, 2);
    this.w.string(s);
    return this;
  }

  bytes(field: number, b: Uint8Array, always = false): this {
    if (b.length === 0 && !always) return this;
    this.tag(field, 2);
    this.w.varint(b.length);
    this.w.bytes(b, 0, b.length);
    return this;
  }

  /** A varint field holding an unsigned value below 2^53. */
  uint(field: number, v: number): this {
    if (v === 0) return this;
    this.tag(field, 0);
    this.w.varint(v);
    return this;
  }

  bool(field: number, v: boolean, always = false): this {
    if (!v && !always) return this;
    this.tag(field, 0);
    this.w.u8(v ? 1 : 0);
    return this;
  }

  /** A varint field holding a signed 64-bit value (two's complement). */
  int64(field: number, v: bigint, always = false): this {
    if (v === 0n && !always) return this;
    this.tag(field, 0);
    let n = BigInt.asUintN(64, v);
    this.w.ensure(10);
    while (n >= 0x80n) {
      this.w.buf[this.w.len++] = Number(n & 0x7fn) | 0x80;
      n >>= 7n;
    }
    this.w.buf[this.w.len++] = Number(n);
    return this;
  }

  fixed64(field: number, v: bigint): this {
    if (v === 0n) return this;
    this.tag(field, 1);
    this.w.u64big(v);
    return this;
  }

  fixed32(field: number, v: number): this {
    if (v === 0) return this;
    this.tag(field, 5);
    this.w.u32(v);
    return this;
  }

  double(field: number, v: number): this {
    this.tag(field, 1);
    this.w.f64(v);
    return this;
  }

  finish(): Buffer {
    if (this.stack.length > 0) throw new Error('ProtoWriter: unterminated message');
    return Buffer.from(this.w.view());
  }
}
