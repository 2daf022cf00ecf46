import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { markingDatabaseErrors } from '../src/db/availability';
import { testImapIncoming, testPop3Incoming, testSmtpOutgoing, type DirectionResult } from '../src/mail/connectivity';
import { GRAPH_MAILBOX_CONCURRENCY, graphMailboxSlotKey, type GraphEndpoint } from '../src/mail/graph/graphEndpoint';
import { GraphMailSource } from '../src/mail/graph/graphMailSource';
import { GraphRequestError, GraphSession, type GraphSessionOptions } from '../src/mail/graph/graphSession';
import { ImapMailSource } from '../src/mail/imapMailSource';
import type { MailServerEndpoint, MailSource } from '../src/mail/mailSource';
import { Pop3MailSource } from '../src/mail/pop3/pop3MailSource';
import type { ParsePool } from '../src/mail/parsePool';
import { describeDatabaseError, isDatabaseUnavailable } from '../src/policy/databaseAvailability';
import { classifyMailError, isUnreachableError, type ErrorClass } from '../src/policy/errorClassification';
import { unsupportedServerTypeMessage } from '../src/policy/serverProfiles';
import type { SyncIntervals } from '../src/policy/syncDelay';
import {
  SyncSupersededError,
  type ConnectivityResults,
  type MailboxPlan,
  type MailboxSyncContext,
  type SyncStore,
  type TestAndEnableResult,
} from '../src/store/syncStore';
import { runIncomingSync, type SyncProgress } from '../src/sync/incomingSync';
import { runOutgoingSend, type OutgoingSendResult } from '../src/sync/outgoingSend';
import type { OutgoingStore } from '../src/store/outgoingStore';
import type { SendRetrySettings } from '../src/policy/outgoingSend';
import { smtpRoute } from '../src/mail/smtp/smtpRoute';
import { graphOutbox } from '../src/mail/graph/graphOutbox';
import { GraphContactSource } from '../src/mail/graph/graphContactSource';
import { GraphEventSource } from '../src/mail/graph/graphEventSource';
import { GraphTaskSource } from '../src/mail/graph/graphTaskSource';
import type { CrmItems } from '../src/crm/crmItems';
import type { ItemSyncStore } from '../src/store/itemSyncStore';
import { syncItems, type ItemSyncFigures } from '../src/sync/items/itemSync';
import { testGraphDirections } from '../src/mail/graph/graphConnectivity';
import type { OutgoingRoute } from '../src/mail/mailSender';
import type { OutgoingContext } from '../src/store/outgoingStore';
import { mailboxWorkflowId, taskQueues } from '../src/temporal/names';
import type { ConnectionSlots } from '../src/worker/connectionSlots';
import { syncNowSignal } from '../workflows/mailboxSync';

export interface ActivityConfig {
  taskQueuePrefix: string;
  batchSize: number;
  batchMaxBytes: number;
  cycleBudget: { maxItems: number; maxMs: number };
  cyclesPerRun: number;
  heartbeatTimeoutMs: number;
  intervals: Omit<SyncIntervals, 'minMs'>;
  send: { batchSize: number; retry: SendRetrySettings; sweepMs: number };
}

/** The mailbox as the workflow plans with it: where its mail server's activities run, and its intervals. */
export interface CyclePlan extends MailboxPlan {
  mailServerTaskQueue: string;
  asyncWorkTaskQueue: string;
  sendTaskQueue: string;
  /** How often the mailbox looks for queued emails it was not told about. */
  sendSweepMs: number;
  intervals: SyncIntervals;
  cyclesPerRun: number;
  heartbeatTimeoutMs: number;
}

export type { TestAndEnableResult };

export type SendOutgoingOutcome = OutgoingSendResult;

