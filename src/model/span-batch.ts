import { ByteWriter } from './byte-writer.js';

/**
 * The span row as it travels from decode to disk: one ClickHouse Native block
 * per request, written column by column while the OTLP bytes are decoded.
 * The same bytes are the WAL record and the store's insert payload, so a span
 * is never turned into a JS object between the socket and the engine.
 *
 * Column types here are the wire types of the Native block. The store may
 * declare some of them as LowCardinality; the engine converts on insert.
 */
export type WireType =
  | 'FixedString(16)'
  | 'FixedString(8)'
  | 'String'
  | 'UInt8'
  | 'UInt32'
  | 'UInt64'
  | 'Array(String)'
  | 'Array(Int64)'
  | 'Array(Float64)'
  | 'Array(UInt8)'
  | 'Array(UInt32)'
  | 'Array(UInt64)'
  | 'Array(FixedString(16))'
  | 'Array(FixedString(8))';

export interface ColumnSpec {
  readonly name: string;
  readonly type: WireType;
  /** Few distinct values: the store may dictionary-encode it. */
  readonly lowCardinality?: boolean;
}

/** A scalar column: fixed-width values or length-prefixed strings. */
export class ScalarColumn {
  readonly data = new ByteWriter(8192);
  constructor(readonly spec: ColumnSpec) {}
}

/**
 * Two array columns that always hold the same number of elements per row
 * (attribute keys and values, event times and names...). They share one
 * offsets stream, which Native repeats for each column.
 */
export class ArrayGroup {
  readonly offsets = new ByteWriter(8192);
  /** Elements written so far across all rows. */
  count = 0;
  readonly columns: { spec: ColumnSpec; data: ByteWriter }[];

  constructor(specs: ColumnSpec[]) {
    this.columns = specs.map((spec) => ({ spec, data: new ByteWriter(8192) }));
  }

  data(i: number): ByteWriter {
    return this.columns[i].data;
  }

  endRow(): void {
    this.offsets.u64(this.count % 0x100000000, Math.floor(this.count / 0x100000000));
  }
}

/** The typed attribute arrays of one scope (span or resource). */
export class AttributeColumns {
  readonly str: ArrayGroup;
  readonly int: ArrayGroup;
  readonly float: ArrayGroup;
  readonly bool: ArrayGroup;
  /** Arrays, kvlists, bytes and empty values, as canonical OTLP JSON. */
  readonly other: ArrayGroup;

  constructor(prefix: string) {
    const pair = (kind: string, valueType: WireType, keyLowCardinality = true): ArrayGroup =>
      new ArrayGroup([
        { name: `${prefix}_${kind}_keys`, type: 'Array(String)', lowCardinality: keyLowCardinality },
        { name: `${prefix}_${kind}_values`, type: valueType },
      ]);
    this.str = pair('str', 'Array(String)');
    this.int = pair('int', 'Array(Int64)');
    this.float = pair('float', 'Array(Float64)');
    this.bool = pair('bool', 'Array(UInt8)');
    this.other = pair('other', 'Array(String)');
  }

  groups(): ArrayGroup[] {
    return [this.str, this.int, this.float, this.bool, this.other];
  }

  endRow(): void {
    this.str.endRow();
    this.int.endRow();
    this.float.endRow();
    this.bool.endRow();
    this.other.endRow();
  }
}

const scalar = (name: string, type: WireType, lowCardinality = false) =>
  new ScalarColumn({ name, type, lowCardinality });

/**
 * Builds one Native block of span rows. Decoders append to the public columns
 * directly and call {@link endRow} once per span; {@link mark} and
 * {@link rollback} drop a span that fails validation half-way through.
 */
export class SpanBatchBuilder {
  readonly traceId = scalar('trace_id', 'FixedString(16)');
  readonly spanId = scalar('span_id', 'FixedString(8)');
  readonly parentSpanId = scalar('parent_span_id', 'FixedString(8)');
  readonly traceState = scalar('trace_state', 'String');
  readonly flags = scalar('flags', 'UInt32');
  readonly name = scalar('name', 'String', true);
  readonly kind = scalar('kind', 'UInt8');
  readonly startNs = scalar('start_ns', 'UInt64');
  readonly durationNs = scalar('duration_ns', 'UInt64');
  readonly statusCode = scalar('status_code', 'UInt8');
  readonly statusMessage = scalar('status_message', 'String');
  /** Copied out of the resource's `service.name` so the store can sort by it. */
  readonly serviceName = scalar('service_name', 'String', true);
  readonly droppedAttributes = scalar('dropped_attributes', 'UInt32');
  readonly droppedEvents = scalar('dropped_events', 'UInt32');
  readonly droppedLinks = scalar('dropped_links', 'UInt32');
  readonly attrs = new AttributeColumns('attr');
  readonly resAttrs = new AttributeColumns('res');
  readonly resDropped = scalar('res_dropped', 'UInt32');
  readonly resSchemaUrl = scalar('res_schema_url', 'String', true);
  readonly scopeName = scalar('scope_name', 'String', true);
  readonly scopeVersion = scalar('scope_version', 'String', true);
  /** Scope attributes as a canonical OTLP JSON KeyValue list ('' when none). */
  readonly scopeAttrs = scalar('scope_attrs', 'String', true);
  readonly scopeDropped = scalar('scope_dropped', 'UInt32');
  readonly scopeSchemaUrl = scalar('scope_schema_url', 'String', true);
  readonly events = new ArrayGroup([
    { name: 'event_time_ns', type: 'Array(UInt64)' },
    { name: 'event_name', type: 'Array(String)', lowCardinality: true },
    { name: 'event_attrs', type: 'Array(String)' },
    { name: 'event_dropped', type: 'Array(UInt32)' },
  ]);
  readonly links = new ArrayGroup([
    { name: 'link_trace_id', type: 'Array(FixedString(16))' },
    { name: 'link_span_id', type: 'Array(FixedString(8))' },
    { name: 'link_trace_state', type: 'Array(String)' },
    { name: 'link_attrs', type: 'Array(String)' },
    { name: 'link_dropped', type: 'Array(UInt32)' },
    { name: 'link_flags', type: 'Array(UInt32)' },
  ]);

