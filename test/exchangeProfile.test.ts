/**
 * exchange_online profiles and their mailboxes, administered through the API and the CLI: the
 * app's credential (a client secret, or a certificate and its key) is stored encrypted and never
 * shown; mailboxes are tenant users without passwords; sync and send load the decrypted
 * GraphEndpoint.
 */
import { execFile } from 'node:child_process';
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { generate } from 'selfsigned';
import { ApiTokens } from '../src/admin/apiTokens';
import { buildApiServer } from '../src/api/server';
import { PgOutgoingStore } from '../src/store/pgOutgoingStore';
import { PgSyncStore } from '../src/store/pgSyncStore';
import { EncryptionCodec } from '../src/temporal/payloadCodec';
import { TestBed } from './support/testBed';

const ROOT = path.resolve(__dirname, '..');
const TENANT = 'contoso.onmicrosoft.com';
const CLIENT = '3f6b1c2e-8d4a-4c1b-9e7f-0a1b2c3d4e5f';
const SECRET = 'Qx8~app-secret.value_that-must-never-show';

let bed: TestBed;
let app: FastifyInstance;
let token: string;
let certificate: { cert: string; private: string };
let otherKey: string;
let dir: string;
let seq = 0;

beforeAll(async () => {
  bed = await TestBed.create();
  const tokens = new ApiTokens(bed.pool);
  app = await buildApiServer({ service: bed.admin, tokens, codec: new EncryptionCodec(bed.env.SECRET_KEYS) });
  await app.ready();
  token = (await tokens.create({ role: 'admin', label: 'exchange profile test' })).token;
  const [pair, other] = await Promise.all([
    generate([{ name: 'commonName', value: 'crm-sync graph app' }], { keySize: 2048, algorithm: 'sha256' }),
    generate([{ name: 'commonName', value: 'another app' }], { keySize: 2048, algorithm: 'sha256' }),
  ]);
  certificate = pair;
  otherKey = other.private;
  dir = mkdtempSync(path.join(tmpdir(), 'exchange-profile-'));
});