export type SyncIncomingOutcome =
  | { status: 'disabled' }
  /** Remapped or disabled while it ran; nothing past the change was stored. */
  | { status: 'superseded' }
  | { status: 'synced'; itemsFound: number; itemsStored: number; itemsFailed: number; itemsSkipped: number; moreAvailable: boolean }
  /**
   * The server asked for a longer pause than is worth holding a connection slot for (Graph's
   * Retry-After): the mailbox waits that long on its workflow timer, which is no failure.
   * What was stored before stays, and the next cycle goes on from there.
   */
  | { status: 'throttled'; message: string; retryAfterMs?: number }
  /** `unreachable`: the server could not be reached at all, which is the server's fault (see src/policy/failurePolicy.ts). */
  | { status: 'failed'; errorClass: ErrorClass; message: string; retryAfterMs?: number; unreachable?: boolean };

export type SyncItemsOutcome =
  | { status: 'skipped'; reason: string }
  | { status: 'synced'; figures: ItemSyncFigures[] }
  /** Graph asked for a longer pause than is worth holding the slots for. */
  | { status: 'throttled'; message: string; retryAfterMs?: number }
  | { status: 'failed'; errorClass: ErrorClass; message: string; retryAfterMs?: number };

/** A completed cycle, for the mailbox row. Times are epoch ms (the workflow's clock). */
export type CycleRecord =
  | { kind: 'success'; itemsProcessed: number; itemsFailed: number; nextSyncAt: number }
  | { kind: 'failure'; errorClass: ErrorClass; message: string; unreachable: boolean; consecutiveErrors: number; nextSyncAt: number };

function openSource(context: MailboxSyncContext, graphOptions: GraphSessionOptions, parsePool: ParsePool): MailSource {
  switch (context.serverType) {
    case 'imap':
      return new ImapMailSource(context.endpoint);
    case 'pop3':
      return new Pop3MailSource(context.endpoint, { deleteAfterProcessing: context.deleteAfterProcessing });
    case 'exchange_online':
      if (!context.graph) throw Object.assign(new Error(exchangeSettingsMissing), { errorClass: 'permanent' });
      // Sanitising each message's HTML is most of the work: it goes to the parse pool's threads.
      return new GraphMailSource(new GraphSession(context.graph, graphOptions), (inputs) => parsePool.mapGraphMany(inputs));
    default:
      // A profile an older version accepted: the mailbox fails for good until its profile changes.
      throw Object.assign(new Error(unsupportedServerTypeMessage(context.serverType)), { errorClass: 'permanent' });
  }
}

/** Bookkeeping activities: the database only, run next to the workflows. */
export function createMailboxActivities(store: SyncStore, config: ActivityConfig) {
  const queues = taskQueues(config.taskQueuePrefix);
  return {
    async describeMailbox(mailboxId: string): Promise<CyclePlan | null> {
      const plan = await store.describeMailbox(mailboxId);
      if (!plan) return null;
      return {
        ...plan,
        mailServerTaskQueue: queues.mailServer(plan.profileId),
        asyncWorkTaskQueue: queues.asyncWork,
        sendTaskQueue: queues.send,
        sendSweepMs: config.send.sweepMs,
        intervals: { ...config.intervals, minMs: plan.minPollingIntervalMs },
        cyclesPerRun: config.cyclesPerRun,
        heartbeatTimeoutMs: config.heartbeatTimeoutMs,
      };
    },

    /** Records the cycle; says whether a failure disabled the mailbox. A recovered server's other mailboxes are woken. */
    async recordCycle(mailboxId: string, record: CycleRecord): Promise<{ disabled: boolean }> {
      if (record.kind === 'failure') return store.recordMailboxFailure(mailboxId, { ...record, nextSyncAt: new Date(record.nextSyncAt) });
      const { wake } = await store.recordCycleSuccess(mailboxId, { ...record, nextSyncAt: new Date(record.nextSyncAt) });
      await wakeMailboxes(wake);
      return { disabled: false };
    },

    async recordTestResults(mailboxId: string, results: ConnectivityResults): Promise<TestAndEnableResult> {
      return store.recordTestResults(mailboxId, results);
    },
  };
}

