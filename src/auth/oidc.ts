import { hkdfSync, randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import * as client from 'openid-client';
import { EncryptJWT, jwtDecrypt } from 'jose';
import type { Logger } from 'pino';
import type { FileGrantRule, FileOidc } from '../config/file.js';
import type { Credentials, IdentitySource } from './authenticator.js';
import { ANY_TENANT, ROLES, type Grant, type Identity, type Role } from './identity.js';
import { AuthSetupError, isLoopback } from './setup.js';

/**
 * OpenID Connect login for the web UI: the authorization code flow with
 * PKCE (S256), state and nonce, against any OpenID Provider (Keycloak,
 * Authentik, Entra ID, Okta...). Nothing is kept on the server: the
 * login in progress and the session are cookies encrypted with a key only
 * Sightline holds (JWE, dir + A256GCM), so any number of processes that
 * share the key file serve the same sessions.
 *
 * A session holds the user's name, the grants their groups and login mapped
 * to at sign-in, the rules that matched, and an expiry. Reading it, grants
 * whose rule is no longer in the config are dropped: a rule removed from
 * the config (and a restart) ends that access at once; a rule widened only
 * applies at the next sign-in. Group changes at the provider apply at the
 * next sign-in too, so `session` bounds how long a removed member keeps
 * access.
 */

/** The login cannot start or finish; `status` and the text are for the page shown to the user. */
export class OidcLoginError extends Error {
  override readonly name = 'OidcLoginError';
  constructor(
    readonly status: number,
    readonly title: string,
    message: string,
    /** Set-Cookie values to send with the error page (the login cookie, cleared). */
    readonly cookies: string[] = [],
  ) {
    super(message);
  }
}

/** OIDC is configured but cannot be used (the issuer is unreachable, a key file is bad). Start-up fails. */
export class OidcSetupError extends AuthSetupError {}

export interface OidcLoginOptions {
  log: Logger;
  /** Relative clientSecretFile and sessionKeyFile are read from here: the config file's directory. */
  baseDir?: string;
  /** For the discovery request and every request to the provider; default 10 s. */
  timeoutSeconds?: number;
}

export interface LoginStart {
  /** Where to send the browser: the provider's authorization endpoint. */
  location: string;
  /** Set-Cookie values. */
  cookies: string[];
}

export interface LoginDone {
  identity: Identity;
  /** The same-origin path asked for at the start. */
  location: string;
  cookies: string[];
}

/** What the session cookie holds (encrypted). */
interface SessionClaims {
  /** The identity's name. */
  sub: string;
  /** [role, tenant] pairs. */
  grants: [Role, string][];
  /** The rules that granted them: `group:<key>` or `user:<key>`. */
  rules: string[];
}

/** What the login cookie holds between the redirect to the provider and the callback. */
interface LoginClaims {
  state: string;
  nonce: string;
  verifier: string;
  redirect: string;
}

const LOGIN_TTL_S = 600;
const JWE_HEADER = { alg: 'dir', enc: 'A256GCM' } as const;
const DECRYPT_OPTS = { keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] };

export class OidcLogin {
  /** The IdentitySource of session cookies (source 'oidc'). */
  readonly source: IdentitySource;
  /** Cookies carry Secure (and the session cookie the __Host- prefix) when the redirect URL is https. */
  readonly secure: boolean;
  readonly sessionCookie: string;
  readonly loginCookie: string;
  private readonly callbackPath: string;
  /** Sightline's origin as browsers see it (the redirect URL's). */
  private readonly origin: string;
  private readonly sessionKey: Uint8Array;
  private readonly loginKey: Uint8Array;

  private constructor(
    private settings: FileOidc,
    private readonly config: client.Configuration,
    masterKey: Uint8Array,
    private readonly log: Logger,
  ) {
    const redirect = new URL(settings.redirectUrl);
    this.secure = redirect.protocol === 'https:';
    this.callbackPath = redirect.pathname;
    this.origin = redirect.origin;
    // __Host-: the browser only accepts it Secure, with Path=/ and no Domain, so no sibling host can set it.
    this.sessionCookie = this.secure ? '__Host-sightline-session' : 'sightline-session';
    this.loginCookie = this.secure ? '__Secure-sightline-login' : 'sightline-login';
    // Separate keys: a login cookie can never be read as a session, or the reverse.
    this.sessionKey = deriveKey(masterKey, 'sightline oidc session cookie');
    this.loginKey = deriveKey(masterKey, 'sightline oidc login cookie');
    this.source = { identify: (c) => this.identify(c) };
  }

