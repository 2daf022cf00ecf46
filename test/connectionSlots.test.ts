/**
 * A mail server's connection slots (PostgreSQL advisory locks) are taken and released by one
 * construct: whatever a sync or a Test & Enable throws, its slot is free afterwards, and a slot
 * session that dies takes nothing down with it.
 */
import { randomUUID } from 'node:crypto';
import { isDatabaseUnavailable } from '../src/policy/databaseAvailability';
import { ConnectionSlots, SLOT_SESSION_NAME, slotLockKey } from '../src/worker/connectionSlots';
import { getFreePort } from './support/dovecot';
import { eventually, useBedWithDovecot } from './support/testBed';

const t = useBedWithDovecot();

/** Advisory locks held in this test file's database, by any session. */
async function advisoryLocks(): Promise<number> {
  const [{ n }] = await t.bed.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
  );
  return n;
}

async function mailboxFailures(mailboxId: string): Promise<number> {
  const [{ n }] = await t.bed.query<{ n: number }>(`SELECT count(*)::int AS n FROM sync_errors WHERE mailbox_id = $1 AND scope = 'mailbox'`, [mailboxId]);
  return n;
}

// Every ConnectionSlots made here, so their kept sessions end with the file.
const made: ConnectionSlots[] = [];
afterAll(() => Promise.all(made.map((s) => s.close())));
const slots = () => {
  const s = new ConnectionSlots(t.bed.config.databaseUrl);
  made.push(s);
  return s;
};

/** Takes every one of the profile's slots at once (nested), within 10 s; the slot numbers held. */
async function takeAllSlots(slots: ConnectionSlots, profileId: string, cap: number): Promise<number[]> {
  const signal = AbortSignal.timeout(10_000);
  const take = (held: number[]): Promise<number[]> =>
    held.length === cap ? Promise.resolve(held) : slots.withSlot(profileId, cap, { signal }, (lease) => take([...held, lease.slot]));
  return take([]);
}

const CAP = 2;

it('leaves no slot behind after 20 syncs that fail before connecting (an Exchange Online profile an older version accepted)', async () => {
  const before = await advisoryLocks();
  // Inserted as an older version did, without the Entra ID app this version asks for: its syncs fail before connecting.
  const [{ id: profileId }] = await t.bed.query<{ id: string }>(
    `INSERT INTO email_server_profiles (name, server_type, incoming_host, incoming_port, incoming_security, max_concurrent_connections, min_polling_interval_seconds)
     VALUES ('Legacy Exchange', 'exchange_online', $1, $2, 'none', $3, 1) RETURNING id`,
    [t.dovecot.host, t.dovecot.pop3Port, CAP],
  );
  const user = 'legacy-exchange@example.test';
  await t.dovecot.addUser(user, 'secret');
  // A tenant user: no password.
  const { id: mailboxId } = await t.bed.admin.createMailbox({ emailApproved: true, emailAddress: user, profileId });

  // Each enable runs one sync, which fails for good and disables the mailbox again.
  for (let round = 1; round <= 20; round++) {
    if (round > 1) await t.bed.admin.enableMailbox(mailboxId);
    await eventually(`failed sync ${round}`, async () => (await mailboxFailures(mailboxId)) === round && !(await t.bed.admin.getMailbox(mailboxId)).incoming.enabled, 30_000);
  }
  const mailbox = await t.bed.admin.getMailbox(mailboxId);
  // The Exchange source says what the profile lacks.
  expect(mailbox.statistics.lastError).toMatch(/Exchange Online profile has no app registration/);
  expect(await advisoryLocks()).toBe(before);
  expect((await takeAllSlots(slots(), profileId, CAP)).sort()).toEqual([0, 1]);
});