/** Cuts the wait of these mailboxes' workflows short (their server answers again). One not running is skipped. */
async function wakeMailboxes(mailboxIds: string[]): Promise<void> {
  if (mailboxIds.length === 0) return;
  const { client } = Context.current();
  for (const id of mailboxIds) {
    await client.workflow
      .getHandle(mailboxWorkflowId(id))
      .signal(syncNowSignal)
      .catch((err: Error) => {
        if (err.name !== 'WorkflowNotFoundError') throw err;
      });
  }
  log.info('Woke the mailboxes of a mail server that answers again', { mailboxes: mailboxIds.length });
}

const notRun = (message: string): DirectionResult => ({ status: 'not_run', message, testedAt: new Date().toISOString() });
const failed = (message: string): DirectionResult => ({ status: 'failure', message, testedAt: new Date().toISOString(), errorClass: 'permanent' });

const exchangeSettingsMissing =
  "The Exchange Online profile has no app registration (tenant id, client id and a client secret or certificate): set them on the profile, then run Test & Enable";

/**
 * Runs `use` holding one of the mailbox's server connection slots, and for a Graph mailbox one of
 * the mailbox's own four besides (Graph's per-mailbox limit, across every worker; the session
 * sends one request at a time). The activity keeps heartbeating while it waits.
 */
function slotFor(slots: ConnectionSlots) {
  return <T>(context: { profileId: string; maxConcurrentConnections: number; graph?: GraphEndpoint | null }, use: () => Promise<T>): Promise<T> => {
    const ctx = Context.current();
    const waiting = { onWait: () => ctx.heartbeat(), signal: ctx.cancellationSignal };
    const graph = context.graph;
    return slots.withSlot(context.profileId, context.maxConcurrentConnections, waiting, () =>
      graph ? slots.withSlot(graphMailboxSlotKey(graph), GRAPH_MAILBOX_CONCURRENCY, waiting, use) : use(),
    );
  };
}

/**
 * A database outage is nobody's failure but the deployment's: the activity fails as retryable,
 * so Temporal runs it again once the database answers, and the mailbox is not told it failed.
 */
function retryWhenDatabaseDown(err: unknown): unknown {
  if (!isDatabaseUnavailable(err)) return err;
  return ApplicationFailure.create({
    message: `The database is unavailable (${describeDatabaseError(err)}); retrying`,
    type: 'DatabaseUnavailable',
    nonRetryable: false,
    cause: err instanceof Error ? err : undefined,
  });
}

/** The two-way item engine's sides: the CRM and the engine's own state. */
export interface ItemSyncServices {
  crm: CrmItems;
  store: ItemSyncStore;
}

/** The slot key of a mailbox's item sync: one run at a time, across every worker process. */
const itemSyncSlotKey = (mailboxId: string) => `item-sync:${mailboxId}`;

