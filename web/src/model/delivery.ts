import type { DeliveryJson, DeploymentJson, DoraJson, FailureCause, PipelineJson, PipelinesJson, TaskJson, TrendBucketJson } from '../../../src/delivery/wire.js';
import { formatMs, formatTimestamp, timeTicks, formatClock } from './format.js';
import { deployCompareLink } from './links.js';
import type { DeliveryState } from './delivery-state.js';

/**
 * The Delivery page (GET /api/sightline/delivery and /delivery/pipelines,
 * src/delivery/wire.ts): the four DORA keys per service and per team, the
 * deployments they count with "what changed" at each, and where pipeline
 * time goes. API payloads in, rows and charts out, no DOM.
 */

export type { DeliveryJson, DeploymentJson, DoraJson, PipelineJson, PipelinesJson, TaskJson, TrendBucketJson };

const DAY_MS = 86_400_000;

/** A span of time from seconds to weeks: "45 s", "3 h 20 min", "2.5 d"; "—" for nothing measured. */
export function formatSpanMs(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '—';
  if (Math.abs(ms) >= 2 * DAY_MS) return `${Number((ms / DAY_MS).toFixed(1))} d`;
  return formatMs(ms);
}

/** Deployment frequency as a team says it: "3.5 / day", or per week when under one a day ("2 / week"). */
export function formatFrequency(perDay: number, deployments: number): string {
  if (deployments === 0) return 'none';
  if (perDay >= 1) return `${Number(perDay.toFixed(1))} / day`;
  return `${Number((perDay * 7).toFixed(1))} / week`;
}

/** A rate in 0-1 as a whole percentage; "—" without anything to divide. */
export function formatRate(rate: number | null): string {
  if (rate === null || !Number.isFinite(rate)) return '—';
  return `${Math.round(rate * 100)}%`;
}

export interface DoraRow {
  /** The service or team; "(no team)" for services without the team key. */
  key: string;
  label: string;
  /** Per service: its team; per team: its services. */
  detail: string;
  deployments: number;
  frequency: string;
  /** Lead time for changes, p50, and over how many changes it was measured. */
  leadTime: string;
  leadTimeDetail: string;
  /** "25% (1 of 4)". */
  changeFailure: string;
  /** Time to restore, p50, and what it counts. */
  restore: string;
  restoreDetail: string;
}

/** The four keys of each service, or each team, in the API's order (by name). */
export function doraRows(json: Pick<DeliveryJson, 'services' | 'teams' | 'teamKey'>, by: DeliveryState['by']): DoraRow[] {
  const rows = by === 'team' ? json.teams : json.services;
  return rows.map((r: DoraJson) => {
    const lt = r.leadTime;
    const ttr = r.timeToRestore;
    const label = r.key === '' ? (by === 'team' ? `(no ${json.teamKey})` : '(unnamed)') : r.key;
    return {
      key: r.key,
      label,
      detail: by === 'team' ? (r.services ?? []).join(', ') : r.team ? r.team : '',
      deployments: r.deployments,
      frequency: formatFrequency(r.perDay, r.deployments),
      leadTime: formatSpanMs(lt.p50Ms),
      leadTimeDetail: lt.changes === 0 ? 'no deployment names its commit' : `p50 of ${lt.changes} change${lt.changes === 1 ? '' : 's'}, p95 ${formatSpanMs(lt.p95Ms)}`,
      changeFailure: r.changeFailureRate === null ? '—' : `${formatRate(r.changeFailureRate)} (${r.failedDeployments} of ${r.deployments})`,
      restore: formatSpanMs(ttr.p50Ms),
      restoreDetail:
        ttr.restored === 0 && ttr.open === 0 ? 'no SLO alert fired' : `p50 of ${ttr.restored} restored${ttr.open > 0 ? `, ${ttr.open} still firing` : ''}`,
    };
  });
}

const CAUSE_WORDS: Record<FailureCause, string> = { status: 'deployment failed', 'slo-alert': 'SLO alert after it', rollback: 'rolled back' };
const SOURCE_WORDS: Record<DeploymentJson['sources'][number], string> = {
  'deployment-span': 'deployment span',
  'version-first-seen': 'new service.version',
  'nomad-job-version': 'new Nomad job version',
};

export interface DeploymentRow {
  id: string;
  timeMs: number;
  time: string;
  service: string;
  /** "2.0.0", "job v7", or "—". */
  version: string;
  environment: string;
  /** How it was seen: "deployment span, new service.version". */
  seenBy: string;
  leadTime: string;
  failed: boolean;
  rollback: boolean;
  /** "failed: rolled back, SLO alert after it (checkout-latency)", "ok". */
  outcome: string;
  /** The compare page: the service in the hour after against the hour before. */
  whatChangedHref: string;
  /** The pipeline run's trace, when a pipeline deployed it. */
  pipeline: { label: string; href: string } | null;
}

