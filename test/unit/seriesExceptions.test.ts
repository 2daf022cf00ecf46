import { mergeItem, normalize } from '../../src/policy/itemMerge';
import { crmExceptions, exceptionWrites, mergeExceptions, normalizeExceptions } from '../../src/policy/seriesExceptions';

const series = {
  id: '00000000-0000-4000-8000-000000000001',
  startsAt: '2026-12-07T08:00:00.000Z',
  endsAt: '2026-12-07T08:30:00.000Z',
  timeZone: 'Europe/Paris',
  allDay: false,
  subject: 'Weekly',
  location: 'Room 1',
  description: null,
};
const moved = {
  originalStart: '2026-12-14T08:00:00.000Z', cancelled: false, startsAt: '2026-12-15T08:00:00.000Z', endsAt: '2026-12-15T08:30:00.000Z',
  subject: 'Weekly (moved)', location: 'Room 1', description: null,
};
const cancelled = { originalStart: '2026-12-21T08:00:00.000Z', cancelled: true };
const row = (id: string, values: object) => ({ id, subject: null, location: null, description: null, cancelled: false, ...values }) as never;

describe("a series' exceptions compared", () => {
  it('one per original start, in order, instants in UTC, a cancelled one only as such, empty text as none', () => {
    expect(
      normalizeExceptions([
        { originalStart: '2026-12-21T09:00:00+01:00', cancelled: true, startsAt: '2026-12-21T08:00:00Z', subject: 'ignored' },
        { ...moved, originalStart: '2026-12-14T09:00:00+01:00', description: '' },
      ]),
    ).toEqual([moved, cancelled]);
  });

  it('compares equal however each side ordered or wrote them (normalize of the field)', () => {
    const a = normalize([cancelled, moved], 'exceptions');
    const b = normalize([{ ...moved, startsAt: '2026-12-15T09:00:00+01:00' }, { ...cancelled, originalStart: new Date(cancelled.originalStart) }], 'exceptions');
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
  });

  it("reads CRM rows with the series' subject, location and body where a row has none of its own", () => {
    const rows = [
      row('b', { originalStart: new Date(cancelled.originalStart), cancelled: true, startsAt: new Date(cancelled.originalStart), endsAt: new Date('2026-12-21T08:30:00Z') }),
      row('a', { originalStart: new Date(moved.originalStart), startsAt: new Date(moved.startsAt), endsAt: new Date(moved.endsAt), subject: 'Weekly (moved)' }),
    ];
    expect(crmExceptions(series, rows)).toEqual([{ ...moved, id: 'a' }, { ...cancelled, id: 'b' }]);
  });
});

describe('CRM writes of exceptions', () => {
  it('creates a row per new exception, a cancelled one with its original times, in the series zone', () => {
    expect(exceptionWrites(series, [], [moved, cancelled])).toEqual([
      {
        entity: 'appointment', operation: 'create',
        values: { seriesMasterId: series.id, originalStart: moved.originalStart, timeZone: 'Europe/Paris', allDay: false, cancelled: false, startsAt: moved.startsAt, endsAt: moved.endsAt, subject: 'Weekly (moved)', location: 'Room 1' },
      },
      {
        entity: 'appointment', operation: 'create',
        values: { seriesMasterId: series.id, originalStart: cancelled.originalStart, timeZone: 'Europe/Paris', allDay: false, startsAt: cancelled.originalStart, endsAt: '2026-12-21T08:30:00.000Z', cancelled: true },
      },
    ]);
  });

  it('writes nothing for rows that say it already, updates the changed, deletes those no longer wanted', () => {
    const current = [{ ...moved, id: 'a' }, { ...cancelled, id: 'b' }, { ...moved, originalStart: '2026-12-28T08:00:00.000Z', id: 'c' }];
    const third = { originalStart: '2026-12-28T08:00:00.000Z', cancelled: true };
    expect(exceptionWrites(series, current, [moved, cancelled])).toEqual([{ entity: 'appointment', operation: 'delete', id: 'c' }]);
    expect(exceptionWrites(series, current, [{ ...moved, subject: 'Moved again' }, cancelled, third])).toEqual([
      { entity: 'appointment', operation: 'update', id: 'a', values: { cancelled: false, startsAt: moved.startsAt, endsAt: moved.endsAt, subject: 'Moved again', location: 'Room 1', description: null } },
      { entity: 'appointment', operation: 'update', id: 'c', values: { cancelled: true } },
    ]);
  });
});

describe('exceptions changed on both sides', () => {
  const third = { originalStart: '2026-12-28T08:00:00.000Z', cancelled: true };
  const fourth = { ...moved, originalStart: '2027-01-04T08:00:00.000Z', startsAt: '2027-01-05T08:00:00.000Z', endsAt: '2027-01-05T08:30:00.000Z' };

  it('merge occurrence by occurrence: a move in the CRM and a cancellation in Outlook both survive, no conflict', () => {
    expect(mergeExceptions([moved, fourth], [moved], [moved, third], [moved], false)).toEqual({ merged: [moved, third, fourth], conflict: false });
  });

  it('a removal on one side is a change of that occurrence too', () => {
    expect(mergeExceptions([third], [moved, third], [moved, third, fourth], [moved, third], true)).toEqual({ merged: [third, fourth], conflict: false });
  });

  it('the same occurrence changed differently on both sides is a conflict the rule decides', () => {
    const inCrm = { ...moved, subject: 'CRM' };
    expect(mergeExceptions([inCrm], [moved], [cancelled, { ...moved, subject: 'Outlook' }], [moved], true)).toEqual({ merged: [inCrm, cancelled], conflict: true });
    expect(mergeExceptions([inCrm], [moved], [{ ...moved, subject: 'Outlook' }], [moved], false).merged).toEqual([{ ...moved, subject: 'Outlook' }]);
  });

  it('mergeItem merges the exceptions field this way, and writes the result to each side that lacks it', () => {
    const fields = [{ field: 'exceptions', crmFields: ['exceptions'], direction: 'two_way' as const }];
    const at = new Date('2026-12-01T00:00:00Z');
    expect(mergeItem({ fields, crm: { exceptions: [moved, fourth] }, crmBase: { exceptions: [moved] }, remote: { exceptions: [moved, third] }, remoteBase: { exceptions: [moved] }, rule: 'later_wins', crmModifiedAt: at, remoteModifiedAt: at })).toEqual({
      toCrm: { exceptions: [moved, third, fourth] },
      toRemote: { exceptions: [moved, third, fourth] },
      conflicts: [],
    });
  });
});
