import { PgCrmItems } from '../src/crm/pgCrmItems';
import { PgCrmRecords } from '../src/crm/crmRecords';
import { GraphContactSource } from '../src/mail/graph/graphContactSource';
import { GraphEventSource } from '../src/mail/graph/graphEventSource';
import { GraphTaskSource } from '../src/mail/graph/graphTaskSource';
import { PgItemSyncStore } from '../src/store/itemSyncStore';
import { syncItems } from '../src/sync/items/itemSync';
import { mailboxWorkflowId } from '../src/temporal/names';
import { startGraphFake, type GraphFake } from './support/graphFake';
import { changeLogSettled, fakeSession, net, pullAll } from './support/graphItems';
import { exchangeMailbox } from './support/graphMailbox';
import { eventually, TestBed } from './support/testBed';
import { killHard, spawnWorker } from './support/workerProcess';

// The worker in its own process, killed with SIGKILL while it makes a mailbox's first item sync of
// 2,000 contacts, appointments and tasks (some to create in Exchange, some tracked in Exchange to
// create in the CRM), then started again: every item linked exactly once, nothing twice on either side.
// While the second worker runs, Graph also stalls longer than the heartbeat time-out: Temporal gives
// the attempt up while it still runs, and the next attempt must not run beside it.
let bed: TestBed;
let fake: GraphFake;

beforeAll(async () => {
  bed = await TestBed.create({ ACTIVITY_HEARTBEAT_TIMEOUT_SECONDS: '3', SYNC_DEFAULT_INTERVAL_SECONDS: '2', SYNC_MAX_IDLE_INTERVAL_SECONDS: '4' });
  fake = await startGraphFake({ users: [] });
});
afterAll(async () => {
  await bed?.close();
  await fake?.close();
});

/** How many of each start in the CRM and how many in Exchange with the tracking category: 2,000 in all. */
const PLAN = {
  contact: { crm: 400, exchange: 300 },
  appointment: { crm: 350, exchange: 300 },
  task: { crm: 350, exchange: 300 },
} as const;
const TOTAL = Object.values(PLAN).reduce((n, p) => n + p.crm + p.exchange, 0);
const TRACKED = ['Tracked to CRM'];

