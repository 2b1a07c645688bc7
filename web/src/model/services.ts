import { formatDuration, timeTicks, ticksBetween } from './format.js';
import { heatmapLayout, type HeatmapJson, type HeatmapLayout } from './search-results.js';

/**
 * GET /api/sightline/service-map, /red and /services/{service}/operations
 * (src/diagnosis/service-map.ts). Rates are per second, latencies ns.
 */
export interface ServiceMapJson {
  start: number;
  end: number;
  /** Below 1 when the server read a uniform sample of whole traces (counts and rates scaled up from it). */
  sampledFraction?: number;
  /** With `groupBy=`: the resource attribute each service is split by; nodes then carry `group`, edges `sourceGroup` and `targetGroup` (null where a resource lacks it). */
  groupBy?: string;
  nodes: { service: string; group?: string | null; spans: number; requests: number; rate: number; errors: number; errorRate: number; p50: number | null; p95: number | null; p99: number | null }[];
  edges: {
    source: string;
    target: string;
    sourceGroup?: string | null;
    targetGroup?: string | null;
    kind: 'request' | 'messaging' | 'link';
    count: number;
    rate: number;
    errors: number;
    errorRate: number;
    p50: number;
    p95: number;
    p99: number;
  }[];
}

/** Resource attributes the Services page offers to split by: Nomad's (docs/nomad.md), then hosts and versions. */
export const SPLIT_ATTRIBUTES = ['nomad.node.name', 'nomad.alloc.name', 'nomad.job.name', 'nomad.namespace', 'nomad.node.datacenter', 'host.name', 'service.version', 'deployment.environment.name', 'cloud.availability_zone'] as const;

/** A split node's name on the map: the service, then its group (`checkout @ node-3`); `(none)` where the resource lacks the attribute. */
export function splitName(service: string, group: string | null | undefined): string {
  return `${service} @ ${group === null || group === undefined || group === '' ? '(none)' : group}`;
}

/**
 * A map split by a resource attribute, as the unsplit map the layout and
 * health code take: each (service, value) a node of its own, named by
 * splitName, and `serviceOf` to find the real service for links. An
 * unsplit map comes back as it is.
 */
export function splitMap(map: ServiceMapJson): { map: ServiceMapJson; serviceOf: (node: string) => string } {
  if (!map.groupBy) return { map, serviceOf: (n) => n };
  const services = new Map<string, string>();
  const nodes = map.nodes.map((n) => {
    const name = splitName(n.service, n.group);
    services.set(name, n.service);
    return { ...n, service: name };
  });
  const edges = map.edges.map((e) => ({ ...e, source: splitName(e.source, e.sourceGroup), target: splitName(e.target, e.targetGroup) }));
  return { map: { ...map, nodes, edges }, serviceOf: (n) => services.get(n) ?? n };
}

export interface RedJson {
  service: string;
  operation: string | null;
  start: number;
  end: number;
  stepSeconds: number;
  points: { time: number; count: number; rate: number; errors: number; errorRate: number; p50: number | null; p95: number | null; p99: number | null }[];
}

export interface OperationsJson {
  service: string;
  operations: { name: string; kind: string; count: number; rate: number; errors: number; errorRate: number; totalDuration: number; p50: number; p95: number; p99: number }[];
}

export interface MapNode {
  node: ServiceMapJson['nodes'][number];
  rank: number;
  x: number;
  y: number;
}

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface MapEdge {
  edge: ServiceMapJson['edges'][number];
  /** SVG path from the source's box to the base of the arrowhead. */
  d: string;
  /** The arrowhead, a triangle whose tip touches the target's box. */
  arrow: string;
  arrowBox: Box;
  /** What the label says: rate, error rate, p95. */
  label: string;
  /** The label's box, background included: off the edge's path, clear of arrowheads, nodes and other labels where there is room. */
  labelBox: Box;
  /** Drawn against the flow: the target sits at or before the source's column (a cycle). */
  backward: boolean;
}

export interface MapLayout {
  nodes: MapNode[];
  edges: MapEdge[];
  width: number;
  height: number;
}