afterAll(async () => {
  await app?.close();
  await bed?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function call(method: 'POST' | 'PATCH' | 'GET', url: string, payload?: Record<string, unknown>) {
  const res = await app.inject({ method, url, payload, headers: { authorization: `Bearer ${token}` } });
  return { status: res.statusCode, body: res.json(), text: res.body };
}

const exchangeProfile = (fields: Record<string, unknown> = {}) =>
  call('POST', '/profiles', { name: `Exchange ${++seq}`, serverType: 'exchange_online', tenantId: TENANT, clientId: CLIENT, ...fields });

const thumbprintOf = (pem: string) => createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');

/** The body lines of a PEM (its base64), none of which may appear in a column stored encrypted. */
const pemLines = (pem: string) => pem.split(/\r?\n/).filter((l) => l && !l.startsWith('-----'));

async function profileRow(id: string) {
  const [row] = await bed.query<Record<string, any>>(`SELECT * FROM email_server_profiles WHERE id = $1`, [id]);
  return row;
}

describe('profiles through the API', () => {
  it('creates a profile with a client secret: public cloud by default, the secret encrypted at rest and never shown', async () => {
    const created = await exchangeProfile({ clientSecret: SECRET, connectionTimeoutSeconds: 20 });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      serverType: 'exchange_online',
      tenantId: TENANT,
      clientId: CLIENT,
      graphBaseUrl: 'https://graph.microsoft.com/',
      authorityHost: 'https://login.microsoftonline.com',
      credentialKind: 'secret',
      clientSecretSet: true,
      certificateThumbprint: null,
      certificateExpiresAt: null,
      incomingHost: null,
      incomingPort: null,
      outgoingHost: null,
      outgoingPort: null,
    });
    expect(created.text).not.toContain(SECRET);
    const shown = await call('GET', `/profiles/${created.body.id}`);
    expect(shown.body).toMatchObject({ credentialKind: 'secret', clientSecretSet: true });
    expect(shown.text).not.toContain(SECRET);
    expect((await call('GET', '/profiles')).text).not.toContain(SECRET);

    const row = await profileRow(created.body.id);
    expect(row).toMatchObject({ auth_type: 'oauth_client_credentials', credential_kind: 'secret', tenant_id: TENANT, client_id: CLIENT });
    expect(row.credentials).toMatch(/^v1:/);
    expect(row.credentials).not.toContain(SECRET);
    expect(JSON.stringify(row)).not.toContain(SECRET);
    expect(JSON.parse(bed.secrets.decrypt(row.credentials))).toEqual({ kind: 'secret', secret: SECRET });
  });

  it('creates a profile with a certificate: thumbprint and expiry shown, certificate and key encrypted at rest', async () => {
    const created = await exchangeProfile({ certificatePem: certificate.cert, privateKeyPem: certificate.private });
    expect(created.status).toBe(201);
    const expiresAt = new Date(new X509Certificate(certificate.cert).validTo).toISOString();
    expect(created.body).toMatchObject({
      credentialKind: 'certificate',
      clientSecretSet: false,
      certificateThumbprint: thumbprintOf(certificate.cert),
      certificateExpiresAt: expiresAt,
    });
    for (const line of [...pemLines(certificate.private), ...pemLines(certificate.cert)]) expect(created.text).not.toContain(line);

    const row = await profileRow(created.body.id);
    expect(row).toMatchObject({ credential_kind: 'certificate', certificate_thumbprint: thumbprintOf(certificate.cert) });
    expect(row.certificate_expires_at.toISOString()).toBe(expiresAt);
    const stored = JSON.stringify(row);
    expect(stored).not.toContain('PRIVATE KEY');
    for (const line of [...pemLines(certificate.private), ...pemLines(certificate.cert)]) expect(stored).not.toContain(line);
  });

  it('keeps the hosts of a national cloud, normalised', async () => {
    const created = await exchangeProfile({ clientSecret: SECRET, graphBaseUrl: 'https://graph.microsoft.us', authorityHost: 'https://login.microsoftonline.us/' });
    expect(created).toMatchObject({ status: 201, body: { graphBaseUrl: 'https://graph.microsoft.us/', authorityHost: 'https://login.microsoftonline.us' } });
  });

  it('refuses, with a 400 naming the setting, what an exchange_online profile cannot be, and stores nothing', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ tenantId: undefined, clientSecret: SECRET }, /^An exchange_online profile needs the id of its Microsoft Entra tenant \(tenantId\)/],
      [{ clientId: undefined, clientSecret: SECRET }, /^An exchange_online profile needs the application \(client\) id .*\(clientId\)$/],
      [{}, /^An exchange_online profile needs its app's credential: clientSecret, or certificatePem with privateKeyPem$/],
      [{ clientSecret: SECRET, certificatePem: certificate.cert, privateKeyPem: certificate.private }, /^Give clientSecret, or certificatePem with privateKeyPem, not both/],
      [{ certificatePem: certificate.cert }, /privateKeyPem is missing/],
      [{ certificatePem: certificate.cert, privateKeyPem: otherKey }, /^privateKeyPem is not the private key of the certificate in certificatePem/],
      [{ certificatePem: 'not a certificate', privateKeyPem: certificate.private }, /^certificatePem is not a certificate/],
      [{ clientSecret: SECRET, graphBaseUrl: 'http://graph.microsoft.com/' }, /^graphBaseUrl must be an https URL such as https:\/\/graph\.microsoft\.us\/, not http/],
      [{ clientSecret: SECRET, authorityHost: 'http://login.microsoftonline.com' }, /^authorityHost must be an https URL/],
      [{ clientSecret: SECRET, authorityHost: 'login.microsoftonline.com' }, /^authorityHost must be an https URL .*is not a URL$/],
      [{ clientSecret: SECRET, tenantId: 'common' }, /^tenantId must name one tenant/],
      [{ clientSecret: SECRET, outgoingHost: 'smtp.office365.com' }, /through Microsoft Graph: leave out outgoingHost/],
    ];
    const profileCount = async () => (await bed.query<{ n: number }>(`SELECT count(*)::int AS n FROM email_server_profiles`))[0].n;
    const before = await profileCount();
    for (const [fields, message] of cases) {
      const refused = await exchangeProfile(fields);
      expect({ fields: Object.keys(fields), status: refused.status, message: refused.body.message }).toEqual({
        fields: Object.keys(fields),
        status: 400,
        message: expect.stringMatching(message),
      });
      expect(refused.text).not.toContain(SECRET);
    }
    expect(await profileCount()).toBe(before);
    const imapWithSecret = await call('POST', '/profiles', { name: `Imap ${++seq}`, serverType: 'imap', incomingHost: 'imap.example.test', clientSecret: SECRET });
    expect(imapWithSecret).toMatchObject({ status: 400, body: { message: 'clientSecret is a setting of exchange_online profiles (this profile is imap): leave it out' } });
  });

  it('replaces the credential on a change, keeps it on other changes, and refuses a non-https host', async () => {
    const profile = (await exchangeProfile({ clientSecret: SECRET })).body;
    const renamed = await call('PATCH', `/profiles/${profile.id}`, { name: `${profile.name} renamed`, clientId: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee' });
    expect(renamed).toMatchObject({ status: 200, body: { clientId: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee', credentialKind: 'secret', clientSecretSet: true } });
    expect(JSON.parse(bed.secrets.decrypt((await profileRow(profile.id)).credentials))).toEqual({ kind: 'secret', secret: SECRET });

    const moved = await call('PATCH', `/profiles/${profile.id}`, { certificatePem: certificate.cert, privateKeyPem: certificate.private });
    expect(moved).toMatchObject({ status: 200, body: { credentialKind: 'certificate', clientSecretSet: false, certificateThumbprint: thumbprintOf(certificate.cert) } });
    expect(JSON.parse(bed.secrets.decrypt((await profileRow(profile.id)).credentials))).toMatchObject({ kind: 'certificate', thumbprintSha256: thumbprintOf(certificate.cert) });

    const refused = await call('PATCH', `/profiles/${profile.id}`, { graphBaseUrl: 'http://graph.example.test/' });
    expect(refused).toMatchObject({ status: 400, body: { message: expect.stringMatching(/^graphBaseUrl must be an https URL/) } });
    expect((await call('GET', `/profiles/${profile.id}`)).body).toMatchObject({ graphBaseUrl: 'https://graph.microsoft.com/', credentialKind: 'certificate' });
  });

  it('turns an IMAP profile without mailboxes into exchange_online, dropping its mail servers; back again drops the app', async () => {
    const imap = (await call('POST', '/profiles', { name: `Imap ${++seq}`, serverType: 'imap', incomingHost: 'imap.example.test', outgoingHost: 'smtp.example.test' })).body;
    const exchange = await call('PATCH', `/profiles/${imap.id}`, { serverType: 'exchange_online', tenantId: TENANT, clientId: CLIENT, clientSecret: SECRET });
    expect(exchange).toMatchObject({
      status: 200,
      body: { serverType: 'exchange_online', incomingHost: null, incomingPort: null, outgoingHost: null, outgoingPort: null, clientSecretSet: true },
    });
    const back = await call('PATCH', `/profiles/${imap.id}`, { serverType: 'imap', incomingHost: 'imap.example.test' });
    expect(back).toMatchObject({ status: 200, body: { serverType: 'imap', incomingPort: 993, tenantId: null, credentialKind: null, clientSecretSet: false, graphBaseUrl: null } });
    expect(await profileRow(imap.id)).toMatchObject({ credentials: null, auth_type: 'password' });
  });
});

describe('mailboxes on an exchange_online profile', () => {
  let profileId: string;

  beforeAll(async () => {
    profileId = (await exchangeProfile({ clientSecret: SECRET, connectionTimeoutSeconds: 20 })).body.id;
  });

  it('are tenant users without a password: one given is refused, saying why', async () => {
    const refused = await call('POST', '/mailboxes', { emailAddress: 'ann@contoso.example', profileId, password: 'hunter2' });
    expect(refused.status).toBe(400);
    expect(refused.body.message).toBe(
      "A mailbox on an exchange_online profile has no password of its own: the profile's app reaches every mailbox of its tenant through Microsoft Graph; " +
        "leave password out (the app's credential is set on the profile)",
    );
    expect(await bed.query(`SELECT 1 FROM mailboxes WHERE email_address = 'ann@contoso.example'`)).toHaveLength(0);

    const created = await call('POST', '/mailboxes', { emailAddress: 'ann@contoso.example', profileId, incomingEnabled: false });
    expect(created).toMatchObject({ status: 201, body: { emailAddress: 'ann@contoso.example', graphUser: null, folders: ['INBOX'] } });
    expect(await bed.query(`SELECT credentials, graph_user FROM mailboxes WHERE id = $1`, [created.body.id])).toEqual([{ credentials: null, graph_user: null }]);

    const patched = await call('PATCH', `/mailboxes/${created.body.id}`, { password: 'hunter2' });
    expect(patched).toMatchObject({ status: 400, body: { message: expect.stringMatching(/^A mailbox on an exchange_online profile has no password of its own/) } });
    expect(await bed.query(`SELECT credentials FROM mailboxes WHERE id = $1`, [created.body.id])).toEqual([{ credentials: null }]);
  });

  it('take a graph user (object id) and Exchange folder names; refuse POP3-only settings', async () => {
    const objectId = '7c9e6679-7425-40de-944b-e07fc1f90ae7';
    const created = await call('POST', '/mailboxes', {
      emailAddress: 'bob@contoso.example',
      profileId,
      graphUser: objectId,
      folders: ['INBOX', 'sentitems', 'Projects'],
      incomingEnabled: false,
    });
    expect(created).toMatchObject({ status: 201, body: { graphUser: objectId, folders: ['INBOX', 'sentitems', 'Projects'] } });
    const deleting = await call('PATCH', `/mailboxes/${created.body.id}`, { deleteAfterProcessing: true });
    expect(deleting).toMatchObject({ status: 400, body: { message: expect.stringMatching(/^Deleting mail after processing is available for POP3 profiles only/) } });
    const twice = await call('PATCH', `/mailboxes/${created.body.id}`, { folders: ['Inbox', 'INBOX'] });
    expect(twice).toMatchObject({ status: 400, body: { message: 'folders names one Exchange folder twice ("Inbox" and "INBOX"): name each folder once' } });
    const badUser = await call('PATCH', `/mailboxes/${created.body.id}`, { graphUser: 'a/b' });
    expect(badUser.status).toBe(400);
    expect((await call('PATCH', `/mailboxes/${created.body.id}`, { graphUser: null })).body).toMatchObject({ graphUser: null });
  });

  it('keep the profile from turning into IMAP while it has them (409)', async () => {
    const refused = await call('PATCH', `/profiles/${profileId}`, { serverType: 'imap', incomingHost: 'imap.example.test' });
    expect(refused.status).toBe(409);
    expect(refused.body.message).toMatch(/cannot change between exchange_online and imap\/pop3/);
    expect((await call('GET', `/profiles/${profileId}`)).body).toMatchObject({ serverType: 'exchange_online', clientSecretSet: true });
  });

  it('an IMAP mailbox still needs its password', async () => {
    const imap = (await call('POST', '/profiles', { name: `Imap ${++seq}`, serverType: 'imap', incomingHost: 'imap.example.test' })).body;
    const refused = await call('POST', '/mailboxes', { emailAddress: 'carol@example.test', profileId: imap.id });
    expect(refused).toMatchObject({ status: 400, body: { message: 'A mailbox on a profile of server type imap logs in to its server with its own password: give password' } });
    const withGraphUser = await call('POST', '/mailboxes', { emailAddress: 'carol@example.test', profileId: imap.id, password: 'pw', graphUser: 'someone' });
    expect(withGraphUser).toMatchObject({ status: 400, body: { message: expect.stringMatching(/^graphUser is for mailboxes on exchange_online profiles/) } });
  });
});

describe('loading for sync and send', () => {
  it('gives the sync and the send side the decrypted GraphEndpoint of a secret profile, the email address as user', async () => {
    const profile = (await exchangeProfile({ clientSecret: SECRET, connectionTimeoutSeconds: 20 })).body;
    const mailbox = (await call('POST', '/mailboxes', { emailAddress: 'dan@contoso.example', profileId: profile.id, incomingEnabled: false })).body;
    const graph = {
      tenantId: TENANT,
      clientId: CLIENT,
      credential: { kind: 'secret', secret: SECRET },
      graphBaseUrl: 'https://graph.microsoft.com/',
      authorityHost: 'https://login.microsoftonline.com',
      user: 'dan@contoso.example',
      requestTimeoutMs: 20_000,
    };
    const context = await new PgSyncStore(bed.pool, bed.secrets).loadSyncContext(mailbox.id);
    expect(context).toMatchObject({ serverType: 'exchange_online', graph, outgoing: null, folders: ['INBOX'] });
    expect(context!.endpoint).toEqual({ host: 'graph.microsoft.com', port: 443, security: 'tls', username: 'dan@contoso.example', password: '', connectionTimeoutMs: 20_000 });
    const outgoing = await new PgOutgoingStore(bed.pool, bed.secrets).loadOutgoingContext(mailbox.id);
    expect(outgoing).toMatchObject({ serverType: 'exchange_online', graph, smtp: null, sentCopies: null });
  });

  it('gives a certificate profile its certificate, key and thumbprint, and the graph user when set', async () => {
    const profile = (
      await exchangeProfile({ certificatePem: certificate.cert, privateKeyPem: certificate.private, graphBaseUrl: 'https://127.0.0.1:8443', authorityHost: 'https://127.0.0.1:8443' })
    ).body;
    const objectId = '0d9f5d43-64f1-4b1e-a3bc-4a9b1a3e5c11';
    const mailbox = (await call('POST', '/mailboxes', { emailAddress: 'eve@contoso.example', profileId: profile.id, graphUser: objectId, incomingEnabled: false })).body;
    const context = await new PgSyncStore(bed.pool, bed.secrets).loadSyncContext(mailbox.id);
    expect(context!.graph).toEqual({
      tenantId: TENANT,
      clientId: CLIENT,
      credential: {
        kind: 'certificate',
        certificatePem: certificate.cert.trim() + '\n',
        privateKeyPem: expect.stringMatching(/^-----BEGIN PRIVATE KEY-----\n/),
        thumbprintSha256: thumbprintOf(certificate.cert),
      },
      graphBaseUrl: 'https://127.0.0.1:8443/',
      authorityHost: 'https://127.0.0.1:8443',
      user: objectId,
      requestTimeoutMs: 30_000,
    });
    expect(context!.endpoint).toMatchObject({ host: '127.0.0.1', port: 8443, username: objectId, password: '' });
    const credential = context!.graph!.credential as { privateKeyPem: string };
    expect(new X509Certificate(certificate.cert).checkPrivateKey(createPrivateKey(credential.privateKeyPem))).toBe(true);
  });

  it('gives IMAP mailboxes no Graph endpoint', async () => {
    const imap = (await call('POST', '/profiles', { name: `Imap ${++seq}`, serverType: 'imap', incomingHost: 'imap.example.test' })).body;
    const mailbox = (await call('POST', '/mailboxes', { emailAddress: 'frank@example.test', profileId: imap.id, password: 'pw', incomingEnabled: false })).body;
    expect(await new PgSyncStore(bed.pool, bed.secrets).loadSyncContext(mailbox.id)).toMatchObject({ graph: null, endpoint: { host: 'imap.example.test', password: 'pw' } });
    expect(await new PgOutgoingStore(bed.pool, bed.secrets).loadOutgoingContext(mailbox.id)).toMatchObject({ graph: null });
  });
});

// The real CLI, as `npm run cli` runs it, against this file's database.
interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], input?: string, env: Record<string, string> = {}): Promise<Run> {
  const base: NodeJS.ProcessEnv = { ...process.env, ...bed.env, LOG_LEVEL: 'warn', ...env };
  if (!env.MAILBOX_PASSWORD) delete base.MAILBOX_PASSWORD;
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src', 'cli', 'main.ts'), ...args], { cwd: ROOT, env: base, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
    child.stdin!.end(input ?? '');
  });
}