  /**
   * Reads the secret and key files, discovers the issuer, and returns a
   * login ready to use. Throws OidcSetupError with a message naming what to
   * fix: start-up fails rather than serving a UI nobody can sign in to.
   */
  static async start(settings: FileOidc, opts: OidcLoginOptions): Promise<OidcLogin> {
    const log = opts.log;
    const baseDir = opts.baseDir ?? process.cwd();
    const issuer = new URL(settings.issuer);
    const insecure = issuer.protocol === 'http:';
    if (insecure && !isLoopback(issuer.hostname.replace(/^\[|\]$/g, '')))
      throw new OidcSetupError(`oidc.issuer ${settings.issuer} is plain http on another host: ID tokens and codes would cross the network unencrypted; use the provider's https address`);
    if (!new URL(settings.redirectUrl).pathname.startsWith('/auth/callback'))
      log.warn({ redirectUrl: settings.redirectUrl }, 'oidc.redirectUrl does not end in /auth/callback, where Sightline answers the provider');

    let clientSecret: string | undefined;
    if (settings.clientSecretFile) {
      const file = path.resolve(baseDir, settings.clientSecretFile);
      clientSecret = (await readSecretFile(file, 'oidc.clientSecretFile', log)).toString('utf8').trim();
      if (!clientSecret) throw new OidcSetupError(`oidc.clientSecretFile ${file} is empty`);
    }

    let masterKey: Uint8Array;
    if (settings.sessionKeyFile) {
      const file = path.resolve(baseDir, settings.sessionKeyFile);
      const bytes = await readSecretFile(file, 'oidc.sessionKeyFile', log);
      if (bytes.length < 32) throw new OidcSetupError(`oidc.sessionKeyFile ${file} holds ${bytes.length} bytes; it needs at least 32 random bytes (e.g. openssl rand -base64 48 > ${file})`);
      masterKey = new Uint8Array(bytes);
    } else {
      masterKey = new Uint8Array(randomBytes(32));
      log.warn(
        'oidc.sessionKeyFile is not set: session cookies are encrypted with a random key of this process, so every restart signs everyone out, and several Sightline processes behind one address reject each other\'s sessions; give them all one key file',
      );
    }

    let config: client.Configuration;
    try {
      config = await client.discovery(issuer, settings.clientId, undefined, clientSecret ? client.ClientSecretBasic(clientSecret) : client.None(), {
        // The ID token's signature is checked too (against the provider's JWKS), not only its claims:
        // it then holds even where TLS to the provider does not (a loopback http issuer).
        execute: [client.enableNonRepudiationChecks, ...(insecure ? [client.allowInsecureRequests] : [])],
        timeout: opts.timeoutSeconds ?? 10,
      });
    } catch (e) {
      const cause = (e as { cause?: { message?: string; code?: string } }).cause;
      const detail = [(e as Error).message, cause?.code ?? cause?.message].filter(Boolean).join(': ');
      throw new OidcSetupError(`cannot discover the OIDC issuer ${settings.issuer} (${detail}); check oidc.issuer and that ${issuer.origin} is reachable from here`);
    }
    const meta = config.serverMetadata();
    if (meta.code_challenge_methods_supported && !meta.code_challenge_methods_supported.includes('S256'))
      log.warn({ issuer: settings.issuer }, 'the provider does not list PKCE S256; Sightline sends it anyway and relies on state and nonce as well');
    log.info({ issuer: meta.issuer, clientId: settings.clientId, confidential: clientSecret !== undefined, endSession: meta.end_session_endpoint !== undefined }, 'OIDC login ready');
    return new OidcLogin(settings, config, masterKey, log);
  }

  /**
   * Starts a login: the provider's authorization URL with a fresh PKCE
   * challenge, state and nonce, and the cookie that remembers them (and
   * where to go afterwards) until the callback.
   */
  async beginLogin(redirect: string | undefined): Promise<LoginStart> {
    const target = safeRedirectPath(redirect);
    if (target === null) throw new OidcLoginError(400, 'Not a Sightline address', 'redirect must be a path on this Sightline (starting with a single /)');
    const verifier = client.randomPKCECodeVerifier();
    const login: LoginClaims = { state: client.randomState(), nonce: client.randomNonce(), verifier, redirect: target };
    const url = client.buildAuthorizationUrl(this.config, {
      redirect_uri: this.settings.redirectUrl,
      scope: this.settings.scopes.join(' '),
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: login.state,
      nonce: login.nonce,
    });
    const jwe = await new EncryptJWT({ ...login })
      .setProtectedHeader(JWE_HEADER)
      .setAudience(this.audience('login'))
      .setIssuedAt()
      .setExpirationTime(`${LOGIN_TTL_S}s`)
      .encrypt(this.loginKey);
    return { location: url.href, cookies: [this.cookie(this.loginCookie, jwe, { path: this.callbackPath, maxAge: LOGIN_TTL_S })] };
  }

