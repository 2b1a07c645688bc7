import { attributes, base64ToHex, int64, spanKind, statusCode, type Attribute, type TraceByIdJson } from './otlp.js';

/**
 * One trace, turned once into what the waterfall needs. Everything that
 * depends only on the trace (tree order, depth, subtree extents, offsets)
 * is computed here, so scrolling and collapsing never walk all spans.
 */

export interface SpanEvent {
  /** Offset from the span's start, ns. */
  offsetNs: number;
  name: string;
  attributes: Attribute[];
  droppedAttributes: number;
}

export interface SpanLink {
  traceId: string;
  spanId: string;
  traceState: string;
  attributes: Attribute[];
}

export interface SpanNode {
  /** Position in `TraceModel.spans` (depth-first, children by start time). */
  index: number;
  spanId: string;
  /** '' for a root. */
  parentSpanId: string;
  /** Index of the parent in the trace, -1 for roots and orphans. */
  parent: number;
  /** The parent is named but not in the trace (not received yet, or lost). */
  orphan: boolean;
  depth: number;
  /** Index one past the last descendant: descendants are `index+1 .. subtreeEnd-1`. */
  subtreeEnd: number;
  childCount: number;
  name: string;
  service: string;
  /** Position of `service` in `TraceModel.services`, for colours. */
  serviceIndex: number;
  kind: ReturnType<typeof spanKind>;
  status: ReturnType<typeof statusCode>;
  statusMessage: string;
  /** Absolute start, Unix ns. */
  startNs: bigint;
  /** Offset of the start from the trace's start, ns (as recorded, before any skew correction). */
  start: number;
  durationNs: number;
  attributes: Attribute[];
  resource: Attribute[];
  scope: { name: string; version: string; attributes: Attribute[] };
  events: SpanEvent[];
  links: SpanLink[];
  traceState: string;
  dropped: { attributes: number; events: number; links: number };
}

export interface TraceModel {
  traceId: string;
  /** Depth-first order; the rows of a fully expanded waterfall. */
  spans: SpanNode[];
  byId: Map<string, number>;
  /** Earliest start, Unix ns. */
  startNs: bigint;
  /** Latest end minus earliest start, ns. */
  durationNs: number;
  /** Services in order of first appearance in the tree. */
  services: string[];
  roots: number[];
  errorCount: number;
  maxDepth: number;
  /** The root span (no parent id) that starts first, else the first row. */
  rootIndex: number;
}

/**
 * Builds the model from GET /api/v2/traces/{id}. Handles what real traces
 * contain: several roots, spans whose parent never arrived (shown as extra
 * roots, marked orphan), duplicate span ids (the first wins), parent cycles
 * (broken where found), and spans nested thousands deep (no recursion).
 */
