import type { SeriesException } from '../src/policy/seriesExceptions';
import { GraphEventSource } from '../src/mail/graph/graphEventSource';
import { StaleChangeKeyError } from '../src/sync/items/itemSource';
import { startGraphFake, type GraphFake } from './support/graphFake';
import { fakeSession, net, pullAll } from './support/graphItems';

// GraphEventSource against the Graph fake: calendarView/delta over a window, series with exceptions, the CRM id stamp.
let fake: GraphFake;
// A fixed "now" keeps the window and the series below apart from the day the test runs.
const now = Date.parse('2026-03-01T12:00:00Z');

beforeAll(async () => {
  fake = await startGraphFake({ users: [] });
});
afterAll(async () => {
  await fake?.close();
});

function mailboxFor(address: string) {
  fake.addUser({ mail: address, displayName: 'Calendar Owner' });
  const session = fakeSession(fake, address);
  return { source: new GraphEventSource(session, { daysBack: 30, daysAhead: 365 }, () => now), box: fake.mailbox(address), session, address };
}

const single = {
  subject: 'Kick-off', description: 'Bring the plan', location: 'Room 1', startsAt: '2026-03-12T13:00:00.000Z', endsAt: '2026-03-12T14:30:00.000Z',
  timeZone: 'Europe/Paris', allDay: false, showAs: 'busy', priority: 'normal',
  attendees: [{ role: 'required', address: 'ann@fabrikam.example', name: 'Ann Buyer' }, { role: 'optional', address: 'bob@fabrikam.example', name: null }],
  recurrence: null, exceptions: [],
};

// Weekly on Tuesdays at 09:30 Paris time, five times; all in winter time so the fake's UTC expansion agrees.
const series = {
  ...single, subject: 'Weekly sync', startsAt: '2026-03-03T08:30:00.000Z', endsAt: '2026-03-03T09:00:00.000Z', attendees: [],
  recurrence: { pattern: { type: 'weekly', interval: 1, daysOfWeek: ['tuesday'] }, range: { type: 'numbered', startDate: '2026-03-03', numberOfOccurrences: 3 } },
  exceptions: [
    { originalStart: '2026-03-10T08:30:00.000Z', cancelled: false, startsAt: '2026-03-11T15:00:00.000Z', endsAt: '2026-03-11T15:45:00.000Z', subject: 'Weekly sync (moved)', location: 'Room 9', description: 'Bring the plan' },
    { originalStart: '2026-03-17T08:30:00.000Z', cancelled: true },
  ] as SeriesException[],
};

