import { RE2JS } from 're2js';

/**
 * Regular expressions with RE2 semantics (re2js): matching time is linear
 * in the input whatever the pattern, so a rule from the config file cannot
 * stall ingest on a crafted value. JavaScript's own RegExp backtracks and
 * is never used on span data here.
 */
export class Re2 {
  private readonly re: RE2JS;

  /**
   * Matches are leftmost-first, as in RE2 and Go: of the alternatives that
   * match at the leftmost place, the first listed wins, so list longer
   * ones first (`3[01]|[12][0-9]|0?[1-9]` for a day). Leftmost-longest
   * matching measured several times slower in re2js.
   * @throws Error with RE2's reason when the pattern is not valid RE2 syntax.
   */
  constructor(readonly source: string) {
    this.re = RE2JS.compile(source);
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
}

/** Why `pattern` cannot be a mask pattern, or ''. */
export function re2Problem(pattern: string): string {
  if (pattern === '') return 'an empty pattern matches nothing to mask';
  let re: Re2;
  try {
    re = new Re2(pattern);
  } catch (e) {
    return `not a valid RE2 pattern: ${(e as Error).message}`;
  }
  // A pattern that matches the empty string (a*, x?) has nothing to replace
  // where it matches so, and is almost always a mistake.
  if (re.test('')) return 'the pattern matches the empty string; a mask must match at least one character';
  return '';
}
