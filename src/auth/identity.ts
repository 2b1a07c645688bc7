/**
 * Who is calling, and what they may do where. Roles are held per tenant:
 * an identity is a set of (role, tenant) grants, from a token, an OIDC
 * session, a tailnet user or node, or, with no authentication configured,
 * the anonymous operator of a loopback-only Sightline.
 */

/**
 * - viewer: reads span data of its tenants;
 * - ingester: writes spans into its tenants, reads nothing;
 * - admin: tokens, erasure and the audit log of its tenants (and reads).
 */
export type Role = 'viewer' | 'ingester' | 'admin';
export const ROLES: readonly Role[] = ['viewer', 'ingester', 'admin'];

/** Every tenant: for grants that hold across tenants (an operator's admin token). */
export const ANY_TENANT = '*';

export interface Grant {
  role: Role;
  /** A tenant id, or ANY_TENANT. */
  tenant: string;
}

export type IdentityKind = 'token' | 'oidc' | 'tailnet-user' | 'tailnet-node' | 'anonymous';

export interface Identity {
  source: IdentityKind;
  /** A stable name for logs and the audit trail: a token's name, a login, a node name. Never a secret. */
  name: string;
  grants: readonly Grant[];
}

/** Whether the identity holds `role` (or admin, which includes viewing) in `tenant`. */
export function holds(identity: Identity, role: Role, tenant: string): boolean {
  return identity.grants.some((g) => (g.tenant === tenant || g.tenant === ANY_TENANT) && (g.role === role || (role === 'viewer' && g.role === 'admin')));
}

/** The named tenants in which the identity holds `role` (ANY_TENANT grants are not listed). */
export function tenantsWith(identity: Identity, role: Role): string[] {
  return [...new Set(identity.grants.filter((g) => g.tenant !== ANY_TENANT && (g.role === role || (role === 'viewer' && g.role === 'admin'))).map((g) => g.tenant))];
}

/** Every (role, tenant) pair of roles × tenants. */
export function grantsOf(roles: readonly Role[], tenants: readonly string[]): Grant[] {
  return roles.flatMap((role) => tenants.map((tenant) => ({ role, tenant })));
}
