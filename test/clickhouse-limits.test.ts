import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO_ROOT } from '../testkit/sightline.js';
import { ClickHouseEngine } from '../src/store/clickhouse/index.js';
import { EngineError, type StatementLimits } from '../src/store/engine.js';
import { sql } from '../src/store/sql/sql.js';

/**
 * Statement limits and cancellation on a real ClickHouse server (Debian's
 * 18.16): its error answers carry the code in 18.16's own format, and an
 * aborted query leaves system.processes, not only our HTTP request.
 */
interface TestServers {
  shards: { url: string; pid: number }[];
  stop(): Promise<void>;
}

describe('ClickHouse statement limits', { timeout: 180_000 }, () => {
  let servers: TestServers;
  let engine: ClickHouseEngine;
  const limits = (over: Partial<StatementLimits> = {}): StatementLimits => ({
    queryId: `limits-test-${Math.random().toString(36).slice(2)}`,
    maxExecutionSeconds: 30,
    maxMemoryBytes: 1024 ** 3,
    maxResultRows: 1_000_000,
    maxResultBytes: 64 * 1024 ** 2,
    ...over,
  });
  // A statement that runs for minutes unless stopped.
  const endless = sql`SELECT count() FROM system.numbers WHERE number % 1000000007 = 1000000006 AND number < 100000000000000`;

  before(async () => {
    const mod = (await import(path.join(REPO_ROOT, 'scripts', 'clickhouse-test-servers.mjs'))) as { startClickHouseServers(n: number): Promise<TestServers> };
    servers = await mod.startClickHouseServers(1);
    const url = new URL(servers.shards[0].url);
    engine = await ClickHouseEngine.open({ urls: [servers.shards[0].url], user: 'default', password: '', database: `limits_${url.port}` });
  });
  after(async () => {
    await engine?.close();
    await servers?.stop();
  });

  it('stops a statement at max_execution_time and says which limit it hit', async () => {
    const err = await engine.queryLimited(endless, 'TabSeparated', 'query', limits({ maxExecutionSeconds: 1 })).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err instanceof EngineError, String(err));
    assert.equal(err.code, 159);
    assert.equal(err.limitHit, 'time');
  });

  it('refuses a statement past its memory limit, and a result past its row limit', async () => {
    const memory = await engine
      .queryLimited(sql`SELECT groupArray(toString(number)) FROM numbers(10000000)`, 'TabSeparated', 'query', limits({ maxMemoryBytes: 32 * 1024 ** 2 }))
      .catch((e: unknown) => e);
    assert.ok(memory instanceof EngineError && memory.limitHit === 'memory', String(memory));
    const rows = await engine.queryLimited(sql`SELECT number FROM numbers(1000)`, 'TabSeparated', 'query', limits({ maxResultRows: 10 })).catch((e: unknown) => e);
    assert.ok(rows instanceof EngineError && rows.limitHit === 'result', String(rows));
  });

  it('kills an aborted statement in the server', async () => {
    const ac = new AbortController();
    const l = limits({ signal: ac.signal });
    const running = engine.queryLimited(endless, 'TabSeparated', 'query', l).catch((e: unknown) => e);
    const processes = async () => (await engine.query(sql`SELECT count() FROM system.processes WHERE query_id = ${l.queryId}`, 'TabSeparated')).toString().trim();
    for (let i = 0; i < 50 && (await processes()) === '0'; i++) await sleep(50);
    assert.equal(await processes(), '1', 'the statement never showed in system.processes');
    ac.abort(new Error('client went away'));
    assert.equal(((await running) as Error).message, 'client went away');
    let left = await processes();
    for (let i = 0; i < 100 && left !== '0'; i++) {
      await sleep(50);
      left = await processes();
    }
    assert.equal(left, '0', 'the server still runs the aborted statement');
  });
});
