import { formatClock, formatDuration, niceStep, ticksBetween, timeTicks } from './format.js';
import { significant, tokenize } from './traceql-tokens.js';

/**
 * TraceQL metrics in the search box: `{ ... } | rate() by(...)` is
 * answered by GET /api/metrics/query_range and drawn as time series, one
 * line per series, instead of a list of traces.
 */

/** Tempo's QueryRangeResponse as Sightline answers it (src/api/tempo/jobs.ts). */
export interface LabelJson {
  key: string;
  value: { stringValue?: string; intValue?: string; doubleValue?: number; boolValue?: boolean };
}

export interface QueryRangeJson {
  series?: {
    labels?: LabelJson[];
    samples?: { timestampMs: string; value: number }[];
    promLabels?: string;
  }[];
}

const METRICS_FUNCTIONS = new Set(['rate', 'count_over_time', 'min_over_time', 'max_over_time', 'avg_over_time', 'sum_over_time', 'quantile_over_time', 'histogram_over_time', 'compare']);
/** Functions whose empty buckets mean zero (nothing happened), not "no value". */
const COUNTING = new Set(['rate', 'count_over_time', 'histogram_over_time', 'sum_over_time']);

/** The metrics function a query pipes into, if it is a metrics query: `rate`, `quantile_over_time`... */
export function metricsFunction(text: string): string | undefined {
  const tokens = significant(tokenize(text));
  for (let i = 1; i < tokens.length; i++) {
    if (tokens[i].kind === 'function' && METRICS_FUNCTIONS.has(tokens[i].text) && tokens[i - 1].kind === 'pipe') return tokens[i].text;
  }
  return undefined;
}

export function isMetricsQuery(text: string): boolean {
  return metricsFunction(text) !== undefined;
}

/** What the values are: a rate, a count, or durations (Tempo reports them in seconds). */
export type MetricsUnit = 'per-second' | 'count' | 'seconds' | 'number';

export function metricsUnit(text: string): MetricsUnit {
  const fn = metricsFunction(text);
  if (fn === 'rate') return 'per-second';
  if (fn === 'count_over_time' || fn === 'histogram_over_time' || fn === 'compare') return 'count';
  // The first argument of quantile/min/max/avg/sum_over_time: a duration field reads in seconds.
  const tokens = significant(tokenize(text));
  const at = tokens.findIndex((t) => t.kind === 'function' && t.text === fn);
  const field = tokens[at + 2];
  if (field && field.kind === 'intrinsic' && /(^|:)duration$|^traceDuration$/i.test(field.text)) return 'seconds';
  return 'number';
}

/** A value as the axis and the hover read it. */
export function formatMetric(value: number, unit: MetricsUnit): string {
  if (!Number.isFinite(value)) return '—';
  if (unit === 'seconds') return formatDuration(value * 1e9);
  const text = Math.abs(value) >= 1000 || Number.isInteger(value) ? value.toLocaleString('en-US', { maximumFractionDigits: 0 }) : Number(value.toPrecision(3)).toString();
  return unit === 'per-second' ? `${text}/s` : text;
}

export function unitLabel(unit: MetricsUnit): string {
  switch (unit) {
    case 'per-second':
      return 'spans per second';
    case 'count':
      return 'spans per step';
    case 'seconds':
      return 'duration';
    case 'number':
      return 'value';
  }
}

const STEPS_S = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400];

/** A step (seconds) giving at most about `points` buckets over the range, on steps a clock reader expects. */
export function metricsStep(rangeSeconds: number, points = 120): number {
  const raw = rangeSeconds / points;
  return STEPS_S.find((s) => s >= raw) ?? Math.ceil(raw / 86_400) * 86_400;
}

export interface MetricSeries {
  /** `{resource.service.name="cart"}`; the function's name when the series has no labels. */
  name: string;
  /** One per bucket of the grid; null where the series has no value. */
  values: (number | null)[];
}

export interface MetricsData {
  /** Bucket start times (ms), ascending. */
  times: number[];
  stepMs: number;
  series: MetricSeries[];
}

