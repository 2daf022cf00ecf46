import { randomUUID } from 'node:crypto';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { ApiTokens } from '../src/admin/apiTokens';
import { STATUS_QUERY_DEADLINE_MS } from '../src/admin/mailboxService';
import { OutgoingEmailService } from '../src/admin/outgoingEmailService';
import { createItemServices } from '../src/admin/itemServices';
import { apiRoutes, buildApiServer } from '../src/api/server';
import { PgCrmRecords } from '../src/crm/crmRecords';
import { EncryptionCodec } from '../src/temporal/payloadCodec';
import { DovecotServer } from './support/dovecot';
import { makeMessages } from './support/messages';
import { eventually, TestBed } from './support/testBed';

let bed: TestBed;
let app: FastifyInstance;
let tokens: ApiTokens;
let dovecot: DovecotServer;
let adminToken: string;
/** Every response body the tests saw: none may hold a mailbox password. */
const seen: string[] = [];
const PASSWORDS = ['Pa55word-ALPHA-7731', 'Pa55word-BRAVO-1187', 'Pa55word-CHARLIE-90', 'dovecot-Pa55-4412'];

const auth = (token: string) => ({ authorization: `Bearer ${token}` });

async function call(opts: InjectOptions & { token?: string | null }): Promise<LightMyRequestResponse> {
  const { token, ...rest } = opts;
  const headers = { ...(token === null ? {} : auth(token ?? adminToken)), ...(rest.headers ?? {}) };
  const res = await app.inject({ ...rest, headers });
  seen.push(res.body);
  return res;
}

async function ok<T = any>(opts: InjectOptions & { token?: string | null }, status = 200): Promise<T> {
  const res = await call(opts);
  if (res.statusCode !== status) throw new Error(`${opts.method} ${opts.url}: expected ${status}, got ${res.statusCode}: ${res.body}`);
  return (res.body ? res.json() : undefined) as T;
}

let profileSeq = 0;
const newProfile = (overrides: Record<string, unknown> = {}) =>
  ok({
    method: 'POST',
    url: '/profiles',
    payload: { name: `Profile ${++profileSeq}`, serverType: 'imap', incomingHost: '127.0.0.1', incomingPort: 1, incomingSecurity: 'none', ...overrides },
  }, 201);

let userSeq = 0;
const newUser = (name = `User ${++userSeq}`) =>
  ok({ method: 'POST', url: '/users', payload: { fullName: name, email: `user${userSeq}-${randomUUID().slice(0, 6)}@example.test` } }, 201);

const newMailbox = (profileId: string, ownerUserId?: string, password = PASSWORDS[0]) =>
  ok({
    method: 'POST',
    url: '/mailboxes',
    payload: { emailAddress: `mb-${randomUUID().slice(0, 8)}@example.test`, profileId, ownerUserId, password, incomingEnabled: false },
  }, 201);

beforeAll(async () => {
  bed = await TestBed.create();
  dovecot = await DovecotServer.start({ name: 'api' });
  await bed.startWorkers();
  tokens = new ApiTokens(bed.pool);
  const crm = new PgCrmRecords(bed.pool);
  app = await buildApiServer({
    service: bed.admin,
    tokens,
    crm,
    items: createItemServices(bed.pool),
    outgoing: new OutgoingEmailService(bed.pool, crm, bed.temporal),
    codec: new EncryptionCodec(bed.env.SECRET_KEYS),
  });
  await app.ready();
  adminToken = (await tokens.create({ role: 'admin', label: 'api test' })).token;
});

afterAll(async () => {
  await app?.close();
  await bed?.close();
  await dovecot?.destroy();
});

describe('tokens', () => {
  it('stores only the hash, authenticates until revoked, and needs a user for a user token', async () => {
    const user = await newUser();
    const { id, token } = await tokens.create({ role: 'user', userId: user.id, label: 'alice laptop' });
    expect(token).toMatch(/^cms_[A-Za-z0-9_-]{43}$/);
    const [row] = await bed.query<{ token_hash: Buffer; label: string }>(`SELECT token_hash, label FROM api_tokens WHERE id = $1`, [id]);
    expect(row.token_hash).toHaveLength(32);
    expect(row.token_hash.toString('hex')).not.toContain(Buffer.from(token).toString('hex'));
    expect(JSON.stringify(await bed.query(`SELECT * FROM api_tokens`))).not.toContain(token);
    expect(await tokens.authenticate(token)).toEqual({ tokenId: id, role: 'user', userId: user.id });
    await tokens.revoke(id);
    expect(await tokens.authenticate(token)).toBeNull();
    await expect(tokens.create({ role: 'user' })).rejects.toThrow(/userId/);
    await expect(tokens.create({ role: 'user', userId: randomUUID() })).rejects.toMatchObject({ statusCode: 404 });
  });
});

