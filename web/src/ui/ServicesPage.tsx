import { useMemo, useRef, useState } from 'react';
import {
  serviceMapLayout,
  lineChart,
  loadChart,
  loadHeatmapView,
  nodeHealth,
  baselineWindow,
  perSecond,
  percent as pct,
  linkFrom,
  resolveRange,
  formatRoute,
  formatDuration,
  formatClock,
  formatTimestamp,
  quoteString,
  rowLowerNs,
  rowUpperNs,
  RANGE_PRESETS,
  LOAD_LINE_NAMES,
  MIN_BASELINE_REQUESTS,
  type ServiceMapJson,
  type RedJson,
  type OperationsJson,
  type LoadJson,
  type ServicesState,
  type ServiceState,
  type TimeRange,
  type MapEdge,
  type MapNode,
  type NodeHealth,
  type HealthLevel,
  splitMap,
  SPLIT_ATTRIBUTES,
} from '../model/index.js';
import { query } from './api.js';
import { useApi, type Load } from './use-api.js';
import { go, Link } from './router.js';
import { ChartAxes, ChartLegend, EmptyState, ErrorState, Spinner } from './common.js';
import { TimePicker } from './TimePicker.js';
import { useWidth } from './Scatter.js';


/** Resolved once per range in the URL, so a preset does not refetch on every render. */
function useRange(range: TimeRange): { start: number; end: number } {
  const key = JSON.stringify(range);
  return useMemo(() => resolveRange(range, Date.now()), [key]);
}

const serviceQuery = (service: string, operation?: string) => `{ resource.service.name = ${quoteString(service)}${operation ? ` && name = ${quoteString(operation)}` : ''} }`;

/** Edge labels' text width, measured in the label's font (11 px, the page's family). */
function useTextWidth(): (text: string) => number {
  return useMemo(() => {
    const ctx = document.createElement('canvas').getContext('2d');
    if (!ctx) return (text: string) => text.length * 6.2;
    ctx.font = `11px ${getComputedStyle(document.body).fontFamily}`;
    const cache = new Map<string, number>();
    return (text: string) => {
      let w = cache.get(text);
      if (w === undefined) cache.set(text, (w = Math.ceil(ctx.measureText(text).width)));
      return w;
    };
  }, []);
}

const HEALTH_WORDS: Record<HealthLevel, string> = { healthy: 'healthy', degraded: 'degraded', unhealthy: 'unhealthy', idle: 'no requests' };

