import type { ItemEntity } from '../crm/itemFields';
import { flowsTo, type Direction } from './fieldDirections';
import { mergeExceptions, normalizeExceptions } from './seriesExceptions';

/**
 * The two-way item engine's pure rules: the per-field three-way merge between a CRM record and its
 * mail-server copy, deletes per entity, what a filter change does, and category tracking. Values
 * are compared in their JSON form (an instant as its ISO string, an empty string as empty).
 */

export type ConflictRule = 'later_wins' | 'crm_wins';
export type Values = Record<string, unknown>;

/** One synced field (an Outlook field, possibly several CRM fields) and the direction in force. */
export interface MergeField {
  field: string;
  crmFields: string[];
  direction: Direction;
}

export interface MergeInput {
  fields: MergeField[];
  /** The record now, and what it held at the last sync (null: never synced, a first link). */
  crm: Values;
  crmBase: Values | null;
  /** The mail-server item now (only the fields the provider carries), and at the last sync. */
  remote: Values;
  remoteBase: Values | null;
  rule: ConflictRule;
  /** When each side last changed: later_wins compares them. */
  crmModifiedAt: Date;
  remoteModifiedAt: Date;
}

export interface MergeResult {
  /** Values to write to the CRM record (CRM field names). */
  toCrm: Values;
  /** Values to write to the mail-server item (CRM field names). */
  toRemote: Values;
  /** Outlook fields changed on both sides to different values: the information alert names them. */
  conflicts: string[];
}

const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * A value as it is compared and stored in a snapshot: an instant as its ISO string in UTC, however
 * written; an empty string as empty; attendees as role, lower-cased address and name, in order
 * (the CRM's resolved record is its own, not the mail server's); a series' exceptions as
 * src/policy/seriesExceptions.ts compares them.
 */
export function normalize(value: unknown, field?: string): unknown {
  if (value === undefined || value === '') return null;
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'string' && INSTANT.test(value)) return new Date(value).toISOString();
  if (field === 'attendees' && Array.isArray(value)) {
    return value
      .map((a: { role?: unknown; address?: unknown; name?: unknown }) => ({ role: a.role, address: String(a.address ?? '').toLowerCase(), name: normalize(a.name) }))
      .sort((a, b) => `${a.role} ${a.address}`.localeCompare(`${b.role} ${b.address}`));
  }
  if (field === 'exceptions' && Array.isArray(value)) return normalizeExceptions(value);
  if (value !== null && typeof value === 'object') return JSON.parse(JSON.stringify(value));
  return value;
}

const same = (a: unknown, b: unknown, field: string) => JSON.stringify(normalize(a, field)) === JSON.stringify(normalize(b, field));

/** Only the CRM fields of `fields`, normalized: what a link stores as one side's snapshot. */
export function snapshot(values: Values, fields: MergeField[], carried?: ReadonlySet<string>): Values {
  const out: Values = {};
  for (const f of fields) {
    if (f.direction === 'none') continue;
    for (const name of f.crmFields) if (!carried || carried.has(name)) out[name] = normalize(values[name], name);
  }
  return out;
}

/**
 * A field changed on both sides: the CRM's value stays under crm_wins, or under later_wins when the
 * record changed in a later second than the item (Graph gives whole seconds: a tie goes to the item).
 */
function crmPrevails(input: Pick<MergeInput, 'rule' | 'crmModifiedAt' | 'remoteModifiedAt'>): boolean {
  const seconds = (d: Date) => Math.floor(d.getTime() / 1000);
  return input.rule === 'crm_wins' || seconds(input.crmModifiedAt) > seconds(input.remoteModifiedAt);
}

/**
 * Per synced field: changed on one side only -> that side's value goes to the other; changed on
 * both to different values -> the rule (later_wins: the side modified later; crm_wins) and the field
 * is named as a conflict; changed on neither yet different -> the item's form. A one-way field is
 * overwritten from its owning side when the two differ and either side changed it since the last
 * sync (or on a first link), and never written to that side. A
 * field the provider does not carry is left alone. On a first link (no snapshots) the CRM's value
 * wins, except that an empty CRM field takes the item's value.
 */
