import { createHash } from 'node:crypto';
import { ByteWriter } from '../model/byte-writer.js';
import { AttributeColumns, type ResourceBatchBuilder, type SpanBatchBuilder } from '../model/span-batch.js';
import type { LogBatchBuilder } from '../model/log-batch.js';

/**
 * Resource fields, decoded once per ResourceSpans in their column encodings.
 * Spans carry only the id of their (resource, scope) row; the row itself is
 * written when the id is new (see ScopeTemplate and ResourceRows).
 */
export class ResourceTemplate {
  readonly attrs = new AttributeColumns('res');
  dropped = 0;
  /** Length-prefixed `service.name` string value; '' when the resource has none. */
  readonly serviceName = new ByteWriter(64);
  readonly schemaUrl = new ByteWriter(64);
  /** MD5 over the encoded resource: scopes hash it with their own content. */
  readonly digest = Buffer.alloc(16);

  reset(): void {
    for (const g of this.attrs.groups()) {
      g.count = 0;
      for (const c of g.columns) c.data.len = 0;
    }
    this.dropped = 0;
    this.serviceName.len = 0;
    this.schemaUrl.len = 0;
  }

  /** Fills absent strings with the empty string and computes the digest. */
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
    h.digest().copy(this.digest);
  }
}

/**
 * Scope fields, decoded once per ScopeSpans in their column encodings, and
 * the id of the (resource, scope) row that the scope's spans point to.
 */
export class ScopeTemplate {
  readonly name = new ByteWriter(64);
  readonly version = new ByteWriter(64);
  /** Canonical JSON KeyValue list, length-prefixed; '' when none. */
  readonly attrs = new ByteWriter(64);
  readonly schemaUrl = new ByteWriter(64);
  dropped = 0;
  /** 8 bytes of MD5 over the resource's digest and this scope: equal pairs, equal ids. */
  readonly id = Buffer.alloc(8);
  idHex = '';

  reset(): void {
    this.name.len = 0;
    this.version.len = 0;
    this.attrs.len = 0;
    this.schemaUrl.len = 0;
    this.dropped = 0;
  }

  /** Fills absent strings with the empty string and computes the row id; `resource` is finished. */
  finish(resource: ResourceTemplate): void {
    if (this.name.len === 0) this.name.u8(0);
    if (this.version.len === 0) this.version.u8(0);
    if (this.attrs.len === 0) this.attrs.u8(0);
    if (this.schemaUrl.len === 0) this.schemaUrl.u8(0);
    const dropped = Buffer.alloc(4);
    dropped.writeUInt32LE(this.dropped);
    createHash('md5')
      .update(resource.digest)
      .update(this.name.view())
      .update(this.version.view())
      .update(this.attrs.view())
      .update(this.schemaUrl.view())
      .update(dropped)
      .digest()
      .copy(this.id, 0, 0, 8);
    this.idHex = this.id.toString('hex');
  }

  /** Appends the (resource, scope) row, without its tenant (see ResourceRows). */
  writeRow(out: ResourceBatchBuilder, resource: ResourceTemplate, seenNs: bigint): void {
    out.resourceId.data.bytes(this.id, 0, 8);
    out.seenNs.data.u64big(seenNs);
    copyWriter(out.serviceName.data, resource.serviceName);
    const a = out.attrs.groups();
    const b = resource.attrs.groups();
    for (let g = 0; g < a.length; g++) {
      const src = b[g];
      const dst = a[g];
      for (let c = 0; c < dst.columns.length; c++) copyWriter(dst.columns[c].data, src.columns[c].data);
      dst.count += src.count;
    }
    out.dropped.data.u32(resource.dropped);
    copyWriter(out.schemaUrl.data, resource.schemaUrl);
    copyWriter(out.scopeName.data, this.name);
    copyWriter(out.scopeVersion.data, this.version);
    copyWriter(out.scopeAttrs.data, this.attrs);
    out.scopeDropped.data.u32(this.dropped);
    copyWriter(out.scopeSchemaUrl.data, this.schemaUrl);
    out.endRow();
  }
}

/** Writes the resource and scope columns of the current span row. */
export function writeSpanContext(out: SpanBatchBuilder, res: ResourceTemplate, scope: ScopeTemplate): void {
  copyWriter(out.serviceName.data, res.serviceName);
  out.resourceId.data.bytes(scope.id, 0, 8);
}

/**
 * Collects the (resource, scope) rows a request introduces. A row is
 * written once per request, and only if `known` does not already vouch for
 * it. The tenant column is filled when the request is done
 * (ResourceBatchBuilder.fillTenant).
 */
export class ResourceRows {
  readonly emitted = new Set<string>();
  constructor(
    readonly out: ResourceBatchBuilder,
    private readonly known: (idHex: string) => boolean,
    private readonly seenNs: bigint,
  ) {}

  add(res: ResourceTemplate, scope: ScopeTemplate): void {
    if (this.emitted.has(scope.idHex) || this.known(scope.idHex)) return;
    this.emitted.add(scope.idHex);
    scope.writeRow(this.out, res, this.seenNs);
  }
}

function copyWriter(to: ByteWriter, from: ByteWriter): void {
  to.bytes(from.buf, 0, from.len);
}

/** Writes the resource and scope columns of the current log row: log rows carry them inline. */
export function writeLogContext(out: LogBatchBuilder, res: ResourceTemplate, scope: ScopeTemplate): void {
  copyWriter(out.serviceName.data, res.serviceName);
  const to = out.resourceAttrs.groups();
  const from = res.attrs.groups();
  for (let g = 0; g < to.length; g++) {
    const src = from[g];
    const dst = to[g];
    for (let c = 0; c < dst.columns.length; c++) copyWriter(dst.columns[c].data, src.columns[c].data);
    dst.count += src.count;
  }
  copyWriter(out.scopeName.data, scope.name);
  copyWriter(out.scopeVersion.data, scope.version);
  copyWriter(out.scopeAttrs.data, scope.attrs);
}
