import type { Attribute } from './otlp.js';
import { attributeRef, quoteString } from './traceql-tokens.js';
import { resolveRange, type TimeRange } from './time-range.js';
import type { TraceModel } from './trace.js';

/**
 * The trace page's smaller rules, apart from rendering: how much of a long
 * value to show, the TraceQL condition a value stands for, the time range
 * links out of a trace carry, and the bounds of the resizable name column.
 */

/** Values longer than this are shown cut, with "show more". */
export const VALUE_PREVIEW_CHARS = 300;

/** The part of a value shown before "show more", cut on a character (not inside a surrogate pair); `hidden` counts what is left out. */
export function clipValue(text: string, limit = VALUE_PREVIEW_CHARS): { shown: string; hidden: number } {
  if (text.length <= limit) return { shown: text, hidden: 0 };
  let cut = limit;
  const code = text.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut--;
  return { shown: text.slice(0, cut), hidden: text.length - cut };
}

/**
 * A query longer than this would not fit a request line (Node refuses
 * headers over 16 KiB, and a URL-encoded value can triple in size), so a
 * longer string value is matched by its start instead.
 */
export const MAX_EXACT_VALUE_CHARS = 1_000;
/** How much of a long value the prefix match uses. */
export const PREFIX_MATCH_CHARS = 200;

/** Escapes RE2's metacharacters, so the text matches itself. */
export function regexEscape(text: string): string {
  return text.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
}

/**
 * The TraceQL condition "this attribute has this value", or undefined for
 * values TraceQL cannot compare (arrays, maps, bytes, empty values, NaN).
 * Strings are quoted and escaped; numbers and booleans are bare. A string
 * longer than {@link MAX_EXACT_VALUE_CHARS} becomes a regular expression on
 * its first {@link PREFIX_MATCH_CHARS} characters (`prefix` is then true);
 * TraceQL anchors regular expressions at both ends, hence the `.*`.
 */
export function valueCondition(scope: 'span' | 'resource', a: Pick<Attribute, 'key' | 'type' | 'text'>): { condition: string; prefix: boolean } | undefined {
  const field = attributeRef(scope, a.key);
  switch (a.type) {
    case 'string': {
      if (a.text.length <= MAX_EXACT_VALUE_CHARS) return { condition: `${field} = ${quoteString(a.text)}`, prefix: false };
      const { shown } = clipValue(a.text, PREFIX_MATCH_CHARS);
      return { condition: `${field} =~ ${quoteString(`${regexEscape(shown)}.*`)}`, prefix: true };
    }
    case 'int':
      return /^-?\d+$/.test(a.text) ? { condition: `${field} = ${a.text}`, prefix: false } : undefined;
    case 'double':
      return Number.isFinite(Number(a.text)) && a.text.trim() !== '' ? { condition: `${field} = ${a.text}`, prefix: false } : undefined;
    case 'bool':
      return a.text === 'true' || a.text === 'false' ? { condition: `${field} = ${a.text}`, prefix: false } : undefined;
    default:
      return undefined;
  }
}

/** Padding around a trace when links out of it need a range of their own, s. */
const AROUND_TRACE_S = 15 * 60;

/**
 * The time range links out of a trace carry: the range the trace was
 * opened from, when that covers the trace; otherwise (opened by id, or
 * from a range it is not in) a window around the trace, so a search for
 * one of its values finds it, and its service's page shows its time.
 */
export function rangeForTrace<R extends TimeRange>(model: Pick<TraceModel, 'startNs' | 'durationNs'>, from: R | undefined, nowMs: number): R | { start: number; end: number } {
  const startS = Number(model.startNs / 1_000_000_000n);
  const endS = Math.ceil((Number(model.startNs / 1_000_000n) + model.durationNs / 1e6) / 1000);
  if (from) {
    const r = resolveRange(from, nowMs);
    if (r.start <= startS && r.end >= endS) return from;
  }
  return { start: startS - AROUND_TRACE_S, end: endS + AROUND_TRACE_S };
}

/** The name column's narrowest and default widths, px. */
export const NAME_COLUMN_MIN = 160;
const NAME_COLUMN_DEFAULT_SHARE = 0.4;
const NAME_COLUMN_DEFAULT_MAX = 520;
/** The timeline keeps at least this much of the waterfall, px. */
export const TIMELINE_MIN = 240;

/**
 * The name column's width in a waterfall `total` px wide: the width asked
 * for (dragged, typed, or saved), kept between {@link NAME_COLUMN_MIN} and
 * what leaves the timeline {@link TIMELINE_MIN}; with none asked for, 40%
 * of the waterfall, at most 520 px.
 */
export function nameColumnWidth(asked: number | undefined, total: number): number {
  const max = Math.max(NAME_COLUMN_MIN, total - TIMELINE_MIN);
  const want = asked !== undefined && !Number.isNaN(asked) ? asked : Math.min(NAME_COLUMN_DEFAULT_MAX, total * NAME_COLUMN_DEFAULT_SHARE);
  return Math.round(Math.min(max, Math.max(NAME_COLUMN_MIN, want)));
}

/** The width a key moves the column to: arrows step 16 px (64 with Shift), Home and End go to the bounds. */
export function nameColumnKey(key: string, shift: boolean, width: number, total: number): number | undefined {
  const step = shift ? 64 : 16;
  switch (key) {
    case 'ArrowLeft':
      return nameColumnWidth(width - step, total);
    case 'ArrowRight':
      return nameColumnWidth(width + step, total);
    case 'Home':
      return nameColumnWidth(NAME_COLUMN_MIN, total);
    case 'End':
      return nameColumnWidth(Infinity, total);
    default:
      return undefined;
  }
}
