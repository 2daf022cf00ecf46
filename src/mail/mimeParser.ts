import { createHash } from 'node:crypto';
import libmime from 'libmime';
import addressparser from 'nodemailer/lib/addressparser';
import type { AttachmentInfo, EmailAddress, EmailMessage } from '../domain/email';
import { decodeCharset, decodeUndeclared, detectCharset, headerCharset, isAscii, namesEightBitCharset } from './mime/charset';
import { parseMailDate } from './mime/date';
import { decodeTransfer, type MimeEntity, parseEntity, rfc2231Decoded } from './mime/entity';
import { decodeEncodedWords, type HeaderField, headerValue, splitHeaders } from './mime/headers';
import { htmlToText, sanitiseHtml } from './mime/html';
import { contentDigest, messageIdentity } from './mime/identity';

/** Longest body kept on an activity; the rest of a huge body is cut, not the message lost. */
export const MAX_BODY_CHARS = 1_000_000;
export const MAX_HEADER_CHARS = 998;
export const MAX_ADDRESS_CHARS = 320;

// PostgreSQL text cannot hold NUL, nor JSON a lone surrogate; hostile mail carries both.
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** The value as PostgreSQL and JSON can hold it, cut to `max` characters. */
export function clean(value: string | undefined | null, max: number): string | null {
  if (value === undefined || value === null) return null;
  const s = value.replace(UNSTORABLE, (c) => (c === '\u0000' ? '' : '\uFFFD'));
  return s.length > max ? s.slice(0, max) : s;
}

/** Decodes header values of one message: undeclared 8-bit bytes in the message's header charset, then encoded-words. */
class HeaderDecoder {
  private charset: string | undefined;

  constructor(
    private readonly fields: HeaderField[],
    private readonly declaredCharset: () => string | null,
  ) {}

  /** A header value's characters, encoded-words left as they are (addresses are split before those are decoded). */
  raw(value: string): string {
    if (isAscii(value)) return value;
    return decodeUndeclared(Buffer.from(value, 'latin1'), () => (this.charset ??= this.findCharset()));
  }

  /** Encoded-words of text already decoded from bytes. */
  words(value: string): string {
    return decodeEncodedWords(value, (bytes) => this.raw(bytes.toString('latin1')));
  }

  text(value: string | null): string | null {
    return value === null ? null : this.words(this.raw(value));
  }

  private findCharset(): string {
    return headerCharset(this.declaredCharset(), () =>
      Buffer.from(
        this.fields
          .map((f) => f.value)
          .filter((v) => !isAscii(v))
          .join('\n'),
        'latin1',
      ),
    );
  }
}

function addresses(fields: HeaderField[], name: string, headers: HeaderDecoder): EmailAddress[] {
  // A sender named without an address ("From: Mary Smith") is still the sender. Elsewhere such a
  // name is as often a comment or group the address parser could not place, so it is no party.
  const nameOnly = name === 'from';
  const out: EmailAddress[] = [];
  const visit = (entries: ReturnType<typeof addressparser>) => {
    for (const e of entries) {
      if ('group' in e && e.group) {
        visit(e.group);
        continue;
      }
      const address = clean(e.address, MAX_ADDRESS_CHARS)?.trim().toLowerCase() || null;
      const displayName = clean(headers.words(e.name ?? ''), MAX_HEADER_CHARS)?.trim() || null;
      if (address || (nameOnly && displayName)) out.push({ address, ...(displayName ? { name: displayName } : {}) });
    }
  };
  for (const f of fields) if (f.name === name) visit(addressparser(headers.raw(f.value)));
  return out;
}

/** A Message-ID-like value in angle brackets, as mailparser gives them. */
export function messageIdFormat(value: string): string | null {
  const v = value.trim();
  if (!v) return null;
  return `${v.startsWith('<') ? '' : '<'}${v}${v.endsWith('>') ? '' : '>'}`;
}

/** The ids of a References field: its <...> tokens (folding removed), or its words when a client left out the brackets. */
export function messageIds(value: string): string[] {
  const bracketed = value.match(/<[^<>]*>/g);
  if (bracketed) return bracketed.map((id) => id.replace(/\s+/g, ''));
  return value
    .split(/\s+/)
    .map(messageIdFormat)
    .filter((id): id is string => id !== null);
}

function firstTextCharset(entity: MimeEntity): string | null {
  if (entity.params.charset && (entity.children.length > 0 || entity.contentType.startsWith('text/'))) return entity.params.charset;
  for (const child of entity.children) {
    const charset = firstTextCharset(child);
    if (charset) return charset;
  }
  return null;
}

function isBodyText(entity: MimeEntity): boolean {
  return (
    (entity.contentType === 'text/plain' || entity.contentType === 'text/html') &&
    // RFC 2183 §2.8: an unknown disposition is treated as an attachment.
    (entity.disposition === null || entity.disposition === 'inline') &&
    !entity.dispositionParams.filename &&
    !entity.params.name
  );
}

/** What the walk of a message's MIME tree finds: the body's parts, and everything else as attachments. */
interface Found {
  text: MimeEntity | null;
  html: MimeEntity | null;
  attachments: MimeEntity[];
}

/**
 * The body is the first text part not offered as a file (both versions of the first
 * multipart/alternative, the root of a multipart/related); every other leaf is an attachment,
 * attached messages and inline text parts included.
 */
