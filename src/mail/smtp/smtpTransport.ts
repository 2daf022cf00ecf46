import type { OutgoingEmail, OutgoingParty } from '../../store/outgoingStore';
import type { MailServerEndpoint } from '../mailSource';
import type { OutgoingTransport, RejectedRecipient } from '../mailSender';
import { composeMime, envelopeRecipients } from '../mime/compose';
import { SmtpSession } from './smtpSession';

/** Sends over one authenticated SMTP connection. */
export class SmtpTransport implements OutgoingTransport {
  private constructor(private readonly session: SmtpSession) {}

  static async open(endpoint: MailServerEndpoint): Promise<SmtpTransport> {
    return new SmtpTransport(await SmtpSession.open(endpoint));
  }

  async send(email: OutgoingEmail, from: OutgoingParty): Promise<{ rejected: RejectedRecipient[]; message: Buffer }> {
    const raw = await composeMime(email, from, { keepBcc: false });
    try {
      const info = await this.session.send({ from: from.address, to: envelopeRecipients(email) }, raw);
      const errors = info.rejectedErrors ?? [];
      return {
        message: raw,
        rejected: info.rejected.map((address, i) => ({ address, reason: String(errors[i]?.response ?? errors[i]?.message ?? 'refused') })),
      };
    } catch (err) {
      // A refused transaction leaves the connection usable once it is reset; a broken one throws again.
      if (!(err as { transferStarted?: boolean }).transferStarted) await this.session.reset().catch(() => undefined);
      throw err;
    }
  }

  async close(): Promise<void> {
    this.session.close();
  }
}
