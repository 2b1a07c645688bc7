import { ANY_TENANT, holds, tenantsWith, type Identity, type Role } from './identity.js';

/**
 * Which tenants a request reads or writes, from its identity and its
 * `X-Scope-OrgID` header, as Tempo takes it: one tenant, or several joined
 * by `|` for a cross-tenant query. A tenant the identity does not hold the
 * role in is refused; never silently dropped from the scope.
 */

export class TenantChoiceError extends Error {
  override readonly name = 'TenantChoiceError';
  constructor(
    message: string,
    /** 401-style (no usable choice) vs 403 (a tenant the identity does not hold). */
    readonly forbidden: boolean,
  ) {
    super(message);
  }
}

/**
 * The tenants of a request. Without the header: the identity's only tenant
 * with the role, or the default tenant where the identity holds the role
 * in every tenant (or in it). Several tenants and no header is refused:
 * the caller must say which.
 */
export function chooseTenants(identity: Identity, role: Role, header: string | undefined, defaultTenant: string, opts: { several: boolean }): string[] {
  const asked = header?.trim();
  if (asked) {
    const tenants = [...new Set(asked.split('|').map((t) => t.trim()))];
    if (tenants.length > 1 && !opts.several) throw new TenantChoiceError(`this endpoint takes one tenant, not ${tenants.length} (X-Scope-OrgID ${JSON.stringify(asked)})`, false);
    for (const t of tenants) {
      if (t === '' || t === ANY_TENANT) throw new TenantChoiceError(`X-Scope-OrgID ${JSON.stringify(asked)} does not name tenants`, false);
      if (!holds(identity, role, t)) throw new TenantChoiceError(`${identity.name} may not ${role === 'ingester' ? 'write to' : 'read'} tenant ${t}`, true);
    }
    return tenants;
  }
  const named = tenantsWith(identity, role);
  if (named.length === 1 && !holds(identity, role, ANY_TENANT)) return named;
  if (holds(identity, role, defaultTenant)) return [defaultTenant];
  if (named.length === 0) throw new TenantChoiceError(`${identity.name} holds no tenant as ${role}`, true);
  throw new TenantChoiceError(`${identity.name} holds several tenants (${named.join(', ')}); name one in X-Scope-OrgID`, false);
}