/** Deployments as the page lists them, newest first (the API's order). */
export function deploymentRows(json: Pick<DeliveryJson, 'deployments'>): DeploymentRow[] {
  return json.deployments.map((d) => {
    const version = d.version || (d.nomadJobVersion ? `job v${d.nomadJobVersion}` : '—');
    const causes = d.failedBecause.map((c) => (c === 'slo-alert' && d.alerts.length > 0 ? `${CAUSE_WORDS[c]} (${d.alerts.join(', ')})` : CAUSE_WORDS[c]));
    return {
      id: `${d.service}|${d.environment}|${d.timeMs}|${d.version}|${d.nomadJobVersion}`,
      timeMs: d.timeMs,
      time: formatTimestamp(d.timeMs, false),
      service: d.service,
      version,
      environment: d.environment || '—',
      seenBy: d.sources.map((s) => SOURCE_WORDS[s]).join(', '),
      leadTime: formatSpanMs(d.leadTimeMs),
      failed: d.failed,
      rollback: d.rollback,
      outcome: d.failed ? `failed: ${causes.join(', ')}` : d.rollback ? 'ok (a rollback)' : 'ok',
      whatChangedHref: whatChangedLink(d),
      pipeline: d.pipeline ? { label: `${d.pipeline.name} #${d.pipeline.runId}`, href: `/trace/${d.pipeline.traceId}` } : null,
    };
  });
}

/**
 * "What changed at this deploy": compare with the deployment's query over
 * the hour after as the selection, and the same query over the hour before
 * as the baseline (the API's whatChanged). Whole seconds, the deploy's
 * second the boundary, so the two windows meet and do not overlap.
 */
export function whatChangedLink(d: Pick<DeploymentJson, 'service' | 'version' | 'nomadJobVersion' | 'whatChanged'>): string {
  const w = d.whatChanged;
  const version = d.version || (d.nomadJobVersion ? `job v${d.nomadJobVersion}` : '');
  return deployCompareLink({ service: d.service, at: w.selection.startMs / 1000, version, query: w.query }, (w.selection.endMs - w.selection.startMs) / 1000);
}

export interface TaskRow {
  id: string;
  /** "integration-tests", or "build › compile" under a parent task. */
  label: string;
  runs: number;
  failures: number;
  p50: string;
  p95: string;
  queue: string;
  retries: number;
  flakyRevisions: number;
  /** "failed then passed on 2 revisions, 1 retry". */
  flakiness: string;
}

function taskRow(t: TaskJson): TaskRow {
  const parts: string[] = [];
  if (t.flakyRevisions > 0) parts.push(`failed then passed on ${t.flakyRevisions} revision${t.flakyRevisions === 1 ? '' : 's'}`);
  if (t.retries > 0) parts.push(`${t.retries} retr${t.retries === 1 ? 'y' : 'ies'}`);
  return {
    id: `${t.parent}\u0000${t.task}`,
    label: t.parent ? `${t.parent} › ${t.task}` : t.task,
    runs: t.runs,
    failures: t.failures,
    p50: formatSpanMs(t.p50Ms),
    p95: formatSpanMs(t.p95Ms),
    queue: t.queueP50Ms > 0 ? formatSpanMs(t.queueP50Ms) : '—',
    retries: t.retries,
    flakyRevisions: t.flakyRevisions,
    flakiness: parts.join(', ') || '—',
  };
}

export interface PipelineView {
  name: string;
  runs: number;
  /** "3 of 6 finished runs (50%)". */
  success: string;
  runTime: string;
  /** Queue wait against run time: fractions for a bar (summing to 1), and words. */
  queueShare: number | null;
  queueWords: string;
  /** The critical path's operations; `service` where the runs' spans come from more than one. */
  pathRows: { id: string; label: string; service: string; share: number; shareText: string; mean: string; p95: string; runs: number }[];
  slowest: TaskRow[];
  flaky: TaskRow[];
}

