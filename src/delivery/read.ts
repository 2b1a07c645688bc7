import type { Condition, DiagnosisPort, EvalSpan, Field, MetricsPort, ReadPorts, TenantScope, TimeRange } from '../store/index.js';
import { criticalPathOfTraces } from '../diagnosis/index.js';
import type { AlertJson, DeliveryJson, PipelineJson, PipelinesJson } from './wire.js';
import * as C from './semconv.js';
import { doraKeys, mergeDeployments, versionDeployments, versionKey, type DeploymentRecord, type VersionSighting } from './deployments.js';
import { pipelineRun, pipelineSummary, type PipelineRun, type PipelineSpan } from './pipelines.js';

/**
 * Delivery's reads: storage-free requests to the store's ports (metrics,
 * search, diagnosis), then the pure computations of deployments.ts and
 * pipelines.ts. Runs in a query worker (api/native/delivery-jobs.ts).
 */

const NS_PER_MS = 1_000_000n;
const NS_PER_MINUTE = 60_000_000_000n;
/** Trace ids per spans request: ids travel in the SQL text. */
const IDS_PER_READ = 500;
/** Revisions per commit-time request. */
const REVISIONS_PER_READ = 200;
/** Buckets of the version history at most; each is at least a minute. */
const HISTORY_BUCKETS = 1440n;

const any = (name: string): Field => ({ kind: 'attribute', scope: 'any', name });
const span = (name: string): Field => ({ kind: 'attribute', scope: 'span', name });
const event = (name: string): Field => ({ kind: 'attribute', scope: 'event', name });
const exists = (field: Field): Condition => ({ op: 'exists', field });
const or = (terms: Condition[]): Condition => ({ op: 'or', terms });
const ms = (ns: bigint | number) => (typeof ns === 'bigint' ? Number(ns / NS_PER_MS) : Math.round(ns / 1e6));

export interface DeliveryArgs {
  range: TimeRange;
  teamKey: string;
  environment: string | null;
  /** How far before the range the version history and commits are read. */
  lookbackNs: bigint;
  /** Evidence of one deployment lies within this of its first. */
  mergeWindowMs: number;
  /** Traces with deployment spans read at most. */
  maxDeployments: number;
  /** SLO alerts, with the services their SLO's valid query names (read by the route from the alert state). */
  alerts: AlertJson[];
}

type Ports = Pick<ReadPorts, 'metricsSeries' | 'candidateTraces' | 'traceSpans' | 'pathSpans' | 'resourceSightings'>;

/** The four keys per service and team, and the deployments they count. */
export async function deliveryKeys(store: Ports, scope: TenantScope, a: DeliveryArgs): Promise<DeliveryJson> {
  const window: TimeRange = { startNs: a.range.startNs - a.lookbackNs, endNs: a.range.endNs };
  const [history, spans, teams] = await Promise.all([versionHistory(store, scope, window), deploymentSpans(store, scope, window, a.maxDeployments), teamsOf(store, scope, a.range, a.teamKey)]);
  const records = [...versionDeployments(history.sightings, 'version'), ...versionDeployments(history.sightings, 'nomadJobVersion'), ...spans.records];
  const merged = mergeDeployments(records, a.mergeWindowMs);
  const inRange = merged.filter((d) => d.timeMs >= ms(a.range.startNs) && d.timeMs < ms(a.range.endNs));
  const commits = await commitTimes(store, scope, window, [...new Set(inRange.map((d) => d.revision).filter((r) => r !== ''))]);
  const out = doraKeys({
    range: { startMs: ms(a.range.startNs), endMs: ms(a.range.endNs) },
    deployments: merged,
    versionFirstSeen: history.firstSeen,
    commits,
    alerts: a.alerts,
    teams,
    environment: a.environment,
  });
  return {
    range: { startMs: ms(a.range.startNs), endMs: ms(a.range.endNs) },
    teamKey: a.teamKey,
    environment: a.environment,
    services: out.services,
    teams: out.teams,
    deployments: out.deployments,
    alerts: a.alerts.filter((x) => x.firedMs >= ms(a.range.startNs) && x.firedMs < ms(a.range.endNs)),
    sampled: spans.sampled,
  };
}

/** Every (service, version, Nomad job version, environment) per time bucket, with its first span's start there. */
async function versionHistory(store: Pick<DiagnosisPort, 'resourceSightings'>, scope: TenantScope, window: TimeRange): Promise<{ sightings: VersionSighting[]; firstSeen: Map<string, number> }> {
  const span = window.endNs - window.startNs;
  const minutes = (span / HISTORY_BUCKETS + NS_PER_MINUTE - 1n) / NS_PER_MINUTE;
  const stepNs = (minutes > 0n ? minutes : 1n) * NS_PER_MINUTE;
  const rows = await store.resourceSightings(scope, { range: window, stepNs, attributes: [C.SERVICE_VERSION, C.NOMAD_JOB_VERSION, C.ENVIRONMENT] });
  const sightings: VersionSighting[] = [];
  const firstSeen = new Map<string, number>();
  for (const row of rows) {
    const [version, nomadJobVersion, environment] = row.values;
    if (version === '' && nomadJobVersion === '') continue;
    const firstMs = ms(row.firstNs);
    sightings.push({ service: row.service, version, nomadJobVersion, environment, bucket: row.step, firstMs });
    if (version !== '') {
      const k = versionKey(row.service, version);
      firstSeen.set(k, Math.min(firstSeen.get(k) ?? Infinity, firstMs));
    }
  }
  return { sightings, firstSeen };
}

