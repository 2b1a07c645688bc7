import { ByteWriter } from '../model/byte-writer.js';
import type { ArrayGroup, AttributeColumns, SpanBatchBuilder } from '../model/span-batch.js';
import { BODY_KIND, type LogBatchBuilder } from '../model/log-batch.js';
import type { MaskChain, ValueRedactor } from './values.js';

/**
 * What the receivers ask of a tenant's redaction: it rewrites the columns
 * a decoder wrote, in place, before the block goes to the WAL.
 * - redactResource and redactScope run on the decoders' resource and scope
 *   templates before their ids are hashed, so a resource's id, its stored
 *   row and the service name copied into its spans all come from redacted
 *   values;
 * - redactSpans runs on a request's span rows once decoding is done;
 * - redactLogs runs on a request's log rows: their attributes as span
 *   attributes, their bodies as free text (masks not limited to keys, and
 *   the preset), a structured body's key-value entries as attributes.
 *   Their resource and scope columns were copied from templates that
 *   redactResource and redactScope had already seen.
 */
export interface SpanRedactor {
  redactResource(resource: { readonly attrs: AttributeColumns; readonly serviceName: ByteWriter }): void;
  redactScope(scope: { readonly attrs: ByteWriter }): void;
  redactSpans(spans: SpanBatchBuilder): void;
  redactLogs(logs: LogBatchBuilder): void;
}

/** Running span numbers, shared by every rule set: a rule counts each span once. */
export interface SpanNumbers {
  next: number;
}

/**
 * Rewrites Native columns through a ValueRedactor, one span row at a time
 * across all its columns (so a rule's span count sees each row once). Each
 * rewritten column is written into a scratch buffer that then trades places
 * with the column's own: no copy back, and no allocation per request once
 * the scratch buffers have grown. Synchronous: one set of scratch buffers
 * serves every request in turn, and a buffer traded out of a builder is no
 * longer referenced by it.
 */
export class ColumnRedactor implements SpanRedactor {
  private readonly attributes = new AttributeRewriter();
  private readonly nameOut = new ByteWriter(8192);
  private readonly statusOut = new ByteWriter(8192);
  private readonly eventNameOut = new ByteWriter(8192);
  private readonly eventAttrsOut = new ByteWriter(8192);
  private readonly linkAttrsOut = new ByteWriter(8192);
  private readonly scopeOut = new ByteWriter(256);
  private readonly bodyOut = new ByteWriter(8192);
  private readonly body = new StringCursor();
  private readonly name = new StringCursor();
  private readonly status = new StringCursor();
  private readonly eventName = new StringCursor();
  private readonly eventAttrs = new StringCursor();
  private readonly linkAttrs = new StringCursor();

  constructor(
    private readonly values: ValueRedactor,
    private readonly numbers: SpanNumbers,
  ) {}

  redactResource(resource: { readonly attrs: AttributeColumns; readonly serviceName: ByteWriter }): void {
    const a = this.attributes;
    a.begin(resource.attrs, false);
    a.trackServiceName = true;
    a.row(this.values, 0, 0);
    a.finish(resource.attrs);
    a.trackServiceName = false;
    if (a.serviceName !== undefined) {
      resource.serviceName.len = 0;
      if (a.serviceName !== null && a.serviceName !== '') resource.serviceName.string(a.serviceName);
    }
  }

  redactScope(scope: { readonly attrs: ByteWriter }): void {
    const w = scope.attrs;
    if (w.len === 0) return;
    const c = this.name;
    c.start(w);
    c.next();
    const json = c.text();
    const out = this.values.keyValueList(json, 0);
    if (out === json) return;
    this.scopeOut.len = 0;
    if (out !== '') this.scopeOut.string(out);
    swap(w, this.scopeOut);
  }

  redactSpans(spans: SpanBatchBuilder): void {
    const rows = spans.rows;
    if (rows === 0) return;
    const first = this.numbers.next;
    this.numbers.next += rows;
    const v = this.values;
    const names = v.names;
    if (names) {
      this.name.start(spans.name.data);
      this.status.start(spans.statusMessage.data);
      this.eventName.start(spans.events.data(1));
      this.nameOut.len = this.statusOut.len = this.eventNameOut.len = 0;
    }
    this.attributes.begin(spans.attrs, true);
    this.eventAttrs.start(spans.events.data(2));
    this.linkAttrs.start(spans.links.data(2));
    this.eventAttrsOut.len = this.linkAttrsOut.len = 0;
    const eventOffsets = spans.events.offsets.buf;
    const linkOffsets = spans.links.offsets.buf;
    let eventAt = 0;
    let linkAt = 0;

    for (let r = 0; r < rows; r++) {
      const span = first + r + 1;
      if (names) {
        maskNext(this.name, this.nameOut, names, span);
        maskNext(this.status, this.statusOut, names, span);
      }
      this.attributes.row(v, span, r);
      const eventEnd = offsetAt(eventOffsets, r);
      for (; eventAt < eventEnd; eventAt++) {
        if (names) maskNext(this.eventName, this.eventNameOut, names, span);
        redactListNext(this.eventAttrs, this.eventAttrsOut, v, span);
      }
      const linkEnd = offsetAt(linkOffsets, r);
      for (; linkAt < linkEnd; linkAt++) redactListNext(this.linkAttrs, this.linkAttrsOut, v, span);
    }

    if (names) {
      swap(spans.name.data, this.nameOut);
      swap(spans.statusMessage.data, this.statusOut);
      swap(spans.events.data(1), this.eventNameOut);
    }
    this.attributes.finish(spans.attrs);
    swap(spans.events.data(2), this.eventAttrsOut);
    swap(spans.links.data(2), this.linkAttrsOut);
  }

