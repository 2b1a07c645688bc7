import type { TraceModel } from './trace.js';

/**
 * GET /api/sightline/traces/{id}/critical-path, as the server sends it
 * (src/diagnosis/trace-path.ts). Span ids are hex; absolute times are Unix
 * ns as decimal strings (beyond 2^53); durations are ns as numbers.
 * `rootSpanId`, `startNs` and `durationNs` may be missing on older servers.
 */
export interface CriticalPathJson {
  traceId: string;
  rootSpanId?: string;
  startNs?: string;
  durationNs?: number;
  segments: { spanId: string; service: string; name: string; start: string; end: string; selfTimeOnPathNs: number }[];
  spans: { spanId: string; selfTimeNs: number; onPathNs: number }[];
  skew: { spanId: string; parentSpanId: string; shiftNs: number }[];
  orphans: string[];
}

/** One stretch of the critical path, in the server's skew-corrected time, as offsets from the trace start. */
export interface PathSegment {
  span: number;
  start: number;
  end: number;
}

export interface SkewWarning {
  span: number;
  parent: number;
  /** What the server added to the span's times to fit it into its parent. */
  shiftNs: number;
}

/** The critical path mapped onto a TraceModel's span indices. */
export interface CriticalPathView {
  /** Per span: its self time (duration not covered by children), NaN where the server did not say. */
  selfTimeNs: Float64Array;
  /** Per span: its time on the critical path. */
  onPathNs: Float64Array;
  /** Per span: the segments it has on the path, in the corrected timeline. */
  segmentsBySpan: Map<number, PathSegment[]>;
  /** The whole path in time order. */
  segments: PathSegment[];
  /** Per span: the total skew shift applied to it (its own plus what same-service ancestors passed down). */
  shiftNs: Float64Array;
  /** Per span: the shift the server applied to it itself (what correctedTimeline takes). */
  ownShiftNs: Float64Array;
  skew: SkewWarning[];
  /** Spans the server found without their parent. */
  orphans: number[];
  /** Ids in the answer that are not in the trace (it changed between the two requests). */
  unknownSpanIds: string[];
  totalOnPathNs: number;
}

/**
 * Checks the shape of an answer from the critical-path endpoint, so a
 * different server version shows a clear message instead of a broken view.
 */
export function parseCriticalPath(json: unknown): CriticalPathJson {
  const o = json as Partial<CriticalPathJson> | null;
  const fail = (what: string): never => {
    throw new Error(`unexpected critical-path answer: ${what}`);
  };
  if (!o || typeof o !== 'object') fail('not an object');
  if (!Array.isArray(o!.segments)) fail('no segments');
  if (!Array.isArray(o!.spans)) fail('no spans');
  for (const s of o!.segments!) {
    if (typeof s.spanId !== 'string' || !/^\d+$/.test(String(s.start)) || !/^\d+$/.test(String(s.end))) fail('a segment without spanId, start or end');
  }
  return { traceId: String(o!.traceId ?? ''), ...o, skew: o!.skew ?? [], orphans: o!.orphans ?? [] } as CriticalPathJson;
}

/**
 * Maps the answer onto the model. Segment times are absolute; they become
 * offsets from the model's start (the same earliest start the server uses).
 * Skew shifts are per span and pass down to same-service descendants, as
 * the server applies them; `shiftNs` holds each span's total, so the
 * waterfall can draw bars in the corrected timeline the path lives in.
 */
