/**
 * POP3 incoming sync against a real Dovecot: UIDLs seen are committed with what they cover, mail
 * stays on the server unless the mailbox deletes after processing, and then only what the CRM
 * committed is deleted, even when the worker is killed in the middle.
 */
import type { NewProfileInput } from '../src/admin/schemas';
import { mailboxWorkflowId } from '../src/temporal/names';
import { statusQuery } from '../workflows';
import { DovecotServer } from './support/dovecot';
import { makeMessage, makeMessages } from './support/messages';
import { eventually, TestBed } from './support/testBed';
import { killHard, spawnWorker, stopProcess } from './support/workerProcess';

let bed: TestBed;
let dovecot: DovecotServer;

function pop3Profile(name: string, extra: Partial<NewProfileInput> = {}): NewProfileInput {
  return { name, serverType: 'pop3', incomingHost: dovecot.host, incomingPort: dovecot.pop3Port, incomingSecurity: 'none', minPollingIntervalSeconds: 1, ...extra };
}

/** The subjects still on the server, read over IMAP (not through the code under test). */
async function onServer(user: string): Promise<string[]> {
  return dovecot.withImap(user, 'secret', async (client) => {
    const box = await client.mailboxOpen('INBOX', { readOnly: true });
    if (box.exists === 0) return [];
    return (await client.fetchAll('1:*', { envelope: true })).map((m) => m.envelope!.subject!);
  });
}

async function counts(target: TestBed, mailboxId: string) {
  const [row] = await target.query<{ links: number; records: number; seen: number }>(
    `SELECT (SELECT count(*) FROM item_links WHERE mailbox_id = $1)::int AS links,
            (SELECT count(DISTINCT crm_record_id) FROM item_links WHERE mailbox_id = $1)::int AS records,
            (SELECT count(*) FROM seen_remote_ids WHERE mailbox_id = $1)::int AS seen`,
    [mailboxId],
  );
  return row;
}

/** Subjects of the activities linked to the mailbox. */
async function storedSubjects(target: TestBed, mailboxId: string): Promise<string[]> {
  const rows = await target.query<{ subject: string }>(
    `SELECT e.subject FROM item_links l JOIN email_activities e ON e.id = l.crm_record_id WHERE l.mailbox_id = $1 ORDER BY 1`,
    [mailboxId],
  );
  return rows.map((r) => r.subject);
}

beforeAll(async () => {
  bed = await TestBed.create({ SYNC_BATCH_SIZE: '10' });
  dovecot = await DovecotServer.start();
  await bed.startWorkers();
});

afterAll(async () => {
  await bed?.close();
  await dovecot?.destroy();
});

