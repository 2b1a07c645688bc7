import { createHash } from 'node:crypto';
import type { AnyValueJson, KeyValueJson } from '../model/any-value.js';
import type { SpanBatchBuilder } from '../model/span-batch.js';
import { DecodeOutcome, MalformedRequestError, type DecodeOptions } from './decode-result.js';
import { JsonSpanDecoder } from './decode-json.js';
import type { ResourceRows } from './row-templates.js';
import type { ZipkinEndpoint, ZipkinSpan } from './zipkin-model.js';

/**
 * Zipkin v2 spans translated to OTLP, as the OpenTelemetry Collector's
 * Zipkin receiver does (opentelemetry-collector-contrib
 * pkg/translator/zipkin/zipkinv2, with the specification's "Zipkin
 * exporter" mapping read backwards), into the OTLP/JSON shape the OTLP
 * decoders take. The spans then go through the OTLP/JSON decoder itself,
 * so they are checked, redacted and stored exactly as OTLP spans are.
 *
 * - Ids: 64-bit trace ids are padded to 128 bits with leading zeros; a
 *   parent id equal to the span's own id, or zero, means no parent.
 * - Kind: CLIENT, SERVER, PRODUCER, CONSUMER as such; absent is INTERNAL
 *   (the specification maps INTERNAL to absent), unless a `span.kind` tag
 *   names the kind.
 * - localEndpoint: its serviceName is the resource's `service.name` (or the
 *   key a `otlp.service.name.source` tag names); its address and port are
 *   the span attributes `net.host.ip` and `net.host.port`. Tags named like
 *   resource attributes (host.name, service.version...) go to the resource.
 * - remoteEndpoint: `peer.service` (unless a tag sets it), `net.peer.ip`,
 *   `net.peer.port`.
 * - Tags: string attributes, except those that carry OTLP fields:
 *   `otel.status_code` and `otel.status_description` (the status),
 *   `error` (status ERROR; a value other than "true" is also the status
 *   message, and stays an attribute), `w3c.tracestate`,
 *   `otel.scope.name`/`otel.scope.version` and `otel.library.*` (the
 *   instrumentation scope), `otlp.link.N` (links).
 * - Annotations: events at their time; `name|{json attributes}|dropped`,
 *   the collector's own encoding of an event, is read back.
 * - Times: microseconds become nanoseconds. A span without a timestamp is
 *   rejected: Sightline places every span in time.
 * - shared: a SERVER span that shares its id with the client span that
 *   called it (B3 "join") gets an id of its own, derived from the shared
 *   one, and the client half as its parent, as Jaeger's span id deduper
 *   does at query time. Its children in the same request, from the same
 *   service, are moved under it. Children sent in another request stay
 *   under the shared id, the client half: still in the tree, one level up.
 * - debug: every span sent is sampled (trace flags 01); debug (B3 flags 1)
 *   is kept as the boolean attribute `zipkin.debug`.
 */
export function zipkinToOtlp(spans: readonly ZipkinSpan[], outcome: DecodeOutcome): OtlpJsonRequest {
  // First the ids, so that a shared server span's children in this request
  // can be moved under the id it is given.
  const valid: { span: ZipkinSpan; ids: Ids }[] = [];
  const sharedServer = new Map<string, string>();
  for (const span of spans) {
    const ids = normalizeIds(span);
    if (typeof ids === 'string') {
      outcome.reject(ids);
      continue;
    }
    if (span.timestampUs === null) {
      outcome.reject('span timestamp is missing: a span without a start time cannot be placed in time');
      continue;
    }
    if (span.shared && span.kind === 'SERVER') {
      const own = sharedServerId(ids.traceId, ids.spanId);
      sharedServer.set(childKey(ids.traceId, ids.spanId, span.localEndpoint?.serviceName ?? ''), own);
      ids.parentSpanId = ids.spanId;
      ids.spanId = own;
    }
    valid.push({ span, ids });
  }
  for (const { span, ids } of valid) {
    if (ids.parentSpanId === '' || (span.shared && span.kind === 'SERVER')) continue;
    const moved = sharedServer.get(childKey(ids.traceId, ids.parentSpanId, span.localEndpoint?.serviceName ?? ''));
    if (moved !== undefined) ids.parentSpanId = moved;
  }

  const groups = new Map<string, { resource: KeyValueJson[]; scope: { name: string; version: string }; spans: OtlpJsonSpan[] }>();
  for (const { span, ids } of valid) {
    const tags = new Map(span.tags);
    const resource = resourceOf(span.localEndpoint, tags);
    const scope = scopeOf(tags);
    const otlp = translateSpan(span, ids, tags);
    const key = JSON.stringify([resource, scope]);
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { resource, scope, spans: [] }));
    group.spans.push(otlp);
  }
  return {
    resourceSpans: [...groups.values()].map((g) => ({
      resource: { attributes: g.resource },
      scopeSpans: [{ scope: g.scope, spans: g.spans }],
    })),
  };
}