describe('authentication', () => {
  it('answers 401 without a token, with a malformed, unknown or revoked one', async () => {
    const revoked = await tokens.create({ role: 'admin' });
    await tokens.revoke(revoked.id);
    const attempts: Record<string, string>[] = [
      {},
      { authorization: 'Bearer' },
      { authorization: 'Basic YWRtaW46YWRtaW4=' },
      { authorization: 'Bearer not-a-token' },
      { authorization: `Bearer cms_${'A'.repeat(43)}` },
      { authorization: `Bearer ${revoked.token}` },
    ];
    for (const headers of attempts) {
      const res = await call({ method: 'GET', url: '/users', token: null, headers });
      expect({ headers, status: res.statusCode }).toEqual({ headers, status: 401 });
      expect(res.json()).toMatchObject({ error: 'unauthorized', message: expect.any(String) });
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
    }
    // Authentication comes before the body is read: no token, no parse error.
    const res = await call({ method: 'POST', url: '/users', token: null, headers: { 'content-type': 'application/json' }, payload: '{oops' });
    expect(res.statusCode).toBe(401);
  });

  it('limits a user token to its own mailbox, alerts and options', async () => {
    const profile = await newProfile();
    const alice = await newUser('Alice Owner');
    const bob = await newUser('Bob Other');
    const mine = await newMailbox(profile.id, alice.id, PASSWORDS[1]);
    const theirs = await newMailbox(profile.id, bob.id, PASSWORDS[2]);
    const { token } = await tokens.create({ role: 'user', userId: alice.id });

    const other = await call({ method: 'GET', url: `/mailboxes/${theirs.id}`, token });
    expect(other.statusCode).toBe(403);
    expect(other.json()).toMatchObject({ error: 'forbidden', message: expect.stringMatching(/own mailbox/) });
    // A mailbox that does not exist looks the same as someone else's.
    expect((await call({ method: 'GET', url: `/mailboxes/${randomUUID()}`, token })).statusCode).toBe(403);

    const own = await ok({ method: 'GET', url: `/mailboxes/${mine.id}`, token });
    expect(own).toMatchObject({ id: mine.id, ownerUserId: alice.id, statistics: expect.any(Object) });
    expect(own).toHaveProperty('live');
    expect((await ok<any[]>({ method: 'GET', url: '/mailboxes', token })).map((m) => m.id)).toEqual([mine.id]);
    expect((await call({ method: 'GET', url: `/mailboxes?ownerUserId=${bob.id}`, token })).statusCode).toBe(403);
    // Its incoming sync is disabled: sync now says so instead of doing nothing.
    expect(await call({ method: 'POST', url: `/mailboxes/${mine.id}/sync-now`, token })).toMatchObject({ statusCode: 409 });
    expect((await call({ method: 'POST', url: `/mailboxes/${theirs.id}/sync-now`, token })).statusCode).toBe(403);
    expect((await call({ method: 'POST', url: `/mailboxes/${theirs.id}/test-and-enable`, token })).statusCode).toBe(403);

    expect(await ok({ method: 'GET', url: '/me', token })).toMatchObject({ role: 'user', userId: alice.id, user: { id: alice.id, fullName: 'Alice Owner' } });
    expect(await ok({ method: 'GET', url: '/me/options', token })).toEqual({ trackingOption: 'all', createContactsForUnknownSenders: false });
    expect(await ok({ method: 'PATCH', url: '/me/options', token, payload: { trackingOption: 'crm_records' } })).toEqual({
      trackingOption: 'crm_records',
      createContactsForUnknownSenders: false,
    });
    expect((await ok({ method: 'GET', url: `/users/${alice.id}` })).trackingOption).toBe('crm_records');

    await bed.query(
      `INSERT INTO alerts (level, scope, audiences, mailbox_id, user_id, message, resolved_at) VALUES
         ('error', 'mailbox', '{mailbox_owner,admins}', $1, $2, 'for alice', NULL),
         ('error', 'mailbox', '{admins}', $1, $2, 'for admins only', NULL),
         ('warning', 'mailbox', '{mailbox_owner}', $3, $4, 'for bob', NULL),
         ('warning', 'mailbox', '{mailbox_owner}', $1, $2, 'resolved, for alice', now())`,
      [mine.id, alice.id, theirs.id, bob.id],
    );
    expect((await ok<any[]>({ method: 'GET', url: '/alerts', token })).map((a) => a.message)).toEqual(['for alice']);
    const all = (await ok<any[]>({ method: 'GET', url: '/alerts' })).map((a) => a.message);
    expect(all).toEqual(expect.arrayContaining(['for alice', 'for admins only', 'for bob']));
    expect((await ok<any[]>({ method: 'GET', url: `/alerts?level=warning&mailboxId=${theirs.id}` })).map((a) => a.message)).toEqual(['for bob']);
    expect((await ok<any[]>({ method: 'GET', url: '/alerts?status=resolved', token })).map((a) => a.message)).toEqual(['resolved, for alice']);
    expect((await ok<any[]>({ method: 'GET', url: '/alerts?status=all', token })).map((a) => a.message).sort()).toEqual(['for alice', 'resolved, for alice']);
    const [alert] = await ok<any[]>({ method: 'GET', url: '/alerts', token });
    expect(alert).toEqual({
      id: expect.any(Number),
      level: 'error',
      scope: 'mailbox',
      audiences: ['mailbox_owner', 'admins'],
      mailboxId: mine.id,
      profileId: null,
      userId: alice.id,
      message: 'for alice',
      createdAt: expect.any(String),
      lastSeenAt: expect.any(String),
      occurrences: 1,
      resolvedAt: null,
    });
    expect(new Date(alert.lastSeenAt).toISOString()).toBe(alert.lastSeenAt);

    // Everything else is the admin's.
    for (const [method, url] of [
      ['GET', '/users'],
      ['GET', `/users/${alice.id}`],
      ['GET', '/profiles'],
      ['PATCH', `/mailboxes/${mine.id}`],
      ['DELETE', `/mailboxes/${mine.id}`],
      ['POST', `/mailboxes/${mine.id}/enable`],
      ['GET', `/mailboxes/${mine.id}/statistics`],
      ['POST', '/codec/decode'],
    ] as const) {
      const res = await call({ method, url, token, payload: {} });
      expect({ method, url, status: res.statusCode, error: res.json().error }).toEqual({ method, url, status: 403, error: 'forbidden' });
    }
    // A revoked user token stops working at once.
    const [{ id: tokenId }] = await bed.query<{ id: string }>(`SELECT id FROM api_tokens WHERE user_id = $1`, [alice.id]);
    await tokens.revoke(tokenId);
    expect((await call({ method: 'GET', url: '/me', token })).statusCode).toBe(401);
  });

  it('lets a user test and enable their own mailbox against a real server', async () => {
    const owner = await newUser('Dora Dovecot');
    await dovecot.addUser('dora@example.test', PASSWORDS[3]);
    const profile = await newProfile({ incomingHost: dovecot.host, incomingPort: dovecot.imapPort, connectionTimeoutSeconds: 5 });
    const mailbox = await ok({
      method: 'POST',
      url: '/mailboxes',
      payload: { emailAddress: 'dora@example.test', profileId: profile.id, ownerUserId: owner.id, password: PASSWORDS[3], incomingEnabled: false, emailApproved: true },
    }, 201);
    const { token } = await tokens.create({ role: 'user', userId: owner.id });
    const result = await ok({ method: 'POST', url: `/mailboxes/${mailbox.id}/test-and-enable`, token });
    expect(result).toMatchObject({ incoming: { status: 'success' }, incomingEnabled: true });
    expect((await ok({ method: 'GET', url: `/mailboxes/${mailbox.id}`, token })).incoming).toMatchObject({ enabled: true, status: 'success' });
  }, 60_000);
});

