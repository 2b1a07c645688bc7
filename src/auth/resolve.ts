import { ForbiddenError, InvalidQueryError, UnauthenticatedError } from '../errors.js';
import { BadCredentialsError, type Authenticator, type Credentials } from './authenticator.js';
import { holds, type Identity } from './identity.js';
import type { RoutePolicy } from './policy.js';
import { chooseTenants, TenantChoiceError } from './tenancy.js';

export interface ResolvedCaller {
  identity: Identity;
  /** The tenants the request reads or writes ([] for a policy that reads none). */
  tenants: string[];
}

/**
 * Who is calling and which tenants the request may touch under `policy`,
 * from its credentials and X-Scope-OrgID. Throws UnauthenticatedError (no
 * or bad credentials), ForbiddenError (no such role in a tenant asked) or
 * InvalidQueryError (an X-Scope-OrgID that cannot be used). Shared by the
 * query API and both OTLP receivers, so every listener decides alike.
 */
export async function resolveCaller(
  authenticator: Authenticator,
  credentials: Credentials,
  policy: RoutePolicy,
  scopeHeader: string | undefined,
  defaultTenant: string,
): Promise<ResolvedCaller> {
  let identity: Identity | null;
  try {
    identity = await authenticator.identify(credentials);
  } catch (e) {
    if (e instanceof BadCredentialsError) throw new UnauthenticatedError(e.message);
    throw e;
  }
  if (!identity) throw new UnauthenticatedError('this needs credentials: a Bearer token, Basic with the token as password, or a login session');
  if (policy.role === 'public') return { identity, tenants: [] };
  const role = policy.role;
  if (policy.tenants === 'none') {
    if (!identity.grants.some((g) => holds(identity, role, g.tenant))) throw new ForbiddenError(`${identity.name} is not a ${role}`);
    return { identity, tenants: [] };
  }
  try {
    // Without authentication configured, everything is the default tenant and
    // X-Scope-OrgID is ignored, as in Tempo's single-tenant mode.
    const asked = authenticator.enforcing ? scopeHeader : undefined;
    return { identity, tenants: chooseTenants(identity, role, asked, defaultTenant, { several: policy.tenants === 'several' }) };
  } catch (e) {
    if (e instanceof TenantChoiceError) throw e.forbidden ? new ForbiddenError(e.message) : new InvalidQueryError(e.message);
    throw e;
  }
}