export interface MapGeometry {
  nodeWidth: number;
  nodeHeight: number;
  columnGap: number;
  rowGap: number;
  /** Width of an edge label's text, px; the UI measures with the label's font. */
  textWidth(text: string): number;
  /** Height of an edge label, background included, px. */
  labelHeight: number;
}

/** An estimate for 11 px system-ui: the UI passes a measured width. */
const estimateTextWidth = (text: string) => text.length * 6.2;

const DEFAULT_GEOMETRY: MapGeometry = { nodeWidth: 170, nodeHeight: 58, columnGap: 210, rowGap: 44, textWidth: estimateTextWidth, labelHeight: 16 };
const ARROW_LENGTH = 10;
const ARROW_HALF_WIDTH = 5;
/** Horizontal padding of a label's background, each side. */
const LABEL_PAD = 4;
/** Space kept between a label and whatever it must not touch. */
const LABEL_GAP = 3;

const pct = (x: number) => `${(x * 100).toFixed(x > 0 && x < 0.01 ? 2 : 1)}%`;
/** Requests per second, or per minute when below 0.1/s. */
export const perSecond = (x: number) => (x >= 10 ? `${Math.round(x)}/s` : x >= 0.1 ? `${x.toFixed(2)}/s` : `${(x * 60).toFixed(1)}/min`);
export const percent = pct;

/** An edge's label: calls per second, error rate, p95. */
export function edgeLabel(edge: ServiceMapJson['edges'][number]): string {
  return `${perSecond(edge.rate)} · ${pct(edge.errorRate)} · p95 ${formatDuration(edge.p95)}`;
}

/**
 * Lays the service map out in columns, callers to the left of callees: a
 * service's column is its longest call chain from a service nobody calls.
 * Calls that close a cycle are found by a depth-first search and left out
 * of the ranking (drawn as backward arcs). Within a column, services sit
 * near the services that call them, to keep edges from crossing.
 */
