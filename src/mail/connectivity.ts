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
import { ImapFlow } from 'imapflow';
import { createTransport } from 'nodemailer';
import { classifyMailError, type ErrorClass } from '../policy/errorClassification';
import { imapClientOptions } from './imapMailSource';
import type { MailServerEndpoint } from './mailSource';
import { Pop3Client } from './pop3/pop3Client';

export type DirectionStatus = 'not_run' | 'success' | 'failure';

export interface DirectionResult {
  status: DirectionStatus;
  /** A sentence for the admin: what was checked, or what went wrong. */
  message: string;
  /** ISO 8601, when the check finished. */
  testedAt: string;
  /** A failure's class: a transient one (unreachable, timed out) leaves an enabled direction enabled. */
  errorClass?: ErrorClass;
  /** The separate checks the direction is made of, when it has several (Exchange: token, then each kind of item). */
  checks?: DirectionCheck[];
}

export interface DirectionCheck {
  name: string;
  status: DirectionStatus;
  message: string;
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

/** POP3: greeting, STLS when configured, USER/PASS, STAT, QUIT. */
export async function testPop3Incoming(endpoint: MailServerEndpoint): Promise<DirectionResult> {
  let client: Pop3Client | undefined;
  try {
    client = await Pop3Client.open(endpoint);
    await client.login(endpoint.username, endpoint.password);
    const stat = await client.stat();
    const how = endpoint.security === 'tls' ? ' over TLS' : endpoint.security === 'starttls' ? ' with STLS' : '';
    return success(
      `Logged in to ${endpoint.host}:${endpoint.port}${how} over POP3` +
        (stat ? `; the mailbox holds ${stat.count} message${stat.count === 1 ? '' : 's'} (${stat.bytes} bytes)` : ''),
    );
  } catch (err) {
    return failure(err, endpoint);
  } finally {
    // The check's outcome is already known: a failed QUIT changes nothing.
    await client?.quit().catch(() => undefined);
  }
}