  /**
   * Log rows: attributes as a span's, bodies as described on SpanRedactor.
   * Rules count each log record as they count a span.
   */
  redactLogs(logs: LogBatchBuilder): void {
    const rows = logs.rows;
    if (rows === 0) return;
    const first = this.numbers.next;
    this.numbers.next += rows;
    const v = this.values;
    const names = v.names;
    const kinds = logs.bodyKind.data.buf;
    this.attributes.begin(logs.attrs, true);
    this.body.start(logs.body.data);
    this.bodyOut.len = 0;
    for (let r = 0; r < rows; r++) {
      const record = first + r + 1;
      this.attributes.row(v, record, r);
      const kind = kinds[r];
      if (kind === BODY_KIND.string && names) maskNext(this.body, this.bodyOut, names, record);
      else if (kind === BODY_KIND.json) {
        this.body.next();
        const json = this.body.text();
        const out = v.logBody(json, record);
        if (out === json) this.body.copyTo(this.bodyOut);
        else this.bodyOut.string(out);
      } else {
        this.body.next();
        this.body.copyTo(this.bodyOut);
      }
    }
    this.attributes.finish(logs.attrs);
    swap(logs.body.data, this.bodyOut);
  }
}

/** Bytes per value of the typed groups, in AttributeColumns.groups() order; 0: a length-prefixed string. */
const VALUE_WIDTH = [0, 8, 8, 1, 0];
const STR = 0;
const INT = 1;
const FLOAT = 2;
const BOOL = 3;
const OTHER = 4;

/**
 * Rewrites the five typed attribute groups (string, int, float, bool,
 * other) row by row. A dropped key leaves its group; a hashed value of any
 * type becomes a string and moves to the string group, after that row's
 * own strings.
 */
class AttributeRewriter {
  private readonly out = Array.from({ length: 5 }, () => ({ offsets: new ByteWriter(4096), keys: new ByteWriter(8192), values: new ByteWriter(8192), count: 0 }));
  private readonly keys = Array.from({ length: 5 }, () => new StringCursor());
  /** Where each group's next value starts. */
  private readonly valueAt = new Int32Array(5);
  /** Elements read so far per group. */
  private readonly elementAt = new Float64Array(5);
  private groups: ArrayGroup[] = [];
  private withOffsets = false;
  /** Resource templates: report what became of `service.name` (undefined: not seen; null: dropped). */
  trackServiceName = false;
  serviceName: string | null | undefined;

  begin(src: AttributeColumns, withOffsets: boolean): void {
    this.groups = src.groups();
    this.withOffsets = withOffsets;
    this.serviceName = undefined;
    for (let g = 0; g < 5; g++) {
      const o = this.out[g];
      o.offsets.len = o.keys.len = o.values.len = 0;
      o.count = 0;
      this.keys[g].start(this.groups[g].data(0));
      this.valueAt[g] = 0;
      this.elementAt[g] = 0;
    }
  }

