/**
 * Which way each synced field of each entity flows between the CRM and the mailbox: Dynamics'
 * "synchronized fields" (dynamics-sss.md §1.1, 1.2, 1.4, 1.5). A field is one Outlook field; it may
 * bundle several CRM fields (an appointment's time is its start, end, time zone and all-day flag).
 * Fixed fields keep their default; the others take any direction the organisation sets. A one-way
 * field is overwritten from its owning side; `none` is not synced at all.
 */

export const DIRECTIONS = ['two_way', 'crm_to_exchange', 'exchange_to_crm', 'none'] as const;
export type Direction = (typeof DIRECTIONS)[number];

/** A recurring appointment's series is its own entity here as in Dynamics: it fixes more of its fields. */
export const DIRECTION_ENTITIES = ['contact', 'appointment', 'recurringAppointment', 'task'] as const;
export type DirectionEntity = (typeof DIRECTION_ENTITIES)[number];

export interface SyncedField {
  /** What Outlook calls it. */
  outlook: string;
  /** The CRM record fields it carries (src/crm/itemFields.ts names, plus attendees, organizer, recurrence). */
  crmFields: string[];
  default: Direction;
  /** The only direction it may have: Dynamics does not let it change. */
  fixed: boolean;
  note?: string;
}

const settable = (outlook: string, crmFields: string[], note?: string): SyncedField => ({ outlook, crmFields, default: 'two_way', fixed: false, note });
const fixed = (outlook: string, crmFields: string[], note?: string): SyncedField => ({ outlook, crmFields, default: 'two_way', fixed: true, note });
const address = (n: number) => [`address${n}Street`, `address${n}City`, `address${n}State`, `address${n}PostalCode`, `address${n}Country`];

export const FIELD_DIRECTIONS: Record<DirectionEntity, Record<string, SyncedField>> = {
  // §1.1
  appointment: {
    time: fixed('Appointment Time', ['startsAt', 'endsAt', 'timeZone', 'allDay'], 'start, end, duration and the all-day flag together'),
    attachments: {
      outlook: 'Attachments',
      crmFields: [],
      default: 'none',
      fixed: true,
      note: 'Dynamics computes it: two-way only when the organisation syncs appointment attachments; not synced here yet',
    },
    description: settable('Body', ['description'], 'Outlook bodies may hold images and links; the CRM keeps plain text'),
    priority: fixed('Importance', ['priority']),
    location: settable('Location', ['location']),
    optionalAttendees: fixed('Optional Attendees', ['attendees']),
    organizer: fixed('Organizer', ['organizerAddress', 'organizerName', 'organizer']),
    regarding: fixed('Regarding', ['regardingType', 'regardingId']),
    requiredAttendees: fixed('Required Attendees', ['attendees']),
    showAs: fixed('Show Time As', ['showAs']),
    subject: settable('Subject', ['subject']),
  },
  // §1.2
  recurringAppointment: {
    description: settable('Body', ['description']),
    priority: fixed('Importance', ['priority']),
    location: settable('Location', ['location']),
    optionalAttendees: fixed('Optional Attendees', ['attendees']),
    requiredAttendees: fixed('Required Attendees', ['attendees']),
    organizer: fixed('Organizer', ['organizerAddress', 'organizerName', 'organizer']),
    recurrence: fixed('Recurrence Pattern', ['recurrence', 'startsAt', 'endsAt', 'timeZone', 'allDay'], 'the pattern, its range and the times of an occurrence'),
    regarding: fixed('Regarding', ['regardingType', 'regardingId']),
    showAs: fixed('Show Time As', ['showAs']),
    subject: settable('Subject', ['subject']),
  },
  // §1.4
  contact: {
    anniversary: settable('Anniversary', ['anniversary']),
    assistantName: settable("Assistant's Name", ['assistantName']),
    assistantPhone: settable("Assistant's Phone", ['assistantPhone']),
    birthday: settable('Birthday', ['birthday']),
    fax: settable('Business Fax', ['fax']),
    businessPhone: settable('Business Phone', ['businessPhone']),
    businessPhone2: settable('Business Phone 2', ['businessPhone2']),
    callbackPhone: settable('Callback', ['callbackPhone']),
    childrenNames: settable('Children', ['childrenNames']),
    companyPhone: settable('Company Main Phone', ['companyPhone']),
    department: settable('Department', ['department']),
    email: settable('E-mail', ['email']),
    email2: settable('E-mail 2', ['email2']),
    email3: settable('E-mail 3', ['email3']),
    ftpSite: settable('FTP Site', ['ftpSite']),
    fullName: fixed('Full Name', ['fullName', 'firstName', 'middleName', 'lastName']),
    governmentId: settable('Government ID Number', ['governmentId']),
    homePhone: settable('Home Phone', ['homePhone']),
    homePhone2: settable('Home Phone 2', ['homePhone2']),
    jobTitle: settable('Job Title', ['jobTitle']),
    address1: settable('Mailing (Business) Address', address(1)),
    managerName: settable("Manager's Name", ['managerName']),
    mobilePhone: settable('Mobile', ['mobilePhone']),
    nickname: settable('Nickname', ['nickname']),
    description: settable('Notes', ['description'], 'Outlook notes may be rich text; the CRM keeps plain text'),
    address3: settable('Other Address', address(3), 'Dynamics syncs it only when the organisation syncs all three addresses'),
    otherPhone: settable('Other Phone', ['otherPhone']),
    pager: settable('Pager', ['pager']),
    companyName: fixed('Company (Parent, Regarding)', ['companyName', 'accountId']),
    spouseName: settable('Spouse/Partner', ['spouseName']),
    website: settable('Web Page', ['website']),
    yomiFirstName: settable('Yomi First Name', ['yomiFirstName']),
    yomiLastName: settable('Yomi Last Name', ['yomiLastName']),
    address2: settable('Home Address', address(2), 'Dynamics syncs it only when the organisation syncs all three addresses'),
  },
  // §1.5
  task: {
    percentComplete: settable('% Complete', ['percentComplete']),
    completedAt: settable('Date Completed', ['completedAt']),
    dueAt: settable('Due Date', ['dueAt']),
    priority: fixed('Importance', ['priority']),
    description: settable('Notes', ['description']),
    regarding: fixed('Regarding', ['regardingType', 'regardingId']),
    startsAt: settable('Start Date', ['startsAt']),
    status: fixed('Status', ['status']),
    subject: settable('Subject', ['subject']),
  },
};

