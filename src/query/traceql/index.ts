export * from './ast.js';
export { parse, PARSE_LIMITS, type ParseLimits } from './parser.js';
export { print, printField } from './printer.js';
export { validate } from './validate.js';
export { TraceQLParseError, TraceQLValidationError, TraceQLUnsupportedError, unlessUnsupported } from './errors.js';
export { filterRequest, toCondition } from './request.js';
export { searchTraceQL, traceHeatmapTraceQL, matchingTraceIds, MAX_EVALUATED_CANDIDATES, type SearchOptions } from './execute.js';
export { queryMetrics, MAX_SERIES, type Series, type MetricsRequest, type MetricsResult, type MetricsStore } from './metrics.js';

import { parse, PARSE_LIMITS, type ParseLimits } from './parser.js';
import { validate } from './validate.js';
import type { Query } from './ast.js';

/** Parses and validates; throws the 400 errors with positions (a query past `limits` included). */
export function compileQuery(text: string, limits: Readonly<ParseLimits> = PARSE_LIMITS): Query {
  return validate(parse(text, limits));
}
