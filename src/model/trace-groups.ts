import type { SpanRecord } from './span-record.js';

export interface ScopeGroup {
  scope: SpanRecord['scope'];
  spans: SpanRecord[];
}

export interface ResourceGroup {
  resource: SpanRecord['resource'];
  scopes: ScopeGroup[];
}

/**
 * Groups a trace's spans back into OTLP's resource -> scope -> spans shape.
 * Spans that shared a resource (or scope) on the way in share it again on
 * the way out; order is by first start time, then span start time.
 */
export function groupByResource(spans: readonly SpanRecord[]): ResourceGroup[] {
  const sorted = [...spans].sort((a, b) => (a.startNs < b.startNs ? -1 : a.startNs > b.startNs ? 1 : 0));
  const resources = new Map<string, { group: ResourceGroup; scopes: Map<string, ScopeGroup> }>();
  for (const span of sorted) {
    const rKey = JSON.stringify(span.resource);
    let r = resources.get(rKey);
    if (!r) {
      r = { group: { resource: span.resource, scopes: [] }, scopes: new Map() };
      resources.set(rKey, r);
    }
    const sKey = JSON.stringify(span.scope);
    let s = r.scopes.get(sKey);
    if (!s) {
      s = { scope: span.scope, spans: [] };
      r.scopes.set(sKey, s);
      r.group.scopes.push(s);
    }
    s.spans.push(span);
  }
  return [...resources.values()].map((r) => r.group);
}
