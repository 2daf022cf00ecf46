import { z } from 'zod';

// Responses of the CRM record routes (see responses.ts for why responses are zod objects).

export const ContactResponse = z.object({
  id: z.uuid(),
  fullName: z.string(),
  email: z.string().nullable(),
  accountId: z.uuid().nullable(),
  createdAt: z.date(),
});

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

export const EmailPartyResponse = z.object({
  role: z.string().describe('from | to | cc | bcc'),
  address: z.string(),
  displayName: z.string().nullable(),
  partyType: z.string().nullable().describe('user | contact | lead | account, or null when the address resolved to no record'),
  partyId: z.uuid().nullable(),
});

export const EmailActivitySummaryResponse = z.object({
  id: z.uuid(),
  messageId: z.string(),
  direction: z.string().describe('incoming | outgoing'),
  subject: z.string().nullable(),
  sentAt: z.date().nullable(),
  receivedAt: z.date().nullable(),
  sizeBytes: z.number().int().nullable(),
  createdAt: z.date(),
  mailboxIds: z.array(z.uuid()).describe('The mailboxes it was synced from'),
  parties: z.array(EmailPartyResponse),
});

export const EmailActivityResponse = EmailActivitySummaryResponse.extend({
  bodyText: z.string().nullable(),
  inReplyTo: z.string().nullable(),
  references: z.array(z.string()),
  attachments: z.array(z.unknown()),
});

export const EmailActivityPageResponse = z.object({
  items: z.array(EmailActivitySummaryResponse),
  nextCursor: z.uuid().nullable().describe('Pass as `cursor` for the next page; null on the last page'),
});
