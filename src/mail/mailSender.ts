import type { OutgoingEmail, OutgoingParty } from '../store/outgoingStore';

export interface RejectedRecipient {
  address: string;
  reason: string;
}

/**
 * Hands emails to the mail server for delivery, one at a time over one connection, whatever
 * protocol serves it. `send` resolves once the server accepted the email, naming recipients it
 * refused while accepting the others, with the message as it went out; it rejects with the
 * server's error, marked `transferStarted` when the email may have been handed over (see
 * decideSendFailure).
 */
export interface OutgoingTransport {
  send(email: OutgoingEmail, from: OutgoingParty): Promise<{ rejected: RejectedRecipient[]; message: Buffer }>;
  close(): Promise<void>;
}

/** The mailbox's Sent folder: where a copy of each email sent goes, and where an interrupted send is looked for. */
export interface SentFolder {
  /** Which of these Message-IDs have a copy there. */
  find(messageIds: string[]): Promise<Set<string>>;
  /** `asSent`: the message as it went out, saved as it is (for an email without Bcc its copy is the same); else composed. */
  save(email: OutgoingEmail, from: OutgoingParty, asSent?: Buffer): Promise<void>;
  close(): Promise<void>;
}
