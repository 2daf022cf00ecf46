import { randomUUID } from 'node:crypto';
import type { TrackingOption } from '../src/policy/tracking';
import { ImapMailSource } from '../src/mail/imapMailSource';
import { parseMimeMessage } from '../src/mail/mimeParser';
import type { ParseOutcome } from '../src/mail/parseWorker';
import { PgSyncStore } from '../src/store/pgSyncStore';
import { runIncomingSync } from '../src/sync/incomingSync';
import { DovecotServer } from './support/dovecot';
import { makeMessage, type TestMessage } from './support/messages';
import { dovecotProfile, TestBed } from './support/testBed';

// Which incoming messages become activities (the five options, by sender kind, reply or not) and
// how they join conversations (In-Reply-To, tracking token, smart matching, forwards), contacts for
// unknown senders, and mail sent from another client found in the Sent folder. Each sync is run
// directly (the sync engine, PostgreSQL, Dovecot), so what it stored is checked right after it.

let bed: TestBed;
let dovecot: DovecotServer;
let store: PgSyncStore;
let profileId: string;
const records: Record<string, string> = {};

const parseMime = (raws: Buffer[]): Promise<ParseOutcome[]> =>
  Promise.all(raws.map((raw) => parseMimeMessage(raw).then((message) => ({ message }), (err: Error) => ({ error: err.message }))));

async function sync(mailboxId: string) {
  const result = await runIncomingSync(mailboxId, {
    store,
    openSource: (context) => new ImapMailSource(context.endpoint),
    parseMime,
    batchSize: 50,
    batchMaxBytes: 16 * 1024 * 1024,
    withConnectionSlot: (_context, use) => use(),
  });
  if (result.status !== 'synced') throw new Error(`mailbox ${mailboxId} did not sync: ${result.status}`);
  return result;
}

interface Box {
  address: string;
  userId: string;
  mailboxId: string;
}

async function newMailbox(address: string, opts: { tracking: TrackingOption; createContacts?: boolean; trackSent?: boolean }): Promise<Box> {
  await dovecot.addUser(address, 'secret');
  const user = await bed.admin.createUser({ fullName: address, email: address, trackingOption: opts.tracking, createContactsForUnknownSenders: opts.createContacts });
  const mailbox = await bed.admin.createMailbox({
    emailApproved: true,
    emailAddress: address,
    profileId,
    ownerUserId: user.id,
    password: 'secret',
    trackSentFolder: opts.trackSent,
  });
  return { address, userId: user.id, mailboxId: mailbox.id };
}

async function deliver(box: Box, messages: TestMessage[]) {
  await dovecot.deliver(
    box.address,
    messages.map((m) => makeMessage({ to: box.address, messageId: `<${randomUUID()}@sender.test>`, ...m })),
  );
}

interface StoredActivity {
  id: string;
  subject: string;
  folder: string;
  direction: string;
  status: string;
  owner_user_id: string | null;
  conversation_id: string;
  correlation_method: string | null;
  correlated_activity_id: string | null;
  regarding_type: string | null;
  regarding_id: string | null;
  tracking_token: string | null;
}

async function activitiesOf(box: Box): Promise<Map<string, StoredActivity>> {
  const rows = await bed.query<StoredActivity & Record<string, unknown>>(
    `SELECT e.id, e.subject, l.folder, e.direction, e.status, e.owner_user_id, e.conversation_id, e.correlation_method,
            e.correlated_activity_id, e.regarding_type, e.regarding_id, e.tracking_token
       FROM item_links l JOIN email_activities e ON e.id = l.crm_record_id WHERE l.mailbox_id = $1`,
    [box.mailboxId],
  );
  return new Map(rows.map((r) => [r.subject, r]));
}

