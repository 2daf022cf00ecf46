/**
 * Decoded history outside the product: the real Temporal CLI reads a mailbox workflow's encrypted
 * history through the admin API's codec routes, and the local stack's Temporal UI may call those
 * routes without a token only from loopback with its own Origin.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { ApiTokens } from '../src/admin/apiTokens';
import { buildApiServer } from '../src/api/server';
import { mailboxWorkflowId } from '../src/temporal/names';
import { EncryptionCodec } from '../src/temporal/payloadCodec';
import { DovecotServer } from './support/dovecot';
import { makeMessages } from './support/messages';
import { dovecotProfile, eventually, TestBed } from './support/testBed';

const TEMPORAL_CLI = path.resolve(__dirname, '..', '.tools', 'bin', 'temporal');
const LOCAL_UI = 'http://127.0.0.1:18233';
/** How an encrypted payload's metadata reads in the CLI's JSON (metadata values are base64). */
const ENCRYPTED = Buffer.from('binary/encrypted').toString('base64');

let bed: TestBed;
let dovecot: DovecotServer;
let app: FastifyInstance;
let base: string;
let token: string;

beforeAll(async () => {
  bed = await TestBed.create();
  dovecot = await DovecotServer.start();
  await bed.startWorkers();
  const tokens = new ApiTokens(bed.pool);
  token = (await tokens.create({ role: 'admin', label: 'codec cli test' })).token;
  app = await buildApiServer({ service: bed.admin, tokens, codec: new EncryptionCodec(bed.env.SECRET_KEYS), localUiOrigins: [LOCAL_UI] });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await app?.close();
  await bed?.close();
  await dovecot?.destroy();
});

function temporalCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(TEMPORAL_CLI, args, { timeout: 60_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function mailboxWithHistory(): Promise<{ id: string; address: string }> {
  const address = `codec-${Date.now()}@example.test`;
  await dovecot.addUser(address, 'secret');
  await dovecot.deliver(address, makeMessages(2, { to: address, subject: 'Codec' }));
  const owner = await bed.admin.createUser({ fullName: 'Carol Codec', email: `owner-${address}` });
  const profile = await bed.admin.createProfile(dovecotProfile(`Codec Dovecot ${address}`, dovecot));
  const { id } = await bed.admin.createMailbox({ emailApproved: true, emailAddress: address, profileId: profile.id, ownerUserId: owner.id, password: 'secret' });
  await eventually('the messages synced', async () => (await bed.query(`SELECT 1 FROM item_links WHERE mailbox_id = $1`, [id])).length === 2);
  return { id, address };
}

describe('the Temporal CLI with --codec-endpoint', () => {
  it('shows a mailbox workflow history decoded, its start input and summary included', async () => {
    const { id, address } = await mailboxWithHistory();
    const common = ['--address', bed.config.temporal.address, '--namespace', bed.config.temporal.namespace, '--workflow-id', mailboxWorkflowId(id)];
    const codec = ['--codec-endpoint', `${base}/codec`, '--codec-auth', `Bearer ${token}`];

    // Without the codec the input is ciphertext: the mailbox id appears only in the search attribute.
    const raw = await temporalCli(['workflow', 'show', ...common, '--output', 'json']);
    expect(raw.code).toBe(0);
    expect(raw.stdout).toContain(ENCRYPTED);
    const rawStarted = JSON.parse(raw.stdout).events[0].workflowExecutionStartedEventAttributes;
    expect(JSON.stringify(rawStarted.input)).not.toContain(id);

    const shown = await temporalCli(['workflow', 'show', ...common, ...codec, '--output', 'json']);
    expect({ code: shown.code, stderr: shown.stderr }).toEqual({ code: 0, stderr: '' });
    const started = JSON.parse(shown.stdout).events[0].workflowExecutionStartedEventAttributes;
    const input = started.input.payloads[0];
    expect(Buffer.from(input.metadata.encoding, 'base64').toString()).toBe('json/plain');
    expect(JSON.parse(Buffer.from(input.data, 'base64').toString())).toMatchObject({ mailboxId: id });
    expect(shown.stdout).not.toContain(ENCRYPTED);

    // The summary Temporal UI lists, decoded the same way.
    const described = await temporalCli(['workflow', 'describe', ...common, ...codec]);
    expect(described.code).toBe(0);
    expect(described.stdout).toContain(`${address} (Carol Codec)`);

    // A wrong token: the codec refuses, and the CLI (which retries a failing codec until its deadline) fails.
    const refused = await temporalCli(['workflow', 'show', ...common, '--codec-endpoint', `${base}/codec`, '--codec-auth', 'Bearer cms_wrong', '--command-timeout', '5s']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/deadline exceeded/);
  });
});

describe('the codec routes for the local Temporal UI', () => {
  const post = (headers: Record<string, string>, body = '{}') =>
    fetch(`${base}/codec/decode`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

  it('need no token from loopback with the local UI origin, and answer its CORS', async () => {
    const res = await post({ origin: LOCAL_UI, 'x-namespace': 'default' }, '{"payloads":[]}');
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(LOCAL_UI);
    expect(await res.json()).toEqual({ payloads: [] });
    const preflight = await fetch(`${base}/codec/decode`, {
      method: 'OPTIONS',
      headers: { origin: LOCAL_UI, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-namespace' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(LOCAL_UI);
  });

  it('refuse any other origin, a missing origin, a simple form POST and the other routes', async () => {
    const origins: Record<string, string>[] = [{ origin: 'http://evil.example' }, { origin: 'null' }, {}, { origin: 'http://127.0.0.1:18234' }];
    for (const headers of origins) {
      const res = await post(headers);
      expect({ headers, status: res.status }).toEqual({ headers, status: 401 });
      expect(res.headers.get('access-control-allow-origin')).not.toBe(headers.origin ?? null);
    }
    // A POST a page may send without a preflight, even with a forged origin, is not read.
    const simple = await fetch(`${base}/codec/decode`, { method: 'POST', headers: { origin: LOCAL_UI, 'content-type': 'text/plain' }, body: '{}' });
    expect(simple.status).toBe(415);
    const other = await fetch(`${base}/mailboxes`, { headers: { origin: LOCAL_UI } });
    expect(other.status).toBe(401);
    // A token that is sent is checked, whatever the origin.
    expect((await post({ origin: LOCAL_UI, authorization: 'Bearer cms_wrong' })).status).toBe(401);
  });

  it('are not open without a token when no local UI is configured', async () => {
    const closed = await buildApiServer({ service: bed.admin, tokens: new ApiTokens(bed.pool), codec: new EncryptionCodec(bed.env.SECRET_KEYS) });
    try {
      const res = await closed.inject({ method: 'POST', url: '/codec/decode', headers: { origin: 'http://localhost:8233', 'content-type': 'application/json' }, payload: '{}', remoteAddress: '127.0.0.1' });
      expect(res.statusCode).toBe(401);
    } finally {
      await closed.close();
    }
  });
});
