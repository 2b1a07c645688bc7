import { useEffect, useMemo, useRef, useState } from 'react';
import {
  resolveRange,
  formatRoute,
  formatDuration,
  formatMs,
  formatClock,
  searchRows,
  scatterLayout,
  attributeCondition,
  attributeLabel,
  operationCondition,
  exampleQuery,
  durationBandQuery,
  RANGE_PRESETS,
  DEFAULT_SEARCH,
  type CompareState,
  type CompareJson,
  type AggregatePathJson,
  type SearchResponseJson,
  type SearchRow,
  type TimeRange,
} from '../model/index.js';
import { ApiError, getJson, isAbort, query } from './api.js';
import { go, Link } from './router.js';
import { TraceQLEditor } from './TraceQLEditor.js';
import { ChartAxes, EmptyState, ErrorState, RangePresets, Spinner } from './common.js';
import { useWidth } from './Scatter.js';

type Load<T> = { status: 'idle' } | { status: 'loading' } | { status: 'error'; error: ApiError } | { status: 'done'; data: T };

function useApi<T>(url: string | undefined): Load<T> {
  const [load, setLoad] = useState<Load<T>>({ status: url ? 'loading' : 'idle' });
  useEffect(() => {
    if (!url) {
      setLoad({ status: 'idle' });
      return;
    }
    const abort = new AbortController();
    setLoad({ status: 'loading' });
    getJson<T>(url, abort.signal)
      .then((data) => setLoad({ status: 'done', data }))
      .catch((e) => !isAbort(e) && setLoad({ status: 'error', error: e instanceof ApiError ? e : new ApiError(0, String(e), url) }));
    return () => abort.abort();
  }, [url]);
  return load;
}

const pct = (x: number) => `${Math.round(x * 100)}%`;

/**
 * Two groups of traces side by side: pick the slow ones on the latency
 * chart (or write any two TraceQL queries), and see which attribute values
 * set them apart and which operations on the critical path hold their
 * extra time, each with example traces from both groups.
 */
export function ComparePage({ state }: { state: CompareState }) {
  const rangeKey = JSON.stringify(state.range);
  const range = useMemo(() => resolveRange(state.range, Date.now()), [rangeKey]);
  const [q, setQ] = useState(state.q);
  const [baseline, setBaseline] = useState(state.baseline);
  useEffect(() => setQ(state.q), [state.q]);
  useEffect(() => setBaseline(state.baseline), [state.baseline]);
  const nav = (next: Partial<CompareState>) => go(formatRoute({ page: 'compare', state: { ...state, ...next } }));
  const run = (sel = q, base = baseline) => nav({ q: sel.trim(), baseline: base.trim() });

  const params = state.q ? query({ q: state.q, baseline: state.baseline || undefined, start: range.start, end: range.end }) : undefined;
  const compare = useApi<CompareJson>(params && `/api/sightline/compare${params}`);
  const path = useApi<AggregatePathJson>(params && `/api/sightline/critical-path${params}`);
  const traces = useApi<SearchResponseJson>(`/api/search${query({ start: range.start, end: range.end, limit: 500 })}`);
  const rows = useMemo(() => (traces.status === 'done' ? searchRows(traces.data) : []), [traces]);

  const examples = (groupQuery: string | undefined, condition: string) =>
    formatRoute({ page: 'search', state: { ...DEFAULT_SEARCH, q: exampleQuery(groupQuery, condition), range: state.range } });

  return (
    <div className="compare-page">
      <div className="page-head">
        <h1>Compare</h1>
        <RangePresets presets={RANGE_PRESETS} range={state.range} onChange={(r) => nav({ range: r })} />
      </div>
      <section className="compare-inputs">
        <div className="latency-box">
          <div className="chart-title">
            Latency of recent traces <span className="muted small">drag up or down across the chart to select a band of durations</span>
          </div>
          {traces.status === 'loading' && <Spinner />}
          {traces.status === 'error' && <ErrorState title="Could not load traces" detail={traces.error.message} />}
          {traces.status === 'done' && (rows.length === 0 ? <EmptyState title="No traces in this range" /> : <LatencyBrush rows={rows} range={range} onBand={(lo, hi) => (setQ(durationBandQuery(lo, hi)), run(durationBandQuery(lo, hi)))} />)}
        </div>
        <div className="compare-queries">
          <label className="editor-label">Selection</label>
          <TraceQLEditor value={q} onChange={setQ} onRun={(t) => run(t)} range={range} label="Selection TraceQL" testId="compare-selection" placeholder="{ traceDuration > 500ms }" />
          <label className="editor-label">Baseline</label>
          <TraceQLEditor value={baseline} onChange={setBaseline} onRun={(t) => run(q, t)} range={range} label="Baseline TraceQL" testId="compare-baseline" placeholder="every other trace in the range" />
          <button type="button" className="primary" onClick={() => run()} data-testid="run-compare" disabled={!q.trim()}>
            Compare
          </button>
        </div>
      </section>

      {!state.q && <EmptyState title="Choose what to compare">Select a band on the latency chart, or write a selection query (and optionally a baseline).</EmptyState>}
      {state.q && (
        <div className="compare-results">
          <section className="compare-panel" data-testid="compare-path">
            <h2 className="section-title">Where the extra time goes (critical path)</h2>
            {path.status === 'loading' && <Spinner label="Adding up critical paths…" />}
            {path.status === 'error' && <ErrorState title="Critical-path comparison failed" detail={path.error.message} />}
            {path.status === 'done' && <PathDiff data={path.data} examples={(cond) => [examples(state.q, cond), examples(state.baseline || undefined, cond)]} />}
          </section>
          <section className="compare-panel" data-testid="compare-attributes">
            <h2 className="section-title">What sets the selection apart (attributes)</h2>
            {compare.status === 'loading' && <Spinner label="Comparing attributes…" />}
            {compare.status === 'error' && <ErrorState title="Attribute comparison failed" detail={compare.error.message} />}
            {compare.status === 'done' && <AttributeDiff data={compare.data} examples={(cond) => [examples(state.q, cond), examples(state.baseline || undefined, cond)]} />}
          </section>
        </div>
      )}
    </div>
  );
}

