import type { PipelineJson, TaskJson, TrendBucketJson, WindowJson } from './wire.js';
import { FAILED_RESULTS, FINISHED_RESULTS, JENKINS_QUEUE_SPAN, normalResult } from './semconv.js';
import { quantile } from './deployments.js';

/**
 * Pipeline runs from their traces, and where their time goes. Pure: read.ts
 * fetches the spans, delivery.test.ts pins the figures.
 */

/** A span of a pipeline trace with the CI/CD values read for it ('' where absent). */
export interface PipelineSpan {
  spanId: string;
  /** '' for a root. */
  parentId: string;
  startMs: number;
  durationMs: number;
  name: string;
  status: string;
  pipelineName: string;
  runId: string;
  pipelineResult: string;
  taskName: string;
  taskRunId: string;
  taskResult: string;
  runState: string;
  revision: string;
  /** cicd.pipeline.run.queue.duration (ns); NaN when absent. */
  queueDurationNs: number;
}

export interface TaskRun {
  name: string;
  parent: string;
  startMs: number;
  /** The span's duration less the queue wait below it. */
  runMs: number;
  queueMs: number;
  result: string;
}

export interface PipelineRun {
  traceId: string;
  name: string;
  runId: string;
  result: string;
  startMs: number;
  durationMs: number;
  revision: string;
  /** Queue spans of the run, and their summed duration. */
  queueSpans: number;
  queueMs: number;
  tasks: TaskRun[];
}

function statusResult(status: string): string {
  return status === 'error' ? 'failure' : status === 'ok' ? 'success' : '';
}

/**
 * A span that stands for time in a queue: the GitHub receiver's queue span
 * (it carries cicd.pipeline.run.queue.duration), a span in the
 * convention's `pending` run state, or Jenkins' "Phase: Start".
 */
export function isQueueSpan(s: PipelineSpan): boolean {
  return !Number.isNaN(s.queueDurationNs) || s.runState.toLowerCase() === 'pending' || s.name === JENKINS_QUEUE_SPAN;
}

/** A pipeline run from the spans of its trace; null when the trace holds no pipeline run. */
export function pipelineRun(traceId: string, spans: readonly PipelineSpan[]): PipelineRun | null {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const roots = spans.filter((s) => s.parentId === '' || !byId.has(s.parentId));
  if (roots.length === 0) return null;
  const root = roots.reduce((a, b) => (b.startMs < a.startMs || (b.startMs === a.startMs && b.durationMs > a.durationMs) ? b : a));
  if (root.pipelineName === '' && !spans.some((s) => s.pipelineName !== '')) return null;
  const queue = spans.filter((s) => s !== root && isQueueSpan(s));
  const queueIds = new Set(queue.map((s) => s.spanId));
  const isTask = (s: PipelineSpan) => s !== root && !queueIds.has(s.spanId) && (s.taskName !== '' || s.taskRunId !== '');
  const taskIds = new Set(spans.filter(isTask).map((s) => s.spanId));
  /** The nearest task above a span ('' when none); bounded by the trace's size, so a parent cycle cannot loop. */
  const taskAbove = (s: PipelineSpan): string => {
    let p = byId.get(s.parentId);
    for (let hops = 0; p && hops < spans.length; hops++) {
      if (taskIds.has(p.spanId)) return p.spanId;
      p = byId.get(p.parentId);
    }
    return '';
  };
  const queueOf = new Map<string, number>();
  for (const q of queue) {
    const owner = taskAbove(q);
    if (owner !== '') queueOf.set(owner, (queueOf.get(owner) ?? 0) + q.durationMs);
  }
  const nameOf = (s: PipelineSpan) => s.taskName || s.name;
  const tasks: TaskRun[] = spans.filter(isTask).map((s) => {
    const above = taskAbove(s);
    const queueMs = queueOf.get(s.spanId) ?? 0;
    return {
      name: nameOf(s),
      parent: above !== '' ? nameOf(byId.get(above)!) : '',
      startMs: s.startMs,
      runMs: Math.max(0, s.durationMs - queueMs),
      queueMs,
      result: normalResult(s.taskResult) || statusResult(s.status),
    };
  });
  return {
    traceId,
    name: root.pipelineName || root.name,
    runId: root.runId || traceId,
    result: normalResult(root.pipelineResult) || statusResult(root.status),
    startMs: root.startMs,
    durationMs: root.durationMs,
    revision: root.revision || (spans.find((s) => s.revision !== '')?.revision ?? ''),
    queueSpans: queue.length,
    queueMs: queue.reduce((sum, q) => sum + q.durationMs, 0),
    tasks,
  };
}

const sortedOf = (xs: number[]) => [...xs].sort((a, b) => a - b);
const q = (xs: number[], level: number) => (xs.length === 0 ? 0 : quantile(sortedOf(xs), level));

