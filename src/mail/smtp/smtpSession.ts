import SMTPConnection, { type SMTPConnectionSendInfo } from 'nodemailer/lib/smtp-connection';
import type { MailServerEndpoint } from '../mailSource';

/** An error of an SMTP exchange, marked with whether the message had been handed over when it happened. */
export type SmtpSendError = Error & { transferStarted: boolean };

export interface SmtpEnvelope {
  from: string;
  to: string[];
}

/**
 * One authenticated SMTP connection, for sending several messages in turn. Opened by `open`,
 * ended by `close` (whatever happened in between); each `send` is one mail transaction.
 */
export class SmtpSession {
  private constructor(private readonly connection: SMTPConnection) {}

  static async open(endpoint: MailServerEndpoint): Promise<SmtpSession> {
    const t = endpoint.connectionTimeoutMs;
    const connection = new SMTPConnection({
      host: endpoint.host,
      port: endpoint.port,
      secure: endpoint.security === 'tls',
      requireTLS: endpoint.security === 'starttls',
      ignoreTLS: endpoint.security === 'none',
      connectionTimeout: t,
      greetingTimeout: t,
      socketTimeout: Math.max(t, 60_000),
      logger: false,
    });
    // Errors also arrive through the callbacks; an unheard 'error' event would crash the process.
    connection.on('error', () => undefined);
    const session = new SmtpSession(connection);
    try {
      await new Promise<void>((resolve, reject) => connection.connect((err) => (err ? reject(err) : resolve())));
      if (endpoint.username) {
        await new Promise<void>((resolve, reject) =>
          connection.login({ user: endpoint.username, pass: endpoint.password }, (err) => (err ? reject(err) : resolve())),
        );
      }
      return session;
    } catch (err) {
      session.close();
      throw Object.assign(err instanceof Error ? err : new Error(String(err)), { transferStarted: false });
    }
  }

  /** Sends one message; resolves once the server accepted it (for at least one recipient). */
  send(envelope: SmtpEnvelope, raw: Buffer): Promise<SMTPConnectionSendInfo> {
    return new Promise((resolve, reject) =>
      this.connection.send(envelope, raw, (err, info) => {
        if (err) {
          // With a reply the server answered (nothing taken); without one the transfer's fate is unknown.
          const replied = typeof (err as { responseCode?: unknown }).responseCode === 'number';
          reject(Object.assign(err, { transferStarted: !replied }));
        } else resolve(info as SMTPConnectionSendInfo);
      }),
    );
  }

  /** Clears the transaction after a refused message, so the next can use the connection. */
  reset(): Promise<void> {
    return new Promise((resolve, reject) => this.connection.reset((err) => (err ? reject(err) : resolve())));
  }

  close(): void {
    try {
      this.connection.quit();
    } catch {
      // Already closed.
    }
    this.connection.close();
  }
}
