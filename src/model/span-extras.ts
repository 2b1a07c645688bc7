import { ByteWriter } from './byte-writer.js';

/**
 * The rarely set fields of a span, packed into one `extras` column: the
 * span's trace state and dropped counts, its events' dropped counts and its
 * links' trace states, dropped counts and flags. Queries never read them;
 * only a trace's output does. One column instead of eight (five of them
 * arrays) is less work for the engine on every insert and merge, and the
 * common span, which sets none of them, stores an empty string.
 *
 * Hand-written binary, not JSON: the decoders append it while they decode,
 * without building objects. Layout: a sequence of fields, each a tag byte
 * and its payload, only for values that differ from their default.
 *
 *   1 trace state          string (varint length, UTF-8 bytes)
 *   2 dropped attributes   varint
 *   3 dropped events       varint
 *   4 dropped links        varint
 *   5 event dropped counts varint n, then n varints (n = the span's events)
 *   6 link trace states    varint n, then n strings
 *   7 link dropped counts  varint n, then n varints
 *   8 link flags           varint n, then n varints
 */
export interface SpanExtras {
  traceState: string;
  droppedAttributes: number;
  droppedEvents: number;
  droppedLinks: number;
  eventDropped: number[];
  linkTraceState: string[];
  linkDropped: number[];
  linkFlags: number[];
}

const TRACE_STATE = 1;
const DROPPED_ATTRIBUTES = 2;
const DROPPED_EVENTS = 3;
const DROPPED_LINKS = 4;
const EVENT_DROPPED = 5;
const LINK_TRACE_STATE = 6;
const LINK_DROPPED = 7;
const LINK_FLAGS = 8;

/**
 * Collects one span's rare fields while it is decoded, then writes them as
 * one length-prefixed column value. Reused span after span.
 */
export class ExtrasWriter {
  private readonly body = new ByteWriter(256);
  private traceState: { buf: Uint8Array; start: number; end: number } | null = null;
  private droppedAttributes = 0;
  private droppedEvents = 0;
  private droppedLinks = 0;
  private readonly eventDropped: number[] = [];
  private anyEventDropped = false;
  private readonly linkStates: { buf: Uint8Array; start: number; end: number }[] = [];
  private anyLinkState = false;
  private readonly linkDropped: number[] = [];
  private anyLinkDropped = false;
  private readonly linkFlags: number[] = [];
  private anyLinkFlags = false;

  reset(): void {
    this.traceState = null;
    this.droppedAttributes = this.droppedEvents = this.droppedLinks = 0;
    this.eventDropped.length = 0;
    this.linkStates.length = 0;
    this.linkDropped.length = 0;
    this.linkFlags.length = 0;
    this.anyEventDropped = this.anyLinkState = this.anyLinkDropped = this.anyLinkFlags = false;
  }

  /** The span's trace state: UTF-8 bytes [start, end) of buf. */
  setTraceState(buf: Uint8Array, start: number, end: number): void {
    this.traceState = end > start ? { buf, start, end } : null;
  }

  setDropped(attributes: number, events: number, links: number): void {
    this.droppedAttributes = attributes;
    this.droppedEvents = events;
    this.droppedLinks = links;
  }

  addEvent(dropped: number): void {
    this.eventDropped.push(dropped);
    if (dropped !== 0) this.anyEventDropped = true;
  }

  /** One link's rare fields; its trace state is UTF-8 bytes [start, end) of buf. */
  addLink(stateBuf: Uint8Array, stateStart: number, stateEnd: number, dropped: number, flags: number): void {
    this.linkStates.push({ buf: stateBuf, start: stateStart, end: Math.max(stateStart, stateEnd) });
    if (stateEnd > stateStart) this.anyLinkState = true;
    this.linkDropped.push(dropped);
    if (dropped !== 0) this.anyLinkDropped = true;
    this.linkFlags.push(flags);
    if (flags !== 0) this.anyLinkFlags = true;
  }