/** Per task (parent and name): run times, failures, retries and flaky revisions. */
export function taskStats(runs: readonly PipelineRun[]): TaskJson[] {
  const groups = new Map<string, { task: string; parent: string; entries: { run: PipelineRun; t: TaskRun }[] }>();
  for (const run of runs)
    for (const t of run.tasks) {
      const k = `${t.parent}\u0000${t.name}`;
      let g = groups.get(k);
      if (!g) groups.set(k, (g = { task: t.name, parent: t.parent, entries: [] }));
      g.entries.push({ run, t });
    }
  const out: TaskJson[] = [];
  for (const g of groups.values()) {
    const perRun = new Map<string, number>();
    for (const { run } of g.entries) perRun.set(run.runId, (perRun.get(run.runId) ?? 0) + 1);
    const perRevision = new Map<string, TaskRun[]>();
    for (const { run, t } of g.entries) {
      if (run.revision === '') continue;
      let list = perRevision.get(run.revision);
      if (!list) perRevision.set(run.revision, (list = []));
      list.push(t);
    }
    let flaky = 0;
    for (const list of perRevision.values()) {
      list.sort((a, b) => a.startMs - b.startMs);
      const firstFailure = list.findIndex((t) => FAILED_RESULTS.has(t.result));
      if (firstFailure >= 0 && list.slice(firstFailure + 1).some((t) => t.result === 'success')) flaky++;
    }
    const runMs = g.entries.map((e) => e.t.runMs);
    out.push({
      task: g.task,
      parent: g.parent,
      runs: g.entries.length,
      failures: g.entries.filter((e) => FAILED_RESULTS.has(e.t.result)).length,
      p50Ms: q(runMs, 0.5),
      p95Ms: q(runMs, 0.95),
      queueP50Ms: q(g.entries.map((e) => e.t.queueMs), 0.5),
      retries: [...perRun.values()].reduce((s, n) => s + n - 1, 0),
      flakyRevisions: flaky,
    });
  }
  return out;
}

/** Per-bucket run count, run time p50 and failure rate, from the range start in steps of `stepMs`. */
export function trend(runs: readonly PipelineRun[], range: WindowJson, stepMs: number): TrendBucketJson[] {
  const n = Math.max(1, Math.ceil((range.endMs - range.startMs) / stepMs));
  const buckets: PipelineRun[][] = Array.from({ length: n }, () => []);
  for (const r of runs) {
    if (r.startMs < range.startMs || r.startMs >= range.endMs) continue;
    buckets[Math.min(n - 1, Math.floor((r.startMs - range.startMs) / stepMs))].push(r);
  }
  return buckets.map((rs, i) => {
    const finished = rs.filter((r) => FINISHED_RESULTS.has(r.result));
    return {
      startMs: range.startMs + i * stepMs,
      runs: rs.length,
      p50Ms: rs.length > 0 ? q(rs.map((r) => r.durationMs), 0.5) : null,
      failureRate: finished.length > 0 ? finished.filter((r) => FAILED_RESULTS.has(r.result)).length / finished.length : null,
    };
  });
}

/** One pipeline's figures, but for its critical path (read.ts adds it). */
export function pipelineSummary(name: string, runs: readonly PipelineRun[], range: WindowJson, stepMs: number, limit: number): Omit<PipelineJson, 'criticalPath'> {
  const finished = runs.filter((r) => FINISHED_RESULTS.has(r.result));
  const succeeded = finished.filter((r) => r.result === 'success').length;
  const queueTotal = runs.reduce((s, r) => s + r.queueMs, 0);
  const topTaskTime = runs.reduce((s, r) => s + r.tasks.filter((t) => t.parent === '').reduce((x, t) => x + t.runMs, 0), 0);
  const tasks = taskStats(runs);
  return {
    name,
    runs: runs.length,
    finished: finished.length,
    succeeded,
    successRate: finished.length > 0 ? succeeded / finished.length : null,
    runTime: {
      p50Ms: q(runs.map((r) => r.durationMs), 0.5),
      p95Ms: q(runs.map((r) => r.durationMs), 0.95),
    },
    queue: {
      queuedTasks: runs.reduce((s, r) => s + r.queueSpans, 0),
      totalMs: queueTotal,
      perRunP50Ms: q(runs.map((r) => r.queueMs), 0.5),
      perRunP95Ms: q(runs.map((r) => r.queueMs), 0.95),
      share: queueTotal + topTaskTime > 0 ? queueTotal / (queueTotal + topTaskTime) : null,
    },
    slowestTasks: [...tasks].sort((a, b) => b.p95Ms - a.p95Ms || b.p50Ms - a.p50Ms || (a.task < b.task ? -1 : 1)).slice(0, limit),
    flakyTasks: tasks
      .filter((t) => t.flakyRevisions > 0 || t.retries > 0)
      .sort((a, b) => b.flakyRevisions - a.flakyRevisions || b.retries - a.retries || b.failures - a.failures || (a.task < b.task ? -1 : 1))
      .slice(0, limit),
    trend: { stepMs, buckets: trend(runs, range, stepMs) },
  };
}
