import { workflowMetadataQuery } from '@temporalio/workflow';
import { mailboxWorkflowId } from '../src/temporal/names';
import { makeMessages } from './support/messages';
import { dovecotProfile, eventually, useBedWithDovecot } from './support/testBed';

const t = useBedWithDovecot();

const linkCount = async (id: string) =>
  (await t.bed.query<{ n: number }>(`SELECT count(*)::int AS n FROM item_links WHERE mailbox_id = $1`, [id]))[0].n;

it('keeps every mailbox of a server that is down enabled, alerts once at profile level, and resumes them all when it answers', async () => {
  const { bed, dovecot } = t;
  const profileOwner = await bed.admin.createUser({ fullName: 'Profile Owner', email: 'profile-owner@crm.test' });
  // A short time-out: a connection Dovecot accepts while it restarts may never be greeted.
  const profile = await bed.admin.createProfile(dovecotProfile('Outage Dovecot', dovecot, { ownerUserId: profileOwner.id, connectionTimeoutSeconds: 5 }));
  const mailboxes: { id: string; address: string; ownerId: string }[] = [];
  for (const n of [1, 2, 3]) {
    const address = `outage${n}@example.test`;
    await dovecot.addUser(address, 'secret');
    await dovecot.deliver(address, makeMessages(2, { to: address, subject: `Before ${n}` }));
    const owner = await bed.admin.createUser({ fullName: `Owner ${n}`, email: `outage-owner${n}@crm.test` });
    const { id } = await bed.admin.createMailbox({ emailApproved: true, emailAddress: address, profileId: profile.id, ownerUserId: owner.id, password: 'secret' });
    mailboxes.push({ id, address, ownerId: owner.id });
  }
  await eventually('the first messages of every mailbox', async () => {
    for (const m of mailboxes) if ((await linkCount(m.id)) !== 2) return false;
    return true;
  });

  await dovecot.stop();
  for (const m of mailboxes) await bed.admin.syncNow(m.id);
  // More than ten back-off cycles for every mailbox (ten of their own failures would disable one).
  await eventually('eleven refused cycles on every mailbox', async () => {
    const rows = await bed.query<{ consecutive_errors: number }>(`SELECT consecutive_errors FROM mailboxes WHERE profile_id = $1`, [profile.id]);
    return rows.every((r) => r.consecutive_errors >= 11);
  }, 120_000);

  const during = await bed.query<{ incoming_enabled: boolean; incoming_status: string; last_error: string }>(
    `SELECT incoming_enabled, incoming_status, last_error FROM mailboxes WHERE profile_id = $1`,
    [profile.id],
  );
  expect(during.every((r) => r.incoming_enabled && r.incoming_status === 'success' && /ECONNREFUSED/.test(r.last_error))).toBe(true);
  const open = await bed.admin.listAlerts({ profileId: profile.id });
  expect(open).toHaveLength(1);
  expect(open[0]).toMatchObject({
    level: 'error',
    scope: 'server_profile',
    audiences: ['admins', 'profile_owner'],
    userId: profileOwner.id,
    mailboxId: null,
    resolvedAt: null,
  });
  expect(open[0].message).toMatch(/^Server profile Outage Dovecot: the mail server .* cannot be reached/);
  for (const m of mailboxes) expect(await bed.admin.listAlerts({}, m.ownerId)).toEqual([]);
  expect((await bed.admin.listAlerts({}, profileOwner.id)).map((a) => a.id)).toEqual([open[0].id]);
  // Temporal UI's current details say which mailbox it is and why it is not syncing.
  const { currentDetails } = await bed.temporal.workflow.getHandle(mailboxWorkflowId(mailboxes[0].id)).query(workflowMetadataQuery);
  expect(currentDetails).toMatch(/^\*\*outage1@example\.test\*\* \(owner: Owner 1\)\n- State: (idle|syncing)\n- Last error: Could not reach .*ECONNREFUSED/);
  const summary = await bed.admin.dashboardSummary();
  expect(summary.mailboxesByState.server_unreachable).toBe(3);
  expect(summary.alerts.filter((a) => a.profileId === profile.id).map((a) => a.id)).toEqual([open[0].id]);

  await dovecot.restart();
  for (const m of mailboxes) await dovecot.deliver(m.address, makeMessages(3, { to: m.address, subject: 'After the outage' }));
  await eventually('every mailbox caught up', async () => {
    for (const m of mailboxes) if ((await linkCount(m.id)) !== 5) return false;
    return true;
  }, 90_000);

  await eventually('the alert resolved', async () => (await bed.admin.listAlerts({ profileId: profile.id })).length === 0);
  const resolved = await bed.admin.listAlerts({ profileId: profile.id, status: 'resolved' });
  expect(resolved.map((a) => a.id)).toEqual([open[0].id]);
  expect(resolved[0].occurrences).toBeGreaterThan(1);
  const [health] = await bed.query<{ unreachable_since: Date | null }>(`SELECT unreachable_since FROM server_health WHERE profile_id = $1`, [profile.id]);
  expect(health.unreachable_since).toBeNull();
  await eventually('every error cleared', async () => {
    const rows = await bed.query<{ consecutive_errors: number; last_error: string | null; last_error_at: Date | null; incoming_enabled: boolean }>(
      `SELECT consecutive_errors, last_error, last_error_at, incoming_enabled FROM mailboxes WHERE profile_id = $1`,
      [profile.id],
    );
    return rows.every((r) => r.consecutive_errors === 0 && r.last_error === null && r.last_error_at === null && r.incoming_enabled);
  });
});
