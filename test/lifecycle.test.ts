import { AdminError, ConflictError } from '../src/admin/errors';
import { mailboxWorkflowId } from '../src/temporal/names';
import { statusQuery } from '../workflows';
import { DovecotServer } from './support/dovecot';
import { makeMessage, makeMessages } from './support/messages';
import { SmtpSink } from './support/smtpSink';
import { dovecotProfile, eventually, TestBed } from './support/testBed';

let bed: TestBed;
let dovecot: DovecotServer;
let smtp: SmtpSink;
let profileId: string;
let smtpProfileId: string;

const links = (mailboxId: string) =>
  bed.query<{ owner_user_id: string | null; subject: string; created_at: Date }>(
    `SELECT l.owner_user_id, e.subject, l.created_at FROM item_links l JOIN email_activities e ON e.id = l.crm_record_id WHERE l.mailbox_id = $1`,
    [mailboxId],
  );

async function newUser(name: string) {
  return bed.admin.createUser({ fullName: name, email: `${name.toLowerCase()}-${Math.random().toString(36).slice(2, 8)}@crm.test` });
}

async function runningRuns(mailboxId: string): Promise<{ runId: string; crmUserId: unknown }[]> {
  const runs: { runId: string; crmUserId: unknown }[] = [];
  for await (const wf of bed.temporal.workflow.list({ query: `MailboxId = "${mailboxId}" AND ExecutionStatus = "Running"` })) {
    runs.push({ runId: wf.runId, crmUserId: wf.searchAttributes.CrmUserId?.[0] });
  }
  return runs;
}

beforeAll(async () => {
  bed = await TestBed.create();
  dovecot = await DovecotServer.start();
  smtp = await SmtpSink.start({ users: { 'tested@example.test': 'right' } });
  const base = { serverType: 'imap' as const, incomingHost: dovecot.host, incomingPort: dovecot.imapPort, incomingSecurity: 'none' as const };
  profileId = (await bed.admin.createProfile({ ...base, name: 'Lifecycle Dovecot', minPollingIntervalSeconds: 1 })).id;
  smtpProfileId = (
    await bed.admin.createProfile({
      ...base,
      name: 'Dovecot with SMTP',
      minPollingIntervalSeconds: 1,
      outgoingHost: smtp.host,
      outgoingPort: smtp.port,
      outgoingSecurity: 'none',
    })
  ).id;
  await bed.startWorkers();
});

afterAll(async () => {
  await bed?.close();
  await smtp?.close();
  await dovecot?.destroy();
});

