import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { ConfidentialClientApplication } from '@azure/msal-node';
import { Client, GraphError, PageIterator, ResponseType, RetryHandlerOptions } from '@microsoft/microsoft-graph-client';
import type { Message } from '@microsoft/microsoft-graph-types';
import { graphFakeAuthorityMetadata, startGraphFake, type GraphFake } from './support/graphFake';

const immutable = 'IdType="ImmutableId"';

let fake: GraphFake;
let adele: GraphFake['users'][number];
let alex: GraphFake['users'][number];

function msalApp(auth: { clientSecret?: string; certificate?: boolean; clientId?: string; tenantId?: string; withMetadata?: boolean }) {
  const tenantId = auth.tenantId ?? fake.tenantId;
  return new ConfidentialClientApplication({
    auth: {
      clientId: auth.clientId ?? fake.clientId,
      authority: `${fake.authorityHost}/${tenantId}`,
      knownAuthorities: [`localhost:${fake.port}`],
      ...(auth.withMetadata === false ? {} : { authorityMetadata: JSON.stringify(graphFakeAuthorityMetadata({ authorityHost: fake.authorityHost, tenantId })) }),
      ...(auth.certificate
        ? { clientCertificate: { thumbprintSha256: fake.certificate.thumbprintSha256, privateKey: fake.certificate.privateKeyPem } }
        : { clientSecret: auth.clientSecret ?? fake.clientSecret }),
    },
  });
}

async function token(app = msalApp({})): Promise<string> {
  const result = await app.acquireTokenByClientCredential({ scopes: ['https://graph.microsoft.com/.default'] });
  return result!.accessToken;
}

function graphClient(accessToken: string): Client {
  return Client.initWithMiddleware({
    authProvider: { getAccessToken: async () => accessToken },
    baseUrl: fake.graphBaseUrl,
    customHosts: new Set(['localhost']),
  });
}

async function raw(path: string, init: RequestInit & { bearer?: string | null } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.bearer !== null) headers.set('authorization', `Bearer ${init.bearer ?? (await token())}`);
  return fetch(`${fake.graphBaseUrl}v1.0${path}`, { ...init, headers });
}

async function graphError(promise: Promise<unknown>): Promise<GraphError> {
  try {
    await promise;
  } catch (err) {
    return err as GraphError;
  }
  throw new Error('expected a GraphError');
}

