import type { CrmRecordRef } from '../domain/email';
import { isForwardSubject } from './trackingToken';

/**
 * Which earlier email an incoming message continues. In order, the first that finds one wins:
 * 1. in_reply_to: its In-Reply-To, else the latest of its References, is a Message-ID the CRM holds.
 *    Headers cannot be mistaken, so nothing else is checked.
 * 2. tracking_token: its subject carries the token of an earlier email that shares at least one
 *    other participant with it (an address that is neither the receiving mailbox's, whose owner's
 *    token it is, nor in the organisation's own domains). Tokens wrap (999 -> 000) and recipients
 *    can edit them, so a token alone names no conversation; and every email with a token shares its
 *    owner, so the owner's address proves nothing. A token reused for other people never attaches the message to
 *    their conversation. Of several, the most recent.
 * 3. smart_matching (off unless the organisation turns it on): the same normalised subject and at
 *    least two shared participant addresses, the earlier email at most 90 days older. The most recent.
 * A forward (src/policy/trackingToken.ts, isForwardSubject) starts its own conversation unless the
 * organisation correlates forwards: it carries the headers of what it forwards, not an answer to it.
 */
export const CORRELATION_METHODS = ['in_reply_to', 'tracking_token', 'smart_matching'] as const;
export type CorrelationMethod = (typeof CORRELATION_METHODS)[number];

export const SMART_MATCHING_MIN_SHARED_ADDRESSES = 2;
export const SMART_MATCHING_WINDOW_MS = 90 * 24 * 3600 * 1000;

/** An earlier email activity the store found by Message-ID, token or smart-matching keys. */
export interface CorrelationCandidate {
  activityId: string;
  /** The first activity of its conversation. */
  conversationId: string;
  regarding: CrmRecordRef | null;
  messageId: string | null;
  trackingToken: string | null;
  normalisedSubject: string | null;
  /** Its From/To/Cc/Bcc addresses, lower case. */
  participants: string[];
  /** When it was sent or, failing that, stored. */
  at: Date;
}

export interface IncomingCorrelationFacts {
  messageId: string;
  subject: string | null;
  inReplyTo: string | null;
  references: string[];
  /** Tokens found in its subject. */
  tokens: string[];
  normalisedSubject: string | null;
  /** Its From/To/Cc/Bcc addresses, lower case. */
  participants: string[];
  /** Those of its participants that are the receiving mailbox's or the organisation's domains': no evidence for a token. */
  ownAddresses: string[];
  /** When it was sent or, failing that, received. */
  at: Date;
}

export interface CorrelationSettings {
  smartMatching: boolean;
  correlateForwards: boolean;
}

export interface Correlation {
  method: CorrelationMethod;
  activityId: string;
  conversationId: string;
  regarding: CrmRecordRef | null;
}

const newestFirst = (a: CorrelationCandidate, b: CorrelationCandidate) => b.at.getTime() - a.at.getTime() || (a.activityId < b.activityId ? -1 : 1);

function sharedAddresses(a: string[], b: Set<string>): number {
  return new Set(a.filter((x) => b.has(x))).size;
}

export function correlate(facts: IncomingCorrelationFacts, candidates: CorrelationCandidate[], settings: CorrelationSettings): Correlation | null {
  if (!settings.correlateForwards && isForwardSubject(facts.subject)) return null;
  const others = candidates.filter((c) => c.messageId !== facts.messageId);
  const pick = (method: CorrelationMethod, c: CorrelationCandidate): Correlation => ({
    method,
    activityId: c.activityId,
    conversationId: c.conversationId,
    regarding: c.regarding,
  });

  // The message answered is In-Reply-To; References list the thread oldest first.
  const ancestors = [...(facts.inReplyTo ? [facts.inReplyTo] : []), ...[...facts.references].reverse()];
  for (const id of ancestors) {
    const held = others.filter((c) => c.messageId === id).sort((a, b) => a.at.getTime() - b.at.getTime());
    if (held.length > 0) return pick('in_reply_to', held[0]);
  }

  const participants = new Set(facts.participants);
  const own = new Set(facts.ownAddresses);
  const outside = new Set(facts.participants.filter((a) => !own.has(a)));
  const byToken = others
    .filter((c) => c.trackingToken !== null && facts.tokens.includes(c.trackingToken) && sharedAddresses(c.participants, outside) >= 1)
    .sort(newestFirst);
  if (byToken.length > 0) return pick('tracking_token', byToken[0]);

  if (settings.smartMatching && facts.normalisedSubject) {
    const earliest = facts.at.getTime() - SMART_MATCHING_WINDOW_MS;
    const similar = others
      .filter(
        (c) =>
          c.normalisedSubject === facts.normalisedSubject &&
          c.at.getTime() >= earliest &&
          sharedAddresses(c.participants, participants) >= SMART_MATCHING_MIN_SHARED_ADDRESSES,
      )
      .sort(newestFirst);
    if (similar.length > 0) return pick('smart_matching', similar[0]);
  }
  return null;
}

/** Whether a correlation makes the message an answer to a CRM email for the "replies" tracking option. */
export function countsAsReply(correlation: Correlation | null): boolean {
  return correlation !== null && correlation.method !== 'smart_matching';
}
