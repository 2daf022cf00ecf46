import { ImapFlow } from 'imapflow';
import { ImapMailSource } from '../src/mail/imapMailSource';
import type { IncomingBatch } from '../src/mail/mailSource';
import { mailboxWorkflowId } from '../src/temporal/names';
import { statusQuery } from '../workflows';
import { DovecotServer } from './support/dovecot';
import { makeMessage, makeMessages } from './support/messages';
import { dovecotProfile, eventually, TestBed } from './support/testBed';

let bed: TestBed;
let dovecot: DovecotServer;
let profileId: string;

async function mailboxContents(user: string, password: string) {
  const client = new ImapFlow({ host: dovecot.host, port: dovecot.imapPort, secure: false, auth: { user, pass: password }, logger: false });
  await client.connect();
  try {
    await client.mailboxOpen('INBOX', { readOnly: true });
    const messages = await client.fetchAll('1:*', { envelope: true });
    return messages.map((m) => ({ messageId: m.envelope!.messageId!, subject: m.envelope!.subject!, from: m.envelope!.from![0].address! }));
  } finally {
    await client.logout();
  }
}

async function crmContents(mailboxId: string) {
  return bed.query<{ messageId: string; subject: string; from: string }>(
    `SELECT e.message_id AS "messageId", e.subject, p.address AS "from"
       FROM item_links l JOIN email_activities e ON e.id = l.crm_record_id
       JOIN email_parties p ON p.email_activity_id = e.id AND p.role = 'from'
      WHERE l.mailbox_id = $1`,
    [mailboxId],
  );
}

async function linkCount(mailboxId: string): Promise<number> {
  const [{ n }] = await bed.query<{ n: number }>(`SELECT count(*)::int AS n FROM item_links WHERE mailbox_id = $1`, [mailboxId]);
  return n;
}

/** A CRM user and a mailbox mapped to it, for a Dovecot user that exists already. */
async function newMailbox(user: string, opts: { tracking?: 'all' | 'crm_records' | 'replies_to_crm'; profile?: string } = {}) {
  const { id: ownerUserId } = await bed.admin.createUser({ fullName: user, email: user, trackingOption: opts.tracking ?? 'all' });
  const { id: mailboxId } = await bed.admin.createMailbox({ emailApproved: true, emailAddress: user, profileId: opts.profile ?? profileId, ownerUserId, password: 'secret' });
  return { mailboxId, ownerUserId };
}

beforeAll(async () => {
  bed = await TestBed.create();
  dovecot = await DovecotServer.start();
  profileId = (
    await bed.admin.createProfile(dovecotProfile('Test Dovecot', dovecot))
  ).id;
  await bed.startWorkers();
});

afterAll(async () => {
  await bed?.close();
  await dovecot?.destroy();
});

