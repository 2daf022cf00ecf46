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
  /**
   * Remote ids gone from the folder (Graph's `@removed`: deleted, or moved to another folder):
   * their links in this folder are dropped with this batch; the CRM activities stay.
   */
  removed?: string[];
  /**
   * False when a later cycle could not pick up where this batch ends (Graph: a next link serves
   * once, and the source has read the next page already): the cycle budget does not end the cycle
   * here but at the end of the round.
   */
  resumableHere?: boolean;
  /** Items of this pull still to come after this batch. */
  remaining: number;
  /**
   * Sources whose position is a set of item ids rather than a point (POP3's UIDLs): every remote id
   * this batch covers, stored or not (filtered out, failed), recorded as seen in its commit.
   */
  seen?: string[];
  /**
   * The folder's whole listing, on a set-positioned source's first batch: seen ids no longer in it
   * (deleted on the server) are forgotten in this batch's commit.
   */
  listed?: string[];
}

/** What a set-positioned source (see IncomingBatch.seen) asks the store before it downloads anything. */
export interface SeenItems {
  /**
   * Of these remote ids of the folder, those already seen, and among them those stored as CRM
   * items; `unlisted`: how many seen ids are not among them (gone from the server).
   */
  lookup(remoteIds: string[]): Promise<{ seen: Set<string>; stored: Set<string>; unlisted: number }>;
}

export interface PullOptions {
  batchSize: number;
  /** A batch also ends once its messages reach this many bytes (one larger message is a batch alone). */
  batchMaxBytes: number;
  processEmailFrom: Date | null;
  maxMessageBytes: number;
  /** What the store already holds of the folder, for sources that track a set of seen ids. */
  seen: SeenItems;
}

/** The Sent folder of a mailbox that names none and whose server marks none. */
export const DEFAULT_SENT_FOLDER = 'Sent';

/** Incoming mail of one mailbox, whatever protocol serves it. */
export interface MailSource {
  /** Opens the connection and authenticates; rejects with the server's error. */
  connect(): Promise<void>;
  /** Batches, in folder order, of what arrived in `folder` since `cursor` (all of it when null). */
  pull(folder: string, cursor: SourceCursor | null, options: PullOptions): AsyncIterable<IncomingBatch>;
  /**
   * Called once a batch is committed, with the remote ids it stored as CRM items; never for items
   * that failed, were filtered out or skipped. A source told to remove processed mail ("delete
   * after processing") removes these, and only these. Optional: most sources leave mail in place.
   */
  committed?(folder: string, storedRemoteIds: string[]): Promise<void>;
  /** The folder the server marks as holding sent mail (IMAP SPECIAL-USE \Sent), or null. */
  findSentFolder(): Promise<string | null>;
  /** Ends the session; a source that removes processed mail completes the removal here (POP3: QUIT). */
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
