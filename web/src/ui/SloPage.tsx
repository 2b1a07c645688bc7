import { useMemo, useRef, useState } from 'react';
import {
  alertHistory,
  attemptText,
  burnCharts,
  formatBudget,
  formatBurn,
  formatClock,
  formatRoute,
  formatTimestamp,
  linkFrom,
  metricsLayout,
  sloApiPath,
  sloRows,
  sloSeriesUrl,
  RANGE_PRESETS,
  type AlertView,
  type BurnChartView,
  type LinkOrigin,
  type SloDetailJson,
  type SloSeriesJson,
  type SlosJson,
  type SloState,
  type SlosState,
} from '../model/index.js';
import { useApi } from './use-api.js';
import { go, Link } from './router.js';
import { TimePicker } from './TimePicker.js';
import { ChartAxes, EmptyState, ErrorState, Spinner, serviceColor } from './common.js';
import { useWidth } from './Scatter.js';


/**
 * SLOs: each of the tenant's SLOs with its error budget left over its
 * window and its burn rates now, firing ones first. Computed by the API
 * when the page loads, from the spans, as the evaluator computes them.
 */
export function SlosPage({ state }: { state: SlosState }) {
  const [run, setRun] = useState(0);
  const load = useApi<SlosJson>('/api/sightline/slos', run);
  const rows = useMemo(() => (load.status === 'done' ? sloRows(load.data) : []), [load]);
  return (
    <div className="slos-page" data-testid="slos-page">
      <div className="page-head">
        <h1>SLOs</h1>
        <span className="spacer" />
        <TimePicker presets={RANGE_PRESETS} range={state.range} onChange={(range) => go(formatRoute({ page: 'slos', state: { range } }))} onRefresh={() => setRun((n) => n + 1)} />
      </div>
      {load.status === 'loading' && <Spinner label="Computing budgets…" />}
      {load.status === 'error' && <ErrorState title="Could not load SLOs" detail={load.error.body.trim() || load.error.message} />}
      {load.status === 'done' && rows.length === 0 && (
        <EmptyState title="No SLOs">
          SLOs are defined in the file named by <code>--slo-config</code> (see docs/slo.md).
        </EmptyState>
      )}
      {load.status === 'done' && rows.length > 0 && (
        <table className="results slos-table" data-testid="slos-table">
          <thead>
            <tr>
              <th>SLO</th>
              <th>Tenant</th>
              <th className="num">Objective</th>
              <th>Window</th>
              <th className="num">Budget left</th>
              <th>Burn rate now</th>
              <th>Alert</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.key} data-slo={r.key} onClick={() => go(linkFrom(state, { page: 'slo', tenant: r.tenant, name: r.name }))}>
                <td title={r.description}>
                  <Link href={linkFrom(state, { page: 'slo', tenant: r.tenant, name: r.name })} onClick={(e) => e.stopPropagation()} data-testid="slo-link">
                    {r.name}
                  </Link>
                </td>
                <td>{r.tenant}</td>
                <td className="num">{r.objective}</td>
                <td>{r.window}</td>
                <td className={`num budget-${r.level}`} data-testid="slo-budget" data-value={r.budget} title={`${r.events.bad} bad of ${r.events.valid} valid events`}>
                  {r.budgetText}
                </td>
                <td className="slo-burns">
                  {r.burns.map((b) => (
                    <span key={b.window} className="slo-burn" data-testid="slo-burn" data-window={b.window} data-value={b.rate}>
                      <span className="muted">{b.window}</span> {b.text}
                    </span>
                  ))}
                </td>
                <td data-testid="slo-state" data-state={r.state}>
                  <span className={`badge slo-state-${r.state}`}>{r.state === 'firing' ? 'firing' : 'ok'}</span>
                  {r.burning.length > 0 && <span className="muted small"> {r.burning.join(', ')} burning</span>}
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
 * One SLO: its budget left and burn rates now, each alert pair's burn
 * rates over the range against its threshold, its alerts with their
 * diagnoses and every notification attempt, and links to its traces.
 */
export function SloPage({ state }: { state: SloState }) {
  const [run, setRun] = useState(0);
  const rangeKey = JSON.stringify(state.range);
  // Resolved once per range and refresh, so a preset does not refetch on every render.
  const seriesUrl = useMemo(() => sloSeriesUrl(state.tenant, state.name, state.range, Date.now()), [state.tenant, state.name, rangeKey, run]);
  const detail = useApi<SloDetailJson>(sloApiPath(state.tenant, state.name), run);
  const series = useApi<SloSeriesJson>(seriesUrl, run);
  const origin: LinkOrigin = { range: state.range };
  const set = (range: SloState['range']) => go(formatRoute({ page: 'slo', state: { ...state, range } }));

  return (
    <div className="slo-page" data-testid="slo-page">
      <div className="page-head">
        <h1>
          <Link href={linkFrom(origin, { page: 'slos' })} className="muted">
            SLOs
          </Link>{' '}
          / {state.name} <span className="muted small">tenant {state.tenant}</span>
        </h1>
        {detail.status === 'done' && (
          <span className={`badge slo-state-${detail.data.state}`} data-testid="slo-state" data-state={detail.data.state}>
            {detail.data.state}
          </span>
        )}
        <span className="spacer" />
        <TimePicker presets={RANGE_PRESETS} range={state.range} onChange={set} onRefresh={() => setRun((n) => n + 1)} />
      </div>
      {detail.status === 'loading' && <Spinner label="Computing the budget…" />}
      {detail.status === 'error' && <ErrorState title={detail.error.status === 404 ? 'No such SLO' : 'Could not load the SLO'} detail={detail.error.body.trim() || detail.error.message} />}
      {detail.status === 'done' && <SloSummary slo={detail.data} origin={origin} />}
      <h2 className="section-title">Burn rate over time</h2>
      {series.status === 'loading' && <Spinner label="Counting events over the range…" />}
      {series.status === 'error' && <ErrorState title="Could not compute the burn rates" detail={series.error.body.trim() || series.error.message} />}
      {series.status === 'done' && <BurnCharts series={series.data} />}
      {detail.status === 'done' && <AlertHistory slo={detail.data} />}
    </div>
  );
}

function SloSummary({ slo, origin }: { slo: SloDetailJson; origin: LinkOrigin }) {
  const burns = [...slo.burnRates];
  return (
    <div className="slo-summary">
      {slo.description && <p className="muted">{slo.description}</p>}
      <div className="slo-stats">
        <div className="slo-stat">
          <div className="muted small">Error budget left ({slo.window})</div>
          <div className={`slo-figure budget-${slo.budgetRemaining <= 0 ? 'spent' : slo.budgetRemaining < 0.25 ? 'low' : 'healthy'}`} data-testid="slo-budget" data-value={slo.budgetRemaining}>
            {formatBudget(slo.budgetRemaining)}
          </div>
          <div className="muted small" data-testid="slo-events" data-valid={slo.events.valid} data-bad={slo.events.bad}>
            {slo.events.bad.toLocaleString()} bad of {slo.events.valid.toLocaleString()} valid events; objective {slo.objective}%
          </div>
        </div>
        <div className="slo-stat">
          <div className="muted small">Burn rate now</div>
          <div className="slo-burns">
            {burns.map((b) => (
              <span key={b.window} className="slo-burn" data-testid="slo-burn" data-window={b.window} data-value={b.burnRate} title={`${b.valid - b.good} bad of ${b.valid} valid (${b.source})`}>
                <span className="muted">{b.window}</span> <strong>{formatBurn(b.burnRate)}</strong>
              </span>
            ))}
          </div>
        </div>
        <div className="slo-stat slo-links">
          <Link href={linkFrom(origin, { page: 'search', q: slo.badQuery })} data-testid="slo-bad-traces" title={slo.badQuery}>
            Traces with bad events →
          </Link>
          <Link href={linkFrom(origin, { page: 'search', q: slo.validQuery })} data-testid="slo-valid-traces" title={slo.validQuery}>
            All valid traces →
          </Link>
          <Link href={linkFrom(origin, { page: 'compare', q: slo.badQuery, baseline: slo.goodQuery })} data-testid="slo-compare">
            Compare bad with good →
          </Link>
        </div>
      </div>
      <dl className="slo-definition small">
        <dt>valid</dt>
        <dd>
          <code>{slo.valid}</code>
        </dd>
        <dt>good</dt>
        <dd>
          <code>{slo.good}</code>
        </dd>
        <dt>receivers</dt>
        <dd>{slo.receivers.length > 0 ? slo.receivers.join(', ') : 'none'}</dd>
      </dl>
    </div>
  );
}

function BurnCharts({ series }: { series: SloSeriesJson }) {
  const charts = useMemo(() => burnCharts(series), [series]);
  if (charts.length === 0) return <EmptyState title="No alert windows" />;
  return (
    <div className="burn-charts">
      {charts.map((c) => (
        <BurnChart key={c.key} chart={c} />
      ))}
    </div>
  );
}

const HEIGHT = 200;
const PAD = { left: 56, right: 12, top: 10, bottom: 24 };

/** One alert pair: its long and short windows' burn rates, and its threshold as a dashed line. */
function BurnChart({ chart }: { chart: BurnChartView }) {
  const box = useRef<HTMLDivElement>(null);
  const width = useWidth(box);
  const plotW = Math.max(50, width - PAD.left - PAD.right);
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const layout = metricsLayout(chart.data, plotW, plotH);
  const [hover, setHover] = useState<{ index: number; x: number }>();
  const { data } = chart;
  return (
    <div className="burn-chart" ref={box} data-testid="burn-chart" data-threshold={chart.threshold} data-last-long={chart.last.long} data-last-short={chart.last.short} data-firing={chart.firingAtEnd}>
      <div className="small">
        <strong>{chart.title}</strong> {chart.firingAtEnd && <span className="badge slo-state-firing">burning</span>}
      </div>
      <svg
        width={width}
        height={HEIGHT}
        role="img"
        aria-label={`Burn rate, ${chart.title}`}
        onPointerMove={(e) => {
          const r = (e.currentTarget as SVGElement).getBoundingClientRect();
          const x = e.clientX - r.left - PAD.left;
          setHover(x < 0 || x > plotW ? undefined : layout.nearest(x));
        }}
        onPointerLeave={() => setHover(undefined)}
      >
        <g transform={`translate(${PAD.left},${PAD.top})`}>
          <ChartAxes width={plotW} height={plotH} yTicks={layout.yTicks.map((t) => ({ y: t.y, label: formatBurn(t.value) }))} xTicks={layout.xTicks} />
          <line className="axis" x1={0} x2={plotW} y1={plotH} y2={plotH} />
          {layout.paths.map((d, i) => (
            <path key={data.series[i].name} className={i === 2 ? 'threshold-line' : 'metric-line'} d={d} stroke={i === 2 ? undefined : serviceColor(i)} data-series={data.series[i].name} />
          ))}
          {hover && <line className="hover-line" x1={hover.x} x2={hover.x} y1={0} y2={plotH} />}
        </g>
      </svg>
      <div className="metrics-hover small">
        {hover ? (
          <>
            <strong>{formatClock(data.times[hover.index], 1000)}</strong>
            {data.series.slice(0, 2).map((s, i) => (
              <span key={s.name} className="legend-item">
                <span className="legend-line" style={{ background: serviceColor(i) }} /> {s.name}: {formatBurn(s.values[hover.index] ?? 0)}
              </span>
            ))}
          </>
        ) : (
          <>
            {data.series.slice(0, 2).map((s, i) => (
              <span key={s.name} className="legend-item">
                <span className="legend-line" style={{ background: serviceColor(i) }} /> {s.name}
              </span>
            ))}
            <span className="legend-item">
              <span className="legend-line threshold-swatch" /> {data.series[2]?.name}
            </span>
          </>
        )}
      </div>
    </div>
  );
}

function AlertHistory({ slo }: { slo: SloDetailJson }) {
  const alerts = useMemo(() => alertHistory(slo, Date.now()), [slo]);
  return (
    <>
      <h2 className="section-title">Alerts</h2>
      {alerts.length === 0 ? (
        <p className="muted" data-testid="slo-no-alerts">
          No alert has fired{slo.evaluatedHere ? '' : ' (this process does not evaluate this SLO; another one holds its lease)'}.
        </p>
      ) : (
        <div className="slo-alerts" data-testid="slo-alerts">
          {alerts.map((a) => (
            <AlertCard key={a.key} alert={a} />
          ))}
        </div>
      )}
    </>
  );
}

function AlertCard({ alert: a }: { alert: AlertView }) {
  const d = a.diagnosis;
  return (
    <div className="slo-alert" data-testid="slo-alert" data-status={a.status} data-start-ms={a.startMs}>
      <div className="slo-alert-head">
        <span className={`badge slo-state-${a.status === 'firing' ? 'firing' : 'ok'}`}>{a.status}</span> <strong>{a.severity}</strong> <span className="muted">{a.windows}</span>{' '}
        <span data-testid="alert-times">
          fired {formatTimestamp(a.startMs, false)}
          {a.endMs !== undefined ? `, resolved ${formatTimestamp(a.endMs, false)}` : ''}
        </span>{' '}
        <span className="muted" data-testid="alert-duration" data-ms={a.durationMs}>
          ({a.status === 'firing' ? 'firing for ' : 'lasted '}
          {a.durationText})
        </span>
      </div>
      <div className="small">{a.summary}</div>
      <div className="slo-diagnosis" data-testid="alert-diagnosis">
        {d.unavailable && <div className="error-text small">Diagnosis unavailable ({d.unavailable}).</div>}
        {d.attributes.length > 0 && (
          <>
            <div className="muted small">Bad events share</div>
            <ol className="slo-findings">
              {d.attributes.map((f) => (
                <li key={f} data-testid="alert-attribute">
                  {f}
                </li>
              ))}
            </ol>
          </>
        )}
        {d.operation && (
          <div className="small" data-testid="alert-operation">
            <span className="muted">Extra time in</span> {d.operation}
          </div>
        )}
        {d.traces && <div className="muted small">{d.traces}</div>}
        <div className="slo-links small">
          {d.compare && (
            <Link href={linkFrom({ range: d.compare.range }, { page: 'compare', q: d.compare.q, baseline: d.compare.baseline })} data-testid="alert-compare">
              Compare bad with good over the alert's window →
            </Link>
          )}
          {d.examples && (
            <Link href={linkFrom({ range: d.examples.range }, { page: 'search', q: d.examples.q })} data-testid="alert-examples">
              Bad events then →
            </Link>
          )}
        </div>
      </div>
      {a.notifications.length > 0 && (
        <table className="results slo-notifications" data-testid="alert-notifications">
          <thead>
            <tr>
              <th>Receiver</th>
              <th>Notice</th>
              <th>State</th>
              <th>Attempts</th>
            </tr>
          </thead>
          <tbody>
            {a.notifications.flatMap((n) =>
              n.deliveries.map((dl) => (
                <tr key={`${n.receiver}/${dl.status}`} data-receiver={n.receiver} data-notice={dl.status} data-state={dl.state}>
                  <td>{n.receiver}</td>
                  <td>{dl.status}</td>
                  <td>{dl.state}</td>
                  <td>
                    <span className="slo-attempts">
                      {dl.attempts.length === 0
                        ? '—'
                        : dl.attempts.map((t) => (
                            <span key={t.attempt} className={`slo-attempt${t.statusCode >= 200 && t.statusCode < 300 ? ' ok' : ' failed'}`} data-status-code={t.statusCode} title={formatTimestamp(t.timeMs)}>
                              #{t.attempt} {formatClock(t.timeMs, 1000)} {attemptText(t)}
                            </span>
                          ))}
                    </span>
                  </td>
                </tr>
              )),
            )}
          </tbody>
        </table>
      )}
    </div>
  );
}
