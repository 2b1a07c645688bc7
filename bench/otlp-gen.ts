import { randomBytes, randomFillSync } from 'node:crypto';
import { otlp } from '../testkit/otlp-schema.js';

/**
 * Realistic OTLP traffic for benchmarks: several services, 10-30 spans per
 * trace, 10-20 semantic-convention attributes per span, high-cardinality
 * values (user ids, URLs with ids, statements), occasional events and errors.
 *
 * Requests are encoded once with protobufjs (an encoder independent of
 * ours). Each send then gets fresh trace and span ids and current
 * timestamps by patching the recorded byte offsets, so the load generator
 * costs almost nothing per span and every stored span is distinct.
 */

const Request = otlp.ExportTraceServiceRequest;

interface Service {
  name: string;
  hosts: string[];
  ops: { name: string; kind: number; attrs: (i: number) => Record<string, string | number | boolean> }[];
}

const pick = <T>(a: readonly T[], i: number): T => a[i % a.length];
const REGIONS = ['eu-west-1', 'eu-central-1', 'us-east-1'];
const TENANTS = Array.from({ length: 40 }, (_, i) => `tenant-${i}`);
const ROUTES = ['/api/appointments/{id}', '/api/patients/{id}', '/api/billing/invoices', '/api/search', '/health'];

const SERVICES: Service[] = ['gateway', 'appointments', 'patients', 'billing', 'notifications', 'auth'].map((name, si) => ({
  name,
  hosts: Array.from({ length: 3 }, (_, h) => `${name}-${h}.node.consul`),
  ops: [
    {
      name: `GET ${pick(ROUTES, si)}`,
      kind: 2,
      attrs: (i) => ({
        'http.request.method': 'GET',
        'http.route': pick(ROUTES, si),
        'url.path': pick(ROUTES, si).replace('{id}', String(100000 + ((i * 7919) % 900000))),
        'url.scheme': 'http',
        'http.response.status_code': i % 37 === 0 ? 503 : 200,
        'server.address': `${name}.service.consul`,
        'server.port': 8080,
        'client.address': `10.1.${i % 16}.${(i * 13) % 250}`,
        'user_agent.original': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
        'network.protocol.version': '1.1',
        'enduser.id': `user-${(i * 104729) % 250000}`,
        'tenant.id': pick(TENANTS, i * 3),
        'http.request.body.size': (i * 31) % 4096,
        'http.response.body.size': (i * 97) % 65536,
        'session.sampled': i % 2 === 0,
      }),
    },
    {
      name: 'SELECT',
      kind: 3,
      attrs: (i) => ({
        'db.system': 'postgresql',
        'db.namespace': `${name}_db`,
        'db.operation.name': 'SELECT',
        'db.query.text': `SELECT * FROM ${name} WHERE tenant_id = $1 AND id = $2 /* ${i % 100} */`,
        'server.address': 'postgres.service.consul',
        'server.port': 5432,
        'db.response.returned_rows': i % 50,
        'network.peer.address': '10.2.0.15',
        'pool.name': `${name}-pool`,
        'pool.wait_ms': (i * 17) % 40,
        'tenant.id': pick(TENANTS, i * 3),
      }),
    },
    {
      name: `HTTP POST ${pick(['appointments', 'patients', 'billing'], si + 1)}`,
      kind: 3,
      attrs: (i) => ({
        'http.request.method': 'POST',
        'url.full': `http://${pick(['appointments', 'patients', 'billing'], si + 1)}.service.consul:8080/api/v1/items/${(i * 7907) % 1000000}`,
        'server.address': `${pick(['appointments', 'patients', 'billing'], si + 1)}.service.consul`,
        'server.port': 8080,
        'http.response.status_code': 200,
        'network.protocol.version': '1.1',
        'http.request.resend_count': i % 23 === 0 ? 1 : 0,
        'cloud.region': pick(REGIONS, i),
        'tenant.id': pick(TENANTS, i * 3),
        'retry.enabled': true,
      }),
    },
    {
      name: 'render response',
      kind: 1,
      attrs: (i) => ({
        'code.function': 'renderResponse',
        'code.namespace': `${name}.handlers`,
        'code.lineno': 100 + (i % 300),
        'template.name': `${name}-page`,
        'cache.hit': i % 3 === 0,
        'items.count': i % 80,
        'payload.ratio': ((i % 100) + 0.5) / 100,
        'locale': pick(['pl-PL', 'en-GB', 'de-DE', 'fr-FR'], i),
        'feature.flag': pick(['new-ui', 'old-ui'], i),
        'tenant.id': pick(TENANTS, i * 3),
      }),
    },
  ],
}));

