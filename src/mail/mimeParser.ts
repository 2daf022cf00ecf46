import { createHash } from 'node:crypto';
import { simpleParser, type AddressObject } from 'mailparser';
import type { EmailAddress, EmailMessage } from '../domain/email';

/** Longest body kept on an activity; the rest of a huge body is cut, not the message lost. */
const MAX_BODY_CHARS = 1_000_000;
const MAX_HEADER_CHARS = 998;
const MAX_ADDRESS_CHARS = 320;

// PostgreSQL text cannot hold NUL, nor JSON a lone surrogate; hostile mail carries both.
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

function clean(value: string | undefined | null, max: number): string | null {
  if (value === undefined || value === null) return null;
  const s = value.replace(UNSTORABLE, (c) => (c === '\u0000' ? '' : '\uFFFD'));
  return s.length > max ? s.slice(0, max) : s;
}

function addresses(field: AddressObject | AddressObject[] | undefined): EmailAddress[] {
  const out: EmailAddress[] = [];
  const visit = (entries: AddressObject['value']) => {
    for (const e of entries) {
      if (e.group) visit(e.group);
      const address = clean(e.address, MAX_ADDRESS_CHARS)?.trim().toLowerCase();
      if (address) out.push({ address, ...(e.name ? { name: clean(e.name, MAX_HEADER_CHARS)! } : {}) });
    }
  };
  for (const obj of Array.isArray(field) ? field : field ? [field] : []) visit(obj.value);
  return out;
}

/**
 * Message-IDs key the dedup of a message seen in several mailboxes. Over-long ones would not
 * fit a btree index entry, and some messages carry none: both get a stable digest instead.
 */
export function normaliseMessageId(raw: string | undefined, fallbackParts: string[]): string {
  const id = clean(raw, 10_000)?.trim();
  if (id && id.length <= 500) return id;
  const basis = id ? [id] : fallbackParts;
  return `<${createHash('sha256').update(basis.join('\u0001')).digest('hex')}@${id ? 'long-id' : 'no-id'}.crm-sync.invalid>`;
}

export async function parseMimeMessage(raw: Buffer): Promise<EmailMessage> {
  const parsed = await simpleParser(raw, { skipTextToHtml: true, skipImageLinks: true });
  const from = addresses(parsed.from);
  const subject = clean(parsed.subject, MAX_HEADER_CHARS);
  const bodyText = clean(parsed.text, MAX_BODY_CHARS);
  const sentAt = parsed.date && !Number.isNaN(parsed.date.getTime()) ? parsed.date : null;
  const references = (Array.isArray(parsed.references) ? parsed.references : parsed.references ? [parsed.references] : [])
    .map((r) => clean(r, MAX_HEADER_CHARS)!)
    .slice(0, 100);
  return {
    messageId: normaliseMessageId(parsed.messageId, [
      from.map((a) => a.address).join(','),
      sentAt?.toISOString() ?? '',
      subject ?? '',
      bodyText?.slice(0, 10_000) ?? '',
    ]),
    subject,
    bodyText,
    sentAt,
    from,
    to: addresses(parsed.to),
    cc: addresses(parsed.cc),
    bcc: addresses(parsed.bcc),
    inReplyTo: clean(parsed.inReplyTo, MAX_HEADER_CHARS),
    references,
    sizeBytes: raw.length,
    attachments: parsed.attachments.map((a) => ({
      filename: clean(a.filename, MAX_HEADER_CHARS),
      contentType: clean(a.contentType, MAX_HEADER_CHARS) ?? 'application/octet-stream',
      size: a.size,
    })),
  };
}