/** The service map: who calls whom, with rate, errors and latency on each call, each service coloured by its health. */
export function ServicesPage({ state }: { state: ServicesState }) {
  const range = useRange(state.range);
  const base = baselineWindow(range);
  const groupBy = state.groupBy;
  const rawLoad = useApi<ServiceMapJson>(`/api/sightline/service-map${query({ start: range.start, end: range.end, groupBy })}`);
  const rawBaseline = useApi<ServiceMapJson>(`/api/sightline/service-map${query({ start: base.start, end: base.end, groupBy })}`);
  // Split by a resource attribute, each (service, value) is a node of its own; links still go to the service.
  const split = useMemo(() => (rawLoad.status === 'done' ? splitMap(rawLoad.data) : undefined), [rawLoad]);
  const load = useMemo(() => (rawLoad.status === 'done' && split ? { ...rawLoad, data: split.map } : rawLoad), [rawLoad, split]);
  const baseline = useMemo(() => (rawBaseline.status === 'done' ? { ...rawBaseline, data: splitMap(rawBaseline.data).map } : rawBaseline), [rawBaseline]);
  const serviceOf = split?.serviceOf ?? ((n: string) => n);
  const textWidth = useTextWidth();
  const layout = useMemo(() => (load.status === 'done' ? serviceMapLayout(load.data, { textWidth }) : undefined), [load, textWidth]);
  const health = useMemo(() => {
    const out = new Map<string, NodeHealth>();
    if (load.status !== 'done') return out;
    const usual = baseline.status === 'done' ? new Map(baseline.data.nodes.map((n) => [n.service, n])) : new Map();
    for (const n of load.data.nodes) out.set(n.service, nodeHealth(n, usual.get(n.service)));
    return out;
  }, [load, baseline]);
  const [hover, setHover] = useState<string>();
  const hovered = layout?.nodes.find((n) => n.node.service === hover);
  return (
    <div className="services-page">
      <div className="page-head">
        <h1>Services</h1>
        <TimePicker presets={RANGE_PRESETS} range={state.range} onChange={(r) => go(formatRoute({ page: 'services', state: { ...state, range: r } }))} />
        <label className="split-by">
          Split by{' '}
          <select
            data-testid="split-by"
            value={groupBy ?? ''}
            onChange={(e) => go(formatRoute({ page: 'services', state: { range: state.range, ...(e.target.value ? { groupBy: e.target.value } : {}) } }))}
          >
            <option value="">nothing</option>
            {[...new Set([...SPLIT_ATTRIBUTES, ...(groupBy ? [groupBy] : [])])].map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
        </label>
      </div>
      {load.status === 'loading' && <Spinner label="Building the service map…" />}
      {load.status === 'error' && <ErrorState title="Could not load the service map" detail={load.error.message} />}
      {load.status === 'done' && load.data.nodes.length === 0 && <EmptyState title="No services in this range">Send traces, or pick a longer range.</EmptyState>}
      {load.status === 'done' && layout && load.data.nodes.length > 0 && (
        <>
          {load.data.sampledFraction !== undefined && load.data.sampledFraction < 1 && (
            <div className="banner warn">
              Busy range: the map is built from a uniform sample of {pct(load.data.sampledFraction)} of the traces; counts and rates are scaled up from it.
            </div>
          )}
          <HealthLegend baseline={baseline} window={base} />
          <div className="service-map" data-testid="service-map">
            <svg width={layout.width + 40} height={layout.height + 40} role="img" aria-label="Service map">
              <g transform="translate(20,20)">
                {layout.edges.map((e) => (
                  <MapEdgeView key={`${e.edge.source}>${e.edge.target}:${e.edge.kind}`} e={e} dim={hover !== undefined && hover !== e.edge.source && hover !== e.edge.target} />
                ))}
                {layout.nodes.map((n) => {
                  const h = health.get(n.node.service) ?? nodeHealth(n.node, undefined);
                  return (
                    <Link key={n.node.service} href={linkFrom(state, { page: 'service', service: serviceOf(n.node.service) })} aria-label={`${n.node.service}: ${HEALTH_WORDS[h.level]}`}>
                      <g
                        transform={`translate(${n.x},${n.y})`}
                        className={`map-node health-${h.level}${hover !== undefined && hover !== n.node.service ? ' dim' : ''}`}
                        data-service={n.node.service}
                        data-health={h.level}
                        onPointerEnter={() => setHover(n.node.service)}
                        onPointerLeave={() => setHover(undefined)}
                      >
                        <rect width={170} height={58} rx={8} />
                        <text x={10} y={20} className="map-node-name">
                          {n.node.service.length > 22 ? `${n.node.service.slice(0, 21)}…` : n.node.service}
                        </text>
                        <text x={10} y={38} className="map-node-stat">
                          {n.node.requests > 0 ? `${perSecond(n.node.rate)} · ${pct(n.node.errorRate)} err` : `${n.node.spans} spans`}
                        </text>
                        <text x={10} y={52} className="map-node-stat">
                          {n.node.p95 !== null ? `p95 ${formatDuration(n.node.p95)}` : 'no requests'}
                        </text>
                      </g>
                    </Link>
                  );
                })}
              </g>
            </svg>
            {hovered && <NodeTip n={hovered} h={health.get(hovered.node.service) ?? nodeHealth(hovered.node, undefined)} mapWidth={layout.width + 40} />}
          </div>
          <table className="results services-table" data-testid="services-table">
            <thead>
              <tr>
                <th>Service</th>
                <th>Health</th>
                <th className="num">Requests</th>
                <th className="num">Rate</th>
                <th className="num">Errors</th>
                <th className="num">p50</th>
                <th className="num">p95</th>
                <th className="num">p99</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {load.data.nodes.map((n) => {
                const h = health.get(n.service);
                return (
                  <tr key={n.service} data-service-row={n.service} onClick={() => go(linkFrom(state, { page: 'service', service: serviceOf(n.service) }))}>
                    <td>
                      <Link href={linkFrom(state, { page: 'service', service: serviceOf(n.service) })} onClick={(e) => e.stopPropagation()} data-testid="service-link">
                        {n.service}
                      </Link>
                    </td>
                    <td title={h?.reasons.join('; ')}>
                      <span className={`health-dot health-${h?.level ?? 'healthy'}`} aria-hidden /> {HEALTH_WORDS[h?.level ?? 'healthy']}
                    </td>
                    <td className="num">{n.requests}</td>
                    <td className="num">{perSecond(n.rate)}</td>
                    <td className="num">{n.errors > 0 ? <span className="error-count">{pct(n.errorRate)}</span> : '0%'}</td>
                    <td className="num">{n.p50 !== null ? formatDuration(n.p50) : '—'}</td>
                    <td className="num">{n.p95 !== null ? formatDuration(n.p95) : '—'}</td>
                    <td className="num">{n.p99 !== null ? formatDuration(n.p99) : '—'}</td>
                    <td>
                      <Link href={linkFrom(state, { page: 'search', q: serviceQuery(serviceOf(n.service)) })} onClick={(e) => e.stopPropagation()} data-testid="service-traces">
                        traces
                      </Link>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </>
      )}
    </div>
  );
}

/** What the node colours mean, and what they are measured against. */
function HealthLegend({ baseline, window }: { baseline: Load<ServiceMapJson>; window: { start: number; end: number } }) {
  const from = formatTimestamp(window.start * 1000, false);
  const to = formatTimestamp(window.end * 1000, false);
  return (
    <div className="health-legend small muted" data-testid="health-legend">
      {(['healthy', 'degraded', 'unhealthy', 'idle'] as const).map((l) => (
        <span key={l} className="legend-item">
          <span className={`health-dot health-${l}`} aria-hidden /> {HEALTH_WORDS[l]}
        </span>
      ))}
      <span>
        Error rate and p95 against each service's own baseline, {from} – {to}
        {baseline.status === 'loading' ? ' (loading…)' : baseline.status === 'error' ? ' (could not be read: errors are judged alone)' : ''}. Errors count even without one; latency needs
        {` ${MIN_BASELINE_REQUESTS}`} requests in it. Hover a service for the numbers.
      </span>
    </div>
  );
}

const TIP_WIDTH = 250;

/** The numbers behind a node's colour, beside it. */
function NodeTip({ n, h, mapWidth }: { n: MapNode; h: NodeHealth; mapWidth: number }) {
  const usualErr = h.baselineErrorRate === null ? 'no baseline' : `usually ${pct(h.baselineErrorRate)}`;
  const usualP95 = h.baselineP95 === null ? 'no baseline' : `usually ${formatDuration(h.baselineP95)}`;
  // Beside the node, on the side with room.
  const at = n.x + 20 + 178 + TIP_WIDTH <= mapWidth ? { left: n.x + 20 + 178, top: n.y + 20 } : { left: Math.max(0, n.x + 20 - 8 - TIP_WIDTH), top: n.y + 20 };
  return (
    <div className="map-tip" style={at} data-testid="map-tip" role="tooltip">
      <strong>{n.node.service}</strong> <span className={`health-word health-${h.level}`}>{HEALTH_WORDS[h.level]}</span>
      <dl>
        <dt>requests</dt>
        <dd>
          {n.node.requests.toLocaleString('en-US')} ({perSecond(n.node.rate)})
        </dd>
        <dt>errors</dt>
        <dd>
          {pct(n.node.errorRate)} ({n.node.errors.toLocaleString('en-US')}), {usualErr}
        </dd>
        <dt>p95</dt>
        <dd>
          {n.node.p95 !== null ? formatDuration(n.node.p95) : '—'}, {usualP95}
        </dd>
        <dt>p50 · p99</dt>
        <dd>
          {n.node.p50 !== null ? formatDuration(n.node.p50) : '—'} · {n.node.p99 !== null ? formatDuration(n.node.p99) : '—'}
        </dd>
        <dt>baseline</dt>
        <dd>{h.baselineRequests.toLocaleString('en-US')} requests</dd>
      </dl>
      {h.reasons.length > 0 && <div className="map-tip-reasons">{h.reasons.join('; ')}</div>}
    </div>
  );
}

function MapEdgeView({ e, dim }: { e: MapEdge; dim: boolean }) {
  // Width grows with the log of the rate so one busy edge does not swamp the rest.
  const width = 1.2 + Math.min(5, Math.log10(1 + e.edge.rate * 10));
  const b = e.labelBox;
  return (
    <g className={`map-edge${e.edge.errorRate > 0.05 ? ' failing' : ''}${e.edge.kind !== 'request' ? ` ${e.edge.kind}` : ''}${dim ? ' dim' : ''}`} data-edge={`${e.edge.source}>${e.edge.target}`}>
      <path d={e.d} strokeWidth={width} fill="none">
        <title>
          {e.edge.source} → {e.edge.target} ({e.edge.kind}): {e.edge.count} calls, {perSecond(e.edge.rate)}, {e.edge.errors} errors ({pct(e.edge.errorRate)}), p50 {formatDuration(e.edge.p50)}, p95{' '}
          {formatDuration(e.edge.p95)}, p99 {formatDuration(e.edge.p99)}
        </title>
      </path>
      <path d={e.arrow} className="map-arrowhead" />
      <g className="map-edge-label-box" data-testid="edge-label">
        <rect x={b.x} y={b.y} width={b.width} height={b.height} rx={3} className="map-edge-label-bg" />
        <text x={b.x + b.width / 2} y={b.y + b.height / 2 + 4} textAnchor="middle" className="map-edge-label">
          {e.label}
        </text>
      </g>
    </g>
  );
}

/** One service: RED charts over time and its operations, each a link to its traces. */
export function ServicePage({ state }: { state: ServiceState }) {
  const range = useRange(state.range);
  const red = useApi<RedJson>(`/api/sightline/red${query({ service: state.service, operation: state.operation, start: range.start, end: range.end })}`);
  const ops = useApi<OperationsJson>(`/api/sightline/services/${encodeURIComponent(state.service)}/operations${query({ start: range.start, end: range.end })}`);
  const nav = (next: Partial<ServiceState>) => go(formatRoute({ page: 'service', state: { ...state, ...next } }));
  return (
    <div className="services-page">
      <div className="page-head">
        <h1>
          <Link href={linkFrom(state, { page: 'services' })} data-testid="services-link">
            Services
          </Link>{' '}
          / {state.service}
          {state.operation && (
            <>
              {' '}
              / <span className="op">{state.operation}</span>{' '}
              <button type="button" className="link small" onClick={() => nav({ operation: undefined })}>
                (all requests)
              </button>
            </>
          )}
        </h1>
        <TimePicker presets={RANGE_PRESETS} range={state.range} onChange={(r) => nav({ range: r })} />
        <Link href={linkFrom(state, { page: 'search', q: serviceQuery(state.service, state.operation) })} className="small" data-testid="search-its-traces">
          Search its traces →
        </Link>
      </div>
      {red.status === 'loading' && <Spinner label="Loading RED series…" />}
      {red.status === 'error' && <ErrorState title="Could not load the RED series" detail={red.error.message} />}
      {red.status === 'done' && <RedCharts red={red.data} />}
      {state.operation && <LoadPanel service={state.service} operation={state.operation} range={range} />}
      <h2 className="section-title">Top operations</h2>
      {ops.status === 'loading' && <Spinner />}
      {ops.status === 'error' && <ErrorState title="Could not load the operations" detail={ops.error.message} />}
      {ops.status === 'done' && ops.data.operations.length === 0 && <EmptyState title="No spans from this service in this range" />}
      {ops.status === 'done' && ops.data.operations.length > 0 && (
        <table className="results" data-testid="operations">
          <thead>
            <tr>
              <th>Operation</th>
              <th>Kind</th>
              <th className="num">Count</th>
              <th className="num">Rate</th>
              <th className="num">Errors</th>
              <th className="num">p50</th>
              <th className="num">p95</th>
              <th className="num">p99</th>
              <th className="num">Time spent</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {ops.data.operations.map((o) => (
              <tr key={`${o.name}|${o.kind}`} className={o.name === state.operation ? 'selected' : ''} onClick={() => nav({ operation: o.name })}>
                <td>{o.name}</td>
                <td className="muted">{o.kind}</td>
                <td className="num">{o.count}</td>
                <td className="num">{perSecond(o.rate)}</td>
                <td className="num">{o.errors > 0 ? <span className="error-count">{pct(o.errorRate)}</span> : '0%'}</td>
                <td className="num">{formatDuration(o.p50)}</td>
                <td className="num">{formatDuration(o.p95)}</td>
                <td className="num">{formatDuration(o.p99)}</td>
                <td className="num">{formatDuration(o.totalDuration)}</td>
                <td>
                  <Link href={linkFrom(state, { page: 'search', q: serviceQuery(state.service, o.name) })} onClick={(e) => e.stopPropagation()} data-testid="operation-traces">
                    traces
                  </Link>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

/**
 * Latency and uninstrumented wait of one operation against requests in
 * flight (GET /api/sightline/load): the view that tells a pool or lock that
 * runs out under load from a dependency that is simply slow. Beside the
 * means by load, every span read by time and duration: bimodal latency
 * shows there as two bands, where a median line would flip between them.
 */
function LoadPanel({ service, operation, range }: { service: string; operation: string; range: { start: number; end: number } }) {
  const load = useApi<LoadJson>(`/api/sightline/load${query({ q: serviceQuery(service, operation), start: range.start, end: range.end })}`);
  const box = useRef<HTMLDivElement>(null);
  // The charts' cards have 8 px of padding and a border each side.
  const width = Math.max(120, useWidth(box) - 18);
  const chart = load.status === 'done' ? loadChart(load.data, Math.max(60, width - LOAD_PAD.left - LOAD_PAD.right), LOAD_H - LOAD_PAD.top - LOAD_PAD.bottom) : null;
  return (
    <div
      className="load-panel"
      ref={box}
      data-testid="load-chart"
      data-saturating={chart?.saturating ? 'true' : 'false'}
      data-verdict={chart?.kind}
      data-bimodal={chart?.bimodal ? 'true' : 'false'}
    >
      <h2 className="section-title">Under load</h2>
      {load.status === 'loading' && <Spinner label="Reading the operation's spans…" />}
      {load.status === 'error' && <ErrorState title="Could not read the load" detail={load.error.message} />}
      {chart && load.status === 'done' && load.data.buckets.length === 0 && <EmptyState title="No spans of this operation in this range" />}
      {chart && load.status === 'done' && load.data.buckets.length > 0 && (
        <>
          <p className={`small${chart.saturating ? ' load-verdict-alert' : ' load-verdict'}`} data-testid="load-verdict">
            {chart.verdict}
            {load.data.sampled ? ` (the ${load.data.spans.toLocaleString()} most recent spans)` : ''}
          </p>
          {chart.bimodal && (
            <p className="small load-bimodal" data-testid="load-bimodal">
              {chart.bimodal} The heatmap below shows both modes.
            </p>
          )}
          <LoadByConcurrency chart={chart} width={width} />
          {load.data.heatmap && load.data.heatmap.columns > 0 && <LoadHeatmap heatmap={load.data.heatmap} width={width} bimodalAt={load.data.bimodal?.thresholdNs} />}
        </>
      )}
    </div>
  );
}

const LOAD_H = 190;
const LOAD_PAD = { left: 64, right: 48, top: 10, bottom: 34 };

function LoadByConcurrency({ chart, width }: { chart: NonNullable<ReturnType<typeof loadChart>>; width: number }) {
  const plotW = Math.max(60, width - LOAD_PAD.left - LOAD_PAD.right);
  const plotH = LOAD_H - LOAD_PAD.top - LOAD_PAD.bottom;
  const [hover, setHover] = useState<number>();
  const shown = hover !== undefined ? chart.points[hover]?.bucket : undefined;
  return (
    <div className="chart" data-testid="load-by-concurrency">
      <div className="chart-title">
        Latency and wait by requests in flight
        {shown && (
          <span className="muted small" data-testid="load-readout">
            {' '}
            {shown.concurrencyMin === shown.concurrencyMax ? shown.concurrencyMin : `${shown.concurrencyMin}-${shown.concurrencyMax}`} in flight, {shown.spans} spans: latency mean {formatDuration(shown.latency.meanNs)} (p50{' '}
            {formatDuration(shown.latency.p50Ns)}, p95 {formatDuration(shown.latency.p95Ns)}), wait mean {formatDuration(shown.wait.meanNs)}
            {shown.slowShare !== undefined ? `, ${pct(shown.slowShare)} slow` : ''}
          </span>
        )}
      </div>
      <svg width={width} height={LOAD_H} onPointerLeave={() => setHover(undefined)}>
        <g transform={`translate(${LOAD_PAD.left},${LOAD_PAD.top})`}>
          <ChartAxes
            width={plotW}
            height={plotH}
            yTicks={chart.yTicks.map((t) => ({ y: t.y, label: formatDuration(t.valueNs) }))}
            xTicks={chart.xTicks.map((t) => ({ x: t.x, label: String(t.value) }))}
          />
          <text className="axis-title" x={plotW / 2} y={plotH + 30} textAnchor="middle">
            requests in flight at the span's start
          </text>
          <text className="axis-title" transform={`translate(${-LOAD_PAD.left + 12},${plotH / 2}) rotate(-90)`} textAnchor="middle">
            duration (mean)
          </text>
          <path d={chart.waitArea} className="load-wait-area" />
          <path d={chart.lines[1].d} className="chart-line load-wait" fill="none" data-series="wait" />
          <path d={chart.lines[0].d} className="chart-line load-latency" fill="none" data-series="latency" />
          {chart.points.map((p, i) => (
            <g key={i} onPointerEnter={() => setHover(i)}>
              <rect x={p.x - 8} y={0} width={16} height={plotH} fill="transparent" />
              <circle className="series-dot load-latency" cx={p.x} cy={p.latencyY} r={hover === i ? 5 : 3} />
              <circle className="series-dot load-wait" cx={p.x} cy={p.waitY} r={hover === i ? 5 : 3} />
            </g>
          ))}
        </g>
      </svg>
      <div className="chart-legend small muted">
        <span>
          <span className="legend-swatch load-latency" /> {LOAD_LINE_NAMES[0]}
        </span>
        <span>
          <span className="legend-swatch load-wait" /> {LOAD_LINE_NAMES[1]}
        </span>
      </div>
    </div>
  );
}

const HEAT_H = 200;

/** Every span read, by start time and duration; darker cells hold more spans; requests in flight over it on the right axis. */
function LoadHeatmap({ heatmap, width, bimodalAt }: { heatmap: NonNullable<LoadJson['heatmap']>; width: number; bimodalAt?: number }) {
  const plotW = Math.max(60, width - LOAD_PAD.left - LOAD_PAD.right);
  const plotH = HEAT_H - LOAD_PAD.top - LOAD_PAD.bottom;
  const view = loadHeatmapView(heatmap, plotW, plotH);
  const { layout } = view;
  const [hover, setHover] = useState<(typeof layout.cells)[number]>();
  const step = layout.xTicks.length > 1 ? layout.xTicks[1].ms - layout.xTicks[0].ms : heatmap.stepMs;
  // At most six duration labels, at row boundaries.
  const every = Math.max(1, Math.ceil(layout.yTicks.length / 6));
  const bounds = heatmap.durationBoundsNs;
  return (
    <div className="chart load-heatmap" data-testid="load-heatmap" data-total={layout.total} data-step-ms={heatmap.stepMs}>
      <div className="chart-title">
        Spans by start time and duration
        <span className="muted small" data-testid="load-heatmap-readout">
          {' '}
          {hover
            ? `${hover.traces.toLocaleString('en-US')} span${hover.traces === 1 ? '' : 's'}, ${formatDuration(rowLowerNs(bounds, hover.row))}–${Number.isFinite(rowUpperNs(bounds, hover.row)) ? formatDuration(rowUpperNs(bounds, hover.row)) : '∞'}, starting ${formatClock(heatmap.startMs + hover.column * heatmap.stepMs, heatmap.stepMs)}`
            : `${layout.total.toLocaleString('en-US')} spans, ${formatDuration(heatmap.stepMs * 1e6)} columns`}
        </span>
      </div>
      <svg width={width} height={HEAT_H} role="img" aria-label="Spans by start time and duration" onPointerLeave={() => setHover(undefined)}>
        <g transform={`translate(${LOAD_PAD.left},${LOAD_PAD.top})`}>
          <ChartAxes
            width={plotW}
            height={plotH}
            yTicks={layout.yTicks.filter((_, i) => i % every === 0).map((t) => ({ y: t.y, label: formatDuration(t.ns) }))}
            xTicks={layout.xTicks.map((t) => ({ x: t.x, label: formatClock(t.ms, step) }))}
          />
          {layout.cells.map((c) => {
            const upper = rowUpperNs(bounds, c.row);
            return (
              <rect
                key={`${c.column}/${c.row}`}
                className={`heat-cell${hover === c ? ' hover' : ''}${bimodalAt !== undefined && rowLowerNs(bounds, c.row) >= bimodalAt ? ' slow' : ''}`}
                x={c.x}
                y={c.y}
                width={c.width}
                height={c.height}
                style={{ fillOpacity: 0.15 + 0.85 * c.level }}
                data-testid="load-heatmap-cell"
                data-start-ms={heatmap.startMs + c.column * heatmap.stepMs}
                data-end-ms={heatmap.startMs + (c.column + 1) * heatmap.stepMs}
                data-min-ns={rowLowerNs(bounds, c.row)}
                data-max-ns={Number.isFinite(upper) ? upper : undefined}
                data-count={c.traces}
                onPointerEnter={() => setHover(c)}
              />
            );
          })}
          {view.inFlight && (
            <>
              <path d={view.inFlight.d} className="load-inflight" fill="none" data-testid="load-inflight" />
              {view.inFlight.yTicks.map((t) => (
                <text key={t.value} className="axis-label" x={plotW + 6} y={t.y + 4}>
                  {t.value}
                </text>
              ))}
              <text className="axis-title" transform={`translate(${plotW + 40},${plotH / 2}) rotate(90)`} textAnchor="middle">
                in flight
              </text>
            </>
          )}
          <text className="axis-title" x={plotW / 2} y={plotH + 30} textAnchor="middle">
            span start
          </text>
          <text className="axis-title" transform={`translate(${-LOAD_PAD.left + 12},${plotH / 2}) rotate(-90)`} textAnchor="middle">
            span duration
          </text>
        </g>
      </svg>
      <div className="chart-legend small muted">
        <span>
          <span className="legend-swatch heat" /> spans (darker: more)
        </span>
        {bimodalAt !== undefined && (
          <span>
            <span className="legend-swatch heat slow" /> slow mode (at or above {formatDuration(bimodalAt)})
          </span>
        )}
        {view.inFlight && (
          <span>
            <span className="legend-swatch load-inflight" /> requests in flight, mean at span start (right axis)
          </span>
        )}
      </div>
    </div>
  );
}

function RedCharts({ red }: { red: RedJson }) {
  const times = red.points.map((p) => p.time);
  const stepMs = red.stepSeconds * 1000;
  return (
    <div className="red-charts" data-testid="red-charts">
      <Chart title="Rate" unit={(v) => `${v < 10 ? v.toFixed(2) : Math.round(v)}/s`} times={times} stepMs={stepMs} series={[{ name: 'requests', values: red.points.map((p) => p.rate) }]} />
      <Chart title="Errors" unit={(v) => pct(v)} times={times} stepMs={stepMs} series={[{ name: 'error rate', values: red.points.map((p) => (p.count > 0 ? p.errorRate : null)) }]} error />
      <Chart
        title="Duration"
        unit={formatDuration}
        times={times}
        stepMs={stepMs}
        series={[
          { name: 'p50', values: red.points.map((p) => p.p50) },
          { name: 'p95', values: red.points.map((p) => p.p95) },
          { name: 'p99', values: red.points.map((p) => p.p99) },
        ]}
      />
    </div>
  );
}

const CHART_H = 120;
const CHART_PAD = { left: 58, right: 24, top: 8, bottom: 20 };

function Chart({ title, unit, times, stepMs, series, error }: { title: string; unit(v: number): string; times: number[]; stepMs: number; series: { name: string; values: (number | null)[] }[]; error?: boolean }) {
  const box = useRef<HTMLDivElement>(null);
  const width = useWidth(box);
  const plotW = Math.max(60, width - CHART_PAD.left - CHART_PAD.right);
  const plotH = CHART_H - CHART_PAD.top - CHART_PAD.bottom;
  const chart = lineChart(times, series, plotW, plotH);
  const [hover, setHover] = useState<number>();
  const tickStep = chart.xTicks.length > 1 ? chart.xTicks[1].ms - chart.xTicks[0].ms : stepMs;
  return (
    <div className="chart" ref={box}>
      <div className="chart-title">
        {title}
        {hover !== undefined && (
          <span className="muted small">
            {' '}
            {formatTimestamp(times[hover], false)}: {series.map((s) => `${s.name} ${s.values[hover] === null ? '—' : unit(s.values[hover]!)}`).join(' · ')}
          </span>
        )}
      </div>
      <svg
        width={width}
        height={CHART_H}
        onPointerMove={(e) => {
          const x = e.clientX - e.currentTarget.getBoundingClientRect().left - CHART_PAD.left;
          let best = 0;
          chart.xs.forEach((px, i) => Math.abs(px - x) < Math.abs(chart.xs[best] - x) && (best = i));
          setHover(times.length > 0 ? best : undefined);
        }}
        onPointerLeave={() => setHover(undefined)}
      >
        <g transform={`translate(${CHART_PAD.left},${CHART_PAD.top})`}>
          <ChartAxes
            width={plotW}
            height={plotH}
            yTicks={chart.yTicks.map((t) => ({ y: t.y, label: unit(t.value) }))}
            xTicks={chart.xTicks.map((t) => ({ x: t.x, label: formatClock(t.ms, tickStep) }))}
          />
          {chart.lines.map((l, i) => (
            <path key={l.name} d={l.d} className={`chart-line${error ? ' chart-error' : ''} series-${i}`} fill="none" />
          ))}
          {hover !== undefined && <line className="chart-cursor" x1={chart.xs[hover]} x2={chart.xs[hover]} y1={0} y2={plotH} />}
        </g>
      </svg>
      {series.length > 1 && <ChartLegend names={series.map((s) => s.name)} />}
    </div>
  );
}
