import { RESOURCE_COLUMNS, SPAN_COLUMNS, type ColumnSpec, type WireType } from './span-batch.js';
import type { AnyValueJson, KeyValueJson } from './any-value.js';
import type { SpanRecord } from './span-record.js';
import { decodeExtras } from './span-extras.js';

/**
 * Reads ClickHouse RowBinary output for columns of our own wire types.
 * Hand-written: it is a dozen lines per type, and JSON output cannot carry
 * FixedString ids or exact 64-bit values without per-column workarounds.
 */
export class RowBinaryReader {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  varint(): number {
    let value = 0;
    let mul = 1;
    for (;;) {
      const b = this.buf[this.pos++];
      if (b === undefined) throw new Error('RowBinary: truncated varint');
      value += (b & 0x7f) * mul;
      if (b < 0x80) return value;
      mul *= 0x80;
    }
  }

  string(): string {
    const n = this.varint();
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  fixed(n: number): Buffer {
    const b = Buffer.from(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return b;
  }

  u8(): number {
    return this.buf[this.pos++];
  }

  u32(): number {
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  u64(): bigint {
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }

  i64(): bigint {
    const v = this.buf.readBigInt64LE(this.pos);
    this.pos += 8;
    return v;
  }

  f64(): number {
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  value(type: WireType | string): unknown {
    switch (type) {
      case 'String': return this.string();
      case 'FixedString(16)': return this.fixed(16);
      case 'FixedString(8)': return this.fixed(8);
      case 'UInt8': return this.u8();
      case 'UInt32': return this.u32();
      case 'UInt64': return this.u64();
      case 'Int64': return this.i64();
      case 'Float64': return this.f64();
    }
    if (type.startsWith('Array(')) {
      const inner = type.slice(6, -1);
      const n = this.varint();
      const out = new Array<unknown>(n);
      for (let i = 0; i < n; i++) out[i] = this.value(inner);
      return out;
    }
    throw new Error(`RowBinary: unsupported type ${type}`);
  }

  row(specs: readonly ColumnSpec[]): unknown[] {
    const out = new Array<unknown>(specs.length);
    for (let i = 0; i < specs.length; i++) out[i] = specs[i].binary ? this.fixed(this.varint()) : this.value(specs[i].type);
    return out;
  }
}

const COL = Object.fromEntries(SPAN_COLUMNS.map((c, i) => [c.name, i])) as Record<string, number>;
const RES_COL = Object.fromEntries(RESOURCE_COLUMNS.map((c, i) => [c.name, i])) as Record<string, number>;

/** The typed attribute columns `<prefix>_<type>_keys/values` of a row, as OTLP/JSON key-values (by type, then in stored order). */
export function attributes(row: unknown[], prefix: string, col: Record<string, number> = COL): KeyValueJson[] {
  const out: KeyValueJson[] = [];
  const pairs = (kind: string, toValue: (v: never) => AnyValueJson) => {
    const keys = row[col[`${prefix}_${kind}_keys`]] as string[];
    const values = row[col[`${prefix}_${kind}_values`]] as never[];
    for (let i = 0; i < keys.length; i++) out.push({ key: keys[i], value: toValue(values[i]) });
  };
  pairs('str', (v: string) => ({ stringValue: v }));
  pairs('int', (v: bigint) => ({ intValue: v.toString() }));
  pairs('float', (v: number) => ({ doubleValue: Number.isFinite(v) ? v : Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity' }));
  pairs('bool', (v: number) => ({ boolValue: v !== 0 }));
  pairs('other', (v: string) => JSON.parse(v) as AnyValueJson);
  return out;
}

function keyValueList(json: string): KeyValueJson[] {
  return json === '' ? [] : (JSON.parse(json) as KeyValueJson[]);
}

/** Reads RowBinary rows of all SPAN_COLUMNS, in order, into span records (resource and scope still to be filled in). */
export function readSpanRecords(buf: Buffer): SpanRecord[] {
  const r = new RowBinaryReader(buf);
  const out: SpanRecord[] = [];
  while (!r.done) {
    const row = r.row(SPAN_COLUMNS);
    const get = <T>(name: string) => row[COL[name]] as T;
    const eventTimes = get<bigint[]>('event_time_ns');
    const eventNames = get<string[]>('event_name');
    const eventAttrs = get<string[]>('event_attrs');
    const linkTrace = get<Buffer[]>('link_trace_id');
    const linkSpan = get<Buffer[]>('link_span_id');
    const linkAttrs = get<string[]>('link_attrs');
    const extras = decodeExtras(get<Buffer>('extras'), eventTimes.length, linkTrace.length);
    out.push({
      traceId: get('trace_id'),
      spanId: get('span_id'),
      parentSpanId: get('parent_span_id'),
      traceState: extras.traceState,
      flags: get('flags'),
      name: get('name'),
      kind: get('kind'),
      startNs: get('start_ns'),
      durationNs: get('duration_ns'),
      statusCode: get('status_code'),
      statusMessage: get('status_message'),
      serviceName: get('service_name'),
      resourceId: get('resource_id'),
      attributes: attributes(row, 'attr'),
      droppedAttributes: extras.droppedAttributes,
      droppedEvents: extras.droppedEvents,
      droppedLinks: extras.droppedLinks,
      // Filled in from the resources table by the caller.
      resource: { attributes: [], dropped: 0, schemaUrl: '' },
      scope: { name: '', version: '', attributes: [], dropped: 0, schemaUrl: '' },
      events: eventTimes.map((t, i) => ({
        timeNs: t,
        name: eventNames[i],
        attributes: keyValueList(eventAttrs[i]),
        dropped: extras.eventDropped[i],
      })),
      links: linkTrace.map((t, i) => ({
        traceId: t,
        spanId: linkSpan[i],
        traceState: extras.linkTraceState[i],
        attributes: keyValueList(linkAttrs[i]),
        dropped: extras.linkDropped[i],
        flags: extras.linkFlags[i],
      })),
    });
  }
  return out;
}

/** A (resource, scope) row. */
export interface ResourceRecord {
  resourceId: Buffer;
  serviceName: string;
  resource: SpanRecord['resource'];
  scope: SpanRecord['scope'];
}

/** Reads RowBinary rows of all RESOURCE_COLUMNS, in order. */
export function readResourceRecords(buf: Buffer): ResourceRecord[] {
  const r = new RowBinaryReader(buf);
  const out: ResourceRecord[] = [];
  while (!r.done) {
    const row = r.row(RESOURCE_COLUMNS);
    const get = <T>(name: string) => row[RES_COL[name]] as T;
    out.push({
      resourceId: get('resource_id'),
      serviceName: get('service_name'),
      resource: { attributes: attributes(row, 'res', RES_COL), dropped: get('res_dropped'), schemaUrl: get('res_schema_url') },
      scope: {
        name: get('scope_name'),
        version: get('scope_version'),
        attributes: keyValueList(get('scope_attrs')),
        dropped: get('scope_dropped'),
        schemaUrl: get('scope_schema_url'),
      },
    });
  }
  return out;
}
