import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { UnauthenticatedError } from '../errors.js';
import { resolveCaller, type Authenticator, type Credentials, type Identity, type RoutePolicy } from '../auth/index.js';
import { TenantScope } from '../store/index.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route and which tenants it reads; every route declares one. */
    policy?: RoutePolicy;
  }
  interface FastifyRequest {
    /** Set for every route that is not public: who called, and the tenants this request reads or writes. */
    caller?: Caller;
  }
}

export interface Caller {
  identity: Identity;
  tenants: string[];
  scope: TenantScope;
}

export interface AuthOptions {
  authenticator: Authenticator;
  defaultTenant: string;
}

/**
 * Authentication and authorization for one listener. Every route must
 * declare its policy (`config.policy`): a route without one makes start-up
 * fail. Before any handler runs, the caller is identified and the tenants
 * of the request are chosen (X-Scope-OrgID among those the identity holds
 * the route's role in); the handler reads them from `req.caller`.
 */
export function installAuth(app: FastifyInstance, opts: AuthOptions): void {
  app.addHook('onRoute', (route) => {
    if (!route.config?.policy) throw new Error(`route ${String(route.method)} ${route.url} declares no policy (config.policy): every route says who may call it`);
  });
  app.addHook('onRequest', async (req, reply) => {
    const policy = req.routeOptions.config?.policy;
    // No route matched: the not-found handler answers, and reads nothing.
    if (!policy || policy.role === 'public') return;
    req.caller = await authorize(req, reply, policy, opts);
  });
}

/** The caller of a non-public route; throws 401 (with WWW-Authenticate), 403 or 400. */
export async function authorize(req: FastifyRequest, reply: FastifyReply | null, policy: RoutePolicy, opts: AuthOptions): Promise<Caller> {
  try {
    const { identity, tenants } = await resolveCaller(opts.authenticator, credentialsOf(req), policy, header(req, 'x-scope-orgid'), opts.defaultTenant);
    return { identity, tenants, scope: TenantScope.of(tenants.length > 0 ? tenants : [opts.defaultTenant]) };
  } catch (e) {
    if (e instanceof UnauthenticatedError) reply?.header('WWW-Authenticate', 'Bearer realm="sightline"');
    throw e;
  }
}

/** What a request carries that can name its caller. */
export function credentialsOf(req: FastifyRequest): Credentials {
  return {
    authorization: header(req, 'authorization'),
    cookie: header(req, 'cookie'),
    headers: req.headers,
    remoteAddress: req.socket.remoteAddress,
    remotePort: req.socket.remotePort,
  };
}

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[v.length - 1] : v;
}

/** The tenant scope of an authorized request (routes that read tenants). */
export function scopeOf(req: FastifyRequest): TenantScope {
  if (!req.caller) throw new Error(`route ${req.url} read a tenant scope without a policy that grants one`);
  return req.caller.scope;
}
