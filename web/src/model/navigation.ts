import type { TraceModel } from './trace.js';

/**
 * Keyboard navigation in the waterfall, as a pure step: the selection and
 * the collapsed set before a key, and after it. Mirrors a tree view:
 * up/down move between visible rows, right expands (or enters the first
 * child), left collapses (or goes to the parent), Home/End jump.
 */
export interface NavState {
  selected: number;
  collapsed: ReadonlySet<number>;
}

export type NavKey = 'ArrowUp' | 'ArrowDown' | 'ArrowLeft' | 'ArrowRight' | 'Home' | 'End' | 'PageUp' | 'PageDown';

export function navigate(model: TraceModel, rows: Int32Array, state: NavState, key: NavKey, pageRows = 20): NavState {
  if (rows.length === 0) return state;
  const pos = rowPosition(rows, state.selected);
  const at = (p: number): NavState => ({ selected: rows[Math.max(0, Math.min(rows.length - 1, p))], collapsed: state.collapsed });
  if (pos < 0) return at(0);
  const span = model.spans[state.selected];
  switch (key) {
    case 'ArrowUp':
      return at(pos - 1);
    case 'ArrowDown':
      return at(pos + 1);
    case 'PageUp':
      return at(pos - pageRows);
    case 'PageDown':
      return at(pos + pageRows);
    case 'Home':
      return at(0);
    case 'End':
      return at(rows.length - 1);
    case 'ArrowRight':
      if (span.childCount === 0) return state;
      if (state.collapsed.has(span.index)) {
        const next = new Set(state.collapsed);
        next.delete(span.index);
        return { selected: span.index, collapsed: next };
      }
      return { selected: span.index + 1, collapsed: state.collapsed };
    case 'ArrowLeft':
      if (span.childCount > 0 && !state.collapsed.has(span.index)) {
        const next = new Set(state.collapsed);
        next.add(span.index);
        return { selected: span.index, collapsed: next };
      }
      return span.parent >= 0 ? { selected: span.parent, collapsed: state.collapsed } : state;
  }
}

/** Where a span is among the visible rows, -1 if hidden. Rows are in depth-first order, so binary search works. */
export function rowPosition(rows: Int32Array, span: number): number {
  let lo = 0;
  let hi = rows.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (rows[mid] === span) return mid;
    if (rows[mid] < span) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/**
 * The rows to render for a scroll position: only these are in the DOM.
 * `overscan` rows above and below keep fast scrolling from showing blanks.
 */
export function windowRows(scrollTop: number, viewportHeight: number, rowHeight: number, rowCount: number, overscan = 8): { first: number; last: number } {
  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
  const last = Math.min(rowCount, Math.ceil((scrollTop + viewportHeight) / rowHeight) + overscan);
  return { first, last: Math.max(first, last) };
}

/** The scrollTop that brings a row into view, or undefined if it already is. */
export function scrollToRow(position: number, scrollTop: number, viewportHeight: number, rowHeight: number): number | undefined {
  const top = position * rowHeight;
  if (top < scrollTop) return top;
  if (top + rowHeight > scrollTop + viewportHeight) return top + rowHeight - viewportHeight;
  return undefined;
}