async function eventually<T>(probe: () => Promise<T | undefined>, what: string): Promise<T> {
  for (let i = 0; i < 100; i++) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

interface DeltaPage {
  value: Array<Record<string, unknown>>;
  '@odata.nextLink'?: string;
  '@odata.deltaLink'?: string;
}

/** Walks one delta round with the real client, as the product does. */
async function deltaRound(client: Client, start: string, pageSize = 10): Promise<{ items: Array<Record<string, unknown>>; pages: DeltaPage[]; deltaLink: string }> {
  const pages: DeltaPage[] = [];
  let page = (await client.api(start).header('Prefer', `odata.maxpagesize=${pageSize}, ${immutable}`).get()) as DeltaPage;
  pages.push(page);
  while (page['@odata.nextLink']) {
    page = (await client.api(page['@odata.nextLink']).header('Prefer', `odata.maxpagesize=${pageSize}, ${immutable}`).get()) as DeltaPage;
    pages.push(page);
  }
  return { items: pages.flatMap((p) => p.value), pages, deltaLink: page['@odata.deltaLink']! };
}

beforeAll(async () => {
  fake = await startGraphFake({
    users: [
      { mail: 'adele@contoso.example', displayName: 'Adele Vance' },
      { mail: 'alex@contoso.example', displayName: 'Alex Wilber' },
      { mail: 'nolicence@contoso.example', hasMailbox: false },
    ],
    apps: [{ clientId: '11111111-2222-3333-4444-555555555555', clientSecret: 'read-only', permissions: ['Mail.Read'] }],
    sentItemsDelayMs: 200,
  });
  [adele, alex] = fake.users;
});

afterAll(async () => {
  await fake?.close();
});

afterEach(() => {
  fake.script.reset();
});

describe('token endpoint with msal-node', () => {
  it('issues an opaque token for the client secret without any discovery call, and Graph accepts it', async () => {
    const before = fake.requestLog.length;
    const accessToken = await token(msalApp({}));
    const user = await graphClient(accessToken).api(`/users/${adele.mail}`).get();
    expect(user).toMatchObject({ id: adele.id, mail: adele.mail, displayName: 'Adele Vance' });
    const calls = fake.requestLog.slice(before).map((e) => `${e.method} ${e.url.split('?')[0]}`);
    expect(calls).toEqual([`POST /${fake.tenantId}/oauth2/v2.0/token`, `GET /users/${adele.mail}`]);
  });

  it('with knownAuthorities only, msal fetches the OpenID document from the fake, never from Microsoft', async () => {
    const before = fake.requestLog.length;
    await token(msalApp({ withMetadata: false }));
    const calls = fake.requestLog.slice(before).map((e) => `${e.method} ${e.url.split('?')[0]}`);
    expect(calls).toEqual([`GET /${fake.tenantId}/v2.0/.well-known/openid-configuration`, `POST /${fake.tenantId}/oauth2/v2.0/token`]);
  });

  it('accepts a certificate assertion (x5t#S256, PS256) from msal-node', async () => {
    const accessToken = await token(msalApp({ certificate: true }));
    const folders = await graphClient(accessToken).api(`/users/${adele.id}/mailFolders`).get();
    expect(folders.value.map((f: { displayName: string }) => f.displayName)).toContain('Inbox');
  });

  it('answers a wrong secret with invalid_client AADSTS7000215 and an unknown tenant with AADSTS90002', async () => {
    await expect(token(msalApp({ clientSecret: 'wrong' }))).rejects.toMatchObject({ errorCode: 'invalid_client', errorMessage: expect.stringContaining('AADSTS7000215') });
    await expect(token(msalApp({ tenantId: '00000000-0000-0000-0000-000000000000' }))).rejects.toMatchObject({
      errorMessage: expect.stringContaining('AADSTS90002'),
    });
    const response = await fetch(`${fake.authorityHost}/00000000-0000-0000-0000-000000000001/oauth2/v2.0/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: fake.clientId, client_secret: fake.clientSecret, scope: 'https://graph.microsoft.com/.default' }),
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await response.json()).toMatchObject({ error: 'invalid_request', error_codes: [90002] });
  });

  it('rejects Graph calls without a token it issued with 401 JSON', async () => {
    for (const bearer of [null, 'made-up-token']) {
      const response = await raw(`/users/${adele.id}/messages`, { bearer });
      expect(response.status).toBe(401);
      expect(response.headers.get('content-type')).toBe('application/json');
      const body = (await response.json()) as { error: { code: string; innerError: unknown } };
      expect(body.error.code).toBe('InvalidAuthenticationToken');
      expect(body.error.innerError).toEqual(expect.objectContaining({ 'request-id': expect.any(String), date: expect.any(String) }));
    }
  });

  it('serves other processes (they inherit NODE_EXTRA_CA_CERTS) from the state in this one', async () => {
    const child = `
      const { ConfidentialClientApplication } = require('@azure/msal-node');
      const [authorityHost, tenantId, clientId, clientSecret, port, user] = process.argv.slice(1);
      const base = authorityHost + '/' + tenantId;
      const app = new ConfidentialClientApplication({ auth: { clientId, clientSecret, authority: base, knownAuthorities: ['localhost:' + port],
        authorityMetadata: JSON.stringify({ token_endpoint: base + '/oauth2/v2.0/token', authorization_endpoint: base + '/oauth2/v2.0/authorize',
          issuer: base + '/v2.0', jwks_uri: base + '/discovery/v2.0/keys' }) } });
      app.acquireTokenByClientCredential({ scopes: ['https://graph.microsoft.com/.default'] })
        .then((t) => fetch(authorityHost + '/v1.0/users/' + user + '/messages?$filter=' + encodeURIComponent("internetMessageId eq '<cross-process@test>'"),
          { headers: { authorization: 'Bearer ' + t.accessToken } }))
        .then((r) => r.json()).then((b) => console.log(b.value.map((m) => m.subject).join()));`;
    fake.mailbox(alex.id).addMessage('archive', { subject: 'Seen from a child', internetMessageId: '<cross-process@test>' });
    const args = [fake.authorityHost, fake.tenantId, fake.clientId, fake.clientSecret, String(fake.port), alex.mail];
    const outputs = await Promise.all([1, 2].map(() => promisify(execFile)(process.execPath, ['-e', child, ...args], { cwd: process.cwd() })));
    expect(outputs.map((o) => o.stdout.trim())).toEqual(['Seen from a child', 'Seen from a child']);
  });
});

describe('errors a mailbox can give', () => {
  it('names unknown users, users without an Exchange licence and missing permissions', async () => {
    const client = graphClient(await token());
    const unknown = await graphError(client.api('/users/nobody@contoso.example/messages').get());
    expect(unknown).toMatchObject({ statusCode: 404, code: 'ErrorInvalidUser', message: "The requested user 'nobody@contoso.example' is invalid." });
    await expect(client.api('/users/nobody@contoso.example').get()).rejects.toMatchObject({ statusCode: 404, code: 'Request_ResourceNotFound' });
    expect(unknown.requestId).toEqual(expect.any(String));
    const unlicensed = await graphError(client.api('/users/nolicence@contoso.example/mailFolders/inbox/messages/delta').get());
    expect(unlicensed).toMatchObject({ statusCode: 404, code: 'MailboxNotEnabledForRESTAPI' });
    const readOnly = graphClient(await token(msalApp({ clientId: '11111111-2222-3333-4444-555555555555', clientSecret: 'read-only' })));
    const denied = await graphError(readOnly.api(`/users/${adele.id}/sendMail`).post({ message: { subject: 'x', toRecipients: [{ emailAddress: { address: alex.mail } }] } }));
    expect(denied).toMatchObject({ statusCode: 403, code: 'ErrorAccessDenied', message: 'Access is denied. Check credentials and try again.' });
  });

  it('answers a stale If-Match with 412 ErrorIrresolvableConflict and a current one with the update', async () => {
    const client = graphClient(await token());
    const message = fake.mailbox(adele.id).addMessage('inbox', { subject: 'Etag' });
    const read = await client.api(`/users/${adele.id}/messages/${message.id}`).header('Prefer', immutable).get();
    fake.mailbox(adele.id).update(message.id!, { isRead: true });
    const stale = await graphError(client.api(`/users/${adele.id}/messages/${message.id}`).header('If-Match', read['@odata.etag']).patch({ categories: ['CRM'] }));
    expect(stale).toMatchObject({ statusCode: 412, code: 'ErrorIrresolvableConflict' });
    const fresh = await client.api(`/users/${adele.id}/messages/${message.id}`).header('Prefer', immutable).get();
    const updated = await client.api(`/users/${adele.id}/messages/${message.id}`).header('If-Match', fresh['@odata.etag']).patch({ categories: ['CRM'] });
    expect(updated.categories).toEqual(['CRM']);
    expect(updated['@odata.etag']).not.toBe(fresh['@odata.etag']);
  });
});

describe('message delta', () => {
  it('pages a round with nextLinks the client follows, then reports changes, moves and deletions', async () => {
    const mailbox = fake.mailbox(alex.id);
    const archive = mailbox.addFolder('Projects');
    const seeded = mailbox.addMessages('inbox', 25, (i) => ({ subject: `Delta ${i}` }));
    const client = graphClient(await token());
    const start = `/users/${alex.id}/mailFolders/inbox/messages/delta?$select=subject,internetMessageId,internetMessageHeaders,isRead&$expand=attachments`;
    const first = await deltaRound(client, start);
    expect(first.pages.length).toBe(3);
    expect(first.pages[0]['@odata.nextLink']).toMatch(new RegExp(`^https://localhost:${fake.port}/v1\\.0/users/.*\\$skiptoken=`));
    expect(first.deltaLink).toMatch(/\$deltatoken=/);
    expect(new Set(first.items.map((m) => m.id))).toEqual(new Set(seeded.map((m) => m.id)));
    expect(first.items[0]).toEqual(expect.objectContaining({ '@odata.type': '#microsoft.graph.message', '@odata.etag': expect.stringMatching(/^W\/"/), attachments: [] }));
    expect(first.items[0].internetMessageHeaders).toEqual(expect.arrayContaining([{ name: 'Message-ID', value: first.items[0].internetMessageId }]));
    expect(first.items[0]).not.toHaveProperty('body');

    mailbox.update(seeded[0].id!, { isRead: true });
    mailbox.delete(seeded[1].id!);
    mailbox.move(seeded[2].id!, 'Projects');
    const added = mailbox.addMessage('inbox', { subject: 'New one' });
    const second = await deltaRound(client, first.deltaLink);
    const byId = new Map(second.items.map((m) => [m.id, m]));
    expect(byId.get(seeded[0].id)).toMatchObject({ isRead: true, subject: 'Delta 0' });
    expect(byId.get(seeded[1].id)).toEqual({ '@odata.type': '#microsoft.graph.message', id: seeded[1].id, '@removed': { reason: 'deleted' } });
    expect(byId.get(seeded[2].id)).toMatchObject({ '@removed': { reason: 'deleted' } });
    expect(byId.get(added.id)).toMatchObject({ subject: 'New one' });
    expect(second.items).toHaveLength(4);

    const projects = await deltaRound(client, `/users/${alex.id}/mailFolders/${archive.id}/messages/delta`);
    expect(projects.items.map((m) => m.id)).toEqual([seeded[2].id]);
  });

  it('returns immutable ids only when asked; default ids change when a message moves', async () => {
    const mailbox = fake.mailbox(adele.id);
    const message = mailbox.addMessage('inbox', { subject: 'Ids' });
    const client = graphClient(await token());
    const byDefault = await client.api(`/users/${adele.id}/messages/${message.id}`).get();
    expect(byDefault.id).not.toBe(message.id);
    mailbox.move(message.id!, 'archive');
    await expect(client.api(`/users/${adele.id}/messages/${byDefault.id}`).get()).rejects.toMatchObject({ statusCode: 404 });
    const moved = await client.api(`/users/${adele.id}/messages/${message.id}`).header('Prefer', immutable).get();
    expect(moved).toMatchObject({ id: message.id, parentFolderId: mailbox.folders.archive.id });
  });

  it('gives the deltaLink to the PageIterator of the client', async () => {
    const mailbox = fake.mailbox(adele.id);
    const folder = mailbox.addFolder('Iterated');
    mailbox.addMessages('Iterated', 12);
    const client = graphClient(await token());
    const seen: string[] = [];
    const firstPage = await client.api(`/users/${adele.id}/mailFolders/${folder.id}/messages/delta`).header('Prefer', 'odata.maxpagesize=5').get();
    const iterator = new PageIterator(client, firstPage, (item: Message) => {
      seen.push(item.id!);
      return true;
    }, { headers: { Prefer: 'odata.maxpagesize=5' } });
    await iterator.iterate();
    expect(seen).toHaveLength(12);
    expect(iterator.getDeltaLink()).toMatch(/\$deltatoken=/);
  });

  it('sends duplicates, replays and an empty page when switched on', async () => {
    const mailbox = fake.mailbox(adele.id);
    const folder = mailbox.addFolder('Dupes');
    mailbox.addMessages('Dupes', 10);
    fake.script.duplicates(true);
    const client = graphClient(await token());
    const round = await deltaRound(client, `/users/${adele.id}/mailFolders/${folder.id}/messages/delta`);
    expect(round.pages[0].value).toEqual([]);
    expect(round.items.length).toBeGreaterThan(new Set(round.items.map((m) => m.id)).size);
    const next = await deltaRound(client, round.deltaLink);
    expect(next.items.length).toBeGreaterThan(0);
    fake.script.duplicates(false);
    const quiet = await deltaRound(client, next.deltaLink);
    expect(quiet.items).toEqual([]);
  });

  it('answers expired tokens with 410 SyncStateNotFound: deltaLinks, nextLinks mid-round, and the Location reset', async () => {
    const mailbox = fake.mailbox(adele.id);
    const folder = mailbox.addFolder('Expiring');
    mailbox.addMessages('Expiring', 15);
    const client = graphClient(await token());
    const start = `/users/${adele.id}/mailFolders/${folder.id}/messages/delta?$select=subject`;
    const round = await deltaRound(client, start);
    fake.script.expireDeltaTokens();
    const expired = await graphError(client.api(round.deltaLink).get());
    expect(expired).toMatchObject({ statusCode: 410, code: 'SyncStateNotFound' });

    const page1 = (await client.api(start).header('Prefer', 'odata.maxpagesize=10').get()) as DeltaPage;
    fake.script.expireDeltaTokens({ midPaging: true });
    const midRound = await graphError(client.api(page1['@odata.nextLink']!).get());
    expect(midRound).toMatchObject({ statusCode: 410, code: 'SyncStateNotFound' });
    const restarted = await deltaRound(client, start);
    expect(restarted.items).toHaveLength(15);
    // A nextLink serves once; fetching an old page again is refused the same way (observed).
    await expect(client.api(restarted.pages[0]['@odata.nextLink']!).get()).rejects.toMatchObject({ statusCode: 410, code: 'SyncStateNotFound' });

    fake.script.expireDeltaTokens({ withLocation: true });
    const response = await fetch(restarted.deltaLink, { headers: { authorization: `Bearer ${await token()}` } });
    expect(response.status).toBe(410);
    expect(response.headers.get('content-type')).toBe('application/json');
    const location = response.headers.get('location')!;
    expect(location).toMatch(/\$deltatoken=$/);
    const reset = await deltaRound(client, location);
    expect(reset.items).toHaveLength(15);
    expect(reset.items[0]).toEqual({ '@odata.type': '#microsoft.graph.message', '@odata.etag': expect.any(String), id: expect.any(String), subject: expect.any(String) });
  });

  it('pages 5,000 messages in full pages', async () => {
    const mailbox = fake.mailbox(alex.id);
    const folder = mailbox.addFolder('Big');
    mailbox.addMessages('Big', 5000, (i) => ({ subject: `Bulk ${i}` }));
    const client = graphClient(await token());
    const round = await deltaRound(client, `/users/${alex.id}/mailFolders/${folder.id}/messages/delta?$select=subject,internetMessageHeaders&$expand=attachments`, 500);
    expect(round.pages).toHaveLength(10);
    expect(new Set(round.items.map((m) => m.id)).size).toBe(5000);
  });
});

describe('throttling', () => {
  it('rejects the 5th concurrent request per app and mailbox with 429 ApplicationThrottled and Retry-After', async () => {
    const bearer = await token();
    fake.script.slow(300);
    const responses = await Promise.all([
      ...Array.from({ length: 5 }, () => raw(`/users/${adele.id}/mailFolders/inbox/messages?$top=1`, { bearer })),
      ...Array.from({ length: 4 }, () => raw(`/users/${alex.id}/mailFolders/inbox/messages?$top=1`, { bearer })),
    ]);
    const adeleStatuses = responses.slice(0, 5).map((r) => r.status).sort();
    expect(adeleStatuses).toEqual([200, 200, 200, 200, 429]);
    expect(responses.slice(5).map((r) => r.status)).toEqual([200, 200, 200, 200]);
    const throttled = responses.find((r) => r.status === 429)!;
    expect(throttled.headers.get('retry-after')).toBe('1');
    expect(((await throttled.json()) as { error: unknown }).error).toMatchObject({ code: 'ApplicationThrottled', message: 'Application is over its MailboxConcurrency limit.' });
    expect(fake.maxConcurrentSeen(adele.id)).toBe(5);
    expect(fake.requestLog.filter((e) => e.userId === adele.id && e.status === 429).at(-1)?.concurrentForMailbox).toBe(5);
    fake.resetCounters();
    expect(fake.maxConcurrentSeen(adele.id)).toBe(0);
  });

  it('runs scripted throttle storms with fractional Retry-After, which the client retry handler rides out', async () => {
    const bearer = await token();
    fake.script.throttle({ fraction: 1, retryAfterSeconds: [0.2, 0.4], forMs: 500, methods: ['GET'] });
    const throttled = await raw(`/users/${adele.id}/mailFolders`, { bearer });
    expect(throttled.status).toBe(429);
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThanOrEqual(0.2);
    const folders = await graphClient(bearer).api(`/users/${adele.id}/mailFolders`).get();
    expect(folders.value.length).toBeGreaterThan(0);
    fake.script.throttle({ fraction: 1, retryAfterSeconds: [1, 1], forMs: 60_000, status: 503 });
    const unavailable = await graphError(graphClient(bearer).api(`/users/${adele.id}/mailFolders`).middlewareOptions([new RetryHandlerOptions(0, 0)]).get());
    expect(unavailable).toMatchObject({ statusCode: 503 });
  });

  it('fails the next matching requests as scripted', async () => {
    const client = graphClient(await token());
    fake.script.failNext({ count: 1, status: 500, code: 'InternalServerError', path: /mailFolders$/ });
    await expect(client.api(`/users/${adele.id}/mailFolders`).get()).rejects.toMatchObject({ statusCode: 500, code: 'InternalServerError' });
    await expect(client.api(`/users/${adele.id}/mailFolders`).get()).resolves.toHaveProperty('value');
    fake.script.failNext({ count: 1, status: 504, code: 'GatewayTimeout', retryAfterSeconds: null });
    const bearer = await token();
    const timeout = await raw(`/users/${adele.id}/mailFolders`, { bearer });
    expect(timeout.status).toBe(504);
    expect(timeout.headers.get('retry-after')).toBeNull();
  });

  it('turns HTML bodies into text on Prefer: outlook.body-content-type="text"', async () => {
    const message = fake.mailbox(adele.id).addMessage('inbox', { body: { contentType: 'html', content: '<p>Hello&nbsp;<b>you</b></p><p>Line 2</p>' } });
    const client = graphClient(await token());
    const asText = await client.api(`/users/${adele.id}/messages/${message.id}`).header('Prefer', `outlook.body-content-type="text", ${immutable}`).get();
    expect(asText.body).toEqual({ contentType: 'text', content: 'Hello you\nLine 2' });
    const asHtml = await client.api(`/users/${adele.id}/messages/${message.id}`).header('Prefer', immutable).get();
    expect(asHtml.body.contentType).toBe('html');
  });
});

describe('sending', () => {
  it('creates a draft, sends it, and the Sent Items copy appears later with a new id and the same internetMessageId', async () => {
    const client = graphClient(await token());
    const draft = await client.api(`/users/${adele.id}/messages`).header('Prefer', immutable).post({
      subject: 'Quote', body: { contentType: 'html', content: '<p>Hello</p>' },
      toRecipients: [{ emailAddress: { address: 'customer@fabrikam.example' } }],
      internetMessageHeaders: [{ name: 'x-crm-activity', value: 'A-1' }],
    });
    expect(draft).toMatchObject({ isDraft: true, internetMessageId: expect.stringMatching(/^<.+@.+>$/), conversationId: expect.any(String) });
    expect(draft).not.toHaveProperty('internetMessageHeaders');
    // 202 without a body: the client hands back the (empty) stream, so read the raw response.
    const sent = (await client.api(`/users/${adele.id}/messages/${draft.id}/send`).responseType(ResponseType.RAW).post(null)) as Response;
    expect(sent.status).toBe(202);
    expect(await sent.text()).toBe('');
    await expect(client.api(`/users/${adele.id}/messages/${draft.id}`).get()).rejects.toMatchObject({ statusCode: 404, code: 'ErrorItemNotFound' });
    const filter = `internetMessageId eq '${draft.internetMessageId}'`;
    const findSent = () => client.api(`/users/${adele.id}/mailFolders/sentitems/messages`).header('Prefer', immutable)
      .filter(encodeURIComponent(filter)).select('id,internetMessageId,isDraft,internetMessageHeaders').get();
    expect((await findSent()).value).toEqual([]);
    const copy = await eventually(async () => (await findSent()).value[0], 'the Sent Items copy');
    expect(copy).toMatchObject({ internetMessageId: draft.internetMessageId, isDraft: false });
    expect(copy.internetMessageHeaders).toEqual(expect.arrayContaining([
      { name: 'x-crm-activity', value: 'A-1' }, { name: 'Message-ID', value: draft.internetMessageId }, { name: 'To', value: '<customer@fabrikam.example>' },
    ]));
    expect(copy.id).not.toBe(draft.id);
  });

  it('takes large attachments through an upload session in chunks of at most 4 MB', async () => {
    const client = graphClient(await token());
    const draft = await client.api(`/users/${adele.id}/messages`).header('Prefer', immutable).post({ subject: 'Big file', toRecipients: [{ emailAddress: { address: alex.mail } }] });
    const content = Buffer.alloc(5 * 1024 * 1024, 7);
    await expect(client.api(`/users/${adele.id}/messages/${draft.id}/attachments`).post({
      '@odata.type': '#microsoft.graph.fileAttachment', name: 'big.bin', contentBytes: content.toString('base64'),
    })).rejects.toMatchObject({ statusCode: 413 });
    const session = await client.api(`/users/${adele.id}/messages/${draft.id}/attachments/createUploadSession`).post({
      AttachmentItem: { attachmentType: 'file', name: 'big.bin', size: content.length, contentType: 'application/octet-stream' },
    });
    expect(session.uploadUrl).toMatch(/AttachmentSessions\('.+'\)\?authtoken=/);
    const put = (from: number, to: number) => fetch(session.uploadUrl, {
      method: 'PUT', body: content.subarray(from, to), headers: { 'content-range': `bytes ${from}-${to - 1}/${content.length}`, 'content-type': 'application/octet-stream' },
    });
    const first = await put(0, 3 * 1024 * 1024);
    expect(first.status).toBe(200);
    expect(((await first.json()) as { nextExpectedRanges: string[] }).nextExpectedRanges).toEqual([`${3 * 1024 * 1024}-${content.length - 1}`]);
    const last = await put(3 * 1024 * 1024, content.length);
    expect(last.status).toBe(201);
    const attachments = await client.api(`/users/${adele.id}/messages/${draft.id}/attachments`).get();
    expect(attachments.value.map((a: { name: string; size: number; contentBytes: string }) => [a.name, a.size, a.contentBytes === content.toString('base64')]))
      .toEqual([['big.bin', content.length, true]]);
  });

  it('can fail a send after accepting it, so an automatic retry of the client sends twice', async () => {
    const client = graphClient(await token());
    const draft = await client.api(`/users/${alex.id}/messages`).header('Prefer', immutable).post({ subject: 'Once?', toRecipients: [{ emailAddress: { address: 'x@fabrikam.example' } }] });
    fake.script.failNext({ count: 1, status: 504, code: 'GatewayTimeout', path: /\/send$/, afterHandling: true, retryAfterSeconds: null });
    const error = await graphError(client.api(`/users/${alex.id}/messages/${draft.id}/send`).middlewareOptions([new RetryHandlerOptions(0, 0)]).post(null));
    expect(error).toMatchObject({ statusCode: 504, code: 'GatewayTimeout' });
    await eventually(async () => fake.mailbox(alex.id).list('sentitems').find((m) => m.internetMessageId === draft.internetMessageId), 'the copy of the accepted send');
  });

  it('refuses internet message headers without x- with 400 InvalidInternetMessageHeader', async () => {
    const client = graphClient(await token());
    const error = await graphError(client.api(`/users/${adele.id}/messages`).post({ subject: 'x', internetMessageHeaders: [{ name: 'Precedence', value: 'bulk' }] }));
    expect(error).toMatchObject({ statusCode: 400, code: 'InvalidInternetMessageHeader' });
  });

  it('accepts sendMail with 202 and no body, saves to Sent Items unless told not to, and delivers to local users', async () => {
    const client = graphClient(await token());
    const marker = `<sendmail-${Date.now()}@test>`;
    const accepted = (await client.api(`/users/${adele.id}/sendMail`).responseType(ResponseType.RAW).post({
      message: { subject: 'Direct', internetMessageId: marker, toRecipients: [{ emailAddress: { address: alex.mail } }] },
    })) as Response;
    expect(accepted.status).toBe(202);
    expect(await accepted.text()).toBe('');
    await eventually(async () => fake.mailbox(adele.id).list('sentitems').find((m) => m.internetMessageId === marker), 'sent copy');
    await eventually(async () => fake.mailbox(alex.id).list('inbox').find((m) => m.internetMessageId === marker), 'delivery to Alex');
    const unsaved = `<unsaved-${Date.now()}@test>`;
    await client.api(`/users/${adele.id}/sendMail`).post({
      message: { subject: 'Not saved', internetMessageId: unsaved, toRecipients: [{ emailAddress: { address: alex.mail } }] }, saveToSentItems: false,
    });
    await eventually(async () => fake.mailbox(alex.id).list('inbox').find((m) => m.internetMessageId === unsaved), 'delivery of the unsaved one');
    expect(fake.mailbox(adele.id).list('sentitems').find((m) => m.internetMessageId === unsaved)).toBeUndefined();
  });
});

describe('$batch', () => {
  it('enforces 20 steps and unique ids, runs dependsOn with 424, and reports throttled steps in a 200 envelope', async () => {
    const client = graphClient(await token());
    const logged = fake.requestLog.length;
    const step = (id: string) => ({ id, method: 'GET', url: `/users/${adele.id}/mailFolders/inbox` });
    await expect(client.api('/$batch').post({ requests: Array.from({ length: 21 }, (_, i) => step(String(i))) })).rejects.toMatchObject({ statusCode: 400 });
    await expect(client.api('/$batch').post({ requests: [step('a'), step('A')] })).rejects.toMatchObject({ statusCode: 400 });

    const chained = await client.api('/$batch').post({ requests: [
      { id: '1', method: 'GET', url: `/users/${adele.id}/messages/does-not-exist` },
      { id: '2', method: 'GET', url: `/users/${adele.id}/mailFolders/inbox`, dependsOn: ['1'] },
    ] });
    const byId = Object.fromEntries(chained.responses.map((r: { id: string }) => [r.id, r]));
    expect(byId['1'].status).toBe(404);
    expect(byId['2'].status).toBe(424);

    fake.script.failNext({ count: 1, status: 429, code: 'ApplicationThrottled', path: /sentitems/ });
    const mixed = await client.api('/$batch').post({ requests: [
      step('inbox'),
      { id: 'sent', method: 'GET', url: `/users/${adele.id}/mailFolders/sentitems` },
      { id: 'patch', method: 'PATCH', url: `/users/${adele.id}/messages/x`, body: { isRead: true } },
    ] });
    const results = Object.fromEntries(mixed.responses.map((r: { id: string }) => [r.id, r]));
    expect(results.inbox).toMatchObject({ status: 200, body: { displayName: 'Inbox' } });
    expect(results.sent).toMatchObject({ status: 429, headers: expect.objectContaining({ 'retry-after': '1' }), body: { error: { code: 'ApplicationThrottled' } } });
    expect(results.patch.status).toBe(400);
    // Steps are served (and logged) one by one; the 424 and the body without Content-Type never ran.
    expect(fake.requestLog.slice(logged).filter((e) => e.inBatch).map((e) => e.status).sort()).toEqual([200, 404, 429]);
  });
});

describe('contacts, calendar and To Do', () => {
  it('tracks contacts by delta', async () => {
    const mailbox = fake.mailbox(adele.id);
    const contact = mailbox.addContact({ givenName: 'Pat', surname: 'Doe', emailAddresses: [{ address: 'pat@fabrikam.example' }] });
    const client = graphClient(await token());
    const folderId = mailbox.contactFolders.contacts.id;
    const first = await deltaRound(client, `/users/${adele.id}/contactFolders/${folderId}/contacts/delta`);
    expect(first.items.find((c) => c.id === contact.id)).toMatchObject({ displayName: 'Pat Doe', '@odata.type': '#microsoft.graph.contact' });
    mailbox.deleteContact(contact.id!);
    const second = await deltaRound(client, first.deltaLink);
    expect(second.items).toEqual([{ '@odata.type': '#microsoft.graph.contact', id: contact.id, '@removed': { reason: 'deleted' } }]);
  });

  it('needs a window for calendarView/delta and reports events leaving it as removed', async () => {
    const mailbox = fake.mailbox(alex.id);
    const event = mailbox.addEvent({ subject: 'Review', start: { dateTime: '2030-01-10T09:00:00', timeZone: 'UTC' }, end: { dateTime: '2030-01-10T10:00:00', timeZone: 'UTC' } });
    const client = graphClient(await token());
    await expect(client.api(`/users/${alex.id}/calendarView/delta`).get()).rejects.toMatchObject({ statusCode: 400 });
    const first = await deltaRound(client, `/users/${alex.id}/calendarView/delta?startDateTime=2030-01-01T00:00:00Z&endDateTime=2030-02-01T00:00:00Z`);
    expect(first.items.find((e) => e.id === event.id)).toMatchObject({ subject: 'Review', start: { dateTime: '2030-01-10T09:00:00.0000000', timeZone: 'UTC' } });
    mailbox.updateEvent(event.id!, { start: { dateTime: '2030-03-10T09:00:00', timeZone: 'UTC' }, end: { dateTime: '2030-03-10T10:00:00', timeZone: 'UTC' } });
    const second = await deltaRound(client, first.deltaLink);
    expect(second.items).toEqual([{ '@odata.type': '#microsoft.graph.event', id: event.id, '@removed': { reason: 'deleted' } }]);
  });

  it('expands a series into occurrences: trimmed in calendarView/delta, masters left out of calendarView', async () => {
    const mailbox = fake.mailbox(adele.id);
    const master = mailbox.addEvent({
      subject: 'Weekly sync', start: { dateTime: '2031-03-03T08:00:00', timeZone: 'UTC' }, end: { dateTime: '2031-03-03T08:30:00', timeZone: 'UTC' },
      recurrence: { pattern: { type: 'weekly', interval: 1, daysOfWeek: ['monday'] }, range: { type: 'numbered', startDate: '2031-03-03', numberOfOccurrences: 3 } },
    });
    const client = graphClient(await token());
    const window = 'startDateTime=2031-03-01T00:00:00Z&endDateTime=2031-04-01T00:00:00Z';
    const view = await client.api(`/users/${adele.id}/calendarView?${window}`).header('Prefer', immutable).get();
    expect(view.value.map((e: { type: string; start: { dateTime: string } }) => [e.type, e.start.dateTime])).toEqual([
      ['occurrence', '2031-03-03T08:00:00.0000000'], ['occurrence', '2031-03-10T08:00:00.0000000'], ['occurrence', '2031-03-17T08:00:00.0000000'],
    ]);
    const round = await deltaRound(client, `/users/${adele.id}/calendarView/delta?${window}`);
    const occurrences = round.items.filter((e) => e.type === 'occurrence');
    expect(occurrences).toHaveLength(3);
    expect(Object.keys(occurrences[0]).sort()).toEqual(['@odata.etag', '@odata.type', 'end', 'id', 'seriesMasterId', 'start', 'type']);
    expect(occurrences[0].seriesMasterId).toBe(master.id);
    expect(round.items.find((e) => e.id === master.id)).toMatchObject({ type: 'seriesMaster', subject: 'Weekly sync' });
  });

  it('creates To Do tasks with linked resources, truncates due dates, and tracks them by delta', async () => {
    const client = graphClient(await token());
    const lists = await client.api(`/users/${adele.id}/todo/lists`).get();
    const list = lists.value.find((l: { wellknownListName: string }) => l.wellknownListName === 'defaultList');
    const first = await deltaRound(client, `/users/${adele.id}/todo/lists/${list.id}/tasks/delta`);
    const created = await client.api(`/users/${adele.id}/todo/lists/${list.id}/tasks`).post({
      title: 'Call back', dueDateTime: { dateTime: '2030-05-01T15:30:00', timeZone: 'Europe/Paris' },
      linkedResources: [{ applicationName: 'CRM', displayName: 'Case 42', externalId: 'case-42', webUrl: 'https://crm.example/cases/42' }],
    });
    expect(created.dueDateTime).toEqual({ dateTime: '2030-05-01T00:00:00.0000000', timeZone: 'UTC' });
    expect(created.linkedResources).toEqual([expect.objectContaining({ id: expect.any(String), externalId: 'case-42' })]);
    const second = await deltaRound(client, first.deltaLink);
    expect(second.items.map((t) => t.id)).toEqual([created.id]);
  });
});

describe('change notifications', () => {
  it('validates the notification URL and posts notifications with clientState', async () => {
    const received: Array<Record<string, unknown>> = [];
    const receiver = http.createServer((req, res) => {
      const url = new URL(req.url!, 'http://localhost');
      const validationToken = url.searchParams.get('validationToken');
      if (validationToken) {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(validationToken);
        return;
      }
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        received.push(...JSON.parse(body).value);
        res.writeHead(202);
        res.end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const client = graphClient(await token());
      const subscription = await client.api('/subscriptions').post({
        changeType: 'created,updated,deleted', resource: `/users/${alex.id}/mailFolders('inbox')/messages`,
        notificationUrl: `http://localhost:${(receiver.address() as AddressInfo).port}/notify`, clientState: 'secret-state',
        expirationDateTime: new Date(Date.now() + 3600_000).toISOString(),
      });
      await expect(client.api('/subscriptions').post({
        changeType: 'created', resource: `/users/${alex.id}/messages`, notificationUrl: 'http://localhost:1/nothing-listens',
        expirationDateTime: new Date(Date.now() + 3600_000).toISOString(),
      })).rejects.toMatchObject({ statusCode: 400 });
      const message = fake.mailbox(alex.id).addMessage('inbox', { subject: 'Notify me' });
      const notification = await eventually(async () => received.find((n) => n.changeType === 'created'), 'a notification');
      expect(notification).toMatchObject({ subscriptionId: subscription.id, clientState: 'secret-state', tenantId: fake.tenantId });
      expect(JSON.stringify(notification.resourceData)).toContain('"id"');
      void message;
    } finally {
      receiver.close();
    }
  });
});
