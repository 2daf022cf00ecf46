import type { FastifyInstance, InjectOptions } from 'fastify';
import { createTransport } from 'nodemailer';
import { ApiTokens } from '../src/admin/apiTokens';
import { OutgoingEmailService } from '../src/admin/outgoingEmailService';
import { buildApiServer } from '../src/api/server';
import { PgCrmRecords } from '../src/crm/crmRecords';
import { DovecotServer } from './support/dovecot';
import { PostfixServer } from './support/postfix';
import { dovecotProfile, eventually, TestBed } from './support/testBed';

// User A sends from the CRM through the real SMTP server; B's mailbox gets it and B's sync tracks
// it; B's replies from an ordinary mail client come back to A's conversation, each correlated.
let bed: TestBed;
let dovecot: DovecotServer;
let postfix: PostfixServer;
let app: FastifyInstance;
let adminToken: string;
const A = 'anna@example.test';
const B = 'ben@example.test';
const SUPPORT = 'support@example.test';
const ids = {} as Record<'anna' | 'ben' | 'annaMailbox' | 'benMailbox' | 'contact' | 'queue' | 'queueMailbox', string>;

async function api<T = any>(opts: InjectOptions, status = 200): Promise<T> {
  const res = await app.inject({ ...opts, headers: { authorization: `Bearer ${adminToken}` } });
  if (res.statusCode !== status) throw new Error(`${opts.method} ${opts.url}: expected ${status}, got ${res.statusCode}: ${res.body}`);
  return res.json() as T;
}

interface Activity {
  id: string;
  message_id: string;
  subject: string;
  tracking_token: string | null;
  conversation_id: string;
  correlation_method: string | null;
  correlated_activity_id: string | null;
  regarding_type: string | null;
  regarding_id: string | null;
}

const activity = async (where: string, params: unknown[]) =>
  (await bed.query<Activity & Record<string, unknown>>(
    `SELECT id, message_id, subject, tracking_token, conversation_id, correlation_method, correlated_activity_id, regarding_type, regarding_id
       FROM email_activities WHERE ${where}`,
    params,
  ))[0];

/** An ordinary mail client: B replies through the same SMTP server. */
async function replyFromBen(fields: { subject: string; inReplyTo?: string; references?: string[] }): Promise<string> {
  const transport = createTransport({ host: postfix.host, port: postfix.port, secure: false, ignoreTLS: true, auth: { user: B, pass: 'secret' } });
  try {
    const info = await transport.sendMail({ from: B, to: A, subject: fields.subject, text: 'Thanks, sounds good.', inReplyTo: fields.inReplyTo, references: fields.references });
    return info.messageId;
  } finally {
    transport.close();
  }
}

beforeAll(async () => {
  bed = await TestBed.create({ SEND_SWEEP_SECONDS: '600' });
  dovecot = await DovecotServer.start({ name: 'round-trip', authListener: true });
  postfix = await PostfixServer.start({ dovecot, name: 'round-trip' });
  await dovecot.addUsers([A, B, SUPPORT, 'client@customer.test'].map((user) => ({ user, password: 'secret' })));
  const tokens = new ApiTokens(bed.pool);
  const crm = new PgCrmRecords(bed.pool);
  app = await buildApiServer({ service: bed.admin, tokens, crm, outgoing: new OutgoingEmailService(bed.pool, crm, bed.temporal) });
  await app.ready();
  adminToken = (await tokens.create({ role: 'admin' })).token;
  await bed.startWorkers();

  const { id: profileId } = await bed.admin.createProfile(
    dovecotProfile('Round trip', dovecot, { outgoingHost: postfix.host, outgoingPort: postfix.port, outgoingSecurity: 'none' }),
  );
  const mailbox = async (address: string, owner: { ownerUserId?: string; ownerQueueId?: string }) => {
    const { id } = await bed.admin.createMailbox({ emailAddress: address, profileId, password: 'secret', emailApproved: true, ...owner });
    expect((await bed.admin.testAndEnable(id)).outgoingEnabled).toBe(true);
    return id;
  };
  ids.anna = (await bed.admin.createUser({ fullName: 'Anna Seller', email: A, trackingOption: 'all' })).id;
  ids.ben = (await bed.admin.createUser({ fullName: 'Ben Buyer', email: B, trackingOption: 'all' })).id;
  ids.annaMailbox = await mailbox(A, { ownerUserId: ids.anna });
  ids.benMailbox = await mailbox(B, { ownerUserId: ids.ben });
  ids.contact = (await api<{ id: string }>({ method: 'POST', url: '/contacts', payload: { fullName: 'Cleo Client', email: 'client@customer.test' } }, 201)).id;
  ids.queue = (await api<{ id: string }>({ method: 'POST', url: '/queues', payload: { name: 'Support', email: SUPPORT } }, 201)).id;
  ids.queueMailbox = await mailbox(SUPPORT, { ownerQueueId: ids.queue });
});