export function serviceMapLayout(map: ServiceMapJson, geometry: Partial<MapGeometry> = {}): MapLayout {
  const g = { ...DEFAULT_GEOMETRY, ...geometry };
  const names = [...new Set([...map.nodes.map((n) => n.service), ...map.edges.flatMap((e) => [e.source, e.target])])].sort();
  const index = new Map(names.map((n, i) => [n, i]));
  const out: number[][] = names.map(() => []);
  const indegree = new Array<number>(names.length).fill(0);
  for (const e of map.edges) {
    if (e.source === e.target) continue;
    out[index.get(e.source)!].push(index.get(e.target)!);
    indegree[index.get(e.target)!]++;
  }
  // Back edges: those reaching a node still on the DFS stack. Roots first, so cycles break at the entry.
  const state = new Uint8Array(names.length); // 0 new, 1 on stack, 2 done
  const back = new Set<string>();
  const order: number[] = [];
  const starts = names.map((_, i) => i).sort((a, b) => (indegree[a] === 0 ? 0 : 1) - (indegree[b] === 0 ? 0 : 1) || a - b);
  for (const s of starts) {
    if (state[s]) continue;
    const stack: { node: number; next: number }[] = [{ node: s, next: 0 }];
    state[s] = 1;
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      if (top.next < out[top.node].length) {
        const t = out[top.node][top.next++];
        if (state[t] === 1) back.add(`${top.node}>${t}`);
        else if (state[t] === 0) {
          state[t] = 1;
          stack.push({ node: t, next: 0 });
        }
      } else {
        state[top.node] = 2;
        order.push(top.node);
        stack.pop();
      }
    }
  }
  // Reverse post-order is a topological order of the graph without back edges.
  order.reverse();
  const rank = new Array<number>(names.length).fill(0);
  for (const u of order) for (const v of out[u]) if (!back.has(`${u}>${v}`) && rank[v] < rank[u] + 1) rank[v] = rank[u] + 1;

  const columns: number[][] = [];
  for (const u of order) (columns[rank[u]] ??= []).push(u);
  const row = new Array<number>(names.length).fill(0);
  const callers: number[][] = names.map(() => []);
  for (let u = 0; u < names.length; u++) for (const v of out[u]) callers[v].push(u);
  for (const col of columns) {
    if (!col) continue;
    const weight = (u: number) => {
      const ps = callers[u].filter((p) => rank[p] < rank[u]);
      return ps.length === 0 ? row[u] : ps.reduce((a, p) => a + row[p], 0) / ps.length;
    };
    col.sort((a, b) => weight(a) - weight(b) || names[a].localeCompare(names[b]));
    col.forEach((u, i) => (row[u] = i));
  }
  const tallest = Math.max(1, ...columns.map((c) => c?.length ?? 0));
  const height = tallest * g.nodeHeight + (tallest - 1) * g.rowGap;
  const nodes: MapNode[] = [];
  const at = new Map<string, MapNode>();
  const byService = new Map(map.nodes.map((n) => [n.service, n]));
  columns.forEach((col, r) => {
    if (!col) return;
    const colHeight = col.length * g.nodeHeight + (col.length - 1) * g.rowGap;
    col.forEach((u, i) => {
      const node = byService.get(names[u]) ?? { service: names[u], spans: 0, requests: 0, rate: 0, errors: 0, errorRate: 0, p50: null, p95: null, p99: null };
      const placed = { node, rank: r, x: r * (g.nodeWidth + g.columnGap), y: (height - colHeight) / 2 + i * (g.nodeHeight + g.rowGap) };
      nodes.push(placed);
      at.set(names[u], placed);
    });
  });
  const curves = map.edges.map((edge) => edgeCurve(at.get(edge.source)!, at.get(edge.target)!, g));
  const width = columns.length * g.nodeWidth + Math.max(0, columns.length - 1) * g.columnGap;
  const hasBackward = curves.some((c) => c.backward);
  const labels = placeLabels(
    map.edges.map((edge) => edgeLabel(edge)),
    map.edges.map((e) => e.rate),
    curves,
    nodes.map((n) => ({ x: n.x, y: n.y, width: g.nodeWidth, height: g.nodeHeight })),
    g,
  );
  // Labels may sit outside the boxes' area: shift everything so all of it is at x, y >= 0.
  const all = [...labels, ...curves.map((c) => c.arrowBox), { x: 0, y: 0, width: Math.max(width, g.nodeWidth), height: height + (hasBackward ? g.rowGap * 1.2 : 0) }];
  const minX = Math.min(...all.map((b) => b.x));
  const minY = Math.min(...all.map((b) => b.y));
  const maxX = Math.max(...all.map((b) => b.x + b.width));
  const maxY = Math.max(...all.map((b) => b.y + b.height));
  const dx = -minX;
  const dy = -minY;
  const r = (n: number) => Math.round(n * 10) / 10;
  const pt = (p: Point) => `${r(p.x + dx)},${r(p.y + dy)}`;
  const move = (b: Box): Box => ({ x: r(b.x + dx), y: r(b.y + dy), width: r(b.width), height: r(b.height) });
  for (const n of nodes) {
    n.x += dx;
    n.y += dy;
  }
  const edges: MapEdge[] = map.edges.map((edge, i) => {
    const c = curves[i];
    return {
      edge,
      d: `M${pt(c.p[0])} C${pt(c.p[1])} ${pt(c.p[2])} ${pt(c.p[3])}`,
      arrow: `M${pt(c.arrow[0])} L${pt(c.arrow[1])} L${pt(c.arrow[2])} Z`,
      arrowBox: move(c.arrowBox),
      label: edgeLabel(edge),
      labelBox: move(labels[i]),
      backward: c.backward,
    };
  });
  return { nodes, edges, width: Math.ceil(maxX - minX), height: Math.ceil(maxY - minY) };
}

interface Point {
  x: number;
  y: number;
}

/** An edge as a cubic Bézier from the source's box to the arrowhead's base, and the arrowhead. */
interface Curve {
  p: [Point, Point, Point, Point];
  arrow: [Point, Point, Point];
  arrowBox: Box;
  backward: boolean;
}

