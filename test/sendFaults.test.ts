import { DovecotServer } from './support/dovecot';
import { makeMessage } from './support/messages';
import { PostfixServer } from './support/postfix';
import { dovecotProfile, eventually, TestBed } from './support/testBed';

// Sending against a real Postfix delivering into Dovecot, with the faults an SMTP server has.
let bed: TestBed;
let dovecot: DovecotServer;
let postfix: PostfixServer;
let profileId: string;
let alice: { userId: string; mailboxId: string };
const ALICE = 'alice@example.test';

interface EmailRow {
  status: string;
  send_attempts: number;
  send_error: string | null;
  message_id: string | null;
  smtp_accepted_at: Date | null;
}

async function emailRow(id: string): Promise<EmailRow> {
  return (
    await bed.query<EmailRow & Record<string, unknown>>(
      `SELECT status, send_attempts, send_error, message_id, smtp_accepted_at FROM email_activities WHERE id = $1`,
      [id],
    )
  )[0];
}

/** What the CRM's send button writes: the email and its recipients, in one statement (one transaction). */
async function queueEmail(ownerUserId: string, subject: string, to: string[]): Promise<string> {
  const [row] = await bed.query<{ id: string }>(
    `WITH e AS (INSERT INTO email_activities (direction, status, owner_user_id, subject, body_text, queued_at)
                VALUES ('outgoing', 'pending_send', $1, $2, 'Sent from the CRM', now()) RETURNING id),
          p AS (INSERT INTO email_parties (email_activity_id, role, address) SELECT e.id, 'to', unnest($3::text[]) FROM e)
     SELECT id FROM e`,
    [ownerUserId, subject, to],
  );
  return row.id;
}

async function createSender(address: string, password: string, profile: string): Promise<{ userId: string; mailboxId: string }> {
  const userId = (await bed.admin.createUser({ fullName: address.split('@')[0], email: address })).id;
  const mailbox = await bed.admin.createMailbox({ emailAddress: address, profileId: profile, ownerUserId: userId, password, emailApproved: true });
  const tested = await bed.admin.testAndEnable(mailbox.id);
  expect(tested.outgoingEnabled).toBe(true);
  return { userId, mailboxId: mailbox.id };
}

beforeAll(async () => {
  bed = await TestBed.create({ SEND_RETRY_FIRST_SECONDS: '0.5', SEND_RETRY_MAX_SECONDS: '1', SEND_SWEEP_SECONDS: '600' });
  dovecot = await DovecotServer.start({ name: 'send-faults', authListener: true });
  postfix = await PostfixServer.start({ dovecot, name: 'send-faults' });
  for (const user of [ALICE, 'bob@example.test', 'carol@example.test']) await dovecot.addUser(user, 'secret');
  profileId = (
    await bed.admin.createProfile(dovecotProfile('Dovecot and Postfix', dovecot, { outgoingHost: postfix.host, outgoingPort: postfix.port, outgoingSecurity: 'none' }))
  ).id;
  await bed.startWorkers();
  alice = await createSender(ALICE, 'secret', profileId);
});

afterAll(async () => {
  await bed?.close();
  await postfix?.stop();
  await dovecot?.destroy();
});