function walk(entity: MimeEntity, found: Found): void {
  const bodyTaken = found.text !== null || found.html !== null;
  if (entity.children.length > 0) {
    if (entity.contentType === 'multipart/alternative' && !bodyTaken) {
      // RFC 2046 §5.1.4: the last alternative is the preferred one; an earlier one of the same type is a copy.
      for (const child of entity.children) {
        const version: Found = { text: null, html: null, attachments: [] };
        walk(child, version);
        found.text = version.text ?? found.text;
        found.html = version.html ?? found.html;
        found.attachments.push(...version.attachments);
      }
      return;
    }
    const children = [...entity.children];
    if (entity.contentType === 'multipart/related') {
      // RFC 2387: the root is the part named by "start", else the first.
      const start = entity.params.start?.replace(/^<|>$/g, '');
      const root = start ? children.findIndex((c) => contentId(c) === start) : 0;
      if (root > 0) children.unshift(...children.splice(root, 1));
    }
    for (const child of children) walk(child, found);
    return;
  }
  if (!isBodyText(entity)) found.attachments.push(entity);
  else if (bodyTaken) {
    // Mailers leave empty text parts between attachments (Apple Mail after each one); they carry nothing.
    if (!/^\s*$/.test(decodeTransfer(entity).toString('latin1'))) found.attachments.push(entity);
  } else if (entity.contentType === 'text/html') found.html = entity;
  else found.text = entity;
}

function contentId(entity: MimeEntity): string | null {
  return headerValue(entity.fields, 'content-id')?.trim().replace(/^<|>$/g, '') || null;
}

function textOf(entity: MimeEntity): string {
  const bytes = decodeTransfer(entity);
  const charset = entity.params.charset;
  const declared = charset && namesEightBitCharset(charset);
  const text = (declared ? decodeCharset(bytes, charset) : decodeUndeclared(bytes, () => detectCharset(bytes) ?? 'latin1')).replace(/\r\n?/g, '\n');
  // RFC 3676: flowed lines are joined back into paragraphs.
  return entity.params.format?.toLowerCase() === 'flowed' ? libmime.decodeFlowed(text, entity.params.delsp?.toLowerCase() === 'yes') : text;
}

/** A parameter's text: RFC 2231 ones arrive decoded, others may still hold 8-bit bytes and encoded-words. */
function paramText(params: Record<string, string>, name: string, headers: HeaderDecoder): string | null {
  const value = params[name];
  if (value === undefined) return null;
  return rfc2231Decoded(params).has(name) ? value : headers.text(value);
}

function attachmentOf(entity: MimeEntity, headers: HeaderDecoder): { info: AttachmentInfo; content: Buffer } {
  const content = decodeTransfer(entity);
  let filename = paramText(entity.dispositionParams, 'filename', headers) ?? paramText(entity.params, 'name', headers);
  if (!filename && (entity.contentType === 'message/rfc822' || entity.contentType === 'message/global')) {
    // An attached message is shown by its subject, as mail clients do.
    const subject = headers.text(headerValue(splitHeaders(content).fields, 'subject'));
    filename = `${subject?.trim() || 'message'}.eml`;
  }
  const contentType =
    entity.contentType === 'application/octet-stream' && filename ? libmime.detectMimeType(filename) || entity.contentType : entity.contentType;
  return {
    info: {
      filename: clean(filename, MAX_HEADER_CHARS),
      contentType: clean(contentType, MAX_HEADER_CHARS)!,
      size: content.length,
      sha256: createHash('sha256').update(content).digest('hex'),
      contentId: clean(contentId(entity), MAX_HEADER_CHARS),
      inline: entity.disposition !== 'attachment',
    },
    content,
  };
}

export async function parseMimeMessage(raw: Buffer): Promise<EmailMessage> {
  const root = parseEntity(raw);
  const fields = root.fields;
  const headers = new HeaderDecoder(fields, () => firstTextCharset(root));
  const found: Found = { text: null, html: null, attachments: [] };
  walk(root, found);

  const html = found.html ? clean(sanitiseHtml(textOf(found.html).slice(0, MAX_BODY_CHARS)).trim(), MAX_BODY_CHARS) : null;
  const text = found.text ? textOf(found.text) : html !== null ? htmlToText(html) : null;
  const attachments = found.attachments.map((a) => attachmentOf(a, headers));
  const references = fields
    .filter((f) => f.name === 'references')
    .flatMap((f) => messageIds(headers.text(f.value)!))
    .map((r) => clean(r, MAX_HEADER_CHARS)!)
    .slice(0, 100);
  const messageId = headers.text(headerValue(fields, 'message-id'));
  const inReplyTo = headers.text(headerValue(fields, 'in-reply-to'));
  return {
    messageId: messageIdentity(clean(messageId === null ? null : messageIdFormat(messageId), 10_000), raw),
    contentDigest: contentDigest(raw),
    subject: clean(headers.text(headerValue(fields, 'subject')), MAX_HEADER_CHARS) || null,
    bodyText: clean(text, MAX_BODY_CHARS),
    bodyHtml: html,
    sentAt: parseMailDate(headerValue(fields, 'date')),
    from: addresses(fields, 'from', headers),
    to: addresses(fields, 'to', headers),
    cc: addresses(fields, 'cc', headers),
    bcc: addresses(fields, 'bcc', headers),
    inReplyTo: clean(inReplyTo === null ? null : messageIdFormat(inReplyTo), MAX_HEADER_CHARS),
    references,
    sizeBytes: raw.length,
    attachments: attachments.map((a) => a.info),
    attachmentContent: attachments.map((a) => a.content),
  };
}
