import { isUtf8 } from 'node:buffer';
import type { ByteWriter } from '../model/byte-writer.js';
import type { AttributeColumns, SpanBatchBuilder } from '../model/span-batch.js';
import {
  AnyValueError,
  canonicalAnyValue,
  canonicalKeyValueList,
  doubleFromJson,
  int64FromJson,
  uint64FromJson,
} from '../model/any-value.js';
import { DecodeOutcome, MalformedRequestError, type DecodeOptions } from './decode-result.js';
import { ResourceTemplate, ScopeTemplate, writeSpanContext, type ResourceRows } from './row-templates.js';
import { ExtrasWriter } from '../model/span-extras.js';

/**
 * Decodes an OTLP/JSON ExportTraceServiceRequest into span batch columns.
 *
 * Follows the OTLP/JSON mapping: lowerCamelCase keys (the proto field names
 * are accepted too), ids as hex, enums as integers (or their names), and
 * 64-bit integers as strings or numbers. Unknown keys are ignored.
 */
export class JsonSpanDecoder {
  private readonly resource = new ResourceTemplate();
  private readonly scope = new ScopeTemplate();
  private readonly extras = new ExtrasWriter();

  decode(body: Buffer, out: SpanBatchBuilder, resources: ResourceRows, opts: DecodeOptions): DecodeOutcome {
    return this.decodeRequest(parseJsonBody(body), out, resources, opts);
  }

  /**
   * Decodes a request already parsed from OTLP/JSON, or built in its shape
   * (the Zipkin translation), adding to `outcome`, which may hold what an
   * earlier stage rejected.
   */
  decodeRequest(doc: unknown, out: SpanBatchBuilder, resources: ResourceRows, opts: DecodeOptions, outcome = new DecodeOutcome()): DecodeOutcome {
    try {
      const root = obj(doc, 'request');
      for (const rs of arr(field(root, 'resourceSpans', 'resource_spans'), 'resourceSpans')) {
        this.resourceSpans(obj(rs, 'resourceSpans[]'), out, resources, outcome, opts);
      }
    } catch (e) {
      if (e instanceof AnyValueError) throw new MalformedRequestError(e.message);
      throw e;
    }
    return outcome;
  }

  private resourceSpans(rs: Json, out: SpanBatchBuilder, resources: ResourceRows, outcome: DecodeOutcome, opts: DecodeOptions): void {
    const res = this.resource;
    readResource(rs, res, opts);
    for (const ss of arr(field(rs, 'scopeSpans', 'scope_spans'), 'scopeSpans')) {
      const scopeSpans = obj(ss, 'scopeSpans[]');
      readScope(scopeSpans, this.scope, res, opts);
      resources.add(res, this.scope);
      for (const sp of arr(scopeSpans.spans, 'spans')) this.span(obj(sp, 'span'), out, outcome, opts);
    }
  }

