import { DefaultLogger, NativeConnection, Runtime, Worker, type LogLevel, type WorkerOptions } from '@temporalio/worker';
import type { DataConverter } from '@temporalio/common';
import { Client, Connection } from '@temporalio/client';
import type { Pool } from 'pg';
import {
  createAsyncWorkActivities,
  createMailboxActivities,
  createMailServerActivities,
  createSendActivities,
  type ActivityConfig,
  type ItemSyncServices,
} from '../../activities';
import type { AppConfig } from '../config';
import type { Logger } from '../logger';
import type { SyncStore } from '../store/syncStore';
import { taskQueues } from '../temporal/names';
import { SecretBox } from '../secrets/secretBox';
import { PgSyncStore } from '../store/pgSyncStore';
import { PgOutgoingStore } from '../store/pgOutgoingStore';
import type { OutgoingStore } from '../store/outgoingStore';
import { createDataConverter } from '../temporal/dataConverter';
import { markDatabaseError } from '../db/availability';
import { describeDatabaseError, isDatabaseUnavailable } from '../policy/databaseAvailability';
import { ConnectionSlots } from './connectionSlots';
import { ParsePool } from '../mail/parsePool';
import { PendingSendListener } from './pendingSendListener';
import { ItemChangeListener } from './itemChangeListener';
import { PgCrmItems } from '../crm/pgCrmItems';
import { PgItemSyncStore } from '../store/itemSyncStore';
import { mailboxWorkflowId } from '../temporal/names';
import { itemsChangedSignal } from '../../workflows/mailboxSync';

export interface WorkerSetOptions {
  connection: NativeConnection;
  namespace: string;
  pool: Pool;
  store: SyncStore;
  outgoingStore: OutgoingStore;
  slots: ConnectionSlots;
  /** Signals mailboxes whose owners' emails are queued in the database; stopped at shutdown. */
  pendingSendListener: PendingSendListener;
  /** Signals mailboxes whose contacts, appointments or tasks changed in the CRM; stopped at shutdown. */
  itemChangeListener: ItemChangeListener;
  /** The two-way item engine's CRM side and state. */
  items: ItemSyncServices;
  /** Parses for every mail server worker of the process; closed at shutdown. */
  parsePool: ParsePool;
  activityConfig: ActivityConfig;
  queues: AppConfig['queues'];
  /** A prebuilt bundle (tests, production images); otherwise the workflows are bundled at start. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  profileRefreshMs: number;
  log: Logger;
  /** Encrypts payloads (see src/temporal/dataConverter.ts); the SDK default when absent. */
  dataConverter?: DataConverter;
}

interface ProfileWorker {
  maxConnections: number;
  worker: Worker;
  running: Promise<void>;
}

/**
 * The workflow worker plus one activity worker per email server profile, each capped at the
 * profile's maximum concurrent connections. Profiles added or changed later are picked up by
 * a periodic refresh, without a restart.
 */
export class WorkerSet {
  private readonly profileWorkers = new Map<string, ProfileWorker>();
  private workflowWorker?: { worker: Worker; running: Promise<void> };
  private asyncWorker?: { worker: Worker; running: Promise<void> };
  private sendWorker?: { worker: Worker; running: Promise<void> };
  private refreshTimer?: NodeJS.Timeout;
  private refreshing: Promise<void> = Promise.resolve();
  private stopping = false;

  constructor(private readonly opts: WorkerSetOptions) {}

  async start(): Promise<void> {
    const queues = taskQueues(this.opts.activityConfig.taskQueuePrefix);
    const worker = await Worker.create({
      connection: this.opts.connection,
      namespace: this.opts.namespace,
      taskQueue: queues.mailboxSync,
      ...(this.opts.workflowBundle ? { workflowBundle: this.opts.workflowBundle } : { workflowsPath: require.resolve('../../workflows') }),
      activities: createMailboxActivities(this.opts.store, this.opts.activityConfig),
      dataConverter: this.opts.dataConverter,
      maxConcurrentWorkflowTaskExecutions: this.opts.queues.workflowTaskConcurrency,
      maxCachedWorkflows: this.opts.queues.workflowCacheSize,
    });
    this.workflowWorker = { worker, running: this.watch(worker, queues.mailboxSync) };
    const asyncWorker = await Worker.create({
      connection: this.opts.connection,
      namespace: this.opts.namespace,
      taskQueue: queues.asyncWork,
      activities: createAsyncWorkActivities(this.opts.store, this.opts.slots),
      maxConcurrentActivityTaskExecutions: this.opts.queues.asyncWorkConcurrency,
      dataConverter: this.opts.dataConverter,
    });
    this.asyncWorker = { worker: asyncWorker, running: this.watch(asyncWorker, queues.asyncWork) };
    const sendWorker = await Worker.create({
      connection: this.opts.connection,
      namespace: this.opts.namespace,
      taskQueue: queues.send,
      activities: createSendActivities(this.opts.outgoingStore, this.opts.slots, this.opts.activityConfig, this.opts.store),
      maxConcurrentActivityTaskExecutions: this.opts.queues.sendConcurrency,
      dataConverter: this.opts.dataConverter,
    });
    this.sendWorker = { worker: sendWorker, running: this.watch(sendWorker, queues.send) };
    await this.opts.pendingSendListener.start();
    await this.opts.itemChangeListener.start();
    await this.refreshProfiles();
    this.refreshTimer = setInterval(() => {
      this.refreshing = this.refreshing
        .then(() => this.refreshProfiles())
        .catch((err: unknown) => {
          // An outage is reported once per attempt in a line, not with a stack trace; the next refresh retries.
          if (isDatabaseUnavailable(markDatabaseError(err))) this.opts.log.warn(`Profile refresh waits for the database (${describeDatabaseError(err)})`);
          else this.opts.log.error({ err }, 'Profile refresh failed');
        });
    }, this.opts.profileRefreshMs);
  }

