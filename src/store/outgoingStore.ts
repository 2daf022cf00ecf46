import type { GraphEndpoint } from '../mail/graph/graphEndpoint';
import type { MailServerEndpoint } from '../mail/mailSource';
import type { ServerType } from './syncStore';

export interface OutgoingParty {
  address: string;
  name: string | null;
}

export interface OutgoingAttachment {
  filename: string | null;
  contentType: string;
  contentId: string | null;
  inline: boolean;
  content: Buffer;
}

/** An email the CRM queued, as the send engine takes it: its Message-ID and Date already fixed. */
export interface OutgoingEmail {
  id: string;
  messageId: string;
  /** The Date header: when the email was first taken for sending. */
  date: Date;
  /** It was already being sent when a run was lost: it may have reached the server. */
  interrupted: boolean;
  /** The SMTP server accepted it already; only its Sent copy may be missing. */
  accepted: boolean;
  sendAttempts: number;
  /** The server holds it as a draft under this id (Graph), recorded before the draft was sent; null before. */
  draftId: string | null;
  to: OutgoingParty[];
  cc: OutgoingParty[];
  bcc: OutgoingParty[];
  subject: string | null;
  bodyText: string | null;
  bodyHtml: string | null;
  inReplyTo: string | null;
  references: string[];
  attachments: OutgoingAttachment[];
}

/** Everything one send run needs, credentials decrypted (never leaves the activity). */
export interface OutgoingContext {
  mailboxId: string;
  /** The From address: the mailbox's own. */
  emailAddress: string;
  /** The owner's name (user or queue), for the From header. */
  senderName: string | null;
  ownerUserId: string | null;
  profileId: string;
  serverType: ServerType;
  maxConcurrentConnections: number;
  outgoingEnabled: boolean;
  /** The profile's SMTP server; null when it has none. */
  smtp: MailServerEndpoint | null;
  /** exchange_online: mail goes out through Graph as this tenant user; null for IMAP and POP3 profiles. */
  graph: GraphEndpoint | null;
  /** Where the Sent copy goes (IMAP), null when the profile keeps none or has no IMAP server. */
  sentCopies: { endpoint: MailServerEndpoint; folder: string | null } | null;
  maxSendAttempts: number;
}

/** The outbox as the send engine reads and writes it. */
export interface OutgoingStore {
  loadOutgoingContext(mailboxId: string): Promise<OutgoingContext | null>;
  /**
   * Takes up to `limit` of the mailbox owner's emails that are due (pending and not waiting for a
   * retry, or interrupted), oldest first: fixes the Message-ID and Date of those without, and
   * marks them `sending` before anything goes to the server. `excluding`: emails of this run
   * whose copies are still being saved.
   */
  takeDueEmails(mailboxId: string, limit: number, excluding: string[]): Promise<OutgoingEmail[]>;
  /**
   * The server holds the email as a draft under `draftId`, with the Message-ID it gave it: recorded
   * before the draft is sent, so a lost run can ask the server what became of it.
   */
  recordDraft(emailId: string, draft: { draftId: string; messageId: string }): Promise<void>;
  /** The server accepted the email: it is never sent again. `sent` when no Sent copy is wanted. */
  recordAccepted(emailId: string, outcome: { note: string | null; sent: boolean }): Promise<void>;
  /** The Sent copy is saved (or was found there): the emails are `sent`. */
  recordSent(emailIds: string[], copySaved: boolean): Promise<void>;
  /** A 4xx: pending again until `nextAttemptAt`, the attempt counted. */
  recordDeferred(emailId: string, reason: string, nextAttemptAt: Date): Promise<void>;
  /** Failed for good: status `failed` with the reason, and an alert to the owner. */
  recordFailed(mailboxId: string, emailId: string, reason: string): Promise<void>;
  /** Never handed to the server in this run: pending again, no attempt counted. */
  releaseUnsent(emailIds: string[], nextAttemptAt: Date | null): Promise<void>;
  /** The credentials were refused: outgoing disabled, error recorded, alert raised. Incoming is untouched. */
  disableOutgoing(mailboxId: string, reason: string): Promise<void>;
  /** The server could not be reached: the direction shows the failure, stays enabled, and is retried. */
  recordOutgoingUnreachable(mailboxId: string, reason: string): Promise<void>;
  /** Something was sent: the direction works; its failure alert resolves. */
  recordOutgoingSuccess(mailboxId: string): Promise<void>;
  /** When the mailbox's next deferred email falls due; null when none waits. */
  nextDeferredAt(mailboxId: string): Promise<Date | null>;
}
