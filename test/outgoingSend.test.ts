import { parseMimeMessage } from '../src/mail/mimeParser';
import { freePort } from './support/env';
import { SmtpSink, type SinkMessage } from './support/smtpSink';
import { dovecotProfile, eventually, useBedWithDovecot } from './support/testBed';

// Emails the CRM queues by inserting rows go out through the owner's mailbox within seconds, in
// batches of 4 here, so a run of several emails has batches whose Sent copies are saved while the
// next batch is sent.
const ctx = useBedWithDovecot({ SEND_SWEEP_SECONDS: '600', SEND_BATCH_SIZE: '4' });
let sink: SmtpSink;
let mailboxId: string;
let profileId: string;
let userId: string;
const address = 'alice@example.test';

beforeAll(async () => {
  sink = await SmtpSink.start({ users: { [address]: 'secret' } });
  const { bed, dovecot } = ctx;
  await dovecot.addUser(address, 'secret');
  const profile = await bed.admin.createProfile(
    dovecotProfile('Outgoing', dovecot, { outgoingHost: sink.host, outgoingPort: sink.port, outgoingSecurity: 'none' }),
  );
  profileId = profile.id;
  userId = (await bed.admin.createUser({ fullName: 'Alice Example', email: address })).id;
  const mailbox = await bed.admin.createMailbox({ emailAddress: address, profileId: profile.id, ownerUserId: userId, password: 'secret', emailApproved: true });
  mailboxId = mailbox.id;
  await bed.query(`UPDATE mailboxes SET outgoing_enabled = true WHERE id = $1`, [mailboxId]);
});

afterAll(async () => {
  await sink?.close();
});

/** What the CRM does when a user presses "send": the row and its parties in one statement (one transaction). */
async function queueEmail(subject: string, to: string[], bcc: string[] = []): Promise<string> {
  return (await queueEmails([subject], to, bcc))[0];
}

/** Several emails to the same recipients in one statement, in this order. */
async function queueEmails(subjects: string[], to: string[], bcc: string[] = []): Promise<string[]> {
  const rows = await ctx.bed.query<{ id: string }>(
    `WITH e AS (INSERT INTO email_activities (direction, status, owner_user_id, subject, body_text, queued_at)
                SELECT 'outgoing', 'pending_send', $1, s.subject, 'Hello from the CRM', now() + s.n * interval '1 microsecond'
                  FROM unnest($2::text[]) WITH ORDINALITY AS s(subject, n)
                RETURNING id, queued_at),
          p AS (INSERT INTO email_parties (email_activity_id, role, address)
                SELECT e.id, r.role, r.address FROM e, unnest($3::text[], $4::text[]) AS r(role, address))
     SELECT id FROM e ORDER BY queued_at`,
    [userId, subjects, [...to.map(() => 'to'), ...bcc.map(() => 'bcc')], [...to, ...bcc]],
  );
  return rows.map((r) => r.id);
}

/** The Message-IDs of the copies in the sender's Sent folder, one entry per copy. */
async function sentFolderMessageIds(): Promise<string[]> {
  return ctx.dovecot.withImap(address, 'secret', async (client) => {
    await client.mailboxOpen('Sent');
    const ids: string[] = [];
    for await (const m of client.fetch('1:*', { envelope: true })) ids.push(m.envelope!.messageId!);
    return ids;
  });
}

const wireMessageId = (m: SinkMessage) => /^Message-ID:\s*(<[^>\r\n]+>)/im.exec(m.raw.toString('latin1'))?.[1];

type SendState = { id: string; status: string; message_id: string; subject: string; smtp_accepted_at: Date | null; sent_copy_saved_at: Date | null };

const sendStates = (ids: string[]) =>
  ctx.bed.query<SendState>(
    `SELECT id, status, message_id, subject, smtp_accepted_at, sent_copy_saved_at FROM email_activities WHERE id = ANY($1) ORDER BY queued_at`,
    [ids],
  );

/** Waits until every email is `sent` with its copy saved; then exactly one copy of each is new in the Sent folder. */
async function expectSentWithOneCopyEach(ids: string[], before: Set<string>, what: string): Promise<SendState[]> {
  const rows = await eventually(what, async () => {
    const states = await sendStates(ids);
    return states.every((r) => r.status === 'sent' && r.sent_copy_saved_at !== null) && states;
  }, 30_000);
  const copies = (await sentFolderMessageIds()).filter((id) => !before.has(id));
  expect(copies.sort()).toEqual(rows.map((r) => r.message_id).sort());
  return rows;
}

/** Queues one email to Bob per subject and waits until all are `sent`; the SMTP server received them in queueing order. */
async function sendAllToBob(subjects: string[]): Promise<{ rows: SendState[]; wire: SinkMessage[] }> {
  const sunk = (await sink.waitForMessages(0)).length;
  const ids = await queueEmails(subjects, ['bob@example.test']);
  const rows = await eventually(`all ${subjects.length} sent`, async () => {
    const states = await sendStates(ids);
    return states.every((r) => r.status === 'sent') && states;
  }, 30_000);
  const wire = (await sink.waitForMessages(sunk + subjects.length)).slice(sunk);
  expect(wire.map((m) => wireMessageId(m))).toEqual(rows.map((r) => r.message_id));
  return { rows, wire };
}

