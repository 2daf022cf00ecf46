/**
 * The fields of the CRM records the two-way item sync carries (contacts, appointments, tasks) and
 * their columns in this product's own tables: one table that the record stores, the API schemas, the
 * filter whitelist and the change log's column names all read, so they cannot drift apart.
 */

export const ITEM_ENTITIES = ['contact', 'appointment', 'task'] as const;
export type ItemEntity = (typeof ITEM_ENTITIES)[number];

export const RECORD_STATES = ['active', 'inactive'] as const;
export const ACTIVITY_STATUSES = ['open', 'completed', 'canceled'] as const;
export const PRIORITIES = ['low', 'normal', 'high'] as const;
export const SHOW_AS = ['free', 'tentative', 'busy', 'oof', 'workingElsewhere'] as const;
export const REGARDING_TYPES = ['account', 'contact', 'lead'] as const;
export const PARTY_TYPES = ['user', 'contact', 'lead', 'account', 'queue'] as const;

/**
 * text: one line · longText: notes · email: an address · date: a calendar date (YYYY-MM-DD) ·
 * timestamp: an instant · user: a CRM user's id · uuid: another record's id.
 */
export type FieldType = 'text' | 'longText' | 'email' | 'date' | 'timestamp' | 'boolean' | 'integer' | 'uuid' | 'user' | 'enum';

export interface ItemField {
  column: string;
  type: FieldType;
  values?: readonly string[];
  /** Must be given when a record is created. */
  required?: boolean;
  /** Has a value always (a default): cannot be cleared. */
  notNull?: boolean;
  /** Set by the database, never by a write. */
  readOnly?: boolean;
  /** May appear in a sync filter's conditions. */
  filterable?: boolean;
  description?: string;
}

const text = (column: string, description?: string): ItemField => ({ column, type: 'text', filterable: true, description });
const phone = (column: string) => text(column);

const addressFields = (n: 1 | 2 | 3, what: string): Record<string, ItemField> => ({
  [`address${n}Street`]: text(`address${n}_street`, `${what}: street (lines separated by newlines)`),
  [`address${n}City`]: text(`address${n}_city`),
  [`address${n}State`]: text(`address${n}_state`, 'state or province'),
  [`address${n}PostalCode`]: text(`address${n}_postal_code`),
  [`address${n}Country`]: text(`address${n}_country`),
});

const ownership: Record<string, ItemField> = {
  ownerUserId: { column: 'owner_user_id', type: 'user', filterable: true, description: 'the CRM user who owns it' },
  state: { column: 'state', type: 'enum', values: RECORD_STATES, notNull: true, filterable: true },
};
const timestamps: Record<string, ItemField> = {
  createdAt: { column: 'created_at', type: 'timestamp', readOnly: true, filterable: true },
  modifiedAt: { column: 'modified_at', type: 'timestamp', readOnly: true, filterable: true, description: 'the CRM side of the last change' },
};
const regarding: Record<string, ItemField> = {
  regardingType: { column: 'regarding_type', type: 'enum', values: REGARDING_TYPES, filterable: true, description: 'the kind of record it is about' },
  regardingId: { column: 'regarding_id', type: 'uuid', filterable: true, description: 'the record it is about (with regardingType)' },
};

export const CONTACT_FIELDS: Record<string, ItemField> = {
  fullName: { column: 'full_name', type: 'text', required: true, notNull: true, filterable: true },
  firstName: text('first_name'),
  middleName: text('middle_name'),
  lastName: text('last_name'),
  nickname: text('nickname'),
  yomiFirstName: text('yomi_first_name', 'phonetic first name'),
  yomiLastName: text('yomi_last_name', 'phonetic last name'),
  email: { column: 'email', type: 'email', filterable: true, description: 'email address (sync links messages to it)' },
  email2: { column: 'email2', type: 'email', filterable: true },
  email3: { column: 'email3', type: 'email', filterable: true },
  businessPhone: phone('business_phone'),
  businessPhone2: phone('business_phone2'),
  homePhone: phone('home_phone'),
  homePhone2: phone('home_phone2'),
  mobilePhone: phone('mobile_phone'),
  otherPhone: phone('other_phone'),
  companyPhone: phone('company_phone'),
  callbackPhone: phone('callback_phone'),
  assistantPhone: phone('assistant_phone'),
  fax: phone('fax'),
  pager: phone('pager'),
  assistantName: text('assistant_name'),
  managerName: text('manager_name'),
  spouseName: text('spouse_name'),
  childrenNames: text('children_names'),
  ...addressFields(1, 'mailing (business) address'),
  ...addressFields(2, 'home address'),
  ...addressFields(3, 'other address'),
  companyName: text('company_name'),
  accountId: { column: 'account_id', type: 'uuid', filterable: true, description: 'the account it belongs to' },
  jobTitle: text('job_title'),
  department: text('department'),
  birthday: { column: 'birthday', type: 'date', filterable: true },
  anniversary: { column: 'anniversary', type: 'date', filterable: true },
  website: text('website'),
  ftpSite: text('ftp_site'),
  governmentId: text('government_id'),
  description: { column: 'description', type: 'longText', description: 'notes' },
  ...ownership,
  ...timestamps,
};