function edgeCurve(a: MapNode, b: MapNode, g: MapGeometry): Curve {
  if (b.rank > a.rank) {
    // Left to right, leaving and entering horizontally: the arrow points right.
    const x1 = a.x + g.nodeWidth;
    const y1 = a.y + g.nodeHeight / 2;
    const tip = { x: b.x, y: b.y + g.nodeHeight / 2 };
    const x2 = tip.x - ARROW_LENGTH;
    const dx = (x2 - x1) / 2;
    return {
      p: [{ x: x1, y: y1 }, { x: x1 + dx, y: y1 }, { x: x2 - dx, y: tip.y }, { x: x2, y: tip.y }],
      arrow: [tip, { x: x2, y: tip.y - ARROW_HALF_WIDTH }, { x: x2, y: tip.y + ARROW_HALF_WIDTH }],
      arrowBox: { x: x2, y: tip.y - ARROW_HALF_WIDTH, width: ARROW_LENGTH, height: 2 * ARROW_HALF_WIDTH },
      backward: false,
    };
  }
  // A call back to an earlier column (or to itself): an arc under the boxes, entering from below.
  const self = a === b;
  const x1 = a.x + g.nodeWidth / 2;
  const y1 = a.y + g.nodeHeight;
  const tip = { x: b.x + g.nodeWidth / 2 + (self ? 30 : 0), y: b.y + g.nodeHeight };
  const y2 = tip.y + ARROW_LENGTH;
  const dip = Math.max(y1, y2) + g.rowGap * 0.8 + (self ? 10 : 0);
  return {
    p: [{ x: x1, y: y1 }, { x: x1, y: dip }, { x: tip.x, y: dip }, { x: tip.x, y: y2 }],
    arrow: [tip, { x: tip.x - ARROW_HALF_WIDTH, y: y2 }, { x: tip.x + ARROW_HALF_WIDTH, y: y2 }],
    arrowBox: { x: tip.x - ARROW_HALF_WIDTH, y: tip.y, width: 2 * ARROW_HALF_WIDTH, height: ARROW_LENGTH },
    backward: true,
  };
}

function bezier(p: Curve['p'], t: number): Point {
  const u = 1 - t;
  const a = u * u * u;
  const b = 3 * u * u * t;
  const c = 3 * u * t * t;
  const d = t * t * t;
  return { x: a * p[0].x + b * p[1].x + c * p[2].x + d * p[3].x, y: a * p[0].y + b * p[1].y + c * p[2].y + d * p[3].y };
}

function tangent(p: Curve['p'], t: number): Point {
  const u = 1 - t;
  const x = 3 * u * u * (p[1].x - p[0].x) + 6 * u * t * (p[2].x - p[1].x) + 3 * t * t * (p[3].x - p[2].x);
  const y = 3 * u * u * (p[1].y - p[0].y) + 6 * u * t * (p[2].y - p[1].y) + 3 * t * t * (p[3].y - p[2].y);
  const len = Math.hypot(x, y) || 1;
  return { x: x / len, y: y / len };
}

/** Points along a curve, a few px apart, for testing what a box would cover. */
function samples(c: Curve): Point[] {
  const out: Point[] = [];
  for (let i = 0; i <= 48; i++) out.push(bezier(c.p, i / 48));
  return out;
}

export function boxesOverlap(a: Box, b: Box, gap = 0): boolean {
  return a.x < b.x + b.width + gap && b.x < a.x + a.width + gap && a.y < b.y + b.height + gap && b.y < a.y + a.height + gap;
}

function pointIn(p: Point, b: Box, gap: number): boolean {
  return p.x > b.x - gap && p.x < b.x + b.width + gap && p.y > b.y - gap && p.y < b.y + b.height + gap;
}

/**
 * Places each edge's label beside its curve, never on it: candidates along
 * the curve, pushed off it along the normal by the label's half-extent in
 * that direction, nearer and farther. The first candidate that touches no
 * curve, arrowhead, node or label already placed wins; busy edges choose
 * first. When none is clear (a crowded map), the one touching least, with
 * labels and arrowheads weighed most, since those hide numbers.
 */
