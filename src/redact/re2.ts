import { Re2 } from '../re2/index.js';

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
