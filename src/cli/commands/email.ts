import { EmailActivityQuery } from '../../admin/crmSchemas';
import { command } from '../command';

export const emailCommands = [
  command({
    path: ['email', 'list'],
    summary: 'CRM email activities with their parties, newest first; `nextCursor` pages on',
    schema: EmailActivityQuery,
    options: {
      mailbox: { type: 'string', placeholder: 'MAILBOX_ID', description: 'only those synced from this mailbox', field: 'mailboxId' },
      address: { type: 'string', placeholder: 'ADDRESS', description: 'only those with this party (from, to, cc, bcc)', field: 'address' },
      since: { type: 'string', placeholder: 'DATE', description: 'only messages received at or after this time (ISO 8601)', field: 'since' },
      limit: { type: 'string', placeholder: 'N', description: 'at most this many', field: 'limit' },
      cursor: { type: 'string', placeholder: 'CURSOR', description: "the previous page's nextCursor", field: 'cursor' },
    },
    run: async ({ opts: o }, ctx) => ({
      output: await (await ctx.crm()).emails.list({ mailboxId: o.mailbox, address: o.address, since: o.since, limit: o.limit, cursor: o.cursor }),
    }),
  }),
  command({
    path: ['email', 'show'],
    summary: 'An email activity: the message, its parties and the mailboxes it came from',
    args: [{ name: 'ID', description: 'the email activity', uuid: true }],
    options: {},
    run: async ({ args: [id] }, ctx) => ({ output: await (await ctx.crm()).emails.get(id) }),
  }),
];
