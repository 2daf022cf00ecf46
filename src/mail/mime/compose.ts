import MailComposer from 'nodemailer/lib/mail-composer';
import type { OutgoingEmail, OutgoingParty } from '../../store/outgoingStore';

const toAddress = (p: OutgoingParty) => (p.name ? { name: p.name, address: p.address } : p.address);

/**
 * The RFC 5322 message of an outgoing email, with its fixed Message-ID and Date. `keepBcc` for
 * the sender's own copy (the Sent folder shows whom it was blind-copied to); never on the wire.
 */
export async function composeMime(email: OutgoingEmail, from: OutgoingParty, opts: { keepBcc: boolean }): Promise<Buffer> {
  const node = new MailComposer({
    from: toAddress(from),
    to: email.to.map(toAddress),
    cc: email.cc.map(toAddress),
    bcc: email.bcc.map(toAddress),
    subject: email.subject ?? '',
    messageId: email.messageId,
    date: email.date,
    inReplyTo: email.inReplyTo ?? undefined,
    references: email.references.length > 0 ? email.references : undefined,
    text: email.bodyText ?? (email.bodyHtml === null ? '' : undefined),
    html: email.bodyHtml ?? undefined,
    attachments: email.attachments.map((a) => ({
      filename: a.filename ?? undefined,
      contentType: a.contentType,
      content: a.content,
      cid: a.contentId ?? undefined,
      contentDisposition: a.inline ? 'inline' : 'attachment',
    })),
    // Nothing in a queued email may make the composer read a file or fetch a URL.
    disableFileAccess: true,
    disableUrlAccess: true,
    newline: 'windows',
  }).compile();
  node.keepBcc = opts.keepBcc;
  return node.build();
}

/** Every recipient's address, for the SMTP envelope (Bcc included: that is how they get it). */
export function envelopeRecipients(email: OutgoingEmail): string[] {
  return [...new Set([...email.to, ...email.cc, ...email.bcc].map((p) => p.address))];
}
