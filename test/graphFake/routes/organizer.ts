import { GraphFault, empty, faults, json, opaque, preference, randomUUID } from '../http';
import { permissionSets, type FakeCore, type FakeUser, type RouteContext } from '../core';
import { eventTime, overlapsWindow, parseCommonDeltaOptions, queryValue, type DeltaOptions } from '../delta';
import { parseSelect, render } from '../render';
import type { Container, ItemKind, ItemRecord, Mailbox } from '../state';
import { pageOf } from './mailFolders';

/** Contacts, calendar events and To Do lists/tasks: CRUD and delta on the shared delta engine. */

export function requireContactFolder(mailbox: Mailbox, key: string): Container {
  const direct = mailbox.contactFolders.get(key);
  if (direct) return direct;
  const found = [...mailbox.contactFolders.values()].find((f) => f.wellKnownName === key.toLowerCase() || f.displayName === key);
  if (!found) throw faults.notFound();
  return found;
}

export function contactData(input: Record<string, unknown>, full = true): Record<string, unknown> {
  const { id: _id, changeKey: _ck, parentFolderId: _p, singleValueExtendedProperties: _s, ...rest } = input;
  void _id; void _ck; void _p; void _s;
  if (!full) return rest;
  const displayName = rest.displayName ?? [rest.givenName, rest.surname].filter(Boolean).join(' ');
  return {
    givenName: null, surname: null, middleName: null, emailAddresses: [], businessPhones: [], homePhones: [], mobilePhone: null,
    companyName: null, jobTitle: null, department: null, categories: [], businessAddress: {}, homeAddress: {}, otherAddress: {},
    personalNotes: '', ...rest, displayName,
  };
}

/** The instant of a wall-clock time in an IANA zone (Windows zone names are not modelled: read as UTC). */
function wallClockInstant(dateTime: string, timeZone: string): number {
  const asUtc = Date.parse(`${dateTime.replace(/(\.\d{3})\d*$/, '$1')}Z`);
  let format: Intl.DateTimeFormat;
  try {
    format = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
  } catch {
    return asUtc;
  }
  const offsetAt = (at: number) => {
    const parts = Object.fromEntries(format.formatToParts(new Date(at)).map((p) => [p.type, Number(p.value)]));
    return Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second) - Math.floor(at / 1000) * 1000;
  };
  return asUtc - offsetAt(asUtc - offsetAt(asUtc));
}

/** Graph's calendar date-time text: seven fractional digits, no zone letter, timeZone UTC. */
function normalizeDateTime(value: unknown): unknown {
  const dt = value as { dateTime?: string; timeZone?: string } | undefined;
  if (!dt?.dateTime) return value;
  const zoned = dt.timeZone && dt.timeZone !== 'UTC' && !/[zZ]|[+-]\d\d:\d\d$/.test(dt.dateTime);
  const at = zoned ? wallClockInstant(dt.dateTime, dt.timeZone!) : eventTime(dt);
  if (Number.isNaN(at)) throw faults.badRequest(`Invalid date-time '${dt.dateTime}'.`, 'ErrorInvalidRequest');
  return { dateTime: new Date(at).toISOString().replace(/\.(\d{3})Z$/, '.$10000'), timeZone: 'UTC' };
}

export function eventData(input: Record<string, unknown>, owner: FakeUser, full = true): Record<string, unknown> {
  const { id: _id, changeKey: _ck, singleValueExtendedProperties: _s, ...rest } = input;
  void _id; void _ck; void _s;
  // Graph answers in UTC but remembers the zone the times were written in.
  const zoneOf = (value: unknown) => (value as { timeZone?: string } | undefined)?.timeZone;
  if (zoneOf(rest.start)) rest.originalStartTimeZone = zoneOf(rest.start);
  if (zoneOf(rest.end)) rest.originalEndTimeZone = zoneOf(rest.end);
  if (rest.start) rest.start = normalizeDateTime(rest.start);
  if (rest.end) rest.end = normalizeDateTime(rest.end);
  if (!full) return rest;
  if (!rest.start || !rest.end) throw faults.badRequest('An event needs start and end.', 'ErrorInvalidRequest');
  return {
    subject: '', bodyPreview: '', body: { contentType: 'html', content: '' }, importance: 'normal', sensitivity: 'normal', isAllDay: false,
    isCancelled: false, isOrganizer: true, showAs: 'busy', type: 'singleInstance', seriesMasterId: null, recurrence: null,
    reminderMinutesBeforeStart: 15, categories: [], attendees: [], location: { displayName: '' }, locations: [],
    iCalUId: `040000008200E00074C5B7101A82E008${opaque(24).toUpperCase()}`, originalStartTimeZone: 'UTC', originalEndTimeZone: 'UTC',
    responseStatus: { response: 'organizer', time: '0001-01-01T00:00:00Z' },
    organizer: { emailAddress: { name: owner.displayName, address: owner.mail } },
    webLink: `https://outlook.office365.com/owa/?itemid=${opaque(20)}&exvsurl=1&path=/calendar/item`,
    ...rest,
  };
}

