import { createHash } from 'node:crypto';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { ApiTokens } from '../src/admin/apiTokens';
import { OutgoingEmailService } from '../src/admin/outgoingEmailService';
import { buildApiServer } from '../src/api/server';
import { PgCrmRecords } from '../src/crm/crmRecords';
import { mailboxWorkflowId } from '../src/temporal/names';
import { TestBed } from './support/testBed';

// The CRM's send button: POST /emails queues an email (pending_send) through its sender's mailbox,
// or refuses it with a reason and writes nothing. Real PostgreSQL and Temporal. No worker runs: the
// mailbox workflows are started (by creating their mailboxes) but do not move, so what they were
// signalled stays in their history and no send engine takes the queued rows further.

let bed: TestBed;
let app: FastifyInstance;
let tokens: ApiTokens;
let adminToken: string;
const ids = {} as Record<'alice' | 'bob' | 'carl' | 'queue' | 'contact' | 'lead' | 'noEmailLead' | 'account' | 'aliceMailbox' | 'queueMailbox', string>;

beforeAll(async () => {
  bed = await TestBed.create();
  tokens = new ApiTokens(bed.pool);
  const crm = new PgCrmRecords(bed.pool);
  app = await buildApiServer({ service: bed.admin, tokens, crm, outgoing: new OutgoingEmailService(bed.pool, crm, bed.temporal) });
  await app.ready();
  adminToken = (await tokens.create({ role: 'admin' })).token;

  const profile = await bed.admin.createProfile({ name: 'Mail', serverType: 'imap', incomingHost: 'imap.example.test', outgoingHost: 'smtp.example.test' });
  const user = async (name: string) => (await bed.admin.createUser({ fullName: name, email: `${name.toLowerCase()}@example.test` })).id;
  const mailbox = async (address: string, ownerUserId?: string) =>
    (await bed.admin.createMailbox({ emailAddress: address, profileId: profile.id, ownerUserId, password: 'pw', emailApproved: true })).id;
  [ids.alice, ids.bob, ids.carl] = [await user('Alice'), await user('Bob'), await user('Carl')];
  ids.aliceMailbox = await mailbox('alice@example.test', ids.alice);
  await mailbox('bob@example.test', ids.bob);
  // Queues have no API here yet: the queue and its mailbox's owner are written as the CRM would.
  [{ id: ids.queue }] = await bed.query<{ id: string }>(`INSERT INTO crm_queues (name, email) VALUES ('Support', 'support@example.test') RETURNING id`);
  ids.queueMailbox = await mailbox('support@example.test');
  await bed.query(`UPDATE mailboxes SET owner_queue_id = $1 WHERE id = $2`, [ids.queue, ids.queueMailbox]);
  // Test & Enable would need an SMTP server: its outcome, outgoing enabled, is set as it would leave it. Bob's stays disabled.
  await bed.query(`UPDATE mailboxes SET outgoing_enabled = true WHERE id = ANY($1)`, [[ids.aliceMailbox, ids.queueMailbox]]);

  const record = async (url: string, payload: object) => (await api({ method: 'POST', url, payload }, 201)).id;
  ids.contact = await record('/contacts', { fullName: 'Dana Customer', email: 'dana@customer.test' });
  ids.lead = await record('/leads', { fullName: 'Lee Lead', email: 'Lee@Prospect.test' });
  ids.noEmailLead = await record('/leads', { fullName: 'Nora Noemail' });
  ids.account = await record('/accounts', { name: 'Acme' });
});

afterAll(async () => {
  await app?.close();
  await bed?.close();
});

async function api<T = any>(opts: InjectOptions & { token?: string }, status = 200): Promise<T> {
  const { token, ...rest } = opts;
  const res = await app.inject({ ...rest, headers: { authorization: `Bearer ${token ?? adminToken}` } });
  if (res.statusCode !== status) throw new Error(`${opts.method} ${opts.url}: expected ${status}, got ${res.statusCode}: ${res.body}`);
  return (res.body ? res.json() : undefined) as T;
}

