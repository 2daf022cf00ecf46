import { randomBytes } from 'node:crypto';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { EncryptionCodec } from '../src/temporal/payloadCodec';
import { mailboxWorkflowId } from '../src/temporal/names';
import { DovecotServer } from './support/dovecot';
import { makeMessages } from './support/messages';
import { dovecotProfile, eventually, TestBed } from './support/testBed';

let bed: TestBed;
let dovecot: DovecotServer;
let profileId: string;

const EventType = temporal.api.enums.v1.EventType;

beforeAll(async () => {
  bed = await TestBed.create();
  dovecot = await DovecotServer.start();
  profileId = (
    await bed.admin.createProfile(dovecotProfile('Encryption Dovecot', dovecot, { connectionTimeoutSeconds: 2 }))
  ).id;
  await bed.startWorkers();
});

afterAll(async () => {
  await bed?.close();
  await dovecot?.destroy();
});

/** The history exactly as Temporal stores and serves it (what Temporal UI gets), as bytes. */
async function rawHistory(mailboxId: string) {
  const response = await bed.temporal.workflowService.getWorkflowExecutionHistory({
    namespace: bed.config.temporal.namespace,
    execution: { workflowId: mailboxWorkflowId(mailboxId) },
  });
  const bytes = Buffer.from(temporal.api.workflowservice.v1.GetWorkflowExecutionHistoryResponse.encode(response).finish());
  return { events: response.history?.events ?? [], bytes };
}

/** Plaintext in any of the forms a reader of the history could meet it. */
function expectAbsent(bytes: Buffer, secrets: string[]): void {
  const asBase64 = bytes.toString('base64');
  for (const secret of secrets) {
    expect({ secret, found: bytes.includes(Buffer.from(secret, 'utf8')) }).toEqual({ secret, found: false });
    expect({ secret, found: asBase64.includes(Buffer.from(secret, 'utf8').toString('base64')) }).toEqual({ secret, found: false });
  }
}

const text = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? []).toString('utf8');

/** The results of the sync activity (ActivityTaskCompleted), still encrypted and then decoded with the codec. */
async function syncResults(events: temporal.api.history.v1.IHistoryEvent[]) {
  const encrypted: Payload[] = events
    .filter((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED)
    .flatMap((e) => e.activityTaskCompletedEventAttributes?.result?.payloads ?? []);
  expect(encrypted.length).toBeGreaterThan(0);
  for (const p of encrypted) {
    expect(text(p.metadata?.encoding)).toBe('binary/encrypted');
    expect(text(p.metadata?.['encryption-key-id'])).toBe('test');
  }
  const decoded = await new EncryptionCodec(bed.env.SECRET_KEYS).decode(encrypted);
  return decoded.map((p) => {
    expect(text(p.metadata?.encoding)).toBe('json/plain');
    return defaultPayloadConverter.fromPayload<Record<string, unknown>>(p);
  });
}

describe('workflow history', () => {
  it('carries no credentials, mail content or failure text in plaintext, yet decodes with the codec', async () => {
    const tag = randomBytes(6).toString('hex');
    const password = `Pw-${tag}-Secret`;
    const subject = `Confidential merger ${tag}`;
    const body = `The board approved the takeover of Initech ${tag}`;

    const user = `enc-${tag}@example.test`;
    await dovecot.addUser(user, password);
    await dovecot.deliver(user, makeMessages(3, { to: user, subject, body }));
    const { id: mailboxId } = await bed.admin.createMailbox({ emailApproved: true, emailAddress: user, profileId, password });

    const failingUser = `enc-fail-${tag}@example.test`;
    const wrongPassword = `Wrong-${tag}-Password`;
    await dovecot.addUser(failingUser, `Right-${tag}`);
    const { id: failingId } = await bed.admin.createMailbox({ emailApproved: true, emailAddress: failingUser, profileId, password: wrongPassword });

    await eventually('the messages synced', async () => {
      const rows = await bed.query<{ n: number }>(`SELECT count(*)::int AS n FROM item_links WHERE mailbox_id = $1`, [mailboxId]);
      return rows[0].n === 3;
    });
    await eventually('the sync result in history', async () =>
      (await rawHistory(mailboxId)).events.some((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED),
    );
    await eventually('the wrong password recorded', async () => {
      const rows = await bed.query<{ last_error: string | null }>(`SELECT last_error FROM mailboxes WHERE id = $1`, [failingId]);
      return rows[0].last_error?.startsWith('Authentication failed') ?? false;
    });
    await eventually('the failure in history', async () =>
      (await rawHistory(failingId)).events.some((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED),
    );

    const synced = await rawHistory(mailboxId);
    const failed = await rawHistory(failingId);
    // itemsStored: a field of the sync result, so no activity result is in plaintext either.
    const secrets = [password, wrongPassword, subject, body, 'Authentication failed', 'itemsStored'];
    expectAbsent(synced.bytes, secrets);
    expectAbsent(failed.bytes, secrets);
    // Search attributes stay readable on purpose: the mailbox id is in the history in plaintext.
    expect(synced.bytes.includes(Buffer.from(mailboxId))).toBe(true);

    // The payloads are there, just encrypted: the codec (what Temporal UI's codec endpoint runs) reads them.
    const results = await syncResults(synced.events);
    expect(results).toContainEqual(expect.objectContaining({ status: 'synced', itemsStored: 3 }));
    const failures = await syncResults(failed.events);
    expect(failures).toContainEqual(
      expect.objectContaining({ status: 'failed', errorClass: 'permanent', message: expect.stringMatching(/^Authentication failed/) }),
    );
  });
});
