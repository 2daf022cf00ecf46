import type { EmailMessage } from '../domain/email';

/** Provider-specific position in a folder (IMAP: UIDVALIDITY/UID/MODSEQ, Graph: delta link), stored as JSON. */
export type SourceCursor = { readonly [key: string]: string | number | boolean | null };

export type IncomingItem =
  /** A raw RFC 5322 message (IMAP, POP3). */
  | { kind: 'mime'; remoteId: string; raw: Buffer; receivedAt: Date | null }
  /** A message the provider already delivered structured (Graph). */
  | { kind: 'email'; remoteId: string; message: EmailMessage; receivedAt: Date | null }
  /** An item the source could not or would not fetch (too large, vanished). */
  | { kind: 'error'; remoteId: string; message: string };

export interface IncomingBatch {
  items: IncomingItem[];
  /** Covers this batch and everything before it in the folder. */
  cursor: SourceCursor;
  /** Items passed over by the source itself (older than the profile's "process email from" date). */
  skipped: number;
  /** The folder's identity changed (IMAP UIDVALIDITY, Graph 410): links to its old item ids are stale. */
  reset: boolean;
  /** Items of this pull still to come after this batch. */
  remaining: number;
}

export interface PullOptions {
  batchSize: number;
  processEmailFrom: Date | null;
  maxMessageBytes: number;
}

/** The Sent folder of a mailbox that names none and whose server marks none. */
export const DEFAULT_SENT_FOLDER = 'Sent';

/** Incoming mail of one mailbox, whatever protocol serves it. */
export interface MailSource {
  /** Opens the connection and authenticates; rejects with the server's error. */
  connect(): Promise<void>;
  /** Batches, in folder order, of what arrived in `folder` since `cursor` (all of it when null). */
  pull(folder: string, cursor: SourceCursor | null, options: PullOptions): AsyncIterable<IncomingBatch>;
  /** The folder the server marks as holding sent mail (IMAP SPECIAL-USE \Sent), or null. */
  findSentFolder(): Promise<string | null>;
  close(): Promise<void>;
}

/** Connection facts for one mailbox, credentials already decrypted. */
export interface MailServerEndpoint {
  host: string;
  port: number;
  security: 'none' | 'starttls' | 'tls';
  username: string;
  password: string;
  connectionTimeoutMs: number;
}
