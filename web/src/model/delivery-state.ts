import type { TimeRange, RangePreset } from './time-range.js';
import { readRange, resolveRange, writeRange } from './time-range.js';

/** The Delivery page's URL state (routes.ts reads and writes it; delivery.ts holds its views). */

/** Delivery is read over days and weeks: the API's default is the last 7 days. */
export const DELIVERY_RANGE_PRESETS: readonly RangePreset[] = ['24h', '7d', '30d'];
export const DEFAULT_DELIVERY_PRESET: RangePreset = '7d';

/**
 * /delivery: the range, whether the keys are listed per service or per
 * team, the environment deployments are counted in ('' for all), and the
 * pipeline shown ('' for every one).
 */
export interface DeliveryState {
  range: TimeRange;
  by: 'service' | 'team';
  environment: string;
  pipeline: string;
}

export const DEFAULT_DELIVERY: DeliveryState = { range: { preset: DEFAULT_DELIVERY_PRESET }, by: 'service', environment: '', pipeline: '' };

/** Names travel as one parameter each; longer is a paste, not a name (the API refuses past 256). */
const MAX_NAME_CHARS = 256;

export function parseDeliveryState(p: URLSearchParams): DeliveryState {
  const name = (key: string) => (p.get(key) ?? '').trim().slice(0, MAX_NAME_CHARS);
  return {
    range: readRange(p, DELIVERY_RANGE_PRESETS, DEFAULT_DELIVERY_PRESET),
    by: p.get('by') === 'team' ? 'team' : 'service',
    environment: name('env'),
    pipeline: name('pipeline'),
  };
}

/** Query parameters of a state; defaults left out so links stay short. */
export function writeDeliveryState(p: URLSearchParams, s: DeliveryState): void {
  writeRange(p, s.range, DEFAULT_DELIVERY_PRESET);
  if (s.by !== 'service') p.set('by', s.by);
  if (s.environment) p.set('env', s.environment);
  if (s.pipeline) p.set('pipeline', s.pipeline);
}

/** The two API calls of the page, for the range as it resolves at `nowMs`. */
export function deliveryApiUrls(s: DeliveryState, nowMs: number): { keys: string; pipelines: string } {
  const { start, end } = resolveRange(s.range, nowMs);
  const keys = new URLSearchParams({ start: String(start), end: String(end) });
  if (s.environment) keys.set('environment', s.environment);
  const pipelines = new URLSearchParams({ start: String(start), end: String(end) });
  if (s.pipeline) pipelines.set('pipeline', s.pipeline);
  return { keys: `/api/sightline/delivery?${keys}`, pipelines: `/api/sightline/delivery/pipelines?${pipelines}` };
}

