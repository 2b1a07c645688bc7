/**
 * The critical path of one trace: the chain of work that decided its
 * duration. Walking back from the root's end, at each moment the path is in
 * the child that finished last before that moment; time when no child is
 * running is the span's own (self) time on the path. This is the usual
 * definition (Jaeger's critical path, Uber's CRISP), with the real-world
 * repairs a trace needs first:
 *
 * - Clock skew. A child in another service (another host clock) that does
 *   not fit inside its parent, but is no longer than it, is shifted to sit
 *   centred in the parent, with its same-service descendants (Jaeger's skew
 *   adjuster does the same). Every shift is reported.
 * - Async children that outlive their parent (fire-and-forget, messaging)
 *   are clamped into the parent for the path: work the parent did not wait
 *   for cannot have made it slower.
 * - Orphans (parent not in the trace) and extra roots hang under the root:
 *   their real parent is somewhere below it, and leaving them out would
 *   count their time as the root's own.
 *
 * Times are nanosecond offsets from the trace's earliest start, as doubles:
 * exact up to 104 days, and several times faster than bigint arithmetic for
 * the aggregated critical path over thousands of traces.
 */

export interface PathSpan {
  spanId: string;
  /** '' for a root. */
  parentId: string;
  service: string;
  name: string;
  /** Offset from the trace's start, in ns. */
  start: number;
  end: number;
}

export interface PathSegment {
  /** Index into the spans given. */
  span: number;
  start: number;
  end: number;
}

export interface SkewShift {
  span: number;
  parent: number;
  /** Added to the span's (and its same-service descendants') times. */
  shiftNs: number;
}

export interface CriticalPath {
  root: number;
  /** In time order; consecutive segments of one span are merged. */
  segments: PathSegment[];
  /** Per span: duration minus the time any child (clamped into it) was running. */
  selfTimeNs: Float64Array;
  /** Per span: its time on the critical path. */
  onPathNs: Float64Array;
  /** Start and end after skew correction. */
  start: Float64Array;
  end: Float64Array;
  skew: SkewShift[];
  /** Spans whose parent is not in the trace. */
  orphans: number[];
}

export function criticalPath(spans: readonly PathSpan[]): CriticalPath {
  const n = spans.length;
  const start = Float64Array.from(spans, (s) => s.start);
  const end = Float64Array.from(spans, (s) => Math.max(s.start, s.end));
  const empty: CriticalPath = { root: -1, segments: [], selfTimeNs: new Float64Array(n), onPathNs: new Float64Array(n), start, end, skew: [], orphans: [] };
  if (n === 0) return empty;

  const { root, children, orphans } = buildTree(spans);
  const skew = correctSkew(spans, root, children, start, end);

  // Children by end, latest first: the walk below takes them in that order.
  for (const kids of children) if (kids.length > 1) kids.sort((a, b) => end[b] - end[a] || start[a] - start[b]);

  const selfTimeNs = new Float64Array(n);
  for (let i = 0; i < n; i++) selfTimeNs[i] = selfTime(i, children[i], start, end);

  const reversed = walk(root, children, start, end);
  const segments: PathSegment[] = [];
  for (let i = reversed.length - 1; i >= 0; i--) {
    const s = reversed[i];
    const last = segments[segments.length - 1];
    if (last && last.span === s.span && last.end === s.start) last.end = s.end;
    else segments.push({ ...s });
  }
  const onPathNs = new Float64Array(n);
  for (const s of segments) onPathNs[s.span] += s.end - s.start;
  return { root, segments, selfTimeNs, onPathNs, start, end, skew, orphans };
}

function buildTree(spans: readonly PathSpan[]): { root: number; children: number[][]; orphans: number[] } {
  const n = spans.length;
  const index = new Map<string, number>();
  for (let i = 0; i < n; i++) if (!index.has(spans[i].spanId)) index.set(spans[i].spanId, i);
  const parent = new Int32Array(n).fill(-1);
  const orphans: number[] = [];
  for (let i = 0; i < n; i++) {
    const pid = spans[i].parentId;
    if (pid === '') continue;
    const p = index.get(pid);
    if (p === undefined || p === i) orphans.push(i);
    else parent[i] = p;
  }
  // The root: the longest true root, else the longest span of all.
  let root = -1;
  const longer = (a: number, b: number) => b < 0 || spans[a].end - spans[a].start > spans[b].end - spans[b].start || (spans[a].end - spans[a].start === spans[b].end - spans[b].start && spans[a].start < spans[b].start);
  for (let i = 0; i < n; i++) if (spans[i].parentId === '' && longer(i, root)) root = i;
  if (root < 0) for (let i = 0; i < n; i++) if (parent[i] < 0 && longer(i, root)) root = i;
  if (root < 0) root = 0; // every span has a parent in the trace: a cycle

  const children: number[][] = Array.from({ length: n }, () => []);
  for (let i = 0; i < n; i++) if (parent[i] >= 0) children[parent[i]].push(i);
  // Whatever the root does not reach (other roots, orphans, cycles) hangs under it.
  const reached = new Uint8Array(n);
  const stack = [root];
  reached[root] = 1;
  while (stack.length > 0) for (const c of children[stack.pop()!]) if (!reached[c]) (reached[c] = 1), stack.push(c);
  for (let i = 0; i < n; i++) {
    if (reached[i] || (parent[i] >= 0 && !isTop(i, parent, reached))) continue;
    // i is the top of an unreached subtree (or sits on a cycle): cut it from its parent and attach it to the root.
    if (parent[i] >= 0) children[parent[i]] = children[parent[i]].filter((c) => c !== i);
    children[root].push(i);
    const s = [i];
    reached[i] = 1;
    while (s.length > 0) for (const c of children[s.pop()!]) if (!reached[c]) (reached[c] = 1), s.push(c);
  }
  return { root, children, orphans };
}

