import type { Event } from '@microsoft/microsoft-graph-types';
import { APPOINTMENT_FIELDS } from '../../src/crm/itemFields';
import { GRAPH_APPOINTMENT_FIELDS, eventFromGraph, eventToGraph, seriesExceptions } from '../../src/mail/graph/graphEventMapper';
import { occurrenceStarts, recurrenceFromGraph, recurrenceToGraph } from '../../src/mail/graph/graphRecurrence';
import { fromGraphDateTime, ianaZone, instantToZoned, toGraphDateTime, zonedToInstant } from '../../src/mail/graph/graphTime';
import type { RecurrenceInput } from '../../src/admin/itemSchemas';

/** What Graph answers for an event written with `body`: times in UTC, the zone remembered, defaults filled. */
function asGraphStores(body: Event): Event {
  const utc = (dt: Event['start']) => (dt ? { dateTime: `${fromGraphDateTime(dt)!.slice(0, 19)}.0000000`, timeZone: 'UTC' } : dt);
  const recurrence = body.recurrence && {
    pattern: { dayOfMonth: 0, month: 0, index: 'first' as const, daysOfWeek: [], ...body.recurrence.pattern },
    range: { endDate: '0001-01-01', numberOfOccurrences: 0, ...body.recurrence.range },
  };
  return {
    ...body, start: utc(body.start), end: utc(body.end), originalStartTimeZone: body.start?.timeZone, originalEndTimeZone: body.end?.timeZone,
    recurrence, body: { contentType: 'text', content: body.body?.content ?? '' }, type: body.recurrence ? 'seriesMaster' : 'singleInstance',
  };
}

const meeting = {
  subject: 'Quarterly review', description: 'Agenda:\n1. Numbers', location: 'Room 4', startsAt: '2026-03-10T08:30:00.000Z', endsAt: '2026-03-10T09:30:00.000Z',
  timeZone: 'Europe/Paris', allDay: false, showAs: 'tentative', priority: 'high', organizerAddress: 'owner@contoso.example', organizerName: 'Owner',
  attendees: [{ role: 'required', address: 'ann@fabrikam.example', name: 'Ann' }, { role: 'optional', address: 'bob@fabrikam.example', name: null }],
  recurrence: null, exceptions: [],
};

describe('event mapper', () => {
  it('carries the synced appointment fields but status, regarding, owner and state (and the iCalUId, a match key)', () => {
    const crmOnly = ['status', 'regardingType', 'regardingId', 'ownerUserId', 'state', 'createdAt', 'modifiedAt', 'iCalUId'];
    const expected = [...Object.keys(APPOINTMENT_FIELDS).filter((f) => !crmOnly.includes(f)), 'attendees', 'recurrence', 'exceptions'];
    expect(new Set(GRAPH_APPOINTMENT_FIELDS)).toEqual(new Set(expected));
    expect(new Set(Object.keys(meeting))).toEqual(new Set(GRAPH_APPOINTMENT_FIELDS));
  });

  it.each([
    ['a meeting in Paris with attendees', meeting],
    ['an all-day event in New York', { ...meeting, allDay: true, timeZone: 'America/New_York', startsAt: '2026-07-04T04:00:00.000Z', endsAt: '2026-07-05T04:00:00.000Z', attendees: [] }],
    ['a weekly series in Tokyo', {
      ...meeting, timeZone: 'Asia/Tokyo', recurrence: { pattern: { type: 'weekly', interval: 2, daysOfWeek: ['monday', 'thursday'] }, range: { type: 'endDate', startDate: '2026-03-10', endDate: '2026-06-30' } },
    }],
    ['a relative yearly series by count', {
      ...meeting, recurrence: { pattern: { type: 'relativeYearly', interval: 1, daysOfWeek: ['tuesday'], index: 'second', month: 3 }, range: { type: 'numbered', startDate: '2026-03-10', numberOfOccurrences: 5 } },
    }],
    ['an absolute monthly series without end', {
      ...meeting, recurrence: { pattern: { type: 'absoluteMonthly', interval: 1, dayOfMonth: 10 }, range: { type: 'noEnd', startDate: '2026-03-10' } },
    }],
  ])('%s comes back the same through Graph', (_name, fields) => {
    expect(eventFromGraph(asGraphStores(eventToGraph(fields)))).toEqual(fields);
  });

  it('writes the time in the appointment zone, and the whole time when one part of it changes', () => {
    const body = eventToGraph(meeting);
    expect(body.start).toEqual({ dateTime: '2026-03-10T09:30:00', timeZone: 'Europe/Paris' });
    expect(eventToGraph({ endsAt: '2026-03-10T10:00:00.000Z' }, { ...meeting, endsAt: '2026-03-10T10:00:00.000Z' })).toEqual({
      start: { dateTime: '2026-03-10T09:30:00', timeZone: 'Europe/Paris' }, end: { dateTime: '2026-03-10T11:00:00', timeZone: 'Europe/Paris' }, isAllDay: false,
    });
    expect(eventToGraph({ subject: null })).toEqual({ subject: '' });
  });

  it('finds moved and cancelled occurrences of a series from its instances', () => {
    const master = asGraphStores(eventToGraph({
      ...meeting, recurrence: { pattern: { type: 'weekly', interval: 1, daysOfWeek: ['tuesday'] }, range: { type: 'numbered', startDate: '2026-03-10', numberOfOccurrences: 4 } },
    }));
    const at = (iso: string) => ({ dateTime: iso.slice(0, 19), timeZone: 'UTC' });
    const instances: Event[] = [
      { type: 'occurrence', originalStart: '2026-03-10T08:30:00Z', start: at('2026-03-10T08:30:00Z'), end: at('2026-03-10T09:30:00Z') },
      { type: 'exception', originalStart: '2026-03-17T08:30:00Z', start: at('2026-03-18T13:00:00Z'), end: at('2026-03-18T14:00:00Z'), subject: 'Moved', location: { displayName: 'Room 4' }, body: { contentType: 'text', content: '' } },
      // 2026-03-24 is cancelled: not listed.
      { type: 'occurrence', originalStart: '2026-03-31T07:30:00Z', start: at('2026-03-31T07:30:00Z'), end: at('2026-03-31T08:30:00Z') },
    ];
    expect(seriesExceptions(master, instances, Date.parse('2026-03-01T00:00:00Z'), Date.parse('2027-01-01T00:00:00Z'))).toEqual([
      { originalStart: '2026-03-17T08:30:00.000Z', cancelled: false, startsAt: '2026-03-18T13:00:00.000Z', endsAt: '2026-03-18T14:00:00.000Z', subject: 'Moved', location: 'Room 4', description: null },
      { originalStart: '2026-03-24T08:30:00.000Z', cancelled: true },
    ]);
  });
});

