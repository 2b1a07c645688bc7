/**
 * The Delivery API's answers, as JSON (docs/delivery.md). Plain types, no
 * imports: the web UI reads them as they are. Times are Unix milliseconds,
 * durations milliseconds; `null` where there is nothing to measure.
 */

/** Where a deployment was seen; one deployment may be seen several ways (merged). */
export type DeploymentSource = 'deployment-span' | 'version-first-seen' | 'nomad-job-version';

/** Why a deployment counts as a failed change. */
export type FailureCause = 'status' | 'slo-alert' | 'rollback';

export interface WindowJson {
  startMs: number;
  endMs: number;
}

/** Everything the compare page needs for "what changed at this deploy": the hour after against the hour before. */
export interface WhatChangedJson {
  /** TraceQL selecting the service's spans. */
  query: string;
  selection: WindowJson;
  baseline: WindowJson;
}

export interface DeploymentJson {
  service: string;
  /** deployment.environment.name; '' when not sent. */
  environment: string;
  /** service.version deployed; '' when unknown. */
  version: string;
  /** nomad.job.version; '' when unknown. */
  nomadJobVersion: string;
  /** The earliest evidence of the deployment (see docs/delivery.md). */
  timeMs: number;
  sources: DeploymentSource[];
  /** vcs.ref.head.revision; '' when unknown. */
  revision: string;
  /** The CI/CD pipeline run that deployed it, when the deployment span was in one. */
  pipeline: { name: string; runId: string; traceId: string } | null;
  /** deployment.id, deployment.name, deployment.status of the deployment span ('' when absent). */
  deploymentId: string;
  deploymentName: string;
  status: string;
  /** The start of the earliest span carrying the revision; null without a revision. */
  commitMs: number | null;
  /** timeMs - commitMs. */
  leadTimeMs: number | null;
  /** Deployed a version that was live before the previous deployment of the service. */
  rollback: boolean;
  failed: boolean;
  failedBecause: FailureCause[];
  /** SLOs whose alert fired after this deployment and before the next. */
  alerts: string[];
  /** The next deployment of the same service and environment; null for the latest. */
  nextTimeMs: number | null;
  whatChanged: WhatChangedJson;
}

export interface LeadTimeJson {
  /** Deployments with a measured lead time. */
  changes: number;
  p50Ms: number | null;
  p95Ms: number | null;
  meanMs: number | null;
}

export interface RestoreJson {
  /** Alerts that fired in the range and resolved. */
  restored: number;
  /** Alerts that fired in the range and are still firing. */
  open: number;
  p50Ms: number | null;
  meanMs: number | null;
}

/** The four keys for one service, or one team. */
export interface DoraJson {
  /** The service name, or the team's value of the team key ('' for services without it). */
  key: string;
  /** For a service: its team ('' without). */
  team?: string;
  /** For a team: its services. */
  services?: string[];
  deployments: number;
  /** Deployments per day of the range. */
  perDay: number;
  leadTime: LeadTimeJson;
  failedDeployments: number;
  /** failedDeployments / deployments; null without deployments. */
  changeFailureRate: number | null;
  timeToRestore: RestoreJson;
}

export interface AlertJson {
  tenant: string;
  slo: string;
  /** The services the SLO's valid query names. */
  services: string[];
  firedMs: number;
  /** null while firing. */
  resolvedMs: number | null;
}

export interface DeliveryJson {
  range: WindowJson;
  teamKey: string;
  /** Only deployments to this environment; null: every environment. */
  environment: string | null;
  services: DoraJson[];
  teams: DoraJson[];
  /** Newest first. */
  deployments: DeploymentJson[];
  /** SLO alerts that fired in the range. */
  alerts: AlertJson[];
  /** More traces with deployment spans matched than were read (`maxDeployments`). */
  sampled: boolean;
}

export interface PathOperationJson {
  service: string;
  operation: string;
  /** Its time on the critical path over all path time of the runs. */
  share: number;
  meanOnPathMs: number;
  p50OnPathMs: number;
  p95OnPathMs: number;
  /** Runs where it is on the path. */
  runs: number;
}

export interface TaskJson {
  /** cicd.pipeline.task.name, else the span name. */
  task: string;
  /** The enclosing task's name ('' for a top-level task, such as a job). */
  parent: string;
  runs: number;
  failures: number;
  /** Run time: the task span's duration less its queue wait. */
  p50Ms: number;
  p95Ms: number;
  /** Queue wait of the task's runs (0 where none was sent). */
  queueP50Ms: number;
  /** Runs beyond the first of the same task in the same pipeline run (re-runs, retries). */
  retries: number;
  /** Revisions on which the task failed and later passed. */
  flakyRevisions: number;
}

export interface TrendBucketJson {
  startMs: number;
  runs: number;
  /** Run time p50 of the runs that started in the bucket; null without runs. */
  p50Ms: number | null;
  /** Failed runs over finished runs; null without finished runs. */
  failureRate: number | null;
}

export interface PipelineJson {
  name: string;
  runs: number;
  /** Runs with a result of success, failure, error or timeout. */
  finished: number;
  succeeded: number;
  /** succeeded / finished; null without finished runs. */
  successRate: number | null;
  runTime: { p50Ms: number; p95Ms: number };
  queue: {
    /** Task runs with a queue wait. */
    queuedTasks: number;
    totalMs: number;
    /** Per run: the sum of its tasks' queue waits. */
    perRunP50Ms: number;
    perRunP95Ms: number;
    /** Queue wait over queue wait plus task run time, summed over runs. */
    share: number | null;
  };
  /** Where the runs' time goes: the aggregated critical path. */
  criticalPath: { runs: number; operations: PathOperationJson[] };
  slowestTasks: TaskJson[];
  /** Tasks with flaky revisions or retries, most first. */
  flakyTasks: TaskJson[];
  trend: { stepMs: number; buckets: TrendBucketJson[] };
}

export interface PipelinesJson {
  range: WindowJson;
  /** Pipeline runs (traces) read. */
  runsRead: number;
  /** More runs matched than `maxRuns`: the most recent were read. */
  sampled: boolean;
  pipelines: PipelineJson[];
}
