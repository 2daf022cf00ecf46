/**
 * A Graph message as the CRM stores it: the structured counterpart of parseMimeMessage. Pure.
 */
import { createHash } from 'node:crypto';
import type { FileAttachment, Message, Recipient } from '@microsoft/microsoft-graph-types';
import type { AttachmentInfo, EmailAddress, EmailMessage } from '../../domain/email';
import { htmlToText, sanitiseHtml } from '../mime/html';
import { isCopySpecificField, messageIdentity, normalisedBody } from '../mime/identity';
import { clean, MAX_ADDRESS_CHARS, MAX_BODY_CHARS, MAX_HEADER_CHARS, messageIdFormat, messageIds } from '../mimeParser';

/** What the delta query asks of every message: what the CRM stores, and what tells a move from a new message. */
export const MESSAGE_SELECT = [
  'subject',
  'from',
  'sender',
  'toRecipients',
  'ccRecipients',
  'bccRecipients',
  'replyTo',
  'body',
  'receivedDateTime',
  'sentDateTime',
  'internetMessageId',
  'internetMessageHeaders',
  'conversationId',
  'hasAttachments',
  'parentFolderId',
];

/** A Graph attachment with its content, as `GET .../attachments` returns a file attachment. */
export type GraphAttachment = Pick<FileAttachment, 'name' | 'contentType' | 'size' | 'isInline' | 'contentId' | 'contentBytes'> & {
  '@odata.type'?: string;
};

/** A Graph message and its file attachments, to become the message the CRM stores. */
export interface GraphMessageInput {
  message: Message;
  attachments: GraphAttachment[];
}

function addresses(recipients: Recipient[] | null | undefined): EmailAddress[] {
  const out: EmailAddress[] = [];
  for (const r of recipients ?? []) {
    const address = clean(r.emailAddress?.address, MAX_ADDRESS_CHARS)?.trim().toLowerCase() || null;
    const name = clean(r.emailAddress?.name, MAX_HEADER_CHARS)?.trim() || null;
    if (address || name) out.push({ address, ...(name && name !== address ? { name } : {}) });
  }
  return out;
}

function toDate(value: string | null | undefined): Date | null {
  if (!value) return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** The message's own header, when Graph gave the headers (`internetMessageHeaders`, only on $select). */
function header(message: Message, name: string): string | null {
  const found = message.internetMessageHeaders?.find((h) => h.name?.toLowerCase() === name);
  return found?.value ?? null;
}

/** Whether the HTML body shows pictures the message carries: Graph's hasAttachments leaves inline ones out. */
export function referencesInlineImages(message: Message): boolean {
  return message.body?.contentType === 'html' && /\bcid:/i.test(message.body.content ?? '');
}

function attachmentOf(a: GraphAttachment): { info: AttachmentInfo; content: Buffer } {
  const content = Buffer.from(a.contentBytes ?? '', 'base64');
  return {
    info: {
      filename: clean(a.name, MAX_HEADER_CHARS),
      contentType: clean(a.contentType, MAX_HEADER_CHARS) || 'application/octet-stream',
      size: content.length,
      sha256: createHash('sha256').update(content).digest('hex'),
      contentId: clean(a.contentId?.replace(/^<|>$/g, ''), MAX_HEADER_CHARS) || null,
      inline: a.isInline === true,
    },
    content,
  };
}

/**
 * What the sender wrote, in a fixed order, without what differs between copies (the Bcc, the
 * folder, the arrival time, trace headers): the Graph counterpart of the MIME path's content digest.
 */
function canonicalContent(message: Message, body: Buffer, attachments: AttachmentInfo[]): Buffer {
  const party = (r: Recipient | null | undefined) => [r?.emailAddress?.address?.toLowerCase() ?? null, r?.emailAddress?.name ?? null];
  const headers = (message.internetMessageHeaders ?? [])
    .filter((h) => h.name && !isCopySpecificField(h.name.toLowerCase()))
    .map((h) => `${h.name!.toLowerCase()}:${(h.value ?? '').replace(/\s+/g, ' ')}`);
  const fields = JSON.stringify({
    internetMessageId: message.internetMessageId ?? null,
    subject: message.subject ?? null,
    from: party(message.from),
    sender: party(message.sender),
    to: (message.toRecipients ?? []).map(party),
    cc: (message.ccRecipients ?? []).map(party),
    replyTo: (message.replyTo ?? []).map(party),
    sentDateTime: message.sentDateTime ?? null,
    headers,
    bodyType: message.body?.contentType ?? null,
    attachments: attachments.map((a) => [a.filename, a.contentType, a.sha256, a.contentId, a.inline]),
  });
  return Buffer.concat([Buffer.from(fields, 'utf8'), Buffer.from('\n'), normalisedBody(body)]);
}

/**
 * The message the CRM stores from a Graph message and its file attachments (others carry no
 * content of their own and are left out). `sizeBytes` is the body's and the attachments' bytes:
 * Graph gives no size of the message as sent.
 */
export function emailFromGraph(message: Message, attachments: GraphAttachment[]): EmailMessage {
  const rawBody = message.body?.content ?? '';
  const bodyBytes = Buffer.from(rawBody, 'utf8');
  const isHtml = message.body?.contentType === 'html';
  const html = isHtml && rawBody.trim() !== '' ? clean(sanitiseHtml(rawBody.slice(0, MAX_BODY_CHARS)).trim(), MAX_BODY_CHARS) : null;
  const text = isHtml ? (html !== null ? htmlToText(html) : null) : rawBody === '' ? null : rawBody.replace(/\r\n?/g, '\n');
  const files = attachments.filter((a) => a['@odata.type'] === undefined || a['@odata.type'] === '#microsoft.graph.fileAttachment').map(attachmentOf);
  const infos = files.map((f) => f.info);
  const canonical = canonicalContent(message, bodyBytes, infos);
  const internetMessageId = message.internetMessageId ? messageIdFormat(message.internetMessageId) : null;
  const inReplyTo = header(message, 'in-reply-to');
  const references = header(message, 'references');
  const from = addresses(message.from ? [message.from] : message.sender ? [message.sender] : []);
  return {
    messageId: messageIdentity(clean(internetMessageId, 10_000), canonical),
    contentDigest: createHash('sha256').update(canonical).digest('hex'),
    subject: clean(message.subject, MAX_HEADER_CHARS) || null,
    bodyText: clean(text, MAX_BODY_CHARS),
    bodyHtml: html,
    sentAt: toDate(message.sentDateTime),
    from,
    to: addresses(message.toRecipients),
    cc: addresses(message.ccRecipients),
    bcc: addresses(message.bccRecipients),
    inReplyTo: inReplyTo === null ? null : clean(messageIdFormat(inReplyTo), MAX_HEADER_CHARS),
    references: references === null ? [] : messageIds(references).map((r) => clean(r, MAX_HEADER_CHARS)!).slice(0, 100),
    sizeBytes: bodyBytes.length + files.reduce((sum, f) => sum + f.content.length, 0),
    attachments: infos,
    attachmentContent: files.map((f) => f.content),
  };
}

/** When the message arrived in the mailbox, for the "process email from" date and the activity. */
export function receivedAtOf(message: Message): Date | null {
  return toDate(message.receivedDateTime);
}
