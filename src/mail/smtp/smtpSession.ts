import SMTPConnection, { type SMTPConnectionSendInfo } from 'nodemailer/lib/smtp-connection';
import type { MailServerEndpoint } from '../mailSource';

export interface SmtpEnvelope {
  from: string;
  to: string[];
}

/**
 * One authenticated SMTP connection, for sending several messages in turn. Opened by `open`,
 * ended by `close` (whatever happened in between); each `send` is one mail transaction.
 */
export class SmtpSession {
  // The operation in flight rejects when the connection fails under it (an 'error' event).
  private failCurrent: ((err: Error) => void) | null = null;

  private constructor(private readonly connection: SMTPConnection) {}

  private fail(err: Error): void {
    this.failCurrent?.(err);
  }

  /** Runs one exchange: it settles by its callback, or rejects if the connection fails first. */
  private whileOpen<T>(start: (resolve: (value: T) => void, reject: (err: Error) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const fail = (err: Error) => {
        this.failCurrent = null;
        reject(err);
      };
      this.failCurrent = fail;
      start((value) => {
        this.failCurrent = null;
        resolve(value);
      }, fail);
    });
  }

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
    const session = new SmtpSession(connection);
    try {
      // A failed connect is reported as an 'error' event only, never to connect's callback.
      await new Promise<void>((resolve, reject) => {
        connection.once('error', reject);
        connection.connect((err) => (err ? reject(err) : resolve()));
      });
      connection.removeAllListeners('error');
      connection.on('error', (err: Error) => session.fail(err));
      if (endpoint.username) {
        await session.whileOpen<void>((resolve, reject) =>
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
    return this.whileOpen<SMTPConnectionSendInfo>((resolve, reject) =>
      this.connection.send(envelope, raw, (err, info) => {
        if (err) reject(err);
        else resolve(info as SMTPConnectionSendInfo);
      }),
    ).catch((err: Error) => {
      // With a reply the server answered (nothing taken); without one the transfer's fate is unknown.
      const replied = typeof (err as { responseCode?: unknown }).responseCode === 'number';
      throw Object.assign(err, { transferStarted: !replied });
    });
  }

  /** Clears the transaction after a refused message, so the next can use the connection. */
  reset(): Promise<void> {
    return this.whileOpen<void>((resolve, reject) => this.connection.reset((err) => (err ? reject(err) : resolve())));
  }

  close(): void {
    this.connection.removeAllListeners('error');
    // Errors while closing have no one left to tell.
    this.connection.on('error', () => undefined);
    try {
      this.connection.quit();
    } catch {
      // Already closed.
    }
    this.connection.close();
  }
}
