import { mailboxWorkflowId } from '../src/temporal/names';
import { statusQuery } from '../workflows';
import { makeMessages } from './support/messages';
import { dovecotProfile, eventually, useBedWithDovecot } from './support/testBed';

// Cycles of at most 100 items; a normal wait of an hour, so only a cut-short cycle comes back soon.
const t = useBedWithDovecot({ SYNC_CYCLE_MAX_ITEMS: '100', SYNC_BATCH_SIZE: '50', SYNC_DEFAULT_INTERVAL_SECONDS: '3600' });

it('stops a cycle at its item budget and goes on from the cursor in the next cycles, losing nothing', async () => {
  const user = 'budget@example.test';
  await t.dovecot.addUser(user, 'secret');
  await t.dovecot.deliver(user, makeMessages(330, { to: user }));
  const profile = await t.bed.admin.createProfile(dovecotProfile('Budget Dovecot', t.dovecot));
  const mailbox = await t.bed.admin.createMailbox({ emailApproved: true, emailAddress: user, profileId: profile.id, password: 'secret' });
  const handle = t.bed.temporal.workflow.getHandle(mailboxWorkflowId(mailbox.id));

  const partial = await eventually('a cycle cut short', async () => {
    const s = await handle.query(statusQuery);
    return s.lastOutcome?.status === 'synced' && s.lastOutcome.moreAvailable ? s.lastOutcome : undefined;
  }, 30_000, 20);
  expect(partial.itemsFound).toBeGreaterThanOrEqual(100);
  expect(partial.itemsFound).toBeLessThan(330);

  const done = await eventually('the whole mailbox, over several cycles', async () => {
    const s = await handle.query(statusQuery);
    const [{ n }] = await t.bed.query<{ n: number }>(`SELECT count(*)::int AS n FROM item_links WHERE mailbox_id = $1`, [mailbox.id]);
    // nextSyncAt is set once the workflow has chosen its wait, just after the cycle's outcome.
    return n === 330 && s.lastOutcome?.status === 'synced' && !s.lastOutcome.moreAvailable && s.nextSyncAt ? s : undefined;
  }, 60_000);
  expect(done.cyclesThisRun).toBeGreaterThanOrEqual(4);
  const [{ activities }] = await t.bed.query<{ activities: number }>(`SELECT count(*)::int AS activities FROM email_activities`);
  expect(activities).toBe(330);
  // Caught up, the wait is the activity-based one again (the hour shortened by the 30 new items), not the immediate go-on.
  expect(Date.parse(done.nextSyncAt!) - Date.now()).toBeGreaterThan(60_000);
});
