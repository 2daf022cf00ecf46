import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  defineUpdate,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import type {
  AsyncWorkActivities,
  CyclePlan,
  CycleRecord,
  MailboxActivities,
  MailServerActivities,
  SyncIncomingOutcome,
  TestAndEnableResult,
} from '../activities';
import { MAX_CONSECUTIVE_TRANSIENT_ERRORS } from '../src/policy/errorClassification';
import { applyServerLoad } from '../src/policy/serverLoad';
import { INITIAL_ACTIVITY, nextSyncDelay, recordCycle, type CycleOutcome, type SyncActivity } from '../src/policy/syncDelay';
import {
  CrmUserIdAttribute,
  MailboxIdAttribute,
  MailboxStateAttribute,
  ServerProfileIdAttribute,
  type KeywordAttribute,
  type MailboxState,
} from '../src/temporal/searchAttributes';

export interface MailboxSyncInput {
  mailboxId: string;
  /** Carried across continue-as-new. */
  activity?: SyncActivity;
  syncRequested?: boolean;
}

export interface MailboxStatus {
  mailboxId: string;
  state: MailboxState;
  activity: SyncActivity;
  lastOutcome: SyncIncomingOutcome | null;
  nextSyncAt: number | null;
  cyclesThisRun: number;
}

/** Cut the current wait short and sync now. */
export const syncNowSignal = defineSignal('syncNow');
/**
 * The mailbox changed in the database (enabled, approved, remapped, settings): re-read it now.
 * A parked workflow wakes; a remapped one starts a fresh run for the new owner.
 */
export const mailboxChangedSignal = defineSignal('mailboxChanged');
/** Incoming sync was disabled in the database: returns once the workflow is parked. */
export const disableUpdate = defineUpdate<MailboxStatus>('disable');
/** Tests every direction against the mail server, enables those that pass, returns the results. */
export const testAndEnableUpdate = defineUpdate<TestAndEnableResult>('testAndEnable');
export const statusQuery = defineQuery<MailboxStatus>('status');

const bookkeeping = proxyLocalActivities<MailboxActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

/** Activities on the mail server's own task queue, so its worker caps the connections. */
function mailServer(plan: CyclePlan) {
  return proxyActivities<MailServerActivities>({
    taskQueue: plan.mailServerTaskQueue,
    startToCloseTimeout: '6 hours',
    heartbeatTimeout: plan.heartbeatTimeoutMs,
    // Mail-server failures come back as outcomes; these retries cover a lost worker.
    retry: { initialInterval: '1 second', maximumAttempts: 5 },
  });
}

function connectivityTests(plan: CyclePlan) {
  return proxyActivities<AsyncWorkActivities>({
    taskQueue: plan.asyncWorkTaskQueue,
    // Each direction is bounded by the profile's connection time-out (at most 100 s).
    startToCloseTimeout: '5 minutes',
    retry: { initialInterval: '1 second', maximumAttempts: 2 },
  });
}

