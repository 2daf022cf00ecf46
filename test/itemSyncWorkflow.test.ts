import { PgCrmRecords } from '../src/crm/crmRecords';
import { mailboxWorkflowId } from '../src/temporal/names';
import { itemsChangedSignal } from '../workflows/mailboxSync';
import { startGraphFake, type GraphFake } from './support/graphFake';
import { exchangeMailbox } from './support/graphMailbox';
import { eventually, TestBed } from './support/testBed';

// Contacts through real Temporal: Test & Enable turns items on, a CRM change reaches Exchange by the
// database notification and the itemsChanged signal (the interval is ten minutes, so nothing else
// could), an Exchange change comes back when the mailbox is signalled, and neither echoes.
let bed: TestBed;
let fake: GraphFake;
let records: PgCrmRecords;

beforeAll(async () => {
  fake = await startGraphFake({ users: [] });
  bed = await TestBed.create({ SYNC_DEFAULT_INTERVAL_SECONDS: '600', SYNC_MAX_IDLE_INTERVAL_SECONDS: '1200' });
  records = new PgCrmRecords(bed.pool);
  await bed.startWorkers();
});
afterAll(async () => {
  await bed?.close();
  await fake?.close();
});

it('syncs contacts both ways in the mailbox workflow, woken by CRM changes, without echo', async () => {
  const address = 'workflow.items@contoso.example';
  fake.addUser({ mail: address });
  const { mailboxId, userId } = await exchangeMailbox(bed, fake, address);
  const graphUser = fake.users.find((u) => u.mail === address)!.id;
  const graphWrites = () => fake.requestLog.filter((e) => e.userId === graphUser && e.method !== 'GET' && e.url.includes('/contacts'));
  const syncOrigin = () => bed.query(`SELECT operation FROM crm_change_log WHERE origin = $1`, [`mailbox:${mailboxId}`]);

  const tested = await bed.admin.testAndEnable(mailboxId);
  expect(tested.itemsEnabled).toBe(true);
  const [{ items_enabled }] = await bed.query<{ items_enabled: boolean }>(`SELECT items_enabled FROM mailboxes WHERE id = $1`, [mailboxId]);
  expect(items_enabled).toBe(true);

  const contact = await records.contacts.create({ fullName: 'Wendy Flow', email: 'wendy@fabrikam.example', jobTitle: 'Buyer', ownerUserId: userId });
  const box = fake.mailbox(address);
  await eventually('the contact in Exchange', async () => box.listContacts().find((c) => c.displayName === 'Wendy Flow'));
  await eventually('its link', async () => (await bed.query(`SELECT 1 FROM item_links WHERE mailbox_id = $1 AND crm_record_id = $2`, [mailboxId, contact.id])).length === 1);

  await records.contacts.update(contact.id, { jobTitle: 'Head buyer' });
  await eventually('the change in Exchange', async () => box.listContacts()[0]?.jobTitle === 'Head buyer');

  // Exchange -> CRM, picked up when the mailbox is told to look.
  box.updateContact(box.listContacts()[0].id!, { department: 'Purchasing' });
  await bed.temporal.workflow.getHandle(mailboxWorkflowId(mailboxId)).signal(itemsChangedSignal);
  await eventually('the change in the CRM', async () => (await records.contacts.get(contact.id)).department === 'Purchasing');

  // Settled: the CRM write woke the mailbox once more, which wrote nothing back.
  await eventually('the mailbox idle again', async () => {
    const [{ items_status }] = await bed.query<{ items_status: string }>(`SELECT items_status FROM mailboxes WHERE id = $1`, [mailboxId]);
    return items_status === 'success';
  });
  await bed.temporal.workflow.getHandle(mailboxWorkflowId(mailboxId)).signal(itemsChangedSignal);
  const settled = graphWrites().length;
  await eventually('a quiet cycle', async () => {
    const [{ processed }] = await bed.query<{ processed: number }>(
      `SELECT items_processed_last_cycle AS processed FROM mailboxes WHERE id = $1 AND updated_at > now() - interval '5 seconds'`,
      [mailboxId],
    );
    return processed === 0;
  });
  expect(graphWrites().map((w) => w.method)).toEqual(['POST', 'PATCH']);
  expect(graphWrites().length).toBe(settled);
  expect((await syncOrigin()).map((r) => r.operation)).toEqual(['update']);
});

