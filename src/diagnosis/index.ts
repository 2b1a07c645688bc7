export { criticalPath, type CriticalPath, type PathSpan, type PathSegment, type SkewShift } from './critical-path.js';
export { traceCriticalPath, toPathSpans, type CriticalPathJson } from './trace-path.js';
export { serviceMap, redSeries, serviceOperations, type ServiceMapJson, type RedJson, type RedPoint, type OperationJson } from './service-map.js';
export { selectTraces, baselineTraces, loneFilter, MAX_EVALUATED_TRACES, type TraceGroup } from './selection.js';
export { compareGroups, attributeDiffs, numericDiffs, shareScore, ksFromQuantiles, ksScore, cdfAt, type CompareJson, type CompareOptions, type AttributeDiff, type NumericDiff } from './compare.js';
export { aggregateCriticalPath, type AggregatePathJson, type AggregatePathOptions, type GroupSummary, type OperationOnPath } from './aggregate-path.js';
export { loadCorrelation, analyseLoad, type LoadJson, type LoadBucket, type LoadOptions } from './load.js';