it('leaves no slot behind after syncs and Test & Enable checks against a server that refuses connections', async () => {
  const before = await advisoryLocks();
  const port = await getFreePort();
  const { id: profileId } = await t.bed.admin.createProfile({
    name: 'Refuses connections',
    serverType: 'imap',
    incomingHost: '127.0.0.1',
    incomingPort: port,
    incomingSecurity: 'none',
    maxConcurrentConnections: CAP,
    minPollingIntervalSeconds: 1,
  });
  const { id: mailboxId } = await t.bed.admin.createMailbox({ emailApproved: true, emailAddress: 'refused@example.test', profileId, password: 'x' });
  await eventually('five failed syncs', async () => (await mailboxFailures(mailboxId)) >= 5, 60_000);
  for (let i = 0; i < 3; i++) {
    const result = await t.bed.admin.testAndEnable(mailboxId);
    expect(result.incoming).toMatchObject({ status: 'failure', message: expect.stringContaining(`Could not reach the mail server 127.0.0.1:${port} (ECONNREFUSED: `) });
  }
  await t.bed.admin.disableMailbox(mailboxId);

  expect(await advisoryLocks()).toBe(before);
  expect((await takeAllSlots(slots(), profileId, CAP)).sort()).toEqual([0, 1]);
});

it('keeps a released session for the next lease, and opens a new one when the kept one died', async () => {
  const s = slots();
  const profileId = randomUUID();
  // The database session holding the profile's slot, seen from the database.
  const holder = () =>
    s.withSlot(profileId, 1, {}, async () => {
      const rows = await t.bed.query<{ pid: number }>(
        `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND classid::bigint = ($1::bigint & 4294967295)`,
        [slotLockKey(profileId)],
      );
      expect(rows).toHaveLength(1);
      return rows[0].pid;
    });
  const first = await holder();
  expect(await holder()).toBe(first);
  // Gone while kept (a database restart): the next lease is served all the same, by a new session.
  await t.bed.query('SELECT pg_terminate_backend($1)', [first]);
  const third = await holder();
  expect(third).not.toBe(first);
  expect(await holder()).toBe(third);
});

describe('a slot whose database session dies', () => {
  const terminateSlotSessions = (which: 'holding' | 'waiting') =>
    t.bed.query<{ ok: boolean }>(
      `SELECT pg_terminate_backend(a.pid) AS ok FROM pg_stat_activity a
        WHERE a.application_name = $1 AND a.datname = current_database()
          AND ${
            which === 'holding'
              ? `EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory' AND l.granted)`
              : // A session kept idle between leases last ran the release, a waiting one the slot query or LISTEN.
                `(a.query LIKE '%try_connection_slot%' OR a.query LIKE 'LISTEN%') AND NOT EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory' AND l.granted)`
          }`,
      [SLOT_SESSION_NAME],
    );

  it('lets the holder finish and frees the slot, without an unhandled error', async () => {
    const profileId = randomUUID();
    const outcome = await slots().withSlot(profileId, 1, {}, async () => {
      expect(await terminateSlotSessions('holding')).toEqual([{ ok: true }]);
      await eventually('the session gone', async () => (await advisoryLocks()) === 0, 10_000);
      return 'finished';
    });
    expect(outcome).toBe('finished');
    expect(await takeAllSlots(slots(), profileId, 1)).toEqual([0]);
  });

  it('ends a wait for a slot with an error read as a database outage', async () => {
    const profileId = randomUUID();
    const s = slots();
    let waiting: Promise<unknown> | undefined;
    await s.withSlot(profileId, 1, {}, async () => {
      waiting = s.withSlot(profileId, 1, {}, async () => 'should not get the slot').catch((err: unknown) => err);
      await eventually('a waiter', async () => (await terminateSlotSessions('waiting')).length === 1, 10_000);
      const err = await waiting;
      expect(err).toBeInstanceOf(Error);
      expect(isDatabaseUnavailable(err)).toBe(true);
    });
    expect(await takeAllSlots(s, profileId, 1)).toEqual([0]);
  });
});