  /** Appends the column value (a length-prefixed string; empty when all are defaults). */
  writeTo(out: ByteWriter): void {
    const b = this.body;
    b.len = 0;
    if (this.traceState) {
      b.u8(TRACE_STATE);
      b.varint(this.traceState.end - this.traceState.start);
      b.bytes(this.traceState.buf, this.traceState.start, this.traceState.end);
    }
    counter(b, DROPPED_ATTRIBUTES, this.droppedAttributes);
    counter(b, DROPPED_EVENTS, this.droppedEvents);
    counter(b, DROPPED_LINKS, this.droppedLinks);
    if (this.anyEventDropped) varints(b, EVENT_DROPPED, this.eventDropped);
    if (this.anyLinkState) {
      b.u8(LINK_TRACE_STATE);
      b.varint(this.linkStates.length);
      for (const s of this.linkStates) {
        b.varint(s.end - s.start);
        b.bytes(s.buf, s.start, s.end);
      }
    }
    if (this.anyLinkDropped) varints(b, LINK_DROPPED, this.linkDropped);
    if (this.anyLinkFlags) varints(b, LINK_FLAGS, this.linkFlags);
    out.varint(b.len);
    if (b.len > 0) out.bytes(b.buf, 0, b.len);
  }
}

function counter(b: ByteWriter, tag: number, value: number): void {
  if (value === 0) return;
  b.u8(tag);
  b.varint(value);
}

function varints(b: ByteWriter, tag: number, values: number[]): void {
  b.u8(tag);
  b.varint(values.length);
  for (const v of values) b.varint(v);
}

/** Encodes extras from values (migration and tests); '' when all are defaults. */
export function encodeExtras(x: SpanExtras): Buffer {
  const w = new ExtrasWriter();
  const ts = Buffer.from(x.traceState, 'utf8');
  w.setTraceState(ts, 0, ts.length);
  w.setDropped(x.droppedAttributes, x.droppedEvents, x.droppedLinks);
  for (const d of x.eventDropped) w.addEvent(d);
  for (let i = 0; i < x.linkDropped.length; i++) {
    const s = Buffer.from(x.linkTraceState[i] ?? '', 'utf8');
    w.addLink(s, 0, s.length, x.linkDropped[i], x.linkFlags[i] ?? 0);
  }
  const out = new ByteWriter(64);
  w.writeTo(out);
  // Drop the length prefix: callers get the value itself.
  const full = out.view();
  let pos = 0;
  while (full[pos] & 0x80) pos++;
  return Buffer.from(full.subarray(pos + 1));
}

/** Decodes an extras value for a span with `events` events and `links` links. */
export function decodeExtras(buf: Buffer, events: number, links: number): SpanExtras {
  const x: SpanExtras = {
    traceState: '',
    droppedAttributes: 0,
    droppedEvents: 0,
    droppedLinks: 0,
    eventDropped: new Array<number>(events).fill(0),
    linkTraceState: new Array<string>(links).fill(''),
    linkDropped: new Array<number>(links).fill(0),
    linkFlags: new Array<number>(links).fill(0),
  };
  let pos = 0;
  const varint = (): number => {
    let value = 0;
    let mul = 1;
    for (;;) {
      const b = buf[pos++];
      if (b === undefined) throw new Error('extras: truncated varint');
      value += (b & 0x7f) * mul;
      if (b < 0x80) return value;
      mul *= 0x80;
    }
  };
  const string = (): string => {
    const n = varint();
    const s = buf.toString('utf8', pos, pos + n);
    pos += n;
    return s;
  };
  const list = <T>(read: () => T): T[] => {
    const n = varint();
    const out = new Array<T>(n);
    for (let i = 0; i < n; i++) out[i] = read();
    return out;
  };
  while (pos < buf.length) {
    const tag = buf[pos++];
    switch (tag) {
      case TRACE_STATE:
        x.traceState = string();
        break;
      case DROPPED_ATTRIBUTES:
        x.droppedAttributes = varint();
        break;
      case DROPPED_EVENTS:
        x.droppedEvents = varint();
        break;
      case DROPPED_LINKS:
        x.droppedLinks = varint();
        break;
      case EVENT_DROPPED:
        x.eventDropped = list(varint);
        break;
      case LINK_TRACE_STATE:
        x.linkTraceState = list(string);
        break;
      case LINK_DROPPED:
        x.linkDropped = list(varint);
        break;
      case LINK_FLAGS:
        x.linkFlags = list(varint);
        break;
      default:
        throw new Error(`extras: unknown field ${tag}`);
    }
  }
  return x;
}
