export { deliveryKeys, pipelineStats, type DeliveryArgs, type PipelineArgs } from './read.js';
export { pairAlerts, servicesNamed } from './deployments.js';
export { DEFAULT_TEAM_KEY } from './semconv.js';
export type * from './wire.js';
