import { mailboxWorkflowId } from '../src/temporal/names';
import { statusQuery } from '../workflows';
import { DovecotServer } from './support/dovecot';
import { makeMessage, makeMessages } from './support/messages';
import { dovecotProfile, eventually, TestBed } from './support/testBed';

let bed: TestBed;
let dovecot: DovecotServer;
let profileId: string;

const mailboxRow = async (id: string) =>
  (
    await bed.query<{ incoming_enabled: boolean; incoming_status: string; last_error: string | null; consecutive_errors: number }>(
      `SELECT incoming_enabled, incoming_status, last_error, consecutive_errors FROM mailboxes WHERE id = $1`,
      [id],
    )
  )[0];

const linkCount = async (id: string) =>
  (await bed.query<{ n: number }>(`SELECT count(*)::int AS n FROM item_links WHERE mailbox_id = $1`, [id]))[0].n;

beforeAll(async () => {
  bed = await TestBed.create();
  dovecot = await DovecotServer.start();
  profileId = (
    await bed.admin.createProfile(dovecotProfile('Errors Dovecot', dovecot, { connectionTimeoutSeconds: 2 }))
  ).id;
  await bed.startWorkers();
});

afterAll(async () => {
  await bed?.close();
  await dovecot?.destroy();
});

describe('mail server errors', () => {
  it('disables the mailbox with a readable error after one attempt with a wrong password', async () => {
    const user = 'wrongpass@example.test';
    await dovecot.addUser(user, 'right-password');
    const { id: mailboxId } = await bed.admin.createMailbox({ emailApproved: true, emailAddress: user, profileId, password: 'wrong-password' });
    const row = await eventually('the mailbox disabled', async () => {
      const r = await mailboxRow(mailboxId);
      return r.incoming_enabled ? undefined : r;
    });
    expect(row.incoming_status).toBe('failure');
    expect(row.last_error).toMatch(/^Authentication failed: the mail server rejected the user name or password/);
    const handle = bed.temporal.workflow.getHandle(mailboxWorkflowId(mailboxId));
    await eventually('the workflow parked in error', async () => (await handle.query(statusQuery)).state === 'error');

    // Parked means parked: no more login attempts while nothing changes.
    await new Promise((r) => setTimeout(r, 4000));
    expect(await dovecot.failedLoginCount(user)).toBe(1);
    const errors = await bed.query(`SELECT scope, error_class FROM sync_errors WHERE mailbox_id = $1`, [mailboxId]);
    expect(errors).toEqual([{ scope: 'mailbox', error_class: 'permanent' }]);

    // Fixing the password and enabling brings it back.
    await dovecot.deliver(user, [makeMessage({ to: user, subject: 'Waiting for the fix' })]);
    await bed.admin.updateMailbox(mailboxId, { password: 'right-password' });
    await bed.admin.enableMailbox(mailboxId);
    await eventually('the message after the fix', async () => (await linkCount(mailboxId)) === 1);
    await eventually('the success recorded', async () => (await mailboxRow(mailboxId)).incoming_status === 'success');
    expect(await mailboxRow(mailboxId)).toMatchObject({ incoming_enabled: true, consecutive_errors: 0 });
  });

  it('backs off while the server is down and catches up once it is back', async () => {
    const user = 'outage@example.test';
    await dovecot.addUser(user, 'secret');
    await dovecot.deliver(user, makeMessages(5, { to: user }));
    const { id: mailboxId } = await bed.admin.createMailbox({ emailApproved: true, emailAddress: user, profileId, password: 'secret' });
    await eventually('the first messages', async () => (await linkCount(mailboxId)) === 5);

    await dovecot.stop();
    await bed.admin.syncNow(mailboxId);
    const during = await eventually('transient failures recorded', async () => {
      const r = await mailboxRow(mailboxId);
      return r.consecutive_errors >= 2 ? r : undefined;
    });
    expect(during.incoming_enabled).toBe(true);
    expect(during.last_error).toContain(`Could not reach the mail server ${dovecot.host}:${dovecot.imapPort} (ECONNREFUSED: `);
    const handle = bed.temporal.workflow.getHandle(mailboxWorkflowId(mailboxId));
    const status = await handle.query(statusQuery);
    expect(status.activity.consecutiveErrors).toBeGreaterThanOrEqual(2);
    expect(status.state).not.toBe('error');

    await dovecot.restart();
    await dovecot.deliver(user, makeMessages(3, { to: user }));
    await eventually('the catch-up', async () => (await linkCount(mailboxId)) === 8, 30_000);
    await eventually('the error streak cleared', async () => (await mailboxRow(mailboxId)).consecutive_errors === 0);
    expect(await mailboxRow(mailboxId)).toMatchObject({ incoming_enabled: true, incoming_status: 'success' });
    const transient = await bed.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM sync_errors WHERE mailbox_id = $1 AND error_class = 'transient'`,
      [mailboxId],
    );
    expect(transient[0].n).toBeGreaterThanOrEqual(2);
  });

  it('never disables a mailbox whose server refuses connections, however long: the server is marked unreachable instead', async () => {
    const user = 'neverup@example.test';
    const owner = await bed.admin.createUser({ fullName: 'Never Up', email: 'never-up-owner@crm.test' });
    // A profile pointing at a port where nothing listens: every cycle is refused.
    const { id: deadProfile } = await bed.admin.createProfile({
      name: 'Nothing listens here',
      serverType: 'imap',
      incomingHost: '127.0.0.1',
      incomingPort: 1,
      incomingSecurity: 'none',
      minPollingIntervalSeconds: 1,
    });
    const { id: mailboxId } = await bed.admin.createMailbox({
      emailApproved: true,
      emailAddress: user,
      profileId: deadProfile,
      ownerUserId: owner.id,
      password: 'secret',
    });
    // Well past the ten failures in a row that disable a mailbox failing for its own reasons.
    const row = await eventually('twelve refused cycles', async () => {
      const r = await mailboxRow(mailboxId);
      return r.consecutive_errors >= 12 || !r.incoming_enabled ? r : undefined;
    }, 90_000);
    expect(row).toMatchObject({ incoming_enabled: true, incoming_status: 'not_run' });
    expect(row.last_error).toMatch(/ECONNREFUSED/);
    expect(await bed.admin.listAlerts({}, owner.id)).toEqual([]);
    expect(await bed.admin.listAlerts({ mailboxId })).toEqual([]);
    const serverAlerts = await bed.admin.listAlerts({ profileId: deadProfile });
    expect(serverAlerts).toHaveLength(1);
    expect(serverAlerts[0]).toMatchObject({ level: 'error', scope: 'server_profile', audiences: ['admins'], mailboxId: null });
    expect(serverAlerts[0].message).toMatch(/^Server profile Nothing listens here: the mail server 127\.0\.0\.1:1 cannot be reached/);
    expect(serverAlerts[0].occurrences).toBeGreaterThan(1);
    const [health] = await bed.query<{ unreachable_since: Date | null }>(`SELECT unreachable_since FROM server_health WHERE profile_id = $1`, [deadProfile]);
    expect(health.unreachable_since).not.toBeNull();
    const status = await bed.temporal.workflow.getHandle(mailboxWorkflowId(mailboxId)).query(statusQuery);
    expect(status.state).not.toBe('error');
    await bed.admin.disableMailbox(mailboxId);
  });
});
