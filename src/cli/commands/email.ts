import { writeFile } from 'node:fs/promises';
import { AttachmentRef, EmailActivityQuery } from '../../admin/crmSchemas';
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
    summary: 'An email activity: the message with its bodies, parties, attachments and the mailboxes it came from',
    args: [{ name: 'ID', description: 'the email activity', uuid: true }],
    options: {},
    run: async ({ args: [id] }, ctx) => ({ output: await (await ctx.crm()).emails.get(id) }),
  }),
  command({
    path: ['email', 'attachment'],
    summary: "Saves an email activity's attachment to a file (`email show` lists them by position)",
    details: ['An attachment over the size limit when it was synced (stored: false) has no content to save: only its description is kept.'],
    args: [
      { name: 'ID', description: 'the email activity', uuid: true },
      { name: 'POSITION', description: 'the attachment: its position, 1 for the first', field: 'position' },
    ],
    options: {
      out: { type: 'string', placeholder: 'FILE', description: 'the file to write (replaced if it exists)', required: true },
    },
    run: async ({ args: [id, position], opts }, ctx) => {
      const ref = AttachmentRef.parse({ position });
      const { attachment, content } = await (await ctx.crm()).emails.attachmentContent(id, ref.position);
      await writeFile(opts.out!, content);
      return { output: { ...attachment, savedTo: opts.out } };
    },
  }),
];
