import { after, before } from 'node:test';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClickHouseEngine, parseClickHouseUrl } from '../src/store/clickhouse/index.js';
import { runConformanceSuite, type ConformanceTarget } from '../testkit/store-conformance.js';
import { runDiagnosisConformance } from '../testkit/diagnosis-conformance.js';
import { runLogsConformance } from '../testkit/logs-conformance.js';
import { runRoutePoliciesSuite } from '../testkit/route-policies.js';
import { openClickHouseStore } from '../src/store/index.js';

/**
 * The store and diagnosis conformance suites against real ClickHouse servers
 * (Debian's 18.16 in CI): one server, and a 2-shard cluster through
 * Distributed tables, each suite in its own databases; and the API's
 * route policies and tenant isolation on both. The servers are
 * started once here, on loopback, and stopped by PID afterwards.
 */

interface TestServers {
  shards: { url: string }[];
  cluster: string;
  stop(): Promise<void>;
}

const SCRIPTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../scripts');
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

/** One server, or every shard as a cluster, in database `database`. */
function target(name: string, database: string, cluster: boolean): ConformanceTarget {
  return {
    name,
    async open() {
      const shards = cluster ? servers.shards : servers.shards.slice(0, 1);
      const engine = await ClickHouseEngine.open(parseClickHouseUrl(`clickhouse://default@${hostsOf(shards.map((s) => s.url))}/${database}`));
      return { engine, layout: cluster ? { database, cluster: servers.cluster } : { database }, close: () => engine.close() };
    },
  };
}

runConformanceSuite(target('ClickHouse server', 'sightline_single', false));
runConformanceSuite(target('ClickHouse 2-shard cluster', 'sightline_cluster', true));
runLogsConformance(target('ClickHouse server', 'sightline_logs_single', false));
runLogsConformance(target('ClickHouse 2-shard cluster', 'sightline_logs_cluster', true));
runDiagnosisConformance(target('ClickHouse server', 'sightline_diagnosis_single', false));
runDiagnosisConformance(target('ClickHouse 2-shard cluster', 'sightline_diagnosis_cluster', true));

for (const cluster of [false, true])
  runRoutePoliciesSuite({
    name: cluster ? 'ClickHouse 2-shard cluster' : 'ClickHouse server',
    async open(dir) {
      const shards = cluster ? servers.shards : servers.shards.slice(0, 1);
      const { store } = await openClickHouseStore({
        url: `clickhouse://default@${hostsOf(shards.map((s) => s.url))}/sightline_policies_${cluster ? 'cluster' : 'single'}`,
        cluster: cluster ? servers.cluster : undefined,
        defaultTenant: 'single-tenant',
        scratchDir: path.join(dir, 'scratch'),
      });
      return { store, close: () => store.close() };
    },
  });
