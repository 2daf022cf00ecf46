import { z } from 'zod';
import { TRACKING_OPTIONS } from '../policy/tracking';

/**
 * Inputs of the CRM record operations (contacts, leads, accounts, queues, email activities), shared by the
 * HTTP API (and its OpenAPI document) and the CLI. Used strict by the API: a misspelt field is an
 * error rather than silently ignored.
 */
const name = z.string().min(1).max(200);
const email = z.email().max(320);
const limit = z.coerce.number().int().min(1).max(1000).default(100);

export const NewContact = z.object({ fullName: name, email: email.optional(), accountId: z.uuid().optional() });
// A patch changes what it names; null clears an optional field.
export const ContactPatch = z.object({ fullName: name, email: email.nullable(), accountId: z.uuid().nullable() }).partial().strict();

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
  mailboxId: z.uuid().optional().describe('Only activities synced from this mailbox'),
  address: z.string().min(1).max(320).optional().describe('Only activities with this party address (from, to, cc, bcc; case-insensitive)'),
  since: z.coerce.date().optional().describe('Only messages received (or sent) at or after this time (ISO 8601)'),
  limit,
  cursor: z.uuid().optional().describe("The previous page's `nextCursor`"),
});

/** An email activity's attachment, by its place in the activity's list. */
export const AttachmentRef = z.object({
  position: z.coerce.number().int().min(1).max(1_000_000).describe('The attachment, as its `position` in the list (1 for the first)'),
});

export type NewContactInput = z.input<typeof NewContact>;
export type NewLeadInput = z.input<typeof NewLead>;
export type NewAccountInput = z.input<typeof NewAccount>;
