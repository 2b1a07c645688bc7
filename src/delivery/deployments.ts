import type { AlertJson, DeploymentJson, DeploymentSource, DoraJson, FailureCause, LeadTimeJson, RestoreJson, WindowJson } from './wire.js';
import { normalResult } from './semconv.js';

/**
 * Deployments and the four DORA keys, computed from what the store
 * answered (read.ts). Pure: every figure here is a function of its
 * arguments, and delivery.test.ts pins them.
 */

export const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** One (service, version, nomad job version, environment) seen in a time bucket, with its first span's start there. */
export interface VersionSighting {
  service: string;
  environment: string;
  version: string;
  nomadJobVersion: string;
  bucket: number;
  firstMs: number;
}

/** One piece of evidence of a deployment, before evidence of the same deployment is merged. */
export type DeploymentRecord = Pick<
  DeploymentJson,
  'service' | 'environment' | 'version' | 'nomadJobVersion' | 'timeMs' | 'sources' | 'revision' | 'pipeline' | 'deploymentId' | 'deploymentName' | 'status'
> & {
  /** A version seen again after another was deployed (version history only). */
  redeploy?: boolean;
};

/**
 * Deployments in a history of sightings, tracking one field (the service
 * version, or the Nomad job version). A value is deployed when it is first
 * seen for its service (after the service's first bucket: whatever ran then
 * was already running), and again when it comes back after being absent
 * from a bucket in which its service had spans, once another value was
 * deployed since it was last seen (a rollback). A canary that comes and
 * goes with its traffic is not deployed again: nothing else was deployed.
 */
export function versionDeployments(sightings: readonly VersionSighting[], track: 'version' | 'nomadJobVersion'): DeploymentRecord[] {
  const source: DeploymentSource = track === 'version' ? 'version-first-seen' : 'nomad-job-version';
  const byService = new Map<string, Map<number, Map<string, VersionSighting>>>();
  for (const s of sightings) {
    const value = s[track];
    if (value === '') continue;
    let buckets = byService.get(s.service);
    if (!buckets) byService.set(s.service, (buckets = new Map()));
    let present = buckets.get(s.bucket);
    if (!present) buckets.set(s.bucket, (present = new Map()));
    const known = present.get(value);
    // Sightings of one value in one bucket (several environments, or the other field's values) fold into the earliest.
    if (!known || s.firstMs < known.firstMs) present.set(value, s);
  }
  const out: DeploymentRecord[] = [];
  for (const [service, buckets] of byService) {
    const lastSeen = new Map<string, number>();
    const absentSince = new Map<string, number>();
    const deployedAt = new Map<string, number>();
    let first = true;
    for (const b of [...buckets.keys()].sort((x, y) => x - y)) {
      const present = buckets.get(b)!;
      const arrivals = [...present.values()].sort((x, y) => x.firstMs - y.firstMs);
      const deployedNow: string[] = [];
      for (const s of arrivals) {
        const value = s[track];
        const last = lastSeen.get(value);
        let redeploy = false;
        if (last === undefined) {
          if (first) continue;
        } else {
          if (!absentSince.has(value)) continue;
          if (![...deployedAt].some(([other, at]) => other !== value && at >= last)) continue;
          redeploy = true;
        }
        deployedNow.push(value);
        out.push({
          service,
          environment: s.environment,
          version: track === 'version' ? value : '',
          nomadJobVersion: track === 'nomadJobVersion' ? value : '',
          timeMs: s.firstMs,
          sources: [source],
          revision: '',
          pipeline: null,
          deploymentId: '',
          deploymentName: '',
          status: '',
          ...(redeploy ? { redeploy } : {}),
        });
      }
      for (const value of present.keys()) {
        lastSeen.set(value, b);
        absentSince.delete(value);
      }
      for (const value of lastSeen.keys()) if (!present.has(value) && !absentSince.has(value)) absentSince.set(value, b);
      for (const value of deployedNow) deployedAt.set(value, b);
      first = false;
    }
  }
  return out;
}

/** Two records can be one deployment: nothing they say disagrees. */
function compatible(a: DeploymentRecord, b: DeploymentRecord): boolean {
  const agree = (x: string, y: string) => x === '' || y === '' || x === y;
  return agree(a.version, b.version) && agree(a.nomadJobVersion, b.nomadJobVersion) && agree(a.environment, b.environment) && agree(a.deploymentId, b.deploymentId);
}

/**
 * Evidence of one deployment merged: a deployment span, the version it
 * deployed first seen in the service's spans, a new Nomad job version,
 * within `windowMs` of each other and agreeing on what they say. The
 * merged deployment's time is its earliest evidence.
 */
