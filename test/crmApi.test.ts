import type { FastifyInstance, InjectOptions } from 'fastify';
import { ApiTokens } from '../src/admin/apiTokens';
import { buildApiServer } from '../src/api/server';
import { PgCrmRecords } from '../src/crm/crmRecords';
import { makeMessage, makeMessages } from './support/messages';
import { dovecotProfile, eventually, useBedWithDovecot } from './support/testBed';

// The CRM records sync resolves against, and the email activities it writes, through the API;
// and a user changing their own mailbox's password with their own token. Real PostgreSQL, Dovecot, Temporal.

const ctx = useBedWithDovecot();
let app: FastifyInstance;
let tokens: ApiTokens;
let adminToken: string;

beforeAll(async () => {
  tokens = new ApiTokens(ctx.bed.pool);
  app = await buildApiServer({ service: ctx.bed.admin, tokens, crm: new PgCrmRecords(ctx.bed.pool) });
  await app.ready();
  adminToken = (await tokens.create({ role: 'admin' })).token;
});

afterAll(async () => {
  await app?.close();
});

async function api<T = any>(opts: InjectOptions & { token?: string }, status = 200): Promise<T> {
  const { token, ...rest } = opts;
  const res = await app.inject({ ...rest, headers: { authorization: `Bearer ${token ?? adminToken}` } });
  if (res.statusCode !== status) throw new Error(`${opts.method} ${opts.url}: expected ${status}, got ${res.statusCode}: ${res.body}`);
  return (res.body ? res.json() : undefined) as T;
}

/** A CRM user with a mailbox on the test Dovecot, holding `password` there. */
async function userWithMailbox(profileId: string, address: string, password: string, mailboxPassword = password) {
  await ctx.dovecot.addUser(address, password);
  const user = await api({ method: 'POST', url: '/users', payload: { fullName: address, email: address } }, 201);
  const mailbox = await api(
    { method: 'POST', url: '/mailboxes', payload: { emailAddress: address, profileId, ownerUserId: user.id, password: mailboxPassword, emailApproved: true } },
    201,
  );
  const { token } = await tokens.create({ role: 'user', userId: user.id });
  return { user, mailbox, token };
}

describe('CRM records', () => {
  it('creates, lists by email, reads, changes and deletes contacts, leads and accounts', async () => {
    const account = await api({ method: 'POST', url: '/accounts', payload: { name: 'Acme', email: 'info@acme.test' } }, 201);
    expect(account).toMatchObject({ name: 'Acme', email: 'info@acme.test', createdAt: expect.any(String) });
    const contact = await api({ method: 'POST', url: '/contacts', payload: { fullName: 'Carol Contact', email: 'Carol@Acme.test', accountId: account.id } }, 201);
    expect(contact).toMatchObject({ fullName: 'Carol Contact', accountId: account.id });
    await api({ method: 'POST', url: '/contacts', payload: { fullName: 'Other Contact', email: 'other@acme.test' } }, 201);
    const lead = await api({ method: 'POST', url: '/leads', payload: { fullName: 'Lee Lead', email: 'lee@prospect.test', company: 'Prospect Ltd' } }, 201);

    // Listing by email ignores case, as address resolution does.
    expect((await api<any[]>({ method: 'GET', url: '/contacts?email=carol@ACME.test' })).map((c) => c.id)).toEqual([contact.id]);
    expect(await api<any[]>({ method: 'GET', url: '/contacts' })).toHaveLength(2);
    expect((await api<any[]>({ method: 'GET', url: '/contacts?limit=1&offset=1' })).map((c) => c.fullName)).toEqual(['Other Contact']);
    expect(await api({ method: 'GET', url: `/leads/${lead.id}` })).toEqual(lead);
    expect((await api<any[]>({ method: 'GET', url: '/accounts?email=INFO@acme.test' })).map((a) => a.id)).toEqual([account.id]);

    // PATCH changes what it names; null clears an optional field.
    const changed = await api({ method: 'PATCH', url: `/contacts/${contact.id}`, payload: { fullName: 'Carol C. Contact', accountId: null } });
    expect(changed).toEqual({ ...contact, fullName: 'Carol C. Contact', accountId: null, modifiedAt: expect.any(String) });
    expect(await api({ method: 'PATCH', url: `/leads/${lead.id}`, payload: { company: 'Bigger Ltd' } })).toMatchObject({ fullName: 'Lee Lead', company: 'Bigger Ltd' });
    const [row] = await ctx.bed.query(`SELECT full_name, account_id FROM contacts WHERE id = $1`, [contact.id]);
    expect(row).toEqual({ full_name: 'Carol C. Contact', account_id: null });

    // A reference to a record that does not exist is the caller's mistake, not a server fault.
    const dangling = await app.inject({
      method: 'POST',
      url: '/contacts',
      headers: { authorization: `Bearer ${adminToken}` },
      payload: { fullName: 'X', accountId: '0b3a4f9e-1c2d-4e5f-8a9b-0c1d2e3f4a5b' },
    });
    expect(dangling.statusCode).toBe(400);
    expect(dangling.json().message).toMatch(/does not exist/);

    await api({ method: 'DELETE', url: `/accounts/${account.id}` }, 204);
    await api({ method: 'DELETE', url: `/leads/${lead.id}` }, 204);
    expect(await api({ method: 'GET', url: `/leads/${lead.id}` }, 404)).toMatchObject({ error: 'not_found', message: expect.stringMatching(/Lead .* does not exist/) });
    expect(await ctx.bed.query(`SELECT id FROM accounts`)).toEqual([]);
  });
});

