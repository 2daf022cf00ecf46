import { createHash, randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { ApiTokens } from '../src/admin/apiTokens';
import { OutgoingEmailService } from '../src/admin/outgoingEmailService';
import { buildApiServer } from '../src/api/server';
import { PgCrmRecords } from '../src/crm/crmRecords';
import { CRM_EMAIL_ID_PROPERTY } from '../src/mail/graph/graphOutbox';
import { startGraphFake, type GraphFake } from './support/graphFake';
import { fakeSession } from './support/graphItems';
import { exchangeMailbox } from './support/graphMailbox';
import { eventually, TestBed } from './support/testBed';
import { spawnLogged, stopProcess, type LoggedProcess } from './support/workerProcess';

// Sending from an Exchange Online mailbox through the Graph fake, with the worker as its own
// process (it trusts the fake's CA through NODE_EXTRA_CA_CERTS, as a deployment would).
let bed: TestBed;
let fake: GraphFake;
let worker: LoggedProcess;
let app: FastifyInstance;
let adminToken: string;

beforeAll(async () => {
  bed = await TestBed.create({ SEND_SWEEP_SECONDS: '2' });
  fake = await startGraphFake({ users: [] });
  const tokens = new ApiTokens(bed.pool);
  const crm = new PgCrmRecords(bed.pool);
  app = await buildApiServer({ service: bed.admin, tokens, crm, outgoing: new OutgoingEmailService(bed.pool, crm, bed.temporal) });
  await app.ready();
  adminToken = (await tokens.create({ role: 'admin' })).token;
  worker = spawnLogged('worker', bed.env);
});

afterAll(async () => {
  if (worker) await stopProcess(worker.child);
  await app?.close();
  await bed?.close();
  await fake?.close();
});

const emailRow = async (id: string) =>
  (
    await bed.query<{ status: string; message_id: string; server_draft_id: string | null; send_error: string | null }>(
      `SELECT status, message_id, server_draft_id, send_error FROM email_activities WHERE id = $1`,
      [id],
    )
  )[0];

/** An email of `userId` the CRM has in hand, inserted as it is; returns its id. */
async function insertEmail(userId: string, fields: { status: 'pending_send' | 'sending'; subject: string; to: string; messageId?: string; draftId?: string }): Promise<string> {
  const id = randomUUID();
  await bed.query(
    `WITH e AS (INSERT INTO email_activities (id, direction, status, owner_user_id, subject, body_text, message_id, server_draft_id, sent_at, queued_at)
                VALUES ($1, 'outgoing', $2, $3, $4, 'Body', $5, $6, CASE WHEN $2 = 'sending' THEN now() END, now()) RETURNING id)
     INSERT INTO email_parties (email_activity_id, role, address) SELECT id, 'to', $7 FROM e`,
    [id, fields.status, userId, fields.subject, fields.messageId ?? null, fields.draftId ?? null, fields.to],
  );
  return id;
}

const requestsOf = (address: string, pattern: RegExp) => {
  const userId = fake.mailbox(address).user.id;
  return fake.requestLog.filter((r) => r.userId === userId && pattern.test(`${r.method} ${r.url}`));
};

it('sends an email queued through the API once, as a Graph draft sent, the copy in Sent Items kept by Exchange', async () => {
  const address = 'round.trip@contoso.example';
  fake.addUser({ mail: address, displayName: 'Round Trip' });
  const { userId } = await exchangeMailbox(bed, fake, address);
  const res = await app.inject({
    method: 'POST',
    url: '/emails',
    headers: { authorization: `Bearer ${adminToken}` },
    payload: {
      from: { userId },
      to: ['Cleo Customer <customer@fabrikam.example>'],
      cc: ['partner@fabrikam.example'],
      subject: 'Your quote',
      html: '<p>Here it is.</p>',
      attachments: [{ filename: 'quote.txt', contentType: 'text/plain', contentBase64: Buffer.from('42 EUR').toString('base64') }],
    },
  });
  expect(res.statusCode).toBe(202);
  const emailId = res.json<{ id: string }>().id;
  await eventually('the email sent', async () => (await emailRow(emailId)).status === 'sent', 60_000);
  const row = await emailRow(emailId);
  const mailbox = fake.mailbox(address);
  const copies = await eventually('the Sent Items copy', async () => {
    const found = mailbox.list('sentitems').filter((m) => m.internetMessageId === row.message_id);
    return found.length > 0 && found;
  });
  expect(copies).toHaveLength(1);
  expect(copies[0]).toMatchObject({
    subject: expect.stringMatching(/^Your quote/),
    isDraft: false,
    toRecipients: [{ emailAddress: { address: 'customer@fabrikam.example', name: 'Cleo Customer' } }],
    ccRecipients: [{ emailAddress: { address: 'partner@fabrikam.example' } }],
    body: { contentType: 'html', content: '<p>Here it is.</p>' },
  });
  expect(copies[0].id).not.toBe(row.server_draft_id);
  expect(mailbox.list('drafts')).toEqual([]);
  // One draft made, one send, and nothing saved by the product (Exchange keeps the copy).
  expect(requestsOf(address, /^POST \/users\/[^/]+\/messages$/)).toHaveLength(1);
  expect(requestsOf(address, /^POST .*\/send$/).map((r) => r.status)).toEqual([202]);
});

it('sends attachments over what one request takes: in the create while it has room, then added to the draft, the largest by an upload session', async () => {
  const address = 'attachments@contoso.example';
  fake.addUser({ mail: address });
  const { userId } = await exchangeMailbox(bed, fake, address);
  const file = (name: string, megabytes: number, fill: number) => ({
    filename: name,
    contentType: 'application/octet-stream',
    contentBase64: Buffer.alloc(Math.round(megabytes * 1024 * 1024), fill).toString('base64'),
  });
  const files = [file('small.bin', 0.5, 1), file('medium.bin', 2, 2), file('large.bin', 4.5, 3), file('after.bin', 1, 4)];
  const res = await app.inject({
    method: 'POST',
    url: '/emails',
    headers: { authorization: `Bearer ${adminToken}` },
    payload: { from: { userId }, to: ['customer@fabrikam.example'], subject: 'Four files', text: 'See attached.', attachments: files },
  });
  expect(res.statusCode).toBe(202);
  const emailId = res.json<{ id: string }>().id;
  await eventually('the email sent', async () => (await emailRow(emailId)).status === 'sent', 60_000);
  const row = await emailRow(emailId);
  const copy = await eventually('the Sent Items copy', async () => fake.mailbox(address).list('sentitems').find((m) => m.internetMessageId === row.message_id));
  // Read back through Graph, as a client would.
  const session = fakeSession(fake, address);
  const attachments = await session.request<{ value: { name: string; contentBytes: string }[] }>({
    method: 'GET',
    url: `${session.userPath}/messages/${encodeURIComponent(copy.id!)}/attachments`,
  });
  expect(attachments.value.map((a) => [a.name, a.contentBytes])).toEqual(files.map((f) => [f.filename, f.contentBase64]));
  expect(requestsOf(address, /createUploadSession/).map((r) => r.status)).toEqual([201]);
  expect(requestsOf(address, /^POST .*\/attachments$/).map((r) => r.status)).toEqual([201]);
});

it('does not send twice when the send request fails with 503: the next run finds the draft unsent and sends it', async () => {
  const address = 'unavailable@contoso.example';
  fake.addUser({ mail: address });
  const { userId } = await exchangeMailbox(bed, fake, address);
  fake.script.failNext({ count: 1, status: 503, code: 'ServiceUnavailable', path: new RegExp(`${encodeURIComponent(address)}/messages/[^/]+/send`) });
  const emailId = await insertEmail(userId, { status: 'pending_send', subject: 'Despite a 503', to: 'customer@fabrikam.example' });
  await eventually('the email sent', async () => (await emailRow(emailId)).status === 'sent', 60_000);
  const row = await emailRow(emailId);
  await eventually('the Sent Items copy', async () => fake.mailbox(address).list('sentitems').length > 0);
  expect(fake.mailbox(address).list('sentitems').map((m) => m.internetMessageId)).toEqual([row.message_id]);
  expect(requestsOf(address, /^POST .*\/send$/).map((r) => r.status)).toEqual([503, 202]);
  expect(requestsOf(address, /^POST \/users\/[^/]+\/messages$/)).toHaveLength(1);
});

it('does not send twice when a 504 answers a send Graph had carried out: the next run finds the draft gone and marks it sent', async () => {
  const address = 'gateway@contoso.example';
  fake.addUser({ mail: address });
  const { userId } = await exchangeMailbox(bed, fake, address);
  fake.script.failNext({ count: 1, status: 504, code: 'GatewayTimeout', afterHandling: true, path: new RegExp(`${encodeURIComponent(address)}/messages/[^/]+/send`) });
  const emailId = await insertEmail(userId, { status: 'pending_send', subject: 'Sent despite a 504', to: 'customer@fabrikam.example' });
  await eventually('the email sent', async () => (await emailRow(emailId)).status === 'sent', 60_000);
  const row = await emailRow(emailId);
  await eventually('the Sent Items copy', async () => fake.mailbox(address).list('sentitems').length > 0);
  expect(fake.mailbox(address).list('sentitems').map((m) => m.internetMessageId)).toEqual([row.message_id]);
  expect(requestsOf(address, /^POST .*\/send$/).map((r) => r.status)).toEqual([504]);
  expect(requestsOf(address, new RegExp(`^GET .*/messages/${encodeURIComponent(row.server_draft_id!)}`)).map((r) => r.status)).toEqual([404]);
});

it('asks again for a draft whose create was throttled (429: not carried out), making one draft only', async () => {
  const address = 'throttled@contoso.example';
  fake.addUser({ mail: address });
  const { userId } = await exchangeMailbox(bed, fake, address);
  fake.script.failNext({ count: 1, status: 429, code: 'ApplicationThrottled', path: new RegExp(`${encodeURIComponent(address)}/messages$`) });
  const emailId = await insertEmail(userId, { status: 'pending_send', subject: 'Throttled once', to: 'customer@fabrikam.example' });
  await eventually('the email sent', async () => (await emailRow(emailId)).status === 'sent', 60_000);
  expect(requestsOf(address, /^POST \/users\/[^/]+\/messages$/).map((r) => r.status)).toEqual([429, 201]);
  await eventually('the Sent Items copy', async () => fake.mailbox(address).list('sentitems').length > 0);
  expect(fake.mailbox(address).list('sentitems').map((m) => m.internetMessageId)).toEqual([(await emailRow(emailId)).message_id]);
});

it('waits out a Retry-After too long to wait inside the run on the workflow timer, with no failure shown', async () => {
  const address = 'long.throttle@contoso.example';
  fake.addUser({ mail: address });
  const { userId, mailboxId, profileId } = await exchangeMailbox(bed, fake, address);
  fake.script.failNext({ count: 1, status: 429, code: 'ApplicationThrottled', retryAfterSeconds: 12, path: new RegExp(`${encodeURIComponent(address)}/messages$`) });
  const emailId = await insertEmail(userId, { status: 'pending_send', subject: 'Throttled for a while', to: 'customer@fabrikam.example' });
  await eventually('the throttled draft create', async () => requestsOf(address, /^POST \/users\/[^/]+\/messages$/).length === 1);
  // Still waiting for the Retry-After: nothing failed, nothing alerted, the email waits.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  expect((await bed.admin.getMailbox(mailboxId)).outgoing.status).not.toBe('failure');
  expect(await bed.query(`SELECT 1 FROM alerts WHERE mailbox_id = $1`, [mailboxId])).toHaveLength(0);
  expect((await emailRow(emailId)).status).toBe('pending_send');
  // The server-load record knows, as it does from incoming sync.
  const [health] = await bed.query<{ throttled: boolean }>(`SELECT throttled_until > now() AS throttled FROM server_health WHERE profile_id = $1`, [profileId]);
  expect(health).toEqual({ throttled: true });

  await eventually('the email sent after the wait', async () => (await emailRow(emailId)).status === 'sent', 60_000);
  expect(requestsOf(address, /^POST \/users\/[^/]+\/messages$/).map((r) => r.status)).toEqual([429, 201]);
  expect(await bed.query(`SELECT 1 FROM alerts WHERE mailbox_id = $1`, [mailboxId])).toHaveLength(0);
});

it('recovers what a lost run left: adopts an unrecorded draft, makes again one that may lack an attachment, and sends nothing for a draft gone or a copy in Sent Items', async () => {
  const address = 'recovery@contoso.example';
  fake.addUser({ mail: address });
  const mailbox = fake.mailbox(address);
  const { userId } = await exchangeMailbox(bed, fake, address);
  // Made before the lost run could record it: found in Drafts by the CRM id, sent as it is.
  const unrecordedId = randomUUID();
  const unrecorded = mailbox.addMessage(
    'drafts',
    { subject: 'Drafted, never recorded', isDraft: true, internetMessageId: '<unrecorded@contoso.example>', toRecipients: [{ emailAddress: { address: 'a@fabrikam.example' } }] },
    { singleValueExtendedProperties: [{ id: CRM_EMAIL_ID_PROPERTY, value: unrecordedId }] },
  );
  // Its recorded draft is gone: the send went through before the run was lost.
  const goneId = await insertEmail(userId, { status: 'sending', subject: 'Sent before the crash', to: 'b@fabrikam.example', messageId: '<gone@contoso.example>', draftId: 'AAMkAGone' });
  // No draft recorded, its copy already in Sent Items.
  const copiedId = randomUUID();
  mailbox.addMessage(
    'sentitems',
    { subject: 'Copy already there', internetMessageId: '<copied@contoso.example>' },
    { singleValueExtendedProperties: [{ id: CRM_EMAIL_ID_PROPERTY, value: copiedId }] },
  );
  await bed.query(
    `WITH e AS (INSERT INTO email_activities (id, direction, status, owner_user_id, subject, body_text, message_id, sent_at, queued_at)
                VALUES ($1, 'outgoing', 'sending', $3, 'Drafted, never recorded', 'Body', '<unrecorded@contoso.example>', now(), now()),
                       ($2, 'outgoing', 'sending', $3, 'Copy already there', 'Body', '<copied@contoso.example>', now(), now()) RETURNING id)
     INSERT INTO email_parties (email_activity_id, role, address) SELECT id, 'to', 'c@fabrikam.example' FROM e`,
    [unrecordedId, copiedId, userId],
  );
  // Made before the lost run could record it, but its 3 MB attachment goes in a request of its own:
  // the draft may lack it, so it is deleted and made again.
  const incompleteId = randomUUID();
  const incomplete = mailbox.addMessage(
    'drafts',
    { subject: 'Drafted without its attachment', isDraft: true, internetMessageId: '<incomplete@contoso.example>' },
    { singleValueExtendedProperties: [{ id: CRM_EMAIL_ID_PROPERTY, value: incompleteId }] },
  );
  const content = Buffer.alloc(3 * 1024 * 1024, 7);
  const sha256 = createHash('sha256').update(content).digest('hex');
  await bed.query(
    `WITH e AS (INSERT INTO email_activities (id, direction, status, owner_user_id, subject, body_text, message_id, sent_at, queued_at)
                VALUES ($1, 'outgoing', 'sending', $2, 'Drafted without its attachment', 'Body', '<incomplete@contoso.example>', now(), now()) RETURNING id),
          p AS (INSERT INTO email_parties (email_activity_id, role, address) SELECT id, 'to', 'd@fabrikam.example' FROM e),
          c AS (INSERT INTO attachment_contents (sha256, size, content) VALUES ($3, $4, $5) RETURNING sha256)
     INSERT INTO email_attachments (email_activity_id, position, filename, content_type, size, sha256, inline, stored)
     SELECT e.id, 1, 'scan.pdf', 'application/pdf', $4, c.sha256, false, true FROM e, c`,
    [incompleteId, userId, sha256, content.length, content],
  );
  await eventually('all four sent', async () => {
    const rows = await Promise.all([unrecordedId, goneId, copiedId, incompleteId].map(emailRow));
    return rows.every((r) => r.status === 'sent');
  });
  // Deleted: out of Drafts (into Deleted Items, as Exchange does), never sent.
  expect(mailbox.list('drafts').map((m) => m.id)).not.toContain(incomplete.id);
  expect((await emailRow(incompleteId)).server_draft_id).not.toBe(incomplete.id);
  expect((await emailRow(unrecordedId)).server_draft_id).toBe(unrecorded.id);
  await eventually('the adopted and the remade drafts in Sent Items', async () => mailbox.list('sentitems').length === 3);
  expect(
    mailbox
      .list('sentitems')
      .map((m) => m.internetMessageId)
      .sort(),
  ).toEqual(['<copied@contoso.example>', '<incomplete@contoso.example>', '<unrecorded@contoso.example>']);
  expect(mailbox.list('drafts')).toEqual([]);
  // Only the incomplete one was drafted again; two sends: the adopted draft and the remade one.
  expect(requestsOf(address, /^POST \/users\/[^/]+\/messages$/)).toHaveLength(1);
  expect(requestsOf(address, /^POST .*\/send$/)).toHaveLength(2);
});

it('disables outgoing with a readable message when the app may not send mail (no Mail.Send), the email waiting', async () => {
  const address = 'no.send@contoso.example';
  fake.addUser({ mail: address });
  const readOnlyApp = fake.addApp({ permissions: ['Mail.ReadWrite'] });
  const { userId, mailboxId } = await exchangeMailbox(bed, fake, address, readOnlyApp);
  const emailId = await insertEmail(userId, { status: 'pending_send', subject: 'Not allowed', to: 'customer@fabrikam.example' });
  const mailbox = await eventually('outgoing disabled', async () => {
    const [m] = await bed.query<{ outgoing_enabled: boolean; outgoing_test_message: string }>(
      `SELECT outgoing_enabled, outgoing_test_message FROM mailboxes WHERE id = $1`,
      [mailboxId],
    );
    return !m.outgoing_enabled && m;
  });
  expect(mailbox.outgoing_test_message).toMatch(/ErrorAccessDenied.*Mail\.Send/);
  const alerts = await bed.query<{ message: string }>(`SELECT message FROM alerts WHERE mailbox_id = $1 AND condition_key = 'outgoing_failure'`, [mailboxId]);
  expect(alerts.map((a) => a.message)).toEqual([expect.stringContaining('Mail.Send')]);
  expect(await emailRow(emailId)).toMatchObject({ status: 'pending_send' });
  expect(fake.mailbox(address).list('sentitems')).toEqual([]);
});

it('disables outgoing naming the mailbox when the tenant has no such user', async () => {
  const address = 'nobody@contoso.example';
  const { userId, mailboxId } = await exchangeMailbox(bed, fake, address);
  const emailId = await insertEmail(userId, { status: 'pending_send', subject: 'To nowhere', to: 'customer@fabrikam.example' });
  const mailbox = await eventually('outgoing disabled', async () => {
    const [m] = await bed.query<{ outgoing_enabled: boolean; outgoing_test_message: string }>(
      `SELECT outgoing_enabled, outgoing_test_message FROM mailboxes WHERE id = $1`,
      [mailboxId],
    );
    return !m.outgoing_enabled && m;
  });
  expect(mailbox.outgoing_test_message).toMatch(/ErrorInvalidUser.*the mailbox does not exist in the tenant/);
  expect(await emailRow(emailId)).toMatchObject({ status: 'pending_send' });
});
