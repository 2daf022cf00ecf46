/**
 * Tracking tokens: a short reference in an outgoing subject, such as `CRM:0001001`, that lets a reply
 * whose client dropped In-Reply-To and References still find its conversation.
 *
 * Shape, as Dynamics builds it: the prefix, a colon, a legacy "online/offline" digit (always 0), then
 * the owner's number in `userDigits` digits and the owner's message counter in `counterDigits`
 * digits. The base number is added to that owner-and-counter number as a whole (our reading of
 * Dynamics' "base tracking number": a starting offset for the numbers, so two organisations that
 * share correspondents can keep their tokens apart). With the defaults (base 0, 3 and 3 digits),
 * owner 1's first message is `CRM:0001001`.
 *
 * A token does not name one conversation for ever: owner numbers past `userDigits` digits and
 * counters past `counterDigits` digits wrap, so correlation (src/policy/correlation.ts) never trusts
 * a token alone.
 */
export interface TrackingTokenSettings {
  prefix: string;
  baseNumber: number;
  userDigits: number;
  counterDigits: number;
}

export const TRACKING_TOKEN_PREFIX_MAX = 20;

/** Why a prefix cannot be used, or null when it can: the token is found again by it in subjects. */
export function trackingTokenPrefixProblem(prefix: string): string | null {
  if (prefix.length < 1 || prefix.length > TRACKING_TOKEN_PREFIX_MAX) return `must be 1 to ${TRACKING_TOKEN_PREFIX_MAX} characters`;
  if (/[\s:]/.test(prefix)) return 'must not contain spaces or colons';
  return null;
}

export function formatTrackingToken(settings: TrackingTokenSettings, ownerNumber: number, counter: number): string {
  const users = 10 ** settings.userDigits;
  const counters = 10 ** settings.counterDigits;
  const number = settings.baseNumber + (ownerNumber % users) * counters + (counter % counters);
  return `${settings.prefix}:0${String(number).padStart(settings.userDigits + settings.counterDigits, '0')}`;
}

/** The counter of an owner's next message: wraps to 0 after the largest its digits hold (999 -> 000). */
export function nextTrackingCounter(counter: number, counterDigits: number): number {
  return (counter + 1) % 10 ** counterDigits;
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function tokenPattern(prefixes: string[]): RegExp | null {
  const usable = [...new Set(prefixes.filter((p) => p.length > 0))];
  if (usable.length === 0) return null;
  // A token stands as a word of its own: not the tail of a longer word or number.
  return new RegExp(`(?<![\\p{L}\\p{N}_])(${usable.map(escapeRegExp).join('|')}):(\\d+)(?![\\p{L}\\p{N}_])`, 'giu');
}

/**
 * The tokens of these prefixes in a subject, each spelt with its prefix as given (recipients' clients
 * may change its case), in order, without repeats.
 */
export function findTrackingTokens(subject: string | null, prefixes: string[]): string[] {
  const pattern = tokenPattern(prefixes);
  if (!subject || !pattern) return [];
  const canonical = new Map(prefixes.map((p) => [p.toLowerCase(), p]));
  const found: string[] = [];
  for (const m of subject.matchAll(pattern)) {
    const token = `${canonical.get(m[1].toLowerCase()) ?? m[1]}:${m[2]}`;
    if (!found.includes(token)) found.push(token);
  }
  return found;
}

/** The subject without the tokens of these prefixes, spaces tidied. */
export function stripTrackingTokens(subject: string, prefixes: string[]): string {
  const pattern = tokenPattern(prefixes);
  const stripped = pattern ? subject.replace(pattern, ' ') : subject;
  return stripped.replace(/\s+/g, ' ').trim();
}

/**
 * The subject with the token appended after a space, the subject cut to fit `maxSubjectLength`
 * characters (Dynamics' MaximumSubjectLengthOnMailServer, 255). A token that cannot fit at all is
 * dropped. Tokens of the same prefix already there (a reply to a tracked email) are replaced.
 */
export function withTrackingToken(subject: string | null, token: string, maxSubjectLength = 255): string {
  const prefix = token.slice(0, token.lastIndexOf(':'));
  const base = [...stripTrackingTokens(subject ?? '', [prefix])];
  const tokenLength = [...token].length;
  if (tokenLength > maxSubjectLength) return base.slice(0, maxSubjectLength).join('');
  const room = maxSubjectLength - tokenLength - 1;
  const kept = room > 0 ? base.slice(0, room).join('').trimEnd() : '';
  return kept ? `${kept} ${token}` : token;
}

// Dynamics' HashFilterKeywords, `^[\s]*([\w]+\s?:[\s]*)+`, with letters of any script: the
// "Re:", "Fwd:", "AW:", "WG:", "SV:", "Réf:" chains clients put before a subject.
const SUBJECT_PREFIXES = /^\s*([\p{L}\p{N}_]+\s?:\s*)+/u;
const FIRST_PREFIX = /^\s*([\p{L}\p{N}_]+)\s?:/u;

// Forward markers: English, German (WG), French (TR), Spanish/Portuguese (RV, ENC), Italian (I),
// Dutch (Doorst), Swedish/Norwegian/Danish (VB, VS, FS), Finnish (VL), Polish (PD).
const FORWARD_PREFIXES = new Set(['fw', 'fwd', 'wg', 'tr', 'rv', 'enc', 'i', 'doorst', 'vb', 'vs', 'fs', 'vl', 'pd']);

/**
 * The subject smart matching compares: tokens and reply/forward prefixes removed, spaces folded,
 * lower case. Null when nothing is left (an empty subject matches nothing).
 */
export function normaliseSubject(subject: string | null, tokenPrefixes: string[]): string | null {
  if (!subject) return null;
  const normalised = stripTrackingTokens(subject, tokenPrefixes).replace(SUBJECT_PREFIXES, '').replace(/\s+/g, ' ').trim().toLowerCase();
  return normalised || null;
}

/** A forward: the outermost subject prefix is a forward marker ("Fw: Re: x" is one, "Re: Fw: x" is a reply). */
export function isForwardSubject(subject: string | null): boolean {
  const m = subject?.match(FIRST_PREFIX);
  return !!m && FORWARD_PREFIXES.has(m[1].toLowerCase());
}
