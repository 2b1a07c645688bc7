import { Re2 } from '../re2/index.js';
import { CardFinder, digitBounded, hasRunTriple, RegexFinder, type RangeFinder } from './finders.js';

/**
 * The built-in `preset: healthcare`: masks for the identifiers HIPAA's Safe
 * Harbor list names that have a recognisable shape. Each part is a mask
 * rule of its own, with its own counter and label. Names, addresses and
 * free-text diagnoses have no shape and are not found (docs/redaction.md).
 */
export const HEALTHCARE_PARTS = ['mrn', 'email', 'card', 'ssn', 'phone', 'dateOfBirth'] as const;
export type HealthcarePart = (typeof HEALTHCARE_PARTS)[number];

export interface PresetMask {
  part: HealthcarePart;
  finder: RangeFinder;
  replacement: string;
}

const MONTH = '(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-zA-Z]{0,6}\\.?';
const DAY = '(?:3[01]|[12][0-9]|0?[1-9])';
const MONTH_NUM = '(?:1[0-2]|0?[1-9])';
const YEAR4 = '(?:19|20)[0-9]{2}';
const ORDINAL = '(?:st|nd|rd|th)?';

/** The patterns, in RE2 syntax; exported for the docs' tests and docs/redaction.md. */
export const HEALTHCARE_PATTERNS = {
  email: "[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,}",
  /** 123-45-6789 or 123 45 6789; unseparated nine-digit runs are too common to mask. */
  ssn: '[0-9]{3}[- ][0-9]{2}[- ][0-9]{4}',
  /**
   * North American numbers with separators ((555) 123-4567, 555-123-4567,
   * 555.123.4567, +1 555 123 4567), and international numbers written with
   * a leading + (at least 8 digits, checked after matching).
   */
  phone:
    '(?:\\+?1[-. ]?)?(?:\\([2-9][0-9]{2}\\) ?|[2-9][0-9]{2}[-. ])[0-9]{3}[-. ][0-9]{4}' +
    '|\\+[1-9][0-9]{0,3}(?:[-. ]?\\(?[0-9]{1,4}\\)?){2,6}',
  /**
   * Calendar dates: 1980-01-31, 1980/01/31, 01/31/1980, 31.01.1980,
   * 01-31-80, 01/31/80, Jan 31, 1980, January 31st 1980, 31 Jan 1980. Any
   * date, not only a birth date: a value cannot say which it is.
   */
  dateOfBirth: [
    `${YEAR4}[-/.]${MONTH_NUM}[-/.]${DAY}`,
    `${DAY}[-/.]${DAY}[-/.]${YEAR4}`,
    `${DAY}[-/]${DAY}[-/][0-9]{2}`,
    `${MONTH} ${DAY}${ORDINAL},? ${YEAR4}`,
    `${DAY}${ORDINAL} ${MONTH},? ${YEAR4}`,
  ].join('|'),
} as const;

/**
 * An international number has at least 8 digits, which the pattern alone
 * cannot count. No upper bound: a longer run is masked too rather than let
 * through whole.
 */
function phoneAccepted(text: string, start: number, end: number): boolean {
  if (!digitBounded(text, start, end)) return false;
  if (text.charCodeAt(start) !== 0x2b /* + */) return true;
  let digits = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) digits++;
  }
  return digits >= 8;
}

const one = (chars: string) => ({ max: 1, chars });

/** 123-45-6789: runs of 3, 2 and 4 digits, split by one dash or space. */
const ssnShape = (text: string, runs: number[]) => hasRunTriple(text, runs, [[3, 3], [2, 2], [4, 4]], [one('- '), one('- ')]);

/**
 * A + before a digit (international), or runs of 3 (4 when a 1 is glued
 * on: 1555-123-4567), 3 and 4 digits, the first two split by up to two of
 * `) -.` and the last two by one of ` -.`.
 */
function phoneShape(text: string, runs: number[]): boolean {
  for (let i = text.indexOf('+'); i >= 0; i = text.indexOf('+', i + 1)) {
    const c = text.charCodeAt(i + 1);
    if (c >= 0x30 && c <= 0x39) return true;
  }
  return hasRunTriple(text, runs, [[3, 4], [3, 3], [4, 4]], [{ max: 2, chars: ') -.' }, one(' -.')]);
}

/**
 * Numeric dates are runs of (4, 1-2, 1-2), (1-2, 1-2, 4) or (1-2, 1-2, 2)
 * digits split by single `-/.`; written-out dates end in a year, a run of
 * exactly four digits starting 19 or 20.
 */
function dateShape(text: string, runs: number[]): boolean {
  const sep = [one('-/.'), one('-/.')];
  if (hasRunTriple(text, runs, [[4, 4], [1, 2], [1, 2]], sep) || hasRunTriple(text, runs, [[1, 2], [1, 2], [2, 4]], sep)) return true;
  for (let i = 0; i < runs.length; i += 2) {
    if (runs[i + 1] - runs[i] !== 4) continue;
    const century = text.slice(runs[i], runs[i] + 2);
    if (century === '19' || century === '20') return true;
  }
  return false;
}

/**
 * The preset's masks in the order they run: configured MRN patterns first
 * (most specific), then email (its local part may hold digits), cards
 * (checksummed), SSNs, phone numbers, dates.
 */
export function healthcareMasks(mrnPatterns: readonly string[], except: readonly HealthcarePart[]): PresetMask[] {
  const label = (part: HealthcarePart) => `[REDACTED:${part === 'dateOfBirth' ? 'dob' : part}]`;
  const masks: PresetMask[] = [];
  const add = (part: HealthcarePart, finder: RangeFinder) => {
    if (!except.includes(part)) masks.push({ part, finder, replacement: label(part) });
  };
  // One pattern for all MRN shapes: one pass over each value, not one per shape.
  if (mrnPatterns.length > 0) add('mrn', new RegexFinder(new Re2(mrnPatterns.map((p) => `(?:${p})`).join('|'))));
  // Each part's fewest digits: an SSN has 9, a phone number 8 (international) or 10, a date 4 (1/1/80).
  add('email', new RegexFinder(new Re2(HEALTHCARE_PATTERNS.email), { minDigits: 0, needsAt: true }));
  add('card', new CardFinder());
  add('ssn', new RegexFinder(new Re2(HEALTHCARE_PATTERNS.ssn), { minDigits: 9, needsAt: false }, digitBounded, ssnShape));
  add('phone', new RegexFinder(new Re2(HEALTHCARE_PATTERNS.phone), { minDigits: 8, needsAt: false }, phoneAccepted, phoneShape));
  add('dateOfBirth', new RegexFinder(new Re2(HEALTHCARE_PATTERNS.dateOfBirth), { minDigits: 4, needsAt: false }, digitBounded, dateShape));
  return masks;
}
