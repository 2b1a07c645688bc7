/**
 * A growable little-endian byte buffer. Every column of a span batch is one of
 * these, so appends must stay allocation-free in the common case: the buffer
 * doubles when full and is otherwise written in place.
 *
 * Hand-written because no library offers append-only LE writes over a reusable
 * Buffer without an object per call; see bench/decode for the figures.
 */
export class ByteWriter {
  buf: Buffer;
  len = 0;

  constructor(initialCapacity = 4096) {
    this.buf = Buffer.allocUnsafe(initialCapacity);
  }

  ensure(extra: number): void {
    const need = this.len + extra;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = Buffer.allocUnsafe(cap);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  u8(v: number): void {
    if (this.len + 1 > this.buf.length) this.ensure(1);
    this.buf[this.len++] = v;
  }

  // Plain indexed stores: Buffer#writeUInt32LE validates its arguments on
  // every call, which showed up in profiles of the decoder.
  u32(v: number): void {
    if (this.len + 4 > this.buf.length) this.ensure(4);
    const b = this.buf;
    let o = this.len;
    b[o++] = v;
    b[o++] = v >>> 8;
    b[o++] = v >>> 16;
    b[o++] = v >>> 24;
    this.len = o;
  }

  /** Writes a 64-bit value given as two unsigned 32-bit halves. */
  u64(lo: number, hi: number): void {
    if (this.len + 8 > this.buf.length) this.ensure(8);
    const b = this.buf;
    let o = this.len;
    b[o++] = lo;
    b[o++] = lo >>> 8;
    b[o++] = lo >>> 16;
    b[o++] = lo >>> 24;
    b[o++] = hi;
    b[o++] = hi >>> 8;
    b[o++] = hi >>> 16;
    b[o++] = hi >>> 24;
    this.len = o;
  }

  u64big(v: bigint): void {
    this.ensure(8);
    this.buf.writeBigUInt64LE(BigInt.asUintN(64, v), this.len);
    this.len += 8;
  }

  f64(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.len);
    this.len += 8;
  }

  varint(v: number): void {
    this.ensure(10);
    const b = this.buf;
    while (v >= 0x80) {
      b[this.len++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    b[this.len++] = v;
  }

  /** Copies `src[start, end)` verbatim. */
  bytes(src: Uint8Array, start: number, end: number): void {
    const n = end - start;
    if (this.len + n > this.buf.length) this.ensure(n);
    // A byte loop beats TypedArray#set for short runs, which must first
    // allocate a subarray view; most attribute keys and values are short.
    if (n < 64) {
      const b = this.buf;
      let o = this.len;
      for (let i = start; i < end; i++) b[o++] = src[i];
    } else {
      this.buf.set(src.subarray(start, end), this.len);
    }
    this.len += n;
  }

  zeros(n: number): void {
    this.ensure(n);
    this.buf.fill(0, this.len, this.len + n);
    this.len += n;
  }

  /** Appends a ClickHouse/protobuf length-prefixed UTF-8 string. */
  string(s: string): void {
    // Reserve the worst case (3 bytes per UTF-16 unit) so one pass both
    // measures and writes; a 1-byte length prefix covers most strings.
    const max = s.length * 3;
    if (max < 128) {
      this.ensure(1 + max);
      const n = this.buf.write(s, this.len + 1);
      this.buf[this.len] = n;
      this.len += 1 + n;
      return;
    }
    const n = Buffer.byteLength(s, 'utf8');
    this.varint(n);
    this.ensure(n);
    this.buf.write(s, this.len);
    this.len += n;
  }

  /** A view of the written bytes; valid until the next write. */
  view(): Buffer {
    return this.buf.subarray(0, this.len);
  }

  reset(): void {
    this.len = 0;
  }
}
