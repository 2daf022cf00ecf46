import { z } from 'zod';
import { APPOINTMENT_FIELDS, CONTACT_FIELDS, ITEM_ENTITIES, TASK_FIELDS, type ItemField } from '../crm/itemFields';
import { DIRECTION_ENTITIES, DIRECTIONS } from '../policy/fieldDirections';

// Responses of the contact, appointment, task, sync filter and field direction routes, from the
// field table (src/crm/itemFields.ts) so they show every field the records have.

function responseField(f: ItemField): z.ZodType {
  let s: z.ZodType;
  switch (f.type) {
    case 'timestamp':
      s = z.date();
      break;
    case 'boolean':
      s = z.boolean();
      break;
    case 'integer':
      s = z.number().int();
      break;
    case 'uuid':
    case 'user':
      s = z.uuid();
      break;
    case 'date':
      s = z.string().describe('YYYY-MM-DD');
      break;
    case 'enum':
      s = z.string().describe(f.values!.join(' | '));
      break;
    default:
      s = z.string();
  }
  const described = f.description ? s.describe(f.description) : s;
  return f.notNull || f.required || f.readOnly ? described : described.nullable();
}

const recordShape = (fields: Record<string, ItemField>) => ({
  id: z.uuid(),
  ...Object.fromEntries(Object.entries(fields).map(([name, f]) => [name, responseField(f)])),
});

export const ContactResponse = z.object(recordShape(CONTACT_FIELDS));

const RecordRefResponse = z.object({ type: z.string(), id: z.uuid() });

export const AppointmentResponse = z.object({
  ...recordShape(APPOINTMENT_FIELDS),
  organizer: RecordRefResponse.nullable().describe('The CRM record the organizer address resolved to'),
  attendees: z.array(
    z.object({
      role: z.string().describe('required | optional'),
      address: z.string(),
      name: z.string().nullable(),
      record: RecordRefResponse.nullable().describe('The CRM record the address resolved to'),
    }),
  ),
  recurrence: z.record(z.string(), z.unknown()).nullable().describe("A series' pattern and range (Graph's patternedRecurrence)"),
  seriesMasterId: z.uuid().nullable().describe('An exception: its series'),
  originalStart: z.date().nullable().describe('An exception: the start its occurrence had'),
  cancelled: z.boolean().describe('An exception: the occurrence is cancelled'),
  exceptions: z.array(z.object({ id: z.uuid(), originalStart: z.date(), cancelled: z.boolean() })).describe("A series' exceptions"),
});

export const TaskResponse = z.object(recordShape(TASK_FIELDS));

export const SyncFilterResponse = z.object({
  id: z.uuid(),
  userId: z.uuid(),
  entity: z.string().describe(ITEM_ENTITIES.join(' | ')),
  name: z.string(),
  enabled: z.boolean(),
  rules: z.record(z.string(), z.unknown()),
  isDefault: z.boolean().describe("One of Dynamics' defaults, created with the user"),
  createdAt: z.date(),
  modifiedAt: z.date(),
});

export const FilterPreviewResponse = z.object({
  count: z.number().int().describe('How many records match now'),
  records: z.array(z.object({ id: z.uuid(), label: z.string(), detail: z.string().nullable() })).describe('The first of them, most recently changed first'),
});

export const FieldDirectionResponse = z.object({
  entity: z.string().describe(DIRECTION_ENTITIES.join(' | ')),
  field: z.string(),
  outlook: z.string().describe('What Outlook calls it'),
  crmFields: z.array(z.string()).describe('The CRM record fields it carries'),
  direction: z.string().describe(DIRECTIONS.join(' | ')),
  default: z.string(),
  fixed: z.boolean().describe('Dynamics does not let it change'),
  allowed: z.array(z.string()),
  note: z.string().optional(),
});
