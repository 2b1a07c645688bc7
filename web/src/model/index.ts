/**
 * The UI's model layer: API payloads in, view models out, with no DOM.
 * Root tsc compiles it (and its tests) for node --test; Vite bundles it.
 */
export { base64ToHex, type Attribute, type TraceByIdJson } from './otlp.js';
export { buildTrace, visibleRows, ancestors, reveal, collapseToDepth, layoutSpans, type TraceModel, type SpanNode, type Layout } from './trace.js';
export { parseCriticalPath, mapCriticalPath, pathSpans, segmentFractions, type CriticalPathJson, type CriticalPathView } from './critical-path.js';
export { findSpans } from './find.js';
export { navigate, rowPosition, windowRows, scrollToRow, type NavKey } from './navigation.js';
export {
  searchRows,
  withCounts,
  sortRows,
  scatterLayout,
  traceCounts,
  payloadCounts,
  traceIdHex,
  type SearchRow,
  type SearchResponseJson,
  type SortKey,
  type ScatterLayout,
} from './search-results.js';
export { tokenize, quoteString, type Token, type TokenKind } from './traceql-tokens.js';
export {
  completionContext,
  narrowingQuery,
  fieldItems,
  valueItems,
  operatorItems,
  applyCompletion,
  type CompletionContext,
  type CompletionItem,
  type TagScopesJson,
  type TagValuesJson,
} from './completion.js';
export { readQuickFilters, applyQuickFilter, isDuration, type QuickFilters, type QuickFilterKey } from './quick-filters.js';
export { parseQueryError, type QueryError } from './query-error.js';
export {
  parseRoute,
  formatRoute,
  resolveRange,
  normalizeTraceId,
  traceRoute,
  RANGE_PRESETS,
  AUDIT_RANGE_PRESETS,
  LIMITS,
  AUDIT_LIMITS,
  DEFAULT_SEARCH,
  DEFAULT_AUDIT,
  type Route,
  type SearchState,
  type ServicesState,
  type CompareState,
  type ServiceState,
  type AuditState,
  type TraceState,
  type TimeRange,
  type RangePreset,
} from './routes.js';
export { formatDuration, formatMs, formatTimestamp, formatAgo, durationTicks, timeTicks, formatClock, nsStringToMs } from './format.js';
export { serviceMapLayout, lineChart, loadChart, type ServiceMapJson, type RedJson, type OperationsJson, type LoadJson, type LoadChart, type MapLayout, type MapNode, type MapEdge, type LineChart } from './services.js';
export {
  attributeCondition,
  attributeLabel,
  operationCondition,
  exampleQuery,
  durationBandQuery,
  traceqlDuration,
  type CompareJson,
  type AttributeDiffJson,
  type AggregatePathJson,
} from './compare.js';
export {
  loginHref,
  parseAuthConfig,
  parseMe,
  viewerTenants,
  chooseTenant,
  sessionFrom,
  afterUnauthorized,
  canSignOut,
  TENANT_STORAGE_KEY,
  type AuthConfigJson,
  type MeJson,
  type RoleName,
  type SessionState,
} from './session.js';
export {
  canReadAudit,
  auditTenants,
  auditApiUrl,
  auditRows,
  compactDetail,
  peerAddress,
  distinctValues,
  type AuditJson,
  type AuditRecordJson,
  type AuditRow,
} from './audit.js';
