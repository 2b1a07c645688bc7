import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, ftruncateSync, mkdirSync, openSync, readdirSync, rmSync, statSync, statfsSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { startSightline, tempDir, eventually, type Sightline } from '../testkit/sightline.js';
import { grpcExportClient, postOtlp, requestBytes, span } from '../testkit/fixtures.js';
import { otlp, decodeToObject } from '../testkit/otlp-schema.js';

/**
 * The WAL and the store on small filesystems of the test's own making
 * (tmpfs), filled with a file until the disk is full:
 *
 * - the WAL's disk full: ingest answers 503 / UNAVAILABLE with Retry-After
 *   (retryable for OTLP exporters, over HTTP and gRPC), never 500; nothing
 *   of a refused request is kept, not even the part of it a write landed
 *   before ENOSPC; queries go on; once the filler is deleted, ingest
 *   recovers and every acknowledged span is queryable.
 * - the store's disk full: the WAL takes what the store cannot (200, then
 *   429 past the backlog budget); the store's inserts are retried, not
 *   dropped, and every acknowledged span is queryable once there is room.
 * - both on one disk.
 *
 * Needs `mount -t tmpfs`, so root (or CAP_SYS_ADMIN); skipped without.
 */

/** Why this machine cannot run these tests, if it cannot. */
const cannotMount = ((): string | undefined => {
  const probe = tempDir('sightline-mount-probe-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe], { stdio: 'pipe' });
    execFileSync('umount', [probe], { stdio: 'pipe' });
    return undefined;
  } catch (e) {
    const stderr = String((e as { stderr?: Buffer }).stderr ?? (e as Error).message).trim();
    return `mount -t tmpfs failed (${stderr}): making a small filesystem needs root or CAP_SYS_ADMIN`;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
})();

/** Mounts a tmpfs of `mib` MiB at `dir` (made if missing); returns the unmount. */
function mountTmpfs(dir: string, mib: number): () => void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mib}m,mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
  return () => umount(dir);
}

function bindMount(from: string, to: string): () => void {
  mkdirSync(from, { recursive: true, mode: 0o700 });
  mkdirSync(to, { recursive: true, mode: 0o700 });
  execFileSync('mount', ['--bind', from, to], { stdio: 'pipe' });
  return () => umount(to);
}

function umount(dir: string): void {
  try {
    execFileSync('umount', [dir], { stdio: 'pipe' });
  } catch {
    // Something still holds a file there: detach it now, it goes when released.
    execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
  }
}

/**
 * Fills the filesystem holding `dir` with a file until writes fail with
 * ENOSPC, then gives back `leaveBytes` (so that a larger write lands in
 * part). Returns the file, to delete when space should return.
 */
let fillers = 0;
function fill(dir: string, leaveBytes = 0): string {
  const file = path.join(dir, `filler-${++fillers}`);
  const fd = openSync(file, 'w');
  try {
    for (const size of [1 << 20, 64 << 10, 4 << 10, 512]) {
      const chunk = Buffer.alloc(size, 0x5a);
      try {
        for (;;) writeSync(fd, chunk);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
      }
    }
    if (leaveBytes > 0) ftruncateSync(fd, Math.max(0, fstatSync(fd).size - leaveBytes));
  } finally {
    closeSync(fd);
  }
  return file;
}

/** Stops Sightline (SIGKILL if it takes longer than a minute, so that its disk can be unmounted); its exit code. */
async function stop(s: Sightline | undefined): Promise<number | null | 'killed'> {
  if (!s) return 0;
  const code = await Promise.race([s.stop(), new Promise<'timeout'>((r) => setTimeout(r, 60_000, 'timeout').unref())]);
  if (code !== 'timeout') return code;
  await s.kill();
  return 'killed';
}

const freeBytes = (dir: string) => {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
};

/** One trace of `n` spans, each padded, as an OTLP/protobuf request. */
function trace(n: number, service: string): { traceId: Buffer; body: Buffer } {
  const traceId = randomBytes(16);
  return { traceId, body: requestBytes(Array.from({ length: n }, () => span({ traceId, attributes: [{ key: 'pad', value: { stringValue: 'p'.repeat(500) } }] })), service) };
}

const status = async (s: Sightline) =>
  ((await (await fetch(`${s.api}/api/sightline/status`)).json()) as { ingest: { diskFullRefusals: number; storeErrors: number; quarantinedSpans: number; backlogBytes: number; acceptedSpans: number; storedSpans: number } }).ingest;

/** How many spans of a trace the query API returns (0 when it is not found). */
async function spansOf(s: Sightline, traceId: Buffer): Promise<number> {
  const r = await fetch(`${s.api}/api/v2/traces/${traceId.toString('hex')}`);
  if (r.status === 404) return 0;
  assert.equal(r.status, 200, `trace by id answered ${r.status}`);
  const j = (await r.json()) as { trace: { resourceSpans: { scopeSpans: { spans: unknown[] }[] }[] } };
  return j.trace.resourceSpans.reduce((n, rs) => n + rs.scopeSpans.reduce((m, ss) => m + ss.spans.length, 0), 0);
}