describe('recurrence', () => {
  const weekly: RecurrenceInput = { pattern: { type: 'weekly', interval: 1, daysOfWeek: ['tuesday'] }, range: { type: 'numbered', startDate: '2026-03-10', numberOfOccurrences: 4 } };

  it('keeps occurrences at their wall-clock time across a change to summer time', () => {
    const starts = occurrenceStarts(weekly, Date.parse('2026-03-10T08:30:00Z'), 'Europe/Paris', Infinity).map((at) => new Date(at).toISOString());
    expect(starts).toEqual(['2026-03-10T08:30:00.000Z', '2026-03-17T08:30:00.000Z', '2026-03-24T08:30:00.000Z', '2026-03-31T07:30:00.000Z']);
  });

  it.each([
    ['daily every 3 days', { pattern: { type: 'daily', interval: 3 }, range: { type: 'endDate', startDate: '2026-01-01', endDate: '2026-01-10' } }, ['2026-01-01', '2026-01-04', '2026-01-07', '2026-01-10']],
    ['the last friday monthly', { pattern: { type: 'relativeMonthly', interval: 1, daysOfWeek: ['friday'], index: 'last' }, range: { type: 'numbered', startDate: '2026-01-01', numberOfOccurrences: 3 } }, ['2026-01-30', '2026-02-27', '2026-03-27']],
    ['the 31st, skipping short months', { pattern: { type: 'absoluteMonthly', interval: 1, dayOfMonth: 31 }, range: { type: 'numbered', startDate: '2026-01-01', numberOfOccurrences: 3 } }, ['2026-01-31', '2026-03-31', '2026-05-31']],
    ['yearly on 29 February: leap years only', { pattern: { type: 'absoluteYearly', interval: 1, dayOfMonth: 29, month: 2 }, range: { type: 'numbered', startDate: '2024-02-29', numberOfOccurrences: 2 } }, ['2024-02-29', '2028-02-29']],
  ] as Array<[string, RecurrenceInput, string[]]>)('%s', (_name, recurrence, dates) => {
    const first = Date.parse(`${recurrence.range.startDate}T10:00:00Z`);
    expect(occurrenceStarts(recurrence, first, 'UTC', Date.parse('2030-01-01T00:00:00Z')).map((at) => new Date(at).toISOString().slice(0, 10))).toEqual(dates);
  });

  it('drops the properties Graph fills in but the pattern does not use, and the zone when it is the appointment zone', () => {
    const graph = recurrenceToGraph(weekly, 'Europe/Paris');
    expect(graph.range?.recurrenceTimeZone).toBe('Europe/Paris');
    const filled = { pattern: { ...graph.pattern, dayOfMonth: 0, month: 0, index: 'first' as const }, range: { ...graph.range, endDate: '0001-01-01', numberOfOccurrences: 4 } };
    expect(recurrenceFromGraph(filled, 'Europe/Paris')).toEqual(weekly);
    expect(recurrenceFromGraph(filled, 'UTC')).toEqual({ ...weekly, range: { ...weekly.range, recurrenceTimeZone: 'Europe/Paris' } });
  });
});

describe('Graph times', () => {
  it('reads IANA and Windows zone names, and converts wall-clock times both ways around daylight saving time', () => {
    expect(ianaZone('Pacific Standard Time')).toBe('America/Los_Angeles');
    expect(ianaZone('Europe/Paris')).toBe('Europe/Paris');
    expect(ianaZone('Not A Zone')).toBeNull();
    expect(new Date(zonedToInstant('2026-03-29T03:30:00', 'Europe/Paris')).toISOString()).toBe('2026-03-29T01:30:00.000Z');
    expect(instantToZoned(Date.parse('2026-10-25T00:30:00Z'), 'Europe/Paris')).toBe('2026-10-25T02:30:00');
    expect(fromGraphDateTime({ dateTime: '2026-06-01T09:00:00.0000000', timeZone: 'Eastern Standard Time' })).toBe('2026-06-01T13:00:00.000Z');
    expect(toGraphDateTime('2026-06-01T13:00:00.000Z', 'America/New_York')).toEqual({ dateTime: '2026-06-01T09:00:00', timeZone: 'America/New_York' });
  });
});