export function buildTrace(payload: TraceByIdJson, traceIdHint = ''): TraceModel {
  interface Raw extends Omit<SpanNode, 'index' | 'parent' | 'orphan' | 'depth' | 'subtreeEnd' | 'childCount' | 'serviceIndex' | 'start' | 'events'> {
    endNs: bigint;
    rawEvents: { timeNs: bigint; name: string; attributes: Attribute[]; droppedAttributes: number }[];
  }
  const raw: Raw[] = [];
  let traceId = traceIdHint;
  for (const rs of payload.trace?.resourceSpans ?? []) {
    const resource = attributes(rs.resource?.attributes);
    const service = resource.find((a) => a.key === 'service.name')?.text || 'unknown service';
    for (const ss of rs.scopeSpans ?? []) {
      const scope = { name: ss.scope?.name ?? '', version: ss.scope?.version ?? '', attributes: attributes(ss.scope?.attributes) };
      for (const s of ss.spans ?? []) {
        const startNs = int64(s.startTimeUnixNano);
        let endNs = int64(s.endTimeUnixNano);
        if (endNs < startNs) endNs = startNs;
        if (!traceId) traceId = base64ToHex(s.traceId);
        raw.push({
          spanId: base64ToHex(s.spanId),
          parentSpanId: base64ToHex(s.parentSpanId),
          name: s.name ?? '',
          service,
          kind: spanKind(s.kind),
          status: statusCode(s.status?.code),
          statusMessage: s.status?.message ?? '',
          startNs,
          endNs,
          durationNs: Number(endNs - startNs),
          attributes: attributes(s.attributes),
          resource,
          scope,
          rawEvents: (s.events ?? []).map((e) => ({
            timeNs: int64(e.timeUnixNano),
            name: e.name ?? '',
            attributes: attributes(e.attributes),
            droppedAttributes: e.droppedAttributesCount ?? 0,
          })),
          links: (s.links ?? []).map((l) => ({
            traceId: base64ToHex(l.traceId),
            spanId: base64ToHex(l.spanId),
            traceState: l.traceState ?? '',
            attributes: attributes(l.attributes),
          })),
          traceState: s.traceState ?? '',
          dropped: { attributes: s.droppedAttributesCount ?? 0, events: s.droppedEventsCount ?? 0, links: s.droppedLinksCount ?? 0 },
        });
      }
    }
  }

  const n = raw.length;
  let traceStart = n > 0 ? raw[0].startNs : 0n;
  let traceEnd = n > 0 ? raw[0].endNs : 0n;
  for (const r of raw) {
    if (r.startNs < traceStart) traceStart = r.startNs;
    if (r.endNs > traceEnd) traceEnd = r.endNs;
  }

  // Parent links by id; the first span with an id owns it.
  const firstById = new Map<string, number>();
  for (let i = 0; i < n; i++) if (raw[i].spanId && !firstById.has(raw[i].spanId)) firstById.set(raw[i].spanId, i);
  const parentOf = new Int32Array(n).fill(-1);
  const orphan = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const pid = raw[i].parentSpanId;
    if (!pid) continue;
    const p = firstById.get(pid);
    if (p === undefined || p === i) orphan[i] = 1;
    else parentOf[i] = p;
  }
  const children: number[][] = Array.from({ length: n }, () => []);
  for (let i = 0; i < n; i++) if (parentOf[i] >= 0) children[parentOf[i]].push(i);
  const byStart = (a: number, b: number) =>
    raw[a].startNs < raw[b].startNs ? -1 : raw[a].startNs > raw[b].startNs ? 1 : raw[a].name < raw[b].name ? -1 : raw[a].name > raw[b].name ? 1 : a - b;
  for (const c of children) if (c.length > 1) c.sort(byStart);

  // Depth-first from the roots; whatever they do not reach sits on a parent
  // cycle, and is cut from its parent and shown as a root.
  const order: number[] = [];
  const depth = new Int32Array(n);
  const visited = new Uint8Array(n);
  const roots: number[] = [];
  const visit = (top: number) => {
    roots.push(top);
    const stack = [top];
    depth[top] = 0;
    while (stack.length > 0) {
      const i = stack.pop()!;
      if (visited[i]) continue;
      visited[i] = 1;
      order.push(i);
      const kids = children[i];
      for (let k = kids.length - 1; k >= 0; k--) {
        if (!visited[kids[k]]) {
          depth[kids[k]] = depth[i] + 1;
          stack.push(kids[k]);
        }
      }
    }
  };
  const tops: number[] = [];
  for (let i = 0; i < n; i++) if (parentOf[i] < 0) tops.push(i);
  tops.sort(byStart);
  for (const t of tops) visit(t);
  for (let i = 0; i < n; i++) {
    if (visited[i]) continue;
    // On a cycle: cut the span from its parent so it heads its own subtree.
    const p = parentOf[i];
    children[p] = children[p].filter((c) => c !== i);
    parentOf[i] = -1;
    orphan[i] = 1;
    visit(i);
  }

  const position = new Int32Array(n);
  for (let k = 0; k < n; k++) position[order[k]] = k;
  const services: string[] = [];
  const serviceIndex = new Map<string, number>();
  const spans: SpanNode[] = new Array(n);
  let errorCount = 0;
  let maxDepth = 0;
  for (let k = 0; k < n; k++) {
    const i = order[k];
    const r = raw[i];
    let si = serviceIndex.get(r.service);
    if (si === undefined) {
      si = services.length;
      services.push(r.service);
      serviceIndex.set(r.service, si);
    }
    if (r.status === 'error') errorCount++;
    if (depth[i] > maxDepth) maxDepth = depth[i];
    spans[k] = {
      index: k,
      spanId: r.spanId,
      parentSpanId: r.parentSpanId,
      parent: parentOf[i] >= 0 ? position[parentOf[i]] : -1,
      orphan: orphan[i] === 1,
      depth: depth[i],
      subtreeEnd: k + 1,
      childCount: children[i].length,
      name: r.name,
      service: r.service,
      serviceIndex: si,
      kind: r.kind,
      status: r.status,
      statusMessage: r.statusMessage,
      startNs: r.startNs,
      start: Number(r.startNs - traceStart),
      durationNs: r.durationNs,
      attributes: r.attributes,
      resource: r.resource,
      scope: r.scope,
      events: r.rawEvents
        .map((e) => ({ offsetNs: Number(e.timeNs - r.startNs), name: e.name, attributes: e.attributes, droppedAttributes: e.droppedAttributes }))
        .sort((a, b) => a.offsetNs - b.offsetNs),
      links: r.links,
      traceState: r.traceState,
      dropped: r.dropped,
    };
  }
  // Subtree extents, bottom-up: a span's subtree ends where its last descendant's does.
  for (let k = n - 1; k >= 0; k--) {
    const p = spans[k].parent;
    if (p >= 0 && spans[k].subtreeEnd > spans[p].subtreeEnd) spans[p].subtreeEnd = spans[k].subtreeEnd;
  }
  const byId = new Map<string, number>();
  for (const s of spans) if (s.spanId && !byId.has(s.spanId)) byId.set(s.spanId, s.index);

  const rootPositions = roots.map((r) => position[r]);
  const trueRoot = rootPositions.find((k) => spans[k].parentSpanId === '');
  return {
    traceId,
    spans,
    byId,
    startNs: traceStart,
    durationNs: Number(traceEnd - traceStart),
    services,
    roots: rootPositions,
    errorCount,
    maxDepth,
    rootIndex: trueRoot ?? (n > 0 ? 0 : -1),
  };
}

