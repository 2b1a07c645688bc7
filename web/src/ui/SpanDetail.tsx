import { Fragment, useLayoutEffect, useRef, useState, type ReactNode } from 'react';
import {
  formatDuration,
  formatTimestamp,
  nsStringToMs,
  clipValue,
  valueCondition,
  linkFrom,
  barEvents,
  type TraceModel,
  type CriticalPathView,
  type PathRole,
  type Timeline,
  type TimeRange,
  type Attribute,
  type LogRow,
} from '../model/index.js';
import { CopyButton, serviceColor } from './common.js';
import { Link } from './router.js';
import { SpanLogs } from './TraceLogs.js';

interface Props {
  model: TraceModel;
  index: number;
  cp: CriticalPathView | undefined;
  role: PathRole | undefined;
  /** The corrected timeline: the span's skew shift and overrun. */
  timeline: Timeline;
  /** The range links out of the span carry (a range that holds the trace). */
  linkRange: TimeRange;
  onClose(): void;
  onSelect(i: number): void;
  /** The records logged inside this span (the trace's logs, by span). */
  logs?: LogRow[];
}

/** Everything about one span, each value copyable, searchable and comparable. */
export function SpanDetail({ model, index, cp, role, timeline, linkRange, onClose, onSelect, logs }: Props) {
  const s = model.spans[index];
  const self = cp ? cp.selfTimeNs[index] : NaN;
  const onPath = cp ? cp.onPathNs[index] : 0;
  const shift = timeline.ownShiftNs[index];
  const inherited = timeline.shiftNs[index] - shift;
  const overrun = timeline.overrunNs[index];
  const parent = s.parent >= 0 ? model.spans[s.parent] : undefined;
  const origin = { range: linkRange };
  const box = useRef<HTMLElement>(null);
  // Another span's details start at their top, not wherever the last span's were scrolled to.
  useLayoutEffect(() => {
    if (box.current) box.current.scrollTop = 0;
  }, [index]);
  const events = barEvents(s, Infinity);

  return (
    <aside className="detail" aria-label="Span details" data-testid="span-detail" ref={box}>
      {/* Keyed by span: "show more" and other per-value state start afresh for each span. */}
      <Fragment key={index}>
        <header className="detail-head">
          <h2>
            <span className="service-chip" style={{ background: serviceColor(s.serviceIndex) }} />
            {s.name || <em>unnamed</em>}
          </h2>
          <button type="button" className="close" onClick={onClose} aria-label="Close details">
            ×
          </button>
        </header>
        <div className="detail-badges">
          <Link className="badge badge-link" href={linkFrom(origin, { page: 'service', service: s.service })} data-testid="service-link" title={`The ${s.service} service: its rate, errors, latency and operations`}>
            {s.service} →
          </Link>
          <Link
            className="badge badge-link"
            href={linkFrom(origin, { page: 'service', service: s.service, operation: s.name })}
            data-testid="operation-link"
            title={`The ${s.name} operation of ${s.service}: its rate, errors and latency over time, and against load`}
          >
            operation {s.name} →
          </Link>
          <span className="badge">{s.kind}</span>
          <span className={`badge status-${s.status}`}>{s.status}</span>
          {role === 'critical' && <span className="badge on-path">critical</span>}
          {role === 'through' && <span className="badge">on the critical path</span>}
          {role === 'off' && <span className="badge muted">off the critical path</span>}
        </div>
        {s.status === 'error' && s.statusMessage && <div className="banner error">{s.statusMessage}</div>}
        {shift !== 0 && (
          <div className="banner warn">
            ⚠ Clock skew: this span did not fit inside {parent ? `its caller (${parent.service} ${parent.name})` : 'its parent'}, so corrected times shift it by {formatDuration(shift)}.
          </div>
        )}
        {overrun > 0 && parent && (
          <div className="banner warn" data-testid="overrun-note">
            ⇥ This span lasts {formatDuration(s.durationNs)}, {formatDuration(overrun)} longer than the {formatDuration(parent.durationNs)} call it answers ({parent.service} {parent.name}). No
            clock offset explains that: the server likely ended its span after replying. Corrected bars are cut at the call's end.
          </div>
        )}
        <dl className="kv">
          <Item k="Duration" v={formatDuration(s.durationNs)} copy={String(s.durationNs)} />
          <Item k="Self time" v={Number.isFinite(self) ? formatDuration(self) : '—'} title="Its duration minus the time any of its children was running" />
          {onPath > 0 && (
            <Item
              k="On critical path"
              v={`${formatDuration(onPath)}${cp && cp.totalOnPathNs > 0 ? ` (${Math.round((onPath / cp.totalOnPathNs) * 1000) / 10}% of the path)` : ''}`}
              title="Its own time on the critical path, not its children's"
            />
          )}
          <Item k="Start" v={`+${formatDuration(s.start)} · ${formatTimestamp(nsStringToMs(s.startNs.toString()))}`} copy={s.startNs.toString()} />
          {shift === 0 && inherited !== 0 && (
            <Item k="Corrected" v={<span className="muted">moved {formatDuration(inherited)} with its caller on the same clock</span>} title="Corrected times move a span with the ancestor on its own clock that was shifted to fit" />
          )}
          <Item k="Span ID" v={<code>{s.spanId}</code>} copy={s.spanId} />
          <Item
            k="Parent"
            v={
              s.parent >= 0 ? (
                <button type="button" className="link" onClick={() => onSelect(s.parent)}>
                  {model.spans[s.parent].name} <code>{s.parentSpanId}</code>
                </button>
              ) : s.parentSpanId ? (
                <span>
                  <code>{s.parentSpanId}</code> <em className="muted">(not in trace)</em>
                </span>
              ) : (
                <em className="muted">root</em>
              )
            }
            copy={s.parentSpanId || undefined}
          />
          {s.traceState && <Item k="Trace state" v={<code>{s.traceState}</code>} copy={s.traceState} />}
          {s.scope.name && <Item k="Instrumentation" v={`${s.scope.name}${s.scope.version ? ` ${s.scope.version}` : ''}`} copy={s.scope.name} />}
        </dl>
        <Attributes title="Attributes" list={s.attributes} dropped={s.dropped.attributes} scope="span" origin={origin} />
        <Attributes title="Resource" list={s.resource} scope="resource" origin={origin} />
        {s.scope.attributes.length > 0 && <Attributes title="Instrumentation scope" list={s.scope.attributes} origin={origin} />}
        <SpanLogs rows={logs} origin={origin} />
        <section className="detail-section" data-testid="events">
          <h3>
            Events <span className="muted">{s.events.length}</span>
            {s.dropped.events > 0 && <span className="muted"> ({s.dropped.events} dropped)</span>}
          </h3>
          {s.events.length === 0 && <p className="muted small">none</p>}
          {events.map((e) => (
            <div key={e.event} className={`event${e.exception ? ' exception' : ''}`} data-event={e.exception ? 'exception' : 'event'}>
              <div>
                <span className="muted">+{formatDuration(e.offsetNs)}</span> <strong>{e.name}</strong>
                {e.exception && e.message && <div className="event-message">{e.message}</div>}
              </div>
              {s.events[e.event].attributes.length > 0 && <AttrTable list={s.events[e.event].attributes} origin={origin} />}
            </div>
          ))}
        </section>
        <section className="detail-section">
          <h3>
            Links <span className="muted">{s.links.length}</span>
            {s.dropped.links > 0 && <span className="muted"> ({s.dropped.links} dropped)</span>}
          </h3>
          {s.links.length === 0 && <p className="muted small">none</p>}
          {s.links.map((l, k) => (
            <div key={k} className="event">
              <div>
                {l.traceId === model.traceId && model.byId.has(l.spanId) ? (
                  <button type="button" className="link" onClick={() => onSelect(model.byId.get(l.spanId)!)}>
                    span <code>{l.spanId}</code> in this trace
                  </button>
                ) : (
                  <Link href={linkFrom(origin, { page: 'trace', traceId: l.traceId, span: l.spanId })}>
                    trace <code>{l.traceId}</code> span <code>{l.spanId}</code>
                  </Link>
                )}{' '}
                <CopyButton text={`${l.traceId}/${l.spanId}`} label="link" />
              </div>
              {l.attributes.length > 0 && <AttrTable list={l.attributes} origin={origin} />}
            </div>
          ))}
        </section>
      </Fragment>
    </aside>
  );
}

