/**
 * Attribute-key globs: `*` stands for any run of characters (dots
 * included), everything else is literal and case-sensitive. So
 * `http.request.header.*` matches every request header and `*.ssn` every
 * key that ends in `.ssn`.
 *
 * Matching splits the glob at its stars once, then finds the pieces in
 * order: the first piece anchors the start, the last the end, and each one
 * between is taken at its leftmost place after the previous. For `*`-only
 * globs leftmost is always right, so there is no backtracking, and the
 * work is one pass of indexOf per piece.
 */
export class Glob {
  /** The literal pieces between stars; a glob without stars has one. */
  private readonly pieces: string[];
  private readonly exact: boolean;

  constructor(readonly source: string) {
    this.pieces = source.split('*');
    this.exact = this.pieces.length === 1;
  }

  matches(key: string): boolean {
    const p = this.pieces;
    if (this.exact) return key === p[0];
    const first = p[0];
    const last = p[p.length - 1];
    if (key.length < first.length + last.length) return false;
    if (!key.startsWith(first) || !key.endsWith(last)) return false;
    let at = first.length;
    const limit = key.length - last.length;
    for (let i = 1; i < p.length - 1; i++) {
      const piece = p[i];
      if (piece === '') continue;
      const found = key.indexOf(piece, at);
      if (found < 0 || found + piece.length > limit) return false;
      at = found + piece.length;
    }
    return true;
  }
}

/** Why `glob` cannot be a key glob, or ''. */
export function globProblem(glob: string): string {
  return glob === '' ? 'an empty glob matches no key' : '';
}
