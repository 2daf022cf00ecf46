/** A party as it appears on a message; `address` is null when the header names it without one. */
export interface EmailAddress {
  address: string | null;
  name?: string;
}

export interface AttachmentInfo {
  filename: string | null;
  contentType: string;
  /** Bytes of the decoded content. */
  size: number;
  /** SHA-256 of the decoded content, hex: the key of content-addressed storage. */
  sha256: string;
  /** Content-ID without its angle brackets, for the `cid:` references of the HTML body. */
  contentId: string | null;
  /** Shown in the body (Content-Disposition inline or none) rather than offered as a file. */
  inline: boolean;
}

/** A message in the form the CRM stores it, whatever the provider delivered. */
export interface EmailMessage {
  /** Message-ID, or for a message without one a digest of its full raw content. */
  messageId: string;
  /** Digest of the message without what differs between copies of it (trace fields, Bcc): equal for copies, different for variants. */
  contentDigest: string;
  subject: string | null;
  bodyText: string | null;
  /** HTML body sanitised for display: nothing runs, nothing loads from elsewhere. */
  bodyHtml: string | null;
  /** The Date header's instant; null when it is missing or unreadable, never a substitute. */
  sentAt: Date | null;
  from: EmailAddress[];
  to: EmailAddress[];
  cc: EmailAddress[];
  bcc: EmailAddress[];
  inReplyTo: string | null;
  references: string[];
  sizeBytes: number;
  attachments: AttachmentInfo[];
  /** Decoded content of `attachments[i]`, kept apart so the descriptions serialise without it. */
  attachmentContent: Buffer[];
}

export type PartyRole = 'from' | 'to' | 'cc' | 'bcc';
export type CrmRecordType = 'user' | 'queue' | 'contact' | 'account' | 'lead';

export interface CrmRecordRef {
  type: CrmRecordType;
  id: string;
}
