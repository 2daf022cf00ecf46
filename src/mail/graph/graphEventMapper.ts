import type { Attendee, Event } from '@microsoft/microsoft-graph-types';
import type { RecurrenceInput } from '../../admin/itemSchemas';
import type { SeriesException } from '../../policy/seriesExceptions';
import type { ItemFields } from '../../sync/items/itemSource';
import { occurrenceStarts, recurrenceFromGraph, recurrenceToGraph } from './graphRecurrence';
import { fromGraphDateTime, ianaZone, toGraphDateTime } from './graphTime';

/**
 * A Graph event <-> the CRM appointment's fields (src/crm/itemFields.ts APPOINTMENT_FIELDS plus
 * attendees, recurrence and exceptions), pure.
 *
 * - Times: instants (ISO, UTC) and the IANA zone the event was written in (originalStartTimeZone);
 *   all-day events are midnight to midnight in that zone.
 * - Organizer: its address and name; which CRM record it is stays the CRM's to resolve.
 * - Attendees: required and optional ones as { role, address, name } (resources are left out).
 * - Status (open, completed, canceled), regarding, owner and state stay in the CRM.
 * - A series carries `recurrence` (the CRM's recurrence JSON) and `exceptions`: its moved or changed
 *   occurrences with their own times, subject, location and body, and its cancelled ones, each by
 *   the start it had in the series.
 */

export const GRAPH_APPOINTMENT_FIELDS = [
  'subject', 'description', 'location', 'startsAt', 'endsAt', 'timeZone', 'allDay', 'showAs', 'priority',
  'organizerAddress', 'organizerName', 'attendees', 'recurrence', 'exceptions',
];

/** The appointment fields an exception (a changed occurrence) has of its own. */
export const EXCEPTION_FIELDS = ['startsAt', 'endsAt', 'subject', 'location', 'description'] as const;


export interface AttendeeFields {
  role: 'required' | 'optional';
  address: string;
  name: string | null;
}

const SHOW_AS = ['free', 'tentative', 'busy', 'oof', 'workingElsewhere'];
const text = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);
const iso = (at: string | number) => new Date(typeof at === 'number' ? at : Date.parse(at)).toISOString();

/** A body as plain text: HTML (when Graph did not convert it) loses its markup. */
function bodyText(body: Event['body']): string | null {
  const content = body?.content ?? '';
  const plain =
    body?.contentType === 'html'
      ? content.replace(/<(br|\/p|\/div)\b[^>]*>/gi, '\n').replace(/<[^>]*>/g, '').replace(/&nbsp;/g, ' ').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&')
      : content;
  return text(plain.replace(/\r\n/g, '\n').trimEnd());
}

export function eventZone(event: Event): string {
  return ianaZone(event.originalStartTimeZone) ?? ianaZone(event.start?.timeZone) ?? 'UTC';
}

export function eventFromGraph(event: Event, exceptions: SeriesException[] = []): ItemFields {
  const zone = eventZone(event);
  const attendees: AttendeeFields[] = (event.attendees ?? [])
    .filter((a) => (a.type === 'required' || a.type === 'optional') && a.emailAddress?.address)
    .map((a) => ({ role: a.type as AttendeeFields['role'], address: a.emailAddress!.address!, name: text(a.emailAddress?.name) }));
  const recurrence = recurrenceFromGraph(event.recurrence, zone);
  return {
    subject: text(event.subject),
    description: bodyText(event.body),
    location: text(event.location?.displayName),
    startsAt: fromGraphDateTime(event.start),
    endsAt: fromGraphDateTime(event.end),
    timeZone: zone,
    allDay: event.isAllDay ?? false,
    showAs: SHOW_AS.includes(event.showAs ?? '') ? event.showAs : 'busy',
    priority: event.importance ?? 'normal',
    organizerAddress: text(event.organizer?.emailAddress?.address),
    organizerName: text(event.organizer?.emailAddress?.name),
    attendees,
    recurrence,
    exceptions: recurrence ? [...exceptions].sort((a, b) => a.originalStart.localeCompare(b.originalStart)) : [],
  };
}

/**
 * The Graph properties that write the given CRM fields. The appointment's time (start, end, zone,
 * all-day) is one Outlook field: `all` (the whole appointment after the change) supplies the parts
 * not given. Exceptions are no property: the source writes them occurrence by occurrence.
 */