function placeLabels(texts: string[], rates: number[], curves: Curve[], nodes: Box[], g: MapGeometry): Box[] {
  const paths = curves.map(samples);
  const arrows = curves.map((c) => c.arrowBox);
  const placed: (Box | undefined)[] = texts.map(() => undefined);
  const order = texts.map((_, i) => i).sort((a, b) => rates[b] - rates[a] || a - b);
  for (const i of order) {
    const w = g.textWidth(texts[i]) + 2 * LABEL_PAD;
    const h = g.labelHeight;
    let best: Box | undefined;
    let bestCost = Infinity;
    for (const push of [1, 2, 3.5]) {
      for (const t of [0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8]) {
        const at = bezier(curves[i].p, t);
        const tan = tangent(curves[i].p, t);
        const normal = { x: -tan.y, y: tan.x };
        const half = Math.abs(normal.x) * (w / 2) + Math.abs(normal.y) * (h / 2);
        for (const side of [-1, 1]) {
          const off = side * (half + LABEL_GAP * push + (push - 1) * h);
          const box = { x: at.x + normal.x * off - w / 2, y: at.y + normal.y * off - h / 2, width: w, height: h };
          let cost = 0;
          for (const other of placed) if (other && boxesOverlap(box, other, LABEL_GAP)) cost += 100;
          for (const a of arrows) if (boxesOverlap(box, a, LABEL_GAP)) cost += 100;
          for (const n of nodes) if (boxesOverlap(box, n, LABEL_GAP)) cost += 20;
          for (const path of paths) if (path.some((p) => pointIn(p, box, LABEL_GAP))) cost += 10;
          // Nearer the middle of the curve and nearer the curve reads better; only a tie-breaker.
          cost += Math.abs(t - 0.5) + push * 0.5;
          if (cost < bestCost) {
            bestCost = cost;
            best = box;
          }
        }
      }
      if (bestCost < 10) break;
    }
    placed[i] = best;
  }
  return placed.map((b) => b!);
}

/**
 * How a service is doing against its own usual: its error rate and p95
 * now, against the same service over a baseline stretch of time (the
 * page's: the four times longer stretch before the range). A service that
 * is always slow is not flagged for it; one that fails is, even with no
 * baseline, since a failing request is never usual.
 */
export type HealthLevel = 'healthy' | 'degraded' | 'unhealthy' | 'idle';

export interface NodeHealth {
  level: HealthLevel;
  /** Why, one phrase per finding, with the numbers: "errors 12.5% (usually 0.4%)". Empty when healthy. */
  reasons: string[];
  errorRate: number;
  baselineErrorRate: number | null;
  p95: number | null;
  baselineP95: number | null;
  /** Requests in the baseline; below MIN_BASELINE_REQUESTS its numbers are not used. */
  baselineRequests: number;
}

/** Fewest requests in the baseline to judge against it. */
export const MIN_BASELINE_REQUESTS = 20;

type MapNodeJson = ServiceMapJson['nodes'][number];

/**
 * Errors: unhealthy at 5% and above when at least 2 points and twice the
 * usual rate above it (3 errors at least); degraded at 1%, half a point
 * and 1.5x above usual (2 errors). Latency, only with a baseline: p95 at
 * 2x its usual and 5 ms more is unhealthy, at 1.3x and 1 ms more degraded.
 */
export function nodeHealth(node: MapNodeJson, baseline: MapNodeJson | undefined): NodeHealth {
  const usable = baseline !== undefined && baseline.requests >= MIN_BASELINE_REQUESTS;
  const health: NodeHealth = {
    level: 'healthy',
    reasons: [],
    errorRate: node.errorRate,
    baselineErrorRate: usable ? baseline.errorRate : null,
    p95: node.p95,
    baselineP95: usable ? baseline.p95 : null,
    baselineRequests: baseline?.requests ?? 0,
  };
  if (node.requests === 0) return { ...health, level: 'idle' };
  const rank: Record<HealthLevel, number> = { idle: 0, healthy: 1, degraded: 2, unhealthy: 3 };
  const raise = (level: HealthLevel, reason: string) => {
    if (rank[level] > rank[health.level]) health.level = level;
    health.reasons.push(reason);
  };
  const usualErrors = usable ? baseline.errorRate : 0;
  const errorsText = `errors ${pct(node.errorRate)} (${usable ? `usually ${pct(usualErrors)}` : 'no baseline'})`;
  if (node.errors >= 3 && node.errorRate >= 0.05 && node.errorRate >= 2 * usualErrors + 0.02) raise('unhealthy', errorsText);
  else if (node.errors >= 2 && node.errorRate >= 0.01 && node.errorRate >= 1.5 * usualErrors + 0.005) raise('degraded', errorsText);
  if (usable && node.p95 !== null && baseline.p95 !== null && baseline.p95 > 0) {
    const ratio = node.p95 / baseline.p95;
    const more = node.p95 - baseline.p95;
    const text = `p95 ${formatDuration(node.p95)} (usually ${formatDuration(baseline.p95)}, ${ratio.toFixed(1)}x)`;
    if (ratio >= 2 && more >= 5e6) raise('unhealthy', text);
    else if (ratio >= 1.3 && more >= 1e6) raise('degraded', text);
  }
  return health;
}

