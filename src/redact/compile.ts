import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Glob, globProblem } from './glob.js';
import { Re2 } from '../re2/index.js';
import { re2Problem } from './re2.js';
import { RegexFinder, type RangeFinder } from './finders.js';
import { healthcareMasks } from './preset.js';
import { DEFAULT_SQL_KEYS, type Located, type RedactionSettings, type RuleSetSettings } from './settings.js';

/** A redaction rule that cannot be used; the message starts with its place in the config file. */
export class RedactionConfigError extends Error {
  override readonly name = 'RedactionConfigError';
}

export type RuleKind = 'drop' | 'hash' | 'mask' | 'sql';

/** A rule as /api/sightline/status names it. */
export interface RuleId {
  readonly kind: RuleKind;
  readonly name: string;
}

export interface KeyRule extends RuleId {
  readonly glob: Glob;
}

export interface CompiledMask extends RuleId {
  readonly finder: RangeFinder;
  readonly replacement: string;
  /** Attribute keys it is limited to; null: every value, span names and messages too. */
  readonly keys: readonly Glob[] | null;
}

/**
 * One tenant's rules (or the default's), checked and compiled: globs split,
 * patterns compiled to RE2 programs, the hash key read. Immutable; the
 * redactor built from it keeps the caches and counters.
 */
export interface CompiledRuleSet {
  /** `default`, or the tenant id. */
  readonly name: string;
  readonly drop: readonly KeyRule[];
  readonly hash: readonly KeyRule[];
  /** In the order they run on a value. */
  readonly masks: readonly CompiledMask[];
  /** Keys whose values are SQL to normalise; null when off. */
  readonly sql: (RuleId & { readonly keys: ReadonlySet<string> }) | null;
  /** The HMAC key of hash rules (null when there are none). */
  readonly hashKey: Buffer | null;
}

export interface RedactionRules {
  /** For tenants not in `tenants`; null: no redaction. */
  readonly defaultSet: CompiledRuleSet | null;
  /** A tenant's own rules; null turns redaction off for it. */
  readonly tenants: ReadonlyMap<string, CompiledRuleSet | null>;
}

export const NO_REDACTION: RedactionRules = { defaultSet: null, tenants: new Map() };

/** Fewest bytes of the hash key: HMAC-SHA-256 keys shorter than its output weaken it. */
export const MIN_HASH_KEY_BYTES = 32;

/**
 * Compiles the config file's `redaction:` section. Reads the hash key file
 * (relative paths from `baseDir`, the config file's directory).
 * @throws RedactionConfigError naming the line of what is wrong.
 */
export function compileRedaction(settings: RedactionSettings | undefined, baseDir: string): RedactionRules {
  if (!settings) return NO_REDACTION;
  const sets: RuleSetSettings[] = [];
  const base = settings.defaultRules;
  const merged = new Map<string, RuleSetSettings | null>();
  for (const [tenant, own] of settings.tenants) {
    if (own && own.extendsDefault && !base) throw new RedactionConfigError(`${own.at}: tenant ${tenant} extends the default rules, but redaction.default is not set`);
    merged.set(tenant, own && own.extendsDefault && base ? extend(base, own) : own);
  }
  if (base) sets.push(base);
  for (const s of merged.values()) if (s) sets.push(s);

  let hashKey: Buffer | null = null;
  const firstHash = sets.flatMap((s) => s.hash)[0];
  if (firstHash) {
    if (!settings.hashKeyFile) throw new RedactionConfigError(`${firstHash.at}: hash rules need redaction.hashKeyFile, a file of at least ${MIN_HASH_KEY_BYTES} random bytes`);
    hashKey = readHashKey(settings.hashKeyFile, baseDir);
  }
  const compile = (name: string, s: RuleSetSettings | null | undefined) => (s ? compileSet(name, s, hashKey) : null);
  return {
    defaultSet: compile('default', base),
    tenants: new Map([...merged].map(([tenant, s]) => [tenant, compile(tenant, s)])),
  };
}