const DEPLOYMENT_FIELDS = [C.DEPLOYMENT_ID, C.DEPLOYMENT_NAME, C.DEPLOYMENT_STATUS];

/** Deployment spans (span or event attributes deployment.id, .name or .status), with the pipeline run of their trace. */
async function deploymentSpans(store: Ports, scope: TenantScope, window: TimeRange, max: number): Promise<{ records: DeploymentRecord[]; sampled: boolean }> {
  const onSpan = or(DEPLOYMENT_FIELDS.map((n) => exists(span(n))));
  const onEvent = or(DEPLOYMENT_FIELDS.map((n) => exists(event(n))));
  const marked = or([onSpan, onEvent]);
  const ids = await store.candidateTraces(scope, { range: window, anySpan: marked, having: { op: 'someSpan', where: marked }, limit: max + 1, offset: 0 });
  const sampled = ids.length > max;
  const texts = [
    any(C.SERVICE_VERSION),
    any(C.ENVIRONMENT),
    any(C.REVISION),
    any(C.PIPELINE_NAME[0]),
    any(C.PIPELINE_RUN_ID[0]),
    span(C.DEPLOYMENT_ID),
    span(C.DEPLOYMENT_NAME),
    span(C.DEPLOYMENT_STATUS),
    any(C.PIPELINE_NAME[1]),
    any(C.PIPELINE_RUN_ID[1]),
  ];
  const values = DEPLOYMENT_FIELDS.map(event);
  const records: DeploymentRecord[] = [];
  const taken = ids.slice(0, max);
  for (let i = 0; i < taken.length; i += IDS_PER_READ) {
    const traces = await store.traceSpans(scope, { traceIds: taken.slice(i, i + IDS_PER_READ), range: window, flags: [marked], numbers: [], texts, values });
    for (const [traceId, spans] of traces) {
      const root = rootOf(spans);
      const pipelineName = root ? root.texts[3] || root.texts[8] : '';
      const runId = root ? root.texts[4] || root.texts[9] : '';
      for (const s of spans) {
        if (!s.flags[0]) continue;
        const [version, environment, revision, , , id, name, status] = s.texts;
        const fromEvent = (k: number) => {
          const v = s.values[k][0];
          return v !== undefined && v.type === 'string' ? v.value : '';
        };
        records.push({
          service: s.serviceName,
          environment,
          version,
          nomadJobVersion: '',
          timeMs: ms(s.startNs + s.durationNs),
          sources: ['deployment-span'],
          revision,
          pipeline: pipelineName !== '' ? { name: pipelineName, runId, traceId } : null,
          deploymentId: id || fromEvent(0),
          deploymentName: name || fromEvent(1),
          status: status || fromEvent(2),
        });
      }
    }
  }
  return { records, sampled };
}

function rootOf<T extends { spanId: string; parentId: string; startNs: bigint }>(spans: readonly T[]): T | undefined {
  const ids = new Set(spans.map((s) => s.spanId));
  let root: T | undefined;
  for (const s of spans) if ((s.parentId === '' || !ids.has(s.parentId)) && (!root || s.startNs < root.startNs)) root = s;
  return root;
}

/** The start of the earliest span carrying each revision in the window: when Sightline first heard of the commit. */
async function commitTimes(store: Pick<MetricsPort, 'metricsSeries'>, scope: TenantScope, window: TimeRange, revisions: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (let i = 0; i < revisions.length; i += REVISIONS_PER_READ) {
    const chunk = revisions.slice(i, i + REVISIONS_PER_READ);
    const answer = await store.metricsSeries(scope, {
      range: window,
      stepNs: window.endNs - window.startNs,
      where: or(chunk.map((r) => ({ op: 'compare', field: any(C.REVISION), cmp: '=', value: { type: 'string', value: r } }))),
      by: [{ kind: 'field', field: any(C.REVISION) }],
      aggregates: [{ fn: 'min', of: { kind: 'intrinsic', name: 'start' } }],
    });
    for (const row of answer.rows) {
      const t = ms(row.values[0]);
      if (Number.isFinite(t)) out.set(row.by[0], Math.min(out.get(row.by[0]) ?? Infinity, t));
    }
  }
  return out;
}

