/**
 * "Test & Enable" connectivity checks (after Dynamics 365's Test & Enable mailbox): for one
 * mailbox, can we log in to its incoming server (IMAP: and open every configured folder;
 * POP3: and read the maildrop), and can we connect and authenticate to its outgoing SMTP
 * server. Each check resolves with a result and never rejects; a failure's message is the
 * sentence `classifyMailError` gives the same error in incoming sync, so an admin sees the
 * same wording in both places. The password never appears in a message.
 *
 * Time bound: every wait on the server (connecting, the greeting, one command, one library
 * step such as imapflow's connect-and-login or nodemailer's verify) is bounded by the
 * endpoint's `connectionTimeoutMs`; a check therefore ends within a few time-outs at worst
 * (IMAP: one per step, login + one per folder + logout).
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { ImapFlow } from 'imapflow';
import { createTransport } from 'nodemailer';
import { classifyMailError, type ErrorClass } from '../policy/errorClassification';
import { imapClientOptions } from './imapMailSource';
import type { MailServerEndpoint } from './mailSource';

export type DirectionStatus = 'not_run' | 'success' | 'failure';

export interface DirectionResult {
  status: DirectionStatus;
  /** A sentence for the admin: what was checked, or what went wrong. */
  message: string;
  /** ISO 8601, when the check finished. */
  testedAt: string;
  /** A failure's class: a transient one (unreachable, timed out) leaves an enabled direction enabled. */
  errorClass?: ErrorClass;
}

/** The profile's SMTP server, with the mailbox's credentials (already decrypted). */
export type OutgoingEndpoint = MailServerEndpoint;

/** Added to our own per-step guard so a library's own, more specific time-out error wins the race. */
const GUARD_GRACE_MS = 500;

// ------------------------------------------------------------------------------------ helpers

function success(message: string): DirectionResult {
  return { status: 'success', message, testedAt: new Date().toISOString() };
}

/** Removes the password (as is, and base64 as AUTH LOGIN sends it) from a message. */
function redactSecret(message: string, secret: string): string {
  if (!secret) return message;
  let out = message.split(secret).join('***');
  const b64 = Buffer.from(secret, 'utf8').toString('base64');
  if (b64.length >= 4) out = out.split(b64).join('***');
  return out;
}

function failure(err: unknown, endpoint: MailServerEndpoint, prefix = ''): DirectionResult {
  const classified = classifyMailError(err, endpoint);
  const message = redactSecret(prefix + classified.message, endpoint.password);
  return { status: 'failure', message, testedAt: new Date().toISOString(), errorClass: classified.errorClass };
}

function describeMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/** An error classifyMailError reports as is (it honours an explicit errorClass and message). */
function timeoutFacts(endpoint: MailServerEndpoint, what: string, ms: number) {
  return {
    errorClass: 'transient' as const,
    message: `The mail server ${endpoint.host}:${endpoint.port} did not answer in time (${what}; limit ${describeMs(ms)})`,
  };
}

/**
 * Waits for `promise` at most `ms`; on time-out calls `onTimeout` (to tear the connection
 * down) and rejects with a readable time-out. A late rejection of `promise` is swallowed.
 */
function within<T>(promise: Promise<T>, endpoint: MailServerEndpoint, ms: number, what: string, onTimeout: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      try {
        onTimeout();
      } catch {
        /* tearing down is best effort */
      }
      reject(timeoutFacts(endpoint, what, ms));
    }, ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