afterAll(async () => {
  await app?.close();
  await bed?.close();
  await postfix?.stop();
  await dovecot?.destroy();
});

describe('sending from the CRM and correlating the replies', () => {
  let sent: Activity;

  it("sends A's email through the SMTP server into B's mailbox, where B's sync tracks it", async () => {
    const queued = await api<{ id: string; status: string }>(
      {
        method: 'POST',
        url: '/emails',
        payload: { from: { userId: ids.anna }, to: [{ type: 'user', id: ids.ben }], subject: 'Your quote', text: 'Here it is.', regarding: { type: 'contact', id: ids.contact } },
      },
      202,
    );
    expect(queued.status).toBe('pending_send');
    await eventually('the email sent', async () => (await activity(`id = $1 AND status = 'sent'`, [queued.id])) !== undefined);
    sent = await activity('id = $1', [queued.id]);
    expect(sent.tracking_token).toMatch(/^CRM:0\d{6}$/);
    expect(sent.subject).toBe(`Your quote ${sent.tracking_token}`);
    const [delivered] = [await postfix.waitForMessage(B, sent.message_id)];
    expect(delivered.raw).toContain(`From: Anna Seller <${A}>`);
    // B's sync links B's copy to the same activity.
    await eventually("B's sync tracking the email", async () =>
      (await bed.query(`SELECT 1 FROM item_links WHERE mailbox_id = $1 AND crm_record_id = $2`, [ids.benMailbox, sent.id])).length === 1,
    );
  });

  it('puts a reply with In-Reply-To on the same conversation and regarding record', async () => {
    const messageId = await replyFromBen({ subject: `Re: ${sent.subject}`, inReplyTo: sent.message_id, references: [sent.message_id] });
    const reply = await eventually("A's sync storing the reply", async () => activity('message_id = $1', [messageId]));
    expect(reply).toMatchObject({
      correlation_method: 'in_reply_to',
      correlated_activity_id: sent.id,
      conversation_id: sent.conversation_id,
      regarding_type: 'contact',
      regarding_id: ids.contact,
    });
  });

  it('correlates a reply whose client dropped In-Reply-To and References by the tracking token', async () => {
    const messageId = await replyFromBen({ subject: `RE: ${sent.subject}` });
    const reply = await eventually("A's sync storing the reply", async () => activity('message_id = $1', [messageId]));
    expect(reply).toMatchObject({ correlation_method: 'tracking_token', conversation_id: sent.conversation_id, regarding_id: ids.contact });
  });

  it('correlates a reply with neither headers nor token by smart matching, once the organisation turns it on', async () => {
    await api({ method: 'PATCH', url: '/organization', payload: { smartMatching: true } });
    const messageId = await replyFromBen({ subject: 'AW: Your quote' });
    const reply = await eventually("A's sync storing the reply", async () => activity('message_id = $1', [messageId]));
    expect(reply).toMatchObject({ correlation_method: 'smart_matching', conversation_id: sent.conversation_id, regarding_id: ids.contact });
  });

  it("sends a queue's email from the queue's address, and the queue's own mail becomes queue items", async () => {
    const queued = await api<{ id: string }>(
      { method: 'POST', url: '/emails', payload: { from: { queueId: ids.queue }, to: ['client@customer.test'], subject: 'Ticket received', text: 'We are on it.' } },
      202,
    );
    const email = await eventually('the queue email sent', async () => activity(`id = $1 AND status = 'sent'`, [queued.id]));
    const delivered = await postfix.waitForMessage('client@customer.test', email.message_id);
    expect(delivered.raw).toContain(`From: Support <${SUPPORT}>`);
    expect(delivered.raw).toMatch(new RegExp(`Return-Path: <${SUPPORT}>`));

    const transport = createTransport({ host: postfix.host, port: postfix.port, secure: false, ignoreTLS: true, auth: { user: 'client@customer.test', pass: 'secret' } });
    const info = await transport.sendMail({ from: 'client@customer.test', to: SUPPORT, subject: 'Help, please', text: 'It broke.' });
    transport.close();
    await eventually('a queue item for the incoming email', async () =>
      (await bed.query(
        `SELECT 1 FROM queue_items q JOIN email_activities e ON e.id = q.email_activity_id WHERE q.queue_id = $1 AND e.message_id = $2`,
        [ids.queue, info.messageId],
      )).length === 1,
    );
  });
});
