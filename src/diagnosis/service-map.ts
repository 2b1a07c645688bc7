import type { Aggregate, Condition, DiagnosisPort, Field, MetricsPort, TenantScope, TimeRange } from '../store/index.js';

/**
 * The service map and RED series, computed from the raw spans (no
 * Prometheus, no metrics generator): see docs/diagnosis.md.
 */

/** Latencies are span durations in nanoseconds; rates are per second over the range or step. */
export interface ServiceMapJson {
  start: number;
  end: number;
  /**
   * The fraction of traces read: 1 is every trace in the range; below 1,
   * counts and rates are estimated from a uniform sample of whole traces
   * (scaled up), and latencies are the sample's.
   */
  sampledFraction: number;
  /**
   * Present when the map was split by a resource attribute (`groupBy`):
   * each node is then one service on one value of it (`group`), and each
   * edge joins two such nodes (`sourceGroup`, `targetGroup`). A group is
   * null where the service's resource lacks the attribute.
   */
  groupBy?: string;
  nodes: {
    service: string;
    group?: string | null;
    spans: number;
    /** Over the service's entry spans (server, consumer, roots). */
    requests: number;
    rate: number;
    errors: number;
    errorRate: number;
    p50: number | null;
    p95: number | null;
    p99: number | null;
  }[];
  edges: {
    source: string;
    sourceGroup?: string | null;
    target: string;
    targetGroup?: string | null;
    kind: 'request' | 'messaging' | 'link';
    count: number;
    rate: number;
    errors: number;
    errorRate: number;
    /** Of the child (server, consumer) side. */
    p50: number;
    p95: number;
    p99: number;
  }[];
}

const seconds = (range: TimeRange) => Number(range.endNs - range.startNs) / 1e9;

/**
 * `maxSpans`: read a sample of about that many spans when the range holds
 * more (0: read all). `groupBy`: split each service by the value of this
 * resource attribute (`checkout @ node-3`), to find the allocation, node
 * or zone where a service is slow.
 */
export async function serviceMap(store: Pick<DiagnosisPort, 'serviceGraph'>, scope: TenantScope, range: TimeRange, maxSpans = 0, groupBy?: string): Promise<ServiceMapJson> {
  const graph = await store.serviceGraph(scope, range, maxSpans, groupBy);
  const span = seconds(range);
  const scaled = (n: number) => Math.round(n / graph.fraction);
  const grouped = groupBy !== undefined;
  // A node is a service, or a service on one value of the attribute.
  const keyOf = (service: string, group: string | undefined) => JSON.stringify([service, grouped ? (group ?? '') : '']);
  const names = new Map<string, { service: string; group: string }>();
  const add = (service: string, group: string | undefined) => names.set(keyOf(service, group), { service, group: group ?? '' });
  for (const e of graph.edges) {
    add(e.source, e.sourceGroup);
    add(e.target, e.targetGroup);
  }
  const nodes = new Map(graph.nodes.map((n) => [keyOf(n.service, n.group), n]));
  for (const n of graph.nodes) add(n.service, n.group);
  const groupOf = (g: string | undefined) => (g ? g : null);
  const ordered = [...names.entries()].sort(([, a], [, b]) => (a.service < b.service ? -1 : a.service > b.service ? 1 : a.group < b.group ? -1 : a.group > b.group ? 1 : 0));
  return {
    start: Number(range.startNs / 1_000_000_000n),
    end: Number(range.endNs / 1_000_000_000n),
    sampledFraction: graph.fraction,
    ...(grouped ? { groupBy } : {}),
    nodes: ordered.map(([key, { service, group }]) => {
      const n = nodes.get(key);
      const requests = scaled(n?.entrySpans ?? 0);
      const errors = scaled(n?.entryErrors ?? 0);
      return {
        service,
        ...(grouped ? { group: groupOf(group) } : {}),
        spans: scaled(n?.spans ?? 0),
        requests,
        rate: requests / span,
        errors,
        errorRate: requests > 0 ? errors / requests : 0,
        p50: requests > 0 ? n!.p50 : null,
        p95: requests > 0 ? n!.p95 : null,
        p99: requests > 0 ? n!.p99 : null,
      };
    }),
    edges: graph.edges.map((e) => ({
      source: e.source,
      ...(grouped ? { sourceGroup: groupOf(e.sourceGroup) } : {}),
      target: e.target,
      ...(grouped ? { targetGroup: groupOf(e.targetGroup) } : {}),
      kind: e.kind,
      count: scaled(e.count),
      rate: scaled(e.count) / span,
      errors: scaled(e.errors),
      errorRate: e.count > 0 ? e.errors / e.count : 0,
      p50: e.p50,
      p95: e.p95,
      p99: e.p99,
    })),
  };
}

