import { applyServerLoad, MAX_LOAD_FACTOR, observeServer, serverLoadFactor, SLOW_RESPONSE_MS, type ServerHealth } from '../../src/policy/serverLoad';

const healthy: ServerHealth = { responseMs: 100, failuresInRow: 0, throttledUntil: null };
const NOW = 1_000_000;

describe('server load', () => {
  it('leaves a healthy server alone', () => {
    expect(serverLoadFactor(healthy)).toBe(1);
    expect(applyServerLoad(60_000, healthy, NOW)).toBe(60_000);
    expect(applyServerLoad(60_000, null, NOW)).toBe(60_000);
  });

  it('stretches the delay in proportion to slow answers', () => {
    expect(serverLoadFactor({ ...healthy, responseMs: 3 * SLOW_RESPONSE_MS })).toBe(3);
  });

  it('doubles per connection failure in a row, capped', () => {
    expect([1, 2, 3].map((n) => serverLoadFactor({ ...healthy, failuresInRow: n }))).toEqual([2, 4, 8]);
    expect(serverLoadFactor({ responseMs: 10 * SLOW_RESPONSE_MS, failuresInRow: 9, throttledUntil: null })).toBe(MAX_LOAD_FACTOR);
  });

  it('never schedules before a throttle ends', () => {
    expect(applyServerLoad(1000, { ...healthy, throttledUntil: NOW + 30_000 }, NOW)).toBe(30_000);
    expect(applyServerLoad(60_000, { ...healthy, throttledUntil: NOW - 1 }, NOW)).toBe(60_000);
  });

  it('folds observations in: a moving average, failures reset by a success, the longest throttle kept', () => {
    let h = observeServer(healthy, { responseMs: 1100, connectionFailed: false }, NOW);
    expect(h.responseMs).toBeCloseTo(400);
    h = observeServer(h, { connectionFailed: true }, NOW);
    h = observeServer(h, { connectionFailed: true, throttledForMs: 5000 }, NOW);
    expect(h).toMatchObject({ failuresInRow: 2, throttledUntil: NOW + 5000, responseMs: h.responseMs });
    h = observeServer(h, { connectionFailed: false, throttledForMs: 1000 }, NOW);
    expect(h).toMatchObject({ failuresInRow: 0, throttledUntil: NOW + 5000 });
  });
});