  /**
   * The callback: checks state against the login cookie, exchanges the code
   * (with the PKCE verifier), validates the ID token (signature, issuer,
   * audience, expiry) and its nonce, reads the claims (and userinfo when the
   * ID token lacks the groups claim) and maps them to grants. No rule
   * matched: no session, and an error saying so.
   * `search` is the callback's query string (with or without '?').
   */
  async finishLogin(search: string, cookieHeader: string | undefined): Promise<LoginDone> {
    const clearLogin = this.cookie(this.loginCookie, '', { path: this.callbackPath, maxAge: 0 });
    const params = new URLSearchParams(search);
    const fail = (status: number, title: string, message: string) => new OidcLoginError(status, title, message, [clearLogin]);
    if (params.has('error'))
      throw fail(403, 'The identity provider did not sign you in', `${params.get('error')}${params.get('error_description') ? `: ${params.get('error_description')}` : ''}`);
    let login: LoginClaims | null = null;
    for (const value of cookieValues(cookieHeader, this.loginCookie)) {
      login = await this.decryptLogin(value);
      if (login) break;
    }
    if (!login) throw fail(400, 'This sign-in has expired', 'The sign-in was not started from this browser, or took longer than 10 minutes. Start again.');
    if (params.get('state') !== login.state) throw fail(400, 'This sign-in does not match', 'The answer from the identity provider belongs to another sign-in (another tab, or an old link). Start again.');

    const current = new URL(this.settings.redirectUrl);
    current.search = params.toString();
    let claims: Record<string, unknown>;
    try {
      const tokens = await client.authorizationCodeGrant(this.config, current, { pkceCodeVerifier: login.verifier, expectedState: login.state, expectedNonce: login.nonce, idTokenExpected: true });
      const idClaims = tokens.claims();
      if (!idClaims) throw new Error('no ID token in the token response');
      claims = { ...idClaims };
      const needUserinfo = claims[this.settings.groupsClaim] === undefined || (typeof claims.email !== 'string' && typeof claims.preferred_username !== 'string');
      if (needUserinfo && this.config.serverMetadata().userinfo_endpoint && tokens.access_token) {
        const info = await client.fetchUserInfo(this.config, tokens.access_token, idClaims.sub);
        // The ID token's claims win; userinfo fills in what it lacks.
        claims = { ...info, ...claims };
      }
    } catch (e) {
      this.log.warn({ err: { message: (e as Error).message, code: (e as { code?: string }).code } }, 'OIDC callback failed');
      throw fail(502, 'Signing in failed', `The identity provider's answer could not be verified: ${(e as Error).message}`);
    }

    const name = identityName(claims);
    const { grants, rules } = oidcGrants(claims, this.settings);
    if (grants.length === 0) {
      this.log.warn({ user: name }, 'OIDC sign-in refused: no groups or users rule matched');
      throw fail(
        403,
        'No access to Sightline',
        `You signed in as ${name}, but no rule in Sightline's configuration grants ${name} anything: neither your login nor any of your groups (claim "${this.settings.groupsClaim}") is listed. Ask whoever runs Sightline to add your group.`,
      );
    }
    const session = await new EncryptJWT({ grants: grants.map((g) => [g.role, g.tenant]), rules } satisfies Omit<SessionClaims, 'sub'>)
      .setProtectedHeader(JWE_HEADER)
      .setSubject(name)
      .setAudience(this.audience('session'))
      .setIssuedAt()
      .setExpirationTime(new Date(Date.now() + this.settings.sessionMs))
      .encrypt(this.sessionKey);
    this.log.info({ user: name, rules }, 'OIDC sign-in');
    return {
      identity: { source: 'oidc', name, grants },
      location: login.redirect,
      cookies: [clearLogin, this.cookie(this.sessionCookie, session, { path: '/', maxAge: Math.floor(this.settings.sessionMs / 1000) })],
    };
  }

  /** Clears the session; sends the browser to the provider's end_session_endpoint when it has one, else to `/`. */
  logout(): LoginStart {
    const end = this.config.serverMetadata().end_session_endpoint ? client.buildEndSessionUrl(this.config).href : '/';
    return { location: end, cookies: [this.cookie(this.sessionCookie, '', { path: '/', maxAge: 0 })] };
  }

