import { makeMessages } from './support/messages';
import { dovecotProfile, eventually, useBedWithDovecot } from './support/testBed';

const t = useBedWithDovecot();

it('resyncs a folder whose UIDVALIDITY changed without duplicating or losing anything', async () => {
  const user = 'uv@example.test';
  await t.dovecot.addUser(user, 'secret');
  await t.dovecot.deliver(user, makeMessages(20, { to: user }));
  const { id: profileId } = await t.bed.admin.createProfile(dovecotProfile('UV Dovecot', t.dovecot));
  const { id: mailboxId } = await t.bed.admin.createMailbox({ emailApproved: true, emailAddress: user, profileId, password: 'secret' });
  const links = () => t.bed.query<{ remote_id: string; subject: string }>(
    `SELECT l.remote_id, e.subject FROM item_links l JOIN email_activities e ON e.id = l.crm_record_id WHERE l.mailbox_id = $1`,
    [mailboxId],
  );
  await eventually('the first 20', async () => (await links()).length === 20);
  const [before] = await t.bed.query<{ uv: string }>(`SELECT cursor->>'uidValidity' AS uv FROM folder_cursors WHERE mailbox_id = $1`, [mailboxId]);

  await t.dovecot.resetInboxUidValidity(user);
  await t.dovecot.deliver(user, makeMessages(5, { to: user }));
  await t.bed.admin.syncNow(mailboxId);

  const after = await eventually('the folder resynced under its new UIDVALIDITY', async () => {
    const [c] = await t.bed.query<{ uv: string }>(`SELECT cursor->>'uidValidity' AS uv FROM folder_cursors WHERE mailbox_id = $1`, [mailboxId]);
    const l = await links();
    return c.uv !== before.uv && l.length === 25 ? { uv: c.uv, links: l } : undefined;
  });
  // Every link now names the new identity, and each message is one activity.
  expect(after.links.every((l) => l.remote_id.startsWith(`${after.uv}:`))).toBe(true);
  expect(new Set(after.links.map((l) => l.subject)).size).toBe(25);
  const [{ n }] = await t.bed.query<{ n: number }>(`SELECT count(*)::int AS n FROM email_activities`);
  expect(n).toBe(25);
});
