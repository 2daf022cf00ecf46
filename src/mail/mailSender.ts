import type { SendFailureDecision } from '../policy/outgoingSend';
import type { ErrorClass } from '../policy/errorClassification';
import type { OutgoingEmail, OutgoingParty } from '../store/outgoingStore';

export interface RejectedRecipient {
  address: string;
  reason: string;
}

/** What the server said on taking an email: recipients it refused while accepting the others, and the message as it went out when the product composed it. */
export interface Handover {
  rejected: RejectedRecipient[];
  message?: Buffer;
}

/**
 * Hands emails to the server for delivery, one at a time over one connection, whatever protocol
 * serves it. `send` resolves once the server accepted the email; it rejects with the server's
 * error, which the route's decideFailure reads.
 */
export interface OutgoingTransport {
  send(email: OutgoingEmail, from: OutgoingParty): Promise<Handover>;
  close(): Promise<void>;
}

/** An email to keep in the Sent folder; `asSent`: the message as it went out, saved as it is (for an email without Bcc its copy is the same), else composed. */
export interface SentCopy {
  email: OutgoingEmail;
  asSent?: Buffer;
}

/** The mailbox's Sent folder: where the product saves a copy of each email sent, and where an interrupted send is looked for. */
export interface SentFolder {
  /** Which of these Message-IDs have a copy there. */
  find(messageIds: string[]): Promise<Set<string>>;
  /** Saves a copy of each, all or none of a group at a time where the server can (it is told how many each time it saved some). */
  save(copies: SentCopy[], from: OutgoingParty, onSaved?: (count: number) => void): Promise<void>;
  close(): Promise<void>;
}

/**
 * One mailbox's way out, as the outgoing engine sees it: SMTP with an IMAP Sent folder
 * (src/mail/smtp/smtpRoute.ts), or Microsoft Graph (src/mail/graph/graphOutbox.ts).
 */
export interface OutgoingRoute {
  /** The connection slot each connection takes: the mail server's, or the Graph mailbox's. */
  slot: { key: string; cap: number };
  openTransport(): Promise<OutgoingTransport>;
  /** What a failure to open the transport, to send, or to look up interrupted emails means. */
  decideFailure(err: unknown): SendFailureDecision;
  /**
   * Of emails a lost run was sending (`interrupted`, not yet `accepted`), the ids of those that
   * went out already; the others are sent (again) by the transport. Run holding a slot;
   * `onProgress` after each email looked up (the activity heartbeats it).
   */
  findDelivered(emails: OutgoingEmail[], onProgress?: () => void): Promise<Set<string>>;
  /** Where the product saves copies; null when the server keeps its own (Graph) or none is wanted. */
  sentCopies: { open(): Promise<SentFolder>; classify(err: unknown): { errorClass: ErrorClass; message: string } } | null;
}