  /**
   * One row: the elements up to the row's end offset, or all of a
   * template's (begun without offsets).
   */
  row(v: ValueRedactor, span: number, row: number): void {
    const strOut = this.out[STR];
    for (let g = 0; g < 5; g++) {
      const group = this.groups[g];
      const end = this.withOffsets ? offsetAt(group.offsets.buf, row) : group.count;
      const keys = this.keys[g];
      const vbuf = group.data(1).buf;
      const o = this.out[g];
      for (let e = this.elementAt[g]; e < end; e++) {
        keys.next();
        const d = v.decideBytes(keys.buf, keys.at, keys.end);
        // The value's extent.
        const header = this.valueAt[g];
        let at = header;
        let valueEnd: number;
        if (VALUE_WIDTH[g] === 0) {
          let len = 0;
          let mul = 1;
          for (;;) {
            const b = vbuf[at++];
            len += (b & 0x7f) * mul;
            if (b < 0x80) break;
            mul *= 0x80;
          }
          valueEnd = at + len;
        } else valueEnd = at + VALUE_WIDTH[g];
        this.valueAt[g] = valueEnd;
        const serviceName = this.trackServiceName && g === STR && keys.is(SERVICE_NAME);

        if (d.drop) {
          d.drop.hit(1, span);
          if (serviceName) this.serviceName = null;
          continue;
        }
        if (d.hash) {
          const hashed = g === STR ? v.hashBytes(d.hash, vbuf, at, valueEnd, span) : v.hash(d.hash, valueText(g, vbuf, at, valueEnd), span);
          keys.copyTo(strOut.keys);
          strOut.values.string(hashed);
          strOut.count++;
          if (serviceName) this.serviceName = hashed;
          continue;
        }
        keys.copyTo(o.keys);
        let out: string | null = null;
        if (g === STR) {
          if (d.sql) {
            const text = vbuf.toString('utf8', at, valueEnd);
            const r = v.text(d, text, span);
            if (r !== text) out = r;
          } else if (d.masks) out = d.masks.applyBytes(vbuf, at, valueEnd, span);
          if (serviceName) this.serviceName = out ?? vbuf.toString('utf8', at, valueEnd);
        } else if (g === OTHER) {
          const text = vbuf.toString('utf8', at, valueEnd);
          const r = v.anyValue(text, d, keys.text(), span);
          if (r !== text) out = r;
        }
        if (out === null) o.values.bytes(vbuf, header, valueEnd);
        else o.values.string(out);
        o.count++;
      }
      this.elementAt[g] = end;
    }
    if (this.withOffsets) for (const o of this.out) o.offsets.u64(o.count % 0x100000000, Math.floor(o.count / 0x100000000));
  }

  /** Trades the rewritten buffers into `src` and sets its element counts. */
  finish(src: AttributeColumns): void {
    const groups = src.groups();
    for (let g = 0; g < 5; g++) {
      const group = groups[g];
      const o = this.out[g];
      swap(group.data(0), o.keys);
      swap(group.data(1), o.values);
      if (this.withOffsets) swap(group.offsets, o.offsets);
      group.count = o.count;
    }
  }
}

/** The text of a typed value, as it is hashed (see hashText in values.ts). */
function valueText(group: number, buf: Buffer, at: number, end: number): string {
  switch (group) {
    case INT:
      return buf.readBigInt64LE(at).toString();
    case FLOAT:
      return String(buf.readDoubleLE(at));
    case BOOL:
      return buf[at] !== 0 ? 'true' : 'false';
    default:
      return buf.toString('utf8', at, end);
  }
}

const SERVICE_NAME = Buffer.from('service.name');

/** Reads length-prefixed strings of one column in order. */
class StringCursor {
  buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  private header = 0;
  /** Where the current string's bytes start and end. */
  at = 0;
  end = 0;

  start(w: ByteWriter): void {
    this.buf = w.buf;
    this.pos = 0;
  }

  /** Moves to the next string. */
  next(): void {
    const buf = this.buf;
    let pos = this.pos;
    this.header = pos;
    let len = 0;
    let mul = 1;
    for (;;) {
      const b = buf[pos++];
      len += (b & 0x7f) * mul;
      if (b < 0x80) break;
      mul *= 0x80;
    }
    this.at = pos;
    this.end = this.pos = pos + len;
  }

  text(): string {
    return this.at === this.end ? '' : this.buf.toString('utf8', this.at, this.end);
  }

  /** Whether the current string is `bytes`. */
  is(bytes: Buffer): boolean {
    if (this.end - this.at !== bytes.length) return false;
    for (let i = 0; i < bytes.length; i++) if (this.buf[this.at + i] !== bytes[i]) return false;
    return true;
  }

  /** Appends the current string, length prefix and all. */
  copyTo(w: ByteWriter): void {
    w.bytes(this.buf, this.header, this.end);
  }
}

/** Copies the next string of `c` to `out`, masked (unchanged strings are copied as bytes). */
function maskNext(c: StringCursor, out: ByteWriter, masks: MaskChain, span: number): void {
  c.next();
  const r = masks.applyBytes(c.buf, c.at, c.end, span);
  if (r === null) c.copyTo(out);
  else out.string(r);
}

/** Copies the next KeyValue list (JSON) of `c` to `out`, redacted. */
function redactListNext(c: StringCursor, out: ByteWriter, v: ValueRedactor, span: number): void {
  c.next();
  const s = c.text();
  const r = v.keyValueList(s, span);
  if (r === s) c.copyTo(out);
  else out.string(r);
}

/** The cumulative element count at the end of row `row` (UInt64 offsets; counts stay far below 2^32). */
function offsetAt(offsets: Buffer, row: number): number {
  return offsets.readUInt32LE(row * 8) + offsets.readUInt32LE(row * 8 + 4) * 0x100000000;
}

function swap(a: ByteWriter, b: ByteWriter): void {
  const buf = a.buf;
  const len = a.len;
  a.buf = b.buf;
  a.len = b.len;
  b.buf = buf;
  b.len = len;
}