const dayMs = 24 * 3600 * 1000;
const weekDays = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
const indexes = ['first', 'second', 'third', 'fourth', 'last'];
/** Series are expanded at most this many occurrences, and over at most this many years: enough for any test window. */
const maxOccurrences = 400;
const maxYears = 12;

interface Recurrence {
  pattern?: { type?: string; interval?: number; daysOfWeek?: string[]; dayOfMonth?: number; month?: number; index?: string; firstDayOfWeek?: string };
  range?: { type?: string; startDate?: string; endDate?: string; numberOfOccurrences?: number; recurrenceTimeZone?: string };
}

/** The wall-clock date and time (`YYYY-MM-DD`, `HH:mm:ss`) of an instant in an IANA zone (UTC when the zone is unknown). */
function wallClock(at: number, timeZone: string): { date: string; time: string } {
  const local = at + (at - wallClockInstant(new Date(at).toISOString().slice(0, 19), timeZone));
  const text = new Date(Number.isNaN(local) ? at : local).toISOString();
  return { date: text.slice(0, 10), time: text.slice(11, 19) };
}

/** Whether a pattern's weekday is the index-th (first ... last) of the pattern's weekdays in the day's month (relative patterns). */
function isIndexedDay(pattern: NonNullable<Recurrence['pattern']>, day: Date): boolean {
  const days = (pattern.daysOfWeek ?? []).map((d) => d.toLowerCase());
  const hits: number[] = [];
  for (let d = new Date(Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), 1)); d.getUTCMonth() === day.getUTCMonth(); d = new Date(d.getTime() + dayMs)) {
    if (days.includes(weekDays[d.getUTCDay()])) hits.push(d.getUTCDate());
  }
  const index = indexes.indexOf((pattern.index ?? 'first').toLowerCase());
  return (index === 4 ? hits[hits.length - 1] : hits[index]) === day.getUTCDate();
}

/**
 * Start times of a series (the six pattern types of graph.md §8.3; endDate, numbered or noEnd ranges):
 * each on a date the pattern gives, at the first start's wall-clock time in the series' time zone
 * (the range's recurrenceTimeZone, else the zone the start was written in), so daylight saving time
 * moves no occurrence. Intervals count from the range's start date; the first start is the earliest.
 */
