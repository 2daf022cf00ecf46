import { randomUUID } from 'node:crypto';
import { Client as TemporalClient, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { Client as PgClient, type Pool } from 'pg';
import { MailboxService } from '../../src/admin/mailboxService';
import type { NewProfileInput } from '../../src/admin/schemas';
import { loadConfig, type AppConfig } from '../../src/config';
import { createPool } from '../../src/db/pool';
import { createLogger } from '../../src/logger';
import { SecretBox } from '../../src/secrets/secretBox';
import { createDataConverter } from '../../src/temporal/dataConverter';
import { installSdkLogging, workerSetFor, type WorkerSet } from '../../src/worker/workers';
import { DovecotServer } from './dovecot';
import { adminDatabaseUrl, databaseUrlFor } from './env';

let sdkLoggingInstalled = false;

/** Settings that make sync cycles take seconds instead of minutes. */
export const FAST_SYNC_ENV = {
  SYNC_DEFAULT_INTERVAL_SECONDS: '3',
  SYNC_MAX_IDLE_INTERVAL_SECONDS: '10',
  SYNC_ERROR_BASE_SECONDS: '0.5',
  SYNC_ERROR_MAX_SECONDS: '2',
  ACTIVITY_HEARTBEAT_TIMEOUT_SECONDS: '5',
  PROFILE_REFRESH_SECONDS: '0.5',
  LOG_LEVEL: 'warn',
};

/**
 * Per test file: its own database (a copy of the migrated template), its own task-queue
 * prefix on the shared Temporal dev server, and helpers to run workers and create mailboxes.
 */
export class TestBed {
  readonly pool: Pool;
  readonly secrets: SecretBox;
  readonly admin: MailboxService;
  private readonly workerSets: WorkerSet[] = [];

  private constructor(
    readonly env: Record<string, string>,
    readonly config: AppConfig,
    readonly temporal: TemporalClient,
    private readonly clientConnection: Connection,
    private readonly workerConnection: NativeConnection,
  ) {
    this.pool = createPool(config.databaseUrl);
    this.secrets = SecretBox.fromConfig(config.secrets);
    this.admin = new MailboxService(this.pool, this.secrets, temporal, config.temporal.taskQueuePrefix);
  }

  static async create(overrides: Record<string, string> = {}): Promise<TestBed> {
    if (!sdkLoggingInstalled) {
      installSdkLogging(createLogger('warn'));
      sdkLoggingInstalled = true;
    }
    const database = `${process.env.TEST_RUN_ID}_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    const admin = new PgClient({ connectionString: adminDatabaseUrl() });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database} TEMPLATE ${process.env.TEST_TEMPLATE_DB}`);
    await admin.end();
    const env: Record<string, string> = {
      ...FAST_SYNC_ENV,
      DATABASE_URL: databaseUrlFor(database),
      TEMPORAL_ADDRESS: process.env.TEMPORAL_ADDRESS!,
      TASK_QUEUE_PREFIX: `test-${randomUUID().slice(0, 8)}`,
      SECRET_KEYS: SecretBox.generateKeySpec('test'),
      ...overrides,
    };
    const config = loadConfig(env);
    const clientConnection = await Connection.connect({ address: config.temporal.address });
    const workerConnection = await NativeConnection.connect({ address: config.temporal.address });
    return new TestBed(env, config, new TemporalClient({ connection: clientConnection, dataConverter: createDataConverter(env.SECRET_KEYS) }), clientConnection, workerConnection);
  }

  /** Runs the product's workers in this process, as `npm run worker` would. */
  async startWorkers(): Promise<WorkerSet> {
    const set = workerSetFor(this.config, {
      connection: this.workerConnection,
      pool: this.pool,
      keySpec: this.env.SECRET_KEYS,
      log: createLogger('warn'),
    });
    await set.start();
    this.workerSets.push(set);
    return set;
  }

  async query<T extends Record<string, unknown> = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    return (await this.pool.query(sql, params)).rows as T[];
  }

  async close(): Promise<void> {
    await Promise.all(this.workerSets.map((w) => w.shutdown()));
    await this.pool.end();
    await this.clientConnection.close();
    await this.workerConnection.close();
  }
}

export interface BedWithDovecot {
  bed: TestBed;
  dovecot: DovecotServer;
}

/**
 * The usual test file: its bed, its own Dovecot and the product's workers, made before the
 * file's tests and torn down after them. The fields are set once `beforeAll` has run.
 */
export function useBedWithDovecot(env: Record<string, string> = {}): BedWithDovecot {
  const ctx = {} as BedWithDovecot;
  beforeAll(async () => {
    ctx.bed = await TestBed.create(env);
    ctx.dovecot = await DovecotServer.start();
    await ctx.bed.startWorkers();
  });
  afterAll(async () => {
    await ctx.bed?.close();
    await ctx.dovecot?.destroy();
  });
  return ctx;
}

/** A server profile for a test Dovecot (plain IMAP on loopback, polled every second) plus `extra`. */
export function dovecotProfile(name: string, dovecot: { host: string; imapPort: number }, extra: Partial<NewProfileInput> = {}): NewProfileInput {
  return {
    name,
    serverType: 'imap',
    incomingHost: dovecot.host,
    incomingPort: dovecot.imapPort,
    incomingSecurity: 'none',
    minPollingIntervalSeconds: 1,
    ...extra,
  };
}

/** Polls until `check` returns a truthy value, or fails with `what` after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | null | false>,
  timeoutMs = 60_000,
  pollMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