export function mergeItem(input: MergeInput): MergeResult {
  const result: MergeResult = { toCrm: {}, toRemote: {}, conflicts: [] };
  for (const f of input.fields) {
    if (f.direction === 'none') continue;
    const names = f.crmFields.filter((n) => Object.hasOwn(input.remote, n));
    if (names.length === 0) continue;
    const differs = names.some((n) => !same(input.crm[n], input.remote[n], n));
    if (!differs) continue;
    const crmWins = () => names.forEach((n) => (result.toRemote[n] = normalize(input.crm[n], n)));
    const remoteWins = () => names.forEach((n) => (result.toCrm[n] = normalize(input.remote[n], n)));
    const toRemote = flowsTo(f.direction, 'exchange');
    const toCrm = flowsTo(f.direction, 'crm');
    const firstLink = input.crmBase === null || input.remoteBase === null;
    const crmChanged = !firstLink && names.some((n) => !same(input.crm[n], input.crmBase![n], n));
    const remoteChanged = !firstLink && names.some((n) => !same(input.remote[n], input.remoteBase![n], n));
    if (!toCrm || !toRemote) {
      // Overwritten once either side changes it: an item tracked with its own value keeps it until then.
      if (firstLink || crmChanged || remoteChanged) (toCrm ? remoteWins : crmWins)();
      continue;
    }
    if (firstLink) {
      if (names.every((n) => normalize(input.crm[n], n) === null)) remoteWins();
      else crmWins();
      continue;
    }
    if (crmChanged && !remoteChanged) crmWins();
    else if (remoteChanged && !crmChanged) remoteWins();
    else if (f.crmFields.length === 1 && f.crmFields[0] === 'exceptions') {
      // A series' exceptions changed on both sides: merged occurrence by occurrence.
      const asList = (v: unknown) => (Array.isArray(v) ? v : []);
      const crmFirst = crmPrevails(input);
      const { merged, conflict } = mergeExceptions(asList(input.crm.exceptions), asList(input.crmBase!.exceptions), asList(input.remote.exceptions), asList(input.remoteBase!.exceptions), crmFirst);
      if (conflict) result.conflicts.push(f.field);
      if (!same(merged, input.crm.exceptions, 'exceptions')) result.toCrm.exceptions = merged;
      if (!same(merged, input.remote.exceptions, 'exceptions')) result.toRemote.exceptions = merged;
    } else if (!crmChanged) {
      // Neither changed, yet they differ: the mail server keeps its own form of the value (a time
      // zone left out, a list reordered); taking it settles, writing ours again would repeat forever.
      remoteWins();
    } else {
      result.conflicts.push(f.field);
      if (crmPrevails(input)) crmWins();
      else remoteWins();
    }
  }
  return result;
}

/** What happens to the other side's copy. */
export type DeleteAction = 'delete' | 'unlink';

/**
 * Deletes per entity and direction (dynamics-sss.md §6.2, §6.3), each an organisation setting:
 * 'dynamics' (the default) follows Dynamics' rule below, 'delete' always deletes the other side's
 * copy, 'unlink' always keeps it, unlinked.
 * - contact, CRM -> Exchange: deleted in Exchange only when the syncing user is not the record's owner
 *   (the owner keeps an unlinked copy).
 * - contact, Exchange -> CRM: deletes the CRM record only when the syncing user owns it.
 * - task, CRM -> Exchange: deleted unless already completed in Exchange.
 * - task, Exchange -> CRM: deletes the CRM task (Dynamics' SSSTaskDeletionSyncBehaviorFromExchange).
 * - appointment, either way: deleted only when the syncing user organises it, it is still to come
 *   and it is not completed or cancelled.
 * Where Dynamics' rule does not delete, the copy is unlinked. A record that stops matching the
 * filters (a logical delete) is removed from Exchange, or only unlinked with the organisation's
 * "unlink only" (filterOut below).
 */
export const DELETE_RULES = ['dynamics', 'delete', 'unlink'] as const;
export type DeleteRule = (typeof DELETE_RULES)[number];
/** Where the delete happened: `fromCrm` rules say what Exchange's copy becomes, `fromExchange` the CRM record. */
export type DeleteRuleKey = `${ItemEntity}From${'Crm' | 'Exchange'}`;
export type DeleteRules = Record<DeleteRuleKey, DeleteRule>;

