import type { Event } from '@microsoft/microsoft-graph-types';
import type { RecurrenceInput } from '../src/admin/itemSchemas';
import type { PgCrmItems } from '../src/crm/pgCrmItems';
import { GraphEventSource } from '../src/mail/graph/graphEventSource';
import { CRM_ITEM_ID_PROPERTY } from '../src/mail/graph/graphItems';
import { instantToZoned, zonedToInstant } from '../src/mail/graph/graphTime';
import { normalize } from '../src/policy/itemMerge';
import { crmExceptions, normalizeExceptions, type SeriesException } from '../src/policy/seriesExceptions';
import type { PgItemSyncStore } from '../src/store/itemSyncStore';
import { syncItems } from '../src/sync/items/itemSync';
import type { GraphFake } from './support/graphFake';
import { changeLogSettled, fakeSession, useItemEngineBed } from './support/graphItems';
import { exchangeMailbox } from './support/graphMailbox';
import type { TestBed } from './support/testBed';

// Recurring appointments through the item engine, against PostgreSQL and the Graph fake: a series
// with moved and cancelled occurrences made on either side ends identical on the other, later
// changes of its occurrences go both ways, every pattern type and range keeps its shape and its
// zone, and a first enable links the events sync made before by their iCalUId instead of making
// them again.

const TRACKED = 'Tracked to CRM';
const dayMs = 86_400_000;

let bed: TestBed, fake: GraphFake, crm: PgCrmItems, store: PgItemSyncStore;
useItemEngineBed((opened) => void ({ bed, fake, crm, store } = opened));

let boxes = 0;
async function mailbox() {
  const address = `recurrence${++boxes}@contoso.example`;
  fake.addUser({ mail: address });
  const { mailboxId, userId } = await exchangeMailbox(bed, fake, address);
  const session = fakeSession(fake, address);
  const source = new GraphEventSource(session);
  const graphUser = fake.users.find((u) => u.mail === address)!.id;
  const mb = fake.mailbox(address);
  let start = fake.requestLog.length;
  const box = {
    address,
    mailboxId,
    userId,
    mb,
    session,
    source,
    sync: async () => {
      await changeLogSettled(bed);
      return syncItems(mailboxId, [source], { crm, store });
    },
    /** Graph writes since the mailbox was made, or since the last call of `settle`. */
    writes: () => fake.requestLog.slice(start).filter((e) => e.userId === graphUser && e.method !== 'GET').map((e) => `${e.method} ${e.url.replace(/\?.*$/, '')}`),
    /** CRM writes by this mailbox's sync. */
    crmWrites: async () => (await bed.query<{ operation: string }>(`SELECT operation FROM crm_change_log WHERE origin = $1 ORDER BY position`, [`mailbox:${mailboxId}`])).length,
    /** Syncs once more, then twice expecting neither side written: nothing echoes. */
    settle: async () => {
      await box.sync();
      start = fake.requestLog.length;
      const crmBefore = await box.crmWrites();
      await box.sync();
      await box.sync();
      expect(box.writes()).toEqual([]);
      expect(await box.crmWrites()).toBe(crmBefore);
    },
    /** The series in Exchange as the engine reads it. */
    remote: async (id: string) => (await source.get('', id))!,
    master: (subject: string) => mb.listEvents().find((e) => e.subject === subject && e.type === 'seriesMaster')!,
    instances: (masterId: string) => mb.listEvents().filter((e) => e.seriesMasterId === masterId).sort((a, b) => Date.parse(a.start!.dateTime!) - Date.parse(b.start!.dateTime!)),
  };
  return box;
}
type Box = Awaited<ReturnType<typeof mailbox>>;

/** A CRM series' exceptions as the engine compares them (rows read with their own values). */
async function crmSide(seriesId: string): Promise<SeriesException[]> {
  const [series] = await crm.read('appointment', [seriesId]);
  const rows = await crm.read('appointment', (series as { exceptions: { id: string }[] }).exceptions.map((e) => e.id));
  return normalizeExceptions(crmExceptions(series as never, rows as never).map(({ id: _id, ...e }) => e));
}

/** The series' Exchange side and CRM side of each field they share. */
async function bothSides(box: Box, remoteId: string, crmId: string) {
  const remote = (await box.remote(remoteId)).fields;
  const record = (await crm.read('appointment', [crmId]))[0] as unknown as Record<string, unknown>;
  const shared = ['subject', 'location', 'startsAt', 'endsAt', 'timeZone', 'allDay', 'recurrence'];
  return {
    exchange: { ...Object.fromEntries(shared.map((f) => [f, normalize(remote[f], f)])), exceptions: normalizeExceptions(remote.exceptions as SeriesException[]) },
    crm: { ...Object.fromEntries(shared.map((f) => [f, normalize(record[f], f)])), exceptions: await crmSide(crmId) },
  };
}

