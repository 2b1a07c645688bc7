/**
 * The attribute names Delivery reads, and what each producer sends (see
 * docs/delivery.md for the sources). Where a producer uses a name of its
 * own for what the OpenTelemetry CI/CD conventions name, both are read,
 * the convention's first. Attributes are read unscoped (the span's, else
 * its resource's): the Collector's GitHub receiver puts the pipeline and
 * task attributes on the resource, other producers on the span.
 */

export const PIPELINE_NAME = ['cicd.pipeline.name', 'ci.pipeline.name'] as const;
export const PIPELINE_RUN_ID = ['cicd.pipeline.run.id', 'ci.pipeline.run.number'] as const;
/** The convention's result, the GitHub receiver's `cicd.pipeline.run.status`, Jenkins' legacy `ci.pipeline.run.result`. */
export const PIPELINE_RESULT = ['cicd.pipeline.result', 'cicd.pipeline.run.status', 'ci.pipeline.run.result'] as const;
export const TASK_NAME = 'cicd.pipeline.task.name';
export const TASK_RUN_ID = 'cicd.pipeline.task.run.id';
/** The convention's result, and the GitHub receiver's `cicd.pipeline.run.task.status`. */
export const TASK_RESULT = ['cicd.pipeline.task.run.result', 'cicd.pipeline.run.task.status'] as const;
/** The GitHub receiver's queue span carries the wait in ns. */
export const QUEUE_DURATION = 'cicd.pipeline.run.queue.duration';
/** The convention's run state; `pending` is time in the queue. */
export const RUN_STATE = 'cicd.pipeline.run.state';
/** Jenkins' queue span (its plugin: "time spent in the build queue ... the span Phase: Start"). */
export const JENKINS_QUEUE_SPAN = 'Phase: Start';

/** vcs.ref.head.revision; the GitHub receiver sends the same name. */
export const REVISION = 'vcs.ref.head.revision';

export const DEPLOYMENT_ID = 'deployment.id';
export const DEPLOYMENT_NAME = 'deployment.name';
export const DEPLOYMENT_STATUS = 'deployment.status';
export const ENVIRONMENT = 'deployment.environment.name';
export const SERVICE_VERSION = 'service.version';
/** Set by examples/nomad/otel-service.nomad.hcl (docs/nomad.md). */
export const NOMAD_JOB_VERSION = 'nomad.job.version';

/** The resource attribute that names a service's team, unless `teamKey` says otherwise. */
export const DEFAULT_TEAM_KEY = 'service.namespace';

/** A result as one of the convention's values (lower case; GitHub's and Jenkins' words mapped). */
export function normalResult(text: string): string {
  const t = text.trim().toLowerCase();
  switch (t) {
    case 'succeeded':
    case 'ok':
      return 'success';
    case 'failed':
    case 'unstable':
      return 'failure';
    case 'cancelled':
    case 'canceled':
    case 'aborted':
      return 'cancellation';
    case 'skipped':
      return 'skip';
    case 'timed_out':
      return 'timeout';
    default:
      return t;
  }
}

/** Results that finish a run one way or the other (cancelled and skipped runs are neither). */
export const FINISHED_RESULTS: ReadonlySet<string> = new Set(['success', 'failure', 'error', 'timeout']);
export const FAILED_RESULTS: ReadonlySet<string> = new Set(['failure', 'error', 'timeout']);