/** The default set's rules, then the tenant's. */
function extend(base: RuleSetSettings, own: RuleSetSettings): RuleSetSettings {
  const preset = own.preset ?? base.preset;
  return {
    at: own.at,
    extendsDefault: false,
    preset,
    presetExcept: own.preset ? own.presetExcept : [...base.presetExcept, ...own.presetExcept],
    mrnPatterns: [...base.mrnPatterns, ...own.mrnPatterns],
    drop: [...base.drop, ...own.drop],
    hash: [...base.hash, ...own.hash],
    mask: [...base.mask, ...own.mask],
    sql: own.sql ?? base.sql,
    sqlKeys: own.sqlKeys ?? base.sqlKeys,
  };
}

function readHashKey(file: Located<string>, baseDir: string): Buffer {
  const full = path.resolve(baseDir, file.value);
  let key: Buffer;
  try {
    key = readFileSync(full);
  } catch (e) {
    throw new RedactionConfigError(`${file.at}: redaction.hashKeyFile ${full} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (key.length < MIN_HASH_KEY_BYTES)
    throw new RedactionConfigError(`${file.at}: redaction.hashKeyFile ${full} holds ${key.length} bytes; it needs at least ${MIN_HASH_KEY_BYTES} random bytes (e.g. openssl rand -base64 48 > ${full})`);
  return key;
}

function compileSet(name: string, s: RuleSetSettings, hashKey: Buffer | null): CompiledRuleSet | null {
  const keyRules = (kind: 'drop' | 'hash', globs: Located<string>[]): KeyRule[] =>
    globs.map((g) => {
      const problem = globProblem(g.value);
      if (problem) throw new RedactionConfigError(`${g.at}: ${problem}`);
      return { kind, name: `${kind} ${g.value}`, glob: new Glob(g.value) };
    });
  const masks: CompiledMask[] = s.mask.map((m) => {
    const problem = re2Problem(m.pattern.value);
    if (problem) throw new RedactionConfigError(`${m.pattern.at}: ${problem}`);
    const keys = m.keys?.map((k) => {
      const p = globProblem(k.value);
      if (p) throw new RedactionConfigError(`${k.at}: ${p}`);
      return new Glob(k.value);
    });
    return {
      kind: 'mask',
      name: `mask ${m.pattern.value}${keys ? ` in ${keys.map((k) => k.source).join(', ')}` : ''}`,
      finder: new RegexFinder(new Re2(m.pattern.value)),
      replacement: m.replacement,
      keys: keys ?? null,
    };
  });
  for (const p of s.mrnPatterns) {
    const problem = re2Problem(p.value);
    if (problem) throw new RedactionConfigError(`${p.at}: ${problem}`);
  }
  if (s.preset) {
    for (const m of healthcareMasks(s.mrnPatterns.map((p) => p.value), s.presetExcept))
      masks.push({ kind: 'mask', name: `healthcare ${m.part}`, finder: m.finder, replacement: m.replacement, keys: null });
  } else if (s.mrnPatterns.length > 0) {
    throw new RedactionConfigError(`${s.mrnPatterns[0].at}: mrnPatterns belong to preset: healthcare, which this rule set does not use`);
  }
  const sqlKeys = s.sqlKeys ?? DEFAULT_SQL_KEYS;
  const sql = s.sql === false || sqlKeys.length === 0 ? null : { kind: 'sql' as const, name: `sql ${sqlKeys.join(', ')}`, keys: new Set(sqlKeys) };
  const drop = keyRules('drop', s.drop);
  const hash = keyRules('hash', s.hash);
  if (drop.length === 0 && hash.length === 0 && masks.length === 0 && !sql) return null;
  return { name, drop, hash, masks, sql, hashKey: hash.length > 0 ? hashKey : null };
}
