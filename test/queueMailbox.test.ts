import { randomUUID } from 'node:crypto';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { ApiTokens } from '../src/admin/apiTokens';
import { buildApiServer } from '../src/api/server';
import { PgCrmRecords } from '../src/crm/crmRecords';
import { PgSyncStore } from '../src/store/pgSyncStore';
import { mailboxWorkflowId } from '../src/temporal/names';
import { CrmUserIdAttribute } from '../src/temporal/searchAttributes';
import { makeMessages } from './support/messages';
import { dovecotProfile, eventually, useBedWithDovecot } from './support/testBed';

const ctx = useBedWithDovecot();
let app: FastifyInstance;
let adminToken: string;
let profileId: string;

async function call(opts: InjectOptions): Promise<LightMyRequestResponse> {
  return app.inject({ ...opts, headers: { authorization: `Bearer ${adminToken}` } });
}

async function ok<T = any>(opts: InjectOptions, status = 200): Promise<T> {
  const res = await call(opts);
  if (res.statusCode !== status) throw new Error(`${opts.method} ${opts.url}: expected ${status}, got ${res.statusCode}: ${res.body}`);
  return (res.body ? res.json() : undefined) as T;
}

const address = (name: string) => `${name}-${randomUUID().slice(0, 8)}@example.test`;
const newQueue = (payload: Record<string, unknown>) => ok({ method: 'POST', url: '/queues', payload }, 201);
const newUser = (fullName: string) => ok({ method: 'POST', url: '/users', payload: { fullName, email: address('user') } }, 201);
/** A mailbox that does not sync (for the mapping tests). */
const idleMailbox = (emailAddress: string, owner: Record<string, string> = {}) =>
  ok({ method: 'POST', url: '/mailboxes', payload: { emailAddress, profileId, password: 'x', incomingEnabled: false, ...owner } }, 201);
const map = (mailboxId: string, payload: Record<string, unknown>) => call({ method: 'POST', url: `/mailboxes/${mailboxId}/map`, payload });

/** The queue's items, with the activity's subject and how many items that activity has in the queue. */
async function queueItems(queueId: string) {
  return ctx.bed.query<{ subject: string; mailbox_id: string; email_activity_id: string }>(
    `SELECT e.subject, i.mailbox_id, i.email_activity_id FROM queue_items i JOIN email_activities e ON e.id = i.email_activity_id
      WHERE i.queue_id = $1 ORDER BY e.subject`,
    [queueId],
  );
}

/**
 * A queue, a Dovecot user for its address holding `messages` (those to the test messages' default
 * recipient addressed to the queue), and the queue's mailbox (which starts syncing).
 */
async function queueWithMailbox(name: string, messages: string[], trackingOption?: string) {
  const email = address(name.toLowerCase().replace(/\W+/g, '-'));
  const queue = await newQueue({ name, email, ...(trackingOption && { trackingOption }) });
  await ctx.dovecot.addUser(email, 'secret');
  await ctx.dovecot.deliver(email, messages.map((m) => m.replace(/^To: alice@example\.test$/m, `To: ${name} <${email}>`)));
  const mailbox = await ok(
    { method: 'POST', url: '/mailboxes', payload: { emailAddress: email.toUpperCase(), profileId, ownerQueueId: queue.id, password: 'secret', emailApproved: true } },
    201,
  );
  return { queue, mailbox, email };
}

/** The running workflows Temporal's visibility finds by this CRM user. */
async function runsFoundByUser(userId: string): Promise<string[]> {
  const found: string[] = [];
  for await (const wf of ctx.bed.temporal.workflow.list({ query: `CrmUserId = "${userId}" AND ExecutionStatus = "Running"` })) found.push(wf.workflowId);
  return found;
}

/** Asks for a sync and waits until a cycle that started after the request succeeded. */
async function syncAgain(mailboxId: string) {
  const [{ before }] = await ctx.bed.query<{ before: Date }>(`SELECT now() AS before`);
  await ctx.bed.admin.syncNow(mailboxId);
  await eventually('a fresh successful cycle', async () => {
    const [m] = await ctx.bed.query<{ ok: boolean }>(
      `SELECT last_sync_started_at > $2 AND last_success_at >= last_sync_started_at AS ok FROM mailboxes WHERE id = $1`,
      [mailboxId, before],
    );
    return m.ok;
  });
}

