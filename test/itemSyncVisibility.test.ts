import { execFile } from 'node:child_process';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { ApiTokens } from '../src/admin/apiTokens';
import { buildApiServer } from '../src/api/server';
import { PgCrmRecords } from '../src/crm/crmRecords';
import { mailboxWorkflowId } from '../src/temporal/names';
import { itemsChangedSignal } from '../workflows/mailboxSync';
import { startGraphFake, type GraphFake } from './support/graphFake';
import { changeLogSettled } from './support/graphItems';
import { exchangeMailbox } from './support/graphMailbox';
import { eventually, TestBed } from './support/testBed';

// What a mailbox's item sync shows through real Temporal, PostgreSQL and the Graph fake: per-entity
// linked, pending and failed counts with the last error (statistics API, `mailbox status`), the
// failed items with their reason and what to do (API, CLI), and a retry that runs at once although
// the record did not change, answering with its result (failed again with the new reason, or cleared).
// The interval is ten minutes: only the retry's signal can make the mailbox run.
const ROOT = path.resolve(__dirname, '..');
let bed: TestBed;
let fake: GraphFake;
let records: PgCrmRecords;
let app: FastifyInstance;
let token: string;

beforeAll(async () => {
  fake = await startGraphFake({ users: [] });
  bed = await TestBed.create({ SYNC_DEFAULT_INTERVAL_SECONDS: '600', SYNC_MAX_IDLE_INTERVAL_SECONDS: '1200' });
  records = new PgCrmRecords(bed.pool);
  await bed.startWorkers();
  const tokens = new ApiTokens(bed.pool);
  token = (await tokens.create({ role: 'admin', label: 'item visibility test' })).token;
  app = await buildApiServer({ service: bed.admin, tokens });
});
afterAll(async () => {
  await app?.close();
  await bed?.close();
  await fake?.close();
});