const iso = (at: number) => new Date(at).toISOString();
/** Midnight UTC of the first `weekday` (0 Sunday) at least `days` ahead. */
function dayAhead(days: number, weekday?: number): number {
  let at = Math.floor(Date.now() / dayMs) * dayMs + days * dayMs;
  while (weekday !== undefined && new Date(at).getUTCDay() !== weekday) at += dayMs;
  return at;
}
const dateOf = (at: number) => iso(at).slice(0, 10);
const zoned = (date: string, time: string, zone: string) => zonedToInstant(`${date}T${time}`, zone);
const graphTime = (date: string, time: string, timeZone: string) => ({ dateTime: `${date}T${time}`, timeZone });

/** Moves an occurrence in Outlook (the fake's mailbox API does what Graph does). */
function moveOccurrence(box: Box, masterId: string, originalStart: number, to: number, minutes: number, subject?: string) {
  const instance = box.instances(masterId).find((i) => Date.parse(String((i as { originalStart?: string }).originalStart)) === originalStart)!;
  box.mb.updateEvent(instance.id!, {
    start: { dateTime: iso(to).slice(0, 19), timeZone: 'UTC' },
    end: { dateTime: iso(to + minutes * 60_000).slice(0, 19), timeZone: 'UTC' },
    ...(subject ? { subject } : {}),
  });
}
function cancelOccurrence(box: Box, masterId: string, originalStart: number) {
  const instance = box.instances(masterId).find((i) => Date.parse(String((i as { originalStart?: string }).originalStart)) === originalStart)!;
  box.mb.deleteEvent(instance.id!);
}

async function crmIdOf(box: Box, remoteId: string): Promise<string> {
  const [link] = await bed.query<{ crm_record_id: string }>(`SELECT crm_record_id FROM item_links WHERE mailbox_id = $1 AND item_type = 'appointment' AND remote_id = $2`, [box.mailboxId, remoteId]);
  return link.crm_record_id;
}