describe('email activities', () => {
  it('lists and reads what a real sync wrote, with parties resolved to a contact made through the API; a user token sees its own mailbox only', async () => {
    const profile = await api({ method: 'POST', url: '/profiles', payload: dovecotProfile('Activities Dovecot', ctx.dovecot) }, 201);
    const contact = await api({ method: 'POST', url: '/contacts', payload: { fullName: 'Dana Customer', email: 'dana@customer.test' } }, 201);
    const alice = await userWithMailbox(profile.id, 'alice@example.test', 'alice-Pa55');
    const bob = await userWithMailbox(profile.id, 'bob@example.test', 'bob-Pa55');
    await ctx.dovecot.deliver('alice@example.test', [
      ...makeMessages(3, { from: 'Dana Customer <Dana@Customer.test>', to: 'alice@example.test', subject: 'From Dana' }),
      ...makeMessages(2, { to: 'alice@example.test', subject: 'Other' }),
    ]);
    await ctx.dovecot.deliver('bob@example.test', [makeMessage({ to: 'bob@example.test', subject: 'For Bob' })]);

    const aliceMailbox = alice.mailbox.id;
    await eventually('5 activities from alice, 1 from bob', async () => {
      const [a, b] = await Promise.all([
        api({ method: 'GET', url: `/emails?mailboxId=${aliceMailbox}` }),
        api({ method: 'GET', url: `/emails?mailboxId=${bob.mailbox.id}` }),
      ]);
      return a.items.length === 5 && b.items.length === 1;
    });

    const fromDana = await api({ method: 'GET', url: '/emails?address=DANA@customer.test' });
    expect(fromDana.items).toHaveLength(3);
    for (const item of fromDana.items) {
      expect(item.subject).toMatch(/^From Dana/);
      expect(item.mailboxIds).toEqual([aliceMailbox]);
      expect(item.parties).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ role: 'from', address: 'dana@customer.test', partyType: 'contact', partyId: contact.id }),
          expect.objectContaining({ role: 'to', address: 'alice@example.test', partyType: 'user', partyId: alice.user.id }),
        ]),
      );
    }

    // Pages of 2, by cursor: every activity once.
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 10; page++) {
      const res: any = await api({ method: 'GET', url: `/emails?mailboxId=${aliceMailbox}&limit=2${cursor ? `&cursor=${cursor}` : ''}` });
      seen.push(...res.items.map((i: any) => i.id));
      expect(res.items.length).toBeLessThanOrEqual(2);
      cursor = res.nextCursor;
      if (!cursor) break;
    }
    expect(seen).toHaveLength(5);
    expect(new Set(seen).size).toBe(5);
    expect((await api({ method: 'GET', url: `/emails?since=${encodeURIComponent(new Date(Date.now() + 86_400_000).toISOString())}` })).items).toEqual([]);

    const one = await api({ method: 'GET', url: `/emails/${fromDana.items[0].id}` });
    expect(one).toMatchObject({ id: fromDana.items[0].id, bodyText: expect.stringContaining('Hello from the test bed'), parties: fromDana.items[0].parties });

    // Alice's token: her mailbox's activities, nobody else's.
    expect((await api({ method: 'GET', url: '/emails', token: alice.token })).items.map((i: any) => i.id).sort()).toEqual([...seen].sort());
    expect(await api({ method: 'GET', url: `/emails/${one.id}`, token: alice.token })).toEqual(one);
    const bobsActivity = (await api({ method: 'GET', url: `/emails?mailboxId=${bob.mailbox.id}` })).items[0];
    await api({ method: 'GET', url: `/emails/${bobsActivity.id}`, token: alice.token }, 403);
    await api({ method: 'GET', url: `/emails?mailboxId=${bob.mailbox.id}`, token: alice.token }, 403);
    await api({ method: 'POST', url: '/contacts', token: alice.token, payload: { fullName: 'Not hers to make' } }, 403);

    // Deleting the contact leaves its activities, the party no longer resolved.
    await api({ method: 'DELETE', url: `/contacts/${contact.id}` }, 204);
    const after = await api({ method: 'GET', url: `/emails/${one.id}` });
    expect(after.parties.find((p: any) => p.role === 'from')).toMatchObject({ address: 'dana@customer.test', partyType: null, partyId: null });
  }, 120_000);
});

