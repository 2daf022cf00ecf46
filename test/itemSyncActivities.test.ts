import type { PgCrmItems } from '../src/crm/pgCrmItems';
import { GraphEventSource } from '../src/mail/graph/graphEventSource';
import { GraphTaskSource } from '../src/mail/graph/graphTaskSource';
import type { PgItemSyncStore } from '../src/store/itemSyncStore';
import type { ItemSource } from '../src/sync/items/itemSource';
import { syncItems } from '../src/sync/items/itemSync';
import type { GraphFake } from './support/graphFake';
import { changeLogSettled, fakeSession, useItemEngineBed } from './support/graphItems';
import { exchangeMailbox } from './support/graphMailbox';
import type { TestBed } from './support/testBed';

// The same engine on tasks (To Do) and appointments (the calendar), against PostgreSQL and the
// Graph fake: each way, a change field by field, one write per change, deletes by their rules.

let bed: TestBed, fake: GraphFake, crm: PgCrmItems, store: PgItemSyncStore;
useItemEngineBed((opened) => void ({ bed, fake, crm, store } = opened));

let boxes = 0;
async function mailbox(sourceFor: (address: string) => ItemSource) {
  const address = `activities${++boxes}@contoso.example`;
  fake.addUser({ mail: address });
  const { mailboxId, userId } = await exchangeMailbox(bed, fake, address);
  const source = sourceFor(address);
  const graphUser = fake.users.find((u) => u.mail === address)!.id;
  const start = fake.requestLog.length;
  return {
    address,
    mailboxId,
    userId,
    sync: async () => {
      await changeLogSettled(bed);
      return syncItems(mailboxId, [source], { crm, store });
    },
    /** Graph writes since the mailbox was made ("DELETE stamp": a To Do task's CRM id removed). */
    writes: () =>
      fake.requestLog
        .slice(start)
        .filter((e) => e.userId === graphUser && e.method !== 'GET')
        .map((e) => (e.url.includes('/linkedResources') ? `${e.method} stamp` : e.method)),
    /** CRM writes by this mailbox's sync. */
    crmWrites: async () => (await bed.query<{ operation: string }>(`SELECT operation FROM crm_change_log WHERE origin = $1 ORDER BY position`, [`mailbox:${mailboxId}`])).map((r) => r.operation),
  };
}

describe('tasks', () => {
  it('go to To Do, come back field by field, without echo, and stay there once completed', async () => {
    const box = await mailbox((a) => new GraphTaskSource(fakeSession(fake, a)));
    const mb = fake.mailbox(box.address);
    const task = await crm.tasks.create({ subject: 'Call Fabrikam', description: 'About the renewal', dueAt: '2027-01-15T00:00:00Z', priority: 'high', ownerUserId: box.userId });
    await box.sync();
    const list = mb.taskLists().find((l) => l.displayName === 'Tasks')!;
    expect(mb.listTasks(list.id!)).toEqual([expect.objectContaining({ title: 'Call Fabrikam', importance: 'high' })]);
    await box.sync();
    expect(box.writes()).toEqual(['POST']);

    await crm.tasks.update(task.id, { subject: 'Call Fabrikam back' });
    await box.sync();
    expect(mb.listTasks(list.id!)[0].title).toBe('Call Fabrikam back');
    expect(box.writes()).toEqual(['POST', 'PATCH']);

    const [remote] = mb.listTasks(list.id!);
    mb.updateTask(remote.id!, { body: { content: 'Renewal and upsell', contentType: 'text' } });
    await box.sync();
    expect((await crm.tasks.get(task.id)).description).toBe('Renewal and upsell');
    mb.updateTask(remote.id!, { status: 'completed', completedDateTime: { dateTime: '2026-12-01T10:00:00.0000000', timeZone: 'UTC' } });
    await box.sync();
    expect(await crm.tasks.get(task.id)).toEqual(expect.objectContaining({ status: 'completed' }));
    // No longer "my open tasks", but completed in To Do: kept there, unlinked (§6.3).
    await box.sync();
    expect(mb.listTasks(list.id!).map((t) => t.title)).toEqual(['Call Fabrikam back']);
    expect(box.writes()).toEqual(['POST', 'PATCH', 'DELETE stamp']);
    expect(await box.crmWrites()).toEqual(['update', 'update']);
    expect(await bed.query(`SELECT 1 FROM item_links WHERE mailbox_id = $1`, [box.mailboxId])).toEqual([]);
  });

  it('a To Do delete removes the CRM task; a CRM delete removes the To Do task', async () => {
    const box = await mailbox((a) => new GraphTaskSource(fakeSession(fake, a)));
    const mb = fake.mailbox(box.address);
    const first = await crm.tasks.create({ subject: 'Deleted in To Do', ownerUserId: box.userId });
    const second = await crm.tasks.create({ subject: 'Deleted in the CRM', ownerUserId: box.userId });
    await box.sync();
    const list = mb.taskLists().find((l) => l.displayName === 'Tasks')!;
    mb.deleteTask(mb.listTasks(list.id!).find((t) => t.title === 'Deleted in To Do')!.id!);
    await crm.tasks.delete(second.id);
    await box.sync();
    expect(await bed.query(`SELECT id FROM crm_tasks WHERE id = ANY($1)`, [[first.id, second.id]])).toEqual([]);
    expect(mb.listTasks(list.id!)).toEqual([]);
  });
});

