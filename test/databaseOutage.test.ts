/**
 * PostgreSQL restarts under a running product: the worker and the admin API, each its own
 * process, stay up through `pg_ctl stop -m fast` and `-m immediate` in the middle of a sync; the
 * sync resumes and stores every message exactly once; the mailbox stays enabled with no failure
 * counted. Processes started while the database is down wait for it, saying so. The PostgreSQL
 * is this file's own (see support/ownPostgres.ts), never the machine's shared one.
 */
import { randomUUID } from 'node:crypto';
import { Client, type Pool } from 'pg';
import { ApiTokens } from '../src/admin/apiTokens';
import { migrateUp } from '../src/db/migrate';
import { createPool } from '../src/db/pool';
import { SecretBox } from '../src/secrets/secretBox';
import { DovecotServer } from './support/dovecot';
import { freePort } from './support/env';
import { makeMessages } from './support/messages';
import { OwnPostgres } from './support/ownPostgres';
import { CountingTcpProxy } from './support/tcpProxy';
import { eventually, FAST_SYNC_ENV } from './support/testBed';
import { spawnLogged, stopProcess, type LoggedProcess } from './support/workerProcess';

const OUTAGE_MS = 10_000;
const USER = 'db-outage@example.test';

let pg: OwnPostgres;
let db: Pool;
let dovecot: DovecotServer;
let slowImap: CountingTcpProxy;
let env: Record<string, string>;
let apiUrl: string;
let token: string;
let worker: LoggedProcess | undefined;
let api: LoggedProcess | undefined;
let mailboxId: string;
let delivered = 0;

beforeAll(async () => {
  pg = await OwnPostgres.create();
  const admin = new Client({ connectionString: pg.url('postgres') });
  await admin.connect();
  await admin.query('CREATE DATABASE crm_sync');
  await admin.end();
  const databaseUrl = pg.url('crm_sync');
  await migrateUp(databaseUrl);
  // The test's own reads: a pool that outlives the restarts, quiet about the sessions it loses.
  db = createPool(databaseUrl, 2, { warn: () => undefined });
  token = (await new ApiTokens(db).create({ role: 'admin', label: 'database outage test' })).token;

  dovecot = await DovecotServer.start({ name: 'db-outage' });
  await dovecot.addUser(USER, 'secret');
  // A slow server, so that the sync is still running when the database goes.
  slowImap = await CountingTcpProxy.start(dovecot.host, dovecot.imapPort, { delayMs: 40 });
  const apiPort = await freePort();
  apiUrl = `http://127.0.0.1:${apiPort}`;
  env = {
    ...FAST_SYNC_ENV,
    LOG_LEVEL: 'info',
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: process.env.TEMPORAL_ADDRESS!,
    TASK_QUEUE_PREFIX: `test-${randomUUID().slice(0, 8)}`,
    SECRET_KEYS: SecretBox.generateKeySpec('test'),
    SYNC_BATCH_SIZE: '10',
    API_HOST: '127.0.0.1',
    API_PORT: String(apiPort),
  };
}, 120_000);

afterAll(async () => {
  await Promise.all([worker && stopProcess(worker.child), api && stopProcess(api.child)]);
  await db?.end();
  await pg?.destroy();
  await slowImap?.close();
  await dovecot?.destroy();
});

/** On failure, what the two processes said: the reason is usually there. */
async function explained(test: () => Promise<void>): Promise<void> {
  try {
    await test();
  } catch (err) {
    for (const [name, p] of [['worker', worker], ['api', api]] as const) {
      if (p) console.error(`--- ${name} (${p.alive() ? 'running' : `exited ${p.child.exitCode ?? p.child.signalCode}`}) ---\n${p.output().slice(-6000)}`);
    }
    throw err;
  }
}