/** The OTLP/JSON request the translation produces (the subset of ExportTraceServiceRequest it uses). */
export interface OtlpJsonRequest {
  resourceSpans: {
    resource: { attributes: KeyValueJson[] };
    scopeSpans: { scope: { name: string; version: string }; spans: OtlpJsonSpan[] }[];
  }[];
}

export interface OtlpJsonSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  traceState: string;
  flags: number;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: KeyValueJson[];
  events: { timeUnixNano: string; name: string; attributes: KeyValueJson[]; droppedAttributesCount: number }[];
  links: { traceId: string; spanId: string; traceState: string; attributes: KeyValueJson[]; droppedAttributesCount: number }[];
  status: { code: number; message: string };
}

/**
 * Decodes Zipkin v2 bodies into span batch columns, like the OTLP decoders
 * (same signature, same outcome): parse, translate, then the OTLP/JSON
 * decoder's own checks and column writing.
 */
export class ZipkinSpanDecoder {
  private readonly json = new JsonSpanDecoder();
  constructor(private readonly parse: (body: Buffer) => ZipkinSpan[]) {}

  decode(body: Buffer, out: SpanBatchBuilder, resources: ResourceRows, opts: DecodeOptions): DecodeOutcome {
    // As Zipkin's own collector answers an empty POST.
    if (body.length === 0) throw new MalformedRequestError('request body is empty; send a list of Zipkin v2 spans');
    const outcome = new DecodeOutcome();
    const request = zipkinToOtlp(this.parse(body), outcome);
    return this.json.decodeRequest(request, out, resources, opts, outcome);
  }
}

// ---- ids ----------------------------------------------------------------

interface Ids {
  /** 32 lower-case hex digits. */
  traceId: string;
  /** 16 lower-case hex digits. */
  spanId: string;
  /** 16 lower-case hex digits, or '' for none. */
  parentSpanId: string;
}

const HEX = /^[0-9a-f]+$/;
const ZEROS = /^0+$/;

/** The span's ids in OTLP's sizes, or why it has none usable. */
function normalizeIds(span: ZipkinSpan): Ids | string {
  if (span.problem) return span.problem;
  const { traceId, id, parentId } = span;
  if (traceId === '') return 'span traceId is missing';
  if (traceId.length > 32 || !HEX.test(traceId)) return `span traceId must be 16 or 32 hex characters, got ${JSON.stringify(traceId.slice(0, 40))}`;
  if (ZEROS.test(traceId)) return 'span traceId is all zero';
  if (id === '') return 'span id is missing';
  if (id.length > 16 || !HEX.test(id)) return `span id must be 16 hex characters, got ${JSON.stringify(id.slice(0, 40))}`;
  if (ZEROS.test(id)) return 'span id is all zero';
  if (parentId !== '' && (parentId.length > 16 || !HEX.test(parentId))) return `span parentId must be 16 hex characters, got ${JSON.stringify(parentId.slice(0, 40))}`;
  const spanId = id.padStart(16, '0');
  let parentSpanId = parentId === '' || ZEROS.test(parentId) ? '' : parentId.padStart(16, '0');
  if (parentSpanId === spanId) parentSpanId = '';
  // Zipkin pads short ids on the left; a 64-bit trace id is the low half of a 128-bit one.
  return { traceId: traceId.padStart(32, '0'), spanId, parentSpanId };
}

