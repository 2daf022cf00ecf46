/**
 * Whether an error means the database cannot be reached right now (stopped, restarting, failing
 * over, out of connections), as opposed to a statement it refused. Such an outage is the
 * deployment's, never a mailbox's: the work waits and is retried, and nothing is counted against
 * the mailbox. Pure: it reads the SQLSTATE, node-postgres's own messages and Node's socket codes.
 */

/** Set on an error (as `raisedBy`) by code that knows it came from the database. */
export const RAISED_BY_DATABASE = 'database';

// SQLSTATE class 08 (connection exception), class 53 (insufficient resources: too many
// connections, disk full), 57P01-57P03 (admin shutdown, crash shutdown, cannot connect now).
const UNAVAILABLE_SQLSTATE = /^(08[0-9A-Z]{3}|53[0-9A-Z]{3}|57P0[1-3])$/;

// What node-postgres says when its session is gone, or when none could be opened in time.
const SESSION_LOST = [
  /^Connection terminated( unexpectedly| due to connection timeout)?$/,
  /^Client has encountered a connection error and is not queryable$/,
  /^timeout exceeded when trying to connect$/,
];

// A mail server's socket fails with the same codes, so these count only on an error known to
// come from the database.
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

interface ErrorFacts {
  code?: unknown;
  message?: unknown;
  raisedBy?: unknown;
  /** Node's AggregateError of a connection tried on several addresses. */
  errors?: unknown;
}

export function isDatabaseUnavailable(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const facts = err as ErrorFacts;
  const code = typeof facts.code === 'string' ? facts.code : undefined;
  if (code !== undefined && UNAVAILABLE_SQLSTATE.test(code)) return true;
  if (typeof facts.message === 'string' && SESSION_LOST.some((re) => re.test(facts.message as string))) return true;
  if (facts.raisedBy !== RAISED_BY_DATABASE) return false;
  if (code !== undefined && SOCKET_CODES.has(code)) return true;
  const attempts = Array.isArray(facts.errors) ? (facts.errors as unknown[]) : [];
  return attempts.some((a) => typeof a === 'object' && a !== null && SOCKET_CODES.has(String((a as ErrorFacts).code)));
}

const FIRST_WAIT_MS = 250;
const LONGEST_WAIT_MS = 5000;

/**
 * How long to wait before attempt `attempt + 1` at something the database's absence stopped:
 * doubling from 250 ms to 5 s, so that work resumes within seconds of the database's return
 * without hammering it meanwhile.
 */
export function databaseRetryDelayMs(attempt: number): number {
  return Math.min(FIRST_WAIT_MS * 2 ** Math.max(0, attempt - 1), LONGEST_WAIT_MS);
}

/** A short reason for a log line or an activity failure: the SQLSTATE or socket code, and the message. */
export function describeDatabaseError(err: unknown): string {
  if (typeof err !== 'object' || err === null) return String(err);
  const facts = err as ErrorFacts;
  const inner = Array.isArray(facts.errors) ? (facts.errors as ErrorFacts[]).map((e) => String(e?.message ?? e)).join('; ') : '';
  const message = typeof facts.message === 'string' && facts.message.length > 0 ? facts.message : inner || 'no message';
  return typeof facts.code === 'string' ? `${facts.code}: ${message}` : message;
}