describe('mapping', () => {
  it('asks before taking a mailbox from its user, then moves the sync to the new user', async () => {
    const address = 'shared-desk@example.test';
    await dovecot.addUser(address, 'secret');
    const [olga, pavel] = [await newUser('Olga'), await newUser('Pavel')];
    await dovecot.deliver(address, makeMessages(3, { to: address, subject: 'Before remap' }));
    const mailbox = await bed.admin.createMailbox({ emailApproved: true, emailAddress: address, profileId, ownerUserId: olga.id, password: 'secret' });
    await eventually('the first messages, for Olga', async () => (await links(mailbox.id)).length === 3);
    const firstRun = (await bed.temporal.workflow.getHandle(mailboxWorkflowId(mailbox.id)).describe()).runId;

    const conflict = await bed.admin.mapMailbox(mailbox.id, { userId: pavel.id }).catch((e: unknown) => e);
    expect(conflict).toBeInstanceOf(ConflictError);
    expect((conflict as ConflictError).message).toMatch(new RegExp(`already mapped to Olga <${olga.email}>; map it to this user instead\\?`));
    expect((conflict as ConflictError).details).toMatchObject({
      currentUser: { id: olga.id, fullName: 'Olga', email: olga.email },
      confirmWith: { userId: pavel.id, confirm: true, expectedMappingVersion: 0 },
    });
    expect((await bed.admin.getMailbox(mailbox.id)).ownerUserId).toBe(olga.id);

    const remappedAt = new Date();
    const remapped = await bed.admin.mapMailbox(mailbox.id, { userId: pavel.id, confirm: true, expectedMappingVersion: 0 });
    expect(remapped).toMatchObject({ ownerUserId: pavel.id, mappingVersion: 1 });
    await dovecot.deliver(address, makeMessages(2, { to: address, subject: 'After remap' }));

    const all = await eventually('the new messages, for Pavel', async () => {
      const l = await links(mailbox.id);
      return l.length === 5 ? l : undefined;
    });
    expect(all.filter((l) => l.subject.startsWith('After remap')).every((l) => l.owner_user_id === pavel.id)).toBe(true);
    expect(all.filter((l) => l.owner_user_id === olga.id).every((l) => l.created_at < remappedAt)).toBe(true);
    // The old run ended; one run now syncs, for Pavel.
    const runs = await eventually('the new run published', async () => {
      const r = await runningRuns(mailbox.id);
      return r.length === 1 && r[0].crmUserId === pavel.id ? r : undefined;
    });
    expect(runs[0].runId).not.toBe(firstRun);
  });

  it('lets exactly one of 20 concurrent remaps win, leaving one mapping and one running sync', async () => {
    const address = 'contested@example.test';
    await dovecot.addUser(address, 'secret');
    const holder = await newUser('Holder');
    const mailbox = await bed.admin.createMailbox({ emailApproved: true, emailAddress: address, profileId, ownerUserId: holder.id, password: 'secret' });
    const contenders = await Promise.all(Array.from({ length: 20 }, (_, i) => newUser(`Contender${i}`)));

    const results = await Promise.allSettled(
      contenders.map((u) => bed.admin.mapMailbox(mailbox.id, { userId: u.id, confirm: true, expectedMappingVersion: mailbox.mappingVersion })),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost.every((r) => r.reason instanceof ConflictError)).toBe(true);
    const winner = (won[0] as PromiseFulfilledResult<{ ownerUserId: string }>).value.ownerUserId;

    const [row] = await bed.query<{ owner_user_id: string; mapping_version: number }>(
      `SELECT owner_user_id, mapping_version FROM mailboxes WHERE id = $1`,
      [mailbox.id],
    );
    expect(row).toEqual({ owner_user_id: winner, mapping_version: 1 });
    const [{ n }] = await bed.query<{ n: number }>(`SELECT count(*)::int AS n FROM mailboxes WHERE owner_user_id = ANY($1)`, [
      contenders.map((c) => c.id),
    ]);
    expect(n).toBe(1);
    await eventually('one running sync, for the winner', async () => {
      const r = await runningRuns(mailbox.id);
      return r.length === 1 && r[0].crmUserId === winner;
    });
  });

  it('refuses to give a user a second mailbox', async () => {
    const user = await newUser('Twice');
    await bed.admin.createMailbox({ emailApproved: true, emailAddress: 'first-of-two@example.test', profileId, ownerUserId: user.id, password: 'x', incomingEnabled: false });
    const second = await bed.admin.createMailbox({ emailAddress: 'second-of-two@example.test', profileId, password: 'x', incomingEnabled: false });
    await expect(bed.admin.mapMailbox(second.id, { userId: user.id })).rejects.toThrow(/already holds mailbox first-of-two@example.test/);
    await expect(bed.query(`UPDATE mailboxes SET owner_user_id = $1 WHERE id = $2`, [user.id, second.id])).rejects.toThrow(
      /mailboxes_owner_user_id_key/,
    );
  });
});

