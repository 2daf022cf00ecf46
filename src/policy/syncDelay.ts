/**
 * When to run a mailbox's next sync cycle. Pure, so the workflow can call it
 * deterministically and tests can pin every rule.
 */
export interface SyncIntervals {
  /** An ordinary mailbox: 15 minutes by default. */
  defaultMs: number;
  /** The profile's minimum polling interval: the busiest a mailbox may be polled. */
  minMs: number;
  /** Idle mailboxes back off up to this. */
  maxIdleMs: number;
  /** Each further idle cycle multiplies the delay by this. */
  idleGrowth: number;
  /** First delay after a transient error; doubles per error in a row. */
  errorBaseMs: number;
  errorMaxMs: number;
}

/** What the workflow remembers of a mailbox's recent cycles. */
export interface SyncActivity {
  /** Cycles in a row that found nothing new. */
  idleCycles: number;
  /** Cycles in a row that failed with a transient error. */
  consecutiveErrors: number;
}

export type CycleOutcome =
  | { kind: 'synced'; itemsFound: number; moreAvailable: boolean }
  | { kind: 'transient-error'; retryAfterMs?: number };

export const INITIAL_ACTIVITY: SyncActivity = { idleCycles: 0, consecutiveErrors: 0 };

export function recordCycle(activity: SyncActivity, outcome: CycleOutcome): SyncActivity {
  if (outcome.kind === 'transient-error') {
    return { idleCycles: activity.idleCycles, consecutiveErrors: activity.consecutiveErrors + 1 };
  }
  const idle = outcome.itemsFound === 0 && !outcome.moreAvailable;
  return { idleCycles: idle ? activity.idleCycles + 1 : 0, consecutiveErrors: 0 };
}

/** `activity` is the state after `outcome` was recorded with {@link recordCycle}. */
export function nextSyncDelay(activity: SyncActivity, outcome: CycleOutcome, intervals: SyncIntervals): number {
  const minMs = Math.min(intervals.minMs, intervals.defaultMs);
  if (outcome.kind === 'transient-error') {
    const backoff = intervals.errorBaseMs * 2 ** Math.max(0, activity.consecutiveErrors - 1);
    return Math.round(Math.max(Math.min(backoff, intervals.errorMaxMs), outcome.retryAfterMs ?? 0));
  }
  if (outcome.moreAvailable) return minMs;
  if (outcome.itemsFound > 0) {
    // The more a cycle found, the sooner the next: one message halves the wait.
    return Math.max(minMs, Math.round(intervals.defaultMs / (1 + outcome.itemsFound)));
  }
  const idleBackoff = intervals.defaultMs * intervals.idleGrowth ** Math.max(0, activity.idleCycles - 1);
  return Math.round(Math.max(minMs, Math.min(idleBackoff, Math.max(intervals.maxIdleMs, intervals.defaultMs))));
}

/**
 * The wait of a mailbox its server throttles (Graph's Retry-After): as long as the server asked,
 * and when it named no time, the first step of the error back-off. It is no failure: the
 * mailbox's errors in a row and idle cycles stay as they were.
 */
export function throttledDelay(retryAfterMs: number | undefined, intervals: Pick<SyncIntervals, 'errorBaseMs'>): number {
  return Math.round(Math.max(0, retryAfterMs ?? intervals.errorBaseMs));
}

/** The longest wait between attempts at a sync activity that no worker completed. */
export const LOST_ATTEMPT_MAX_MS = 60_000;

/**
 * The wait before attempt `lostAttempts + 1` at a sync activity whose worker was lost (or that
 * failed for the deployment's reasons): doubling from a second, capped at a minute, or at the
 * error back-off's cap when that is shorter. There is no last attempt.
 */
export function lostAttemptDelay(lostAttempts: number, intervals: Pick<SyncIntervals, 'errorMaxMs'>): number {
  const cap = Math.min(LOST_ATTEMPT_MAX_MS, intervals.errorMaxMs);
  return Math.min(cap, 1000 * 2 ** Math.max(0, Math.min(lostAttempts - 1, 16)));
}
