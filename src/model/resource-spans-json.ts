import type { KeyValueJson } from './any-value.js';
import { isRootSpan, type SpanRecord } from './span-record.js';
import type { ResourceGroup } from './trace-groups.js';

/**
 * A trace as OTLP JSON ResourceSpans, the shape that Jaeger's api_v3 and
 * Tempo both answer with: 64-bit integers as strings, and resource, scope
 * and status always present. They differ in how ids and enums are spelled
 * and in which values count as empty (left out): an {@link OtlpJsonStyle}.
 */

type Json = Record<string, unknown>;

export interface OtlpJsonStyle {
  /** A trace or span id: hex for api_v3, base64 for Tempo's jsonpb. */
  id(bytes: Buffer): string;
  /** A span kind other than 0 (unspecified): its number, or its enum name. */
  kind(kind: number): string | number;
  /** A status code other than 0 (unset): its number, or its enum name. */
  statusCode(code: number): string | number;
  /** Whether a field with this value is left out. */
  empty(value: unknown): boolean;
}

function put(style: OtlpJsonStyle, o: Json, key: string, v: unknown): void {
  if (!style.empty(v)) o[key] = v;
}

const attrs = (list: KeyValueJson[]): Json[] => list as unknown as Json[];

function spanJson(s: SpanRecord, style: OtlpJsonStyle): Json {
  const o: Json = { traceId: style.id(s.traceId), spanId: style.id(s.spanId) };
  put(style, o, 'traceState', s.traceState);
  if (!isRootSpan(s)) o.parentSpanId = style.id(s.parentSpanId);
  put(style, o, 'flags', s.flags);
  put(style, o, 'name', s.name);
  if (s.kind !== 0) o.kind = style.kind(s.kind);
  put(style, o, 'startTimeUnixNano', s.startNs.toString());
  put(style, o, 'endTimeUnixNano', (s.startNs + s.durationNs).toString());
  put(style, o, 'attributes', attrs(s.attributes));
  put(style, o, 'droppedAttributesCount', s.droppedAttributes);
  put(
    style,
    o,
    'events',
    s.events.map((e) => {
      const ev: Json = {};
      put(style, ev, 'timeUnixNano', e.timeNs.toString());
      put(style, ev, 'name', e.name);
      put(style, ev, 'attributes', attrs(e.attributes));
      put(style, ev, 'droppedAttributesCount', e.dropped);
      return ev;
    }),
  );
  put(style, o, 'droppedEventsCount', s.droppedEvents);
  put(
    style,
    o,
    'links',
    s.links.map((l) => {
      const link: Json = { traceId: style.id(l.traceId), spanId: style.id(l.spanId) };
      put(style, link, 'traceState', l.traceState);
      put(style, link, 'attributes', attrs(l.attributes));
      put(style, link, 'droppedAttributesCount', l.dropped);
      put(style, link, 'flags', l.flags);
      return link;
    }),
  );
  put(style, o, 'droppedLinksCount', s.droppedLinks);
  const status: Json = {};
  put(style, status, 'message', s.statusMessage);
  if (s.statusCode !== 0) status.code = style.statusCode(s.statusCode);
  o.status = status;
  return o;
}

/** The ResourceSpans of a trace's spans grouped back by resource and scope (see groupByResource). */
export function resourceSpansJson(groups: readonly ResourceGroup[], style: OtlpJsonStyle): Json[] {
  return groups.map((g) => {
    const resource: Json = {};
    put(style, resource, 'attributes', attrs(g.resource.attributes));
    put(style, resource, 'droppedAttributesCount', g.resource.dropped);
    const rs: Json = {
      resource,
      scopeSpans: g.scopes.map((sg) => {
        const scope: Json = {};
        put(style, scope, 'name', sg.scope.name);
        put(style, scope, 'version', sg.scope.version);
        put(style, scope, 'attributes', attrs(sg.scope.attributes));
        put(style, scope, 'droppedAttributesCount', sg.scope.dropped);
        const ss: Json = { scope, spans: sg.spans.map((s) => spanJson(s, style)) };
        put(style, ss, 'schemaUrl', sg.scope.schemaUrl);
        return ss;
      }),
    };
    put(style, rs, 'schemaUrl', g.resource.schemaUrl);
    return rs;
  });
}
