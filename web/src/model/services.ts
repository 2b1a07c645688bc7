import { timeTicks, ticksBetween } from './format.js';

/**
 * GET /api/sightline/service-map, /red and /services/{service}/operations
 * (src/diagnosis/service-map.ts). Rates are per second, latencies ns.
 */
export interface ServiceMapJson {
  start: number;
  end: number;
  /** Below 1 when the server read a uniform sample of whole traces (counts and rates scaled up from it). */
  sampledFraction?: number;
  nodes: { service: string; spans: number; requests: number; rate: number; errors: number; errorRate: number; p50: number | null; p95: number | null; p99: number | null }[];
  edges: { source: string; target: string; kind: 'request' | 'messaging' | 'link'; count: number; rate: number; errors: number; errorRate: number; p50: number; p95: number; p99: number }[];
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

export interface MapEdge {
  edge: ServiceMapJson['edges'][number];
  /** SVG path from the source's box to the target's. */
  d: string;
  labelX: number;
  labelY: number;
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
}

const DEFAULT_GEOMETRY: MapGeometry = { nodeWidth: 170, nodeHeight: 58, columnGap: 210, rowGap: 44 };

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
  const edges: MapEdge[] = map.edges.map((edge) => {
    const a = at.get(edge.source)!;
    const b = at.get(edge.target)!;
    if (b.rank > a.rank) {
      const x1 = a.x + g.nodeWidth;
      const y1 = a.y + g.nodeHeight / 2;
      const x2 = b.x;
      const y2 = b.y + g.nodeHeight / 2;
      const dx = (x2 - x1) / 2;
      return { edge, d: `M${x1},${y1} C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}`, labelX: (x1 + x2) / 2, labelY: (y1 + y2) / 2, backward: false };
    }
    // A call back to an earlier column (or to itself): an arc under the boxes.
    const x1 = a.x + g.nodeWidth / 2;
    const y1 = a.y + g.nodeHeight;
    const x2 = b.x + g.nodeWidth / 2 + (a === b ? 30 : 0);
    const y2 = b.y + g.nodeHeight;
    const dip = Math.max(y1, y2) + g.rowGap * 0.8 + (a === b ? 10 : 0);
    return { edge, d: `M${x1},${y1} C${x1},${dip} ${x2},${dip} ${x2},${y2}`, labelX: (x1 + x2) / 2, labelY: dip - 4, backward: true };
  });
  const width = columns.length * g.nodeWidth + Math.max(0, columns.length - 1) * g.columnGap;
  const hasBackward = edges.some((e) => e.backward);
  return { nodes, edges, width: Math.max(width, g.nodeWidth), height: height + (hasBackward ? g.rowGap * 1.2 : 0) };
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
  }[];
  trend: { latencyNsPerRequest: number; waitNsPerRequest: number; waitCorrelation: number } | null;
}

export interface LoadChart {
  /** Latency p50 and wait p50 as polylines over concurrency. */
  lines: { name: 'latency p50' | 'wait p50'; d: string }[];
  points: { x: number; latencyY: number; waitY: number; bucket: LoadJson['buckets'][number] }[];
  xTicks: { x: number; value: number }[];
  yTicks: { y: number; valueNs: number }[];
  /** One line that says what the trend means. */
  verdict: string;
  /** The wait grows with load: a pool, a lock or a queue without spans. */
  saturating: boolean;
}

/**
 * The load answer as a chart over requests in flight (x) and nanoseconds
 * (y), and a verdict. "Saturating" needs a wait that rises by at least
 * 1 ms per request in flight and follows load closely (r >= 0.7): below
 * that, a slope is noise or a slow dependency, which keeps the wait flat.
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
  const max = Math.max(1, ...buckets.map((b) => b.latency.p50Ns));
  const yTickValues = ticksBetween(0, max * 1.05, 4);
  const top = Math.max(yTickValues[yTickValues.length - 1], max);
  const y = (ns: number) => height - (ns / top) * height;
  const round = (n: number) => Math.round(n * 10) / 10;
  const points = buckets.map((b) => ({ x: round(x(mid(b))), latencyY: round(y(b.latency.p50Ns)), waitY: round(y(b.wait.p50Ns)), bucket: b }));
  const path = (ys: number[]) => points.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x},${ys[i]}`).join('');
  const t = load.trend;
  const saturating = !!t && t.waitNsPerRequest >= 1e6 && t.waitCorrelation >= 0.7;
  const ms = (ns: number) => `${(ns / 1e6).toFixed(ns >= 1e7 ? 0 : 1)} ms`;
  let verdict: string;
  if (buckets.length < 2 || !t) verdict = 'Too little variation in load to see a trend.';
  else if (saturating)
    verdict = `Waiting grows by ${ms(t.waitNsPerRequest)} per request in flight (r = ${t.waitCorrelation.toFixed(2)}): time spent with no child span running rises with load, as when a pool, a lock or a queue runs out.`;
  else if (t.latencyNsPerRequest >= 1e6)
    verdict = `Latency grows by ${ms(t.latencyNsPerRequest)} per request in flight, but not in uninstrumented waiting: look at the child spans.`;
  else verdict = 'Latency does not grow with load.';
  return {
    lines: [
      { name: 'latency p50', d: path(points.map((p) => p.latencyY)) },
      { name: 'wait p50', d: path(points.map((p) => p.waitY)) },
    ],
    points,
    xTicks: xTickValues.map((value) => ({ x: round(x(value)), value })),
    yTicks: yTickValues.map((valueNs) => ({ y: round(y(valueNs)), valueNs })),
    verdict,
    saturating,
  };
}
