import { nextItemsSyncDelay } from '../../src/policy/itemSyncDelay';

const intervals = { defaultMs: 900_000, errorBaseMs: 60_000, errorMaxMs: 3_600_000 };

describe('the wait before the next item sync', () => {
  it('is the ordinary interval after a sync (CRM changes wake the mailbox sooner)', () => {
    expect(nextItemsSyncDelay({ kind: 'synced' }, intervals)).toBe(900_000);
  });

  it('backs off after failures in a row, up to the maximum, never sooner than Retry-After', () => {
    expect([1, 2, 3, 10].map((n) => nextItemsSyncDelay({ kind: 'failed', failuresInRow: n }, intervals))).toEqual([60_000, 120_000, 240_000, 3_600_000]);
    expect(nextItemsSyncDelay({ kind: 'failed', failuresInRow: 1, retryAfterMs: 300_000 }, intervals)).toBe(300_000);
  });

  it('waits what Graph asked when it throttles, the error base when it did not say, without doubling', () => {
    expect(nextItemsSyncDelay({ kind: 'throttled', retryAfterMs: 45_000 }, intervals)).toBe(45_000);
    expect(nextItemsSyncDelay({ kind: 'throttled' }, intervals)).toBe(60_000);
  });

  it('tries a lost attempt again soon', () => {
    expect(nextItemsSyncDelay({ kind: 'lost', lostInRow: 1 }, intervals)).toBe(1000);
  });
});
