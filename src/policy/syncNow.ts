/**
 * Whether "sync now" can do anything for a mailbox, and if not, why and what to do instead. A
 * request that would be silently ignored (the workflow is parked) is refused with the reason.
 * Pure, so the API, the CLI and the dashboard say the same thing.
 */
export interface SyncNowFacts {
  incomingEnabled: boolean;
  /** Incoming sync was disabled by a failure (its status is 'failure'), not by an admin. */
  disabledByFailure: boolean;
  /** The organisation processes approved addresses only, and this one is not approved. */
  awaitingApproval: boolean;
  lastError: string | null;
}

export type SyncNowRefusal = { reason: 'awaiting_approval' | 'disabled_by_failure' | 'disabled'; message: string };

export function syncNowRefusal(facts: SyncNowFacts, mailboxId: string): SyncNowRefusal | null {
  const testAndEnable = `run Test & Enable (POST /mailboxes/${mailboxId}/test-and-enable, or \`npm run cli -- mailbox test-and-enable ${mailboxId}\`)`;
  if (!facts.incomingEnabled && facts.disabledByFailure) {
    const cause = facts.lastError ? `: ${facts.lastError}` : '';
    return {
      reason: 'disabled_by_failure',
      message: `Incoming sync of this mailbox was disabled after an error${cause}. Fix the cause, then ${testAndEnable}.`,
    };
  }
  if (!facts.incomingEnabled) {
    return { reason: 'disabled', message: `Incoming sync of this mailbox is disabled. To turn it on, ${testAndEnable}.` };
  }
  if (facts.awaitingApproval) {
    return {
      reason: 'awaiting_approval',
      message:
        `The mailbox's email address is not approved, and the organisation syncs approved addresses only. ` +
        `An admin approves it (POST /mailboxes/${mailboxId}/approve, or \`npm run cli -- mailbox approve ${mailboxId}\`); it then syncs at once.`,
    };
  }
  return null;
}
