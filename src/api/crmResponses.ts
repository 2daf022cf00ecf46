import { z } from 'zod';
import { TRACKING_OPTIONS } from '../policy/tracking';

// Responses of the CRM record routes (see responses.ts for why responses are zod objects).

// Contacts carry Dynamics' contact fields: their response is built from the field table.
export { ContactResponse } from './itemResponses';

export const LeadResponse = z.object({
  id: z.uuid(),
  fullName: z.string(),
  email: z.string().nullable(),
  company: z.string().nullable(),
  createdAt: z.date(),
});

export const AccountResponse = z.object({
  id: z.uuid(),
  name: z.string(),
  email: z.string().nullable(),
  createdAt: z.date(),
});

export const QueueResponse = z.object({
  id: z.uuid(),
  name: z.string(),
  email: z.string(),
  trackingOption: z.string().describe(TRACKING_OPTIONS.join(' | ')),
  createdAt: z.date(),
});

export const EmailPartyResponse = z.object({
  role: z.string().describe('from | to | cc | bcc'),
  address: z.string().nullable().describe('null for a party the message names without an address (by displayName only, unresolved)'),
  displayName: z.string().nullable(),
  partyType: z.string().nullable().describe('user | queue | contact | lead | account, or null when the address resolved to no record'),
  partyId: z.uuid().nullable(),
});

export const EmailAttachmentResponse = z.object({
  position: z.number().int().describe('1 for the first attachment; GET /emails/:id/attachments/:position downloads it'),
  filename: z.string().nullable(),
  contentType: z.string(),
  size: z.number().int().describe('Bytes of the decoded content'),
  sha256: z.string().nullable().describe('SHA-256 of the content, hex; null for one synced before contents were kept'),
  contentId: z.string().nullable().describe('Content-ID, for the cid: references of bodyHtml'),
  inline: z.boolean().describe('Shown in the body rather than offered as a file'),
  stored: z
    .boolean()
    .describe('false: only described, its content not kept (over organization_settings.max_attachment_bytes, 5 MB by default, when synced)'),
});

export const EmailActivitySummaryResponse = z.object({
  id: z.uuid(),
  messageId: z.string().nullable().describe('null for an outgoing email not sent yet: one is fixed before its first attempt'),
  direction: z.string().describe('incoming | outgoing'),
  status: z.string().describe('received (synced from a mailbox), or an outgoing email\'s life: draft, pending_send -> sending -> sent, or failed'),
  ownerUserId: z.uuid().nullable().describe('Outgoing: the user who sends it, through their mailbox'),
  ownerQueueId: z.uuid().nullable().describe('Outgoing: the queue that sends it, through its mailbox'),
  regarding: z.object({ type: z.string().describe('account | contact | lead'), id: z.uuid() }).nullable().describe('The CRM record it is about'),
  conversationId: z.uuid().nullable().describe('The first activity of its conversation (itself for the first email)'),
  correlationMethod: z.string().nullable().describe('How it was tied to an earlier activity: in_reply_to | tracking_token | smart_matching'),
  trackingToken: z.string().nullable().describe('The tracking token in its subject, as sent or found'),
  queuedAt: z.date().nullable().describe('Outgoing: when it was queued to be sent'),
  sendAttempts: z.number().int().describe('Outgoing: attempts at sending it so far'),
  sendError: z.string().nullable().describe('Outgoing: why the last attempt failed (why it failed, once failed)'),
  smtpAcceptedAt: z.date().nullable().describe('Outgoing: when the SMTP server accepted it (it is never sent again)'),
  subject: z.string().nullable(),
  sentAt: z.date().nullable().describe("The Date header's instant; null when the message has none or it cannot be read"),
  receivedAt: z.date().nullable().describe('When the mail server received it (IMAP INTERNALDATE)'),
  sizeBytes: z.number().int().nullable(),
  createdAt: z.date(),
  variantOf: z.uuid().nullable().describe('The first activity with this Message-ID, when this is a different message reusing it'),
  mailboxIds: z.array(z.uuid()).describe('The mailboxes it was synced from (an email sent from the CRM: none until synced back)'),
  parties: z.array(EmailPartyResponse),
});

export const EmailActivityResponse = EmailActivitySummaryResponse.extend({
  bodyText: z.string().nullable().describe('The text body; derived from the HTML body when the message has none'),
  bodyHtml: z
    .string()
    .nullable()
    .describe("The HTML body; a synced one sanitised for display (no scripts, nothing loaded from elsewhere), an outgoing one as the CRM wrote it"),
  inReplyTo: z.string().nullable(),
  references: z.array(z.string()),
  variants: z.array(z.uuid()).describe('The other activities with this Message-ID: different messages that reuse it'),
  attachments: z.array(EmailAttachmentResponse),
});

export const EmailActivityPageResponse = z.object({
  items: z.array(EmailActivitySummaryResponse),
  nextCursor: z.uuid().nullable().describe('Pass as `cursor` for the next page; null on the last page'),
});