describe('enable, disable, Test & Enable', () => {
  it('opens no connection after disable', async () => {
    const address = 'quiet@example.test';
    await dovecot.addUser(address, 'secret');
    const mailbox = await bed.admin.createMailbox({ emailApproved: true, emailAddress: address, profileId, password: 'secret' });
    await eventually('a few cycles', async () => (await dovecot.loginCount(address)) >= 2, 30_000);

    const { workflow } = await bed.admin.disableMailbox(mailbox.id);
    expect(workflow?.state).toBe('disabled');
    const loginsAtDisable = await dovecot.loginCount(address);
    // Sync now on a disabled mailbox is refused, not silently dropped.
    await expect(bed.admin.syncNow(mailbox.id)).rejects.toThrow(/is disabled/);
    await new Promise((r) => setTimeout(r, 6000)); // two default intervals of the test configuration
    expect(await dovecot.loginCount(address)).toBe(loginsAtDisable);
    expect(await bed.admin.liveStatus(mailbox.id)).toMatchObject({ state: 'disabled', nextSyncAt: null });
  });

  it('fails Test & Enable with bad credentials, then enables once they are fixed', async () => {
    const address = 'tested@example.test';
    await dovecot.addUser(address, 'right');
    await dovecot.deliver(address, [makeMessage({ to: address, subject: 'Waiting for Test & Enable' })]);
    const mailbox = await bed.admin.createMailbox({
      emailApproved: true,
      emailAddress: address,
      profileId: smtpProfileId,
      password: 'wrong',
      incomingEnabled: false,
    });

    const failed = await bed.admin.testAndEnable(mailbox.id);
    expect(failed.incoming).toMatchObject({ status: 'failure' });
    expect(failed.incoming.message).toMatch(/^Authentication failed/);
    expect(failed.incomingEnabled).toBe(false);
    expect((await bed.admin.getMailbox(mailbox.id)).incoming).toMatchObject({ enabled: false, status: 'failure' });
    expect((await bed.admin.getMailbox(mailbox.id)).statistics.nextSyncAt).toBeNull();

    await bed.admin.updateMailbox(mailbox.id, { password: 'right' });
    const passed = await bed.admin.testAndEnable(mailbox.id);
    expect(passed.incoming.status).toBe('success');
    expect(passed.items.status).toBe('not_run');
    expect(passed.incomingEnabled).toBe(true);
    const view = await bed.admin.getMailbox(mailbox.id);
    expect(view.incoming).toMatchObject({ enabled: true, status: 'success' });
    expect(view.incoming.statusAt).not.toBeNull();
    await eventually('the waiting message synced', async () => (await links(mailbox.id)).length === 1);
  });

  it('leaves an enabled mailbox enabled when Test & Enable fails transiently (a host that does not resolve)', async () => {
    const { id: unresolvable } = await bed.admin.createProfile({
      name: 'Unresolvable host',
      serverType: 'imap',
      incomingHost: 'nonexistent.invalid',
      incomingPort: 143,
      incomingSecurity: 'none',
      minPollingIntervalSeconds: 1,
      connectionTimeoutSeconds: 5,
    });
    const mailbox = await bed.admin.createMailbox({ emailApproved: true, emailAddress: 'unresolvable@example.test', profileId: unresolvable, password: 'x' });
    await eventually('a failed cycle', async () => (await bed.admin.getMailbox(mailbox.id)).statistics.consecutiveErrors >= 1);

    const result = await bed.admin.testAndEnable(mailbox.id);
    expect(result.incoming).toMatchObject({ status: 'failure', errorClass: 'transient' });
    expect(result.incomingEnabled).toBe(true);
    const view = await bed.admin.getMailbox(mailbox.id);
    expect(view.incoming).toMatchObject({ enabled: true, status: 'failure' });
    expect(view.incoming.statusAt).not.toBeNull();
    // Still enabled, so it goes on backing off (and is never disabled: the host is the server's fault).
    await eventually('another failed cycle after the test', async () => (await bed.admin.getMailbox(mailbox.id)).statistics.consecutiveErrors >= 3);
    expect((await bed.admin.getMailbox(mailbox.id)).incoming.enabled).toBe(true);
    await bed.admin.disableMailbox(mailbox.id);
    expect((await bed.admin.getMailbox(mailbox.id)).statistics.nextSyncAt).toBeNull();
  });

  it('does not enable an unapproved address until it is approved', async () => {
    const address = 'unapproved@example.test';
    await dovecot.addUser(address, 'secret');
    const mailbox = await bed.admin.createMailbox({ emailAddress: address, profileId, password: 'secret' });
    await eventually('the workflow parked', async () => (await bed.admin.liveStatus(mailbox.id))?.state === 'disabled');
    expect(await dovecot.loginCount(address)).toBe(0);

    const untested = await bed.admin.testAndEnable(mailbox.id);
    expect(untested.incoming.status).toBe('success');
    expect(untested.incomingEnabled).toBe(false);
    // Waiting for approval, the mailbox plans no sync: no next-sync time, stale or not.
    expect((await bed.admin.getMailbox(mailbox.id)).statistics.nextSyncAt).toBeNull();
    const alerts = await bed.admin.listAlerts({ mailboxId: mailbox.id });
    expect(alerts.map((a) => a.message)).toContain(`Mailbox ${address} was tested but is not enabled: its email address is not approved`);

    await bed.admin.approveMailbox(mailbox.id);
    const resolved = await bed.admin.listAlerts({ mailboxId: mailbox.id, status: 'resolved' });
    expect(resolved.map((a) => a.message)).toContain(`Mailbox ${address} was tested but is not enabled: its email address is not approved`);
    expect((await bed.admin.testAndEnable(mailbox.id)).incomingEnabled).toBe(true);
    await eventually('syncing', async () => (await bed.admin.liveStatus(mailbox.id))?.lastOutcome?.status === 'synced');
  });
});