  private span(s: Json, out: SpanBatchBuilder, outcome: DecodeOutcome, opts: DecodeOptions): void {
    // Structural type errors make the whole request malformed; semantic ones
    // (ids, times) reject only this span.
    const traceId = str(field(s, 'traceId', 'trace_id'), 'traceId');
    const spanId = str(field(s, 'spanId', 'span_id'), 'spanId');
    const parentId = str(field(s, 'parentSpanId', 'parent_span_id'), 'parentSpanId');
    const start = uint64FromJson(field(s, 'startTimeUnixNano', 'start_time_unix_nano') ?? '0');
    const end = uint64FromJson(field(s, 'endTimeUnixNano', 'end_time_unix_nano') ?? '0');
    if (start === undefined) throw new MalformedRequestError('span startTimeUnixNano must be an unsigned 64-bit integer');
    if (end === undefined) throw new MalformedRequestError('span endTimeUnixNano must be an unsigned 64-bit integer');
    const kind = enumValue(s.kind, SPAN_KINDS, 'span kind');
    const statusObj = s.status === undefined || s.status === null ? {} : obj(s.status, 'status');
    const statusCode = enumValue(statusObj.code, STATUS_CODES, 'status code');
    const links = arr(s.links, 'links');

    const error = idError('span traceId', traceId, 32, false) || idError('span spanId', spanId, 16, false) ||
      (parentId === '' ? '' : idError('span parentSpanId', parentId, 16, true)) ||
      (kind > 255 ? `span kind ${kind} is out of range` : '') ||
      (statusCode > 255 ? `span status code ${statusCode} is out of range` : '') ||
      (end < start ? 'span endTimeUnixNano is before startTimeUnixNano' : '') ||
      (Number(start) < opts.minStartNs ? `span start time is older than the retention period (${opts.retentionText})` : '') ||
      linksError(links);
    if (error) {
      outcome.reject(error);
      return;
    }

    out.mark();
    const extras = this.extras;
    extras.reset();
    try {
      writeHex(out.traceId.data, traceId);
      writeHex(out.spanId.data, spanId);
      if (parentId === '' || /^0+$/.test(parentId)) out.parentSpanId.data.zeros(8);
      else writeHex(out.parentSpanId.data, parentId);
      const traceState = Buffer.from(str(field(s, 'traceState', 'trace_state'), 'traceState'), 'utf8');
      extras.setTraceState(traceState, 0, traceState.length);
      out.flags.data.u32(u32(s.flags, 'flags'));
      out.name.data.string(str(s.name, 'name'));
      out.kind.data.u8(kind);
      out.startNs.data.u64big(start);
      out.durationNs.data.u64big(end - start);
      out.statusCode.data.u8(statusCode);
      out.statusMessage.data.string(str(statusObj.message, 'status.message'));
      for (const kv of arr(s.attributes, 'attributes')) writeAttribute(out.attrs, obj(kv, 'attribute'), null);
      extras.setDropped(
        u32(field(s, 'droppedAttributesCount', 'dropped_attributes_count'), 'droppedAttributesCount'),
        u32(field(s, 'droppedEventsCount', 'dropped_events_count'), 'droppedEventsCount'),
        u32(field(s, 'droppedLinksCount', 'dropped_links_count'), 'droppedLinksCount'),
      );
      const events = out.events;
      for (const ev of arr(s.events, 'events')) {
        const e = obj(ev, 'event');
        const t = uint64FromJson(field(e, 'timeUnixNano', 'time_unix_nano') ?? '0');
        if (t === undefined) throw new MalformedRequestError('event timeUnixNano must be an unsigned 64-bit integer');
        events.data(0).u64big(t);
        events.data(1).string(str(e.name, 'event.name'));
        events.data(2).string(canonicalKeyValueList(e.attributes));
        extras.addEvent(u32(field(e, 'droppedAttributesCount', 'dropped_attributes_count'), 'event.droppedAttributesCount'));
        events.count++;
      }
      const lg = out.links;
      for (const l of links as Json[]) {
        const tid = str(field(l, 'traceId', 'trace_id'), 'link.traceId');
        const sid = str(field(l, 'spanId', 'span_id'), 'link.spanId');
        if (tid === '') lg.data(0).zeros(16);
        else writeHex(lg.data(0), tid);
        if (sid === '') lg.data(1).zeros(8);
        else writeHex(lg.data(1), sid);
        lg.data(2).string(canonicalKeyValueList(l.attributes));
        const state = Buffer.from(str(field(l, 'traceState', 'trace_state'), 'link.traceState'), 'utf8');
        extras.addLink(state, 0, state.length, u32(field(l, 'droppedAttributesCount', 'dropped_attributes_count'), 'link.droppedAttributesCount'), u32(l.flags, 'link.flags'));
        lg.count++;
      }
    } catch (e) {
      out.rollback();
      throw e;
    }
    writeSpanContext(out, this.resource, this.scope);
    extras.writeTo(out.extras.data);
    out.endRow();
    outcome.accepted++;
  }
}

export type Json = Record<string, unknown>;