describe('admin', () => {
  it('creates, reads, changes and deletes profiles and mailboxes, never showing a password', async () => {
    const profile = await newProfile({ name: 'Round trip', maxConcurrentConnections: 3, processEmailFrom: '2026-01-01T00:00:00Z' });
    expect(profile).toMatchObject({ name: 'Round trip', serverType: 'imap', incomingSecurity: 'none', maxConcurrentConnections: 3, processEmailFrom: '2026-01-01T00:00:00.000Z' });
    expect(await ok({ method: 'GET', url: `/profiles/${profile.id}` })).toEqual(profile);
    expect((await ok<any[]>({ method: 'GET', url: '/profiles' })).map((p) => p.id)).toContain(profile.id);
    const patched = await ok({ method: 'PATCH', url: `/profiles/${profile.id}`, payload: { name: 'Round trip 2', incomingSecurity: 'none', maxConcurrentConnections: 4 } });
    expect(patched).toMatchObject({ id: profile.id, name: 'Round trip 2', maxConcurrentConnections: 4 });
    const dup = await call({ method: 'POST', url: '/profiles', payload: { name: 'round TRIP 2', serverType: 'imap', incomingHost: '127.0.0.1' } });
    expect(dup.statusCode).toBe(409);
    expect(dup.json()).toMatchObject({ error: 'conflict', message: expect.stringMatching(/exists already/) });

    const user = await newUser();
    const mailbox = await newMailbox(profile.id, user.id, PASSWORDS[0]);
    expect(mailbox).toMatchObject({ profileId: profile.id, ownerUserId: user.id, folders: ['INBOX'], mappingVersion: 0, incoming: { enabled: false } });
    const got = await ok({ method: 'GET', url: `/mailboxes/${mailbox.id}` });
    expect(got).toMatchObject({ id: mailbox.id, emailAddress: mailbox.emailAddress, profileId: profile.id, ownerUserId: user.id, live: { mailboxId: mailbox.id } });
    expect((await ok<any[]>({ method: 'GET', url: '/mailboxes' })).map((m) => m.id)).toContain(mailbox.id);
    expect((await ok<any[]>({ method: 'GET', url: `/mailboxes?ownerUserId=${user.id}` })).map((m) => m.id)).toEqual([mailbox.id]);
    const changed = await ok({ method: 'PATCH', url: `/mailboxes/${mailbox.id}`, payload: { password: PASSWORDS[2], folders: ['INBOX', 'Work'], minPollingIntervalSeconds: 120 } });
    expect(changed).toMatchObject({ folders: ['INBOX', 'Work'], minPollingIntervalSeconds: 120 });
    const [{ credentials }] = await bed.query<{ credentials: string }>(`SELECT credentials FROM mailboxes WHERE id = $1`, [mailbox.id]);
    expect(bed.secrets.decrypt(credentials)).toBe(PASSWORDS[2]);

    expect(await ok({ method: 'POST', url: `/mailboxes/${mailbox.id}/approve` })).toMatchObject({ emailApproved: true });
    expect(await ok({ method: 'POST', url: `/mailboxes/${mailbox.id}/enable`, headers: { 'content-type': 'application/json' }, payload: '' })).toMatchObject({
      incoming: { enabled: true },
    });
    const disabled = await ok({ method: 'POST', url: `/mailboxes/${mailbox.id}/disable` });
    expect(disabled).toMatchObject({ mailbox: { id: mailbox.id, incoming: { enabled: false } }, workflow: { mailboxId: mailbox.id } });
    const stats = await ok({ method: 'GET', url: `/mailboxes/${mailbox.id}/statistics` });
    expect(stats).toMatchObject({ consecutiveErrors: expect.any(Number), itemsProcessedLastCycle: expect.any(Number), live: { mailboxId: mailbox.id } });
    expect(stats).not.toHaveProperty('emailAddress');

    const inUse = await call({ method: 'DELETE', url: `/profiles/${profile.id}` });
    expect(inUse.statusCode).toBe(409);
    const del = await call({ method: 'DELETE', url: `/mailboxes/${mailbox.id}` });
    expect(del.statusCode).toBe(204);
    expect(del.body).toBe('');
    expect((await call({ method: 'GET', url: `/mailboxes/${mailbox.id}` })).json()).toMatchObject({ error: 'not_found' });
    expect((await call({ method: 'DELETE', url: `/profiles/${profile.id}` })).statusCode).toBe(204);
    expect((await call({ method: 'GET', url: `/profiles/${profile.id}` })).statusCode).toBe(404);
    expect((await call({ method: 'GET', url: `/users/${randomUUID()}` })).json()).toMatchObject({ error: 'not_found', message: expect.stringMatching(/does not exist/) });
  });

  // zod 4 keeps defaults inside .partial(): a patch schema built that way would reset the fields it does not name.
  it("changes the organisation's settings; lifting the approval requirement starts the waiting mailboxes at once", async () => {
    expect(await ok({ method: 'GET', url: '/organization' })).toMatchObject({ requireEmailApproval: true, maxAttachmentBytes: 5 * 1024 * 1024 });
    expect(await ok({ method: 'PATCH', url: '/organization', payload: { maxAttachmentBytes: 1000 } })).toMatchObject({
      requireEmailApproval: true,
      maxAttachmentBytes: 1000,
    });
    const address = 'waiting-for-approval@example.test';
    await dovecot.addUser(address, PASSWORDS[3]);
    await dovecot.deliver(address, makeMessages(2, { to: address }));
    const profile = await newProfile({ incomingHost: dovecot.host, incomingPort: dovecot.imapPort, minPollingIntervalSeconds: 1 });
    const mailbox = await ok({ method: 'POST', url: '/mailboxes', payload: { emailAddress: address, profileId: profile.id, password: PASSWORDS[3] } }, 201);
    const links = async () => (await bed.query<{ n: number }>(`SELECT count(*)::int AS n FROM item_links WHERE mailbox_id = $1`, [mailbox.id]))[0].n;
    expect(await links()).toBe(0);
    try {
      expect(await ok({ method: 'PATCH', url: '/organization', payload: { requireEmailApproval: false } })).toMatchObject({ requireEmailApproval: false });
      await eventually('the unapproved mailbox synced once approval is not required', async () => (await links()) === 2, 30_000);
    } finally {
      await ok({ method: 'PATCH', url: '/organization', payload: { requireEmailApproval: true, maxAttachmentBytes: 5 * 1024 * 1024 } });
    }
  }, 60_000);

  it('PATCH /profiles/:id leaves the fields it does not name as they were', async () => {
    const profile = await newProfile({ maxConcurrentConnections: 3, minPollingIntervalSeconds: 5 });
    const patched = await ok({ method: 'PATCH', url: `/profiles/${profile.id}`, payload: { name: `${profile.name} renamed` } });
    expect(patched).toMatchObject({ incomingSecurity: 'none', maxConcurrentConnections: 3, minPollingIntervalSeconds: 5 });
  });

  it('answers a remap with a conflict naming the current user, then takes the mailbox on confirmation', async () => {
    const profile = await newProfile();
    const holder = await newUser('Harriet Holder');
    const taker = await newUser('Tom Taker');
    const mailbox = await newMailbox(profile.id, holder.id);

    const conflict = await call({ method: 'POST', url: `/mailboxes/${mailbox.id}/map`, payload: { userId: taker.id } });
    expect(conflict.statusCode).toBe(409);
    const body = conflict.json();
    expect(body).toMatchObject({
      error: 'conflict',
      message: expect.stringContaining('Harriet Holder'),
      details: { currentUser: { id: holder.id, fullName: 'Harriet Holder' }, confirmWith: { userId: taker.id, confirm: true } },
    });
    expect((await ok({ method: 'GET', url: `/mailboxes/${mailbox.id}` })).ownerUserId).toBe(holder.id);

    const mapped = await ok({ method: 'POST', url: `/mailboxes/${mailbox.id}/map`, payload: body.details.confirmWith });
    expect(mapped).toMatchObject({ id: mailbox.id, ownerUserId: taker.id, mappingVersion: mailbox.mappingVersion + 1 });
    // Mapping to the user who holds it already changes nothing.
    expect((await ok({ method: 'POST', url: `/mailboxes/${mailbox.id}/map`, payload: { userId: taker.id } })).mappingVersion).toBe(mailbox.mappingVersion + 1);
    expect((await call({ method: 'POST', url: `/mailboxes/${mailbox.id}/map`, payload: { userId: randomUUID() } })).statusCode).toBe(404);
  });

  it('serves the Temporal remote codec to admins, with CORS for Temporal UI', async () => {
    const preflight = await call({
      method: 'OPTIONS',
      url: '/codec/decode',
      token: null,
      headers: { origin: 'http://localhost:8233', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-namespace' },
    });
    expect(preflight.statusCode).toBe(204);
    expect(preflight.headers).toMatchObject({
      'access-control-allow-origin': 'http://localhost:8233',
      'access-control-allow-headers': 'content-type,x-namespace,authorization',
      'access-control-allow-credentials': 'true',
    });
    const plain = { metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from('{"hello":"world"}').toString('base64') };
    const encoded = await ok({ method: 'POST', url: '/codec/encode', headers: { 'x-namespace': 'default' }, payload: { payloads: [plain] } });
    expect(Buffer.from(encoded.payloads[0].metadata.encoding, 'base64').toString()).toBe('binary/encrypted');
    const decodedRes = await call({ method: 'POST', url: '/codec/decode', payload: encoded });
    expect(decodedRes.headers['access-control-allow-origin']).toBe('http://localhost:8233');
    expect(decodedRes.json()).toEqual({ payloads: [plain] });
    // A payload no key can open is the caller's problem, not a server fault.
    const tampered = structuredClone(encoded);
    tampered.payloads[0].data = Buffer.from('x'.repeat(64)).toString('base64');
    const bad = await call({ method: 'POST', url: '/codec/decode', payload: tampered });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().message).toMatch(/could not be decoded/);
    // CORS is for the codec routes only.
    expect((await call({ method: 'GET', url: '/users' })).headers['access-control-allow-origin']).toBeUndefined();
  });

  it('still shows a mailbox whose workflow no worker answers, saying why, at the status deadline', async () => {
    // A bed of its own with no workers: the mailbox's workflow is started, and nothing answers its queries.
    const workerless = await TestBed.create();
    const ownTokens = new ApiTokens(workerless.pool);
    const server = await buildApiServer({ service: workerless.admin, tokens: ownTokens });
    try {
      const { token } = await ownTokens.create({ role: 'admin', label: 'workerless' });
      const profile = await workerless.admin.createProfile({ name: 'Unserved', serverType: 'imap', incomingHost: '127.0.0.1', incomingPort: 1, incomingSecurity: 'none' });
      const mailbox = await workerless.admin.createMailbox({ emailApproved: true, emailAddress: 'unserved@example.test', profileId: profile.id, password: PASSWORDS[0] });
      const started = Date.now();
      const responses = await Promise.all(
        [`/mailboxes/${mailbox.id}`, `/mailboxes/${mailbox.id}/statistics`].map((url) => server.inject({ method: 'GET', url, headers: auth(token) })),
      );
      for (const res of responses) {
        seen.push(res.body);
        expect(res.statusCode).toBe(200);
        expect(res.json()).toMatchObject({ live: null, liveError: expect.stringMatching(/did not answer its status query.*worker running/) });
      }
      // At the status deadline, not the RPC default of 30 s (the margin is for a loaded machine).
      expect(Date.now() - started).toBeLessThan(STATUS_QUERY_DEADLINE_MS + 15_000);
    } finally {
      await server.close();
      await workerless.close();
    }
  });

  it("passes on every field of the service's views (a new field must be added to the API's response schemas)", async () => {
    const profile = await newProfile();
    const user = await newUser();
    const mailbox = await newMailbox(profile.id, user.id);
    await bed.query(`INSERT INTO alerts (level, scope, audiences, mailbox_id, user_id, message) VALUES ('information', 'mailbox', '{admins}', $1, $2, 'x')`, [
      mailbox.id,
      user.id,
    ]);
    // Columns the profile view carries beyond ProfileView (from SELECT *), deliberately not published.
    const unpublished = new Set(['authType', 'tenantId', 'clientId']);
    const pairs: [string, object, object][] = [
      ['user', await bed.admin.getUser(user.id), await ok({ method: 'GET', url: `/users/${user.id}` })],
      ['profile', await bed.admin.getProfile(profile.id), await ok({ method: 'GET', url: `/profiles/${profile.id}` })],
      ['mailbox', await bed.admin.getMailbox(mailbox.id), await ok({ method: 'GET', url: `/mailboxes/${mailbox.id}` })],
      ['alert', (await bed.admin.listAlerts({ mailboxId: mailbox.id }))[0], (await ok<object[]>({ method: 'GET', url: `/alerts?mailboxId=${mailbox.id}` }))[0]],
    ];
    const crm = new PgCrmRecords(bed.pool);
    const account = await crm.accounts.create({ name: 'Views Inc', email: 'views@customer.test' });
    const contact = await crm.contacts.create({ fullName: 'Vera Views', email: 'vera@customer.test', accountId: account.id });
    const lead = await crm.leads.create({ fullName: 'Len Lead', email: 'len@prospect.test', company: 'Prospect' });
    const queue = await crm.queues.create({ name: 'Views Queue', email: 'views-queue@example.test' });
    const [{ id: activityId }] = await bed.query<{ id: string }>(
      `INSERT INTO email_activities (message_id, subject, body_text) VALUES ($1, 'Views', 'Body') RETURNING id`,
      [`<${randomUUID()}@views.test>`],
    );
    await bed.query(`INSERT INTO email_parties (email_activity_id, role, address, party_type, party_id) VALUES ($1, 'from', 'vera@customer.test', 'contact', $2)`, [
      activityId,
      contact.id,
    ]);
    await bed.query(`INSERT INTO item_links (mailbox_id, folder, remote_id, item_type, crm_record_id) VALUES ($1, 'INBOX', '1:1', 'email', $2)`, [mailbox.id, activityId]);
    await bed.query(
      `INSERT INTO email_attachments (email_activity_id, position, filename, content_type, size, sha256, inline, stored)
       VALUES ($1, 1, 'big.pdf', 'application/pdf', 9000000, repeat('0', 64), false, false)`,
      [activityId],
    );
    pairs.push(
      ['account', account, await ok({ method: 'GET', url: `/accounts/${account.id}` })],
      ['contact', contact, await ok({ method: 'GET', url: `/contacts/${contact.id}` })],
      ['lead', lead, await ok({ method: 'GET', url: `/leads/${lead.id}` })],
      ['queue', queue, await ok({ method: 'GET', url: `/queues/${queue.id}` })],
      ['email activity', await crm.emails.get(activityId), await ok({ method: 'GET', url: `/emails/${activityId}` })],
      ['email activity page', await crm.emails.list({ mailboxId: mailbox.id }), await ok({ method: 'GET', url: `/emails?mailboxId=${mailbox.id}` })],
      ['email activity summary', (await crm.emails.list({ mailboxId: mailbox.id })).items[0], (await ok({ method: 'GET', url: `/emails?mailboxId=${mailbox.id}` })).items[0]],
      ['email party', (await crm.emails.get(activityId)).parties[0], (await ok({ method: 'GET', url: `/emails/${activityId}` })).parties[0]],
      ['email attachment', (await crm.emails.attachments(activityId))[0], (await ok<object[]>({ method: 'GET', url: `/emails/${activityId}/attachments` }))[0]],
    );
    for (const [view, fromService, fromApi] of pairs) {
      const missing = Object.keys(fromService).filter((k) => !(k in fromApi) && !unpublished.has(k));
      expect({ view, missing }).toEqual({ view, missing: [] });
    }
  });

  it('answers 404 in JSON for unknown routes and methods', async () => {
    for (const [method, url] of [['GET', '/nope'], ['PUT', '/users'], ['GET', '/mailboxes/x/y/z']] as const) {
      const res = await call({ method, url });
      expect(res.statusCode).toBe(404);
      expect(res.headers['content-type']).toMatch(/application\/json/);
      expect(res.json()).toMatchObject({ error: 'not_found', message: expect.stringContaining(url) });
    }
  });

  it('turns values the database refuses into 4xx, not 500', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ maxMessageBytes: 1e12 }, /out of range/],
      [{ name: 'nul\u0000byte' }, /Invalid value/],
      [{ ownerUserId: randomUUID() }, /does not exist/],
      [{ processEmailFrom: '-100000-01-01T00:00:00Z' }, /Invalid value|out of range/],
    ];
    for (const [overrides, message] of cases) {
      const res = await call({ method: 'POST', url: '/profiles', payload: { name: `Refused ${randomUUID()}`, serverType: 'imap', incomingHost: '127.0.0.1', ...overrides } });
      expect({ overrides, status: res.statusCode }).toEqual({ overrides, status: 400 });
      expect(res.json().message).toMatch(message);
    }
  });

  it('publishes a valid OpenAPI 3 document listing every route', async () => {
    const res = await call({ method: 'GET', url: '/openapi.json', token: null });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/);
    expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    expect(doc.components.securitySchemes.bearerAuth).toEqual({ type: 'http', scheme: 'bearer' });
    expect(doc.security).toEqual([{ bearerAuth: [] }]);

    const routes = apiRoutes(app);
    const documented = Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(documented.sort()).toEqual(routes.map((r) => `${r.method} ${r.url.replace(/:(\w+)/g, '{$1}')}`).sort());

    const methods = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      expect(path.startsWith('/')).toBe(true);
      const templated = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      for (const [method, op] of Object.entries(ops)) {
        expect(methods.has(method)).toBe(true);
        expect(Object.keys(op.responses ?? {}).length).toBeGreaterThan(0);
        for (const [code, response] of Object.entries(op.responses as Record<string, any>)) {
          expect(code).toMatch(/^([1-5]\d\d|default)$/);
          expect(typeof response.description).toBe('string');
        }
        const pathParams = (op.parameters ?? []).filter((p: any) => p.in === 'path');
        expect(pathParams.map((p: any) => p.name).sort()).toEqual(templated);
        for (const p of pathParams) expect(p.required).toBe(true);
        for (const p of op.parameters ?? []) expect(['path', 'query', 'header', 'cookie']).toContain(p.in);
        if (op.requestBody) expect(op.requestBody.content['application/json'].schema).toBeDefined();
      }
    }
    expect(doc.paths['/openapi.json'].get.security).toEqual([]);
    expect(doc.paths['/me/mailbox/password'].put).toBeDefined();
    expect(doc.paths['/emails'].get.parameters.map((p: any) => p.name).sort()).toEqual(['address', 'cursor', 'limit', 'mailboxId', 'since']);
    expect(doc.paths['/healthz'].get.security).toEqual([]);
    expect((await call({ method: 'GET', url: '/healthz', token: null })).json()).toEqual({ status: 'ok' });
    expect(doc.paths['/mailboxes/{id}/map'].post.responses['409']).toBeDefined();
    // Documented responses carry no credentials either.
    expect(JSON.stringify(doc.paths['/mailboxes/{id}'].get.responses['200'])).not.toMatch(/password|credentials/i);
  });
});