function kv(attrs: Record<string, string | number | boolean>) {
  return Object.entries(attrs).map(([key, v]) => ({
    key,
    value: typeof v === 'string' ? { stringValue: v } : typeof v === 'boolean' ? { boolValue: v } : Number.isInteger(v) ? { intValue: v } : { doubleValue: v },
  }));
}

/** A request template plus where its ids and times sit in the bytes. */
export interface RequestTemplate {
  body: Buffer;
  spans: number;
  /** [offset, length] of every id occurrence; the same id keeps the same mask. */
  ids: { at: number; len: number }[];
  /** Offsets of fixed64 times, and the base they are relative to. */
  times: number[];
}

/**
 * Builds `count` request templates of about `spansPerRequest` spans,
 * grouped by resource as an SDK or Collector batch would be.
 */
export function buildTemplates(count: number, spansPerRequest: number, seed = 1): RequestTemplate[] {
  let n = seed * 1_000_003;
  const base = 1_000_000_000_000_000_000n; // far from real times, found and replaced per send
  const templates: RequestTemplate[] = [];
  for (let t = 0; t < count; t++) {
    const byResource = new Map<string, { svc: Service; host: string; spans: unknown[] }>();
    const idList: Buffer[] = [];
    const timeValues: bigint[] = [];
    let spans = 0;
    while (spans < spansPerRequest) {
      const traceId = randomBytes(16);
      idList.push(traceId);
      const size = 10 + (n++ % 21);
      const traceStart = base + BigInt(n % 1_000_000) * 1_000_000n;
      let parent: Buffer | null = null;
      const parents: Buffer[] = [];
      for (let i = 0; i < size; i++) {
        const svc = SERVICES[(t + i + (n % 3)) % SERVICES.length];
        const host = pick(svc.hosts, n + i);
        const op = i === 0 ? svc.ops[0] : pick(svc.ops, n + i);
        const spanId = randomBytes(8);
        idList.push(spanId);
        const start = traceStart + BigInt(i) * 1_500_000n + BigInt(n % 997) * 1000n;
        const end = start + BigInt(200_000 + ((n * 7919 + i * 104729) % 80_000_000));
        timeValues.push(start, end);
        const error = (n + i) % 41 === 0;
        const span: Record<string, unknown> = {
          traceId,
          spanId,
          ...(parent ? { parentSpanId: pick(parents, n + i) } : {}),
          flags: 0x101,
          name: op.name,
          kind: op.kind,
          startTimeUnixNano: start.toString(),
          endTimeUnixNano: end.toString(),
          attributes: kv(op.attrs(n * 31 + i)),
          status: error ? { code: 2, message: 'upstream connect error or disconnect/reset before headers' } : {},
        };
        if (error) {
          const at = start + 100_000n;
          timeValues.push(at);
          span.events = [{ timeUnixNano: at.toString(), name: 'exception', attributes: kv({ 'exception.type': 'ECONNRESET', 'exception.message': 'socket hang up' }) }];
        }
        parent = spanId;
        parents.push(spanId);
        const key = `${svc.name}/${host}`;
        if (!byResource.has(key)) byResource.set(key, { svc, host, spans: [] });
        byResource.get(key)!.spans.push(span);
        spans++;
        n++;
      }
    }
    const resourceSpans = [...byResource.values()].map(({ svc, host, spans: list }) => ({
      resource: {
        attributes: kv({
          'service.name': svc.name,
          'service.version': '2.3.1',
          'service.namespace': 'clinic',
          'host.name': host,
          'process.pid': 1000 + (host.length * 37) % 9000,
          'process.runtime.name': 'nodejs',
          'process.runtime.version': '20.20.2',
          'telemetry.sdk.language': 'nodejs',
          'telemetry.sdk.name': 'opentelemetry',
          'telemetry.sdk.version': '2.12.1',
          'deployment.environment.name': 'production',
          'cloud.region': pick(REGIONS, host.length),
        }),
      },
      scopeSpans: [{ scope: { name: '@opentelemetry/instrumentation-http', version: '0.223.1' }, spans: list }],
    }));
    const body = Buffer.from(Request.encode(Request.fromObject({ resourceSpans })).finish());
    const ids: { at: number; len: number }[] = [];
    for (const id of idList) {
      for (let at = body.indexOf(id); at >= 0; at = body.indexOf(id, at + id.length)) ids.push({ at, len: id.length });
    }
    const times: number[] = [];
    const probe = Buffer.alloc(8);
    for (const v of new Set(timeValues)) {
      probe.writeBigUInt64LE(v);
      for (let at = body.indexOf(probe); at >= 0; at = body.indexOf(probe, at + 8)) times.push(at);
    }
    templates.push({ body, spans, ids, times });
  }
  return templates;
}