/** A request body as JSON, with 64-bit integer literals kept exact (see quoteBigIntegers). */
export function parseJsonBody(body: Buffer): unknown {
  if (!isUtf8(body)) throw new MalformedRequestError('request body is not valid UTF-8');
  let text = body.toString('utf8');
  if (UNQUOTED_BIG_INT.test(text)) text = quoteBigIntegers(text);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new MalformedRequestError(`invalid JSON: ${(e as Error).message}`);
  }
}

/**
 * The resource of a ResourceSpans or ResourceLogs object into `res`,
 * redacted and finished (its digest computed).
 */
export function readResource(group: Json, res: ResourceTemplate, opts: DecodeOptions): void {
  res.reset();
  const resource = field(group, 'resource');
  if (resource !== undefined && resource !== null) {
    const r = obj(resource, 'resource');
    for (const kv of arr(r.attributes, 'resource.attributes')) writeAttribute(res.attrs, obj(kv, 'attribute'), res);
    res.dropped = u32(field(r, 'droppedAttributesCount', 'dropped_attributes_count'), 'resource.droppedAttributesCount');
  }
  writeString(res.schemaUrl, str(field(group, 'schemaUrl', 'schema_url'), 'schemaUrl'));
  opts.redaction?.redactResource(res);
  res.finish();
}

/** The scope of a ScopeSpans or ScopeLogs object into `scope`, redacted and finished; `res` is finished. */
export function readScope(group: Json, scope: ScopeTemplate, res: ResourceTemplate, opts: DecodeOptions): void {
  scope.reset();
  const sc = field(group, 'scope');
  if (sc !== undefined && sc !== null) {
    const s = obj(sc, 'scope');
    writeString(scope.name, str(s.name, 'scope.name'));
    writeString(scope.version, str(s.version, 'scope.version'));
    writeString(scope.attrs, canonicalKeyValueList(s.attributes));
    scope.dropped = u32(field(s, 'droppedAttributesCount', 'dropped_attributes_count'), 'scope.droppedAttributesCount');
  }
  writeString(scope.schemaUrl, str(field(group, 'schemaUrl', 'schema_url'), 'schemaUrl'));
  opts.redaction?.redactScope(scope);
  scope.finish(res);
}

const SPAN_KINDS: Record<string, number> = {
  SPAN_KIND_UNSPECIFIED: 0, SPAN_KIND_INTERNAL: 1, SPAN_KIND_SERVER: 2,
  SPAN_KIND_CLIENT: 3, SPAN_KIND_PRODUCER: 4, SPAN_KIND_CONSUMER: 5,
};
const STATUS_CODES: Record<string, number> = { STATUS_CODE_UNSET: 0, STATUS_CODE_OK: 1, STATUS_CODE_ERROR: 2 };

export function field(o: Json, camel: string, snake?: string): unknown {
  const v = o[camel];
  return v === undefined && snake !== undefined ? o[snake] : v;
}

export function obj(v: unknown, what: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new MalformedRequestError(`${what} must be an object`);
  return v as Json;
}

export function arr(v: unknown, what: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new MalformedRequestError(`${what} must be an array`);
  return v;
}

export function str(v: unknown, what: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new MalformedRequestError(`${what} must be a string`);
  return v;
}

export function u32(v: unknown, what: string): number {
  if (v === undefined || v === null) return 0;
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffffffff)
    throw new MalformedRequestError(`${what} must be an unsigned 32-bit integer`);
  return n;
}

export function enumValue(v: unknown, names: Record<string, number>, what: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  // Own keys only: `in` also finds Object.prototype's, so "toString" was
  // taken as a kind (a function, stored as 0) instead of refused (fuzz test).
  if (typeof v === 'string' && Object.hasOwn(names, v)) return names[v];
  throw new MalformedRequestError(`${what} must be an enum number or name`);
}

/** Why `hex` is not a valid id of `chars` hex digits, or ''. */
export function idError(what: string, hex: string, chars: number, allowZero: boolean): string {
  if (hex.length !== chars || !HEX.test(hex)) return `${what} must be ${chars} hex characters, got ${JSON.stringify(hex.slice(0, 40))}`;
  if (!allowZero && /^0+$/.test(hex)) return `${what} is all zero`;
  return '';
}