describe('alerts and statistics', () => {
  it('raises an error alert and disables the mailbox on a permanent error, and a profile alert when most mailboxes fail', async () => {
    const profile = await bed.admin.createProfile(dovecotProfile('Mostly failing', dovecot));
    const owner = await newUser('Owner');
    const ok = 'fine@example.test';
    await dovecot.addUser(ok, 'secret');
    await dovecot.addUser('broken1@example.test', 'secret');
    await dovecot.addUser('broken2@example.test', 'secret');
    await bed.admin.createMailbox({ emailApproved: true, emailAddress: ok, profileId: profile.id, password: 'secret' });
    const broken = await bed.admin.createMailbox({ emailApproved: true, emailAddress: 'broken1@example.test', profileId: profile.id, ownerUserId: owner.id, password: 'bad' });
    await eventually('the first broken mailbox disabled', async () => !(await bed.admin.getMailbox(broken.id)).incoming.enabled);

    // One alert, for both the owner and the admins.
    const mailboxAlerts = await bed.admin.listAlerts({ mailboxId: broken.id });
    expect(mailboxAlerts).toHaveLength(1);
    expect(mailboxAlerts[0]).toMatchObject({
      level: 'error',
      scope: 'mailbox',
      audiences: ['mailbox_owner', 'admins'],
      userId: owner.id,
      occurrences: 1,
      resolvedAt: null,
      message: expect.stringMatching(/^Mailbox broken1@example.test: Authentication failed/),
    });
    // Only what is addressed to the owner reaches the owner.
    const ownersAlerts = await bed.admin.listAlerts({}, owner.id);
    expect(ownersAlerts.map((a) => a.id)).toEqual([mailboxAlerts[0].id]);
    // One of three failing is not "most": no profile alert yet.
    expect(await bed.admin.listAlerts({ profileId: profile.id, limit: 100 }).then((a) => a.filter((x) => x.scope === 'server_profile'))).toEqual([]);

    const broken2 = await bed.admin.createMailbox({ emailApproved: true, emailAddress: 'broken2@example.test', profileId: profile.id, password: 'bad' });
    await eventually('the second broken mailbox disabled', async () => !(await bed.admin.getMailbox(broken2.id)).incoming.enabled);
    // The ownerless mailbox's alert is the admins' only; the profile has no owner, so its alert is the admins' too.
    expect((await bed.admin.listAlerts({ mailboxId: broken2.id }))[0]).toMatchObject({ audiences: ['admins'], userId: null });
    const profileAlerts = (await bed.admin.listAlerts({ profileId: profile.id })).filter((a) => a.scope === 'server_profile');
    expect(profileAlerts).toHaveLength(1);
    expect(profileAlerts[0]).toMatchObject({ audiences: ['admins'], userId: null });
    expect(profileAlerts[0].message).toMatch(/^Server profile Mostly failing: 2 of its 3 mailboxes are failing to sync/);
    const [{ n: addressedToNobody }] = await bed.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM alerts WHERE cardinality(audiences) = 0 OR (user_id IS NULL AND audiences && ARRAY['mailbox_owner', 'profile_owner'])`,
    );
    expect(addressedToNobody).toBe(0);

    const stats = (await bed.admin.getMailbox(broken.id)).statistics;
    expect(stats).toMatchObject({ consecutiveErrors: 1, nextSyncAt: null, lastError: expect.stringMatching(/^Authentication failed/) });
    expect(stats.lastSyncStartedAt).not.toBeNull();

    // Fixed, the mailbox syncs again: its alert is resolved (and kept), the error cleared with its time.
    await dovecot.setPassword('broken1@example.test', 'bad');
    await bed.admin.enableMailbox(broken.id);
    const recovered = await eventually('the fixed mailbox synced', async () => {
      const v = await bed.admin.getMailbox(broken.id);
      return v.incoming.status === 'success' ? v : undefined;
    });
    expect(recovered.statistics).toMatchObject({ consecutiveErrors: 0, lastError: null, lastErrorAt: null });
    expect(recovered.incoming.statusAt).not.toBeNull();
    expect(await bed.admin.listAlerts({ mailboxId: broken.id })).toEqual([]);
    const resolved = await bed.admin.listAlerts({ mailboxId: broken.id, status: 'resolved' });
    expect(resolved.map((a) => a.id)).toEqual([mailboxAlerts[0].id]);
    expect(resolved[0].resolvedAt).not.toBeNull();
    expect((await bed.admin.listAlerts({ mailboxId: broken.id, status: 'all' })).map((a) => a.id)).toEqual([mailboxAlerts[0].id]);
    // One of three failing again: the profile's alert is resolved too.
    expect((await bed.admin.listAlerts({ profileId: profile.id, status: 'resolved' })).map((a) => a.id)).toContain(profileAlerts[0].id);
  });

  it('raises one alert per message that could not be synced, for the owner (the admins when there is none)', async () => {
    const profile = await bed.admin.createProfile(dovecotProfile('Tiny messages only', dovecot, { maxMessageBytes: 100 }));
    const owner = await newUser('Itemowner');
    const views: { id: string }[] = [];
    for (const [address, ownerUserId] of [['too-big-owned@example.test', owner.id], ['too-big-ownerless@example.test', undefined]] as const) {
      await dovecot.addUser(address, 'secret');
      await dovecot.deliver(address, makeMessages(2, { to: address }));
      views.push(await bed.admin.createMailbox({ emailApproved: true, emailAddress: address, profileId: profile.id, ownerUserId, password: 'secret' }));
    }
    const itemAlerts = async (mailboxId: string) => (await bed.admin.listAlerts({ mailboxId })).filter((a) => a.scope === 'email_item');
    await eventually('two item alerts on each mailbox', async () => (await itemAlerts(views[0].id)).length === 2 && (await itemAlerts(views[1].id)).length === 2);
    expect((await itemAlerts(views[0].id)).map((a) => [a.audiences, a.userId, a.level])).toEqual([
      [['mailbox_owner'], owner.id, 'warning'],
      [['mailbox_owner'], owner.id, 'warning'],
    ]);
    expect((await itemAlerts(views[1].id)).map((a) => [a.audiences, a.userId])).toEqual([
      [['admins'], null],
      [['admins'], null],
    ]);
    expect((await bed.admin.getMailbox(views[0].id)).incoming).toMatchObject({ enabled: true, status: 'success' });
  });

  it('reports per-mailbox statistics and finds mailboxes by state through Temporal search attributes', async () => {
    const profile = await bed.admin.createProfile(dovecotProfile('Searchable', dovecot));
    const ids: string[] = [];
    for (const n of [1, 2, 3, 4]) {
      const address = `search${n}@example.test`;
      await dovecot.addUser(address, 'secret');
      await dovecot.deliver(address, makeMessages(n, { to: address }));
      ids.push((await bed.admin.createMailbox({ emailApproved: true, emailAddress: address, profileId: profile.id, password: 'secret' })).id);
    }
    await eventually('all synced', async () => {
      const views = await Promise.all(ids.map((id) => bed.admin.getMailbox(id)));
      return views.every((v) => v.statistics.lastSuccessAt !== null);
    });
    const first = await bed.admin.getMailbox(ids[3]);
    expect(first.statistics).toMatchObject({ itemsProcessedLastCycle: expect.any(Number), itemsFailedLastCycle: 0, consecutiveErrors: 0 });
    expect(first.statistics.nextSyncAt).not.toBeNull();
    // One figure, one representation: the workflow's live status and the statistics agree.
    const agreed = await eventually('the live status and the statistics of one cycle', async () => {
      const live = await bed.admin.liveStatus(ids[3]);
      const stats = (await bed.admin.getMailbox(ids[3])).statistics;
      return live?.state === 'idle' && live.nextSyncAt === stats.nextSyncAt?.toISOString() ? { live, stats } : undefined;
    });
    expect(agreed.live.nextSyncAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(agreed.live.activity.consecutiveErrors).toBe(agreed.stats.consecutiveErrors);

    await bed.admin.disableMailbox(ids[0]);
    await bed.admin.disableMailbox(ids[2]);
    const disabled = await eventually('the search attributes indexed', async () => {
      const found: string[] = [];
      for await (const wf of bed.temporal.workflow.list({ query: `ServerProfileId = "${profile.id}" AND MailboxState = "disabled"` })) {
        found.push(String(wf.searchAttributes.MailboxId?.[0]));
      }
      return found.length === 2 ? found : undefined;
    });
    expect(disabled.sort()).toEqual([ids[0], ids[2]].sort());
    const live = await bed.temporal.workflow.getHandle(mailboxWorkflowId(ids[1])).query(statusQuery);
    expect(['idle', 'syncing']).toContain(live.state);
  });

  it('answers a missing mailbox with a 404-class error', async () => {
    const err = await bed.admin.getMailbox('00000000-0000-4000-8000-000000000000').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AdminError);
    expect((err as AdminError).statusCode).toBe(404);
  });
});
