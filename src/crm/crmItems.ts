import type { PoolClient } from 'pg';
import type { z } from 'zod';
import type { AppointmentPatch, AppointmentQuery, NewAppointment, NewTask, RecurrenceInput, TaskPatch, TaskQuery } from '../admin/itemSchemas';
import type { ItemEntity } from './itemFields';

export type { ItemEntity };

/**
 * The CRM side of the two-way item sync (contacts, appointments, tasks), as the engine sees it: the
 * records, what changed since a change-log cursor, which records a user's sync filters cover, and
 * writes from sync marked with their origin, in one transaction with whatever the caller stores.
 * An interface, so a CRM with another schema can plug in; PgCrmItems implements it over this
 * product's own tables. Records are in the API's field names (src/crm/itemFields.ts).
 */
export interface CrmItems {
  /** People's CRUD of appointments and tasks (contacts: CrmRecords.contacts); written with origin 'crm'. */
  readonly appointments: ItemStore<Appointment, typeof NewAppointment, typeof AppointmentPatch, typeof AppointmentQuery>;
  readonly tasks: ItemStore<Task, typeof NewTask, typeof TaskPatch, typeof TaskQuery>;

  /** The records with these ids that exist (any order). */
  read(entity: ItemEntity, ids: string[]): Promise<ItemRecord[]>;

  /**
   * Changes after `cursor` (null: from the beginning), oldest first, at most `limit`. Entries whose
   * origin is `skipOrigin` (the reader's own writes) are left out, but the returned cursor moves past
   * them. Only changes of finished transactions are returned, in an order that never lets a later read
   * find one before the cursor: pass the returned cursor next time.
   */
  changesSince(cursor: string | null, options?: { limit?: number; skipOrigin?: string }): Promise<ChangePage>;

  /** A cursor after every change finished by now: where a mailbox that has just read everything starts. */
  currentCursor(): Promise<string>;

  /**
   * The ids of the entity's records the user's enabled filters cover now (their union; none enabled:
   * none). With `among`, only those of these ids.
   */
  matchingIds(userId: string, entity: ItemEntity, among?: string[]): Promise<string[]>;

  /** What rules match now for a user (one filter's, or several as their union): how many, and the first `limit`. */
  preview(userId: string, entity: ItemEntity, rulesOfEachFilter: unknown[], limit: number): Promise<{ count: number; records: RecordSummary[] }>;

  /**
   * Applies writes from sync in one transaction whose changes are logged with `origin` (such as
   * `mailbox:<id>`), then runs `alongside` in the same transaction (links, cursors): all or nothing.
   * Returns each written record as it is now (null for a delete).
   */
  apply<T = void>(origin: string, writes: ItemWrite[], alongside?: (db: PoolClient, records: (ItemRecord | null)[]) => Promise<T>): Promise<{ records: (ItemRecord | null)[]; result: T | undefined }>;
}

/** A record in a line, for previews: a contact's name and address, an activity's subject and time. */
export interface RecordSummary {
  id: string;
  label: string;
  detail: string | null;
}

export interface ItemStore<View, New extends z.ZodType, Patch extends z.ZodType, Query extends z.ZodType> {
  create(input: z.input<New>): Promise<View>;
  list(query: z.input<Query>): Promise<View[]>;
  get(id: string): Promise<View>;
  update(id: string, patch: z.input<Patch>): Promise<View>;
  delete(id: string): Promise<void>;
}

export type ItemWrite =
  | { entity: ItemEntity; operation: 'create'; id?: string; values: Record<string, unknown> }
  | { entity: ItemEntity; operation: 'update'; id: string; values: Record<string, unknown> }
  | { entity: ItemEntity; operation: 'delete'; id: string };

export interface ItemChange {
  /** Its place in the change log. */
  position: string;
  entity: ItemEntity;
  recordId: string;
  operation: 'insert' | 'update' | 'delete';
  /** The fields written (API names; an insert: those given a value; `attendees` for attendee changes). */
  changedFields: string[];
  /** The owner before and after: a reassignment shows both. */
  ownerBefore: string | null;
  ownerAfter: string | null;
  /** The CRM users whose mailboxes it may concern (owners, organizer, attendees, past and present). */
  userIds: string[];
  /** 'crm', or the origin sync set for its own write. */
  origin: string;
  changedAt: Date;
}

export interface ChangePage {
  changes: ItemChange[];
  /** Pass to the next changesSince. */
  cursor: string;
  /** More changes are waiting past this page. */
  more: boolean;
}

export type ItemRecord = ({ entity: 'contact' } & ContactItem) | ({ entity: 'appointment' } & Appointment) | ({ entity: 'task' } & Task);

interface Owned {
  id: string;
  ownerUserId: string | null;
  state: 'active' | 'inactive';
  createdAt: Date;
  modifiedAt: Date;
}

/** A contact with every synced field (null: empty). */
export interface ContactItem extends Owned {
  fullName: string;
  email: string | null;
  [field: string]: unknown;
}

export interface RecordRef {
  type: string;
  id: string;
}

export interface AppointmentAttendee {
  role: 'required' | 'optional';
  address: string;
  name: string | null;
  /** The CRM record the address resolved to. */
  record: RecordRef | null;
}

export interface Appointment extends Owned {
  subject: string | null;
  description: string | null;
  location: string | null;
  startsAt: Date;
  endsAt: Date;
  timeZone: string;
  allDay: boolean;
  showAs: string;
  priority: string;
  status: string;
  organizerAddress: string | null;
  organizerName: string | null;
  /** The CRM record the organizer's address resolved to. */
  organizer: RecordRef | null;
  regardingType: string | null;
  regardingId: string | null;
  attendees: AppointmentAttendee[];
  recurrence: RecurrenceInput | null;
  /** An exception: its series, the start its occurrence had, and whether it is cancelled. */
  seriesMasterId: string | null;
  originalStart: Date | null;
  cancelled: boolean;
  /** A series: its exceptions. */
  exceptions: { id: string; originalStart: Date; cancelled: boolean }[];
}

export interface Task extends Owned {
  subject: string | null;
  description: string | null;
  startsAt: Date | null;
  dueAt: Date | null;
  completedAt: Date | null;
  status: string;
  priority: string;
  percentComplete: number;
  regardingType: string | null;
  regardingId: string | null;
}