function linksError(links: unknown[]): string {
  for (const l of links) {
    const link = obj(l, 'link');
    const tid = str(field(link, 'traceId', 'trace_id'), 'link.traceId');
    const sid = str(field(link, 'spanId', 'span_id'), 'link.spanId');
    const e = (tid === '' ? '' : idError('link traceId', tid, 32, true)) || (sid === '' ? '' : idError('link spanId', sid, 16, true));
    if (e) return e;
  }
  return '';
}

export const HEX = /^[0-9a-fA-F]*$/;

export function writeHex(w: ByteWriter, hex: string): void {
  const n = hex.length >> 1;
  w.ensure(n);
  w.buf.write(hex, w.len, n, 'hex');
  w.len += n;
}

export function writeString(w: ByteWriter, s: string): void {
  w.len = 0;
  if (s !== '') w.string(s);
}

export function writeAttribute(target: AttributeColumns, kv: Json, resource: ResourceTemplate | null): void {
  const key = kv.key ?? '';
  if (typeof key !== 'string') throw new MalformedRequestError('attribute key must be a string');
  const value = kv.value;
  if (value !== undefined && value !== null && (typeof value !== 'object' || Array.isArray(value)))
    throw new MalformedRequestError(`attribute ${JSON.stringify(key)} value must be an AnyValue object`);
  const v = (value ?? {}) as Json;
  for (const k in v) {
    const x = v[k];
    switch (k) {
      case 'stringValue':
      case 'string_value':
        if (typeof x !== 'string') break;
        target.str.data(0).string(key);
        target.str.data(1).string(x);
        target.str.count++;
        if (resource && key === 'service.name') {
          resource.serviceName.len = 0;
          resource.serviceName.string(x);
        }
        return;
      case 'boolValue':
      case 'bool_value':
        if (typeof x !== 'boolean') break;
        target.bool.data(0).string(key);
        target.bool.data(1).u8(x ? 1 : 0);
        target.bool.count++;
        return;
      case 'intValue':
      case 'int_value': {
        const n = int64FromJson(x);
        if (n === undefined) break;
        target.int.data(0).string(key);
        target.int.data(1).u64big(n);
        target.int.count++;
        return;
      }
      case 'doubleValue':
      case 'double_value': {
        const n = doubleFromJson(x);
        if (n === undefined) break;
        target.float.data(0).string(key);
        target.float.data(1).f64(n);
        target.float.count++;
        return;
      }
    }
  }
  // Everything else, and ill-typed scalars (which canonicalAnyValue names), go
  // through the canonical encoder.
  const json = canonicalAnyValue(v);
  target.other.data(0).string(key);
  target.other.data(1).string(json);
  target.other.count++;
}

/**
 * A 16+ digit integer literal right after `:`, `[` or `,`: a number JSON.parse
 * would round. May also match inside a string; the exact pass below sorts it out.
 */
const UNQUOTED_BIG_INT = /[:[,]\s*-?\d{16,}/;

/**
 * Wraps integer literals of 16 or more digits in quotes, outside strings, so
 * that JSON.parse keeps them exact. Every int64 field accepts a string form.
 */
export function quoteBigIntegers(text: string): string {
  let out = '';
  let last = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 0x5c /* \ */) i += 2;
        else if (d === 0x22) break;
        else i++;
      }
      i++;
      continue;
    }
    if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      const start = i;
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if ((d >= 0x30 && d <= 0x39) || d === 0x2e || d === 0x65 || d === 0x45 || d === 0x2b || d === 0x2d) i++;
        else break;
      }
      const token = text.slice(start, i);
      if (/^-?\d{16,}$/.test(token)) {
        out += text.slice(last, start) + '"' + token + '"';
        last = i;
      }
      continue;
    }
    i++;
  }
  return last === 0 ? text : out + text.slice(last);
}
