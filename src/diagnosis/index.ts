export { criticalPath, type CriticalPath, type PathSpan, type PathSegment, type SkewShift } from './critical-path.js';
export { traceCriticalPath, toPathSpans, type CriticalPathJson } from './trace-path.js';
export { serviceMap, redSeries, serviceOperations, type ServiceMapJson, type RedJson, type RedPoint, type OperationJson } from './service-map.js';
export { selectTraces, baselineTraces, selectGroups, loneFilter, MAX_EVALUATED_TRACES, type TraceGroup, type GroupsOptions, type ComparedGroups } from './selection.js';
export {
  compareGroups,
  attributeDiffs,
  numericDiffs,
  keySpreads,
  identifierPrior,
  shareScore,
  ksFromQuantiles,
  largestGap,
  ksScore,
  cdfAt,
  type CompareJson,
  type CompareOptions,
  type AttributeDiff,
  type NumericDiff,
  type GroupedKey,
  type IdentifierKind,
  type KeySpread,
} from './compare.js';
export { latencySample, type LatencyJson, type LatencyGroupJson, type LatencyOptions } from './compare-latency.js';
export { aggregateCriticalPath, criticalPathOfTraces, type AggregatePathJson, type AggregatePathOptions, type GroupSummary, type OperationOnPath } from './aggregate-path.js';
export { loadCorrelation, analyseLoad, LOAD_DURATION_BOUNDS_NS, type LoadJson, type LoadBucket, type LoadOptions, type LoadTrend, type LoadBand, type Bimodal, type LoadHeatmap } from './load.js';
