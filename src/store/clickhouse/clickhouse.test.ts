import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { capabilitiesFor, parseClickHouseUrl, redactClickHouseUrl } from './index.js';

describe('ClickHouse target', () => {
  it('parses single-server and multi-shard URLs', () => {
    assert.deepEqual(parseClickHouseUrl('clickhouse://alice:s%40cret@ch1:8123/traces'), {
      urls: ['http://ch1:8123'],
      user: 'alice',
      password: 's@cret',
      database: 'traces',
    });
    assert.deepEqual(parseClickHouseUrl('https://ch1,ch2:9443').urls, ['https://ch1:8123', 'https://ch2:9443']);
    assert.equal(parseClickHouseUrl('clickhouse://ch1').database, 'default');
    assert.equal(redactClickHouseUrl('clickhouse://alice:secret@ch1:8123/db'), 'clickhouse://alice:***@ch1:8123/db');
  });

  it('keeps a password with an unencoded @ whole, and quotes no part of a URL it refuses', () => {
    // The userinfo ends at the last @: nothing of the password becomes a host name.
    assert.deepEqual(parseClickHouseUrl('clickhouse://alice:se@cr@t@ch1/db'), { urls: ['http://ch1:8123'], user: 'alice', password: 'se@cr@t', database: 'db' });
    assert.equal(redactClickHouseUrl('clickhouse://alice:se@cr@t@ch1/db'), 'clickhouse://alice:***@ch1/db');
    assert.deepEqual(parseClickHouseUrl('http://[::1],127.0.0.1:9000').urls, ['http://[::1]:8123', 'http://127.0.0.1:9000']);
    for (const url of [
      'clickhouse://alice:Zq-secret@/db',
      'clickhouse://alice:Zq-sec/ret@ch1/db',
      'clickhouse://alice:Zq-sec#ret@ch1/db',
      'clickhouse://alice:Zq-%ZZsecret@ch1/db',
      'clickhouse://alice:Zq-secret@ch1/Zq-db',
      'clickhouse://alice:Zq-secret@ch1,ch2:Zq/db',
    ])
      assert.throws(() => parseClickHouseUrl(url), (e: Error) => !e.message.includes('Zq'), url);
  });

  it('switches features on by server version', () => {
    assert.deepEqual(capabilitiesFor('18.16.1'), {
      lowCardinality: false,
      codecs: false,
      jsonFunctions: false,
      fsyncSettings: false,
      tableCompressionSettings: false,
      insertPartitionLimit: false,
      skipIndexes: false,
      quantileStatesAnyLevel: false,
      compactParts: false,
      widePartLevel: false,
      columnSettings: false,
      stringSerialization: false,
      modifyTableSettings: false,
      outdatedPartsKept: false,
      threadPriority: false,
      jitFailsOnEmptyInSets: false,
    });
    // Features that are only a setting follow what the server lists.
    assert.equal(capabilitiesFor('24.8.4.13', new Set(['min_bytes_for_wide_part'])).widePartLevel, false);
    assert.equal(capabilitiesFor('25.8.1', new Set(['min_bytes_for_wide_part', 'min_level_for_wide_part'])).widePartLevel, true);
    const { widePartLevel, stringSerialization, outdatedPartsKept, jitFailsOnEmptyInSets, ...rest } = capabilitiesFor('24.8.4.13');
    assert.deepEqual([widePartLevel, stringSerialization, outdatedPartsKept, jitFailsOnEmptyInSets], [false, false, false, false]);
    assert.ok(Object.values(rest).every(Boolean));
    const v19 = capabilitiesFor('19.10.1');
    assert.equal(v19.codecs, true);
    assert.equal(v19.fsyncSettings, false);
    assert.equal(v19.compactParts, false);
    assert.equal(capabilitiesFor('20.3.1').compactParts, true);
    assert.equal(v19.threadPriority, false);
    assert.equal(capabilitiesFor('20.1.2').threadPriority, true);
    // Defects are declared for the releases that have them, not from a version on.
    for (const [version, fails] of [
      ['26.5.1.1', false],
      ['26.6.1.1', true],
      ['26.6.5.101', false],
      ['26.7.2.1', true],
      ['26.7.7.9', false],
      ['26.8.3.13', true],
      ['26.8.3.14', false],
      ['26.9.1.1', false],
    ] as const)
      assert.equal(capabilitiesFor(version).jitFailsOnEmptyInSets, fails, version);
  });
});
