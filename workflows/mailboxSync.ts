import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  defineUpdate,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import type {
  AsyncWorkActivities,
  CyclePlan,
  MailboxActivities,
  MailServerActivities,
  SyncIncomingOutcome,
  TestAndEnableResult,
} from '../activities';
import { applyServerLoad } from '../src/policy/serverLoad';
import { INITIAL_ACTIVITY, lostAttemptDelay, nextSyncDelay, recordCycle, type CycleOutcome, type SyncActivity } from '../src/policy/syncDelay';
import {
  CrmUserIdAttribute,
  MailboxIdAttribute,
  MailboxStateAttribute,
  ServerProfileIdAttribute,
  type KeywordAttribute,
  type MailboxState,
} from '../src/temporal/searchAttributes';
import { currentDetails } from './currentDetails';

export interface MailboxSyncInput {
  mailboxId: string;
  /** Carried across continue-as-new. */
  activity?: SyncActivity;
  syncRequested?: boolean;
  /** Attempts in a row at the sync activity that did not complete. Carried across continue-as-new. */
  lostAttempts?: number;
}

export interface MailboxStatus {
  mailboxId: string;
  state: MailboxState;
  /** Idle cycles and failures in a row; `consecutiveErrors` is the mailbox row's figure, read each cycle. */
  activity: SyncActivity;
  lastOutcome: SyncIncomingOutcome | null;
  /** ISO 8601; null while parked or syncing. */
  nextSyncAt: string | null;
  cyclesThisRun: number;
  /** Why the sync activity is being tried again (its worker was lost, ...), while it is; else null. */
  retrying: string | null;
}

/** Cut the current wait short and sync now. */
export const syncNowSignal = defineSignal('syncNow');
/**
 * The mailbox changed in the database (enabled, approved, remapped, settings): re-read it now.
 * A parked workflow wakes; a remapped one starts a fresh run for the new owner.
 */
export const mailboxChangedSignal = defineSignal('mailboxChanged');
/** An email of the mailbox's owner is waiting to be sent (the API, or the worker's database listener): send now. */
export const outgoingPendingSignal = defineSignal('outgoingPending');
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
    // Mail-server failures come back as outcomes. An attempt that fails otherwise (its worker was
    // lost, the database was down) is retried by the workflow, without limit, so that it shows.
    retry: { maximumAttempts: 1 },
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
  let lostAttempts = input.lostAttempts ?? 0;
  let changed = false;
  let runMappingVersion: number | undefined;
  let lastError: string | null = null;
  const status: MailboxStatus = {
    mailboxId,
    state: 'idle',
    activity,
    lastOutcome: null,
    nextSyncAt: null,
    cyclesThisRun: 0,
    retrying: null,
  };
  const published = new Map<string, string | null>();

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

  /** The state, to the status query, the search attributes and Temporal UI's current details. */
  const publish = (plan: CyclePlan, state: MailboxState, nextSyncAt: number | null) => {
    status.state = state;
    status.nextSyncAt = nextSyncAt === null ? null : new Date(nextSyncAt).toISOString();
    setCurrentDetails(
      currentDetails({
        emailAddress: plan.emailAddress,
        ownerName: plan.ownerName,
        state,
        lastError,
        nextSyncAt: status.nextSyncAt,
        retrying: status.retrying,
      }),
    );
    const wanted: [KeywordAttribute, string | null][] = [
      [MailboxIdAttribute, mailboxId],
      [MailboxStateAttribute, state],
      [ServerProfileIdAttribute, plan.profileId],
      [CrmUserIdAttribute, plan.ownerUserId],
    ];
    // A null unsets a value this run inherited (a continue-as-new keeps them; a queue's mailbox has no CRM user), once.
    const updates = wanted.filter(([key, value]) =>
      value === null
        ? published.get(key.name) !== null && workflowInfo().typedSearchAttributes.get(key) !== undefined
        : published.get(key.name) !== value,
    );
    if (updates.length === 0) return;
    upsertSearchAttributes(updates.map(([key, value]): SearchAttributeUpdatePair => ({ key, value })));
    for (const [key, value] of updates) published.set(key.name, value);
  };

  /** Waits for the next cycle (or a signal), then continues as new if this run is long enough. */
  const waitForNextCycle = async (plan: CyclePlan, delayMs: number) => {
    await condition(() => syncRequested || changed, delayMs);
    if (status.cyclesThisRun >= plan.cyclesPerRun || workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof mailboxSyncWorkflow>({ mailboxId, activity, syncRequested: syncRequested || changed, lostAttempts });
    }
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
    // The mailbox row is the one source of its error figures (an admin's enable or test resets them).
    activity = { ...activity, consecutiveErrors: plan.consecutiveErrors };
    lastError = plan.lastError;

    if (!plan.incomingEnabled || plan.awaitingApproval) {
      status.retrying = null;
      publish(plan, plan.lastSyncFailed && !plan.incomingEnabled ? 'error' : 'disabled', null);
      // Parked: no timer, no activity, until the mailbox changes. A change that came earlier
      // only costs one more look at the database.
      await condition(() => changed);
      activity = INITIAL_ACTIVITY;
      lostAttempts = 0;
      status.lastOutcome = null;
      continue;
    }

    publish(plan, 'syncing', null);
    syncRequested = false;
    const outcome = await syncOnce(plan, mailboxId);
    if (outcome.status === 'lost') {
      // Not the mailbox's fault: nothing is recorded against it; the activity is tried again.
      lostAttempts++;
      status.retrying = outcome.reason;
      status.cyclesThisRun++;
      const delayMs = lostAttemptDelay(lostAttempts, plan.intervals);
      publish(plan, 'retrying', Date.now() + delayMs);
      await waitForNextCycle(plan, delayMs);
      continue;
    }
    lostAttempts = 0;
    status.retrying = null;
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
      const { disabled } = await bookkeeping.recordCycle(mailboxId, {
        kind: 'failure',
        errorClass: outcome.errorClass,
        message: outcome.message,
        unreachable: outcome.unreachable ?? false,
        consecutiveErrors: activity.consecutiveErrors,
        nextSyncAt,
      });
      if (disabled) continue; // describeMailbox now reports it disabled: park.
      lastError = outcome.message;
    } else {
      await bookkeeping.recordCycle(mailboxId, {
        kind: 'success',
        itemsProcessed: outcome.itemsStored,
        itemsFailed: outcome.itemsFailed,
        nextSyncAt,
      });
      lastError = null;
    }

    publish(plan, 'idle', nextSyncAt);
    await waitForNextCycle(plan, delayMs);
  }
}

/** The sync activity's outcome, or `lost` when the attempt did not complete (no limit on attempts). */
async function syncOnce(plan: CyclePlan, mailboxId: string): Promise<SyncIncomingOutcome | { status: 'lost'; reason: string }> {
  try {
    return await mailServer(plan).syncIncoming(mailboxId);
  } catch (err) {
    // An attempt cancelled by its worker's shutdown is lost like any other; only the workflow's own cancellation ends it.
    if (!(err instanceof ActivityFailure) || CancellationScope.current().consideredCancelled) throw err;
    return { status: 'lost', reason: err.cause?.message ?? err.message };
  }
}
