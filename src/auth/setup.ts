import net from 'node:net';
import { Authenticator, TokenSource, type IdentitySource } from './authenticator.js';
import { grantsOf, ROLES, type Identity } from './identity.js';
import { TokenVerifier, type TokenEntry } from './tokens.js';

export class AuthSetupError extends Error {
  override readonly name = 'AuthSetupError';
}

export interface AuthSetup {
  /** Token entries from the config file. */
  tokens: readonly TokenEntry[];
  /** More identity sources (OIDC sessions, tailnet), already built. */
  sources?: readonly IdentitySource[];
  defaultTenant: string;
  /** The address the listeners bind to. */
  listen: string;
  insecureNoAuth: boolean;
}

/**
 * The authenticator of a server: every configured identity source, and
 * for an unrecognised caller, nobody. Only with no identity source at all
 * is an unrecognised caller the anonymous operator, holding every role in
 * the default tenant: allowed on loopback, where only this machine reaches
 * Sightline, and elsewhere only with `--insecure-no-auth`.
 */
export function buildAuthenticator(setup: AuthSetup): Authenticator {
  const others = setup.sources ?? [];
  // With any identity source, tokens are always looked for (an empty set
  // until `sightline token create` and SIGHUP add some).
  if (setup.tokens.length > 0 || others.length > 0) return new Authenticator([new TokenSource(new TokenVerifier(setup.tokens)), ...others], null);
  if (!isLoopback(setup.listen) && !setup.insecureNoAuth)
    throw new AuthSetupError(
      `refusing to listen on ${setup.listen} with no authentication: configure tokens, OIDC or tailnet identities in the file given to --config (see docs/security.md), or pass --insecure-no-auth if everyone who can reach ${setup.listen} may read and write everything`,
    );
  const operator: Identity = { source: 'anonymous', name: 'anonymous', grants: grantsOf(ROLES, [setup.defaultTenant]) };
  return new Authenticator([], operator);
}

/** 127.0.0.0/8, ::1, and `localhost`. */
export function isLoopback(address: string): boolean {
  if (address === 'localhost' || address === '::1') return true;
  return net.isIPv4(address) && address.startsWith('127.');
}
