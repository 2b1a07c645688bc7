import { AnyValueError, canonicalAnyValue, uint64FromJson } from '../model/any-value.js';
import { BODY_KIND, type LogBatchBuilder } from '../model/log-batch.js';
import { ResourceTemplate, ScopeTemplate, writeLogContext } from './row-templates.js';
import { DecodeOutcome, MalformedRequestError, type LogDecodeOptions } from './decode-result.js';
import { arr, enumValue, field, idError, obj, parseJsonBody, readResource, readScope, str, u32, writeAttribute, writeHex, type Json } from './decode-json.js';

/**
 * Decodes an OTLP/JSON ExportLogsServiceRequest into log batch columns,
 * with the OTLP/JSON mapping JsonSpanDecoder follows: lowerCamelCase keys
 * (proto names accepted too), ids as hex, enums as integers or names,
 * 64-bit integers as strings or numbers; unknown keys are ignored.
 */
export class JsonLogDecoder {
  private readonly resource = new ResourceTemplate();
  private readonly scope = new ScopeTemplate();

  decode(body: Buffer, out: LogBatchBuilder, opts: LogDecodeOptions): DecodeOutcome {
    const doc = parseJsonBody(body);
    const outcome = new DecodeOutcome();
    try {
      const root = obj(doc, 'request');
      for (const rl of arr(field(root, 'resourceLogs', 'resource_logs'), 'resourceLogs')) {
        const group = obj(rl, 'resourceLogs[]');
        readResource(group, this.resource, opts);
        for (const sl of arr(field(group, 'scopeLogs', 'scope_logs'), 'scopeLogs')) {
          const scopeLogs = obj(sl, 'scopeLogs[]');
          readScope(scopeLogs, this.scope, this.resource, opts);
          for (const r of arr(field(scopeLogs, 'logRecords', 'log_records'), 'logRecords')) this.record(obj(r, 'logRecord'), out, outcome, opts);
        }
      }
    } catch (e) {
      if (e instanceof AnyValueError) throw new MalformedRequestError(e.message);
      throw e;
    }
    return outcome;
  }

  private record(r: Json, out: LogBatchBuilder, outcome: DecodeOutcome, opts: LogDecodeOptions): void {
    // Structural type errors make the whole request malformed; semantic ones
    // (ids, times, ranges) reject only this record.
    const traceId = str(field(r, 'traceId', 'trace_id'), 'traceId');
    const spanId = str(field(r, 'spanId', 'span_id'), 'spanId');
    const time = uint64FromJson(field(r, 'timeUnixNano', 'time_unix_nano') ?? '0');
    let observed = uint64FromJson(field(r, 'observedTimeUnixNano', 'observed_time_unix_nano') ?? '0');
    if (time === undefined) throw new MalformedRequestError('log record timeUnixNano must be an unsigned 64-bit integer');
    if (observed === undefined) throw new MalformedRequestError('log record observedTimeUnixNano must be an unsigned 64-bit integer');
    const severity = enumValue(field(r, 'severityNumber', 'severity_number'), SEVERITY_NUMBERS, 'log record severityNumber');
    if (observed === 0n) observed = opts.receivedNs;
    const effective = time === 0n ? observed : time;

    const error =
      (traceId === '' ? '' : idError('log record traceId', traceId, 32, true)) ||
      (spanId === '' ? '' : idError('log record spanId', spanId, 16, true)) ||
      (severity > 255 ? `log record severityNumber ${severity} is out of range` : '') ||
      (Number(effective) < opts.minStartNs ? `log record time is older than the retention period (${opts.retentionText})` : '');
    if (error) {
      outcome.reject(error);
      return;
    }

    out.mark();
    try {
      out.timeNs.data.u64big(effective);
      out.observedNs.data.u64big(observed);
      out.severityNumber.data.u8(severity);
      out.severityText.data.string(str(field(r, 'severityText', 'severity_text'), 'severityText'));
      writeBody(out, field(r, 'body'));
      if (traceId === '') out.traceId.data.zeros(16);
      else writeHex(out.traceId.data, traceId);
      if (spanId === '') out.spanId.data.zeros(8);
      else writeHex(out.spanId.data, spanId);
      out.flags.data.u32(u32(r.flags, 'flags'));
      out.eventName.data.string(str(field(r, 'eventName', 'event_name'), 'eventName'));
      for (const kv of arr(r.attributes, 'attributes')) writeAttribute(out.attrs, obj(kv, 'attribute'), null);
      out.droppedAttrs.data.u32(u32(field(r, 'droppedAttributesCount', 'dropped_attributes_count'), 'droppedAttributesCount'));
    } catch (e) {
      out.rollback();
      throw e;
    }
    writeLogContext(out, this.resource, this.scope);
    out.endRow();
    outcome.accepted++;
  }
}

/** A string body as itself; any other AnyValue as its canonical JSON; none when absent or empty. */
function writeBody(out: LogBatchBuilder, body: unknown): void {
  if (body !== undefined && body !== null && typeof body === 'object' && !Array.isArray(body)) {
    const s = (body as Json).stringValue ?? (body as Json).string_value;
    if (typeof s === 'string' && Object.keys(body).length === 1) {
      out.body.data.string(s);
      out.bodyKind.data.u8(BODY_KIND.string);
      return;
    }
  }
  const json = canonicalAnyValue(body);
  if (json === '{}') {
    out.body.data.u8(0);
    out.bodyKind.data.u8(BODY_KIND.none);
  } else if (json.startsWith('{"stringValue":')) {
    out.body.data.string(JSON.parse(json).stringValue as string);
    out.bodyKind.data.u8(BODY_KIND.string);
  } else {
    out.body.data.string(json);
    out.bodyKind.data.u8(BODY_KIND.json);
  }
}

/** SeverityNumber names, as OTLP/JSON may spell them. */
const SEVERITY_NUMBERS: Record<string, number> = (() => {
  const out: Record<string, number> = { SEVERITY_NUMBER_UNSPECIFIED: 0 };
  ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'].forEach((level, i) => {
    out[`SEVERITY_NUMBER_${level}`] = 4 * i + 1;
    for (let n = 2; n <= 4; n++) out[`SEVERITY_NUMBER_${level}${n}`] = 4 * i + n;
  });
  return out;
})();