/** An email the CRM sent (as the send engine stores one): outgoing, its own conversation, no content digest. */
async function crmEmail(e: { subject: string; to: string[]; token?: string; regarding?: string; sentDaysAgo?: number; messageId?: string }): Promise<string> {
  const [{ id }] = await bed.query<{ id: string }>(
    `INSERT INTO email_activities (message_id, direction, status, subject, sent_at, tracking_token, normalised_subject, regarding_type, regarding_id)
     VALUES ($1, 'outgoing', 'sent', $2, now() - make_interval(days => $3), $4, $5, CASE WHEN $6::uuid IS NOT NULL THEN 'account' END, $6)
     RETURNING id`,
    [
      e.messageId ?? `<${randomUUID()}@crm.test>`,
      e.subject,
      e.sentDaysAgo ?? 1,
      e.token ?? null,
      e.subject.replace(/\s*CRM:\d+/, '').toLowerCase(),
      e.regarding ?? null,
    ],
  );
  await bed.query(`UPDATE email_activities SET conversation_id = id WHERE id = $1`, [id]);
  await bed.query(
    `INSERT INTO email_parties (email_activity_id, role, address) SELECT $1, r, a FROM unnest($2::text[], $3::text[]) AS x(r, a)`,
    [id, ['from', ...e.to.map(() => 'to')], ['sales@crm.test', ...e.to]],
  );
  return id;
}

async function messageIdOf(activityId: string): Promise<string> {
  return (await bed.query<{ message_id: string }>(`SELECT message_id FROM email_activities WHERE id = $1`, [activityId]))[0].message_id;
}

async function setOrganization(patch: Parameters<TestBed['admin']['updateOrganizationSettings']>[0]) {
  await bed.admin.updateOrganizationSettings(patch);
}

beforeAll(async () => {
  bed = await TestBed.create();
  dovecot = await DovecotServer.start();
  store = new PgSyncStore(bed.pool, bed.secrets);
  profileId = (await bed.admin.createProfile(dovecotProfile('Tracking Dovecot', dovecot))).id;
  const one = async (sql: string) => (await bed.query<{ id: string }>(sql))[0].id;
  records.contact = await one(`INSERT INTO contacts (full_name, email) VALUES ('Carol Contact', 'carol@customer.test') RETURNING id`);
  records.account = await one(`INSERT INTO accounts (name, email) VALUES ('Customer Inc', 'accounts@customer.test') RETURNING id`);
  records.otherAccount = await one(`INSERT INTO accounts (name, email) VALUES ('Other Ltd', 'info@other.test') RETURNING id`);
  records.lead = await one(`INSERT INTO leads (full_name, email) VALUES ('Lee Lead', 'lee@prospect.test') RETURNING id`);
  records.queue = await one(`INSERT INTO crm_queues (name, email) VALUES ('Support', 'support@crm.test') RETURNING id`);
  records.user = (await bed.admin.createUser({ fullName: 'Colleague', email: 'colleague@crm.test', trackingOption: 'all' })).id;
  await bed.admin.createUser({ fullName: 'Sales', email: 'sales@crm.test', trackingOption: 'all' });
});

afterAll(async () => {
  await bed?.close();
  await dovecot?.destroy();
});

const SENDERS = {
  user: 'Colleague <colleague@crm.test>',
  queue: 'Support <support@crm.test>',
  contact: 'Carol Contact <carol@customer.test>',
  account: 'Customer Inc <accounts@customer.test>',
  lead: 'Lee Lead <lee@prospect.test>',
  nothing: 'Stranger <stranger@nowhere.test>',
} as const;
type SenderKind = keyof typeof SENDERS;

// What each option tracks, by sender, for a message that answers nothing and for a reply to a CRM email.
const EXPECTED: Record<TrackingOption, { new: SenderKind[]; reply: SenderKind[] }> = {
  all: { new: ['user', 'queue', 'contact', 'account', 'lead', 'nothing'], reply: ['user', 'queue', 'contact', 'account', 'lead', 'nothing'] },
  replies_to_crm: { new: [], reply: ['user', 'queue', 'contact', 'account', 'lead', 'nothing'] },
  crm_records: { new: ['contact', 'account', 'lead'], reply: ['contact', 'account', 'lead'] },
  email_enabled_records: { new: ['user', 'queue', 'contact', 'account', 'lead'], reply: ['user', 'queue', 'contact', 'account', 'lead'] },
  none: { new: [], reply: [] },
};