describe('a weekly series with one moved and one cancelled occurrence', () => {
  // Mondays 09:00 Paris time, eight times, from a Monday at least a week ahead.
  const monday = dayAhead(7, 1);
  // Each Monday at 09:00 Paris time, whatever the offset that day.
  const week = (n: number) => zoned(dateOf(monday + n * 7 * dayMs), '09:00:00', 'Europe/Paris');
  const first = week(0);
  const recurrence = {
    pattern: { type: 'weekly', interval: 1, daysOfWeek: ['monday'], firstDayOfWeek: 'monday' },
    range: { type: 'numbered', startDate: dateOf(monday), numberOfOccurrences: 8 },
  } as RecurrenceInput;

  it('made in the CRM ends identical in Exchange; then occurrences moved and cancelled on either side follow', async () => {
    const box = await mailbox();
    const series = await crm.appointments.create(<never>{
      subject: 'Pipeline review', location: 'Room 4', startsAt: iso(first), endsAt: iso(first + 1_800_000), timeZone: 'Europe/Paris',
      organizerAddress: box.address, ownerUserId: box.userId, recurrence,
    });
    await crm.appointments.create(<never>{ seriesMasterId: series.id, originalStart: iso(week(1)), startsAt: iso(week(1) + dayMs + 3_600_000), endsAt: iso(week(1) + dayMs + 5_400_000), subject: 'Pipeline review (Tuesday)' });
    await crm.appointments.create(<never>{ seriesMasterId: series.id, originalStart: iso(week(2)), startsAt: iso(week(2)), endsAt: iso(week(2) + 1_800_000), cancelled: true });
    await box.sync();

    const master = box.master('Pipeline review');
    expect(box.mb.listEvents().filter((e) => e.type === 'seriesMaster' || e.type === 'singleInstance')).toHaveLength(1);
    // Eight Mondays less the cancelled one; the moved one on Tuesday at 10:00 Paris time, with its own subject.
    const instances = box.instances(master.id!);
    expect(instances.map((i) => Date.parse(`${i.start!.dateTime}Z`))).toEqual([week(0), week(1) + dayMs + 3_600_000, ...[3, 4, 5, 6, 7].map(week)]);
    expect(instances[1]).toMatchObject({ type: 'exception', subject: 'Pipeline review (Tuesday)', location: { displayName: 'Room 4' } });
    const expected: SeriesException[] = [
      { originalStart: iso(week(1)), cancelled: false, startsAt: iso(week(1) + dayMs + 3_600_000), endsAt: iso(week(1) + dayMs + 5_400_000), subject: 'Pipeline review (Tuesday)', location: 'Room 4', description: null },
      { originalStart: iso(week(2)), cancelled: true },
    ];
    let sides = await bothSides(box, master.id!, series.id);
    expect(sides.exchange).toEqual(sides.crm);
    expect(sides.exchange.exceptions).toEqual(expected);
    await box.settle();

    // In Outlook: the fourth Monday moved to 14:00, the fifth cancelled.
    moveOccurrence(box, master.id!, week(3), week(3) + 5 * 3_600_000, 30);
    cancelOccurrence(box, master.id!, week(4));
    await box.sync();
    expect(await bed.query(`SELECT original_start, cancelled, starts_at FROM appointments WHERE series_master_id = $1 ORDER BY original_start`, [series.id])).toEqual([
      { original_start: new Date(week(1)), cancelled: false, starts_at: new Date(week(1) + dayMs + 3_600_000) },
      { original_start: new Date(week(2)), cancelled: true, starts_at: new Date(week(2)) },
      { original_start: new Date(week(3)), cancelled: false, starts_at: new Date(week(3) + 5 * 3_600_000) },
      { original_start: new Date(week(4)), cancelled: true, starts_at: new Date(week(4)) },
    ]);
    await box.settle();

    // In the CRM: the sixth Monday moved an hour later, the seventh cancelled.
    await crm.appointments.create(<never>{ seriesMasterId: series.id, originalStart: iso(week(5)), startsAt: iso(week(5) + 3_600_000), endsAt: iso(week(5) + 5_400_000) });
    await crm.appointments.create(<never>{ seriesMasterId: series.id, originalStart: iso(week(6)), startsAt: iso(week(6)), endsAt: iso(week(6) + 1_800_000), cancelled: true });
    await box.sync();
    expect(box.instances(master.id!).map((i) => Date.parse(`${i.start!.dateTime}Z`))).toEqual([week(0), week(1) + dayMs + 3_600_000, week(3) + 5 * 3_600_000, week(5) + 3_600_000, week(7)]);
    sides = await bothSides(box, master.id!, series.id);
    expect(sides.exchange).toEqual(sides.crm);
    expect(sides.crm.exceptions.map((e) => [e.originalStart, e.cancelled])).toEqual([1, 2, 3, 4, 5, 6].map((n) => [iso(week(n)), n % 2 === 0]));
    await box.settle();

    // In the CRM: the sixth Monday put back into the series (its exception row deleted).
    const [sixth] = await bed.query<{ id: string }>(`SELECT id FROM appointments WHERE series_master_id = $1 AND original_start = $2`, [series.id, new Date(week(5))]);
    await crm.appointments.delete(sixth.id);
    await box.sync();
    expect(box.instances(master.id!).map((i) => Date.parse(`${i.start!.dateTime}Z`))).toEqual([week(0), week(1) + dayMs + 3_600_000, week(3) + 5 * 3_600_000, week(5), week(7)]);
    sides = await bothSides(box, master.id!, series.id);
    expect(sides.exchange).toEqual(sides.crm);
    await box.settle();
    // One event in Exchange, one record (and its exception rows) in the CRM, all along.
    expect(await bed.query(`SELECT count(*)::int AS n FROM appointments WHERE owner_user_id = $1 AND series_master_id IS NULL`, [box.userId])).toEqual([{ n: 1 }]);
  });

  it('made in Outlook with the tracking category ends identical in the CRM; then occurrences moved and cancelled on either side follow', async () => {
    const box = await mailbox();
    const made = box.mb.addEvent({
      subject: 'Design clinic', location: { displayName: 'Lab' }, categories: [TRACKED],
      start: graphTime(dateOf(monday), '09:00:00', 'Europe/Paris'), end: graphTime(dateOf(monday), '09:30:00', 'Europe/Paris'),
      recurrence: { pattern: { type: 'weekly', interval: 1, daysOfWeek: ['monday'], firstDayOfWeek: 'monday' }, range: { type: 'numbered', startDate: dateOf(monday), numberOfOccurrences: 8, recurrenceTimeZone: 'Europe/Paris' } },
    });
    moveOccurrence(box, made.id!, week(1), week(1) + dayMs + 3_600_000, 60, 'Design clinic (Tuesday)');
    cancelOccurrence(box, made.id!, week(2));
    await box.sync();

    const crmId = await crmIdOf(box, made.id!);
    const record = await crm.appointments.get(crmId);
    expect(record).toMatchObject({ subject: 'Design clinic', location: 'Lab', timeZone: 'Europe/Paris', startsAt: new Date(first), endsAt: new Date(first + 1_800_000), recurrence, ownerUserId: box.userId });
    let sides = await bothSides(box, made.id!, crmId);
    expect(sides.crm).toEqual(sides.exchange);
    expect(sides.crm.exceptions).toEqual([
      { originalStart: iso(week(1)), cancelled: false, startsAt: iso(week(1) + dayMs + 3_600_000), endsAt: iso(week(1) + dayMs + 7_200_000), subject: 'Design clinic (Tuesday)', location: 'Lab', description: null },
      { originalStart: iso(week(2)), cancelled: true },
    ]);
    // Stamped with its record's id, and no event made of it.
    expect(box.mb.listEvents().filter((e) => e.type !== 'occurrence' && e.type !== 'exception')).toHaveLength(1);
    await box.settle();

    // The CRM moves the fourth a day later; Outlook cancels the sixth.
    await crm.appointments.create(<never>{ seriesMasterId: crmId, originalStart: iso(week(3)), startsAt: iso(week(3) + dayMs), endsAt: iso(week(3) + dayMs + 1_800_000) });
    cancelOccurrence(box, made.id!, week(5));
    await box.sync();
    sides = await bothSides(box, made.id!, crmId);
    expect(sides.crm).toEqual(sides.exchange);
    expect(sides.crm.exceptions.map((e) => [e.originalStart, e.cancelled])).toEqual([
      [iso(week(1)), false], [iso(week(2)), true], [iso(week(3)), false], [iso(week(5)), true],
    ]);
    expect(box.instances(made.id!).map((i) => Date.parse(`${i.start!.dateTime}Z`))).toEqual([week(0), week(1) + dayMs + 3_600_000, week(3) + dayMs, week(4), week(6), week(7)]);
    await box.settle();
  });
});

