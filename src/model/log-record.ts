import type { AnyValueJson, KeyValueJson } from './any-value.js';
import { BODY_KIND, LOG_COLUMNS } from './log-batch.js';
import { RowBinaryReader, attributes } from './row-binary.js';

/**
 * One stored log record, decoded for output. Ids are raw bytes (all zeros
 * when the record is not tied to a trace or span); times are Unix
 * nanoseconds. Attributes are canonical OTLP/JSON, grouped by type.
 */
export interface LogRecord {
  /** Random, drawn at ingest (model/log-batch.ts); unique within a tenant. */
  logId: Buffer;
  tenant: string;
  timeNs: bigint;
  observedNs: bigint;
  severityNumber: number;
  severityText: string;
  /** The body as OTLP/JSON; undefined when the record had none. */
  body: AnyValueJson | undefined;
  traceId: Buffer;
  spanId: Buffer;
  flags: number;
  eventName: string;
  serviceName: string;
  attributes: KeyValueJson[];
  droppedAttributes: number;
  resource: KeyValueJson[];
  scope: { name: string; version: string; attributes: KeyValueJson[] };
}

const COL = Object.fromEntries(LOG_COLUMNS.map((c, i) => [c.name, i])) as Record<string, number>;

/** Reads RowBinary rows of all LOG_COLUMNS, in order. */
export function readLogRecords(buf: Buffer): LogRecord[] {
  const r = new RowBinaryReader(buf);
  const out: LogRecord[] = [];
  while (!r.done) {
    const row = r.row(LOG_COLUMNS);
    const get = <T>(name: string) => row[COL[name]] as T;
    const kind = get<number>('body_kind');
    const body = get<string>('body');
    const scopeAttrs = get<string>('scope_attrs');
    out.push({
      logId: get('log_id'),
      tenant: get('tenant'),
      timeNs: get('time_ns'),
      observedNs: get('observed_ns'),
      severityNumber: get('severity_number'),
      severityText: get('severity_text'),
      body: kind === BODY_KIND.string ? { stringValue: body } : kind === BODY_KIND.json ? (JSON.parse(body) as AnyValueJson) : undefined,
      traceId: get('trace_id'),
      spanId: get('span_id'),
      flags: get('flags'),
      eventName: get('event_name'),
      serviceName: get('service_name'),
      attributes: attributes(row, 'attr', COL),
      droppedAttributes: get('dropped_attrs'),
      resource: attributes(row, 'res', COL),
      scope: { name: get('scope_name'), version: get('scope_version'), attributes: scopeAttrs === '' ? [] : (JSON.parse(scopeAttrs) as KeyValueJson[]) },
    });
  }
  return out;
}
