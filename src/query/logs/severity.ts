import { SEVERITY_CLASSES, type SeverityClass } from '../../store/index.js';

/** The first SeverityNumber of each level name a query or a severity text may use. */
export const LEVELS: Readonly<Record<string, number>> = { trace: 1, debug: 5, info: 9, warn: 13, warning: 13, error: 17, fatal: 21, critical: 21 };

/**
 * A record's severity class, as the store reads it (`severityLevel` in
 * store/log-request.ts): from the number, or, when that is unspecified,
 * from the level its text names.
 */
export function severityClassOf(severityNumber: number, severityText: string): SeverityClass {
  const n = severityNumber > 0 ? severityNumber : (Object.hasOwn(LEVELS, severityText.toLowerCase()) ? LEVELS[severityText.toLowerCase()] : 0);
  return SEVERITY_CLASSES[Math.min(Math.floor((n + 3) / 4), 6)];
}
