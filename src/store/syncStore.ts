import type { CrmRecordRef, CrmRecordType, EmailMessage, PartyRole } from '../domain/email';
import type { DirectionResult, OutgoingEndpoint } from '../mail/connectivity';
import type { GraphEndpoint } from '../mail/graph/graphEndpoint';
import type { MailServerEndpoint, SourceCursor } from '../mail/mailSource';
import type { IncomingCorrelationFacts } from '../policy/correlation';
import type { ServerHealth } from '../policy/serverLoad';
import type { TrackingOption } from '../policy/tracking';

export type ServerType = 'imap' | 'pop3' | 'exchange_online';

/** What the mailbox workflow needs to plan a cycle: no secrets. */
export interface MailboxPlan {
  mailboxId: string;
  emailAddress: string;
  profileId: string;
  serverType: ServerType;
  /** Null also for a queue's mailbox (see ownerName). */
  ownerUserId: string | null;
  /** The owner's name (a user's full name, or the queue's name), for Temporal UI's details. */
  ownerName: string | null;
  incomingEnabled: boolean;
  /** Appointments, contacts and tasks sync both ways (Exchange Online, once Test & Enable passed). */
  itemsEnabled: boolean;
  /** The last incoming sync failed (and, if disabled, is why). */
  lastSyncFailed: boolean;
  /** The organisation processes approved addresses only, and this one is not approved. */
  awaitingApproval: boolean;
  mappingVersion: number;
  minPollingIntervalMs: number;
  /** Failures in a row, as the mailbox row counts them (the one source of this figure). */
  consecutiveErrors: number;
  lastError: string | null;
  /** How the mailbox's server has been answering; null before anything was observed. */
  serverHealth: ServerHealth | null;
}

/** Everything one incoming-sync run needs, credentials decrypted (never leaves the activity). */
export interface MailboxSyncContext {
  mailboxId: string;
  emailAddress: string;
  ownerUserId: string | null;
  /** The queue the mailbox belongs to: its email activities become the queue's items. */
  ownerQueueId: string | null;
  mappingVersion: number;
  profileId: string;
  /** The server's connection cap, across every worker. */
  maxConcurrentConnections: number;
  tracking: TrackingSettings;
  folders: string[];
  /** Track the Sent folder too: `sentFolder`, else the folder the server marks \Sent, else "Sent". */
  trackSentFolder: boolean;
  sentFolder: string | null;
  incomingEnabled: boolean;
  /** Appointments, contacts and tasks: off until tested, and again after a permanent failure. */
  itemsEnabled: boolean;
  serverType: ServerType;
  /** exchange_online: the Graph host (443, tls) and the tenant user, no password: for messages and server-load records. */
  endpoint: MailServerEndpoint;
  /** The profile's SMTP server, when it has one; same credentials as incoming. */
  outgoing: OutgoingEndpoint | null;
  /** exchange_online: Graph for both directions, the app's credential decrypted; null for other types (and a profile missing its app settings). */
  graph: GraphEndpoint | null;
  processEmailFrom: Date | null;
  maxMessageBytes: number;
  /** Remove mail from the server once the CRM committed it (queue mailboxes; POP3 only). */
  deleteAfterProcessing: boolean;
  cursors: Map<string, SourceCursor>;
}

/** How a mailbox's incoming messages are chosen and correlated (src/policy/tracking.ts, correlation.ts). */
export interface TrackingSettings {
  /** The owner's option (a user's or a queue's); 'all' for a mailbox without an owner. */
  option: TrackingOption;
  smartMatching: boolean;
  correlateForwards: boolean;
  /** The prefixes whose tokens are looked for in subjects: the organisation's and every mailbox's own. */
  tokenPrefixes: string[];
  /** Lower case: addresses in them are the organisation's own. */
  ownDomains: string[];
  /** The owner (a user) has a contact created for a tracked message's sender who resolves to nothing. */
  createContactsForUnknownSenders: boolean;
}

/** What the tracking decision of an email rests on, worked out before its batch's commit. */
export interface EmailTrackingFacts {
  /**
   * What the sender resolved to; for a message the mailbox sent, what its recipients did (a CRM
   * lead, contact or account first, then a user or queue), since the option is about the other side.
   */
  senderRecordType: CrmRecordType | null;
  correlation: IncomingCorrelationFacts;
  /** The sender, resolving to nothing and outside the own domains, when the owner wants contacts made for such. */
  unknownSender: { address: string; name: string | null } | null;
}

export interface StoredParty {
  role: PartyRole;
  /** Null for a party named without an address: kept by its name, unresolved. */
  address: string | null;
  name: string | null;
  record: CrmRecordRef | null;
}

export interface IncomingEmail {
  remoteId: string;
  message: EmailMessage;
  receivedAt: Date | null;
  parties: StoredParty[];
  /** From the mailbox's own address: stored as sent mail. */
  direction: 'incoming' | 'outgoing';
  tracking: EmailTrackingFacts;
}

export interface ItemError {
  remoteId: string;
  message: string;
}