describe('incoming tracking options', () => {
  it('tracks, for each of the five options, the sender kinds it names, replies to CRM email or not; the cursor passes the others', async () => {
    const quote = await crmEmail({ subject: 'Quote', to: ['carol@customer.test'], regarding: records.account });
    const quoteMessageId = await messageIdOf(quote);
    for (const option of Object.keys(EXPECTED) as TrackingOption[]) {
      const box = await newMailbox(`opt-${option.replace(/_/g, '-')}@crm.test`, { tracking: option });
      const kinds = Object.keys(SENDERS) as SenderKind[];
      await deliver(box, [
        ...kinds.map((kind) => ({ from: SENDERS[kind], subject: `${kind} new` })),
        ...kinds.map((kind) => ({ from: SENDERS[kind], subject: `${kind} reply`, inReplyTo: quoteMessageId })),
      ]);
      const result = await sync(box.mailboxId);
      const expected = [...EXPECTED[option].new.map((k) => `${k} new`), ...EXPECTED[option].reply.map((k) => `${k} reply`)].sort();
      const stored = await activitiesOf(box);
      expect({ option, tracked: [...stored.keys()].sort() }).toEqual({ option, tracked: expected });
      expect({ option, found: result.itemsFound, stored: result.itemsStored, skipped: result.itemsSkipped }).toEqual({
        option,
        found: 12,
        stored: expected.length,
        skipped: 12 - expected.length,
      });
      // The messages left out are passed for good: the next cycle finds nothing new.
      expect((await sync(box.mailboxId)).itemsFound).toBe(0);

      // A reply joins the CRM email's conversation and takes its regarding; a new message starts its own.
      for (const activity of stored.values()) {
        if (activity.subject.endsWith('reply')) {
          expect(activity).toMatchObject({
            conversation_id: quote,
            correlation_method: 'in_reply_to',
            correlated_activity_id: quote,
            regarding_type: 'account',
            regarding_id: records.account,
            direction: 'incoming',
            status: 'received',
          });
        } else {
          expect(activity).toMatchObject({ conversation_id: activity.id, correlation_method: null, correlated_activity_id: null, regarding_id: null });
        }
      }
    }
    // Nobody asked for contacts for unknown senders: the stranger is still nobody.
    expect(await bed.query(`SELECT 1 FROM contacts WHERE lower(email) = 'stranger@nowhere.test'`)).toHaveLength(0);
  });

  it("gives new users the organisation's default option, through the service and through SQL", async () => {
    await setOrganization({ defaultTrackingOption: 'crm_records' });
    try {
      expect((await bed.admin.createUser({ fullName: 'Defaulted', email: 'defaulted@crm.test' })).trackingOption).toBe('crm_records');
      const [row] = await bed.query<{ tracking_option: string }>(
        `INSERT INTO crm_users (full_name, email) VALUES ('By SQL', 'by-sql@crm.test') RETURNING tracking_option`,
      );
      expect(row.tracking_option).toBe('crm_records');
      expect((await bed.admin.createUser({ fullName: 'Chosen', email: 'chosen@crm.test', trackingOption: 'none' })).trackingOption).toBe('none');
    } finally {
      await setOrganization({ defaultTrackingOption: 'all' });
    }
  });
});

