/**
 * Tenants. Every table carries the tenant first in its sort key, and every
 * read port takes a TenantScope as its first, required argument: a read
 * that forgets the tenant does not compile. The class has a private
 * constructor, so a scope cannot be made up from an object literal, only
 * from tenant ids that passed {@link validTenantId}.
 */
export class TenantScope {
  private constructor(
    /** One or more tenants, de-duplicated, in the order asked. */
    readonly tenants: readonly string[],
  ) {}

  /** A scope over one tenant, or several (Tempo's cross-tenant `a|b`). Throws InvalidTenantError. */
  static of(tenants: readonly string[]): TenantScope {
    if (tenants.length === 0) throw new InvalidTenantError('a tenant scope needs at least one tenant');
    for (const t of tenants) {
      const why = tenantIdProblem(t);
      if (why) throw new InvalidTenantError(`invalid tenant id ${JSON.stringify(t)}: ${why}`);
    }
    return new TenantScope([...new Set(tenants)]);
  }

  /** The one tenant of a single-tenant scope; writes and admin actions need exactly one. */
  get single(): string {
    if (this.tenants.length !== 1) throw new InvalidTenantError(`this needs exactly one tenant, not ${this.tenants.length}`);
    return this.tenants[0];
  }

  toString(): string {
    return this.tenants.join('|');
  }
}

export class InvalidTenantError extends Error {
  override readonly name = 'InvalidTenantError';
}

/**
 * Tenant ids as Tempo (and Mimir, Loki) take them in X-Scope-OrgID: 1 to
 * 150 bytes of ASCII letters, digits and `! - _ . * ' ( )`, but not `.` or
 * `..`. `|` separates tenants in a cross-tenant query, so it is never part
 * of one.
 */
export function tenantIdProblem(id: string): string | null {
  if (id.length === 0) return 'it is empty';
  if (id.length > 150) return 'it is longer than 150 bytes';
  if (id === '.' || id === '..') return "'.' and '..' are not tenant ids";
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    const ok =
      (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x21 || c === 0x2d || c === 0x5f || c === 0x2e || c === 0x2a || c === 0x27 || c === 0x28 || c === 0x29;
    if (!ok) return `character ${JSON.stringify(id[i])} at position ${i + 1} is not allowed (letters, digits and ! - _ . * ' ( ) are)`;
  }
  return null;
}

export function validTenantId(id: string): boolean {
  return tenantIdProblem(id) === null;
}

/** Tempo's single-tenant mode stores everything under this tenant id; so do we, unless configured otherwise. */
export const DEFAULT_TENANT = 'single-tenant';
