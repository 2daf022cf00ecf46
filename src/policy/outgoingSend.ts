/**
 * What sending an email decides from the SMTP server's answers. Pure: it reads the fields
 * nodemailer's SMTP connection puts on its errors (`responseCode`, `response`, `code`,
 * `rejectedErrors`).
 */

/** What becomes of one email after a failed attempt. */
export type SendFailureDecision =
  /** A 4xx reply: try this email again later, counting the attempt. */
  | { kind: 'defer'; reason: string }
  /** A 5xx reply, or no recipient the server accepts: the email fails now, for good. */
  | { kind: 'reject'; reason: string }
  /** The server refused the mailbox's credentials: outgoing is disabled until an admin acts. */
  | { kind: 'disable'; reason: string }
  /**
   * No reply at all (connection refused, lost, timed out). `mayHaveBeenAccepted`: the
   * connection died while the message was being transferred or its reply awaited, so the
   * server may have taken it; the email must be looked for in the Sent folder before a resend.
   */
  | { kind: 'unreachable'; reason: string; mayHaveBeenAccepted: boolean }
  /**
   * The server asked to slow down (Graph's 429): nothing is wrong with the mailbox, the run waits
   * `retryAfterMs` (null: not said) and is never recorded as a failure. `mayHaveBeenAccepted` as above.
   */
  | { kind: 'throttled'; reason: string; retryAfterMs: number | null; mayHaveBeenAccepted: boolean };

interface SmtpErrorFacts {
  message?: unknown;
  code?: unknown;
  responseCode?: unknown;
  response?: unknown;
  rejectedErrors?: unknown;
}

function facts(err: unknown): SmtpErrorFacts {
  return typeof err === 'object' && err !== null ? (err as SmtpErrorFacts) : { message: String(err) };
}

function said(f: SmtpErrorFacts): string {
  const text = typeof f.response === 'string' && f.response ? f.response : typeof f.message === 'string' ? f.message : '';
  return text.replace(/\s+/g, ' ').trim();
}

/**
 * The decision for an error raised while sending one email. `transferStarted`: the message
 * itself was being sent (after the last RCPT TO), so a lost connection leaves its fate unknown.
 */
export function decideSendFailure(err: unknown, transferStarted: boolean): SendFailureDecision {
  const f = facts(err);
  if (f.code === 'EAUTH') {
    const code = typeof f.responseCode === 'number' ? f.responseCode : undefined;
    if (code !== undefined && code >= 400 && code < 500) {
      return { kind: 'unreachable', reason: `The mail server could not check the credentials right now (server said: ${said(f)})`, mayHaveBeenAccepted: false };
    }
    return { kind: 'disable', reason: `The SMTP server rejected the mailbox's credentials (server said: ${said(f)})` };
  }
  // Every recipient refused: temporary if any refusal was (the rest may still be accepted later).
  if (Array.isArray(f.rejectedErrors) && f.rejectedErrors.length > 0) {
    const rejected = f.rejectedErrors.map(facts);
    const temporary = rejected.filter((r) => typeof r.responseCode === 'number' && r.responseCode >= 400 && r.responseCode < 500);
    const reasons = rejected.map(said).join('; ');
    return temporary.length > 0
      ? { kind: 'defer', reason: `The SMTP server refused the recipients for now: ${reasons}` }
      : { kind: 'reject', reason: `The SMTP server refused every recipient: ${reasons}` };
  }
  if (typeof f.responseCode === 'number') {
    if (f.responseCode >= 400 && f.responseCode < 500) return { kind: 'defer', reason: `The SMTP server deferred the message: ${said(f)}` };
    if (f.responseCode >= 500) return { kind: 'reject', reason: `The SMTP server refused the message: ${said(f)}` };
  }
  return { kind: 'unreachable', reason: `The SMTP server could not be reached: ${said(f) || String(f.code ?? 'unknown error')}`, mayHaveBeenAccepted: transferStarted };
}

/** Recipients the server refused while accepting the others: named on the sent email. */
export function partialDeliveryNote(rejected: { address: string; reason: string }[]): string | null {
  if (rejected.length === 0) return null;
  return `Not delivered to ${rejected.map((r) => `${r.address} (${r.reason.replace(/\s+/g, ' ').trim()})`).join(', ')}`;
}

export interface SendRetrySettings {
  /** Wait before the second attempt; doubles with each further one. */
  firstRetryMs: number;
  maxRetryMs: number;
}

export const DEFAULT_SEND_RETRY: SendRetrySettings = { firstRetryMs: 60_000, maxRetryMs: 60 * 60_000 };

/** Wait after the `attempts`-th deferral of one email (1 = the first attempt was deferred). */
export function sendRetryDelayMs(attempts: number, settings: SendRetrySettings = DEFAULT_SEND_RETRY): number {
  const exponent = Math.min(Math.max(attempts, 1) - 1, 30);
  return Math.min(settings.firstRetryMs * 2 ** exponent, settings.maxRetryMs);
}

/** After a deferral: fail the email when it has had its attempts, else retry at the returned delay. */
export function afterDeferral(attempts: number, maxAttempts: number, settings?: SendRetrySettings): { fail: true } | { fail: false; retryInMs: number } {
  return attempts >= maxAttempts ? { fail: true } : { fail: false, retryInMs: sendRetryDelayMs(attempts, settings) };
}

/** What a mailbox's sending loop learnt from its last run, for deciding when to run again. */
export type SendRunOutcome =
  | { kind: 'done'; nextDueAt: number | null }
  | { kind: 'disabled' }
  | { kind: 'unreachable'; failuresInRow: number }
  | { kind: 'throttled'; retryAfterMs: number | null }
  | { kind: 'lost'; lostInRow: number };

// A due time already past still waits this long, so a row the run could not take never spins the loop.
const MIN_SEND_WAIT_MS = 1000;

/**
 * How long the sending loop waits before its next run unless told sooner: until the next deferred
 * email falls due, else the sweep interval; after an unreachable server, the error back-off; after
 * a lost attempt, the lost-attempt back-off. Null: wait for a signal only (outgoing is disabled).
 */
export function nextSendWaitMs(
  outcome: SendRunOutcome,
  now: number,
  intervals: { errorBaseMs: number; errorMaxMs: number; sweepMs: number; lostDelayMs: (n: number) => number },
): number | null {
  switch (outcome.kind) {
    case 'done':
      return outcome.nextDueAt === null ? intervals.sweepMs : Math.min(intervals.sweepMs, Math.max(MIN_SEND_WAIT_MS, outcome.nextDueAt - now));
    case 'disabled':
      return null;
    case 'unreachable':
      return sendRetryDelayMs(outcome.failuresInRow, { firstRetryMs: intervals.errorBaseMs, maxRetryMs: intervals.errorMaxMs });
    case 'throttled':
      return Math.max(MIN_SEND_WAIT_MS, outcome.retryAfterMs ?? intervals.errorBaseMs);
    case 'lost':
      return intervals.lostDelayMs(outcome.lostInRow);
  }
}