function Item({ k, v, copy, title }: { k: string; v: ReactNode; copy?: string; title?: string }) {
  return (
    <>
      <dt title={title}>{k}</dt>
      <dd>
        {v} {copy !== undefined && <CopyButton text={copy} label={k} />}
      </dd>
    </>
  );
}

function Attributes({ title, list, dropped = 0, scope, origin }: { title: string; list: Attribute[]; dropped?: number; scope?: 'span' | 'resource'; origin: { range: TimeRange } }) {
  return (
    <section className="detail-section">
      <h3>
        {title} <span className="muted">{list.length}</span>
        {dropped > 0 && <span className="muted"> ({dropped} dropped)</span>}
      </h3>
      {list.length === 0 ? <p className="muted small">none</p> : <AttrTable list={list} scope={scope} origin={origin} />}
    </section>
  );
}

/** A dotted key with places to wrap after each separator, so `http.request.method` breaks between words, never inside one. */
function Key({ text }: { text: string }) {
  const parts = text.split(/(?<=[._\-/:])/);
  return (
    <>
      {parts.map((p, k) => (
        <Fragment key={k}>
          {p}
          {k < parts.length - 1 && <wbr />}
        </Fragment>
      ))}
    </>
  );
}

/**
 * Attributes, each with copy and, where TraceQL can say "has this value"
 * (span and resource attributes of scalar types), links that search for it
 * and compare the traces that have it against the rest.
 */
