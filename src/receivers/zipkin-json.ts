import { isUtf8 } from 'node:buffer';
import { MalformedRequestError } from './decode-result.js';
import { emptyZipkinSpan, ZIPKIN_KINDS, type ZipkinAnnotation, type ZipkinEndpoint, type ZipkinKind, type ZipkinSpan } from './zipkin-model.js';

/**
 * Parses a Zipkin v2 JSON body (`application/json`, zipkin2-api.yaml): an
 * array of span objects. A value of the wrong type makes the whole request
 * malformed, as in the OTLP/JSON decoder; what the values mean is judged
 * by the translation. Unknown keys are ignored, and null is absent.
 * @throws MalformedRequestError
 */
export function parseZipkinJson(body: Buffer): ZipkinSpan[] {
  if (!isUtf8(body)) throw new MalformedRequestError('request body is not valid UTF-8');
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw new MalformedRequestError(`invalid JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(doc)) throw new MalformedRequestError('a Zipkin v2 request is a JSON array of spans');
  return doc.map((s, i) => span(obj(s, `span ${i}`), `span ${i}`));
}

type Json = Record<string, unknown>;

function span(s: Json, where: string): ZipkinSpan {
  const out = emptyZipkinSpan();
  out.traceId = str(s.traceId, `${where} traceId`).toLowerCase();
  out.id = str(s.id, `${where} id`).toLowerCase();
  out.parentId = str(s.parentId, `${where} parentId`).toLowerCase();
  out.name = str(s.name, `${where} name`);
  out.kind = kind(s.kind, where);
  out.timestampUs = s.timestamp === undefined || s.timestamp === null ? null : micros(s.timestamp, `${where} timestamp`);
  out.durationUs = s.duration === undefined || s.duration === null ? 0n : micros(s.duration, `${where} duration`);
  out.localEndpoint = endpoint(s.localEndpoint, `${where} localEndpoint`);
  out.remoteEndpoint = endpoint(s.remoteEndpoint, `${where} remoteEndpoint`);
  out.annotations = annotations(s.annotations, where);
  const tags = s.tags;
  if (tags !== undefined && tags !== null) {
    for (const [key, value] of Object.entries(obj(tags, `${where} tags`))) {
      if (value === null || value === undefined) continue;
      // Zipkin tags are strings; some clients send numbers and booleans bare.
      if (typeof value === 'string') out.tags.set(key, value);
      else if (typeof value === 'number' || typeof value === 'boolean') out.tags.set(key, String(value));
      else throw new MalformedRequestError(`${where} tag ${JSON.stringify(key)} must be a string`);
    }
  }
  out.debug = bool(s.debug, `${where} debug`);
  out.shared = bool(s.shared, `${where} shared`);
  return out;
}

function kind(v: unknown, where: string): ZipkinKind {
  if (v === undefined || v === null || v === '') return '';
  if (typeof v === 'string' && (ZIPKIN_KINDS as readonly string[]).includes(v)) return v as ZipkinKind;
  throw new MalformedRequestError(`${where} kind must be one of ${ZIPKIN_KINDS.join(', ')}, or absent`);
}

function endpoint(v: unknown, where: string): ZipkinEndpoint | null {
  if (v === undefined || v === null) return null;
  const e = obj(v, where);
  const port = e.port ?? 0;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) throw new MalformedRequestError(`${where} port must be a number from 0 to 65535`);
  return { serviceName: str(e.serviceName, `${where} serviceName`), ipv4: str(e.ipv4, `${where} ipv4`), ipv6: str(e.ipv6, `${where} ipv6`), port };
}

function annotations(v: unknown, where: string): ZipkinAnnotation[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new MalformedRequestError(`${where} annotations must be an array`);
  return v.map((a, i) => {
    const o = obj(a, `${where} annotation ${i}`);
    if (o.timestamp === undefined || o.timestamp === null) throw new MalformedRequestError(`${where} annotation ${i} has no timestamp`);
    return { timestampUs: micros(o.timestamp, `${where} annotation ${i} timestamp`), value: str(o.value, `${where} annotation ${i} value`) };
  });
}

function obj(v: unknown, what: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new MalformedRequestError(`${what} must be an object`);
  return v as Json;
}

function str(v: unknown, what: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new MalformedRequestError(`${what} must be a string`);
  return v;
}

function bool(v: unknown, what: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw new MalformedRequestError(`${what} must be true or false`);
  return v;
}

/**
 * Epoch microseconds and durations are whole numbers. Today's times (16
 * digits) are exact as JSON numbers until 2255.
 */
function micros(v: unknown, what: string): bigint {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new MalformedRequestError(`${what} must be a whole number of microseconds`);
  return BigInt(v);
}
