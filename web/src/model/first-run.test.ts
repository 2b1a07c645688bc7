import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { demoCommand, exporterEnv, placeholderQuery, type GettingStartedJson } from './first-run.js';
import { tokenize } from './traceql-tokens.js';

const info = (over: Partial<GettingStartedJson> = {}): GettingStartedJson => ({
  hasSpans: false,
  endpoints: { ui: 'http://127.0.0.1:3200/', otlpGrpc: 'http://127.0.0.1:4317', otlpHttp: 'http://127.0.0.1:4318', otlpHttpTraces: 'http://127.0.0.1:4318/v1/traces' },
  tokenRequired: false,
  clientCertificate: false,
  ...over,
});

describe('first run', () => {
  it('points the SDK environment at the OTLP/HTTP base or the gRPC listener', () => {
    assert.equal(
      exporterEnv(info(), 'http/protobuf'),
      'export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318\nexport OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf\nexport OTEL_SERVICE_NAME=my-service',
    );
    assert.match(exporterEnv(info(), 'grpc')!, /^export OTEL_EXPORTER_OTLP_ENDPOINT=http:\/\/127\.0\.0\.1:4317\nexport OTEL_EXPORTER_OTLP_PROTOCOL=grpc\n/);
    assert.doesNotMatch(exporterEnv(info(), 'grpc')!, /HEADERS/);
    assert.match(exporterEnv(info({ tokenRequired: true }), 'grpc')!, /\nexport OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer <ingester token>"$/);
    assert.equal(exporterEnv(info({ endpoints: null }), 'grpc'), undefined);
  });

  it('runs the demo against this Sightline, not one of its own on the same port', () => {
    assert.equal(demoCommand(info()), 'npm run demo -- --fault b --otlp http://127.0.0.1:4318/v1/traces --api http://127.0.0.1:3200');
    assert.match(demoCommand(info({ tokenRequired: true }))!, /^OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer <ingester token>" npm run demo /);
  });

  it('takes the example query from the services present, or names none', () => {
    assert.equal(placeholderQuery(['patients', 'billing', '']), '{ resource.service.name = "billing" && duration > 100ms }');
    assert.equal(placeholderQuery([]), '{ duration > 100ms }');
    assert.equal(placeholderQuery(['']), '{ duration > 100ms }');
    // A name with a quote stays one string token.
    const q = placeholderQuery(['a"b']);
    assert.equal(tokenize(q).filter((t) => t.kind === 'string').map((t) => t.text).join(), '"a\\"b"');
  });
});
