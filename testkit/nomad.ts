import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { REPO_ROOT } from './sightline.js';

// Loaded untyped: its type declarations pull in the DOM library (see test/nomad-job.test.ts).
const { parse } = createRequire(import.meta.url)('@cdktf/hcl2json') as { parse(name: string, text: string): Promise<unknown> };

export const OTEL_SERVICE_JOB = path.join(REPO_ROOT, 'examples', 'nomad', 'otel-service.nomad.hcl');

/**
 * Where a resource attribute's value comes from in a Nomad job, as
 * docs/nomad.md documents it: a runtime environment variable (set in the
 * task's environment and interpolated in the job spec), a node attribute
 * (interpolation only), or a variable of the job file.
 */
export type NomadSource = { env: string } | { node: string } | { jobVar: string };

/** The documented contract: every attribute the template sets, and from what. */
export const NOMAD_RESOURCE_ATTRIBUTES: Readonly<Record<string, NomadSource>> = {
  'service.instance.id': { env: 'NOMAD_ALLOC_ID' },
  'service.version': { jobVar: 'version' },
  'deployment.environment.name': { jobVar: 'environment' },
  'host.name': { node: 'node.unique.name' },
  'nomad.job.name': { env: 'NOMAD_JOB_NAME' },
  'nomad.group.name': { env: 'NOMAD_GROUP_NAME' },
  'nomad.task.name': { env: 'NOMAD_TASK_NAME' },
  'nomad.alloc.id': { env: 'NOMAD_ALLOC_ID' },
  'nomad.alloc.name': { env: 'NOMAD_ALLOC_NAME' },
  'nomad.namespace': { env: 'NOMAD_NAMESPACE' },
  'nomad.node.datacenter': { env: 'NOMAD_DC' },
  'nomad.region': { env: 'NOMAD_REGION' },
  'nomad.node.id': { node: 'node.unique.id' },
  'nomad.node.name': { node: 'node.unique.name' },
  'nomad.job.version': { jobVar: 'job_version' },
};

/** The expression a source is written as in the job file. */
export function interpolation(source: NomadSource): string {
  if ('env' in source) return `\${${source.env}}`;
  if ('node' in source) return `\${${source.node}}`;
  return `\${var.${source.jobVar}}`;
}

/** The example job's task, as the HCL parser reads it. */
export async function otelServiceTask(): Promise<{ env: Record<string, string>[]; template: Record<string, unknown>[]; [k: string]: unknown }> {
  const doc = (await parse('otel-service.nomad.hcl', readFileSync(OTEL_SERVICE_JOB, 'utf8'))) as any;
  return doc.job.checkout[0].group.api[0].task.server[0];
}

/** One allocation's runtime: what Nomad would interpolate into the job's env block. */
export interface NomadRuntime {
  env: Record<string, string>;
  node: Record<string, string>;
  vars: Record<string, string>;
}

/**
 * An env value as Nomad renders it for one allocation: `${NOMAD_*}` from
 * the runtime environment, `${node.*}` from the node's attributes, and
 * `${var.*}` from the job file's variables. An unknown name is an error
 * here (Nomad would leave it as text, which is never what a job means).
 */
export function renderNomad(value: string, runtime: NomadRuntime): string {
  return value.replace(/\$\{([A-Za-z0-9_.]+)\}/g, (_, name: string) => {
    const v = name.startsWith('var.') ? runtime.vars[name.slice(4)] : name.startsWith('node.') ? runtime.node[name] : runtime.env[name];
    if (v === undefined) throw new Error(`the job interpolates \${${name}}, which this runtime does not define`);
    return v;
  });
}