function labelValue(v: LabelJson): string {
  const x = v.value;
  if (x.stringValue !== undefined) return x.stringValue;
  if (x.intValue !== undefined) return x.intValue;
  if (x.doubleValue !== undefined) return String(x.doubleValue);
  if (x.boolValue !== undefined) return String(x.boolValue);
  return '';
}

/**
 * Series on one time grid: the server's buckets (start aligned down to the
 * step, as it aligns them) from `startMs` to `endMs`. Buckets a series has
 * no sample in are 0 for counting functions and gaps for the others.
 */
export function metricsData(json: QueryRangeJson, query: string, startMs: number, endMs: number, stepMs: number): MetricsData {
  const first = Math.floor(startMs / stepMs) * stepMs;
  const times: number[] = [];
  for (let t = first; t < endMs; t += stepMs) times.push(t);
  const index = new Map(times.map((t, i) => [t, i]));
  const fill = COUNTING.has(metricsFunction(query) ?? '') ? 0 : null;
  const fn = metricsFunction(query) ?? 'value';
  const series = (json.series ?? []).map((s) => {
    const labels = (s.labels ?? []).filter((l) => l.key !== '__name__');
    const name = labels.length > 0 ? `{${labels.map((l) => `${l.key}=${JSON.stringify(labelValue(l))}`).join(', ')}}` : fn;
    const values: (number | null)[] = times.map(() => fill);
    for (const sample of s.samples ?? []) {
      const i = index.get(Number(sample.timestampMs));
      if (i !== undefined) values[i] = sample.value;
    }
    return { name, values };
  });
  return { times, stepMs, series };
}

export interface MetricsLayout {
  /** SVG path per series (moves across gaps). */
  paths: string[];
  xTicks: { x: number; ms: number; label: string }[];
  yTicks: { y: number; value: number }[];
  /** The bucket nearest a plot x, and its x. */
  nearest(x: number): { index: number; x: number };
  xOf(index: number): number;
  yOf(value: number): number;
}

/** Lines over a `width`×`height` plot: x over the grid, y from 0 (or the lowest negative) to a nice top. */
export function metricsLayout(data: MetricsData, width: number, height: number): MetricsLayout {
  const n = data.times.length;
  const xOf = (i: number) => (n <= 1 ? width / 2 : (i / (n - 1)) * width);
  let lo = 0;
  let hi = 0;
  for (const s of data.series) for (const v of s.values) if (v !== null && Number.isFinite(v)) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
  if (hi <= lo) hi = lo + 1;
  const step = niceStep((hi - lo) / 4);
  const top = Math.ceil(hi / step) * step;
  const bottom = Math.floor(lo / step) * step;
  const yOf = (v: number) => height - ((v - bottom) / (top - bottom)) * height;
  const paths = data.series.map((s) => {
    let d = '';
    let pen = false;
    s.values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) {
        pen = false;
        return;
      }
      d += `${pen ? 'L' : 'M'}${xOf(i).toFixed(1)},${yOf(v).toFixed(1)}`;
      pen = true;
    });
    return d;
  });
  const startMs = data.times[0] ?? 0;
  const endMs = data.times[n - 1] ?? startMs;
  const msToX = (ms: number) => (n <= 1 || endMs === startMs ? width / 2 : ((ms - startMs) / (endMs - startMs)) * width);
  const ticks = timeTicks(startMs, endMs, 6);
  const tickStep = ticks.length > 1 ? ticks[1] - ticks[0] : data.stepMs;
  return {
    paths,
    xTicks: ticks.map((ms) => ({ x: msToX(ms), ms, label: formatClock(ms, tickStep) })),
    yTicks: ticksBetween(bottom, top, 4).map((value) => ({ y: yOf(value), value })),
    nearest: (x: number) => {
      const index = n <= 1 ? 0 : Math.max(0, Math.min(n - 1, Math.round((x / width) * (n - 1))));
      return { index, x: xOf(index) };
    },
    xOf,
    yOf,
  };
}