async function api(method: 'GET' | 'POST', url: string, payload?: object) {
  const res = await app.inject({ method, url, payload, headers: { authorization: `Bearer ${token}` } });
  return { status: res.statusCode, body: res.json() };
}

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', path.join(ROOT, 'src', 'cli', 'main.ts'), ...args],
      { cwd: ROOT, env: { ...process.env, ...bed.env, LOG_LEVEL: 'warn' }, timeout: 120_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

/**
 * Wakes the mailbox's items loop and waits until a run that read the contacts' changes after `since`
 * (epoch ms) has finished.
 */
async function pulledSince(mailboxId: string, address: string, since: number): Promise<void> {
  const graphUser = fake.users.find((u) => u.mail === address)!.id;
  await bed.temporal.workflow.getHandle(mailboxWorkflowId(mailboxId)).signal(itemsChangedSignal);
  await eventually('a run that pulled', async () => {
    const pull = fake.requestLog.find((e) => e.userId === graphUser && e.method === 'GET' && e.url.includes('/contacts/delta') && e.startedAt > since && e.endedAt);
    if (!pull) return false;
    const [row] = await bed.query<{ at: Date; status: string }>(`SELECT updated_at AS at, items_status AS status FROM mailboxes WHERE id = $1`, [mailboxId]);
    return row.at.getTime() > pull.endedAt! && row.status === 'success';
  });
}

const counts = (status: { linked: number; pending: number; failed: number }) => ({ linked: status.linked, pending: status.pending, failed: status.failed });

it('shows per-entity counts and failed items, and retries a failed item at once with its result', async () => {
  const address = 'visible.items@contoso.example';
  fake.addUser({ mail: address });
  const { mailboxId, userId } = await exchangeMailbox(bed, fake, address);
  const box = fake.mailbox(address);

  // Before items sync: the owner's contacts are owed to Exchange.
  const ann = await records.contacts.create({ fullName: 'Ann Shown', email: 'ann@fabrikam.example', ownerUserId: userId });
  const bob = await records.contacts.create({ fullName: 'Bob Refused', email: 'bob@fabrikam.example', jobTitle: 'Buyer', ownerUserId: userId });
  await changeLogSettled(bed);
  const before = await api('GET', `/mailboxes/${mailboxId}/statistics`);
  expect(before.status).toBe(200);
  expect(counts(before.body.itemSync.contact)).toEqual({ linked: 0, pending: 2, failed: 0 });
  expect(before.body.itemSync.contact.lastError).toBeNull();
  expect(counts(before.body.itemSync.task)).toEqual({ linked: 0, pending: 0, failed: 0 });

  expect((await bed.admin.testAndEnable(mailboxId)).itemsEnabled).toBe(true);
  await eventually('both contacts linked', async () => (await bed.query(`SELECT 1 FROM item_links WHERE mailbox_id = $1 AND item_type = 'contact'`, [mailboxId])).length === 2);
  await eventually('nothing owed', async () => {
    const { body } = await api('GET', `/mailboxes/${mailboxId}/statistics`);
    return body.itemSync.contact.pending === 0 && body.itemSync.contact.linked === 2;
  });

  // The first pull after the creates reads them back (nothing to write): past it, Bob's change goes the CRM -> Exchange way.
  const graphUser = fake.users.find((u) => u.mail === address)!.id;
  const created = Math.max(...fake.requestLog.filter((e) => e.userId === graphUser && e.method === 'POST').map((e) => e.endedAt ?? e.startedAt));
  await pulledSince(mailboxId, address, created);

  // Exchange refuses Bob's update: a CRM-side item error, with its reason and what to do.
  fake.script.failNext({ count: 1, status: 400, code: 'ErrorInvalidPropertyValue', path: /\/contacts\//, methods: ['PATCH'] });
  await records.contacts.update(bob.id, { jobTitle: 'Head buyer' });
  await eventually('the item error', async () => (await api('GET', `/mailboxes/${mailboxId}/item-errors`)).body.length === 1);
  const listed = await api('GET', `/mailboxes/${mailboxId}/item-errors?entity=contact`);
  expect(listed.body).toEqual([
    expect.objectContaining({
      entity: 'contact',
      side: 'crm',
      itemKey: bob.id,
      label: 'Bob Refused',
      reason: expect.stringMatching(/Exchange refused this contact: .*ErrorInvalidPropertyValue/),
      whatToDo: expect.stringMatching(/retry it now/),
      attempts: 1,
      occurredAt: expect.any(String),
      retryRequestedAt: null,
    }),
  ]);
  expect((await api('GET', `/mailboxes/${mailboxId}/item-errors?entity=task`)).body).toEqual([]);
  const failing = (await api('GET', `/mailboxes/${mailboxId}`)).body.statistics.itemSync.contact;
  expect(counts(failing)).toEqual({ linked: 2, pending: 0, failed: 1 });
  expect(failing.lastError).toEqual({ message: listed.body[0].reason, at: listed.body[0].occurredAt });
  const bobInExchange = () => box.listContacts().find((c) => c.displayName === 'Bob Refused');
  expect(bobInExchange()!.jobTitle).toBe('Buyer');

  // `mailbox status` shows the same figures.
  const status = await cli(['mailbox', 'status', mailboxId]);
  expect(status.code).toBe(0);
  const shown = JSON.parse(status.stdout).mailbox.statistics.itemSync;
  expect(counts(shown.contact)).toEqual({ linked: 2, pending: 0, failed: 1 });
  expect(shown.contact.lastError.message).toBe(listed.body[0].reason);

  // Retried while Exchange still refuses: recorded again, with the new reason.
  fake.script.failNext({ count: 1, status: 400, code: 'ErrorPropertyValidationFailure', path: /\/contacts\//, methods: ['PATCH'] });
  const again = await api('POST', `/mailboxes/${mailboxId}/item-errors/retry`, { entity: 'contact', side: 'crm', itemKey: bob.id, waitSeconds: 90 });
  expect(again.status).toBe(200);
  expect(again.body).toEqual(
    expect.objectContaining({
      outcome: 'failed',
      itemKey: bob.id,
      error: expect.objectContaining({ reason: expect.stringMatching(/ErrorPropertyValidationFailure/), attempts: 2, retryRequestedAt: null }),
    }),
  );
  expect(bobInExchange()!.jobTitle).toBe('Buyer');

  // Retried from the CLI once Exchange takes it: cleared, and the change is in Exchange.
  const retried = await cli(['mailbox', 'item-retry', mailboxId, '--entity', 'contact', '--side', 'crm', '--key', bob.id, '--wait', '90']);
  expect(retried.code).toBe(0);
  expect(JSON.parse(retried.stdout)).toEqual(expect.objectContaining({ outcome: 'cleared', error: null }));
  expect(bobInExchange()!.jobTitle).toBe('Head buyer');
  expect(box.listContacts().find((c) => c.displayName === 'Ann Shown')).toBeDefined();
  const cleared = (await api('GET', `/mailboxes/${mailboxId}/statistics`)).body.itemSync.contact;
  expect(cleared).toEqual({ linked: 2, pending: 0, failed: 0, lastError: null });
  expect((await api('GET', `/mailboxes/${mailboxId}/item-errors`)).body).toEqual([]);
  expect(JSON.parse((await cli(['mailbox', 'item-errors', mailboxId])).stdout)).toEqual([]);

  // An item that has not failed is a 404 naming it, from the API and the CLI.
  const unknown = await api('POST', `/mailboxes/${mailboxId}/item-errors/retry`, { entity: 'contact', side: 'crm', itemKey: ann.id });
  expect(unknown.status).toBe(404);
  expect(unknown.body.message).toContain(ann.id);
  const unknownCli = await cli(['mailbox', 'item-retry', mailboxId, '--entity', 'contact', '--side', 'exchange', '--key', 'no-such-item']);
  expect(unknownCli.code).toBe(1);
  expect(unknownCli.stderr + unknownCli.stdout).toMatch(/no failed contact no-such-item on the exchange side/);
});

it('lists an Exchange item the CRM refused, and a retry of it that still fails says so', async () => {
  const address = 'visible.tracked@contoso.example';
  fake.addUser({ mail: address });
  const { mailboxId } = await exchangeMailbox(bed, fake, address);
  const bad = fake.mailbox(address).addContact({ displayName: 'Bad Address', emailAddresses: [{ address: 'not an address' }], categories: ['Tracked to CRM'] });
  expect((await bed.admin.testAndEnable(mailboxId)).itemsEnabled).toBe(true);
  await eventually('the item error', async () => (await api('GET', `/mailboxes/${mailboxId}/item-errors`)).body.length === 1);
  const [failed] = (await api('GET', `/mailboxes/${mailboxId}/item-errors`)).body;
  expect(failed).toEqual(
    expect.objectContaining({ entity: 'contact', side: 'exchange', itemKey: bad.id, label: null, container: expect.any(String), reason: 'The CRM refused the create of this contact: email: Invalid email address' }),
  );
  const figures = (await api('GET', `/mailboxes/${mailboxId}/statistics`)).body.itemSync.contact;
  expect(counts(figures)).toEqual({ linked: 0, pending: 0, failed: 1 });

  const retried = await api('POST', `/mailboxes/${mailboxId}/item-errors/retry`, { entity: 'contact', side: 'exchange', itemKey: bad.id, waitSeconds: 90 });
  expect(retried.status).toBe(200);
  expect(retried.body).toEqual(expect.objectContaining({ outcome: 'failed', error: expect.objectContaining({ reason: failed.reason, retryRequestedAt: null }) }));
  expect(retried.body.error.attempts).toBeGreaterThan(failed.attempts);
});

it('shows the dashboard the mailboxes with the most failed items first, as many as asked, and how many sync items in all', async () => {
  const made: string[] = [];
  for (const name of ['overview.quiet', 'overview.failing']) {
    const address = `${name}@contoso.example`;
    fake.addUser({ mail: address });
    made.push((await exchangeMailbox(bed, fake, address)).mailboxId);
  }
  await bed.query(`UPDATE mailboxes SET items_enabled = true WHERE id = ANY($1)`, [made]);
  await bed.query(
    `INSERT INTO item_sync_errors (mailbox_id, entity, side, item_key, reason, retry_action) VALUES ($1, 'task', 'exchange', 'AAMk-one', 'refused', 'retry')`,
    [made[1]],
  );
  const [{ n }] = await bed.query<{ n: number }>(`SELECT count(*)::int AS n FROM mailboxes WHERE items_enabled`);
  const overview = await bed.admin.itemSync.overview(1);
  expect(overview.mailboxes.map((m) => m.emailAddress)).toEqual(['overview.failing@contoso.example']);
  expect(overview.mailboxes[0].task.failed).toBe(1);
  expect(overview.mailboxesInAll).toBe(n);
  expect(n).toBeGreaterThan(1);
});
