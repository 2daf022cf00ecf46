import { z } from 'zod';
import { ITEM_SIDES, ItemRetryInput } from '../admin/itemSyncVisibility';
import { ITEM_ENTITIES } from '../crm/itemFields';
import { MailboxWithLive, StatisticsResponse, StatisticsWithLive } from './responses';

// The item engine's figures and failed items, as the mailbox routes and /mailboxes/:id/item-errors show them.

const EntityStatus = z.object({
  linked: z.number().int().describe('Links syncing both ways (untracked ones left out)'),
  pending: z
    .number()
    .int()
    .describe(
      'CRM records whose write to the mail server is still owed: covered by the sync filters and not linked yet, linked and no longer covered, ' +
        'or linked and changed in the CRM since the mailbox last read the change log; failed ones are counted as failed. ' +
        'Changes made in Exchange are not known until the next cycle reads them.',
    ),
  failed: z.number().int().describe('Items with an item error (GET /mailboxes/:id/item-errors)'),
  lastError: z.object({ message: z.string(), at: z.date() }).nullable().describe('The newest of those errors; null while nothing fails'),
});

export const ItemSyncStatusResponse = z.object({
  contact: EntityStatus,
  appointment: EntityStatus,
  task: EntityStatus,
  lastRunError: z.string().nullable().describe('Why the last item sync as a whole failed; null when it ran'),
});

export const StatisticsWithItemSync = StatisticsWithLive.extend({ itemSync: ItemSyncStatusResponse });
export const MailboxWithItemSync = MailboxWithLive.extend({ statistics: StatisticsResponse.extend({ itemSync: ItemSyncStatusResponse }) });

const Entity = z.enum(ITEM_ENTITIES);
const Side = z.enum(ITEM_SIDES).describe('crm: a CRM record the mail server refused; exchange: a mail-server item the CRM refused');

export const ItemErrorResponse = z.object({
  entity: Entity,
  side: Side,
  itemKey: z.string().describe('The CRM id (side crm) or the mail-server item id (side exchange)'),
  label: z.string().nullable().describe("The CRM record's name or subject, when it still exists (side crm)"),
  container: z.string().nullable().describe('The mail-server folder of the item (side exchange)'),
  reason: z.string().describe('Why it failed, for a person'),
  whatToDo: z.string(),
  attempts: z.number().int(),
  occurredAt: z.date().describe('When it last failed'),
  retryRequestedAt: z.date().nullable().describe('A retry asked for and not yet run; null when none waits'),
});

export const ItemErrorQuery = z.strictObject({ entity: Entity.optional() });

export const ItemRetryRequest = ItemRetryInput.extend({
  waitSeconds: z.number().int().min(0).max(120).default(0).describe("How long to wait for the mailbox's run that retries it (default 0: answer at once)"),
});

export const ItemRetryResponse = z.object({
  mailboxId: z.uuid(),
  entity: Entity,
  side: Side,
  itemKey: z.string(),
  requestedAt: z.date(),
  outcome: z.enum(['pending', 'cleared', 'failed']).describe("pending: not run yet (the mailbox's items loop was woken); cleared: it synced; failed: it failed again (error: the new reason)"),
  error: ItemErrorResponse.nullable(),
  note: z.string().nullable().describe("Why the mailbox's workflow could not be woken at once (the retry then runs at its next cycle); else null"),
});