  /**
   * A valid session cookie's identity; null without one, and for an
   * expired, tampered or foreign one (the UI then offers a login). The
   * cookie counts only on requests from Sightline's own pages: a request
   * another origin made the browser send (Sec-Fetch-Site other than
   * same-origin, or a foreign Origin) is not signed in, so a sibling site
   * that SameSite=Lax lets through cannot act with the user's session.
   */
  async identify(c: Credentials): Promise<Identity | null> {
    const site = headerOf(c, 'sec-fetch-site');
    if (site !== undefined && site !== 'same-origin' && site !== 'none') return null;
    const origin = headerOf(c, 'origin');
    if (origin !== undefined && origin !== this.origin) return null;
    for (const value of cookieValues(c.cookie, this.sessionCookie)) {
      const identity = await this.readSession(value);
      if (identity) return identity;
    }
    return null;
  }

  private async readSession(value: string): Promise<Identity | null> {
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtDecrypt(value, this.sessionKey, { ...DECRYPT_OPTS, audience: this.audience('session'), requiredClaims: ['exp', 'sub'] }));
    } catch {
      return null;
    }
    const { sub, grants, rules } = payload as Partial<SessionClaims>;
    if (typeof sub !== 'string' || !Array.isArray(grants) || !Array.isArray(rules)) return null;
    // Only what a rule still in the config grants.
    const allowed = new Set(rules.flatMap((r) => (typeof r === 'string' ? grantsOfRule(this.ruleByKey(r)) : [])).map(grantKey));
    const kept: Grant[] = [];
    for (const g of grants) {
      if (!Array.isArray(g) || !(ROLES as readonly unknown[]).includes(g[0]) || typeof g[1] !== 'string') return null;
      const grant = { role: g[0] as Role, tenant: g[1] };
      if (allowed.has(grantKey(grant))) kept.push(grant);
    }
    // Nothing left (every rule it came from is gone): no session, so the UI offers a new sign-in.
    return kept.length > 0 ? { source: 'oidc', name: sub, grants: kept } : null;
  }

  /**
   * Takes the grant rules of a re-read config file (SIGHUP). Sessions lose at
   * once whatever a removed or narrowed rule gave them; a widened rule
   * applies at the next sign-in. Returns the settings that only a restart
   * applies (issuer, client, redirect, key, session length), if any changed.
   */
  replaceRules(next: FileOidc): string[] {
    const needRestart = (['issuer', 'clientId', 'clientSecretFile', 'redirectUrl', 'sessionKeyFile', 'sessionMs', 'scopes'] as const).filter(
      (k) => JSON.stringify(next[k]) !== JSON.stringify(this.settings[k]),
    );
    this.settings = { ...this.settings, groupsClaim: next.groupsClaim, groups: next.groups, users: next.users };
    return needRestart;
  }

  private ruleByKey(key: string): FileGrantRule | undefined {
    const colon = key.indexOf(':');
    const kind = key.slice(0, colon);
    const name = key.slice(colon + 1);
    const table = kind === 'group' ? this.settings.groups : kind === 'user' ? this.settings.users : undefined;
    return table && Object.hasOwn(table, name) ? table[name] : undefined;
  }

  private async decryptLogin(value: string): Promise<LoginClaims | null> {
    try {
      const { payload } = await jwtDecrypt(value, this.loginKey, { ...DECRYPT_OPTS, audience: this.audience('login'), requiredClaims: ['exp'] });
      const { state, nonce, verifier, redirect } = payload as Partial<LoginClaims>;
      if (typeof state !== 'string' || typeof nonce !== 'string' || typeof verifier !== 'string' || typeof redirect !== 'string') return null;
      return { state, nonce, verifier, redirect };
    } catch {
      return null;
    }
  }

  /** Bound to the issuer and client: a key file shared by two deployments does not carry sessions across. */
  private audience(kind: 'login' | 'session'): string {
    return `sightline-${kind}:${this.settings.issuer}:${this.settings.clientId}`;
  }

  private cookie(name: string, value: string, opts: { path: string; maxAge: number }): string {
    return `${name}=${value}; Path=${opts.path}; Max-Age=${opts.maxAge}; HttpOnly; SameSite=Lax${this.secure ? '; Secure' : ''}`;
  }
}

/**
 * The same-origin path to return to after login, or null for anything that
 * could leave this origin (`//host`, `/\host`, `https://...`, control
 * characters). Empty means `/`; paths into /auth/ go to `/`, not back into
 * the login.
 */
