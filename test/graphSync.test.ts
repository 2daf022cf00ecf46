import { mailboxWorkflowId } from '../src/temporal/names';
import { statusQuery } from '../workflows';
import { crmLinks, customerMessage, exchangeMailbox, exchangeProfile, linkLines, mailboxLines } from './support/exchange';
import { startGraphFake, type GraphFake } from './support/graphFake';
import { DovecotServer } from './support/dovecot';
import { makeMessages } from './support/messages';
import { dovecotProfile, eventually, TestBed } from './support/testBed';

let bed: TestBed;
let fake: GraphFake;
let profileId: string;

beforeAll(async () => {
  bed = await TestBed.create();
  fake = await startGraphFake({ users: [{ mail: 'alice@contoso.test' }, { mail: 'bruno@contoso.test' }, { mail: 'chloe@contoso.test' }] });
  profileId = (await bed.admin.createProfile(exchangeProfile('Contoso', fake))).id;
  await bed.startWorkers();
});

afterAll(async () => {
  await bed?.close();
  await fake?.close();
});

/** Waits for a cycle that started after now to end. */
async function nextCycle(mailboxId: string) {
  const handle = bed.temporal.workflow.getHandle(mailboxWorkflowId(mailboxId));
  const before = (await handle.query(statusQuery)).cyclesThisRun;
  await bed.admin.syncNow(mailboxId);
  return eventually('another cycle', async () => {
    const s = await handle.query(statusQuery);
    return s.cyclesThisRun > before && s.state === 'idle' ? s : undefined;
  });
}

async function activityCount(): Promise<number> {
  const [{ n }] = await bed.query<{ n: number }>(`SELECT count(*)::int AS n FROM email_activities`);
  return n;
}

