import { readFileSync } from 'node:fs';
import { isMap, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { tenantIdProblem } from '../store/index.js';
import type { RedactionSettings } from '../redact/index.js';
import { parseRedactionSection } from './redaction.js';

/**
 * The config file (`--config`, YAML): what does not fit on a command line.
 * Tenants and their retention, API tokens (as salted hashes), OIDC login,
 * tailnet identities, CORS origins, redaction rules (redaction.ts). Errors
 * name the file, line and column.
 */

export type FileRole = 'viewer' | 'ingester' | 'admin';
const ROLES: readonly FileRole[] = ['viewer', 'ingester', 'admin'];

export interface FileToken {
  name: string;
  id: string;
  hash: string;
  roles: FileRole[];
  tenants: string[];
}

/** Roles and tenants granted when a claim, group, login or tag matches. */
export interface FileGrantRule {
  roles: FileRole[];
  tenants: string[];
}

export interface FileOidc {
  issuer: string;
  clientId: string;
  /** Read from this file (a Nomad variable, a Kubernetes secret...); never in the config itself. */
  clientSecretFile?: string;
  /** Where the IdP sends the browser back: https://sightline.example/auth/callback. */
  redirectUrl: string;
  scopes: string[];
  /** The claim that lists the user's groups. */
  groupsClaim: string;
  /** Grants by group (or by `claim=value`). */
  groups: Record<string, FileGrantRule>;
  /** Grants by email or preferred_username. */
  users: Record<string, FileGrantRule>;
  /** How long a login lasts. */
  sessionMs: number;
  /** A file of at least 32 random bytes that encrypts session cookies; all processes behind one address share it. */
  sessionKeyFile?: string;
}

export interface FileTailnet {
  /** Addresses of `tailscale serve` proxies whose Tailscale-User-* headers are trusted. */
  trustedProxies: string[];
  /** Grants by Tailscale-User-Login (people behind `tailscale serve`). */
  users: Record<string, FileGrantRule>;
  /** tailscaled's LocalAPI socket, asked who a direct peer is. */
  localApiSocket?: string;
  /** Grants by node tag (machines that connect directly, e.g. tag:billing). */
  tags: Record<string, FileGrantRule>;
  /** CIDRs of peers asked about over the LocalAPI; default the Tailscale ranges (100.64.0.0/10, fd7a:115c:a1e0::/48). */
  peers?: string[];
}

export interface FileConfig {
  /** Where it came from, for messages. */
  path: string;
  defaultTenant?: string;
  /** Tenant id -> its retention in ms, where it differs from --retention. */
  tenantRetentionMs: Map<string, number>;
  tokens: FileToken[];
  oidc?: FileOidc;
  tailnet?: FileTailnet;
  corsOrigins?: string[];
  /** Redaction rules per tenant, as read (compiled by redact/ when serving). */
  redaction?: RedactionSettings;
}

export class ConfigFileError extends Error {
  override readonly name = 'ConfigFileError';
}

/** Reads and checks a config file. */
export function loadConfigFile(path: string, parseDuration: (s: string) => number | undefined): FileConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigFileError(`${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  return parseConfigFile(text, path, parseDuration);
}

export function parseConfigFile(text: string, path: string, parseDuration: (s: string) => number | undefined): FileConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const at = (node: YamlNode | null | undefined): string => {
    const offset = node?.range?.[0];
    if (offset === undefined) return path;
    const { line, col } = lines.linePos(offset);
    return `${path}:${line}:${col}`;
  };
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const { line, col } = lines.linePos(e.pos[0]);
    throw new ConfigFileError(`${path}:${line}:${col}: ${e.message.split('\n')[0]}`);
  }
  const r = new Reader(doc, at);
  const root = r.map([], 'the file');
  r.allowKeys(root, [], ['defaultTenant', 'tenants', 'tokens', 'oidc', 'tailnet', 'cors', 'redaction']);
  const out: FileConfig = { path, tenantRetentionMs: new Map(), tokens: [] };

  if (r.has(['defaultTenant'])) out.defaultTenant = r.tenant(['defaultTenant']);

  if (r.has(['tenants'])) {
    const tenants = r.map(['tenants'], 'tenants');
    for (const key of tenants) {
      const tenant = r.tenantKey(['tenants'], key);
      r.allowKeys(r.map(['tenants', key], `tenant ${tenant}`), ['tenants', key], ['retention']);
      if (r.has(['tenants', key, 'retention'])) {
        const text = r.string(['tenants', key, 'retention']);
        const ms = parseDuration(text);
        if (ms === undefined || ms < 3_600_000) throw r.error(['tenants', key, 'retention'], `retention ${JSON.stringify(text)} is not a duration of at least 1h (e.g. 36h, 30d)`);
        out.tenantRetentionMs.set(tenant, ms);
      }
    }
  }

  if (r.has(['tokens'])) {
    const n = r.seq(['tokens'], 'tokens');
    const ids = new Set<string>();
    for (let i = 0; i < n; i++) {
      const p = ['tokens', i];
      r.allowKeys(r.map(p, 'a token'), p, ['name', 'id', 'hash', 'roles', 'tenants']);
      const id = r.string([...p, 'id']);
      if (!/^[0-9a-f]{16}$/.test(id)) throw r.error([...p, 'id'], 'a token id is 16 hex characters (use `sightline token create`)');
      if (ids.has(id)) throw r.error([...p, 'id'], `token id ${id} appears twice`);
      ids.add(id);
      const hash = r.string([...p, 'hash']);
      if (!/^sha256:[A-Za-z0-9_-]{22}:[A-Za-z0-9_-]{43}$/.test(hash)) throw r.error([...p, 'hash'], 'a token hash is sha256:<salt>:<hash> as `sightline token create` writes it; tokens themselves are never kept in the config');
      out.tokens.push({ name: r.string([...p, 'name']), id, hash, ...r.grant(p) });
    }
  }

  if (r.has(['oidc'])) {
    const p = ['oidc'];
    r.allowKeys(r.map(p, 'oidc'), p, ['issuer', 'clientId', 'clientSecretFile', 'redirectUrl', 'scopes', 'groupsClaim', 'groups', 'users', 'session', 'sessionKeyFile']);
    const url = (key: string) => {
      const v = r.string([...p, key]);
      if (!/^https?:\/\/[^\s]+$/.test(v)) throw r.error([...p, key], `${key} must be an http(s) URL`);
      return v;
    };
    const issuer = url('issuer');
    const clientId = r.string([...p, 'clientId']);
    const redirectUrl = url('redirectUrl');
    const sessionText = r.has([...p, 'session']) ? r.string([...p, 'session']) : '12h';
    const sessionMs = parseDuration(sessionText);
    if (sessionMs === undefined || sessionMs < 60_000) throw r.error([...p, 'session'], `session ${JSON.stringify(sessionText)} is not a duration (e.g. 8h)`);
    out.oidc = {
      issuer,
      clientId,
      clientSecretFile: r.has([...p, 'clientSecretFile']) ? r.string([...p, 'clientSecretFile']) : undefined,
      redirectUrl,
      scopes: r.has([...p, 'scopes']) ? r.strings([...p, 'scopes']) : ['openid', 'profile', 'email'],
      groupsClaim: r.has([...p, 'groupsClaim']) ? r.string([...p, 'groupsClaim']) : 'groups',
      groups: r.has([...p, 'groups']) ? r.rules([...p, 'groups']) : {},
      users: r.has([...p, 'users']) ? r.rules([...p, 'users']) : {},
      sessionMs,
      sessionKeyFile: r.has([...p, 'sessionKeyFile']) ? r.string([...p, 'sessionKeyFile']) : undefined,
    };
  }

  if (r.has(['tailnet'])) {
    const p = ['tailnet'];
    r.allowKeys(r.map(p, 'tailnet'), p, ['trustedProxies', 'users', 'localApiSocket', 'tags', 'peers']);
    out.tailnet = {
      trustedProxies: r.has([...p, 'trustedProxies']) ? r.strings([...p, 'trustedProxies']) : [],
      users: r.has([...p, 'users']) ? r.rules([...p, 'users']) : {},
      localApiSocket: r.has([...p, 'localApiSocket']) ? r.string([...p, 'localApiSocket']) : undefined,
      tags: r.has([...p, 'tags']) ? r.rules([...p, 'tags']) : {},
      peers: r.has([...p, 'peers']) ? r.strings([...p, 'peers']) : undefined,
    };
  }

  if (r.has(['cors'])) {
    r.allowKeys(r.map(['cors'], 'cors'), ['cors'], ['origins']);
    out.corsOrigins = r.strings(['cors', 'origins']);
  }

  if (r.has(['redaction'])) out.redaction = parseRedactionSection(r, ['redaction']);
  return out;
}

type Path = (string | number)[];

/** Typed reads from the YAML document, with errors at the node's line and column. */
class Reader {
  constructor(
    private readonly doc: Document,
    private readonly at: (node: YamlNode | null | undefined) => string,
  ) {}

  error(path: Path, message: string): ConfigFileError {
    return new ConfigFileError(`${this.at(this.node(path))}: ${message}`);
  }

  /** An error about a map key itself (not its value): at the key. */
  keyError(path: Path, key: string, message: string): ConfigFileError {
    const parent = path.length === 0 ? this.doc.contents : this.doc.getIn(path, true);
    const pair = isMap(parent) ? parent.items.find((item) => String((item.key as { value?: unknown })?.value ?? item.key) === key) : undefined;
    return new ConfigFileError(`${this.at((pair?.key as YamlNode | undefined) ?? this.node([...path, key]))}: ${message}`);
  }

  private node(path: Path): YamlNode | null {
    if (path.length === 0) return this.doc.contents as YamlNode | null;
    for (let i = path.length; i >= 0; i--) {
      const n = (i === 0 ? this.doc.contents : this.doc.getIn(path.slice(0, i), true)) as YamlNode | null | undefined;
      if (n && typeof n === 'object' && 'range' in n) return n;
    }
    return null;
  }

  has(path: Path): boolean {
    return this.doc.hasIn(path);
  }

  /** `file:line:col` of the node at path (or of its nearest parent). */
  where(path: Path): string {
    return this.at(this.node(path));
  }

  boolean(path: Path): boolean {
    const v = this.doc.getIn(path);
    if (typeof v !== 'boolean') throw this.error(path, `${path.join('.')} must be true or false`);
    return v;
  }

  /** The keys of a map. */
  map(path: Path, what: string): string[] {
    const n = path.length === 0 ? this.doc.contents : this.doc.getIn(path, true);
    if (path.length === 0 && (n === null || n === undefined)) return [];
    if (!isMap(n)) throw this.error(path, `${what} must be a map of keys to values`);
    return n.items.map((item) => String((item.key as { value?: unknown })?.value ?? item.key));
  }

  /** Refuses keys it does not know, naming them (a typo must not silently switch a feature off). */
  allowKeys(keys: string[], path: Path, allowed: string[]): void {
    for (const k of keys) if (!allowed.includes(k)) throw this.keyError(path, k, `unknown key ${JSON.stringify(k)}; expected one of ${allowed.join(', ')}`);
  }

  seq(path: Path, what: string): number {
    const n = this.doc.getIn(path, true);
    if (!isSeq(n)) throw this.error(path, `${what} must be a list`);
    return n.items.length;
  }

  string(path: Path): string {
    if (!this.has(path)) throw this.error(path, `${path.join('.')} is missing`);
    const v = this.doc.getIn(path);
    if (typeof v !== 'string' || v === '') throw this.error(path, `${path.join('.')} must be a non-empty string`);
    return v;
  }

  strings(path: Path): string[] {
    const n = this.seq(path, path.join('.'));
    return Array.from({ length: n }, (_, i) => this.string([...path, i]));
  }

  tenant(path: Path): string {
    const t = this.string(path);
    const problem = tenantIdProblem(t);
    if (problem) throw this.error(path, `${JSON.stringify(t)} is not a tenant id: ${problem}`);
    return t;
  }

  tenantKey(path: Path, key: string): string {
    const problem = tenantIdProblem(key);
    if (problem) throw this.keyError(path, key, `${JSON.stringify(key)} is not a tenant id: ${problem}`);
    return key;
  }

  /** `roles` and `tenants` of a token or rule; tenants may be '*' (every tenant). */
  grant(path: Path): FileGrantRule {
    const roles = this.strings([...path, 'roles']);
    for (const [i, role] of roles.entries()) if (!(ROLES as readonly string[]).includes(role)) throw this.error([...path, 'roles', i], `unknown role ${JSON.stringify(role)}; roles are ${ROLES.join(', ')}`);
    const tenants = this.strings([...path, 'tenants']);
    for (const [i, t] of tenants.entries()) if (t !== '*' && tenantIdProblem(t)) throw this.error([...path, 'tenants', i], `${JSON.stringify(t)} is not a tenant id: ${tenantIdProblem(t)}`);
    if (roles.length === 0 || tenants.length === 0) throw this.error(path, 'a grant needs at least one role and one tenant');
    return { roles: roles as FileRole[], tenants };
  }

  /** A map of name -> { roles, tenants }. */
  rules(path: Path): Record<string, FileGrantRule> {
    const out: Record<string, FileGrantRule> = {};
    for (const key of this.map(path, path.join('.'))) {
      this.allowKeys(this.map([...path, key], `${path.join('.')}.${key}`), [...path, key], ['roles', 'tenants']);
      out[key] = this.grant([...path, key]);
    }
    return out;
  }
}