describe('sending from the CRM', () => {
  it('sends a row the CRM inserted, with a fixed Message-ID, and keeps a copy with its Bcc in the Sent folder', async () => {
    const id = await queueEmail('Quote for you', ['bob@example.test'], ['boss@example.test']);
    const [message] = await sink.waitForMessages(1, 20_000);
    const [email] = await eventually('the email marked sent', async () => {
      const rows = await ctx.bed.query<{ status: string; message_id: string; smtp_accepted_at: Date | null; sent_copy_saved_at: Date | null }>(
        `SELECT status, message_id, smtp_accepted_at, sent_copy_saved_at FROM email_activities WHERE id = $1`,
        [id],
      );
      return rows[0].status === 'sent' && rows;
    });
    expect(email.smtp_accepted_at).not.toBeNull();
    expect(email.sent_copy_saved_at).not.toBeNull();
    expect(message.from).toBe(address);
    expect(message.to.sort()).toEqual(['bob@example.test', 'boss@example.test']);
    const onWire = await parseMimeMessage(message.raw);
    expect(onWire.messageId).toBe(email.message_id);
    // The organisation's tracking token, the sender's first counter (test beds number users from 1).
    expect(onWire.subject).toMatch(/^Quote for you CRM:0\d{3}001$/);
    expect(onWire.bcc).toEqual([]);

    const copies = await ctx.dovecot.withImap(address, 'secret', async (client) => {
      await client.mailboxOpen('Sent');
      const found: string[] = [];
      for await (const m of client.fetch('1:*', { source: true })) found.push(m.source!.toString());
      return found;
    });
    expect(copies).toHaveLength(1);
    const copy = await parseMimeMessage(Buffer.from(copies[0]));
    expect(copy.messageId).toBe(email.message_id);
    expect(copy.bcc).toEqual([{ address: 'boss@example.test' }]);
  });

  it('sends emails of several batches in order, each with its own tracking counter and exactly one Sent copy', async () => {
    const before = new Set(await sentFolderMessageIds());
    const { rows } = await sendAllToBob(Array.from({ length: 10 }, (_, i) => `Batch ${i}`));
    // Ten consecutive counters after the first test's, in queueing order.
    expect(rows.map((r) => r.subject.replace(/^Batch (\d) CRM:0\d{3}(\d{3})$/, '$1:$2'))).toEqual(rows.map((_, i) => `${i}:${String(i + 2).padStart(3, '0')}`));
    expect(rows.every((r) => r.sent_copy_saved_at !== null)).toBe(true);
    const copies = (await sentFolderMessageIds()).filter((id) => !before.has(id));
    expect(copies.sort()).toEqual(rows.map((r) => r.message_id).sort());
  });

  it('sends batch after batch over one SMTP connection while nothing else needs it', async () => {
    // Without Sent copies the run never waits for them: its connection serves every batch.
    await ctx.bed.query(`UPDATE email_server_profiles SET save_sent_copy = false WHERE id = $1`, [profileId]);
    try {
      const { wire } = await sendAllToBob(Array.from({ length: 10 }, (_, i) => `Kept connection ${i}`));
      // Three batches of 4, 4 and 2.
      expect(new Set(wire.map((m) => m.session)).size).toBe(1);
    } finally {
      await ctx.bed.query(`UPDATE email_server_profiles SET save_sent_copy = true WHERE id = $1`, [profileId]);
    }
  });

  it('takes turns on a server that allows one connection: every batch sent and every copy saved once', async () => {
    const before = new Set(await sentFolderMessageIds());
    const [{ cap }] = await ctx.bed.query<{ cap: number }>(`SELECT max_concurrent_connections AS cap FROM email_server_profiles WHERE id = $1`, [profileId]);
    // The Sent copies wait for the connection the sending holds, and the sending for theirs.
    await ctx.bed.query(`UPDATE email_server_profiles SET max_concurrent_connections = 1 WHERE id = $1`, [profileId]);
    try {
      const ids = await queueEmails(Array.from({ length: 10 }, (_, i) => `One connection ${i}`), ['dave@example.test']);
      await expectSentWithOneCopyEach(ids, before, 'all ten sent, each with its copy');
    } finally {
      await ctx.bed.query(`UPDATE email_server_profiles SET max_concurrent_connections = $2 WHERE id = $1`, [profileId, cap]);
    }
  });

  it('keeps accepted emails waiting while the Sent folder cannot be reached, then saves each copy once', async () => {
    const before = new Set(await sentFolderMessageIds());
    const [{ incoming_port: imapPort }] = await ctx.bed.query<{ incoming_port: number }>(`SELECT incoming_port FROM email_server_profiles WHERE id = $1`, [profileId]);
    // Nothing listens there: SMTP (the sink) works, IMAP does not.
    await ctx.bed.query(`UPDATE email_server_profiles SET incoming_port = $2 WHERE id = $1`, [profileId, await freePort()]);
    let ids: string[] = [];
    try {
      ids = await queueEmails(Array.from({ length: 6 }, (_, i) => `Copy later ${i}`), ['carol@example.test']);
      await eventually('all six accepted, none sent, and the mailbox told why', async () => {
        const states = await sendStates(ids);
        const [mailbox] = await ctx.bed.query<{ outgoing_test_message: string | null }>(`SELECT outgoing_test_message FROM mailboxes WHERE id = $1`, [mailboxId]);
        return (
          states.every((r) => r.status === 'sending' && r.smtp_accepted_at !== null && r.sent_copy_saved_at === null) &&
          /The Sent folder could not be reached/.test(mailbox.outgoing_test_message ?? '')
        );
      }, 30_000);
    } finally {
      await ctx.bed.query(`UPDATE email_server_profiles SET incoming_port = $2 WHERE id = $1`, [profileId, imapPort]);
    }
    // Another email wakes the mailbox: the waiting copies are saved with it, none sent twice.
    const [next] = await queueEmails(['After the outage'], ['carol@example.test']);
    const rows = await expectSentWithOneCopyEach([...ids, next], before, 'all seven sent');
    const onWire = (await sink.waitForMessages(0)).filter((m) => rows.some((r) => r.message_id === wireMessageId(m)));
    expect(onWire).toHaveLength(7);
  });
});