export function mergeDeployments(records: readonly DeploymentRecord[], windowMs: number): DeploymentRecord[] {
  const sorted = [...records].sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : a.timeMs - b.timeMs));
  const out: DeploymentRecord[] = [];
  const open = new Map<string, DeploymentRecord[]>();
  for (const r of sorted) {
    const mine = open.get(r.service) ?? [];
    open.set(r.service, mine);
    const into = mine.find((k) => r.timeMs - k.timeMs <= windowMs && compatible(k, r));
    if (!into) {
      const copy = { ...r, sources: [...r.sources] };
      mine.push(copy);
      out.push(copy);
      continue;
    }
    into.version ||= r.version;
    into.nomadJobVersion ||= r.nomadJobVersion;
    into.environment ||= r.environment;
    into.revision ||= r.revision;
    into.pipeline ??= r.pipeline;
    into.deploymentId ||= r.deploymentId;
    into.deploymentName ||= r.deploymentName;
    // The latest word on the deployment's status.
    if (r.status !== '') into.status = r.status;
    if (r.redeploy) into.redeploy = true;
    for (const s of r.sources) if (!into.sources.includes(s)) into.sources.push(s);
  }
  return out;
}

export interface DoraInput {
  range: WindowJson;
  /** Every deployment known, before and within the range (earlier ones give context: the previous version). */
  deployments: DeploymentRecord[];
  /** When each (service, version) was first seen in the window read. */
  versionFirstSeen: Map<string, number>;
  /** Commit time per revision: the start of the earliest span carrying it. */
  commits: Map<string, number>;
  alerts: AlertJson[];
  /** Team per service ('' without). */
  teams: Map<string, string>;
  environment: string | null;
}

export interface DoraOutput {
  deployments: DeploymentJson[];
  services: DoraJson[];
  teams: DoraJson[];
}

export const versionKey = (service: string, version: string) => `${service}\u0000${version}`;

/** The TraceQL literal of a string: quoted, with backslashes and quotes escaped. */
export function traceqlString(s: string): string {
  let out = '"';
  for (const ch of s) {
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else out += ch;
  }
  return `${out}"`;
}

/** Deployments with their failures, rollbacks and lead times, and the four keys per service and per team. */
export function doraKeys(input: DoraInput): DoraOutput {
  const { range } = input;
  const chosen = input.deployments.filter((d) => input.environment === null || d.environment === input.environment);
  const sequences = new Map<string, DeploymentRecord[]>();
  for (const d of chosen) {
    const k = `${d.service}\u0000${d.environment}`;
    let seq = sequences.get(k);
    if (!seq) sequences.set(k, (seq = []));
    seq.push(d);
  }
  const all: DeploymentJson[] = [];
  for (const seq of sequences.values()) {
    seq.sort((a, b) => a.timeMs - b.timeMs);
    const json = seq.map((d, i) => {
      const prev = i > 0 ? seq[i - 1] : undefined;
      const next = i + 1 < seq.length ? seq[i + 1] : undefined;
      const seenBefore = (t: number) =>
        (input.versionFirstSeen.get(versionKey(d.service, d.version)) ?? Infinity) < t || seq.slice(0, Math.max(0, i - 1)).some((e) => e.version === d.version);
      const rollback = d.redeploy === true || (prev !== undefined && d.version !== '' && d.version !== prev.version && seenBefore(prev.timeMs));
      const commitMs = d.revision !== '' ? (input.commits.get(d.revision) ?? null) : null;
      return { d, next, rollback, commitMs };
    });
    for (let i = 0; i < json.length; i++) {
      const { d, next, rollback, commitMs } = json[i];
      const until = next?.timeMs ?? Infinity;
      const alerts = input.alerts.filter((a) => a.services.includes(d.service) && a.firedMs >= d.timeMs && a.firedMs < until);
      const failedBecause: FailureCause[] = [];
      if (normalResult(d.status) === 'failure') failedBecause.push('status');
      if (alerts.length > 0) failedBecause.push('slo-alert');
      if (i + 1 < json.length && json[i + 1].rollback) failedBecause.push('rollback');
      if (d.timeMs < range.startMs || d.timeMs >= range.endMs) continue;
      all.push({
        service: d.service,
        environment: d.environment,
        version: d.version,
        nomadJobVersion: d.nomadJobVersion,
        timeMs: d.timeMs,
        sources: [...d.sources].sort(),
        revision: d.revision,
        pipeline: d.pipeline,
        deploymentId: d.deploymentId,
        deploymentName: d.deploymentName,
        status: d.status,
        commitMs,
        leadTimeMs: commitMs !== null ? d.timeMs - commitMs : null,
        rollback,
        failed: failedBecause.length > 0,
        failedBecause,
        alerts: [...new Set(alerts.map((a) => a.slo))].sort(),
        nextTimeMs: next?.timeMs ?? null,
        whatChanged: {
          // The service's requests: its server spans. Without `kind = server`
          // the pipeline run that deployed it (whose deployment span carries
          // the service's name) would count as one of its traces before.
          query: `{ resource.service.name = ${traceqlString(d.service)} && kind = server }`,
          selection: { startMs: d.timeMs, endMs: d.timeMs + HOUR_MS },
          baseline: { startMs: d.timeMs - HOUR_MS, endMs: d.timeMs },
        },
      });
    }
  }
  all.sort((a, b) => b.timeMs - a.timeMs || (a.service < b.service ? -1 : 1));

  const inRange = input.alerts.filter((a) => a.firedMs >= range.startMs && a.firedMs < range.endMs);
  const services = new Set([...all.map((d) => d.service), ...inRange.flatMap((a) => a.services)]);
  const serviceRows: DoraJson[] = [...services].sort().map((s) => ({
    key: s,
    team: input.teams.get(s) ?? '',
    ...keys(range, all.filter((d) => d.service === s), inRange.filter((a) => a.services.includes(s))),
  }));
  const teamOf = (s: string) => input.teams.get(s) ?? '';
  const teamNames = new Set([...services].map(teamOf));
  const teamRows: DoraJson[] = [...teamNames].sort().map((t) => {
    const members = [...services].filter((s) => teamOf(s) === t).sort();
    return {
      key: t,
      services: members,
      ...keys(range, all.filter((d) => teamOf(d.service) === t), inRange.filter((a) => a.services.some((s) => teamOf(s) === t))),
    };
  });
  return { deployments: all, services: serviceRows, teams: teamRows };
}