it('links every item exactly once when the worker is killed during the initial sync of 2,000 items', async () => {
  const address = 'items.crash@contoso.example';
  fake.addUser({ mail: address });
  const { mailboxId, userId } = await exchangeMailbox(bed, fake, address);
  const records = new PgCrmRecords(bed.pool);
  const crm = new PgCrmItems(bed.pool);
  const mb = fake.mailbox(address);
  const taskList = mb.taskLists().find((l) => l.displayName === 'Tasks')!;
  const day = (n: number) => {
    const at = new Date(Date.now() + (1 + (n % 60)) * 86_400_000);
    at.setUTCHours(8 + (n % 9), 0, 0, 0);
    return at;
  };

  for (let n = 0; n < PLAN.contact.crm; n++) await records.contacts.create({ fullName: `Crm Contact ${n}`, email: `crm.contact${n}@fabrikam.example`, ownerUserId: userId });
  for (let n = 0; n < PLAN.appointment.crm; n++) {
    await crm.appointments.create(<never>{
      subject: `Crm Appointment ${n}`,
      startsAt: day(n).toISOString(),
      endsAt: new Date(day(n).getTime() + 1_800_000).toISOString(),
      organizerAddress: address,
      ownerUserId: userId,
    });
  }
  for (let n = 0; n < PLAN.task.crm; n++) await crm.tasks.create({ subject: `Crm Task ${n}`, ownerUserId: userId });
  for (let n = 0; n < PLAN.contact.exchange; n++) {
    mb.addContact({ displayName: `Exchange Contact ${n}`, emailAddresses: [{ address: `exchange.contact${n}@fabrikam.example` }], categories: TRACKED });
  }
  for (let n = 0; n < PLAN.appointment.exchange; n++) {
    const start = day(n + 7);
    const end = new Date(start.getTime() + 1_800_000);
    mb.addEvent({
      subject: `Exchange Appointment ${n}`,
      start: { dateTime: start.toISOString().slice(0, 19), timeZone: 'UTC' },
      end: { dateTime: end.toISOString().slice(0, 19), timeZone: 'UTC' },
      categories: TRACKED,
    });
  }
  for (let n = 0; n < PLAN.task.exchange; n++) mb.addTask(taskList.id!, { title: `Exchange Task ${n}`, categories: TRACKED });
  await bed.query(`UPDATE mailboxes SET items_enabled = true WHERE id = $1`, [mailboxId]);

  const links = () =>
    bed.query<{ item_type: string; remote_id: string; crm_record_id: string }>(`SELECT item_type, remote_id, crm_record_id FROM item_links WHERE mailbox_id = $1`, [mailboxId]);
  const linkCount = async () => (await links()).length;

  const linked = (atLeast: number) =>
    eventually(`${atLeast} linked`, async () => {
      const count = await linkCount();
      return count >= atLeast ? count : undefined;
    }, 180_000, 20);
  const timedOut = async () => (await bed.temporal.workflow.getHandle(mailboxWorkflowId(mailboxId)).fetchHistory()).events!.filter((e) => e.activityTaskTimedOutEventAttributes).length;

  // Killed three times part-way: each time some items are linked and some are not.
  const killedAt: number[] = [];
  for (const atLeast of [150, 800, 1500]) {
    const worker = spawnWorker(bed.env);
    if (atLeast === 800) {
      await linked(400);
      const before = await timedOut();
      fake.script.slow(4_000);
      try {
        await eventually('an attempt given up for its heartbeat', async () => (await timedOut()) > before, 60_000, 100);
        // Graph stays slow for a while as the next attempt starts beside the one given up, which still
        // creates: without the mailbox's item-sync slot both created the same items (414 contacts twice).
        await new Promise((r) => setTimeout(r, 20_000));
      } finally {
        fake.script.slow(0);
      }
    }
    killedAt.push(await linked(atLeast));
    await killHard(worker);
  }
  expect(killedAt[killedAt.length - 1]).toBeLessThan(TOTAL);

  const last = spawnWorker(bed.env);
  try {
    await eventually('every item linked', async () => (await linkCount()) >= TOTAL, 300_000, 200);
    // A run after that one wrote nothing: the mailbox has settled.
    await eventually('a run that wrote nothing', async () => {
      const [m] = await bed.query<{ items_status: string; processed: number }>(`SELECT items_status, items_processed_last_cycle AS processed FROM mailboxes WHERE id = $1`, [mailboxId]);
      return m.items_status === 'success' && m.processed === 0;
    }, 120_000, 200);
  } finally {
    await killHard(last);
  }

  const expected = (entity: keyof typeof PLAN) => PLAN[entity].crm + PLAN[entity].exchange;
  const names = {
    contact: mb.listContacts().map((c) => c.displayName!),
    appointment: mb.listEvents().map((e) => e.subject!),
    task: mb.listTasks(taskList.id!).map((t) => t.title!),
  };
  const crmNames = {
    contact: (await bed.query<{ n: string }>(`SELECT full_name AS n FROM contacts WHERE owner_user_id = $1`, [userId])).map((r) => r.n),
    appointment: (await bed.query<{ n: string }>(`SELECT subject AS n FROM appointments WHERE owner_user_id = $1`, [userId])).map((r) => r.n),
    task: (await bed.query<{ n: string }>(`SELECT subject AS n FROM crm_tasks WHERE owner_user_id = $1`, [userId])).map((r) => r.n),
  };
  const all = await links();
  for (const entity of Object.keys(PLAN) as (keyof typeof PLAN)[]) {
    // Exchange and the CRM hold each item once, the same ones.
    expect(names[entity]).toHaveLength(expected(entity));
    expect(new Set(names[entity]).size).toBe(expected(entity));
    expect(crmNames[entity].sort()).toEqual([...names[entity]].sort());
    const ofEntity = all.filter((l) => l.item_type === entity);
    expect(ofEntity).toHaveLength(expected(entity));
    expect(new Set(ofEntity.map((l) => l.remote_id)).size).toBe(expected(entity));
    expect(new Set(ofEntity.map((l) => l.crm_record_id)).size).toBe(expected(entity));
  }
  expect(all).toHaveLength(TOTAL);

  // Nothing left half done: one more sync, in this process, writes nothing on either side.
  const graphUser = fake.users.find((u) => u.mail === address)!.id;
  const start = fake.requestLog.length;
  const [{ p }] = await bed.query<{ p: string }>(`SELECT coalesce(max(position), 0)::text AS p FROM crm_change_log`);
  const session = fakeSession(fake, address);
  await changeLogSettled(bed);
  const sources = [new GraphContactSource(session), new GraphTaskSource(session), new GraphEventSource(session)];
  await syncItems(mailboxId, sources, { crm, store: new PgItemSyncStore(bed.pool) });
  expect(fake.requestLog.slice(start).filter((e) => e.userId === graphUser && e.method !== 'GET')).toEqual([]);
  expect(await bed.query(`SELECT operation FROM crm_change_log WHERE position > $1 AND origin = $2`, [p, `mailbox:${mailboxId}`])).toEqual([]);

  // Each item carries the CRM id of its record, so a later first round would recognise it.
  const linkedTo = new Map(all.map((l) => [l.remote_id, l.crm_record_id]));
  for (const source of sources) {
    const [container] = await source.containers();
    const items = [...net((await pullAll(source, container, null)).pages).changed.values()];
    expect(items).toHaveLength(expected(source.entity));
    expect(items.filter((i) => i.crmId !== linkedTo.get(i.remoteId)).map((i) => [source.entity, i.remoteId, i.crmId])).toEqual([]);
  }
});
