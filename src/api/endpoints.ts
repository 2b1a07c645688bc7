import net, { type AddressInfo } from 'node:net';
import os from 'node:os';

/**
 * Where the three listeners are bound, as the operating system reports it
 * (after binding, so port 0 has become the real port). What the start-up
 * summary prints and the UI's first-run panel shows come from this one
 * record, never from the flags.
 */
export interface BoundListeners {
  http: AddressInfo;
  otlpHttp: AddressInfo;
  otlpGrpc: AddressInfo;
  /** Zipkin v2 ingest, when --zipkin-port is set. */
  zipkin?: AddressInfo;
  /** All three speak TLS (--tls-cert). */
  tls: boolean;
  /** The OTLP listeners ask for a client certificate (--tls-client-ca). */
  clientCertificate: boolean;
}

export interface EndpointUrls {
  /** The web UI (and the query API under it), with a trailing slash. */
  ui: string;
  /** OTLP/gRPC, as `OTEL_EXPORTER_OTLP_ENDPOINT` takes it with protocol `grpc`. */
  otlpGrpc: string;
  /** OTLP/HTTP's base, as `OTEL_EXPORTER_OTLP_ENDPOINT` takes it (the SDK appends `/v1/traces`). */
  otlpHttp: string;
  /** OTLP/HTTP's trace path, as `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` and exporters' `url` take it. */
  otlpHttpTraces: string;
  /** Where Zipkin reporters post (…/api/v2/spans), when the Zipkin listener is on. */
  zipkinSpans?: string;
}

/**
 * The listeners as URLs. A wildcard address (0.0.0.0, ::) names no host a
 * client could use, so `wildcardHost` stands in for it: the host name a
 * browser reached the UI by, or this machine's name.
 */
export function endpointUrls(bound: BoundListeners, wildcardHost: string = os.hostname()): EndpointUrls {
  const scheme = bound.tls ? 'https' : 'http';
  const url = (a: AddressInfo) => `${scheme}://${urlHost(a.address, wildcardHost)}:${a.port}`;
  const otlpHttp = url(bound.otlpHttp);
  return {
    ui: `${url(bound.http)}/`,
    otlpGrpc: url(bound.otlpGrpc),
    otlpHttp,
    otlpHttpTraces: `${otlpHttp}/v1/traces`,
    ...(bound.zipkin ? { zipkinSpans: `${url(bound.zipkin)}/api/v2/spans` } : {}),
  };
}

/** Whether an address listens on every interface. */
export function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::' || address === '::0';
}

function urlHost(address: string, wildcardHost: string): string {
  const host = isWildcard(address) ? wildcardHost.replace(/^\[(.*)\]$/, '$1') : address;
  return net.isIPv6(host) ? `[${host}]` : host;
}

/** The bound address of a server that listens, or undefined before it does. */
export function addressOf(server: { address(): AddressInfo | string | null }): AddressInfo | undefined {
  const a = server.address();
  return typeof a === 'object' && a !== null ? a : undefined;
}
