import { availableParallelism } from 'node:os';
import { z } from 'zod';

/** Durations in configuration are whole seconds; the code works in milliseconds. */
const seconds = (fallback: number) =>
  z.coerce.number().positive().default(fallback).transform((s) => Math.round(s * 1000));

const EnvSchema = z.object({
  DATABASE_URL: z.string().default('postgres://postgres@127.0.0.1:5432/crm_sync'),
  TEMPORAL_ADDRESS: z.string().default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  // Prefix for every task queue, so that separate deployments (or test runs) sharing one
  // Temporal namespace never pick up each other's tasks.
  TASK_QUEUE_PREFIX: z.string().default('crm-sync'),
  // Comma-separated `keyId:base64key` pairs; the first encrypts, all decrypt (key rotation).
  SECRET_KEYS: z.string().optional(),
  SECRET_KEY_FILE: z.string().default('.data/secret-keys'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  SYNC_DEFAULT_INTERVAL_SECONDS: seconds(15 * 60),
  SYNC_MAX_IDLE_INTERVAL_SECONDS: seconds(4 * 60 * 60),
  SYNC_IDLE_GROWTH: z.coerce.number().min(1).default(1.5),
  SYNC_ERROR_BASE_SECONDS: seconds(60),
  SYNC_ERROR_MAX_SECONDS: seconds(60 * 60),
  // A batch is one commit; larger ones cost the database less per message (250: ~15% faster
  // ingest than 100, measured by bench:ingest). Its bytes bound the memory a sync holds.
  SYNC_BATCH_SIZE: z.coerce.number().int().min(1).max(1000).default(250),
  SYNC_BATCH_MAX_MB: z.coerce.number().min(1).max(1024).default(16),
  SYNC_CYCLES_PER_RUN: z.coerce.number().int().min(1).default(100),
  // A cycle's budget: the rest of a large mailbox continues next cycle, from its cursor.
  SYNC_CYCLE_MAX_ITEMS: z.coerce.number().int().min(1).default(5000),
  SYNC_CYCLE_MAX_SECONDS: seconds(600),
  // Concurrency of the queues apart from the mail servers' own.
  WORKFLOW_TASK_CONCURRENCY: z.coerce.number().int().min(2).default(40),
  WORKFLOW_CACHE_SIZE: z.coerce.number().int().min(0).default(1000),
  ASYNC_WORK_CONCURRENCY: z.coerce.number().int().min(1).default(10),
  // Mailboxes a worker process sends for at once (each also needs one of its server's connection slots).
  SEND_CONCURRENCY: z.coerce.number().int().min(1).default(20),
  SEND_BATCH_SIZE: z.coerce.number().int().min(1).max(1000).default(50),
  // A deferred (4xx) email waits this long before its second attempt, doubling up to the maximum.
  SEND_RETRY_FIRST_SECONDS: seconds(60),
  SEND_RETRY_MAX_SECONDS: seconds(60 * 60),
  // How often a mailbox looks for queued emails without being told (a missed notification).
  SEND_SWEEP_SECONDS: seconds(5 * 60),
  ACTIVITY_HEARTBEAT_TIMEOUT_SECONDS: seconds(60),
  PROFILE_REFRESH_SECONDS: seconds(30),
  // Threads a worker process parses messages on; by default the cores its own thread leaves free.
  PARSE_THREADS: z.coerce.number().int().min(1).max(64).optional(),
});

export type AppConfig = ReturnType<typeof loadConfig>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env) {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`Invalid configuration: ${problems}`);
  }
  const e = parsed.data;
  return {
    databaseUrl: e.DATABASE_URL,
    temporal: { address: e.TEMPORAL_ADDRESS, namespace: e.TEMPORAL_NAMESPACE, taskQueuePrefix: e.TASK_QUEUE_PREFIX },
    secrets: { keys: e.SECRET_KEYS, keyFile: e.SECRET_KEY_FILE },
    logLevel: e.LOG_LEVEL,
    sync: {
      defaultIntervalMs: e.SYNC_DEFAULT_INTERVAL_SECONDS,
      maxIdleIntervalMs: e.SYNC_MAX_IDLE_INTERVAL_SECONDS,
      idleGrowth: e.SYNC_IDLE_GROWTH,
      errorBaseMs: e.SYNC_ERROR_BASE_SECONDS,
      errorMaxMs: e.SYNC_ERROR_MAX_SECONDS,
      batchSize: e.SYNC_BATCH_SIZE,
      batchMaxBytes: Math.round(e.SYNC_BATCH_MAX_MB * 1024 * 1024),
      cyclesPerRun: e.SYNC_CYCLES_PER_RUN,
      cycleBudget: { maxItems: e.SYNC_CYCLE_MAX_ITEMS, maxMs: e.SYNC_CYCLE_MAX_SECONDS },
      heartbeatTimeoutMs: e.ACTIVITY_HEARTBEAT_TIMEOUT_SECONDS,
    },
    send: {
      batchSize: e.SEND_BATCH_SIZE,
      retry: { firstRetryMs: e.SEND_RETRY_FIRST_SECONDS, maxRetryMs: e.SEND_RETRY_MAX_SECONDS },
      sweepMs: e.SEND_SWEEP_SECONDS,
    },
    profileRefreshMs: e.PROFILE_REFRESH_SECONDS,
    // The cores left over by the worker's own thread, at least one.
    parseThreads: e.PARSE_THREADS ?? Math.max(1, availableParallelism() - 1),
    queues: {
      workflowTaskConcurrency: e.WORKFLOW_TASK_CONCURRENCY,
      workflowCacheSize: e.WORKFLOW_CACHE_SIZE,
      asyncWorkConcurrency: e.ASYNC_WORK_CONCURRENCY,
      sendConcurrency: e.SEND_CONCURRENCY,
    },
  };
}
