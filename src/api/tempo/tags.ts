import { InvalidQueryError } from '../../errors.js';
import type { IntrinsicField, TagScope, TagValue } from '../../store/index.js';
import { TAG_SCOPES } from '../../store/index.js';

/** Intrinsic tag names, as Tempo lists them under the `intrinsic` scope. */
export const INTRINSIC_TAGS = [
  'duration', 'event:name', 'event:timeSinceStart', 'instrumentation:name', 'instrumentation:version',
  'kind', 'name', 'rootName', 'rootServiceName', 'span:duration', 'span:kind', 'span:name', 'span:status',
  'span:statusMessage', 'status', 'statusMessage', 'trace:duration', 'trace:rootName', 'trace:rootService',
  'traceDuration',
] as const;

/** How to list the values of an intrinsic: from the store, or a fixed list. */
type IntrinsicValues = { field: IntrinsicField } | { fixed: TagValue[] };

const keywords = (...values: string[]): TagValue[] => values.map((value) => ({ type: 'keyword', value }));
const STATUS_VALUES = keywords('ok', 'error', 'unset');
const KIND_VALUES = keywords('client', 'server', 'producer', 'consumer', 'internal', 'unspecified');

const INTRINSIC_VALUES: Record<string, IntrinsicValues> = {
  name: { field: 'name' },
  'span:name': { field: 'name' },
  status: { fixed: STATUS_VALUES },
  'span:status': { fixed: STATUS_VALUES },
  kind: { fixed: KIND_VALUES },
  'span:kind': { fixed: KIND_VALUES },
  statusMessage: { field: 'statusMessage' },
  'span:statusMessage': { field: 'statusMessage' },
  rootName: { field: 'rootName' },
  'trace:rootName': { field: 'rootName' },
  rootServiceName: { field: 'rootService' },
  'trace:rootService': { field: 'rootService' },
  'event:name': { field: 'eventName' },
  'instrumentation:name': { field: 'scopeName' },
  'instrumentation:version': { field: 'scopeVersion' },
  // Durations, times and ids have no useful list of values.
  duration: { fixed: [] },
  'span:duration': { fixed: [] },
  traceDuration: { fixed: [] },
  'trace:duration': { fixed: [] },
  'event:timeSinceStart': { fixed: [] },
  'span:id': { fixed: [] },
  'span:parentID': { fixed: [] },
  'trace:id': { fixed: [] },
  'link:traceID': { fixed: [] },
  'link:spanID': { fixed: [] },
};

export type TagIdentifier = { kind: 'attribute'; ref: { scope: TagScope | 'any'; name: string } } | { kind: 'intrinsic'; values: IntrinsicValues };

/**
 * A TraceQL attribute or intrinsic name, as /api/v2/search/tag/{name}/values
 * takes it: `span.x`, `resource.x`, `event.x`, `link.x`, `instrumentation.x`,
 * `.x` (any scope), a quoted name (`span."a b"`), or an intrinsic.
 */
export function parseTagIdentifier(raw: string): TagIdentifier {
  const s = raw.trim();
  const intrinsic = INTRINSIC_VALUES[s];
  if (intrinsic) return { kind: 'intrinsic', values: intrinsic };
  const invalid = () => new InvalidQueryError(`please provide a valid tagName: tag name is not valid intrinsic or scoped attribute: ${JSON.stringify(raw)}`);
  let scope: TagScope | 'any';
  let rest: string;
  if (s.startsWith('.')) {
    scope = 'any';
    rest = s.slice(1);
  } else {
    const dot = s.indexOf('.');
    if (dot < 0) throw invalid();
    const prefix = s.slice(0, dot);
    if (!(TAG_SCOPES as readonly string[]).includes(prefix)) throw invalid();
    scope = prefix as TagScope;
    rest = s.slice(dot + 1);
  }
  if (rest.startsWith('"')) {
    if (!rest.endsWith('"') || rest.length < 2) throw invalid();
    rest = JSON.parse(rest) as string;
  }
  if (rest === '') throw invalid();
  return { kind: 'attribute', ref: { scope, name: rest } };
}

/** The `scope` parameter of the tag-name endpoints. */
export function parseScopeParam(raw: string | undefined): { scopes: TagScope[]; intrinsic: boolean } {
  if (raw === undefined || raw === '' || raw === 'none' || raw === 'all') return { scopes: [...TAG_SCOPES], intrinsic: true };
  if (raw === 'intrinsic') return { scopes: [], intrinsic: true };
  if ((TAG_SCOPES as readonly string[]).includes(raw)) return { scopes: [raw as TagScope], intrinsic: false };
  throw new InvalidQueryError(`invalid scope: ${raw}`);
}