export const APPOINTMENT_FIELDS: Record<string, ItemField> = {
  subject: text('subject'),
  description: { column: 'description', type: 'longText', description: 'body (plain text)' },
  location: text('location'),
  startsAt: { column: 'starts_at', type: 'timestamp', required: true, notNull: true, filterable: true },
  endsAt: { column: 'ends_at', type: 'timestamp', required: true, notNull: true, filterable: true },
  timeZone: { column: 'time_zone', type: 'text', notNull: true, filterable: true, description: 'IANA time zone (Europe/Paris); UTC by default' },
  allDay: { column: 'all_day', type: 'boolean', notNull: true, filterable: true },
  showAs: { column: 'show_as', type: 'enum', values: SHOW_AS, notNull: true, filterable: true },
  priority: { column: 'priority', type: 'enum', values: PRIORITIES, notNull: true, filterable: true },
  status: { column: 'status', type: 'enum', values: ACTIVITY_STATUSES, notNull: true, filterable: true },
  organizerAddress: { column: 'organizer_address', type: 'email', filterable: true, description: "the organizer's address (resolved to a CRM record)" },
  organizerName: text('organizer_name'),
  iCalUId: { column: 'ical_uid', type: 'text', description: 'the iCalUId of the Exchange event sync made of it: a first enable links that event by it' },
  ...regarding,
  ...ownership,
  ...timestamps,
};

export const TASK_FIELDS: Record<string, ItemField> = {
  subject: text('subject'),
  description: { column: 'description', type: 'longText', description: 'notes' },
  startsAt: { column: 'starts_at', type: 'timestamp', filterable: true },
  dueAt: { column: 'due_at', type: 'timestamp', filterable: true },
  completedAt: { column: 'completed_at', type: 'timestamp', filterable: true },
  status: { column: 'status', type: 'enum', values: ACTIVITY_STATUSES, notNull: true, filterable: true },
  priority: { column: 'priority', type: 'enum', values: PRIORITIES, notNull: true, filterable: true },
  percentComplete: { column: 'percent_complete', type: 'integer', notNull: true, filterable: true },
  ...regarding,
  ...ownership,
  ...timestamps,
};

export const ITEM_FIELDS: Record<ItemEntity, Record<string, ItemField>> = {
  contact: CONTACT_FIELDS,
  appointment: APPOINTMENT_FIELDS,
  task: TASK_FIELDS,
};

export const ITEM_TABLES: Record<ItemEntity, string> = { contact: 'contacts', appointment: 'appointments', task: 'crm_tasks' };

/** Columns of appointments that are no plain field: each maps to the field the API shows it as. */
const APPOINTMENT_EXTRA_COLUMNS: Record<string, string> = {
  organizer_type: 'organizer',
  organizer_id: 'organizer',
  recurrence: 'recurrence',
  series_master_id: 'seriesMasterId',
  original_start: 'originalStart',
  cancelled: 'cancelled',
  attendees: 'attendees',
};

/** The field names of the columns a change-log entry lists (each once, in order). */
export function fieldsOfColumns(entity: ItemEntity, columns: string[]): string[] {
  const byColumn = new Map(Object.entries(ITEM_FIELDS[entity]).map(([field, spec]) => [spec.column, field]));
  if (entity === 'appointment') for (const [column, field] of Object.entries(APPOINTMENT_EXTRA_COLUMNS)) byColumn.set(column, field);
  return [...new Set(columns.map((c) => byColumn.get(c) ?? c))];
}

/** `column AS "field"` for every field: the select list of a record. */
export function selectList(entity: ItemEntity, alias = 'r'): string {
  return Object.entries(ITEM_FIELDS[entity])
    .map(([field, spec]) => `${alias}.${spec.column} AS "${field}"`)
    .join(', ');
}
