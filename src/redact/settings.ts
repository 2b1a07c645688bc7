import type { HealthcarePart } from './preset.js';

/**
 * The `redaction:` section of the config file as read, before compiling
 * (config/redaction.ts reads it; compile.ts turns it into rules). Each
 * item keeps `at`, its place in the file (`sightline.yaml:12:9`), so a
 * problem found while compiling still names its line.
 */
export interface RedactionSettings {
  /** At least 32 bytes that key the HMAC of hash rules; relative to the config file's directory. */
  hashKeyFile?: Located<string>;
  /** The rules of every tenant without rules of its own. */
  defaultRules?: RuleSetSettings;
  /** Rules of one tenant; `null` turns redaction off for it. */
  tenants: Map<string, RuleSetSettings | null>;
}

export interface Located<T> {
  value: T;
  at: string;
}

export interface RuleSetSettings {
  at: string;
  /** Adds this set's rules to the default set's instead of replacing them. */
  extendsDefault: boolean;
  preset?: Located<'healthcare'>;
  /** Preset parts left out. */
  presetExcept: HealthcarePart[];
  /** RE2 patterns of medical record numbers (part `mrn` of the preset). */
  mrnPatterns: Located<string>[];
  /** Attribute keys (globs) removed with their values. */
  drop: Located<string>[];
  /** Attribute keys (globs) whose values are replaced by their keyed hash. */
  hash: Located<string>[];
  mask: MaskSettings[];
  /** Normalise SQL in `sqlKeys`; undefined: on, or the default set's choice when extending it. */
  sql?: boolean;
  sqlKeys?: string[];
}

export interface MaskSettings {
  at: string;
  pattern: Located<string>;
  /** Default `[REDACTED]`. */
  replacement: string;
  /** Only in the values of these attribute keys (globs); default everywhere, names and messages too. */
  keys?: Located<string>[];
}

export const DEFAULT_SQL_KEYS: readonly string[] = ['db.query.text', 'db.statement'];
export const DEFAULT_MASK_REPLACEMENT = '[REDACTED]';
