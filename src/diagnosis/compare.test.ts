import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NumericKeyRow, TraceAttributeStats } from '../store/index.js';
import { NUMERIC_LEVELS } from '../store/index.js';
import { attributeDiffs, cdfAt, identifierPrior, keySpreads, ksFromQuantiles, ksScore, largestGap, numericDiffs, shareScore, type AttributeDiff } from './compare.js';

describe('compare scores', () => {
  it('scores a share difference less what chance explains, towards zero', () => {
    assert.equal(shareScore(10, 10, 10, 10), 0);
    assert.ok(shareScore(10, 10, 0, 30) > 0.6 && shareScore(10, 10, 0, 30) < 1);
    // The same difference on more traces is more certain.
    assert.ok(shareScore(100, 100, 0, 300) > shareScore(10, 10, 0, 30));
    // A value seen in two traces of a hundred is noise.
    assert.equal(shareScore(2, 100, 0, 100), 0);
    assert.ok(shareScore(0, 10, 30, 30) < 0, 'under-represented values score below zero');
    assert.equal(shareScore(0, 0, 3, 10), 0);
  });

  it('estimates the KS statistic from quantiles', () => {
    const levels = [0, 0.25, 0.5, 0.75, 1];
    assert.equal(cdfAt(levels, [0, 1, 2, 3, 4], 2), 0.5);
    assert.equal(cdfAt(levels, [0, 1, 2, 3, 4], 2.5), 0.625);
    assert.equal(cdfAt(levels, [0, 1, 2, 3, 4], -1), 0);
    assert.equal(cdfAt(levels, [5, 5, 5, 5, 5], 5), 1);
    assert.equal(ksFromQuantiles(levels, [0, 1, 2, 3, 4], [0, 1, 2, 3, 4]), 0);
    assert.equal(ksFromQuantiles(levels, [0, 1, 2, 3, 4], [10, 11, 12, 13, 14]), 1);
    const shifted = ksFromQuantiles(levels, [0, 1, 2, 3, 4], [2, 3, 4, 5, 6]);
    assert.ok(shifted === 0.5, String(shifted));
    assert.equal(ksScore(1, 10, 10), 1 - 1.36 * Math.sqrt(0.2));
    assert.equal(ksScore(0.2, 10, 10), 0);
  });

  it('folds values found in exactly the same number of traces into the most general one', () => {
    const v = (scope: 'span' | 'resource', key: string, value: string, traces: number) => ({ scope, key, value, type: 'string' as const, traces });
    const sel = {
      traces: 20,
      spans: 200,
      numeric: [],
      values: [v('span', 'server.port', '4001', 20), v('resource', 'cloud.region', 'eu-west', 20), v('span', 'tenant.id', 'a', 10), v('span', 'tenant.id', 'b', 10)],
      keys: [],
    };
    const base = {
      traces: 60,
      spans: 600,
      numeric: [],
      values: [v('span', 'server.port', '4002', 30), v('span', 'server.port', '4003', 30), v('resource', 'cloud.region', 'us-east', 60), v('span', 'tenant.id', 'a', 30), v('span', 'tenant.id', 'b', 30)],
      keys: [],
    };
    const diffs = attributeDiffs(sel, base);
    assert.equal(`${diffs[0].key}=${diffs[0].value}`, 'cloud.region=eu-west', 'two regions against three ports');
    assert.deepEqual(diffs[0].equivalent, [{ scope: 'span', key: 'server.port', value: '4001', type: 'string' }]);
    assert.ok(!diffs.some((d) => d.key === 'server.port' && d.value === '4001'));
    // Values that explain nothing are never folded.
    assert.equal(diffs.filter((d) => d.key === 'tenant.id').length, 2);
  });

  it('says where the distributions are furthest apart', () => {
    const levels = [0, 0.25, 0.5, 0.75, 1];
    const gap = largestGap(levels, [2, 3, 4, 5, 6], [0, 1, 2, 3, 4]);
    // Ties: the smallest value. All of the selection is above 2, half of the baseline.
    assert.deepEqual(gap, { ks: 0.5, at: 2, fa: 0, fb: 0.5 });
  });
});

