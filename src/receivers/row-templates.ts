import { ByteWriter } from '../model/byte-writer.js';
import { AttributeColumns, type SpanBatchBuilder } from '../model/span-batch.js';

/**
 * Resource fields, decoded once per ResourceSpans in their column encodings
 * and copied into every span row beneath it.
 */
export class ResourceTemplate {
  readonly attrs = new AttributeColumns('res');
  dropped = 0;
  /** Length-prefixed `service.name` string value; '' when the resource has none. */
  readonly serviceName = new ByteWriter(64);
  readonly schemaUrl = new ByteWriter(64);

  reset(): void {
    for (const g of this.attrs.groups()) {
      g.count = 0;
      for (const c of g.columns) c.data.len = 0;
    }
    this.dropped = 0;
    this.serviceName.len = 0;
    this.schemaUrl.len = 0;
  }

  /** Fills absent strings with the empty string. */
  finish(): void {
    if (this.serviceName.len === 0) this.serviceName.u8(0);
    if (this.schemaUrl.len === 0) this.schemaUrl.u8(0);
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
  copyAttributes(out.resAttrs, res.attrs);
  out.resDropped.data.u32(res.dropped);
  copyWriter(out.resSchemaUrl.data, res.schemaUrl);
  copyWriter(out.scopeName.data, scope.name);
  copyWriter(out.scopeVersion.data, scope.version);
  copyWriter(out.scopeAttrs.data, scope.attrs);
  out.scopeDropped.data.u32(scope.dropped);
  copyWriter(out.scopeSchemaUrl.data, scope.schemaUrl);
}

function copyWriter(to: ByteWriter, from: ByteWriter): void {
  to.bytes(from.buf, 0, from.len);
}

function copyAttributes(to: AttributeColumns, from: AttributeColumns): void {
  const a = to.groups();
  const b = from.groups();
  for (let g = 0; g < a.length; g++) {
    const src = b[g];
    if (src.count === 0) continue;
    const dst = a[g];
    for (let c = 0; c < dst.columns.length; c++) copyWriter(dst.columns[c].data, src.columns[c].data);
    dst.count += src.count;
  }
}