export function safeRedirectPath(raw: string | undefined): string | null {
  if (raw === undefined || raw === '') return '/';
  if (raw.length > 4096 || !raw.startsWith('/') || raw.startsWith('//')) return null;
  // Control characters anywhere; a backslash in the path part (browsers read it as '/').
  if (/[\u0000-\u001f\u007f]/.test(raw) || /\\/.test(raw.split(/[?#]/)[0])) return null;
  const base = 'http://sightline.invalid';
  let url: URL;
  try {
    url = new URL(raw, base);
  } catch {
    return null;
  }
  if (url.origin !== base) return null;
  if (url.pathname === '/auth' || url.pathname.startsWith('/auth/')) return '/';
  return raw;
}

/**
 * The grants of a user from the config's rules: `groups` keys against the
 * values of the groups claim (or `claim=value` against any claim), `users`
 * keys against the email (unless the provider says it is unverified) or
 * preferred_username. Returns the grants and the rules that matched.
 */
export function oidcGrants(claims: Record<string, unknown>, settings: Pick<FileOidc, 'groupsClaim' | 'groups' | 'users'>): { grants: Grant[]; rules: string[] } {
  const groups = new Set(claimValues(claims, settings.groupsClaim));
  const rules: string[] = [];
  const grants = new Map<string, Grant>();
  const add = (key: string, rule: FileGrantRule) => {
    rules.push(key);
    for (const g of grantsOfRule(rule)) grants.set(grantKey(g), g);
  };
  for (const [key, rule] of Object.entries(settings.groups)) {
    const eq = key.indexOf('=');
    const matched = eq > 0 ? claimValues(claims, key.slice(0, eq)).includes(key.slice(eq + 1)) : groups.has(key);
    if (matched) add(`group:${key}`, rule);
  }
  const email = typeof claims.email === 'string' && claims.email_verified !== false && claims.email_verified !== 'false' ? claims.email.toLowerCase() : undefined;
  const username = typeof claims.preferred_username === 'string' ? claims.preferred_username : undefined;
  for (const [key, rule] of Object.entries(settings.users)) {
    if ((email !== undefined && key.toLowerCase() === email) || (username !== undefined && key === username)) add(`user:${key}`, rule);
  }
  return { grants: [...grants.values()], rules };
}

/** email (when not marked unverified), else preferred_username, else the subject. */
export function identityName(claims: Record<string, unknown>): string {
  if (typeof claims.email === 'string' && claims.email && claims.email_verified !== false) return claims.email.toLowerCase();
  if (typeof claims.preferred_username === 'string' && claims.preferred_username) return claims.preferred_username;
  return String(claims.sub);
}

/**
 * A claim's values as strings: a string, the strings of an array, a
 * number or boolean. The name is tried as is (`https://example.com/groups`,
 * `cognito:groups`), then as a dotted path (`realm_access.roles`).
 */
function claimValues(claims: Record<string, unknown>, name: string): string[] {
  let v: unknown = Object.hasOwn(claims, name) ? claims[name] : undefined;
  if (v === undefined && name.includes('.')) {
    v = claims;
    for (const part of name.split('.')) v = v && typeof v === 'object' && Object.hasOwn(v, part) ? (v as Record<string, unknown>)[part] : undefined;
  }
  const one = (x: unknown) => (typeof x === 'string' ? [x] : typeof x === 'number' || typeof x === 'boolean' ? [String(x)] : []);
  return Array.isArray(v) ? v.flatMap(one) : one(v);
}

function grantsOfRule(rule: FileGrantRule | undefined): Grant[] {
  if (!rule) return [];
  return rule.roles.flatMap((role) => rule.tenants.map((tenant) => ({ role, tenant: tenant === '*' ? ANY_TENANT : tenant })));
}

function grantKey(g: Grant): string {
  return `${g.role}\u0000${g.tenant}`;
}

function deriveKey(master: Uint8Array, info: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', master, 'sightline', info, 32));
}

function headerOf(c: Credentials, name: string): string | undefined {
  const v = c.headers[name];
  return Array.isArray(v) ? v[v.length - 1] : v;
}

/** Every value of the cookie `name` in a Cookie header (a browser may send two of one name, with different paths). */
export function cookieValues(header: string | undefined, name: string): string[] {
  if (!header) return [];
  const out: string[] = [];
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) out.push(part.slice(eq + 1).trim());
  }
  return out;
}

async function readSecretFile(file: string, what: string, log: Logger): Promise<Buffer> {
  try {
    const s = await stat(file);
    if (process.platform !== 'win32' && (s.mode & 0o077) !== 0) log.warn({ file, mode: (s.mode & 0o777).toString(8) }, `${what} is readable by other users; chmod 600 it`);
    return await readFile(file);
  } catch (e) {
    throw new OidcSetupError(`${what} ${file} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}
