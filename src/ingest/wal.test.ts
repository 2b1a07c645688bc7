import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ResourceBatchBuilder, SpanBatchBuilder } from '../model/span-batch.js';
import { ResourceRows } from '../receivers/row-templates.js';
import { scanNativeBlocks } from '../model/native-scan.js';
import { JsonSpanDecoder } from '../receivers/decode-json.js';
import { Wal } from './wal.js';

let dirs: string[] = [];
const newDir = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'sightline-wal-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});

/** A real Native block of `n` spans. */
function block(n: number): { data: Buffer; rows: number } {
  const spans = Array.from({ length: n }, (_, i) => ({
    traceId: '0102030405060708090a0b0c0d0e0f10',
    spanId: (i + 1).toString(16).padStart(16, '0'),
    name: `op-${i}`,
    startTimeUnixNano: '1700000000000000000',
    endTimeUnixNano: '1700000000000001000',
  }));
  const b = new SpanBatchBuilder();
  new JsonSpanDecoder().decode(Buffer.from(JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans }] }] })), b, new ResourceRows(new ResourceBatchBuilder(), () => true, 0n), {
    minStartNs: 0,
    retentionText: '',
  });
  b.fillTenant('t');
  const nb = b.toNative();
  return { data: Buffer.concat(nb.chunks), rows: nb.rows };
}

describe('WAL', () => {
  it('group-commits concurrent appends and seals them into one segment', async () => {
    const dir = newDir();
    const { wal, recovery } = await Wal.open({ dir, segmentBytes: 64 * 1024 * 1024 });
    assert.deepEqual(recovery, { segments: [], truncatedBytes: 0 });
    const blocks = Array.from({ length: 20 }, (_, i) => block(i + 1));
    await Promise.all(blocks.map((b) => wal.append(b.data, b.rows)));
    const total = blocks.reduce((n, b) => n + b.rows, 0);
    assert.equal(wal.activeRows(), total);
    await wal.sealActive();
    const [seg, ...rest] = wal.takeSealed();
    assert.equal(rest.length, 0);
    assert.equal(seg.rows, total);
    const scan = scanNativeBlocks(readFileSync(seg.path));
    assert.deepEqual(scan, { blocks: 20, rows: total, validBytes: seg.bytes, stoppedBecause: '' });
    assert.equal(wal.backlogBytes, seg.bytes);
    await wal.remove(seg);
    assert.equal(wal.backlogBytes, 0);
    await wal.close();
    assert.deepEqual(readdirSync(dir), []);
  });

  it('rotates segments by size', async () => {
    const dir = newDir();
    const { wal } = await Wal.open({ dir, segmentBytes: 1 });
    for (let i = 0; i < 3; i++) {
      const b = block(5);
      await wal.append(b.data, b.rows);
    }
    await wal.close();
    const sealed = wal.takeSealed();
    assert.equal(sealed.length, 3);
    assert.deepEqual(sealed.map((s) => s.rows), [5, 5, 5]);
    assert.ok(sealed[0].seq < sealed[1].seq && sealed[1].seq < sealed[2].seq);
  });

  it('recovers segments at open, cutting a torn block and a zero-filled tail', async () => {
    const dir = newDir();
    const first = await Wal.open({ dir, segmentBytes: 64 * 1024 * 1024 });
    const a = block(3);
    const b = block(4);
    await first.wal.append(a.data, a.rows);
    await first.wal.append(b.data, b.rows);
    // Simulate a crash: no close; a half-written block follows.
    const file = path.join(dir, readdirSync(dir)[0]);
    const torn = block(9).data;
    appendFileSync(file, torn.subarray(0, torn.length >> 1));
    const goodSize = a.data.length + b.data.length;

    const { wal, recovery } = await Wal.open({ dir, segmentBytes: 64 * 1024 * 1024 });
    assert.equal(recovery.segments.length, 1);
    assert.equal(recovery.segments[0].rows, 7);
    assert.equal(recovery.truncatedBytes, torn.length >> 1);
    assert.equal(statSync(file).size, goodSize);
    assert.equal(wal.backlogBytes, goodSize);
    // New appends go to a new segment after the recovered one.
    await wal.append(a.data, a.rows);
    await wal.close();
    assert.ok(wal.takeSealed()[0].seq > recovery.segments[0].seq);

    appendFileSync(file, Buffer.alloc(4096));
    const again = await Wal.open({ dir, segmentBytes: 64 * 1024 * 1024 });
    assert.equal(again.recovery.segments[0].rows, 7);
    assert.equal(statSync(file).size, goodSize);
  });

  it('deletes segments with no complete block', async () => {
    const dir = newDir();
    const { wal } = await Wal.open({ dir, segmentBytes: 64 * 1024 * 1024 });
    const b = block(2);
    await wal.append(b.data, b.rows);
    const file = path.join(dir, readdirSync(dir)[0]);
    rmSync(file);
    appendFileSync(file, b.data.subarray(0, 10));
    const { recovery } = await Wal.open({ dir, segmentBytes: 64 * 1024 * 1024 });
    assert.deepEqual(recovery.segments, []);
    assert.deepEqual(readdirSync(dir), []);
  });
});