/**
 * The rows shown when the spans in `collapsed` (indices) hide their
 * descendants. O(rows shown + collapsed subtrees skipped), not O(spans),
 * because a collapsed subtree is jumped over in one step.
 */
export function visibleRows(model: TraceModel, collapsed: ReadonlySet<number>): Int32Array {
  const out = new Int32Array(model.spans.length);
  let count = 0;
  let i = 0;
  const spans = model.spans;
  while (i < spans.length) {
    out[count++] = i;
    i = collapsed.has(i) ? spans[i].subtreeEnd : i + 1;
  }
  return out.subarray(0, count);
}

/** Indices of the span's ancestors, nearest first. */
export function ancestors(model: TraceModel, index: number): number[] {
  const out: number[] = [];
  for (let p = model.spans[index]?.parent ?? -1; p >= 0; p = model.spans[p].parent) out.push(p);
  return out;
}

/** `collapsed` without any ancestor of the given spans, so they are visible. */
export function reveal(model: TraceModel, collapsed: ReadonlySet<number>, indices: Iterable<number>): Set<number> {
  const next = new Set(collapsed);
  for (const i of indices) for (const a of ancestors(model, i)) next.delete(a);
  return next;
}

/** Every span with children collapsed at `depth` (so rows up to that depth show). */
export function collapseToDepth(model: TraceModel, depth: number): Set<number> {
  const out = new Set<number>();
  for (const s of model.spans) if (s.depth === depth && s.childCount > 0) out.add(s.index);
  return out;
}

/**
 * Where each span is drawn on the time axis: as recorded, or corrected for
 * clock skew. Spans are in depth-first order, so one pass from the top sees
 * every parent placed before its children.
 */
export interface Timeline {
  /** Start of each bar, ns from the trace's (recorded) start. */
  start: Float64Array;
  /**
   * Length of each bar, ns: the span's duration, or less where the span was
   * cut at its parent's end because it runs longer than the call it answers.
   */
  drawnNs: Float64Array;
  /** Total shift of each span: its own, plus what a same-service ancestor passed down. */
  shiftNs: Float64Array;
  /**
   * The span's own shift to fit its caller (not inherited, and not the
   * move that starts a span longer than its caller with it): what puts a ⚠
   * on its row.
   */
  ownShiftNs: Float64Array;
  /**
   * How much longer a span is than the call it answers, where that is worth
   * saying (at least 1% of the call): a server span that outlasts its client
   * parent, which no clock offset can explain. 0 elsewhere.
   */
  overrunNs: Float64Array;
}