/**
 * The id a shared server span gets: derived from the trace and the shared
 * id, so the same span sent twice gets the same id.
 */
export function sharedServerId(traceId: string, sharedId: string): string {
  const digest = createHash('sha256').update(Buffer.from(traceId, 'hex')).update(Buffer.from(sharedId, 'hex')).update('zipkin shared server span').digest();
  // Never zero (an invalid id), never the shared id itself.
  let id = digest.subarray(0, 8).toString('hex');
  if (ZEROS.test(id) || id === sharedId) id = digest.subarray(8, 16).toString('hex');
  return id;
}

function childKey(traceId: string, parentId: string, service: string): string {
  return `${traceId}/${parentId}/${service}`;
}

// ---- resource and scope ---------------------------------------------------

/**
 * Tags that describe the process rather than the operation: the resource
 * semantic conventions the collector's translator moves to the resource
 * (semconv 1.6.1), and the OpenCensus ones it treats alike.
 */
const RESOURCE_TAGS: ReadonlySet<string> = new Set([
  'cloud.provider', 'cloud.account.id', 'cloud.region', 'cloud.availability_zone', 'cloud.platform',
  'aws.ecs.container.arn', 'aws.ecs.cluster.arn', 'aws.ecs.launchtype', 'aws.ecs.task.arn', 'aws.ecs.task.family', 'aws.ecs.task.revision',
  'aws.eks.cluster.arn', 'aws.log.group.names', 'aws.log.group.arns', 'aws.log.stream.names', 'aws.log.stream.arns',
  'container.name', 'container.id', 'container.runtime', 'container.image.name', 'container.image.tag',
  'deployment.environment', 'device.id', 'device.model.identifier', 'device.model.name',
  'faas.name', 'faas.id', 'faas.version', 'faas.instance', 'faas.max_memory',
  'host.id', 'host.name', 'host.type', 'host.arch', 'host.image.name', 'host.image.id', 'host.image.version',
  'k8s.cluster.name', 'k8s.node.name', 'k8s.node.uid', 'k8s.namespace.name', 'k8s.pod.uid', 'k8s.pod.name', 'k8s.container.name',
  'k8s.replicaset.uid', 'k8s.replicaset.name', 'k8s.deployment.uid', 'k8s.deployment.name', 'k8s.statefulset.uid', 'k8s.statefulset.name',
  'k8s.daemonset.uid', 'k8s.daemonset.name', 'k8s.job.uid', 'k8s.job.name', 'k8s.cronjob.uid', 'k8s.cronjob.name',
  'os.type', 'os.description', 'os.name', 'os.version',
  'process.pid', 'process.executable.name', 'process.executable.path', 'process.command', 'process.command_line', 'process.command_args',
  'process.owner', 'process.runtime.name', 'process.runtime.version', 'process.runtime.description',
  'service.name', 'service.namespace', 'service.instance.id', 'service.version',
  'telemetry.sdk.name', 'telemetry.sdk.language', 'telemetry.sdk.version', 'telemetry.auto.version',
  'webengine.name', 'webengine.version', 'webengine.description',
  'opencensus.starttime', 'opencensus.exporterversion', 'opencensus.resourcetype',
]);

const SERVICE_NAME_SOURCE_TAG = 'otlp.service.name.source';

/** The resource: the local service name and the resource tags, which leave `tags`. */
function resourceOf(local: ZipkinEndpoint | null, tags: Map<string, string>): KeyValueJson[] {
  const attrs = new Map<string, string>();
  for (const [key, value] of tags) {
    if (!RESOURCE_TAGS.has(key)) continue;
    attrs.set(key, value);
    tags.delete(key);
  }
  const source = tags.get(SERVICE_NAME_SOURCE_TAG);
  tags.delete(SERVICE_NAME_SOURCE_TAG);
  // The endpoint is Zipkin's own field for it, so it wins over a tag.
  if (local?.serviceName) attrs.set(source || 'service.name', local.serviceName);
  return [...attrs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, value]) => str(key, value));
}