it('stops item sync on a permanent failure with an alert saying what to do, and resumes after Test & Enable', async () => {
  const address = 'denied.items@contoso.example';
  fake.addUser({ mail: address });
  const { mailboxId, userId } = await exchangeMailbox(bed, fake, address);
  expect((await bed.admin.testAndEnable(mailboxId)).itemsEnabled).toBe(true);
  const itemsState = async () =>
    (await bed.query<{ items_enabled: boolean; items_status: string; items_last_error: string | null }>(
      `SELECT items_enabled, items_status, items_last_error FROM mailboxes WHERE id = $1`,
      [mailboxId],
    ))[0];
  const openAlerts = () => bed.query<{ level: string; message: string }>(`SELECT level, message FROM alerts WHERE mailbox_id = $1 AND condition_key = 'items_failure' AND resolved_at IS NULL`, [mailboxId]);

  // The tenant withdrew the app's Contacts permission.
  fake.script.failNext({ count: 1000, status: 403, code: 'ErrorAccessDenied', path: /contacts/i });
  await bed.temporal.workflow.getHandle(mailboxWorkflowId(mailboxId)).signal(itemsChangedSignal);
  await eventually('item sync disabled', async () => !(await itemsState()).items_enabled);
  expect((await itemsState()).items_status).toBe('failure');
  const [alert] = await openAlerts();
  expect(alert.level).toBe('error');
  expect(alert.message).toMatch(/no longer synced: .*ErrorAccessDenied.*grant Contacts\.ReadWrite .*Test & Enable/s);

  // While disabled, a CRM change reaches nothing.
  const contact = await records.contacts.create({ fullName: 'Waiting Contact', email: 'waiting@fabrikam.example', ownerUserId: userId });
  fake.script.reset();
  const box = fake.mailbox(address);
  expect(box.listContacts().map((c) => c.displayName)).not.toContain('Waiting Contact');

  const retested = await bed.admin.testAndEnable(mailboxId);
  expect(retested.itemsEnabled).toBe(true);
  expect(await openAlerts()).toEqual([]);
  await eventually('the waiting contact in Exchange', async () => box.listContacts().some((c) => c.displayName === 'Waiting Contact'));
  await eventually('its link', async () => (await bed.query(`SELECT 1 FROM item_links WHERE mailbox_id = $1 AND crm_record_id = $2`, [mailboxId, contact.id])).length === 1);
  expect((await itemsState()).items_status).toBe('success');
});

it('waits out a long Retry-After on the timer without a failure status, noting the throttle in the server-load record', async () => {
  const address = 'throttled.items@contoso.example';
  fake.addUser({ mail: address });
  const { mailboxId, userId } = await exchangeMailbox(bed, fake, address);
  expect((await bed.admin.testAndEnable(mailboxId)).itemsEnabled).toBe(true);
  await eventually('a first item sync', async () => (await bed.query(`SELECT 1 FROM mailboxes WHERE id = $1 AND items_status = 'success'`, [mailboxId])).length === 1);

  // Longer than the session waits inline (10 s): the run hands the wait to the workflow's timer.
  fake.script.failNext({ count: 1, status: 429, code: 'ApplicationThrottled', path: /contacts/i, retryAfterSeconds: 15 });
  const contact = await records.contacts.create({ fullName: 'After The Throttle', email: 'after@fabrikam.example', ownerUserId: userId });
  await eventually('the throttle noted for the server', async () => {
    const [h] = await bed.query<{ throttled_until: Date | null }>(
      `SELECT h.throttled_until FROM server_health h JOIN mailboxes m ON m.profile_id = h.profile_id WHERE m.id = $1`,
      [mailboxId],
    );
    return h?.throttled_until !== null && h?.throttled_until !== undefined && h.throttled_until.getTime() > Date.now() + 5_000;
  });
  const [row] = await bed.query<{ items_status: string; items_enabled: boolean }>(`SELECT items_status, items_enabled FROM mailboxes WHERE id = $1`, [mailboxId]);
  expect(row).toEqual({ items_status: 'success', items_enabled: true });
  expect(await bed.query(`SELECT 1 FROM alerts WHERE mailbox_id = $1 AND resolved_at IS NULL`, [mailboxId])).toEqual([]);
  expect(fake.mailbox(address).listContacts().map((c) => c.displayName)).not.toContain('After The Throttle');

  // A CRM change during the pause waits for its end; then Graph answers again.
  await records.contacts.update(contact.id, { jobTitle: 'Patient' });
  await new Promise((resolve) => setTimeout(resolve, 2000));
  expect(fake.mailbox(address).listContacts().map((c) => c.displayName)).not.toContain('After The Throttle');
  await eventually(
    'the contact in Exchange once the pause is over',
    async () => fake.mailbox(address).listContacts().some((c) => c.displayName === 'After The Throttle' && c.jobTitle === 'Patient'),
    30_000,
  );
});
