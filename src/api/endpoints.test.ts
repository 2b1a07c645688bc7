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

  it('name the host a client used for a wildcard address', () => {
    assert.equal(endpointUrls(bound('0.0.0.0'), 'tracing.internal').otlpHttp, 'http://tracing.internal:4318');
    assert.equal(endpointUrls(bound('::'), '[fd00::1]').otlpHttpTraces, 'http://[fd00::1]:4318/v1/traces');
    assert.equal(endpointUrls(bound('::'), '192.168.1.4').ui, 'http://192.168.1.4:3200/');
  });
});