export function mapCriticalPath(model: TraceModel, cp: CriticalPathJson): CriticalPathView {
  const n = model.spans.length;
  const unknown = new Set<string>();
  const indexOf = (id: string): number => {
    const i = model.byId.get(id.toLowerCase());
    if (i === undefined) unknown.add(id);
    return i ?? -1;
  };
  const selfTimeNs = new Float64Array(n).fill(NaN);
  const onPathNs = new Float64Array(n);
  for (const s of cp.spans) {
    const i = indexOf(s.spanId);
    if (i < 0) continue;
    selfTimeNs[i] = s.selfTimeNs;
    onPathNs[i] = s.onPathNs;
  }
  const base = model.startNs;
  const segments: PathSegment[] = [];
  const segmentsBySpan = new Map<number, PathSegment[]>();
  for (const seg of cp.segments) {
    const i = indexOf(seg.spanId);
    if (i < 0) continue;
    const p: PathSegment = { span: i, start: Number(BigInt(seg.start) - base), end: Number(BigInt(seg.end) - base) };
    segments.push(p);
    const list = segmentsBySpan.get(i);
    if (list) list.push(p);
    else segmentsBySpan.set(i, [p]);
  }
  let totalOnPathNs = 0;
  for (const s of segments) totalOnPathNs += s.end - s.start;

  const own = new Float64Array(n);
  const skew: SkewWarning[] = [];
  for (const k of cp.skew) {
    const i = indexOf(k.spanId);
    if (i < 0) continue;
    own[i] += k.shiftNs;
    skew.push({ span: i, parent: model.byId.get(k.parentSpanId.toLowerCase()) ?? -1, shiftNs: k.shiftNs });
  }
  // Depth-first order puts parents first, so one pass accumulates the shifts.
  const shiftNs = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const p = model.spans[i].parent;
    const inherited = p >= 0 && model.spans[p].service === model.spans[i].service ? shiftNs[p] : 0;
    shiftNs[i] = inherited + own[i];
  }
  const orphans: number[] = [];
  for (const id of cp.orphans) {
    const i = indexOf(id);
    if (i >= 0) orphans.push(i);
  }
  return { selfTimeNs, onPathNs, segmentsBySpan, segments, shiftNs, ownShiftNs: own, skew, orphans, unknownSpanIds: [...unknown], totalOnPathNs };
}

/** Spans on the path, in the order the path first reaches them (for "next on path" navigation). */
export function pathSpans(view: CriticalPathView): number[] {
  const seen = new Set<number>();
  const out: number[] = [];
  for (const s of view.segments) if (!seen.has(s.span)) seen.add(s.span), out.push(s.span);
  return out;
}

/**
 * Where a span's path segments fall inside its own bar, as fractions of its
 * duration: [from, to] pairs. The segments are in the corrected timeline,
 * so the span's corrected start is subtracted whatever mode the bars use.
 */
export function segmentFractions(view: CriticalPathView, model: TraceModel, span: number): [number, number][] {
  const list = view.segmentsBySpan.get(span);
  if (!list) return [];
  const s = model.spans[span];
  const start = s.start + view.shiftNs[span];
  const d = s.durationNs;
  if (d <= 0) return [[0, 1]];
  const clamp = (x: number) => Math.min(1, Math.max(0, x));
  return list.map((seg) => [clamp((seg.start - start) / d), clamp((seg.end - start) / d)]);
}

/**
 * Fractions of a span's duration (from segmentFractions) as fractions of
 * its bar as drawn, which is shorter where the bar was cut at its parent's
 * end (Timeline.drawnNs); what falls past the cut is dropped.
 */
export function drawnFractions(fractions: [number, number][], durationNs: number, drawnNs: number): [number, number][] {
  if (!(drawnNs < durationNs) || durationNs <= 0) return fractions;
  if (drawnNs <= 0) return [];
  const k = durationNs / drawnNs;
  const out: [number, number][] = [];
  for (const [a, b] of fractions) if (a * k < 1) out.push([a * k, Math.min(1, b * k)]);
  return out;
}

/**
 * What a row shows of the critical path:
 * - `critical`: on the path, and its operation (service and span name)
 *   holds at least {@link CRITICAL_SHARE} of the path's time in its spans'
 *   own time (not their children's): making it faster would make the trace
 *   noticeably faster. Counting by operation keeps a step repeated many
 *   times (twenty N+1 queries, ten thousand upserts) marked, though each
 *   alone is small. Marked.
 * - `through`: on the path, but its operation holds less than that itself,
 *   such as a server span whose handler does the work. Neither marked nor
 *   dimmed.
 * - `off`: not on the path. Dimmed. This includes a child that was on the
 *   path only for the moment before a sibling started, and kept running
 *   alongside it for longer than that: the path's time-walk credits it
 *   with that moment, but its parent was not waiting for it to end.
 */
export type PathRole = 'critical' | 'through' | 'off';

/** The share of the path a span's operation must hold for its spans on the path to be marked critical. */
export const CRITICAL_SHARE = 0.01;

const ROLES: PathRole[] = ['off', 'through', 'critical'];

/**
 * Every span's role on the path, O(spans + segments). Times are in the
 * server's corrected timeline (the one the segments are in).
 */