/** The instrumentation scope, from `otel.scope.*` or the older `otel.library.*` tags, which leave `tags`. */
function scopeOf(tags: Map<string, string>): { name: string; version: string } {
  const take = (key: string) => {
    const v = tags.get(key);
    tags.delete(key);
    return v;
  };
  const name = take('otel.scope.name');
  const version = take('otel.scope.version');
  const libraryName = take('otel.library.name');
  const libraryVersion = take('otel.library.version');
  return { name: name ?? libraryName ?? '', version: version ?? libraryVersion ?? '' };
}

// ---- the span -------------------------------------------------------------

const KIND = { INTERNAL: 1, SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 } as const;
const KIND_TAG_VALUES: Record<string, number> = { internal: KIND.INTERNAL, server: KIND.SERVER, client: KIND.CLIENT, producer: KIND.PRODUCER, consumer: KIND.CONSUMER };
const STATUS = { UNSET: 0, OK: 1, ERROR: 2 } as const;
/** `otel.status_code` values: the specification's names, and the collector's older spellings. */
const STATUS_TAG_VALUES: Record<string, number> = {
  UNSET: STATUS.UNSET, OK: STATUS.OK, ERROR: STATUS.ERROR,
  STATUS_CODE_UNSET: STATUS.UNSET, STATUS_CODE_OK: STATUS.OK, STATUS_CODE_ERROR: STATUS.ERROR,
  Unset: STATUS.UNSET, Ok: STATUS.OK, Error: STATUS.ERROR,
};
const SAMPLED = 0x01;
const MAX_LINK_TAGS = 128;

function translateSpan(span: ZipkinSpan, ids: Ids, tags: Map<string, string>): OtlpJsonSpan {
  let kind: number = span.kind === '' ? KIND.INTERNAL : KIND[span.kind];
  const kindTag = tags.get('span.kind');
  if (span.kind === '' && kindTag !== undefined && Object.hasOwn(KIND_TAG_VALUES, kindTag.toLowerCase())) {
    kind = KIND_TAG_VALUES[kindTag.toLowerCase()];
    tags.delete('span.kind');
  }

  const traceState = tags.get('w3c.tracestate') ?? '';
  tags.delete('w3c.tracestate');

  const status = { code: STATUS.UNSET as number, message: '' };
  const statusTag = tags.get('otel.status_code');
  if (statusTag !== undefined && Object.hasOwn(STATUS_TAG_VALUES, statusTag)) {
    status.code = STATUS_TAG_VALUES[statusTag];
    tags.delete('otel.status_code');
    const description = tags.get('otel.status_description');
    if (description !== undefined) {
      status.message = description;
      tags.delete('otel.status_description');
    }
  }
  const error = tags.get('error');
  // Zipkin marks a failed span with an `error` tag, often holding the
  // message; "false" is what some clients send for success.
  if (error !== undefined && error !== 'false') {
    status.code = STATUS.ERROR;
    if (error === '' || error === 'true') tags.delete('error');
    else if (status.message === '') status.message = error;
  }

  const links = linksOf(tags);

  // Tags first, then what the endpoints say, which wins, as in the collector.
  const attrs = new Map<string, AnyValueJson>();
  for (const [key, value] of tags) attrs.set(key, { stringValue: value });
  const local = span.localEndpoint;
  if (local) {
    const ip = local.ipv6 || local.ipv4;
    if (ip) attrs.set('net.host.ip', { stringValue: ip });
    if (local.port > 0) attrs.set('net.host.port', { intValue: String(local.port) });
  }
  const remote = span.remoteEndpoint;
  if (remote) {
    // The specification: peer.service from the remote endpoint, unless a tag sets it.
    if (remote.serviceName && !tags.has('peer.service')) attrs.set('peer.service', { stringValue: remote.serviceName });
    const ip = remote.ipv6 || remote.ipv4;
    if (ip) attrs.set('net.peer.ip', { stringValue: ip });
    if (remote.port > 0) attrs.set('net.peer.port', { intValue: String(remote.port) });
  }
  if (span.debug) attrs.set('zipkin.debug', { boolValue: true });

  const startNs = span.timestampUs! * 1000n;
  return {
    traceId: ids.traceId,
    spanId: ids.spanId,
    parentSpanId: ids.parentSpanId,
    traceState,
    flags: SAMPLED,
    name: span.name,
    kind,
    startTimeUnixNano: String(startNs),
    endTimeUnixNano: String(startNs + span.durationUs * 1000n),
    attributes: [...attrs].map(([key, value]) => ({ key, value })),
    events: span.annotations.map((a) => ({ timeUnixNano: String(a.timestampUs * 1000n), ...eventOf(a.value) })),
    links,
    status,
  };
}

