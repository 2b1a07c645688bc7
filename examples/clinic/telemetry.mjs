// Loaded with `node --import ./telemetry.mjs <service>.mjs`, before the
// service's own modules, so the instrumentations patch http, express and the
// rest as they are first imported.
import { register } from 'node:module';
import { context, propagation } from '@opentelemetry/api';
import { NodeTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { ExpressInstrumentation, ExpressLayerType } from '@opentelemetry/instrumentation-express';
import { URL_TEMPLATE_KEY } from './url-template.mjs';

// The services are ES modules: require-in-the-middle alone never sees their
// imports, so the loader hook (import-in-the-middle) has to be in place first.
register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);

const serviceName = process.env.CLINIC_SERVICE ?? 'unknown_service';
const otlpUrl = process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? 'http://127.0.0.1:4318/v1/traces';

/**
 * Copies the tenant from W3C baggage onto every span the service starts, so
 * each span (not only the entry span) can be filtered and compared by tenant.
 * The load driver sends `baggage: tenant.id=...`; the propagator carries it
 * through every hop.
 */
class TenantFromBaggageProcessor {
  onStart(span, parentContext) {
    const tenant = propagation.getBaggage(parentContext ?? context.active())?.getEntry('tenant.id');
    if (tenant) span.setAttribute('tenant.id', tenant.value);
  }
  onEnd() {}
  forceFlush() { return Promise.resolve(); }
  shutdown() { return Promise.resolve(); }
}

const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({
    'service.name': serviceName,
    'service.namespace': 'clinic',
    'cloud.region': process.env.CLINIC_REGION ?? 'us-east',
    'deployment.environment': process.env.CLINIC_ENVIRONMENT ?? 'lab',
  }),
  spanProcessors: [
    new TenantFromBaggageProcessor(),
    // A short delay keeps spans searchable within a second or two of the
    // request; the large queue keeps a load burst from dropping spans.
    new BatchSpanProcessor(new OTLPTraceExporter({ url: otlpUrl }), {
      scheduledDelayMillis: 250,
      maxExportBatchSize: 1024,
      maxQueueSize: 65536,
    }),
  ],
});
// Registers the AsyncLocalStorage context manager and the W3C trace-context
// and baggage propagators.
provider.register();

const otlpPath = new URL(otlpUrl).pathname;
registerInstrumentations({
  tracerProvider: provider,
  instrumentations: [
    new HttpInstrumentation({
      // The exporter's own POSTs would otherwise trace themselves.
      ignoreOutgoingRequestHook: (req) => req.path === otlpPath,
      // Client spans are named `GET /route/:param` when the caller says which
      // route it calls (see url-template.mjs), so a retry shows up on the
      // critical path as the same operation repeated, not as a bare `GET`.
      requestHook: (span, request) => {
        const template = context.active().getValue(URL_TEMPLATE_KEY);
        if (template && typeof request.getHeader === 'function') {
          span.updateName(`${request.method} ${template}`);
          span.setAttribute('url.template', template);
        }
      },
    }),
    // Middleware layers (json parsing and the like) add a span each and say
    // nothing about latency here; routers and handlers are kept.
    new ExpressInstrumentation({ ignoreLayersType: [ExpressLayerType.MIDDLEWARE] }),
  ],
});

export async function shutdownTelemetry() {
  await provider.forceFlush();
  await provider.shutdown();
}
globalThis.__clinicShutdownTelemetry = shutdownTelemetry;