/** The baseline stretch for a range, Unix seconds: the four times longer stretch just before it. */
export function baselineWindow(range: { start: number; end: number }): { start: number; end: number } {
  return { start: range.start - 4 * (range.end - range.start), end: range.start };
}

export interface LineChart {
  lines: { name: string; d: string }[];
  xTicks: { x: number; ms: number }[];
  yTicks: { y: number; value: number }[];
  /** Bucket times mapped to x, for hover read-outs. */
  xs: number[];
}

/**
 * Lines over time in a width×height plot, y from 0 to a nice maximum.
 * A null value breaks its line (an empty bucket has no latency), rather
 * than drawing a false zero.
 */
export function lineChart(times: readonly number[], series: { name: string; values: readonly (number | null)[] }[], width: number, height: number): LineChart {
  const t0 = times[0] ?? 0;
  const t1 = times[times.length - 1] ?? t0 + 1;
  const x = (ms: number) => (t1 > t0 ? ((ms - t0) / (t1 - t0)) * width : width / 2);
  let max = 0;
  for (const s of series) for (const v of s.values) if (v !== null && v > max) max = v;
  const ticks = ticksBetween(0, max > 0 ? max * 1.05 : 1, 4);
  const top = Math.max(ticks[ticks.length - 1], max, Number.MIN_VALUE);
  const y = (v: number) => height - (v / top) * height;
  const round = (n: number) => Math.round(n * 10) / 10;
  const lines = series.map((s) => {
    let d = '';
    let pen = false;
    s.values.forEach((v, i) => {
      if (v === null) {
        pen = false;
        return;
      }
      d += `${pen ? 'L' : 'M'}${round(x(times[i]))},${round(y(v))}`;
      pen = true;
    });
    return { name: s.name, d };
  });
  return {
    lines,
    xTicks: timeTicks(t0, t1, 6).map((ms) => ({ x: x(ms), ms })),
    yTicks: ticks.map((value) => ({ y: y(value), value })),
    xs: times.map(x),
  };
}

/** GET /api/sightline/load (src/diagnosis/load.ts): latency and uninstrumented wait against requests in flight. */
export interface LoadJson {
  spans: number;
  sampled: boolean;
  measured: number;
  buckets: {
    concurrencyMin: number;
    concurrencyMax: number;
    spans: number;
    latency: { meanNs: number; p50Ns: number; p95Ns: number };
    wait: { meanNs: number; p50Ns: number; p95Ns: number };
    waitShare: number;
    /** With bimodal latency: the bucket's share of slow spans. */
    slowShare?: number;
  }[];
  trend: {
    latencyNsPerRequest: number;
    waitNsPerRequest: number;
    waitCorrelation: number;
    /** The least and most loaded thirds of the spans; null when load hardly varied. */
    low?: LoadBandJson | null;
    high?: LoadBandJson | null;
    latencyGrows?: boolean;
    waitGrows?: boolean;
  } | null;
  bimodal?: { thresholdNs: number; fast: { spans: number; p50Ns: number }; slow: { spans: number; p50Ns: number }; slowShare: number; separation: number } | null;
  heatmap?: LoadHeatmapJson;
}

export interface LoadBandJson {
  concurrencyMin: number;
  concurrencyMax: number;
  spans: number;
  latencyMeanNs: number;
  waitMeanNs: number;
}

/** Every span read, by start time (columns of stepMs from startMs) and duration (rows between durationBoundsNs). */
export interface LoadHeatmapJson {
  startMs: number;
  stepMs: number;
  columns: number;
  durationBoundsNs: number[];
  cells: { column: number; row: number; spans: number }[];
  /** Per column, the mean requests in flight at the start of its spans. */
  inFlight: (number | null)[];
}

