// Types of index.mjs, for the TypeScript tests (the lab itself is plain JS).

export type Fault = 'a' | 'b' | 'c' | 'd' | 'none';
export declare const FAULTS: Fault[];
export declare const FAULT_DESCRIPTIONS: Record<Fault, string>;
export declare const TENANTS: string[];
export declare const REGIONS: string[];
export declare const APPOINTMENTS_PER_PATIENT: number;
export declare function patientIds(tenant: string): number[];

export interface Clinic {
  fault: Fault;
  /** Gateway base URL by region. */
  gateways: Record<string, string>;
  pids: number[];
  /** Switches every service to another fault at run time, without a restart; resolves once each has taken it. */
  setFault(fault: Fault): Promise<void>;
  /** Stops every service, each after flushing its spans. */
  stop(): Promise<void>;
}
export declare function startClinic(options: {
  otlpUrl: string;
  fault?: Fault;
  regions?: string[];
  faultTenant?: string;
  faultRegion?: string;
  dbRoundTripMs?: number;
  env?: Record<string, string>;
}): Promise<Clinic>;

export interface LatencySummary {
  requests: number;
  errors: number;
  p50Ms: number;
  p95Ms: number;
}
export interface LoadStep extends LatencySummary {
  concurrency: number;
  startMs: number;
  endMs: number;
}
export interface LoadResult {
  startMs: number;
  endMs: number;
  steps: LoadStep[];
  overall: LatencySummary;
  byTenant: Record<string, LatencySummary>;
  byRegion: Record<string, LatencySummary>;
  latenciesMs: number[];
}
export declare function runLoad(options: {
  gateways: Record<string, string>;
  steps: { concurrency: number; durationMs: number }[];
  tenantWeights?: Record<string, number>;
  regionWeights?: Record<string, number>;
  seed?: number;
  onStep?: (step: LoadStep) => void;
}): Promise<LoadResult>;

export interface ScenarioQueries {
  thresholdMs: number;
  selection: string;
  baseline: string;
  load: string;
}
export interface Scenario {
  steps: { concurrency: number; durationMs: number }[];
  regionWeights: Record<string, number> | undefined;
  expected: string;
  queries(load: LoadResult): ScenarioQueries;
}
export declare function scenario(fault: Fault, options: { durationMs: number }): Scenario;
export declare function slowThresholdMs(latenciesMs: number[]): number;
