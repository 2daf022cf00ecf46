import { spawnWorker, killHard } from './support/workerProcess';
import { DovecotServer } from './support/dovecot';
import { makeMessages } from './support/messages';
import { dovecotProfile, eventually, TestBed } from './support/testBed';

let bed: TestBed;
let dovecot: DovecotServer;

beforeAll(async () => {
  bed = await TestBed.create({ SYNC_BATCH_SIZE: '50', ACTIVITY_HEARTBEAT_TIMEOUT_SECONDS: '3' });
  dovecot = await DovecotServer.start();
});

afterAll(async () => {
  await bed?.close();
  await dovecot?.destroy();
});

it('stores every message exactly once when the worker is killed in the middle of an initial sync', async () => {
  const total = 3000;
  const user = 'crash@example.test';
  await dovecot.addUser(user, 'secret');
  await dovecot.deliver(user, makeMessages(total, { to: user }));
  const { id: profileId } = await bed.admin.createProfile(dovecotProfile('Crash Dovecot', dovecot));
  const { id: mailboxId } = await bed.admin.createMailbox({ emailApproved: true, emailAddress: user, profileId, password: 'secret' });
  const stored = async () =>
    (await bed.query<{ n: number }>(`SELECT count(*)::int AS n FROM item_links WHERE mailbox_id = $1`, [mailboxId]))[0].n;

  const first = spawnWorker(bed.env);
  const atKill = await eventually('part of the mailbox stored', async () => {
    const n = await stored();
    return n >= 200 ? n : undefined;
  }, 90_000);
  await killHard(first);
  const afterKill = await stored();
  expect(afterKill).toBeLessThan(total);

  const second = spawnWorker(bed.env);
  try {
    await eventually('the whole mailbox stored', async () => (await stored()) === total, 120_000);
  } finally {
    second.kill('SIGTERM');
  }
  const [counts] = await bed.query<{ links: number; distinct_records: number; activities: number; cursor_uid: number }>(
    `SELECT (SELECT count(*) FROM item_links WHERE mailbox_id = $1)::int AS links,
            (SELECT count(DISTINCT crm_record_id) FROM item_links WHERE mailbox_id = $1)::int AS distinct_records,
            (SELECT count(*) FROM email_activities)::int AS activities,
            (SELECT (cursor->>'lastUid')::int FROM folder_cursors WHERE mailbox_id = $1) AS cursor_uid`,
    [mailboxId],
  );
  expect(counts).toEqual({ links: total, distinct_records: total, activities: total, cursor_uid: total });
  expect(atKill).toBeGreaterThan(0);
});
