import type { ReactNode } from 'react';
import { formatDuration, formatTimestamp, nsStringToMs, formatRoute, traceRoute, type TraceModel, type CriticalPathView, type Attribute } from '../model/index.js';
import { CopyButton, serviceColor } from './common.js';
import { Link } from './router.js';

/** Everything about one span, each value copyable. */
export function SpanDetail({ model, index, cp, onClose, onSelect }: { model: TraceModel; index: number; cp: CriticalPathView | undefined; onClose(): void; onSelect(i: number): void }) {
  const s = model.spans[index];
  const self = cp ? cp.selfTimeNs[index] : NaN;
  const onPath = cp ? cp.onPathNs[index] : 0;
  const shift = cp ? cp.shiftNs[index] : 0;
  return (
    <aside className="detail" aria-label="Span details" data-testid="span-detail">
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
        <span className="badge">{s.service}</span>
        <span className="badge">{s.kind}</span>
        <span className={`badge status-${s.status}`}>{s.status}</span>
        {onPath > 0 && <span className="badge on-path">on critical path</span>}
      </div>
      {s.status === 'error' && s.statusMessage && <div className="banner error">{s.statusMessage}</div>}
      {shift !== 0 && <div className="banner warn">⚠ Clock skew: this span's times were shifted by {formatDuration(shift)} to fit inside its parent.</div>}
      <dl className="kv">
        <Item k="Duration" v={formatDuration(s.durationNs)} copy={String(s.durationNs)} />
        <Item k="Self time" v={Number.isFinite(self) ? formatDuration(self) : '—'} />
        {onPath > 0 && <Item k="On critical path" v={formatDuration(onPath)} />}
        <Item k="Start" v={`+${formatDuration(s.start)} · ${formatTimestamp(nsStringToMs(s.startNs.toString()))}`} copy={s.startNs.toString()} />
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
      <Attributes title="Attributes" list={s.attributes} dropped={s.dropped.attributes} />
      <Attributes title="Resource" list={s.resource} />
      {s.scope.attributes.length > 0 && <Attributes title="Instrumentation scope" list={s.scope.attributes} />}
      <section className="detail-section">
        <h3>
          Events <span className="muted">{s.events.length}</span>
          {s.dropped.events > 0 && <span className="muted"> ({s.dropped.events} dropped)</span>}
        </h3>
        {s.events.length === 0 && <p className="muted small">none</p>}
        {s.events.map((e, k) => (
          <div key={k} className="event">
            <div>
              <span className="muted">+{formatDuration(e.offsetNs)}</span> <strong>{e.name}</strong>
            </div>
            {e.attributes.length > 0 && <AttrTable list={e.attributes} />}
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
                <Link href={formatRoute(traceRoute(l.traceId, { span: l.spanId }))}>
                  trace <code>{l.traceId}</code> span <code>{l.spanId}</code>
                </Link>
              )}{' '}
              <CopyButton text={`${l.traceId}/${l.spanId}`} label="link" />
            </div>
            {l.attributes.length > 0 && <AttrTable list={l.attributes} />}
          </div>
        ))}
      </section>
    </aside>
  );
}

function Item({ k, v, copy }: { k: string; v: ReactNode; copy?: string }) {
  return (
    <>
      <dt>{k}</dt>
      <dd>
        {v} {copy !== undefined && <CopyButton text={copy} label={k} />}
      </dd>
    </>
  );
}

function Attributes({ title, list, dropped = 0 }: { title: string; list: Attribute[]; dropped?: number }) {
  return (
    <section className="detail-section">
      <h3>
        {title} <span className="muted">{list.length}</span>
        {dropped > 0 && <span className="muted"> ({dropped} dropped)</span>}
      </h3>
      {list.length === 0 ? <p className="muted small">none</p> : <AttrTable list={list} />}
    </section>
  );
}

function AttrTable({ list }: { list: Attribute[] }) {
  return (
    <table className="attrs">
      <tbody>
        {list.map((a, k) => (
          <tr key={`${a.key}-${k}`}>
            <th title={a.type}>{a.key}</th>
            <td className={`attr-${a.type}`}>
              {a.text === '' ? <em className="muted">empty</em> : a.text}
            </td>
            <td className="attr-copy">
              <CopyButton text={a.text} label={a.key} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
