import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ANY_TENANT, PUBLIC, ROLES, holds, tenantsWith, type Role } from '../auth/index.js';
import { OidcLoginError, type OidcLogin } from '../auth/oidc.js';
import { authorize, type AuthOptions } from './auth.js';

export interface OidcRoutesOptions {
  /** OIDC login for the web UI, when the config file has an `oidc:` section. */
  oidc?: OidcLogin;
}

/** GET /auth/config: what the UI needs to know before it asks anything else. */
export interface AuthConfigJson {
  /** Whether a browser can sign in here (GET /auth/login). */
  oidc: boolean;
}

/** GET /auth/me: the caller. */
export interface MeJson {
  name: string;
  source: string;
  /** The named tenants in which the caller holds each role (admin counts as viewer). */
  tenants: Record<Role, string[]>;
  /** Roles held in every tenant. */
  everyTenant: Role[];
}

/**
 * The login routes of the web UI, all public: they are how a caller gets
 * an identity, so none can require one.
 *
 * /auth/me is public and answers 401 itself rather than declaring
 * { role: 'viewer', tenants: 'none' }: it reads no tenant's data, only the
 * caller's own grants, and it must answer every identified caller, an
 * ingester-only token or a user whose groups grant no viewer role included
 * (the UI then says what they hold instead of failing with a bare 403).
 * /auth/config and /auth/me exist with or without OIDC; the rest only
 * with it.
 */
export function registerOidcRoutes(app: FastifyInstance, opts: OidcRoutesOptions & AuthOptions): void {
  const oidc = opts.oidc;
  app.get('/auth/config', { config: { policy: PUBLIC } }, async (_req, reply) => {
    const body: AuthConfigJson = { oidc: oidc !== undefined };
    return reply.header('cache-control', 'no-store').send(body);
  });

  app.get('/auth/me', { config: { policy: PUBLIC } }, async (req, reply) => {
    reply.header('cache-control', 'no-store');
    // Throws UnauthenticatedError (401, with WWW-Authenticate) when nobody is identified.
    const { identity } = await authorize(req, reply, PUBLIC, opts);
    const body: MeJson = {
      name: identity.name,
      source: identity.source,
      tenants: Object.fromEntries(ROLES.map((r) => [r, tenantsWith(identity, r).sort()])) as Record<Role, string[]>,
      everyTenant: ROLES.filter((r) => holds(identity, r, ANY_TENANT)),
    };
    return reply.send(body);
  });

  if (!oidc) return;

  app.get('/auth/login', { config: { policy: PUBLIC } }, async (req, reply) => {
    const redirect = (req.query as Record<string, unknown>).redirect;
    try {
      const start = await oidc.beginLogin(typeof redirect === 'string' ? redirect : undefined);
      return noStore(reply).header('set-cookie', start.cookies).redirect(start.location, 302);
    } catch (e) {
      if (e instanceof OidcLoginError) return page(reply, e.status, e.title, e.message, [{ href: '/', text: 'Back to Sightline' }], e.cookies);
      throw e;
    }
  });

  app.get('/auth/callback', { config: { policy: PUBLIC } }, async (req, reply) => {
    try {
      const done = await oidc.finishLogin(queryString(req), header(req, 'cookie'));
      return noStore(reply).header('set-cookie', done.cookies).redirect(done.location, 303);
    } catch (e) {
      if (!(e instanceof OidcLoginError)) throw e;
      const links =
        e.status === 403 && e.title === 'No access to Sightline'
          ? [{ href: '/auth/logout', text: 'Sign out of the identity provider (to use another account)' }]
          : [{ href: '/auth/login', text: 'Sign in again' }];
      return page(reply, e.status, e.title, e.message, links, e.cookies);
    }
  });

  // GET for links. POST for the UI, which asks for JSON and navigates to
  // `location` itself: a form whose POST redirects to the provider would be
  // stopped by the CSP's form-action 'self'. A urlencoded body is read and
  // ignored (a parser only in this scope: the API takes no forms).
  const logout = async (req: FastifyRequest, reply: FastifyReply) => {
    const out = oidc.logout();
    noStore(reply).header('set-cookie', out.cookies);
    if (req.method === 'POST' && /application\/json/.test(header(req, 'accept') ?? '')) return reply.send({ location: out.location });
    return reply.redirect(out.location, 303);
  };
  app.get('/auth/logout', { config: { policy: PUBLIC } }, logout);
  void app.register(async (scope) => {
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_req, _body, done) => done(null, {}));
    scope.post('/auth/logout', { config: { policy: PUBLIC } }, logout);
  });
}

function noStore(reply: FastifyReply): FastifyReply {
  return reply.header('cache-control', 'no-store').header('referrer-policy', 'no-referrer');
}

function queryString(req: FastifyRequest): string {
  const q = req.url.indexOf('?');
  return q < 0 ? '' : req.url.slice(q + 1);
}

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join('; ') : v;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ESCAPES[c]);

/** A small page for the browser: why signing in stopped, and where to go. No script, nothing loaded. */
function page(reply: FastifyReply, status: number, title: string, message: string, links: { href: string; text: string }[], cookies: string[]): FastifyReply {
  if (cookies.length > 0) reply.header('set-cookie', cookies);
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${esc(title)} · Sightline</title>
<style>body{font:15px/1.5 system-ui,sans-serif;margin:0;display:grid;place-items:center;min-height:100vh;background:#f6f7f9;color:#1d2330}main{max-width:560px;padding:28px 32px;background:#fff;border:1px solid #dde1e7;border-radius:10px}h1{font-size:20px;margin:0 0 10px}a{color:#3a63d8}@media (prefers-color-scheme:dark){body{background:#14171c;color:#e4e7ec}main{background:#1c2027;border-color:#2e343e}a{color:#8aa6ff}}</style>
</head><body><main data-testid="auth-error"><h1>${esc(title)}</h1><p>${esc(message)}</p><p>${links.map((l) => `<a href="${esc(l.href)}">${esc(l.text)}</a>`).join(' · ')}</p></main></body></html>
`;
  return noStore(reply)
    .code(status)
    .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'none'")
    .type('text/html; charset=utf-8')
    .send(html);
}
