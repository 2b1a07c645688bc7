/**
 * Replaces the literals of a SQL statement with `?`, keeping its shape:
 * `SELECT * FROM p WHERE ssn = '123-45-6789' AND age > 40` becomes
 * `SELECT * FROM p WHERE ssn = ? AND age > ?`. Statements that differ only
 * in their values then read (and group) the same, and the values stay out.
 *
 * One left-to-right pass over the text, with no regular expression and no
 * backtracking: each character is looked at a bounded number of times.
 * Where the text is ambiguous it errs towards removing more:
 * - single-quoted strings take both SQL's doubled quote and a backslash
 *   escape (MySQL), so `'it\'s'` never ends early and leaks its tail;
 * - an unterminated string or comment runs to the end of the text;
 * - comments are removed (free text, possibly a patient's name);
 * - double-quoted text is an identifier in standard SQL and PostgreSQL but
 *   a string in MySQL: it is kept only where it reads as a name (next to a
 *   `.`, after FROM, JOIN, INTO, UPDATE, TABLE or AS), else replaced.
 * Parameters (`?`, `$1`, `:name`, `@p`) and keywords (NULL, TRUE) stay.
 */
export function normalizeSql(text: string): string {
  const n = text.length;
  /**
   * The result as UTF-16 code units, made at the first replacement (it is
   * never longer than the input). One buffer instead of a string per
   * piece: a statement of a million literals makes no million strings.
   */
  let out = null as Uint16Array | null;
  let o = 0;
  /** Start of the text not yet copied to `out`. */
  let copied = 0;
  /** Where the last word outside literals lies, for the double-quote rule. */
  let wordStart = -1;
  let wordEnd = -1;
  let i = 0;

  const replace = (start: number, end: number, by: number) => {
    out ??= new Uint16Array(n);
    for (let j = copied; j < start; j++) out[o++] = text.charCodeAt(j);
    out[o++] = by;
    copied = end;
  };

  while (i < n) {
    const c = text.charCodeAt(i);

    // Comments: -- and # to the end of the line, /* */ nested as PostgreSQL does.
    if ((c === DASH && text.charCodeAt(i + 1) === DASH) || c === HASH) {
      let e = i + (c === HASH ? 1 : 2);
      while (e < n && text.charCodeAt(e) !== NL) e++;
      replace(i, e, SPACE);
      i = e;
      continue;
    }
    if (c === SLASH && text.charCodeAt(i + 1) === STAR) {
      let depth = 1;
      let e = i + 2;
      while (e < n && depth > 0) {
        const d = text.charCodeAt(e);
        if (d === SLASH && text.charCodeAt(e + 1) === STAR) {
          depth++;
          e += 2;
        } else if (d === STAR && text.charCodeAt(e + 1) === SLASH) {
          depth--;
          e += 2;
        } else e++;
      }
      replace(i, e, SPACE);
      i = e;
      continue;
    }

    if (c === QUOTE) {
      const e = quotedEnd(text, i, QUOTE, true);
      replace(i, e, QMARK);
      i = e;
      continue;
    }

    if (c === DQUOTE) {
      const e = quotedEnd(text, i, DQUOTE, false);
      const prev = previousSignificant(text, i);
      const afterNameWord = prev === wordEnd - 1 && wordEnd - wordStart <= 6 && NAME_BEFORE.has(text.slice(wordStart, wordEnd).toUpperCase());
      const isName = afterNameWord || (prev >= 0 && text.charCodeAt(prev) === DOT) || text.charCodeAt(e) === DOT;
      if (!isName) replace(i, e, QMARK);
      i = e;
      continue;
    }

    if (c === BACKTICK) {
      // MySQL identifiers: kept.
      i = quotedEnd(text, i, BACKTICK, false);
      continue;
    }

    if (c === DOLLAR) {
      const d = text.charCodeAt(i + 1);
      if (isDigit(d)) {
        // $1: a positional parameter.
        i += 2;
        while (i < n && isDigit(text.charCodeAt(i))) i++;
        continue;
      }
      // $$...$$ or $tag$...$tag$: a PostgreSQL dollar-quoted string.
      let t = i + 1;
      while (t < n && isTagChar(text.charCodeAt(t))) t++;
      if (t < n && text.charCodeAt(t) === DOLLAR) {
        const tag = text.slice(i, t + 1);
        const close = text.indexOf(tag, t + 1);
        const e = close < 0 ? n : close + tag.length;
        replace(i, e, QMARK);
        i = e;
        continue;
      }
      i++;
      continue;
    }

    if (isDigit(c) || (c === DOT && isDigit(text.charCodeAt(i + 1)))) {
      const e = numberEnd(text, i);
      replace(i, e, QMARK);
      i = e;
      continue;
    }

    if (isWordStart(c)) {
      let e = i + 1;
      while (e < n && isWordChar(text.charCodeAt(e))) e++;
      // E'...', N'...', X'...', B'...' and U&'...': the prefix belongs to the literal.
      const len = e - i;
      const next = text.charCodeAt(e);
      if (len === 1 && next === QUOTE && STRING_PREFIXES.has(c | 0x20)) {
        const end = quotedEnd(text, e, QUOTE, true);
        replace(i, end, QMARK);
        i = end;
        continue;
      }
      if (len === 1 && (c | 0x20) === 0x75 /* u */ && next === AMP && text.charCodeAt(e + 1) === QUOTE) {
        const end = quotedEnd(text, e + 1, QUOTE, true);
        replace(i, end, QMARK);
        i = end;
        continue;
      }
      wordStart = i;
      wordEnd = e;
      i = e;
      continue;
    }

    i++;
  }
  if (!out) return text;
  for (let j = copied; j < n; j++) out[o++] = text.charCodeAt(j);
  return Buffer.from(out.buffer, 0, o * 2).toString('utf16le');
}

