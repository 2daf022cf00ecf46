import { estimateSecondsLeft, formatEta } from '../../src/cli/progress';

describe('the progress bar ETA of `mailbox status --watch`', () => {
  it('has no estimate (shown as "—") until something is done', () => {
    expect(estimateSecondsLeft({ itemsDone: 0, itemsTotal: 1000, elapsedMs: 5000 })).toBeNull();
    expect(estimateSecondsLeft({ itemsDone: 0, itemsTotal: 0, elapsedMs: 0 })).toBeNull();
    expect(formatEta(null)).toBe('—');
  });

  it('is not 0s at 7%: the rest at the rate so far', () => {
    // 70 of 1000 in 7 s: 10 per second, 930 left.
    expect(estimateSecondsLeft({ itemsDone: 70, itemsTotal: 1000, elapsedMs: 7000 })).toBe(93);
    expect(formatEta(93)).toBe('1m33s');
    expect(formatEta(7265)).toBe('2h01m');
    expect(estimateSecondsLeft({ itemsDone: 1000, itemsTotal: 1000, elapsedMs: 7000 })).toBe(0);
  });
});
