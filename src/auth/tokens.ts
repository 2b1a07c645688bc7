import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { grantsOf, type Identity, type Role } from './identity.js';

/**
 * API tokens for machines: exporters, Collectors, Grafana, scripts.
 *
 * A token is `slt_<id>_<secret>`: the id (8 random bytes, hex) names its
 * entry in the config file, the secret (32 random bytes, base64url) is
 * shown once when the token is made and never stored. The config keeps
 * `sha256:<salt>:<hash>`, the SHA-256 of a per-token random salt and the
 * secret. A fast hash is enough here: the secret is 256 random bits, not a
 * password a person chose, so there is nothing to guess; a slow hash (scrypt)
 * would cost tens of milliseconds on every request.
 */

export interface TokenEntry {
  /** Shown in logs and the audit trail. */
  name: string;
  /** 16 hex characters. */
  id: string;
  /** `sha256:<salt base64url>:<hash base64url>` */
  hash: string;
  roles: Role[];
  tenants: string[];
}

/** What may be shown of a token: everything but its hash. */
export type TokenSummary = Omit<TokenEntry, 'hash'>;

const TOKEN_RE = /^slt_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** A new token and the entry that verifies it (the token itself is not in the entry). */
export function createToken(name: string, roles: Role[], tenants: string[]): { token: string; entry: TokenEntry } {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  const salt = randomBytes(16);
  return { token: `slt_${id}_${secret}`, entry: { name, id, hash: `sha256:${salt.toString('base64url')}:${digest(salt, secret).toString('base64url')}`, roles, tenants } };
}

function digest(salt: Buffer, secret: string): Buffer {
  return createHash('sha256').update(salt).update(secret, 'utf8').digest();
}

export class TokenVerifier {
  private readonly byId = new Map<string, TokenEntry>();

  constructor(entries: readonly TokenEntry[]) {
    this.replace(entries);
  }

  /** Swaps in a new set of tokens (the config file re-read on SIGHUP): revoked ones stop working at once. */
  replace(entries: readonly TokenEntry[]): void {
    this.byId.clear();
    for (const e of entries) this.byId.set(e.id, e);
  }

  get size(): number {
    return this.byId.size;
  }

  /** The tokens in use, without their hashes. */
  list(): TokenSummary[] {
    return [...this.byId.values()].map(({ name, id, roles, tenants }) => ({ name, id, roles: [...roles], tenants: [...tenants] }));
  }

  /** The identity a presented token stands for, or null (unknown, malformed, or wrong secret). */
  verify(presented: string): Identity | null {
    const m = TOKEN_RE.exec(presented);
    if (!m) return null;
    const entry = this.byId.get(m[1]);
    if (!entry) return null;
    const [kind, salt, hash] = entry.hash.split(':');
    if (kind !== 'sha256' || !salt || !hash) return null;
    const want = Buffer.from(hash, 'base64url');
    const got = digest(Buffer.from(salt, 'base64url'), m[2]);
    if (want.length !== got.length || !timingSafeEqual(want, got)) return null;
    return { source: 'token', name: entry.name, grants: grantsOf(entry.roles, entry.tenants) };
  }
}