describe('an all-day series', () => {
  it('keeps whole days in its zone for its moved and cancelled occurrences, both ways', async () => {
    const box = await mailbox();
    const zone = 'Pacific/Auckland';
    const monday = dayAhead(7, 1);
    // Midnight to midnight in Auckland, Mondays, five times.
    const day = (n: number) => zoned(dateOf(monday + n * dayMs), '00:00:00', zone);
    const series = await crm.appointments.create(<never>{
      subject: 'Site visit', startsAt: iso(day(0)), endsAt: iso(day(1)), timeZone: zone, allDay: true,
      organizerAddress: box.address, ownerUserId: box.userId,
      recurrence: { pattern: { type: 'weekly', interval: 1, daysOfWeek: ['monday'] }, range: { type: 'numbered', startDate: dateOf(monday), numberOfOccurrences: 5 } },
    });
    // The second Monday moved to the Tuesday, the third cancelled.
    await crm.appointments.create(<never>{ seriesMasterId: series.id, originalStart: iso(day(7)), startsAt: iso(day(8)), endsAt: iso(day(9)), allDay: true, timeZone: zone });
    await crm.appointments.create(<never>{ seriesMasterId: series.id, originalStart: iso(day(14)), startsAt: iso(day(14)), endsAt: iso(day(15)), cancelled: true });
    await box.sync();
    const master = box.master('Site visit');
    expect(box.instances(master.id!).map((i) => [Date.parse(`${i.start!.dateTime}Z`), i.isAllDay])).toEqual([[day(0), true], [day(8), true], [day(21), true], [day(28), true]]);
    let sides = await bothSides(box, master.id!, series.id);
    expect(sides.exchange).toEqual(sides.crm);
    await box.settle();

    // Outlook moves the fourth Monday to the Wednesday, still all day.
    const fourth = box.instances(master.id!).find((i) => Date.parse(`${i.start!.dateTime}Z`) === day(21))!;
    box.mb.updateEvent(fourth.id!, { isAllDay: true, start: graphTime(dateOf(monday + 23 * dayMs), '00:00:00', zone), end: graphTime(dateOf(monday + 24 * dayMs), '00:00:00', zone) });
    await box.sync();
    expect(await bed.query(`SELECT original_start, starts_at, ends_at, all_day, time_zone FROM appointments WHERE series_master_id = $1 AND NOT cancelled ORDER BY original_start`, [series.id])).toEqual([
      { original_start: new Date(day(7)), starts_at: new Date(day(8)), ends_at: new Date(day(9)), all_day: true, time_zone: zone },
      { original_start: new Date(day(21)), starts_at: new Date(day(23)), ends_at: new Date(day(24)), all_day: true, time_zone: zone },
    ]);
    sides = await bothSides(box, master.id!, series.id);
    expect(sides.exchange).toEqual(sides.crm);
    await box.settle();
  });
});

