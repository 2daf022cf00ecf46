/**
 * What a failed step of sending an email through Microsoft Graph decides (graph.md §5, §6). Pure:
 * it reads the classification GraphRequestError carries and the step that failed.
 */
import type { ErrorClass } from './errorClassification';
import type { SendFailureDecision } from './outgoingSend';

/** The step of a Graph send that failed: creating the draft, sending it, or looking up what a lost run left. */
export type GraphSendStage = 'draft' | 'send' | 'lookup';

/** What is known of one failed step; read off the error (GraphSendError, or an email Graph cannot take). */
export interface GraphSendFailureFacts {
  stage?: GraphSendStage;
  errorClass?: ErrorClass;
  statusCode?: number;
  message?: string;
  throttled?: boolean;
  retryAfterMs?: number;
  /** The email cannot go through Graph as it is (too large): it fails without a request. */
  unsendable?: boolean;
}

// Statuses that say this email, as it is, will never be taken (bad recipient, too large).
const EMAIL_REFUSED = new Set([400, 413, 415, 422]);

/**
 * The decision for a failed step. A permanent failure (credentials, permission, unknown user,
 * no Exchange licence) disables outgoing with its message; Graph refusing one email fails that
 * email. Anything else leaves the email waiting, and leaves it `sending` whenever the step may
 * have taken effect -- a send request that got no answer, or a draft that may have been made --
 * so the next run asks Graph what happened instead of sending again.
 */
export function decideGraphSendFailure(err: unknown): SendFailureDecision {
  const f: GraphSendFailureFacts = typeof err === 'object' && err !== null ? (err as GraphSendFailureFacts) : { message: String(err) };
  const message = (f.message ?? 'unknown error').replace(/\s+/g, ' ').trim();
  if (f.unsendable) return { kind: 'reject', reason: message };
  if (f.errorClass === 'permanent') return { kind: 'disable', reason: message };
  if (f.statusCode !== undefined && EMAIL_REFUSED.has(f.statusCode) && f.stage !== 'lookup') {
    return { kind: 'reject', reason: `Microsoft Graph refused the email: ${message}` };
  }
  // A throttled request was not carried out (graph.md §6.2); a send gets looked up regardless.
  const mayHaveBeenAccepted = f.stage === 'send' || (f.stage === 'draft' && !f.throttled) || f.stage === undefined;
  // Throttling is waited out, never a failure of the mailbox (graph.md §6.2).
  if (f.throttled) return { kind: 'throttled', reason: message, retryAfterMs: f.retryAfterMs ?? null, mayHaveBeenAccepted };
  return { kind: 'unreachable', reason: message, mayHaveBeenAccepted };
}
