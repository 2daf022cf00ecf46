import { ItemRetryInput, ITEM_SIDES } from '../../admin/itemSyncVisibility';
import { ITEM_ENTITIES } from '../../crm/itemFields';
import { command, UsageError } from '../command';

const MAILBOX_ID = { name: 'MAILBOX_ID', description: 'the mailbox', uuid: true };
const ENTITY = { type: 'string', placeholder: ITEM_ENTITIES.join('|'), description: 'the kind of item', field: 'entity' } as const;

/** The contacts, appointments and tasks of a mailbox that failed to sync, and retrying one now. */
export const itemErrorCommands = [
  command({
    path: ['mailbox', 'item-errors'],
    summary: "The mailbox's contacts, appointments and tasks that failed to sync: which, why, what to do, when",
    details: ['Retry one with `mailbox item-retry MAILBOX_ID --entity E --side S --key ITEM_KEY` (its entity, side and itemKey as listed).'],
    args: [MAILBOX_ID],
    options: { entity: { ...ENTITY, description: 'only this kind' } },
    run: async ({ args: [id], opts }, ctx) => ({ output: await (await ctx.admin()).itemSync.errors(id, { entity: opts.entity as never }) }),
  }),
  command({
    path: ['mailbox', 'item-retry'],
    summary: 'Retry a failed contact, appointment or task now, and show how it went',
    details: [
      "The mailbox's items loop is woken and its next run tries the item again (a CRM record is written to Exchange although it did not change).",
      'The output says cleared (it synced), failed (with the new reason: exit 1), or pending (not run within --wait).',
    ],
    args: [MAILBOX_ID],
    schema: ItemRetryInput,
    options: {
      entity: { ...ENTITY, required: true },
      side: { type: 'string', placeholder: ITEM_SIDES.join('|'), description: 'crm: a CRM record Exchange refused; exchange: an Exchange item the CRM refused', field: 'side', required: true },
      key: { type: 'string', placeholder: 'ITEM_KEY', description: 'the CRM id (side crm) or the Exchange item id (side exchange)', field: 'itemKey', required: true },
      wait: { type: 'string', placeholder: 'SECONDS', description: 'how long to wait for the run that retries it', default: '60' },
    },
    run: async ({ args: [id], opts }, ctx) => {
      const wait = opts.wait ?? '60';
      if (!/^\d+$/.test(wait)) throw new UsageError(`--wait: "${wait}" is not a number of seconds`);
      const result = await (await ctx.admin()).itemSync.retry(id, { entity: opts.entity as never, side: opts.side as never, itemKey: opts.key! }, Number(wait) * 1000);
      return { output: result, failed: result.outcome === 'failed' };
    },
  }),
];