export function eventToGraph(fields: ItemFields, all: ItemFields = fields): Event {
  const event: Event = {};
  const has = (field: string) => Object.prototype.hasOwnProperty.call(fields, field);
  const zone = text(all.timeZone) ?? 'UTC';
  if (has('subject')) event.subject = text(fields.subject) ?? '';
  if (has('description')) event.body = { contentType: 'text', content: text(fields.description) ?? '' };
  if (has('location')) event.location = { displayName: text(fields.location) ?? '' };
  if (['startsAt', 'endsAt', 'timeZone', 'allDay'].some(has)) {
    event.start = toGraphDateTime(String(all.startsAt), zone);
    event.end = toGraphDateTime(String(all.endsAt), zone);
    event.isAllDay = all.allDay === true;
  }
  if (has('showAs')) event.showAs = (text(fields.showAs) ?? 'busy') as Event['showAs'];
  if (has('priority')) event.importance = (text(fields.priority) ?? 'normal') as Event['importance'];
  if (has('organizerAddress') || has('organizerName')) {
    event.organizer = text(all.organizerAddress) ? { emailAddress: { address: String(all.organizerAddress), name: text(all.organizerName) ?? String(all.organizerAddress) } } : null;
  }
  if (has('attendees')) {
    event.attendees = ((fields.attendees as AttendeeFields[] | null) ?? []).map(
      (a): Attendee => ({ type: a.role, emailAddress: { address: a.address, ...(a.name ? { name: a.name } : {}) } }),
    );
  }
  if (has('recurrence') || (all.recurrence && ['startsAt', 'timeZone'].some(has))) {
    event.recurrence = all.recurrence ? recurrenceToGraph(all.recurrence as RecurrenceInput, zone) : null;
  }
  return event;
}

/** A moved or changed occurrence as Graph lists it among the series' instances. */
export function exceptionFromGraph(instance: Event): SeriesException {
  return {
    originalStart: iso(instance.originalStart ?? fromGraphDateTime(instance.start)!),
    cancelled: false,
    startsAt: fromGraphDateTime(instance.start)!,
    endsAt: fromGraphDateTime(instance.end)!,
    subject: text(instance.subject),
    location: text(instance.location?.displayName),
    description: bodyText(instance.body),
  };
}

/** What to PATCH on an occurrence to make it this exception. */
export function exceptionToGraph(exception: SeriesException, zone: string, allDay: boolean): Event {
  return eventToGraph(
    Object.fromEntries(EXCEPTION_FIELDS.filter((f) => exception[f] !== undefined).map((f) => [f, exception[f]])),
    { ...exception, timeZone: zone, allDay },
  );
}

/**
 * A series' exceptions from its instances between `from` and `until` (ms): those Graph lists as
 * exceptions, and the occurrences the pattern makes that are not listed at all (cancelled).
 */
export function seriesExceptions(master: Event, instances: Event[], from: number, until: number): SeriesException[] {
  const zone = eventZone(master);
  const recurrence = recurrenceFromGraph(master.recurrence, zone);
  const firstStart = Date.parse(fromGraphDateTime(master.start) ?? '');
  if (!recurrence || Number.isNaN(firstStart)) return [];
  const listed = new Set(instances.map((i) => Date.parse(i.originalStart ?? fromGraphDateTime(i.start) ?? '')));
  const cancelled = occurrenceStarts(recurrence, firstStart, zone, until)
    .filter((at) => at >= from && !listed.has(at))
    .map((at): SeriesException => ({ originalStart: iso(at), cancelled: true }));
  // An exception put back exactly into the series' shape is no exception any more (Graph still types it one).
  const duration = Date.parse(fromGraphDateTime(master.end) ?? '') - firstStart;
  const own = { subject: text(master.subject), location: text(master.location?.displayName), description: bodyText(master.body) };
  const changed = instances
    .filter((i) => i.type === 'exception')
    .map(exceptionFromGraph)
    .filter((e) => {
      const inPlace = e.startsAt === e.originalStart && Date.parse(e.endsAt!) - Date.parse(e.originalStart) === duration;
      return !(inPlace && e.subject === own.subject && e.location === own.location && e.description === own.description);
    });
  return [...changed, ...cancelled].sort((a, b) => a.originalStart.localeCompare(b.originalStart));
}

/** First-enable match key of an event: its iCalUId. */
export function eventMatchKeys(event: Event): string[] {
  return event.iCalUId ? [event.iCalUId] : [];
}