describe('correlation', () => {
  it('finds the conversation by tracking token when headers are dropped, and a wrapped token never joins the wrong one', async () => {
    const box = await newMailbox('tokens@crm.test', { tracking: 'replies_to_crm' });
    // One owner's counter wrapped: CRM:0001000 named a contract with Carol a year ago and names a renewal with Dave now.
    const contract = await crmEmail({ subject: 'Contract CRM:0001000', token: 'CRM:0001000', to: ['carol@customer.test'], regarding: records.account, sentDaysAgo: 400 });
    const renewal = await crmEmail({ subject: 'Renewal CRM:0001000', token: 'CRM:0001000', to: ['dave@other.test'], regarding: records.otherAccount, sentDaysAgo: 2 });
    // A mailbox with its own prefix: its tokens are found too.
    await bed.admin.updateMailbox(box.mailboxId, { trackingTokenMode: 'custom', trackingTokenPrefix: 'ACME' });
    expect((await bed.admin.getMailbox(box.mailboxId)).trackingToken).toEqual({ mode: 'custom', prefix: 'ACME' });
    const order = await crmEmail({ subject: 'Order ACME:0002001', token: 'ACME:0002001', to: ['lee@prospect.test'], sentDaysAgo: 3 });
    await deliver(box, [
      { from: SENDERS.lead, subject: 'RE: Order ACME:0002001' },
      // Late answers whose clients dropped In-Reply-To; a recipient's client may change the token's case.
      { from: SENDERS.contact, subject: 're: contract crm:0001000' },
      { from: 'Dave <dave@other.test>', subject: 'RE: Renewal CRM:0001000' },
      // Someone with neither: the token alone proves nothing.
      { from: 'Erin <erin@elsewhere.test>', subject: 'Hello CRM:0001000' },
    ]);
    await sync(box.mailboxId);
    const stored = await activitiesOf(box);
    expect([...stored.keys()].sort()).toEqual(['RE: Order ACME:0002001', 'RE: Renewal CRM:0001000', 're: contract crm:0001000']);
    expect(stored.get('RE: Order ACME:0002001')).toMatchObject({ conversation_id: order, correlation_method: 'tracking_token', tracking_token: 'ACME:0002001' });
    expect(stored.get('re: contract crm:0001000')).toMatchObject({
      conversation_id: contract,
      correlated_activity_id: contract,
      correlation_method: 'tracking_token',
      regarding_id: records.account,
      tracking_token: 'CRM:0001000',
    });
    expect(stored.get('RE: Renewal CRM:0001000')).toMatchObject({
      conversation_id: renewal,
      correlated_activity_id: renewal,
      correlation_method: 'tracking_token',
      regarding_id: records.otherAccount,
    });
  });

  it('correlates by subject and shared participants only with smart matching on', async () => {
    const box = await newMailbox('smart@crm.test', { tracking: 'all' });
    const budget = await crmEmail({ subject: 'Budget 2027', to: ['bob@customer.test', box.address], regarding: records.account, sentDaysAgo: 5 });
    const day = 24 * 3600 * 1000;
    await deliver(box, [{ from: 'Bob <bob@customer.test>', subject: 'AW: Budget 2027', date: new Date(Date.now() - 20 * day) }]);
    await sync(box.mailboxId);
    expect((await activitiesOf(box)).get('AW: Budget 2027')).toMatchObject({ correlation_method: null, regarding_id: null });

    await setOrganization({ smartMatching: true });
    try {
      await deliver(box, [{ from: 'Bob <bob@customer.test>', subject: 'Re: Re: budget  2027' }]);
      await sync(box.mailboxId);
      expect((await activitiesOf(box)).get('Re: Re: budget  2027')).toMatchObject({
        correlation_method: 'smart_matching',
        conversation_id: budget,
        correlated_activity_id: budget,
        regarding_id: records.account,
      });
    } finally {
      await setOrganization({ smartMatching: false });
    }
  });

  it('takes a forward as a new conversation unless the organisation correlates forwards', async () => {
    const box = await newMailbox('forwards@crm.test', { tracking: 'all' });
    const offer = await crmEmail({ subject: 'Offer', to: ['carol@customer.test'], regarding: records.account });
    const offerMessageId = await messageIdOf(offer);
    await deliver(box, [{ from: SENDERS.contact, subject: 'Fwd: Offer', inReplyTo: offerMessageId }]);
    await sync(box.mailboxId);
    const forward = (await activitiesOf(box)).get('Fwd: Offer')!;
    expect(forward).toMatchObject({ conversation_id: forward.id, correlation_method: null, regarding_id: null });

    await setOrganization({ correlateForwards: true });
    try {
      await deliver(box, [{ from: SENDERS.contact, subject: 'WG: Offer', inReplyTo: offerMessageId }]);
      await sync(box.mailboxId);
      expect((await activitiesOf(box)).get('WG: Offer')).toMatchObject({ conversation_id: offer, correlation_method: 'in_reply_to', regarding_id: records.account });
    } finally {
      await setOrganization({ correlateForwards: false });
    }
  });

  it('correlates a reply with an earlier message of the same batch', async () => {
    const box = await newMailbox('thread@crm.test', { tracking: 'all' });
    await deliver(box, [
      { from: SENDERS.contact, subject: 'Question', messageId: '<question@customer.test>' },
      { from: SENDERS.contact, subject: 'Re: Question', inReplyTo: '<question@customer.test>' },
    ]);
    await sync(box.mailboxId);
    const stored = await activitiesOf(box);
    const question = stored.get('Question')!;
    expect(stored.get('Re: Question')).toMatchObject({ conversation_id: question.id, correlated_activity_id: question.id, correlation_method: 'in_reply_to' });
  });
});