export interface RedPoint {
  /** Bucket start, Unix ms. */
  time: number;
  count: number;
  rate: number;
  errors: number;
  errorRate: number;
  /** Duration quantiles in ns; null for an empty bucket. */
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export interface RedJson {
  service: string;
  /** null: the service's entry spans (server, consumer, roots). */
  operation: string | null;
  start: number;
  end: number;
  stepSeconds: number;
  points: RedPoint[];
}

const KIND: Field = { kind: 'intrinsic', name: 'kind' };
const DURATION: Field = { kind: 'intrinsic', name: 'duration' };
const SERVICE: Field = { kind: 'attribute', scope: 'resource', name: 'service.name' };
const NAME: Field = { kind: 'intrinsic', name: 'name' };
/** A service's entry spans: server and consumer spans, and roots. */
const ENTRY: Condition = {
  op: 'or',
  terms: [
    { op: 'compare', field: KIND, cmp: '=', value: { type: 'kind', value: 'server' } },
    { op: 'compare', field: KIND, cmp: '=', value: { type: 'kind', value: 'consumer' } },
    { op: 'not', term: { op: 'exists', field: { kind: 'intrinsic', name: 'parentId' } } },
  ],
};
/** count, errors, p50, p95, p99: exact quantiles of the bucket's spans. */
const RED_VALUES: Aggregate[] = [
  { fn: 'count' },
  { fn: 'countWhere', where: { op: 'compare', field: { kind: 'intrinsic', name: 'status' }, cmp: '=', value: { type: 'status', value: 'error' } } },
  { fn: 'quantile', q: 0.5, of: DURATION },
  { fn: 'quantile', q: 0.95, of: DURATION },
  { fn: 'quantile', q: 0.99, of: DURATION },
];
const isService = (service: string): Condition => ({ op: 'compare', field: SERVICE, cmp: '=', value: { type: 'string', value: service } });

/**
 * Rate, errors and duration of a service's requests (its entry spans), or
 * of one of its operations (spans of that name, any kind), per step.
 * `range` must be whole steps (the caller aligns it).
 */
export async function redSeries(store: Pick<MetricsPort, 'metricsSeries'>, scope: TenantScope, req: { service: string; operation?: string; range: TimeRange; stepNs: bigint }): Promise<RedJson> {
  const where: Condition = {
    op: 'and',
    terms: [isService(req.service), req.operation !== undefined ? { op: 'compare', field: NAME, cmp: '=', value: { type: 'string', value: req.operation } } : ENTRY],
  };
  const { rows } = await store.metricsSeries(scope, { range: req.range, stepNs: req.stepNs, where, by: [], aggregates: RED_VALUES });
  const byBucket = new Map(rows.map((r) => [r.bucket, r.values]));
  const buckets = Number((req.range.endNs - req.range.startNs + req.stepNs - 1n) / req.stepNs);
  const stepSeconds = Number(req.stepNs) / 1e9;
  const points: RedPoint[] = [];
  for (let b = 0; b < buckets; b++) {
    const v = byBucket.get(b);
    const count = v?.[0] ?? 0;
    const errors = v?.[1] ?? 0;
    points.push({
      time: Number((req.range.startNs + BigInt(b) * req.stepNs) / 1_000_000n),
      count,
      rate: count / stepSeconds,
      errors,
      errorRate: count > 0 ? errors / count : 0,
      p50: count > 0 ? v![2] : null,
      p95: count > 0 ? v![3] : null,
      p99: count > 0 ? v![4] : null,
    });
  }
  return {
    service: req.service,
    operation: req.operation ?? null,
    start: Number(req.range.startNs / 1_000_000_000n),
    end: Number(req.range.endNs / 1_000_000_000n),
    stepSeconds,
    points,
  };
}

export interface OperationJson {
  name: string;
  kind: string;
  count: number;
  rate: number;
  errors: number;
  errorRate: number;
  /** Sum of the spans' durations, ns: where the service spends its time. */
  totalDuration: number;
  p50: number;
  p95: number;
  p99: number;
}

/** A service's operations (span name and kind) over the range, most frequent first. */
export async function serviceOperations(
  store: Pick<MetricsPort, 'metricsSeries'>,
  scope: TenantScope,
  service: string,
  range: TimeRange,
  limit: number,
): Promise<{ service: string; operations: OperationJson[] }> {
  const { rows } = await store.metricsSeries(scope, {
    range,
    stepNs: range.endNs - range.startNs,
    where: isService(service),
    by: [
      { kind: 'field', field: NAME },
      { kind: 'field', field: KIND },
    ],
    aggregates: [...RED_VALUES, { fn: 'sum', of: DURATION }],
  });
  const span = seconds(range);
  const operations = rows
    .map(({ by: [name, kind], values: [count, errors, p50, p95, p99, total] }) => ({
      name,
      kind,
      count,
      rate: count / span,
      errors,
      errorRate: count > 0 ? errors / count : 0,
      totalDuration: total,
      p50,
      p95,
      p99,
    }))
    .sort((a, b) => b.count - a.count || b.totalDuration - a.totalDuration || (a.name < b.name ? -1 : 1));
  return { service, operations: operations.slice(0, limit) };
}