describe('a series begun before the calendar window (30 days back)', () => {
  it('keeps the exceptions of its past occurrences on both sides, and settles', async () => {
    const box = await mailbox();
    const firstDay = dayAhead(-63, 3);
    // 15:00 Chicago time each Wednesday, across the end of summer time.
    const week = (n: number) => zoned(dateOf(firstDay + n * 7 * dayMs), '15:00:00', 'America/Chicago');
    const first = week(0);
    const series = await crm.appointments.create(<never>{
      subject: 'Old standing call', startsAt: iso(first), endsAt: iso(first + 3_600_000), timeZone: 'America/Chicago',
      organizerAddress: box.address, ownerUserId: box.userId,
      recurrence: { pattern: { type: 'weekly', interval: 1, daysOfWeek: ['wednesday'] }, range: { type: 'numbered', startDate: dateOf(first), numberOfOccurrences: 16 } },
    });
    // Long past (before the window), and to come.
    await crm.appointments.create(<never>{ seriesMasterId: series.id, originalStart: iso(week(1)), startsAt: iso(week(1) + 7_200_000), endsAt: iso(week(1) + 10_800_000) });
    await crm.appointments.create(<never>{ seriesMasterId: series.id, originalStart: iso(week(2)), startsAt: iso(week(2)), endsAt: iso(week(2) + 3_600_000), cancelled: true });
    await crm.appointments.create(<never>{ seriesMasterId: series.id, originalStart: iso(week(12)), startsAt: iso(week(12)), endsAt: iso(week(12) + 3_600_000), cancelled: true });
    await box.sync();
    const master = box.master('Old standing call');
    const sides = await bothSides(box, master.id!, series.id);
    expect(sides.exchange).toEqual(sides.crm);
    expect(sides.crm.exceptions.map((e) => [e.originalStart, e.cancelled])).toEqual([[iso(week(1)), false], [iso(week(2)), true], [iso(week(12)), true]]);
    await box.settle();
    expect(await bed.query(`SELECT count(*)::int AS n FROM appointments WHERE series_master_id = $1`, [series.id])).toEqual([{ n: 3 }]);
  });
});

describe('the Graph fake', () => {
  it('expands relative monthly, absolute and relative yearly series at the wall-clock time of their zone', async () => {
    const box = await mailbox();
    const starts = (event: Partial<Event>) => box.instances(box.mb.addEvent(event).id!).map((i) => `${i.start!.dateTime!.slice(0, 16)}Z`);
    const at = (date: string, time: string, timeZone: string) => ({ start: graphTime(date, time, timeZone), end: graphTime(date, time.replace(/^(\d\d)/, (h) => String(Number(h) + 1).padStart(2, '0')), timeZone) });
    // The first Monday of each second month, 09:00 Paris time: winter and summer time.
    expect(starts({ ...at('2027-01-04', '09:00:00', 'Europe/Paris'), recurrence: { pattern: { type: 'relativeMonthly', interval: 2, daysOfWeek: ['monday'], index: 'first' }, range: { type: 'numbered', startDate: '2027-01-04', numberOfOccurrences: 4, recurrenceTimeZone: 'Europe/Paris' } } })).toEqual([
      '2027-01-04T08:00Z', '2027-03-01T08:00Z', '2027-05-03T07:00Z', '2027-07-05T07:00Z',
    ]);
    // The last weekday of each month (index over several days of the week), until a date.
    expect(starts({ ...at('2027-01-29', '17:00:00', 'UTC'), recurrence: { pattern: { type: 'relativeMonthly', interval: 1, daysOfWeek: ['monday', 'tuesday', 'wednesday', 'thursday', 'friday'], index: 'last' }, range: { type: 'endDate', startDate: '2027-01-29', endDate: '2027-04-30' } } })).toEqual([
      '2027-01-29T17:00Z', '2027-02-26T17:00Z', '2027-03-31T17:00Z', '2027-04-30T17:00Z',
    ]);
    // 29 February every year: leap years only.
    expect(starts({ ...at('2028-02-29', '12:00:00', 'UTC'), recurrence: { pattern: { type: 'absoluteYearly', interval: 1, month: 2, dayOfMonth: 29 }, range: { type: 'numbered', startDate: '2028-02-29', numberOfOccurrences: 2 } } })).toEqual([
      '2028-02-29T12:00Z', '2032-02-29T12:00Z',
    ]);
    // The third Thursday of November every other year, New York time.
    expect(starts({ ...at('2026-11-19', '10:00:00', 'America/New_York'), recurrence: { pattern: { type: 'relativeYearly', interval: 2, month: 11, daysOfWeek: ['thursday'], index: 'third' }, range: { type: 'numbered', startDate: '2026-11-19', numberOfOccurrences: 3 } } })).toEqual([
      '2026-11-19T15:00Z', '2028-11-16T15:00Z', '2030-11-21T15:00Z',
    ]);
  });
});

