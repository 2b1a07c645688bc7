import { RE2JS } from 're2js';

export interface Re2Options {
  /**
   * `.` matches `\n` too, as in RE2's `(?s)`. TraceQL sets it: Tempo
   * matches as Prometheus does (`^(?s:re)$`), and ClickHouse's match()
   * compiles with RE2's dot_nl.
   */
  dotAll?: boolean;
}

/**
 * Regular expressions with RE2 semantics (re2js, a port of Go's regexp):
 * matching time is linear in the input whatever the pattern, so neither a
 * rule from the config file nor a pattern in a query can stall a process
 * on a crafted value. JavaScript's own RegExp backtracks and is never used
 * on span data or on patterns users write.
 */
export class Re2 {
  private readonly re: RE2JS;

  /**
   * Matches are leftmost-first, as in RE2 and Go: of the alternatives that
   * match at the leftmost place, the first listed wins, so list longer
   * ones first (`3[01]|[12][0-9]|0?[1-9]` for a day). Leftmost-longest
   * matching measured several times slower in re2js.
   * @throws Error with RE2's reason (Go's wording, as in "error parsing
   * regexp: invalid or unsupported Perl syntax: `(?=`") when the pattern is
   * not valid RE2 syntax: lookarounds, backreferences, repeat counts over
   * 1000, nesting deeper than 1000.
   */
  constructor(
    readonly source: string,
    options: Re2Options = {},
  ) {
    this.re = RE2JS.compile(source, options.dotAll ? RE2JS.DOTALL : 0);
  }

  /**
   * Appends [start, end) of each leftmost, non-overlapping, non-empty
   * match in `text` to `out`, as UTF-16 offsets.
   */
  findAll(text: string, out: number[]): void {
    const m = this.re.matcher(text);
    while (m.find()) {
      const start = m.start();
      const end = m.end();
      if (end > start) out.push(start, end);
    }
  }

  /** Whether the pattern matches somewhere in `text`. */
  test(text: string): boolean {
    return this.re.matcher(text).find();
  }

  /**
   * Whether the pattern matches all of `text`, as `^(?:re)$` would (`$`
   * being the very end, as RE2's `\z`). The anchoring is the engine's, not
   * text around the pattern, so no pattern can escape it.
   */
  matchesWhole(text: string): boolean {
    return this.re.testExact(text);
  }
}
