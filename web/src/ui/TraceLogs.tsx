import { useEffect, useState } from 'react';
import { linkFrom, logsBySpan, traceLogsQuery, type LinkOrigin, type LogRow, type TraceLogsJson } from '../model/index.js';
import { getJson, isAbort } from './api.js';
import { Link } from './router.js';
import { LogTable } from './LogsPage.js';

/** A trace's log records, by span id ('' for records tied to no span); loaded beside the trace. */
export type TraceLogs = { status: 'loading' } | { status: 'error'; message: string } | { status: 'done'; bySpan: Map<string, LogRow[]>; total: number; truncated: boolean };

export function useTraceLogs(traceId: string): TraceLogs {
  const [logs, setLogs] = useState<TraceLogs>({ status: 'loading' });
  useEffect(() => {
    const abort = new AbortController();
    setLogs({ status: 'loading' });
    getJson<TraceLogsJson>(`/api/sightline/traces/${encodeURIComponent(traceId)}/logs`, abort.signal)
      .then((json) => setLogs({ status: 'done', bySpan: logsBySpan(json), total: json.logs.length, truncated: json.truncated }))
      .catch((e) => !isAbort(e) && setLogs({ status: 'error', message: (e as Error).message }));
    return () => abort.abort();
  }, [traceId]);
  return logs;
}

/** "N logs →": the trace's records on the logs page. */
export function TraceLogsLink({ traceId, logs, origin }: { traceId: string; logs: TraceLogs; origin: LinkOrigin }) {
  if (logs.status !== 'done') return null;
  return (
    <span>
      <Link href={linkFrom(origin, { page: 'logs', q: traceLogsQuery(traceId) })} data-testid="trace-logs-link" title="This trace's log records on the logs page">
        <strong>{logs.total.toLocaleString()}</strong>
        {logs.truncated ? '+' : ''} log{logs.total === 1 ? '' : 's'} of this trace →
      </Link>
    </span>
  );
}

/** The records logged inside one span, for its detail panel. */
export function SpanLogs({ rows, origin }: { rows: LogRow[] | undefined; origin: LinkOrigin }) {
  if (!rows || rows.length === 0) return null;
  return (
    <section className="detail-section" data-testid="span-logs">
      <h3>
        Logs <span className="muted">({rows.length})</span>
      </h3>
      <LogTable rows={rows} origin={origin} showService={false} />
    </section>
  );
}
