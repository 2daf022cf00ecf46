import { readFileSync } from 'node:fs';
import { corpusFiles } from './support/corpus';
import { eventually, useBedWithDovecot } from './support/testBed';


const t = useBedWithDovecot();

it('turns every real-world message into an email activity or an item-level error, and keeps the mailbox enabled', async () => {
  const files = corpusFiles();
  const user = 'hostile@example.test';
  await t.dovecot.addUser(user, 'secret');
  // APPEND stores each file byte for byte, as the server received it.
  await t.dovecot.append(user, 'secret', files.map((f) => readFileSync(f)));

  const { id: profileId } = await t.bed.admin.createProfile({
    name: 'Hostile Dovecot',
    serverType: 'imap',
    incomingHost: t.dovecot.host,
    incomingPort: t.dovecot.imapPort,
    incomingSecurity: 'none',
    minPollingIntervalSeconds: 1,
    // Low enough that the corpus' largest messages exercise the size limit (the rest of it stays under).
    maxMessageBytes: 10_000,
  });
  const { id: mailboxId } = await t.bed.admin.createMailbox({ emailApproved: true, emailAddress: user, profileId, password: 'secret' });

  const outcome = await eventually('every message accounted for', async () => {
    const [r] = await t.bed.query<{ stored: number; failed: number; uid: number | null; cycle_done: boolean }>(
      `SELECT (SELECT count(*) FROM item_links WHERE mailbox_id = $1)::int AS stored,
              (SELECT count(*) FROM sync_errors WHERE mailbox_id = $1 AND scope = 'item')::int AS failed,
              (SELECT (cursor->>'lastUid')::int FROM folder_cursors WHERE mailbox_id = $1) AS uid,
              (SELECT last_sync_completed_at IS NOT NULL FROM mailboxes WHERE id = $1) AS cycle_done`,
      [mailboxId],
    );
    // The cursor commits with the last batch; the cycle's outcome is recorded just after it.
    return r.uid === files.length && r.cycle_done ? r : undefined;
  });
  expect(outcome.stored + outcome.failed).toBe(files.length);
  expect(outcome.stored).toBeGreaterThan(files.length / 2);
  const errors = await t.bed.query<{ message: string }>(`SELECT message FROM sync_errors WHERE mailbox_id = $1 AND scope = 'item'`, [mailboxId]);
  for (const e of errors) expect(e.message).toMatch(/^(Message is \d+ bytes, over the profile's limit|Message could not be (parsed|stored))/);
  const [mailbox] = await t.bed.query(`SELECT incoming_enabled, incoming_status FROM mailboxes WHERE id = $1`, [mailboxId]);
  expect(mailbox).toEqual({ incoming_enabled: true, incoming_status: 'success' });
});