/** An organisation's change to a field's default. */
export interface DirectionOverride {
  entity: string;
  field: string;
  direction: string;
}

export interface EffectiveDirection extends SyncedField {
  entity: DirectionEntity;
  field: string;
  direction: Direction;
  /** The directions an admin may pick for it. */
  allowed: Direction[];
}

export const allowedDirections = (f: SyncedField): Direction[] => (f.fixed ? [f.default] : [...DIRECTIONS]);

/**
 * Every synced field with the direction in force: the default, or the organisation's override. An
 * override of a field that is fixed or no longer exists is ignored (the table is the authority).
 */
export function effectiveDirections(overrides: DirectionOverride[]): EffectiveDirection[] {
  const byKey = new Map(overrides.map((o) => [`${o.entity}.${o.field}`, o.direction]));
  return DIRECTION_ENTITIES.flatMap((entity) =>
    Object.entries(FIELD_DIRECTIONS[entity]).map(([field, spec]) => {
      const override = byKey.get(`${entity}.${field}`);
      const allowed = allowedDirections(spec);
      const direction = override && allowed.includes(override as Direction) ? (override as Direction) : spec.default;
      return { entity, field, ...spec, direction, allowed };
    }),
  );
}

export type DirectionCheck = { ok: true; entity: DirectionEntity; field: string; direction: Direction } | { ok: false; problem: string };

/**
 * Whether an admin may set this field of this entity to this direction (`default`: back to Dynamics'
 * default, always allowed for a known field); the problem names what is allowed.
 */
export function checkDirectionChange(entity: string, field: string, direction: string): DirectionCheck {
  if (!(DIRECTION_ENTITIES as readonly string[]).includes(entity)) {
    return { ok: false, problem: `Unknown entity "${entity}": one of ${DIRECTION_ENTITIES.join(', ')}` };
  }
  const fields = FIELD_DIRECTIONS[entity as DirectionEntity];
  if (!Object.hasOwn(fields, field)) {
    return { ok: false, problem: `${entity} has no synced field "${field}": one of ${Object.keys(fields).join(', ')}` };
  }
  const spec = fields[field];
  const allowed = allowedDirections(spec);
  if (direction === 'default') return { ok: true, entity: entity as DirectionEntity, field, direction: spec.default };
  if (!(DIRECTIONS as readonly string[]).includes(direction)) {
    return { ok: false, problem: `Unknown direction "${direction}" for ${entity}.${field}: allowed ${allowed.join(', ')}, or default` };
  }
  if (!allowed.includes(direction as Direction)) {
    return { ok: false, problem: `${entity}.${field} (${spec.outlook}) is fixed at ${spec.default} (Dynamics does not let it change): allowed ${allowed.join(', ')}` };
  }
  return { ok: true, entity: entity as DirectionEntity, field, direction: direction as Direction };
}

/** Whether a change of this field on one side is written to the other. */
export function flowsTo(direction: Direction, to: 'crm' | 'exchange'): boolean {
  if (direction === 'two_way') return true;
  return to === 'exchange' ? direction === 'crm_to_exchange' : direction === 'exchange_to_crm';
}