/**
 * True when a span answers its parent synchronously on another host's clock:
 * another service, and not messaging (a consumer, or the child of a
 * producer, may rightly run after its parent has ended).
 */
export function answersOnOtherClock(model: TraceModel, index: number): boolean {
  const s = model.spans[index];
  const p = s.parent >= 0 ? model.spans[s.parent] : undefined;
  return !!p && p.service !== s.service && s.kind !== 'consumer' && p.kind !== 'producer';
}

/** Below this share of the parent, a child's overrun is timing noise (start times cut to the ms, scheduling), not worth a mark. */
const NOTABLE_OVERRUN = 0.01;

function overrunOf(model: TraceModel, i: number): number {
  const s = model.spans[i];
  if (!answersOnOtherClock(model, i)) return 0;
  const parentNs = model.spans[s.parent].durationNs;
  const over = s.durationNs - parentNs;
  return over > 0 && over >= NOTABLE_OVERRUN * parentNs ? over : 0;
}

/** Bars as the spans recorded them. */
export function recordedTimeline(model: TraceModel): Timeline {
  const n = model.spans.length;
  const t: Timeline = { start: new Float64Array(n), drawnNs: new Float64Array(n), shiftNs: new Float64Array(n), ownShiftNs: new Float64Array(n), overrunNs: new Float64Array(n) };
  for (let i = 0; i < n; i++) {
    t.start[i] = model.spans[i].start;
    t.drawnNs[i] = model.spans[i].durationNs;
    t.overrunNs[i] = overrunOf(model, i);
  }
  return t;
}

/**
 * Bars corrected for clock skew. `serverShiftNs` holds the shifts the
 * critical path was computed with (each span's own; same-service
 * descendants share its clock and move with it). On top of those, a span
 * answering its parent on another clock is made to fit inside the parent as
 * drawn: centred when it is no longer than the parent (as the server does),
 * else started with its parent and cut at the parent's end, with its
 * overrun reported, so no bar is drawn past the call it answers (or past
 * the root). Spans on the parent's clock (async work, spans that outlive
 * their parent) are left where they are.
 */
export function correctedTimeline(model: TraceModel, serverShiftNs?: Float64Array): Timeline {
  const n = model.spans.length;
  const t: Timeline = { start: new Float64Array(n), drawnNs: new Float64Array(n), shiftNs: new Float64Array(n), ownShiftNs: new Float64Array(n), overrunNs: new Float64Array(n) };
  // The latest a span may be drawn to: its other-clock ancestor's call end, passed down its own clock.
  const limit = new Float64Array(n).fill(Infinity);
  const EPS = 1; // ns: the server's shifts are rounded to whole ns in its answer
  for (let i = 0; i < n; i++) {
    const s = model.spans[i];
    const p = s.parent;
    const own = serverShiftNs ? serverShiftNs[i] : 0;
    let shift = (p >= 0 && model.spans[p].service === s.service ? t.shiftNs[p] : 0) + own;
    let extra = 0;
    let fits = true;
    const dur = s.durationNs;
    let start = s.start + shift;
    if (p >= 0) {
      if (model.spans[p].service === s.service) limit[i] = limit[p];
      if (answersOnOtherClock(model, i)) {
        const ps = t.start[p];
        const pd = t.drawnNs[p];
        fits = dur <= pd;
        if (start < ps - EPS || start + dur > ps + pd + EPS) extra = (fits ? ps + (pd - dur) / 2 : ps) - start;
        limit[i] = ps + pd;
      }
    }
    shift += extra;
    start += extra;
    t.start[i] = start;
    t.shiftNs[i] = shift;
    t.ownShiftNs[i] = fits ? own + extra : own;
    t.drawnNs[i] = Math.max(0, Math.min(start + dur, limit[i]) - start);
    t.overrunNs[i] = overrunOf(model, i);
  }
  return t;
}

/**
 * Horizontal layout: each span's left edge and width as fractions of the
 * trace, computed once per trace (and per skew mode). The waterfall maps
 * fractions to pixels only for the rows on screen.
 */
