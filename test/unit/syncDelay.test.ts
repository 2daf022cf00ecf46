import { INITIAL_ACTIVITY, LOST_ATTEMPT_MAX_MS, lostAttemptDelay, nextSyncDelay, recordCycle, throttledDelay, type CycleOutcome, type SyncIntervals } from '../../src/policy/syncDelay';

const MIN = 60_000;
const intervals: SyncIntervals = {
  defaultMs: 15 * MIN,
  minMs: 1 * MIN,
  maxIdleMs: 4 * 60 * MIN,
  idleGrowth: 2,
  errorBaseMs: 1 * MIN,
  errorMaxMs: 60 * MIN,
};

function run(outcomes: CycleOutcome[]): number[] {
  let activity = INITIAL_ACTIVITY;
  return outcomes.map((o) => {
    activity = recordCycle(activity, o);
    return nextSyncDelay(activity, o, intervals);
  });
}

const idle: CycleOutcome = { kind: 'synced', itemsFound: 0, moreAvailable: false };
const found = (n: number): CycleOutcome => ({ kind: 'synced', itemsFound: n, moreAvailable: false });
const failed: CycleOutcome = { kind: 'transient-error' };

describe('nextSyncDelay', () => {
  it('waits the default interval after the first idle cycle', () => {
    expect(run([idle])).toEqual([15 * MIN]);
  });

  it('lengthens geometrically over idle cycles up to the cap of hours', () => {
    expect(run([idle, idle, idle, idle, idle, idle, idle])).toEqual([15, 30, 60, 120, 240, 240, 240].map((m) => m * MIN));
  });

  it('comes sooner the more a cycle found, never below the profile minimum', () => {
    expect(run([found(1)])).toEqual([7.5 * MIN]);
    expect(run([found(4)])).toEqual([3 * MIN]);
    expect(run([found(500)])).toEqual([1 * MIN]);
  });

  it('returns to the default after activity interrupts an idle streak', () => {
    expect(run([idle, idle, idle, found(1), idle])).toEqual([15, 30, 60, 7.5, 15].map((m) => m * MIN));
  });

  it('goes again at the minimum when the cycle left work behind', () => {
    expect(run([{ kind: 'synced', itemsFound: 100, moreAvailable: true }])).toEqual([1 * MIN]);
  });

  it('backs off exponentially on transient errors, capped, and resets on success', () => {
    expect(run([failed, failed, failed, failed, failed, failed, failed, failed])).toEqual([1, 2, 4, 8, 16, 32, 60, 60].map((m) => m * MIN));
    expect(run([failed, failed, idle])).toEqual([1, 2, 15].map((m) => m * MIN));
  });

  it('never waits less than the server asked for', () => {
    expect(run([{ kind: 'transient-error', retryAfterMs: 10 * MIN }])).toEqual([10 * MIN]);
  });

  it('keeps the idle streak through an error but counts errors in a row', () => {
    let a = INITIAL_ACTIVITY;
    a = recordCycle(a, idle);
    a = recordCycle(a, failed);
    a = recordCycle(a, failed);
    expect(a).toEqual({ idleCycles: 1, consecutiveErrors: 2 });
    expect(recordCycle(a, found(3))).toEqual({ idleCycles: 0, consecutiveErrors: 0 });
  });

  it('treats a profile minimum above the default as the default', () => {
    expect(nextSyncDelay({ idleCycles: 0, consecutiveErrors: 0 }, found(10), { ...intervals, minMs: 30 * MIN })).toBe(15 * MIN);
  });
});

describe('a lost sync attempt', () => {
  it('is retried after a doubling wait, capped at a minute (or the error cap if shorter), without a last attempt', () => {
    const hourCap = { errorMaxMs: 60 * 60_000 };
    expect([1, 2, 3, 4, 5, 6, 7, 100].map((n) => lostAttemptDelay(n, hourCap))).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]);
    expect(lostAttemptDelay(1000, hourCap)).toBe(LOST_ATTEMPT_MAX_MS);
    expect(lostAttemptDelay(5, { errorMaxMs: 2000 })).toBe(2000);
  });
});

describe('a throttled mailbox', () => {
  it('waits as long as the server asked, however long, and the first error back-off when it named no time', () => {
    expect(throttledDelay(4_500, intervals)).toBe(4_500);
    expect(throttledDelay(3 * 3600_000, intervals)).toBe(3 * 3600_000);
    expect(throttledDelay(undefined, intervals)).toBe(intervals.errorBaseMs);
  });
});