async function ok(args: string[], input?: string, env: Record<string, string> = {}): Promise<any> {
  const run = await cli(args, input, env);
  if (run.code !== 0) throw new Error(`cli ${args.join(' ')}: exit ${run.code}\n${run.stderr}\n${run.stdout}`);
  return JSON.parse(run.stdout);
}

describe('the CLI', () => {
  it('creates, shows and changes exchange_online profiles without ever printing a secret', async () => {
    const created = await ok(
      ['profile', 'create', '--name', 'CLI Exchange secret', '--type', 'exchange_online', '--tenant-id', TENANT, '--client-id', CLIENT, '--client-secret-stdin'],
      `${SECRET}\n`,
    );
    expect(created).toMatchObject({ serverType: 'exchange_online', tenantId: TENANT, clientId: CLIENT, credentialKind: 'secret', clientSecretSet: true, graphBaseUrl: 'https://graph.microsoft.com/' });
    expect(JSON.parse(bed.secrets.decrypt((await profileRow(created.id)).credentials))).toEqual({ kind: 'secret', secret: SECRET });
    const shown = await cli(['profile', 'show', created.id]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).not.toContain(SECRET);
    expect(JSON.parse(shown.stdout)).toMatchObject({ id: created.id, clientSecretSet: true });

    const certFile = path.join(dir, 'app.crt');
    const keyFile = path.join(dir, 'app.key');
    writeFileSync(certFile, certificate.cert);
    writeFileSync(keyFile, certificate.private);
    const changed = await cli(['profile', 'set', created.id, '--certificate-file', certFile, '--private-key-file', keyFile, '--graph-base-url', 'https://graph.microsoft.us']);
    expect(changed.code).toBe(0);
    expect(JSON.parse(changed.stdout)).toMatchObject({
      credentialKind: 'certificate',
      clientSecretSet: false,
      certificateThumbprint: thumbprintOf(certificate.cert),
      graphBaseUrl: 'https://graph.microsoft.us/',
    });
    for (const line of pemLines(certificate.private)) expect(changed.stdout).not.toContain(line);

    const refused = await cli(['profile', 'set', created.id, '--authority-host', 'http://login.microsoftonline.us']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^authorityHost must be an https URL/);
    const missingFile = await cli(['profile', 'set', created.id, '--certificate-file', path.join(dir, 'nope.crt'), '--private-key-file', keyFile]);
    expect(missingFile).toMatchObject({ code: 2, stderr: expect.stringMatching(/^--certificate-file: cannot read .*nope\.crt \(ENOENT\)/) });
  });

  it('creates a mailbox for a tenant user without a password, and refuses one given', async () => {
    const profile = (await exchangeProfile({ clientSecret: SECRET })).body;
    const created = await ok(['mailbox', 'create', '--email', 'gina@contoso.example', '--profile', profile.id, '--graph-user', 'gina@contoso.onmicrosoft.com', '--disabled']);
    expect(created).toMatchObject({ emailAddress: 'gina@contoso.example', graphUser: 'gina@contoso.onmicrosoft.com' });
    const refused = await cli(['mailbox', 'create', '--email', 'hal@contoso.example', '--profile', profile.id, '--disabled'], undefined, { MAILBOX_PASSWORD: 'hunter2' });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^A mailbox on an exchange_online profile has no password of its own/);
  });
});