describe('SMTP faults while sending', () => {
  it('retries a temporary 4xx reply, then sends', async () => {
    await postfix.deferRecipient('bob@example.test', 2);
    const id = await queueEmail(alice.userId, 'Deferred twice', ['bob@example.test']);
    const sent = await eventually('the email sent after its deferrals', async () => {
      const row = await emailRow(id);
      return row.status === 'sent' && row;
    });
    expect(sent.send_attempts).toBe(3);
    expect(postfix.rcptAttempts('bob@example.test')).toBe(3);
    await postfix.waitForMessage('bob@example.test', sent.message_id!);
  });

  it('fails a rejected recipient at once with the server reason, and alerts the sender', async () => {
    await postfix.rejectRecipient('nobody@example.test');
    const id = await queueEmail(alice.userId, 'To nobody', ['nobody@example.test']);
    const failed = await eventually('the email failed', async () => {
      const row = await emailRow(id);
      return row.status === 'failed' && row;
    });
    expect(failed.send_attempts).toBe(1);
    expect(failed.send_error).toMatch(/550 5\.1\.1 <nobody@example\.test>: Recipient address rejected: No such user here/);
    const alerts = await bed.query<{ message: string; user_id: string; audiences: string[] }>(
      `SELECT message, user_id, audiences FROM alerts WHERE scope = 'email_item' AND mailbox_id = $1`,
      [alice.mailboxId],
    );
    expect(alerts).toEqual([
      { message: expect.stringMatching(/^The email "To nobody CRM:0\d{6}" was not sent: The SMTP server refused every recipient: 550 5.1.1 .*No such user here/), user_id: alice.userId, audiences: ['mailbox_owner'] },
    ]);
    // The direction works: one bad recipient is the email's fault, not the mailbox's.
    const [mailbox] = await bed.query<{ outgoing_enabled: boolean }>(`SELECT outgoing_enabled FROM mailboxes WHERE id = $1`, [alice.mailboxId]);
    expect(mailbox.outgoing_enabled).toBe(true);
  });

  it('fails at once an email the CRM queued without any recipient, saying what to do', async () => {
    const id = await queueEmail(alice.userId, 'To no one', []);
    const failed = await eventually('the email failed', async () => {
      const row = await emailRow(id);
      return row.status === 'failed' && row;
    });
    expect(failed.send_error).toBe('The email has no recipients (to, cc or bcc with an address): add them and queue it again');
    expect(failed.smtp_accepted_at).toBeNull();
  });

  it('backs off while the SMTP server is down, then sends', async () => {
    await postfix.stopSmtp();
    let id: string;
    try {
      id = await queueEmail(alice.userId, 'While the server is down', ['carol@example.test']);
      // One statement reads both: the loop retries every 0.5-1 s and marks the email `sending` while it
      // tries, so the email is seen waiting between two attempts, after one has failed.
      const failing = await eventually('the sending loop failing to connect, the email waiting', async () => {
        const [row] = await bed.query<EmailRow & Record<string, unknown> & { outgoing_enabled: boolean; outgoing_status: string; outgoing_test_message: string }>(
          `SELECT m.outgoing_enabled, m.outgoing_status, m.outgoing_test_message, e.status, e.send_attempts, e.send_error, e.message_id, e.smtp_accepted_at
             FROM mailboxes m, email_activities e WHERE m.id = $1 AND e.id = $2`,
          [alice.mailboxId, id],
        );
        return row.outgoing_status === 'failure' && row.status === 'pending_send' && row;
      });
      expect(failing.outgoing_enabled).toBe(true);
      expect(failing.outgoing_test_message).toMatch(new RegExp(`could not be reached.*${postfix.port}.*the emails wait`));
      expect(failing).toMatchObject({ send_attempts: 0, smtp_accepted_at: null });
    } finally {
      await postfix.startSmtp();
    }
    const sent = await eventually('the email sent once the server is back', async () => {
      const row = await emailRow(id);
      return row.status === 'sent' && row;
    });
    await postfix.waitForMessage('carol@example.test', sent.message_id!);
    const [mailbox] = await bed.query<{ outgoing_enabled: boolean; outgoing_status: string }>(
      `SELECT outgoing_enabled, outgoing_status FROM mailboxes WHERE id = $1`,
      [alice.mailboxId],
    );
    expect(mailbox).toEqual({ outgoing_enabled: true, outgoing_status: 'success' });
  });

  it('disables outgoing only when the SMTP server refuses the password; the email waits and goes once fixed', async () => {
    // The SMTP server checks passwords against another Dovecot, which knows dave by another password.
    const otherAuth = await DovecotServer.start({ name: 'send-faults-auth', authListener: true });
    const otherSmtp = await PostfixServer.start({ dovecot: otherAuth, name: 'send-faults-other' });
    try {
      const dave = 'dave@example.test';
      await dovecot.addUser(dave, 'secret');
      await otherAuth.addUser(dave, 'something-else');
      const mismatched = (
        await bed.admin.createProfile(
          dovecotProfile('SMTP with other passwords', dovecot, { outgoingHost: otherSmtp.host, outgoingPort: otherSmtp.port, outgoingSecurity: 'none' }),
        )
      ).id;
      const userId = (await bed.admin.createUser({ fullName: 'Dave', email: dave })).id;
      const { id: mailboxId } = await bed.admin.createMailbox({ emailAddress: dave, profileId: mismatched, ownerUserId: userId, password: 'secret', emailApproved: true });
      // Enabled as if an earlier test had passed: the password changed on the SMTP side since.
      await bed.query(`UPDATE mailboxes SET outgoing_enabled = true WHERE id = $1`, [mailboxId]);
      const id = await queueEmail(userId, 'Wrong SMTP password', ['bob@example.test']);

      const disabled = await eventually('outgoing disabled', async () => {
        const [m] = await bed.query<{ outgoing_enabled: boolean; outgoing_status: string; outgoing_test_message: string; incoming_enabled: boolean }>(
          `SELECT outgoing_enabled, outgoing_status, outgoing_test_message, incoming_enabled FROM mailboxes WHERE id = $1`,
          [mailboxId],
        );
        return !m.outgoing_enabled && m;
      });
      expect(disabled.outgoing_status).toBe('failure');
      expect(disabled.outgoing_test_message).toMatch(/rejected the mailbox's credentials.*535/);
      expect(disabled.incoming_enabled).toBe(true);
      const [alert] = await bed.query<{ condition_key: string; level: string; message: string }>(
        `SELECT condition_key, level, message FROM alerts WHERE mailbox_id = $1 AND resolved_at IS NULL`,
        [mailboxId],
      );
      expect(alert).toMatchObject({ condition_key: 'outgoing_failure', level: 'error', message: expect.stringContaining('run Test & Enable') });
      expect(await emailRow(id)).toMatchObject({ status: 'pending_send', smtp_accepted_at: null });

      // Incoming goes on: a message delivered to dave is synced while outgoing is disabled.
      await dovecot.deliver(dave, [makeMessage({ to: dave, subject: 'Still arriving' })]);
      await eventually('incoming sync going on', async () =>
        (await bed.query(`SELECT 1 FROM item_links WHERE mailbox_id = $1`, [mailboxId])).length === 1,
      );

      // The admin points the profile at the right SMTP server and runs Test & Enable: the email goes.
      await bed.admin.updateProfile(mismatched, { outgoingHost: postfix.host, outgoingPort: postfix.port });
      const tested = await bed.admin.testAndEnable(mailboxId);
      expect(tested.outgoingEnabled).toBe(true);
      const sent = await eventually('the waiting email sent', async () => {
        const row = await emailRow(id);
        return row.status === 'sent' && row;
      });
      await postfix.waitForMessage('bob@example.test', sent.message_id!);
      expect(await bed.query(`SELECT 1 FROM alerts WHERE mailbox_id = $1 AND condition_key = 'outgoing_failure' AND resolved_at IS NULL`, [mailboxId])).toEqual([]);
    } finally {
      await otherSmtp.stop();
      await otherAuth.destroy();
    }
  });
});
