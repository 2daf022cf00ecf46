import { z } from 'zod';
import { TRACKING_OPTIONS } from '../policy/tracking';

// Responses ------------------------------------------------------------------
// They document the API and, being zod objects, drop any field they do not name: a column added
// to a view (a credential, say) never reaches a client unless it is added here. test/api.test.ts
// checks that every field of the service's views (UserView, ProfileView, MailboxView, AlertView)
// is named here, so a field added to a view fails that test until it is added here too.

export const ErrorBody = z.object({
  error: z.string().describe('A stable code: bad_request, unauthorized, forbidden, not_found, conflict, ...'),
  message: z.string().describe('What went wrong, for a person'),
  details: z.record(z.string(), z.unknown()).optional(),
});

type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 413 | 422;
export const errors = (...codes: ErrorStatus[]) => Object.fromEntries(codes.map((c) => [c, ErrorBody])) as Record<ErrorStatus, typeof ErrorBody>;

export const UserResponse = z.object({
  id: z.uuid(),
  fullName: z.string(),
  email: z.string(),
  trackingOption: z.string().describe(TRACKING_OPTIONS.join(' | ')),
  createContactsForUnknownSenders: z.boolean().describe("A contact is created for a tracked message's sender who resolves to nothing"),
  createdAt: z.date(),
});

export const security = z.string().describe('none | starttls | tls');
export const ProfileResponse = z.object({
  id: z.uuid(),
  name: z.string(),
  serverType: z.string().describe('imap | pop3 | exchange_online'),
  incomingHost: z.string().nullable(),
  incomingPort: z.number().int().nullable(),
  incomingSecurity: security,
  outgoingHost: z.string().nullable(),
  outgoingPort: z.number().int().nullable(),
  outgoingSecurity: security,
  maxConcurrentConnections: z.number().int(),
  minPollingIntervalSeconds: z.number().int(),
  processEmailFrom: z.date().nullable(),
  connectionTimeoutSeconds: z.number().int(),
  maxMessageBytes: z.number().int(),
  saveSentCopy: z.boolean(),
  ownerUserId: z.uuid().nullable(),
  tenantId: z.string().nullable().describe('exchange_online: the Entra ID tenant (GUID or domain); null on other profiles'),
  clientId: z.string().nullable().describe("exchange_online: the app registration's application (client) id"),
  graphBaseUrl: z.string().nullable().describe('exchange_online: the Microsoft Graph host (public cloud: https://graph.microsoft.com/)'),
  authorityHost: z.string().nullable().describe('exchange_online: the Entra ID authority host (public cloud: https://login.microsoftonline.com)'),
  credentialKind: z.enum(['secret', 'certificate']).nullable().describe("exchange_online: how the app proves who it is; the credential itself is never shown"),
  clientSecretSet: z.boolean().describe('A client secret is stored (encrypted)'),
  certificateThumbprint: z.string().nullable().describe("The certificate's SHA-256 thumbprint (hex), as the app registration lists it"),
  certificateExpiresAt: z.date().nullable().describe('When the certificate expires: upload a new one before then'),
  createdAt: z.date(),
  updatedAt: z.date(),
});

export const DirectionResponse = z.object({
  enabled: z.boolean(),
  status: z.string().describe('not_run | success | failure'),
  statusAt: z
    .date()
    .nullable()
    .describe('ISO 8601: when this status was last established, by a Test & Enable or (incoming) a sync; null exactly when the status is not_run'),
  message: z.string().nullable().describe("The test's or the sync's sentence for this status"),
});

export const StatisticsResponse = z.object({
  lastSyncStartedAt: z.date().nullable(),
  lastSyncCompletedAt: z.date().nullable(),
  lastSuccessAt: z.date().nullable(),
  itemsProcessedLastCycle: z.number().int(),
  itemsFailedLastCycle: z.number().int(),
  consecutiveErrors: z.number().int().describe('Failed cycles in a row (the one figure; the live status shows the same)'),
  nextSyncAt: z.date().nullable().describe('ISO 8601; null unless incoming sync is enabled and not waiting for approval'),
  lastError: z.string().nullable().describe('Cleared, with lastErrorAt, by the next successful sync or Test & Enable'),
  lastErrorAt: z.date().nullable(),
});