describe('unknown senders', () => {
  it("creates one contact per unknown sender for a user who asks, none for the organisation's own domains", async () => {
    await setOrganization({ ownDomains: ['Partner.test'] });
    try {
      const box = await newMailbox('newcomers@crm.test', { tracking: 'all', createContacts: true });
      await deliver(box, [
        { from: 'Stan Stranger <stan@nowhere.test>', subject: 'First' },
        { from: 'Stan Stranger <Stan@nowhere.test>', subject: 'Second' },
        { from: 'nameless@nowhere.test', subject: 'No name' },
        { from: 'Pat Partner <pat@partner.test>', subject: 'From a partner' },
        { from: SENDERS.contact, subject: 'From a contact' },
      ]);
      await sync(box.mailboxId);
      const contacts = await bed.query<{ id: string; full_name: string; email: string }>(
        `SELECT id, full_name, lower(email) AS email FROM contacts WHERE lower(email) IN ('stan@nowhere.test', 'nameless@nowhere.test', 'pat@partner.test', 'carol@customer.test') ORDER BY email`,
      );
      expect(contacts.map(({ full_name, email }) => ({ full_name, email }))).toEqual([
        { full_name: 'Carol Contact', email: 'carol@customer.test' },
        { full_name: 'nameless', email: 'nameless@nowhere.test' },
        { full_name: 'Stan Stranger', email: 'stan@nowhere.test' },
      ]);
      const senders = await bed.query<{ subject: string; party_type: string | null; party_id: string | null }>(
        `SELECT e.subject, p.party_type, p.party_id FROM item_links l JOIN email_activities e ON e.id = l.crm_record_id
           JOIN email_parties p ON p.email_activity_id = e.id AND p.role = 'from' WHERE l.mailbox_id = $1 ORDER BY e.subject`,
        [box.mailboxId],
      );
      const stan = contacts.find((c) => c.email === 'stan@nowhere.test')!.id;
      expect(senders).toEqual([
        { subject: 'First', party_type: 'contact', party_id: stan },
        { subject: 'From a contact', party_type: 'contact', party_id: records.contact },
        { subject: 'From a partner', party_type: null, party_id: null },
        { subject: 'No name', party_type: 'contact', party_id: contacts.find((c) => c.email === 'nameless@nowhere.test')!.id },
        { subject: 'Second', party_type: 'contact', party_id: stan },
      ]);
    } finally {
      await setOrganization({ ownDomains: [] });
    }
  });
});

describe('the Sent folder', () => {
  it('stores mail the user sent from another client as sent, once, and links the copy of an email the CRM sent', async () => {
    const box = await newMailbox('sender@crm.test', { tracking: 'all', trackSent: true });
    const fromCrm = await crmEmail({ subject: 'Sent by the CRM', to: ['carol@customer.test'], messageId: '<sent-by-crm@crm.test>' });
    const sent = (m: TestMessage) => makeMessage({ from: 'Sender <Sender@crm.test>', to: 'carol@customer.test', ...m });
    await dovecot.append(box.address, 'secret', [
      sent({ subject: 'Sent by the CRM', messageId: '<sent-by-crm@crm.test>' }),
      sent({ subject: 'From my phone', messageId: '<from-phone@crm.test>' }),
    ], 'Sent');
    await deliver(box, [{ from: SENDERS.contact, subject: 'Incoming' }]);
    await sync(box.mailboxId);
    await sync(box.mailboxId);

    const stored = await activitiesOf(box);
    expect([...stored.values()].map((a) => [a.subject, a.folder, a.direction, a.status]).sort()).toEqual([
      ['From my phone', 'Sent', 'outgoing', 'sent'],
      ['Incoming', 'INBOX', 'incoming', 'received'],
      ['Sent by the CRM', 'Sent', 'outgoing', 'sent'],
    ]);
    expect(stored.get('Sent by the CRM')!.id).toBe(fromCrm);
    expect(stored.get('From my phone')!.owner_user_id).toBe(box.userId);
    const copies = await bed.query<{ message_id: string; n: number }>(
      `SELECT message_id, count(*)::int AS n FROM email_activities WHERE message_id IN ('<sent-by-crm@crm.test>', '<from-phone@crm.test>') GROUP BY 1 ORDER BY 1`,
    );
    expect(copies).toEqual([
      { message_id: '<from-phone@crm.test>', n: 1 },
      { message_id: '<sent-by-crm@crm.test>', n: 1 },
    ]);
  });
});