export type LoadVerdict = 'saturating' | 'slower-children' | 'flat' | 'too-little';

export interface LoadChart {
  /** Mean latency and mean wait over concurrency: means move smoothly with the share of slow spans, where a p50 flips between modes. */
  lines: { name: string; d: string }[];
  /** The area under the wait line, so the wait shows even where it equals the latency. */
  waitArea: string;
  points: { x: number; latencyY: number; waitY: number; bucket: LoadJson['buckets'][number] }[];
  xTicks: { x: number; value: number }[];
  yTicks: { y: number; valueNs: number }[];
  /** What the trend means, in a sentence or two. */
  verdict: string;
  kind: LoadVerdict;
  /** The wait grows with load: a pool, a lock or a queue without spans. */
  saturating: boolean;
  /** Two modes of latency, in words; undefined when there is one. */
  bimodal?: string;
}

export const LOAD_LINE_NAMES = ['latency (mean)', 'wait with no child span running (mean)'] as const;

const ms = (ns: number) => formatDuration(ns);
const inFlight = (b: { concurrencyMin: number; concurrencyMax: number }) => (b.concurrencyMin === b.concurrencyMax ? `${b.concurrencyMin}` : `${b.concurrencyMin}-${b.concurrencyMax}`);

/**
 * The load answer as a chart over requests in flight (x) and nanoseconds
 * (y), and a verdict. The verdict compares the least and most loaded
 * thirds of the spans (the server's `trend.low`/`high` and its tests of
 * growth): latency grows, and the wait with no child span running makes
 * at least half of the rise, is saturation (a pool, a lock or a queue);
 * latency grows without it, a slower dependency. Bimodal latency is
 * named as such, with its slow share at low and high load.
 */
