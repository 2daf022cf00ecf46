import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { detectMimeType } from 'nodemailer/lib/mime-funcs/mime-types';
import { z } from 'zod';
import { AttachmentRef, EmailActivityQuery, RecordReference, SendEmailRequest, type SendEmailInput } from '../../admin/crmSchemas';
import { command, UsageError } from '../command';

const REFERENCE = /^(contact|lead|account|user|queue):(.*)$/i;

/** `contact:<uuid>` is that record; anything else an address (`ann@example.com`, `Ann <ann@example.com>`). */
function recipient(flag: string, value: string): string | z.infer<typeof RecordReference> {
  const ref = REFERENCE.exec(value);
  if (!ref) return value;
  const parsed = RecordReference.safeParse({ type: ref[1].toLowerCase(), id: ref[2] });
  if (!parsed.success) throw new UsageError(`${flag}: "${value}" is no record reference: write TYPE:ID, the ID a UUID (contact:0b3a4f9e-...)`);
  return parsed.data;
}

async function readInput(flag: string, file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new UsageError(`${flag}: cannot read ${file} (${(err as Error).message})`);
  }
}

const RECIPIENT = { type: 'string', placeholder: 'ADDR_OR_REF', multiple: true } as const;

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
  command({
    path: ['email', 'send'],
    summary: "Queues an email to be sent through the sender's mailbox (the CRM's send button); prints it, status pending_send",
    details: [
      'A recipient is an address (ann@example.com, "Ann <ann@example.com>") or a CRM record, TYPE:ID (contact, lead, account, ' +
        'user or queue), whose email address is used. The mailbox workflow sends it within seconds: `email show ID` tells how it went.',
      'Refused, with nothing queued: no recipients, an address that is none, a record that does not exist or has no email ' +
        'address (exit 2); a sender without a mailbox, a mailbox whose outgoing direction is disabled (run `mailbox test-and-enable`), ' +
        'an attachment over the organisation\'s limit (exit 1).',
    ],
    schema: SendEmailRequest,
    options: {
      'from-user': { type: 'string', placeholder: 'USER_ID', description: 'send as this CRM user, through their mailbox', field: 'from' },
      'from-queue': { type: 'string', placeholder: 'QUEUE_ID', description: 'send as this queue, through its mailbox' },
      to: { ...RECIPIENT, description: 'a recipient', field: 'to' },
      cc: { ...RECIPIENT, description: 'a copy recipient', field: 'cc' },
      bcc: { ...RECIPIENT, description: 'a blind copy recipient', field: 'bcc' },
      subject: { type: 'string', placeholder: 'SUBJECT', description: 'the subject', required: true, field: 'subject' },
      text: { type: 'string', placeholder: 'TEXT', description: 'the text body', field: 'text' },
      'text-file': { type: 'string', placeholder: 'FILE', description: 'the text body, from a UTF-8 file' },
      'html-file': { type: 'string', placeholder: 'FILE', description: 'the HTML body, from a UTF-8 file', field: 'html' },
      attach: { type: 'string', placeholder: 'FILE', multiple: true, description: 'attach this file (its type from its name)', field: 'attachments' },
      regarding: { type: 'string', placeholder: 'TYPE:ID', description: 'the record it is about: account:ID, contact:ID or lead:ID', field: 'regarding' },
    },
    run: async ({ opts: o }, ctx) => {
      if ((o['from-user'] === undefined) === (o['from-queue'] === undefined)) throw new UsageError('Give one sender: --from-user USER_ID or --from-queue QUEUE_ID');
      if (o.text !== undefined && o['text-file'] !== undefined) throw new UsageError('Give the text body once: --text or --text-file');
      const regarding = o.regarding === undefined ? undefined : recipient('--regarding', o.regarding);
      if (typeof regarding === 'string' || (regarding && !['account', 'contact', 'lead'].includes(regarding.type))) {
        throw new UsageError(`--regarding: "${o.regarding}" is no record to be about: write account:ID, contact:ID or lead:ID`);
      }
      const input: SendEmailInput = {
        from: o['from-user'] !== undefined ? { userId: o['from-user'] } : { queueId: o['from-queue']! },
        to: (o.to ?? []).map((v) => recipient('--to', v)),
        cc: (o.cc ?? []).map((v) => recipient('--cc', v)),
        bcc: (o.bcc ?? []).map((v) => recipient('--bcc', v)),
        subject: o.subject!,
        text: o['text-file'] !== undefined ? (await readInput('--text-file', o['text-file'])).toString('utf8') : o.text,
        html: o['html-file'] !== undefined ? (await readInput('--html-file', o['html-file'])).toString('utf8') : undefined,
        attachments: await Promise.all(
          (o.attach ?? []).map(async (file) => ({
            filename: path.basename(file),
            contentType: detectMimeType(file),
            contentBase64: (await readInput('--attach', file)).toString('base64'),
          })),
        ),
        regarding: regarding as SendEmailInput['regarding'],
      };
      const { email, signalError } = await (await ctx.outgoing()).send(input);
      if (signalError) process.stderr.write(`Queued; its mailbox workflow was not told (${signalError}): it goes out on the worker's next look at the queue.\n`);
      return { output: email };
    },
  }),
];
