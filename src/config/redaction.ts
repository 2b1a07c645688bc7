import {
  DEFAULT_MASK_REPLACEMENT,
  HEALTHCARE_PARTS,
  globProblem,
  re2Problem,
  type HealthcarePart,
  type Located,
  type MaskSettings,
  type RedactionSettings,
  type RuleSetSettings,
} from '../redact/index.js';

type Path = (string | number)[];

/** The reads of file.ts's Reader that this section uses; errors carry the file, line and column. */
export interface SectionReader {
  has(path: Path): boolean;
  map(path: Path, what: string): string[];
  allowKeys(keys: string[], path: Path, allowed: string[]): void;
  seq(path: Path, what: string): number;
  string(path: Path): string;
  boolean(path: Path): boolean;
  /** `file:line:col` of the node at path. */
  where(path: Path): string;
  error(path: Path, message: string): Error;
  tenantKey(path: Path, key: string): string;
}

const RULE_KEYS = ['preset', 'presetExcept', 'mrnPatterns', 'drop', 'hash', 'mask', 'sql', 'sqlKeys'];

/**
 * The `redaction:` section (docs/redaction.md):
 *
 *   redaction:
 *     hashKeyFile: redaction.key
 *     default: { preset: healthcare, hash: [patient.id], drop: [http.request.header.cookie] }
 *     tenants:
 *       research: { extends: default, mask: [{ pattern: 'STUDY-[0-9]+' }] }
 *       ops: { enabled: false }
 *
 * Patterns and globs are checked here, so a bad one is an error at its
 * line; the key file is read when the rules are compiled (redact/).
 */
export function parseRedactionSection(r: SectionReader, p: Path): RedactionSettings {
  r.allowKeys(r.map(p, 'redaction'), p, ['hashKeyFile', 'default', 'tenants']);
  const out: RedactionSettings = { tenants: new Map() };
  if (r.has([...p, 'hashKeyFile'])) out.hashKeyFile = located(r, [...p, 'hashKeyFile']);
  if (r.has([...p, 'default'])) {
    const d = [...p, 'default'];
    r.allowKeys(r.map(d, 'redaction.default'), d, RULE_KEYS);
    out.defaultRules = ruleSet(r, d, false);
  }
  if (r.has([...p, 'tenants'])) {
    const t = [...p, 'tenants'];
    for (const key of r.map(t, 'redaction.tenants')) {
      const tenant = r.tenantKey(t, key);
      const q = [...t, key];
      const keys = r.map(q, `redaction.tenants.${tenant}`);
      r.allowKeys(keys, q, [...RULE_KEYS, 'extends', 'enabled']);
      if (r.has([...q, 'enabled']) && !r.boolean([...q, 'enabled'])) {
        if (keys.length > 1) throw r.error(q, `enabled: false turns redaction off for tenant ${tenant}; it takes no other keys`);
        out.tenants.set(tenant, null);
        continue;
      }
      let extendsDefault = false;
      if (r.has([...q, 'extends'])) {
        if (r.string([...q, 'extends']) !== 'default') throw r.error([...q, 'extends'], 'extends can only name default');
        extendsDefault = true;
      }
      out.tenants.set(tenant, ruleSet(r, q, extendsDefault));
    }
  }
  return out;
}

function ruleSet(r: SectionReader, p: Path, extendsDefault: boolean): RuleSetSettings {
  const s: RuleSetSettings = { at: r.where(p), extendsDefault, presetExcept: [], mrnPatterns: [], drop: [], hash: [], mask: [] };
  if (r.has([...p, 'preset'])) {
    if (r.string([...p, 'preset']) !== 'healthcare') throw r.error([...p, 'preset'], 'the only preset is healthcare');
    s.preset = { value: 'healthcare', at: r.where([...p, 'preset']) };
  }
  const partProblem = (v: string) => ((HEALTHCARE_PARTS as readonly string[]).includes(v) ? '' : `unknown preset part ${JSON.stringify(v)}; parts are ${HEALTHCARE_PARTS.join(', ')}`);
  s.presetExcept = list(r, [...p, 'presetExcept'], partProblem).map((x) => x.value as HealthcarePart);
  if (s.presetExcept.length > 0 && !s.preset && !extendsDefault) throw r.error([...p, 'presetExcept'], 'presetExcept needs preset: healthcare');
  s.mrnPatterns = list(r, [...p, 'mrnPatterns'], re2Problem);
  s.drop = list(r, [...p, 'drop'], globProblem);
  s.hash = list(r, [...p, 'hash'], globProblem);
  if (r.has([...p, 'mask'])) {
    const n = r.seq([...p, 'mask'], 'mask');
    for (let i = 0; i < n; i++) s.mask.push(mask(r, [...p, 'mask', i]));
  }
  if (r.has([...p, 'sql'])) s.sql = r.boolean([...p, 'sql']);
  if (r.has([...p, 'sqlKeys'])) s.sqlKeys = list(r, [...p, 'sqlKeys']).map((k) => k.value);
  return s;
}

function mask(r: SectionReader, p: Path): MaskSettings {
  r.allowKeys(r.map(p, 'a mask rule'), p, ['pattern', 'replacement', 'keys']);
  const pattern = located(r, [...p, 'pattern']);
  const problem = re2Problem(pattern.value);
  if (problem) throw r.error([...p, 'pattern'], problem);
  return {
    at: r.where(p),
    pattern,
    replacement: r.has([...p, 'replacement']) ? r.string([...p, 'replacement']) : DEFAULT_MASK_REPLACEMENT,
    keys: r.has([...p, 'keys']) ? list(r, [...p, 'keys'], globProblem) : undefined,
  };
}

function located(r: SectionReader, p: Path): Located<string> {
  return { value: r.string(p), at: r.where(p) };
}

/** A list of strings, each checked by `problem` (which returns '' when fine). */
function list(r: SectionReader, p: Path, problem?: (s: string) => string): Located<string>[] {
  if (!r.has(p)) return [];
  const n = r.seq(p, p.join('.'));
  const out: Located<string>[] = [];
  for (let i = 0; i < n; i++) {
    const item = located(r, [...p, i]);
    const why = problem?.(item.value);
    if (why) throw r.error([...p, i], why);
    out.push(item);
  }
  return out;
}
