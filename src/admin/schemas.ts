import { z } from 'zod';
import { DELETE_RULES } from '../policy/itemMerge';
import { SERVER_TYPES } from '../policy/serverProfiles';
import { TRACKING_OPTIONS } from '../policy/tracking';
import { trackingTokenPrefixProblem } from '../policy/trackingToken';

/** Inputs of the admin operations, shared by the HTTP API (and its OpenAPI document) and the CLI. */
const security = z.enum(['none', 'starttls', 'tls']);
const port = z.coerce.number().int().min(1).max(65535);
const folder = z.string().min(1).max(500);

const trackingOption = z.enum(TRACKING_OPTIONS);

/** A Graph user id goes into request paths (/users/{id}), so no path or query characters. */
const graphUser = z
  .string()
  .min(1)
  .max(320)
  .regex(/^[^/?#\s]+$/, "The tenant user's object id (a GUID) or user principal name, without / ? # or spaces");

/** A tracking token's prefix: found again in subjects by it, so no spaces or colons. */
const trackingTokenPrefix = z.string().superRefine((prefix, ctx) => {
  const problem = trackingTokenPrefixProblem(prefix);
  if (problem) ctx.addIssue({ code: 'custom', message: `A tracking token prefix ${problem}` });
});

export const UserOptions = z
  .object({
    trackingOption,
    /** A contact is created for a tracked message's sender who resolves to nothing (own domains excepted). */
    createContactsForUnknownSenders: z.boolean(),
  })
  .partial();

export const NewUser = z.object({
  fullName: z.string().min(1).max(200),
  email: z.email(),
  /** Left out: the organisation's default for new users. */
  trackingOption: trackingOption.optional(),
  createContactsForUnknownSenders: z.boolean().default(false),
});

// A port left out is the security setting's default (IMAP 993/143, POP3 995/110, SMTP 465/587/25),
// stored with the profile; the service refuses a server type this version cannot sync.
export const NewProfile = z.object({
  name: z.string().min(1).max(200),
  serverType: z.enum(SERVER_TYPES),
  incomingHost: z.string().min(1).max(255).optional(),
  incomingPort: port.optional(),
  incomingSecurity: security.default('tls'),
  outgoingHost: z.string().min(1).max(255).optional(),
  outgoingPort: port.optional(),
  outgoingSecurity: security.default('starttls'),
  maxConcurrentConnections: z.coerce.number().int().min(1).max(65536).default(10),
  minPollingIntervalSeconds: z.coerce.number().int().min(1).default(60),
  processEmailFrom: z.coerce.date().optional(),
  connectionTimeoutSeconds: z.coerce.number().int().min(1).max(100).default(30),
  maxMessageBytes: z.coerce.number().int().min(1).default(25 * 1024 * 1024),
  ownerUserId: z.uuid().optional(),
  // A copy of each email sent from the CRM goes to the mailbox's Sent folder (IMAP profiles).
  saveSentCopy: z.boolean().default(true),
  // exchange_online: the app registration in Entra ID, and one credential (client secret, or
  // certificate with its private key), stored encrypted and never shown again.
  tenantId: z.string().trim().min(1).max(200).optional(),
  clientId: z.string().trim().min(1).max(200).optional(),
  clientSecret: z.string().min(1).max(4096).optional(),
  certificatePem: z.string().min(1).max(65536).optional(),
  privateKeyPem: z.string().min(1).max(65536).optional(),
  /** Left out: the public cloud's (https://graph.microsoft.com/, https://login.microsoftonline.com). */
  graphBaseUrl: z.string().trim().min(1).max(2000).optional(),
  authorityHost: z.string().trim().min(1).max(2000).optional(),
});

// Without the defaults: a patch changes what it names and nothing else.
export const ProfilePatch = NewProfile.extend({
  incomingSecurity: security,
  outgoingSecurity: security,
  maxConcurrentConnections: z.coerce.number().int().min(1).max(65536),
  minPollingIntervalSeconds: z.coerce.number().int().min(1),
  connectionTimeoutSeconds: z.coerce.number().int().min(1).max(100),
  maxMessageBytes: z.coerce.number().int().min(1),
  saveSentCopy: z.boolean(),
})
  .partial()
  .strict();

// A mailbox belongs to at most one owner, a user or a queue: the service refuses both (a refinement
// here would keep routes from picking fields of this schema).
export const NewMailbox = z.object({
  emailAddress: z.email(),
  profileId: z.uuid(),
  ownerUserId: z.uuid().optional(),
  /** A queue's mailbox carries the queue's address. */
  ownerQueueId: z.uuid().optional(),
  username: z.string().min(1).max(320).optional(),
  /** IMAP and POP3 profiles: needed. exchange_online: none (the profile's app reaches the mailbox). */
  password: z.string().min(1).max(4096).optional(),
  /** exchange_online: the tenant user by object id (or user principal name); left out: the email address. */
  graphUser: graphUser.optional(),
  folders: z.array(folder).min(1).max(100).default(['INBOX']),
  incomingEnabled: z.boolean().default(true),
  emailApproved: z.boolean().default(false),
  minPollingIntervalSeconds: z.coerce.number().int().min(1).optional(),
  /** Remove each message from the server once the CRM committed it (queue mailboxes); POP3 profiles only. */
  deleteAfterProcessing: z.boolean().default(false),
  /** The organisation's tracking token, this mailbox's own prefix (`custom`, with `trackingTokenPrefix`), or none. */
  trackingTokenMode: z.enum(['organization', 'custom', 'off']).default('organization'),
  trackingTokenPrefix: trackingTokenPrefix.optional(),
  /** The folder sent mail is kept in; left out: the one the server marks \Sent, else "Sent". */
  sentFolder: folder.optional(),
  /** Sync the Sent folder too: mail the user sent from another client is stored as sent. */
  trackSentFolder: z.boolean().default(false),
});

export const MailboxPatch = z
  .object({
    username: z.string().min(1).max(320),
    password: z.string().min(1).max(4096),
    graphUser: graphUser.nullable(),
    folders: z.array(folder).min(1).max(100),
    minPollingIntervalSeconds: z.coerce.number().int().min(1).nullable(),
    deleteAfterProcessing: z.boolean(),
    trackingTokenMode: z.enum(['organization', 'custom', 'off']),
    trackingTokenPrefix: trackingTokenPrefix.nullable(),
    sentFolder: folder.nullable(),
    trackSentFolder: z.boolean(),
  })
  .partial()
  .strict();

export const MapRequest = z.object({
  /** The new owner: a user or a queue (exactly one). */
  userId: z.uuid().optional(),
  queueId: z.uuid().optional(),
  /** Take the mailbox from the user who holds it: the admin answered "yes" to the conflict. */
  confirm: z.boolean().default(false),
  /**
   * The mapping the admin saw (from the conflict's `confirmWith`, or the mailbox's
   * `mappingVersion`): the remap applies only if nobody remapped the mailbox since.
   */
  expectedMappingVersion: z.number().int().min(0).optional(),
}).refine((r) => (r.userId === undefined) !== (r.queueId === undefined), {
  message: 'Name the new owner: userId or queueId, one of them',
  path: ['userId'],
});

const deleteRule = z.enum(DELETE_RULES);

/** The organisation's sync settings; a patch changes what it names. */
export const OrganizationSettingsPatch = z
  .object({
    /** Sync only mailboxes whose email address an admin approved (Dynamics' default: on). */
    requireEmailApproval: z.boolean(),
    /** Largest attachment whose content is kept; larger ones are described only. 0 keeps none. */
    maxAttachmentBytes: z.coerce.number().int().min(0).max(2_147_483_647),
    /** The tracking option of users created without one. */
    defaultTrackingOption: trackingOption,
    /** Outgoing subjects carry a tracking token (mailboxes may use their own prefix, or none). */
    trackingTokenEnabled: z.boolean(),
    trackingTokenPrefix,
    trackingTokenBaseNumber: z.coerce.number().int().min(0).max(2_147_483_647),
    trackingTokenUserDigits: z.coerce.number().int().min(1).max(10),
    trackingTokenCounterDigits: z.coerce.number().int().min(1).max(9),
    /** Correlate by normalised subject and two shared participants when headers and token say nothing. */
    smartMatching: z.boolean(),
    /** Take a forward as a reply to what it forwards (it carries its headers). */
    correlateForwards: z.boolean(),
    /** The organisation's own mail domains: their senders get no contact created. */
    ownDomains: z
      .array(z.string().regex(/^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/i, 'A domain name such as example.com'))
      .max(100),
    /**
     * A contact, appointment or task that stops matching a user's filters only loses its link; its
     * Exchange copy stays (Dynamics' DistinctPhysicalAndLogicalDeletesForExchangeSync).
     */
    itemsUnlinkOnly: z.boolean(),
    /** The Outlook category that marks an Exchange item for tracking into the CRM. */
    itemsTrackingCategory: z.string().trim().min(1).max(255),
    /** A field changed on both sides since the last sync: the later change wins, or the CRM's. */
    itemsConflictRule: z.enum(['later_wins', 'crm_wins']),
    /**
     * What a delete on one side does to the linked copy on the other, per entity and direction
     * (src/policy/itemMerge.ts): dynamics (Dynamics' rule), delete, or unlink.
     */
    itemsDeleteContactFromCrm: deleteRule,
    itemsDeleteContactFromExchange: deleteRule,
    itemsDeleteAppointmentFromCrm: deleteRule,
    itemsDeleteAppointmentFromExchange: deleteRule,
    itemsDeleteTaskFromCrm: deleteRule,
    itemsDeleteTaskFromExchange: deleteRule,
    /** The calendar window synced with Exchange: days back and ahead of today. */
    itemsCalendarDaysBack: z.coerce.number().int().min(0).max(3650),
    itemsCalendarDaysAhead: z.coerce.number().int().min(1).max(3650),
  })
  .partial()
  .strict();

export const AlertQuery = z.object({
  status: z.enum(['open', 'resolved', 'all']).default('open').describe('open (the default): conditions that still hold; resolved: cleared ones'),
  mailboxId: z.uuid().optional(),
  profileId: z.uuid().optional(),
  level: z.enum(['error', 'warning', 'information']).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export type NewUserInput = z.input<typeof NewUser>;
export type NewProfileInput = z.input<typeof NewProfile>;
export type NewMailboxInput = z.input<typeof NewMailbox>;