/** Each pattern type and range, in a zone of its own, starting on a day the pattern gives. */
function patterns(): { name: string; startsAt: number; endsAt: number; timeZone: string; allDay?: boolean; recurrence: RecurrenceInput; count?: number }[] {
  const out: ReturnType<typeof patterns> = [];
  const d1 = dayAhead(10);
  out.push({
    name: 'Every other day, until a date (Tokyo)', timeZone: 'Asia/Tokyo', startsAt: zoned(dateOf(d1), '10:00:00', 'Asia/Tokyo'), endsAt: zoned(dateOf(d1), '10:45:00', 'Asia/Tokyo'), count: 5,
    recurrence: { pattern: { type: 'daily', interval: 2 }, range: { type: 'endDate', startDate: dateOf(d1), endDate: dateOf(d1 + 9 * dayMs) } },
  });
  // The 15th of the month, four times, at 14:00 New York time: across a change of daylight saving time.
  let d2 = dayAhead(10);
  while (new Date(d2).getUTCDate() !== 15) d2 += dayMs;
  out.push({
    name: 'Monthly on the 15th, four times (New York)', timeZone: 'America/New_York', startsAt: zoned(dateOf(d2), '14:00:00', 'America/New_York'), endsAt: zoned(dateOf(d2), '15:00:00', 'America/New_York'), count: 4,
    recurrence: { pattern: { type: 'absoluteMonthly', interval: 1, dayOfMonth: 15 }, range: { type: 'numbered', startDate: dateOf(d2), numberOfOccurrences: 4 } },
  });
  // The second Tuesday of every month, until a date four months on (Paris).
  let d3 = dayAhead(10, 2);
  while (Math.ceil(new Date(d3).getUTCDate() / 7) !== 2) d3 += 7 * dayMs;
  out.push({
    name: 'Second Tuesday monthly, until a date (Paris)', timeZone: 'Europe/Paris', startsAt: zoned(dateOf(d3), '09:30:00', 'Europe/Paris'), endsAt: zoned(dateOf(d3), '10:30:00', 'Europe/Paris'), count: 4,
    recurrence: { pattern: { type: 'relativeMonthly', interval: 1, daysOfWeek: ['tuesday'], index: 'second' }, range: { type: 'endDate', startDate: dateOf(d3), endDate: dateOf(d3 + 100 * dayMs) } },
  });
  const d4 = dayAhead(40);
  out.push({
    name: 'Yearly on a date, three times (Sydney)', timeZone: 'Australia/Sydney', startsAt: zoned(dateOf(d4), '08:00:00', 'Australia/Sydney'), endsAt: zoned(dateOf(d4), '09:00:00', 'Australia/Sydney'),
    recurrence: { pattern: { type: 'absoluteYearly', interval: 1, dayOfMonth: new Date(d4).getUTCDate(), month: new Date(d4).getUTCMonth() + 1 }, range: { type: 'numbered', startDate: dateOf(d4), numberOfOccurrences: 3 } },
  });
  // The last Friday of a month two months on, yearly, with no end (London).
  let d5 = dayAhead(60, 5);
  while (new Date(d5 + 7 * dayMs).getUTCMonth() === new Date(d5).getUTCMonth()) d5 += 7 * dayMs;
  out.push({
    name: 'Last Friday of a month yearly, no end (London)', timeZone: 'Europe/London', startsAt: zoned(dateOf(d5), '16:00:00', 'Europe/London'), endsAt: zoned(dateOf(d5), '17:00:00', 'Europe/London'),
    recurrence: { pattern: { type: 'relativeYearly', interval: 1, daysOfWeek: ['friday'], index: 'last', month: new Date(d5).getUTCMonth() + 1 }, range: { type: 'noEnd', startDate: dateOf(d5) } },
  });
  // All day on Mondays and Wednesdays, six times (Berlin): midnight to midnight there.
  const d6 = dayAhead(10, 1);
  out.push({
    name: 'All day Mondays and Wednesdays (Berlin)', timeZone: 'Europe/Berlin', allDay: true, count: 6,
    startsAt: zoned(dateOf(d6), '00:00:00', 'Europe/Berlin'), endsAt: zoned(dateOf(d6 + dayMs), '00:00:00', 'Europe/Berlin'),
    recurrence: { pattern: { type: 'weekly', interval: 1, daysOfWeek: ['monday', 'wednesday'] }, range: { type: 'numbered', startDate: dateOf(d6), numberOfOccurrences: 6 } },
  });
  return out;
}