describe('Exchange Online incoming sync', () => {
  it('stores 2,000 messages over three folders, then follows new, moved and deleted messages: the CRM equals the mailbox', async () => {
    const user = 'alice@contoso.test';
    const mailbox = fake.mailbox(user);
    mailbox.addFolder('Projects');
    mailbox.addFolder('Acme', 'Projects');
    mailbox.addMessages('inbox', 1000, (i) => customerMessage(i, user));
    mailbox.addMessages('archive', 600, (i) => customerMessage(1000 + i, user));
    mailbox.addMessages('Acme', 400, (i) => customerMessage(1600 + i, user));
    const folders = { INBOX: 'inbox', Archive: 'archive', 'Projects/Acme': 'Acme' };
    const { mailboxId } = await exchangeMailbox(bed, profileId, user, Object.keys(folders));

    await eventually('2,000 links', async () => (await crmLinks(bed, mailboxId)).length === 2000, 120_000);
    await nextCycle(mailboxId);
    expect(linkLines(await crmLinks(bed, mailboxId))).toEqual(mailboxLines(fake, user, folders));
    expect(await activityCount()).toBe(2000);
    // Bodies, parties and dates came through the Graph mapping.
    const [sample] = await bed.query<{ body_html: string; body_text: string; sent: boolean; from: string }>(
      `SELECT e.body_html, e.body_text, e.sent_at IS NOT NULL AS sent, p.address AS from
         FROM email_activities e JOIN email_parties p ON p.email_activity_id = e.id AND p.role = 'from' WHERE e.subject = 'Customer message 7'`,
    );
    expect(sample).toEqual({ body_html: '<p>Message <b>7</b> for you.</p>', body_text: 'Message 7 for you.', sent: true, from: 'customer7@customer.test' });

    // New, moved and deleted messages.
    const inbox = mailbox.list('inbox');
    mailbox.addMessages('inbox', 5, (i) => customerMessage(3000 + i, user));
    for (const m of inbox.slice(0, 10)) mailbox.move(m.id!, 'archive');
    for (const m of mailbox.list('Acme').slice(0, 5)) mailbox.delete(m.id!);
    await nextCycle(mailboxId);
    await nextCycle(mailboxId);
    expect(linkLines(await crmLinks(bed, mailboxId))).toEqual(mailboxLines(fake, user, folders));
    // A move keeps its activity (one per Message-ID) and its remote id (immutable ids), and a deleted
    // message's activity stays, as Dynamics keeps it.
    expect(await activityCount()).toBe(2005);
    const moved = await bed.query<{ folder: string; n: number }>(
      `SELECT l.folder, count(*)::int AS n FROM item_links l WHERE l.mailbox_id = $1 AND l.remote_id = ANY($2) GROUP BY 1`,
      [mailboxId, inbox.slice(0, 10).map((m) => m.id)],
    );
    expect(moved).toEqual([{ folder: 'Archive', n: 10 }]);
    const [row] = await bed.query(`SELECT incoming_enabled, consecutive_errors FROM mailboxes WHERE id = $1`, [mailboxId]);
    expect(row).toEqual({ incoming_enabled: true, consecutive_errors: 0 });
    // The fake's scripts act on every mailbox: this one stops before the next test scripts them.
    await bed.admin.disableMailbox(mailboxId);
  });

  it('loses and duplicates nothing through items listed twice, removals and a delta token lost in the middle of paging', async () => {
    const user = 'bruno@contoso.test';
    const mailbox = fake.mailbox(user);
    const folders = { INBOX: 'inbox' };
    /** Activities per Message-ID of this mailbox's messages, stored or not linked any more. */
    const copiesPerMessage = async () =>
      bed.query<{ n: number; messages: number }>(
        `SELECT max(c)::int AS n, count(*)::int AS messages FROM (SELECT count(*) AS c FROM email_activities WHERE subject LIKE 'Bruno %' GROUP BY message_id) x`,
      );
    mailbox.addMessages('inbox', 450, (i) => customerMessage(i, user, { subject: `Bruno ${i}` }));
    fake.script.duplicates(true);
    const { mailboxId } = await exchangeMailbox(bed, profileId, user, Object.keys(folders));
    await eventually('450 links', async () => (await crmLinks(bed, mailboxId)).length === 450, 60_000);
    await nextCycle(mailboxId);
    expect(linkLines(await crmLinks(bed, mailboxId))).toEqual(mailboxLines(fake, user, folders));
    expect(await copiesPerMessage()).toEqual([{ n: 1, messages: 450 }]);

    // Removals: their links go, their activities stay.
    for (const m of mailbox.list('inbox').slice(0, 20)) mailbox.delete(m.id!);
    await nextCycle(mailboxId);
    expect(linkLines(await crmLinks(bed, mailboxId))).toEqual(mailboxLines(fake, user, folders));
    expect((await crmLinks(bed, mailboxId)).length).toBe(430);

    // The next round spans several pages; its second page answers 410: the folder starts over.
    const goneBefore = fake.requestLog.filter((r) => r.userId === mailbox.user.id && r.status === 410).length;
    mailbox.addMessages('inbox', 250, (i) => customerMessage(1000 + i, user, { subject: `Bruno ${1000 + i}` }));
    for (const m of mailbox.list('inbox').slice(0, 10)) mailbox.delete(m.id!);
    fake.script.expireDeltaTokens({ midPaging: true });
    await nextCycle(mailboxId);
    await nextCycle(mailboxId);
    expect(fake.requestLog.filter((r) => r.userId === mailbox.user.id && r.status === 410).length).toBe(goneBefore + 1);
    expect(linkLines(await crmLinks(bed, mailboxId))).toEqual(mailboxLines(fake, user, folders));
    expect((await crmLinks(bed, mailboxId)).length).toBe(670);
    expect(await copiesPerMessage()).toEqual([{ n: 1, messages: 700 }]);

    // And every delta token forgotten at once (a 410 on the stored delta link).
    fake.script.expireDeltaTokens({ code: 'resyncRequired' });
    mailbox.addMessages('inbox', 3, (i) => customerMessage(2000 + i, user, { subject: `Bruno ${2000 + i}` }));
    await nextCycle(mailboxId);
    expect(linkLines(await crmLinks(bed, mailboxId))).toEqual(mailboxLines(fake, user, folders));
    expect(await copiesPerMessage()).toEqual([{ n: 1, messages: 703 }]);
    const [row] = await bed.query(`SELECT consecutive_errors FROM mailboxes WHERE id = $1`, [mailboxId]);
    expect(row).toEqual({ consecutive_errors: 0 });
    fake.script.reset();
    await bed.admin.disableMailbox(mailboxId);
  });

  it('waits out a long Retry-After on the workflow timer, as no failure, and then syncs', async () => {
    const user = 'dmitri@contoso.test';
    fake.addUser({ mail: user });
    const mailbox = fake.mailbox(user);
    mailbox.addMessages('inbox', 5, (i) => customerMessage(i, user, { subject: `Dmitri ${i}` }));
    const { mailboxId } = await exchangeMailbox(bed, profileId, user);
    await eventually('5 links', async () => (await crmLinks(bed, mailboxId)).length === 5);
    const handle = bed.temporal.workflow.getHandle(mailboxWorkflowId(mailboxId));
    await eventually('an idle workflow', async () => (await handle.query(statusQuery)).state === 'idle');

    // Longer than the session waits inline (10 s): the activity gives its slot back and the workflow waits.
    fake.script.throttle({ fraction: 1, retryAfterSeconds: [12, 12], forMs: 2_000 });
    mailbox.addMessage('inbox', customerMessage(99, user, { subject: 'Dmitri after the pause' }));
    await bed.admin.syncNow(mailboxId);
    const parked = await eventually('a throttled cycle', async () => {
      const s = await handle.query(statusQuery);
      return s.lastOutcome?.status === 'throttled' ? s : undefined;
    });
    expect(parked.state).toBe('idle');
    expect(parked.retrying).toMatch(/throttling.*waiting 12 s/);
    const [during] = await bed.query(`SELECT consecutive_errors, last_error FROM mailboxes WHERE id = $1`, [mailboxId]);
    expect(during).toEqual({ consecutive_errors: 0, last_error: null });

    await eventually('the message after the pause', async () => (await crmLinks(bed, mailboxId)).length === 6, 30_000);
    const [after] = await bed.query(`SELECT consecutive_errors, incoming_enabled FROM mailboxes WHERE id = $1`, [mailboxId]);
    expect(after).toEqual({ consecutive_errors: 0, incoming_enabled: true });
    const alerts = await bed.query(`SELECT message FROM alerts WHERE mailbox_id = $1`, [mailboxId]);
    expect(alerts).toEqual([]);
    fake.script.reset();
    await bed.admin.disableMailbox(mailboxId);
  });

  it('syncs an IMAP mailbox and an Exchange mailbox side by side in one worker', async () => {
    const dovecot = await DovecotServer.start();
    try {
      const imapUser = 'dora@example.test';
      await dovecot.addUser(imapUser, 'secret');
      await dovecot.deliver(imapUser, makeMessages(120, { to: imapUser }));
      const imapProfile = await bed.admin.createProfile(dovecotProfile('Dovecot next door', dovecot));
      const { id: imapOwner } = await bed.admin.createUser({ fullName: 'Dora', email: imapUser });
      const imap = await bed.admin.createMailbox({ emailApproved: true, emailAddress: imapUser, profileId: imapProfile.id, ownerUserId: imapOwner, password: 'secret' });

      const user = 'chloe@contoso.test';
      fake.mailbox(user).addMessages('inbox', 150, (i) => customerMessage(i, user, { subject: `Chloe ${i}` }));
      const { mailboxId } = await exchangeMailbox(bed, profileId, user);

      await eventually('both mailboxes synced', async () => (await crmLinks(bed, imap.id)).length === 120 && (await crmLinks(bed, mailboxId)).length === 150, 60_000);
      fake.mailbox(user).addMessages('inbox', 2, (i) => customerMessage(500 + i, user, { subject: `Chloe later ${i}` }));
      await dovecot.deliver(imapUser, makeMessages(3, { to: imapUser }));
      await eventually('both picked up new mail', async () => (await crmLinks(bed, imap.id)).length === 123 && (await crmLinks(bed, mailboxId)).length === 152, 30_000);
      expect(linkLines(await crmLinks(bed, mailboxId))).toEqual(mailboxLines(fake, user, { INBOX: 'inbox' }));
      const rows = await bed.query(`SELECT id, consecutive_errors, incoming_status FROM mailboxes WHERE id = ANY($1) ORDER BY email_address`, [[mailboxId, imap.id]]);
      expect(rows).toEqual([
        { id: mailboxId, consecutive_errors: 0, incoming_status: 'success' },
        { id: imap.id, consecutive_errors: 0, incoming_status: 'success' },
      ]);
    } finally {
      await dovecot.destroy();
    }
  });
});
