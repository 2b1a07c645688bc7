import type { AnyValueJson } from '../../model/any-value.js';
import type { EngineCapabilities } from '../engine.js';
import type { TagsPort } from '../ports.js';
import type { Condition, IntrinsicField, TagScope, TagValue, TimeRange } from '../request.js';
import type { TenantScope } from '../tenant.js';
import { condition, type CompileContext } from '../sql/compile.js';
import { sql, join, ident, type Sql } from '../sql/sql.js';
import { T, tenantIn } from '../sql/tables.js';
import { startsIn, type StoreContext } from './context.js';

const TYPES = ['str', 'int', 'float', 'bool', 'other'] as const;
const VALUE_TYPE = { str: 'string', int: 'int', float: 'float', bool: 'bool' } as const;

/** Attribute names and values for completion (Tempo's tag APIs), narrowed by a condition when one is given. */
export class TagReads implements TagsPort {
  constructor(private readonly ctx: StoreContext) {}

  get capabilities(): EngineCapabilities {
    return this.ctx.engine.capabilities;
  }

  async tagNames(scope: TenantScope, scopes: readonly TagScope[], range: TimeRange, limit: number, where?: Condition): Promise<Map<TagScope, string[]>> {
    const out = new Map<TagScope, string[]>();
    const spans = spanFilter(scope, range, where);
    const jsonKeys = (lists: Sql) => sql`arrayJoin(arrayFlatten(arrayMap(a -> arrayMap(kv -> JSONExtractString(kv, 'key'), JSONExtractArrayRaw(a)), ${lists})))`;
    // Result aliases are never a lambda parameter of a compiled condition
    // (k, v, x, t): ClickHouse 18.16 resolves the lambda's name to the alias
    // (an error for k, silently no rows for v).
    for (const s of scopes) {
      let query: Sql | null = null;
      switch (s) {
        case 'span':
          query = sql`SELECT DISTINCT toString(arrayJoin(arrayConcat(${join(TYPES.map((t) => ident(`attr_${t}_keys`)))}))) AS tag_name FROM ${T.spans} WHERE ${spans} LIMIT ${limit}`;
          break;
        case 'resource':
          query = sql`SELECT DISTINCT toString(arrayJoin(arrayConcat(${join(TYPES.map((t) => ident(`res_${t}_keys`)))}))) AS tag_name FROM ${T.resources} WHERE ${seenFilter(scope, range, where)} LIMIT ${limit}`;
          break;
        case 'event':
          if (this.capabilities.jsonFunctions) query = sql`SELECT DISTINCT toString(${jsonKeys(sql`event_attrs`)}) AS tag_name FROM ${T.spans} WHERE ${spans} AND notEmpty(event_attrs) LIMIT ${limit}`;
          break;
        case 'link':
          if (this.capabilities.jsonFunctions) query = sql`SELECT DISTINCT toString(${jsonKeys(sql`link_attrs`)}) AS tag_name FROM ${T.spans} WHERE ${spans} AND notEmpty(link_attrs) LIMIT ${limit}`;
          break;
        case 'instrumentation':
          if (this.capabilities.jsonFunctions)
            query = sql`SELECT DISTINCT toString(${jsonKeys(sql`[scope_attrs]`)}) AS tag_name FROM ${T.resources} WHERE ${seenFilter(scope, range, where)} AND scope_attrs != '' LIMIT ${limit}`;
          break;
      }
      // Engines without JSON functions cannot list the keys of JSON-stored attributes.
      out.set(s, query ? (await this.ctx.json<[string]>(query)).data.map((r) => r[0]).sort() : []);
    }
    return out;
  }

