import { useEffect, useMemo, useRef, useState } from 'react';
import {
  deliveryApiUrls,
  deploymentRows,
  doraRows,
  formatRoute,
  formatSpanMs,
  pipelineViews,
  trendChart,
  DELIVERY_RANGE_PRESETS,
  type DeliveryJson,
  type DeliveryState,
  type PipelineJson,
  type PipelinesJson,
  type PipelineView,
  type TaskRow,
} from '../model/index.js';
import { useApi } from './use-api.js';
import { go, Link } from './router.js';
import { TimePicker } from './TimePicker.js';
import { ChartAxes, EmptyState, ErrorState, Spinner } from './common.js';
import { useWidth } from './Scatter.js';


/**
 * Delivery: the four DORA keys per service or team, the deployments they
 * count (each with "what changed" in one click), and where pipeline time
 * goes, all from CI/CD and deployment spans (docs/delivery.md).
 */
export function DeliveryPage({ state }: { state: DeliveryState }) {
  const [runCount, setRunCount] = useState(0);
  const rangeKey = JSON.stringify(state.range);
  const urls = useMemo(() => deliveryApiUrls(state, Date.now()), [rangeKey, state.environment, state.pipeline, runCount]);
  const keys = useApi<DeliveryJson>(urls.keys);
  const pipelines = useApi<PipelinesJson>(urls.pipelines);
  const nav = (next: Partial<DeliveryState>) => go(formatRoute({ page: 'delivery', state: { ...state, ...next } }));

  return (
    <div className="delivery-page" data-testid="delivery-page">
      <div className="page-head">
        <h1>Delivery</h1>
        <span className="spacer" />
        <TimePicker presets={DELIVERY_RANGE_PRESETS} range={state.range} onChange={(r) => nav({ range: r })} onRefresh={() => setRunCount((n) => n + 1)} />
      </div>

      <section className="delivery-section">
        <div className="section-head">
          <h2 className="section-title">The four keys</h2>
          <span className="range-bar" role="group" aria-label="Keys per">
            {(['service', 'team'] as const).map((by) => (
              <button key={by} type="button" className={state.by === by ? 'chip active' : 'chip'} onClick={() => nav({ by })} data-testid={`keys-by-${by}`}>
                per {by}
              </button>
            ))}
          </span>
          <EnvironmentFilter value={state.environment} onApply={(environment) => nav({ environment })} />
        </div>
        {keys.status === 'loading' && <Spinner label="Reading deployments…" />}
        {keys.status === 'error' && <ErrorState title="Could not read deployments" detail={keys.error.body.trim() || keys.error.message} />}
        {keys.status === 'done' && <Keys data={keys.data} by={state.by} />}
      </section>

      <section className="delivery-section">
        <h2 className="section-title">Deployments</h2>
        {keys.status === 'done' && <Deployments data={keys.data} />}
      </section>

      <section className="delivery-section">
        <div className="section-head">
          <h2 className="section-title">Pipelines</h2>
          {pipelines.status === 'done' && (pipelines.data.pipelines.length > 1 || state.pipeline) && (
            <label className="label">
              Pipeline{' '}
              <select value={state.pipeline} onChange={(e) => nav({ pipeline: e.target.value })} data-testid="pipeline-select">
                <option value="">every pipeline</option>
                {[...new Set([...pipelines.data.pipelines.map((p) => p.name), ...(state.pipeline ? [state.pipeline] : [])])].map((name) => (
                  <option key={name} value={name}>
                    {name}
                  </option>
                ))}
              </select>
            </label>
          )}
        </div>
        {pipelines.status === 'loading' && <Spinner label="Reading pipeline runs…" />}
        {pipelines.status === 'error' && <ErrorState title="Could not read pipeline runs" detail={pipelines.error.body.trim() || pipelines.error.message} />}
        {pipelines.status === 'done' && <Pipelines data={pipelines.data} />}
      </section>
    </div>
  );
}

function EnvironmentFilter({ value, onApply }: { value: string; onApply(environment: string): void }) {
  const [text, setText] = useState(value);
  useEffect(() => setText(value), [value]);
  return (
    <form
      className="env-filter"
      onSubmit={(e) => {
        e.preventDefault();
        onApply(text.trim());
      }}
    >
      <label className="label">
        Environment{' '}
        <input value={text} onChange={(e) => setText(e.target.value)} placeholder="every one" data-testid="environment" spellCheck={false} size={14} />
      </label>
    </form>
  );
}