export function pathRoles(model: TraceModel, view: CriticalPathView, minShare = CRITICAL_SHARE): PathRole[] {
  const n = model.spans.length;
  const spans = model.spans;
  // Latest path time inside each subtree, and the path time the subtree holds.
  const pathEnd = new Float64Array(n).fill(-Infinity);
  const held = Float64Array.from(view.onPathNs);
  for (const seg of view.segments) if (seg.end > pathEnd[seg.span]) pathEnd[seg.span] = seg.end;
  // Depth-first order: every child comes after its parent, so one backward pass sums subtrees.
  for (let i = n - 1; i > 0; i--) {
    const p = spans[i].parent;
    if (p < 0) continue;
    held[p] += held[i];
    if (pathEnd[i] > pathEnd[p]) pathEnd[p] = pathEnd[i];
  }
  const end = new Float64Array(n);
  const waited = new Uint8Array(n);
  const EPS = 1_000; // ns: segment times are rounded on the server
  for (let i = 0; i < n; i++) {
    const s = spans[i];
    const p = s.parent;
    // The path is walked inside the parent's window; a child that runs on past it is cut there.
    const own = s.start + view.shiftNs[i] + s.durationNs;
    end[i] = p >= 0 ? Math.min(own, end[p]) : own;
    const stillRunning = end[i] - pathEnd[i];
    waited[i] = (p < 0 || waited[p]) && held[i] > 0 && stillRunning <= held[i] + EPS ? 1 : 0;
  }
  const total = view.totalOnPathNs;
  const byOperation = new Map<string, number>();
  const key = (i: number) => `${spans[i].service}\u0000${spans[i].name}`;
  for (let i = 0; i < n; i++) if (waited[i] && view.onPathNs[i] > 0) byOperation.set(key(i), (byOperation.get(key(i)) ?? 0) + view.onPathNs[i]);
  const role = new Uint8Array(n);
  for (let i = 0; i < n; i++) if (waited[i] && view.onPathNs[i] > 0 && byOperation.get(key(i))! >= minShare * total) role[i] = 2;
  for (let i = n - 1; i >= 0; i--) {
    if (role[i] === 0 && waited[i]) role[i] = 1;
    const p = spans[i].parent;
    if (p >= 0 && role[i] > 0 && role[p] === 0) role[p] = 1;
  }
  return Array.from(role, (r) => ROLES[r]);
}

/** One operation's part of the critical path. */
export interface PathContributor {
  service: string;
  name: string;
  /** Time its spans hold on the path themselves, ns. */
  onPathNs: number;
  /** Of the path's whole time. */
  share: number;
  /** Its spans on the path, the one holding most first. */
  spans: number[];
}

/**
 * Where the critical path's time goes, by operation (service and span name,
 * so twenty N+1 queries add up to one line), most first. Spans off the path
 * (see pathRoles) are left out.
 */
export function pathContributors(model: TraceModel, view: CriticalPathView, roles: readonly PathRole[], limit = 5): { top: PathContributor[]; rest: { onPathNs: number; share: number; operations: number } } {
  const groups = new Map<string, PathContributor>();
  for (let i = 0; i < model.spans.length; i++) {
    const ns = view.onPathNs[i];
    if (!(ns > 0) || roles[i] === 'off') continue;
    const s = model.spans[i];
    const key = `${s.service}\u0000${s.name}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { service: s.service, name: s.name, onPathNs: 0, share: 0, spans: [] }));
    g.onPathNs += ns;
    g.spans.push(i);
  }
  const total = view.totalOnPathNs;
  const all = [...groups.values()];
  for (const g of all) {
    g.share = total > 0 ? g.onPathNs / total : 0;
    g.spans.sort((a, b) => view.onPathNs[b] - view.onPathNs[a] || a - b);
  }
  all.sort((a, b) => b.onPathNs - a.onPathNs || (a.service < b.service ? -1 : a.service > b.service ? 1 : a.name < b.name ? -1 : 1));
  const top = all.slice(0, limit);
  const restNs = all.slice(limit).reduce((a, g) => a + g.onPathNs, 0);
  return { top, rest: { onPathNs: restNs, share: total > 0 ? restNs / total : 0, operations: Math.max(0, all.length - limit) } };
}