/** Every acknowledged trace comes back whole. */
async function allQueryable(s: Sightline, acked: { traceId: Buffer; spans: number }[], timeoutMs = 30_000): Promise<void> {
  for (const a of acked) await eventually(async () => ((await spansOf(s, a.traceId)) === a.spans ? true : undefined), timeoutMs, `acknowledged trace ${a.traceId.toString('hex')} to be queryable with ${a.spans} spans`);
}

/** The process answers queries: readiness, search, and the status page. */
async function assertServingQueries(s: Sightline): Promise<void> {
  assert.equal((await fetch(`${s.api}/ready`)).status, 200);
  const search = await fetch(`${s.api}/api/search?tags=${encodeURIComponent('service.name=disk-svc')}&limit=5`);
  assert.equal(search.status, 200, await search.text());
  assert.equal((await fetch(`${s.api}/api/sightline/status`)).status, 200);
}

/** The 503 an OTLP exporter retries: Retry-After, and a google.rpc.Status saying UNAVAILABLE. */
function assertRetryable503(r: { status: number; headers: Headers; body: Buffer }): void {
  assert.equal(r.status, 503, `expected 503, got ${r.status}`);
  assert.equal(r.headers.get('retry-after'), '5');
  const st = decodeToObject(otlp.RpcStatus, r.body);
  assert.equal(st.code, grpc.status.UNAVAILABLE);
  assert.match(st.message, /disk holding the WAL is full/);
}

/** The WAL's segment files and their sizes. */
function segments(walDir: string): Record<string, number> {
  return Object.fromEntries(
    readdirSync(walDir)
      .filter((n) => n.endsWith('.native'))
      .map((n) => [n, statSync(path.join(walDir, n)).size]),
  );
}