function AttrTable({ list, scope, origin }: { list: Attribute[]; scope?: 'span' | 'resource'; origin: { range: TimeRange } }) {
  return (
    <table className="attrs">
      <tbody>
        {list.map((a, k) => {
          const cond = scope ? valueCondition(scope, a) : undefined;
          const q = cond ? `{ ${cond.condition} }` : '';
          const how = cond?.prefix ? ' (by its first 200 characters: the whole value is too long for a query)' : '';
          return (
            <tr key={`${a.key}-${k}`} data-attribute={a.key}>
              <th title={`${a.key} (${a.type})`}>
                <Key text={a.key} />
              </th>
              <td className={`attr-${a.type}`}>
                <Value text={a.text} />
              </td>
              <td className="attr-actions">
                <CopyButton text={a.text} label={a.key} />
                {cond && (
                  <>
                    <Link className="attr-action" href={linkFrom(origin, { page: 'search', q })} data-testid="add-to-search" title={`Search for traces with ${cond.condition.length > 120 ? `${cond.condition.slice(0, 120)}…` : cond.condition}${how}`} aria-label={`Add ${a.key} to a search`}>
                      ⌕
                    </Link>
                    <Link className="attr-action" href={linkFrom(origin, { page: 'compare', q })} data-testid="compare-by" title={`Compare traces with this ${a.key} against all others${how}`} aria-label={`Compare by ${a.key}`}>
                      ⇄
                    </Link>
                  </>
                )}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

/** A value, cut to its first few hundred characters behind "show more". */
function Value({ text }: { text: string }) {
  const [open, setOpen] = useState(false);
  if (text === '') return <em className="muted">empty</em>;
  const { shown, hidden } = clipValue(text);
  if (hidden === 0) return <>{text}</>;
  return (
    <>
      {open ? text : `${shown}…`}{' '}
      <button type="button" className="link small show-more" data-testid="show-more" aria-expanded={open} onClick={() => setOpen(!open)}>
        {open ? 'show less' : `show more (${hidden.toLocaleString()} more characters)`}
      </button>
    </>
  );
}
