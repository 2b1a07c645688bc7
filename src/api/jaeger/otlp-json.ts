import type { KeyValueJson } from '../../model/any-value.js';
import { isRootSpan, type SpanRecord } from '../../model/span-record.js';
import { groupByResource } from '../../model/trace-groups.js';

/**
 * Traces as api_v3 answers them: OTLP JSON as the OpenTelemetry Collector's
 * ptrace.JSONMarshaler writes it (the OTLP/JSON encoding: ids in hex,
 * enums as numbers, 64-bit integers as strings, empty fields left out;
 * resource, scope and status always present).
 */

type Json = Record<string, unknown>;

function put(o: Json, key: string, v: unknown): void {
  if (v === undefined || v === '' || v === 0 || (Array.isArray(v) && v.length === 0)) return;
  o[key] = v;
}

const attrs = (list: KeyValueJson[]): Json[] => list as unknown as Json[];

function spanJson(s: SpanRecord): Json {
  const o: Json = { traceId: s.traceId.toString('hex'), spanId: s.spanId.toString('hex') };
  put(o, 'traceState', s.traceState);
  if (!isRootSpan(s)) o.parentSpanId = s.parentSpanId.toString('hex');
  put(o, 'flags', s.flags);
  put(o, 'name', s.name);
  put(o, 'kind', s.kind);
  o.startTimeUnixNano = s.startNs.toString();
  o.endTimeUnixNano = (s.startNs + s.durationNs).toString();
  put(o, 'attributes', attrs(s.attributes));
  put(o, 'droppedAttributesCount', s.droppedAttributes);
  put(
    o,
    'events',
    s.events.map((e) => {
      const ev: Json = { timeUnixNano: e.timeNs.toString() };
      put(ev, 'name', e.name);
      put(ev, 'attributes', attrs(e.attributes));
      put(ev, 'droppedAttributesCount', e.dropped);
      return ev;
    }),
  );
  put(o, 'droppedEventsCount', s.droppedEvents);
  put(
    o,
    'links',
    s.links.map((l) => {
      const link: Json = { traceId: l.traceId.toString('hex'), spanId: l.spanId.toString('hex') };
      put(link, 'traceState', l.traceState);
      put(link, 'attributes', attrs(l.attributes));
      put(link, 'droppedAttributesCount', l.dropped);
      put(link, 'flags', l.flags);
      return link;
    }),
  );
  put(o, 'droppedLinksCount', s.droppedLinks);
  const status: Json = {};
  put(status, 'message', s.statusMessage);
  put(status, 'code', s.statusCode);
  o.status = status;
  return o;
}

/** The ResourceSpans of one trace, grouped back by resource and scope. */
export function resourceSpansJson(spans: readonly SpanRecord[]): Json[] {
  return groupByResource(spans).map((g) => {
    const resource: Json = {};
    put(resource, 'attributes', attrs(g.resource.attributes));
    put(resource, 'droppedAttributesCount', g.resource.dropped);
    const rs: Json = {
      resource,
      scopeSpans: g.scopes.map((sg) => {
        const scope: Json = {};
        put(scope, 'name', sg.scope.name);
        put(scope, 'version', sg.scope.version);
        put(scope, 'attributes', attrs(sg.scope.attributes));
        put(scope, 'droppedAttributesCount', sg.scope.dropped);
        const ss: Json = { scope, spans: sg.spans.map(spanJson) };
        put(ss, 'schemaUrl', sg.scope.schemaUrl);
        return ss;
      }),
    };
    put(rs, 'schemaUrl', g.resource.schemaUrl);
    return rs;
  });
}