/** True when i starts an unreached subtree: no parent, or its ancestors loop without reaching the root. */
function isTop(i: number, parent: Int32Array, reached: Uint8Array): boolean {
  const seen = new Set<number>([i]);
  for (let p = parent[i]; p >= 0; p = parent[p]) {
    if (reached[p]) return false;
    if (seen.has(p)) return true; // a cycle: cut it at i
    seen.add(p);
  }
  return false;
}

function correctSkew(spans: readonly PathSpan[], root: number, children: number[][], start: Float64Array, end: Float64Array): SkewShift[] {
  const skew: SkewShift[] = [];
  // Top-down, so a parent is corrected before its children are judged against it.
  const queue: [number, number][] = [[root, 0]];
  for (let q = 0; q < queue.length; q++) {
    const [p, inherited] = queue[q];
    for (const c of children[p]) {
      // A same-service child shares the parent's clock and moves with it.
      let shift = spans[c].service === spans[p].service ? inherited : 0;
      start[c] += shift;
      end[c] += shift;
      const dur = end[c] - start[c];
      const fits = start[c] >= start[p] && end[c] <= end[p];
      if (!fits && spans[c].service !== spans[p].service && dur <= end[p] - start[p]) {
        const extra = start[p] + (end[p] - start[p] - dur) / 2 - start[c];
        start[c] += extra;
        end[c] += extra;
        shift += extra;
        skew.push({ span: c, parent: p, shiftNs: extra });
      }
      queue.push([c, shift]);
    }
  }
  return skew;
}

function selfTime(i: number, kids: number[], start: Float64Array, end: Float64Array): number {
  const lo = start[i];
  const hi = end[i];
  if (kids.length === 0) return hi - lo;
  const iv: [number, number][] = [];
  for (const c of kids) {
    const a = Math.max(start[c], lo);
    const b = Math.min(end[c], hi);
    if (b > a) iv.push([a, b]);
  }
  iv.sort((x, y) => x[0] - y[0]);
  let covered = 0;
  let curA = -Infinity;
  let curB = -Infinity;
  for (const [a, b] of iv) {
    if (a > curB) {
      if (curB > curA) covered += curB - curA;
      curA = a;
      curB = b;
    } else if (b > curB) curB = b;
  }
  if (curB > curA) covered += curB - curA;
  return hi - lo - covered;
}

/** The path, latest segment first. Iterative: real traces nest thousands deep. */
function walk(root: number, children: number[][], start: Float64Array, end: Float64Array): PathSegment[] {
  const out: PathSegment[] = [];
  type Frame = { span: number; lo: number; k: number; t: number };
  const stack: Frame[] = [{ span: root, lo: start[root], k: 0, t: end[root] }];
  while (stack.length > 0) {
    const f = stack[stack.length - 1];
    const kids = children[f.span];
    let picked = -1;
    while (f.k < kids.length) {
      const c = kids[f.k++];
      // The child running last before t; one that starts at or after t is hidden behind work already on the path.
      if (start[c] < f.t && end[c] > f.lo && Math.min(end[c], f.t) > Math.max(start[c], f.lo)) {
        picked = c;
        break;
      }
    }
    if (picked < 0) {
      if (f.t > f.lo) out.push({ span: f.span, start: f.lo, end: f.t });
      stack.pop();
      continue;
    }
    const cEnd = Math.min(end[picked], f.t);
    const cStart = Math.max(start[picked], f.lo);
    if (cEnd < f.t) out.push({ span: f.span, start: cEnd, end: f.t });
    f.t = cStart;
    stack.push({ span: picked, lo: cStart, k: 0, t: cEnd });
  }
  return out;
}