/** Every occurrence at the series' wall-clock time in its zone (none moved by daylight saving time), none missing. */
function expectOccurrencesInZone(box: Box, masterId: string, p: ReturnType<typeof patterns>[number]) {
  const instances = box.instances(masterId);
  if (p.count !== undefined) expect(instances).toHaveLength(p.count);
  const local = (at: string) => instantToZoned(Date.parse(`${at}Z`), p.timeZone).slice(11);
  expect(new Set(instances.map((i) => local(i.start!.dateTime!)))).toEqual(new Set([instantToZoned(p.startsAt, p.timeZone).slice(11)]));
  expect(new Set(instances.map((i) => Date.parse(`${i.end!.dateTime}Z`) - Date.parse(`${i.start!.dateTime}Z`)))).toEqual(new Set([p.endsAt - p.startsAt]));
}

describe('every pattern type, range, all-day events and time zones', () => {
  it('made in the CRM, keep their shape in Exchange', async () => {
    const box = await mailbox();
    const made = new Map<string, string>();
    for (const p of patterns()) {
      const record = await crm.appointments.create(<never>{
        subject: p.name, startsAt: iso(p.startsAt), endsAt: iso(p.endsAt), timeZone: p.timeZone, allDay: p.allDay ?? false,
        organizerAddress: box.address, ownerUserId: box.userId, recurrence: p.recurrence,
      });
      made.set(p.name, record.id);
    }
    await box.sync();
    for (const p of patterns()) {
      const master = box.master(p.name);
      expect({ name: p.name, master: Boolean(master) }).toEqual({ name: p.name, master: true });
      expectOccurrencesInZone(box, master.id!, p);
      const sides = await bothSides(box, master.id!, made.get(p.name)!);
      expect(sides.exchange).toEqual(sides.crm);
      expect(sides.exchange).toMatchObject({ recurrence: p.recurrence, exceptions: [], timeZone: p.timeZone, allDay: p.allDay ?? false });
    }
    await box.settle();
  });

  it('made in Outlook with the tracking category, keep their shape in the CRM', async () => {
    const box = await mailbox();
    for (const p of patterns()) {
      const wall = (at: number) => instantToZoned(at, p.timeZone);
      box.mb.addEvent({
        subject: p.name, categories: [TRACKED], isAllDay: p.allDay ?? false,
        start: { dateTime: wall(p.startsAt), timeZone: p.timeZone }, end: { dateTime: wall(p.endsAt), timeZone: p.timeZone },
        recurrence: { pattern: { firstDayOfWeek: 'sunday', ...p.recurrence.pattern }, range: { recurrenceTimeZone: p.timeZone, ...p.recurrence.range } } as Event['recurrence'],
      });
    }
    await box.sync();
    for (const p of patterns()) {
      const master = box.master(p.name);
      expectOccurrencesInZone(box, master.id!, p);
      const crmId = await crmIdOf(box, master.id!);
      expect(await crm.appointments.get(crmId)).toMatchObject({
        subject: p.name, startsAt: new Date(p.startsAt), endsAt: new Date(p.endsAt), timeZone: p.timeZone, allDay: p.allDay ?? false, recurrence: p.recurrence, exceptions: [],
      });
      const sides = await bothSides(box, master.id!, crmId);
      expect(sides.crm).toEqual(sides.exchange);
    }
    await box.settle();
  });
});