const NL = 0x0a;
const SPACE = 0x20;
const QMARK = 0x3f;
const HASH = 0x23;
const DOLLAR = 0x24;
const AMP = 0x26;
const QUOTE = 0x27;
const DQUOTE = 0x22;
const STAR = 0x2a;
const DASH = 0x2d;
const DOT = 0x2e;
const SLASH = 0x2f;
const BACKSLASH = 0x5c;
const BACKTICK = 0x60;

/** Words after which a double-quoted token is a table or column name. */
const NAME_BEFORE = new Set(['FROM', 'JOIN', 'INTO', 'UPDATE', 'TABLE', 'AS']);
/** Lower-cased letters that may prefix a string literal: e, n, x, b. */
const STRING_PREFIXES = new Set([0x65, 0x6e, 0x78, 0x62]);

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
/** Letters, `_`, and anything outside ASCII (identifiers in other scripts). */
const isWordStart = (c: number) => (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f || c >= 0x80;
const isWordChar = (c: number) => isWordStart(c) || isDigit(c) || c === DOLLAR;
/** Characters of a dollar-quote tag: a word without `$`. */
const isTagChar = (c: number) => isWordStart(c) || isDigit(c);

/**
 * Where the quoted token starting at `start` ends (past its closing quote,
 * or the end of the text). A doubled quote is an escaped quote; so is a
 * backslash before anything when `backslash` is set.
 */
function quotedEnd(text: string, start: number, quote: number, backslash: boolean): number {
  const n = text.length;
  let i = start + 1;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (backslash && c === BACKSLASH) {
      i += 2;
      continue;
    }
    if (c === quote) {
      if (text.charCodeAt(i + 1) === quote) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
  return n;
}

/** A number literal: digits, a fraction, an exponent, or 0x hex. */
function numberEnd(text: string, start: number): number {
  const n = text.length;
  let i = start;
  if (text.charCodeAt(i) === 0x30 && (text.charCodeAt(i + 1) | 0x20) === 0x78 /* x */) {
    i += 2;
    while (i < n && isHex(text.charCodeAt(i))) i++;
    return i;
  }
  while (i < n && isDigit(text.charCodeAt(i))) i++;
  if (text.charCodeAt(i) === DOT) {
    i++;
    while (i < n && isDigit(text.charCodeAt(i))) i++;
  }
  if ((text.charCodeAt(i) | 0x20) === 0x65 /* e */) {
    let j = i + 1;
    const sign = text.charCodeAt(j);
    if (sign === 0x2b || sign === DASH) j++;
    if (isDigit(text.charCodeAt(j))) {
      i = j;
      while (i < n && isDigit(text.charCodeAt(i))) i++;
    }
  }
  // Digits glued to letters (`123abc`) are one token: none of it stays.
  while (i < n && isWordChar(text.charCodeAt(i))) i++;
  return i;
}

const isHex = (c: number) => isDigit(c) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66);

/**
 * Where the last non-space character before `i` is, or -1. Each run of
 * spaces is walked by the one quote that follows it, so the whole pass
 * stays linear.
 */
function previousSignificant(text: string, i: number): number {
  for (let j = i - 1; j >= 0; j--) {
    const c = text.charCodeAt(j);
    if (c !== 0x20 && c !== 0x09 && c !== NL && c !== 0x0d) return j;
  }
  return -1;
}
