import { TABLES } from '../schema.js';
import type { TenantScope } from '../tenant.js';
import { sql, ident, type Sql } from './sql.js';

/** The tables, as SQL identifiers (the Distributed tables on a cluster). */
export const T = {
  spans: ident(TABLES.spans),
  resources: ident(TABLES.resources),
  traceIndex: ident(TABLES.traceIndex),
  spanMetrics: ident(TABLES.spanMetrics),
  meta: ident(TABLES.meta),
  audit: ident(TABLES.audit),
  logs: ident(TABLES.logs),
} as const;

/**
 * The tenant condition every read of every table starts with. The tenant
 * leads each table's sort key, so it is also what prunes the read.
 */
export function tenantIn(scope: TenantScope): Sql {
  return scope.tenants.length === 1 ? sql`tenant = ${scope.tenants[0]}` : sql`tenant IN (${scope.tenants})`;
}

/*
 * Subqueries are GLOBAL throughout: on a cluster the outer query and the
 * subquery both read Distributed tables, and GLOBAL sends the subquery's
 * result to the shards as data. On one node it is a plain IN.
 */

/** Spans whose (resource, scope) row in the scope matches `condition`. */
export function resourceIds(scope: TenantScope, condition: Sql): Sql {
  return sql`resource_id GLOBAL IN (SELECT resource_id FROM ${T.resources} WHERE ${tenantIn(scope)} AND ${condition})`;
}

/** Spans of the traces (in the scope) whose trace-index rows match `where`, grouped per trace, then `having`. */
export function traceIdsWhere(scope: TenantScope, where: Sql, having: Sql = sql``): Sql {
  return sql`trace_id GLOBAL IN (SELECT trace_id FROM ${T.traceIndex} WHERE ${tenantIn(scope)} AND ${where} GROUP BY trace_id ${having})`;
}

/**
 * One row per (resource, scope) with the columns spans read through it, to
 * join to span rows (`GLOBAL ANY LEFT JOIN ... USING resource_id`). The
 * table is small: one row per process and instrumentation library.
 */
export function resourceRows(scope: TenantScope): Sql {
  const columns = [
    ...['str', 'int', 'float', 'bool', 'other'].flatMap((t) => [`res_${t}_keys`, `res_${t}_values`]),
    'scope_name',
    'scope_version',
    'scope_attrs',
  ];
  return sql`(SELECT resource_id, ${sql`${columns.map((c) => sql`any(${ident(c)}) AS ${ident(c)}`)}`} FROM ${T.resources} WHERE ${tenantIn(scope)} GROUP BY resource_id)`;
}