it('pulls the calendar window: single events and a series as one item each, changes, removals, events leaving the window, a lost token', async () => {
  const { source, box } = mailboxFor('events.pull@contoso.example');
  const [calendar] = await source.containers();
  const inWindow = box.addEvent({ subject: 'In the window', start: { dateTime: '2026-03-05T10:00:00', timeZone: 'UTC' }, end: { dateTime: '2026-03-05T11:00:00', timeZone: 'UTC' } });
  box.addEvent({ subject: 'Long ago', start: { dateTime: '2025-01-05T10:00:00', timeZone: 'UTC' }, end: { dateTime: '2025-01-05T11:00:00', timeZone: 'UTC' } });
  const master = box.addEvent({
    subject: 'Daily stand-up', start: { dateTime: '2026-03-02T09:00:00', timeZone: 'UTC' }, end: { dateTime: '2026-03-02T09:15:00', timeZone: 'UTC' },
    recurrence: { pattern: { type: 'daily', interval: 1 }, range: { type: 'numbered', startDate: '2026-03-02', numberOfOccurrences: 5 } },
  });
  const leaving = box.addEvent({ subject: 'Will move away', start: { dateTime: '2026-04-01T10:00:00', timeZone: 'UTC' }, end: { dateTime: '2026-04-01T11:00:00', timeZone: 'UTC' } });
  const doomed = box.addEvent({ subject: 'Will be deleted', start: { dateTime: '2026-04-02T10:00:00', timeZone: 'UTC' }, end: { dateTime: '2026-04-02T11:00:00', timeZone: 'UTC' } });

  const first = await pullAll(source, calendar, null);
  const items = net(first.pages).changed;
  expect(new Set([...items.values()].map((i) => i.fields.subject))).toEqual(new Set(['In the window', 'Daily stand-up', 'Will move away', 'Will be deleted']));
  const standUp = items.get(master.id!)!;
  expect(standUp.fields.recurrence).toEqual({ pattern: { type: 'daily', interval: 1 }, range: { type: 'numbered', startDate: '2026-03-02', numberOfOccurrences: 5 } });
  expect(standUp.fields.exceptions).toEqual([]);
  expect(items.get(inWindow.id!)!.matchKeys).toEqual([inWindow.iCalUId]);
  expect(items.get(inWindow.id!)!.fields.organizerAddress).toBe('events.pull@contoso.example');

  box.updateEvent(inWindow.id!, { subject: 'Renamed' });
  box.updateEvent(leaving.id!, { start: { dateTime: '2028-04-01T10:00:00', timeZone: 'UTC' }, end: { dateTime: '2028-04-01T11:00:00', timeZone: 'UTC' } });
  box.deleteEvent(doomed.id!);
  const second = await pullAll(source, calendar, first.cursor);
  const changes = net(second.pages);
  expect(changes.changed.get(inWindow.id!)!.fields.subject).toBe('Renamed');
  // Outside the window now, not deleted: Graph says "removed", the source looks and keeps it.
  expect(changes.removed).toEqual(new Set([doomed.id]));
  expect(changes.changed.get(leaving.id!)!.fields.startsAt).toBe('2028-04-01T10:00:00.000Z');

  fake.script.expireDeltaTokens({ midPaging: false });
  const third = await pullAll(source, calendar, second.cursor);
  expect(third.pages.every((p) => p.reset)).toBe(true);
  expect(new Set([...net(third.pages).changed.values()].map((i) => i.fields.subject))).toEqual(new Set(['Renamed', 'Daily stand-up']));
});

it('creates an event stamped with its CRM id that reads back the same, and updates it only with its change key', async () => {
  const { source, box, address } = mailboxFor('events.write@contoso.example');
  const [calendar] = await source.containers();
  const created = await source.create(calendar, single, 'crm-appointment-1');
  expect(created.crmId).toBe('crm-appointment-1');
  expect(created.fields).toEqual({ ...single, organizerAddress: address, organizerName: 'Calendar Owner' });
  const read = (await source.get(calendar, created.remoteId))!;
  expect(read).toEqual(created);
  expect(box.listEvents().map((e) => e.id)).toEqual([created.remoteId]);
  expect(net((await pullAll(source, calendar, null)).pages).changed.get(created.remoteId)!.crmId).toBe('crm-appointment-1');

  box.updateEvent(created.remoteId, { location: { displayName: 'Changed in Outlook' } });
  await expect(source.update(calendar, created.remoteId, created.changeKey, { subject: 'Mine' })).rejects.toBeInstanceOf(StaleChangeKeyError);
  await expect(source.stamp(calendar, created.remoteId, created.changeKey, null)).rejects.toBeInstanceOf(StaleChangeKeyError);
  const fresh = (await source.get(calendar, created.remoteId))!;
  const updated = await source.update(calendar, created.remoteId, fresh.changeKey, { subject: 'Kick-off, longer', endsAt: '2026-03-12T15:00:00.000Z', allDay: false });
  expect(updated.fields).toMatchObject({ subject: 'Kick-off, longer', location: 'Changed in Outlook', startsAt: single.startsAt, endsAt: '2026-03-12T15:00:00.000Z', timeZone: 'Europe/Paris' });
  const unstampedKey = await source.stamp(calendar, created.remoteId, updated.changeKey, null);
  expect(await source.get(calendar, created.remoteId)).toMatchObject({ crmId: null, changeKey: unstampedKey });
  await source.delete(calendar, created.remoteId);
  expect(await source.get(calendar, created.remoteId)).toBeNull();
});

