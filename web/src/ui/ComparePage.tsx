import { useEffect, useMemo, useRef, useState } from 'react';
import {
  resolveRange,
  formatRoute,
  formatDuration,
  attributeRows,
  barWidth,
  keyLabel,
  numericValue,
  ksSentence,
  pathShares,
  latencyCaption,
  latencyLayout,
  parseDurationBand,
  operationCondition,
  exampleQuery,
  durationBandQuery,
  compareWindows,
  RANGE_PRESETS,
  DEFAULT_SEARCH,
  type AttributeRowView,
  type CompareState,
  type CompareJson,
  type AggregatePathJson,
  type LatencyJson,
} from '../model/index.js';
import { ApiError, getJson, isAbort, query } from './api.js';
import { go, Link } from './router.js';
import { TraceQLEditor } from './TraceQLEditor.js';
import { ChartAxes, EmptyState, ErrorState, RangePresets, Spinner } from './common.js';
import { useWidth } from './Scatter.js';

/** While loading, `previous` is the last answer, for views that keep showing it (the chart keeps its band). */
type Load<T> = { status: 'idle' } | { status: 'loading'; previous?: T } | { status: 'error'; error: ApiError } | { status: 'done'; data: T };

function useApi<T>(url: string | undefined): Load<T> {
  const [load, setLoad] = useState<Load<T>>({ status: url ? 'loading' : 'idle' });
  useEffect(() => {
    if (!url) {
      setLoad({ status: 'idle' });
      return;
    }
    const abort = new AbortController();
    setLoad((l) => ({ status: 'loading', previous: l.status === 'done' ? l.data : l.status === 'loading' ? l.previous : undefined }));
    getJson<T>(url, abort.signal)
      .then((data) => setLoad({ status: 'done', data }))
      .catch((e) => !isAbort(e) && setLoad({ status: 'error', error: e instanceof ApiError ? e : new ApiError(0, String(e), url) }));
    return () => abort.abort();
  }, [url]);
  return load;
}

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

  const bw = state.baselineRange;
  const params = state.q ? query({ q: state.q, baseline: state.baseline || undefined, start: range.start, end: range.end, baselineStart: bw?.start, baselineEnd: bw?.end }) : undefined;
  // Two windows: the baseline's query defaults to the selection's, in its own window.
  const windows = bw ? compareWindows(range, bw, state.event) : undefined;
  const baselineQuery = state.baseline || (bw ? state.q : undefined);
  const compare = useApi<CompareJson>(params && `/api/sightline/compare${params}`);
  const path = useApi<AggregatePathJson>(params && `/api/sightline/critical-path${params}`);
  const latency = useApi<LatencyJson>(`/api/sightline/compare/latency${params ?? query({ start: range.start, end: range.end })}`);
  // The chart stays while the next groups load, so a band just brushed stays in view.
  const chartData = latency.status === 'done' ? latency.data : latency.status === 'loading' ? latency.previous : undefined;

  const examples = (groupQuery: string | undefined, condition: string, groupRange = state.range) =>
    formatRoute({ page: 'search', state: { ...DEFAULT_SEARCH, q: exampleQuery(groupQuery, condition), range: groupRange } });
  const bothExamples = (cond: string): [string, string] => [examples(state.q, cond), examples(baselineQuery, cond, bw ?? state.range)];

  return (
    <div className="compare-page">
      <div className="page-head">
        <h1>Compare</h1>
        <RangePresets presets={RANGE_PRESETS} range={state.range} onChange={(r) => nav({ range: r })} />
      </div>
      {windows && (
        <div className="compare-windows" data-testid="compare-windows">
          <strong data-testid="compare-windows-sentence">{windows.sentence}</strong>
          <span className="small muted">
            <span className="legend-swatch group-selection" /> selection: {windows.selectionRole === 'selection' ? 'its window' : `the window ${windows.selectionRole}`},{' '}
            <span className="legend-swatch group-baseline" /> baseline: {state.baseline ? 'its query' : "the selection's query"} in the window {windows.baselineRole === 'baseline' ? 'of its own' : windows.baselineRole}
          </span>
          <button type="button" className="link small" data-testid="one-window" onClick={() => nav({ baselineRange: undefined, event: undefined })}>
            compare within one window
          </button>
        </div>
      )}
      <section className="compare-inputs">
        <div className="latency-box">
          <div className="chart-title">
            Trace latency over {bw ? 'both windows' : 'the range'} <span className="muted small">drag up or down across the chart to select a band of durations</span>
          </div>
          {latency.status === 'loading' && !latency.previous && <Spinner />}
          {latency.status === 'error' && <ErrorState title="Could not load traces" detail={latency.error.message} />}
          {chartData &&
            (chartData.baseline.traces.length === 0 && !chartData.selection?.traces.length ? (
              <EmptyState title="No traces in this range" />
            ) : (
              <LatencyChart
                data={chartData}
                loading={latency.status === 'loading'}
                band={parseDurationBand(state.q)}
                onBand={(lo, hi) => (setQ(durationBandQuery(lo, hi)), run(durationBandQuery(lo, hi)))}
              />
            ))}
        </div>
        <div className="compare-queries">
          <label className="editor-label">Selection</label>
          <TraceQLEditor value={q} onChange={setQ} onRun={(t) => run(t)} range={range} label="Selection TraceQL" testId="compare-selection" placeholder="{ traceDuration > 500ms }" />
          <label className="editor-label">Baseline</label>
          <TraceQLEditor value={baseline} onChange={setBaseline} onRun={(t) => run(q, t)} range={range} label="Baseline TraceQL" testId="compare-baseline" placeholder={bw ? "the selection's query, in the baseline window" : 'every other trace in the range'} />
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
            {path.status === 'done' && <PathDiff data={path.data} examples={bothExamples} />}
          </section>
          <section className="compare-panel" data-testid="compare-attributes">
            <h2 className="section-title">What sets the selection apart (attributes)</h2>
            {compare.status === 'loading' && <Spinner label="Comparing attributes…" />}
            {compare.status === 'error' && <ErrorState title="Attribute comparison failed" detail={compare.error.message} />}
            {compare.status === 'done' && <AttributeDiff data={compare.data} examples={bothExamples} />}
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

/** Values found in exactly the same traces, inline: the first few, and the rest on demand. */
function SameTraces({ values }: { values: AttributeRowView['sameAs'] }) {
  const [open, setOpen] = useState(false);
  const FIRST = 3;
  const shown = open ? values : values.slice(0, FIRST);
  return (
    <div className="same-traces small muted" data-testid="same-traces">
      same traces as {values.length === 1 ? '' : `${values.length} other values: `}
      {shown.map((v, i) => (
        <span key={v.condition}>
          {i > 0 && ', '}
          <code className="same-value" data-testid="same-value" title={v.condition}>
            {v.label}
          </code>
        </span>
      ))}
      {values.length > FIRST && (
        <button type="button" className="link small" data-testid="same-toggle" aria-expanded={open} onClick={() => setOpen(!open)}>
          {open ? ' show fewer' : ` … ${values.length - FIRST} more`}
        </button>
      )}
    </div>
  );
}

function AttributeRow({ row, examples }: { row: AttributeRowView; examples(cond: string): [string, string] }) {
  return (
    <li className={`ranked-row${row.grouped ? ' grouped' : ''}`} data-testid="attr-row" data-attribute={row.grouped ? row.label : row.condition} data-grouped={row.grouped ? 'true' : undefined}>
      <div className="ranked-label" title={row.condition}>
        <code>{row.label}</code>
        {row.group && (
          <>
            {' '}
            <span className="badge grouped-badge">grouped</span>
            <div className="small muted group-summary" data-testid="group-summary">
              {row.group.summary}
            </div>
            <details className="small group-values">
              <summary className="muted">
                {row.group.why}; best values{row.group.more > 0 ? ` (and ${row.group.more} more)` : ''}
              </summary>
              <ul>
                {row.group.values.map((v) => (
                  <li key={v.condition} title={v.condition}>
                    <code>{v.label}</code> <span className="muted">{v.selection} vs {v.baseline}</span>
                  </li>
                ))}
              </ul>
            </details>
          </>
        )}
        {row.sameAs.length > 0 && <SameTraces values={row.sameAs} />}
      </div>
      <div className="pair-bars" title={`selection ${row.selectionCount} traces, baseline ${row.baselineCount}`}>
        <div className="bar-track">
          <span className="bar bar-selection" style={{ width: barWidth(row.selectionShare) }} />
        </div>
        <div className="bar-track">
          <span className="bar bar-baseline" style={{ width: barWidth(row.baselineShare) }} />
        </div>
      </div>
      <div className="ranked-numbers small" data-testid="attr-shares">
        {row.grouped && <span className="muted">best: </span>}
        <strong className="share-selection">{row.selection}</strong> vs <span className="share-baseline">{row.baseline}</span>
      </div>
      <ExampleLinks links={examples(row.condition)} />
    </li>
  );
}

function AttributeDiff({ data, examples }: { data: CompareJson; examples(cond: string): [string, string] }) {
  const i = data.inspected;
  const { rows, weak } = attributeRows(data);
  return (
    <>
      <p className="muted small">
        {i.selectionTraces} selected traces against {i.baselineTraces} baseline traces{i.sampled ? ` (sampled to ${i.maxTraces} per group)` : ''}. Share of each group's traces with the value:{' '}
        <span className="legend-swatch group-selection" /> selection, <span className="legend-swatch group-baseline" /> baseline. Keys with a value per connection or record (ports, addresses, ids, URLs) are grouped into one row.
      </p>
      {rows.length === 0 && <EmptyState title="No attribute value sets the groups apart" />}
      <ol className="ranked">
        {rows.map((row) => (
          <AttributeRow key={row.id} row={row} examples={examples} />
        ))}
      </ol>
      {weak.length > 0 && (
        <details className="weak-rows small">
          <summary className="muted">{weak.length} more values that do not set the groups apart</summary>
          <ol className="ranked">
            {weak.slice(0, 50).map((row) => (
              <AttributeRow key={row.id} row={row} examples={examples} />
            ))}
          </ol>
        </details>
      )}
      {data.numeric.length > 0 && (
        <>
          <h3 className="sub-title">Numbers that moved</h3>
          <table className="results compact numeric-diff">
            <thead>
              <tr>
                <th>Key</th>
                <th className="num">selection p50</th>
                <th className="num">baseline p50</th>
                <th>How they differ</th>
              </tr>
            </thead>
            <tbody>
              {data.numeric.slice(0, 8).map((n) => (
                <tr key={`${n.scope}|${n.key}`} data-testid="numeric-row" data-key={keyLabel(n)} className={n.identifier ? 'muted' : undefined}>
                  <td>
                    <code>{keyLabel(n)}</code>
                  </td>
                  <td className="num">{numericValue(n, n.selection?.p50)}</td>
                  <td className="num">{numericValue(n, n.baseline?.p50)}</td>
                  <td className="small" title={`Kolmogorov–Smirnov statistic ${n.ks.toFixed(2)}: the largest gap between the two groups' cumulative distributions`}>
                    {ksSentence(n)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </>
  );
}

function PathDiff({ data, examples }: { data: AggregatePathJson; examples(cond: string): [string, string] }) {
  const shares = pathShares(data);
  return (
    <>
      <p className="muted small">
        Selection: {data.selection.traces} traces{data.selection.sampled ? ' (sampled)' : ''}, p50 {formatDuration(data.selection.p50DurationNs)}, p95 {formatDuration(data.selection.p95DurationNs)}. Baseline: {data.baseline.traces} traces, p50{' '}
        {formatDuration(data.baseline.p50DurationNs)}
        {data.baseline.sampled ? ' (sampled)' : ''}.{' '}
        {data.extraLatencyNs > 0 ? (
          <>
            The selection takes <strong>{formatDuration(data.extraLatencyNs)}</strong> longer on average. Each operation's share is of the time the slower operations add.
          </>
        ) : (
          'The selection is not slower than the baseline on average.'
        )}
      </p>
      {data.operations.length === 0 && <EmptyState title="No critical path to compare" />}
      <ol className="ranked">
        {data.operations.slice(0, 12).map((o, i) => {
          const cond = operationCondition(o.service, o.operation);
          const s = shares[i];
          return (
            <li key={`${o.service}|${o.operation}`} className="ranked-row" data-testid="path-row" data-operation={`${o.service}: ${o.operation}`}>
              <div className="ranked-label" title={cond}>
                <span className="muted">{o.service}:</span> {o.operation}
              </div>
              <div className="pair-bars">
                <div className="bar-track diverging">
                  <span className={`bar ${o.explainsNs >= 0 ? 'bar-explains' : 'bar-saves'}`} style={o.explainsNs >= 0 ? { left: '50%', width: `${s.fraction * 50}%` } : { left: 'auto', right: '50%', width: `${s.fraction * 50}%` }} />
                </div>
                <div className="small muted">
                  on path {formatDuration(o.selection.meanOnPathNs)} vs {formatDuration(o.baseline.meanOnPathNs)} per trace
                  {o.selection.spansPerTrace > 1.05 && ` · ${o.selection.spansPerTrace.toFixed(1)} spans/trace`}
                </div>
              </div>
              <div className="ranked-numbers small" data-testid="path-share">
                <strong>{s.delta}</strong>
                {s.share !== null ? <span className="muted"> ({s.share} of it)</span> : <span className="muted"> (faster)</span>}
              </div>
              <ExampleLinks links={examples(cond)} />
            </li>
          );
        })}
      </ol>
    </>
  );
}

const CHART_H = 190;
const PAD = { left: 62, right: 28, top: 8, bottom: 36 };

/**
 * Trace durations over the whole range (log scale), the selection and the
 * baseline in their two colours; a vertical drag picks a band of
 * durations, which stays drawn once released (and after the page reloads
 * with that band as the selection).
 */
function LatencyChart({ data, loading, band, onBand }: { data: LatencyJson; loading: boolean; band: [number, number] | null; onBand(loMs: number, hiMs: number): void }) {
  const box = useRef<HTMLDivElement>(null);
  const width = useWidth(box);
  const plotW = Math.max(60, width - PAD.left - PAD.right);
  const plotH = CHART_H - PAD.top - PAD.bottom;
  const layout = useMemo(() => latencyLayout(data, plotW, plotH), [data, plotW, plotH]);
  const [drag, setDrag] = useState<{ from: number; to: number }>();
  // The band just picked, drawn from release until the selection it made is the page's (then `band`); a selection that is no band drops it.
  const [picked, setPicked] = useState<[number, number] | null>(null);
  const bandKey = band ? band.join('-') : '';
  useEffect(() => {
    if (!band) setPicked(null);
  }, [bandKey]);
  const yOf = (e: React.PointerEvent) => Math.max(0, Math.min(plotH, e.clientY - e.currentTarget.getBoundingClientRect().top - PAD.top));
  const kept = band ?? picked;
  const shown = drag ? { top: Math.min(drag.from, drag.to), height: Math.abs(drag.to - drag.from) } : kept ? bandRect(kept, layout.yOf, plotH) : null;
  const two = data.selection !== null;
  return (
    <div ref={box} className="latency-brush" data-testid="latency-brush">
      <svg
        width={width}
        height={CHART_H}
        role="img"
        aria-label="Trace durations over the range"
        onPointerDown={(e) => {
          const y = yOf(e);
          setDrag({ from: y, to: y });
          e.currentTarget.setPointerCapture(e.pointerId);
        }}
        onPointerMove={(e) => drag && setDrag({ ...drag, to: yOf(e) })}
        onPointerUp={() => {
          if (drag && Math.abs(drag.to - drag.from) > 3) {
            const lo = layout.durationAt(Math.max(drag.from, drag.to));
            const hi = layout.durationAt(Math.min(drag.from, drag.to));
            setPicked([lo, hi]);
            onBand(lo, hi);
          }
          setDrag(undefined);
        }}
      >
        <g transform={`translate(${PAD.left},${PAD.top})`}>
          {layout.windows.map((w) => (
            <rect key={w.group} className={`window-shade window-${w.group}`} data-testid={`window-${w.group}`} x={w.x0} width={Math.max(0, w.x1 - w.x0)} y={0} height={plotH} />
          ))}
          <ChartAxes width={plotW} height={plotH} yTicks={layout.yTicks} xTicks={layout.xTicks} />
          <text className="axis-title" x={plotW / 2} y={plotH + 31} textAnchor="middle">
            trace start
          </text>
          <text className="axis-title" transform={`translate(${-PAD.left + 12},${plotH / 2}) rotate(-90)`} textAnchor="middle">
            duration (log)
          </text>
          {layout.points.map((p) => (
            <circle key={`${p.group}${p.traceId}`} cx={p.x} cy={p.y} r={2.6} className={`dot ${two ? `dot-${p.group}` : 'dot-all'}`} data-group={p.group} />
          ))}
          {shown && <rect className="brush" data-testid="brush-band" x={0} width={plotW} y={shown.top} height={Math.max(1, shown.height)} />}
        </g>
      </svg>
      <div className="chart-legend small muted" data-testid="latency-legend">
        {two ? (
          <>
            <span>
              <span className="legend-swatch group-selection" data-testid="legend-selection" /> selection
            </span>
            <span>
              <span className="legend-swatch group-baseline" data-testid="legend-baseline" /> baseline
            </span>
          </>
        ) : (
          <span>
            <span className="legend-swatch group-all" /> traces
          </span>
        )}
        <span data-testid="latency-caption">{latencyCaption(data)}</span>
        {loading && <Spinner label="Loading the groups…" />}
      </div>
    </div>
  );
}

function bandRect(band: [number, number], yOf: (ms: number) => number, plotH: number): { top: number; height: number } {
  const top = Math.max(0, Math.min(plotH, yOf(band[1])));
  const bottom = Math.max(0, Math.min(plotH, yOf(band[0])));
  return { top, height: bottom - top };
}