  rows = 0;

  private readonly layout: (ScalarColumn | ArrayGroup)[] = [
    this.traceId, this.spanId, this.parentSpanId, this.traceState, this.flags, this.name,
    this.kind, this.startNs, this.durationNs, this.statusCode, this.statusMessage,
    this.serviceName, this.droppedAttributes, this.droppedEvents, this.droppedLinks,
    ...this.attrs.groups(), ...this.resAttrs.groups(),
    this.resDropped, this.resSchemaUrl, this.scopeName, this.scopeVersion, this.scopeAttrs,
    this.scopeDropped, this.scopeSchemaUrl, this.events, this.links,
  ];
  private readonly writers: ByteWriter[] = [];
  private readonly groups: ArrayGroup[] = [];
  private readonly markLens: Int32Array;
  private readonly markCounts: Float64Array;
  private markRows = 0;

  constructor() {
    for (const part of this.layout) {
      if (part instanceof ScalarColumn) this.writers.push(part.data);
      else {
        this.groups.push(part);
        this.writers.push(part.offsets, ...part.columns.map((c) => c.data));
      }
    }
    this.markLens = new Int32Array(this.writers.length);
    this.markCounts = new Float64Array(this.groups.length);
  }

  /** Ends the current span row: writes array offsets. */
  endRow(): void {
    this.attrs.endRow();
    this.resAttrs.endRow();
    this.events.endRow();
    this.links.endRow();
    this.rows++;
  }

  mark(): void {
    const w = this.writers;
    for (let i = 0; i < w.length; i++) this.markLens[i] = w[i].len;
    const g = this.groups;
    for (let i = 0; i < g.length; i++) this.markCounts[i] = g[i].count;
    this.markRows = this.rows;
  }

  rollback(): void {
    const w = this.writers;
    for (let i = 0; i < w.length; i++) w[i].len = this.markLens[i];
    const g = this.groups;
    for (let i = 0; i < g.length; i++) g[i].count = this.markCounts[i];
    this.rows = this.markRows;
  }

  /**
   * The block as a list of buffers in Native order, ready for writev.
   * The buffers alias the builder's memory: write them before reusing it.
   */
  toNative(): SpanBlock {
    const head = new ByteWriter(4096);
    const chunks: Buffer[] = [];
    let bytes = 0;
    const push = (b: Buffer) => {
      chunks.push(b);
      bytes += b.length;
    };
    head.varint(SPAN_COLUMNS.length);
    head.varint(this.rows);
    let from = 0;
    const flushHead = () => {
      if (head.len > from) push(head.buf.subarray(from, head.len));
      from = head.len;
    };
    for (const part of this.layout) {
      if (part instanceof ScalarColumn) {
        head.string(part.spec.name);
        head.string(part.spec.type);
        flushHead();
        push(part.data.view());
      } else {
        const offsets = part.offsets.view();
        for (const c of part.columns) {
          head.string(c.spec.name);
          head.string(c.spec.type);
          flushHead();
          push(offsets);
          push(c.data.view());
        }
      }
    }
    // Header pieces alias head.buf. When it grows it is copied, and the older
    // pieces keep pointing at the old, already complete bytes, so they stay valid.
    return { rows: this.rows, chunks, bytes };
  }

  reset(): void {
    for (const w of this.writers) w.len = 0;
    for (const g of this.groups) g.count = 0;
    this.rows = 0;
  }

  /** Column specs in Native order; must equal {@link SPAN_COLUMNS}. */
  specs(): ColumnSpec[] {
    const out: ColumnSpec[] = [];
    for (const part of this.layout) {
      if (part instanceof ScalarColumn) out.push(part.spec);
      else out.push(...part.columns.map((c) => c.spec));
    }
    return out;
  }
}

/** One encoded Native block of span rows. */
export interface SpanBlock {
  rows: number;
  /** Native bytes in order; concatenated they form one block. */
  chunks: Buffer[];
  bytes: number;
}

/** The span row schema, in Native column order. */
export const SPAN_COLUMNS: readonly ColumnSpec[] = new SpanBatchBuilder().specs();

export const SPAN_COLUMN_NAMES: readonly string[] = SPAN_COLUMNS.map((c) => c.name);