/** Each service's team: the value of the team key on its resources (the one with the most spans). */
async function teamsOf(store: Pick<DiagnosisPort, 'resourceSightings'>, scope: TenantScope, range: TimeRange, teamKey: string): Promise<Map<string, string>> {
  const rows = await store.resourceSightings(scope, { range, stepNs: range.endNs - range.startNs, attributes: [teamKey] });
  const best = new Map<string, { team: string; spans: number }>();
  for (const row of rows) {
    const [team] = row.values;
    if (team === '') continue;
    const b = best.get(row.service);
    if (!b || row.spans > b.spans || (row.spans === b.spans && team < b.team)) best.set(row.service, { team, spans: row.spans });
  }
  return new Map([...best].map(([service, b]) => [service, b.team]));
}

export interface PipelineArgs {
  range: TimeRange;
  /** Only this pipeline; absent: every pipeline. */
  pipeline?: string;
  /** Pipeline runs (traces) read at most: the most recent. */
  maxRuns: number;
  /** Tasks and critical-path operations listed per pipeline. */
  limit: number;
  stepMs: number;
}

const PIPELINE_TEXTS: Field[] = [
  any(C.PIPELINE_NAME[0]),
  any(C.PIPELINE_NAME[1]),
  any(C.PIPELINE_RUN_ID[0]),
  any(C.PIPELINE_RUN_ID[1]),
  any(C.PIPELINE_RESULT[0]),
  any(C.PIPELINE_RESULT[1]),
  any(C.PIPELINE_RESULT[2]),
  any(C.TASK_NAME),
  any(C.TASK_RUN_ID),
  any(C.TASK_RESULT[0]),
  any(C.TASK_RESULT[1]),
  any(C.RUN_STATE),
  any(C.REVISION),
  { kind: 'intrinsic', name: 'status' },
];

/** The spans of a pipeline trace as pipelines.ts reads them. */
export function toPipelineSpans(spans: readonly EvalSpan[]): PipelineSpan[] {
  return spans.map((s) => {
    const t = s.texts;
    return {
      spanId: s.spanId,
      parentId: s.parentId,
      startMs: ms(s.startNs),
      durationMs: ms(s.durationNs),
      name: s.name,
      status: t[13],
      pipelineName: t[0] || t[1],
      runId: t[2] || t[3],
      pipelineResult: t[4] || t[5] || t[6],
      taskName: t[7],
      taskRunId: t[8],
      taskResult: t[9] || t[10],
      runState: t[11],
      revision: t[12],
      queueDurationNs: s.numbers[0],
    };
  });
}

/** Where pipeline time goes, per pipeline name. */
export async function pipelineStats(store: Ports, scope: TenantScope, a: PipelineArgs): Promise<PipelinesJson> {
  const named = or(C.PIPELINE_NAME.map((n) => exists(any(n))));
  const anySpan: Condition =
    a.pipeline === undefined ? named : or(C.PIPELINE_NAME.map((n) => ({ op: 'compare', field: any(n), cmp: '=', value: { type: 'string', value: a.pipeline! } }) as Condition));
  const ids = await store.candidateTraces(scope, { range: a.range, anySpan, having: { op: 'someSpan', where: anySpan }, limit: a.maxRuns + 1, offset: 0 });
  const sampled = ids.length > a.maxRuns;
  const taken = ids.slice(0, a.maxRuns);
  const runs: { run: PipelineRun; id: Buffer }[] = [];
  for (let i = 0; i < taken.length; i += IDS_PER_READ) {
    const batch = taken.slice(i, i + IDS_PER_READ);
    const traces = await store.traceSpans(scope, { traceIds: batch, range: a.range, flags: [], numbers: [{ kind: 'attribute', scope: 'span', name: C.QUEUE_DURATION }], texts: PIPELINE_TEXTS, values: [] });
    for (const id of batch) {
      const hex = id.toString('hex');
      const spans = traces.get(hex);
      if (!spans) continue;
      const run = pipelineRun(hex, toPipelineSpans(spans));
      if (run && (a.pipeline === undefined || run.name === a.pipeline)) runs.push({ run, id });
    }
  }
  const byName = new Map<string, { run: PipelineRun; id: Buffer }[]>();
  for (const r of runs) {
    let list = byName.get(r.run.name);
    if (!list) byName.set(r.run.name, (list = []));
    list.push(r);
  }
  const window = { startMs: ms(a.range.startNs), endMs: ms(a.range.endNs) };
  const pipelines: PipelineJson[] = [];
  for (const [name, list] of byName) {
    const path = await criticalPathOfTraces(store, scope, { traceIds: list.map((r) => r.id), range: a.range, limit: a.limit });
    pipelines.push({
      ...pipelineSummary(name, list.map((r) => r.run), window, a.stepMs, a.limit),
      criticalPath: {
        runs: path.traces.traces,
        operations: path.operations.map((o) => ({
          service: o.service,
          operation: o.operation,
          share: o.share,
          meanOnPathMs: o.meanOnPathNs / 1e6,
          p50OnPathMs: o.p50OnPathNs / 1e6,
          p95OnPathMs: o.p95OnPathNs / 1e6,
          runs: o.traces,
        })),
      },
    });
  }
  pipelines.sort((x, y) => y.runs - x.runs || (x.name < y.name ? -1 : 1));
  return { range: window, runsRead: runs.length, sampled, pipelines };
}