async function callApi<T = any>(method: string, url: string, body?: unknown, status = 200): Promise<T> {
  const res = await fetch(`${apiUrl}${url}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== status) throw new Error(`${method} ${url}: expected ${status}, got ${res.status}: ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

async function stored(): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM item_links WHERE mailbox_id = $1`, [mailboxId]);
  return rows[0].n;
}

/** Stops the database (`pg_ctl stop -m <mode>`), keeps it down, and starts it again. */
async function outage(mode: 'fast' | 'immediate'): Promise<void> {
  await pg.stop(mode);
  // Meanwhile the API says what is wrong and when to come back: a 503, never a 500.
  const during = await fetch(`${apiUrl}/mailboxes/${mailboxId}`, { headers: { authorization: `Bearer ${token}` } });
  expect({ status: during.status, retryAfter: during.headers.get('retry-after') }).toEqual({ status: 503, retryAfter: '5' });
  expect(await during.json()).toMatchObject({ error: 'service_unavailable', message: expect.stringMatching(/^The database is unavailable/) });
  await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
  expect({ worker: worker!.alive(), api: api!.alive() }).toEqual({ worker: true, api: true });
  await pg.start();
}

/** Delivers `count` messages, lets the sync start on them, and restarts the database in the middle of it. */
async function restartDuringSync(count: number, mode: 'fast' | 'immediate'): Promise<void> {
  const before = delivered;
  await dovecot.deliver(USER, makeMessages(count, { to: USER }));
  delivered += count;
  await callApi('POST', `/mailboxes/${mailboxId}/sync-now`, undefined, 202);
  const atStop = await eventually('the sync under way', async () => {
    const n = await stored();
    return n >= before + 20 ? n : undefined;
  }, 60_000, 50);
  expect(atStop).toBeLessThan(delivered);
  await outage(mode);

  await eventually('every message stored', async () => (await stored()) === delivered, 120_000);
  const { rows } = await db.query<{ links: number; records: number; activities: number; mailbox_failures: number }>(
    `SELECT (SELECT count(*) FROM item_links WHERE mailbox_id = $1)::int AS links,
            (SELECT count(DISTINCT crm_record_id) FROM item_links WHERE mailbox_id = $1)::int AS records,
            (SELECT count(*) FROM email_activities)::int AS activities,
            (SELECT count(*) FROM sync_errors WHERE mailbox_id = $1 AND scope = 'mailbox')::int AS mailbox_failures`,
    [mailboxId],
  );
  expect(rows[0]).toEqual({ links: delivered, records: delivered, activities: delivered, mailbox_failures: 0 });
  // Through the API process, which lived through the restart too.
  const mailbox = await callApi('GET', `/mailboxes/${mailboxId}`);
  expect(mailbox).toMatchObject({ incoming: { enabled: true }, statistics: { consecutiveErrors: 0, lastError: null } });
  expect({ worker: worker!.alive(), api: api!.alive() }).toEqual({ worker: true, api: true });
}

it('starts a worker and the admin API while the database is down: they wait, saying so, and start once it is back', () =>
  explained(async () => {
    await pg.stop('fast');
    worker = spawnLogged('worker', env);
    api = spawnLogged('api', env);
    const waiting = new RegExp(`Waiting for the database at 127\\.0\\.0\\.1:${pg.port} \\(attempt \\d+: ECONNREFUSED`, 'g');
    await eventually('both processes waiting, and saying so at each attempt', async () =>
      [worker!, api!].every((p) => (p.output().match(waiting)?.length ?? 0) >= 3),
    30_000);
    expect({ worker: worker.alive(), api: api.alive() }).toEqual({ worker: true, api: true });

    await pg.start();
    await eventually('the worker running', async () => worker!.output().includes('Worker running'), 60_000);
    await eventually('the API answering', async () => (await fetch(`${apiUrl}/healthz`)).ok, 60_000);

    const profile = await callApi(
      'POST',
      '/profiles',
      { name: 'Slow Dovecot', serverType: 'imap', incomingHost: slowImap.host, incomingPort: slowImap.port, incomingSecurity: 'none', minPollingIntervalSeconds: 1 },
      201,
    );
    const mailbox = await callApi('POST', '/mailboxes', { emailAddress: USER, profileId: profile.id, password: 'secret', emailApproved: true }, 201);
    mailboxId = mailbox.id;
    await dovecot.deliver(USER, makeMessages(5, { to: USER }));
    delivered += 5;
    await eventually('the first messages stored', async () => (await stored()) === delivered, 60_000);
  }), 180_000);

it('keeps both processes up through a fast shutdown in the middle of a sync, and stores every message once', () =>
  explained(() => restartDuringSync(500, 'fast')), 240_000);

it('and through an immediate shutdown', () => explained(() => restartDuringSync(300, 'immediate')), 240_000);
