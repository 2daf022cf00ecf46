/**
 * Decides whether a failure talking to a mail server is permanent (the admin must act:
 * wrong credentials, TLS misconfiguration, missing mailbox) or transient (retry later).
 * Pure: it reads the well-known fields that imapflow, Node's socket layer and HTTP
 * clients put on their errors. Given the server's endpoint, a connection failure names it.
 */
export type ErrorClass = 'permanent' | 'transient';

export interface ClassifiedError {
  errorClass: ErrorClass;
  /** A sentence an administrator can act on. */
  message: string;
  /** The server asked us to wait this long before trying again. */
  retryAfterMs?: number;
  /** The server told us to slow down (throttling), as opposed to failing. */
  throttled?: boolean;
}

/** Transient failures in a row after which the mailbox is treated as permanently failing. */
export const MAX_CONSECUTIVE_TRANSIENT_ERRORS = 10;

interface ErrorFacts {
  message?: unknown;
  code?: unknown;
  errorClass?: unknown;
  authenticationFailed?: unknown;
  tlsFailed?: unknown;
  mailboxMissing?: unknown;
  serverResponseCode?: unknown;
  responseText?: unknown;
  throttleReset?: unknown;
  statusCode?: unknown;
  retryAfterMs?: unknown;
  path?: unknown;
  throttled?: unknown;
}

const TLS_CODES = new Set([
  'ClosedAfterConnectTLS',
  'UPGRADE_TIMEOUT',
  'STARTTLS_INJECTION',
  'EPROTO',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
]);

// Each with what it means, for an administrator who does not know the codes.
const NETWORK_CODES: Record<string, string> = {
  ECONNREFUSED: 'nothing accepts connections on that port',
  ECONNRESET: 'the connection was reset',
  ETIMEDOUT: 'the connection timed out',
  ETIMEOUT: 'the server stopped answering',
  EPIPE: 'the connection broke while sending',
  EHOSTUNREACH: 'the host cannot be reached',
  ENETUNREACH: 'the network cannot be reached',
  ENOTFOUND: 'the host name does not resolve',
  EAI_AGAIN: 'the host name could not be resolved for now',
  CONNECT_TIMEOUT: 'no connection within the time-out',
  GREETING_TIMEOUT: 'the server did not greet within the time-out',
  NoConnection: 'the connection closed',
  EConnectionClosed: 'the server closed the connection',
  ClosedAfterConnectText: 'the server closed the connection after connecting',
};

/** Where the mail server is: named in every connection failure. */
export interface ServerAddress {
  host: string;
  port: number;
}

/** ` imap.example.test:993`, or nothing when the endpoint is not known. */
function at(endpoint: ServerAddress | undefined): string {
  return endpoint ? ` ${endpoint.host}:${endpoint.port}` : '';
}

// IMAP response codes (RFC 5530) that mean "not now" rather than "never".
const BUSY_RESPONSE_CODES = new Set(['UNAVAILABLE', 'INUSE', 'LIMIT', 'SERVERBUG', 'OVERQUOTA']);

const HTTP_PERMANENT: Record<number, string> = {
  401: 'The mail server rejected the credentials (HTTP 401)',
  403: 'The application is not permitted to access this mailbox (HTTP 403)',
  404: 'The mailbox does not exist on the mail server (HTTP 404)',
};

function text(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

function serverSaid(facts: ErrorFacts): string {
  const said = text(facts.responseText) ?? text(facts.message);
  return said ? ` (server said: ${said})` : '';
}

export function classifyMailError(err: unknown, endpoint?: ServerAddress): ClassifiedError {
  const facts: ErrorFacts = typeof err === 'object' && err !== null ? (err as ErrorFacts) : { message: String(err) };
  const code = text(facts.code);
  const responseCode = text(facts.serverResponseCode)?.toUpperCase();
  const status = typeof facts.statusCode === 'number' ? facts.statusCode : undefined;
  const retryAfterMs = typeof facts.retryAfterMs === 'number' ? facts.retryAfterMs : undefined;

  if (facts.errorClass === 'permanent' || facts.errorClass === 'transient') {
    const throttled = facts.throttled === true ? { throttled: true } : {};
    return { errorClass: facts.errorClass, message: text(facts.message) ?? 'Mail server error', retryAfterMs, ...throttled };
  }
  if (facts.authenticationFailed === true || responseCode === 'AUTHENTICATIONFAILED' || responseCode === 'AUTHORIZATIONFAILED') {
    return { errorClass: 'permanent', message: `Authentication failed: the mail server rejected the user name or password${serverSaid(facts)}` };
  }
  if (facts.tlsFailed === true || (code !== undefined && TLS_CODES.has(code))) {
    return {
      errorClass: 'permanent',
      message: `TLS connection to the mail server${at(endpoint)} failed (${code ?? 'handshake error'}): check the profile's security setting and the server certificate`,
    };
  }
  if (facts.mailboxMissing === true || responseCode === 'NONEXISTENT') {
    const folder = text(facts.path);
    return { errorClass: 'permanent', message: `Folder ${folder ? `"${folder}" ` : ''}does not exist on the mail server${serverSaid(facts)}` };
  }
  if (code === 'ETHROTTLE' || status === 429) {
    const wait = typeof facts.throttleReset === 'number' ? facts.throttleReset : retryAfterMs;
    return { errorClass: 'transient', throttled: true, retryAfterMs: wait, message: 'The mail server is throttling requests' };
  }
  if (status !== undefined && HTTP_PERMANENT[status]) {
    return { errorClass: 'permanent', message: HTTP_PERMANENT[status] };
  }
  if (status !== undefined && status >= 500) {
    return { errorClass: 'transient', retryAfterMs, message: `The mail server is unavailable (HTTP ${status})` };
  }
  if (code !== undefined && Object.hasOwn(NETWORK_CODES, code)) {
    return { errorClass: 'transient', message: `Could not reach the mail server${at(endpoint)} (${code}: ${NETWORK_CODES[code]})` };
  }
  if (responseCode !== undefined && BUSY_RESPONSE_CODES.has(responseCode)) {
    return { errorClass: 'transient', message: `The mail server is busy (${responseCode})${serverSaid(facts)}` };
  }
  return { errorClass: 'transient', message: text(facts.message) ?? 'Unknown mail server error' };
}

/** A network-level failure (refused, unreachable, timed out): the server's fault, whichever mailbox asked. */
export function isUnreachableError(err: unknown): boolean {
  const code = typeof err === 'object' && err !== null ? text((err as ErrorFacts).code) : undefined;
  return code !== undefined && Object.hasOwn(NETWORK_CODES, code);
}
