import { Re2 } from '../re2/index.js';

/** Finds what a mask rule replaces in a value. */
export interface RangeFinder {
  /** Appends [start, end) of each range to mask in `text`: left to right, not overlapping. */
  find(text: string, out: number[]): void;
  /**
   * Cheap necessary conditions: values with fewer digits, or without an
   * `@`, are skipped without running the finder. Most values hold few
   * digits and no `@`, and a counted character costs far less than a pass
   * of a pattern.
   */
  readonly prefilter: Prefilter;
}

export interface Prefilter {
  minDigits: number;
  needsAt: boolean;
}

export const NO_PREFILTER: Prefilter = { minDigits: 0, needsAt: false };

/** A pattern, with an optional check of each match against its surroundings. */
export class RegexFinder implements RangeFinder {
  private readonly found: number[] = [];

  constructor(
    private readonly re: Re2,
    readonly prefilter: Prefilter = NO_PREFILTER,
    private readonly accept?: (text: string, start: number, end: number) => boolean,
    /**
     * A necessary condition on the value's digit runs (see digitRuns):
     * checked first, because re2js takes microseconds per pattern on a
     * URL-sized value and a JS scan of the runs takes nanoseconds.
     */
    private readonly shape?: (text: string, runs: number[]) => boolean,
  ) {}

  find(text: string, out: number[]): void {
    if (this.shape && !this.shape(text, digitRuns(text))) return;
    if (!this.accept) {
      this.re.findAll(text, out);
      return;
    }
    const f = this.found;
    f.length = 0;
    this.re.findAll(text, f);
    for (let i = 0; i < f.length; i += 2) if (this.accept(text, f[i], f[i + 1])) out.push(f[i], f[i + 1]);
  }
}

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;

const runs: number[] = [];

/**
 * [start, end) of each maximal run of ASCII digits in `text`. The array
 * is reused by the next call.
 */
export function digitRuns(text: string): number[] {
  runs.length = 0;
  const n = text.length;
  let i = 0;
  while (i < n) {
    if (!isDigit(text.charCodeAt(i))) {
      i++;
      continue;
    }
    const start = i;
    while (i < n && isDigit(text.charCodeAt(i))) i++;
    runs.push(start, i);
  }
  return runs;
}

/**
 * Whether three consecutive digit runs have lengths in the given ranges
 * and the text between them is short and made of the given characters.
 * The preset's numeric patterns (with their digit-boundary check) can only
 * match such runs, so a value without them is skipped.
 */
export function hasRunTriple(
  text: string,
  runs: number[],
  lengths: readonly [number, number][],
  gaps: readonly { max: number; chars: string }[],
): boolean {
  for (let i = 0; i + 6 <= runs.length; i += 2) {
    let ok = true;
    for (let k = 0; k < 3 && ok; k++) {
      const len = runs[i + 2 * k + 1] - runs[i + 2 * k];
      ok = len >= lengths[k][0] && len <= lengths[k][1];
    }
    for (let k = 0; k < 2 && ok; k++) {
      const from = runs[i + 2 * k + 1];
      const to = runs[i + 2 * k + 2];
      ok = to - from >= 1 && to - from <= gaps[k].max;
      for (let j = from; j < to && ok; j++) ok = gaps[k].chars.includes(text[j]);
    }
    if (ok) return true;
  }
  return false;
}

/**
 * The match is not part of a longer run of digits: `123-45-6789` inside
 * `9123-45-67890` is not an SSN. RE2 has no lookbehind, so this is checked
 * on each match instead.
 */
export function digitBounded(text: string, start: number, end: number): boolean {
  return !(start > 0 && isDigit(text.charCodeAt(start - 1))) && !(end < text.length && isDigit(text.charCodeAt(end)));
}

/** Luhn's checksum over the digits of text[start, end), skipping separators. */
export function luhnValid(text: string, start: number, end: number): boolean {
  let sum = 0;
  let double = false;
  for (let i = end - 1; i >= start; i--) {
    const c = text.charCodeAt(i);
    if (!isDigit(c)) continue;
    let d = c - 0x30;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/**
 * Payment card numbers: 13 to 19 digits, optionally in groups split by one
 * space or dash, whose Luhn checksum holds. A hand-written scan rather than
 * a pattern because the checksum decides, and a run can be longer than the
 * card in it (`4111 1111 1111 1111 2030`, a card and an expiry): each run
 * of digit groups is tried from each group start at each group end that
 * gives 13 to 19 digits, longest first, so the card inside is still found.
 * At most 7 lengths per group start: linear in the text.
 */
export class CardFinder implements RangeFinder {
  readonly prefilter: Prefilter = { minDigits: 13, needsAt: false };
  /** Start and end offsets of each digit group of the current run. */
  private readonly groups: number[] = [];

  find(text: string, out: number[]): void {
    const n = text.length;
    let i = 0;
    while (i < n) {
      if (!isDigit(text.charCodeAt(i))) {
        i++;
        continue;
      }
      // One run: digit groups joined by single separators.
      const g = this.groups;
      g.length = 0;
      let digits = 0;
      let at = i;
      for (;;) {
        const start = at;
        while (at < n && isDigit(text.charCodeAt(at))) at++;
        g.push(start, at);
        digits += at - start;
        const sep = text.charCodeAt(at);
        if ((sep === 0x20 || sep === 0x2d) && isDigit(text.charCodeAt(at + 1))) at++;
        else break;
      }
      if (digits >= 13) this.cardsInRun(text, out);
      i = at;
    }
  }

  private cardsInRun(text: string, out: number[]): void {
    const g = this.groups;
    const groups = g.length / 2;
    let first = 0;
    while (first < groups) {
      let found = -1;
      let digits = 0;
      let bestEnd = -1;
      for (let last = first; last < groups; last++) {
        digits += g[2 * last + 1] - g[2 * last];
        if (digits > 19) break;
        if (digits >= 13 && luhnValid(text, g[2 * first], g[2 * last + 1])) {
          found = last;
          bestEnd = g[2 * last + 1];
        }
      }
      if (found >= 0) {
        out.push(g[2 * first], bestEnd);
        first = found + 1;
      } else first++;
    }
  }
}