const send = (payload: object, status = 202, token?: string) => api({ method: 'POST', url: '/emails', payload, token }, status);
const b64 = (content: Buffer) => content.toString('base64');
const sha256 = (content: Buffer) => createHash('sha256').update(content).digest('hex');

async function counts() {
  const [row] = await bed.query<{ activities: number; parties: number; attachments: number; contents: number }>(
    `SELECT (SELECT count(*) FROM email_activities)::int AS activities, (SELECT count(*) FROM email_parties)::int AS parties,
            (SELECT count(*) FROM email_attachments)::int AS attachments, (SELECT count(*) FROM attachment_contents)::int AS contents`,
  );
  return row;
}

/** The signals a mailbox's workflow received, by name, from its history. */
async function signalsOf(mailboxId: string): Promise<string[]> {
  const history = await bed.temporal.workflow.getHandle(mailboxWorkflowId(mailboxId)).fetchHistory();
  return (history.events ?? []).flatMap((e) => (e.workflowExecutionSignaledEventAttributes ? [e.workflowExecutionSignaledEventAttributes.signalName!] : []));
}

describe('POST /emails', () => {
  const pdf = Buffer.from('%PDF-1.4 a quote for Dana\n');
  const logo = Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3, 4]);

  it('queues one pending_send email with its parties resolved, its attachments stored once by content and its regarding record; signals the mailbox workflow', async () => {
    const before = await counts();
    const email = await send({
      from: { userId: ids.alice },
      to: ['Dana <DANA@customer.test>', { type: 'lead', id: ids.lead }],
      cc: [{ type: 'user', id: ids.bob }],
      bcc: ['someone@elsewhere.test'],
      subject: 'Your quote',
      text: 'Please find the quote attached.',
      html: '<p>Please find the quote attached.</p><img src="cid:logo@crm">',
      attachments: [
        { filename: 'quote.pdf', contentType: 'application/pdf', contentBase64: b64(pdf) },
        { filename: 'logo.png', contentType: 'image/png', contentBase64: b64(logo), contentId: 'logo@crm', inline: true },
      ],
      regarding: { type: 'account', id: ids.account },
    });
    expect(email).toMatchObject({
      direction: 'outgoing',
      status: 'pending_send',
      messageId: null,
      ownerUserId: ids.alice,
      ownerQueueId: null,
      conversationId: email.id,
      regarding: { type: 'account', id: ids.account },
      queuedAt: expect.any(String),
      sendAttempts: 0,
      sendError: null,
      smtpAcceptedAt: null,
      subject: 'Your quote',
      bodyText: 'Please find the quote attached.',
      mailboxIds: [],
    });
    expect(email.parties).toEqual([
      { role: 'from', address: 'alice@example.test', displayName: 'Alice', partyType: 'user', partyId: ids.alice },
      { role: 'to', address: 'dana@customer.test', displayName: 'Dana', partyType: 'contact', partyId: ids.contact },
      { role: 'to', address: 'lee@prospect.test', displayName: 'Lee Lead', partyType: 'lead', partyId: ids.lead },
      { role: 'cc', address: 'bob@example.test', displayName: 'Bob', partyType: 'user', partyId: ids.bob },
      { role: 'bcc', address: 'someone@elsewhere.test', displayName: null, partyType: null, partyId: null },
    ]);
    expect(email.attachments).toEqual([
      { position: 1, filename: 'quote.pdf', contentType: 'application/pdf', size: pdf.length, sha256: sha256(pdf), contentId: null, inline: false, stored: true },
      { position: 2, filename: 'logo.png', contentType: 'image/png', size: logo.length, sha256: sha256(logo), contentId: 'logo@crm', inline: true, stored: true },
    ]);

    const rows = await bed.query(
      `SELECT status, direction, owner_user_id, conversation_id, regarding_type, regarding_id, queued_at IS NOT NULL AS queued, message_id
         FROM email_activities WHERE id = $1`,
      [email.id],
    );
    expect(rows).toEqual([
      { status: 'pending_send', direction: 'outgoing', owner_user_id: ids.alice, conversation_id: email.id, regarding_type: 'account', regarding_id: ids.account, queued: true, message_id: null },
    ]);
    expect(await counts()).toEqual({ activities: before.activities + 1, parties: before.parties + 5, attachments: before.attachments + 2, contents: before.contents + 2 });
    const [stored] = await bed.query<{ content: Buffer }>(`SELECT content FROM attachment_contents WHERE sha256 = $1`, [sha256(pdf)]);
    expect(stored.content.equals(pdf)).toBe(true);

    // The same file in another email: a second attachment row, no second copy of its content.
    const again = await send({ from: { userId: ids.alice }, to: ['dana@customer.test'], subject: 'Again', attachments: [{ filename: 'copy.pdf', contentBase64: b64(pdf) }] });
    expect(again.attachments).toEqual([expect.objectContaining({ filename: 'copy.pdf', contentType: 'application/octet-stream', sha256: sha256(pdf), stored: true })]);
    expect(await counts()).toEqual({ activities: before.activities + 2, parties: before.parties + 7, attachments: before.attachments + 3, contents: before.contents + 2 });

    // Each queued email woke Alice's mailbox workflow.
    expect((await signalsOf(ids.aliceMailbox)).filter((s) => s === 'outgoingPending')).toHaveLength(2);

    // Read back, and listed under the mailbox it goes out through.
    expect(await api({ method: 'GET', url: `/emails/${email.id}` })).toEqual(email);
    const listed = await api({ method: 'GET', url: `/emails?mailboxId=${ids.aliceMailbox}` });
    expect(listed.items.map((i: any) => i.id)).toEqual([again.id, email.id]);
    expect(listed.items[1]).toMatchObject({ status: 'pending_send', conversationId: email.id, regarding: { type: 'account', id: ids.account } });
  });

  it('admits an attachment of the full default limit (5 MB), base64 in a JSON body', async () => {
    const big = Buffer.alloc(5 * 1024 * 1024, 7);
    const email = await send({ from: { userId: ids.alice }, to: ['dana@customer.test'], subject: 'Big', attachments: [{ filename: 'big.bin', contentBase64: b64(big) }] });
    expect(email.attachments).toEqual([expect.objectContaining({ size: big.length, sha256: sha256(big), stored: true })]);
  });

  it('sends as a queue through the queue mailbox; a workflow that is not running does not fail the request', async () => {
    await bed.temporal.workflow.getHandle(mailboxWorkflowId(ids.queueMailbox)).terminate('test: no workflow to signal');
    const email = await send({ from: { queueId: ids.queue }, to: ['dana@customer.test'], subject: 'From support' });
    expect(email).toMatchObject({ status: 'pending_send', ownerQueueId: ids.queue, ownerUserId: null });
    expect(email.parties[0]).toEqual({ role: 'from', address: 'support@example.test', displayName: 'Support', partyType: 'queue', partyId: ids.queue });
    expect(await bed.query(`SELECT status FROM email_activities WHERE id = $1`, [email.id])).toEqual([{ status: 'pending_send' }]);
  });

  it('refuses bad input with a 4xx naming the field and what to do, writing nothing', async () => {
    const ok = { from: { userId: ids.alice }, to: ['dana@customer.test'], subject: 'Hello' };
    const missing = '0b3a4f9e-1c2d-4e5f-8a9b-0c1d2e3f4a5b';
    const cases: [string, object, number, RegExp][] = [
      ['no recipients', { ...ok, to: [], cc: [] }, 400, /No recipients: give at least one address or CRM record in to, cc or bcc/],
      ['an invalid address', { ...ok, cc: ['ann@example.test', 'ann@@example'] }, 400, /cc\[1\]: "ann@@example" is not an email address .*give one address/],
      ['a name without an address', { ...ok, to: ['Dana Customer'] }, 400, /to\[0\]: "Dana Customer" is not an email address to send to \(it is a name without an address\)/],
      ['an unknown contact', { ...ok, to: [{ type: 'contact', id: missing }] }, 400, new RegExp(`to\\[0\\]: Contact ${missing} does not exist`)],
      ['a record without an email address', { ...ok, bcc: [{ type: 'lead', id: ids.noEmailLead }] }, 400, /bcc\[0\]: Lead .* \(Nora Noemail\) has no email address: set one on the record, or give an address instead/],
      ['an unknown regarding record', { ...ok, regarding: { type: 'account', id: missing } }, 400, new RegExp(`regarding: Account ${missing} does not exist`)],
      ['an unknown sender', { ...ok, from: { userId: missing } }, 400, new RegExp(`from.userId: User ${missing} does not exist`)],
      ['a sender without a mailbox', { ...ok, from: { userId: ids.carl } }, 409, /User Carl .* has no mailbox to send from/],
      ['a mailbox whose outgoing direction is disabled', { ...ok, from: { userId: ids.bob } }, 409, /bob@example.test .* outgoing direction is disabled\. Run Test & Enable/],
      ['bad base64', { ...ok, attachments: [{ filename: 'a.txt', contentBase64: 'not base64!' }] }, 400, /attachments\.0\.contentBase64/],
      ['a header line break in the subject', { ...ok, subject: 'Hi\r\nBcc: x@example.test' }, 400, /subject: must be one line/],
      ['an unknown field', { ...ok, priority: 'high' }, 400, /priority/],
    ];
    const before = await counts();
    for (const [what, payload, status, message] of cases) {
      const res = await app.inject({ method: 'POST', url: '/emails', headers: { authorization: `Bearer ${adminToken}` }, payload });
      expect({ what, status: res.statusCode, message: res.json().message }).toEqual({ what, status, message: expect.stringMatching(message) });
    }

    // Over the organisation's per-attachment limit: 413 naming the attachment and the limit.
    await api({ method: 'PATCH', url: '/organization', payload: { maxAttachmentBytes: 1024 } });
    try {
      const over = await app.inject({
        method: 'POST',
        url: '/emails',
        headers: { authorization: `Bearer ${adminToken}` },
        payload: { ...ok, attachments: [{ filename: 'small.txt', contentBase64: b64(Buffer.alloc(10)) }, { filename: 'huge.bin', contentBase64: b64(Buffer.alloc(1025)) }] },
      });
      expect(over.statusCode).toBe(413);
      expect(over.json()).toMatchObject({ error: 'payload_too_large', message: expect.stringMatching(/attachments\[1\] \(huge\.bin\) is 1025 bytes, over the limit of 1024 bytes per attachment/) });
    } finally {
      await api({ method: 'PATCH', url: '/organization', payload: { maxAttachmentBytes: 5 * 1024 * 1024 } });
    }
    expect(await counts()).toEqual(before);
  });

  it('lets a user token send as its own user only, and read what it sent', async () => {
    const { token } = await tokens.create({ role: 'user', userId: ids.alice });
    const before = await counts();
    const asBob = await app.inject({
      method: 'POST',
      url: '/emails',
      headers: { authorization: `Bearer ${token}` },
      payload: { from: { userId: ids.bob }, to: ['dana@customer.test'], subject: 'Not mine' },
    });
    expect(asBob.statusCode).toBe(403);
    expect(asBob.json().message).toMatch(/may only send as its own user/);
    await send({ from: { queueId: ids.queue }, to: ['dana@customer.test'], subject: 'Not mine either' }, 403, token);
    expect(await counts()).toEqual(before);

    const own = await send({ from: { userId: ids.alice }, to: ['dana@customer.test'], subject: 'Mine' }, 202, token);
    expect(await api({ method: 'GET', url: `/emails/${own.id}`, token })).toMatchObject({ id: own.id, status: 'pending_send' });
    const { token: bobToken } = await tokens.create({ role: 'user', userId: ids.bob });
    await api({ method: 'GET', url: `/emails/${own.id}`, token: bobToken }, 403);
  });
});
