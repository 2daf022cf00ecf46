import { parseMimeMessage } from '../src/mail/mimeParser';
import { SmtpSink } from './support/smtpSink';
import { dovecotProfile, eventually, useBedWithDovecot } from './support/testBed';

// Emails the CRM queues by inserting rows go out through the owner's mailbox within seconds.
const ctx = useBedWithDovecot({ SEND_SWEEP_SECONDS: '600' });
let sink: SmtpSink;
let mailboxId: string;
let userId: string;
const address = 'alice@example.test';

beforeAll(async () => {
  sink = await SmtpSink.start({ users: { [address]: 'secret' } });
  const { bed, dovecot } = ctx;
  await dovecot.addUser(address, 'secret');
  const profile = await bed.admin.createProfile(
    dovecotProfile('Outgoing', dovecot, { outgoingHost: sink.host, outgoingPort: sink.port, outgoingSecurity: 'none' }),
  );
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
  const [row] = await ctx.bed.query<{ id: string }>(
    `WITH e AS (INSERT INTO email_activities (direction, status, owner_user_id, subject, body_text, queued_at)
                VALUES ('outgoing', 'pending_send', $1, $2, 'Hello from the CRM', now()) RETURNING id),
          p AS (INSERT INTO email_parties (email_activity_id, role, address)
                SELECT e.id, r.role, r.address FROM e, unnest($3::text[], $4::text[]) AS r(role, address))
     SELECT id FROM e`,
    [userId, subject, [...to.map(() => 'to'), ...bcc.map(() => 'bcc')], [...to, ...bcc]],
  );
  return row.id;
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
});
