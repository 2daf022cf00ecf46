/**
 * Whose fault a failed sync is, and what follows from it. Pure, so every rule is pinned by
 * test/unit/failurePolicy.test.ts.
 * - The mailbox's own permanent failure (credentials, TLS, a missing folder) disables it.
 * - The mailbox's own transient failures (the server busy, an unknown error) disable it after
 *   MAX_CONSECUTIVE_TRANSIENT_ERRORS in a row.
 * - A server that cannot be reached is the server's fault: it never disables a mailbox nor
 *   alerts its owner; once most of the profile's mailboxes fail that way the server is marked
 *   unreachable and one profile-level alert is raised.
 * - A lost worker is the deployment's fault: it is not a mailbox failure at all (the workflow
 *   retries the activity; see lostAttemptDelay in syncDelay.ts).
 */
import { MAX_CONSECUTIVE_TRANSIENT_ERRORS, type ErrorClass } from './errorClassification';

export type AlertAudience = 'mailbox_owner' | 'profile_owner' | 'admins';

export interface FailureFacts {
  errorClass: ErrorClass;
  /** Network level (refused, unreachable, timed out): the server's fault, whichever mailbox asked. */
  unreachable: boolean;
  /** The mailbox's own transient failures in a row before this one. */
  ownErrorsInRow: number;
  /** The mailbox has an owner to tell. */
  hasOwner: boolean;
}

export interface FailureDecision {
  disable: boolean;
  /** The mailbox's own failures in a row after this one. */
  ownErrorsInRow: number;
  /** The mailbox's failure alert, or null when this failure raises none. */
  alert: { level: 'error' | 'warning'; audiences: AlertAudience[] } | null;
  /** The message to record: the error, and why the mailbox was disabled if it was. */
  suffix: string;
}

export function decideMailboxFailure(f: FailureFacts): FailureDecision {
  const owner: AlertAudience[] = f.hasOwner ? ['mailbox_owner'] : [];
  if (f.errorClass === 'permanent') {
    return { disable: true, ownErrorsInRow: f.ownErrorsInRow + 1, alert: { level: 'error', audiences: [...owner, 'admins'] }, suffix: '' };
  }
  if (f.unreachable) return { disable: false, ownErrorsInRow: f.ownErrorsInRow, alert: null, suffix: '' };
  const ownErrorsInRow = f.ownErrorsInRow + 1;
  if (ownErrorsInRow >= MAX_CONSECUTIVE_TRANSIENT_ERRORS) {
    return {
      disable: true,
      ownErrorsInRow,
      alert: { level: 'error', audiences: [...owner, 'admins'] },
      suffix: ` (${ownErrorsInRow} failures in a row; sync disabled)`,
    };
  }
  // The first of a streak warns whoever looks after the mailbox; repeats only bump that alert.
  return { disable: false, ownErrorsInRow, alert: { level: 'warning', audiences: owner.length > 0 ? owner : ['admins'] }, suffix: '' };
}

/** A server is only called unreachable after at least this many connection failures in a row. */
export const MIN_FAILURES_FOR_UNREACHABLE = 2;

/**
 * The server, not a mailbox, is at fault once more connection failures came in a row (across
 * its mailboxes, with no success between) than half its enabled mailboxes.
 */
export function serverUnreachable(server: { failuresInRow: number; enabledMailboxes: number }): boolean {
  return server.failuresInRow >= Math.max(MIN_FAILURES_FOR_UNREACHABLE, Math.floor(server.enabledMailboxes / 2) + 1);
}

/** Who hears that a profile's server is unreachable or most of its mailboxes fail: admins, and its owner if it has one. */
export function profileAudiences(profileOwnerUserId: string | null): AlertAudience[] {
  return profileOwnerUserId ? ['admins', 'profile_owner'] : ['admins'];
}

/**
 * More than half of the profile's mailboxes failing (for their own reasons) is worth one
 * profile-level alert; a single failing mailbox has its own alert already, so it takes two.
 */
export function mostMailboxesFailing(counts: { failing: number; total: number }): boolean {
  return counts.failing >= 2 && counts.failing * 2 > counts.total;
}

export type DirectionStatus = 'not_run' | 'success' | 'failure';

/**
 * Test & Enable: whether a direction is enabled after its test. Success enables it (approval
 * permitting); a permanent failure disables it; a transient one (the host did not resolve, the
 * connection was refused or timed out) leaves it as it was.
 */
export function enabledAfterTest(
  result: { status: DirectionStatus; errorClass?: ErrorClass },
  current: { enabled: boolean; approved: boolean },
): boolean {
  if (result.status === 'success') return current.approved;
  if (result.status === 'failure' && result.errorClass === 'transient') return current.enabled;
  return false;
}
