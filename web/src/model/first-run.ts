import { quoteString } from './traceql-tokens.js';

/**
 * GET /api/sightline/getting-started (src/api/native/first-run-routes.ts):
 * whether the caller's tenants hold any span yet, and where this host
 * takes OTLP. The addresses are the ones the server is bound to.
 */
export interface GettingStartedJson {
  hasSpans: boolean;
  endpoints: { ui: string; otlpGrpc: string; otlpHttp: string; otlpHttpTraces: string } | null;
  tokenRequired: boolean;
  clientCertificate: boolean;
}

/** The service name the snippets suggest: the SDK's own default is `unknown_service`, which says nothing. */
export const SNIPPET_SERVICE = 'my-service';

/**
 * The environment every OpenTelemetry SDK reads, pointed at this host:
 * OTLP/HTTP with protobuf (the SDKs' common default), or gRPC. A token
 * placeholder is added when OTLP needs one.
 */
export function exporterEnv(info: GettingStartedJson, protocol: 'http/protobuf' | 'grpc'): string | undefined {
  if (!info.endpoints) return undefined;
  const lines = [
    `export OTEL_EXPORTER_OTLP_ENDPOINT=${protocol === 'grpc' ? info.endpoints.otlpGrpc : info.endpoints.otlpHttp}`,
    `export OTEL_EXPORTER_OTLP_PROTOCOL=${protocol}`,
    `export OTEL_SERVICE_NAME=${SNIPPET_SERVICE}`,
  ];
  if (info.tokenRequired) lines.push('export OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer <ingester token>"');
  return lines.join('\n');
}

/**
 * The clinic lab's demo, sending to this Sightline (`--otlp`, `--api`)
 * rather than starting one of its own on the same port. The lab's exporter
 * reads OTEL_EXPORTER_OTLP_HEADERS from the environment, so a token rides
 * along the same way.
 */
export function demoCommand(info: GettingStartedJson): string | undefined {
  if (!info.endpoints) return undefined;
  const token = info.tokenRequired ? 'OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer <ingester token>" ' : '';
  return `${token}npm run demo -- --fault b --otlp ${info.endpoints.otlpHttpTraces} --api ${info.endpoints.ui.replace(/\/$/, '')}`;
}

/**
 * The example in an empty query box: a service that is really there (the
 * first by name), or no service at all when none is.
 */
export function placeholderQuery(services: readonly string[]): string {
  const named = services.filter((s) => s !== '').sort();
  return named.length > 0 ? `{ resource.service.name = ${quoteString(named[0])} && duration > 100ms }` : '{ duration > 100ms }';
}