describe('IMAP incoming sync', () => {
  it('stores a mailbox of a few hundred messages, adds nothing on a second cycle, and picks up new mail', async () => {
    const user = 'alice@example.test';
    await dovecot.addUser(user, 'secret');
    const contactId = (await bed.query<{ id: string }>(`INSERT INTO contacts (full_name, email) VALUES ('Carol Contact', 'carol@customer.test') RETURNING id`))[0].id;
    await dovecot.deliver(user, [
      ...makeMessages(290, { to: user }),
      ...makeMessages(10, { from: 'Carol Contact <Carol@Customer.test>', to: user, subject: 'From a contact' }),
    ]);
    const { id: ownerUserId } = await bed.admin.createUser({ fullName: 'Alice', email: user });
    const { id: mailboxId } = await bed.admin.createMailbox({ emailApproved: true, emailAddress: user, profileId, ownerUserId, password: 'secret' });

    await eventually('300 messages in the CRM', async () => (await linkCount(mailboxId)) === 300);
    const inMailbox = await mailboxContents(user, 'secret');
    const inCrm = await crmContents(mailboxId);
    const key = (m: { messageId: string; subject: string; from: string }) => `${m.messageId}|${m.subject}|${m.from.toLowerCase()}`;
    expect(new Set(inCrm.map(key))).toEqual(new Set(inMailbox.map(key)));
    expect(inCrm).toHaveLength(300);

    // Parties resolve to CRM records: the sender to the contact, the recipient to the mailbox's user.
    const resolved = await bed.query<{ role: string; party_type: string; party_id: string; n: number }>(
      `SELECT p.role, p.party_type, p.party_id, count(*)::int AS n FROM email_parties p
        JOIN item_links l ON l.crm_record_id = p.email_activity_id AND l.mailbox_id = $1
       WHERE p.party_type IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1`,
      [mailboxId],
    );
    expect(resolved).toEqual([
      { role: 'from', party_type: 'contact', party_id: contactId, n: 10 },
      { role: 'to', party_type: 'user', party_id: ownerUserId, n: 300 },
    ]);

    // A second cycle finds nothing and stores nothing.
    const handle = bed.temporal.workflow.getHandle(mailboxWorkflowId(mailboxId));
    const before = await handle.query(statusQuery);
    await bed.admin.syncNow(mailboxId);
    const after = await eventually('another cycle', async () => {
      const s = await handle.query(statusQuery);
      return s.cyclesThisRun > before.cyclesThisRun && s.state === 'idle' ? s : undefined;
    });
    expect(after.lastOutcome).toMatchObject({ status: 'synced', itemsFound: 0 });
    expect(await linkCount(mailboxId)).toBe(300);
    const [{ n: activities }] = await bed.query<{ n: number }>(`SELECT count(*)::int AS n FROM email_activities`);
    expect(activities).toBeGreaterThanOrEqual(300);

    // A message delivered now arrives at once after syncNow...
    await dovecot.deliver(user, [makeMessage({ to: user, subject: 'Arrived later' })]);
    await bed.admin.syncNow(mailboxId);
    await eventually('the later message', async () => (await crmContents(mailboxId)).some((m) => m.subject === 'Arrived later'), 15_000);
    // ...and on its own at the next cycle.
    await dovecot.deliver(user, [makeMessage({ to: user, subject: 'Arrived on schedule' })]);
    await eventually('the scheduled pick-up', async () => (await crmContents(mailboxId)).some((m) => m.subject === 'Arrived on schedule'), 30_000);
    expect(await linkCount(mailboxId)).toBe(302);
    const [row] = await bed.query(`SELECT incoming_enabled, incoming_status, consecutive_errors, last_success_at IS NOT NULL AS ok FROM mailboxes WHERE id = $1`, [mailboxId]);
    expect(row).toEqual({ incoming_enabled: true, incoming_status: 'success', consecutive_errors: 0, ok: true });
  });

  it('stores a message seen in two mailboxes once, linked to both', async () => {
    await dovecot.addUser('dana@example.test', 'secret');
    await dovecot.addUser('erin@example.test', 'secret');
    const a = await newMailbox('dana@example.test');
    const b = await newMailbox('erin@example.test');
    const shared = makeMessage({ to: 'dana@example.test, erin@example.test', subject: 'For both of you' });
    await dovecot.deliver('dana@example.test', [shared]);
    await dovecot.deliver('erin@example.test', [shared]);
    await eventually('both mailboxes synced', async () => (await linkCount(a.mailboxId)) === 1 && (await linkCount(b.mailboxId)) === 1);
    const rows = await bed.query<{ n: number; mailboxes: number }>(
      `SELECT count(DISTINCT e.id)::int AS n, count(DISTINCT l.mailbox_id)::int AS mailboxes
         FROM email_activities e JOIN item_links l ON l.crm_record_id = e.id WHERE e.subject = 'For both of you'`,
    );
    expect(rows).toEqual([{ n: 1, mailboxes: 2 }]);
  });

  it('tracks only mail from CRM records when the user chose so', async () => {
    await bed.query(`INSERT INTO leads (full_name, email) VALUES ('Larry Lead', 'larry@prospect.test')`);
    await dovecot.addUser('frank@example.test', 'secret');
    const { mailboxId } = await newMailbox('frank@example.test', { tracking: 'crm_records' });
    await dovecot.deliver('frank@example.test', [
      makeMessage({ from: 'larry@prospect.test', to: 'frank@example.test', subject: 'From a lead' }),
      makeMessage({ from: 'stranger@nowhere.test', to: 'frank@example.test', subject: 'From a stranger' }),
    ]);
    await bed.admin.syncNow(mailboxId);
    await eventually('the lead message', async () => (await crmContents(mailboxId)).length === 1);
    const handle = bed.temporal.workflow.getHandle(mailboxWorkflowId(mailboxId));
    await eventually('a full cycle', async () => (await handle.query(statusQuery)).lastOutcome?.status === 'synced');
    expect((await crmContents(mailboxId)).map((m) => m.subject)).toEqual(['From a lead']);
  });

  it('skips messages older than the profile\'s "process email from" date', async () => {
    const cutoff = new Date(Date.now() - 24 * 3600_000);
    const { id: profile } = await bed.admin.createProfile(dovecotProfile('Dovecot from yesterday', dovecot, { processEmailFrom: cutoff }));
    await dovecot.addUser('gina@example.test', 'secret');
    const client = new ImapFlow({ host: dovecot.host, port: dovecot.imapPort, secure: false, auth: { user: 'gina@example.test', pass: 'secret' }, logger: false });
    await client.connect();
    await client.append('INBOX', makeMessage({ subject: 'Old news' }), [], new Date(Date.now() - 7 * 24 * 3600_000));
    await client.append('INBOX', makeMessage({ subject: 'Fresh news' }), [], new Date());
    await client.logout();
    const { mailboxId } = await newMailbox('gina@example.test', { profile });
    await eventually('the fresh message', async () => (await crmContents(mailboxId)).length === 1);
    const [cursor] = await bed.query<{ cursor: { lastUid: number } }>(`SELECT cursor FROM folder_cursors WHERE mailbox_id = $1`, [mailboxId]);
    expect(cursor.cursor.lastUid).toBe(2);
    expect((await crmContents(mailboxId)).map((m) => m.subject)).toEqual(['Fresh news']);
  });

  it('ends a batch at its byte limit as well as at its message count, every message in one batch', async () => {
    const user = 'bytes@example.test';
    await dovecot.addUser(user, 'secret');
    // Seven ~30 KB messages against a 64 KB limit: batches of three (90 KB), three and one.
    const messages = makeMessages(7, { to: user, body: 'x'.repeat(30 * 1024) });
    await dovecot.deliver(user, messages);
    const source = new ImapMailSource({ host: dovecot.host, port: dovecot.imapPort, security: 'none', username: user, password: 'secret', connectionTimeoutMs: 10_000 });
    const batches: IncomingBatch[] = [];
    await source.connect();
    try {
      const pulled = source.pull('INBOX', null, {
        batchSize: 50,
        batchMaxBytes: 64 * 1024,
        processEmailFrom: null,
        maxMessageBytes: 1024 * 1024,
        seen: { lookup: async () => ({ seen: new Set(), stored: new Set(), unlisted: 0 }) },
      });
      for await (const batch of pulled) batches.push(batch);
    } finally {
      await source.close();
    }
    expect(batches.map((b) => b.items.length)).toEqual([3, 3, 1]);
    const uids = batches.flatMap((b) => b.items.map((item) => Number(item.remoteId.split(':')[1])));
    expect(uids).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(batches.map((b) => b.remaining)).toEqual([4, 1, 0]);
  });
});