function occurrenceStarts(firstStart: number, recurrence: Recurrence, writtenIn: string): number[] {
  const pattern = recurrence.pattern ?? {};
  const interval = Math.max(1, pattern.interval ?? 1);
  const type = pattern.type ?? 'daily';
  if (!['daily', 'weekly', 'absoluteMonthly', 'relativeMonthly', 'absoluteYearly', 'relativeYearly'].includes(type)) {
    throw faults.badRequest(`Unknown recurrence pattern type '${type}'.`, 'ErrorInvalidRequest');
  }
  const zone = recurrence.range?.recurrenceTimeZone ?? writtenIn;
  const first = wallClock(firstStart, zone);
  const startDate = Date.parse(`${recurrence.range?.startDate ?? first.date}T00:00:00Z`);
  const start = new Date(startDate);
  const rangeEnd = recurrence.range?.type === 'endDate' && recurrence.range.endDate ? Date.parse(`${recurrence.range.endDate}T00:00:00Z`) : Infinity;
  const count = Math.min(recurrence.range?.type === 'numbered' ? recurrence.range.numberOfOccurrences ?? 1 : maxOccurrences, maxOccurrences);
  const firstDayOfWeek = Math.max(0, weekDays.indexOf((pattern.firstDayOfWeek ?? 'sunday').toLowerCase()));
  const weekOf = (day: number) => day - ((new Date(day).getUTCDay() - firstDayOfWeek + 7) % 7) * dayMs;
  const days = (pattern.daysOfWeek ?? [weekDays[start.getUTCDay()]]).map((d) => d.toLowerCase());
  const starts: number[] = [];
  for (let day = startDate; starts.length < count && day <= rangeEnd && day < startDate + maxYears * 366 * dayMs; day += dayMs) {
    const date = new Date(day);
    const months = (date.getUTCFullYear() - start.getUTCFullYear()) * 12 + date.getUTCMonth() - start.getUTCMonth();
    const inMonth = pattern.month === undefined || date.getUTCMonth() + 1 === pattern.month;
    let hit: boolean;
    if (type === 'daily') hit = Math.round((day - startDate) / dayMs) % interval === 0;
    else if (type === 'weekly') hit = Math.round((weekOf(day) - weekOf(startDate)) / (7 * dayMs)) % interval === 0 && days.includes(weekDays[date.getUTCDay()]);
    else if (type === 'absoluteMonthly') hit = months % interval === 0 && date.getUTCDate() === (pattern.dayOfMonth ?? start.getUTCDate());
    else if (type === 'relativeMonthly') hit = months % interval === 0 && isIndexedDay(pattern, date);
    else if (type === 'absoluteYearly') hit = inMonth && months % (12 * interval) === 0 && date.getUTCDate() === (pattern.dayOfMonth ?? start.getUTCDate());
    else hit = inMonth && (date.getUTCFullYear() - start.getUTCFullYear()) % interval === 0 && isIndexedDay(pattern, date);
    if (!hit) continue;
    const at = wallClockInstant(`${date.toISOString().slice(0, 10)}T${first.time}`, zone);
    if (at >= firstStart) starts.push(at);
  }
  return starts;
}

function graphDateTime(at: number): { dateTime: string; timeZone: string } {
  return { dateTime: new Date(at).toISOString().replace(/\.(\d{3})Z$/, '.$10000'), timeZone: 'UTC' };
}

/**
 * A series master gets one record per occurrence (type occurrence, seriesMasterId), replaced when the
 * master changes; calendar views list occurrences, delta lists them trimmed (graph.md §2.4).
 */
export function expandSeries(core: FakeCore, master: ItemRecord): void {
  const calendar = master.container;
  const recurrence = master.data.recurrence as Recurrence | null | undefined;
  const live = Boolean(recurrence) && calendar.items.has(master.core);
  const starts = live ? occurrenceStarts(eventTime(master.data.start), recurrence!, String(master.data.originalStartTimeZone ?? 'UTC')) : [];
  // Exceptions (moved or changed occurrences) and cancellations of occurrences the series still has survive.
  const exceptions = new Map<number, ItemRecord>();
  for (const record of [...calendar.items.values()]) {
    if (record.data.seriesMasterId !== master.core) continue;
    const original = Date.parse(String(record.data.originalStart));
    if (record.data.type === 'exception' && starts.includes(original)) exceptions.set(original, record);
    else if (record.data.type === 'occurrence' || record.data.type === 'exception') core.store.remove(record);
  }
  if (!live) return;
  master.data.type = 'seriesMaster';
  const duration = eventTime(master.data.end) - eventTime(master.data.start);
  const { id: _id, recurrence: _r, type: _t, ...shared } = master.data;
  void _id; void _r; void _t;
  for (const at of starts) {
    if (exceptions.has(at) || master.cancelledStarts?.has(at)) continue;
    core.store.insert(calendar, {
      ...shared, type: 'occurrence', seriesMasterId: master.core, recurrence: null, originalStart: new Date(at).toISOString().replace('.000Z', 'Z'),
      // Each instance has an iCalUId of its own (graph.md §8.3).
      iCalUId: `${String(master.data.iCalUId)}${at.toString(16).toUpperCase()}`,
      start: graphDateTime(at), end: graphDateTime(at + duration),
    });
  }
}

