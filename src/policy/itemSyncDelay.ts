import { lostAttemptDelay, type SyncIntervals } from './syncDelay';

/** How the last item sync of a mailbox ended, for its next wait. */
export type ItemsRunOutcome =
  | { kind: 'synced' }
  | { kind: 'throttled'; retryAfterMs?: number }
  | { kind: 'failed'; failuresInRow: number; retryAfterMs?: number }
  | { kind: 'lost'; lostInRow: number };

/**
 * The wait before a mailbox's next item sync when nothing signals it: a CRM change wakes it within
 * seconds, so the timer only catches Exchange-side changes (the mailbox's ordinary interval). A
 * failure backs off from the error base, doubling, never sooner than the server asked; throttling
 * waits what Graph asked (the error base when it did not say).
 */
export function nextItemsSyncDelay(outcome: ItemsRunOutcome, intervals: Pick<SyncIntervals, 'defaultMs' | 'errorBaseMs' | 'errorMaxMs'>): number {
  switch (outcome.kind) {
    case 'synced':
      return intervals.defaultMs;
    case 'throttled':
      return outcome.retryAfterMs ?? intervals.errorBaseMs;
    case 'lost':
      return lostAttemptDelay(outcome.lostInRow, intervals);
    case 'failed': {
      const backoff = Math.min(intervals.errorMaxMs, intervals.errorBaseMs * 2 ** Math.max(0, Math.min(outcome.failuresInRow - 1, 16)));
      return Math.max(backoff, outcome.retryAfterMs ?? 0);
    }
  }
}
