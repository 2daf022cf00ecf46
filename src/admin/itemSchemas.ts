import { z } from 'zod';
import { APPOINTMENT_FIELDS, CONTACT_FIELDS, ITEM_ENTITIES, TASK_FIELDS, ACTIVITY_STATUSES, type ItemField } from '../crm/itemFields';
import { DIRECTION_ENTITIES, DIRECTIONS } from '../policy/fieldDirections';

/**
 * Inputs of the contact, appointment and task operations and of sync filters and field directions,
 * shared by the HTTP API (strict: a misspelt field is an error) and the CLI. Record fields come from
 * src/crm/itemFields.ts.
 */

const isTimeZone = (zone: string) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
};

function fieldSchema(name: string, f: ItemField): z.ZodType {
  switch (f.type) {
    case 'text':
      if (name === 'fullName') return z.string().min(1).max(200);
      if (name === 'timeZone') return z.string().max(100).refine(isTimeZone, 'expected an IANA time zone such as Europe/Paris');
      return z.string().max(1000);
    case 'longText':
      return z.string().max(100_000);
    case 'email':
      return z.email().max(320);
    case 'date':
      return z.iso.date();
    case 'timestamp':
      return z.iso.datetime({ offset: true });
    case 'boolean':
      return z.boolean();
    case 'integer':
      return name === 'percentComplete' ? z.number().int().min(0).max(100) : z.number().int();
    case 'uuid':
    case 'user':
      return z.uuid();
    case 'enum':
      return z.enum(f.values as [string, ...string[]]);
  }
}

const writable = (fields: Record<string, ItemField>) => Object.entries(fields).filter(([, f]) => !f.readOnly);

/** The create schema of a record's plain fields: required ones required, the rest optional. */
function createShape(fields: Record<string, ItemField>): Record<string, z.ZodType> {
  return Object.fromEntries(
    writable(fields).map(([name, f]) => {
      const s = fieldSchema(name, f);
      return [name, f.description ? (f.required ? s : s.optional()).describe(f.description) : f.required ? s : s.optional()];
    }),
  );
}

/** The patch schema: every field optional; null clears one that may be empty. */
function patchShape(fields: Record<string, ItemField>): Record<string, z.ZodType> {
  return Object.fromEntries(
    writable(fields).map(([name, f]) => {
      const s = fieldSchema(name, f);
      return [name, (f.notNull || f.required ? s : s.nullable()).optional()];
    }),
  );
}

// Contacts --------------------------------------------------------------------------------------------

export const NewContact = z.object(createShape(CONTACT_FIELDS));
export const ContactPatch = z.object(patchShape(CONTACT_FIELDS)).strict();

// Appointments ----------------------------------------------------------------------------------------

export const DAYS_OF_WEEK = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'] as const;

/** Graph's patternedRecurrence: how a series repeats, and until when. */
export const Recurrence = z
  .strictObject({
    pattern: z.strictObject({
      type: z.enum(['daily', 'weekly', 'absoluteMonthly', 'relativeMonthly', 'absoluteYearly', 'relativeYearly']),
      interval: z.number().int().min(1).max(99).describe('Every this many days, weeks, months or years'),
      daysOfWeek: z.array(z.enum(DAYS_OF_WEEK)).min(1).max(7).optional(),
      dayOfMonth: z.number().int().min(1).max(31).optional(),
      month: z.number().int().min(1).max(12).optional(),
      index: z.enum(['first', 'second', 'third', 'fourth', 'last']).optional().describe('relative patterns: which of the days in the month'),
      firstDayOfWeek: z.enum(DAYS_OF_WEEK).optional(),
    }),
    range: z.strictObject({
      type: z.enum(['endDate', 'noEnd', 'numbered']),
      startDate: z.iso.date(),
      endDate: z.iso.date().optional(),
      numberOfOccurrences: z.number().int().min(1).max(999).optional(),
      recurrenceTimeZone: z.string().max(100).refine(isTimeZone, 'expected an IANA time zone').optional(),
    }),
  })
  .superRefine((r, ctx) => {
    const need = (what: boolean, path: string[], message: string) => {
      if (!what) ctx.addIssue({ code: 'custom', path, message });
    };
    const t = r.pattern.type;
    if (t === 'weekly' || t === 'relativeMonthly' || t === 'relativeYearly') need(Boolean(r.pattern.daysOfWeek), ['pattern', 'daysOfWeek'], `a ${t} pattern needs daysOfWeek`);
    if (t === 'absoluteMonthly' || t === 'absoluteYearly') need(r.pattern.dayOfMonth !== undefined, ['pattern', 'dayOfMonth'], `an ${t} pattern needs dayOfMonth`);
    if (t === 'absoluteYearly' || t === 'relativeYearly') need(r.pattern.month !== undefined, ['pattern', 'month'], `a yearly pattern needs month`);
    if (r.range.type === 'endDate') need(r.range.endDate !== undefined, ['range', 'endDate'], 'a range of type endDate needs endDate');
    if (r.range.type === 'numbered') need(r.range.numberOfOccurrences !== undefined, ['range', 'numberOfOccurrences'], 'a numbered range needs numberOfOccurrences');
    if (r.range.endDate !== undefined) need(r.range.endDate >= r.range.startDate, ['range', 'endDate'], 'endDate is before startDate');
  });
