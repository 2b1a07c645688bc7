export { criticalPath, type CriticalPath, type PathSpan, type PathSegment, type SkewShift } from './critical-path.js';
export { traceCriticalPath, toPathSpans, type CriticalPathJson } from './trace-path.js';
