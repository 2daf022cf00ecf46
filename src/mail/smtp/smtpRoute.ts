import { classifyMailError } from '../../policy/errorClassification';
import { decideSendFailure } from '../../policy/outgoingSend';
import type { OutgoingContext, OutgoingEmail } from '../../store/outgoingStore';
import { ImapSentFolder } from '../imapSentFolder';
import type { MailServerEndpoint } from '../mailSource';
import type { OutgoingRoute } from '../mailSender';
import { SmtpTransport } from './smtpTransport';

/**
 * Out through the profile's SMTP server, a copy of each email saved in the mailbox's Sent folder
 * over IMAP when the profile keeps one: an interrupted email is looked for there by its Message-ID.
 */
export function smtpRoute(context: OutgoingContext, smtp: MailServerEndpoint): OutgoingRoute {
  const target = context.sentCopies;
  return {
    slot: { key: context.profileId, cap: context.maxConcurrentConnections },
    openTransport: () => SmtpTransport.open(smtp),
    decideFailure: (err) => decideSendFailure(err, (err as { transferStarted?: boolean } | null)?.transferStarted === true),
    async findDelivered(emails: OutgoingEmail[]): Promise<Set<string>> {
      if (emails.length === 0 || !target) return new Set();
      const folder = await ImapSentFolder.open(target.endpoint, target.folder);
      try {
        const found = await folder.find(emails.map((e) => e.messageId));
        return new Set(emails.filter((e) => found.has(e.messageId)).map((e) => e.id));
      } finally {
        await folder.close();
      }
    },
    sentCopies: target
      ? { open: () => ImapSentFolder.open(target.endpoint, target.folder), classify: (err) => classifyMailError(err, target.endpoint) }
      : null,
  };
}
