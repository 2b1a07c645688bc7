import { context, trace, SpanKind, type HrTime, type Tracer } from '@opentelemetry/api';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';

/**
 * A change planted at a deploy, sent with the OpenTelemetry SDK at explicit
 * times: a service runs `oldVersion` in the hour before `atS` and
 * `newVersion` in the hour after, where every request also calls a new,
 * slow operation. Around it sit what a window must leave out: the service's
 * traces just outside both hours (other versions, slower still), and
 * another service's traces inside them.
 *
 *   before: GET /cart [0, 60 ms] -> SELECT cart [10, 50 ms]
 *   after:  GET /cart [0, 360 ms] -> SELECT cart [10, 50 ms], GET /recommendations [55, 355 ms]
 *
 * On the critical path, GET /recommendations adds exactly `extraMs`, and
 * the root and SELECT cart hold the same time in both hours.
 */
export interface PlantedDeploy {
  atS: number;
  service: string;
  oldVersion: string;
  newVersion: string;
  /** Traces of the service in each hour. */
  before: number;
  after: number;
  slowOperation: string;
  extraMs: number;
  /** Traces of another service (`<service>-neighbour`) in the hour before; none in the hour after. */
  neighbourBefore: number;
  /** Versions of the service's traces outside both hours: no group may see them. */
  outsideVersions: string[];
  /** Every trace sent, the other service's and those outside the hours included. */
  sent: number;
}

const at = (epochMs: number): HrTime => [Math.floor(epochMs / 1000), Math.round((epochMs % 1000) * 1e6)];

/**
 * `versioned: false` leaves service.version out of every resource: the new
 * operation is then the only change, and no version is first seen (the
 * Delivery test counts deployments from deployment spans alone).
 */
export async function plantDeployChange(otlpHttp: string, opts: { atS: number; service: string; perWindow?: number; versioned?: boolean }): Promise<PlantedDeploy> {
  const per = opts.perWindow ?? 12;
  const providers: BasicTracerProvider[] = [];
  const tracer = (service: string, version: string): Tracer => {
    const p = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': service, ...(opts.versioned === false ? {} : { 'service.version': version }), 'deployment.environment.name': 'production' }),
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${otlpHttp}/v1/traces` }), { maxExportBatchSize: 1000, scheduledDelayMillis: 100 })],
    });
    providers.push(p);
    return p.getTracer('deploy-change', '1.0.0');
  };
  const planted: PlantedDeploy = {
    atS: opts.atS,
    service: opts.service,
    oldVersion: '1.9.0',
    newVersion: '2.0.0',
    before: per,
    after: per,
    slowOperation: 'GET /recommendations',
    extraMs: 300,
    neighbourBefore: per,
    outsideVersions: ['0.9.0', '3.0.0'],
    sent: 0,
  };
  const request = (tr: Tracer, t0: number, slowCall: number | null) => {
    const total = 60 + (slowCall ?? 0);
    const root = tr.startSpan('GET /cart', { kind: SpanKind.SERVER, startTime: at(t0), attributes: { 'http.route': '/cart', 'http.request.method': 'GET' } }, context.active());
    const ctx = trace.setSpan(context.active(), root);
    tr.startSpan('SELECT cart', { kind: SpanKind.CLIENT, startTime: at(t0 + 10), attributes: { 'db.system': 'postgresql' } }, ctx).end(at(t0 + 50));
    if (slowCall !== null) tr.startSpan(planted.slowOperation, { kind: SpanKind.CLIENT, startTime: at(t0 + 55) }, ctx).end(at(t0 + 55 + slowCall));
    root.end(at(t0 + total));
    planted.sent++;
  };
  const t = opts.atS * 1000;
  const minute = 60_000;
  const before = tracer(opts.service, planted.oldVersion);
  const after = tracer(opts.service, planted.newVersion);
  const other = tracer(`${opts.service}-neighbour`, '5.0.0');
  // Spread over each hour, clear of its edges: a trace belongs to one window.
  for (let i = 0; i < per; i++) {
    request(before, t - 55 * minute + i * 4 * minute, null);
    request(after, t + 5 * minute + i * 4 * minute, planted.extraMs);
    request(other, t - 30 * minute + i * minute, i % 2 === 0 ? 700 : null);
  }
  // Just outside both hours, slower than anything inside: a window that let them in would rank them.
  const early = tracer(opts.service, planted.outsideVersions[0]);
  const late = tracer(opts.service, planted.outsideVersions[1]);
  for (let i = 0; i < 3; i++) {
    request(early, t - 70 * minute + i * minute, 900);
    request(late, t + 62 * minute + i * minute, 900);
  }
  await Promise.all(providers.map((p) => p.forceFlush()));
  await Promise.all(providers.map((p) => p.shutdown()));
  return planted;
}
