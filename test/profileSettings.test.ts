/**
 * What a server profile must say before it is stored: a host for its incoming server, a port for
 * each server (the security setting's default when left out, stored so the API shows it), and a
 * server type this version can sync; an exchange_online profile names its app instead of servers
 * (test/exchangeProfile.test.ts).
 */
import type { FastifyInstance } from 'fastify';
import { ApiTokens } from '../src/admin/apiTokens';
import { buildApiServer } from '../src/api/server';
import { EncryptionCodec } from '../src/temporal/payloadCodec';
import { TestBed } from './support/testBed';

let bed: TestBed;
let app: FastifyInstance;
let token: string;
let seq = 0;

beforeAll(async () => {
  bed = await TestBed.create();
  const tokens = new ApiTokens(bed.pool);
  app = await buildApiServer({ service: bed.admin, tokens, codec: new EncryptionCodec(bed.env.SECRET_KEYS) });
  await app.ready();
  token = (await tokens.create({ role: 'admin', label: 'profile settings test' })).token;
});

afterAll(async () => {
  await app?.close();
  await bed?.close();
});

async function call(method: 'POST' | 'PATCH' | 'GET', url: string, payload?: Record<string, unknown>) {
  const res = await app.inject({ method, url, payload, headers: { authorization: `Bearer ${token}` } });
  return { status: res.statusCode, body: res.json() };
}

const createProfile = (fields: Record<string, unknown>) => call('POST', '/profiles', { name: `Profile ${++seq}`, ...fields });

describe('ports', () => {
  it('defaults each port from its security setting, and shows it', async () => {
    const cases = [
      [{ incomingSecurity: 'tls', outgoingSecurity: 'tls' }, 993, 465],
      [{ incomingSecurity: 'starttls', outgoingSecurity: 'starttls' }, 143, 587],
      [{ incomingSecurity: 'none', outgoingSecurity: 'none' }, 143, 25],
      // The settings' own defaults: TLS in, STARTTLS out.
      [{}, 993, 587],
    ] as const;
    for (const [security, incomingPort, outgoingPort] of cases) {
      const created = await createProfile({ serverType: 'imap', incomingHost: 'imap.example.test', outgoingHost: 'smtp.example.test', ...security });
      expect({ security, status: created.status }).toEqual({ security, status: 201 });
      expect(created.body).toMatchObject({ incomingPort, outgoingPort });
      expect((await call('GET', `/profiles/${created.body.id}`)).body).toMatchObject({ incomingPort, outgoingPort });
      const [row] = await bed.query(`SELECT incoming_port, outgoing_port FROM email_server_profiles WHERE id = $1`, [created.body.id]);
      expect(row).toEqual({ incoming_port: incomingPort, outgoing_port: outgoingPort });
    }
  });

  it('keeps the ports given, and leaves the outgoing port empty without an outgoing server', async () => {
    const created = await createProfile({ serverType: 'imap', incomingHost: 'imap.example.test', incomingPort: 1993, incomingSecurity: 'tls' });
    expect(created).toMatchObject({ status: 201, body: { incomingPort: 1993, outgoingHost: null, outgoingPort: null } });
  });

  it('moves a default port with a changed security setting, and keeps a chosen one', async () => {
    const byDefault = (await createProfile({ serverType: 'imap', incomingHost: 'imap.example.test', incomingSecurity: 'tls' })).body;
    expect((await call('PATCH', `/profiles/${byDefault.id}`, { incomingSecurity: 'starttls' })).body).toMatchObject({ incomingSecurity: 'starttls', incomingPort: 143 });
    const chosen = (await createProfile({ serverType: 'imap', incomingHost: 'imap.example.test', incomingPort: 1993, incomingSecurity: 'tls' })).body;
    expect((await call('PATCH', `/profiles/${chosen.id}`, { incomingSecurity: 'starttls' })).body).toMatchObject({ incomingSecurity: 'starttls', incomingPort: 1993 });
    const added = (await call('PATCH', `/profiles/${chosen.id}`, { outgoingHost: 'smtp.example.test', outgoingSecurity: 'tls' })).body;
    expect(added).toMatchObject({ outgoingHost: 'smtp.example.test', outgoingPort: 465 });
  });
});

describe('refused profiles', () => {
  it('refuses an IMAP profile without a host, saying which setting is missing', async () => {
    const refused = await createProfile({ serverType: 'imap', incomingSecurity: 'tls' });
    expect(refused).toEqual({ status: 400, body: { error: expect.any(String), message: 'A profile of server type imap needs the host name of its incoming server (incomingHost)' } });
    expect(await bed.query(`SELECT 1 FROM email_server_profiles WHERE name = $1`, [`Profile ${seq}`])).toHaveLength(0);
  });

  it('refuses mail-server hosts on an exchange_online profile, and an exchange_online profile without its app', async () => {
    const withHost = await createProfile({ serverType: 'exchange_online', incomingHost: 'outlook.office365.com', tenantId: 't.onmicrosoft.com', clientId: 'c', clientSecret: 's' });
    expect(withHost.status).toBe(400);
    expect(withHost.body.message).toMatch(/^An exchange_online profile reaches its mailboxes, incoming and outgoing, through Microsoft Graph: leave out incomingHost/);
    const withoutApp = await createProfile({ serverType: 'exchange_online' });
    expect(withoutApp.body).toMatchObject({ message: expect.stringMatching(/needs the id of its Microsoft Entra tenant \(tenantId\)/) });
    expect(await bed.query(`SELECT 1 FROM email_server_profiles WHERE name = ANY($1)`, [[`Profile ${seq - 1}`, `Profile ${seq}`]])).toHaveLength(0);
  });

  it('refuses to change an IMAP profile into exchange_online without its app settings, and changes nothing', async () => {
    const profile = (await createProfile({ serverType: 'imap', incomingHost: 'imap.example.test' })).body;
    const refused = await call('PATCH', `/profiles/${profile.id}`, { serverType: 'exchange_online', name: 'Renamed' });
    expect(refused.status).toBe(400);
    expect(refused.body.message).toMatch(/needs the id of its Microsoft Entra tenant/);
    expect((await call('GET', `/profiles/${profile.id}`)).body).toMatchObject({ serverType: 'imap', name: profile.name, incomingHost: 'imap.example.test' });
  });

  it('lets an exchange_online profile an older version stored without its app settings be renamed, and moved to IMAP taking the default port', async () => {
    const [legacy] = await bed.query<{ id: string }>(
      `INSERT INTO email_server_profiles (name, server_type, incoming_host, incoming_security) VALUES ('Legacy Exchange', 'exchange_online', 'mail.example.test', 'tls') RETURNING id`,
    );
    expect((await call('PATCH', `/profiles/${legacy.id}`, { name: 'Legacy Exchange, renamed' })).status).toBe(200);
    const moved = await call('PATCH', `/profiles/${legacy.id}`, { serverType: 'imap' });
    expect(moved).toMatchObject({ status: 200, body: { serverType: 'imap', incomingHost: 'mail.example.test', incomingPort: 993 } });
  });
});
