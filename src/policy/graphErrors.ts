/**
 * What a failure from Entra ID or Microsoft Graph means for a mailbox, and whether a request is
 * tried again at once. Pure: it reads the facts the token library and the Graph client put on
 * their errors (graph.md §1.2, §1.6, §6).
 */
import type { ErrorClass } from './errorClassification';

/** What is known of one failed token or Graph request. */
export interface GraphFailureFacts {
  /** HTTP status; -1 or undefined when no answer came (network, TLS, time-out). */
  statusCode?: number;
  /** Graph's `error.code`, or the token endpoint's `error` (invalid_client, ...). */
  code?: string | null;
  message?: string;
  /** The AADSTS numbers the token endpoint gave (`error_codes`, or found in its description). */
  aadstsCodes?: number[];
  /** Seconds from Retry-After, when the answer had one. */
  retryAfterSeconds?: number;
  /** Socket-level code of a request that got no answer (ECONNREFUSED, ...). */
  networkCode?: string;
  /** The request came from the token endpoint rather than Graph. */
  fromTokenEndpoint?: boolean;
  /** The Graph URL or path asked for: which permission a refusal is about. */
  path?: string;
}

export interface GraphFailure {
  errorClass: ErrorClass;
  /** A sentence an administrator can act on, with the service's code kept. */
  message: string;
  throttled: boolean;
  retryAfterMs?: number;
  /** The delta token is gone: the folder starts again from nothing (graph.md §2.1). */
  syncStateLost: boolean;
}

// AADSTS codes that no retry will fix: the app registration or tenant is wrong.
const PERMANENT_AADSTS: Record<number, string> = {
  7000215: 'the client secret is wrong (use the secret value, not its id)',
  7000222: 'the client secret has expired: create a new one and update the profile',
  700027: 'the certificate assertion was refused: the certificate is not registered on the app, or expired',
  700016: 'no application with this client id exists in the tenant',
  90002: 'the tenant does not exist',
  900023: 'the tenant id is not valid',
  700024: 'the client assertion is not within its valid time range',
  50034: 'the user account does not exist',
  7000112: 'the application is disabled',
  1003031: 'the application has no service principal in the tenant: grant admin consent',
};

const PERMANENT_TOKEN_ERRORS = new Set(['invalid_client', 'unauthorized_client', 'invalid_request', 'invalid_scope', 'invalid_grant']);

const SYNC_STATE_CODES = new Set(['syncstatenotfound', 'resyncrequired', 'syncstateinvalid']);

// Graph codes (compared lower-case) of a permission the app lacks.
const ACCESS_DENIED_CODES = new Set(['erroraccessdenied', 'authorization_requestdenied', 'accessdenied']);

// Graph codes (compared lower-case) that say the mailbox, not the moment, is the problem.
const PERMANENT_GRAPH_CODES: Record<string, string> = {
  errorinvaliduser: 'the mailbox does not exist in the tenant: check its address or object id',
  request_resourcenotfound: 'the mailbox does not exist in the tenant: check its address or object id',
  resourcenotfound: 'the mailbox does not exist in the tenant: check its address or object id',
  mailboxnotenabledforrestapi: 'the user has no Exchange Online mailbox (no licence, or an on-premises mailbox)',
  mailboxnotsupportedforrestapi: 'the mailbox type is not supported by Graph (on-premises, or inactive)',
  errormailboxnotenabledforrestapi: 'the user has no Exchange Online mailbox (no licence, or an on-premises mailbox)',
};

/** The application permission a request to `path` needs (graph.md §1.3): what a refusal asks the admin to grant. */
export function permissionFor(path: string | undefined): string {
  const p = (path ?? '').toLowerCase();
  if (/\/(contacts|contactfolders)\b/.test(p)) return 'Contacts.ReadWrite';
  if (/\/(events|calendar|calendars|calendarview)\b/.test(p)) return 'Calendars.ReadWrite';
  if (/\/todo\b/.test(p)) return 'Tasks.ReadWrite.All';
  return 'Mail.ReadWrite and Mail.Send';
}

const lacksPermission = (path: string | undefined) =>
  `the app registration lacks a permission this needs: grant ${permissionFor(path)} (application permissions, with admin consent)`;