describe('POP3 incoming sync', () => {
  it('syncs a mailbox, adds nothing on a second cycle, leaves the mail on the server and forgets UIDLs deleted there', async () => {
    const user = 'paula@example.test';
    await dovecot.addUser(user, 'secret');
    await dovecot.deliver(user, makeMessages(25, { to: user, subject: 'Pop' }));
    const { id: profileId } = await bed.admin.createProfile(pop3Profile('Dovecot POP3'));
    const { id: ownerUserId } = await bed.admin.createUser({ fullName: 'Paula', email: user });
    const mailbox = await bed.admin.createMailbox({ emailApproved: true, emailAddress: user, profileId, ownerUserId, password: 'secret' });
    expect(mailbox).toMatchObject({ folders: ['INBOX'], deleteAfterProcessing: false });

    await eventually('25 messages in the CRM', async () => (await counts(bed, mailbox.id)).links === 25);
    expect(await counts(bed, mailbox.id)).toEqual({ links: 25, records: 25, seen: 25 });
    const [received] = await bed.query(`SELECT count(*)::int AS n FROM item_links l JOIN email_activities e ON e.id = l.crm_record_id WHERE l.mailbox_id = $1 AND l.folder = 'INBOX'`, [mailbox.id]);
    expect(received).toEqual({ n: 25 });

    // A second cycle finds nothing and stores nothing; the mail is still on the server.
    const handle = bed.temporal.workflow.getHandle(mailboxWorkflowId(mailbox.id));
    // The first cycle's outcome is recorded after its last commit: wait for it, or "another cycle" could be that one.
    const before = await eventually('the first cycle recorded', async () => {
      const s = await handle.query(statusQuery);
      return s.state === 'idle' && s.lastOutcome?.status === 'synced' ? s : undefined;
    });
    await bed.admin.syncNow(mailbox.id);
    const after = await eventually('another cycle', async () => {
      const s = await handle.query(statusQuery);
      return s.cyclesThisRun > before.cyclesThisRun && s.state === 'idle' ? s : undefined;
    });
    expect(after.lastOutcome).toMatchObject({ status: 'synced', itemsFound: 0 });
    expect(await counts(bed, mailbox.id)).toEqual({ links: 25, records: 25, seen: 25 });
    expect(await onServer(user)).toHaveLength(25);

    // New mail arrives; mail deleted on the server by another client is forgotten from the seen set.
    await dovecot.withImap(user, 'secret', async (client) => {
      await client.mailboxOpen('INBOX');
      await client.messageDelete('1:5');
    });
    await dovecot.deliver(user, [makeMessage({ to: user, subject: 'Arrived later' })]);
    await bed.admin.syncNow(mailbox.id);
    await eventually('the later message, and the deleted ones forgotten', async () => {
      const c = await counts(bed, mailbox.id);
      return c.links === 26 && c.seen === 21;
    });
    expect(await storedSubjects(bed, mailbox.id)).toContain('Arrived later');
    const [row] = await bed.query(`SELECT incoming_status, consecutive_errors, delete_after_processing FROM mailboxes WHERE id = $1`, [mailbox.id]);
    expect(row).toEqual({ incoming_status: 'success', consecutive_errors: 0, delete_after_processing: false });
  });

  it('deletes after processing only what the CRM committed: not what it filtered out, nor what it could not take', async () => {
    const user = 'queue@example.test';
    await dovecot.addUser(user, 'secret');
    await bed.query(`INSERT INTO contacts (full_name, email) VALUES ('Quinn Contact', 'quinn@customer.test')`);
    await dovecot.deliver(user, [
      ...makeMessages(6, { from: 'quinn@customer.test', to: user, subject: 'From a contact' }),
      ...makeMessages(3, { from: 'stranger@nowhere.test', to: user, subject: 'From a stranger' }),
      makeMessage({ from: 'quinn@customer.test', to: user, subject: 'Too large', body: 'x'.repeat(30_000) }),
    ]);
    const { id: profileId } = await bed.admin.createProfile(pop3Profile('Dovecot POP3, small messages', { maxMessageBytes: 20_000 }));
    const { id: ownerUserId } = await bed.admin.createUser({ fullName: 'Queue', email: user, trackingOption: 'crm_records' });
    const mailbox = await bed.admin.createMailbox({ emailApproved: true, emailAddress: user, profileId, ownerUserId, password: 'secret', deleteAfterProcessing: true });
    expect(mailbox.deleteAfterProcessing).toBe(true);

    await eventually('the contact mail deleted from the server', async () => (await onServer(user)).length === 4);
    const left = (await onServer(user)).map((s) => s.replace(/ \S+ #\d+$/, '')).sort();
    expect(left).toEqual(['From a stranger', 'From a stranger', 'From a stranger', 'Too large']);
    // UIDLs seen: every message taken in, stored or not; those deleted leave the set at the next cycle.
    await eventually('the deleted UIDLs forgotten', async () => (await counts(bed, mailbox.id)).seen === 4);
    expect(await counts(bed, mailbox.id)).toEqual({ links: 6, records: 6, seen: 4 });
    const errors = await bed.query(`SELECT message FROM sync_errors WHERE mailbox_id = $1 AND scope = 'item'`, [mailbox.id]);
    expect(errors).toEqual([{ message: expect.stringMatching(/^Message is \d+ bytes, over the profile's limit of 20000 bytes$/) }]);

    // Later cycles neither take nor delete what is left.
    await bed.admin.syncNow(mailbox.id);
    await dovecot.deliver(user, [makeMessage({ from: 'quinn@customer.test', to: user, subject: 'Later from a contact' })]);
    await eventually('the later message stored', async () => (await counts(bed, mailbox.id)).links === 7);
    await eventually('and deleted', async () => (await onServer(user)).length === 4 && (await counts(bed, mailbox.id)).seen === 4);
    expect(await counts(bed, mailbox.id)).toEqual({ links: 7, records: 7, seen: 4 });
    expect(await bed.query(`SELECT count(*)::int AS n FROM sync_errors WHERE mailbox_id = $1`, [mailbox.id])).toEqual([{ n: 1 }]);
  });

  it('refuses deletion after processing on IMAP and folders other than INBOX on POP3, with a 400', async () => {
    const { id: pop3 } = await bed.admin.createProfile(pop3Profile('Dovecot POP3, settings'));
    const { id: imap } = await bed.admin.createProfile({ name: 'Dovecot IMAP', serverType: 'imap', incomingHost: dovecot.host, incomingPort: dovecot.imapPort, incomingSecurity: 'none' });
    const base = { emailApproved: true, password: 'secret', incomingEnabled: false };
    await expect(bed.admin.createMailbox({ ...base, emailAddress: 'imap-del@example.test', profileId: imap, deleteAfterProcessing: true })).rejects.toMatchObject({
      statusCode: 400,
      message: "Deleting mail after processing is available for POP3 profiles only (this mailbox's profile is imap): leave deleteAfterProcessing off",
    });
    await expect(bed.admin.createMailbox({ ...base, emailAddress: 'pop-folders@example.test', profileId: pop3, folders: ['INBOX', 'Work'] })).rejects.toMatchObject({
      statusCode: 400,
      message: 'A mailbox on a POP3 profile has one folder, INBOX: set folders to ["INBOX"]',
    });
    const onImap = await bed.admin.createMailbox({ ...base, emailAddress: 'imap-ok@example.test', profileId: imap });
    await expect(bed.admin.updateMailbox(onImap.id, { deleteAfterProcessing: true })).rejects.toMatchObject({ statusCode: 400 });
    const onPop3 = await bed.admin.createMailbox({ ...base, emailAddress: 'pop-ok@example.test', profileId: pop3 });
    await expect(bed.admin.updateMailbox(onPop3.id, { folders: ['Work'] })).rejects.toMatchObject({ statusCode: 400 });
    expect(await bed.admin.updateMailbox(onPop3.id, { deleteAfterProcessing: true })).toMatchObject({ deleteAfterProcessing: true, folders: ['INBOX'] });
    expect(await bed.query(`SELECT email_address, delete_after_processing, folders FROM mailboxes WHERE email_address LIKE '%-ok@example.test' ORDER BY 1`)).toEqual([
      { email_address: 'imap-ok@example.test', delete_after_processing: false, folders: ['INBOX'] },
      { email_address: 'pop-ok@example.test', delete_after_processing: true, folders: ['INBOX'] },
    ]);
    // A mailbox left with another folder (its profile changed from IMAP to POP3) fails for good, saying what to do.
    const user = 'pop-legacy@example.test';
    await dovecot.addUser(user, 'secret');
    const legacy = await bed.admin.createMailbox({ ...base, emailAddress: user, profileId: pop3 });
    await bed.query(`UPDATE mailboxes SET folders = ARRAY['INBOX', 'Work'] WHERE id = $1`, [legacy.id]);
    await bed.admin.enableMailbox(legacy.id);
    const failed = await eventually('the sync failed', async () => {
      const m = await bed.admin.getMailbox(legacy.id);
      return !m.incoming.enabled && m.statistics.lastError ? m : undefined;
    }, 30_000);
    expect(failed.statistics.lastError).toContain(`POP3 serves one folder, INBOX: "Work" cannot be synced; set the mailbox's folders to INBOX`);
  });

  it('stores every message exactly once, and deletes only committed ones, when the worker is killed in the middle of a 1,000-message sync', async () => {
    // Its own bed, without this process's workers: the killed worker process is the only one.
    const crashBed = await TestBed.create({ SYNC_BATCH_SIZE: '20', ACTIVITY_HEARTBEAT_TIMEOUT_SECONDS: '3' });
    const total = 1000;
    const user = 'crash-pop@example.test';
    let worker = spawnWorker(crashBed.env);
    try {
      await dovecot.addUser(user, 'secret');
      // Four LMTP sessions at once: the harness delivers one message per transaction.
      const messages = makeMessages(total, { to: user, subject: 'Crash' });
      await Promise.all([0, 1, 2, 3].map((i) => dovecot.deliver(user, messages.slice((i * total) / 4, ((i + 1) * total) / 4))));
      const { id: profileId } = await crashBed.admin.createProfile(pop3Profile('Dovecot POP3, crash'));
      const { id: mailboxId } = await crashBed.admin.createMailbox({ emailApproved: true, emailAddress: user, profileId, password: 'secret', deleteAfterProcessing: true });

      const atKill = await eventually('part of the mailbox stored', async () => {
        const { links } = await counts(crashBed, mailboxId);
        return links >= 200 ? links : undefined;
      }, 60_000, 50);
      await killHard(worker);
      const storedAtKill = new Set(await storedSubjects(crashBed, mailboxId));
      expect(storedAtKill.size).toBeLessThan(total);
      // Whatever left the server is in the CRM.
      const leftAtKill = new Set(await onServer(user));
      const all = new Set([...storedAtKill, ...leftAtKill]);
      expect(all.size).toBe(total);
      for (const subject of all) if (!leftAtKill.has(subject)) expect(storedAtKill).toContain(subject);

      worker = spawnWorker(crashBed.env);
      await eventually(
        'the whole mailbox stored, deleted from the server and its UIDLs forgotten',
        async () => {
          const c = await counts(crashBed, mailboxId);
          return c.links === total && c.seen === 0 && (await onServer(user)).length === 0;
        },
        60_000,
      );
      const [activities] = await crashBed.query<{ n: number; ids: number }>(
        `SELECT count(*)::int AS n, count(DISTINCT message_id)::int AS ids FROM email_activities WHERE subject LIKE 'Crash %'`,
      );
      expect(activities).toEqual({ n: total, ids: total });
      expect(await counts(crashBed, mailboxId)).toEqual({ links: total, records: total, seen: 0 });
      expect(atKill).toBeGreaterThanOrEqual(200);
    } finally {
      await stopProcess(worker);
      await crashBed.close();
    }
  });
});