const LOG_LINES: ((i: number, svc: string) => { severity: number; text: string; body: string; attrs: Record<string, string | number | boolean> })[] = [
  (i, svc) => ({ severity: 9, text: 'INFO', body: `GET ${pick(ROUTES, i).replace('{id}', String(100000 + ((i * 7919) % 900000)))} 200 in ${(i * 37) % 900} ms`, attrs: { 'http.route': pick(ROUTES, i), 'http.response.status_code': 200, 'enduser.id': `user-${(i * 104729) % 250000}`, 'log.logger': `${svc}.http` } }),
  (i, svc) => ({ severity: 5, text: 'DEBUG', body: `cache ${i % 3 === 0 ? 'miss' : 'hit'} for key ${svc}:${(i * 131) % 5000}`, attrs: { 'cache.key': `${svc}:${(i * 131) % 5000}`, 'log.logger': `${svc}.cache` } }),
  (i, svc) => ({ severity: 13, text: 'WARN', body: `slow query on ${svc}_db took ${200 + ((i * 53) % 3000)} ms`, attrs: { 'db.system': 'postgresql', 'db.namespace': `${svc}_db`, 'duration.ms': 200 + ((i * 53) % 3000), 'log.logger': `${svc}.db` } }),
  (i, svc) => ({ severity: 9, text: 'INFO', body: `appointment ${100000 + ((i * 7919) % 900000)} confirmed for tenant ${pick(TENANTS, i)}`, attrs: { 'tenant.id': pick(TENANTS, i), 'appointment.id': 100000 + ((i * 7919) % 900000), 'notify.sms': i % 2 === 0, 'log.logger': `${svc}.service` } }),
  (i, svc) => ({ severity: 17, text: 'ERROR', body: `upstream connect error or disconnect/reset before headers (attempt ${1 + (i % 3)})`, attrs: { 'exception.type': 'ECONNRESET', 'retry.attempt': 1 + (i % 3), 'server.address': `${svc}.service.consul`, 'log.logger': `${svc}.client` } }),
];

/**
 * Log request templates, as an SDK or Collector batch of a process's log
 * records would be: about `recordsPerRequest` records per request, grouped
 * by resource, a mix of levels and shapes, 4-5 attributes each, two in
 * three inside a trace (trace and span ids set). `spans` counts records.
 */
