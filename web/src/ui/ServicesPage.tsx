import { useEffect, useMemo, useRef, useState } from 'react';
import {
  serviceMapLayout,
  lineChart,
  loadChart,
  resolveRange,
  formatRoute,
  formatDuration,
  formatClock,
  formatTimestamp,
  quoteString,
  RANGE_PRESETS,
  DEFAULT_SEARCH,
  type ServiceMapJson,
  type RedJson,
  type OperationsJson,
  type LoadJson,
  type ServicesState,
  type ServiceState,
  type TimeRange,
  type MapEdge,
} from '../model/index.js';
import { ApiError, getJson, isAbort, query } from './api.js';
import { go, Link } from './router.js';
import { ChartAxes, ChartLegend, EmptyState, ErrorState, RangePresets, Spinner } from './common.js';
import { useWidth } from './Scatter.js';

type Load<T> = { status: 'loading' } | { status: 'error'; error: ApiError } | { status: 'done'; data: T };

function useApi<T>(url: string): Load<T> {
  const [load, setLoad] = useState<Load<T>>({ status: 'loading' });
  useEffect(() => {
    const abort = new AbortController();
    setLoad({ status: 'loading' });
    getJson<T>(url, abort.signal)
      .then((data) => setLoad({ status: 'done', data }))
      .catch((e) => !isAbort(e) && setLoad({ status: 'error', error: e instanceof ApiError ? e : new ApiError(0, String(e), url) }));
    return () => abort.abort();
  }, [url]);
  return load;
}

/** Resolved once per range in the URL, so a preset does not refetch on every render. */
function useRange(range: TimeRange): { start: number; end: number } {
  const key = JSON.stringify(range);
  return useMemo(() => resolveRange(range, Date.now()), [key]);
}

const pct = (x: number) => `${(x * 100).toFixed(x > 0 && x < 0.01 ? 2 : 1)}%`;
const perSecond = (x: number) => (x >= 10 ? `${Math.round(x)}/s` : x >= 0.1 ? `${x.toFixed(2)}/s` : `${(x * 60).toFixed(1)}/min`);
const searchFor = (service: string, operation?: string) =>
  formatRoute({ page: 'search', state: { ...DEFAULT_SEARCH, q: `{ resource.service.name = ${quoteString(service)}${operation ? ` && name = ${quoteString(operation)}` : ''} }` } });