/** An occurrence changed or cancelled changes its series too (Exchange keeps exceptions in the master). */
function touchMaster(core: FakeCore, instance: ItemRecord, cancelled: boolean): void {
  const master = instance.container.items.get(String(instance.data.seriesMasterId));
  if (!master) return;
  if (cancelled) (master.cancelledStarts ??= new Set()).add(Date.parse(String(instance.data.originalStart)));
  core.store.touch(master);
}

/** An event changed (through Graph or the fake's mailbox API): a changed occurrence becomes an exception; a changed master re-expands its series. */
export function changeEvent(core: FakeCore, record: ItemRecord, patch: Record<string, unknown>): void {
  if (record.data.type === 'occurrence') patch.type = 'exception';
  core.store.touch(record, patch);
  if (record.data.type === 'exception') touchMaster(core, record, false);
  if (record.data.type === 'seriesMaster' || record.data.recurrence) expandSeries(core, record);
}

/** An event deleted: a master takes its instances with it; a deleted occurrence is a cancelled one of its series. */
export function removeEvent(core: FakeCore, record: ItemRecord): void {
  core.store.remove(record);
  if (record.data.type === 'seriesMaster') expandSeries(core, record);
  if (record.data.type === 'occurrence' || record.data.type === 'exception') touchMaster(core, record, true);
}

function truncateDue(value: unknown): unknown {
  const dt = value as { dateTime?: string } | undefined;
  if (!dt?.dateTime) return value;
  // To Do keeps only the date of dueDateTime (graph.md §8.4).
  return { dateTime: `${dt.dateTime.slice(0, 10)}T00:00:00.0000000`, timeZone: 'UTC' };
}

export function taskData(input: Record<string, unknown>, full = true): Record<string, unknown> {
  const { id: _id, linkedResources: _l, extensions: _e, ...rest } = input;
  void _id; void _l; void _e;
  if (rest.dueDateTime) rest.dueDateTime = truncateDue(rest.dueDateTime);
  if (rest.status === 'completed' && !rest.completedDateTime) rest.completedDateTime = { dateTime: new Date().toISOString().replace('Z', '0000'), timeZone: 'UTC' };
  if (!full) return rest;
  if (typeof rest.title !== 'string') throw faults.badRequest('A task needs a title.', 'invalidRequest');
  return { importance: 'normal', isReminderOn: false, status: 'notStarted', categories: [], hasAttachments: false, body: { content: '', contentType: 'text' }, ...rest };
}

function linkedResource(input: Record<string, unknown>): Record<string, unknown> {
  return { id: randomUUID(), webUrl: null, applicationName: null, displayName: null, externalId: null, ...input };
}

function renderItem(context: RouteContext, record: ItemRecord): Record<string, unknown> {
  return render(record, {
    select: parseSelect(queryValue(context.request.query, '$select')),
    expand: queryValue(context.request.query, '$expand'),
    immutableIds: context.immutableIds,
    bodyAsText: preference(context.request.headers, 'outlook.body-content-type')?.toLowerCase() === 'text',
  });
}

function requireItem(core: FakeCore, mailbox: Mailbox, id: string, kind: ItemKind, container?: Container): ItemRecord {
  const record = core.store.findRecord(mailbox, id, kind);
  if (!record || (container && record.container !== container)) throw faults.notFound();
  return record;
}