/**
 * An annotation as an event: `name|{json attributes}|dropped` (how the
 * collector writes an OpenTelemetry event to Zipkin) is read back into its
 * parts; anything else is the event's name as it is.
 */
function eventOf(value: string): { name: string; attributes: KeyValueJson[]; droppedAttributesCount: number } {
  const parts = value.split('|');
  if (parts.length >= 3) {
    const dropped = parts[parts.length - 1];
    const attributes = jsonAttributes(parts.slice(1, -1).join('|'));
    if (/^\d{1,9}$/.test(dropped) && attributes) return { name: parts[0], attributes, droppedAttributesCount: Number(dropped) };
  }
  return { name: value, attributes: [], droppedAttributesCount: 0 };
}

/**
 * Links from `otlp.link.0`, `otlp.link.1`... tags, each
 * `traceId|spanId|traceState|{json attributes}|dropped` (the collector's
 * encoding). A tag that does not parse stays an attribute.
 */
function linksOf(tags: Map<string, string>): OtlpJsonSpan['links'] {
  const links: OtlpJsonSpan['links'] = [];
  for (let i = 0; i < MAX_LINK_TAGS; i++) {
    const key = `otlp.link.${i}`;
    const value = tags.get(key);
    if (value === undefined) break;
    const parts = value.split('|');
    if (parts.length < 5) continue;
    const traceId = unquote(parts[0]).toLowerCase();
    const spanId = unquote(parts[1]).toLowerCase();
    const dropped = parts[parts.length - 1];
    const attributes = jsonAttributes(parts.slice(3, -1).join('|'));
    const idOk = (id: string, n: number) => id === '' || (id.length === n && HEX.test(id));
    if (!idOk(traceId, 32) || !idOk(spanId, 16) || !/^\d{1,9}$/.test(dropped) || !attributes) continue;
    links.push({ traceId, spanId, traceState: parts[2], attributes, droppedAttributesCount: Number(dropped) });
    tags.delete(key);
  }
  return links;
}

/** A flat JSON object of strings, numbers and booleans as attributes (others are left out, as the collector does); null if it is not one. */
function jsonAttributes(text: string): KeyValueJson[] | null {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return null;
  const out: KeyValueJson[] = [];
  for (const [key, v] of Object.entries(doc)) {
    if (typeof v === 'string') out.push(str(key, v));
    else if (typeof v === 'boolean') out.push({ key, value: { boolValue: v } });
    else if (typeof v === 'number' && Number.isSafeInteger(v)) out.push({ key, value: { intValue: String(v) } });
    else if (typeof v === 'number' && Number.isFinite(v)) out.push({ key, value: { doubleValue: v } });
  }
  return out;
}

/** The collector writes link ids as JSON strings, quotes and all. */
function unquote(s: string): string {
  return s.length >= 2 && s.startsWith('"') && s.endsWith('"') ? s.slice(1, -1) : s;
}

function str(key: string, value: string): KeyValueJson {
  return { key, value: { stringValue: value } };
}