it('keeps an all-day event and its time zone through Exchange', async () => {
  const { source, box, address } = mailboxFor('events.allday@contoso.example');
  const [calendar] = await source.containers();
  const holiday = { ...single, subject: 'Independence Day', allDay: true, timeZone: 'America/New_York', startsAt: '2026-07-04T04:00:00.000Z', endsAt: '2026-07-05T04:00:00.000Z', attendees: [], showAs: 'oof', priority: 'low' };
  const created = await source.create(calendar, holiday, 'crm-holiday');
  const stored = box.listEvents()[0];
  expect([stored.isAllDay, stored.originalStartTimeZone, stored.start?.dateTime]).toEqual([true, 'America/New_York', '2026-07-04T04:00:00.0000000']);
  expect((await source.get(calendar, created.remoteId))!.fields).toEqual({ ...holiday, organizerAddress: address, organizerName: 'Calendar Owner' });
});

it('creates a weekly series with a moved and a cancelled occurrence that reads back identical, in a pull too, and changes its exceptions', async () => {
  const { source, box, address } = mailboxFor('events.series@contoso.example');
  const [calendar] = await source.containers();
  const created = await source.create(calendar, series, 'crm-series-1');
  const expected = { ...series, organizerAddress: address, organizerName: 'Calendar Owner' };
  expect(created.fields).toEqual(expected);
  expect((await source.get(calendar, created.remoteId))!.fields).toEqual(expected);
  // In Exchange: the master, two instances (one moved), none on the 17th.
  const instances = box.listEvents().filter((e) => e.seriesMasterId === created.remoteId);
  expect(instances.map((e) => [e.type, e.start?.dateTime])).toEqual([
    ['occurrence', '2026-03-03T08:30:00.0000000'],
    ['exception', '2026-03-11T15:00:00.0000000'],
  ]);
  const firstPull = await pullAll(source, calendar, null);
  const pulled = net(firstPull.pages).changed;
  expect([...pulled.keys()]).toEqual([created.remoteId]);
  expect(pulled.get(created.remoteId)!.fields).toEqual(expected);

  // The moved occurrence goes back into place; the first one is cancelled.
  const exceptions: SeriesException[] = [{ originalStart: '2026-03-03T08:30:00.000Z', cancelled: true }, series.exceptions[1]];
  const updated = await source.update(calendar, created.remoteId, created.changeKey, { exceptions });
  expect(updated.fields.exceptions).toEqual(exceptions);
  expect(box.listEvents().filter((e) => e.seriesMasterId === created.remoteId).map((e) => [e.type, e.start?.dateTime, e.subject])).toEqual([
    ['exception', '2026-03-10T08:30:00.0000000', 'Weekly sync'],
  ]);
});

it('pulls the moves and cancellations made in Outlook as the exceptions of the series', async () => {
  const { source, box, session } = mailboxFor('events.outlook@contoso.example');
  const [calendar] = await source.containers();
  const created = await source.create(calendar, { ...series, exceptions: [] }, 'crm-series-2');
  const first = await pullAll(source, calendar, null);
  const [firstOccurrence, secondOccurrence] = box.listEvents().filter((e) => e.seriesMasterId === created.remoteId);
  await session.request({
    method: 'PATCH', url: `${session.userPath}/events/${secondOccurrence.id}`, prefer: ['IdType="ImmutableId"'],
    body: { start: { dateTime: '2026-03-10T11:00:00', timeZone: 'Europe/Paris' }, end: { dateTime: '2026-03-10T11:30:00', timeZone: 'Europe/Paris' } },
  });
  await session.request({ method: 'DELETE', url: `${session.userPath}/events/${firstOccurrence.id}`, prefer: ['IdType="ImmutableId"'] });

  const changes = net((await pullAll(source, calendar, first.cursor)).pages);
  // The cancelled occurrence's id is reported removed; the engine knows no such id and the series carries the cancellation.
  expect(changes.removed).toEqual(new Set([firstOccurrence.id]));
  expect(changes.changed.get(created.remoteId)!.fields.exceptions).toEqual([
    { originalStart: '2026-03-03T08:30:00.000Z', cancelled: true },
    { originalStart: '2026-03-10T08:30:00.000Z', cancelled: false, startsAt: '2026-03-10T10:00:00.000Z', endsAt: '2026-03-10T10:30:00.000Z', subject: 'Weekly sync', location: 'Room 1', description: 'Bring the plan' },
  ]);
});

