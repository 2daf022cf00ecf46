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
  patched,
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
  SendActivities,
  SendOutgoingOutcome,
  SyncIncomingOutcome,
  SyncItemsOutcome,
  TestAndEnableResult,
} from '../activities';
import { nextItemsSyncDelay, type ItemsRunOutcome } from '../src/policy/itemSyncDelay';
import { nextSendWaitMs, type SendRunOutcome } from '../src/policy/outgoingSend';
import { applyServerLoad } from '../src/policy/serverLoad';
import { INITIAL_ACTIVITY, lostAttemptDelay, nextSyncDelay, recordCycle, throttledDelay, type CycleOutcome, type SyncActivity } from '../src/policy/syncDelay';
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
  /** Emails may be waiting: send before anything else. Absent on a first start, which sends too. */
  sendRequested?: boolean;
  /** When the sending loop was to look again (epoch ms), or null to wait for a signal. Carried across continue-as-new. */
  nextSendAt?: number | null;
  /** Items may have changed in the CRM: sync them first. Absent on a first start, which syncs too. */
  itemsRequested?: boolean;
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
/** Contacts, appointments or tasks of the mailbox's owner changed in the CRM (the worker's database listener): sync items now. */
export const itemsChangedSignal = defineSignal('itemsChanged');
/** Incoming sync was disabled in the database: returns once the workflow is parked. */
export const disableUpdate = defineUpdate<MailboxStatus>('disable');
/** Tests every direction against the mail server, enables those that pass, returns the results. */
export const testAndEnableUpdate = defineUpdate<TestAndEnableResult>('testAndEnable');
export const statusQuery = defineQuery<MailboxStatus>('status');

const bookkeeping = proxyLocalActivities<MailboxActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

/** Long, heartbeating activities that talk to the mail server on `taskQueue`. */
function serverWork<T extends object>(taskQueue: string, plan: CyclePlan) {
  return proxyActivities<T>({
    taskQueue,
    startToCloseTimeout: '6 hours',
    heartbeatTimeout: plan.heartbeatTimeoutMs,
    // Mail-server failures come back as outcomes. An attempt that fails otherwise (its worker was
    // lost, the database was down) is retried by the workflow, without limit, so that it shows.
    retry: { maximumAttempts: 1 },
  });
}