export interface IncomingBatchCommit {
  mailboxId: string;
  /** The mapping the sync started under: the commit fails with SyncSupersededError if it changed. */
  mappingVersion: number;
  ownerUserId: string | null;
  /** Each email stored or linked becomes an item of this queue. */
  ownerQueueId: string | null;
  folder: string;
  /** Candidates: those the mailbox's tracking option takes become activities, correlated with earlier ones. */
  emails: IncomingEmail[];
  tracking: Pick<TrackingSettings, 'option' | 'smartMatching' | 'correlateForwards'>;
  errors: ItemError[];
  /** Links of the folder's previous identity are dropped first (UIDVALIDITY change). */
  reset: boolean;
  /** Remote ids gone from the folder: their links in it are dropped (see IncomingBatch.removed). */
  removed?: string[];
  /** Moves in the same transaction as what it covers; omitted when storing items ahead of the cursor. */
  cursor?: SourceCursor;
  /** Remote ids recorded as seen with this batch (set-positioned sources, see IncomingBatch.seen). */
  seen?: string[];
  /** The folder's whole listing: seen ids not in it are forgotten with this batch (see IncomingBatch.listed). */
  listed?: string[];
  /** Where the running sync stands once this batch is in; stored with it. */
  progress?: { folder: string; itemsDone: number; itemsTotal: number };
}

export interface CycleStats {
  itemsProcessed: number;
  itemsFailed: number;
  nextSyncAt: Date | null;
}

export interface MailboxFailure {
  errorClass: 'transient' | 'permanent';
  message: string;
  /** Network level: the server's fault (see src/policy/failurePolicy.ts). */
  unreachable: boolean;
  consecutiveErrors: number;
  nextSyncAt: Date;
}

export interface FailureRecorded {
  /** Incoming sync was disabled by this failure (see decideMailboxFailure). */
  disabled: boolean;
}

export interface SuccessRecorded {
  /** The server answered again after being unreachable: these mailboxes of its profile should retry now. */
  wake: string[];
}

export interface TestAndEnableResult {
  incoming: DirectionResult;
  outgoing: DirectionResult;
  /** Appointments, contacts and tasks (Exchange only). */
  items: DirectionResult;
  incomingEnabled: boolean;
  outgoingEnabled: boolean;
  itemsEnabled: boolean;
}

export interface ConnectivityResults {
  incoming: DirectionResult;
  outgoing: DirectionResult;
  items: DirectionResult;
}

/** The mailbox was disabled or remapped while a sync ran: what it still held is not stored. */
export class SyncSupersededError extends Error {
  constructor(readonly reason: 'disabled' | 'remapped') {
    super(`The mailbox was ${reason} while it synced`);
    this.name = 'SyncSupersededError';
  }
}

/** The CRM and sync state as the sync engine reads and writes it. */
export interface SyncStore {
  describeMailbox(mailboxId: string): Promise<MailboxPlan | null>;
  loadSyncContext(mailboxId: string): Promise<MailboxSyncContext | null>;
  /** Lower-cased address -> the CRM record it belongs to. */
  resolveAddresses(addresses: string[]): Promise<Map<string, CrmRecordRef>>;
  /**
   * Decides which emails to track and correlates them with what the CRM holds (earlier batches and
   * earlier emails of this one), creates contacts for unknown senders, and stores the tracked emails
   * (activities, parties, attachments), item errors and the folder cursor atomically. An email whose
   * remote id is linked in the folder already is stored and left alone (a source may list it again).
   * Returns how many activities were new, and the remote ids of the emails stored (those the tracking option took).
   */
  commitIncomingBatch(commit: IncomingBatchCommit): Promise<{ created: number; storedRemoteIds: string[] }>;
  /** See SeenItems.lookup: which of these remote ids of the folder were seen, and stored, already. */
  lookupSeen(mailboxId: string, folder: string, remoteIds: string[]): Promise<{ seen: Set<string>; stored: Set<string>; unlisted: number }>;
  recordCycleStart(mailboxId: string): Promise<void>;
  /** Records a success, resolves the mailbox's alerts and, if its server was unreachable, the server's. */
  recordCycleSuccess(mailboxId: string, stats: CycleStats): Promise<SuccessRecorded>;
  /**
   * Records a failure, decides whether it disables the mailbox, raises or bumps its alerts, and marks
   * the server unreachable when most of its mailboxes cannot reach it.
   */
  recordMailboxFailure(mailboxId: string, failure: MailboxFailure): Promise<FailureRecorded>;
  /** Folds an observation of the mail server into its health (see src/policy/serverLoad.ts). */
  recordServerSample(profileId: string, sample: { responseMs?: number; connectionFailed: boolean; throttledForMs?: number }): Promise<void>;
  /**
   * Stores Test & Enable's results: a pass enables its direction (approval permitting), a permanent
   * failure disables it, a transient one leaves it as it was (see enabledAfterTest).
   */
  recordTestResults(mailboxId: string, results: ConnectivityResults): Promise<TestAndEnableResult>;
}