/** One per mailbox, for the mailbox's life: sync, wait, repeat; park while disabled. */
export async function mailboxSyncWorkflow(input: MailboxSyncInput): Promise<void> {
  const { mailboxId } = input;
  let activity = input.activity ?? INITIAL_ACTIVITY;
  let syncRequested = input.syncRequested ?? false;
  let changed = false;
  let runMappingVersion: number | undefined;
  const status: MailboxStatus = { mailboxId, state: 'idle', activity, lastOutcome: null, nextSyncAt: null, cyclesThisRun: 0 };
  const published = new Map<string, string>();

  setHandler(syncNowSignal, () => {
    syncRequested = true;
  });
  setHandler(mailboxChangedSignal, () => {
    changed = true;
  });
  setHandler(disableUpdate, async () => {
    changed = true;
    await condition(() => status.state === 'disabled' || status.state === 'error');
    return { ...status, activity };
  });
  setHandler(testAndEnableUpdate, async () => {
    const plan = await bookkeeping.describeMailbox(mailboxId);
    if (!plan) throw ApplicationFailure.nonRetryable('The mailbox no longer exists', 'MailboxDeleted');
    const results = await connectivityTests(plan).testConnectivity(mailboxId);
    const outcome = await bookkeeping.recordTestResults(mailboxId, results);
    changed = true;
    return outcome;
  });
  setHandler(statusQuery, () => ({ ...status, activity }));

  const publish = (plan: CyclePlan | null, state: MailboxState) => {
    status.state = state;
    const wanted: [KeywordAttribute, string | null][] = [
      [MailboxIdAttribute, mailboxId],
      [MailboxStateAttribute, state],
      [ServerProfileIdAttribute, plan?.profileId ?? null],
      [CrmUserIdAttribute, plan?.ownerUserId ?? null],
    ];
    const updates = wanted.filter(([key, value]) => value !== null && published.get(key.name) !== value) as [
      KeywordAttribute,
      string,
    ][];
    if (updates.length === 0) return;
    upsertSearchAttributes(updates.map(([key, value]): SearchAttributeUpdatePair => ({ key, value })));
    for (const [key, value] of updates) published.set(key.name, value);
  };

  for (;;) {
    changed = false;
    const plan = await bookkeeping.describeMailbox(mailboxId);
    if (!plan) {
      await condition(allHandlersFinished);
      return; // The mailbox was deleted: nothing left to sync.
    }
    runMappingVersion ??= plan.mappingVersion;
    if (plan.mappingVersion !== runMappingVersion) {
      // Remapped: this run's sync ends here and a fresh one starts for the new owner.
      await condition(allHandlersFinished);
      await continueAsNew<typeof mailboxSyncWorkflow>({ mailboxId, syncRequested: true });
    }

    if (!plan.incomingEnabled || plan.awaitingApproval) {
      publish(plan, plan.lastSyncFailed ? 'error' : 'disabled');
      status.nextSyncAt = null;
      // Parked: no timer, no activity, until the mailbox changes. A change that came earlier
      // only costs one more look at the database.
      await condition(() => changed);
      activity = INITIAL_ACTIVITY;
      status.lastOutcome = null;
      continue;
    }

    publish(plan, 'syncing');
    syncRequested = false;
    const outcome = await syncOnce(plan, mailboxId);
    // Disabled or remapped while it ran: nothing was stored past the change; re-read the mailbox.
    if (outcome.status === 'disabled' || outcome.status === 'superseded') continue;
    status.lastOutcome = outcome;
    status.cyclesThisRun++;

    const cycle: CycleOutcome =
      outcome.status === 'synced'
        ? { kind: 'synced', itemsFound: outcome.itemsFound, moreAvailable: outcome.moreAvailable }
        : { kind: 'transient-error', retryAfterMs: outcome.retryAfterMs };
    activity = recordCycle(activity, cycle);
    // The server's recent slowness, failures and throttling stretch an ordinary wait; a failed
    // cycle has its own back-off, and one cut short by its budget goes on at once.
    const baseDelayMs = nextSyncDelay(activity, cycle, plan.intervals);
    const delayMs =
      cycle.kind === 'synced' && !cycle.moreAvailable ? applyServerLoad(baseDelayMs, plan.serverHealth, Date.now()) : baseDelayMs;
    const nextSyncAt = Date.now() + delayMs;

    if (outcome.status === 'failed') {
      const permanent = outcome.errorClass === 'permanent' || activity.consecutiveErrors >= MAX_CONSECUTIVE_TRANSIENT_ERRORS;
      const message =
        outcome.errorClass === 'transient' && permanent
          ? `${outcome.message} (${activity.consecutiveErrors} failures in a row; sync disabled)`
          : outcome.message;
      await bookkeeping.recordCycle(mailboxId, failureRecord(outcome.errorClass, message, activity, permanent, nextSyncAt));
      if (permanent) continue; // describeMailbox now reports it disabled: park.
    } else {
      await bookkeeping.recordCycle(mailboxId, {
        kind: 'success',
        itemsProcessed: outcome.itemsStored,
        itemsFailed: outcome.itemsFailed,
        nextSyncAt,
      });
    }

    publish(plan, 'idle');
    status.nextSyncAt = nextSyncAt;
    await condition(() => syncRequested || changed, delayMs);

    if (status.cyclesThisRun >= plan.cyclesPerRun || workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof mailboxSyncWorkflow>({ mailboxId, activity, syncRequested: syncRequested || changed });
    }
  }
}

async function syncOnce(plan: CyclePlan, mailboxId: string): Promise<SyncIncomingOutcome> {
  try {
    return await mailServer(plan).syncIncoming(mailboxId);
  } catch (err) {
    // Retries exhausted (workers kept dying, or a bug): count it as a transient failure.
    return { status: 'failed', errorClass: 'transient', message: `Sync activity failed: ${(err as Error).message}` };
  }
}

function failureRecord(
  errorClass: 'transient' | 'permanent',
  message: string,
  activity: SyncActivity,
  permanent: boolean,
  nextSyncAt: number,
): CycleRecord {
  return {
    kind: 'failure',
    errorClass: permanent ? 'permanent' : errorClass,
    message,
    consecutiveErrors: activity.consecutiveErrors,
    disable: permanent,
    nextSyncAt: permanent ? null : nextSyncAt,
  };
}