/** Activities that sync with a mail server: they run on that server's own task queue. */
export function createMailServerActivities(
  store: SyncStore,
  slots: ConnectionSlots,
  config: Pick<ActivityConfig, 'batchSize' | 'batchMaxBytes' | 'cycleBudget' | 'heartbeatTimeoutMs'>,
  parsePool: ParsePool,
  items: ItemSyncServices,
) {
  // Its errors are the database's: a socket code it shares with the mail server is read as such.
  const db = markingDatabaseErrors(store);
  const itemStore = markingDatabaseErrors(items.store);
  const itemCrm = markingDatabaseErrors(items.crm);
  const heartbeatEveryMs = Math.min(SEND_HEARTBEAT_EVERY_MS, config.heartbeatTimeoutMs / 4);
  return {
    /**
     * Contacts, tasks and appointments both ways, holding one of the server's connection slots and
     * one of the Graph mailbox's request slots, like every other Graph activity, and the mailbox's one
     * item-sync slot: an attempt given up for a missed heartbeat may still be running, and two runs
     * would both create what is not linked yet.
     */
    async syncItems(mailboxId: string): Promise<SyncItemsOutcome> {
      const ctx = Context.current();
      let lastHeartbeat = 0;
      let profileId: string | null = null;
      // The longest pause Graph asked for during the run (each waited out in the session).
      let throttledForMs = 0;
      try {
        const context = await db.loadSyncContext(mailboxId);
        if (!context) return { status: 'skipped', reason: 'The mailbox no longer exists' };
        if (!context.graph) return { status: 'skipped', reason: 'Appointments, contacts and tasks sync with Exchange Online only' };
        if (!context.itemsEnabled) return { status: 'skipped', reason: 'Appointments, contacts and tasks are not enabled for the mailbox' };
        profileId = context.profileId;
        // Graph's waits (throttling, back-off) heartbeat like the incoming sync's.
        const session = new GraphSession(context.graph, {
          onWaiting: () => ctx.heartbeat(),
          onThrottled: (retryAfterMs) => {
            throttledForMs = Math.max(throttledForMs, retryAfterMs ?? 0);
          },
        });
        const run = () =>
          syncItems(mailboxId, (settings) => [new GraphContactSource(session), new GraphTaskSource(session), new GraphEventSource(session, settings.calendarWindow)], {
            crm: itemCrm,
            store: itemStore,
            progress: () => {
              if (Date.now() - lastHeartbeat < heartbeatEveryMs) return;
              lastHeartbeat = Date.now();
              ctx.heartbeat();
            },
          });
        const waiting = { onWait: () => ctx.heartbeat(), signal: ctx.cancellationSignal };
        const figures = await slots.withSlot(itemSyncSlotKey(mailboxId), 1, waiting, () => slotFor(slots)(context, run));
        await itemStore.recordRun(mailboxId, { ok: true, figures });
        if (throttledForMs > 0) await db.recordServerSample(profileId, { connectionFailed: false, throttledForMs });
        return { status: 'synced', figures };
      } catch (err) {
        if (isDatabaseUnavailable(err)) {
          log.warn('Item sync waits for the database', { mailboxId, reason: describeDatabaseError(err) });
          throw retryWhenDatabaseDown(err);
        }
        // Throttling is Graph's load, not the mailbox's failure: no failure status, the server-load record notes it.
        if (err instanceof GraphRequestError && err.throttled) {
          log.info('Microsoft Graph throttles the mailbox: item sync waits on its timer', { mailboxId, retryAfterMs: err.retryAfterMs });
          if (profileId) {
            await db.recordServerSample(profileId, { connectionFailed: false, throttledForMs: err.retryAfterMs ?? (throttledForMs || undefined) }).catch((sampleErr: unknown) => {
              throw retryWhenDatabaseDown(sampleErr);
            });
          }
          return { status: 'throttled', message: err.message, retryAfterMs: err.retryAfterMs };
        }
        const classified = classifyMailError(err);
        log.warn('Item sync failed', { mailboxId, errorClass: classified.errorClass, reason: classified.message });
        const recorded =
          classified.errorClass === 'permanent' ? itemStore.disableItems(mailboxId, classified.message) : itemStore.recordRun(mailboxId, { ok: false, message: classified.message });
        await recorded.catch((recordErr: unknown) => {
          throw retryWhenDatabaseDown(recordErr);
        });
        return { status: 'failed', errorClass: classified.errorClass, message: classified.message, retryAfterMs: classified.retryAfterMs };
      }
    },

    async syncIncoming(mailboxId: string): Promise<SyncIncomingOutcome> {
      const ctx = Context.current();
      const resumedFrom = ctx.info.heartbeatDetails as SyncProgress | undefined;
      if (resumedFrom) log.info('Resuming incoming sync after an interrupted attempt', { mailboxId, ...resumedFrom });
      let server: { profileId: string; endpoint: MailServerEndpoint } | undefined;
      // The longest pause Graph asked for during the cycle (each waited out in the session).
      let throttledForMs = 0;
      let progress = resumedFrom;
      const graphOptions: GraphSessionOptions = {
        onThrottled: (retryAfterMs) => {
          throttledForMs = Math.max(throttledForMs, retryAfterMs ?? 0);
        },
        onWaiting: () => ctx.heartbeat(progress),
      };
      try {
        const result = await runIncomingSync(mailboxId, {
          store: db,
          openSource: (context) => {
            server = { profileId: context.profileId, endpoint: context.endpoint };
            return openSource(context, graphOptions, parsePool);
          },
          parseMime: (raws) => parsePool.parseMany(raws),
          batchSize: config.batchSize,
          batchMaxBytes: config.batchMaxBytes,
          budget: config.cycleBudget,
          withConnectionSlot: slotFor(slots),
          onProgress: (done) => {
            progress = done;
            ctx.heartbeat(done);
          },
        });
        if (result.status === 'disabled') return result;
        await db.recordServerSample(server!.profileId, { responseMs: result.responseMs, connectionFailed: false, throttledForMs: throttledForMs || undefined });
        const { responseMs: _responseMs, ...outcome } = result;
        return outcome;
      } catch (err) {
        if (err instanceof SyncSupersededError) return { status: 'superseded' };
        if (isDatabaseUnavailable(err)) {
          log.warn('Incoming sync waits for the database', { mailboxId, reason: describeDatabaseError(err) });
          throw retryWhenDatabaseDown(err);
        }
        if (err instanceof GraphRequestError && err.throttled) {
          log.info('Microsoft Graph throttles the mailbox: it waits on its timer', { mailboxId, retryAfterMs: err.retryAfterMs });
          if (server) {
            await db
              .recordServerSample(server.profileId, { connectionFailed: false, throttledForMs: err.retryAfterMs ?? (throttledForMs || undefined) })
              .catch((sampleErr: unknown) => {
                throw retryWhenDatabaseDown(sampleErr);
              });
          }
          return { status: 'throttled', message: err.message, retryAfterMs: err.retryAfterMs };
        }
        const classified = classifyMailError(err, server?.endpoint);
        log.warn('Incoming sync failed', { mailboxId, errorClass: classified.errorClass, reason: classified.message });
        if (server && classified.errorClass === 'transient') {
          await db
            .recordServerSample(server.profileId, {
              connectionFailed: !classified.throttled,
              throttledForMs: classified.throttled ? (classified.retryAfterMs ?? 60_000) : undefined,
            })
            .catch((sampleErr: unknown) => {
              throw retryWhenDatabaseDown(sampleErr);
            });
        }
        return { status: 'failed', ...classified, unreachable: isUnreachableError(err) };
      }
    },
  };
}

