import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { endpointUrls, type BoundListeners } from './endpoints.js';

const bound = (address: string, tls = false): BoundListeners => ({
  http: { address, family: '', port: 3200 },
  otlpHttp: { address, family: '', port: 4318 },
  otlpGrpc: { address, family: '', port: 4317 },
  tls,
  clientCertificate: false,
});

describe('endpoint URLs', () => {
  it('use the bound address, in brackets for IPv6', () => {
    assert.deepEqual(endpointUrls(bound('127.0.0.1'), 'ignored'), {
      ui: 'http://127.0.0.1:3200/',
      otlpGrpc: 'http://127.0.0.1:4317',
      otlpHttp: 'http://127.0.0.1:4318',
      otlpHttpTraces: 'http://127.0.0.1:4318/v1/traces',
    });
    assert.equal(endpointUrls(bound('::1'), 'ignored').otlpGrpc, 'http://[::1]:4317');
    assert.equal(endpointUrls(bound('10.0.0.5', true), 'ignored').ui, 'https://10.0.0.5:3200/');
  });

  it('name the Zipkin path only when the Zipkin listener is on', () => {
    assert.equal(endpointUrls(bound('127.0.0.1'), 'ignored').zipkinSpans, undefined);
    const withZipkin = { ...bound('0.0.0.0', true), zipkin: { address: '0.0.0.0', family: '', port: 9411 } };
    assert.equal(endpointUrls(withZipkin, 'tracing.internal').zipkinSpans, 'https://tracing.internal:9411/api/v2/spans');
  });

  it('name the host a client used for a wildcard address', () => {
    assert.equal(endpointUrls(bound('0.0.0.0'), 'tracing.internal').otlpHttp, 'http://tracing.internal:4318');
    assert.equal(endpointUrls(bound('::'), '[fd00::1]').otlpHttpTraces, 'http://[fd00::1]:4318/v1/traces');
    assert.equal(endpointUrls(bound('::'), '192.168.1.4').ui, 'http://192.168.1.4:3200/');
  });
});
