import { LOG_COLUMN_NAMES } from '../../model/log-batch.js';
import { readLogRecords, type LogRecord } from '../../model/log-record.js';
import { SEVERITY_CLASSES, type LogHistogramRequest, type LogSearchRequest } from '../log-request.js';
import type { LogHistogram, LogsPort } from '../ports.js';
import type { TimeRange } from '../request.js';
import type { TenantScope } from '../tenant.js';
import { SEVERITY_CLASS, logCondition } from '../sql/log-compile.js';
import { sql, join, ident, type Sql } from '../sql/sql.js';
import { T, tenantIn } from '../sql/tables.js';
import type { StoreContext } from './context.js';

const ALL_COLUMNS = join(LOG_COLUMN_NAMES.map(ident));

/**
 * How far around a trace's extent (first span start to last span end, in
 * the trace index) its log records are looked for: a record's own time is
 * set where it is emitted, inside a span, but a logger may stamp it a
 * little before or after, and clocks of hosts differ.
 */
const TRACE_SLACK_NS = 15n * 60n * 1_000_000_000n;

function timeIn(range: TimeRange): Sql {
  return sql`time_ns >= ${range.startNs} AND time_ns < ${range.endNs}`;
}

/** Log records: searches newest first, their histogram, and a trace's records. */
export class LogReads implements LogsPort {
  constructor(private readonly ctx: StoreContext) {}

  async searchLogs(scope: TenantScope, req: LogSearchRequest): Promise<LogRecord[]> {
    const out = await this.ctx.rowBinary(
      sql`SELECT ${ALL_COLUMNS} FROM ${T.logs}
WHERE ${tenantIn(scope)} AND ${timeIn(req.range)} AND ${logCondition(req.where)}
ORDER BY time_ns DESC, observed_ns DESC, log_id
LIMIT ${req.limit}`,
    );
    return readLogRecords(out);
  }

  async logHistogram(scope: TenantScope, req: LogHistogramRequest): Promise<LogHistogram> {
    const res = await this.ctx.json<[string, string, string]>(
      sql`SELECT toString(intDiv(time_ns - ${req.range.startNs}, ${req.stepNs})) AS column, toString(${SEVERITY_CLASS}) AS class, toString(count())
FROM ${T.logs}
WHERE ${tenantIn(scope)} AND ${timeIn(req.range)} AND ${logCondition(req.where)}
GROUP BY column, class`,
    );
    let total = 0;
    const cells = res.data.map(([column, cls, count]) => {
      total += Number(count);
      return { column: Number(column), severity: SEVERITY_CLASSES[Number(cls)] ?? 'fatal', count: Number(count) };
    });
    return { cells, total };
  }

  async traceLogs(scope: TenantScope, traceId: Buffer, req: { range: TimeRange; limit: number }): Promise<LogRecord[]> {
    const extent = await this.ctx.json<[string, string, string]>(
      sql`SELECT toString(count()), toString(min(start_min)), toString(max(end_max)) FROM ${T.traceIndex} WHERE ${tenantIn(scope)} AND trace_id = ${traceId}`,
    );
    const [found, first, last] = extent.data[0] ?? ['0', '0', '0'];
    const range =
      Number(found) > 0 ? { startNs: BigInt(first) > TRACE_SLACK_NS ? BigInt(first) - TRACE_SLACK_NS : 0n, endNs: BigInt(last) + TRACE_SLACK_NS } : req.range;
    const out = await this.ctx.rowBinary(
      sql`SELECT ${ALL_COLUMNS} FROM ${T.logs}
WHERE ${tenantIn(scope)} AND ${timeIn(range)} AND trace_id = ${traceId}
ORDER BY time_ns, observed_ns, log_id
LIMIT ${req.limit}`,
    );
    return readLogRecords(out);
  }
}
