import { spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';

/**
 * Looks for byte strings in every file under some directories: the raw
 * bytes, and, for files made of ClickHouse compressed blocks (column
 * streams `.bin`, compact parts' `data.bin`, compressed marks and primary
 * indexes), the decompressed stream as well. A part's values are
 * compressed (LZ4 by default, ZSTD where a codec says so), so a value is
 * rarely in a part's raw bytes; scanning only those would prove nothing.
 *
 * A ClickHouse compressed block: a 16-byte checksum, a method byte, the
 * compressed size (with the 9-byte header) and the decompressed size as
 * little-endian UInt32, then the payload. LZ4 is decoded here; ZSTD
 * payloads (standard zstd frames) by the `zstd` command. Numeric codecs
 * (Delta, DoubleDelta, Gorilla, T64, and chains of them) are not decoded:
 * they only hold numbers, never text.
 */

export interface Hit {
  needle: string;
  file: string;
  /** Found in the file's own bytes, or in its decompressed blocks. */
  in: 'raw' | 'decompressed';
}

export interface ScanResult {
  hits: Hit[];
  files: number;
  bytes: number;
  /** Files read as ClickHouse compressed blocks, and the bytes those decompressed to. */
  compressedFiles: number;
  decompressedBytes: number;
}

const METHOD_NONE = 0x02;
const METHOD_LZ4 = 0x82;
const METHOD_ZSTD = 0x90;
/** Method bytes ClickHouse writes (none, LZ4, ZSTD, multiple, delta, T64, double delta, gorilla, AES, FPC, GCD, deflate_qpl...). */
const KNOWN_METHODS = new Set([0x02, 0x82, 0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d]);

export async function scanForBytes(dirs: readonly string[], needles: readonly string[]): Promise<ScanResult> {
  const result: ScanResult = { hits: [], files: 0, bytes: 0, compressedFiles: 0, decompressedBytes: 0 };
  const wanted = needles.map((n) => ({ needle: n, bytes: Buffer.from(n, 'utf8') }));
  for (const dir of dirs) {
    for await (const file of walk(dir)) {
      let data: Buffer;
      try {
        data = await fsp.readFile(file);
      } catch (e) {
        // Removed while we walked (a part the engine just cleaned up).
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw e;
      }
      result.files++;
      result.bytes += data.length;
      for (const w of wanted) if (data.includes(w.bytes)) result.hits.push({ needle: w.needle, file, in: 'raw' });
      let stream: Buffer | null;
      try {
        stream = decompressClickHouse(data);
      } catch (e) {
        throw new Error(`${file}: ${(e as Error).message}`);
      }
      if (!stream) continue;
      result.compressedFiles++;
      result.decompressedBytes += stream.length;
      for (const w of wanted) if (stream.includes(w.bytes)) result.hits.push({ needle: w.needle, file, in: 'decompressed' });
    }
  }
  return result;
}

async function* walk(dir: string): AsyncGenerator<string> {
  let entries;
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    // Symbolic links (chDB's data/<db>/<table> -> store/...) point at directories walked anyway.
    if (e.isDirectory()) yield* walk(p);
    else if (e.isFile()) yield p;
  }
}

/**
 * The decompressed stream of a file that is entirely ClickHouse compressed
 * blocks, or null when it is not one. Blocks of methods not decoded here
 * contribute nothing.
 */
export function decompressClickHouse(data: Buffer): Buffer | null {
  const blocks: { method: number; payload: Buffer; size: number }[] = [];
  let off = 0;
  while (off < data.length) {
    if (off + 25 > data.length) return null;
    const method = data[off + 16];
    const compressed = data.readUInt32LE(off + 17);
    const size = data.readUInt32LE(off + 21);
    if (!KNOWN_METHODS.has(method) || compressed < 9 || off + 16 + compressed > data.length || size > 1 << 30) return null;
    blocks.push({ method, payload: data.subarray(off + 25, off + 16 + compressed), size });
    off += 16 + compressed;
  }
  if (blocks.length === 0) return null;
  const out: Buffer[] = [];
  // Consecutive ZSTD frames go to one zstd process: it decompresses concatenated frames in order.
  let zstdRun: Buffer[] = [];
  const flushZstd = () => {
    if (zstdRun.length === 0) return;
    const r = spawnSync('zstd', ['-d', '-c', '-q'], { input: Buffer.concat(zstdRun), maxBuffer: 1 << 30 });
    if (r.status !== 0) throw new Error(`zstd could not decompress a ClickHouse block: ${r.stderr?.toString().trim()}`);
    out.push(r.stdout);
    zstdRun = [];
  };
  for (const b of blocks) {
    if (b.method === METHOD_ZSTD) {
      zstdRun.push(b.payload);
      continue;
    }
    flushZstd();
    if (b.method === METHOD_NONE) out.push(b.payload);
    else if (b.method === METHOD_LZ4) out.push(lz4Block(b.payload, b.size));
  }
  flushZstd();
  return Buffer.concat(out);
}

/** Decodes one LZ4 block (the raw block format, as ClickHouse writes it) of `size` bytes. */
export function lz4Block(src: Buffer, size: number): Buffer {
  const out = Buffer.alloc(size);
  let i = 0;
  let o = 0;
  while (i < src.length) {
    const token = src[i++];
    let literals = token >> 4;
    if (literals === 15) {
      let b;
      do {
        b = src[i++];
        literals += b;
      } while (b === 255);
    }
    src.copy(out, o, i, i + literals);
    i += literals;
    o += literals;
    // The last sequence has literals only.
    if (i >= src.length) break;
    const offset = src[i] | (src[i + 1] << 8);
    i += 2;
    let length = token & 15;
    if (length === 15) {
      let b;
      do {
        b = src[i++];
        length += b;
      } while (b === 255);
    }
    length += 4;
    if (offset === 0 || offset > o || o + length > size) throw new Error('corrupt LZ4 block');
    // Byte by byte: a match may overlap what it produces.
    for (let from = o - offset, end = o + length; o < end; ) out[o++] = out[from++];
  }
  if (o !== size) throw new Error(`LZ4 block decoded to ${o} bytes, expected ${size}`);
  return out;
}
