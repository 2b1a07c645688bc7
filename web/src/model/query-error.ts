/**
 * An error from /api/search as the editor shows it. Sightline answers a bad
 * query with 400 (or 501 for a valid construct it does not answer) and a
 * plain-text message that names the place: `... at line 1, col 8: ...`
 * (src/query/traceql/errors.ts). Columns count UTF-16 units from 1, as the
 * textarea does.
 */
export interface QueryError {
  status: number;
  /** The server's text, trimmed. */
  message: string;
  /** What went wrong, without the position and prefix. */
  detail: string;
  kind: 'syntax' | 'invalid' | 'unsupported' | 'other';
  line?: number;
  column?: number;
  /** Offset into the query text, when the position is known and inside it (or just past its end). */
  offset?: number;
}

const POSITION = /\s*at line (\d+), col (\d+)(?::\s*|$)/;

export function parseQueryError(status: number, body: string, query: string): QueryError {
  const message = body.trim();
  const kind: QueryError['kind'] =
    status === 501 ? 'unsupported' : /parse error/.test(message) ? 'syntax' : status === 400 && /TraceQL/.test(message) ? 'invalid' : 'other';
  const m = POSITION.exec(message);
  if (!m) return { status, message, detail: message, kind };
  const line = Number(m[1]);
  const column = Number(m[2]);
  const detail = (message.slice(0, m.index) + (m[0].endsWith(':') || /:\s*$/.test(m[0]) ? ': ' : '') + message.slice(m.index + m[0].length))
    .replace(/^invalid TraceQL query:\s*/, '')
    .replace(/^parse error:\s*/, '')
    .replace(/^TraceQL construct not supported:\s*/, 'not supported yet: ')
    .replace(/:\s*$/, '')
    .trim();
  return { status, message, detail, kind, line, column, offset: offsetOf(query, line, column) };
}

/** The text offset of a 1-based line and column, or undefined if outside the text. */
export function offsetOf(text: string, line: number, column: number): number | undefined {
  let offset = 0;
  for (let l = 1; l < line; l++) {
    const nl = text.indexOf('\n', offset);
    if (nl < 0) return undefined;
    offset = nl + 1;
  }
  const lineEnd = text.indexOf('\n', offset);
  const length = (lineEnd < 0 ? text.length : lineEnd) - offset;
  if (column < 1 || column > length + 1) return undefined;
  return offset + column - 1;
}
