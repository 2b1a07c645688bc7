export * from './ast.js';
export { parse, PARSE_LIMITS, type ParseLimits } from './parser.js';
export { print, printField } from './printer.js';
export { validate } from './validate.js';
export { TraceQLParseError, TraceQLValidationError, TraceQLUnsupportedError, unlessUnsupported } from './errors.js';
export { filterRequest, toCondition } from './request.js';
export { searchTraceQL, traceHeatmapTraceQL, matchingTraceIds, MAX_EVALUATED_CANDIDATES, type SearchOptions } from './execute.js';
export { queryMetrics, queryMetricsRoot, MAX_SERIES, type Series, type MetricsRequest, type MetricsResult, type MetricsStore } from './metrics.js';

import { parse, PARSE_LIMITS, type ParseLimits } from './parser.js';
import { validate } from './validate.js';
import type { Query, Root } from './ast.js';
import { TraceQLValidationError } from './errors.js';

/** Parses and validates anything TraceQL says, metrics arithmetic included; throws the 400 errors with positions. */
export function compileRoot(text: string, limits: Readonly<ParseLimits> = PARSE_LIMITS): Root {
  return validate(parse(text, limits));
}

/**
 * Parses and validates a query (not arithmetic over metrics queries, which
 * only the metrics endpoints answer); throws the 400 errors with positions
 * (a query past `limits` included).
 */
export function compileQuery(text: string, limits: Readonly<ParseLimits> = PARSE_LIMITS): Query {
  const root = compileRoot(text, limits);
  if (root.kind === 'math') throw new TraceQLValidationError('arithmetic over metrics queries is answered by the metrics endpoints (/api/metrics/query_range)', root.pos);
  return root;
}
