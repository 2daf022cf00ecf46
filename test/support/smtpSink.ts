/**
 * Test harness: an in-process SMTP sink on loopback, built on the `smtp-server` package.
 *
 * - Listens on 127.0.0.1, on a free port chosen by the OS (port 0, read back into `port`).
 * - Plain text only: no implicit TLS, STARTTLS disabled (not advertised, refused if sent),
 *   AUTH allowed without TLS. Clients must therefore use `security: 'none'` (nodemailer:
 *   `secure: false, ignoreTLS: true`); a client that insists on STARTTLS fails.
 * - AUTH PLAIN and LOGIN are checked against `users` (user name -> password). Each rejected
 *   attempt counts in `authFailures`; the server answers 535 5.7.8.
 * - `requireAuth` (default true): MAIL FROM before a successful AUTH gets 530.
 * - Every accepted message is kept in `messages` with its envelope (MAIL FROM, RCPT TOs) and
 *   its raw bytes as received (dot-unstuffed, CRLF line ends), and the id of the SMTP session
 *   (connection) it came over.
 * - `close()` stops listening and drops open connections after at most 500 ms.
 */
import { SMTPServer, type SMTPServerAuthentication, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';

export interface SmtpSinkOptions {
  /** user name -> password accepted by AUTH PLAIN / LOGIN */
  users: Record<string, string>;
  /** Refuse MAIL FROM until the client has authenticated (default true). */
  requireAuth?: boolean;
}

export interface SinkMessage {
  /** MAIL FROM address ('' for the null reverse-path). */
  from: string;
  /** RCPT TO addresses, in order. */
  to: string[];
  /** The message as received. */
  raw: Buffer;
  /** The SMTP session (one per connection) it came over. */
  session: string;
}

export class SmtpSink {
  readonly host = '127.0.0.1';
  readonly messages: SinkMessage[] = [];
  private failures = 0;
  private closed = false;
  private waiters: { count: number; resolve: () => void }[] = [];

  private constructor(
    private readonly server: SMTPServer,
    readonly port: number,
  ) {}

  /** AUTH attempts rejected so far. */
  get authFailures(): number {
    return this.failures;
  }

  static async start(opts: SmtpSinkOptions): Promise<SmtpSink> {
    const users = new Map(Object.entries(opts.users));
    let sink: SmtpSink | undefined;
    const server = new SMTPServer({
      secure: false,
      disabledCommands: ['STARTTLS'],
      allowInsecureAuth: true,
      authMethods: ['PLAIN', 'LOGIN'],
      authOptional: opts.requireAuth === false,
      disableReverseLookup: true,
      logger: false,
      closeTimeout: 500,
      onAuth(auth: SMTPServerAuthentication, _session: SMTPServerSession, callback) {
        const expected = auth.username !== undefined ? users.get(auth.username) : undefined;
        if (expected !== undefined && auth.password === expected) {
          callback(null, { user: auth.username });
          return;
        }
        if (sink) sink.failures++;
        const err = Object.assign(new Error('Invalid username or password'), { responseCode: 535 });
        callback(err);
      },
      onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('error', (e: Error) => callback(e));
        stream.on('end', () => {
          const { mailFrom, rcptTo } = session.envelope;
          sink?.record({ from: mailFrom ? mailFrom.address : '', to: rcptTo.map((r) => r.address), raw: Buffer.concat(chunks), session: session.id });
          callback(null);
        });
      },
    });
    // A client that misbehaves (resets, garbage) must not crash the test process.
    server.on('error', () => undefined);
    const port = await new Promise<number>((resolve, reject) => {
      const listener = server.listen(0, '127.0.0.1', () => {
        listener.off('error', reject);
        const addr = listener.address();
        if (addr && typeof addr === 'object') resolve(addr.port);
        else reject(new Error('SmtpSink: no listening address'));
      });
      listener.once('error', reject);
    });
    sink = new SmtpSink(server, port);
    return sink;
  }

  private record(message: SinkMessage): void {
    this.messages.push(message);
    const ready = this.waiters.filter((w) => this.messages.length >= w.count);
    this.waiters = this.waiters.filter((w) => this.messages.length < w.count);
    for (const w of ready) w.resolve();
  }

  /** Resolves once `count` messages in total have arrived; rejects after `timeoutMs`. */
  waitForMessages(count: number, timeoutMs = 10_000): Promise<SinkMessage[]> {
    if (this.messages.length >= count) return Promise.resolve(this.messages.slice());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`SmtpSink: ${this.messages.length} of ${count} messages after ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = {
        count,
        resolve: () => {
          clearTimeout(timer);
          resolve(this.messages.slice());
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** Stops listening; open connections are dropped after at most 500 ms. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