  async tagValues(scope: TenantScope, attr: { scope: TagScope | 'any'; name: string }, range: TimeRange, limit: number, where?: Condition): Promise<TagValue[]> {
    const spans = spanFilter(scope, range, where);
    const values: TagValue[] = [];
    const seen = new Set<string>();
    const add = (type: TagValue['type'], value: string) => {
      const k = `${type}\u0000${value}`;
      if (values.length < limit && !seen.has(k)) {
        seen.add(k);
        values.push({ type, value });
      }
    };
    const typedSides: ('attr' | 'res')[] = attr.scope === 'span' ? ['attr'] : attr.scope === 'resource' ? ['res'] : attr.scope === 'any' ? ['attr', 'res'] : [];
    for (const p of typedSides) {
      if (p === 'res' && attr.name === 'service.name') {
        // Also a sort-key column: much cheaper than the attribute arrays.
        const res = await this.ctx.json<[string]>(sql`SELECT DISTINCT toString(service_name) FROM ${T.spans} WHERE ${spans} LIMIT ${limit}`);
        for (const [v] of res.data) add('string', v);
        continue;
      }
      const [table, filter] = p === 'res' ? [T.resources, seenFilter(scope, range, where)] : [T.spans, spans];
      for (const t of TYPES) {
        if (t === 'other') continue;
        const k = ident(`${p}_${t}_keys`);
        const v = ident(`${p}_${t}_values`);
        const res = await this.ctx.json<[string]>(
          sql`SELECT DISTINCT toString(arrayJoin(arrayFilter((v, k) -> k = ${attr.name}, ${v}, ${k}))) FROM ${table} WHERE ${filter} AND has(${k}, ${attr.name}) LIMIT ${limit}`,
        );
        for (const [value] of res.data) add(VALUE_TYPE[t], t === 'bool' ? (value === '1' ? 'true' : 'false') : value);
      }
    }
    if ((attr.scope === 'event' || attr.scope === 'link' || attr.scope === 'instrumentation') && this.capabilities.jsonFunctions) {
      const [lists, table, filter] =
        attr.scope === 'instrumentation' ? [sql`[scope_attrs]`, T.resources, seenFilter(scope, range, where)] : [ident(attr.scope === 'event' ? 'event_attrs' : 'link_attrs'), T.spans, spans];
      const res = await this.ctx.json<[string]>(sql`
SELECT DISTINCT JSONExtractRaw(kv, 'value') FROM ${table}
ARRAY JOIN arrayFlatten(arrayMap(a -> JSONExtractArrayRaw(a), ${lists})) AS kv
WHERE ${filter} AND JSONExtractString(kv, 'key') = ${attr.name}
LIMIT ${limit}`);
      for (const [raw] of res.data) {
        const tv = typedValue(JSON.parse(raw) as AnyValueJson);
        if (tv) add(tv.type, tv.value);
      }
    }
    return values;
  }

  async intrinsicValues(scope: TenantScope, field: IntrinsicField, range: TimeRange, limit: number, where?: Condition): Promise<string[]> {
    let query: Sql;
    const spans = spanFilter(scope, range, where);
    switch (field) {
      case 'rootName':
      case 'rootService':
        query = sql`SELECT DISTINCT toString(${field === 'rootName' ? sql`root_name` : sql`root_service`}) FROM ${T.traceIndex}
WHERE ${tenantIn(scope)} AND has_root = 1 AND end_max >= ${range.startNs} AND start_min < ${range.endNs}${where ? sql` AND trace_id GLOBAL IN (SELECT trace_id FROM ${T.spans} WHERE ${spans})` : sql``} LIMIT ${limit}`;
        break;
      case 'eventName':
        query = sql`SELECT DISTINCT toString(arrayJoin(event_name)) FROM ${T.spans} WHERE ${spans} AND notEmpty(event_name) LIMIT ${limit}`;
        break;
      case 'scopeName':
      case 'scopeVersion':
        query = sql`SELECT DISTINCT toString(${ident(field === 'scopeName' ? 'scope_name' : 'scope_version')}) AS tag_value FROM ${T.resources} WHERE ${seenFilter(scope, range, where)} AND tag_value != '' LIMIT ${limit}`;
        break;
      default: {
        const column = { name: 'name', statusMessage: 'status_message' }[field];
        query = sql`SELECT DISTINCT toString(${ident(column)}) AS tag_value FROM ${T.spans} WHERE ${spans} AND tag_value != '' LIMIT ${limit}`;
      }
    }
    const res = await this.ctx.json<[string]>(query);
    return res.data.map((r) => r[0]).filter((v) => v !== '').sort();
  }
}

/** Spans of the scope in the range, matching `where` when given (completion narrowed by a query). */
function spanFilter(scope: TenantScope, range: TimeRange, where?: Condition): Sql {
  const cc: CompileContext = { scope, range, joined: false };
  const base = sql`${tenantIn(scope)} AND ${startsIn(range)}`;
  return where ? sql`${base} AND (${condition(where, cc)})` : base;
}

/** (resource, scope) rows with spans in the range (the rows carry no span times). */
function seenFilter(scope: TenantScope, range: TimeRange, where?: Condition): Sql {
  return sql`${tenantIn(scope)} AND resource_id GLOBAL IN (SELECT DISTINCT resource_id FROM ${T.spans} WHERE ${spanFilter(scope, range, where)})`;
}

function typedValue(v: AnyValueJson): TagValue | null {
  if ('stringValue' in v) return { type: 'string', value: v.stringValue };
  if ('intValue' in v) return { type: 'int', value: v.intValue };
  if ('doubleValue' in v) return { type: 'float', value: String(v.doubleValue) };
  if ('boolValue' in v) return { type: 'bool', value: String(v.boolValue) };
  return null;
}