type Scope = 'span' | 'resource';
/** One trace's attribute values, as [scope, key, value]. */
type TraceValues = [Scope, string, string][];

/**
 * What the store answers for a group of traces (sql-store traceAttributes),
 * counted here from the traces themselves: per value the traces carrying
 * it (the `keep` most frequent per key), per key its distinct values and
 * the traces carrying it.
 */
function statsOf(traces: TraceValues[], numeric: NumericKeyRow[] = [], keep = 50): TraceAttributeStats {
  const byValue = new Map<string, { scope: Scope; key: string; value: string; traces: Set<number> }>();
  const byKey = new Map<string, { scope: Scope; key: string; values: Set<string>; traces: Set<number> }>();
  traces.forEach((t, i) => {
    for (const [scope, key, value] of t) {
      const vk = JSON.stringify([scope, key, value]);
      const v = byValue.get(vk) ?? { scope, key, value, traces: new Set<number>() };
      v.traces.add(i);
      byValue.set(vk, v);
      const kk = JSON.stringify([scope, key]);
      const k = byKey.get(kk) ?? { scope, key, values: new Set<string>(), traces: new Set<number>() };
      k.values.add(value);
      k.traces.add(i);
      byKey.set(kk, k);
    }
  });
  const perKey = new Map<string, number>();
  const values = [...byValue.values()]
    .sort((a, b) => b.traces.size - a.traces.size || (a.value < b.value ? -1 : 1))
    .filter((v) => {
      const k = `${v.scope}/${v.key}`;
      perKey.set(k, (perKey.get(k) ?? 0) + 1);
      return perKey.get(k)! <= keep;
    })
    .map((v) => ({ scope: v.scope, key: v.key, value: v.value, type: 'string' as const, traces: v.traces.size }));
  const keys = [...byKey.values()].map((k) => ({ scope: k.scope, key: k.key, distinct: k.values.size, traces: k.traces.size }));
  return { traces: traces.length, spans: traces.length * 4, values, keys, numeric };
}

/** The keys of identifier-like values that must never show as value rows near the top. */
const IDENTIFIER_KEYS = new Set(['network.peer.port', 'client.port', 'server.port', 'client.address', 'url.full', 'url.path', 'request.id', 'order.id']);
/** Rows of single values of identifier keys (with many values) among the first `n`. */
const valueRows = (rows: AttributeDiff[], n: number) => {
  const values = new Map<string, number>();
  for (const r of rows) values.set(r.key, (values.get(r.key) ?? 0) + (r.grouped ? r.grouped.selectionDistinct + r.grouped.baselineDistinct : 1));
  return rows.slice(0, n).filter((r) => !r.grouped && IDENTIFIER_KEYS.has(r.key) && values.get(r.key)! > 1);
};

/**
 * The clinic's fault (c) in miniature: every slow request is in eu-west.
 * The load driver keeps three connections alive per gateway, so each
 * connection's ephemeral port is on a third of one region's requests, and
 * the other services' connections come and go (a port every few requests).
 * Patients (url.path) are spread over 80 ids, request ids over every trace.
 */
function regionFault(slowTraces = 120, fastTraces = 240): { sel: TraceAttributeStats; base: TraceAttributeStats } {
  let port = 40_000;
  const trace = (region: string, i: number): TraceValues => [
    ['resource', 'cloud.region', region],
    ['span', 'tenant.id', ['northwind', 'riverside', 'lakeside', 'summit'][i % 4]],
    ['span', 'http.route', '/visit-summary/:patientId'],
    ['span', 'network.peer.port', `${region === 'eu-west' ? 51_000 : 52_000}${i % 3}`],
    ['span', 'network.peer.port', String(port + Math.floor(i / 4))],
    ['span', 'url.path', `/patients/${100 + ((i * 7) % 80)}`],
    ['span', 'request.id', `${region}-${i}`],
    ['span', 'client.address', '127.0.0.1'],
  ];
  const sel = Array.from({ length: slowTraces }, (_, i) => trace('eu-west', i));
  port += 1000;
  // The fast ones: every us-east request, and the few eu-west ones that were quick.
  const base = Array.from({ length: fastTraces }, (_, i) => trace(i % 40 === 0 ? 'eu-west' : 'us-east', i));
  return { sel: statsOf(sel), base: statsOf(base) };
}

