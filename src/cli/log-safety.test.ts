import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { EngineError } from '../store/index.js';
import type { LogLevel } from '../config/index.js';
import { logErrorSerializer } from './log-safety.js';

/** A pino logger as createLogger builds it, writing its lines into an array. */
function capture(level: LogLevel): { log: pino.Logger; lines: () => Record<string, any>[] } {
  const out: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      out.push(String(chunk));
      done();
    },
  });
  const log = pino({ level, serializers: { err: logErrorSerializer(level) } }, sink);
  return { log, lines: () => out.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l)) };
}

/** A real ECONNREFUSED from the operating system. */
async function refusedConnection(): Promise<Error> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((r) => srv.close(r));
  return new Promise((resolve) => net.connect(port, '127.0.0.1').on('error', resolve));
}

const VALUE = 'patient-4417-secret';

describe('error messages in logs', () => {
  it('below debug, withhold what an engine error or a JSON parse error quotes, keeping type, code and frames', () => {
    const { log, lines } = capture('info');
    const engine = new EngineError(`Code: 6. DB::Exception: Cannot parse string '${VALUE}' as UInt64`, 6, { cause: new Error(`raw ${VALUE}`) });
    log.error({ err: engine }, 'store insert failed');
    let parseError: Error | undefined;
    try {
      JSON.parse(VALUE);
    } catch (e) {
      parseError = e as Error;
    }
    // JSON.parse quotes the start of what it could not read.
    assert.ok(parseError?.message.includes('patient-'), parseError?.message);
    log.error({ err: new Error('wrapped', { cause: parseError }) }, 'decode failed');
    const text = JSON.stringify(lines());
    assert.ok(!text.includes('patient-'), text);
    const [first, second] = lines();
    assert.equal(first.err.type, 'EngineError');
    assert.equal(first.err.engineCode, 6);
    assert.match(first.err.message, /^EngineError \(engine code 6\): message withheld below --log-level debug/);
    assert.match(first.err.stack, /^\w*Error\n\s+at /);
    assert.match(second.err.message, /^SyntaxError: message withheld/);
  });

  it('below debug, keep the network reason under an engine error, and every other error whole', async () => {
    const { log, lines } = capture('warn');
    const refused = await refusedConnection();
    log.warn({ err: new EngineError(refused.message, undefined, { cause: refused }) }, 'store insert failed; retrying');
    log.error({ err: new Error('WAL segment 12 could not be renamed') }, 'sealing failed');
    const [engine, plain] = lines();
    assert.match(engine.err.message, /; underlying: connect ECONNREFUSED 127\.0\.0\.1:\d+$/);
    assert.equal(engine.err.code, 'ECONNREFUSED');
    assert.equal(plain.err.message, 'WAL segment 12 could not be renamed');
    assert.match(plain.err.stack, /^Error: WAL segment 12 could not be renamed\n/);
  });

  it('at debug and trace, keep the engine\'s whole message', () => {
    for (const level of ['debug', 'trace'] as const) {
      const { log, lines } = capture(level);
      log.error({ err: new EngineError(`Cannot parse string '${VALUE}'`, 6) }, 'store insert failed');
      assert.ok(JSON.stringify(lines()).includes(VALUE), level);
    }
  });
});
