/**
 * Test-only builders of API payloads in the exact shapes Sightline sends
 * (Tempo's jsonpb: base64 ids, decimal-string nanoseconds), so model tests
 * read like the traces they describe. Not imported by the app.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KeyValueJson, ResourceSpansJson, SpanJson, TraceByIdJson } from './otlp.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');

/** A golden API answer recorded from a live Sightline (test/golden/). */
export function golden<T>(name: string): T {
  return JSON.parse(readFileSync(path.join(REPO_ROOT, 'test', 'golden', `${name}.json`), 'utf8')) as T;
}

export const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
export const T0 = 1_700_000_000_000_000_000n;

export function b64(hex: string): string {
  return Buffer.from(hex, 'hex').toString('base64');
}

/** A span id from a small number: 1 -> "0000000000000001". */
export function sid(n: number): string {
  return n.toString(16).padStart(16, '0');
}

export interface SpanSpec {
  id: number;
  parent?: number;
  /** A parent id that is not in the trace. */
  missingParent?: string;
  service?: string;
  name?: string;
  /** Start and end in ms after T0. */
  start: number;
  end: number;
  error?: boolean;
  attributes?: Record<string, string | number | boolean>;
  kind?: string;
}

function kv(attrs: Record<string, string | number | boolean>): KeyValueJson[] {
  return Object.entries(attrs).map(([key, v]) => ({
    key,
    value: typeof v === 'string' ? { stringValue: v } : typeof v === 'boolean' ? { boolValue: v } : Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v },
  }));
}

/** A GET /api/v2/traces/{id} answer holding these spans, one resource per service. */
export function tracePayload(specs: SpanSpec[]): TraceByIdJson {
  const byService = new Map<string, SpanJson[]>();
  for (const s of specs) {
    const service = s.service ?? 'frontend';
    const span: SpanJson = {
      traceId: b64(TRACE_ID),
      spanId: b64(sid(s.id)),
      name: s.name ?? `op-${s.id}`,
      kind: s.kind ?? 'SPAN_KIND_INTERNAL',
      startTimeUnixNano: (T0 + BigInt(Math.round(s.start * 1e6))).toString(),
      endTimeUnixNano: (T0 + BigInt(Math.round(s.end * 1e6))).toString(),
      status: s.error ? { code: 'STATUS_CODE_ERROR', message: 'boom' } : {},
    };
    if (s.parent !== undefined) span.parentSpanId = b64(sid(s.parent));
    if (s.missingParent) span.parentSpanId = b64(s.missingParent);
    if (s.attributes) span.attributes = kv(s.attributes);
    const list = byService.get(service) ?? [];
    list.push(span);
    byService.set(service, list);
  }
  const resourceSpans: ResourceSpansJson[] = [...byService].map(([service, spans]) => ({
    resource: { attributes: kv({ 'service.name': service }) },
    scopeSpans: [{ scope: { name: 'lib', version: '1.0' }, spans }],
  }));
  return { trace: { resourceSpans }, metrics: {} };
}

/** Unix ns as a decimal string, `ms` after T0. */
export function at(ms: number): string {
  return (T0 + BigInt(Math.round(ms * 1e6))).toString();
}
