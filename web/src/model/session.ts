/**
 * Who is using the UI, when Sightline has OIDC login configured: the
 * server's /auth/config and /auth/me answers, the sign-in state they lead
 * to, and the tenant every API call names in X-Scope-OrgID. Without OIDC
 * the state is `open` and the UI behaves as it always has.
 */

export type RoleName = 'viewer' | 'ingester' | 'admin';

/** GET /auth/config */
export interface AuthConfigJson {
  oidc: boolean;
}

/** GET /auth/me */
export interface MeJson {
  name: string;
  source: string;
  /** Named tenants per role (admin counts as viewer). */
  tenants: Record<RoleName, string[]>;
  /** Roles held in every tenant. */
  everyTenant: RoleName[];
}

export type SessionState =
  /** Asking the server (before the first page renders, so no call goes out without its tenant). */
  | { status: 'checking' }
  /**
   * No login configured: today's UI, API errors shown as they come. `me` is
   * who the server takes the browser for, when it identifies it anyway (the
   * local operator on loopback, or credentials a reverse proxy adds).
   */
  | { status: 'open'; me?: MeJson }
  /** Login configured and the caller is not signed in (or the session ended). */
  | { status: 'signed-out' }
  /** `me` is missing when /auth/me failed for another reason than 401; `tenant` is sent as X-Scope-OrgID. */
  | { status: 'signed-in'; me?: MeJson; tenant?: string };

/** Where the chosen tenant is kept between visits. */
export const TENANT_STORAGE_KEY = 'sightline.tenant';

/** The login URL that brings the browser back to where it was. */
export function loginHref(pathname: string, search: string): string {
  return `/auth/login?redirect=${encodeURIComponent(`${pathname}${search}`)}`;
}

/** /auth/config's answer, or undefined for anything else (an older server: no login). */
export function parseAuthConfig(json: unknown): AuthConfigJson | undefined {
  if (!json || typeof json !== 'object' || typeof (json as AuthConfigJson).oidc !== 'boolean') return undefined;
  return { oidc: (json as AuthConfigJson).oidc };
}

/** /auth/me's answer, checked; undefined when it does not look like one. */
export function parseMe(json: unknown): MeJson | undefined {
  if (!json || typeof json !== 'object') return undefined;
  const o = json as Record<string, unknown>;
  if (typeof o.name !== 'string' || typeof o.source !== 'string' || !o.tenants || typeof o.tenants !== 'object') return undefined;
  const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
  const t = o.tenants as Record<string, unknown>;
  return {
    name: o.name,
    source: o.source,
    tenants: { viewer: strings(t.viewer), ingester: strings(t.ingester), admin: strings(t.admin) },
    everyTenant: strings(o.everyTenant).filter((r): r is RoleName => r === 'viewer' || r === 'ingester' || r === 'admin'),
  };
}

/** The tenants the user can pick among for reading: sorted, without repeats. */
export function viewerTenants(me: MeJson | undefined): string[] {
  return me ? [...new Set(me.tenants.viewer)].sort() : [];
}

/**
 * The tenant to name in X-Scope-OrgID. None when the user reads at most
 * one named tenant (the server picks it, or its default for an everywhere
 * grant); else the stored choice while the user still holds it, else the
 * first.
 */
export function chooseTenant(me: MeJson | undefined, stored: string | null | undefined): string | undefined {
  const tenants = viewerTenants(me);
  if (tenants.length < 2) return undefined;
  return stored && tenants.includes(stored) ? stored : tenants[0];
}

/** The state once /auth/config and /auth/me have answered; `me` is null for a 401, undefined for another failure. */
export function sessionFrom(config: AuthConfigJson | undefined, me: MeJson | null | undefined, stored: string | null | undefined): SessionState {
  if (!config?.oidc) return me ? { status: 'open', me } : { status: 'open' };
  if (me === null) return { status: 'signed-out' };
  return { status: 'signed-in', me, tenant: chooseTenant(me, stored) };
}

/** An API call answered 401: with login configured the session is over; without (or not known yet), nothing changes. */
export function afterUnauthorized(state: SessionState): SessionState {
  return state.status === 'open' || state.status === 'checking' ? state : { status: 'signed-out' };
}

/** The user menu shows a Sign out button only for a login session (not a tailnet user or a token). */
export function canSignOut(me: MeJson | undefined): boolean {
  return me?.source === 'oidc';
}