/** What a token or Graph failure means; see GraphFailureFacts. */
export function classifyGraphFailure(facts: GraphFailureFacts): GraphFailure {
  const status = facts.statusCode ?? -1;
  const code = facts.code ?? null;
  const lower = code?.toLowerCase() ?? '';
  const said = facts.message ? `: ${facts.message}` : '';
  const coded = code ? ` (${code})` : '';
  const retryAfterMs = facts.retryAfterSeconds !== undefined ? Math.round(facts.retryAfterSeconds * 1000) : undefined;
  const base = { throttled: false, syncStateLost: false };

  if (facts.fromTokenEndpoint && status >= 400 && status < 500 && status !== 429) {
    const known = (facts.aadstsCodes ?? []).find((c) => PERMANENT_AADSTS[c] !== undefined);
    if (known !== undefined || PERMANENT_TOKEN_ERRORS.has(lower)) {
      const why = known !== undefined ? `AADSTS${known}: ${PERMANENT_AADSTS[known]}` : `${code}`;
      return { ...base, errorClass: 'permanent', message: `Entra ID refused the app's token request (${why})${said}` };
    }
  }
  if (status === 429 || lower === 'applicationthrottled' || lower === 'activitylimitreached' || lower === 'toomanyrequests') {
    return { ...base, errorClass: 'transient', throttled: true, retryAfterMs, message: `Microsoft Graph is throttling this mailbox${coded}` };
  }
  if (status === 410 || SYNC_STATE_CODES.has(lower)) {
    return { ...base, errorClass: 'transient', syncStateLost: true, message: `Graph no longer knows the folder's delta token${coded}; the folder syncs again from the start` };
  }
  const permanent = ACCESS_DENIED_CODES.has(lower) ? lacksPermission(facts.path) : PERMANENT_GRAPH_CODES[lower];
  if (permanent && (status === 403 || status === 404 || status === 401 || status === 400)) {
    return { ...base, errorClass: 'permanent', message: `Microsoft Graph refused the request${coded}: ${permanent}` };
  }
  if (status === 403) {
    return { ...base, errorClass: 'permanent', message: `Microsoft Graph refused access (HTTP 403${coded}): ${lacksPermission(facts.path)}${said}` };
  }
  if (status === 503 || status === 504 || status >= 500) {
    return { ...base, errorClass: 'transient', retryAfterMs, message: `Microsoft Graph is unavailable (HTTP ${status}${coded})` };
  }
  if (status === -1) {
    const net = facts.networkCode ? ` (${facts.networkCode})` : '';
    return { ...base, errorClass: 'transient', message: `Could not reach ${facts.fromTokenEndpoint ? 'Entra ID' : 'Microsoft Graph'}${net}${said}` };
  }
  return { ...base, errorClass: 'transient', message: `Microsoft Graph answered HTTP ${status}${coded}${said}` };
}

/** How a request that failed with `failure` continues: tried again after `waitMs`, or given up to the caller. */
export type GraphRetryDecision = { retry: true; waitMs: number } | { retry: false };

export interface GraphRetrySettings {
  /** Attempts of one request, the first included. */
  maxAttempts: number;
  /** Longest Retry-After waited out inside the activity; a longer one parks the mailbox on its workflow timer. */
  maxInlineWaitMs: number;
  /** Back-off of a transient failure without Retry-After: base doubled per attempt. */
  baseDelayMs: number;
}

export const DEFAULT_GRAPH_RETRY: GraphRetrySettings = { maxAttempts: 6, maxInlineWaitMs: 10_000, baseDelayMs: 500 };

/**
 * Whether to try a request again. A request that may have taken effect and must not be repeated
 * (sending mail) is never retried here: the outgoing engine's recovery finds out what happened.
 * Throttling always says how long to wait; a wait longer than the inline limit goes back to the
 * workflow's timer rather than holding the mailbox's slot.
 */
export function decideGraphRetry(
  failure: GraphFailure & { statusCode?: number },
  attempt: number,
  repeatable: boolean,
  settings: GraphRetrySettings,
): GraphRetryDecision {
  if (failure.errorClass === 'permanent' || failure.syncStateLost || !repeatable) return { retry: false };
  // Any other 4xx (404 for an item gone, 400, 412) would be answered the same at once: the caller decides.
  const status = failure.statusCode ?? -1;
  if (status >= 400 && status < 500 && status !== 408 && !failure.throttled) return { retry: false };
  if (attempt >= settings.maxAttempts) return { retry: false };
  const backoff = settings.baseDelayMs * 2 ** (attempt - 1);
  const waitMs = failure.retryAfterMs ?? backoff;
  if (waitMs > settings.maxInlineWaitMs) return { retry: false };
  return { retry: true, waitMs };
}