describe("a user's own mailbox password", () => {
  it('changes with their user token; the next step it names (Test & Enable) then syncs with it', async () => {
    const profile = await api({ method: 'POST', url: '/profiles', payload: dovecotProfile('Password Dovecot', ctx.dovecot, { connectionTimeoutSeconds: 5 }) }, 201);
    // The server has the new password; the CRM still the old one.
    const erin = await userWithMailbox(profile.id, 'erin@example.test', 'erin-NEW-Pa55', 'erin-OLD-Pa55');
    const frank = await userWithMailbox(profile.id, 'frank@example.test', 'frank-Pa55');

    const res = await api({ method: 'PUT', url: '/me/mailbox/password', token: erin.token, payload: { password: 'erin-NEW-Pa55' } });
    expect(res).toMatchObject({ mailbox: { id: erin.mailbox.id }, next: expect.stringMatching(/Test & Enable/) });
    expect(JSON.stringify(res)).not.toContain('erin-NEW-Pa55');
    const [{ credentials }] = await ctx.bed.query<{ credentials: string }>(`SELECT credentials FROM mailboxes WHERE id = $1`, [erin.mailbox.id]);
    expect(ctx.bed.secrets.decrypt(credentials)).toBe('erin-NEW-Pa55');
    // Frank's mailbox is untouched, and Erin's token cannot reach it another way.
    const [{ credentials: franks }] = await ctx.bed.query<{ credentials: string }>(`SELECT credentials FROM mailboxes WHERE id = $1`, [frank.mailbox.id]);
    expect(ctx.bed.secrets.decrypt(franks)).toBe('frank-Pa55');
    await api({ method: 'PATCH', url: `/mailboxes/${frank.mailbox.id}`, token: erin.token, payload: { password: 'hijack' } }, 403);
    // An admin token acts for no user: it uses PATCH /mailboxes/:id instead.
    await api({ method: 'PUT', url: '/me/mailbox/password', payload: { password: 'x' } }, 403);

    const tested = await api({ method: 'POST', url: `/mailboxes/${erin.mailbox.id}/test-and-enable`, token: erin.token });
    expect(tested).toMatchObject({ incoming: { status: 'success' }, incomingEnabled: true });
    await ctx.dovecot.deliver('erin@example.test', [makeMessage({ to: 'erin@example.test', subject: 'After the password change' })]);
    await eventually('the message synced with the new password', async () => {
      const page = await api({ method: 'GET', url: '/emails', token: erin.token });
      return page.items.some((i: any) => i.subject === 'After the password change');
    });
  }, 120_000);

  it('answers 404 to a user without a mailbox', async () => {
    const user = await api({ method: 'POST', url: '/users', payload: { fullName: 'No Mailbox', email: 'nomailbox@example.test' } }, 201);
    const { token } = await tokens.create({ role: 'user', userId: user.id });
    expect(await api({ method: 'PUT', url: '/me/mailbox/password', token, payload: { password: 'x' } }, 404)).toMatchObject({ error: 'not_found' });
  });
});
