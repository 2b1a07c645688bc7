import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EngineError } from '../store/index.js';
import type { BoundListeners } from '../api/index.js';
import { createLogger } from './serve.js';
import { prettyLine, resolveLogFormat, startupSummary, visible } from './pretty.js';

const VALUE = 'patient-4417-secret';

/** createLogger's pretty logger, writing into a string. */
function prettyLogger(level: 'info' | 'debug' = 'info', isTTY = false) {
  let text = '';
  const out = { write: (s: string) => ((text += s), true), isTTY } as unknown as NodeJS.WriteStream;
  return { log: createLogger({ logLevel: level }, 'pretty', out), text: () => text };
}

const loopback = (ports: [number, number, number], over: Partial<BoundListeners> = {}): BoundListeners => ({
  http: { address: '127.0.0.1', family: 'IPv4', port: ports[0] },
  otlpHttp: { address: '127.0.0.1', family: 'IPv4', port: ports[1] },
  otlpGrpc: { address: '127.0.0.1', family: 'IPv4', port: ports[2] },
  tls: false,
  clientCertificate: false,
  ...over,
});

describe('log format', () => {
  it('is pretty at a terminal and JSON elsewhere unless asked', () => {
    assert.equal(resolveLogFormat('auto', true), 'pretty');
    assert.equal(resolveLogFormat('auto', false), 'json');
    assert.equal(resolveLogFormat('json', true), 'json');
    assert.equal(resolveLogFormat('pretty', false), 'pretty');
  });

  it('lays a log object out as time, level, component, message and key=value fields', () => {
    const time = new Date(2026, 0, 2, 3, 4, 5, 6).getTime();
    const line = prettyLine({ level: 30, time, service: 'sightline', component: 'ingest', msg: 'store opened', engine: 'chdb', dataDir: '/tmp/a b', created: true, ports: { http: 3200 } }, { color: false });
    assert.equal(line, '03:04:05.006 INFO  [ingest] store opened  engine=chdb dataDir="/tmp/a b" created=true ports={"http":3200}\n');
    assert.equal(prettyLine({ level: 40, time, msg: 'x' }, { color: true }), '\u001b[90m03:04:05.006\u001b[0m \u001b[33mWARN \u001b[0m x\n');
  });

  it('escapes control characters, so a logged value cannot drive the terminal', () => {
    assert.equal(visible('a\u001b[2Jb\nc\u009bd\u007f'), 'a\\u001b[2Jb\\nc\\u009bd\\u007f');
    const line = prettyLine({ level: 30, time: 0, msg: 'm\u001b]0;owned\u0007', client: 'x\u001b[31m' }, { color: false });
    assert.ok(!/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.test(line), JSON.stringify(line));
    assert.match(line, /m\\u001b\]0;owned\\u0007 {2}client="x\\u001b\[31m"/);
  });

  it('shows what JSON would: credentials redacted and engine messages withheld below debug', () => {
    const { log, text } = prettyLogger('info');
    log.info({ req: { headers: { authorization: `Bearer ${VALUE}`, cookie: `s=${VALUE}` } }, store: { password: VALUE } }, 'request');
    log.error({ err: new EngineError(`Code: 6. DB::Exception: Cannot parse string '${VALUE}' as UInt64`, 6) }, 'store insert failed');
    assert.ok(!text().includes(VALUE), text());
    assert.match(text(), /\[redacted\]/);
    assert.match(text(), /ERROR store insert failed\n {4}EngineError: EngineError \(engine code 6\): message withheld below --log-level debug/);
    // Not at a terminal: no colour codes.
    assert.ok(!text().includes('\u001b['));
  });

  it('summarises the bound listeners, with the snippet an SDK reads and the demo sending here', () => {
    const text = startupSummary({ version: '9.9.9', listeners: loopback([43200, 44318, 44317]), store: 'embedded, in /data/store', retention: '7d', tokenRequired: false, hostname: 'box' });
    const lines = text.split('\n');
    assert.ok(lines.includes('Sightline 9.9.9 is ready.'));
    assert.ok(lines.includes('  Web UI      http://127.0.0.1:43200/'));
    assert.ok(lines.includes('  OTLP/gRPC   http://127.0.0.1:44317'));
    assert.ok(lines.includes('  OTLP/HTTP   http://127.0.0.1:44318  (traces: POST /v1/traces)'));
    assert.ok(lines.includes('  export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:44318'));
    assert.ok(lines.includes('  export OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf'));
    assert.ok(lines.includes('  export OTEL_SERVICE_NAME=my-service'));
    assert.ok(lines.some((l) => l.endsWith('npm run demo -- --fault b --otlp http://127.0.0.1:44318/v1/traces --api http://127.0.0.1:43200')));
    assert.ok(!text.includes('OTEL_EXPORTER_OTLP_HEADERS'));
    assert.ok(!text.includes('every interface'));
    assert.ok(!text.includes('Zipkin'));
  });

  it('shows the Zipkin listener when it is on', () => {
    const text = startupSummary({ version: '1', listeners: loopback([43200, 44318, 44317], { zipkin: { address: '127.0.0.1', family: 'IPv4', port: 49411 } }), store: 'embedded', retention: '7d', tokenRequired: false, hostname: 'box' });
    assert.ok(text.split('\n').includes('  Zipkin v2   http://127.0.0.1:49411/api/v2/spans'));
  });

  it('names the machine for a wildcard address, https under TLS, and the token exporters need', () => {
    const any = (port: number) => ({ address: '::', family: 'IPv6', port });
    const text = startupSummary({
      version: '1',
      listeners: loopback([1, 2, 3], { http: any(3200), otlpHttp: any(4318), otlpGrpc: any(4317), tls: true }),
      store: 'ClickHouse at clickhouse://sightline@ch1:8123/traces',
      retention: '14d',
      tokenRequired: true,
      hostname: 'tracing-1',
    });
    assert.match(text, /\n {2}Web UI {6}https:\/\/tracing-1:3200\/\n/);
    assert.match(text, /\n {2}OTLP\/gRPC {3}https:\/\/tracing-1:4317\n/);
    assert.match(text, /Listening on every interface \(::\); tracing-1 stands for this machine\./);
    assert.match(text, /export OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer <token>"/);
  });
});