describe('compare: identifiers do not drown the causes', () => {
  it('knows the semantic-convention keys that name a connection, peer, request or record', () => {
    for (const k of ['network.peer.port', 'server.port', 'client.port', 'net.sock.peer.port', 'source.port']) assert.equal(identifierPrior(k), 'port', k);
    for (const k of ['client.address', 'network.peer.address', 'net.peer.ip', 'net.sock.peer.addr', 'http.client_ip']) assert.equal(identifierPrior(k), 'address', k);
    for (const k of ['request.id', 'http.request_id', 'messaging.message.id', 'process.pid', 'thread.id', 'app.trace_id', 'order.uuid']) assert.equal(identifierPrior(k), 'id', k);
    for (const k of ['url.full', 'url.path', 'http.url', 'http.target']) assert.equal(identifierPrior(k), 'url', k);
    assert.equal(identifierPrior('db.statement'), 'statement');
    // Categories, even when they hold ids: a tenant, a region, a route, a host, an instance.
    for (const k of ['tenant.id', 'cloud.region', 'http.route', 'server.address', 'service.instance.id', 'enduser.id', 'import.report', 'support']) assert.equal(identifierPrior(k), undefined, k);
  });

  it('groups keys from the data: values spread thin on both sides, or an identifier key with many values', () => {
    const { sel, base } = regionFault();
    const spreads = keySpreads(sel, base);
    const g = (key: string) => [...spreads.values()].find((s) => s.key === key)!;
    assert.equal(g('request.id').grouped, 'spread', 'unique per trace, whatever its name');
    assert.equal(g('url.path').grouped, 'spread');
    // Ports of kept-alive connections are each on a third of a region's requests: not thin, but an identifier key.
    assert.equal(g('network.peer.port').grouped, 'identifier-key');
    assert.equal(g('network.peer.port').kind, 'port');
    assert.equal(g('tenant.id').grouped, null);
    assert.equal(g('cloud.region').grouped, null);
    // One value everywhere: nothing to group, whatever the key's name.
    assert.equal(g('client.address').grouped, null);
    // Many values, spread on one side but concentrated on the other: a real cause, not an identifier.
    const customers = (n: number, hot: boolean): TraceValues[] => Array.from({ length: n }, (_, i) => [['span', 'customer', hot && i % 5 !== 0 ? 'c-7' : `c-${i % 40}`]]);
    const hot = keySpreads(statsOf(customers(100, true)), statsOf(customers(200, false)));
    assert.equal([...hot.values()][0].grouped, null);
  });

  it('ranks the planted cause first, with no identifier value above it, and groups each identifier key into one row that says so', () => {
    const { sel, base } = regionFault();
    const rows = attributeDiffs(sel, base);
    assert.deepEqual([rows[0].scope, rows[0].key, rows[0].value], ['resource', 'cloud.region', 'eu-west']);
    assert.deepEqual(valueRows(rows, rows.length), [], 'no identifier value has a row of its own');
    const ports = rows.filter((r) => r.key === 'network.peer.port');
    assert.equal(ports.length, 1);
    const grouped = ports[0].grouped!;
    assert.equal(grouped.reason, 'identifier-key');
    assert.equal(grouped.demoted, true, 'no port is on half the slow requests');
    assert.ok(grouped.selectionDistinct > 10 && grouped.baselineDistinct > 10, JSON.stringify(grouped));
    assert.ok(grouped.values.length > 1 && grouped.values[0].value === ports[0].value);
    // A grouped fragment ranks after every ungrouped value scoring at least half as high.
    rows.forEach((r, i) => {
      if (!r.grouped || r.score <= 0) return;
      const below = rows.slice(i + 1).find((x) => !x.grouped && x.score > 0 && x.score >= r.score / 2);
      assert.equal(below, undefined, `${r.key} ranks above ${below?.key}=${below?.value}`);
    });
  });

  it('needs the identifier-key prior for ports of kept-alive connections: from the data alone they are not spread thin', () => {
    const { sel, base } = regionFault();
    // The same keys under names no convention knows: ports become rows of their own again.
    const names: Record<string, string> = { 'network.peer.port': 'socket', 'url.path': 'page', 'request.id': 'ticket' };
    const bare = (s: TraceAttributeStats) => ({ ...s, values: s.values.map((v) => ({ ...v, key: names[v.key] ?? v.key })), keys: s.keys.map((k) => ({ ...k, key: names[k.key] ?? k.key })) });
    const rows = attributeDiffs(bare(sel), bare(base));
    const ports = rows.slice(0, 10).filter((r) => r.key === 'socket' && !r.grouped);
    // Patients and request ids are still grouped, from the data alone.
    assert.deepEqual(rows.filter((r) => r.key === 'page' || r.key === 'ticket').map((r) => r.grouped?.reason), ['spread', 'spread']);
    assert.ok(ports.length >= 2, `ports in the top 10: ${ports.length}`);
  });

  it('ranks a grouped key by its best value when that value is on most of the selection', () => {
    // One client hammers the service: its address is on 80% of the slow requests.
    const traces = (n: number, bad: number): TraceValues[] =>
      Array.from({ length: n }, (_, i) => [
        ['span', 'client.address', i < bad ? '10.0.0.66' : `10.0.${i % 50}.${i % 7}`],
        ['span', 'tenant.id', ['a', 'b'][i % 2]],
      ]);
    const rows = attributeDiffs(statsOf(traces(50, 40)), statsOf(traces(200, 2)));
    assert.deepEqual([rows[0].key, rows[0].value, rows[0].grouped?.demoted], ['client.address', '10.0.0.66', false]);
  });

  it('when only identifiers differ (load, fault a), the rows say so rather than listing ports', () => {
    let port = 30_000;
    const traces = (n: number, conns: number): TraceValues[] => Array.from({ length: n }, (_, i) => [['span', 'network.peer.port', String(port + (i % conns))], ['span', 'tenant.id', ['a', 'b', 'c'][i % 3]]]);
    const sel = statsOf(traces(90, 15));
    port += 100;
    const base = statsOf(traces(200, 12));
    const rows = attributeDiffs(sel, base);
    assert.equal(rows.filter((r) => r.key === 'network.peer.port').length, 1);
    // Nothing else differs: the ports lead, as one row that says they were grouped.
    assert.deepEqual([rows[0].key, !!rows[0].grouped, rows[0].grouped?.demoted], ['network.peer.port', true, true]);
    assert.deepEqual(valueRows(rows, 15), []);
  });

  it('ranks numbers that name something (ports, pids) after every measurement', () => {
    const q = (from: number, step: number) => NUMERIC_LEVELS.map((_, i) => from + i * step);
    const n = (key: string, quantiles: number[]): NumericKeyRow => ({ scope: 'span', key, quantiles, spans: 400 });
    const sel = { ...statsOf([]), traces: 100, spans: 400, numeric: [n('server.port', q(30_000, 10)), n('db.rows', q(100, 10)), n('process.pid', q(100, 1))] };
    const base = { ...statsOf([]), traces: 100, spans: 400, numeric: [n('server.port', q(40_000, 10)), n('db.rows', q(150, 10)), n('process.pid', q(900, 1))] };
    const rows = numericDiffs(sel, base);
    assert.deepEqual([rows[0].key, rows[0].identifier], ['db.rows', undefined]);
    assert.deepEqual(rows.slice(1).map((r) => [r.key, r.identifier]).sort(), [['process.pid', 'id'], ['server.port', 'port']]);
    assert.ok(rows[1].score > rows[0].score, 'ranked after it although further apart');
    // KS in words: the selection's rows are lower; the gap is widest where half of the baseline is above and all of the selection is.
    const rowsKs = rows[0];
    assert.equal(rowsKs.direction, 'lower');
    assert.ok(rowsKs.gap && rowsKs.gap.selectionAbove < rowsKs.gap.baselineAbove, JSON.stringify(rowsKs.gap));
    assert.ok(Math.abs(rowsKs.gap!.baselineAbove - rowsKs.gap!.selectionAbove - rowsKs.ks) < 1e-9);
  });
});