function ExampleLinks({ links }: { links: [string, string] }) {
  return (
    <span className="example-links small">
      <Link href={links[0]} data-testid="example-selection">
        selection traces
      </Link>
      {' · '}
      <Link href={links[1]} data-testid="example-baseline">
        baseline traces
      </Link>
    </span>
  );
}

function AttributeDiff({ data, examples }: { data: CompareJson; examples(cond: string): [string, string] }) {
  const i = data.inspected;
  return (
    <>
      <p className="muted small">
        {i.selectionTraces} selected traces against {i.baselineTraces} baseline traces{i.sampled ? ` (sampled to ${i.maxTraces} per group)` : ''}. Share of traces with each value.
      </p>
      {data.attributes.length === 0 && <EmptyState title="No attribute sets the groups apart" />}
      <ol className="ranked">
        {data.attributes.slice(0, 15).map((a) => {
          const cond = attributeCondition(a);
          return (
            <li key={`${a.scope}|${a.key}|${a.value}`} className="ranked-row" data-testid="attr-row" data-attribute={cond}>
              <div className="ranked-label" title={cond}>
                <code>{attributeLabel(a)}</code>
                {a.equivalent && a.equivalent.length > 0 && (
                  <div className="small muted" title={a.equivalent.map((e) => `${e.key} = ${e.value}`).join('\n')}>
                    same traces as {a.equivalent.length === 1 ? `${a.equivalent[0].key} = ${a.equivalent[0].value}` : `${a.equivalent.length} other values`}
                  </div>
                )}
              </div>
              <div className="pair-bars">
                <div className="bar-track">
                  <span className="bar bar-selection" style={{ width: pct(a.selectionShare) }} />
                </div>
                <div className="bar-track">
                  <span className="bar bar-baseline" style={{ width: pct(a.baselineShare) }} />
                </div>
              </div>
              <div className="ranked-numbers small">
                <strong>{pct(a.selectionShare)}</strong> vs {pct(a.baselineShare)}
              </div>
              <ExampleLinks links={examples(cond)} />
            </li>
          );
        })}
      </ol>
      {data.numeric.length > 0 && (
        <>
          <h3 className="sub-title">Numbers that moved</h3>
          <table className="results compact">
            <thead>
              <tr>
                <th>Key</th>
                <th className="num">selection p50</th>
                <th className="num">baseline p50</th>
                <th className="num">KS</th>
              </tr>
            </thead>
            <tbody>
              {data.numeric.slice(0, 8).map((n) => {
                const show = (v: number | undefined) => (v === undefined ? '—' : n.scope === 'intrinsic' && n.key === 'duration' ? formatDuration(v) : String(Number(v.toPrecision(4))));
                return (
                  <tr key={`${n.scope}|${n.key}`}>
                    <td>
                      <code>{n.scope === 'intrinsic' ? n.key : `${n.scope}.${n.key}`}</code> <span className="muted">{n.direction}</span>
                    </td>
                    <td className="num">{show(n.selection?.p50)}</td>
                    <td className="num">{show(n.baseline?.p50)}</td>
                    <td className="num">{n.ks.toFixed(2)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </>
      )}
    </>
  );
}

function PathDiff({ data, examples }: { data: AggregatePathJson; examples(cond: string): [string, string] }) {
  const max = Math.max(1, ...data.operations.map((o) => Math.abs(o.explainsNs)));
  return (
    <>
      <p className="muted small">
        Selection: {data.selection.traces} traces{data.selection.sampled ? ' (sampled)' : ''}, p50 {formatDuration(data.selection.p50DurationNs)}, p95 {formatDuration(data.selection.p95DurationNs)}. Baseline: {data.baseline.traces} traces, p50{' '}
        {formatDuration(data.baseline.p50DurationNs)}
        {data.baseline.sampled ? ' (sampled)' : ''}. {data.extraLatencyNs > 0 ? (
          <>
            The selection takes <strong>{formatDuration(data.extraLatencyNs)}</strong> longer on average.
          </>
        ) : (
          'The selection is not slower than the baseline on average.'
        )}
      </p>
      {data.operations.length === 0 && <EmptyState title="No critical path to compare" />}
      <ol className="ranked">
        {data.operations.slice(0, 12).map((o) => {
          const cond = operationCondition(o.service, o.operation);
          return (
            <li key={`${o.service}|${o.operation}`} className="ranked-row" data-testid="path-row" data-operation={`${o.service}: ${o.operation}`}>
              <div className="ranked-label" title={cond}>
                <span className="muted">{o.service}:</span> {o.operation}
              </div>
              <div className="pair-bars">
                <div className="bar-track diverging">
                  <span
                    className={`bar ${o.explainsNs >= 0 ? 'bar-explains' : 'bar-saves'}`}
                    style={o.explainsNs >= 0 ? { left: '50%', width: `${(o.explainsNs / max) * 50}%` } : { right: '50%', width: `${(-o.explainsNs / max) * 50}%` }}
                  />
                </div>
                <div className="small muted">
                  on path {formatDuration(o.selection.meanOnPathNs)} vs {formatDuration(o.baseline.meanOnPathNs)} per trace
                  {o.selection.spansPerTrace > 1.05 && ` · ${o.selection.spansPerTrace.toFixed(1)} spans/trace`}
                </div>
              </div>
              <div className="ranked-numbers small">
                <strong>
                  {o.explainsNs >= 0 ? '+' : ''}
                  {formatDuration(o.explainsNs)}
                </strong>
                {o.explainedShare !== null && <span className="muted"> ({pct(o.explainedShare)} of it)</span>}
              </div>
              <ExampleLinks links={examples(cond)} />
            </li>
          );
        })}
      </ol>
    </>
  );
}

const BRUSH_H = 150;
const BRUSH_PAD = { left: 56, right: 12, top: 8, bottom: 20 };

/** Trace durations over time (log scale); a vertical drag picks a band of durations. */
function LatencyBrush({ rows, range, onBand }: { rows: SearchRow[]; range: { start: number; end: number }; onBand(loMs: number, hiMs: number): void }) {
  const box = useRef<HTMLDivElement>(null);
  const width = useWidth(box);
  const plotW = Math.max(60, width - BRUSH_PAD.left - BRUSH_PAD.right);
  const plotH = BRUSH_H - BRUSH_PAD.top - BRUSH_PAD.bottom;
  const layout = scatterLayout(rows, { startMs: range.start * 1000, endMs: range.end * 1000 }, plotW, plotH, true);
  const [brush, setBrush] = useState<{ from: number; to: number }>();
  const yOf = (e: React.PointerEvent) => Math.max(0, Math.min(plotH, e.clientY - e.currentTarget.getBoundingClientRect().top - BRUSH_PAD.top));
  const step = layout.xTicks.length > 1 ? layout.xTicks[1].ms - layout.xTicks[0].ms : 60_000;
  return (
    <div ref={box} className="latency-brush" data-testid="latency-brush">
      <svg
        width={width}
        height={BRUSH_H}
        onPointerDown={(e) => {
          const y = yOf(e);
          setBrush({ from: y, to: y });
          e.currentTarget.setPointerCapture(e.pointerId);
        }}
        onPointerMove={(e) => brush && setBrush({ ...brush, to: yOf(e) })}
        onPointerUp={() => {
          if (brush && Math.abs(brush.to - brush.from) > 3) {
            const lo = layout.durationAt(Math.max(brush.from, brush.to));
            const hi = layout.durationAt(Math.min(brush.from, brush.to));
            onBand(lo, hi);
          }
          setBrush(undefined);
        }}
      >
        <g transform={`translate(${BRUSH_PAD.left},${BRUSH_PAD.top})`}>
          <ChartAxes
            width={plotW}
            height={plotH}
            yTicks={layout.yTicks.map((t) => ({ y: t.y, label: formatMs(t.ms) }))}
            xTicks={layout.xTicks.map((t) => ({ x: t.x, label: formatClock(t.ms, step) }))}
          />
          {layout.points.map((p) => (
            <circle key={p.row.traceId} cx={p.x} cy={p.y} r={3} className="dot" />
          ))}
          {brush && <rect className="brush" x={0} width={plotW} y={Math.min(brush.from, brush.to)} height={Math.abs(brush.to - brush.from)} />}
        </g>
      </svg>
    </div>
  );
}