/** The service map: who calls whom, with rate, errors and latency on each call. */
export function ServicesPage({ state }: { state: ServicesState }) {
  const range = useRange(state.range);
  const load = useApi<ServiceMapJson>(`/api/sightline/service-map${query({ start: range.start, end: range.end })}`);
  const layout = useMemo(() => (load.status === 'done' ? serviceMapLayout(load.data) : undefined), [load]);
  const [hover, setHover] = useState<string>();
  return (
    <div className="services-page">
      <div className="page-head">
        <h1>Services</h1>
        <RangePresets presets={RANGE_PRESETS} range={state.range} onChange={(r) => go(formatRoute({ page: 'services', state: { range: r } }))} />
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
          <div className="service-map" data-testid="service-map">
            <svg width={layout.width + 40} height={layout.height + 40} role="img" aria-label="Service map">
              <defs>
                <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
                  <path d="M0,0 L10,5 L0,10 z" className="map-arrow" />
                </marker>
              </defs>
              <g transform="translate(20,20)">
                {layout.edges.map((e) => (
                  <MapEdgeView key={`${e.edge.source}>${e.edge.target}:${e.edge.kind}`} e={e} dim={hover !== undefined && hover !== e.edge.source && hover !== e.edge.target} />
                ))}
                {layout.nodes.map((n) => (
                  <Link key={n.node.service} href={formatRoute({ page: 'service', state: { service: n.node.service, range: state.range } })}>
                    <g
                      transform={`translate(${n.x},${n.y})`}
                      className={`map-node${n.node.errorRate > 0.05 ? ' failing' : ''}${hover !== undefined && hover !== n.node.service ? ' dim' : ''}`}
                      data-service={n.node.service}
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
                ))}
              </g>
            </svg>
          </div>
          <table className="results services-table" data-testid="services-table">
            <thead>
              <tr>
                <th>Service</th>
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
              {load.data.nodes.map((n) => (
                <tr key={n.service} onClick={() => go(formatRoute({ page: 'service', state: { service: n.service, range: state.range } }))}>
                  <td>
                    <Link href={formatRoute({ page: 'service', state: { service: n.service, range: state.range } })} onClick={(e) => e.stopPropagation()}>
                      {n.service}
                    </Link>
                  </td>
                  <td className="num">{n.requests}</td>
                  <td className="num">{perSecond(n.rate)}</td>
                  <td className="num">{n.errors > 0 ? <span className="error-count">{pct(n.errorRate)}</span> : '0%'}</td>
                  <td className="num">{n.p50 !== null ? formatDuration(n.p50) : '—'}</td>
                  <td className="num">{n.p95 !== null ? formatDuration(n.p95) : '—'}</td>
                  <td className="num">{n.p99 !== null ? formatDuration(n.p99) : '—'}</td>
                  <td>
                    <Link href={searchFor(n.service)} onClick={(e) => e.stopPropagation()}>
                      traces
                    </Link>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </div>
  );
}

function MapEdgeView({ e, dim }: { e: MapEdge; dim: boolean }) {
  // Width grows with the log of the rate so one busy edge does not swamp the rest.
  const width = 1.2 + Math.min(5, Math.log10(1 + e.edge.rate * 10));
  const label = `${perSecond(e.edge.rate)} · ${pct(e.edge.errorRate)} · p95 ${formatDuration(e.edge.p95)}`;
  return (
    <g className={`map-edge${e.edge.errorRate > 0.05 ? ' failing' : ''}${e.edge.kind !== 'request' ? ` ${e.edge.kind}` : ''}${dim ? ' dim' : ''}`} data-edge={`${e.edge.source}>${e.edge.target}`}>
      <path d={e.d} strokeWidth={width} markerEnd="url(#arrow)" fill="none">
        <title>
          {e.edge.source} → {e.edge.target} ({e.edge.kind}): {e.edge.count} calls, {perSecond(e.edge.rate)}, {e.edge.errors} errors ({pct(e.edge.errorRate)}), p50 {formatDuration(e.edge.p50)}, p95{' '}
          {formatDuration(e.edge.p95)}, p99 {formatDuration(e.edge.p99)}
        </title>
      </path>
      <text x={e.labelX} y={e.labelY - 6} textAnchor="middle" className="map-edge-label">
        {label}
      </text>
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
          <Link href={formatRoute({ page: 'services', state: { range: state.range } })}>Services</Link> / {state.service}
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
        <RangePresets presets={RANGE_PRESETS} range={state.range} onChange={(r) => nav({ range: r })} />
        <Link href={searchFor(state.service, state.operation)} className="small">
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
                  <Link href={searchFor(state.service, o.name)} onClick={(e) => e.stopPropagation()}>
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
 * runs out under load from a dependency that is simply slow.
 */
function LoadPanel({ service, operation, range }: { service: string; operation: string; range: { start: number; end: number } }) {
  const q = `{ resource.service.name = ${quoteString(service)} && name = ${quoteString(operation)} }`;
  const load = useApi<LoadJson>(`/api/sightline/load${query({ q, start: range.start, end: range.end })}`);
  const box = useRef<HTMLDivElement>(null);
  const width = useWidth(box);
  const plotW = Math.max(60, width - CHART_PAD.left - CHART_PAD.right);
  const plotH = 160 - CHART_PAD.top - CHART_PAD.bottom - 14;
  const chart = load.status === 'done' ? loadChart(load.data, plotW, plotH) : null;
  const [hover, setHover] = useState<number>();
  const shown = chart && hover !== undefined ? chart.points[hover]?.bucket : undefined;
  return (
    <div className="chart load-panel" ref={box} data-testid="load-chart" data-saturating={chart?.saturating ? 'true' : 'false'}>
      <h2 className="section-title">Under load</h2>
      {load.status === 'loading' && <Spinner label="Reading the operation's spans…" />}
      {load.status === 'error' && <ErrorState title="Could not read the load" detail={load.error.message} />}
      {chart && load.status === 'done' && load.data.buckets.length === 0 && <EmptyState title="No spans of this operation in this range" />}
      {chart && load.status === 'done' && load.data.buckets.length > 0 && (
        <>
          <p className={`small${chart.saturating ? ' load-verdict-alert' : ' muted'}`} data-testid="load-verdict">
            {chart.verdict}
            {load.data.sampled ? ` (the ${load.data.spans.toLocaleString()} most recent spans)` : ''}
          </p>
          <div className="chart-title">
            Latency and wait (no child span running), p50, by requests in flight
            {shown && (
              <span className="muted small">
                {' '}
                {shown.concurrencyMin === shown.concurrencyMax ? shown.concurrencyMin : `${shown.concurrencyMin}-${shown.concurrencyMax}`} in flight: latency {formatDuration(shown.latency.p50Ns)}, wait {formatDuration(shown.wait.p50Ns)} ({shown.spans} spans)
              </span>
            )}
          </div>
          <svg width={width} height={plotH + CHART_PAD.top + CHART_PAD.bottom + 14} onPointerLeave={() => setHover(undefined)}>
            <g transform={`translate(${CHART_PAD.left},${CHART_PAD.top})`}>
              <ChartAxes
                width={plotW}
                height={plotH}
                yTicks={chart.yTicks.map((t) => ({ y: t.y, label: formatDuration(t.valueNs) }))}
                xTicks={chart.xTicks.map((t) => ({ x: t.x, label: String(t.value) }))}
              />
              <text className="axis-label" x={plotW / 2} y={plotH + 29} textAnchor="middle">
                requests in flight
              </text>
              {chart.lines.map((l, i) => (
                <path key={l.name} d={l.d} className={`chart-line series-${i}`} fill="none" />
              ))}
              {chart.points.map((p, i) => (
                <g key={i} onPointerEnter={() => setHover(i)}>
                  <circle className={`series-dot series-0`} cx={p.x} cy={p.latencyY} r={hover === i ? 5 : 3} />
                  <circle className={`series-dot series-1`} cx={p.x} cy={p.waitY} r={hover === i ? 5 : 3} />
                </g>
              ))}
            </g>
          </svg>
          <ChartLegend names={chart.lines.map((l) => l.name)} />
        </>
      )}
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
