export { RedactionPolicy, type RedactionStats, type RuleSetStats } from './policy.js';
export type { SpanRedactor } from './columns.js';
export { compileRedaction, RedactionConfigError, NO_REDACTION, MIN_HASH_KEY_BYTES, type RedactionRules } from './compile.js';
export { DEFAULT_MASK_REPLACEMENT, DEFAULT_SQL_KEYS, type RedactionSettings, type RuleSetSettings, type MaskSettings, type Located } from './settings.js';
export { HEALTHCARE_PARTS, type HealthcarePart } from './preset.js';
export { re2Problem } from './re2.js';
export { globProblem } from './glob.js';