// Progress after each email is heartbeated at most this often (and four times per heartbeat
// time-out): the SDK encodes (and encrypts) every heartbeat before its own throttling, which
// cost about 1 ms of CPU per email sent.
const SEND_HEARTBEAT_EVERY_MS = 1000;

/** The slot key that lets one send run per mailbox hold the mailbox's outbox. */
function sendRunKey(mailboxId: string): string {
  return `send-run:${mailboxId}`;
}

/** The mailbox's way out: Graph for an Exchange Online mailbox, else its profile's SMTP server. */
function outgoingRoute(context: OutgoingContext, store: OutgoingStore): OutgoingRoute | { missing: string } {
  if (context.serverType === 'exchange_online') {
    return context.graph
      ? graphOutbox(context.graph, { store })
      : { missing: 'The Exchange Online profile is incomplete (tenant, app or mailbox user missing): complete it, then run Test & Enable' };
  }
  return context.smtp
    ? smtpRoute(context, context.smtp)
    : { missing: 'The server profile has no outgoing (SMTP) server: set one on the profile, then run Test & Enable' };
}

/** Sending email, on its own queue and concurrency; its connections take the server's slots like any other. */
export function createSendActivities(
  store: OutgoingStore,
  slots: ConnectionSlots,
  config: Pick<ActivityConfig, 'send' | 'heartbeatTimeoutMs'>,
  serverLoad: Pick<SyncStore, 'recordServerSample'>,
) {
  const db = markingDatabaseErrors(store);
  const load = markingDatabaseErrors(serverLoad);
  const heartbeatEveryMs = Math.min(SEND_HEARTBEAT_EVERY_MS, config.heartbeatTimeoutMs / 4);
  return {
    async sendOutgoing(mailboxId: string): Promise<SendOutgoingOutcome> {
      const ctx = Context.current();
      const waiting = { onWait: () => ctx.heartbeat(), signal: ctx.cancellationSignal };
      let lastHeartbeat = 0;
      try {
        // One run per mailbox at a time, across workers: an attempt Temporal gave up on for a missed
        // heartbeat may still be running, and two runs would both take the emails left `sending`.
        const result = await slots.withSlot(sendRunKey(mailboxId), 1, waiting, () =>
          runOutgoingSend(mailboxId, {
            store: db,
            routeFor: (context) => outgoingRoute(context, db),
            withConnectionSlot: (slot, use) => slots.withSlot(slot.key, slot.cap, waiting, use),
            batchSize: config.send.batchSize,
            retry: config.send.retry,
            onProgress: () => {
              if (Date.now() - lastHeartbeat < heartbeatEveryMs) return;
              lastHeartbeat = Date.now();
              ctx.heartbeat();
            },
          }),
        );
        // Throttling slows the whole server down, as the incoming side records it.
        if (result.status === 'throttled' && result.profileId) await load.recordServerSample(result.profileId, { connectionFailed: false, throttledForMs: result.retryAfterMs ?? undefined });
        return result;
      } catch (err) {
        if (isDatabaseUnavailable(err)) {
          log.warn('Sending waits for the database', { mailboxId, reason: describeDatabaseError(err) });
          throw retryWhenDatabaseDown(err);
        }
        // The Sent folder or the server failed outside a send: the emails wait for the next run.
        const classified = classifyMailError(err);
        if (classified.throttled) return { status: 'throttled', retryAfterMs: classified.retryAfterMs ?? null, sent: 0, profileId: null };
        log.warn('Sending failed', { mailboxId, errorClass: classified.errorClass, reason: classified.message });
        return { status: 'unreachable', message: classified.message, sent: 0 };
      }
    },
  };
}