export function pipelineViews(json: Pick<PipelinesJson, 'pipelines'>): PipelineView[] {
  return json.pipelines.map((p: PipelineJson) => ({
    name: p.name,
    runs: p.runs,
    success: p.successRate === null ? `no finished runs of ${p.runs}` : `${p.succeeded} of ${p.finished} finished runs (${formatRate(p.successRate)})`,
    runTime: `p50 ${formatSpanMs(p.runTime.p50Ms)}, p95 ${formatSpanMs(p.runTime.p95Ms)}`,
    queueShare: p.queue.share,
    queueWords:
      p.queue.queuedTasks === 0
        ? 'no queue wait was sent'
        : `${formatRate(p.queue.share)} of task time waiting in a queue: ${formatSpanMs(p.queue.perRunP50Ms)} per run (p50), ${formatSpanMs(p.queue.perRunP95Ms)} (p95), over ${p.queue.queuedTasks} queued task${p.queue.queuedTasks === 1 ? '' : 's'}`,
    pathRows: p.criticalPath.operations.map((o, _, all) => ({
      id: `${o.service}\u0000${o.operation}`,
      label: o.operation,
      service: all.some((x) => x.service !== o.service) ? o.service : '',
      share: o.share,
      shareText: formatRate(o.share),
      mean: formatSpanMs(o.meanOnPathMs),
      p95: formatSpanMs(o.p95OnPathMs),
      runs: o.runs,
    })),
    slowest: p.slowestTasks.map(taskRow),
    flaky: p.flakyTasks.map(taskRow),
  }));
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR_MS = 60 * MINUTE;
/** Steps of a duration axis a clock reader expects: labels stay "10 min", never "8 min 20 s". */
const DURATION_STEPS_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, SECOND, 2 * SECOND, 5 * SECOND, 10 * SECOND, 15 * SECOND, 30 * SECOND, MINUTE, 2 * MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR_MS, 2 * HOUR_MS, 6 * HOUR_MS, 12 * HOUR_MS, DAY_MS];

/** Ticks from 0 past `maxMs` on a duration step, about `target` of them. */
export function durationTicksMs(maxMs: number, target = 4): number[] {
  if (!(maxMs > 0)) return [0, SECOND];
  const raw = maxMs / target;
  const step = DURATION_STEPS_MS.find((x) => x >= raw) ?? Math.ceil(raw / DAY_MS) * DAY_MS;
  const out: number[] = [];
  for (let t = 0; t < maxMs + step; t += step) out.push(t);
  return out;
}

export interface TrendChart {
  /** One bar per bucket: the runs that started in it. */
  bars: { x: number; width: number; y: number; height: number; runs: number; startMs: number }[];
  /** Run time p50 per bucket (gaps where no run started), on its own axis; a point per bucket, so a lone one shows. */
  line: string;
  p50Points: { x: number; y: number; p50Ms: number }[];
  /** Failure rate per bucket, 0-1 over the plot's height. */
  failures: { x: number; y: number; rate: number }[];
  xTicks: { x: number; label: string }[];
  /** Run time ticks (left axis). */
  yTicks: { y: number; label: string }[];
  maxRuns: number;
}

/**
 * The trend of a pipeline over the range: runs per bucket as bars, the run
 * time p50 as a line (left axis), failed runs as dots on a 0-100% scale.
 */
export function trendChart(trend: PipelineJson['trend'], width: number, height: number): TrendChart {
  const b = trend.buckets;
  const n = Math.max(1, b.length);
  const slot = width / n;
  const maxRuns = Math.max(1, ...b.map((x) => x.runs));
  const maxP50 = Math.max(0, ...b.map((x) => x.p50Ms ?? 0));
  const ticks = durationTicksMs(maxP50);
  const top = ticks[ticks.length - 1];
  const round = (v: number) => Math.round(v * 10) / 10;
  const xMid = (i: number) => round(i * slot + slot / 2);
  let line = '';
  let pen = false;
  b.forEach((x, i) => {
    if (x.p50Ms === null) {
      pen = false;
      return;
    }
    line += `${pen ? 'L' : 'M'}${xMid(i)},${round(height - (x.p50Ms / top) * height)}`;
    pen = true;
  });
  const startMs = b[0]?.startMs ?? 0;
  const endMs = startMs + n * trend.stepMs;
  const xOfMs = (ms: number) => ((ms - startMs) / Math.max(1, endMs - startMs)) * width;
  const tickMs = timeTicks(startMs, endMs, 6);
  const tickStep = tickMs.length > 1 ? tickMs[1] - tickMs[0] : trend.stepMs;
  return {
    bars: b.map((x, i) => {
      const h = (x.runs / maxRuns) * height * 0.9;
      return { x: round(i * slot + slot * 0.15), width: round(slot * 0.7), y: round(height - h), height: round(h), runs: x.runs, startMs: x.startMs };
    }),
    line,
    p50Points: b.flatMap((x, i) => (x.p50Ms === null ? [] : [{ x: xMid(i), y: round(height - (x.p50Ms / top) * height), p50Ms: x.p50Ms }])),
    failures: b.flatMap((x, i) => (x.failureRate === null ? [] : [{ x: xMid(i), y: round(height - x.failureRate * height), rate: x.failureRate }])),
    xTicks: tickMs.map((ms) => ({ x: xOfMs(ms), label: formatClock(ms, tickStep) })),
    yTicks: ticks.map((v) => ({ y: height - (v / top) * height, label: v === 0 ? '0' : formatSpanMs(v) })),
    maxRuns,
  };
}
