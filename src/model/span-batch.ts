import { ByteWriter } from './byte-writer.js';

/**
 * Rows as they travel from decode to disk: ClickHouse Native blocks, written
 * column by column while the OTLP bytes are decoded.
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
  /** A String column of arbitrary bytes, not text: readers return its raw bytes. */
  readonly binary?: boolean;
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

const scalar = (name: string, type: WireType, lowCardinality = false, binary = false) =>
  new ScalarColumn({ name, type, lowCardinality, binary });

/**
 * Builds one ClickHouse Native block, column by column. Subclasses declare
 * their columns as fields and list them in {@link layout}; decoders append
 * to the columns directly and call endRow() once per row. mark() and
 * rollback() drop a row that fails validation half-way through.
 */
export abstract class BlockBuilder {
  rows = 0;
  private writers: ByteWriter[] = [];
  private groups: ArrayGroup[] = [];
  private markLens = new Int32Array(0);
  private markCounts = new Float64Array(0);
  private markRows = 0;
  private parts: (ScalarColumn | ArrayGroup)[] = [];

  /** The columns in Native order. Called once, from {@link init}. */
  protected abstract layout(): (ScalarColumn | ArrayGroup)[];

  /** Subclass constructors call this after their column fields exist. */
  protected init(): void {
    this.parts = this.layout();
    for (const part of this.parts) {
      if (part instanceof ScalarColumn) this.writers.push(part.data);
      else {
        this.groups.push(part);
        this.writers.push(part.offsets, ...part.columns.map((c) => c.data));
      }
    }
    this.markLens = new Int32Array(this.writers.length);
    this.markCounts = new Float64Array(this.groups.length);
  }