/** Other asynchronous work, on its own queue: a flood of it never holds up sync. */
export function createAsyncWorkActivities(store: SyncStore, slots: ConnectionSlots) {
  const db = markingDatabaseErrors(store);
  return {
    /** Test & Enable's checks: each direction the mailbox's profile serves, against the real server. */
    async testConnectivity(mailboxId: string): Promise<ConnectivityResults> {
      try {
        const context = await db.loadSyncContext(mailboxId);
        if (!context) throw new Error(`Mailbox ${mailboxId} does not exist`);
        // Testing opens connections to the server too: they count against its cap.
        return await slotFor(slots)(context, () => testDirections(context));
      } catch (err) {
        throw retryWhenDatabaseDown(err);
      }
    },
  };
}

async function testDirections(context: MailboxSyncContext): Promise<ConnectivityResults> {
  if (context.serverType === 'exchange_online') {
    if (context.graph) return testGraphDirections(context.graph);
    const missing = failed(exchangeSettingsMissing);
    return { incoming: missing, outgoing: missing, items: missing };
  }
  const incoming =
    context.serverType === 'imap'
      ? await testImapIncoming(context.endpoint, context.folders)
      : context.serverType === 'pop3'
        ? await testPop3Incoming(context.endpoint)
        : notRun(unsupportedServerTypeMessage(context.serverType));
  const outgoing = context.outgoing ? await testSmtpOutgoing(context.outgoing) : notRun('The server profile has no outgoing server');
  const items = notRun('Appointments, contacts and tasks sync with Exchange Online only');
    return { incoming, outgoing, items };
}

export type MailboxActivities = ReturnType<typeof createMailboxActivities>;
export type MailServerActivities = ReturnType<typeof createMailServerActivities>;
export type AsyncWorkActivities = ReturnType<typeof createAsyncWorkActivities>;
export type SendActivities = ReturnType<typeof createSendActivities>;
