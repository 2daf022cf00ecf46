import { z } from 'zod';
import { TRACKING_OPTIONS } from '../policy/tracking';
import { ContactPatch, NewContact } from './itemSchemas';

/**
 * Inputs of the CRM record operations (contacts, leads, accounts, queues, email activities), shared by the
 * HTTP API (and its OpenAPI document) and the CLI. Used strict by the API: a misspelt field is an
 * error rather than silently ignored.
 */
const name = z.string().min(1).max(200);
const email = z.email().max(320);
const limit = z.coerce.number().int().min(1).max(1000).default(100);

// Contacts carry Dynamics' contact fields (src/crm/itemFields.ts); their schemas live with the other synced items'.
export { NewContact, ContactPatch };

// A patch changes what it names; null clears an optional field.

export const NewLead = z.object({ fullName: name, email: email.optional(), company: name.optional() });
export const LeadPatch = z.object({ fullName: name, email: email.nullable(), company: name.nullable() }).partial().strict();

export const NewAccount = z.object({ name, email: email.optional() });
export const AccountPatch = z.object({ name, email: email.nullable() }).partial().strict();

// A queue's mailbox carries the queue's address (mail goes out from it): the address is required.
export const NewQueue = z.object({ name, email, trackingOption: z.enum(TRACKING_OPTIONS).optional() });
export const QueuePatch = z.object({ name, email, trackingOption: z.enum(TRACKING_OPTIONS) }).partial().strict();

export const RecordQuery = z.object({
  email: z.string().min(1).max(320).optional().describe('Only records with this email address (case-insensitive)'),
  limit,
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});

export const EmailActivityQuery = z.object({
  mailboxId: z.uuid().optional().describe('Only activities synced from this mailbox, or sent through it'),
  address: z.string().min(1).max(320).optional().describe('Only activities with this party address (from, to, cc, bcc; case-insensitive)'),
  since: z.coerce.date().optional().describe('Only messages received (or sent) at or after this time (ISO 8601)'),
  limit,
  cursor: z.uuid().optional().describe("The previous page's `nextCursor`"),
});

/** An email activity's attachment, by its place in the activity's list. */
export const AttachmentRef = z.object({
  position: z.coerce.number().int().min(1).max(1_000_000).describe('The attachment, as its `position` in the list (1 for the first)'),
});

// Sending ------------------------------------------------------------------------------------------

/** The most an email's attachments may weigh together, whatever the per-attachment limit: the request must fit in memory. */
export const MAX_SEND_ATTACHMENT_TOTAL_BYTES = 32 * 1024 * 1024;
export const MAX_SEND_BODY_CHARS = 2_000_000;
const oneLine = (max: number) => z.string().max(max).regex(/^[^\r\n]*$/, 'must be one line');

export const RecordReference = z.strictObject({
  type: z.enum(['contact', 'lead', 'account', 'user', 'queue']),
  id: z.uuid(),
});
export const Recipient = z
  .union([z.string().min(1).max(998), RecordReference])
  .describe('An address (`ann@example.com`, `Ann <ann@example.com>`), or a CRM record whose email address is used');
const recipients = z.array(Recipient).max(500).default([]);

export const SendAttachment = z.strictObject({
  filename: oneLine(255).min(1),
  contentType: z
    .string()
    .max(255)
    .regex(/^[\w!#$&^.+-]+\/[\w!#$&^.+-]+$/, 'must be a MIME type such as application/pdf')
    .default('application/octet-stream'),
  contentBase64: z.base64().describe("The file's content, base64 (no line breaks)"),
  contentId: oneLine(250).min(1).optional().describe('Content-ID without angle brackets, for `cid:` references in html'),
  inline: z.boolean().default(false).describe('Shown in the body (referenced by contentId) rather than offered as a file'),
});

export const SendEmailRequest = z.object({
  from: z
    .union([z.strictObject({ userId: z.uuid() }), z.strictObject({ queueId: z.uuid() })])
    .describe("Who sends it, through their mailbox: a user (`{ userId }`) or a queue (`{ queueId }`)"),
  to: recipients,
  cc: recipients,
  bcc: recipients,
  subject: oneLine(998),
  text: z.string().max(MAX_SEND_BODY_CHARS).optional(),
  html: z.string().max(MAX_SEND_BODY_CHARS).optional(),
  attachments: z.array(SendAttachment).max(100).default([]),
  regarding: z
    .strictObject({ type: z.enum(['account', 'contact', 'lead']), id: z.uuid() })
    .optional()
    .describe('The CRM record the email is about'),
});

export type SendEmailInput = z.input<typeof SendEmailRequest>;
export type NewContactInput = z.input<typeof NewContact>;
export type NewLeadInput = z.input<typeof NewLead>;
export type NewAccountInput = z.input<typeof NewAccount>;