export function loadChart(load: LoadJson, width: number, height: number): LoadChart {
  const buckets = load.buckets;
  const mid = (b: LoadJson['buckets'][number]) => (b.concurrencyMin + b.concurrencyMax) / 2;
  const lo = buckets.length > 0 ? Math.min(...buckets.map(mid)) : 0;
  const hi = buckets.length > 0 ? Math.max(...buckets.map(mid)) : 1;
  const xTickValues = ticksBetween(Math.floor(lo), Math.max(Math.ceil(hi), Math.floor(lo) + 1), 6).filter((v) => Number.isInteger(v));
  const x0 = Math.min(lo, xTickValues[0] ?? lo);
  const x1 = Math.max(hi, xTickValues[xTickValues.length - 1] ?? hi, x0 + 1);
  const x = (c: number) => ((c - x0) / (x1 - x0)) * width;
  const max = Math.max(1, ...buckets.map((b) => b.latency.meanNs));
  const yTickValues = ticksBetween(0, max * 1.05, 4);
  const top = Math.max(yTickValues[yTickValues.length - 1], max);
  const y = (ns: number) => height - (ns / top) * height;
  const round = (n: number) => Math.round(n * 10) / 10;
  const points = buckets.map((b) => ({ x: round(x(mid(b))), latencyY: round(y(b.latency.meanNs)), waitY: round(y(b.wait.meanNs)), bucket: b }));
  const path = (ys: number[]) => points.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x},${ys[i]}`).join('');
  const waitLine = path(points.map((p) => p.waitY));
  const waitArea = points.length > 0 ? `${waitLine}L${points[points.length - 1].x},${height}L${points[0].x},${height}Z` : '';
  const { verdict, kind } = loadVerdict(load);
  return {
    lines: [
      { name: LOAD_LINE_NAMES[0], d: path(points.map((p) => p.latencyY)) },
      { name: LOAD_LINE_NAMES[1], d: waitLine },
    ],
    waitArea,
    points,
    xTicks: xTickValues.map((value) => ({ x: round(x(value)), value })),
    yTicks: yTickValues.map((valueNs) => ({ y: round(y(valueNs)), valueNs })),
    verdict,
    kind,
    saturating: kind === 'saturating',
    bimodal: bimodalText(load),
  };
}

function loadVerdict(load: LoadJson): { verdict: string; kind: LoadVerdict } {
  const t = load.trend;
  if (load.buckets.length < 2 || !t || !t.low || !t.high) return { verdict: 'Too little variation in load to see a trend.', kind: 'too-little' };
  const { low, high } = t;
  const rise = high.latencyMeanNs - low.latencyMeanNs;
  const waitRise = high.waitMeanNs - low.waitMeanNs;
  const from = `from ${ms(low.latencyMeanNs)} on average at ${inFlight(low)} in flight to ${ms(high.latencyMeanNs)} at ${inFlight(high)}`;
  if (t.latencyGrows && t.waitGrows && waitRise >= 0.5 * rise) {
    const share = Math.min(1, waitRise / rise);
    return {
      verdict: `Latency grows with load, ${from}, and ${Math.floor(share * 100)}% of the rise is waiting with no child span running: a pool, a lock or a queue that runs out.`,
      kind: 'saturating',
    };
  }
  if (t.latencyGrows) return { verdict: `Latency grows with load, ${from}, but not in uninstrumented waiting: look at the child spans.`, kind: 'slower-children' };
  return { verdict: `Latency does not grow with load: ${ms(low.latencyMeanNs)} on average at ${inFlight(low)} in flight, ${ms(high.latencyMeanNs)} at ${inFlight(high)}.`, kind: 'flat' };
}

function bimodalText(load: LoadJson): string | undefined {
  const b = load.bimodal;
  if (!b) return undefined;
  let text = `Latency is bimodal: a span takes about ${ms(b.fast.p50Ns)} or about ${ms(b.slow.p50Ns)} (${pct(b.slowShare)} slow, at or above ${ms(b.thresholdNs)}), so a median would flip between the two.`;
  const full = load.buckets.filter((x) => x.slowShare !== undefined && x.spans >= 10);
  if (full.length >= 2) {
    const first = full[0];
    const last = full[full.length - 1];
    text += ` The slow share is ${pct(first.slowShare!)} at ${inFlight(first)} in flight and ${pct(last.slowShare!)} at ${inFlight(last)}.`;
  }
  return text;
}

/** The load heatmap in the search heatmap's terms, so one layout serves both (counts are spans here). */
export function loadHeatmapJson(h: LoadHeatmapJson): HeatmapJson {
  const cells = h.cells.map((c) => ({ column: c.column, row: c.row, traces: c.spans }));
  const total = cells.reduce((n, c) => n + c.traces, 0);
  return { startMs: h.startMs, endMs: h.startMs + h.columns * h.stepMs, stepMs: h.stepMs, columns: h.columns, durationBoundsNs: h.durationBoundsNs, cells, total, totalExact: true };
}

export interface LoadHeatmapView {
  layout: HeatmapLayout;
  /** Requests in flight over time, on its own axis (right), through the columns' centres. */
  inFlight: { d: string; yTicks: { y: number; value: number }[]; max: number } | null;
}

/** The heatmap of a load answer in a `width`×`height` plot, with requests in flight over it. */
export function loadHeatmapView(h: LoadHeatmapJson, width: number, height: number): LoadHeatmapView {
  const map = loadHeatmapJson(h);
  const layout = heatmapLayout(map, width, height);
  const values = h.inFlight.filter((v): v is number => v !== null);
  if (values.length === 0) return { layout, inFlight: null };
  const ticks = ticksBetween(0, Math.max(1, ...values), 4);
  const top = Math.max(ticks[ticks.length - 1], ...values);
  const y = (v: number) => height - (v / top) * height;
  const spanMs = Math.max(1, map.endMs - map.startMs);
  const x = (column: number) => (((column + 0.5) * h.stepMs) / spanMs) * width;
  const r = (n: number) => Math.round(n * 10) / 10;
  let d = '';
  let pen = false;
  h.inFlight.forEach((v, c) => {
    if (v === null) {
      pen = false;
      return;
    }
    d += `${pen ? 'L' : 'M'}${r(x(c))},${r(y(v))}`;
    pen = true;
  });
  return { layout, inFlight: { d, yTicks: ticks.map((value) => ({ y: r(y(value)), value })), max: top } };
}