function checkIfMatch(context: RouteContext, record: ItemRecord): void {
  const ifMatch = context.request.headers['if-match'];
  if (ifMatch && ifMatch !== '*' && ifMatch.replace(/^W\//, '').replace(/"/g, '') !== record.changeKey) throw faults.staleChangeKey();
}

export function applyExtendedProperties(record: ItemRecord, input: unknown): void {
  if (!Array.isArray(input)) return;
  for (const p of input as Array<{ id: string; value: string }>) record.extendedProperties.set(p.id, String(p.value));
}

function calendarWindow(query: URLSearchParams): DeltaOptions['window'] {
  const startText = queryValue(query, 'startDateTime');
  const endText = queryValue(query, 'endDateTime');
  if (!startText || !endText) {
    throw faults.badRequest('This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.', 'ErrorInvalidParameter');
  }
  const parse = (text: string) => Date.parse(/[zZ]|[+-]\d\d:\d\d$/.test(text) ? text : `${text}Z`);
  const start = parse(startText);
  const end = parse(endText);
  if (Number.isNaN(start) || Number.isNaN(end)) throw faults.badRequest('StartDateTime and EndDateTime must be ISO 8601 date-times.', 'ErrorInvalidParameter');
  return { start, end, startText, endText };
}

export function registerOrganizerRoutes(core: FakeCore): void {
  const p = permissionSets;

  // Contacts.
  const listContacts = (c: RouteContext, folder: Container) => pageOf(c, [...folder.items.values()].map((r) => renderItem(c, r)));
  const createContact = (c: RouteContext, folder: Container) => {
    const body = (c.request.body ?? {}) as Record<string, unknown>;
    const record = core.store.insert(folder, contactData(body));
    applyExtendedProperties(record, body.singleValueExtendedProperties);
    return json(201, render(record, { immutableIds: c.immutableIds }));
  };
  core.route('GET', '/users/:user/contactFolders', p.contactsRead, (c) =>
    pageOf(c, [...c.mailbox.contactFolders.values()].filter((f) => !f.wellKnownName).map((f) => ({ id: f.id, displayName: f.displayName, parentFolderId: f.parentFolderId }))));
  core.route('POST', '/users/:user/contactFolders', p.contactsWrite, (c) => {
    const name = (c.request.body as { displayName?: string } | undefined)?.displayName;
    if (!name) throw faults.badRequest('displayName is required.', 'ErrorInvalidRequest');
    const folder = core.store.addContainer(c.mailbox, 'contact', name);
    return json(201, { id: folder.id, displayName: folder.displayName, parentFolderId: folder.parentFolderId });
  });
  // The default folder answers to its well-known name too.
  core.route('GET', '/users/:user/contactFolders/:folder', p.contactsRead, (c) => {
    const folder = requireContactFolder(c.mailbox, c.params.folder);
    return json(200, { id: folder.id, displayName: folder.displayName, parentFolderId: folder.parentFolderId });
  });
  core.route('GET', '/users/:user/contactFolders/:folder/contacts/delta', p.contactsRead, (c) => {
    const folder = requireContactFolder(c.mailbox, c.params.folder);
    return core.delta.serve(c.request, folder, `/users/${c.user.id}/contactFolders('${folder.id}')/contacts/delta`, (q) => parseCommonDeltaOptions(q, false));
  });
  core.route('GET', '/users/:user/contacts', p.contactsRead, (c) => listContacts(c, requireContactFolder(c.mailbox, 'contacts')));
  core.route('POST', '/users/:user/contacts', p.contactsWrite, (c) => createContact(c, requireContactFolder(c.mailbox, 'contacts')));
  core.route('GET', '/users/:user/contactFolders/:folder/contacts', p.contactsRead, (c) => listContacts(c, requireContactFolder(c.mailbox, c.params.folder)));
  core.route('POST', '/users/:user/contactFolders/:folder/contacts', p.contactsWrite, (c) => createContact(c, requireContactFolder(c.mailbox, c.params.folder)));

  // Events.
  core.route('GET', '/users/:user/calendar', p.calendarsRead, (c) =>
    json(200, { id: c.mailbox.calendar.id, name: c.mailbox.calendar.displayName, isDefaultCalendar: true, canEdit: true }));
  core.route('GET', '/users/:user/calendarView/delta', p.calendarsRead, (c) =>
    core.delta.serve(c.request, c.mailbox.calendar, `/users/${c.user.id}/calendarView/delta`, (q) => {
      for (const option of ['$select', '$filter', '$orderby', '$expand']) {
        if (queryValue(q, option) !== undefined) throw faults.badRequest(`${option} is not supported on calendarView/delta.`, 'ErrorInvalidUrlQuery');
      }
      return { newestFirst: false, window: calendarWindow(q) };
    }));
  core.route('GET', '/users/:user/calendarView', p.calendarsRead, (c) => {
    const window = calendarWindow(c.request.query)!;
    // A calendar view lists single instances, occurrences and exceptions, not series masters.
    const inside = [...c.mailbox.calendar.items.values()].filter((r) => r.data.type !== 'seriesMaster' && overlapsWindow(r, window));
    inside.sort((a, b) => eventTime(a.data.start) - eventTime(b.data.start));
    return pageOf(c, inside.map((r) => renderItem(c, r)));
  });
  core.route('GET', '/users/:user/events/:id/instances', p.calendarsRead, (c) => {
    const window = calendarWindow(c.request.query)!;
    const master = requireItem(core, c.mailbox, c.params.id, 'event');
    const inside = [...c.mailbox.calendar.items.values()].filter((r) => r.data.seriesMasterId === master.core && overlapsWindow(r, window));
    inside.sort((a, b) => eventTime(a.data.start) - eventTime(b.data.start));
    return pageOf(c, inside.map((r) => renderItem(c, r)));
  });
  core.route('GET', '/users/:user/events', p.calendarsRead, (c) => pageOf(c, [...c.mailbox.calendar.items.values()].map((r) => renderItem(c, r))));
  core.route('POST', '/users/:user/events', p.calendarsWrite, (c) => {
    const body = (c.request.body ?? {}) as Record<string, unknown>;
    const record = core.store.insert(c.mailbox.calendar, eventData(body, c.user));
    applyExtendedProperties(record, body.singleValueExtendedProperties);
    if (record.data.recurrence) expandSeries(core, record);
    return json(201, render(record, { immutableIds: c.immutableIds }));
  });

  // Items addressed by id (contacts, events).
  for (const [segment, kind, read, write, data] of [
    ['contacts', 'contact', p.contactsRead, p.contactsWrite, (b: Record<string, unknown>) => contactData(b, false)],
    ['events', 'event', p.calendarsRead, p.calendarsWrite, (b: Record<string, unknown>, u: FakeUser) => eventData(b, u, false)],
  ] as const) {
    core.route('GET', `/users/:user/${segment}/:id`, read, (c) => json(200, renderItem(c, requireItem(core, c.mailbox, c.params.id, kind))));
    core.route('PATCH', `/users/:user/${segment}/:id`, write, (c) => {
      const record = requireItem(core, c.mailbox, c.params.id, kind);
      checkIfMatch(c, record);
      const body = (c.request.body ?? {}) as Record<string, unknown>;
      applyExtendedProperties(record, body.singleValueExtendedProperties);
      const patch = data(body, c.user);
      if (kind === 'event') changeEvent(core, record, patch);
      else core.store.touch(record, patch);
      return json(200, render(record, { immutableIds: c.immutableIds }));
    });
    core.route('DELETE', `/users/:user/${segment}/:id`, write, (c) => {
      const record = requireItem(core, c.mailbox, c.params.id, kind);
      checkIfMatch(c, record);
      if (kind === 'event') removeEvent(core, record);
      else core.store.remove(record);
      return empty(204);
    });
  }

  // To Do.
  const requireList = (c: RouteContext): Container => {
    const list = c.mailbox.taskLists.get(c.params.list);
    if (!list) throw new GraphFault(404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
    return list;
  };
  core.route('GET', '/users/:user/todo/lists/delta', p.tasksRead, (c) =>
    core.delta.serve(c.request, c.mailbox.todoLists, `/users/${c.user.id}/todo/lists/delta`, (q) => parseCommonDeltaOptions(q, false)));
  core.route('GET', '/users/:user/todo/lists', p.tasksRead, (c) => pageOf(c, [...c.mailbox.todoLists.items.values()].map((r) => renderItem(c, r)), 100));
  core.route('POST', '/users/:user/todo/lists', p.tasksWrite, (c) => {
    const name = (c.request.body as { displayName?: string } | undefined)?.displayName;
    if (!name) throw faults.badRequest('displayName is required.', 'invalidRequest');
    return json(201, render(core.store.addTaskList(c.mailbox, name).listRecord!, { immutableIds: true }));
  });
  core.route('GET', '/users/:user/todo/lists/:list', p.tasksRead, (c) => json(200, renderItem(c, requireList(c).listRecord!)));
  core.route('PATCH', '/users/:user/todo/lists/:list', p.tasksWrite, (c) => {
    const list = requireList(c);
    core.store.touch(list.listRecord!, { displayName: (c.request.body as { displayName?: string }).displayName ?? list.displayName });
    return json(200, render(list.listRecord!, { immutableIds: true }));
  });
  core.route('DELETE', '/users/:user/todo/lists/:list', p.tasksWrite, (c) => {
    const list = requireList(c);
    for (const task of [...list.items.values()]) core.store.remove(task);
    core.store.remove(list.listRecord!);
    c.mailbox.taskLists.delete(list.id);
    return empty(204);
  });
  core.route('GET', '/users/:user/todo/lists/:list/tasks/delta', p.tasksRead, (c) => {
    const list = requireList(c);
    return core.delta.serve(c.request, list, `/users/${c.user.id}/todo/lists/${list.id}/tasks/delta`, (q) => parseCommonDeltaOptions(q, false));
  });
  core.route('GET', '/users/:user/todo/lists/:list/tasks', p.tasksRead, (c) => pageOf(c, [...requireList(c).items.values()].map((r) => renderItem(c, r))));
  core.route('POST', '/users/:user/todo/lists/:list/tasks', p.tasksWrite, (c) => {
    const body = (c.request.body ?? {}) as Record<string, unknown>;
    const record = core.store.insert(requireList(c), taskData(body));
    record.linkedResources = Array.isArray(body.linkedResources) ? (body.linkedResources as Array<Record<string, unknown>>).map(linkedResource) : [];
    const out = render(record, { immutableIds: true });
    if (record.linkedResources.length) out.linkedResources = record.linkedResources;
    return json(201, out);
  });
  const task = (c: RouteContext) => requireItem(core, c.mailbox, c.params.id, 'todoTask', requireList(c));
  core.route('GET', '/users/:user/todo/lists/:list/tasks/:id', p.tasksRead, (c) => json(200, renderItem(c, task(c))));
  core.route('PATCH', '/users/:user/todo/lists/:list/tasks/:id', p.tasksWrite, (c) => {
    const record = task(c);
    // To Do returns ETags (graph.md §3); If-Match on them is undocumented: the fake honours it as Outlook items do.
    checkIfMatch(c, record);
    core.store.touch(record, taskData((c.request.body ?? {}) as Record<string, unknown>, false));
    return json(200, render(record, { immutableIds: true }));
  });
  core.route('DELETE', '/users/:user/todo/lists/:list/tasks/:id', p.tasksWrite, (c) => {
    core.store.remove(task(c));
    return empty(204);
  });
  core.route('GET', '/users/:user/todo/lists/:list/tasks/:id/linkedResources', p.tasksRead, (c) => pageOf(c, task(c).linkedResources ?? []));
  core.route('POST', '/users/:user/todo/lists/:list/tasks/:id/linkedResources', p.tasksWrite, (c) => {
    const record = task(c);
    const resource = linkedResource((c.request.body ?? {}) as Record<string, unknown>);
    record.linkedResources = [...(record.linkedResources ?? []), resource];
    core.store.touch(record);
    return json(201, resource);
  });
  core.route('DELETE', '/users/:user/todo/lists/:list/tasks/:id/linkedResources/:resource', p.tasksWrite, (c) => {
    const record = task(c);
    const before = record.linkedResources?.length ?? 0;
    record.linkedResources = (record.linkedResources ?? []).filter((r) => r.id !== c.params.resource);
    if (record.linkedResources.length === before) throw faults.notFound();
    core.store.touch(record);
    return empty(204);
  });
  core.route('POST', '/users/:user/todo/lists/:list/tasks/:id/extensions', p.tasksWrite, (c) => {
    const record = task(c);
    const body = (c.request.body ?? {}) as Record<string, unknown>;
    if (typeof body.extensionName !== 'string') throw faults.badRequest('extensionName is required.', 'invalidRequest');
    const extension = { '@odata.type': 'microsoft.graph.openTypeExtension', ...body, id: body.extensionName };
    record.extensions.set(body.extensionName, extension);
    core.store.touch(record);
    return json(201, extension);
  });
  core.route('GET', '/users/:user/todo/lists/:list/tasks/:id/extensions/:name', p.tasksRead, (c) => {
    const extension = task(c).extensions.get(c.params.name);
    if (!extension) throw faults.notFound();
    return json(200, extension);
  });
}