it("starts a new round over today's window once its round's window drifted past a week, or the window setting changed", async () => {
  const { box, session } = mailboxFor('events.window@contoso.example');
  const day = 24 * 3600 * 1000;
  const at = (when: number, window = { daysBack: 30, daysAhead: 365 }) => new GraphEventSource(session, window, () => when);
  const [calendar] = await at(now).containers();
  box.addEvent({ subject: 'Next week', start: { dateTime: '2026-03-08T10:00:00', timeZone: 'UTC' }, end: { dateTime: '2026-03-08T11:00:00', timeZone: 'UTC' } });
  // Just past the first window's end (2027-03-01).
  box.addEvent({ subject: 'Early next March', start: { dateTime: '2027-03-05T10:00:00', timeZone: 'UTC' }, end: { dateTime: '2027-03-05T11:00:00', timeZone: 'UTC' } });
  const subjects = (pages: Awaited<ReturnType<typeof pullAll>>['pages']) => [...net(pages).changed.values()].map((i) => i.fields.subject).sort();

  const first = await pullAll(at(now), calendar, null);
  expect(subjects(first.pages)).toEqual(['Next week']);
  expect(first.cursor).toMatchObject({ windowFrom: '2026-01-30T00:00:00.000Z', windowUntil: '2027-03-01T00:00:00.000Z' });

  // Six days on: the same round goes on, and nothing changed.
  const sixDays = await pullAll(at(now + 6 * day), calendar, first.cursor);
  expect(subjects(sixDays.pages)).toEqual([]);
  expect(sixDays.cursor).toMatchObject({ windowFrom: '2026-01-30T00:00:00.000Z' });

  // Ten days on: the old round is read to its end (a delete since is seen), then today's window is listed.
  const deleted = box.addEvent({ subject: 'Cancelled soon', start: { dateTime: '2026-03-20T10:00:00', timeZone: 'UTC' }, end: { dateTime: '2026-03-20T11:00:00', timeZone: 'UTC' } });
  await pullAll(at(now + 6 * day), calendar, sixDays.cursor).then((r) => Object.assign(sixDays, r));
  box.deleteEvent(deleted.id!);
  const tenDays = await pullAll(at(now + 10 * day), calendar, sixDays.cursor);
  expect(net(tenDays.pages).removed).toEqual(new Set([deleted.id]));
  expect(subjects(tenDays.pages)).toEqual(['Early next March', 'Next week']);
  expect(tenDays.pages.some((p) => p.reset)).toBe(false);
  expect(tenDays.cursor).toMatchObject({ windowFrom: '2026-02-09T00:00:00.000Z', windowUntil: '2027-03-11T00:00:00.000Z' });

  // A changed setting: a new round at once.
  const longer = await pullAll(at(now + 10 * day, { daysBack: 30, daysAhead: 400 }), calendar, tenDays.cursor);
  expect(subjects(longer.pages)).toEqual(['Early next March', 'Next week']);
  expect(longer.cursor).toMatchObject({ windowUntil: '2027-04-15T00:00:00.000Z' });
});
