import { createHash } from 'node:crypto';
import { ByteWriter } from '../model/byte-writer.js';
import { AttributeColumns, type ResourceBatchBuilder, type SpanBatchBuilder } from '../model/span-batch.js';

/**
 * Resource fields, decoded once per ResourceSpans in their column encodings.
 * Spans carry only the resource's id; the resource itself becomes one row
 * of the resources table, written when the id is new.
 */
export class ResourceTemplate {
  readonly attrs = new AttributeColumns('res');
  dropped = 0;
  /** Length-prefixed `service.name` string value; '' when the resource has none. */
  readonly serviceName = new ByteWriter(64);
  readonly schemaUrl = new ByteWriter(64);
  /** 8 bytes of MD5 over the encoded resource: equal resources, equal ids. */
  readonly id = Buffer.alloc(8);
  idHex = '';

  reset(): void {
    for (const g of this.attrs.groups()) {
      g.count = 0;
      for (const c of g.columns) c.data.len = 0;
    }
    this.dropped = 0;
    this.serviceName.len = 0;
    this.schemaUrl.len = 0;
  }

  /** Fills absent strings with the empty string and computes the id. */
  finish(): void {
    if (this.serviceName.len === 0) this.serviceName.u8(0);
    if (this.schemaUrl.len === 0) this.schemaUrl.u8(0);
    const h = createHash('md5');
    const counts = Buffer.alloc(4 * 6);
    this.attrs.groups().forEach((g, i) => {
      counts.writeUInt32LE(g.count, 4 * i);
      for (const c of g.columns) h.update(c.data.view());
    });
    counts.writeUInt32LE(this.dropped, 20);
    h.update(counts).update(this.schemaUrl.view());
    h.digest().copy(this.id, 0, 0, 8);
    this.idHex = this.id.toString('hex');
  }

  /** Appends this resource as one row. */
  writeRow(out: ResourceBatchBuilder, seenNs: bigint): void {
    out.resourceId.data.bytes(this.id, 0, 8);
    out.seenNs.data.u64big(seenNs);
    copyWriter(out.serviceName.data, this.serviceName);
    const a = out.attrs.groups();
    const b = this.attrs.groups();
    for (let g = 0; g < a.length; g++) {
      const src = b[g];
      const dst = a[g];
      for (let c = 0; c < dst.columns.length; c++) copyWriter(dst.columns[c].data, src.columns[c].data);
      dst.count += src.count;
    }
    out.dropped.data.u32(this.dropped);
    copyWriter(out.schemaUrl.data, this.schemaUrl);
    out.endRow();
  }
}

/** Scope fields, decoded once per ScopeSpans in their column encodings. */
export class ScopeTemplate {
  readonly name = new ByteWriter(64);
  readonly version = new ByteWriter(64);
  /** Canonical JSON KeyValue list, length-prefixed; '' when none. */
  readonly attrs = new ByteWriter(64);
  readonly schemaUrl = new ByteWriter(64);
  dropped = 0;

  reset(): void {
    this.name.len = 0;
    this.version.len = 0;
    this.attrs.len = 0;
    this.schemaUrl.len = 0;
    this.dropped = 0;
  }

  finish(): void {
    if (this.name.len === 0) this.name.u8(0);
    if (this.version.len === 0) this.version.u8(0);
    if (this.attrs.len === 0) this.attrs.u8(0);
    if (this.schemaUrl.len === 0) this.schemaUrl.u8(0);
  }
}

/** Writes the resource and scope columns of the current span row. */
export function writeSpanContext(out: SpanBatchBuilder, res: ResourceTemplate, scope: ScopeTemplate): void {
  copyWriter(out.serviceName.data, res.serviceName);
  out.resourceId.data.bytes(res.id, 0, 8);
  copyWriter(out.scopeName.data, scope.name);
  copyWriter(out.scopeVersion.data, scope.version);
  copyWriter(out.scopeAttrs.data, scope.attrs);
  out.scopeDropped.data.u32(scope.dropped);
  copyWriter(out.scopeSchemaUrl.data, scope.schemaUrl);
}

/**
 * Collects the resources a request introduces. A resource row is written
 * once per request, and only if `known` does not already vouch for it.
 */
export class ResourceRows {
  readonly emitted = new Set<string>();
  constructor(
    readonly out: ResourceBatchBuilder,
    private readonly known: (idHex: string) => boolean,
    private readonly seenNs: bigint,
  ) {}

  add(res: ResourceTemplate): void {
    if (this.emitted.has(res.idHex) || this.known(res.idHex)) return;
    this.emitted.add(res.idHex);
    res.writeRow(this.out, this.seenNs);
  }
}

function copyWriter(to: ByteWriter, from: ByteWriter): void {
  to.bytes(from.buf, 0, from.len);
}
