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
  return { selfTimeNs, onPathNs, segmentsBySpan, segments, shiftNs, skew, orphans, unknownSpanIds: [...unknown], totalOnPathNs };
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
