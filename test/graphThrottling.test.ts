import type { ChildProcess } from 'node:child_process';
import { mailboxWorkflowId } from '../src/temporal/names';
import { statusQuery } from '../workflows';
import { crmLinks, customerMessage, exchangeMailbox, exchangeProfile, linkLines, mailboxLines } from './support/exchange';
import { startGraphFake, type GraphFake } from './support/graphFake';
import { eventually, TestBed } from './support/testBed';
import { spawnWorker, stopProcess } from './support/workerProcess';

let bed: TestBed;
let fake: GraphFake;
const workers: ChildProcess[] = [];

beforeAll(async () => {
  bed = await TestBed.create({ SYNC_BATCH_SIZE: '50' });
  fake = await startGraphFake({ users: [{ mail: 'storm@contoso.test' }] });
});

afterAll(async () => {
  await Promise.all(workers.map((w) => stopProcess(w)));
  await bed?.close();
  await fake?.close();
});

it('rides out a throttling storm with two worker processes: the sync completes, no cycle fails, never more than 4 requests at once for the mailbox', async () => {
  const user = 'storm@contoso.test';
  const mailbox = fake.mailbox(user);
  mailbox.addMessages('inbox', 700, (i) => customerMessage(i, user));
  mailbox.addMessages('archive', 300, (i) => customerMessage(1000 + i, user));
  const folders = { INBOX: 'inbox', Archive: 'archive' };
  // A generous profile cap: only the mailbox's own four slots hold its requests back.
  const { id: profileId } = await bed.admin.createProfile(exchangeProfile('Contoso', fake, { maxConcurrentConnections: 20 }));
  workers.push(spawnWorker(bed.env), spawnWorker(bed.env));

  // Requests that take a while, so that those of several activities overlap.
  fake.script.slow(150);
  const { mailboxId } = await exchangeMailbox(bed, profileId, user, Object.keys(folders));
  const handle = bed.temporal.workflow.getHandle(mailboxWorkflowId(mailboxId));
  // Once the sync is under way, half of all Graph requests answer 429 with Retry-After 1-5 s for 30 s.
  await eventually('the sync under way', async () => (await crmLinks(bed, mailboxId)).length > 0, 60_000, 50);
  fake.script.throttle({ fraction: 0.5, retryAfterSeconds: [1, 5], forMs: 30_000 });

  // Meanwhile Test & Enable runs, five at once: each talks to the same mailbox. Throttled, they
  // may outlast the update's deadline; what they found is not this test's concern.
  const tests = Promise.all(Array.from({ length: 5 }, () => bed.admin.testAndEnable(mailboxId).catch(() => undefined)));

  const outcomes = new Set<string>();
  let worstErrors = 0;
  await eventually(
    'the whole mailbox stored',
    async () => {
      const [row] = await bed.query<{ consecutive_errors: number }>(`SELECT consecutive_errors FROM mailboxes WHERE id = $1`, [mailboxId]);
      worstErrors = Math.max(worstErrors, row.consecutive_errors);
      const status = await handle.query(statusQuery).catch(() => null);
      if (status?.lastOutcome) outcomes.add(status.lastOutcome.status);
      return (await crmLinks(bed, mailboxId)).length === 1000;
    },
    150_000,
    100,
  );
  await tests;
  expect(linkLines(await crmLinks(bed, mailboxId))).toEqual(mailboxLines(fake, user, folders));

  const throttled = fake.requestLog.filter((r) => r.userId === mailbox.user.id && r.status === 429);
  expect(throttled.length).toBeGreaterThan(10);
  expect(fake.maxConcurrentSeen(mailbox.user.id)).toBeLessThanOrEqual(4);
  // More than one request at once did happen: the cap, not chance, kept it at four.
  expect(fake.maxConcurrentSeen(mailbox.user.id)).toBeGreaterThan(1);

  expect(worstErrors).toBe(0);
  expect(outcomes.has('failed')).toBe(false);
  const failures = await bed.query(`SELECT message FROM sync_errors WHERE mailbox_id = $1 AND scope = 'mailbox'`, [mailboxId]);
  expect(failures).toEqual([]);
  // Sending, which Test & Enable turned on, is not this test's (without Graph sending on this branch, it alerts).
  const alerts = await bed.query(
    `SELECT message FROM alerts WHERE (mailbox_id = $1 OR profile_id = $2) AND coalesce(condition_key, '') <> 'outgoing_failure'`,
    [mailboxId, profileId],
  );
  expect(alerts).toEqual([]);
  const [mailboxRow] = await bed.query(`SELECT incoming_enabled, consecutive_errors FROM mailboxes WHERE id = $1`, [mailboxId]);
  expect(mailboxRow).toEqual({ incoming_enabled: true, consecutive_errors: 0 });
  // The throttling reached the server-load record that stretches the profile's sync intervals.
  const [health] = await bed.query<{ throttled: boolean }>(`SELECT throttled_until IS NOT NULL AS throttled FROM server_health WHERE profile_id = $1`, [profileId]);
  expect(health).toEqual({ throttled: true });
});
