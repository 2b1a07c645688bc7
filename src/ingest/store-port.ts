/**
 * What ingest needs of a store: somewhere to move WAL segments. Ingest owns
 * this port; the store implements it (structurally), and `serve` wires them
 * together, so ingest depends on no store code.
 *
 * The rows of a segment carry their tenant: the receiver stamped it from
 * the request's identity before the rows reached the WAL.
 */

/** How a write ended: stored, or refused; a refusal that is not retryable means the data itself is bad. */
export type WriteOutcome = { ok: true } | { ok: false; retryable: boolean; error: Error };

export interface SegmentStore {
  /**
   * Stores the span rows of one WAL segment (a file of Native blocks).
   * Resolves once they are durable; the caller may then delete the segment.
   * With `replay`, the segment may already be partly or wholly stored: rows
   * already there are not written again. One call at a time.
   */
  writeSpans(file: string, opts: { replay: boolean }): Promise<WriteOutcome>;

  /**
   * Stores (resource, scope) rows. Rows may repeat: the store keeps one per
   * id. Called before the span segments that refer to these rows.
   */
  writeResources(file: string): Promise<WriteOutcome>;

  /**
   * Stores the log record rows of one logs WAL segment, as writeSpans does
   * spans: durable when it resolves; with `replay`, rows already stored
   * (by tenant and log id) are not written again. One call at a time.
   */
  writeLogs(file: string, opts: { replay: boolean }): Promise<WriteOutcome>;
}