export type RecurrenceInput = z.infer<typeof Recurrence>;

export const Attendee = z.strictObject({
  role: z.enum(['required', 'optional']).default('required'),
  address: z.email().max(320),
  name: z.string().max(500).optional(),
});

const appointmentExtras = {
  attendees: z.array(Attendee).max(500).optional().describe('Required and optional attendees, each resolved to a CRM record by address'),
  recurrence: Recurrence.optional().describe("A series' pattern and range (Graph's patternedRecurrence)"),
};

export const NewAppointment = z
  .strictObject({
    ...createShape(APPOINTMENT_FIELDS),
    ...appointmentExtras,
    seriesMasterId: z.uuid().optional().describe('Makes this an exception of that series: one occurrence moved, changed or cancelled'),
    originalStart: z.iso.datetime({ offset: true }).optional().describe('An exception: the start the occurrence had in the series'),
    cancelled: z.boolean().optional().describe('An exception: the occurrence is cancelled'),
  })
  .superRefine((a, ctx) => {
    if (a.seriesMasterId !== undefined && a.originalStart === undefined) {
      ctx.addIssue({ code: 'custom', path: ['originalStart'], message: 'an exception (seriesMasterId) needs the originalStart of its occurrence' });
    }
    if (a.seriesMasterId === undefined && (a.originalStart !== undefined || a.cancelled !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['seriesMasterId'], message: 'originalStart and cancelled belong to an exception: give its seriesMasterId' });
    }
    if (a.seriesMasterId !== undefined && a.recurrence !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['recurrence'], message: 'an exception has no recurrence of its own' });
    }
    const { startsAt, endsAt } = a as Record<string, unknown>;
    if (typeof startsAt === 'string' && typeof endsAt === 'string' && Date.parse(endsAt) < Date.parse(startsAt)) {
      ctx.addIssue({ code: 'custom', path: ['endsAt'], message: 'endsAt is before startsAt' });
    }
  });

export const AppointmentPatch = z
  .object({ ...patchShape(APPOINTMENT_FIELDS), attendees: appointmentExtras.attendees, recurrence: Recurrence.nullable().optional(), cancelled: z.boolean().optional() })
  .strict();

export const AppointmentQuery = z.object({
  ownerUserId: z.uuid().optional().describe('Only those this user owns'),
  from: z.iso.datetime({ offset: true }).optional().describe('Only those ending after this time'),
  to: z.iso.datetime({ offset: true }).optional().describe('Only those starting before this time'),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});

// Tasks -----------------------------------------------------------------------------------------------

export const NewTask = z.object(createShape(TASK_FIELDS));
export const TaskPatch = z.object(patchShape(TASK_FIELDS)).strict();

export const TaskQuery = z.object({
  ownerUserId: z.uuid().optional().describe('Only those this user owns'),
  status: z.enum(ACTIVITY_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});

// Sync filters ----------------------------------------------------------------------------------------

// The rules are checked by src/policy/syncFilters.ts (which names each problem); here only their shape.
const rules = z.record(z.string(), z.unknown()).describe('{ "match": "all" | "any", "conditions": [{ "field", "op", "value" } or nested groups] }');

export const NewSyncFilter = z.object({
  userId: z.uuid().optional().describe("Whose filter it is (a user token: its own user, the default)"),
  entity: z.enum(ITEM_ENTITIES),
  name: z.string().min(1).max(200),
  enabled: z.boolean().default(true),
  rules,
});
export const SyncFilterPatch = z.object({ name: z.string().min(1).max(200), enabled: z.boolean(), rules }).partial().strict();

export const SyncFilterQuery = z.object({
  userId: z.uuid().optional().describe('Only this user\'s (a user token: its own, always)'),
  entity: z.enum(ITEM_ENTITIES).optional(),
});

export const FilterPreviewRequest = z.object({
  userId: z.uuid().optional().describe('Whose "currentUser" the rules mean (a user token: its own user, the default)'),
  entity: z.enum(ITEM_ENTITIES),
  rules,
  limit: z.number().int().min(0).max(1000).default(20).describe('How many of the matching records to show (the count is of all)'),
});

export const PreviewQuery = z.object({ limit: z.coerce.number().int().min(0).max(1000).default(20) });

// Field directions ------------------------------------------------------------------------------------

export const FieldDirectionChange = z.object({
  entity: z.string().min(1).max(100).describe(DIRECTION_ENTITIES.join(' | ')),
  field: z.string().min(1).max(100),
  direction: z.string().min(1).max(100).describe(`${DIRECTIONS.join(' | ')}, or default (back to Dynamics' default)`),
});
