import type { CrmRecordRef, EmailMessage, PartyRole } from '../domain/email';
import type { DirectionResult, OutgoingEndpoint } from '../mail/connectivity';
import type { MailServerEndpoint, SourceCursor } from '../mail/mailSource';
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
  /** The owner's: the user's, or the queue's. */
  trackingOption: TrackingOption;
  folders: string[];
  incomingEnabled: boolean;
  serverType: ServerType;
  endpoint: MailServerEndpoint;
  /** The profile's SMTP server, when it has one; same credentials as incoming. */
  outgoing: OutgoingEndpoint | null;
  processEmailFrom: Date | null;
  maxMessageBytes: number;
  /** Remove mail from the server once the CRM committed it (queue mailboxes; POP3 only). */
  deleteAfterProcessing: boolean;
  cursors: Map<string, SourceCursor>;
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
  emails: IncomingEmail[];
  errors: ItemError[];
  /** Links of the folder's previous identity are dropped first (UIDVALIDITY change). */
  reset: boolean;
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
  /** Which of these Message-IDs are already email activities. */
  findTrackedMessageIds(messageIds: string[]): Promise<Set<string>>;
  /**
   * Stores emails (activities, parties, attachments), item errors and the folder cursor atomically.
   * Returns how many activities were new.
   */
  commitIncomingBatch(commit: IncomingBatchCommit): Promise<{ created: number }>;
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