export const DEFAULT_DELETE_RULES: DeleteRules = {
  contactFromCrm: 'dynamics',
  contactFromExchange: 'dynamics',
  appointmentFromCrm: 'dynamics',
  appointmentFromExchange: 'dynamics',
  taskFromCrm: 'dynamics',
  taskFromExchange: 'dynamics',
};

export interface DeleteContext {
  entity: ItemEntity;
  /** The syncing mailbox's CRM user. */
  userId: string | null;
  /** The record's owner (before the delete). */
  ownerUserId: string | null;
  /** Appointments: whether the syncing user organises it, when it starts, its status. */
  organizedByUser?: boolean;
  startsAt?: Date | null;
  status?: string | null;
  /** Tasks: whether the Exchange copy is completed. */
  completedInExchange?: boolean;
  now: Date;
}

const appointmentDelete = (c: DeleteContext): DeleteAction =>
  c.organizedByUser && c.startsAt != null && c.startsAt > c.now && c.status !== 'completed' && c.status !== 'canceled' ? 'delete' : 'unlink';
const ownedByUser = (c: DeleteContext) => c.ownerUserId !== null && c.ownerUserId === c.userId;

/** The CRM record was deleted: what happens to its Exchange copy. */
export function crmDeleted(c: DeleteContext, rules: DeleteRules = DEFAULT_DELETE_RULES): DeleteAction {
  const rule = rules[`${c.entity}FromCrm`];
  if (rule !== 'dynamics') return rule;
  switch (c.entity) {
    case 'contact':
      return ownedByUser(c) ? 'unlink' : 'delete';
    case 'task':
      return c.completedInExchange ? 'unlink' : 'delete';
    case 'appointment':
      return appointmentDelete(c);
  }
}

/** The Exchange item was deleted: what happens to its CRM record. */
export function exchangeDeleted(c: DeleteContext, rules: DeleteRules = DEFAULT_DELETE_RULES): DeleteAction {
  const rule = rules[`${c.entity}FromExchange`];
  if (rule !== 'dynamics') return rule;
  switch (c.entity) {
    case 'contact':
      return ownedByUser(c) ? 'delete' : 'unlink';
    case 'task':
      return 'delete';
    case 'appointment':
      return appointmentDelete(c);
  }
}

/**
 * A linked record no longer matches the user's filters (deactivated, reassigned, filter edited,
 * a task completed): removed from Exchange, or only unlinked with "unlink only"; a task already
 * completed in Exchange is kept there (§6.3), so completing a task in To Do does not delete it.
 */
export const filterOut = (unlinkOnly: boolean, item: { entity: ItemEntity; completedInExchange?: boolean }): DeleteAction =>
  unlinkOnly || (item.entity === 'task' && item.completedInExchange) ? 'unlink' : 'delete';

/** What a mail-server item without a link becomes. */
export type NewItemDecision = { kind: 'link'; crmId: string } | { kind: 'track' } | { kind: 'ignore' };

/**
 * A mail-server item the engine has no link for: stamped with a CRM id of a record that exists and
 * is not linked yet -> link it (a lost link table, a first enable); carrying the tracking category ->
 * a new CRM record; otherwise it stays out of the CRM.
 */
export function newItemDecision(item: { crmId: string | null; categories: string[] }, trackingCategory: string, stampedRecordFree: boolean): NewItemDecision {
  if (item.crmId && stampedRecordFree) return { kind: 'link', crmId: item.crmId };
  if (hasCategory(item.categories, trackingCategory)) return { kind: 'track' };
  return { kind: 'ignore' };
}

/** Categories compare as Outlook does: case-insensitively. */
export const hasCategory = (categories: string[], category: string) => categories.some((c) => c.toLowerCase() === category.toLowerCase());

/** A link made by the tracking category ends when the category is removed; the CRM record stays. */
export const untracked = (linkState: 'synced' | 'tracked' | 'untracked', categories: string[], trackingCategory: string): boolean =>
  linkState === 'tracked' && !hasCategory(categories, trackingCategory);

/** First enable: the key two items share when they are the same contact (an address and the name). */
export function contactMatchKey(email: unknown, fullName: unknown): string | null {
  if (typeof email !== 'string' || email.trim() === '' || typeof fullName !== 'string') return null;
  return `${email.trim().toLowerCase()}|${fullName.trim().replace(/\s+/g, ' ').toLowerCase()}`;
}
