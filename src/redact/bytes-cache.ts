/**
 * A small direct-mapped cache keyed by byte strings straight out of a
 * column buffer: a lookup hashes the bytes (FNV-1a) and compares them with
 * the one entry in their slot, without making a JS string. Decoding a key
 * or value to a string and hashing that string was the largest single cost
 * of redaction in a profile of realistic batches, where most keys and many
 * values repeat. A new entry replaces whatever held its slot.
 */
export class BytesCache<T> {
  private readonly keys: (Buffer | undefined)[];
  private readonly values: (T | undefined)[];
  private readonly mask: number;
  /** The slot and bytes of the last find(), for put(). */
  private slot = 0;
  private buf: Buffer = Buffer.alloc(0);
  private start = 0;
  private end = 0;

  /** `size` is rounded up to a power of two. */
  constructor(size: number) {
    let n = 1;
    while (n < size) n *= 2;
    this.keys = new Array<Buffer | undefined>(n);
    this.values = new Array<T | undefined>(n);
    this.mask = n - 1;
  }

  /** The value cached for buf[start, end), or undefined. */
  find(buf: Buffer, start: number, end: number): T | undefined {
    let h = 0x811c9dc5;
    for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i], 0x01000193);
    const slot = (h >>> 0) & this.mask;
    this.slot = slot;
    this.buf = buf;
    this.start = start;
    this.end = end;
    const key = this.keys[slot];
    if (key === undefined || key.length !== end - start) return undefined;
    for (let i = 0; i < key.length; i++) if (key[i] !== buf[start + i]) return undefined;
    return this.values[slot];
  }

  /** Caches `value` for the bytes of the last find(). */
  put(value: T): void {
    this.keys[this.slot] = Buffer.from(this.buf.subarray(this.start, this.end));
    this.values[this.slot] = value;
  }
}
