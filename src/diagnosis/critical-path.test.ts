import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { criticalPath, type PathSpan } from './critical-path.js';

const span = (spanId: string, parentId: string, start: number, end: number, service = 'svc', name = spanId): PathSpan => ({ spanId, parentId, service, name, start, end });

/** The path as "span:start-end" strings, for readable assertions. */
function pathOf(spans: PathSpan[]): string[] {
  const cp = criticalPath(spans);
  return cp.segments.map((s) => `${spans[s.span].spanId}:${s.start}-${s.end}`);
}

describe('critical path', () => {
  it('walks sequential children and counts the gaps as the parent\u2019s own time', () => {
    const spans = [span('root', '', 0, 100), span('a', 'root', 10, 40), span('b', 'root', 50, 90)];
    assert.deepEqual(pathOf(spans), ['root:0-10', 'a:10-40', 'root:40-50', 'b:50-90', 'root:90-100']);
    const cp = criticalPath(spans);
    assert.deepEqual([...cp.onPathNs], [30, 30, 40]);
    assert.deepEqual([...cp.selfTimeNs], [30, 30, 40]);
  });

  it('follows the sibling that finished last when siblings overlap', () => {
    // a and b run in parallel; b ends later, so the path is in b until it starts, then in a.
    const spans = [span('root', '', 0, 100), span('a', 'root', 10, 60), span('b', 'root', 30, 80)];
    assert.deepEqual(pathOf(spans), ['root:0-10', 'a:10-30', 'b:30-80', 'root:80-100']);
    // Self time counts the union of children: 10 + 20.
    assert.equal(criticalPath(spans).selfTimeNs[0], 30);
  });

  it('skips a short child hidden entirely behind a longer sibling', () => {
    const spans = [span('root', '', 0, 100), span('long', 'root', 10, 90), span('short', 'root', 20, 30)];
    assert.deepEqual(pathOf(spans), ['root:0-10', 'long:10-90', 'root:90-100']);
  });

  it('descends through nested children', () => {
    const spans = [span('root', '', 0, 100), span('a', 'root', 10, 90), span('a1', 'a', 20, 50), span('a2', 'a', 50, 85)];
    assert.deepEqual(pathOf(spans), ['root:0-10', 'a:10-20', 'a1:20-50', 'a2:50-85', 'a:85-90', 'root:90-100']);
  });

  it('clamps an async child that outlives its parent, same service (no skew)', () => {
    const spans = [span('root', '', 0, 100), span('async', 'root', 60, 400)];
    const cp = criticalPath(spans);
    assert.deepEqual(pathOf(spans), ['root:0-60', 'async:60-100']);
    assert.equal(cp.skew.length, 0);
    assert.equal(cp.selfTimeNs[1], 340, 'its own self time is its whole duration');
  });

  it('shifts a remote child that does not fit its parent because of clock skew, with its same-service descendants', () => {
    // The server span (other host) is 30 long, its client parent 50, but its clock is 200 ahead.
    const spans = [
      span('root', '', 0, 100, 'gateway'),
      span('client', 'root', 20, 70, 'gateway'),
      span('server', 'client', 220, 250, 'billing'),
      span('db', 'server', 225, 245, 'billing'),
    ];
    const cp = criticalPath(spans);
    assert.deepEqual(cp.skew, [{ span: 2, parent: 1, shiftNs: -190 }]);
    assert.deepEqual([cp.start[2], cp.end[2], cp.start[3], cp.end[3]], [30, 60, 35, 55]);
    assert.deepEqual(pathOf(spans), ['root:0-20', 'client:20-30', 'server:30-35', 'db:35-55', 'server:55-60', 'client:60-70', 'root:70-100']);
  });

  it('does not shift a remote child longer than its parent: that is async work, not skew', () => {
    const spans = [span('root', '', 0, 100, 'a'), span('consumer', 'root', 50, 300, 'b')];
    assert.equal(criticalPath(spans).skew.length, 0);
  });

  it('hangs orphans under the root and reports them', () => {
    const spans = [span('root', '', 0, 100), span('orphan', 'missing', 40, 90), span('child', 'orphan', 50, 80)];
    const cp = criticalPath(spans);
    assert.deepEqual(cp.orphans, [1]);
    assert.deepEqual(pathOf(spans), ['root:0-40', 'orphan:40-50', 'child:50-80', 'orphan:80-90', 'root:90-100']);
  });

  it('picks the longest span as root when the root is missing', () => {
    const spans = [span('x', 'gone', 10, 20), span('y', 'gone', 0, 100), span('z', 'y', 30, 60)];
    const cp = criticalPath(spans);
    assert.equal(cp.root, 1);
    assert.deepEqual(cp.orphans, [0, 1]);
    assert.deepEqual(pathOf(spans), ['y:0-10', 'x:10-20', 'y:20-30', 'z:30-60', 'y:60-100']);
  });

  it('survives a parent cycle', () => {
    const spans = [span('root', '', 0, 100), span('a', 'b', 10, 20), span('b', 'a', 30, 40)];
    const cp = criticalPath(spans);
    const total = cp.segments.reduce((s, x) => s + x.end - x.start, 0);
    assert.equal(total, 100, 'the path covers the root exactly once');
  });

  it('handles a 20,000-deep chain without recursion', () => {
    const spans: PathSpan[] = [span('s0', '', 0, 40_000)];
    for (let i = 1; i < 20_000; i++) spans.push(span(`s${i}`, `s${i - 1}`, i, 40_000 - i));
    const cp = criticalPath(spans);
    assert.equal(cp.segments.length, 2 * 20_000 - 1);
    assert.equal(cp.segments.reduce((s, x) => s + x.end - x.start, 0), 40_000);
  });

  it('always covers the root interval exactly once, on random traces', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let t = 0; t < 200; t++) {
      const spans: PathSpan[] = [span('0', '', 0, 1000)];
      for (let i = 1; i < 40; i++) {
        const p = Math.floor(rnd() * i);
        const a = spans[p].start + rnd() * (spans[p].end - spans[p].start);
        spans.push(span(String(i), String(p), a, a + rnd() * 400, rnd() < 0.3 ? 'other' : 'svc'));
      }
      const cp = criticalPath(spans);
      let at = cp.start[cp.root];
      for (const s of cp.segments) {
        assert.ok(Math.abs(s.start - at) < 1e-6, `contiguous at ${at}`);
        assert.ok(s.end > s.start);
        at = s.end;
      }
      assert.ok(Math.abs(at - cp.end[cp.root]) < 1e-6);
      for (let i = 0; i < spans.length; i++) assert.ok(cp.onPathNs[i] <= cp.end[i] - cp.start[i] + 1e-6);
    }
  });
});