describe('appointments', () => {
  it('go to the calendar, come back field by field, without echo', async () => {
    const box = await mailbox((a) => new GraphEventSource(fakeSession(fake, a)));
    const mb = fake.mailbox(box.address);
    const startsAt = new Date(Date.now() + 3 * 86_400_000);
    startsAt.setUTCHours(9, 0, 0, 0);
    const endsAt = new Date(startsAt.getTime() + 3_600_000);
    const appointment = await crm.appointments.create(<never>{
      subject: 'Quarterly review',
      location: 'Room 1',
      startsAt: startsAt.toISOString(),
      endsAt: endsAt.toISOString(),
      timeZone: 'Europe/Paris',
      organizerAddress: box.address,
      ownerUserId: box.userId,
      attendees: [{ role: 'required', address: 'buyer@fabrikam.example', name: 'Buyer' }],
    });
    await box.sync();
    expect(mb.listEvents()).toEqual([expect.objectContaining({ subject: 'Quarterly review', location: expect.objectContaining({ displayName: 'Room 1' }) })]);
    await box.sync();
    expect(box.writes()).toEqual(['POST']);

    await crm.appointments.update(appointment.id, <never>{ subject: 'Quarterly business review' });
    await box.sync();
    expect(mb.listEvents()[0].subject).toBe('Quarterly business review');
    expect(box.writes()).toEqual(['POST', 'PATCH']);

    mb.updateEvent(mb.listEvents()[0].id!, { location: { displayName: 'Room 2' } });
    await box.sync();
    expect((await crm.appointments.get(appointment.id)).location).toBe('Room 2');
    await box.sync();
    expect(box.writes()).toEqual(['POST', 'PATCH']);
    // The record keeps the event's iCalUId; Exchange names the organizer of the event it was given: the CRM learns the name once; then the location.
    const logged = await bed.query<{ changed_columns: string[] }>(`SELECT changed_columns FROM crm_change_log WHERE origin = $1 ORDER BY position`, [`mailbox:${box.mailboxId}`]);
    expect(logged.map((r) => r.changed_columns)).toEqual([['ical_uid'], ['organizer_name'], ['location']]);
  });

  it('send a weekly series as one series, its CRM exceptions never as events of their own, and settle', async () => {
    const box = await mailbox((a) => new GraphEventSource(fakeSession(fake, a)));
    const mb = fake.mailbox(box.address);
    const monday = new Date(Date.now() + 7 * 86_400_000);
    monday.setUTCDate(monday.getUTCDate() + ((8 - monday.getUTCDay()) % 7));
    monday.setUTCHours(8, 0, 0, 0);
    const day = monday.toISOString().slice(0, 10);
    const recurrence = {
      pattern: { type: 'weekly', interval: 1, daysOfWeek: ['monday'], firstDayOfWeek: 'monday' },
      range: { type: 'numbered', startDate: day, numberOfOccurrences: 6, recurrenceTimeZone: 'Europe/Paris' },
    };
    const series = await crm.appointments.create(<never>{
      subject: 'Weekly sync',
      startsAt: monday.toISOString(),
      endsAt: new Date(monday.getTime() + 1_800_000).toISOString(),
      timeZone: 'Europe/Paris',
      organizerAddress: box.address,
      ownerUserId: box.userId,
      recurrence,
    });
    const second = new Date(monday.getTime() + 7 * 86_400_000);
    await crm.appointments.create(<never>{ seriesMasterId: series.id, originalStart: second.toISOString(), startsAt: new Date(second.getTime() + 86_400_000).toISOString(), endsAt: new Date(second.getTime() + 86_400_000 + 1_800_000).toISOString(), subject: 'Weekly sync (moved)' });
    await box.sync();
    const masters = mb.listEvents().filter((e) => e.type === 'seriesMaster' || e.recurrence);
    expect(masters).toEqual([expect.objectContaining({ subject: 'Weekly sync', recurrence: expect.objectContaining({ pattern: expect.objectContaining({ type: 'weekly', daysOfWeek: ['monday'] }) }) })]);
    expect(mb.listEvents().filter((e) => e.subject === 'Weekly sync (moved)' && e.type === 'singleInstance')).toEqual([]);
    const settled = box.writes().length;
    await box.sync();
    expect(box.writes().length).toBe(settled);
    expect(await box.crmWrites()).toEqual(expect.not.arrayContaining(['insert', 'delete']));
  });
});