  /** Starts workers for new profiles, restarts those whose connection cap changed, stops removed ones. */
  async refreshProfiles(): Promise<void> {
    if (this.stopping) return;
    const { rows } = await this.opts.pool.query<{ id: string; max_concurrent_connections: number }>(
      `SELECT id, max_concurrent_connections FROM email_server_profiles`,
    );
    const wanted = new Map(rows.map((r) => [r.id, r.max_concurrent_connections]));
    for (const [id, current] of this.profileWorkers) {
      if (wanted.get(id) !== current.maxConnections) await this.stopProfileWorker(id);
    }
    for (const [id, maxConnections] of wanted) {
      if (!this.profileWorkers.has(id) && !this.stopping) await this.startProfileWorker(id, maxConnections);
    }
  }

  private async startProfileWorker(profileId: string, maxConnections: number): Promise<void> {
    const queue = taskQueues(this.opts.activityConfig.taskQueuePrefix).mailServer(profileId);
    const worker = await Worker.create({
      connection: this.opts.connection,
      namespace: this.opts.namespace,
      taskQueue: queue,
      activities: createMailServerActivities(this.opts.store, this.opts.slots, this.opts.activityConfig, this.opts.parsePool, this.opts.items),
      maxConcurrentActivityTaskExecutions: maxConnections,
      dataConverter: this.opts.dataConverter,
    });
    this.profileWorkers.set(profileId, { maxConnections, worker, running: this.watch(worker, queue) });
    this.opts.log.info({ profileId, maxConnections }, 'Mail server worker started');
  }

  private async stopProfileWorker(profileId: string): Promise<void> {
    const entry = this.profileWorkers.get(profileId);
    if (!entry) return;
    this.profileWorkers.delete(profileId);
    entry.worker.shutdown();
    await entry.running;
  }

  private watch(worker: Worker, name: string): Promise<void> {
    return worker.run().catch((err) => {
      this.opts.log.error({ err, taskQueue: name }, 'Worker stopped with an error');
    });
  }

  /** The process's parse pool: its thread count and completed parses are what it reports. */
  get parsePool(): ParsePool {
    return this.opts.parsePool;
  }

  /** Started, not stopping, and the workflow worker still polling. */
  get running(): boolean {
    return !this.stopping && this.workflowWorker?.worker.getState() === 'RUNNING';
  }

  async shutdown(): Promise<void> {
    this.stopping = true;
    clearInterval(this.refreshTimer);
    await this.opts.pendingSendListener.stop();
    await this.opts.itemChangeListener.stop();
    await this.refreshing;
    await Promise.all([...this.profileWorkers.keys()].map((id) => this.stopProfileWorker(id)));
    for (const w of [this.sendWorker, this.asyncWorker, this.workflowWorker]) {
      if (!w) continue;
      w.worker.shutdown();
      await w.running;
    }
    await this.opts.parsePool.close();
    await this.opts.slots.close();
  }
}

export function activityConfigFrom(config: AppConfig): ActivityConfig {
  return {
    taskQueuePrefix: config.temporal.taskQueuePrefix,
    batchSize: config.sync.batchSize,
    batchMaxBytes: config.sync.batchMaxBytes,
    cycleBudget: config.sync.cycleBudget,
    cyclesPerRun: config.sync.cyclesPerRun,
    heartbeatTimeoutMs: config.sync.heartbeatTimeoutMs,
    intervals: {
      defaultMs: config.sync.defaultIntervalMs,
      maxIdleMs: config.sync.maxIdleIntervalMs,
      idleGrowth: config.sync.idleGrowth,
      errorBaseMs: config.sync.errorBaseMs,
      errorMaxMs: config.sync.errorMaxMs,
    },
    send: config.send,
  };
}