function errorFacts(err: unknown): Record<string, unknown> {
  return typeof err === 'object' && err !== null ? (err as Record<string, unknown>) : { message: String(err) };
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

// --------------------------------------------------------------------------------------- IMAP

/** IMAP: log in, open every folder read-only (EXAMINE), log out. */
export async function testImapIncoming(endpoint: MailServerEndpoint, folders: string[]): Promise<DirectionResult> {
  const t = endpoint.connectionTimeoutMs;
  const client = new ImapFlow(imapClientOptions(endpoint));
  // imapflow emits connection failures as events too; the pending command rejects with its own
  // error, which is what we report. Without a listener the event would crash the process.
  client.on('error', () => undefined);
  const drop = () => client.close();
  const unique = [...new Set(folders)];
  try {
    try {
      await within(client.connect(), endpoint, t + GUARD_GRACE_MS, 'connecting and logging in', drop);
    } catch (err) {
      return failure(imapConnectFacts(err), endpoint);
    }
    for (const folder of unique) {
      try {
        await within(client.mailboxOpen(folder, { readOnly: true }), endpoint, t + GUARD_GRACE_MS, `opening folder "${folder}"`, drop);
      } catch (err) {
        return failure(folderFacts(err, folder), endpoint, folderPrefix(err, folder));
      }
    }
    const where = `${endpoint.host}:${endpoint.port}`;
    return success(
      unique.length === 0
        ? `Logged in to ${where} over IMAP`
        : `Logged in to ${where} over IMAP and opened ${unique.length === 1 ? 'folder' : `all ${unique.length} folders`}: ${unique.map((f) => `"${f}"`).join(', ')}`,
    );
  } finally {
    await closeImap(client, endpoint);
  }
}

/** imapflow's TLS failures without a code (STARTTLS required but not offered) keep their reason. */
function imapConnectFacts(err: unknown): unknown {
  const e = errorFacts(err);
  if (e.tlsFailed === true && !str(e.code) && str(e.message)) return { tlsFailed: true, code: str(e.message) };
  return err;
}

/** The facts classifyMailError needs to name a missing folder (imapflow does not put the path on its error). */
function folderFacts(err: unknown, folder: string): Record<string, unknown> {
  const e = errorFacts(err);
  if (e.errorClass !== undefined) return e;
  return {
    // What the server said reads better than imapflow's "Command failed" when nothing else matches.
    message: str(e.responseText) ?? str(e.response) ?? str(e.message),
    code: e.code,
    serverResponseCode: e.serverResponseCode,
    mailboxMissing: e.mailboxMissing,
    responseText: str(e.responseText) ?? str(e.response),
    path: folder,
  };
}

/** Names the folder when the classified message would not (a folder that exists but cannot be opened). */
function folderPrefix(err: unknown, folder: string): string {
  const e = errorFacts(err);
  const missing = e.mailboxMissing === true || String(e.serverResponseCode ?? '').toUpperCase() === 'NONEXISTENT';
  return missing ? '' : `Folder "${folder}" could not be opened: `;
}

async function closeImap(client: ImapFlow, endpoint: MailServerEndpoint): Promise<void> {
  if (client.usable) {
    await within(client.logout(), endpoint, endpoint.connectionTimeoutMs, 'logging out', () => client.close()).catch(() => client.close());
  } else {
    client.close();
  }
}

// --------------------------------------------------------------------------------------- SMTP

/** SMTP: connect (TLS or STARTTLS as configured), EHLO, AUTH; nodemailer's verify(). */
export async function testSmtpOutgoing(endpoint: OutgoingEndpoint): Promise<DirectionResult> {
  const t = endpoint.connectionTimeoutMs;
  const transport = createTransport({
    host: endpoint.host,
    port: endpoint.port,
    secure: endpoint.security === 'tls',
    requireTLS: endpoint.security === 'starttls',
    ignoreTLS: endpoint.security === 'none',
    // A profile without an SMTP user name relays without AUTH (verify then checks connect + EHLO).
    auth: endpoint.username ? { user: endpoint.username, pass: endpoint.password } : undefined,
    connectionTimeout: t,
    greetingTimeout: t,
    socketTimeout: t,
    logger: false,
    debug: false,
  });
  try {
    // nodemailer's own time-outs end the connection; this guard only makes sure we return.
    await within(transport.verify(), endpoint, t + GUARD_GRACE_MS, 'connecting and authenticating', () => transport.close());
    const how = endpoint.security === 'tls' ? ' over TLS' : endpoint.security === 'starttls' ? ' with STARTTLS' : '';
    return success(`Connected to ${endpoint.host}:${endpoint.port}${how}${endpoint.username ? ' and authenticated' : ''} over SMTP`);
  } catch (err) {
    return failure(smtpFacts(err), endpoint);
  } finally {
    transport.close();
  }
}

/**
 * Translates nodemailer's error codes into the facts classifyMailError reads: EAUTH is an
 * authentication failure, ETLS a TLS failure, and a socket error keeps its system code
 * (nodemailer moves ECONNREFUSED etc. to `originalCode` and sets `code` to ESOCKET/ECONNECTION).
 */
function smtpFacts(err: unknown): unknown {
  const e = errorFacts(err);
  if (e.errorClass !== undefined) return e;
  const code = str(e.code);
  const responseCode = typeof e.responseCode === 'number' ? e.responseCode : undefined;
  const response = str(e.response);
  if (code === 'EAUTH') {
    if (e.command === 'API') {
      return { errorClass: 'permanent', message: `Authentication could not be attempted: ${str(e.message) ?? 'no credentials'}` };
    }
    if (responseCode !== undefined && responseCode >= 400 && responseCode < 500) {
      return { errorClass: 'transient', message: `The mail server could not check the credentials right now (server said: ${response ?? str(e.message)})` };
    }
    return { authenticationFailed: true, responseText: response ?? str(e.message) };
  }
  if (code === 'ETLS') {
    // With a reply, the server refused STARTTLS; without, the handshake failed and nodemailer
    // kept only the reason's text ("Error initiating TLS - <reason>").
    const reason = response
      ? 'Server does not support STARTTLS'
      : (str(e.originalCode) ?? str(e.message)?.replace(/^Error initiating TLS - /, '').slice(0, 200));
    return { tlsFailed: true, code: reason };
  }
  const original = str(e.originalCode);
  if (original) return { message: str(e.message), code: original };
  if (code === 'ETIMEDOUT') {
    // nodemailer says which phase timed out in timeoutType; the classifier knows two of them.
    const phase = str(e.timeoutType);
    return { message: str(e.message), code: phase === 'CONNECT_TIMEOUT' || phase === 'GREETING_TIMEOUT' ? phase : 'ETIMEDOUT' };
  }
  if (code === 'ECONNECTION' || code === 'ESOCKET') return { message: str(e.message), code: 'EConnectionClosed' };
  return { message: response ? `The SMTP server refused the connection (server said: ${response})` : str(e.message), code };
}

// --------------------------------------------------------------------------------------- POP3

const POP3_MAX_LINE = 8192;

type Pop3Error = Error & Record<string, unknown>;

function pop3Error(message: string, facts: Record<string, unknown>): Pop3Error {
  return Object.assign(new Error(message), facts);
}

/** RFC 2449 / 3206 response codes that mean "not now" rather than "wrong credentials". */
const POP3_BUSY: Record<string, string> = { 'IN-USE': 'INUSE', 'LOGIN-DELAY': 'UNAVAILABLE', 'SYS/TEMP': 'UNAVAILABLE' };

/**
 * A minimal POP3 client over one socket: line-oriented single-line replies only (the commands
 * used here, USER/PASS/STAT/QUIT/STLS, never get multi-line ones). Every wait is bounded.
 */
class Pop3Connection {
  private socket: net.Socket;
  private buffer: Buffer = Buffer.alloc(0);
  private lines: string[] = [];
  private failed: Error | undefined;
  private wake: (() => void) | undefined;
  private readonly onData = (d: Buffer) => this.receive(d);
  private readonly onError = (e: Error) => this.fail(e);
  private readonly onClose = () => this.fail(pop3Error('The POP3 server closed the connection', { code: 'EConnectionClosed' }));

  private constructor(
    socket: net.Socket,
    private readonly timeoutMs: number,
  ) {
    this.socket = socket;
    this.attach(socket);
  }

  /** Opens TCP (or TLS) and reads the greeting. */
  static async open(endpoint: MailServerEndpoint): Promise<Pop3Connection> {
    const t = endpoint.connectionTimeoutMs;
    const secure = endpoint.security === 'tls';
    const socket = secure
      ? tls.connect({ host: endpoint.host, port: endpoint.port, servername: net.isIP(endpoint.host) ? undefined : endpoint.host })
      : net.connect({ host: endpoint.host, port: endpoint.port });
    await new Promise<void>((resolve, reject) => {
      let tcpUp = false;
      const done = (err?: Error) => {
        clearTimeout(timer);
        socket.off('connect', onTcp);
        socket.off('secureConnect', onReady);
        socket.off('error', onErr);
        if (err) {
          socket.destroy();
          reject(err);
        } else resolve();
      };
      const onTcp = () => {
        tcpUp = true;
        if (!secure) done();
      };
      const onReady = () => done();
      // A failure after TCP is up, on a TLS socket, is the handshake's.
      const onErr = (e: Error) => done(secure && tcpUp ? tlsError(e) : e);
      const timer = setTimeout(
        () =>
          done(
            secure && tcpUp
              ? pop3Error('TLS handshake timed out', { code: 'UPGRADE_TIMEOUT' })
              : pop3Error('Connection timed out', { code: 'CONNECT_TIMEOUT' }),
          ),
        t,
      );
      socket.once('connect', onTcp);
      socket.once('secureConnect', onReady);
      socket.on('error', onErr);
    });
    const conn = new Pop3Connection(socket, t);
    const greeting = await conn.readLine('GREETING_TIMEOUT', 'the greeting');
    if (!greeting.startsWith('+OK')) {
      conn.destroy();
      throw pop3Error(`The POP3 server refused the session`, replyFacts(greeting, 'greeting'));
    }
    return conn;
  }

  private attach(socket: net.Socket): void {
    socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
  }

  private detach(socket: net.Socket): void {
    socket.off('data', this.onData);
    socket.off('error', this.onError);
    socket.off('close', this.onClose);
  }

  private receive(d: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, d]) : d;
    let lf: number;
    while ((lf = this.buffer.indexOf(0x0a)) >= 0) {
      this.lines.push(this.buffer.subarray(0, lf).toString('utf8').replace(/\r$/, ''));
      this.buffer = this.buffer.subarray(lf + 1);
    }
    if (this.buffer.length > POP3_MAX_LINE) {
      this.fail(pop3Error(`The POP3 server sent a line longer than ${POP3_MAX_LINE} bytes`, { code: 'EPROTOCOL' }));
    }
    this.notify();
  }

  private fail(e: Error): void {
    this.failed ??= e;
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** The next reply line, waiting at most the time-out. */
  private async readLine(timeoutCode: string, what: string): Promise<string> {
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const line = this.lines.shift();
      if (line !== undefined) return line;
      if (this.failed) throw this.failed;
      const left = deadline - Date.now();
      if (left <= 0) {
        this.destroy();
        throw pop3Error(`No answer from the POP3 server (${what}) within ${this.timeoutMs} ms`, { code: timeoutCode });
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Sends one command and returns its +OK reply line; a -ERR reply rejects with the server's facts. */
  async command(line: string, name: string): Promise<string> {
    if (/[\r\n\0]/.test(line)) {
      throw pop3Error(`The ${name === 'PASS' ? 'password' : 'user name'} contains a line break or NUL, which POP3 cannot send`, {
        errorClass: 'permanent',
      });
    }
    if (this.failed) throw this.failed;
    if (this.socket.destroyed) throw pop3Error('The POP3 connection is closed', { code: 'EConnectionClosed' });
    this.socket.write(`${line}\r\n`);
    const reply = await this.readLine('ETIMEDOUT', name);
    if (reply.startsWith('+OK')) return reply;
    throw pop3Error(`POP3 ${name} failed`, replyFacts(reply, name));
  }

  /** STLS (RFC 2595): upgrade the plain connection in place, refusing bytes sent before the handshake. */
  async startTls(host: string): Promise<void> {
    try {
      await this.command('STLS', 'STLS');
    } catch (err) {
      const e = errorFacts(err);
      if (e.pop3Status === '-ERR') throw pop3Error('STLS refused', { tlsFailed: true, code: 'Server does not support STLS' });
      throw err;
    }
    if (this.lines.length > 0 || this.buffer.length > 0) {
      this.destroy();
      throw pop3Error('The POP3 server sent data before the TLS handshake', { code: 'STARTTLS_INJECTION' });
    }
    const plain = this.socket;
    this.detach(plain);
    // Keep an error listener on the plain socket until TLS owns it.
    plain.on('error', () => undefined);
    const secure = tls.connect({ socket: plain, servername: net.isIP(host) ? undefined : host });
    this.socket = secure;
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        secure.off('secureConnect', onReady);
        secure.off('error', onErr);
        if (err) {
          secure.destroy();
          plain.destroy();
          reject(err);
        } else resolve();
      };
      const onReady = () => done();
      const onErr = (e: Error) => done(tlsError(e));
      const timer = setTimeout(() => done(pop3Error('TLS handshake timed out', { code: 'UPGRADE_TIMEOUT' })), this.timeoutMs);
      secure.once('secureConnect', onReady);
      secure.on('error', onErr);
    });
    this.attach(secure);
  }

  /** QUIT, politely and bounded; whatever happens the socket is gone afterwards. */
  async quit(): Promise<void> {
    try {
      if (!this.failed && !this.socket.destroyed) await this.command('QUIT', 'QUIT');
    } catch {
      /* the check's outcome is already known */
    } finally {
      this.destroy();
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}

function tlsError(e: Error): Pop3Error {
  const code = str((e as NodeJS.ErrnoException).code);
  // Network codes (a reset in the middle of the handshake) still say "could not reach".
  if (code && /^E[A-Z]+$/.test(code) && code !== 'EPROTO') return e as Pop3Error;
  return pop3Error(e.message, { tlsFailed: true, code });
}

/** The facts classifyMailError reads, from a POP3 reply that is not +OK. */
function replyFacts(reply: string, name: string): Record<string, unknown> {
  const isErr = reply.startsWith('-ERR');
  const text = (isErr ? reply.slice(4) : reply).trim();
  const facts: Record<string, unknown> = { pop3Status: isErr ? '-ERR' : 'other', responseText: text || reply || '(empty reply)' };
  if (!isErr) return { ...facts, message: `Unexpected POP3 reply to ${name}: ${text.slice(0, 200)}`, code: 'EPROTOCOL' };
  const code = /^\[([A-Za-z0-9/-]+)\]/.exec(text)?.[1]?.toUpperCase();
  if (code && POP3_BUSY[code]) return { ...facts, serverResponseCode: POP3_BUSY[code] };
  if (name === 'USER' || name === 'PASS') return { ...facts, authenticationFailed: true };
  return { ...facts, message: `The POP3 server refused ${name === 'greeting' ? 'the session' : name} (server said: ${text})` };
}

/** POP3: greeting, STLS when configured, USER/PASS, STAT, QUIT. */
export async function testPop3Incoming(endpoint: MailServerEndpoint): Promise<DirectionResult> {
  let conn: Pop3Connection | undefined;
  try {
    conn = await Pop3Connection.open(endpoint);
    if (endpoint.security === 'starttls') await conn.startTls(endpoint.host);
    await conn.command(`USER ${endpoint.username}`, 'USER');
    await conn.command(`PASS ${endpoint.password}`, 'PASS');
    const stat = await conn.command('STAT', 'STAT');
    const m = /^\+OK\s+(\d+)\s+(\d+)/.exec(stat);
    const how = endpoint.security === 'tls' ? ' over TLS' : endpoint.security === 'starttls' ? ' with STLS' : '';
    return success(
      `Logged in to ${endpoint.host}:${endpoint.port}${how} over POP3` +
        (m ? `; the mailbox holds ${m[1]} message${m[1] === '1' ? '' : 's'} (${m[2]} bytes)` : ''),
    );
  } catch (err) {
    return failure(err, endpoint);
  } finally {
    await conn?.quit();
  }
}
