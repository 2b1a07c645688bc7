import { after, before } from 'node:test';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClickHouseEngine, parseClickHouseUrl } from './clickhouse/index.js';
import { runDiagnosisConformance } from './diagnosis-conformance.js';

/**
 * The diagnosis conformance suite against real ClickHouse servers (Debian's
 * 18.16 in CI): one server, and a 2-shard cluster through Distributed
 * tables. Started here on loopback, stopped by PID afterwards.
 */

interface TestServers {
  shards: { url: string }[];
  cluster: string;
  stop(): Promise<void>;
}

const SCRIPTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../scripts');
let servers: TestServers;

before(async () => {
  const { startClickHouseServers } = (await import(path.join(SCRIPTS, 'clickhouse-test-servers.mjs'))) as {
    startClickHouseServers(n: number): Promise<TestServers>;
  };
  servers = await startClickHouseServers(2);
});

after(async () => {
  await servers?.stop();
});

const hostsOf = (urls: string[]) => urls.map((u) => u.replace(/^http:\/\//, '')).join(',');

runDiagnosisConformance({
  name: 'ClickHouse server',
  async open() {
    const engine = await ClickHouseEngine.open(parseClickHouseUrl(`clickhouse://default@${hostsOf([servers.shards[0].url])}/sightline_diagnosis_single`));
    return { engine, layout: { database: 'sightline_diagnosis_single' }, close: () => engine.close() };
  },
});

runDiagnosisConformance({
  name: 'ClickHouse 2-shard cluster',
  async open() {
    const engine = await ClickHouseEngine.open(parseClickHouseUrl(`clickhouse://default@${hostsOf(servers.shards.map((s) => s.url))}/sightline_diagnosis_cluster`));
    return { engine, layout: { database: 'sightline_diagnosis_cluster', cluster: servers.cluster }, close: () => engine.close() };
  },
});
