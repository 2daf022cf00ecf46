import type { FastifyInstance } from 'fastify';
import { ApiTokens } from '../src/admin/apiTokens';
import { buildApiServer } from '../src/api/server';
import { DovecotServer } from './support/dovecot';
import { makeMessage } from './support/messages';
import { dovecotProfile, eventually, TestBed } from './support/testBed';

// A long error back-off: a mailbox that failed once waits a minute unless "sync now" cuts it short.
let bed: TestBed;
let dovecot: DovecotServer;
let app: FastifyInstance;
let token: string;
let profileId: string;

const syncNow = async (mailboxId: string) => {
  const res = await app.inject({ method: 'POST', url: `/mailboxes/${mailboxId}/sync-now`, headers: { authorization: `Bearer ${token}` } });
  return { status: res.statusCode, body: res.json() };
};
const linkCount = async (id: string) => (await bed.query<{ n: number }>(`SELECT count(*)::int AS n FROM item_links WHERE mailbox_id = $1`, [id]))[0].n;
const row = async (id: string) =>
  (await bed.query<{ incoming_enabled: boolean; incoming_status: string; consecutive_errors: number }>(`SELECT * FROM mailboxes WHERE id = $1`, [id]))[0];

beforeAll(async () => {
  bed = await TestBed.create({ SYNC_ERROR_BASE_SECONDS: '60', SYNC_ERROR_MAX_SECONDS: '60', SYNC_DEFAULT_INTERVAL_SECONDS: '600' });
  dovecot = await DovecotServer.start({ name: 'syncnow' });
  profileId = (await bed.admin.createProfile(dovecotProfile('Sync-now Dovecot', dovecot))).id;
  await bed.startWorkers();
  const tokens = new ApiTokens(bed.pool);
  token = (await tokens.create({ role: 'admin' })).token;
  app = await buildApiServer({ service: bed.admin, tokens });
  await app.ready();
});

afterAll(async () => {
  await app?.close();
  await bed?.close();
  await dovecot?.destroy();
});

describe('sync now', () => {
  it('answers 409 with the reason and the next step for a mailbox an admin disabled, and nothing runs', async () => {
    const address = 'parked@example.test';
    await dovecot.addUser(address, 'secret');
    const mailbox = await bed.admin.createMailbox({ emailAddress: address, profileId, password: 'secret', emailApproved: true, incomingEnabled: false });
    await dovecot.deliver(address, [makeMessage({ to: address, subject: 'Not while disabled' })]);
    const answer = await syncNow(mailbox.id);
    expect(answer).toEqual({
      status: 409,
      body: { error: 'conflict', message: expect.stringMatching(/is disabled.*test-and-enable/), details: { reason: 'disabled' } },
    });
    await new Promise((r) => setTimeout(r, 2000));
    expect(await linkCount(mailbox.id)).toBe(0);
  });

  it('answers 409 quoting the error for a mailbox disabled by a failure', async () => {
    const address = 'wrong-password@example.test';
    await dovecot.addUser(address, 'right');
    const mailbox = await bed.admin.createMailbox({ emailAddress: address, profileId, password: 'wrong', emailApproved: true });
    await eventually('the mailbox disabled by the failure', async () => (await row(mailbox.id)).incoming_status === 'failure');
    const answer = await syncNow(mailbox.id);
    expect(answer.status).toBe(409);
    expect(answer.body.details).toEqual({ reason: 'disabled_by_failure' });
    expect(answer.body.message).toMatch(/disabled after an error: Authentication failed.*Fix the cause, then run Test & Enable/);
  });

  it('answers 409 naming the approval for a mailbox awaiting approval', async () => {
    const mailbox = await bed.admin.createMailbox({ emailAddress: 'unapproved@example.test', profileId, password: 'secret' });
    const answer = await syncNow(mailbox.id);
    expect(answer.status).toBe(409);
    expect(answer.body.details).toEqual({ reason: 'awaiting_approval' });
    expect(answer.body.message).toContain(`mailbox approve ${mailbox.id}`);
  });

  it('runs at once for a mailbox backing off from a transient error', async () => {
    const address = 'backing-off@example.test';
    // A transient failure: the profile points at a port nothing listens on.
    await dovecot.addUser(address, 'secret');
    const refused = (await bed.admin.createProfile(dovecotProfile('Unreachable for now', { host: '127.0.0.1', imapPort: 1 }))).id;
    const mailbox = await bed.admin.createMailbox({ emailAddress: address, profileId: refused, password: 'secret', emailApproved: true });
    await eventually('the first failure', async () => (await row(mailbox.id)).consecutive_errors >= 1);
    // Point the profile at the live server: the mailbox would wait out its minute of back-off.
    await bed.admin.updateProfile(refused, { incomingPort: dovecot.imapPort });
    await dovecot.deliver(address, [makeMessage({ to: address, subject: 'Now, please' })]);
    expect(await syncNow(mailbox.id)).toEqual({ status: 202, body: { mailboxId: mailbox.id, syncRequested: true } });
    await eventually('the message synced well before the back-off ends', async () => (await linkCount(mailbox.id)) === 1, 30_000);
    // The cycle records its success just after the batch commits.
    await eventually('the failure streak cleared', async () => (await row(mailbox.id)).consecutive_errors === 0);
    expect((await row(mailbox.id)).incoming_enabled).toBe(true);
  });
});