beforeAll(async () => {
  profileId = (await ctx.bed.admin.createProfile(dovecotProfile('Queue Dovecot', ctx.dovecot))).id;
  const tokens = new ApiTokens(ctx.bed.pool);
  app = await buildApiServer({ service: ctx.bed.admin, tokens, crm: new PgCrmRecords(ctx.bed.pool) });
  await app.ready();
  adminToken = (await tokens.create({ role: 'admin', label: 'queue test' })).token;
});

afterAll(async () => {
  await app?.close();
});

describe('queue mailboxes', () => {
  it("turns mail to the queue's mailbox into one queue item per message, and a second sync adds none", async () => {
    const { queue, mailbox, email } = await queueWithMailbox('Support', makeMessages(6, { subject: 'Help' }));
    expect(mailbox).toMatchObject({ ownerUserId: null, ownerQueueId: queue.id, owner: { type: 'queue', id: queue.id, name: 'Support' } });

    await eventually('six queue items', async () => (await queueItems(queue.id)).length === 6);
    const items = await queueItems(queue.id);
    expect(new Set(items.map((i) => i.email_activity_id)).size).toBe(6);
    expect(items.every((i) => i.mailbox_id === mailbox.id && i.subject.startsWith('Help'))).toBe(true);
    // The queue's address resolves to the queue.
    const recipients = await ctx.bed.query<{ party_type: string; party_id: string }>(
      `SELECT DISTINCT p.party_type, p.party_id FROM email_parties p JOIN queue_items i ON i.email_activity_id = p.email_activity_id
        WHERE i.queue_id = $1 AND p.role = 'to'`,
      [queue.id],
    );
    expect(recipients).toEqual([{ party_type: 'queue', party_id: queue.id }]);

    await syncAgain(mailbox.id);
    expect(await queueItems(queue.id)).toHaveLength(6);
    const [{ n }] = await ctx.bed.query<{ n: number }>(`SELECT count(*)::int AS n FROM item_links WHERE mailbox_id = $1`, [mailbox.id]);
    expect(n).toBe(6);

    // The workflow shows the queue as the owner and carries no CRM user.
    const plan = await new PgSyncStore(ctx.bed.pool, ctx.bed.secrets).describeMailbox(mailbox.id);
    expect(plan).toMatchObject({ ownerUserId: null, ownerName: 'Support', emailAddress: email.toUpperCase() });
    const described = await ctx.bed.temporal.workflow.getHandle(mailboxWorkflowId(mailbox.id)).describe();
    expect(described.typedSearchAttributes.get(CrmUserIdAttribute)).toBeUndefined();
    expect(described.searchAttributes.MailboxId).toEqual([mailbox.id]);
  }, 120_000);

  it('makes a queue item of a message another mailbox stored first: one activity, linked to both', async () => {
    const userAddress = address('colleague');
    // A copy of the user's message reaches the queue too (a Bcc, a forwarding rule): the same message.
    const [message] = makeMessages(1, { subject: 'Shared', to: userAddress });
    await ctx.dovecot.addUser(userAddress, 'secret');
    await ctx.dovecot.deliver(userAddress, [message]);
    const user = await newUser('Colleague');
    const userMailbox = await ok(
      { method: 'POST', url: '/mailboxes', payload: { emailAddress: userAddress, profileId, ownerUserId: user.id, password: 'secret', emailApproved: true } },
      201,
    );
    await eventually("the user's copy stored", async () => (await ok({ method: 'GET', url: `/emails?mailboxId=${userMailbox.id}` })).items.length === 1);

    const { queue, mailbox } = await queueWithMailbox('Shared Desk', [message]);
    await eventually('one queue item', async () => (await queueItems(queue.id)).length === 1);
    const [item] = await queueItems(queue.id);
    const activity = await ok({ method: 'GET', url: `/emails/${item.email_activity_id}` });
    expect(activity.mailboxIds.sort()).toEqual([userMailbox.id, mailbox.id].sort());
    expect(item.mailbox_id).toBe(mailbox.id);
  }, 120_000);

  it("applies the queue's tracking option, and the cursor moves past what it leaves out", async () => {
    const contact = await ok({ method: 'POST', url: '/contacts', payload: { fullName: 'Known Customer', email: address('customer') } }, 201);
    const { queue, mailbox } = await queueWithMailbox(
      'Sales',
      [...makeMessages(3, { subject: 'Unknown' }), ...makeMessages(2, { subject: 'Known', from: `Known Customer <${contact.email}>` })],
      'crm_records',
    );
    expect(queue.trackingOption).toBe('crm_records');

    await eventually('a successful cycle', async () => (await ok({ method: 'GET', url: `/mailboxes/${mailbox.id}` })).statistics.lastSuccessAt);
    const items = await queueItems(queue.id);
    expect(items.map((i) => i.subject.replace(/ \S+ #/, ' #'))).toEqual(['Known #1', 'Known #2']);
    const [cursor] = await ctx.bed.query<{ cursor: { lastUid: number } }>(`SELECT cursor FROM folder_cursors WHERE mailbox_id = $1`, [mailbox.id]);
    expect(cursor.cursor).toMatchObject({ lastUid: 5 });
  }, 120_000);
});

describe('queue mailbox mapping', () => {
  it('takes a mailbox a user holds only on confirmation, breaking the user mapping', async () => {
    const queue = await newQueue({ name: 'Billing', email: address('billing') });
    const holder = await newUser('Harriet Holder');
    const mailbox = await idleMailbox(queue.email, { ownerUserId: holder.id });
    const workflowId = mailboxWorkflowId(mailbox.id);
    await eventually("the workflow is found by the user's id", async () => (await runsFoundByUser(holder.id)).includes(workflowId));

    const conflict = await map(mailbox.id, { queueId: queue.id });
    expect(conflict.statusCode).toBe(409);
    const body = conflict.json();
    expect(body).toMatchObject({
      message: expect.stringContaining('Harriet Holder'),
      details: {
        currentOwner: { type: 'user', id: holder.id, name: 'Harriet Holder' },
        currentUser: { id: holder.id },
        confirmWith: { queueId: queue.id, confirm: true, expectedMappingVersion: mailbox.mappingVersion },
      },
    });
    expect((await ok({ method: 'GET', url: `/mailboxes/${mailbox.id}` })).ownerUserId).toBe(holder.id);

    const mapped = await ok({ method: 'POST', url: `/mailboxes/${mailbox.id}/map`, payload: body.details.confirmWith });
    expect(mapped).toMatchObject({
      ownerUserId: null,
      ownerQueueId: queue.id,
      owner: { type: 'queue', id: queue.id, name: 'Billing' },
      mappingVersion: mailbox.mappingVersion + 1,
    });
    expect(await ok({ method: 'GET', url: `/mailboxes?ownerUserId=${holder.id}` })).toEqual([]);
    expect((await ok({ method: 'GET', url: `/mailboxes?ownerQueueId=${queue.id}` })).map((m: { id: string }) => m.id)).toEqual([mailbox.id]);
    // The run for the queue drops the user's id it inherited.
    await eventually('the workflow no longer found by the user', async () => {
      const described = await ctx.bed.temporal.workflow.getHandle(workflowId).describe();
      return described.typedSearchAttributes.get(CrmUserIdAttribute) === undefined && (await runsFoundByUser(holder.id)).length === 0;
    });

    // And back to a user: the conflict names the queue.
    const back = await map(mailbox.id, { userId: holder.id });
    expect(back.statusCode).toBe(409);
    expect(back.json()).toMatchObject({ message: expect.stringContaining('queue Billing'), details: { currentOwner: { type: 'queue', id: queue.id }, currentUser: null } });
    const remapped = await ok({ method: 'POST', url: `/mailboxes/${mailbox.id}/map`, payload: back.json().details.confirmWith });
    expect(remapped).toMatchObject({ ownerUserId: holder.id, ownerQueueId: null, owner: { type: 'user', name: 'Harriet Holder' } });
  });

  it('moves an owner from its other mailbox only on confirmation, and that mailbox loses its owner', async () => {
    const user = await newUser('Two Boxes');
    const first = await idleMailbox(address('first'), { ownerUserId: user.id });
    const second = await idleMailbox(address('second'));

    const conflict = await map(second.id, { userId: user.id });
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json()).toMatchObject({
      message: expect.stringContaining(`already holds mailbox ${first.emailAddress}`),
      details: { mailboxId: first.id, confirmWith: { userId: user.id, confirm: true } },
    });
    await ok({ method: 'POST', url: `/mailboxes/${second.id}/map`, payload: conflict.json().details.confirmWith });
    expect(await ok({ method: 'GET', url: `/mailboxes/${first.id}` })).toMatchObject({ ownerUserId: null, owner: null, mappingVersion: first.mappingVersion + 1 });
    expect(await ok({ method: 'GET', url: `/mailboxes/${second.id}` })).toMatchObject({ ownerUserId: user.id });
  });

  it("refuses a queue a mailbox for another address, and a change of address under the queue's mailbox", async () => {
    const queue = await newQueue({ name: 'Returns', email: address('returns') });
    const other = await idleMailbox(address('elsewhere'));
    const refused = await map(other.id, { queueId: queue.id });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().message).toContain(`can only hold a mailbox for its own address`);
    const created = await call({
      method: 'POST',
      url: '/mailboxes',
      payload: { emailAddress: address('nope'), profileId, password: 'x', incomingEnabled: false, ownerQueueId: queue.id },
    });
    expect(created.statusCode).toBe(400);

    const mailbox = await idleMailbox(queue.email, { ownerQueueId: queue.id });
    const moved = await call({ method: 'PATCH', url: `/queues/${queue.id}`, payload: { email: address('moved') } });
    expect(moved.statusCode).toBe(409);
    expect(moved.json()).toMatchObject({ details: { mailboxId: mailbox.id } });
    expect((await ok({ method: 'GET', url: `/queues/${queue.id}` })).email).toBe(queue.email);
    // The same address in other letters is no change of mailbox.
    expect((await ok({ method: 'PATCH', url: `/queues/${queue.id}`, payload: { email: queue.email.toUpperCase(), trackingOption: 'replies_to_crm' } }))).toMatchObject({
      trackingOption: 'replies_to_crm',
    });

    // Deleting the queue breaks its mailbox's mapping.
    await ok({ method: 'DELETE', url: `/queues/${queue.id}` }, 204);
    expect(await ok({ method: 'GET', url: `/mailboxes/${mailbox.id}` })).toMatchObject({ ownerQueueId: null, owner: null, mappingVersion: mailbox.mappingVersion + 1 });
  });
});

describe('queue API bad input', () => {
  it('answers an unknown queue with 404, a bad address or option with 400, and a taken address with 409', async () => {
    const unknown = randomUUID();
    const queue = await newQueue({ name: 'Intake', email: address('intake') });
    const mailbox = await idleMailbox(address('unmapped'));
    const cases: [InjectOptions, number, RegExp][] = [
      [{ method: 'GET', url: `/queues/${unknown}` }, 404, /Queue .* does not exist/],
      [{ method: 'PATCH', url: `/queues/${unknown}`, payload: { name: 'X' } }, 404, /Queue .* does not exist/],
      [{ method: 'DELETE', url: `/queues/${unknown}` }, 404, /Queue .* does not exist/],
      [{ method: 'POST', url: `/mailboxes/${mailbox.id}/map`, payload: { queueId: unknown } }, 404, /Queue .* does not exist/],
      [
        { method: 'POST', url: '/mailboxes', payload: { emailAddress: address('x'), profileId, password: 'x', ownerQueueId: unknown } },
        404,
        /Queue .* does not exist/,
      ],
      [{ method: 'POST', url: '/queues', payload: { name: 'Bad', email: 'not-an-address' } }, 400, /email/],
      [{ method: 'POST', url: '/queues', payload: { name: 'No address' } }, 400, /email/],
      [{ method: 'POST', url: '/queues', payload: { name: 'Bad', email: address('bad'), trackingOption: 'sometimes' } }, 400, /trackingOption/],
      [{ method: 'PATCH', url: `/queues/${queue.id}`, payload: { email: null } }, 400, /email/],
      [{ method: 'POST', url: '/queues', payload: { name: 'Twin', email: queue.email.toUpperCase() } }, 409, /queue with the email address .* exists already/],
      [{ method: 'POST', url: `/mailboxes/${mailbox.id}/map`, payload: { userId: unknown, queueId: queue.id } }, 400, /userId or queueId/],
      [{ method: 'POST', url: `/mailboxes/${mailbox.id}/map`, payload: {} }, 400, /userId or queueId/],
      [
        { method: 'POST', url: '/mailboxes', payload: { emailAddress: queue.email, profileId, password: 'x', ownerUserId: unknown, ownerQueueId: queue.id } },
        400,
        /not both/,
      ],
    ];
    for (const [request, status, message] of cases) {
      const res = await call(request);
      expect({ request: `${request.method} ${request.url}`, status: res.statusCode, message: res.json().message }).toEqual({
        request: `${request.method} ${request.url}`,
        status,
        message: expect.stringMatching(message),
      });
    }
    const twin = await call({ method: 'PATCH', url: `/queues/${(await newQueue({ name: 'Other', email: address('other') })).id}`, payload: { email: queue.email } });
    expect(twin.statusCode).toBe(409);
    expect(await ok({ method: 'GET', url: `/queues?email=${queue.email}` })).toHaveLength(1);
  });
});