/**
 * A bad Nomad allocation among many (docs/nomad.md): its id is one value of
 * a key with a value per allocation, so the identifier grouping must not
 * fold it away. Grouping (`spread`) needs every value of the key in at most
 * SPREAD_SHARE of the selected traces, so a value above that share is
 * never grouped, and one in DOMINANT_SHARE of them never demoted.
 */
describe('compare: one bad allocation among many', () => {
  /** `allocations` allocations on 20 nodes; the bad one serves `share` of 100 slow traces and none of 5000 fast ones. */
  function fleet(allocations: number, share: number): AttributeDiff[] {
    const side = (traces: number, count: (add: (alloc: string) => void) => void): TraceAttributeStats => {
      const byAlloc = new Map<string, number>();
      count((a) => byAlloc.set(a, (byAlloc.get(a) ?? 0) + 1));
      const byNode = new Map<string, number>();
      for (const [a, n] of byAlloc) byNode.set(a === 'bad' ? 'node-0' : `node-${Number(a.slice(6)) % 20}`, (byNode.get(a === 'bad' ? 'node-0' : `node-${Number(a.slice(6)) % 20}`) ?? 0) + n);
      const rows = (key: string, m: Map<string, number>) =>
        [...m].sort((x, y) => y[1] - x[1]).slice(0, 50).map(([value, n]) => ({ scope: 'resource' as const, key, value, type: 'string' as const, traces: n }));
      return {
        traces,
        spans: traces,
        values: [...rows('nomad.alloc.id', byAlloc), ...rows('nomad.node.name', byNode)],
        keys: [
          { scope: 'resource', key: 'nomad.alloc.id', distinct: byAlloc.size, traces },
          { scope: 'resource', key: 'nomad.node.name', distinct: byNode.size, traces },
        ],
        numeric: [],
      };
    };
    const badTraces = Math.round(100 * share);
    const sel = side(100, (add) => {
      for (let i = 0; i < badTraces; i++) add('bad');
      for (let i = 0; i < 100 - badTraces; i++) add(`alloc-${1 + ((i * 7919) % (allocations - 1))}`);
    });
    const base = side(5000, (add) => {
      for (let i = 0; i < 5000; i++) add(`alloc-${1 + (i % (allocations - 1))}`);
    });
    return attributeDiffs(sel, base);
  }

  it('ranks it first, ungrouped, whenever it serves more than SPREAD_SHARE of the slow traces', () => {
    for (const allocations of [30, 200, 1000])
      for (const share of [1, 0.5, 0.3, 0.15]) {
        const top = fleet(allocations, share)[0];
        assert.deepEqual([top.key, top.value, top.grouped], ['nomad.alloc.id', 'bad', undefined], `${allocations} allocations, ${share}`);
      }
  });

  it('groups it with the other allocations only when it is a tenth of the slow traces or less', () => {
    const rows = fleet(200, 0.1);
    const row = rows.find((r) => r.key === 'nomad.alloc.id')!;
    assert.deepEqual([row.value, row.grouped?.reason, row.grouped?.demoted], ['bad', 'spread', true]);
  });
});