/** Sync on the mail server's own task queue, so its worker caps the connections. */
const mailServer = (plan: CyclePlan) => serverWork<MailServerActivities>(plan.mailServerTaskQueue, plan);
/** Sending, on its own task queue. */
const sender = (plan: CyclePlan) => serverWork<SendActivities>(plan.sendTaskQueue, plan);

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
  let sendRequested = input.sendRequested ?? true;
  let nextSendAt = input.nextSendAt ?? null;
  // The mailbox changed (re-enabled, tested): a parked sending loop looks again.
  let outgoingChanged = false;
  let sending = false;
  let outgoingStopping = false;
  let outgoingRuns = 0;
  let itemsRequested = input.itemsRequested ?? true;
  let syncingItems = false;
  let itemsRuns = 0;
  let latestPlan: CyclePlan | null = null;
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

  // Local activities one at a time. Concurrent ones (the main loop's and Test & Enable's) resolve in
  // completion order when first run but in schedule order on replay (temporalio/sdk-rust#1075), so
  // what follows them could be commanded in another order on replay: a nondeterminism error that
  // leaves the mailbox's workflow stuck. Runs from before this change replay as they ran.
  const oneLocalAtATime = patched('serial-local-activities');
  let lastLocal: Promise<unknown> = Promise.resolve();
  const local = <T>(run: () => Promise<T>): Promise<T> => {
    if (!oneLocalAtATime) return run();
    const next = lastLocal.then(run);
    lastLocal = next.catch(() => undefined);
    return next;
  };

  // A changed or tested mailbox may have items turned on again (after a permanent failure turned them
  // off in the activity, which the loop's plan may not have seen): its item sync looks at once.
  const itemsWakeOnChange = patched('items-wake-on-change');

  setHandler(syncNowSignal, () => {
    syncRequested = true;
  });
  setHandler(mailboxChangedSignal, () => {
    changed = true;
    outgoingChanged = true;
    if (itemsWakeOnChange) itemsRequested = true;
  });
  setHandler(outgoingPendingSignal, () => {
    sendRequested = true;
  });
  setHandler(itemsChangedSignal, () => {
    itemsRequested = true;
  });
  setHandler(disableUpdate, async () => {
    changed = true;
    await condition(() => status.state === 'disabled' || status.state === 'error');
    return { ...status, activity };
  });
  setHandler(testAndEnableUpdate, async () => {
    const plan = await local(() => bookkeeping.describeMailbox(mailboxId));
    if (!plan) throw ApplicationFailure.nonRetryable('The mailbox no longer exists', 'MailboxDeleted');
    const results = await connectivityTests(plan).testConnectivity(mailboxId);
    const outcome = await local(() => bookkeeping.recordTestResults(mailboxId, results));
    changed = true;
    outgoingChanged = true;
    if (itemsWakeOnChange) itemsRequested = true;
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

  /** Sends what the mailbox's owner queued, whenever told to and at the sweep interval, until the run ends. */
  const outgoingLoop = async () => {
    await condition(() => latestPlan !== null);
    // A continued run picks up where the last one was waiting.
    if (!sendRequested) await waitToSend(nextSendAt === null ? null : Math.max(0, nextSendAt - Date.now()));
    let failuresInRow = 0;
    let lostInRow = 0;
    for (;;) {
      if (outgoingStopping) return;
      const plan = latestPlan!;
      sendRequested = false;
      outgoingChanged = false;
      sending = true;
      const outcome = await sendOnce(plan, mailboxId);
      sending = false;
      outgoingRuns++;
      let ran: SendRunOutcome;
      if (outcome.status === 'lost') ran = { kind: 'lost', lostInRow: ++lostInRow };
      else if (outcome.status === 'unreachable') ran = { kind: 'unreachable', failuresInRow: ++failuresInRow };
      else if (outcome.status === 'throttled') ran = { kind: 'throttled', retryAfterMs: outcome.retryAfterMs };
      else if (outcome.status === 'disabled') ran = { kind: 'disabled' };
      else ran = { kind: 'done', nextDueAt: outcome.nextDueAt };
      if (outcome.status !== 'lost') lostInRow = 0;
      if (outcome.status !== 'unreachable') failuresInRow = 0;
      await waitToSend(
        nextSendWaitMs(ran, Date.now(), {
          ...plan.intervals,
          sweepMs: plan.sendSweepMs,
          lostDelayMs: (n) => lostAttemptDelay(n, plan.intervals),
        }),
      );
    }
  };

  /** Until told to send (or the run ends), or `waitMs` passes; null: no timer. */
  async function waitToSend(waitMs: number | null): Promise<void> {
    nextSendAt = waitMs === null ? null : Date.now() + waitMs;
    const woken = () => sendRequested || outgoingChanged || outgoingStopping;
    if (waitMs === null) await condition(woken);
    else if (waitMs > 0) await condition(woken, waitMs);
  }

  /**
   * Syncs contacts, appointments and tasks while the mailbox has them enabled: when the CRM signals a
   * change, and at the mailbox's interval for changes made in Exchange.
   */
  const itemsLoop = async () => {
    await condition(() => latestPlan !== null);
    let failuresInRow = 0;
    let lostInRow = 0;
    for (;;) {
      if (outgoingStopping) return;
      const plan = latestPlan!;
      const enabledChanged = () => latestPlan!.itemsEnabled !== plan.itemsEnabled || latestPlan!.awaitingApproval !== plan.awaitingApproval;
      if (!plan.itemsEnabled || plan.awaitingApproval) {
        await condition(() => enabledChanged() || outgoingStopping);
        continue;
      }
      itemsRequested = false;
      syncingItems = true;
      const outcome = await syncItemsOnce(plan, mailboxId);
      syncingItems = false;
      itemsRuns++;
      let ran: ItemsRunOutcome;
      if (outcome.status === 'lost') ran = { kind: 'lost', lostInRow: ++lostInRow };
      else if (outcome.status === 'failed') ran = { kind: 'failed', failuresInRow: ++failuresInRow, retryAfterMs: outcome.retryAfterMs };
      else if (outcome.status === 'throttled') ran = { kind: 'throttled', retryAfterMs: outcome.retryAfterMs };
      else ran = { kind: 'synced' };
      if (outcome.status !== 'lost') lostInRow = 0;
      if (outcome.status !== 'failed') failuresInRow = 0;
      // Graph asked for a pause: a CRM change waits it out too, rather than asking again at once.
      if (ran.kind === 'throttled') await condition(() => outgoingStopping, nextItemsSyncDelay(ran, plan.intervals));
      else await condition(() => itemsRequested || enabledChanged() || outgoingStopping, nextItemsSyncDelay(ran, plan.intervals));
    }
  };

  /** Ends this run: waits for a send or item sync in progress, then lets the handlers finish. */
  const quiesce = async () => {
    outgoingStopping = true;
    await condition(() => !sending && !syncingItems);
    await condition(allHandlersFinished);
  };

  const runIsLong = (plan: CyclePlan) => status.cyclesThisRun + outgoingRuns + itemsRuns >= plan.cyclesPerRun || workflowInfo().continueAsNewSuggested;

  const continueWithState = async () => {
    await quiesce();
    await continueAsNew<typeof mailboxSyncWorkflow>({
      mailboxId,
      activity,
      syncRequested: syncRequested || changed,
      lostAttempts,
      sendRequested,
      nextSendAt,
      itemsRequested,
    });
  };

  /** Waits for the next cycle (or a signal), then continues as new if this run is long enough. */
  const waitForNextCycle = async (plan: CyclePlan, delayMs: number) => {
    await condition(() => syncRequested || changed || runIsLong(plan), delayMs);
    if (runIsLong(plan)) await continueWithState();
  };

  // Runs started before sending existed replay without the sending loop.
  if (patched('outgoing-send')) void outgoingLoop();
  // Runs started before item sync existed replay without it.
  if (patched('items-sync')) void itemsLoop();

  for (;;) {
    changed = false;
    const plan = await local(() => bookkeeping.describeMailbox(mailboxId));
    if (!plan) {
      await quiesce();
      return; // The mailbox was deleted: nothing left to sync.
    }
    latestPlan = plan;
    runMappingVersion ??= plan.mappingVersion;
    if (plan.mappingVersion !== runMappingVersion) {
      // Remapped: this run's sync ends here and a fresh one starts for the new owner.
      await quiesce();
      await continueAsNew<typeof mailboxSyncWorkflow>({ mailboxId, syncRequested: true, sendRequested: true });
    }
    // The mailbox row is the one source of its error figures (an admin's enable or test resets them).
    activity = { ...activity, consecutiveErrors: plan.consecutiveErrors };
    lastError = plan.lastError;

    if (!plan.incomingEnabled || plan.awaitingApproval) {
      status.retrying = null;
      publish(plan, plan.lastSyncFailed && !plan.incomingEnabled ? 'error' : 'disabled', null);
      // Parked: no timer, no sync, until the mailbox changes (sending goes on). A change that came
      // earlier only costs one more look at the database.
      await condition(() => changed || runIsLong(plan));
      if (!changed) await continueWithState();
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
    if (outcome.status === 'throttled') {
      // The server asked for a pause: waited out on the timer, recorded as no failure, and not
      // cut short by syncNow (asking sooner only prolongs the throttling).
      const delayMs = throttledDelay(outcome.retryAfterMs, plan.intervals);
      status.retrying = `${outcome.message}; waiting ${Math.ceil(delayMs / 1000)} s as it asked`;
      publish(plan, 'idle', Date.now() + delayMs);
      await condition(() => changed || runIsLong(plan), delayMs);
      if (runIsLong(plan)) await continueWithState();
      continue;
    }

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
      const { disabled } = await local(() => bookkeeping.recordCycle(mailboxId, {
        kind: 'failure',
        errorClass: outcome.errorClass,
        message: outcome.message,
        unreachable: outcome.unreachable ?? false,
        consecutiveErrors: activity.consecutiveErrors,
        nextSyncAt,
      }));
      if (disabled) continue; // describeMailbox now reports it disabled: park.
      lastError = outcome.message;
    } else {
      await local(() => bookkeeping.recordCycle(mailboxId, {
        kind: 'success',
        itemsProcessed: outcome.itemsStored,
        itemsFailed: outcome.itemsFailed,
        nextSyncAt,
      }));
      lastError = null;
    }

    publish(plan, 'idle', nextSyncAt);
    await waitForNextCycle(plan, delayMs);
  }
}

/** The send activity's outcome, or `lost` when the attempt did not complete. */
async function sendOnce(plan: CyclePlan, mailboxId: string): Promise<SendOutgoingOutcome | { status: 'lost'; reason: string }> {
  try {
    return await sender(plan).sendOutgoing(mailboxId);
  } catch (err) {
    if (!(err instanceof ActivityFailure) || CancellationScope.current().consideredCancelled) throw err;
    return { status: 'lost', reason: err.cause?.message ?? err.message };
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

/** The item sync activity's outcome, or `lost` when the attempt did not complete. */
async function syncItemsOnce(plan: CyclePlan, mailboxId: string): Promise<SyncItemsOutcome | { status: 'lost'; reason: string }> {
  try {
    return await mailServer(plan).syncItems(mailboxId);
  } catch (err) {
    if (!(err instanceof ActivityFailure) || CancellationScope.current().consideredCancelled) throw err;
    return { status: 'lost', reason: err.cause?.message ?? err.message };
  }
}
