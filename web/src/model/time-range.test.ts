import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  absoluteRange,
  formatLocalInput,
  parseLocalInput,
  rangeLabel,
  readRange,
  readRefresh,
  refreshMs,
  refreshes,
  resolveRange,
  writeRange,
  AUDIT_RANGE_PRESETS,
  RANGE_PRESETS,
  type TimeRange,
} from './time-range.js';

describe('time range', () => {
  it('offers the relative ranges of the picker, 7 days included', () => {
    assert.deepEqual([...RANGE_PRESETS], ['5m', '15m', '1h', '6h', '24h', '7d']);
    const now = 1_700_000_000_400;
    for (const [preset, seconds] of [['5m', 300], ['15m', 900], ['1h', 3600], ['6h', 21_600], ['24h', 86_400], ['7d', 604_800]] as const) {
      assert.deepEqual(resolveRange({ preset }, now), { start: 1_700_000_001 - seconds, end: 1_700_000_001 }, preset);
    }
    assert.deepEqual(resolveRange({ start: 10, end: 20 }, now), { start: 10, end: 20 }, 'an absolute range does not move');
  });

  it('reads and writes the URL form: range=<preset>, or start and end in Unix seconds', () => {
    const round = (range: TimeRange, fallback?: '1h' | '24h') => {
      const p = new URLSearchParams();
      writeRange(p, range, fallback);
      return { text: p.toString(), back: readRange(new URLSearchParams(p.toString()), fallback === '24h' ? AUDIT_RANGE_PRESETS : RANGE_PRESETS, fallback) };
    };
    assert.deepEqual(round({ preset: '15m' }), { text: 'range=15m', back: { preset: '15m' } });
    assert.deepEqual(round({ preset: '1h' }), { text: '', back: { preset: '1h' } }, 'the default is left out');
    assert.deepEqual(round({ start: 1_700_000_000, end: 1_700_003_600 }), { text: 'start=1700000000&end=1700003600', back: { start: 1_700_000_000, end: 1_700_003_600 } });
    assert.deepEqual(round({ preset: '30d' }, '24h'), { text: 'range=30d', back: { preset: '30d' } });
    assert.deepEqual(readRange(new URLSearchParams('range=30d')), { preset: '1h' }, "30 days is the audit trail's, not search's");
    assert.deepEqual(readRange(new URLSearchParams('start=5&end=4&range=6h')), { preset: '6h' }, 'an end before the start is ignored');
    assert.deepEqual(readRange(new URLSearchParams('start=5')), { preset: '1h' }, 'a start alone is ignored');
    assert.deepEqual(readRange(new URLSearchParams('start=10.5&end=20.5')), { start: 10, end: 21 }, 'widened to whole seconds');
  });

  it('parses local date and time as typed or as the input gives it, and refuses what is no time', () => {
    const t = parseLocalInput('2026-11-26T14:05:09');
    assert.equal(t, Math.floor(new Date(2026, 10, 26, 14, 5, 9).getTime() / 1000));
    assert.equal(parseLocalInput(' 2026-11-26 14:05 '), Math.floor(new Date(2026, 10, 26, 14, 5, 0).getTime() / 1000));
    assert.equal(formatLocalInput(t!), '2026-11-26T14:05:09');
    for (const bad of ['', 'yesterday', '2026-02-30 10:00', '2026-11-26 25:00', '2026-11-26T14:05:09Z', '2026-1-2 3:04', `${'9'.repeat(50_000)}-`]) assert.equal(parseLocalInput(bad), undefined, bad.slice(0, 20));
  });

  it('builds an absolute range from the two fields, or says what is wrong', () => {
    assert.deepEqual(absoluteRange('2026-11-26 14:00', '2026-11-26 15:00'), {
      range: { start: Math.floor(new Date(2026, 10, 26, 14).getTime() / 1000), end: Math.floor(new Date(2026, 10, 26, 15).getTime() / 1000) },
    });
    assert.match((absoluteRange('x', '2026-11-26 15:00') as { error: string }).error, /From/);
    assert.match((absoluteRange('2026-11-26 14:00', 'x') as { error: string }).error, /To/);
    assert.match((absoluteRange('2026-11-26 15:00', '2026-11-26 14:00') as { error: string }).error, /after/);
  });

  it('labels ranges for the picker button', () => {
    assert.equal(rangeLabel({ preset: '15m' }), 'Last 15 minutes');
    assert.equal(rangeLabel({ preset: '7d' }), 'Last 7 days');
    const start = parseLocalInput('2026-11-26 14:00')!;
    assert.equal(rangeLabel({ start, end: start + 3600 }), '2026-11-26 14:00:00 – 2026-11-26 15:00:00');
  });

  it('auto-refreshes relative ranges only, at the chosen interval', () => {
    assert.deepEqual(['off', '10s', '30s', '1m'].map((r) => refreshMs(r as 'off')), [undefined, 10_000, 30_000, 60_000]);
    assert.equal(readRefresh(new URLSearchParams('refresh=30s')), '30s');
    assert.equal(readRefresh(new URLSearchParams('refresh=2s')), 'off');
    assert.equal(refreshes({ preset: '5m' }, '10s'), true);
    assert.equal(refreshes({ start: 1, end: 2 }, '10s'), false);
    assert.equal(refreshes({ preset: '5m' }, 'off'), false);
  });
});