const SDK_LOG_LEVELS: Record<string, LogLevel> = { trace: 'TRACE', debug: 'DEBUG', info: 'INFO', warn: 'WARN', error: 'ERROR' };

// The async-work and mail-server workers run activities only, by design; the SDK warns about each at start.
const EXPECTED_SDK_WARNING = 'No workflows registered, not polling for workflow tasks';

const TASK_TOKEN_KEY = /^(base64)?_?task_?token$/i;

/** A copy of `value` without task tokens: they are credentials for completing a task, not for logs. */
function withoutTaskTokens(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return value.replace(/TaskToken\([^)]*\)/g, 'TaskToken([redacted])');
  // Plain objects only: errors, dates and other instances go through as they are.
  const plain = value !== null && typeof value === 'object' && [Object.prototype, null].includes(Object.getPrototypeOf(value));
  if (depth > 3 || !plain) return value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>)
      .filter(([key]) => !TASK_TOKEN_KEY.test(key))
      .map(([key, v]) => [key, withoutTaskTokens(v, depth + 1)]),
  );
}

/**
 * What the product logs for one entry of the Temporal SDK's log, or null to drop it: no task
 * tokens, and multi-line reports (the workflow bundler's webpack summary, when a worker bundles
 * the workflows at start) at debug rather than info.
 */
export function sdkLogEntry(
  level: LogLevel,
  message: string,
  meta: Record<string, unknown> | undefined,
): { level: Lowercase<LogLevel>; message: string; meta: Record<string, unknown> } | null {
  if (message === EXPECTED_SDK_WARNING) return null;
  const multiLine = message.includes('\n');
  return {
    level: level === 'INFO' && multiLine ? 'debug' : (level.toLowerCase() as Lowercase<LogLevel>),
    message: withoutTaskTokens(message) as string,
    meta: { ...(withoutTaskTokens(meta ?? {}) as Record<string, unknown>), source: 'temporal-sdk' },
  };
}

/**
 * The Temporal SDK's own logging, into the product's logger (so it is structured and redacted
 * alike; see sdkLogEntry); once per process, before any worker. The runtime gets no signals of
 * its own: each entry point shuts down in its own order (the API before the workers, the workers
 * before Temporal and PostgreSQL).
 */
export function installSdkLogging(log: Logger): void {
  const logger = new DefaultLogger(SDK_LOG_LEVELS[log.level] ?? 'ERROR', ({ level, message, meta }) => {
    const entry = sdkLogEntry(level, message, meta);
    if (entry) log[entry.level](entry.meta, entry.message);
  });
  Runtime.install({ logger, shutdownSignals: [] });
}

/** The product's worker set for a configuration, as every entry point (worker, npm start, tests) runs it. */
export function workerSetFor(
  config: AppConfig,
  deps: { connection: NativeConnection; pool: Pool; keySpec: string; log: Logger; workflowBundlePath?: string },
): WorkerSet {
  const bundlePath = deps.workflowBundlePath ?? process.env.WORKFLOW_BUNDLE_PATH;
  const secrets = new SecretBox(deps.keySpec);
  const dataConverter = createDataConverter(deps.keySpec);
  const temporal = new Client({
    connection: Connection.lazy({ address: config.temporal.address }),
    namespace: config.temporal.namespace,
    dataConverter,
  });
  return new WorkerSet({
    connection: deps.connection,
    namespace: config.temporal.namespace,
    pool: deps.pool,
    store: new PgSyncStore(deps.pool, secrets),
    outgoingStore: new PgOutgoingStore(deps.pool, secrets),
    activityConfig: activityConfigFrom(config),
    slots: new ConnectionSlots(config.databaseUrl),
    parsePool: new ParsePool(config.parseThreads),
    queues: config.queues,
    workflowBundle: bundlePath ? { codePath: bundlePath } : undefined,
    profileRefreshMs: config.profileRefreshMs,
    log: deps.log,
    dataConverter,
    pendingSendListener: new PendingSendListener(config.databaseUrl, deps.pool, temporal, deps.log),
    itemChangeListener: new ItemChangeListener(config.databaseUrl, deps.pool, (ids) => signalItemsChanged(temporal, ids, deps.log), deps.log),
    items: { crm: new PgCrmItems(deps.pool), store: new PgItemSyncStore(deps.pool) },
  });
}

/** Tells these mailboxes' workflows their CRM items changed; one not running syncs at its next start. */
async function signalItemsChanged(temporal: Client, mailboxIds: string[], log: Logger): Promise<void> {
  for (const id of mailboxIds) {
    await temporal.workflow
      .getHandle(mailboxWorkflowId(id))
      .signal(itemsChangedSignal)
      .catch((err: Error) => {
        if (err.name !== 'WorkflowNotFoundError') log.warn({ mailboxId: id, err: err.message }, 'Could not signal a mailbox of a CRM item change');
      });
  }
}
