import { randomFillSync } from 'node:crypto';
import { AttributeColumns, BlockBuilder, ScalarColumn, type ArrayGroup, type ColumnSpec } from './span-batch.js';

/**
 * Log record rows as they travel from decode to disk: one ClickHouse
 * Native block per request, written column by column while the OTLP bytes
 * are decoded, exactly as span rows are (span-batch.ts). The same bytes are
 * the WAL record and the store's insert payload.
 *
 * Unlike spans, a log row carries its resource and scope inline: a log
 * query filters on `resource.*` as often as on the record itself, and a
 * join per query costs more than the repeated bytes, which the engine
 * compresses to little (they repeat row after row within a process).
 */

/** What the `body` column holds. */
export const BODY_KIND = {
  /** The record had no body; `body` is ''. */
  none: 0,
  /** A string AnyValue; `body` is the string itself. */
  string: 1,
  /** Any other AnyValue; `body` is its canonical OTLP/JSON (model/any-value.ts). */
  json: 2,
} as const;

const scalar = (name: string, type: ColumnSpec['type'], lowCardinality = false) => new ScalarColumn({ name, type, lowCardinality });

export class LogBatchBuilder extends BlockBuilder {
  readonly tenant = scalar('tenant', 'String', true);
  /**
   * 8 random bytes per record, drawn when the request is decoded and kept in
   * the WAL with it: a segment replayed after a crash is told apart from
   * rows already stored by (tenant, log_id), since two log records may
   * otherwise be identical. Also the record's id in the API.
   */
  readonly logId = scalar('log_id', 'FixedString(8)');
  /** The record's time (Unix ns): time_unix_nano, or the observed time when that is unset. */
  readonly timeNs = scalar('time_ns', 'UInt64');
  /** observed_time_unix_nano, or the time Sightline received the record when that is unset. */
  readonly observedNs = scalar('observed_ns', 'UInt64');
  readonly severityNumber = scalar('severity_number', 'UInt8');
  readonly severityText = scalar('severity_text', 'String', true);
  /** See BODY_KIND. */
  readonly body = scalar('body', 'String');
  readonly bodyKind = scalar('body_kind', 'UInt8');
  /** Zeros when the record is not tied to a trace (or span). */
  readonly traceId = scalar('trace_id', 'FixedString(16)');
  readonly spanId = scalar('span_id', 'FixedString(8)');
  readonly flags = scalar('flags', 'UInt32');
  readonly eventName = scalar('event_name', 'String', true);
  /** Copied out of the resource's `service.name`, as for spans. */
  readonly serviceName = scalar('service_name', 'String', true);
  readonly attrs = new AttributeColumns('attr');
  readonly droppedAttrs = scalar('dropped_attrs', 'UInt32');
  readonly resourceAttrs = new AttributeColumns('res');
  readonly scopeName = scalar('scope_name', 'String', true);
  readonly scopeVersion = scalar('scope_version', 'String', true);
  /** Scope attributes as a canonical OTLP JSON KeyValue list ('' when none). */
  readonly scopeAttrs = scalar('scope_attrs', 'String');

  constructor() {
    super();
    this.init();
  }

  protected layout(): (ScalarColumn | ArrayGroup)[] {
    return [
      this.tenant, this.logId, this.timeNs, this.observedNs, this.severityNumber, this.severityText,
      this.body, this.bodyKind, this.traceId, this.spanId, this.flags, this.eventName, this.serviceName,
      ...this.attrs.groups(), this.droppedAttrs, ...this.resourceAttrs.groups(),
      this.scopeName, this.scopeVersion, this.scopeAttrs,
    ];
  }

  /**
   * Writes the tenant and a fresh random id for every row written so far.
   * Decoders leave both empty; the receiver fills them once the request is
   * decoded (and redacted).
   */
  fillTenantAndIds(tenant: string): void {
    const t = this.tenant.data;
    t.len = 0;
    t.string(tenant);
    const one = Buffer.from(t.view());
    t.len = 0;
    t.ensure(one.length * this.rows);
    for (let i = 0; i < this.rows; i++) t.bytes(one, 0, one.length);
    const ids = this.logId.data;
    ids.len = 0;
    ids.ensure(8 * this.rows);
    if (this.rows > 0) randomFillSync(ids.buf, 0, 8 * this.rows);
    ids.len = 8 * this.rows;
  }

  protected override checkComplete(): void {
    if (this.rows > 0 && (this.tenant.data.len === 0 || this.logId.data.len !== 8 * this.rows))
      throw new Error('log rows without a tenant or ids: call fillTenantAndIds() first');
  }
}

/** The log row schema, in Native column order. */
export const LOG_COLUMNS: readonly ColumnSpec[] = new LogBatchBuilder().specs();
export const LOG_COLUMN_NAMES: readonly string[] = LOG_COLUMNS.map((c) => c.name);
