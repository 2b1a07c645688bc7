import { openEmbeddedStore } from '../src/store/index.js';
import { runRoutePoliciesSuite } from '../testkit/route-policies.js';

// The same suite runs on ClickHouse servers in store-clickhouse.int.test.ts.
runRoutePoliciesSuite({
  name: 'embedded chDB',
  async open(dir) {
    const { store } = await openEmbeddedStore({ dataDir: dir, defaultTenant: 'single-tenant' });
    return { store, close: () => store.close() };
  },
});