function Keys({ data, by }: { data: DeliveryJson; by: DeliveryState['by'] }) {
  const rows = doraRows(data, by);
  if (rows.length === 0)
    return (
      <EmptyState title="No deployments in this range">
        Deployments are read from spans with <code>deployment.*</code> attributes, a new <code>service.version</code> or a new Nomad job version.
      </EmptyState>
    );
  return (
    <>
      {data.sampled && <div className="banner warn">More deployment traces than were read: the most recent were counted.</div>}
      <table className="results compact dora-table" data-testid="dora-table">
        <thead>
          <tr>
            <th>{by === 'team' ? `Team (${data.teamKey})` : 'Service'}</th>
            <th className="num">Deployments</th>
            <th className="num">Frequency</th>
            <th className="num">Lead time for changes</th>
            <th className="num">Change failure rate</th>
            <th className="num">Time to restore</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.key} data-testid="dora-row" data-key={r.label}>
              <td>
                <strong>{r.label}</strong> {r.detail && <span className="muted small">{r.detail}</span>}
              </td>
              <td className="num" data-testid="dora-deployments">
                {r.deployments}
              </td>
              <td className="num" data-testid="dora-frequency">
                {r.frequency}
              </td>
              <td className="num" data-testid="dora-lead-time" title={r.leadTimeDetail}>
                {r.leadTime}
              </td>
              <td className="num" data-testid="dora-change-failure">
                {r.changeFailure}
              </td>
              <td className="num" data-testid="dora-restore" title={r.restoreDetail}>
                {r.restore}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="muted small">
        Lead time: from the first span carrying the deployed revision to the deployment. A change fails when its deployment says so, an SLO alert of the service fires before the next deployment, or the
        next deployment rolls it back. Time to restore: SLO alert fired to resolved. Hover a figure for what it was measured over.
      </p>
    </>
  );
}

