import { NewAppointment } from '../../admin/itemSchemas';
import { APPOINTMENT_FIELDS } from '../../crm/itemFields';
import { UsageError } from '../command';
import { yesNo } from '../input';
import { itemCommands, pageOptions } from './itemRecords';

const RENAMED: Record<string, string> = { startsAt: 'start', endsAt: 'end', organizerAddress: 'organizer', ownerUserId: 'owner' };

function recurrence(value: unknown): unknown {
  if (value === undefined) return undefined;
  if (value === '') return null;
  try {
    return JSON.parse(value as string);
  } catch {
    throw new UsageError(`--recurrence: not JSON; give Graph's patternedRecurrence, e.g. '{"pattern":{"type":"weekly","interval":1,"daysOfWeek":["monday"]},"range":{"type":"numbered","startDate":"2026-01-05","numberOfOccurrences":10}}'`);
  }
}

export const appointmentCommands = itemCommands({
  group: 'appointment',
  plural: 'appointments (series, not their exceptions), by start',
  store: async (ctx) => (await ctx.items()).records.appointments,
  schema: NewAppointment,
  fields: APPOINTMENT_FIELDS,
  renamed: RENAMED,
  extra: (forUpdate) => ({
    attendee: { type: 'string', placeholder: 'ADDRESS', multiple: true, description: 'a required attendee (repeat the flag; on update the list replaces the old one)' },
    'optional-attendee': { type: 'string', placeholder: 'ADDRESS', multiple: true, description: 'an optional attendee (repeat the flag)' },
    recurrence: {
      type: 'string',
      placeholder: 'JSON',
      field: 'recurrence',
      description: `a series' pattern and range, as Graph's patternedRecurrence${forUpdate ? ' ("" makes it a single appointment)' : ''}`,
    },
    ...(forUpdate
      ? {}
      : {
          series: { type: 'string', placeholder: 'APPOINTMENT_ID', field: 'seriesMasterId', description: 'makes it an exception of this series' },
          'original-start': { type: 'string', placeholder: 'TIME', field: 'originalStart', description: 'an exception: the start the occurrence had' },
        }),
    cancelled: { type: 'string', placeholder: 'yes|no', field: 'cancelled', description: 'an exception: the occurrence is cancelled' },
  }),
  extraInput: (opts) => {
    const required = (opts.attendee as string[] | undefined) ?? [];
    const optional = (opts['optional-attendee'] as string[] | undefined) ?? [];
    return {
      attendees:
        opts.attendee === undefined && opts['optional-attendee'] === undefined
          ? undefined
          : [...required.map((address) => ({ role: 'required', address })), ...optional.map((address) => ({ role: 'optional', address }))],
      recurrence: recurrence(opts.recurrence),
      seriesMasterId: opts.series,
      originalStart: opts['original-start'],
      cancelled: yesNo(opts.cancelled as string | undefined),
    };
  },
  listOptions: {
    owner: { type: 'string', placeholder: 'USER_ID', description: 'only those this user owns', field: 'ownerUserId' },
    from: { type: 'string', placeholder: 'TIME', description: 'only those ending after this time', field: 'from' },
    to: { type: 'string', placeholder: 'TIME', description: 'only those starting before this time', field: 'to' },
    ...pageOptions,
  },
  listQuery: (o) => ({ ownerUserId: o.owner, from: o.from, to: o.to, limit: o.limit, offset: o.offset }),
});
