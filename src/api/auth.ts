import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { UnauthenticatedError } from '../errors.js';
import { resolveCaller, type AuditLog, type Authenticator, type Credentials, type Identity, type RoutePolicy } from '../auth/index.js';
import { TenantScope } from '../store/index.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route and which tenants it reads; every route declares one. */
    policy?: RoutePolicy;
  }
  interface FastifyRequest {
    /** Set for every route that is not public: who called, and the tenants this request reads or writes. */
    caller?: Caller;
    /** What an audited route returned: traces, series or rows (-1 when not counted). */
    auditResults?: number;
    /** What an audited route was asked beyond its URL (a request body's selection), and what it did. */
    auditDetail?: Record<string, string | number | boolean | string[]>;
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
  /** Where reads of span data and admin actions are recorded; null records nothing (tests of other things). */
  audit: AuditLog | null;
}

/**
 * Authentication and authorization for one listener. Every route must
 * declare its policy (`config.policy`): a route without one makes start-up
 * fail. Before any handler runs, the caller is identified and the tenants
 * of the request are chosen (X-Scope-OrgID among those the identity holds
 * the route's role in); the handler reads them from `req.caller`.
 */
export function installAuth(app: FastifyInstance, opts: AuthOptions): void {
  const table: DeclaredRoute[] = [];
  tables.set(app, table);
  app.addHook('onRoute', (route) => {
    const policy = route.config?.policy;
    if (!policy) throw new Error(`route ${String(route.method)} ${route.url} declares no policy (config.policy): every route says who may call it`);
    for (const method of [route.method].flat()) if (method !== 'HEAD') table.push({ method, url: route.url, policy });
  });
  app.addHook('onRequest', async (req, reply) => {
    const policy = req.routeOptions.config?.policy;
    // No route matched: the not-found handler answers, and reads nothing.
    if (!policy || policy.role === 'public') return;
    req.caller = await authorize(req, reply, policy, opts);
  });
  // The audit record is on disk before the answer leaves: no span data goes
  // out unaccounted for. If it cannot be written, the answer is withheld.
  const audit = opts.audit;
  if (audit) {
    app.addHook('onSend', async (req, reply, payload) => {
      const policy = req.routeOptions.config?.policy;
      if (!policy?.audit || !req.caller) return payload;
      try {
        await audit.append({
          identity: `${req.caller.identity.source}:${req.caller.identity.name}`,
          tenants: req.caller.tenants,
          remote: req.socket.remoteAddress ?? '',
          action: `${req.method} ${req.routeOptions.url}`,
          detail: { ...auditDetail(req), ...req.auditDetail },
          status: reply.statusCode,
          results: req.auditResults ?? -1,
        });
        return payload;
      } catch {
        reply.code(503).type('text/plain; charset=utf-8');
        return 'the audit log cannot be written, so no data is answered\n';
      }
    });
  }
}

/** What was asked, for the audit trail: route parameters and query parameters, never credentials. */
function auditDetail(req: FastifyRequest): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const source of [req.params, req.query] as unknown[]) {
    if (!source || typeof source !== 'object') continue;
    for (const [k, v] of Object.entries(source as Record<string, unknown>)) {
      if (/token|password|secret|authorization|cookie/i.test(k)) continue;
      if (typeof v === 'string') out[k] = v.length > 8192 ? `${v.slice(0, 8192)}...` : v;
      else if (Array.isArray(v)) out[k] = v.filter((x): x is string => typeof x === 'string');
    }
  }
  return out;
}

export interface DeclaredRoute {
  method: string;
  url: string;
  policy: RoutePolicy;
}

const tables = new WeakMap<FastifyInstance, DeclaredRoute[]>();

/** Every route of a server and its policy, as declared (for the test that tries each as the wrong caller). */
export function declaredRoutes(app: FastifyInstance): readonly DeclaredRoute[] {
  return tables.get(app) ?? [];
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