function Deployments({ data }: { data: DeliveryJson }) {
  const rows = deploymentRows(data);
  if (rows.length === 0) return <p className="muted small">None in this range.</p>;
  return (
    <table className="results compact deployments-table" data-testid="deployments">
      <thead>
        <tr>
          <th>Time</th>
          <th>Service</th>
          <th>Version</th>
          <th>Environment</th>
          <th className="num">Lead time</th>
          <th>Outcome</th>
          <th>Seen by</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {rows.map((d) => (
          <tr key={d.id} data-testid="deployment-row" data-service={d.service} data-version={d.version} className={d.failed ? 'failed' : undefined}>
            <td>{d.time}</td>
            <td>{d.service}</td>
            <td>
              <code>{d.version}</code>
            </td>
            <td>{d.environment}</td>
            <td className="num">{d.leadTime}</td>
            <td className={d.failed ? 'error-count' : undefined} data-testid="deployment-outcome">
              {d.outcome}
            </td>
            <td className="small muted">
              {d.seenBy}
              {d.pipeline && (
                <>
                  {' · '}
                  <Link href={d.pipeline.href}>{d.pipeline.label}</Link>
                </>
              )}
            </td>
            <td>
              <Link href={d.whatChangedHref} data-testid="what-changed" title="Compare the hour after this deploy with the hour before, by attributes and by critical path">
                What changed →
              </Link>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Pipelines({ data }: { data: PipelinesJson }) {
  const views = pipelineViews(data);
  if (views.length === 0)
    return (
      <EmptyState title="No pipeline runs in this range">
        Pipeline runs are traces with <code>cicd.pipeline.name</code>, as the Collector's GitHub receiver, Jenkins' OpenTelemetry plugin and GitLab send them.
      </EmptyState>
    );
  return (
    <>
      {data.sampled && <div className="banner warn">More runs than were read: the {data.runsRead.toLocaleString('en-US')} most recent are shown.</div>}
      {views.map((v, i) => (
        <PipelinePanel key={v.name} view={v} json={data.pipelines[i]} />
      ))}
    </>
  );
}

function PipelinePanel({ view, json }: { view: PipelineView; json: PipelineJson }) {
  return (
    <div className="pipeline-panel" data-testid="pipeline" data-pipeline={view.name}>
      <h3 className="sub-title">{view.name}</h3>
      <div className="pipeline-stats small">
        <span data-testid="pipeline-runs">
          <strong>{view.runs}</strong> runs
        </span>
        <span data-testid="pipeline-success">{view.success}</span>
        <span data-testid="pipeline-run-time">run time {view.runTime}</span>
      </div>
      <div className="queue-bar" data-testid="pipeline-queue" title={view.queueWords}>
        <div className="bar-track">
          <span className="bar bar-queue" style={{ width: `${(view.queueShare ?? 0) * 100}%` }} />
          <span className="bar bar-run" style={{ left: `${(view.queueShare ?? 0) * 100}%`, width: `${(1 - (view.queueShare ?? 0)) * 100}%` }} />
        </div>
        <span className="small muted">
          <span className="legend-swatch queue-swatch" /> queue wait <span className="legend-swatch run-swatch" /> run time: {view.queueWords}
        </span>
      </div>
      <div className="pipeline-grid">
        <div>
          <h4 className="sub-title">Where run time goes (critical path across {json.criticalPath.runs} runs)</h4>
          <ol className="ranked">
            {view.pathRows.map((o) => (
              <li key={o.id} className="path-share-row" data-testid="pipeline-path-row" data-operation={o.label}>
                <div className="ranked-label" title={o.service ? `${o.service}: ${o.label}` : o.label}>
                  {o.service && <span className="muted">{o.service}: </span>}
                  {o.label}
                </div>
                <div className="bar-track">
                  <span className="bar bar-explains" style={{ width: `${Math.max(0, Math.min(1, o.share)) * 100}%` }} />
                </div>
                <div className="ranked-numbers small" title={`mean ${o.mean} on the path per run, p95 ${o.p95}, on the path in ${o.runs} runs`}>
                  <strong>{o.shareText}</strong> <span className="muted">mean {o.mean} · p95 {o.p95}</span>
                </div>
              </li>
            ))}
          </ol>
        </div>
        <TrendPanel trend={json.trend} />
      </div>
      <div className="pipeline-grid">
        <TaskTable title="Slowest tasks (by p95)" rows={view.slowest} testId="slowest-tasks" />
        <TaskTable title="Flaky tasks" rows={view.flaky} testId="flaky-tasks" flaky />
      </div>
    </div>
  );
}

function TaskTable({ title, rows, testId, flaky }: { title: string; rows: TaskRow[]; testId: string; flaky?: boolean }) {
  return (
    <div>
      <h4 className="sub-title">{title}</h4>
      {rows.length === 0 ? (
        <p className="muted small">{flaky ? 'No task failed and then passed on the same revision, nor was retried.' : 'No tasks.'}</p>
      ) : (
        <table className="results compact" data-testid={testId}>
          <thead>
            <tr>
              <th>Task</th>
              <th className="num">Runs</th>
              <th className="num">Failed</th>
              {flaky ? <th>Flakiness</th> : <th className="num">p50</th>}
              {flaky ? null : <th className="num">p95</th>}
              {flaky ? null : <th className="num">Queue p50</th>}
            </tr>
          </thead>
          <tbody>
            {rows.map((t) => (
              <tr key={t.id} data-testid="task-row" data-task={t.label}>
                <td>{t.label}</td>
                <td className="num">{t.runs}</td>
                <td className="num">{t.failures}</td>
                {flaky ? <td data-testid="task-flakiness">{t.flakiness}</td> : <td className="num">{t.p50}</td>}
                {flaky ? null : <td className="num">{t.p95}</td>}
                {flaky ? null : <td className="num">{t.queue}</td>}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

const TREND_H = 150;
const TREND_PAD = { left: 64, right: 36, top: 8, bottom: 22 };

/** Runs per bucket (bars), run time p50 (line, left axis) and the share of failed runs (dots, right axis). */
function TrendPanel({ trend }: { trend: PipelineJson['trend'] }) {
  const box = useRef<HTMLDivElement>(null);
  const width = useWidth(box);
  const plotW = Math.max(60, width - TREND_PAD.left - TREND_PAD.right);
  const plotH = TREND_H - TREND_PAD.top - TREND_PAD.bottom;
  const chart = trendChart(trend, plotW, plotH);
  return (
    <div className="chart" ref={box} data-testid="pipeline-trend">
      <div className="chart-title">
        Trend <span className="muted small">runs (bars), run time p50 (line), failed runs (dots, 0–100% on the right)</span>
      </div>
      <svg width={width} height={TREND_H} role="img" aria-label="Pipeline runs, run time and failures over the range">
        <g transform={`translate(${TREND_PAD.left},${TREND_PAD.top})`}>
          <ChartAxes width={plotW} height={plotH} yTicks={chart.yTicks} xTicks={chart.xTicks} />
          {chart.bars.map((b) =>
            b.runs > 0 ? (
              <rect key={b.startMs} className="trend-bar" x={b.x} y={b.y} width={b.width} height={b.height}>
                <title>{`${b.runs} run${b.runs === 1 ? '' : 's'}`}</title>
              </rect>
            ) : null,
          )}
          <path className="trend-line" d={chart.line} fill="none" />
          {chart.p50Points.map((pt) => (
            <circle key={`p50-${pt.x}`} className="trend-point" cx={pt.x} cy={pt.y} r={2.5}>
              <title>{`run time p50 ${formatSpanMs(pt.p50Ms)}`}</title>
            </circle>
          ))}
          {chart.failures.map((f) => (
            <circle key={f.x} className="trend-failure" cx={f.x} cy={f.y} r={3}>
              <title>{`${Math.round(f.rate * 100)}% of finished runs failed`}</title>
            </circle>
          ))}
          <text className="axis-label" x={plotW + 6} y={4}>
            100%
          </text>
          <text className="axis-label" x={plotW + 6} y={plotH + 4}>
            0%
          </text>
        </g>
      </svg>
    </div>
  );
}