describe('disk full', { skip: cannotMount }, () => {
  it("the WAL's disk: 503 / UNAVAILABLE, no torn record, recovery when space returns", async () => {
    const dataDir = tempDir('sightline-diskfull-wal-');
    const walDir = path.join(dataDir, 'wal');
    const unmount = mountTmpfs(walDir, 8);
    let s: Sightline | undefined;
    let exit: number | null | 'killed' = 0;
    const client = { current: undefined as ReturnType<typeof grpcExportClient> | undefined };
    try {
      // A long flush interval keeps the first segment open across the
      // refusal, so that the next acknowledged block lands after the bytes
      // the refused write left, if any were left.
      s = await startSightline({ dataDir, args: ['--flush-interval', '20s'] });
      client.current = grpcExportClient(s.otlpGrpc);
      const acked: { traceId: Buffer; spans: number }[] = [];

      const a = trace(20, 'disk-svc');
      assert.equal((await postOtlp(s.otlpHttp, a.body)).status, 200);
      acked.push({ traceId: a.traceId, spans: 20 });
      const before = segments(walDir);

      // Full, but for a few KiB: a big request's write lands in part, then fails.
      const filler = fill(walDir, 8192);
      assert.ok(freeBytes(walDir) >= 4096 && freeBytes(walDir) < 64 * 1024, `free space ${freeBytes(walDir)}`);
      const big = trace(300, 'disk-svc');
      assertRetryable503(await postOtlp(s.otlpHttp, big.body));
      // Nothing of it was kept: the part that was written is cut off again.
      assert.deepEqual(segments(walDir), before, 'the WAL segments are as they were before the refused request');
      assert.ok(freeBytes(walDir) >= 4096, 'the space the refused write took is free again');

      // Over gRPC: UNAVAILABLE, with RetryInfo.
      const overGrpc = await client.current.exportRaw(trace(300, 'disk-svc').body);
      assert.equal(overGrpc.error?.code, grpc.status.UNAVAILABLE, `gRPC answered ${overGrpc.error?.code ?? 'OK'}`);
      const details = decodeToObject(otlp.RpcStatus, overGrpc.error!.metadata.get('grpc-status-details-bin')[0] as Buffer);
      assert.equal(details.details[0].typeUrl, 'type.googleapis.com/google.rpc.RetryInfo');

      // Completely full now: still 503, and queries are served.
      const rest = fill(walDir);
      assertRetryable503(await postOtlp(s.otlpHttp, trace(5, 'disk-svc').body));
      await assertServingQueries(s);
      const st = await status(s);
      assert.ok(st.diskFullRefusals >= 3, `diskFullRefusals ${st.diskFullRefusals}`);
      assert.equal(s.process.exitCode, null, 'still running');

      // Space returns: ingest recovers by itself, into the same segment.
      unlinkSync(filler);
      unlinkSync(rest);
      const c = trace(20, 'disk-svc');
      assert.equal((await postOtlp(s.otlpHttp, c.body)).status, 200);
      acked.push({ traceId: c.traceId, spans: 20 });
      const grpcOk = await client.current.exportRaw(trace(3, 'disk-svc').body);
      assert.ok(grpcOk.response, `gRPC after recovery: ${grpcOk.error?.message}`);

      // Every acknowledged span is stored (the segment replays whole: no
      // torn block in it), and nothing of the refused requests is.
      await allQueryable(s, acked, 40_000);
      assert.equal(await spansOf(s, big.traceId), 0);
      assert.equal((await status(s)).quarantinedSpans, 0);
      assert.ok(!s.logs.some((l) => l.level === 50 || l.level === 60), 'no error logged');
    } finally {
      client.current?.close();
      exit = await stop(s);
      unmount();
      rmSync(dataDir, { recursive: true, force: true });
    }
    assert.equal(exit, 0, 'a clean shutdown');
  });

  it("the store's disk: the WAL takes what the store cannot, and every acknowledged span is stored once there is room", async () => {
    const dataDir = tempDir('sightline-diskfull-store-');
    const storeDir = path.join(dataDir, 'store');
    const unmount = mountTmpfs(storeDir, 32);
    let s: Sightline | undefined;
    let exit: number | null | 'killed' = 0;
    try {
      s = await startSightline({ dataDir, args: ['--flush-interval', '200ms', '--backlog-budget', '1MiB'] });
      const acked: { traceId: Buffer; spans: number }[] = [];
      const a = trace(20, 'disk-svc');
      assert.equal((await postOtlp(s.otlpHttp, a.body)).status, 200);
      acked.push({ traceId: a.traceId, spans: 20 });
      await allQueryable(s, acked);

      const filler = fill(storeDir);
      const statuses: number[] = [];
      // Until the backlog budget is reached: the WAL holds what the store refuses.
      for (let i = 0; i < 60 && !statuses.includes(429); i++) {
        const t = trace(100, 'disk-svc');
        const r = await postOtlp(s.otlpHttp, t.body);
        statuses.push(r.status);
        if (r.status === 200) acked.push({ traceId: t.traceId, spans: 100 });
        if (r.status === 429) assert.equal(r.headers.get('retry-after'), '2');
      }
      assert.ok(statuses.every((c) => c === 200 || c === 429), `statuses ${statuses.join(',')}`);
      assert.ok(statuses.filter((c) => c === 200).length >= 2, 'the WAL took spans while the store was full');
      assert.ok(statuses.includes(429), 'past the backlog budget, 429');
      // The budget can fill before the first refused insert has come back.
      const st = await eventually(async () => {
        const now = await status(s!);
        return now.storeErrors > 0 ? now : undefined;
      }, 30_000, 'the store to refuse an insert');
      assert.ok(st.backlogBytes > 0, 'and the WAL holds them');
      await assertServingQueries(s);
      assert.equal(await spansOf(s, a.traceId), 20, 'stored spans are read from the full disk');

      unlinkSync(filler);
      await allQueryable(s, acked, 60_000);
      await eventually(async () => ((await status(s!)).backlogBytes === 0 ? true : undefined), 30_000, 'the WAL to be empty');
      const done = await status(s);
      assert.equal(done.quarantinedSpans, 0, 'no segment was given up on');
      assert.equal(done.storedSpans, done.acceptedSpans);
      assert.equal((await postOtlp(s.otlpHttp, trace(5, 'disk-svc').body)).status, 200);
    } finally {
      exit = await stop(s);
      unmount();
      rmSync(dataDir, { recursive: true, force: true });
    }
    assert.equal(exit, 0, 'a clean shutdown');
  });

  it('the WAL and the store on one disk: 503 while full, then everything acknowledged is stored', async () => {
    const dataDir = tempDir('sightline-diskfull-both-');
    const disk = tempDir('sightline-diskfull-disk-');
    const unmounts: (() => void)[] = [];
    let s: Sightline | undefined;
    let exit: number | null | 'killed' = 0;
    try {
      unmounts.push(mountTmpfs(disk, 32));
      unmounts.push(bindMount(path.join(disk, 'wal'), path.join(dataDir, 'wal')));
      unmounts.push(bindMount(path.join(disk, 'store'), path.join(dataDir, 'store')));
      s = await startSightline({ dataDir, args: ['--flush-interval', '200ms'] });
      const acked: { traceId: Buffer; spans: number }[] = [];
      const a = trace(20, 'disk-svc');
      assert.equal((await postOtlp(s.otlpHttp, a.body)).status, 200);
      acked.push({ traceId: a.traceId, spans: 20 });
      await allQueryable(s, acked);

      const filler = fill(disk);
      for (let i = 0; i < 5; i++) assertRetryable503(await postOtlp(s.otlpHttp, trace(100, 'disk-svc').body));
      await assertServingQueries(s);
      assert.equal(await spansOf(s, a.traceId), 20);

      unlinkSync(filler);
      for (let i = 0; i < 5; i++) {
        const t = trace(100, 'disk-svc');
        assert.equal((await postOtlp(s.otlpHttp, t.body)).status, 200);
        acked.push({ traceId: t.traceId, spans: 100 });
      }
      await allQueryable(s, acked);
      const st = await status(s);
      assert.equal(st.quarantinedSpans, 0);
      assert.ok(st.diskFullRefusals >= 5);
    } finally {
      exit = await stop(s);
      // Binds first, then the disk under them.
      for (const u of unmounts.reverse()) u();
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(disk, { recursive: true, force: true });
    }
    assert.equal(exit, 0, 'a clean shutdown');
  });
});
