import type { Role } from './identity.js';

/**
 * What a route requires, declared on the route itself (fastify's route
 * `config.policy`). A route without one is refused at start-up, so none can
 * be added without saying who may call it and which tenants it reads; a
 * test walks the route table and tries each as the wrong caller.
 */
export interface RoutePolicy {
  /** The role needed in every tenant the request reads or writes; `public` needs no identity. */
  role: Role | 'public';
  /**
   * Which tenants: `one`, `several` (Tempo's cross-tenant `a|b`), or
   * `none` (the route reads no tenant's data, e.g. build info).
   */
  tenants: 'one' | 'several' | 'none';
  /** Recorded in the audit log: reads of span data, and admin actions. */
  audit?: 'read' | 'admin';
}

export const PUBLIC: RoutePolicy = { role: 'public', tenants: 'none' };
/** Reads span data of one or more tenants, audited. */
export const READ_SPANS: RoutePolicy = { role: 'viewer', tenants: 'several', audit: 'read' };
/** Reads what is not span data (tag names for completion, build info) of one or more tenants. */
export const READ_META: RoutePolicy = { role: 'viewer', tenants: 'several' };
export const WRITE_SPANS: RoutePolicy = { role: 'ingester', tenants: 'one' };
export const ADMIN: RoutePolicy = { role: 'admin', tenants: 'one', audit: 'admin' };
/** Admin reads (the audit trail) over one or more tenants, themselves recorded. */
export const ADMIN_READ: RoutePolicy = { role: 'admin', tenants: 'several', audit: 'admin' };