function keys(range: WindowJson, deployments: DeploymentJson[], alerts: AlertJson[]): Omit<DoraJson, 'key' | 'team' | 'services'> {
  const failed = deployments.filter((d) => d.failed).length;
  return {
    deployments: deployments.length,
    perDay: deployments.length / ((range.endMs - range.startMs) / DAY_MS),
    leadTime: leadTime(deployments.flatMap((d) => (d.leadTimeMs !== null ? [d.leadTimeMs] : []))),
    failedDeployments: failed,
    changeFailureRate: deployments.length > 0 ? failed / deployments.length : null,
    timeToRestore: restore(alerts),
  };
}

/** The element at floor(q * n) of the sorted values, as every quantile in Sightline. */
export function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function leadTime(values: number[]): LeadTimeJson {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return { changes: 0, p50Ms: null, p95Ms: null, meanMs: null };
  return { changes: s.length, p50Ms: quantile(s, 0.5), p95Ms: quantile(s, 0.95), meanMs: s.reduce((x, y) => x + y, 0) / s.length };
}

function restore(alerts: AlertJson[]): RestoreJson {
  const s = alerts.flatMap((a) => (a.resolvedMs !== null ? [a.resolvedMs - a.firedMs] : [])).sort((a, b) => a - b);
  const open = alerts.filter((a) => a.resolvedMs === null).length;
  if (s.length === 0) return { restored: 0, open, p50Ms: null, meanMs: null };
  return { restored: s.length, open, p50Ms: quantile(s, 0.5), meanMs: s.reduce((x, y) => x + y, 0) / s.length };
}

/** SLO alert events paired: each firing with the resolution that repeats its start. */
export function pairAlerts(events: readonly { tenant: string; slo: string; status: 'firing' | 'resolved'; alertStartMs: number; timeMs: number }[], servicesOf: (tenant: string, slo: string) => string[]): AlertJson[] {
  const alerts = new Map<string, AlertJson>();
  for (const e of [...events].sort((a, b) => a.timeMs - b.timeMs)) {
    const k = `${e.tenant}\u0000${e.slo}\u0000${e.alertStartMs}`;
    let a = alerts.get(k);
    if (!a) alerts.set(k, (a = { tenant: e.tenant, slo: e.slo, services: servicesOf(e.tenant, e.slo), firedMs: e.alertStartMs, resolvedMs: null }));
    if (e.status === 'resolved') a.resolvedMs = e.timeMs;
  }
  return [...alerts.values()].sort((a, b) => a.firedMs - b.firedMs);
}

/** A span condition in the store's vocabulary, as far as servicesNamed reads it. */
type NamedCondition =
  | { op: 'and' | 'or'; terms: readonly NamedCondition[] }
  | { op: 'not'; term: NamedCondition }
  | { op: 'compare'; field: { kind: string; scope?: string; name: string }; cmp: string; value: { type: string; value: unknown } }
  | { op: string };

/**
 * The services a condition names: `resource.service.name = "x"` (or the
 * unscoped `.service.name`), anywhere but under a negation. An SLO whose
 * valid query names a service is that service's SLO.
 */
export function servicesNamed(c: NamedCondition): string[] {
  const out = new Set<string>();
  const walk = (x: NamedCondition) => {
    if ((x.op === 'and' || x.op === 'or') && 'terms' in x) for (const t of x.terms) walk(t);
    else if (x.op === 'compare' && 'field' in x) {
      const f = x.field;
      if (f.kind === 'attribute' && (f.scope === 'resource' || f.scope === 'any') && f.name === 'service.name' && x.cmp === '=' && x.value.type === 'string') out.add(String(x.value.value));
    }
  };
  walk(c);
  return [...out].sort();
}
