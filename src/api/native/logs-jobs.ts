import type { LogRecord } from '../../model/log-record.js';
import { parseLogQuery, severityClassOf } from '../../query/logs/index.js';
import { heatmapColumns, type TimeRange } from '../../store/index.js';
import { json, type JobAnswer, type JobContext } from '../isolation/job.js';

/**
 * Log jobs, run in query workers (isolation/pool.ts) as the search jobs
 * are: the query text is parsed here, off the main thread.
 */

export type LogJobs = typeof logJobs;

export const logJobs = {
  /** The newest matching records, and every matching record counted over time (logs-routes.ts). */
  async searchLogs({ store, scope }: JobContext, a: { query: string; range: TimeRange; limit: number; stepNs: bigint }): Promise<JobAnswer> {
    const where = parseLogQuery(a.query);
    const records = await store.searchLogs(scope, { where, range: a.range, limit: a.limit });
    const histogram = await store.logHistogram(scope, { where, range: a.range, stepNs: a.stepNs });
    return json(
      {
        logs: records.map(logJson),
        // More matched than were listed.
        truncated: histogram.total > records.length,
        histogram: {
          startMs: Number(a.range.startNs / 1_000_000n),
          endMs: Number(a.range.endNs / 1_000_000n),
          stepMs: Number(a.stepNs / 1_000_000n),
          columns: heatmapColumns(a.range, a.stepNs),
          cells: histogram.cells.sort((x, y) => x.column - y.column || x.severity.localeCompare(y.severity)),
          total: histogram.total,
        },
      },
      records.length,
    );
  },

  /** A trace's records, oldest first, and how many each span has. */
  async traceLogs({ store, scope }: JobContext, a: { traceIdHex: string; range: TimeRange; limit: number }): Promise<JobAnswer> {
    const records = await store.traceLogs(scope, Buffer.from(a.traceIdHex, 'hex'), { range: a.range, limit: a.limit });
    const bySpan: Record<string, number> = {};
    for (const r of records) {
      const span = isZero(r.spanId) ? '' : r.spanId.toString('hex');
      bySpan[span] = (bySpan[span] ?? 0) + 1;
    }
    return json({ traceId: a.traceIdHex, logs: records.map(logJson), bySpan, truncated: records.length >= a.limit }, records.length);
  },
};

function isZero(b: Buffer): boolean {
  for (const x of b) if (x !== 0) return false;
  return true;
}

/**
 * A record as the API gives it (docs/api.md): OTLP/JSON names and values
 * (ids as hex, times as strings of nanoseconds, the body as an AnyValue),
 * with `severity` (its class) and `bodyText` for display.
 */
export function logJson(r: LogRecord): Record<string, unknown> {
  const body = r.body;
  const bodyText = body === undefined ? '' : 'stringValue' in body ? body.stringValue : JSON.stringify(body);
  const out: Record<string, unknown> = {
    id: r.logId.toString('hex'),
    timeUnixNano: r.timeNs.toString(),
    observedTimeUnixNano: r.observedNs.toString(),
    severityNumber: r.severityNumber,
    severityText: r.severityText,
    severity: severityClassOf(r.severityNumber, r.severityText),
    bodyText,
    traceId: isZero(r.traceId) ? '' : r.traceId.toString('hex'),
    spanId: isZero(r.spanId) ? '' : r.spanId.toString('hex'),
    flags: r.flags,
    serviceName: r.serviceName,
    attributes: r.attributes,
    resource: { attributes: r.resource },
    scope: r.scope,
  };
  if (body !== undefined) out.body = body;
  if (r.eventName !== '') out.eventName = r.eventName;
  if (r.droppedAttributes > 0) out.droppedAttributesCount = r.droppedAttributes;
  return out;
}