describe('the browsable API document', () => {
  it('serves Swagger UI at /docs from the package itself, without a token, and the document it shows', async () => {
    const page = await call({ method: 'GET', url: '/docs', token: null });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    // Its scripts and styles are local paths, served by this server: no CDN.
    const assets = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(assets.length).toBeGreaterThan(0);
    for (const asset of assets) {
      expect(asset).not.toMatch(/^(https?:)?\/\//);
      const res = await call({ method: 'GET', url: new URL(asset, 'http://localhost/docs/').pathname, token: null });
      expect({ asset, status: res.statusCode }).toEqual({ asset, status: 200 });
    }
    const json = await call({ method: 'GET', url: '/docs/json', token: null });
    expect(json.json().paths['/contacts']).toBeDefined();
    // The page is not an API route: it is neither in the document nor in the route table below.
    expect(json.json().paths['/docs']).toBeUndefined();
  });
});

// -------------------------------------------------------------------------------------------
// Every endpoint, bad input: a 4xx with a JSON message saying what is wrong, never a 5xx.
// The table must name every route the server has: a new route without a row fails.

interface BadCase {
  what: string;
  /** Replaces `:id`; a valid UUID when absent. */
  id?: string;
  /** Replaces `:position`; 1 when absent. */
  position?: string;
  query?: string;
  body?: unknown;
  raw?: { contentType: string; payload: string };
  status?: number;
  message: RegExp;
}

interface Row {
  access: 'public' | 'user' | 'admin';
  /** The route takes a JSON body (malformed JSON, wrong media type and an empty body are tried on it). */
  body?: boolean;
  query?: boolean;
  cases: BadCase[];
}

const extra = (valid: Record<string, unknown>): BadCase => ({ what: 'an unknown extra field', body: { ...valid, isAdmin: true }, message: /Unrecognized key: "isAdmin"/ });
const VALID_UUID = '0b3a4f9e-1c2d-4e5f-8a9b-0c1d2e3f4a5b';

/** The rows of a CRM record resource (contacts, leads, accounts): the same routes, each with its own fields. */
function crmRecordRows(resource: string, bad: { create: BadCase; patch: BadCase; valid: Record<string, unknown> }): Record<string, Row> {
  return {
    [`POST /${resource}`]: {
      access: 'admin',
      body: true,
      cases: [bad.create, { what: 'a missing name', body: { email: 'a@example.test' }, message: /[Nn]ame/ }, extra(bad.valid)],
    },
    [`GET /${resource}`]: {
      access: 'admin',
      query: true,
      cases: [
        { what: 'a string for a number', query: 'limit=lots', message: /limit/ },
        { what: 'a negative offset', query: 'offset=-1', message: /offset/ },
        { what: 'an unknown query parameter', query: 'mail=x', message: /Unrecognized key: "mail"/ },
      ],
    },
    [`GET /${resource}/:id`]: { access: 'admin', cases: [] },
    [`PATCH /${resource}/:id`]: {
      access: 'admin',
      body: true,
      cases: [bad.patch, { what: 'a field that cannot be patched', body: { id: VALID_UUID }, message: /Unrecognized key: "id"/ }],
    },
    [`DELETE /${resource}/:id`]: { access: 'admin', cases: [] },
  };
}

const TABLE: Record<string, Row> = {
  'GET /openapi.json': { access: 'public', cases: [] },
  'GET /healthz': { access: 'public', cases: [] },
  'GET /dashboard': { access: 'public', cases: [] },
  'GET /dashboard/app.js': { access: 'public', cases: [] },
  'GET /dashboard/chart.js': { access: 'public', cases: [] },
  'GET /dashboard/summary': { access: 'admin', cases: [] },
  'POST /users': {
    access: 'admin',
    body: true,
    cases: [
      { what: 'numbers for strings', body: { fullName: 42, email: 7 }, message: /fullName: .*expected string.*email/ },
      { what: 'a bad email and tracking option', body: { fullName: 'A', email: 'not-an-email', trackingOption: 'some' }, message: /email: .*trackingOption/ },
      { what: 'a missing field', body: { email: 'a@example.test' }, message: /fullName/ },
      extra({ fullName: 'A', email: 'a@example.test' }),
    ],
  },
  'GET /users': { access: 'admin', cases: [] },
  'GET /users/:id': { access: 'admin', cases: [] },
  'PATCH /users/:id': {
    access: 'admin',
    body: true,
    cases: [
      { what: 'an unknown option and a string for a boolean', body: { trackingOption: 'most', createContactsForUnknownSenders: 'yes' }, message: /trackingOption: .*createContactsForUnknownSenders/ },
      { what: 'a field that cannot be patched', body: { email: 'b@example.test' }, message: /Unrecognized key: "email"/ },
    ],
  },
  'POST /profiles': {
    access: 'admin',
    body: true,
    cases: [
      { what: 'strings for numbers', body: { name: 'P', serverType: 'imap', incomingPort: 'nine', maxConcurrentConnections: 'many' }, message: /incomingPort: .*maxConcurrentConnections/ },
      { what: 'numbers for strings', body: { name: 5, serverType: 1, incomingHost: 2 }, message: /name: .*serverType: .*incomingHost/ },
      { what: 'out of range values', body: { name: 'P', serverType: 'imap', incomingPort: 70000, connectionTimeoutSeconds: 0 }, message: /incomingPort: .*connectionTimeoutSeconds/ },
      { what: 'a bad date and owner', body: { name: 'P', serverType: 'imap', processEmailFrom: 'yesterday', ownerUserId: 'bob' }, message: /processEmailFrom: .*ownerUserId/ },
      extra({ name: 'P', serverType: 'imap' }),
    ],
  },
  'GET /profiles': { access: 'admin', cases: [] },
  'GET /profiles/:id': { access: 'admin', cases: [] },
  'PATCH /profiles/:id': {
    access: 'admin',
    body: true,
    cases: [
      { what: 'strings for numbers', body: { incomingPort: 'x', maxMessageBytes: 'big' }, message: /incomingPort: .*maxMessageBytes/ },
      { what: 'wrong types', body: { name: ['a'], serverType: 'smtp' }, message: /name: .*serverType/ },
      extra({ name: 'P' }),
    ],
  },
  'DELETE /profiles/:id': { access: 'admin', cases: [] },
  'POST /mailboxes': {
    access: 'admin',
    body: true,
    cases: [
      {
        what: 'wrong types everywhere',
        body: { emailAddress: 42, profileId: 'nope', password: 123, folders: 'INBOX', incomingEnabled: 'yes' },
        message: /emailAddress: .*profileId: .*password: .*folders: .*incomingEnabled/,
      },
      { what: 'an empty password and folder', body: { emailAddress: 'a@example.test', profileId: VALID_UUID, password: '', folders: [''] }, message: /password: .*folders\.0/ },
      {
        what: 'an unknown token mode and a prefix with a colon',
        body: { emailAddress: 'a@example.test', profileId: VALID_UUID, password: 'x', trackingTokenMode: 'mine', trackingTokenPrefix: 'A:B' },
        message: /trackingTokenMode: .*trackingTokenPrefix: A tracking token prefix must not contain spaces or colons/,
      },
      {
        what: 'its own token without a prefix',
        body: { emailAddress: 'a@example.test', profileId: VALID_UUID, password: 'x', trackingTokenMode: 'custom' },
        message: /trackingTokenPrefix: a mailbox with its own tracking token \(mode custom\) needs its prefix/,
      },
      extra({ emailAddress: 'a@example.test', profileId: VALID_UUID, password: 'x' }),
    ],
  },
  'GET /mailboxes': {
    access: 'user',
    query: true,
    cases: [
      { what: 'a non-UUID owner', query: 'ownerUserId=bob', message: /query string: ownerUserId/ },
      { what: 'an unknown query parameter', query: 'owner=x', message: /Unrecognized key: "owner"/ },
    ],
  },
  'GET /mailboxes/:id': { access: 'user', cases: [] },
  'PATCH /mailboxes/:id': {
    access: 'admin',
    body: true,
    cases: [
      { what: 'wrong types', body: { folders: [1], minPollingIntervalSeconds: 'soon', username: 7 }, message: /username: .*folders\.0: .*minPollingIntervalSeconds/ },
      { what: 'an empty password', body: { password: '' }, message: /password/ },
      { what: 'a field that cannot be patched', body: { emailAddress: 'b@example.test' }, message: /Unrecognized key: "emailAddress"/ },
      { what: 'a long prefix and a string for a boolean', body: { trackingTokenPrefix: 'A'.repeat(21), trackSentFolder: 'yes' }, message: /trackingTokenPrefix: A tracking token prefix must be 1 to 20 characters.*trackSentFolder/ },
    ],
  },
  'DELETE /mailboxes/:id': { access: 'admin', cases: [] },
  'POST /mailboxes/:id/map': {
    access: 'admin',
    body: true,
    cases: [
      { what: 'wrong types', body: { userId: 12, confirm: 'yes' }, message: /userId: .*confirm/ },
      { what: 'a non-UUID user', body: { userId: 'bob' }, message: /userId/ },
      { what: 'a user and a queue', body: { userId: VALID_UUID, queueId: VALID_UUID }, message: /userId or queueId/ },
      extra({ userId: VALID_UUID }),
    ],
  },
  'POST /mailboxes/:id/approve': { access: 'admin', cases: [] },
  'POST /mailboxes/:id/enable': { access: 'admin', cases: [] },
  'POST /mailboxes/:id/disable': { access: 'admin', cases: [] },
  'POST /mailboxes/:id/test-and-enable': { access: 'user', cases: [] },
  'POST /mailboxes/:id/sync-now': { access: 'user', cases: [] },
  'GET /mailboxes/:id/statistics': { access: 'admin', cases: [] },
  'GET /mailboxes/:id/item-errors': {
    access: 'user',
    query: true,
    cases: [
      { what: 'an unknown entity', query: 'entity=email', message: /entity/ },
      { what: 'an unknown query parameter', query: 'side=crm', message: /Unrecognized key: "side"/ },
    ],
  },
  'POST /mailboxes/:id/item-errors/retry': {
    access: 'user',
    body: true,
    cases: [
      { what: 'wrong types', body: { entity: 'email', side: 'both', itemKey: 7 }, message: /entity: .*side: .*itemKey/ },
      { what: 'a wait out of range', body: { entity: 'contact', side: 'crm', itemKey: 'x', waitSeconds: 600 }, message: /waitSeconds/ },
      extra({ entity: 'contact', side: 'crm', itemKey: 'x' }),
    ],
  },
  'GET /alerts': {
    access: 'user',
    query: true,
    cases: [
      { what: 'a string for a number', query: 'limit=lots', message: /limit/ },
      { what: 'out of range', query: 'limit=0', message: /limit/ },
      { what: 'a non-UUID mailbox and an unknown level', query: 'mailboxId=7&level=fatal', message: /mailboxId: .*level/ },
      { what: 'an unknown status', query: 'status=closed', message: /status/ },
      { what: 'an unknown query parameter', query: 'mailbox=x', message: /Unrecognized key: "mailbox"/ },
    ],
  },
  'GET /organization': { access: 'admin', cases: [] },
  'PATCH /organization': {
    access: 'admin',
    body: true,
    cases: [
      { what: 'wrong types', body: { requireEmailApproval: 'yes', maxAttachmentBytes: 'big' }, message: /requireEmailApproval: .*maxAttachmentBytes/ },
      { what: 'a negative limit', body: { maxAttachmentBytes: -1 }, message: /maxAttachmentBytes/ },
      { what: 'a token prefix with a space', body: { trackingTokenPrefix: 'MY CRM' }, message: /trackingTokenPrefix: A tracking token prefix must not contain spaces or colons/ },
      { what: 'an empty token prefix', body: { trackingTokenPrefix: '' }, message: /trackingTokenPrefix: A tracking token prefix must be 1 to 20 characters/ },
      {
        what: 'token digits out of range',
        body: { trackingTokenUserDigits: 11, trackingTokenCounterDigits: 0, trackingTokenBaseNumber: -1 },
        message: /trackingTokenBaseNumber: .*trackingTokenUserDigits: .*trackingTokenCounterDigits/,
      },
      { what: 'an unknown default option and a bad domain', body: { defaultTrackingOption: 'some', ownDomains: ['not a domain'] }, message: /defaultTrackingOption: .*ownDomains\.0: A domain name such as example\.com/ },
      {
        what: 'an unknown delete rule',
        body: { itemsDeleteTaskFromExchange: 'sometimes' },
        message: /itemsDeleteTaskFromExchange: Invalid option: expected one of "dynamics"\|"delete"\|"unlink"/,
      },
      { what: 'a calendar window out of range', body: { itemsCalendarDaysBack: -1, itemsCalendarDaysAhead: 0 }, message: /itemsCalendarDaysBack: .*itemsCalendarDaysAhead: / },
      extra({ maxAttachmentBytes: 1 }),
    ],
  },
  'GET /me': { access: 'user', cases: [] },
  'GET /me/options': { access: 'user', cases: [] },
  'PATCH /me/options': {
    access: 'user',
    body: true,
    cases: [
      { what: 'a number for a string', body: { trackingOption: 1 }, message: /trackingOption/ },
      { what: 'an unknown option', body: { trackingOption: 'everything' }, message: /trackingOption/ },
      extra({ trackingOption: 'all' }),
    ],
  },
  ...crmRecordRows('contacts', {
    create: { what: 'wrong types', body: { fullName: 1, email: 'not-an-email', accountId: 'acme' }, message: /fullName: .*email: .*accountId/ },
    patch: { what: 'wrong types', body: { fullName: '', accountId: 7 }, message: /fullName: .*accountId/ },
    valid: { fullName: 'A' },
  }),
  ...crmRecordRows('leads', {
    create: { what: 'wrong types', body: { fullName: 1, email: 'x', company: 2 }, message: /fullName: .*email: .*company/ },
    patch: { what: 'wrong types', body: { fullName: 5, company: '' }, message: /fullName: .*company/ },
    valid: { fullName: 'A' },
  }),
  ...crmRecordRows('accounts', {
    create: { what: 'wrong types', body: { name: 1, email: 'x' }, message: /name: .*email/ },
    patch: { what: 'wrong types', body: { name: '', email: 3 }, message: /name: .*email/ },
    valid: { name: 'A' },
  }),
  ...crmRecordRows('queues', {
    create: { what: 'wrong types', body: { name: 1, email: 'x', trackingOption: 'sometimes' }, message: /name: .*email: .*trackingOption/ },
    patch: { what: 'wrong types', body: { name: '', email: null }, message: /name: .*email/ },
    valid: { name: 'A', email: 'a@example.test' },
  }),
  'POST /appointments': {
    access: 'admin',
    body: true,
    cases: [
      { what: 'wrong types', body: { subject: 1, startsAt: 'monday', endsAt: 5, allDay: 'yes' }, message: /subject: .*startsAt: .*endsAt: .*allDay/ },
      { what: 'no times', body: { subject: 'x' }, message: /startsAt: .*endsAt/ },
      { what: 'an unknown show-as and a bad attendee', body: { startsAt: '2026-12-07T09:00:00Z', endsAt: '2026-12-07T10:00:00Z', showAs: 'away', attendees: [{ address: 'nobody' }] }, message: /showAs: .*attendees\.0\.address/ },
      { what: 'a monthly pattern without its day', body: { startsAt: '2026-12-07T09:00:00Z', endsAt: '2026-12-07T10:00:00Z', recurrence: { pattern: { type: 'absoluteMonthly', interval: 1 }, range: { type: 'noEnd', startDate: '2026-12-07' } } }, message: /recurrence\.pattern\.dayOfMonth: an absoluteMonthly pattern needs dayOfMonth/ },
      extra({ startsAt: '2026-12-07T09:00:00Z', endsAt: '2026-12-07T10:00:00Z' }),
    ],
  },
  'GET /appointments': {
    access: 'admin',
    query: true,
    cases: [
      { what: 'a string for a number', query: 'limit=lots', message: /limit/ },
      { what: 'a non-UUID owner and a bad time', query: 'ownerUserId=me&from=today', message: /ownerUserId: .*from/ },
      { what: 'an unknown query parameter', query: 'owner=x', message: /Unrecognized key: "owner"/ },
    ],
  },
  'GET /appointments/:id': { access: 'admin', cases: [] },
  'PATCH /appointments/:id': {
    access: 'admin',
    body: true,
    cases: [
      { what: 'wrong types', body: { subject: 2, priority: 'urgent', startsAt: null }, message: /subject: .*startsAt: .*priority/ },
      { what: 'a field that cannot be patched', body: { seriesMasterId: VALID_UUID }, message: /Unrecognized key: "seriesMasterId"/ },
    ],
  },
  'DELETE /appointments/:id': { access: 'admin', cases: [] },
  'POST /tasks': {
    access: 'admin',
    body: true,
    cases: [
      { what: 'wrong types', body: { subject: 1, dueAt: 'friday', percentComplete: 101, status: 'done' }, message: /subject: .*dueAt: .*status: .*percentComplete/ },
      extra({ subject: 'x' }),
    ],
  },
  'GET /tasks': {
    access: 'admin',
    query: true,
    cases: [
      { what: 'an unknown status', query: 'status=done', message: /status/ },
      { what: 'an unknown query parameter', query: 'due=x', message: /Unrecognized key: "due"/ },
    ],
  },
  'GET /tasks/:id': { access: 'admin', cases: [] },
  'PATCH /tasks/:id': {
    access: 'admin',
    body: true,
    cases: [
      { what: 'wrong types', body: { percentComplete: 'half', status: null }, message: /status: .*percentComplete/ },
      { what: 'a field that cannot be patched', body: { createdAt: '2026-01-01T00:00:00Z' }, message: /Unrecognized key: "createdAt"/ },
    ],
  },
  'DELETE /tasks/:id': { access: 'admin', cases: [] },
  'GET /sync-filters': {
    access: 'user',
    query: true,
    cases: [
      { what: 'an unknown entity', query: 'entity=email', message: /entity/ },
      { what: 'a non-UUID user', query: 'userId=me', message: /userId/ },
      { what: 'an unknown query parameter', query: 'user=x', message: /Unrecognized key: "user"/ },
    ],
  },
  'POST /sync-filters': {
    access: 'user',
    body: true,
    cases: [
      { what: 'wrong types', body: { entity: 'email', name: 3, rules: 'all', enabled: 'yes' }, message: /entity: .*name: .*enabled: .*rules/ },
      { what: 'rules naming an unknown field', body: { entity: 'task', name: 'x', rules: { match: 'all', conditions: [{ field: 'colour', op: 'eq', value: 'red' }] } }, message: /unknown field "colour" for task/ },
      extra({ entity: 'task', name: 'x', rules: { match: 'all', conditions: [{ field: 'status', op: 'eq', value: 'open' }] } }),
    ],
  },
  'POST /sync-filters/preview': {
    access: 'user',
    body: true,
    cases: [
      { what: 'wrong types', body: { entity: 1, rules: [], limit: 'all' }, message: /entity: .*rules: .*limit/ },
      { what: 'a value of the wrong type', body: { entity: 'contact', rules: { match: 'all', conditions: [{ field: 'birthday', op: 'lt', value: 'yesterday' }] } }, message: /conditions\.0\.value: expected a date/ },
      extra({ entity: 'task', rules: { match: 'all', conditions: [{ field: 'status', op: 'eq', value: 'open' }] } }),
    ],
  },
  'GET /sync-filters/:id': { access: 'user', cases: [] },
  'GET /sync-filters/:id/preview': {
    access: 'user',
    query: true,
    cases: [{ what: 'a limit out of range', query: 'limit=5000', message: /limit/ }],
  },
  'PATCH /sync-filters/:id': {
    access: 'user',
    body: true,
    cases: [
      { what: 'wrong types', body: { name: '', enabled: 'no', rules: 7 }, message: /name: .*enabled: .*rules/ },
      { what: 'a field that cannot be patched', body: { entity: 'task' }, message: /Unrecognized key: "entity"/ },
    ],
  },
  'DELETE /sync-filters/:id': { access: 'user', cases: [] },
  'GET /field-directions': { access: 'user', cases: [] },
  'PATCH /field-directions': {
    access: 'admin',
    body: true,
    cases: [
      { what: 'wrong types', body: { entity: 1, field: [], direction: null }, message: /entity: .*field: .*direction/ },
      { what: 'a fixed field', body: { entity: 'contact', field: 'fullName', direction: 'none' }, message: /contact\.fullName \(Full Name\) is fixed at two_way .*: allowed two_way/ },
      { what: 'an unknown field', body: { entity: 'task', field: 'colour', direction: 'none' }, message: /task has no synced field "colour": one of percentComplete/ },
      extra({ entity: 'task', field: 'subject', direction: 'none' }),
    ],
  },
  'GET /emails': {
    access: 'user',
    query: true,
    cases: [
      { what: 'out of range', query: 'limit=0', message: /limit/ },
      { what: 'a non-UUID mailbox and a bad date', query: 'mailboxId=7&since=yesterday', message: /mailboxId: .*since/ },
      { what: 'a non-UUID cursor', query: 'cursor=next', message: /cursor/ },
      { what: 'an unknown query parameter', query: 'from=x', message: /Unrecognized key: "from"/ },
    ],
  },
  'POST /emails': {
    access: 'user',
    body: true,
    cases: [
      { what: 'wrong types', body: { from: 'me', to: 'a@example.test', subject: 1 }, message: /from: .*to: .*subject/ },
      {
        what: 'a record of a kind that cannot receive mail',
        body: { from: { userId: VALID_UUID }, to: [{ type: 'opportunity', id: VALID_UUID }], subject: 'x' },
        message: /to\.0/,
      },
      extra({ from: { userId: VALID_UUID }, to: ['a@example.test'], subject: 'x' }),
    ],
  },
  'GET /emails/:id': { access: 'user', cases: [] },
  'GET /emails/:id/attachments': { access: 'user', cases: [] },
  'GET /emails/:id/attachments/:position': {
    access: 'user',
    cases: [
      { what: 'a position that is no number', position: 'first', message: /path parameters: position/ },
      { what: 'position 0', position: '0', message: /path parameters: position/ },
      { what: 'a fractional position', position: '1.5', message: /path parameters: position/ },
    ],
  },
  'PUT /me/mailbox/password': {
    access: 'user',
    body: true,
    cases: [
      { what: 'a number for the password', body: { password: 5 }, message: /password/ },
      { what: 'an empty password', body: { password: '' }, message: /password/ },
      extra({ password: 'x' }),
    ],
  },
  'POST /codec/encode': {
    access: 'admin',
    body: true,
    cases: [
      { what: 'a string for the payload list', body: { payloads: 'x' }, message: /payloads/ },
      { what: 'a non-base64 payload', body: { payloads: [{ metadata: {}, data: '%%%' }] }, message: /payloads\.0\.data/ },
    ],
  },
  'POST /codec/decode': {
    access: 'admin',
    body: true,
    cases: [
      { what: 'numbers for payloads', body: { payloads: [1, 2] }, message: /payloads\.0/ },
      { what: 'non-base64 metadata', body: { payloads: [{ metadata: { encoding: '!!' } }] }, message: /metadata/ },
    ],
  },
};

describe('bad input, every endpoint', () => {
  let userToken: string;
  let doc: any;

  beforeAll(async () => {
    const user = await newUser('Table User');
    userToken = (await tokens.create({ role: 'user', userId: user.id })).token;
    doc = (await call({ method: 'GET', url: '/openapi.json', token: null })).json();
  });

  it('has a row for every route and a route for every row', () => {
    const routes = apiRoutes(app).map((r) => `${r.method} ${r.url}`);
    expect(Object.keys(TABLE).sort()).toEqual(routes.sort());
  });

  const rows = Object.entries(TABLE);

  it.each(rows)('%s: the row agrees with the route (body, query, path parameters)', (key) => {
    const [method, url] = key.split(' ');
    const op = doc.paths[url.replace(/:(\w+)/g, '{$1}')][method.toLowerCase()];
    const row = TABLE[key];
    expect({ key, body: Boolean(op.requestBody) }).toEqual({ key, body: Boolean(row.body) });
    expect({ key, query: (op.parameters ?? []).some((p: any) => p.in === 'query') }).toEqual({ key, query: Boolean(row.query) });
    if (row.body || row.query) expect(row.cases.length).toBeGreaterThan(0);
  });

  it.each(rows)('%s: refuses bad input with a 4xx and a message', async (key) => {
    const [method, template] = key.split(' ') as [InjectOptions['method'], string];
    const row = TABLE[key];
    const token = row.access === 'user' ? userToken : adminToken;
    const cases: BadCase[] = [...row.cases];
    if (template.includes(':id')) {
      cases.push(
        { what: 'a non-UUID id', id: 'not-a-uuid', message: /path parameters: id: Invalid UUID/ },
        { what: 'a number for the id', id: '12345', message: /path parameters: id: Invalid UUID/ },
      );
    }
    if (row.body) {
      cases.push(
        { what: 'malformed JSON', raw: { contentType: 'application/json', payload: '{"name": "x",' }, message: /not valid JSON/ },
        { what: 'a JSON array', raw: { contentType: 'application/json', payload: '[1,2]' }, message: /expected object|payloads|Invalid/ },
        { what: 'an empty JSON body', raw: { contentType: 'application/json', payload: '' }, message: /expected object|Invalid/ },
        { what: 'a wrong media type', raw: { contentType: 'text/plain', payload: 'name=x' }, status: 415, message: /Unsupported Media Type/ },
        { what: 'form encoding', raw: { contentType: 'application/x-www-form-urlencoded', payload: 'a=1' }, status: 415, message: /Unsupported Media Type/ },
      );
    } else if (method !== 'GET') {
      // Routes without a body still parse one when sent: malformed JSON is refused before anything runs.
      cases.push({ what: 'malformed JSON', raw: { contentType: 'application/json', payload: '{oops' }, message: /not valid JSON/ });
    }

    for (const c of cases) {
      const url = template.replace(':id', c.id ?? VALID_UUID).replace(':position', c.position ?? '1') + (c.query ? `?${c.query}` : '');
      const res = await call({
        method,
        url,
        token,
        ...(c.raw ? { headers: { 'content-type': c.raw.contentType }, payload: c.raw.payload } : c.body !== undefined ? { payload: c.body as object } : {}),
      });
      const summary = { route: key, case: c.what, status: res.statusCode };
      expect(summary).toEqual({ ...summary, status: c.status ?? 400 });
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      const body = res.json();
      expect({ ...summary, error: body.error }).toEqual({ ...summary, error: expect.stringMatching(/^[a-z_]+$/) });
      expect({ ...summary, message: body.message }).toEqual({ ...summary, message: expect.stringMatching(c.message) });
    }

    // And without a token, or with a user token on an admin route.
    if (row.access !== 'public') {
      const url = template.replace(':id', VALID_UUID).replace(':position', '1');
      expect((await call({ method, url, token: null })).statusCode).toBe(401);
      if (row.access === 'admin') {
        const res = await call({ method, url, token: userToken });
        expect({ key, status: res.statusCode, error: res.json().error }).toEqual({ key, status: 403, error: 'forbidden' });
      }
    }
  });

  it('refuses a body over the size limit with 413', async () => {
    const res = await call({
      method: 'POST',
      url: '/users',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ fullName: 'x'.repeat(2 * 1024 * 1024), email: 'a@example.test' }),
    });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ error: 'payload_too_large', message: expect.any(String) });
  });
});

describe('every response of this file', () => {
  // Runs last: jest runs a file's tests in the order they are declared.
  it('held no password, credentials, sealed secret or stack trace', () => {
    expect(seen.length).toBeGreaterThan(100);
    const all = seen.join('\n');
    for (const password of PASSWORDS) expect(all).not.toContain(password);
    expect(all).not.toMatch(/"credentials"/);
    expect(all).not.toMatch(/v1:[^:"]+:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+:/); // a sealed secret
    expect(all).not.toMatch(/\bat .+\.[jt]s:\d+/); // a stack trace
  });
});