export function buildLogTemplates(count: number, recordsPerRequest: number, seed = 1): RequestTemplate[] {
  let n = seed * 1_000_003;
  const base = 1_000_000_000_000_000_000n;
  const templates: RequestTemplate[] = [];
  for (let t = 0; t < count; t++) {
    const byResource = new Map<string, { svc: Service; host: string; records: unknown[] }>();
    const idList: Buffer[] = [];
    const timeValues: bigint[] = [];
    for (let r = 0; r < recordsPerRequest; r++, n++) {
      const svc = SERVICES[(t + r + (n % 5)) % SERVICES.length];
      const host = pick(svc.hosts, n);
      const line = pick(LOG_LINES, n * 7 + r)(n * 31 + r, svc.name);
      const time = base + BigInt(n % 1_000_000) * 1_000_000n;
      timeValues.push(time, time + 2_000_000n);
      const record: Record<string, unknown> = {
        timeUnixNano: time.toString(),
        observedTimeUnixNano: (time + 2_000_000n).toString(),
        severityNumber: line.severity,
        severityText: line.text,
        body: { stringValue: line.body },
        attributes: kv(line.attrs),
      };
      if (n % 3 !== 0) {
        const traceId = randomBytes(16);
        const spanId = randomBytes(8);
        idList.push(traceId, spanId);
        Object.assign(record, { traceId, spanId, flags: 1 });
      }
      const key = `${svc.name}/${host}`;
      if (!byResource.has(key)) byResource.set(key, { svc, host, records: [] });
      byResource.get(key)!.records.push(record);
    }
    const resourceLogs = [...byResource.values()].map(({ svc, host, records }) => ({
      resource: {
        attributes: kv({
          'service.name': svc.name,
          'service.version': '2.3.1',
          'service.namespace': 'clinic',
          'host.name': host,
          'process.pid': 1000 + (host.length * 37) % 9000,
          'telemetry.sdk.language': 'nodejs',
          'deployment.environment.name': 'production',
          'cloud.region': pick(REGIONS, host.length),
        }),
      },
      scopeLogs: [{ scope: { name: 'pino', version: '10.4.0' }, logRecords: records }],
    }));
    const LogRequest = otlp.ExportLogsServiceRequest;
    const body = Buffer.from(LogRequest.encode(LogRequest.fromObject({ resourceLogs })).finish());
    templates.push({ body, spans: recordsPerRequest, ...offsets(body, idList, timeValues) });
  }
  return templates;
}

/** Where each id and time of a template sits in its bytes. */
function offsets(body: Buffer, idList: Buffer[], timeValues: bigint[]): { ids: { at: number; len: number }[]; times: number[] } {
  const ids: { at: number; len: number }[] = [];
  for (const id of idList) {
    for (let at = body.indexOf(id); at >= 0; at = body.indexOf(id, at + id.length)) ids.push({ at, len: id.length });
  }
  const times: number[] = [];
  const probe = Buffer.alloc(8);
  for (const v of new Set(timeValues)) {
    probe.writeBigUInt64LE(v);
    for (let at = body.indexOf(probe); at >= 0; at = body.indexOf(probe, at + 8)) times.push(at);
  }
  return { ids, times };
}

/**
 * A copy of the template with fresh ids (XOR with one random mask per
 * request, so references between spans stay consistent) and times moved so
 * the trace starts at `nowNs`.
 */
export function instantiate(t: RequestTemplate, nowNs: bigint, out?: Buffer): Buffer {
  const body = out && out.length === t.body.length ? out : Buffer.allocUnsafe(t.body.length);
  t.body.copy(body);
  const mask = randomFillSync(Buffer.allocUnsafe(16));
  for (const { at, len } of t.ids) for (let i = 0; i < len; i++) body[at + i] ^= mask[i];
  const shift = nowNs - 1_000_000_000_000_000_000n;
  for (const at of t.times) body.writeBigUInt64LE(body.readBigUInt64LE(at) + shift, at);
  return body;
}