export const MailboxResponse = z.object({
  id: z.uuid(),
  emailAddress: z.string(),
  profileId: z.uuid(),
  ownerUserId: z.uuid().nullable().describe('The user it belongs to, if a user holds it'),
  ownerQueueId: z.uuid().nullable().describe('The queue it belongs to, if a queue holds it (its incoming mail becomes queue items)'),
  owner: z
    .object({ type: z.enum(['user', 'queue']), id: z.uuid(), name: z.string() })
    .nullable()
    .describe('Who holds it, a user or a queue; null for none'),
  username: z.string().nullable(),
  graphUser: z.string().nullable().describe('exchange_online: the tenant user by object id; null: its email address'),
  folders: z.array(z.string()),
  emailApproved: z.boolean(),
  mappingVersion: z.number().int(),
  minPollingIntervalSeconds: z.number().int().nullable(),
  deleteAfterProcessing: z.boolean().describe('Each message is deleted from the server once the CRM stored it (POP3)'),
  trackingToken: z
    .object({ mode: z.string().describe('organization | custom | off'), prefix: z.string().nullable() })
    .describe("The organisation's tracking token, the mailbox's own prefix (custom), or none (off)"),
  sentFolder: z.string().nullable().describe('The folder sent mail is kept in; null: the one the server marks \\Sent, else "Sent"'),
  trackSentFolder: z.boolean().describe('The Sent folder is synced too: mail sent from another client is stored as sent'),
  incoming: DirectionResponse,
  outgoing: DirectionResponse,
  items: DirectionResponse,
  statistics: StatisticsResponse,
  progress: z
    .object({
      folder: z.string(),
      itemsDone: z.number().int(),
      itemsTotal: z.number().int(),
      startedAt: z.string().nullable().describe('ISO 8601'),
      updatedAt: z.string().nullable().describe('ISO 8601'),
    })
    .nullable()
    .describe("The running sync's progress (long initial syncs), or null between cycles"),
  createdAt: z.date(),
  updatedAt: z.date(),
});

export const LiveStatus = z
  .looseObject({
    mailboxId: z.string(),
    state: z.string().describe('syncing | idle | retrying | disabled | error'),
    nextSyncAt: z.string().nullable().describe('ISO 8601; null while parked or syncing'),
    retrying: z.string().nullable().describe('Why the sync activity is being tried again (its worker was lost, ...), while it is'),
  })
  .nullable()
  .describe("The mailbox workflow's live status (its `status` query), or null when the workflow is not running");

export const LiveError = z
  .string()
  .optional()
  .describe('Present when the workflow could not be asked (Temporal unreachable, no worker answering); `live` is then null');
export const MailboxWithLive = MailboxResponse.extend({ live: LiveStatus, liveError: LiveError });
export const StatisticsWithLive = StatisticsResponse.extend({ live: LiveStatus, liveError: LiveError });

export const DirectionResult = z.object({
  status: z.string().describe('success | failure | not_run ...'),
  message: z.string(),
  testedAt: z.string().describe('ISO 8601'),
  errorClass: z
    .enum(['transient', 'permanent'])
    .optional()
    .describe("A failure's class: a permanent one disabled the direction; a transient one (unreachable, timed out) left it as it was"),
});
export const TestAndEnableResponse = z.object({
  incoming: DirectionResult,
  outgoing: DirectionResult,
  items: DirectionResult,
  incomingEnabled: z.boolean(),
  outgoingEnabled: z.boolean(),
});

export const AlertResponse = z.object({
  id: z.number().int(),
  level: z.string().describe('error | warning | information'),
  scope: z.string().describe('email_item | mailbox | server_profile'),
  audiences: z.array(z.string()).describe('Who it is for, never empty: mailbox_owner, profile_owner (both the user in userId), admins'),
  mailboxId: z.uuid().nullable(),
  profileId: z.uuid().nullable(),
  userId: z.uuid().nullable().describe('The owner it is addressed to, when an audience is an owner'),
  message: z.string(),
  createdAt: z.date().describe('ISO 8601: first raised'),
  lastSeenAt: z.date().describe('ISO 8601: the condition was last seen then (a repeat bumps it and occurrences)'),
  occurrences: z.number().int(),
  resolvedAt: z.date().nullable().describe('ISO 8601: when the condition cleared (the alert is kept); null while open'),
});

export const MeResponse = z.object({
  tokenId: z.uuid(),
  role: z.enum(['admin', 'user']),
  userId: z.uuid().nullable(),
  user: UserResponse.nullable(),
});

export const OptionsResponse = UserResponse.pick({ trackingOption: true, createContactsForUnknownSenders: true });

// Requests -------------------------------------------------------------------
// The admin schemas are used strict: a misspelt field is an error rather than silently ignored.

export const IdParams = z.strictObject({ id: z.uuid() });
