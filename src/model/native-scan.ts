/**
 * Walks a stream of ClickHouse Native blocks without decoding values, to find
 * where the last complete block ends. The WAL uses it to cut off a block torn
 * by a crash: such a block was never acknowledged, and the engine would refuse
 * the whole file because of it.
 */

export interface NativeScan {
  /** Complete blocks found. */
  blocks: number;
  rows: number;
  /** Offset just past the last complete block. */
  validBytes: number;
  /** Why scanning stopped before the end of the buffer, or '' if it did not. */
  stoppedBecause: string;
}

class Truncated extends Error {}

export function scanNativeBlocks(buf: Buffer): NativeScan {
  let pos = 0;
  let blocks = 0;
  let rows = 0;
  let validBytes = 0;

  const varint = (): number => {
    let value = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= buf.length) throw new Truncated('truncated varint');
      const b = buf[pos++];
      value += (b & 0x7f) * mul;
      if (b < 0x80) return value;
      mul *= 0x80;
    }
    throw new Truncated('varint longer than 10 bytes');
  };
  const skip = (n: number) => {
    if (pos + n > buf.length) throw new Truncated('column data runs past the end');
    pos += n;
  };
  const string = (): string => {
    const n = varint();
    const start = pos;
    skip(n);
    return buf.toString('latin1', start, pos);
  };
  const skipValues = (type: string, count: number): void => {
    if (type.startsWith('Array(')) {
      if (count === 0) return;
      // Offsets are cumulative; the last one is the element count.
      skip(8 * count);
      skipValues(type.slice(6, -1), readU64(buf, pos - 8));
      return;
    }
    const fixed = FIXED_WIDTH[type] ?? (type.startsWith('FixedString(') ? Number(type.slice(12, -1)) : undefined);
    if (fixed !== undefined) {
      skip(fixed * count);
      return;
    }
    if (type === 'String') {
      for (let i = 0; i < count; i++) skip(varint());
      return;
    }
    throw new Truncated(`unknown column type ${type}`);
  };

  let stoppedBecause = '';
  while (pos < buf.length) {
    try {
      const columns = varint();
      const n = varint();
      if (columns === 0) {
        stoppedBecause = 'empty block (zero-filled tail)';
        break;
      }
      for (let c = 0; c < columns; c++) {
        string();
        const type = string();
        skipValues(type, n);
      }
      blocks++;
      rows += n;
      validBytes = pos;
    } catch (e) {
      if (!(e instanceof Truncated)) throw e;
      stoppedBecause = e.message;
      break;
    }
  }
  return { blocks, rows, validBytes, stoppedBecause };
}

const FIXED_WIDTH: Record<string, number> = {
  UInt8: 1, Int8: 1, UInt16: 2, Int16: 2, UInt32: 4, Int32: 4, Float32: 4,
  UInt64: 8, Int64: 8, Float64: 8, Date: 2, DateTime: 4,
};

function readU64(buf: Buffer, pos: number): number {
  if (pos + 8 > buf.length) throw new Truncated('array offsets run past the end');
  return buf.readUInt32LE(pos) + buf.readUInt32LE(pos + 4) * 0x100000000;
}
