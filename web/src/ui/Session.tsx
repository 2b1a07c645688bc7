import { useEffect, useState } from 'react';
import {
  afterUnauthorized,
  canSignOut,
  loginHref,
  parseAuthConfig,
  parseMe,
  sessionFrom,
  viewerTenants,
  TENANT_STORAGE_KEY,
  type MeJson,
  type SessionState,
} from '../model/index.js';
import { onUnauthorized, setApiTenant } from './api.js';

function storedTenant(): string | null {
  try {
    return window.localStorage.getItem(TENANT_STORAGE_KEY);
  } catch {
    return null;
  }
}

async function fetchJson(url: string): Promise<{ status: number; json?: unknown }> {
  try {
    const r = await fetch(url, { headers: { Accept: 'application/json' } });
    return { status: r.status, json: r.ok ? await r.json() : undefined };
  } catch {
    return { status: 0 };
  }
}

/**
 * The sign-in state, from /auth/config and /auth/me (no OIDC: `open`, and
 * nothing changes but what the roles /auth/me tells offer). Any API call
 * answering 401 later ends a login session. The tenant is handed to the
 * fetch layer before the state changes, so pages rendered for the new
 * state already send it.
 */
export function useSession(): [SessionState, (tenant: string) => void] {
  const [state, setState] = useState<SessionState>({ status: 'checking' });
  useEffect(() => {
    let cancelled = false;
    void (async () => {
      // /auth/me is asked without login too: the roles decide what the UI offers (the audit trail to admins).
      const [c, r] = await Promise.all([fetchJson('/auth/config'), fetchJson('/auth/me')]);
      const config = parseAuthConfig(c.json);
      const me: MeJson | null | undefined = r.status === 401 ? null : parseMe(r.json);
      const next = sessionFrom(config, me, storedTenant());
      if (cancelled) return;
      setApiTenant(next.status === 'signed-in' ? next.tenant : undefined);
      setState(next);
    })();
    const off = onUnauthorized(() => setState((s) => afterUnauthorized(s)));
    return () => {
      cancelled = true;
      off();
    };
  }, []);
  const pickTenant = (tenant: string) => {
    try {
      window.localStorage.setItem(TENANT_STORAGE_KEY, tenant);
    } catch {
      /* private mode: the choice lasts this page */
    }
    setApiTenant(tenant);
    setState((s) => (s.status === 'signed-in' ? { ...s, tenant } : s));
  };
  return [state, pickTenant];
}

export function SignInScreen({ pathname, search }: { pathname: string; search: string }) {
  return (
    <div className="state sign-in" data-testid="sign-in-screen">
      <strong>Sign in to Sightline</strong>
      <div className="state-detail">Trace data here is access-controlled. Sign in with your organisation's account to see the tenants you may read.</div>
      <a className="button primary" href={loginHref(pathname, search)} data-testid="sign-in">
        Sign in
      </a>
    </div>
  );
}

async function signOut(): Promise<void> {
  let location = '/';
  try {
    const r = await fetch('/auth/logout', { method: 'POST', headers: { Accept: 'application/json' } });
    const body = (await r.json()) as { location?: unknown };
    if (typeof body.location === 'string') location = body.location;
  } catch {
    /* the cookie may be gone already; reload shows the sign-in screen */
  }
  window.location.assign(location);
}

/** The signed-in name, a tenant picker when there is a choice, and Sign out. */
export function UserMenu({ me, tenant, onTenant }: { me: MeJson; tenant?: string; onTenant(t: string): void }) {
  const tenants = viewerTenants(me);
  return (
    <div className="user-menu" data-testid="user-menu">
      {tenants.length > 1 && (
        <label className="label">
          Tenant
          <select value={tenant ?? tenants[0]} onChange={(e) => onTenant(e.target.value)} data-testid="tenant-picker" aria-label="Tenant">
            {tenants.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
      )}
      <span className="user-name" data-testid="user-name" title={`Signed in as ${me.name}`}>
        {me.name}
      </span>
      {canSignOut(me) && (
        <button type="button" onClick={() => void signOut()} data-testid="sign-out">
          Sign out
        </button>
      )}
    </div>
  );
}
