import { DEFAULT_LOGS } from './logs.js';
import { quoteString } from './traceql-tokens.js';
import { DEFAULT_DELIVERY, DELIVERY_RANGE_PRESETS } from './delivery-state.js';
import { AUDIT_RANGE_PRESETS, DEFAULT_AUDIT, DEFAULT_SEARCH, RANGE_PRESETS, formatRoute, traceRoute, type RangePreset, type Route, type TimeRange } from './routes.js';

/**
 * Links between views. Every link from one view to another is built here,
 * from the view it sits in, so that the time range the user is looking at
 * goes with it: the services seen over the last 6 hours lead to their
 * traces of the last 6 hours, not of the default hour. A link names only
 * where it goes; the range is never the caller's to forget.
 */

/** Where a link leads, without a time range (that comes from the view the link is in). */
export type LinkTarget =
  | { page: 'search'; q?: string }
  | { page: 'compare'; q?: string; baseline?: string }
  | { page: 'trace'; traceId: string; span?: string }
  | { page: 'services' }
  | { page: 'service'; service: string; operation?: string }
  | { page: 'audit'; who?: string; route?: string }
  | { page: 'logs'; q?: string; service?: string }
  | { page: 'slos' }
  | { page: 'slo'; tenant: string; name: string }
  | { page: 'delivery' };

/**
 * The view a link is built in: its state, of which only the range is
 * carried. A trace opened by id alone has no range, and neither has a
 * page outside the routes; their links take the target's default.
 */
export interface LinkOrigin {
  range?: TimeRange;
}

/** The time range a route shows, if it has one. */
export function routeRange(route: Route): TimeRange | undefined {
  return route.page === 'not-found' ? undefined : route.state.range;
}

/**
 * A range a page can show: any absolute range, and a preset among its
 * own (the audit trail's 30 days are not a span page's, and the reverse).
 */
function rangeFor(page: LinkTarget['page'], range: TimeRange | undefined): TimeRange | undefined {
  if (!range || !('preset' in range)) return range;
  const presets: readonly RangePreset[] = page === 'audit' ? AUDIT_RANGE_PRESETS : page === 'delivery' ? DELIVERY_RANGE_PRESETS : RANGE_PRESETS;
  return presets.includes(range.preset) ? range : undefined;
}

/** The URL of a link from the view `from` to `to`, with from's time range. */
export function linkFrom(from: LinkOrigin | undefined, to: LinkTarget): string {
  const range = rangeFor(to.page, from?.range);
  switch (to.page) {
    case 'search':
      return formatRoute({ page: 'search', state: { ...DEFAULT_SEARCH, q: to.q ?? '', range: range ?? DEFAULT_SEARCH.range } });
    case 'compare':
      return formatRoute({ page: 'compare', state: { q: to.q ?? '', baseline: to.baseline ?? '', range: range ?? DEFAULT_SEARCH.range } });
    case 'trace':
      return formatRoute(traceRoute(to.traceId, { ...(to.span ? { span: to.span } : {}), ...(range ? { range } : {}) }));
    case 'services':
      return formatRoute({ page: 'services', state: { range: range ?? DEFAULT_SEARCH.range } });
    case 'service':
      return formatRoute({ page: 'service', state: { service: to.service, ...(to.operation ? { operation: to.operation } : {}), range: range ?? DEFAULT_SEARCH.range } });
    case 'logs':
      return formatRoute({ page: 'logs', state: { ...DEFAULT_LOGS, q: to.q ?? '', service: to.service ?? '', range: range ?? DEFAULT_SEARCH.range } });
    case 'slos':
      return formatRoute({ page: 'slos', state: { range: range ?? DEFAULT_SEARCH.range } });
    case 'slo':
      return formatRoute({ page: 'slo', state: { tenant: to.tenant, name: to.name, range: range ?? DEFAULT_SEARCH.range } });
    case 'delivery':
      return formatRoute({ page: 'delivery', state: { ...DEFAULT_DELIVERY, range: range ?? DEFAULT_DELIVERY.range } });
    case 'audit':
      return formatRoute({ page: 'audit', state: { ...DEFAULT_AUDIT, who: to.who ?? '', route: to.route ?? '', range: range ?? DEFAULT_AUDIT.range } });
  }
}

/** A deployment as the Delivery page lists it: the service, when (Unix seconds), and what it rolled out. */
export interface DeployMoment {
  service: string;
  at: number;
  version?: string;
  /** The TraceQL of the service's traces; default every trace with a span of the service. */
  query?: string;
}

/** The windows either side of a deploy: the hour after against the hour before. */
export const DEPLOY_WINDOW_SECONDS = 3600;

/**
 * "What changed at this deploy": the compare page with the service's
 * traces in the window after the deploy as the selection, and the same
 * query in the window before it as the baseline, by attributes and by
 * critical path. The after window may reach past now: it fills as traces
 * arrive.
 */
export function deployCompareLink(deploy: DeployMoment, windowSeconds = DEPLOY_WINDOW_SECONDS): string {
  const at = Math.floor(deploy.at);
  const w = Math.max(1, Math.round(windowSeconds));
  return formatRoute({
    page: 'compare',
    state: {
      q: deploy.query ?? `{ resource.service.name = ${quoteString(deploy.service)} }`,
      baseline: '',
      range: { start: at, end: at + w },
      baselineRange: { start: at - w, end: at },
      event: `deploy of ${deploy.service}${deploy.version ? ` ${deploy.version}` : ''}`,
    },
  });
}