export interface Layout {
  left: Float64Array;
  width: Float64Array;
  /** Start offsets used (as recorded, or shifted for skew), ns. */
  start: Float64Array;
  /** Length of each bar as drawn, ns (see Timeline.drawnNs). */
  drawnNs: Float64Array;
  /** The span of time the fractions are relative to, ns from the trace start. */
  originNs: number;
  spanNs: number;
}

/** @param timeline where bars go (recordedTimeline or correctedTimeline); times as recorded when omitted. */
export function layoutSpans(model: TraceModel, timeline: Timeline = recordedTimeline(model)): Layout {
  const n = model.spans.length;
  const { start, drawnNs } = timeline;
  let lo = n > 0 ? Infinity : 0;
  let hi = n > 0 ? -Infinity : 0;
  for (let i = 0; i < n; i++) {
    lo = Math.min(lo, start[i]);
    hi = Math.max(hi, start[i] + drawnNs[i]);
  }
  const spanNs = Math.max(hi - lo, 1);
  const left = new Float64Array(n);
  const width = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    left[i] = (start[i] - lo) / spanNs;
    width[i] = drawnNs[i] / spanNs;
  }
  return { left, width, start, drawnNs, originNs: lo, spanNs };
}

/**
 * The trace's duration against its root span's. The trace's is the one
 * Sightline, Tempo and Jaeger list: latest end minus earliest start over
 * all spans (search shows it in whole ms). The root span's is shorter when
 * work outlives the root (async spans, a server that ends after its client
 * has its answer) or starts before it (clock skew).
 */
export interface TraceTiming {
  durationNs: number;
  root: number;
  rootNs: number;
  /** How far the trace reaches before the root's start and after its end, ns. */
  beforeRootNs: number;
  afterRootNs: number;
  /** Spans that start before the root or end after it. */
  outside: number[];
}

export function traceTiming(model: TraceModel): TraceTiming {
  const root = model.rootIndex;
  if (root < 0) return { durationNs: model.durationNs, root, rootNs: 0, beforeRootNs: 0, afterRootNs: 0, outside: [] };
  const r = model.spans[root];
  const rootEnd = r.start + r.durationNs;
  const outside: number[] = [];
  for (const s of model.spans) if (s.start < r.start || s.start + s.durationNs > rootEnd) outside.push(s.index);
  return { durationNs: model.durationNs, root, rootNs: r.durationNs, beforeRootNs: r.start, afterRootNs: model.durationNs - rootEnd, outside };
}

/** An event as a mark on its span's bar. */
export interface BarEvent {
  /** Position in `span.events`. */
  event: number;
  offsetNs: number;
  name: string;
  /** An OpenTelemetry exception event (name "exception", or exception.* attributes). */
  exception: boolean;
  /** What hovering shows: the exception's type and message, or the event's first attributes. */
  message: string;
}

const MAX_BAR_EVENTS = 40;

/**
 * The events to mark on a span's bar: every exception first, then the
 * others, spread evenly when there are more than fit (a span with a
 * thousand log events still draws at most {@link MAX_BAR_EVENTS} marks).
 */
export function barEvents(span: SpanNode, max = MAX_BAR_EVENTS): BarEvent[] {
  const all: BarEvent[] = span.events.map((e, k) => {
    const attr = (key: string) => e.attributes.find((a) => a.key === key)?.text ?? '';
    const exception = e.name === 'exception' || e.attributes.some((a) => a.key === 'exception.type' || a.key === 'exception.message');
    const message = exception
      ? [attr('exception.type'), attr('exception.message')].filter(Boolean).join(': ')
      : e.attributes
          .slice(0, 3)
          .map((a) => `${a.key}=${a.text.length > 80 ? `${a.text.slice(0, 80)}…` : a.text}`)
          .join(', ');
    return { event: k, offsetNs: e.offsetNs, name: e.name, exception, message };
  });
  if (all.length <= max) return all;
  const exceptions = all.filter((e) => e.exception).slice(0, max);
  const others = all.filter((e) => !e.exception);
  const room = max - exceptions.length;
  const picked: BarEvent[] = [];
  for (let k = 0; k < room; k++) picked.push(others[Math.floor((k * others.length) / room)]);
  return [...exceptions, ...picked].sort((a, b) => a.offsetNs - b.offsetNs);
}
