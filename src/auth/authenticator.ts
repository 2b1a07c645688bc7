import type { Identity } from './identity.js';
import type { TokenEntry, TokenSummary, TokenVerifier } from './tokens.js';

/** What a request carries that can name its caller. */
export interface Credentials {
  /** The Authorization header, if any. */
  authorization?: string;
  /** The Cookie header, if any. */
  cookie?: string;
  /** Every header, lower-case names (tailnet proxy headers). */
  headers: Record<string, string | string[] | undefined>;
  /** The TCP peer: a proxy's address, or the caller's. */
  remoteAddress?: string;
  remotePort?: number;
}

/** One way to recognise a caller; null when its credential is absent, an error when it is present but bad. */
export interface IdentitySource {
  identify(c: Credentials): Promise<Identity | null>;
}

/** A credential was presented and is wrong: 401, not a fall-through to anonymous. */
export class BadCredentialsError extends Error {
  override readonly name = 'BadCredentialsError';
}

/**
 * Bearer tokens, as OTEL_EXPORTER_OTLP_HEADERS and Grafana send them, and
 * HTTP Basic with the token as the password, as the Collector's basicauth
 * extension sends it (the user name is not checked: the token names itself).
 */
export class TokenSource implements IdentitySource {
  constructor(readonly tokens: TokenVerifier) {}

  async identify(c: Credentials): Promise<Identity | null> {
    const header = c.authorization?.trim();
    if (!header) return null;
    const space = header.indexOf(' ');
    const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
    const value = space < 0 ? '' : header.slice(space + 1).trim();
    let token: string;
    if (scheme === 'bearer') token = value;
    else if (scheme === 'basic') {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      token = colon < 0 ? '' : decoded.slice(colon + 1);
    } else throw new BadCredentialsError(`unsupported Authorization scheme ${JSON.stringify(scheme)}; use Bearer or Basic`);
    const identity = this.tokens.verify(token);
    if (!identity) throw new BadCredentialsError('the token is not valid');
    return identity;
  }
}

/**
 * Asks each source in turn; the first that recognises the caller wins. A
 * source that finds a bad credential stops the search (a wrong token is
 * never retried as anonymous).
 */
export class Authenticator {
  constructor(
    private readonly sources: readonly IdentitySource[],
    /** Who an unrecognised caller is: the anonymous operator when no authentication is configured, else nobody. */
    private readonly fallback: Identity | null,
  ) {}

  /** Whether any identity source is configured (false: an open, loopback-only Sightline). */
  get enforcing(): boolean {
    return this.fallback === null;
  }

  /**
   * Replaces the tokens of the token source; false when there is none
   * (the server started without tokens: turning authentication on needs a restart).
   */
  reloadTokens(entries: readonly TokenEntry[]): boolean {
    const source = this.sources.find((s): s is TokenSource => s instanceof TokenSource);
    if (!source) return entries.length === 0;
    source.tokens.replace(entries);
    return true;
  }

  /** The tokens in use (after any SIGHUP re-read), without their hashes. */
  tokens(): TokenSummary[] {
    const source = this.sources.find((s): s is TokenSource => s instanceof TokenSource);
    return source ? source.tokens.list() : [];
  }

  async identify(c: Credentials): Promise<Identity | null> {
    for (const s of this.sources) {
      const id = await s.identify(c);
      if (id) return id;
    }
    return this.fallback;
  }
}
