/** A mail address as it appears on a message. */
export interface EmailAddress {
  address: string;
  name?: string;
}

export interface AttachmentInfo {
  filename: string | null;
  contentType: string;
  size: number;
}

/** A message in the form the CRM stores it, whatever the provider delivered. */
export interface EmailMessage {
  messageId: string;
  subject: string | null;
  bodyText: string | null;
  sentAt: Date | null;
  from: EmailAddress[];
  to: EmailAddress[];
  cc: EmailAddress[];
  bcc: EmailAddress[];
  inReplyTo: string | null;
  references: string[];
  sizeBytes: number;
  attachments: AttachmentInfo[];
}

export type PartyRole = 'from' | 'to' | 'cc' | 'bcc';
export type CrmRecordType = 'user' | 'contact' | 'account' | 'lead';

export interface CrmRecordRef {
  type: CrmRecordType;
  id: string;
}