  /** Ends the current row: writes the array offsets. */
  endRow(): void {
    const g = this.groups;
    for (let i = 0; i < g.length; i++) g[i].endRow();
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
   * The block as buffers in Native order, ready for writev. They alias the
   * builder's memory: write them out before reusing the builder.
   */
  toNative(): NativeBlock {
    this.checkComplete();
    const head = new ByteWriter(4096);
    const chunks: Buffer[] = [];
    let bytes = 0;
    const push = (b: Buffer) => {
      chunks.push(b);
      bytes += b.length;
    };
    let columns = 0;
    for (const part of this.parts) columns += part instanceof ScalarColumn ? 1 : part.columns.length;
    head.varint(columns);
    head.varint(this.rows);
    let from = 0;
    const flushHead = () => {
      if (head.len > from) push(head.buf.subarray(from, head.len));
      from = head.len;
    };
    for (const part of this.parts) {
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

  /** The block as one buffer (a copy). */
  toBuffer(): Buffer {
    const b = this.toNative();
    return Buffer.concat(b.chunks, b.bytes);
  }

  /** Bytes of buffer held, whatever is written now. */
  capacity(): number {
    let n = 0;
    for (const w of this.writers) n += w.buf.length;
    return n;
  }

  reset(): void {
    for (const w of this.writers) w.len = 0;
    for (const g of this.groups) g.count = 0;
    this.rows = 0;
  }

  /** Throws when a column the decoders leave to the caller was not filled (a block that the engine would refuse). */
  protected checkComplete(): void {}

  /** Column specs in Native order. */
  specs(): ColumnSpec[] {
    const out: ColumnSpec[] = [];
    for (const part of this.parts) {
      if (part instanceof ScalarColumn) out.push(part.spec);
      else out.push(...part.columns.map((c) => c.spec));
    }
    return out;
  }
}

/**
 * Span rows (schema v3). Resource attributes and the instrumentation scope
 * are not repeated per span: a span carries the id of its (resource, scope)
 * row, which goes to {@link ResourceBatchBuilder}. The tenant comes first,
 * as in the store's sort key; the receiver stamps it on every row of a
 * request ({@link fillTenant}).
 */
export class SpanBatchBuilder extends BlockBuilder {
  readonly tenant = scalar('tenant', 'String', true);
  readonly traceId = scalar('trace_id', 'FixedString(16)');
  readonly spanId = scalar('span_id', 'FixedString(8)');
  readonly parentSpanId = scalar('parent_span_id', 'FixedString(8)');
  readonly flags = scalar('flags', 'UInt32');
  readonly name = scalar('name', 'String', true);
  readonly kind = scalar('kind', 'UInt8');
  readonly startNs = scalar('start_ns', 'UInt64');
  readonly durationNs = scalar('duration_ns', 'UInt64');
  readonly statusCode = scalar('status_code', 'UInt8');
  readonly statusMessage = scalar('status_message', 'String');
  /** Copied out of the resource's `service.name` so the store can sort by it. */
  readonly serviceName = scalar('service_name', 'String', true);
  /** The id of the span's (resource, scope) row. */
  readonly resourceId = scalar('resource_id', 'FixedString(8)');
  readonly attrs = new AttributeColumns('attr');
  readonly events = new ArrayGroup([
    { name: 'event_time_ns', type: 'Array(UInt64)' },
    { name: 'event_name', type: 'Array(String)', lowCardinality: true },
    { name: 'event_attrs', type: 'Array(String)' },
  ]);
  readonly links = new ArrayGroup([
    { name: 'link_trace_id', type: 'Array(FixedString(16))' },
    { name: 'link_span_id', type: 'Array(FixedString(8))' },
    { name: 'link_attrs', type: 'Array(String)' },
  ]);
  /** The rarely set fields, packed (see span-extras.ts). */
  readonly extras = scalar('extras', 'String', false, true);

  constructor() {
    super();
    this.init();
  }

  protected layout(): (ScalarColumn | ArrayGroup)[] {
    return [
      this.tenant, this.traceId, this.spanId, this.parentSpanId, this.flags, this.name,
      this.kind, this.startNs, this.durationNs, this.statusCode, this.statusMessage,
      this.serviceName, this.resourceId, ...this.attrs.groups(), this.events, this.links, this.extras,
    ];
  }

  /**
   * Writes the tenant column for every row written so far. Decoders leave
   * it empty; the receiver knows the tenant of the whole request and fills
   * it once decoding is done.
   */
  fillTenant(tenant: string): void {
    fillConstant(this.tenant, this.rows, tenant);
  }

  protected override checkComplete(): void {
    if (this.rows > 0 && this.tenant.data.len === 0) throw new Error('span rows without a tenant: call fillTenant() first');
  }
}

/**
 * Resource rows: one per distinct (tenant, resource, instrumentation scope),
 * written the first time it is seen on a given day. Spans refer to them by
 * resource_id, a hash of the resource and scope.
 */
export class ResourceBatchBuilder extends BlockBuilder {
  readonly tenant = scalar('tenant', 'String', true);
  /** 8 bytes of a hash of the resource and scope (everything below but seen_ns). */
  readonly resourceId = scalar('resource_id', 'FixedString(8)');
  /** When this row was written (Unix ns); partitions and expires it. */
  readonly seenNs = scalar('seen_ns', 'UInt64');
  readonly serviceName = scalar('service_name', 'String', true);
  readonly attrs = new AttributeColumns('res');
  readonly dropped = scalar('res_dropped', 'UInt32');
  readonly schemaUrl = scalar('res_schema_url', 'String', true);
  readonly scopeName = scalar('scope_name', 'String', true);
  readonly scopeVersion = scalar('scope_version', 'String', true);
  /** Scope attributes as a canonical OTLP JSON KeyValue list ('' when none). */
  readonly scopeAttrs = scalar('scope_attrs', 'String');
  readonly scopeDropped = scalar('scope_dropped', 'UInt32');
  readonly scopeSchemaUrl = scalar('scope_schema_url', 'String', true);

  constructor() {
    super();
    this.init();
  }

  /** See SpanBatchBuilder.fillTenant. */
  fillTenant(tenant: string): void {
    fillConstant(this.tenant, this.rows, tenant);
  }

  protected override checkComplete(): void {
    if (this.rows > 0 && this.tenant.data.len === 0) throw new Error('resource rows without a tenant: call fillTenant() first');
  }

  protected layout(): (ScalarColumn | ArrayGroup)[] {
    return [
      this.tenant, this.resourceId, this.seenNs, this.serviceName, ...this.attrs.groups(), this.dropped, this.schemaUrl,
      this.scopeName, this.scopeVersion, this.scopeAttrs, this.scopeDropped, this.scopeSchemaUrl,
    ];
  }
}

/** Sets a String column to `value` for each of `rows` rows. */
function fillConstant(column: ScalarColumn, rows: number, value: string): void {
  const w = column.data;
  w.len = 0;
  w.string(value);
  const one = Buffer.from(w.view());
  w.len = 0;
  w.ensure(one.length * rows);
  for (let i = 0; i < rows; i++) w.bytes(one, 0, one.length);
}

/** One encoded Native block. */
export interface NativeBlock {
  rows: number;
  /** Native bytes in order; concatenated they form one block. */
  chunks: Buffer[];
  bytes: number;
}

/** The span row schema, in Native column order. */
export const SPAN_COLUMNS: readonly ColumnSpec[] = new SpanBatchBuilder().specs();
export const SPAN_COLUMN_NAMES: readonly string[] = SPAN_COLUMNS.map((c) => c.name);

/** The resource row schema, in Native column order. */
export const RESOURCE_COLUMNS: readonly ColumnSpec[] = new ResourceBatchBuilder().specs();
export const RESOURCE_COLUMN_NAMES: readonly string[] = RESOURCE_COLUMNS.map((c) => c.name);