describe('first enable', () => {
  it('links the events already in Exchange to their appointments by iCalUId or by the stamped CRM id: no second copy on either side', async () => {
    const box = await mailbox();
    const base = dayAhead(5);
    const made: string[] = [];
    // Three single appointments and a daily series with its second day cancelled.
    for (let n = 0; n < 4; n++) {
      const startsAt = base + n * dayMs + 9 * 3_600_000;
      const recurrence = n === 3 ? { pattern: { type: 'daily', interval: 1 }, range: { type: 'numbered', startDate: dateOf(startsAt), numberOfOccurrences: 3 } } : undefined;
      const record = await crm.appointments.create(<never>{
        subject: `Visit ${n}`, startsAt: iso(startsAt), endsAt: iso(startsAt + 3_600_000), organizerAddress: box.address, ownerUserId: box.userId, recurrence,
      });
      if (recurrence) await crm.appointments.create(<never>{ seriesMasterId: record.id, originalStart: iso(startsAt + dayMs), startsAt: iso(startsAt + dayMs), endsAt: iso(startsAt + dayMs + 3_600_000), cancelled: true });
      made.push(record.id);
    }
    await box.sync();
    const eventsNow = () => box.mb.listEvents().filter((e) => e.type !== 'occurrence' && e.type !== 'exception');
    const events = eventsNow();
    expect(events).toHaveLength(4);
    expect(box.instances(box.master('Visit 3').id!)).toHaveLength(2);
    // Sync kept each event's iCalUId with its record.
    const uids = await bed.query<{ id: string; ical_uid: string }>(`SELECT id, ical_uid FROM appointments WHERE id = ANY($1)`, [made]);
    expect(new Set(uids.map((u) => u.ical_uid))).toEqual(new Set(events.map((e) => e.iCalUId)));

    // Another appointment whose event reached Exchange otherwise (an invitation): the same iCalUId on both sides.
    const invited = box.mb.addEvent({ subject: 'Invited', start: graphTime(dateOf(base + 5 * dayMs), '11:00:00', 'UTC'), end: graphTime(dateOf(base + 5 * dayMs), '12:00:00', 'UTC') });
    const invitation = await crm.appointments.create(<never>{
      subject: 'Invited', startsAt: iso(base + 5 * dayMs + 11 * 3_600_000), endsAt: iso(base + 5 * dayMs + 12 * 3_600_000),
      organizerAddress: box.address, ownerUserId: box.userId, iCalUId: invited.iCalUId,
    });

    // The mailbox enabled afresh: its links and cursors gone, two events' CRM ids lost (the series', and one tracked by its category).
    await bed.query(`DELETE FROM item_links WHERE mailbox_id = $1`, [box.mailboxId]);
    await bed.query(`DELETE FROM item_cursors WHERE mailbox_id = $1`, [box.mailboxId]);
    for (const event of events.filter((e) => e.subject === 'Visit 0' || e.subject === 'Visit 3')) {
      await box.session.request({
        method: 'PATCH', url: `${box.session.userPath}/events/${event.id}`,
        body: { singleValueExtendedProperties: [{ id: CRM_ITEM_ID_PROPERTY, value: '' }], ...(event.subject === 'Visit 0' ? { categories: [TRACKED] } : {}) },
      });
    }
    const before = fake.requestLog.length;
    const figures = await box.sync();
    expect(figures[0]).toMatchObject({ linked: 5, failed: 0 });
    expect(fake.requestLog.slice(before).filter((e) => e.method === 'POST' && e.url.includes('/events'))).toEqual([]);
    expect(eventsNow()).toHaveLength(5);
    expect(box.instances(box.master('Visit 3').id!)).toHaveLength(2);
    expect(await bed.query(`SELECT count(*)::int AS n FROM appointments WHERE owner_user_id = $1 AND series_master_id IS NULL`, [box.userId])).toEqual([{ n: 5 }]);
    expect(await crmSide(made[3])).toEqual([{ originalStart: iso(base + 3 * dayMs + 9 * 3_600_000 + dayMs), cancelled: true }]);
    const links = await bed.query<{ crm_record_id: string; remote_id: string }>(`SELECT crm_record_id, remote_id FROM item_links WHERE mailbox_id = $1 AND item_type = 'appointment'`, [box.mailboxId]);
    const byUid = new Map(eventsNow().map((e) => [e.id!, e.iCalUId!]));
    const recordUid = new Map([...uids.map((u) => [u.id, u.ical_uid] as const), [invitation.id, invited.iCalUId!] as const]);
    expect(links).toHaveLength(5);
    for (const l of links) expect(byUid.get(l.remote_id)).toBe(recordUid.get(l.crm_record_id));
    // Each event stamped with its record's id again.
    for (const l of links) expect((await box.remote(l.remote_id)).crmId).toBe(l.crm_record_id);
    await box.settle();
  });
});
