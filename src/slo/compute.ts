import { aggregateCriticalPath, compareGroups } from '../diagnosis/index.js';
import { compileQuery, queryMetrics } from '../query/traceql/index.js';
import type { ReadPorts, TenantScope } from '../store/index.js';
import type { EventCounts } from './budget.js';

/**
 * What an SLO reads from the store. Both run inside a query worker (the
 * API's jobs call them), under the pool's deadline and limits, like any
 * other query.
 */

export interface CountsArgs {
  validQuery: string;
  goodQuery: string;
  /** Windows ending at endMs. */
  windowsMs: number[];
  endMs: number;
}

export interface WindowCounts extends EventCounts {
  windowMs: number;
  /** What answered: the per-minute rollup where it is exact, else the raw spans. */
  source: string;
}

/**
 * Valid and good events over each window, by TraceQL metrics
 * (count_over_time, one bucket the length of the window): the store answers
 * from its rollup where that is exact, from the raw spans otherwise.
 */
export async function countEvents(store: ReadPorts, scope: TenantScope, a: CountsArgs): Promise<WindowCounts[]> {
  const valid = compileQuery(`${a.validQuery} | count_over_time()`);
  const good = compileQuery(`${a.goodQuery} | count_over_time()`);
  const endNs = BigInt(a.endMs) * 1_000_000n;
  const out: WindowCounts[] = [];
  for (const windowMs of a.windowsMs) {
    const stepNs = BigInt(windowMs) * 1_000_000n;
    const req = { range: { startNs: endNs - stepNs, endNs }, stepNs };
    const [v, g] = await Promise.all([queryMetrics(valid, store, scope, req), queryMetrics(good, store, scope, req)]);
    const sum = (r: typeof v) => r.series.reduce((n, s) => n + s.samples.reduce((m, [, x]) => m + x, 0), 0);
    out.push({ windowMs, valid: sum(v), good: sum(g), source: v.source === g.source ? v.source : `${v.source}+${g.source}` });
  }
  return out;
}

export interface DiagnoseArgs {
  badQuery: string;
  goodQuery: string;
  startMs: number;
  endMs: number;
  maxTraces: number;
}

export interface AttributeFinding {
  scope: string;
  key: string;
  value: string;
  /** Share of bad-event traces, and of good-event traces, carrying the value. */
  badShare: number;
  goodShare: number;
  score: number;
}

export interface OperationFinding {
  service: string;
  operation: string;
  /** Mean time on the critical path per trace, bad minus good. */
  extraNs: number;
  /** Of the bad traces' extra latency; null when they are not slower. */
  explainedShare: number | null;
}

export interface SloDiagnosis {
  startMs: number;
  endMs: number;
  badTraces: number;
  goodTraces: number;
  sampled: boolean;
  /** The attribute values bad events share most over good ones, best first. */
  attributes: AttributeFinding[];
  /** The operation that holds most of the bad events' extra time on the critical path. */
  operation: OperationFinding | null;
  extraLatencyNs: number;
}

/**
 * The existing diagnosis, bad events against good: attribute comparison
 * and the aggregated critical path of traces with a bad span against
 * traces with a good one (docs/diagnosis.md).
 */
export async function diagnoseBadEvents(store: ReadPorts, scope: TenantScope, a: DiagnoseArgs): Promise<SloDiagnosis> {
  const range = { startNs: BigInt(a.startMs) * 1_000_000n, endNs: BigInt(a.endMs) * 1_000_000n };
  const opts = { range, selection: compileQuery(a.badQuery), baseline: compileQuery(a.goodQuery), maxTraces: a.maxTraces, limit: 10 };
  const compared = await compareGroups(store, scope, opts);
  const path = await aggregateCriticalPath(store, scope, { ...opts, limit: 20 });
  // Values the bad events share. A grouped row is a key of near-unique
  // values (ports, URLs, statements): no one value is shared, and its best
  // value names one connection or record (a URL with a patient id), which a
  // notification sent out of Sightline must not carry.
  const attributes = compared.attributes
    .filter((d) => d.score > 0 && !d.grouped)
    .slice(0, 3)
    .map((d) => ({ scope: d.scope, key: d.key, value: d.value, badShare: d.selectionShare, goodShare: d.baselineShare, score: d.score }));
  let best: OperationFinding | null = null;
  for (const op of path.operations)
    if (op.explainsNs > 0 && (best === null || op.explainsNs > best.extraNs)) best = { service: op.service, operation: op.operation, extraNs: op.explainsNs, explainedShare: op.explainedShare };
  return {
    startMs: a.startMs,
    endMs: a.endMs,
    badTraces: compared.inspected.selectionTraces,
    goodTraces: compared.inspected.baselineTraces,
    sampled: compared.inspected.sampled,
    attributes,
    operation: best,
    extraLatencyNs: path.extraLatencyNs,
  };
}
